import VirtQueue
import VirtioCryptoEngines
import VirtioCryptoWire

/// The transport-independent device: feature negotiation, config space, the session
/// table, and the control and data queue request handlers. It sees requests only as
/// descriptor chains; vhost-user or a test ring brings them.
public final class VirtioCryptoDevice: @unchecked Sendable {
    public let offer: DeviceOffer
    public let sessions: SessionTable
    /// Features the driver accepted (set by `negotiate`).
    public private(set) var features: CryptoFeatures = []
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
        features = driver
        return true
    }

    /// A worker for one data queue: its own crypto contexts and bounce buffers.
    public func makeDataWorker() -> DataWorker { DataWorker(device: self) }

    /// Handles one control queue request; returns the bytes written into the chain.
    public func handleControl(_ chain: DescriptorChain) -> UInt32 {
        ControlHandler(device: self).handle(chain)
    }
}

/// Per-status request counters, for logs and SIGUSR1 reports.
public final class DeviceStatistics: @unchecked Sendable {
    private var counts = [Int](repeating: 0, count: 8)
    private let lock = NSLockShim()

    func record(_ status: Status) {
        let index = Int(min(status.rawValue, 7))
        lock.locked { counts[index] += 1 }
    }

    public func count(_ status: Status) -> Int { lock.locked { counts[Int(min(status.rawValue, 7))] } }
}
