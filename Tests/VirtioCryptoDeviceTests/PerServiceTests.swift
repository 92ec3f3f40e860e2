import Testing
import VirtioCryptoDevice
import VirtioCryptoDriver
import VirtioCryptoEngines
import VirtioCryptoWire

/// Status values and session checks of the HASH, MAC and AEAD services, and their
/// stateless forms.
struct PerServiceTests {
    let invsess = UInt8(Status.invsess.rawValue)

    @Test func hashAndMacAnswerEachStatusTheSeedLists() throws {
        let harness = try Harness()
        let hash = try harness.createSession(
            RequestBuilder.control(
                opcode: .hashCreateSession, flf: HashCreateSessionFlf(algo: .sha1, hashResultLen: 20))
        ).1
        let mac = try harness.createSession(
            RequestBuilder.control(
                opcode: .macCreateSession, flf: MacCreateSessionFlf(algo: .hmacSha1, hashResultLen: 20, authKeyLen: 20)),
            keys: [[UInt8](repeating: 0x0b, count: 20)]
        ).1
        func hashRequest(_ session: UInt64, resultLength: UInt32 = 20) throws -> UInt8 {
            try harness.data(
                [
                    RequestBuilder.data(
                        opcode: .hash, sessionID: session, flf: HashDataFlf(srcDataLen: 3, hashResultLen: resultLength)),
                    [1, 2, 3],
                ],
                writable: [Int(resultLength), 1]
            ).last!
        }
        func macRequest(_ session: UInt64, resultLength: UInt32 = 20) throws -> UInt8 {
            try harness.data(
                [
                    RequestBuilder.data(
                        opcode: .mac, sessionID: session,
                        flf: MacDataFlf(hdr: HashDataFlf(srcDataLen: 3, hashResultLen: resultLength))), [1, 2, 3],
                ],
                writable: [Int(resultLength), 1]
            ).last!
        }
        try expectRule(
            .devHashStatusValues, .devMacStatusValues, holds: try hashRequest(hash) == 0 && macRequest(mac) == 0)
        #expect(try hashRequest(mac) == invsess && macRequest(hash) == invsess, "a session of the other service")
        #expect(try hashRequest(77) == invsess && macRequest(77) == invsess)
        #expect(try hashRequest(hash, resultLength: 8) == UInt8(Status.err.rawValue), "no room for the 20-byte result")
        #expect(try macRequest(mac, resultLength: 8) == UInt8(Status.err.rawValue))
        let unsupported = RequestBuilder.control(
            opcode: .hashCreateSession, flf: HashCreateSessionFlf(algo: .unknown(30), hashResultLen: 20))
        #expect(try harness.createSession(unsupported).0 == .notsupp)
    }

    @Test func aeadChecksItsSessionAndOpcode() throws {
        let harness = try Harness()
        let encrypt = try harness.createSession(
            RequestBuilder.control(
                opcode: .aeadCreateSession,
                flf: AeadCreateSessionFlf(algo: .gcm, keyLen: 16, tagLen: 16, op: .encrypt)), keys: [key16]
        ).1
        let flf = AeadDataFlf(ivLen: 12, srcDataLen: 16, dstDataLen: 32, tagLen: 16)
        let iv = [UInt8](repeating: 1, count: 12)
        let block = [UInt8](repeating: 2, count: 16)
        #expect(
            try harness.data(
                [RequestBuilder.data(opcode: .aeadEncrypt, sessionID: encrypt, flf: flf), iv, block], writable: [32, 1]
            ).last == 0)
        #expect(
            try harness.data(
                [RequestBuilder.data(opcode: .aeadEncrypt, sessionID: 999, flf: flf), iv, block], writable: [32, 1]
            ).last == invsess)
        // DECRYPT on an ENCRYPT session, and a tag_len other than the session's: ERR.
        #expect(
            try harness.data(
                [RequestBuilder.data(opcode: .aeadDecrypt, sessionID: encrypt, flf: flf), iv, block], writable: [32, 1]
            ).last == UInt8(Status.err.rawValue))
        var shortTag = flf
        shortTag.tagLen = 8
        #expect(
            try harness.data(
                [RequestBuilder.data(opcode: .aeadEncrypt, sessionID: encrypt, flf: shortTag), iv, block],
                writable: [32, 1]
            ).last == UInt8(Status.err.rawValue))
    }

    @Test func statelessMacAndAeadRequests() throws {
        let harness = try Harness(features: [.revision1, .macStatelessMode, .aeadStatelessMode])
        // HMAC-SHA256, RFC 4231 test case 2, with the key in the request.
        let key = Array("Jefe".utf8)
        let message = Array("what do ya want for nothing?".utf8)
        let mac = MacDataFlfStateless(
            sessPara: MacSessPara(algo: .hmacSha256, authKeyLen: 4), srcDataLen: UInt32(message.count),
            hashResultLen: 32)
        let out = try harness.data(
            [RequestBuilder.data(opcode: .mac, flf: mac, layout: .stateless), key, message], writable: [32, 1])
        #expect(out.last == 0)
        expectRule(
            .devMacParseFlag,
            holds: Array(out.prefix(32))
                == bytes(hex: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"))
        // The same request in session mode (flag SESSION_MODE) on a live session still works.
        let session = try harness.createSession(
            RequestBuilder.control(
                opcode: .macCreateSession,
                flf: MacCreateSessionFlf(algo: .hmacSha256, hashResultLen: 32, authKeyLen: 4), layout: .revision1),
            keys: [key]
        ).1
        let sessionMode = try harness.data(
            [
                RequestBuilder.data(
                    opcode: .mac, sessionID: session, flag: .sessionMode,
                    flf: MacDataFlf(hdr: HashDataFlf(srcDataLen: UInt32(message.count), hashResultLen: 32)),
                    layout: .revision1), message,
            ],
            writable: [32, 1])
        #expect(sessionMode == out)
        // AES-GCM stateless: McGrew–Viega test case 2 (zero key, IV, one zero block).
        let aead = AeadDataFlfStateless(
            sessPara: AeadSessPara(algo: .gcm, keyLen: 16, op: .encrypt), ivLen: 12, tagLen: 16, aadLen: 0,
            srcDataLen: 16, dstDataLen: 32)
        let sealed = try harness.data(
            [
                RequestBuilder.data(opcode: .aeadEncrypt, flf: aead, layout: .stateless),
                [UInt8](repeating: 0, count: 16),
                [UInt8](repeating: 0, count: 12), [UInt8](repeating: 0, count: 16),
            ], writable: [32, 1])
        #expect(sealed.last == 0)
        expectRule(
            .devAeadParseStatelessByOpcode,
            holds: Array(sealed.prefix(32))
                == bytes(hex: "0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf"))
        // A stateless request whose sess_para op contradicts the opcode: ERR.
        var wrongOp = aead
        wrongOp.sessPara.op = .decrypt
        #expect(
            try harness.data(
                [
                    RequestBuilder.data(opcode: .aeadEncrypt, flf: wrongOp, layout: .stateless),
                    [UInt8](repeating: 0, count: 16),
                    [UInt8](repeating: 0, count: 12), [UInt8](repeating: 0, count: 16),
                ], writable: [32, 1]
            ).last == UInt8(Status.err.rawValue))
    }

    @Test func statelessAlgorithmChaining() throws {
        let harness = try Harness(features: [.revision1, .cipherStatelessMode])
        let authKey = [UInt8](repeating: 0x0b, count: 20)
        let para = AlgChainSessPara(
            algChainOrder: .cipherThenHash, aadLen: 0, cipher: CipherSessPara(algo: .aesCbc, keyLen: 16, op: .encrypt),
            hash: ChainHashPara(algo: MacAlgorithm.hmacSha1.rawValue, authKeyLen: 20, hashMode: .auth))
        let member = AlgChainDataFlfStateless(
            sessPara: para, ivLen: 16, srcDataLen: 64, dstDataLen: 64, cipherStartSrcOffset: 0, lenToCipher: 64,
            hashStartSrcOffset: 0, lenToHash: 64, aadLen: 0, hashResultLen: 20)
        let flf = SymDataFlfStateless(opTypeFlf: .algorithmChaining(member), opType: .algorithmChaining)
        let out = try harness.data(
            [RequestBuilder.data(opcode: .cipherEncrypt, flf: flf, layout: .stateless), key16, authKey, iv16, block64],
            writable: [64, 20, 1])
        #expect(out.last == 0)
        let ciphertext = try engineCBC(key16, iv16, block64, .encrypt)
        #expect(Array(out[0..<64]) == ciphertext)
        let mac = try authKey.withUnsafeBytes { try MacSession(algorithm: .hmacSha1, key: $0, resultLength: 20) }
            .makeContext()
        var tag = [UInt8](repeating: 0, count: 20)
        try ciphertext.withUnsafeBytes { input in try tag.withUnsafeMutableBytes { try mac.mac(input, into: $0) } }
        #expect(Array(out[64..<84]) == tag)
    }

    /// Reading (Spec/structs.yaml, alg-chain-data-vlf-stateless): the stateless chaining vlf
    /// keeps the seed's order iv, aad, src_data, unlike the session form (iv, src_data, aad).
    @Test func statelessChainingReadsAadBeforeTheSource() throws {
        let harness = try Harness(features: [.revision1, .cipherStatelessMode])
        let authKey = [UInt8](repeating: 0x0b, count: 20)
        let aad = [UInt8](repeating: 0xaa, count: 8)
        let para = AlgChainSessPara(
            algChainOrder: .cipherThenHash, aadLen: 8, cipher: CipherSessPara(algo: .aesCbc, keyLen: 16, op: .encrypt),
            hash: ChainHashPara(algo: MacAlgorithm.hmacSha1.rawValue, authKeyLen: 20, hashMode: .auth))
        let member = AlgChainDataFlfStateless(
            sessPara: para, ivLen: 16, srcDataLen: 64, dstDataLen: 64, cipherStartSrcOffset: 0, lenToCipher: 64,
            hashStartSrcOffset: 0, lenToHash: 64, aadLen: 8, hashResultLen: 20)
        let flf = SymDataFlfStateless(opTypeFlf: .algorithmChaining(member), opType: .algorithmChaining)
        let out = try harness.data(
            [
                RequestBuilder.data(opcode: .cipherEncrypt, flf: flf, layout: .stateless), key16, authKey, iv16, aad,
                block64,
            ],
            writable: [64, 20, 1])
        #expect(out.last == 0)
        let ciphertext = try engineCBC(key16, iv16, block64, .encrypt)
        #expect(Array(out[0..<64]) == ciphertext, "the source is read after the AAD")
        let mac = try authKey.withUnsafeBytes { try MacSession(algorithm: .hmacSha1, key: $0, resultLength: 20) }
            .makeContext()
        var tag = [UInt8](repeating: 0, count: 20)
        try (aad + ciphertext).withUnsafeBytes { input in
            try tag.withUnsafeMutableBytes { try mac.mac(input, into: $0) }
        }
        #expect(Array(out[64..<84]) == tag, "HMAC over aad ‖ ciphertext")
    }

    /// Reading (Spec/structs.yaml, aead-data-vlf): the seed's CCM IV layouts contradict each
    /// other, so AES-CCM is not offered: its mask bit is clear and a session is NOTSUPP, so no
    /// driver can get a result computed with the wrong nonce.
    @Test func ccmIsNotOfferedBecauseItsIVLayoutIsAmbiguous() throws {
        let harness = try Harness()
        #expect(harness.device.config.aeadAlgo & (1 << AeadAlgorithm.ccm.rawValue) == 0)
        let ccm = RequestBuilder.control(
            opcode: .aeadCreateSession, flf: AeadCreateSessionFlf(algo: .ccm, keyLen: 16, tagLen: 16, op: .encrypt))
        #expect(try harness.createSession(ccm, keys: [key16]).0 == .notsupp)
        #expect(harness.device.sessions.count == 0)
    }
}
