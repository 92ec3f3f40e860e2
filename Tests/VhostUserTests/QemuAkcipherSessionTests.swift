import Foundation
import Testing
import VhostUser
import VirtioCryptoDevice
import VirtioCryptoDriver
import VirtioCryptoWire

@testable import VhostUserCrypto

/// AKCIPHER sessions as QEMU ≥ 8.1 sends them: 1072-byte CREATE_CRYPTO_SESSION payloads with
/// op_code 0x404 and `CryptoDevBackendAsymSessionInfo` (CryptoSessionMessage.swift has the facts),
/// then data requests through a ring, as QEMU's cryptodev-vhost-user passes them on.
struct QemuAkcipherSessionTests {
    /// QEMU's values: algo RSA 1, DSA 2, ECDSA 3 (Linux's virtio_crypto.h); key type 1 public, 2 private.
    static let qemuRSA: UInt32 = 1, qemuDSA: UInt32 = 2, qemuECDSA: UInt32 = 3
    static let publicKey: UInt32 = 1, privateKey: UInt32 = 2
    static let pkcs1: UInt32 = 1, raw: UInt32 = 0, sha256: UInt32 = 6

    /// A layout C payload (`QemuSessionPayload`, the frontend's own description of QEMU's struct).
    /// `keyLength` defaults to the key's; the key is cut at 1024 bytes, as QEMU's buffer would be.
    static func message(
        algo: UInt32 = qemuRSA, keyType: UInt32, padding: UInt32, hash: UInt32, key: [UInt8],
        keyLength: UInt32? = nil, opCode: UInt64 = 0x404
    ) -> [UInt8] {
        QemuSessionPayload.akcipher(
            algorithm: algo, keyType: keyType, key: key, padding: padding, hash: hash, keyLength: keyLength,
            opCode: opCode)
    }

    /// Sends a CREATE_CRYPTO_SESSION; checks the reply echoes the request with only session_id
    /// (@1064) filled in, and returns that id.
    static func create(_ pair: Pair, _ payload: [UInt8]) throws -> Int64 {
        let reply = try pair.frontend.call(.createCryptoSession, payload: payload)
        #expect(reply.request == FrontendRequest.createCryptoSession.rawValue && reply.flags == 0x5)
        #expect(
            reply.payload.count == 1072 && Array(reply.payload.prefix(1064)) == Array(payload.prefix(1064)),
            "the whole payload is echoed")
        return reply.payload.withUnsafeBytes {
            Int64(littleEndian: $0.loadUnaligned(fromByteOffset: 1064, as: Int64.self))
        }
    }

    static func request(_ opcode: Opcode, _ session: Int64, source: Int, destination: Int) -> [UInt8] {
        RequestBuilder.data(
            opcode: opcode, sessionID: UInt64(session),
            flf: AkcipherDataFlf(srcDataLen: UInt32(source), dstDataLen: UInt32(destination)))
    }

    final class Log: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        func append(_ line: String) { lock.withLock { lines.append(line) } }
        var all: [String] { lock.withLock { lines } }
        var last: String { all.last ?? "" }
    }

    @Test func rsaSessionsFromQemuMessagesServeTheRing() throws {
        let pair = try Pair()
        try pair.frontend.handshake()
        let ring = try pair.frontend.startRing(0)
        let keys = QemuAkcipherKeys.self

        // RSA-2048 public key (270 bytes), PKCS1 / SHA-256: VERIFY of OpenSSL's signature.
        let verifier = try Self.create(
            pair,
            Self.message(
                keyType: Self.publicKey, padding: Self.pkcs1, hash: Self.sha256,
                key: keys.rsa2048Public))
        #expect(verifier > 0)
        let verify = Self.request(.akcipherVerify, verifier, source: 256, destination: 32)
        #expect(
            try ring.run(readable: [verify, keys.rsa2048SignatureOfSha256Abc, keys.sha256Abc], writable: [1])
                == [UInt8(Status.ok.rawValue)])
        var tampered = keys.rsa2048SignatureOfSha256Abc
        tampered[7] ^= 0x40
        #expect(
            try ring.run(readable: [verify, tampered, keys.sha256Abc], writable: [1]) == [
                UInt8(Status.keyRejected.rawValue)
            ])

        // The same key with RAW padding: ENCRYPT is textbook RSA, the result OpenSSL computed.
        let encryptor = try Self.create(
            pair, Self.message(keyType: Self.publicKey, padding: Self.raw, hash: 0, key: keys.rsa2048Public))
        let encrypted = try ring.run(
            readable: [Self.request(.akcipherEncrypt, encryptor, source: 3, destination: 256), [1, 2, 3]],
            writable: [256, 1])
        #expect(encrypted == keys.rsa2048RawOf123 + [UInt8(Status.ok.rawValue)])

        // A private key that fits key[1024]: RSA-1024 (608 bytes) signs as OpenSSL does.
        let signer = try Self.create(
            pair,
            Self.message(
                keyType: Self.privateKey, padding: Self.pkcs1, hash: Self.sha256,
                key: keys.rsa1024Private))
        #expect(signer > 0)
        let signed = try ring.run(
            readable: [Self.request(.akcipherSign, signer, source: 32, destination: 128), keys.sha256Abc],
            writable: [128, 1])
        #expect(signed == keys.rsa1024SignatureOfSha256Abc + [UInt8(Status.ok.rawValue)])
        #expect(pair.device.sessions.count == 3)

        // CLOSE_CRYPTO_SESSION destroys it: the next request finds no session.
        try pair.frontend.closeSession(UInt64(verifier))
        _ = try pair.frontend.call(.getFeatures)  // the close is handled before this answer, so before the request
        #expect(
            try ring.run(readable: [verify, keys.rsa2048SignatureOfSha256Abc, keys.sha256Abc], writable: [1])
                == [UInt8(Status.invsess.rawValue)])
        try pair.frontend.closeSession(UInt64(encryptor))
        try pair.frontend.closeSession(UInt64(signer))
        _ = try pair.frontend.call(.getFeatures)  // closes are handled in order before this answer
        #expect(pair.device.sessions.count == 0)
    }

    @Test func malformedAkcipherMessagesAreRefusedAndTheLinkStaysUp() throws {
        let log = Log()
        var limits = DeviceLimits()
        limits.maxAkcipherKeyLength = 200
        let pair = try Pair(limits: limits, log: log.append)
        try pair.frontend.handshake()
        let ring = try pair.frontend.startRing(0)
        let keys = QemuAkcipherKeys.self
        func refused(_ payload: [UInt8], _ reason: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            #expect(try Self.create(pair, payload) == -1, sourceLocation: sourceLocation)
            #expect(
                log.last.hasPrefix("CREATE_CRYPTO_SESSION refused: ") && log.last.contains(reason),
                "log: \(log.last)", sourceLocation: sourceLocation)
        }
        let small = keys.rsa1024Public  // 140 bytes: within the device's limit of 200
        // The RSA-2048 private key (1191 bytes) does not fit QEMU's key[1024]: a keylen past the
        // buffer is refused before anything reads the key area, and so are absurd lengths.
        try refused(
            Self.message(keyType: Self.privateKey, padding: Self.pkcs1, hash: Self.sha256, key: keys.rsa2048Private),
            "keylen 1191 exceeds QEMU's key[1024] and the device's AKCIPHER key limit of 200")
        for length: UInt32 in [1025, 0xffff_ffff] {
            try refused(
                Self.message(
                    keyType: Self.publicKey, padding: Self.pkcs1, hash: Self.sha256, key: small, keyLength: length),
                "keylen \(length) exceeds QEMU's key[1024]")
        }
        // Within key[1024] but beyond the device's AKCIPHER key limit (--max-akcipher-key-size).
        try refused(
            Self.message(keyType: Self.publicKey, padding: Self.pkcs1, hash: Self.sha256, key: keys.rsa2048Public),
            "keylen 270 exceeds the device's AKCIPHER key limit of 200")
        // ECDSA (QEMU's 3) and DSA (QEMU's 2, the spec's ECDSA value) cannot be carried; unknown algos neither.
        try refused(
            Self.message(algo: Self.qemuECDSA, keyType: Self.publicKey, padding: 0, hash: 0, key: small), "ECDSA")
        try refused(Self.message(algo: Self.qemuDSA, keyType: Self.publicKey, padding: 0, hash: 0, key: small), "DSA")
        try refused(Self.message(algo: 0, keyType: Self.publicKey, padding: 0, hash: 0, key: small), "NO_AKCIPHER")
        try refused(
            Self.message(algo: 77, keyType: Self.publicKey, padding: 0, hash: 0, key: small), "algo 77: unknown")
        // Values the device refuses as on the control queue: a bad key type, padding, or key bytes.
        try refused(
            Self.message(keyType: 3, padding: Self.pkcs1, hash: Self.sha256, key: small), "AKCIPHER rsa unknown(3)")
        try refused(
            Self.message(keyType: Self.publicKey, padding: 9, hash: Self.sha256, key: small), "padding unknown(9)")
        try refused(
            Self.message(keyType: Self.privateKey, padding: Self.pkcs1, hash: Self.sha256, key: small), "invalidKey")
        try refused(
            Self.message(keyType: Self.publicKey, padding: Self.pkcs1, hash: Self.sha256, key: []), "key of 0 bytes")
        // An op_code QEMU never forwards (HASH_CREATE_SESSION).
        try refused(
            Self.message(keyType: Self.publicKey, padding: Self.pkcs1, hash: Self.sha256, key: small, opCode: 0x102),
            "op_code 0x102")
        // 632 bytes (QEMU 7.1–8.0) is always a symmetric session, whatever the bytes look like.
        var layoutB = [UInt8](repeating: 0, count: 632)
        layoutB.replaceSubrange(
            8..<20, with: Self.message(keyType: Self.publicKey, padding: 0, hash: 0, key: small)[8..<20])
        #expect(
            Array(try pair.frontend.call(.createCryptoSession, payload: layoutB).payload.prefix(8))
                == [UInt8](repeating: 0xff, count: 8), "session id -1")
        #expect(
            log.last.contains("632-byte payload (QEMU 7.1–8.0) always describes a symmetric session"),
            "log: \(log.last)")
        #expect(pair.device.sessions.count == 0)

        // Still connected, nothing stray on the socket: a good session and a request on it.
        let verifier = try Self.create(
            pair, Self.message(keyType: Self.publicKey, padding: Self.pkcs1, hash: Self.sha256, key: small))
        #expect(verifier > 0)
        let verify = Self.request(.akcipherVerify, verifier, source: 128, destination: 32)
        #expect(
            try ring.run(readable: [verify, keys.rsa1024SignatureOfSha256Abc, keys.sha256Abc], writable: [1])
                == [UInt8(Status.ok.rawValue)])
        #expect(try pair.frontend.createSession(cipher: .aesCbc, key: key16, op: .encrypt, layoutC: true) > 0)
    }

    /// The layout table describes QEMU's structs: regions adjacent, ending where the payloads end.
    @Test func theLayoutTableMatchesQemusStructs() {
        typealias Layout = CryptoSessionMessage.Layout
        #expect(Layout.symmetricInfo.end == Layout.cipherKey.offset && Layout.cipherKey.end == Layout.authKey.offset)
        #expect(Layout.authKey.end == Layout.sizeB)
        #expect(
            Layout.akcipherInfo.end == Layout.akcipherKey.offset && Layout.akcipherKey.end == Layout.sessionIDC.offset)
        #expect(Layout.sessionIDC.end == Layout.sizeC && Layout.opCode.end == Layout.symmetricInfo.offset)
        #expect(
            QemuAkcipherValues.algorithms == [1: .rsa],
            "DSA 2 and ECDSA 3 are not the spec's values and cannot be carried")
    }
}
