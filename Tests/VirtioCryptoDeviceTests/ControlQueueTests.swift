import Testing
import VirtioCryptoDevice
import VirtioCryptoDriver
import VirtioCryptoEngines
import VirtioCryptoWire

struct ControlQueueTests {
    @Test func configComesFromTheEnginesAndLimits() throws {
        var limits = DeviceLimits()
        limits.dataQueues = 2
        limits.maxRequestSize = 65536
        let device = VirtioCryptoDevice(offer: DeviceOffer(limits: limits))
        let config = device.config
        expectRule(
            .devConfigMaxDataqueuesRange, .devConfigStatusValidFlags, .devConfigNoUndefinedAlgoBits,
            holds: config.violation(features: []) == nil)
        expectRule(.devConfigMaxSize, holds: config.maxDataqueues == 2 && config.maxSize == 65536)
        #expect(config.status == .hwReady)
        expectRule(
            .devConfigCryptoServicesOffered, holds: config.cryptoServices == 0b1_1111,
            "CIPHER, HASH, MAC, AEAD, AKCIPHER")
        expectRule(
            .devConfigAlgoMasksPerService, holds: config.cipherAlgoL == 0x7ffe && config.cipherAlgoH == 0,
            "all 14 ciphers, bits 1–14")
        #expect(config.hashAlgo == 0x1ffe)
        #expect(
            config.macAlgoL & (1 << 4) != 0 && config.macAlgoL & (1 << 28) == 0,
            "HMAC-SHA256 yes, SNOW3G-UIA2 (needs an IV) no")
        #expect(config.aeadAlgo == 0b1010, "GCM and ChaCha20-Poly1305; CCM is not offered (its IV layout is ambiguous)")
        #expect(config.akcipherAlgo == 0b110, "RSA and ECDSA")
        expectRule(
            .devConfigMaxCipherKeyLen, .devConfigMaxAuthKeyLen,
            holds: config.maxCipherKeyLen == 64 && config.maxAuthKeyLen == 256)
        // An offer restricted to AES-CBC advertises just that (what QEMU's Linux guest uses).
        let narrow = DeviceOffer().restricted(ciphers: [.aesCbc], hashes: [], macs: [], aeads: [], akciphers: [])
        #expect(
            narrow.config.cryptoServices == 1 && narrow.config.cipherAlgoL == 1 << 3 && narrow.config.maxAuthKeyLen == 0
        )
    }

    @Test func statelessFeaturesNeedRevision1() {
        let device = VirtioCryptoDevice()
        expectRule(.featFeatureCipherStatelessRequiresRevision1, holds: !device.negotiate([.cipherStatelessMode]))
        expectRule(
            .featFeatureHashStatelessRequiresRevision1, .featFeatureMacStatelessRequiresRevision1,
            holds: !device.negotiate([.hashStatelessMode, .macStatelessMode]))
        expectRule(
            .featFeatureAeadStatelessRequiresRevision1, holds: device.negotiate([.revision1, .aeadStatelessMode]))
        #expect(device.features == [.revision1, .aeadStatelessMode])
        #expect(!device.negotiate(CryptoFeatures(rawValue: 1 << 20)), "bits the device does not offer")
    }

    @Test(arguments: [RequestLayout.legacy, .revision1])
    func sessionsAreCreatedWithUniqueIDsAndDestroyedOnce(layout: RequestLayout) throws {
        let harness = try Harness(features: layout == .legacy ? [] : [.revision1])
        let first = try harness.cipherSession(.aesCbc, key: key16, op: .encrypt, layout: layout)
        let second = try harness.cipherSession(.aesCbc, key: key16, op: .decrypt, layout: layout)
        expectRule(
            .devSessionCreateUniqueSessionId, .devSessionCreateStructureByOpcode, .devSessionCreateExtractParameters,
            holds: first != second)
        let destroy = RequestBuilder.control(
            opcode: .cipherDestroySession, flf: DestroySessionFlf(sessionId: first), layout: layout)
        // The 1-byte outcome of v1.2 and later, even where the driver gives more room…
        try expectRule(
            .devSessionDestroyStatusValues, .devCtrlOpOutcomeStruct,
            holds: try harness.control([destroy], writable: 8) == [UInt8(Status.ok.rawValue)]
                + [UInt8](repeating: 0, count: 7)
                && harness.controlRing.lastUsedLength == 1)
        // …and, destroyed already, ERR (RevisionTests check v23's 8-byte form).
        try expectRule(
            .devSessionDestroyStatusValues,
            holds: try harness.control([destroy], writable: 1) == [UInt8(Status.err.rawValue)])
        #expect(harness.device.sessions.count == 1)
        // A session of another service is not destroyed by a CIPHER destroy… it must match.
        let hashDestroy = RequestBuilder.control(
            opcode: .hashDestroySession, flf: DestroySessionFlf(sessionId: second), layout: layout)
        #expect(try harness.control([hashDestroy], writable: 1) == [UInt8(Status.err.rawValue)])
        #expect(harness.device.sessions.count == 1)
        // A create whose outcome has no room for virtio_crypto_create_session_input creates nothing;
        // the status goes in the largest outcome layout that fits (the 1-byte destroy outcome).
        let create = RequestBuilder.control(
            opcode: .cipherCreateSession, flf: RequestBuilder.cipherSession(.aesCbc, keyLength: 16, op: .encrypt),
            layout: layout)
        #expect(try harness.control([create, key16], writable: 8).first == UInt8(Status.err.rawValue))
        #expect(harness.controlRing.lastUsedLength == DestroySessionInput.size)
        #expect(harness.device.sessions.count == 1)
    }

    @Test func unsupportedAlgorithmsBadKeysAndUnknownOpcodesAreRefused() throws {
        let harness = try Harness()
        let unknownAlgorithm = RequestBuilder.control(
            opcode: .cipherCreateSession,
            flf: RequestBuilder.cipherSession(.unknown(40), keyLength: 16, op: .encrypt))
        try expectRule(
            .devSessionCreateStatusValues,
            holds: try harness.createSession(unknownAlgorithm, keys: [key16]).0 == .notsupp)
        let badKey = RequestBuilder.control(
            opcode: .cipherCreateSession, flf: RequestBuilder.cipherSession(.aesCbc, keyLength: 15, op: .encrypt))
        #expect(try harness.createSession(badKey, keys: [Array(key16.prefix(15))]).0 == .err)
        let hugeKey = RequestBuilder.control(
            opcode: .cipherCreateSession, flf: RequestBuilder.cipherSession(.arc4, keyLength: 200, op: .encrypt))
        #expect(
            try harness.createSession(hugeKey, keys: [[UInt8](repeating: 1, count: 200)]).0 == .err,
            "over max_cipher_key_len")
        let noOp = RequestBuilder.control(opcode: .cipherCreateSession, flf: SymCreateSessionFlf(opType: .noOperation))
        #expect(try harness.createSession(noOp).0 == .notsupp)
        // An opcode the control queue does not carry: the largest outcome layout that fits,
        // so a driver expecting the create outcome finds the status at its offset.
        var header = RequestBuilder.control(opcode: .cipherEncrypt, flf: DestroySessionFlf())
        #expect(try CreateSessionInput.decode(harness.control([header], writable: 16)).status == .notsupp)
        header = RequestBuilder.control(opcode: .unknown(0x7ff), flf: DestroySessionFlf())
        #expect(try harness.control([header], writable: 1) == [UInt8(Status.notsupp.rawValue)])
        // A key segment shorter than keylen says: ERR, no session.
        let short = RequestBuilder.control(
            opcode: .cipherCreateSession, flf: RequestBuilder.cipherSession(.aesCbc, keyLength: 16, op: .encrypt))
        #expect(try harness.createSession(short, keys: [Array(key16.prefix(8))]).0 == .err)
        #expect(harness.device.sessions.count == 0)
    }

    @Test func aFullSessionTableAnswersNOSPCWithRevision1AndERRWithout() throws {
        var limits = DeviceLimits()
        limits.maxSessions = 2
        let cases: [(CryptoFeatures, Status)] = [(.revision1, .nospc), ([], .err)]
        for (features, expected) in cases {
            let harness = try Harness(limits: limits, features: features)
            let layout: RequestLayout = features.isEmpty ? .legacy : .revision1
            _ = try harness.cipherSession(.aesCbc, key: key16, op: .encrypt, layout: layout)
            _ = try harness.cipherSession(.aesCbc, key: key16, op: .encrypt, layout: layout)
            let head = RequestBuilder.control(
                opcode: .cipherCreateSession, flf: RequestBuilder.cipherSession(.aesCbc, keyLength: 16, op: .encrypt),
                layout: layout)
            #expect(try harness.createSession(head, keys: [key16]).0 == expected)
        }
    }

    @Test func everyServiceCreatesSessions() throws {
        let harness = try Harness()
        let hash = RequestBuilder.control(
            opcode: .hashCreateSession, flf: HashCreateSessionFlf(algo: .sha256, hashResultLen: 32))
        #expect(try harness.createSession(hash).0 == .ok)
        let mac = RequestBuilder.control(
            opcode: .macCreateSession, flf: MacCreateSessionFlf(algo: .hmacSha256, hashResultLen: 32, authKeyLen: 32))
        #expect(try harness.createSession(mac, keys: [[UInt8](repeating: 7, count: 32)]).0 == .ok)
        let needsIV = RequestBuilder.control(
            opcode: .macCreateSession, flf: MacCreateSessionFlf(algo: .snow3gUia2, hashResultLen: 4, authKeyLen: 16))
        #expect(try harness.createSession(needsIV, keys: [key16]).0 == .notsupp)
        let aead = RequestBuilder.control(
            opcode: .aeadCreateSession,
            flf: AeadCreateSessionFlf(algo: .gcm, keyLen: 16, tagLen: 16, aadLen: 0, op: .encrypt))
        #expect(try harness.createSession(aead, keys: [key16]).0 == .ok)
        let chain = SymCreateSessionFlf(
            opFlf: .algorithmChaining(
                AlgChainSessionFlf(
                    algChainOrder: .cipherThenHash, hashMode: .auth,
                    cipherHdr: CipherSessionFlf(algo: .aesCbc, keyLen: 16, op: .encrypt),
                    algoFlf: .auth(MacCreateSessionFlf(algo: .hmacSha1, hashResultLen: 12, authKeyLen: 20)))),
            opType: .algorithmChaining)
        #expect(
            try harness.createSession(
                RequestBuilder.control(opcode: .cipherCreateSession, flf: chain),
                keys: [key16, [UInt8](repeating: 3, count: 20)]
            ).0 == .ok)
        let nested = SymCreateSessionFlf(
            opFlf: .algorithmChaining(
                AlgChainSessionFlf(
                    algChainOrder: .cipherThenHash, hashMode: .nested,
                    cipherHdr: CipherSessionFlf(algo: .aesCbc, keyLen: 16, op: .encrypt))),
            opType: .algorithmChaining)
        #expect(
            try harness.createSession(RequestBuilder.control(opcode: .cipherCreateSession, flf: nested), keys: [key16])
                .0 == .notsupp)
        #expect(harness.device.sessions.count == 4)
    }
}
