import Foundation
import Logging
import VhostUser
import VirtioCryptoDevice
import VirtioCryptoWire

/// Everything the daemon counted, over every frontend served: what a scrape exposes and SIGUSR1
/// prints. Each frontend's device and backend count on their own (workers without locks); their
/// counts join the totals when the frontend is gone.
final class Counters: @unchecked Sendable {
    struct Snapshot {
        var device = DeviceStatistics.Snapshot()
        var rings: [Int: RingStatistics] = [:]
        var refusals: [String: Int] = [:]
        var faults: [String: Int] = [:]
        var connects = 0
        /// By how the connection ended: "closed" by the frontend, or "dropped" for a fault.
        var disconnects: [String: Int] = [:]
        var liveSessions = 0
        var connected = 0

        mutating func add(device other: VirtioCryptoDevice, backend: VhostUserBackend) {
            let counted = other.statistics.snapshot()
            device.requests.merge(counted.requests, uniquingKeysWith: +)
            device.violations.merge(counted.violations, uniquingKeysWith: +)
            device.sessions.created.merge(counted.sessions.created, uniquingKeysWith: +)
            device.sessions.destroyed.merge(counted.sessions.destroyed, uniquingKeysWith: +)
            device.sessions.refused.merge(counted.sessions.refused, uniquingKeysWith: +)
            device.multiBuffer.merge(counted.multiBuffer, uniquingKeysWith: +)
            rings.merge(backend.ringStatistics) {
                var sum = $0
                sum.add($1)
                return sum
            }
            refusals.merge(backend.refusedMessages, uniquingKeysWith: +)
            faults.merge(backend.ringFaults, uniquingKeysWith: +)
        }
    }

    private let lock = NSLock()
    private var totals = Snapshot()
    private var current: (device: VirtioCryptoDevice, backend: VhostUserBackend)?

    /// The frontend now served.
    func serving(_ device: VirtioCryptoDevice, _ backend: VhostUserBackend) {
        lock.withLock {
            totals.connects += 1
            current = (device, backend)
        }
    }

    /// The backend of the frontend now served, for a clean shutdown.
    var servedBackend: VhostUserBackend? { lock.withLock { current?.backend } }

    /// The frontend is gone (its workers have stopped): its counts join the totals.
    func finished(_ device: VirtioCryptoDevice, _ backend: VhostUserBackend, dropped: Bool) {
        lock.withLock {
            totals.add(device: device, backend: backend)
            totals.disconnects[dropped ? "dropped" : "closed", default: 0] += 1
            current = nil
        }
    }

    /// The totals with the frontend being served.
    func snapshot() -> Snapshot {
        lock.withLock {
            var snapshot = totals
            if let (device, backend) = current {
                snapshot.add(device: device, backend: backend)
                snapshot.liveSessions = device.sessions.count
                snapshot.connected = 1
            }
            return snapshot
        }
    }
}

/// The numbers of a scrape, as log lines (SIGUSR1 and exit).
enum CountersReport {
    static func lines(_ snapshot: Counters.Snapshot, labels: MetricLabels) -> [String] {
        func listed(_ counts: [String: Int]) -> String {
            counts.isEmpty ? "none" : counts.keys.sorted().map { "\($0)=\(counts[$0]!)" }.joined(separator: " ")
        }
        var byQueue: [String: Int] = [:]
        var byStatus: [String: Int] = [:]
        var byAlgorithm: [String: Int] = [:]
        for (key, count) in snapshot.device.requests {
            byQueue[labels.queue(key.source), default: 0] += count
            byStatus[labels.status(key.status), default: 0] += count
            let name = [
                labels.queue(key.source), labels.service(key.algorithm), labels.algorithm(key.algorithm),
                labels.status(key.status),
            ].joined(separator: "/")
            byAlgorithm[name, default: 0] += count
        }
        let sessions = snapshot.device.sessions
        var lines = [
            "frontends: connected \(snapshot.connected), connects \(snapshot.connects), disconnects \(listed(snapshot.disconnects))",
            "requests by queue: \(listed(byQueue))",
            "requests by status: \(listed(byStatus))",
            "requests by queue/service/algorithm/status: \(listed(byAlgorithm))",
            "sessions: live \(snapshot.liveSessions); created \(listed(labels.byService(sessions.created))); "
                + "destroyed \(listed(labels.byService(sessions.destroyed))); "
                + "refused \(listed(labels.byService(sessions.refused)))",
            "requests in IPsec-MB's lanes by queue: \(listed(Dictionary(uniqueKeysWithValues: snapshot.device.multiBuffer.map { (labels.queue($0.key), $0.value) })))",
            "rule violations: \(listed(Dictionary(uniqueKeysWithValues: snapshot.device.violations.map { ($0.key.rawValue, $0.value) })))",
            "vhost-user messages refused: \(listed(snapshot.refusals))",
            "ring faults: \(listed(snapshot.faults))",
        ]
        for ring in snapshot.rings.keys.sorted() {
            let counts = snapshot.rings[ring]!
            var line =
                "ring \(labels.queue(ring: ring)): \(counts.requests) requests, \(counts.bytesRead) bytes read, \(counts.bytesWritten) written"
            let timed = counts.latencyCount
            if timed > 0 {
                let mean = Double(counts.latencySumNanoseconds) / Double(timed) / 1000
                line += String(format: "; latency mean %.1f µs", mean)
                for quantile in [0.5, 0.99] {
                    line += ", p\(Int(quantile * 100)) ≤ \(labels.bucketBound(counts, quantile: quantile))"
                }
            }
            lines.append(line)
        }
        return lines
    }

    static func log(_ snapshot: Counters.Snapshot, labels: MetricLabels, to logger: Logger) {
        for line in lines(snapshot, labels: labels) { logger.notice("\(line)") }
    }
}
