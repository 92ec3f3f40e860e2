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

    /// A worker for one data queue: its own crypto contexts and bounce buffers.
    public func makeDataWorker() -> DataWorker { DataWorker(device: self) }

    /// Handles one control queue request; returns the bytes written into the chain.
    public func handleControl(_ chain: DescriptorChain) -> UInt32 {
        ControlHandler(device: self, chain: chain).handle()
    }
}

/// Per-status request counters and per-rule violation counters, for logs, SIGUSR1 reports
/// and metrics. Each data worker counts in its own shard without a lock (one writer,
/// relaxed atomics); the control path, which is not hot, shares one shard under the lock.
public final class DeviceStatistics: @unchecked Sendable {
    private let lock = NSLock()
    private var shards: [ObjectIdentifier: CounterShard] = [:]
    /// Counts of workers that are gone.
    private let retired = CounterShard()
    private let control = CounterShard()

    /// Counts a control-path outcome, and the rule the request broke if it broke one.
    func record(_ status: Status, rule: RuleID? = nil) {
        lock.withLock {
            control.record(status)
            if let rule { control.record(rule) }
        }
    }

    /// A shard for one worker; `retire` folds it into the totals when the worker ends.
    func makeShard() -> CounterShard {
        let shard = CounterShard()
        lock.withLock { shards[ObjectIdentifier(shard)] = shard }
        return shard
    }

    func retire(_ shard: CounterShard) {
        lock.withLock {
            retired.add(shard)
            shards[ObjectIdentifier(shard)] = nil
        }
    }

    private func total(_ slot: (CounterShard) -> UInt64) -> Int {
        lock.withLock { Int(slot(retired) + slot(control) + shards.values.reduce(0) { $0 + slot($1) }) }
    }

    /// Requests answered with `status`.
    public func count(_ status: Status) -> Int {
        let slot = CounterShard.slot(status)
        return total { $0.statusCount(slot) }
    }

    /// Requests refused because they broke `rule` (Spec/RULES.md), on every queue.
    public func violations(of rule: RuleID) -> Int { total { $0.ruleCount(rule.index) } }

    /// The violations counted while `body` ran, per rule (tests that break one rule on purpose).
    public func violationsCounted(during body: () throws -> Status) rethrows -> (status: Status, fired: [RuleID: Int]) {
        let before = violationCounts()
        let status = try body()
        var fired = violationCounts()
        for (rule, count) in before { fired[rule, default: 0] -= count }
        return (status, fired.filter { $0.value != 0 })
    }

    /// Every rule with at least one violation, and its count.
    public func violationCounts() -> [RuleID: Int] {
        var counts: [RuleID: Int] = [:]
        for rule in RuleID.allCases {
            let count = violations(of: rule)
            if count > 0 { counts[rule] = count }
        }
        return counts
    }
}

/// One writer's counts (per status and per rule); any thread may read them.
final class CounterShard: @unchecked Sendable {
    static let statusSlots = 8
    private let statuses = UnsafeMutablePointer<UInt64>.allocate(capacity: CounterShard.statusSlots)
    private let rules = UnsafeMutablePointer<UInt64>.allocate(capacity: RuleID.count)

    init() {
        statuses.initialize(repeating: 0, count: Self.statusSlots)
        rules.initialize(repeating: 0, count: RuleID.count)
    }

    deinit {
        statuses.deallocate()
        rules.deallocate()
    }

    static func slot(_ status: Status) -> Int { Int(min(status.rawValue, UInt32(statusSlots - 1))) }

    @inline(__always)
    func record(_ status: Status) { vq_increment_relaxed_u64(statuses + Self.slot(status)) }

    @inline(__always)
    func record(_ rule: RuleID) { vq_increment_relaxed_u64(rules + rule.index) }

    func statusCount(_ slot: Int) -> UInt64 { vq_load_relaxed_u64(statuses + slot) }
    func ruleCount(_ index: Int) -> UInt64 { vq_load_relaxed_u64(rules + index) }

    /// Adds `other`'s counts (only while no one writes this shard: under the statistics lock).
    func add(_ other: CounterShard) {
        for slot in 0..<Self.statusSlots { statuses[slot] += other.statusCount(slot) }
        for index in 0..<RuleID.count { rules[index] += other.ruleCount(index) }
    }
}
