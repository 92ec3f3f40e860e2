import Foundation
import RelaxedCounters
import VirtioCryptoEngines
import VirtioCryptoWire

/// Where a request reached the device.
public enum RequestSource: Hashable, Sendable {
    case dataQueue(Int)
    case controlQueue
    /// QEMU's vhost-user session messages (CREATE/CLOSE_CRYPTO_SESSION), which bypass the control queue.
    case sessionMessage
}

/// The algorithm a request used, as its session or its stateless fields name it.
public enum RequestAlgorithm: Hashable, Sendable {
    /// The request failed before its algorithm was known (an unknown session, a malformed request);
    /// nil when its opcode names no service the spec defines.
    case unknown(Service?)
    case cipher(CipherAlgorithm)
    case chain(CipherAlgorithm, ChainAuthenticator)
    case hash(HashAlgorithm)
    case mac(MacAlgorithm)
    case aead(AeadAlgorithm)
    case akcipher(AkcipherAlgorithm)
    /// Past the number of algorithms the counters keep apart (`DeviceStatistics.algorithmCapacity`).
    case other

    public enum ChainAuthenticator: Hashable, Sendable {
        case hash(HashAlgorithm)
        case mac(MacAlgorithm)
    }

    /// The service of a request with this opcode, when the spec defines it.
    static func unknown(opcode: Opcode) -> RequestAlgorithm {
        let service = opcode.service
        return .unknown(Service.known.contains(service) ? service : nil)
    }
}

/// Request counts by source, algorithm and status; violations by spec rule; sessions created,
/// destroyed and refused. Each data worker counts in its own shard without a lock (single-writer
/// counters); the control path, which is not hot, counts under the lock. Readers sum the shards.
public final class DeviceStatistics: @unchecked Sendable {
    /// Distinct algorithms counted apart; the rest count as `.other` (a bound on what a hostile
    /// driver can make the counters, and the label sets of a scrape, grow to).
    public static let algorithmCapacity = 128

    private let lock = NSLock()
    private var shards: [ObjectIdentifier: CounterShard] = [:]
    /// Counts of workers that are gone, by source; the control path's and session messages' own.
    private var retired: [RequestSource: CounterShard] = [:]
    private var algorithms: [RequestAlgorithm] = [.other]
    private var algorithmSlots: [RequestAlgorithm: Int] = [.other: 0]
    private var sessions = SessionCounts()

    public struct SessionCounts: Sendable {
        public var created: [Service: Int] = [:]
        public var destroyed: [Service: Int] = [:]
        /// Create requests that made no session (nil: a message whose service could not be read).
        public var refused: [Service?: Int] = [:]
        public init() {}
    }

    public init() {}

    /// The counter slot of an algorithm (on a worker's first request of it; a worker keeps its own
    /// copy of the mapping, so the lock is not taken per request).
    func slot(for algorithm: RequestAlgorithm) -> Int { lock.withLock { slotLocked(for: algorithm) } }

    private func slotLocked(for algorithm: RequestAlgorithm) -> Int {
        if let slot = algorithmSlots[algorithm] { return slot }
        guard algorithms.count < Self.algorithmCapacity else { return 0 }
        algorithmSlots[algorithm] = algorithms.count
        algorithms.append(algorithm)
        return algorithms.count - 1
    }

    /// A shard for one worker; `retire` folds it into its source's totals when the worker ends.
    func makeShard(for source: RequestSource) -> CounterShard {
        let shard = CounterShard(source: source)
        lock.withLock { shards[ObjectIdentifier(shard)] = shard }
        return shard
    }

    func retire(_ shard: CounterShard) {
        lock.withLock {
            retiredShard(shard.source).add(shard)
            shards[ObjectIdentifier(shard)] = nil
        }
    }

    private func retiredShard(_ source: RequestSource) -> CounterShard {
        if let shard = retired[source] { return shard }
        let shard = CounterShard(source: source)
        retired[source] = shard
        return shard
    }

    /// Counts a request that did not come through a data worker, and the rule it broke if it broke one.
    func record(_ status: Status, algorithm: RequestAlgorithm, rule: RuleID? = nil, source: RequestSource) {
        lock.withLock {
            let shard = retiredShard(source)
            shard.record(status, slot: slotLocked(for: algorithm))
            if let rule { shard.record(rule) }
        }
    }

    func sessionCreated(_ service: Service) { lock.withLock { sessions.created[service, default: 0] += 1 } }
    func sessionDestroyed(_ service: Service) { lock.withLock { sessions.destroyed[service, default: 0] += 1 } }
    public func sessionRefused(_ service: Service?) { lock.withLock { sessions.refused[service, default: 0] += 1 } }

    private func everyShard() -> [CounterShard] { Array(shards.values) + Array(retired.values) }

    /// Requests answered with `status`.
    public func count(_ status: Status) -> Int {
        let column = CounterShard.statusSlot(status)
        return lock.withLock {
            everyShard().reduce(0) { total, shard in
                (0..<Self.algorithmCapacity).reduce(total) {
                    $0 + Int(shard.requests[$1 * CounterShard.statusSlots + column])
                }
            }
        }
    }

    /// Requests that ran in IPsec-MB's parallel lanes.
    public var multiBufferRequests: Int { snapshot().multiBuffer.values.reduce(0, +) }

    /// Requests refused because they broke `rule` (Spec/RULES.md), on every queue.
    public func violations(of rule: RuleID) -> Int {
        lock.withLock { everyShard().reduce(0) { $0 + Int($1.rules[rule.index]) } }
    }

    /// The violations counted while `body` ran, per rule (tests that break one rule on purpose).
    public func violationsCounted(during body: () throws -> Status) rethrows -> (status: Status, fired: [RuleID: Int]) {
        let before = violationCounts()
        let status = try body()
        var fired = violationCounts()
        for (rule, count) in before { fired[rule, default: 0] -= count }
        return (status, fired.filter { $0.value != 0 })
    }

    /// Every rule with at least one violation, and its count.
    public func violationCounts() -> [RuleID: Int] { snapshot().violations }

    /// Everything counted so far, summed over the shards.
    public struct Snapshot: Sendable {
        public struct RequestKey: Hashable, Sendable {
            public var source: RequestSource
            public var algorithm: RequestAlgorithm
            public var status: Status
        }
        /// Only keys with a count.
        public var requests: [RequestKey: Int] = [:]
        public var violations: [RuleID: Int] = [:]
        public var sessions = SessionCounts()
        /// Requests that ran in IPsec-MB's parallel lanes, by data queue.
        public var multiBuffer: [RequestSource: Int] = [:]
        public init(sessions: SessionCounts = SessionCounts()) { self.sessions = sessions }
    }

    public func snapshot() -> Snapshot {
        lock.withLock {
            var snapshot = Snapshot(sessions: sessions)
            for shard in everyShard() {
                for slot in algorithms.indices {
                    for (column, status) in CounterShard.statuses.enumerated() {
                        let count = Int(shard.requests[slot * CounterShard.statusSlots + column])
                        guard count > 0 else { continue }
                        let key = Snapshot.RequestKey(source: shard.source, algorithm: algorithms[slot], status: status)
                        snapshot.requests[key, default: 0] += count
                    }
                }
                for rule in RuleID.allCases {
                    let count = Int(shard.rules[rule.index])
                    if count > 0 { snapshot.violations[rule, default: 0] += count }
                }
                let batched = Int(shard.multiBuffer[0])
                if batched > 0 { snapshot.multiBuffer[shard.source, default: 0] += batched }
            }
            return snapshot
        }
    }
}

/// One writer's counts: requests by algorithm slot and status, violations by rule.
final class CounterShard: @unchecked Sendable {
    /// Every status the spec defines has its own column (0-6); anything else shares the last.
    static let statusSlots = 8
    static let statuses: [Status] = (0..<UInt32(statusSlots)).map { Status(rawValue: $0) }
    let source: RequestSource
    let requests = CounterArray(count: DeviceStatistics.algorithmCapacity * CounterShard.statusSlots)
    let rules = CounterArray(count: RuleID.count)
    /// Requests handed to the job API.
    let multiBuffer = CounterArray(count: 1)

    init(source: RequestSource) { self.source = source }

    static func statusSlot(_ status: Status) -> Int { Int(min(status.rawValue, UInt32(statusSlots - 1))) }

    @inline(__always)
    func record(_ status: Status, slot: Int) { requests.increment(slot * Self.statusSlots + Self.statusSlot(status)) }

    @inline(__always)
    func record(_ rule: RuleID) { rules.increment(rule.index) }

    /// Adds `other`'s counts (by this shard's only writer: under the statistics lock).
    func add(_ other: CounterShard) {
        requests.add(other.requests)
        rules.add(other.rules)
        multiBuffer.add(other.multiBuffer)
    }
}
