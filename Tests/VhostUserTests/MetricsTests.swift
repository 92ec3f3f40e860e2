import CVhostUserSupport
import Foundation
import Glibc
import Testing
import VirtQueue
import VirtioCryptoDriver
import VirtioCryptoWire

/// The daemon's Prometheus endpoint, scraped over HTTP while our frontend drives it: every counter
/// moves, rule violations are named by their spec rule ID, and SIGUSR1 prints the same numbers.
struct MetricsTests {
    /// A daemon process with a metrics endpoint, and what it logged.
    final class Daemon {
        let process = Process()
        let output = Pipe()
        let socket: String
        let metrics: String

        init(metrics: String? = nil, extra: [String] = []) throws {
            try #require(access(ShutdownTests.daemon, X_OK) == 0, "no daemon at \(ShutdownTests.daemon)")
            let tag = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            socket = "/tmp/vuc-metrics-\(tag).sock"
            self.metrics = metrics ?? "/tmp/vuc-metrics-\(tag).metrics"
            process.executableURL = URL(fileURLWithPath: ShutdownTests.daemon)
            process.arguments =
                ["--socket-path", socket, "--metrics-address", self.metrics, "--log-level", "notice"] + extra
            process.standardError = output
            process.standardOutput = output
            try process.run()
            let unix = self.metrics.contains("/")
            for _ in 0..<250 where access(socket, F_OK) != 0 || (unix && access(self.metrics, F_OK) != 0) {
                usleep(20_000)
            }
        }

        func stop() -> String {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
            return String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        }
    }

    struct NotListening: Error {}

    struct Response {
        var status: Int
        var headers: String
        var body: String
    }

    /// One HTTP/1.1 request over a UNIX socket (a path) or TCP (HOST:PORT), the connection closed after.
    static func http(_ address: String, method: String = "GET", path: String = "/metrics") throws -> Response {
        let fd: Int32
        if address.contains("/") {
            fd = vu_connect(address)
        } else {
            let parts = address.split(separator: ":")
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var peer = sockaddr_in()
            peer.sin_family = sa_family_t(AF_INET)
            peer.sin_port = UInt16(parts[1])!.bigEndian
            inet_pton(AF_INET, String(parts[0]), &peer.sin_addr)
            let connected = withUnsafePointer(to: &peer) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            if connected != 0 {
                close(fd)
                throw NotListening()
            }
        }
        guard fd >= 0 else { throw NotListening() }
        defer { close(fd) }
        let request = "\(method) \(path) HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
        _ = request.withCString { write(fd, $0, strlen($0)) }
        var data = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(fd, &chunk, chunk.count)
            if count <= 0 { break }
            data += chunk[0..<count]
        }
        let text = String(decoding: data, as: UTF8.self)
        let split = try #require(text.range(of: "\r\n\r\n"), "an HTTP response: \(text)")
        let head = String(text[..<split.lowerBound])
        let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
        return Response(status: status, headers: head, body: String(text[split.upperBound...]))
    }

    /// Series → value of a Prometheus text exposition.
    static func scrape(_ address: String) throws -> [String: Double] {
        let response = try http(address)
        #expect(response.status == 200)
        #expect(response.headers.contains("text/plain; version=0.0.4"))
        var series: [String: Double] = [:]
        for line in response.body.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                Issue.record("not a sample: \(line)")
                continue
            }
            series[String(line[..<space])] = value
        }
        return series
    }

    @Test func aScrapeShowsEveryCounterMovingAndSIGUSR1PrintsTheSameNumbers() throws {
        let daemon = try Daemon()
        let before = try Self.scrape(daemon.metrics)
        #expect(before["vhost_user_crypto_frontend_connects_total"] == 0)
        let served = 20
        // Posted together: the daemon runs them in IPsec-MB's lanes (one alone runs at once), 128 bytes
        // each (shorter AES-CBC requests run through OpenSSL).
        let burst = 8
        let burstBlock = block64 + block64
        do {
            let frontend = try VhostUserFrontend(path: daemon.socket)
            try frontend.handshake()
            let data = try frontend.startRing(0)
            let control = try frontend.startRing(1)
            // A session by QEMU's message, requests on it, and one on a session that does not exist.
            let session = UInt64(try frontend.createSession(cipher: .aesCbc, key: key16, op: .encrypt))
            for _ in 0..<served {
                let out = try data.run(readable: [aesCBCRequest(session), iv16, block64], writable: [64, 1])
                #expect(out.last == UInt8(Status.ok.rawValue))
            }
            for _ in 0..<burst {
                data.ring.submit(
                    readable: [aesCBCRequest(session, sourceLength: burstBlock.count), iv16, burstBlock],
                    writable: [burstBlock.count, 1], indirect: true)
            }
            _ = vu_eventfd_signal(data.kick)
            let burstDeadline = Date().addingTimeInterval(5)
            while data.ring.usedIndex != UInt16(served + burst), Date() < burstDeadline { usleep(1000) }
            #expect(data.ring.usedIndex == UInt16(served + burst))
            let stale = try data.run(readable: [aesCBCRequest(session + 100), iv16, block64], writable: [64, 1])
            #expect(stale.last == UInt8(Status.invsess.rawValue))
            // Through the control queue: a session created and destroyed, and one that breaks a rule.
            let create = RequestBuilder.control(
                opcode: .cipherCreateSession, flf: RequestBuilder.cipherSession(.aesCbc, keyLength: 16, op: .encrypt))
            let created = try CreateSessionInput.decode(try control.run(readable: [create, key16], writable: [16]))
            #expect(created.status == .ok)
            let destroy = RequestBuilder.control(
                opcode: .cipherDestroySession, flf: DestroySessionFlf(sessionId: created.sessionId))
            #expect(try control.run(readable: [destroy], writable: [1]) == [UInt8(Status.ok.rawValue)])
            let ruleBreaker = RequestBuilder.control(
                opcode: .cipherCreateSession, flf: SymCreateSessionFlf(opType: .noOperation))
            let refused = try CreateSessionInput.decode(try control.run(readable: [ruleBreaker], writable: [16]))
            #expect(refused.status == .notsupp)
            // A chain outside guest memory (a ring fault) and a message the backend refuses.
            data.ring.setDescriptor(0, address: 0xdead_0000_0000, length: 64, flags: 0)
            data.ring.post(0)
            _ = vu_eventfd_signal(data.kick)
            let deadline = Date().addingTimeInterval(5)
            while data.ring.usedIndex == UInt16(served + burst + 1), Date() < deadline { usleep(1000) }
            #expect(throws: VhostUserFrontend.FrontendError.backend(1)) {
                try frontend.acked(.setVringEnable, payload: NeverSilentTests.u32s(7, 1))
            }
            let during = try Self.scrape(daemon.metrics)
            #expect(during["vhost_user_crypto_frontends_connected"] == 1)
            #expect(during["vhost_user_crypto_sessions_live"] == 1, "the QEMU session is still live")
            kill(daemon.process.processIdentifier, SIGUSR1)
            usleep(200_000)
        }
        // The frontend is gone: its counts join the totals.
        var after = try Self.scrape(daemon.metrics)
        for _ in 0..<250 where after["vhost_user_crypto_frontend_disconnects_total{reason=\"closed\"}"] == nil {
            usleep(20_000)
            after = try Self.scrape(daemon.metrics)
        }
        let log = daemon.stop()
        // METRICS_TESTS_PRINT=1 prints the last scrape (the README's excerpt comes from it).
        if ProcessInfo.processInfo.environment["METRICS_TESTS_PRINT"] != nil {
            print(after.keys.sorted().map { "\($0) \(after[$0]!)" }.joined(separator: "\n"))
        }
        let cbc = "queue=\"0\",service=\"cipher\",algorithm=\"aes-cbc\""
        let expected: [(String, Double)] = [
            ("vhost_user_crypto_requests_total{\(cbc),status=\"ok\"}", Double(served + burst)),
            (
                "vhost_user_crypto_requests_total{queue=\"0\",service=\"cipher\",algorithm=\"none\",status=\"invsess\"}",
                1
            ),
            (
                "vhost_user_crypto_requests_total{queue=\"control\",service=\"cipher\",algorithm=\"aes-cbc\",status=\"ok\"}",
                1
            ),
            (
                "vhost_user_crypto_requests_total{queue=\"control\",service=\"cipher\",algorithm=\"none\",status=\"ok\"}",
                1
            ),
            (
                "vhost_user_crypto_requests_total{queue=\"control\",service=\"cipher\",algorithm=\"none\",status=\"notsupp\"}",
                1
            ),
            (
                "vhost_user_crypto_requests_total{queue=\"session-message\",service=\"cipher\",algorithm=\"aes-cbc\",status=\"ok\"}",
                1
            ),
            ("vhost_user_crypto_rule_violations_total{rule=\"\(RuleID.drvSlotSymSessionOpFlfMember.rawValue)\"}", 1),
            ("vhost_user_crypto_sessions_created_total{service=\"cipher\"}", 2),
            ("vhost_user_crypto_sessions_destroyed_total{service=\"cipher\"}", 1),
            ("vhost_user_crypto_sessions_refused_total{service=\"cipher\"}", 1),
            ("vhost_user_crypto_sessions_live", 0),
            ("vhost_user_crypto_ring_requests_total{queue=\"0\"}", Double(served + burst + 2)),
            ("vhost_user_crypto_ring_requests_total{queue=\"control\"}", 3),
            (
                "vhost_user_crypto_bytes_read_total{queue=\"0\"}",
                Double((served + 1) * (aesCBCRequest(0).count + 16 + 64) + burst * (aesCBCRequest(0).count + 16 + 128))
            ),
            ("vhost_user_crypto_bytes_written_total{queue=\"0\"}", Double(served * 65 + burst * 129 + 1)),
            ("vhost_user_crypto_ring_faults_total{kind=\"\(QueueError.addressOutOfRange)\"}", 1),
            ("vhost_user_crypto_messages_refused_total{kind=\"ring-index\"}", 1),
            ("vhost_user_crypto_frontend_connects_total", 1),
            ("vhost_user_crypto_frontend_disconnects_total{reason=\"closed\"}", 1),
            ("vhost_user_crypto_frontends_connected", 0),
            ("vhost_user_crypto_request_latency_seconds_count{queue=\"0\"}", Double(served + burst + 2)),
            ("vhost_user_crypto_request_latency_seconds_bucket{queue=\"0\",le=\"+Inf\"}", Double(served + burst + 2)),
        ]
        for (series, value) in expected {
            #expect(after[series] == value, "\(series): \(after[series].map { "\($0)" } ?? "absent")")
        }
        #expect((after["vhost_user_crypto_request_latency_seconds_sum{queue=\"0\"}"] ?? 0) > 0)
        // The daemon runs AES-CBC encryptions posted together in IPsec-MB's lanes: the burst's (all of
        // it, unless the worker's periodic wake-up took one alone while this test was still posting).
        let lanes = after["vhost_user_crypto_multi_buffer_requests_total{queue=\"0\"}"] ?? 0
        #expect(lanes >= 1 && lanes <= Double(burst), "\(lanes)")
        let buckets = after.filter { $0.key.hasPrefix("vhost_user_crypto_request_latency_seconds_bucket{queue=\"0\"") }
        #expect(buckets.count == 20, "19 bounds and +Inf")
        // SIGUSR1 printed the frontend's numbers (before it left) as text.
        #expect(log.contains(" 0/cipher/aes-cbc/ok=\(served + burst) "), "\(log)")
        #expect(log.contains("rule violations: \(RuleID.drvSlotSymSessionOpFlfMember.rawValue)=1 "), "\(log)")
        #expect(log.contains("sessions: live 1; created cipher=2; destroyed cipher=1; refused cipher=1"), "\(log)")
        #expect(log.contains("ring faults: \(QueueError.addressOutOfRange)=1"), "\(log)")
        #expect(log.contains("frontends: connected 1, connects 1"), "\(log)")
    }

    @Test func theEndpointAnswersOnlyGetMetricsAndListensOnTCPToo() throws {
        let port = 20000 + Int(getpid() % 20000)
        let daemon = try Daemon(metrics: "127.0.0.1:\(port)")
        defer { _ = daemon.stop() }
        var connected = false
        for _ in 0..<250 where !connected {
            connected = (try? Self.http(daemon.metrics, path: "/")) != nil
            if !connected { usleep(20_000) }
        }
        #expect(try Self.http(daemon.metrics).status == 200)
        #expect(try Self.http(daemon.metrics, path: "/").status == 404)
        #expect(try Self.http(daemon.metrics, method: "POST").status == 405)
        #expect(try Self.http(daemon.metrics, method: "HEAD").status == 200)
        #expect(try Self.scrape(daemon.metrics)["vhost_user_crypto_frontend_connects_total"] == 0)
    }

    @Test func aMetricsAddressThatIsNeitherIsRefusedAtStart() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ShutdownTests.daemon)
        process.arguments = ["--socket-path", "/tmp/vuc-unused-\(getpid()).sock", "--metrics-address", "9464"]
        let output = Pipe()
        process.standardError = output
        process.standardOutput = output
        try process.run()
        process.waitUntilExit()
        let log = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus != 0)
        #expect(log.contains("neither HOST:PORT nor a UNIX socket path"), "\(log)")
    }
}
