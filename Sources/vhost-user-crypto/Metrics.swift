import CoreMetrics
import Foundation
import Prometheus
import VhostUser
import VirtioCryptoDevice
import VirtioCryptoWire

/// Label values: the spec's names in lower case (Spec/constants.yaml: VIRTIO_CRYPTO_CIPHER_AES_CBC is
/// `aes-cbc`, VIRTIO_CRYPTO_SERVICE_MAC is `mac`, VIRTIO_CRYPTO_INVSESS is `invsess`); queues by
/// index, the control queue as `control`, QEMU's session messages as `session-message`.
struct MetricLabels {
    let dataQueues: Int

    func queue(_ source: RequestSource) -> String {
        switch source {
        case .dataQueue(let index): "\(index)"
        case .controlQueue: "control"
        case .sessionMessage: "session-message"
        }
    }

    func queue(ring: Int) -> String { ring == dataQueues ? "control" : "\(ring)" }

    func service(_ service: Service?) -> String {
        guard let service else { return "unknown" }
        return AlgorithmFilter.specName(service.cName, prefix: "VIRTIO_CRYPTO_SERVICE_") ?? "\(service.rawValue)"
    }

    func service(_ algorithm: RequestAlgorithm) -> String {
        switch algorithm {
        case .unknown(let named): service(named)
        case .cipher, .chain: service(.cipher)
        case .hash: service(.hash)
        case .mac: service(.mac)
        case .aead: service(.aead)
        case .akcipher: service(.akcipher)
        case .other: "other"
        }
    }

    private func name(_ cName: String?, _ prefix: String, _ raw: UInt32) -> String {
        AlgorithmFilter.specName(cName, prefix: prefix) ?? "unknown-\(raw)"
    }

    func algorithm(_ algorithm: RequestAlgorithm) -> String {
        switch algorithm {
        case .unknown: "none"
        case .cipher(let cipher): name(cipher.cName, "VIRTIO_CRYPTO_CIPHER_", cipher.rawValue)
        case .chain(let cipher, .hash(let hash)):
            name(cipher.cName, "VIRTIO_CRYPTO_CIPHER_", cipher.rawValue) + "+"
                + name(hash.cName, "VIRTIO_CRYPTO_HASH_", hash.rawValue)
        case .chain(let cipher, .mac(let mac)):
            name(cipher.cName, "VIRTIO_CRYPTO_CIPHER_", cipher.rawValue) + "+"
                + name(mac.cName, "VIRTIO_CRYPTO_MAC_", mac.rawValue)
        case .hash(let hash): name(hash.cName, "VIRTIO_CRYPTO_HASH_", hash.rawValue)
        case .mac(let mac): name(mac.cName, "VIRTIO_CRYPTO_MAC_", mac.rawValue)
        case .aead(let aead): name(aead.cName, "VIRTIO_CRYPTO_AEAD_", aead.rawValue)
        case .akcipher(let akcipher): name(akcipher.cName, "VIRTIO_CRYPTO_AKCIPHER_", akcipher.rawValue)
        case .other: "other"
        }
    }

    func status(_ status: Status) -> String { name(status.cName, "VIRTIO_CRYPTO_", status.rawValue) }

    func byService(_ counts: [Service: Int]) -> [String: Int] {
        Dictionary(counts.map { (service($0.key), $0.value) }, uniquingKeysWith: +)
    }

    func byService(_ counts: [Service?: Int]) -> [String: Int] {
        Dictionary(counts.map { (service($0.key), $0.value) }, uniquingKeysWith: +)
    }

    /// The upper bound of the bucket holding `quantile` of the timed requests, for the text report.
    func bucketBound(_ ring: RingStatistics, quantile: Double) -> String {
        let target = Int((Double(ring.latencyCount) * quantile).rounded(.up))
        var seen = 0
        for (index, count) in ring.latencyBuckets.enumerated() {
            seen += count
            guard seen >= max(target, 1) else { continue }
            guard index < RingStatistics.latencyBoundsNanoseconds.count else { return "more than 1 s" }
            let bound = RingStatistics.latencyBoundsNanoseconds[index]
            return bound >= 1_000_000 ? "\(bound / 1_000_000) ms" : "\(bound / 1000) µs"
        }
        return "-"
    }
}

/// The Prometheus exposition of the daemon's counters. The counters and gauges are swift-metrics
/// ones made by swift-prometheus's factory into its registry, which renders them; each scrape adds
/// what the workers counted since the last one (the workers never call into swift-metrics: that
/// would be a shared atomic or a lock per request). The latency histograms are rendered here in the
/// same format from the workers' bucket counts: swift-prometheus's histogram takes one observation
/// at a time under its lock, which neither the data path nor a scrape of millions of requests can
/// afford.
final class MetricsExporter: @unchecked Sendable {
    static let prefix = "vhost_user_crypto_"
    private let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let labels: MetricLabels
    private let counters: Counters
    private let lock = NSLock()
    /// Each counter series and the total already added to it.
    private var series: [String: (counter: CoreMetrics.Counter, added: Int)] = [:]
    private var gauges: [String: CoreMetrics.Gauge] = [:]

    init(counters: Counters, labels: MetricLabels) {
        self.counters = counters
        self.labels = labels
        factory = PrometheusMetricsFactory(registry: registry)
    }

    /// One scrape: the text the endpoint serves.
    func render() -> [UInt8] {
        let snapshot = counters.snapshot()
        return lock.withLock {
            update(snapshot)
            var buffer = registry.emitToBuffer()
            appendLatency(snapshot, into: &buffer)
            return buffer
        }
    }

    private func count(_ name: String, _ dimensions: [(String, String)], _ total: Int) {
        let key = name + dimensions.map { "\u{0}\($0.0)=\($0.1)" }.joined()
        let entry =
            series[key]
            ?? (CoreMetrics.Counter(label: Self.prefix + name, dimensions: dimensions, factory: factory), 0)
        if total > entry.added { entry.counter.increment(by: total - entry.added) }
        series[key] = (entry.counter, max(total, entry.added))
    }

    private func gauge(_ name: String, _ value: Int) {
        let gauge = gauges[name] ?? CoreMetrics.Gauge(label: Self.prefix + name, dimensions: [], factory: factory)
        gauges[name] = gauge
        gauge.record(value)
    }

    private func update(_ snapshot: Counters.Snapshot) {
        for (key, total) in snapshot.device.requests {
            count(
                "requests_total",
                [
                    ("queue", labels.queue(key.source)), ("service", labels.service(key.algorithm)),
                    ("algorithm", labels.algorithm(key.algorithm)), ("status", labels.status(key.status)),
                ], total)
        }
        for (rule, total) in snapshot.device.violations {
            count("rule_violations_total", [("rule", rule.rawValue)], total)
        }
        let sessions = snapshot.device.sessions
        for (service, total) in labels.byService(sessions.created) {
            count("sessions_created_total", [("service", service)], total)
        }
        for (service, total) in labels.byService(sessions.destroyed) {
            count("sessions_destroyed_total", [("service", service)], total)
        }
        for (service, total) in labels.byService(sessions.refused) {
            count("sessions_refused_total", [("service", service)], total)
        }
        gauge("sessions_live", snapshot.liveSessions)
        for (source, total) in snapshot.device.multiBuffer {
            count("multi_buffer_requests_total", [("queue", labels.queue(source))], total)
        }
        for (ring, counts) in snapshot.rings {
            let queue = [("queue", labels.queue(ring: ring))]
            count("ring_requests_total", queue, counts.requests)
            count("bytes_read_total", queue, counts.bytesRead)
            count("bytes_written_total", queue, counts.bytesWritten)
        }
        for (kind, total) in snapshot.faults { count("ring_faults_total", [("kind", kind)], total) }
        for (kind, total) in snapshot.refusals { count("messages_refused_total", [("kind", kind)], total) }
        count("frontend_connects_total", [], snapshot.connects)
        for (reason, total) in snapshot.disconnects { count("frontend_disconnects_total", [("reason", reason)], total) }
        gauge("frontends_connected", snapshot.connected)
    }

    /// `request_latency_seconds{queue}`: cumulative buckets, sum and count, per ring that timed any.
    private func appendLatency(_ snapshot: Counters.Snapshot, into buffer: inout [UInt8]) {
        let name = Self.prefix + "request_latency_seconds"
        let rings = snapshot.rings.keys.sorted().filter { snapshot.rings[$0]!.latencyCount > 0 }
        guard !rings.isEmpty else { return }
        var text = "# TYPE \(name) histogram\n"
        for ring in rings {
            let counts = snapshot.rings[ring]!
            let queue = "queue=\"\(labels.queue(ring: ring))\""
            var cumulative = 0
            for (index, bound) in RingStatistics.latencyBoundsNanoseconds.enumerated() {
                cumulative += counts.latencyBuckets[index]
                text += "\(name)_bucket{\(queue),le=\"\(Double(bound) / 1e9)\"} \(cumulative)\n"
            }
            text += "\(name)_bucket{\(queue),le=\"+Inf\"} \(counts.latencyCount)\n"
            text += "\(name)_sum{\(queue)} \(Double(counts.latencySumNanoseconds) / 1e9)\n"
            text += "\(name)_count{\(queue)} \(counts.latencyCount)\n"
        }
        buffer.append(contentsOf: text.utf8)
    }
}
