import Foundation
import Testing
import VirtQueue
import VirtioCryptoDevice
import VirtioCryptoDriver
import VirtioCryptoEngines
import VirtioCryptoWire

/// The batch path of a data worker (`serve` and `finishBatch`) driven directly, so a test can put
/// control requests between the requests of one batch.
struct BatchTests {
    final class Answers: UsedRingCompletion {
        var written: [UInt16: UInt32] = [:]
        func complete(head: UInt16, written: UInt32) { self.written[head] = written }
    }

    static let key = [UInt8](repeating: 0x2b, count: 16)

    /// A data ring of its own, whose chains the test hands to the worker itself.
    struct Ring {
        let ring = DriverRing(size: 16, memorySize: 1 << 20)
        let queue: SplitQueue
        init() throws { queue = try SplitQueue(memory: ring.memory, layout: ring.layout, eventIndex: false) }

        /// Posts one request and walks it: its submission and its chain.
        func post(_ readable: [[UInt8]], writable: [Int]) throws -> (DriverRing.Submission, DescriptorChain) {
            let submission = ring.submit(readable: readable, writable: writable)
            let chain = DescriptorChain()
            try queue.walk(head: try #require(try queue.nextAvailable()), into: chain)
            return (submission, chain)
        }
    }

    /// Serves `chain` as one of several: it must wait in the lanes (a machine without IPsec-MB
    /// answers it at once, and the test stops there).
    static func serveIntoLanes(
        _ worker: DataWorker, _ submission: DriverRing.Submission, _ chain: DescriptorChain, _ answers: Answers
    ) throws {
        let deferred = worker.serve(chain, head: submission.head, othersWaiting: 1, completion: answers)
        try #require(deferred == nil, "no IPsec-MB here: the request ran at once")
        try #require(answers.written[submission.head] == nil, "the job API returned the job at once")
    }

    /// A session destroyed while one of its requests waits in the lanes: the request still runs
    /// with its keys (the worker keeps its copies of destroyed sessions, which zeroize their keys when
    /// released, until the lanes are flushed), and a later request on the session gets INVSESS.
    /// (IPsec-MB 1.3's AVX2 AES-CBC lanes take what they need of the keys at submission, so this one
    /// would pass without that; the HMAC test below would not.)
    @Test func aSessionDestroyedMidBatchKeepsItsKeysUntilItsRequestsReturn() throws {
        let harness = try Harness()
        let worker = harness.device.makeDataWorker(multiBuffer: true)
        let doomed = try harness.cipherSession(.aesCbc, key: Self.key, op: .encrypt)
        let other = try harness.cipherSession(.aesCbc, key: Self.key, op: .encrypt)
        let ring = try Ring()
        let iv = [UInt8](0..<16)
        let plaintext = (0..<256).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        func post(_ session: UInt64) throws -> (DriverRing.Submission, DescriptorChain) {
            let head = RequestBuilder.data(
                opcode: .cipherEncrypt, sessionID: session,
                flf: RequestBuilder.cipherData(ivLength: 16, sourceLength: plaintext.count))
            return try ring.post([head, iv, plaintext], writable: [plaintext.count, 1])
        }
        let answers = Answers()
        let (first, firstChain) = try post(doomed)
        try Self.serveIntoLanes(worker, first, firstChain, answers)
        let destroy = RequestBuilder.control(opcode: .cipherDestroySession, flf: DestroySessionFlf(sessionId: doomed))
        #expect(try harness.destroyStatus([destroy]) == .ok)
        let (second, secondChain) = try post(other)
        let (third, thirdChain) = try post(doomed)
        if let written = worker.serve(secondChain, head: second.head, othersWaiting: 1, completion: answers) {
            answers.complete(head: second.head, written: written)
        }
        if let written = worker.serve(thirdChain, head: third.head, othersWaiting: 0, completion: answers) {
            answers.complete(head: third.head, written: written)
        }
        worker.finishBatch(completion: answers)
        let expected = try runCipher(Self.key, iv, plaintext)
        for submission in [first, second] {
            #expect(answers.written[submission.head] == UInt32(plaintext.count + 1))
            let out = ring.ring.written(submission)
            #expect(Array(out.prefix(plaintext.count)) == expected, "head \(submission.head)")
            #expect(out.last == UInt8(Status.ok.rawValue))
        }
        #expect(ring.ring.written(third).last == UInt8(Status.invsess.rawValue))
    }

    /// The same through `handle` (which answers at once and delivers nothing of the lanes): an HMAC
    /// job waits in the lanes, its session is destroyed, and a request on another session is handled.
    /// IPsec-MB reads an HMAC job's inner and outer states when its lane runs, so the destroyed
    /// session's copy must outlive the job: the MAC must still be RFC 4231's (test case 2).
    @Test func aSessionDestroyedWhileItsHMACWaitsKeepsItsStatesWhenAnotherRequestIsHandled() throws {
        let harness = try Harness()
        let worker = harness.device.makeDataWorker(multiBuffer: true)
        let key = Array("Jefe".utf8)
        let message = Array("what do ya want for nothing?".utf8)
        let expected = [UInt8](hex: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")!
        func macSession() throws -> UInt64 {
            let (status, id) = try harness.createSession(
                RequestBuilder.control(
                    opcode: .macCreateSession,
                    flf: MacCreateSessionFlf(algo: .hmacSha256, hashResultLen: 32, authKeyLen: UInt32(key.count))),
                keys: [key])
            try #require(status == .ok)
            return id
        }
        let doomed = try macSession()
        let other = try macSession()
        let ring = try Ring()
        func post(_ session: UInt64) throws -> (DriverRing.Submission, DescriptorChain) {
            let head = RequestBuilder.data(
                opcode: .mac, sessionID: session,
                flf: MacDataFlf(hdr: HashDataFlf(srcDataLen: UInt32(message.count), hashResultLen: 32)))
            return try ring.post([head, message], writable: [32, 1])
        }
        let answers = Answers()
        let (first, firstChain) = try post(doomed)
        try Self.serveIntoLanes(worker, first, firstChain, answers)
        let destroy = RequestBuilder.control(opcode: .macDestroySession, flf: DestroySessionFlf(sessionId: doomed))
        #expect(try harness.destroyStatus([destroy]) == .ok)
        let (second, secondChain) = try post(other)
        #expect(worker.handle(secondChain) == 33)
        worker.finishBatch(completion: answers)
        #expect(answers.written[first.head] == 33)
        for submission in [first, second] {
            let out = ring.ring.written(submission)
            #expect(Array(out.prefix(32)) == expected, "head \(submission.head)")
            #expect(out.last == UInt8(Status.ok.rawValue))
        }
    }

    /// AES-128-CBC through a fresh engine context: the reference.
    static func cbc(_ key: [UInt8], _ iv: [UInt8], _ input: [UInt8]) throws -> [UInt8] {
        let session = try key.withUnsafeBytes { try CipherSession(algorithm: .aesCbc, key: $0, direction: .encrypt) }
        let context = try session.makeContext()
        var output = [UInt8](repeating: 0, count: input.count)
        try iv.withUnsafeBytes { ivBytes in
            try input.withUnsafeBytes { source in
                try output.withUnsafeMutableBytes { try context.run(iv: ivBytes, input: source, output: $0) }
            }
        }
        return output
    }

    func runCipher(_ key: [UInt8], _ iv: [UInt8], _ input: [UInt8]) throws -> [UInt8] {
        try Self.cbc(key, iv, input)
    }
}
