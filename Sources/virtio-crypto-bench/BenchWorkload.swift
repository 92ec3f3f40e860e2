import ArgumentParser
import Dispatch
import VirtioCryptoDriver
import VirtioCryptoEngines
import VirtioCryptoWire

/// The benchmark's workloads: one session each, created through the control queue.
enum BenchWorkload: String, CaseIterable {
    case aes128CBC = "aes-128-cbc"
    case aes256GCM = "aes-256-gcm"
    case aes256XTS = "aes-256-xts"
    case hmacSHA256 = "hmac-sha256"
    case sha256 = "sha-256"
    case aesCBCHmacSHA1 = "aes-128-cbc+hmac-sha1"
    case snow3g = "snow3g-uea2"

    static let key = (0..<64).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
    static let iv = [UInt8](repeating: 0x42, count: 16)

    func createSession(_ control: FrontendRing) throws -> UInt64 {
        let head: [UInt8]
        var keys: [[UInt8]] = []
        switch self {
        case .aes128CBC, .aes256XTS, .snow3g:
            let (algorithm, length): (CipherAlgorithm, Int) = self == .aes128CBC ? (.aesCbc, 16) : self == .aes256XTS ? (.aesXts, 64) : (.snow3gUea2, 16)
            head = RequestBuilder.control(opcode: .cipherCreateSession, flf: RequestBuilder.cipherSession(algorithm, keyLength: length, op: .encrypt))
            keys = [Array(Self.key.prefix(length))]
        case .aes256GCM:
            head = RequestBuilder.control(opcode: .aeadCreateSession, flf: AeadCreateSessionFlf(algo: .gcm, keyLen: 32, tagLen: 16, op: .encrypt))
            keys = [Array(Self.key.prefix(32))]
        case .hmacSHA256:
            head = RequestBuilder.control(opcode: .macCreateSession, flf: MacCreateSessionFlf(algo: .hmacSha256, hashResultLen: 32, authKeyLen: 32))
            keys = [Array(Self.key.prefix(32))]
        case .sha256:
            head = RequestBuilder.control(opcode: .hashCreateSession, flf: HashCreateSessionFlf(algo: .sha256, hashResultLen: 32))
        case .aesCBCHmacSHA1:
            let flf = SymCreateSessionFlf(opFlf: .algorithmChaining(AlgChainSessionFlf(
                algChainOrder: .cipherThenHash, hashMode: .auth, cipherHdr: CipherSessionFlf(algo: .aesCbc, keylen: 16, op: .encrypt),
                algoFlf: .auth(MacCreateSessionFlf(algo: .hmacSha1, hashResultLen: 20, authKeyLen: 20)))), opType: .algorithmChaining)
            head = RequestBuilder.control(opcode: .cipherCreateSession, flf: flf)
            keys = [Array(Self.key.prefix(16)), Array(Self.key.prefix(20))]
        }
        let input = try SessionInput.decode(try control.run(readable: [head] + keys, writable: [16]))
        guard input.status == .ok else { throw ValidationError("\(rawValue): session refused with \(input.status)") }
        return input.sessionId
    }

    /// The readable parts and writable sizes of one request of `size` bytes.
    func request(session: UInt64, size: Int) -> ([[UInt8]], [Int]) {
        let source = [UInt8](repeating: 0x5a, count: size)
        switch self {
        case .aes128CBC, .aes256XTS, .snow3g:
            return ([RequestBuilder.data(opcode: .cipherEncrypt, sessionID: session, flf: RequestBuilder.cipherData(ivLength: 16, sourceLength: size)),
                     Self.iv, source], [size, 1])
        case .aes256GCM:
            return ([RequestBuilder.data(opcode: .aeadEncrypt, sessionID: session,
                                         flf: AeadDataFlf(ivLen: 12, srcDataLen: UInt32(size), dstDataLen: UInt32(size + 16), tagLen: 16)),
                     Array(Self.iv.prefix(12)), source], [size + 16, 1])
        case .hmacSHA256:
            return ([RequestBuilder.data(opcode: .mac, sessionID: session, flf: MacDataFlf(hdr: HashDataFlf(srcDataLen: UInt32(size), hashResultLen: 32))), source], [32, 1])
        case .sha256:
            return ([RequestBuilder.data(opcode: .hash, sessionID: session, flf: HashDataFlf(srcDataLen: UInt32(size), hashResultLen: 32)), source], [32, 1])
        case .aesCBCHmacSHA1:
            let flf = SymDataFlf(opTypeFlf: .algorithmChaining(AlgChainDataFlf(ivLen: 16, srcDataLen: UInt32(size), dstDataLen: UInt32(size),
                                                                               lenToCipher: UInt32(size), lenToHash: UInt32(size), hashResultLen: 20)),
                                 opType: .algorithmChaining)
            return ([RequestBuilder.data(opcode: .cipherEncrypt, sessionID: session, flf: flf), Self.iv, source], [size, 20, 1])
        }
    }

    /// The same operation, called on the crypto library directly (raw EVP where the
    /// engines benchmark has it, else the engine context, which is a thin wrapper).
    func rawOpsPerSecond(size: Int, seconds: Double) throws -> Double {
        let body: () -> Void
        switch self {
        case .aes128CBC: body = try Workload.aes128CBC.make(size: size).raw
        case .aes256GCM: body = try Workload.aes256GCM.make(size: size).raw
        case .hmacSHA256: body = try Workload.hmacSHA256.make(size: size).raw
        case .sha256: body = try Workload.sha256.make(size: size).raw
        case .aes256XTS, .snow3g:
            let algorithm: CipherAlgorithm = self == .aes256XTS ? .aesXts : .snow3gUea2
            let context = try Self.key.prefix(algorithm == .aesXts ? 64 : 16).withUnsafeBytes {
                try CipherSession(algorithm: algorithm, key: $0, direction: .encrypt)
            }.makeContext()
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
            buffer.initializeMemory(as: UInt8.self, repeating: 1)
            let ivBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 16)
            ivBuffer.initializeMemory(as: UInt8.self, repeating: 0x42)
            body = { try! context.run(iv: UnsafeRawBufferPointer(ivBuffer), input: UnsafeRawBufferPointer(buffer), output: buffer) }
        case .aesCBCHmacSHA1:
            let cbc = try Workload.aes128CBC.make(size: size).raw
            let mac = try Self.key.prefix(20).withUnsafeBytes { try MacSession(algorithm: .hmacSha1, key: $0, resultLength: 20) }.makeContext()
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size + 32, alignment: 64)
            buffer.initializeMemory(as: UInt8.self, repeating: 1)
            body = {
                cbc()
                try! mac.mac(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[0..<size]),
                             into: UnsafeMutableRawBufferPointer(rebasing: buffer[size..<size + 20]))
            }
        }
        return EnginesBenchmark().measure(seconds, body)
    }
}
