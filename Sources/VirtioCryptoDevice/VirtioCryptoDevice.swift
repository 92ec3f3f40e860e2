import CVirtQueueAtomics
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

/// Per-status request counters, for logs and SIGUSR1 reports. Each data worker counts in
/// its own shard without a lock (one writer, relaxed atomics); the control path, which is
/// not hot, shares one shard under the lock.
public final class DeviceStatistics: @unchecked Sendable {
    static let slots = 8
    private let lock = NSLockShim()
    private var shards: [ObjectIdentifier: StatusCounters] = [:]
    /// Counts of workers that are gone.
    private var retired = [UInt64](repeating: 0, count: DeviceStatistics.slots)
    private let control = StatusCounters()

    func record(_ status: Status) { lock.locked { control.record(status) } }

    /// A shard for one worker; `retire` folds it into the totals when the worker ends.
    func makeShard() -> StatusCounters {
        let shard = StatusCounters()
        lock.locked { shards[ObjectIdentifier(shard)] = shard }
        return shard
    }

    func retire(_ shard: StatusCounters) {
        lock.locked {
            for slot in 0..<Self.slots { retired[slot] += shard.count(slot) }
            shards[ObjectIdentifier(shard)] = nil
        }
    }

    public func count(_ status: Status) -> Int {
        let slot = StatusCounters.slot(status)
        return lock.locked { Int(retired[slot] + control.count(slot) + shards.values.reduce(0) { $0 + $1.count(slot) }) }
    }
}

/// One writer's per-status counts; any thread may read them.
final class StatusCounters: @unchecked Sendable {
    private let counts = UnsafeMutablePointer<UInt64>.allocate(capacity: DeviceStatistics.slots)

    init() { counts.initialize(repeating: 0, count: DeviceStatistics.slots) }
    deinit { counts.deallocate() }

    static func slot(_ status: Status) -> Int { Int(min(status.rawValue, UInt32(DeviceStatistics.slots - 1))) }

    @inline(__always)
    func record(_ status: Status) { vq_increment_relaxed_u64(counts + Self.slot(status)) }

    func count(_ slot: Int) -> UInt64 { vq_load_relaxed_u64(counts + slot) }
}
