import CVirtQueueAtomics
import Foundation
import Synchronization
import VirtQueue
import VirtioCryptoEngines
import VirtioCryptoWire

/// The transport-independent device: feature negotiation, config space, the session
/// table, and the control and data queue request handlers. It sees requests only as
/// descriptor chains; vhost-user or a test ring brings them.
public final class VirtioCryptoDevice: @unchecked Sendable {
    public let offer: DeviceOffer
    public let sessions: SessionTable
    /// Features the driver accepted (set by `negotiate`). Every data worker reads them per request
    /// while the message thread may negotiate again (QEMU re-sends SET_FEATURES with rings running,
    /// e.g. to log dirty pages for migration): an atomic, loaded relaxed (a plain load on x86-64 and
    /// arm64) since nothing else is published with it.
    public var features: CryptoFeatures { CryptoFeatures(rawValue: acceptedFeatures.load(ordering: .relaxed)) }
    private let acceptedFeatures = Atomic<UInt64>(0)
    let factory: SessionFactory
    public let statistics = DeviceStatistics()

    public init(offer: DeviceOffer = DeviceOffer()) {
        self.offer = offer
        sessions = SessionTable(capacity: offer.limits.maxSessions)
        factory = SessionFactory(offer: offer)
    }

    /// The config space (`struct virtio_crypto_config`).
    public var config: Config { offer.config }

    /// Accepts the driver's features if they are a subset of the offer and meet the
    /// seed's requirements (each stateless bit needs REVISION_1); false otherwise, and
    /// the previous features stay.
    @discardableResult
    public func negotiate(_ driver: CryptoFeatures) -> Bool {
        guard offer.features.isSuperset(of: driver), driver.unmetRequirements.isEmpty else { return false }
        acceptedFeatures.store(driver.rawValue, ordering: .relaxed)
        return true
    }

    /// A worker for data queue `queue`: its own crypto contexts, bounce buffers and counters.
    /// `multiBuffer`: requests served in batches (`serve`) go through IPsec-MB's job API where it
    /// runs them in parallel lanes.
    public func makeDataWorker(queue: Int = 0, multiBuffer: Bool = false) -> DataWorker {
        DataWorker(device: self, queue: queue, multiBuffer: multiBuffer)
    }

    /// Handles one control queue request; returns the bytes written into the chain.
    public func handleControl(_ chain: DescriptorChain) -> UInt32 {
        ControlHandler(device: self, chain: chain).handle()
    }
}
