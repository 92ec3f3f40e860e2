import CVhostUserSupport
import Dispatch
import Foundation
import Glibc
import Testing
import VirtioCryptoDevice
import VirtioCryptoDriver
import VirtioCryptoEngines
import VirtioCryptoWire

/// Where the backend's message thread and its ring workers touch the same state: sessions
/// destroyed while a worker uses them, frontends coming and going with rings running, memory
/// tables, features and notifiers replaced under a busy ring, counters read while they count.
/// Each test checks what the frontend sees; CI runs them under ThreadSanitizer too
/// (`swift test --sanitize=thread`), which checks the rest.
struct ConcurrencyTests {
    /// A request posted and not yet waited for.
    struct Posted {
        var submission: DriverRing.Submission
        var session: UInt64
        var key: [UInt8]
        var iv: [UInt8]
        var input: [UInt8]
    }

    /// Chains the backend did not use in time.
    struct NotUsed: Error {
        var posted: UInt16
        var used: UInt16
    }

    static let keyA = [UInt8](0..<16)
    static let keyB = [UInt8](repeating: 0x5a, count: 32)

    static func encrypt(_ key: [UInt8], _ iv: [UInt8], _ input: [UInt8]) throws -> [UInt8] {
        let context = try key.withUnsafeBytes { try CipherSession(algorithm: .aesCbc, key: $0, direction: .encrypt) }
            .makeContext()
        var output = [UInt8](repeating: 0, count: input.count)
        try iv.withUnsafeBytes { iv in
            try input.withUnsafeBytes { input in
                try output.withUnsafeMutableBytes { try context.run(iv: iv, input: input, output: $0) }
            }
        }
        return output
    }

    static func head(_ session: UInt64, size: Int) -> [UInt8] {
        RequestBuilder.data(
            opcode: .cipherEncrypt, sessionID: session, flf: RequestBuilder.cipherData(ivLength: 16, sourceLength: size)
        )
    }

    /// Posts `count` AES-CBC requests, taking sessions in turn from `sessions`, and kicks once.
    static func post(
        _ ring: FrontendRing, _ sessions: [(id: UInt64, key: [UInt8])], count: Int, size: Int = 256
    ) -> [Posted] {
        ring.ring.resetData()
        var posted: [Posted] = []
        for index in 0..<count {
            let (session, key) = sessions[index % sessions.count]
            let iv = (0..<16).map { UInt8(truncatingIfNeeded: index &* 7 &+ $0) }
            let input = (0..<size).map { UInt8(truncatingIfNeeded: index &+ $0 &* 13) }
            let submission = ring.ring.submit(
                readable: [head(session, size: size), iv, input], writable: [size, 1], indirect: true)
            posted.append(Posted(submission: submission, session: session, key: key, iv: iv, input: input))
        }
        _ = vu_eventfd_signal(ring.kick)
        return posted
    }

    /// Waits until the backend has used every chain posted on `ring`.
    static func waitForAll(_ ring: FrontendRing, seconds: Double = 20) throws {
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9)
        while ring.ring.usedIndex != ring.ring.availIndex {
            guard DispatchTime.now().uptimeNanoseconds < deadline else {
                throw NotUsed(posted: ring.ring.availIndex, used: ring.ring.usedIndex)
            }
            usleep(200)
        }
    }

    /// The status byte and the output of a completed request.
    static func outcome(_ ring: FrontendRing, _ request: Posted) -> (status: UInt8, output: [UInt8]) {
        let written = ring.ring.written(request.submission)
        return (written.last ?? 0xff, Array(written.dropLast()))
    }

    /// Every request answered OK with the engine's output.
    static func expectServed(_ ring: FrontendRing, _ posted: [Posted]) throws {
        for request in posted {
            let (status, output) = outcome(ring, request)
            #expect(status == UInt8(Status.ok.rawValue))
            #expect(output == (try encrypt(request.key, request.iv, request.input)))
        }
    }

    /// Posts, waits, and checks every answer against the engine.
    static func serve(_ ring: FrontendRing, _ sessions: [(id: UInt64, key: [UInt8])], count: Int) throws {
        let posted = post(ring, sessions, count: count)
        try waitForAll(ring)
        try expectServed(ring, posted)
    }

    static func session(_ pair: Pair, _ key: [UInt8]) throws -> (id: UInt64, key: [UInt8]) {
        let id = try pair.frontend.createSession(cipher: .aesCbc, key: key, op: .encrypt)
        #expect(id > 0)
        return (UInt64(id), key)
    }

    static func u64(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

    // MARK: (a) sessions destroyed while workers use them

    @Test func closingASessionWhileItsRingServesItAnswersOkThenInvsess() throws {
        let pair = try Pair()
        try pair.frontend.handshake()
        let ring = try pair.frontend.startRing(0)
        for round in 0..<8 {
            let doomed = try Self.session(pair, Self.keyA)
            let kept = try Self.session(pair, Self.keyB)
            let posted = Self.post(ring, [doomed, kept], count: 200, size: 4096)
            usleep(UInt32(round * 40))  // the close lands at a different point of the batch each round
            try pair.frontend.closeSession(doomed.id)
            try Self.waitForAll(ring)
            var invalidSeen = false
            for request in posted {
                let (status, output) = Self.outcome(ring, request)
                let expected = try Self.encrypt(request.key, request.iv, request.input)
                if request.session == kept.id {
                    #expect(status == UInt8(Status.ok.rawValue) && output == expected, "the other session is untouched")
                } else if status == UInt8(Status.invsess.rawValue) {
                    invalidSeen = true
                } else {
                    #expect(status == UInt8(Status.ok.rawValue), "OK or INVSESS, nothing else")
                    #expect(!invalidSeen, "no request succeeds after one was refused: the close is seen once")
                    #expect(output == expected, "a request that raced the close still ran with its keys")
                }
            }
            _ = try pair.frontend.call(.getFeatures)  // the close has been handled
            let stale = try ring.run(
                readable: [Self.head(doomed.id, size: 16), Self.keyA, Self.keyA], writable: [16, 1])
            #expect(stale.last == UInt8(Status.invsess.rawValue))
            try pair.frontend.closeSession(kept.id)
        }
        _ = try pair.frontend.call(.getFeatures)
        #expect(pair.device.sessions.count == 0)
    }

    @Test func twoDataQueuesShareASessionThatIsClosedUnderThem() throws {
        var limits = DeviceLimits()
        limits.dataQueues = 2
        let pair = try Pair(limits: limits)
        try pair.frontend.handshake()
        let rings = try [pair.frontend.startRing(0), pair.frontend.startRing(1)]
        for _ in 0..<6 {
            let shared = try Self.session(pair, Self.keyB)
            let posted = rings.map { Self.post($0, [shared], count: 150) }
            try pair.frontend.closeSession(shared.id)
            for (ring, requests) in zip(rings, posted) {
                try Self.waitForAll(ring)
                let statuses = requests.map { Self.outcome(ring, $0).status }
                #expect(statuses.allSatisfy { $0 == UInt8(Status.ok.rawValue) || $0 == UInt8(Status.invsess.rawValue) })
                // Each worker sees the close once: OKs, then only INVSESS.
                let firstRefused = statuses.firstIndex(of: UInt8(Status.invsess.rawValue)) ?? statuses.count
                #expect(statuses[firstRefused...].allSatisfy { $0 == UInt8(Status.invsess.rawValue) })
            }
        }
    }

    // MARK: (b) frontends come and go with rings running

    @Test func frontendsComeAndGoWithRingsRunning() throws {
        for round in 0..<12 {
            let pair = try Pair()
            try pair.frontend.handshake()
            let data = try pair.frontend.startRing(0)
            let control = try pair.frontend.startRing(1)
            let session = try Self.session(pair, Self.keyA)
            try Self.serve(data, [session], count: 20)
            _ = Self.post(data, [session], count: 40 + 20 * (round % 5))  // left in flight
            if round % 2 == 0 {
                // Session creations left in flight on the control queue as well.
                control.ring.resetData()
                for _ in 0..<8 {
                    let create = RequestBuilder.control(
                        opcode: .cipherCreateSession,
                        flf: RequestBuilder.cipherSession(.aesCbc, keyLength: 16, op: .encrypt))
                    control.ring.submit(readable: [create, Self.keyA], writable: [16], indirect: true)
                }
                _ = vu_eventfd_signal(control.kick)
            }
            if round % 3 == 1 { usleep(500) }
            shutdown(pair.frontend.connection.fd, Int32(SHUT_RDWR))
            #expect(pair.ended() == .some(nil), "a clean disconnect in round \(round)")
            #expect(pair.device.sessions.count == 0, "no session outlives its frontend")
        }
    }

    // MARK: (c) memory tables replaced under a busy ring

    enum TableChange: String, CaseIterable {
        /// The same table, the memfd sent again: the backend maps it anew.
        case sameMemfd
        /// The same memfd as two regions (the second at an mmap offset), the control queue in the second.
        case splitInTwo
    }

    @Test(arguments: TableChange.allCases)
    func aMemoryTableResentUnderABusyRingKeepsServing(change: TableChange) throws {
        let pair = try Pair()
        try pair.frontend.handshake()
        let data = try pair.frontend.startRing(0)
        let control = try pair.frontend.startRing(1)
        let session = try Self.session(pair, Self.keyA)
        var served = 0
        for _ in 0..<6 {
            let posted = Self.post(data, [session], count: 120, size: 1024)
            switch change {
            case .sameMemfd:
                try pair.frontend.acked(
                    .setMemTable, payload: pair.frontend.memoryTable(), fds: [dup(pair.frontend.memoryFD)])
            case .splitInTwo:
                // Region 1: the first 4 MiB slice (ring 0); region 2: the rest, from offset 4 MiB (ring 1 on).
                var table = pair.frontend.memoryTable()
                let word = { (offset: Int) in
                    table.withUnsafeBytes {
                        UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                    }
                }
                let (guest, size, user) = (word(8), word(16), word(24))
                let first: UInt64 = 4 << 20
                table =
                    [2, 0, 0, 0, 0, 0, 0, 0] + Self.u64(guest) + Self.u64(first) + Self.u64(user) + Self.u64(0)
                    + Self.u64(guest + first) + Self.u64(size - first) + Self.u64(user + first) + Self.u64(first)
                try pair.frontend.acked(
                    .setMemTable, payload: table, fds: [dup(pair.frontend.memoryFD), dup(pair.frontend.memoryFD)])
            }
            try Self.waitForAll(data)
            try Self.expectServed(data, posted)
            served += posted.count
            // After the change: a data request, and a session made through the control queue.
            try Self.serve(data, [session], count: 4)
            served += 4
            let create = RequestBuilder.control(
                opcode: .cipherCreateSession, flf: RequestBuilder.cipherSession(.aesCbc, keyLength: 16, op: .encrypt))
            let input = try CreateSessionInput.decode(try control.run(readable: [create, Self.keyA], writable: [16]))
            #expect(input.status == .ok)
            try Self.serve(data, [(input.sessionId, Self.keyA)], count: 2)
            served += 2
        }
        #expect(try pair.frontend.stopRing(0) == UInt32(served))
    }

    // MARK: (d) other state two threads share

    /// QEMU re-sends SET_FEATURES while rings run (for dirty logging during migration): the message
    /// thread stores the features every data worker reads per request.
    @Test func featuresResentWhileTheRingRuns() throws {
        let pair = try Pair()
        try pair.frontend.handshake()
        let ring = try pair.frontend.startRing(0)
        let session = try Self.session(pair, Self.keyA)
        for round in 0..<10 {
            let posted = Self.post(ring, [session], count: 150)
            for resend in 0..<4 {
                let features: UInt64 = (1 << 30) | ((round + resend) % 2 == 0 ? 1 << 32 : 0)  // VERSION_1 or not
                try pair.frontend.acked(.setFeatures, payload: Self.u64(features))
            }
            try Self.waitForAll(ring)
            try Self.expectServed(ring, posted)
            #expect(pair.device.features == [], "no crypto feature: the legacy layout stays")
        }
    }

    /// The statistics are summed by another thread (SIGUSR1, metrics) while workers count, and while
    /// a restarted worker's counts are folded into the totals.
    @Test func countersReadWhileTheyCount() throws {
        let pair = try Pair()
        try pair.frontend.handshake()
        let ring = try pair.frontend.startRing(0)
        let session = try Self.session(pair, Self.keyA)
        let device = pair.device
        let done = SharedFlag()
        let reader = DispatchGroup()
        reader.enter()
        Thread {
            var reads = 0
            while !done.value || reads == 0 {
                _ = device.statistics.count(.ok)
                _ = device.statistics.count(.invsess)
                _ = device.statistics.violationCounts()
                _ = device.sessions.count
                reads += 1
            }
            reader.leave()
        }.start()
        var answered = 0
        var calls: [Int32] = []
        defer { calls.forEach { close($0) } }
        for round in 0..<5 {
            let posted = Self.post(ring, [session, (987_654, Self.keyA)], count: 100)
            let extra = try Self.session(pair, Self.keyB)  // the table changes under the reader too
            try pair.frontend.closeSession(extra.id)
            try Self.waitForAll(ring)
            // A new call eventfd restarts the ring: the old worker's counts are retired.
            calls.append(vu_eventfd())
            try pair.frontend.acked(.setVringCall, payload: Self.u64(0), fds: [calls.last!])
            answered += posted.count
            #expect(posted.allSatisfy { Self.outcome(ring, $0).status != 0xff }, "round \(round)")
        }
        done.value = true
        reader.wait()
        // Half the requests name an unknown session; no other request is refused.
        #expect(device.statistics.count(.invsess) == answered / 2)
        #expect(device.statistics.count(.ok) >= answered / 2)
    }

    /// Sessions made and destroyed by messages and by the control queue's worker while the data
    /// worker uses them: three threads on one session table.
    @Test func controlQueueAndMessagesShareTheSessionTableWithTheDataRing() throws {
        let pair = try Pair()
        try pair.frontend.handshake()
        let data = try pair.frontend.startRing(0)
        let control = try pair.frontend.startRing(1)
        let base = try Self.session(pair, Self.keyA)
        for _ in 0..<6 {
            let posted = Self.post(data, [base], count: 120)
            control.ring.resetData()
            var creates: [DriverRing.Submission] = []
            for _ in 0..<16 {
                let create = RequestBuilder.control(
                    opcode: .cipherCreateSession,
                    flf: RequestBuilder.cipherSession(.aesCbc, keyLength: 16, op: .encrypt))
                creates.append(control.ring.submit(readable: [create, Self.keyA], writable: [16], indirect: true))
            }
            _ = vu_eventfd_signal(control.kick)
            let byMessage = try (0..<16).map { _ in try Self.session(pair, Self.keyB) }
            for session in byMessage { try pair.frontend.closeSession(session.id) }
            try Self.waitForAll(control)
            try Self.waitForAll(data)
            try Self.expectServed(data, posted)
            let created = try creates.map { try CreateSessionInput.decode(control.ring.written($0)) }
            #expect(created.allSatisfy { $0.status == .ok })
            control.ring.resetData()
            let destroys = created.map {
                control.ring.submit(
                    readable: [
                        RequestBuilder.control(
                            opcode: .cipherDestroySession, flf: DestroySessionFlf(sessionId: $0.sessionId))
                    ], writable: [1], indirect: true)
            }
            _ = vu_eventfd_signal(control.kick)
            try Self.waitForAll(control)
            #expect(destroys.allSatisfy { control.ring.written($0) == [0] })
        }
        _ = try pair.frontend.call(.getFeatures)
        #expect(pair.device.sessions.count == 1)
    }

    /// GET_VRING_BASE stops a busy worker: the index it answers is exactly what the worker
    /// published as used (the message thread reads the worker's queue after it stopped).
    @Test func getVringBaseUnderABusyRingAnswersWhatWasUsed() throws {
        for _ in 0..<6 {
            let pair = try Pair()
            try pair.frontend.handshake()
            let ring = try pair.frontend.startRing(0)
            let session = try Self.session(pair, Self.keyA)
            let posted = Self.post(ring, [session], count: 200, size: 1024)
            let base = try pair.frontend.stopRing(0)
            usleep(20_000)  // a worker still running would go on using chains
            #expect(base == UInt32(ring.ring.usedIndex))
            #expect(base <= UInt32(posted.count))
        }
    }

    /// Kick and call eventfds replaced while the ring works (the backend restarts its worker).
    @Test func notifiersReplacedUnderABusyRing() throws {
        let pair = try Pair()
        try pair.frontend.handshake()
        let ring = try pair.frontend.startRing(0)
        let session = try Self.session(pair, Self.keyA)
        var replaced: [Int32] = []
        defer { replaced.forEach { close($0) } }
        for round in 0..<6 {
            let posted = Self.post(ring, [session], count: 150)
            let notifier = vu_eventfd()
            replaced.append(notifier)
            try pair.frontend.acked(
                round % 2 == 0 ? .setVringCall : .setVringKick, payload: Self.u64(0), fds: [notifier])
            _ = vu_eventfd_signal(notifier)  // a replaced kick is the one the worker now waits on
            try Self.waitForAll(ring)
            try Self.expectServed(ring, posted)
        }
    }
}

extension ConcurrencyTests {
    /// Sessions keyed on several threads at once, as several frontends' message threads and control
    /// queues do: every keying fetches its OpenSSL algorithm through one process-wide cache.
    @Test func sessionsKeyedOnManyThreadsAtOnceShareTheAlgorithmCache() throws {
        let ciphers: [(CipherAlgorithm, Int)] = [
            (.aesCbc, 16), (.aesEcb, 32), (.aesCtr, 24), (.aesXts, 64), (.tripleDesCbc, 24),
        ]
        let hashes: [HashAlgorithm] = [.sha256, .sha3256, .sha512, .md5]
        let block = [UInt8](repeating: 0x3c, count: 64)
        let iv = [UInt8](repeating: 0x11, count: 16)
        let threads = 6
        let results = ResultBox(threads)
        let group = DispatchGroup()
        for thread in 0..<threads {
            group.enter()
            Thread {
                var outputs: [[UInt8]] = []
                for _ in 0..<150 {
                    for (algorithm, keyLength) in ciphers {
                        // Distinct bytes: XTS refuses a key whose halves are equal.
                        let key = (0..<keyLength).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
                        let cipherIV = algorithm == .tripleDesCbc ? Array(iv.prefix(8)) : iv
                        outputs.append(
                            (try? Self.run(algorithm, key: key, iv: algorithm == .aesEcb ? [] : cipherIV, block)) ?? [])
                    }
                    for algorithm in hashes {
                        outputs.append(
                            (try? HashSession(algorithm: algorithm, resultLength: 16)).map { _ in [1] } ?? [])
                    }
                }
                results.set(thread, outputs)
                group.leave()
            }.start()
        }
        group.wait()
        let first = results.get(0)
        let failed = first.indices.filter { first[$0].isEmpty }.map { $0 % (ciphers.count + hashes.count) }
        #expect(failed.isEmpty, "every session keyed and ran (failed: \(Set(failed).sorted()))")
        for thread in 1..<threads { #expect(results.get(thread) == first, "thread \(thread) got the same results") }
    }

    static func run(_ algorithm: CipherAlgorithm, key: [UInt8], iv: [UInt8], _ input: [UInt8]) throws -> [UInt8] {
        let context = try key.withUnsafeBytes { try CipherSession(algorithm: algorithm, key: $0, direction: .encrypt) }
            .makeContext()
        var output = [UInt8](repeating: 0, count: input.count)
        try iv.withUnsafeBytes { iv in
            try input.withUnsafeBytes { input in
                try output.withUnsafeMutableBytes { try context.run(iv: iv, input: input, output: $0) }
            }
        }
        return output
    }
}

/// Per-thread results, read once the threads are done.
final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [[[UInt8]]]
    init(_ count: Int) { values = Array(repeating: [], count: count) }
    func set(_ index: Int, _ value: [[UInt8]]) { lock.withLock { values[index] = value } }
    func get(_ index: Int) -> [[UInt8]] { lock.withLock { values[index] } }
}

/// A flag two threads share.
final class SharedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var stored = false
    var value: Bool {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
