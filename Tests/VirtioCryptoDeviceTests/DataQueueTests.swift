import Testing
import VirtioCryptoDevice
import VirtioCryptoDriver
import VirtioCryptoEngines
import VirtioCryptoWire

/// Helper: the engine's own answer for AES-CBC, to compare the device against.
func engineCBC(_ key: [UInt8], _ iv: [UInt8], _ input: [UInt8], _ op: Op) throws -> [UInt8] {
    let context = try key.withUnsafeBytes { try CipherSession(algorithm: .aesCbc, key: $0, direction: op) }
        .makeContext()
    var output = [UInt8](repeating: 0, count: input.count)
    try iv.withUnsafeBytes { ivBytes in
        try input.withUnsafeBytes { inBytes in
            try output.withUnsafeMutableBytes { try context.run(iv: ivBytes, input: inBytes, output: $0) }
        }
    }
    return output
}

struct DataQueueTests {
    @Test(arguments: [RequestLayout.legacy, .revision1])
    func aesCbcThroughTheDeviceMatchesTheEngine(layout: RequestLayout) throws {
        try expectRule(
            .devConfigHandleRequestsAfterHwReady, holds: try Harness().device.config.status.contains(.hwReady))
        let harness = try Harness(features: layout == .legacy ? [] : [.revision1])
        let encrypt = try harness.cipherSession(.aesCbc, key: key16, op: .encrypt, layout: layout)
        let decrypt = try harness.cipherSession(.aesCbc, key: key16, op: .decrypt, layout: layout)
        let flag: RequestFlag = layout == .legacy ? [] : .sessionMode
        let (status, ciphertext) = try harness.cipher(
            session: encrypt, iv: iv16, input: block64, layout: layout, flag: flag)
        #expect(status == .ok)
        try expectRule(
            .devSymParseByOpcode, .devSymParseCipherFields, .devSymCopyDstData, .devSymParseFlag,
            holds: ciphertext == (try engineCBC(key16, iv16, block64, .encrypt)))
        let (status2, plaintext) = try harness.cipher(
            session: decrypt, opcode: .cipherDecrypt, iv: iv16, input: ciphertext, layout: layout, flag: flag)
        expectRule(.devSymStatusValues, .devStatusReturnStatusCode, holds: status2 == .ok && plaintext == block64)
    }

    @Test func unknownOrDestroyedSessionsAnswerINVSESS() throws {
        let harness = try Harness()
        #expect(try harness.cipher(session: 999, iv: iv16, input: block64).0 == .invsess)
        let id = try harness.cipherSession(.aesCbc, key: key16, op: .encrypt)
        _ = try harness.control(
            [RequestBuilder.control(opcode: .cipherDestroySession, flf: DestroySessionFlf(sessionId: id))], writable: 1)
        #expect(try harness.cipher(session: id, iv: iv16, input: block64).0 == .invsess)
        // A HASH request naming a CIPHER session is INVSESS too.
        let hash = RequestBuilder.data(
            opcode: .hash, sessionID: try harness.cipherSession(.aesCbc, key: key16, op: .encrypt),
            flf: HashDataFlf(srcDataLen: 4, hashResultLen: 32))
        #expect(try harness.data([hash, [1, 2, 3, 4]], writable: [32, 1]).last == UInt8(Status.invsess.rawValue))
    }

    @Test func lengthsAreCheckedAgainstTheChainAndMaxSize() throws {
        var limits = DeviceLimits()
        limits.maxRequestSize = 4096
        let harness = try Harness(limits: limits)
        let id = try harness.cipherSession(.aesCbc, key: key16, op: .encrypt)
        // src_data_len larger than what the driver supplied.
        var head = RequestBuilder.data(
            opcode: .cipherEncrypt, sessionID: id, flf: RequestBuilder.cipherData(ivLength: 16, sourceLength: 128))
        #expect(try harness.data([head, iv16, block64], writable: [128, 1]).last == UInt8(Status.err.rawValue))
        // dst_data_len larger than the writable area.
        head = RequestBuilder.data(
            opcode: .cipherEncrypt, sessionID: id,
            flf: RequestBuilder.cipherData(ivLength: 16, sourceLength: 64, destinationLength: 4096))
        #expect(try harness.data([head, iv16, block64], writable: [64, 1]).last == UInt8(Status.err.rawValue))
        // dst smaller than src.
        #expect(try harness.cipher(session: id, iv: iv16, input: block64, destinationLength: 32).0 == .err)
        // Over max_size.
        let big = [UInt8](repeating: 1, count: 4096)
        #expect(try harness.cipher(session: id, iv: iv16, input: big).0 == .err)
        // Lengths near UInt32.max do not overflow anything.
        head = RequestBuilder.data(
            opcode: .cipherEncrypt, sessionID: id,
            flf: RequestBuilder.cipherData(
                ivLength: Int(UInt32.max), sourceLength: Int(UInt32.max), destinationLength: Int(UInt32.max)))
        #expect(try harness.data([head, iv16], writable: [1]).last == UInt8(Status.err.rawValue))
        // A wrong IV length is the engine's ERR; a non-block length too.
        #expect(try harness.cipher(session: id, iv: Array(iv16.prefix(8)), input: block64).0 == .err)
        #expect(try harness.cipher(session: id, iv: iv16, input: Array(block64.prefix(60))).0 == .err)
        // Requests with nothing writable cannot be answered and are dropped (used length 0).
        head = RequestBuilder.data(
            opcode: .cipherEncrypt, sessionID: id, flf: RequestBuilder.cipherData(ivLength: 16, sourceLength: 64))
        #expect(try harness.data([head, iv16, block64], writable: []) == [])
    }

    @Test func unknownOpcodesAndTruncatedHeadersAreAnswered() throws {
        let harness = try Harness()
        let unknown = RequestBuilder.data(opcode: .unknown(0x999), flf: HashDataFlf())
        #expect(try harness.data([unknown], writable: [1]) == [UInt8(Status.notsupp.rawValue)])
        let control = RequestBuilder.data(opcode: .cipherCreateSession, flf: HashDataFlf())
        #expect(try harness.data([control], writable: [1]) == [UInt8(Status.notsupp.rawValue)])
        #expect(try harness.data([[1, 2, 3]], writable: [1]) == [UInt8(Status.err.rawValue)])
        let shortFLF = Array(RequestBuilder.data(opcode: .hash, flf: HashDataFlf()).prefix(40))
        #expect(try harness.data([shortFLF], writable: [1]) == [UInt8(Status.err.rawValue)])
    }

    @Test func flagZeroWithRevision1ButNoStatelessIsRejected() throws {
        let harness = try Harness(features: [.revision1])
        let id = try harness.cipherSession(.aesCbc, key: key16, op: .encrypt, layout: .revision1)
        #expect(try harness.cipher(session: id, iv: iv16, input: block64, layout: .revision1, flag: []).0 == .notsupp)
        #expect(
            try harness.cipher(session: id, iv: iv16, input: block64, layout: .revision1, flag: .sessionMode).0 == .ok)
    }

    @Test func splitAndIndirectBuffersGiveTheSameResult() throws {
        let harness = try Harness()
        let id = try harness.cipherSession(.aesCbc, key: key16, op: .encrypt)
        let expected = try engineCBC(key16, iv16, block64, .encrypt)
        let head = RequestBuilder.data(
            opcode: .cipherEncrypt, sessionID: id, flf: RequestBuilder.cipherData(ivLength: 16, sourceLength: 64))
        // Header split mid-field, IV split, source in three pieces, destination in two.
        let pieces: [[UInt8]] = [
            Array(head[0..<10]), Array(head[10...]) + Array(iv16[0..<5]), Array(iv16[5...]),
            Array(block64[0..<7]), Array(block64[7..<40]), Array(block64[40...]),
        ]
        for indirect in [false, true] {
            let out = try harness.data(pieces, writable: [30, 34, 1], indirect: indirect)
            #expect(out.last == UInt8(Status.ok.rawValue))
            #expect(Array(out.dropLast()) == expected)
        }
        // Linux's shape: writable buffers longer than dst, the status in the last byte.
        let out = try harness.data([head, iv16, block64], writable: [100, 1])
        #expect(Array(out.prefix(64)) == expected && out.last == 0)
    }

    @Test func inPlaceRequestsReadAllSourceBeforeWriting() throws {
        let harness = try Harness()
        let id = try harness.cipherSession(.aesCbc, key: key16, op: .encrypt)
        let head = RequestBuilder.data(
            opcode: .cipherEncrypt, sessionID: id, flf: RequestBuilder.cipherData(ivLength: 16, sourceLength: 64))
        let ring = harness.dataRing
        ring.resetData()
        let headAddress = ring.allocate(head + iv16)
        let buffer = ring.allocate(block64)
        let status = ring.allocate(count: 1)
        // Same guest pages as source (readable) and destination (writable), as the kernel self-test does;
        // then a shifted overlap that no engine may see.
        for shift in [0, 16] {
            ring.resetData()
            _ = ring.allocate(head + iv16)
            let data = ring.allocate(block64 + [UInt8](repeating: 0, count: 16))
            _ = ring.allocate(count: 1)
            ring.setDescriptor(0, address: headAddress, length: UInt32(head.count + 16), flags: .next, next: 1)
            ring.setDescriptor(1, address: data, length: 64, flags: .next, next: 2)
            ring.setDescriptor(2, address: data + UInt64(shift), length: 64, flags: .write | .next, next: 3)
            ring.setDescriptor(3, address: status, length: 1, flags: .write)
            ring.post(0)
            let queueHead = try harness.dataQueue.nextAvailable()!
            try harness.dataQueue.walk(head: queueHead, into: harness.chain)
            _ = harness.worker.handle(harness.chain)
            harness.dataQueue.publishUsed(head: queueHead, written: 65)
            #expect(ring.bytes(at: status, count: 1) == [0])
            #expect(
                ring.bytes(at: data + UInt64(shift), count: 64) == (try engineCBC(key16, iv16, block64, .encrypt)),
                "shift \(shift)")
        }
        _ = buffer
    }

    @Test func hashMacAeadAndChainingThroughTheDevice() throws {
        let harness = try Harness()
        let message = [UInt8]("abc".utf8)
        // HASH: SHA-256("abc"), FIPS 180-4.
        let (hashStatus, hashID) = try harness.createSession(
            RequestBuilder.control(
                opcode: .hashCreateSession, flf: HashCreateSessionFlf(algo: .sha256, hashResultLen: 32)))
        #expect(hashStatus == .ok)
        var out = try harness.data(
            [
                RequestBuilder.data(
                    opcode: .hash, sessionID: hashID, flf: HashDataFlf(srcDataLen: 3, hashResultLen: 32)), message,
            ], writable: [32, 1])
        expectRule(
            .devHashCopyResult, .devHashStructureByOpcode,
            holds: out.last == 0
                && Array(out.prefix(32))
                    == bytes(hex: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        )
        // MAC: HMAC-SHA256, RFC 4231 test case 2, truncated to 16 bytes by the session.
        let (macStatus, macID) = try harness.createSession(
            RequestBuilder.control(
                opcode: .macCreateSession, flf: MacCreateSessionFlf(algo: .hmacSha256, hashResultLen: 16, authKeyLen: 4)
            ),
            keys: [Array("Jefe".utf8)])
        #expect(macStatus == .ok)
        let what = Array("what do ya want for nothing?".utf8)
        out = try harness.data(
            [
                RequestBuilder.data(
                    opcode: .mac, sessionID: macID,
                    flf: MacDataFlf(hdr: HashDataFlf(srcDataLen: UInt32(what.count), hashResultLen: 16))), what,
            ],
            writable: [16, 1])
        expectRule(
            .devMacCopyResult,
            holds: out.last == 0 && Array(out.prefix(16)) == bytes(hex: "5bdcc146bf60754e6a042426089575c7"))
        // AEAD: GCM test case 3 of McGrew–Viega, then a tampered tag.
        let key = bytes(hex: "feffe9928665731c6d6a8f9467308308")
        let iv = bytes(hex: "cafebabefacedbaddecaf888")
        let plaintext = bytes(
            hex:
                "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
        )
        let ciphertext = bytes(
            hex:
                "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985"
        )
        let tag = bytes(hex: "4d5c2af327cd64a62cf35abd2ba6fab4")
        func aeadSession(_ op: Op) throws -> UInt64 {
            try harness.createSession(
                RequestBuilder.control(
                    opcode: .aeadCreateSession, flf: AeadCreateSessionFlf(algo: .gcm, keyLen: 16, tagLen: 16, op: op)),
                keys: [key]
            ).1
        }
        let sealed = try harness.data(
            [
                RequestBuilder.data(
                    opcode: .aeadEncrypt, sessionID: try aeadSession(.encrypt),
                    flf: AeadDataFlf(ivLen: 12, srcDataLen: 64, dstDataLen: 80, tagLen: 16)), iv, plaintext,
            ], writable: [80, 1])
        expectRule(
            .devAeadCopyDstData, .devAeadCopyTag, .devAeadStatusValues,
            holds: sealed.last == 0 && Array(sealed.dropLast()) == ciphertext + tag)
        let decryptID = try aeadSession(.decrypt)
        let opened = try harness.data(
            [
                RequestBuilder.data(
                    opcode: .aeadDecrypt, sessionID: decryptID,
                    flf: AeadDataFlf(ivLen: 12, srcDataLen: 80, dstDataLen: 64, tagLen: 16)), iv, ciphertext + tag,
            ], writable: [64, 1])
        #expect(opened.last == 0 && Array(opened.dropLast()) == plaintext)
        var forged = ciphertext + tag
        forged[70] ^= 1
        let rejected = try harness.data(
            [
                RequestBuilder.data(
                    opcode: .aeadDecrypt, sessionID: decryptID,
                    flf: AeadDataFlf(ivLen: 12, srcDataLen: 80, dstDataLen: 64, tagLen: 16)), iv, forged,
            ], writable: [64, 1])
        expectRule(.devAeadVerifyOnDecrypt, holds: rejected.last == UInt8(Status.badmsg.rawValue))
        #expect(rejected.dropLast().allSatisfy { $0 == 0 }, "no plaintext released")
        // Chaining: AES-CBC then HMAC-SHA1 over AAD ‖ ciphertext, compared with the engines.
        let chainFLF = SymCreateSessionFlf(
            opFlf: .algorithmChaining(
                AlgChainSessionFlf(
                    algChainOrder: .cipherThenHash, hashMode: .auth,
                    cipherHdr: CipherSessionFlf(algo: .aesCbc, keyLen: 16, op: .encrypt),
                    algoFlf: .auth(MacCreateSessionFlf(algo: .hmacSha1, hashResultLen: 20, authKeyLen: 20)))),
            opType: .algorithmChaining)
        let authKey = [UInt8](repeating: 0x0b, count: 20)
        let (chainStatus, chainID) = try harness.createSession(
            RequestBuilder.control(opcode: .cipherCreateSession, flf: chainFLF), keys: [key16, authKey])
        #expect(chainStatus == .ok)
        let aad = [UInt8](repeating: 0xaa, count: 8)
        let source = [UInt8](repeating: 0x11, count: 8) + block64
        let dataFLF = SymDataFlf(
            opTypeFlf: .algorithmChaining(
                AlgChainDataFlf(
                    ivLen: 16, srcDataLen: 72, dstDataLen: 72, cipherStartSrcOffset: 8,
                    lenToCipher: 64, hashStartSrcOffset: 0, lenToHash: 72, aadLen: 8, hashResultLen: 20)),
            opType: .algorithmChaining)
        out = try harness.data(
            [RequestBuilder.data(opcode: .cipherEncrypt, sessionID: chainID, flf: dataFLF), iv16, source, aad],
            writable: [72, 20, 1])
        #expect(out.last == 0)
        let expectedCipher = try engineCBC(key16, iv16, block64, .encrypt)
        expectRule(
            .devSymParseAlgChainFields,
            holds: Array(out[0..<8]) == Array(source[0..<8]) && Array(out[8..<72]) == expectedCipher)
        let mac = try authKey.withUnsafeBytes { try MacSession(algorithm: .hmacSha1, key: $0, resultLength: 20) }
            .makeContext()
        var expectedTag = [UInt8](repeating: 0, count: 20)
        let macInput = aad + Array(out[0..<72])
        try macInput.withUnsafeBytes { input in try expectedTag.withUnsafeMutableBytes { try mac.mac(input, into: $0) }
        }
        expectRule(.devSymCopyHashResult, .devSymCheckAadLen, holds: Array(out[72..<92]) == expectedTag)
    }

    @Test func aDestroyedSessionIsRefusedEvenRightAfterUse() throws {
        // The worker caches the last session it used; a destroy must still be seen at once.
        let harness = try Harness()
        let first = try harness.cipherSession(.aesCbc, key: key16, op: .encrypt)
        let second = try harness.cipherSession(.aesCbc, key: key16, op: .encrypt)
        func encrypt(_ session: UInt64) throws -> UInt8? {
            try harness.data(
                [
                    RequestBuilder.data(
                        opcode: .cipherEncrypt, sessionID: session,
                        flf: RequestBuilder.cipherData(ivLength: 16, sourceLength: 64)),
                    iv16, block64,
                ], writable: [64, 1]
            ).last
        }
        #expect(try encrypt(first) == 0)
        #expect(try encrypt(first) == 0)
        weak let destroyed = harness.device.sessions.lookup(first)
        let destroy = RequestBuilder.control(opcode: .cipherDestroySession, flf: DestroySessionFlf(sessionId: first))
        #expect(try harness.control([destroy], writable: 1) == [0])
        #expect(try encrypt(first) == UInt8(Status.invsess.rawValue))
        #expect(try encrypt(second) == 0)
        // The worker let go of its keyed copy with the session: nothing holds the key now.
        #expect(destroyed == nil)
        // Another service's opcode on the cached session: INVSESS, not a cipher run.
        let hash = RequestBuilder.data(
            opcode: .hash, sessionID: second, flf: HashDataFlf(srcDataLen: 3, hashResultLen: 20))
        #expect(try harness.data([hash, [1, 2, 3]], writable: [20, 1]).last == UInt8(Status.invsess.rawValue))
        #expect(try encrypt(second) == 0)
    }

    @Test func aChainWritesTheSessionsResultLengthNotTheRequestsLarger() throws {
        // hash_result_len larger than the session's MAC: only the MAC is written, nothing of
        // an earlier request's result (here a SHA-512 digest) follows it.
        let harness = try Harness()
        let (hashStatus, hashSession) = try harness.createSession(
            RequestBuilder.control(
                opcode: .hashCreateSession, flf: HashCreateSessionFlf(algo: .sha512, hashResultLen: 64)))
        #expect(hashStatus == .ok)
        let digest = try harness.data(
            [
                RequestBuilder.data(
                    opcode: .hash, sessionID: hashSession, flf: HashDataFlf(srcDataLen: 3, hashResultLen: 64)),
                [1, 2, 3],
            ], writable: [64, 1])
        #expect(digest.last == 0 && digest.prefix(64).contains { $0 != 0 })
        let authKey = [UInt8](repeating: 0x0b, count: 20)
        let chainFlf = SymCreateSessionFlf(
            opFlf: .algorithmChaining(
                AlgChainSessionFlf(
                    algChainOrder: .cipherThenHash, hashMode: .auth,
                    cipherHdr: CipherSessionFlf(algo: .aesCbc, keyLen: 16, op: .encrypt),
                    algoFlf: .auth(MacCreateSessionFlf(algo: .hmacSha1, hashResultLen: 20, authKeyLen: 20)))),
            opType: .algorithmChaining)
        let (chainStatus, chainSession) = try harness.createSession(
            RequestBuilder.control(opcode: .cipherCreateSession, flf: chainFlf),
            keys: [key16, authKey])
        #expect(chainStatus == .ok)
        let request = SymDataFlf(
            opTypeFlf: .algorithmChaining(
                AlgChainDataFlf(
                    ivLen: 16, srcDataLen: 64, dstDataLen: 64, lenToCipher: 64,
                    lenToHash: 64, hashResultLen: 64)), opType: .algorithmChaining)
        let out = try harness.data(
            [RequestBuilder.data(opcode: .cipherEncrypt, sessionID: chainSession, flf: request), iv16, block64],
            writable: [64, 64, 1])
        #expect(out.last == 0)
        let mac = try authKey.withUnsafeBytes { try MacSession(algorithm: .hmacSha1, key: $0, resultLength: 20) }
            .makeContext()
        var tag = [UInt8](repeating: 0, count: 20)
        let ciphertext = Array(out[0..<64])
        try ciphertext.withUnsafeBytes { input in try tag.withUnsafeMutableBytes { try mac.mac(input, into: $0) } }
        #expect(Array(out[64..<84]) == tag)
        #expect(out[84..<128].allSatisfy { $0 == 0 }, "no stale bytes after the MAC")
    }

    @Test func statusCountsSurviveTheirWorker() throws {
        let device = VirtioCryptoDevice()
        var harness: Harness? = try Harness(device: device, features: [])
        let session = try harness!.cipherSession(.aesCbc, key: key16, op: .encrypt)
        let request = RequestBuilder.data(
            opcode: .cipherEncrypt, sessionID: session, flf: RequestBuilder.cipherData(ivLength: 16, sourceLength: 64))
        for _ in 0..<3 { _ = try harness!.data([request, iv16, block64], writable: [64, 1]) }
        _ = try harness!.data([request, iv16, Array(block64.prefix(15))], writable: [64, 1])
        #expect(device.statistics.count(.ok) == 4, "one session created and three requests")
        #expect(device.statistics.count(.err) == 1)
        harness = nil  // the worker goes; its counts stay
        #expect(device.statistics.count(.ok) == 4)
        let second = try Harness(device: device, features: [])
        _ = try second.data([request, iv16, block64], writable: [64, 1])
        #expect(device.statistics.count(.ok) == 5)
    }

    @Test func statelessRequestsCarryTheirOwnKeys() throws {
        let harness = try Harness(features: [.revision1, .cipherStatelessMode, .hashStatelessMode])
        let flf = SymDataFlfStateless(
            opTypeFlf: .cipher(
                CipherDataFlfStateless(
                    sessPara: CipherSessPara(algo: .aesCbc, keyLen: 16, op: .encrypt),
                    ivLen: 16, srcDataLen: 64, dstDataLen: 64)), opType: .cipher)
        let head = RequestBuilder.data(opcode: .cipherEncrypt, flag: [], flf: flf, layout: .stateless)
        let out = try harness.data([head, key16, iv16, block64], writable: [64, 1])
        let expectedStateless = try engineCBC(key16, iv16, block64, .encrypt)
        expectRule(
            .devStatelessMaySupportBoth, .devStatelessServiceLevelGuard,
            holds: out.last == 0 && Array(out.dropLast()) == expectedStateless)
        let hash = RequestBuilder.data(
            opcode: .hash,
            flf: HashDataFlfStateless(sessPara: HashSessPara(algo: .sha1), srcDataLen: 3, hashResultLen: 20),
            layout: .stateless)
        let digest = try harness.data([hash, Array("abc".utf8)], writable: [20, 1])
        expectRule(
            .devHashParseFlag,
            holds: Array(digest.prefix(20)) == bytes(hex: "a9993e364706816aba3e25717850c26c9cd0d89d")
                && digest.last == 0)
        // MAC stateless is not negotiated here: flag 0 is rejected.
        let mac = RequestBuilder.data(
            opcode: .mac, flf: MacDataFlf(hdr: HashDataFlf(srcDataLen: 3, hashResultLen: 20)), layout: .revision1)
        #expect(try harness.data([mac, [1, 2, 3]], writable: [20, 1]).last == UInt8(Status.notsupp.rawValue))
    }
}

func bytes(hex: String) -> [UInt8] { [UInt8](hex: hex)! }
