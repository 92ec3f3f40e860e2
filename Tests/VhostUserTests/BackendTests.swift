import CVhostUserSupport
import Foundation
import Glibc
import Logging
import Testing
import VhostUser
import VhostUserCrypto
import VirtioCryptoDevice
import VirtioCryptoDriver
import VirtioCryptoEngines
import VirtioCryptoWire

/// A backend serving one end of a socket pair on its own thread; the test is the frontend.
final class Pair: @unchecked Sendable {
    let device: VirtioCryptoDevice
    let frontend: VhostUserFrontend
    /// Left when the backend stops serving; its thread holds only this and the backend, so the
    /// pair can go away (and take the connection down) when a test is done with it.
    private let serving = DispatchGroup()
    private let outcome = Outcome()

    private final class Outcome: @unchecked Sendable {
        var result: ConnectionError?
    }

    /// The backend, for its counters (the serving thread holds it too).
    let backend: VhostUserBackend

    init(
        limits: DeviceLimits = DeviceLimits(), offer: DeviceOffer? = nil, multiBuffer: Bool = true,
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) throws {
        var fds: [Int32] = [-1, -1]
        precondition(vu_socketpair(&fds) == 0)
        device = VirtioCryptoDevice(offer: offer ?? DeviceOffer(limits: limits))
        let logger = Logger(label: "test") { _ in CapturingLogHandler(log) }
        let backend = VhostUserBackend(
            device: CryptoVhostUserDevice(device, logger: logger, multiBuffer: multiBuffer),
            connection: VhostUserConnection(fd: fds[0]),
            logger: logger)
        self.backend = backend
        frontend = try VhostUserFrontend(fd: fds[1])
        let (serving, outcome) = (serving, outcome)
        serving.enter()
        Thread {
            outcome.result = backend.serve()
            serving.leave()
        }.start()
    }

    /// Waits for the backend to stop serving (after a disconnect or a fatal message).
    func ended(timeout: Double = 5) -> ConnectionError?? {
        guard serving.wait(timeout: .now() + timeout) == .success else { return .none }
        return .some(outcome.result)
    }

    /// Disconnects and waits for the backend to drop its sessions: nothing outlives a test (which
    /// AddressSanitizer's leak check at exit would otherwise report).
    deinit {
        shutdown(frontend.connection.fd, Int32(SHUT_RDWR))
        _ = serving.wait(timeout: .now() + 5)
    }
}

/// Hands every message the backend logs (any level) to a test.
struct CapturingLogHandler: LogHandler {
    let sink: @Sendable (String) -> Void
    init(_ sink: @escaping @Sendable (String) -> Void) { self.sink = sink }
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) { sink(event.message.description) }
}

let key16 = [UInt8](0..<16)
let iv16 = [UInt8](repeating: 0x24, count: 16)
let block64 = (0..<64).map { UInt8(truncatingIfNeeded: $0 * 3) }

func engineCBC(_ key: [UInt8], _ iv: [UInt8], _ input: [UInt8]) throws -> [UInt8] {
    let context = try key.withUnsafeBytes { try CipherSession(algorithm: .aesCbc, key: $0, direction: .encrypt) }
        .makeContext()
    var output = [UInt8](repeating: 0, count: input.count)
    try iv.withUnsafeBytes { ivBytes in
        try input.withUnsafeBytes { i in
            try output.withUnsafeMutableBytes { try context.run(iv: ivBytes, input: i, output: $0) }
        }
    }
    return output
}

func aesCBCRequest(_ session: UInt64, sourceLength: Int = 64) -> [UInt8] {
    RequestBuilder.data(
        opcode: .cipherEncrypt, sessionID: session,
        flf: RequestBuilder.cipherData(ivLength: 16, sourceLength: sourceLength))
}

struct BackendTests {
    @Test(arguments: [false, true])
    func qemuStyleSessionsByMessageAndDataThroughTheRing(layoutC: Bool) throws {
        let pair = try Pair()
        let offered = try pair.frontend.handshake()
        #expect(offered & (1 << 30) != 0, "PROTOCOL_FEATURES is offered")
        let ring = try pair.frontend.startRing(0)
        let id = try pair.frontend.createSession(cipher: .aesCbc, key: key16, op: .encrypt, layoutC: layoutC)
        #expect(id > 0)
        let out = try ring.run(readable: [aesCBCRequest(UInt64(id)), iv16, block64], writable: [64, 1])
        let expected = try engineCBC(key16, iv16, block64)
        #expect(out.last == 0 && Array(out.prefix(64)) == expected)
        // Close is never answered; unknown and repeated closes change nothing and keep the link.
        try pair.frontend.closeSession(UInt64(id))
        try pair.frontend.closeSession(UInt64(id))
        try pair.frontend.closeSession(987654)
        #expect(
            try pair.frontend.createSession(cipher: .aesCbc, key: key16, op: .encrypt) > 0,
            "still connected, no stray replies")
        let stale = try ring.run(readable: [aesCBCRequest(UInt64(id)), iv16, block64], writable: [64, 1])
        #expect(stale.last == UInt8(Status.invsess.rawValue))
        // Refused sessions answer a negative id.
        #expect(
            try pair.frontend.createSession(
                cipher: .aesCbc, key: Array(key16.prefix(10)), op: .encrypt, layoutC: layoutC) < 0)
        #expect(try pair.frontend.createSession(cipher: .aesCbc, key: key16, op: .encrypt, opType: 0) < 0)
        // GET_VRING_BASE stops the ring and reports where it got to.
        #expect(try pair.frontend.stopRing(0) == 2)
    }

    @Test func genericFrontendUsesTheControlQueueAndConfig() throws {
        let pair = try Pair()
        try pair.frontend.handshake()
        #expect(try pair.frontend.config() == pair.device.config)
        let data = try pair.frontend.startRing(0)
        let control = try pair.frontend.startRing(1)  // with one data queue, the control queue is ring 1
        let create = RequestBuilder.control(
            opcode: .cipherCreateSession, flf: RequestBuilder.cipherSession(.aesCbc, keyLength: 16, op: .encrypt))
        let input = try CreateSessionInput.decode(try control.run(readable: [create, key16], writable: [16]))
        #expect(input.status == .ok)
        let out = try data.run(readable: [aesCBCRequest(input.sessionId), iv16, block64], writable: [64, 1])
        let expected = try engineCBC(key16, iv16, block64)
        #expect(out.last == 0 && Array(out.prefix(64)) == expected)
        let destroy = RequestBuilder.control(
            opcode: .cipherDestroySession, flf: DestroySessionFlf(sessionId: input.sessionId))
        #expect(try control.run(readable: [destroy], writable: [1]) == [0])
    }

    @Test(arguments: [false, true])
    func everyServiceThroughTheControlQueue(revision1: Bool) throws {
        let pair = try Pair()
        let features: UInt64 = (1 << 30) | (1 << 32) | (revision1 ? 1 : 0)
        try pair.frontend.handshake(features: features)
        #expect(pair.device.features == (revision1 ? [.revision1] : []))
        let layout: RequestLayout = revision1 ? .revision1 : .legacy
        let flag: RequestFlag = revision1 ? .sessionMode : []
        let data = try pair.frontend.startRing(0)
        let control = try pair.frontend.startRing(1)
        func create(_ head: [UInt8], _ keys: [[UInt8]] = []) throws -> UInt64 {
            let input = try CreateSessionInput.decode(try control.run(readable: [head] + keys, writable: [16]))
            #expect(input.status == .ok)
            return input.sessionId
        }
        let hash = try create(
            RequestBuilder.control(
                opcode: .hashCreateSession, flf: HashCreateSessionFlf(algo: .sha256, hashResultLen: 32), layout: layout)
        )
        var out = try data.run(
            readable: [
                RequestBuilder.data(
                    opcode: .hash, sessionID: hash, flag: flag, flf: HashDataFlf(srcDataLen: 3, hashResultLen: 32),
                    layout: layout),
                Array("abc".utf8),
            ], writable: [32, 1])
        #expect(out.last == 0 && Array(out.prefix(4)) == [0xba, 0x78, 0x16, 0xbf], "SHA-256(abc)")
        let mac = try create(
            RequestBuilder.control(
                opcode: .macCreateSession,
                flf: MacCreateSessionFlf(algo: .hmacSha256, hashResultLen: 32, authKeyLen: 4), layout: layout),
            [Array("Jefe".utf8)])
        let what = Array("what do ya want for nothing?".utf8)
        out = try data.run(
            readable: [
                RequestBuilder.data(
                    opcode: .mac, sessionID: mac, flag: flag,
                    flf: MacDataFlf(hdr: HashDataFlf(srcDataLen: UInt32(what.count), hashResultLen: 32)), layout: layout
                ), what,
            ],
            writable: [32, 1])
        #expect(out.last == 0 && Array(out.prefix(4)) == [0x5b, 0xdc, 0xc1, 0x46], "RFC 4231 test case 2")
        let aead = try create(
            RequestBuilder.control(
                opcode: .aeadCreateSession, flf: AeadCreateSessionFlf(algo: .gcm, keyLen: 16, tagLen: 16, op: .encrypt),
                layout: layout),
            [[UInt8](repeating: 0, count: 16)])
        out = try data.run(
            readable: [
                RequestBuilder.data(
                    opcode: .aeadEncrypt, sessionID: aead, flag: flag,
                    flf: AeadDataFlf(ivLen: 12, srcDataLen: 16, dstDataLen: 32, tagLen: 16), layout: layout),
                [UInt8](repeating: 0, count: 12), [UInt8](repeating: 0, count: 16),
            ], writable: [32, 1])
        #expect(out.last == 0 && Array(out.prefix(4)) == [0x03, 0x88, 0xda, 0xce], "GCM test case 2")
    }

    @Test func aMemoryTableResentWhileRunningKeepsTheRingsGoing() throws {
        let pair = try Pair()
        try pair.frontend.handshake()
        let ring = try pair.frontend.startRing(0)
        let id = try pair.frontend.createSession(cipher: .aesCbc, key: key16, op: .encrypt)
        #expect(try ring.run(readable: [aesCBCRequest(UInt64(id)), iv16, block64], writable: [64, 1]).last == 0)
        try pair.frontend.acked(.setMemTable, payload: pair.frontend.memoryTable(), fds: [dup(pair.frontend.memoryFD)])
        #expect(try ring.run(readable: [aesCBCRequest(UInt64(id)), iv16, block64], writable: [64, 1]).last == 0)
        #expect(try pair.frontend.stopRing(0) == 2)
    }

    @Test func aDisconnectReleasesSessionsAndTheNextFrontendStartsClean() throws {
        let pair = try Pair()
        try pair.frontend.handshake()
        _ = try pair.frontend.startRing(0)
        for _ in 0..<5 { _ = try pair.frontend.createSession(cipher: .aesCbc, key: key16, op: .encrypt) }
        #expect(pair.device.sessions.count == 5)
        shutdown(pair.frontend.connection.fd, Int32(SHUT_RDWR))
        #expect(pair.ended() == .some(nil), "a clean disconnect")
        #expect(pair.device.sessions.count == 0)
        let next = try Pair()
        try next.frontend.handshake()
        #expect(try next.frontend.createSession(cipher: .aesCbc, key: key16, op: .encrypt) == 1)
    }

    @Test func chainingSessionsByMessage() throws {
        let pair = try Pair()
        try pair.frontend.handshake()
        let ring = try pair.frontend.startRing(0)
        // AES-CBC then HMAC-SHA1 (hash_mode AUTH = 2, CIPHER_THEN_HASH = 2), as QEMU forwards it.
        let authKey = [UInt8](repeating: 0x0b, count: 20)
        let id = try pair.frontend.createSession(
            cipher: .aesCbc, key: key16, op: .encrypt, opType: 2, hashMode: 2,
            authAlgorithm: MacAlgorithm.hmacSha1.rawValue, resultLength: 20, authKey: authKey, chainOrder: 2)
        #expect(id > 0)
        let flf = SymDataFlf(
            opTypeFlf: .algorithmChaining(
                AlgChainDataFlf(
                    ivLen: 16, srcDataLen: 64, dstDataLen: 64, lenToCipher: 64,
                    lenToHash: 64, hashResultLen: 20)), opType: .algorithmChaining)
        let out = try ring.run(
            readable: [RequestBuilder.data(opcode: .cipherEncrypt, sessionID: UInt64(id), flf: flf), iv16, block64],
            writable: [64, 20, 1])
        let expected = try engineCBC(key16, iv16, block64)
        #expect(out.last == 0 && Array(out.prefix(64)) == expected)
        // NESTED (3) and a plain hash of an unknown algorithm are refused.
        #expect(
            try pair.frontend.createSession(
                cipher: .aesCbc, key: key16, op: .encrypt, opType: 2, hashMode: 3, chainOrder: 2) < 0)
        #expect(
            try pair.frontend.createSession(
                cipher: .aesCbc, key: key16, op: .encrypt, opType: 2, hashMode: 1, authAlgorithm: 99,
                resultLength: 20, chainOrder: 1) < 0)
    }

    @Test func thousandsOfSessionsComeAndGo() throws {
        let pair = try Pair()
        try pair.frontend.handshake()
        // Sessions (and the keyed contexts they own) are released, not merely unlisted:
        // a weak reference to one closed early must be gone at the end.
        weak var released: Session?
        let first = try pair.frontend.createSession(cipher: .aesCbc, key: key16, op: .encrypt)
        released = pair.device.sessions.lookup(UInt64(first))
        #expect(released != nil)
        try pair.frontend.closeSession(UInt64(first))
        for round in 0..<1200 {
            let id = try pair.frontend.createSession(
                cipher: .aesCbc, key: key16, op: round % 2 == 0 ? .encrypt : .decrypt)
            #expect(id > 0)
            try pair.frontend.closeSession(UInt64(id))
        }
        _ = try pair.frontend.call(.getFeatures)  // closes are processed in order before this answer
        #expect(pair.device.sessions.count == 0)
        #expect(released == nil, "a destroyed session was freed")
    }
}
