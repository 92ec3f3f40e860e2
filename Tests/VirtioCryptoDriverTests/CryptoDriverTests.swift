import Testing
import VirtioCryptoDevice
import VirtioCryptoDriver
import VirtioCryptoWire

let abc = Array("abc".utf8)
let jefe = Array("Jefe".utf8)

func limits(_ change: (inout DeviceLimits) -> Void) -> DeviceLimits {
    var limits = DeviceLimits()
    change(&limits)
    return limits
}

func startedDriver(
    _ transport: InProcessTransport, dataQueues: Int = 1,
    features: CryptoFeatures = [.revision1]
) throws -> CryptoDriver {
    let driver = CryptoDriver(transport: transport, dataQueues: dataQueues, features: features)
    try driver.start()
    return driver
}

/// An AES-CBC then HMAC chain session request (cipher service) and its vlf.
func chainRequest(cipherKey: [UInt8], mac: MacAlgorithm, authKey: [UInt8], padding: UInt32 = 0)
    -> (request: ControlQueueRequest, vlf: [UInt8])
{
    let chain = AlgChainSessionFlf(
        algChainOrder: .cipherThenHash, hashMode: .auth,
        cipherHdr: CipherSessionFlf(algo: .aesCbc, keyLen: UInt32(cipherKey.count), op: .encrypt),
        algoFlf: .auth(
            MacCreateSessionFlf(
                algo: mac, hashResultLen: UInt32(hmacJefe.count),
                authKeyLen: UInt32(authKey.count))),
        padding: padding)
    let flf = SymCreateSessionFlf(opFlf: .algorithmChaining(chain), opType: .algorithmChaining)
    return (.cipherCreateSession(flf, SymCreateSessionVlf(flf)), cipherKey + authKey)
}

struct CryptoDriverTests {
    // MARK: the positive path

    @Test(arguments: [false, true])
    func conformantRequestsOfEveryServiceGiveKnownAnswers(revision1: Bool) throws {
        let transport = InProcessTransport()
        let driver = try startedDriver(transport, features: revision1 ? [.revision1] : [])
        #expect(driver.features == (revision1 ? [.revision1] : []))
        #expect(transport.device.features == driver.features)
        let encrypt = try driver.aesCbcSession()
        #expect(try driver.cbc(encrypt) == AesCbcVector.ciphertext)
        let decrypt = try driver.createCipherSession(.aesCbc, key: AesCbcVector.key, op: .decrypt)
        #expect(
            try driver.cipher(decrypt, iv: AesCbcVector.iv, input: AesCbcVector.ciphertext)
                == AesCbcVector.plaintext)
        let hash = try driver.createHashSession(.sha256, resultLength: sha256OfABC.count)
        #expect(try driver.hash(hash, input: abc) == sha256OfABC)
        let mac = try driver.createMacSession(.hmacSha256, key: jefe, resultLength: hmacJefe.count)
        #expect(try driver.mac(mac, input: hmacJefeMessage) == hmacJefe)
        let tagLength = GcmVector.ciphertextAndTag.count - GcmVector.plaintext.count
        let seal = try driver.createAeadSession(.gcm, key: GcmVector.key, tagLength: tagLength, op: .encrypt)
        #expect(try driver.aead(seal, iv: GcmVector.iv, input: GcmVector.plaintext) == GcmVector.ciphertextAndTag)
        let open = try driver.createAeadSession(.gcm, key: GcmVector.key, tagLength: tagLength, op: .decrypt)
        #expect(try driver.aead(open, iv: GcmVector.iv, input: GcmVector.ciphertextAndTag) == GcmVector.plaintext)
        for session in [encrypt, decrypt, hash, mac, seal, open] { try driver.destroySession(session) }
        #expect(transport.device.sessions.count == 0)
        #expect(transport.controlChains.count == 12 && transport.dataChains.count == 6)
        // A destroyed session is not used again: refused, not sent.
        expectRefusal(.drvHashSessionIdValid, refused: .sessionNotLive(id: hash.id, opcode: .hash), on: transport) {
            try driver.hash(hash, input: abc)
        }
        expectRefusal(
            .drvSessionDestroyValidSessionId,
            refused: .sessionNotLive(id: hash.id, opcode: .hashDestroySession),
            on: transport
        ) { try driver.destroySession(hash) }
    }

    @Test func everyRefusalNamesTheDriverRuleItProtects() {
        let refusals: [(DriverRefusal, RuleID)] = [
            (.hardwareNotReady, .drvConfigNoRequestsBeforeHwReady),
            (.dataQueueBeyondDevice(queue: 1, maxDataQueues: 1), .drvConfigReadMaxDataqueues),
            (.dataQueueNotConfigured(queue: 1, configured: 1), .drvInitConfigureAllVirtqueues),
            (.serviceNotOffered(.hash), .drvConfigReadCryptoServices),
            (.algorithmNotOffered(.cipher(.aesCtr)), .drvConfigReadAlgoMasks),
            (.requestTooLarge(size: 2, maxSize: 1), .drvConfigReadMaxSize),
            (.cipherKeyTooLong(length: 2, maxLength: 1), .drvConfigReadMaxCipherKeyLen),
            (.authKeyTooLong(length: 2, maxLength: 1), .drvConfigReadMaxAuthKeyLen),
            (.reservedNotZero(field: "x"), .drvSessionCreateReservedZero),
            (.sessionNotLive(id: 1, opcode: .cipherEncrypt), .drvSymSessionIdValid),
            (.sessionNotLive(id: 1, opcode: .hash), .drvHashSessionIdValid),
            (.sessionNotLive(id: 1, opcode: .mac), .drvMacSessionIdValid),
            (.sessionNotLive(id: 1, opcode: .aeadDecrypt), .drvAeadSessionIdValid),
            (.sessionNotLive(id: 1, opcode: .macDestroySession), .drvSessionDestroyValidSessionId),
        ]
        for (refusal, rule) in refusals {
            #expect(refusal.rule == rule)
            #expect(RuleTable.info(rule)?.actor == .driver)
        }
    }

    // MARK: HW_READY

    @Test func hwReadyClearMeansStartFailsAndNothingIsTransmitted() throws {
        let transport = InProcessTransport()
        transport.alterConfig = { $0.status = [] }
        let driver = CryptoDriver(transport: transport)
        expectRefusal(
            .drvConfigNoRequestsBeforeHwReady,
            refused: .hardwareNotReady, on: transport
        ) { try driver.start() }
        expectRule(.drvConfigReadHwReady, holds: driver.state == .waitingForHardware && transport.configReads == 1)
        expectRefusal(.drvConfigNoRequestsBeforeHwReady, refused: .hardwareNotReady, on: transport) {
            try driver.aesCbcSession()
        }
        expectRefusal(.drvConfigNoRequestsBeforeHwReady, refused: .hardwareNotReady, on: transport) {
            try driver.createHashSession(.sha256, resultLength: sha256OfABC.count)
        }
        #expect(transport.traffic == 0)
        // The device is ready now: a reset reads the status again and requests flow.
        transport.alterConfig = { _ in }
        try driver.reset()
        expectRule(
            .drvConfigReadHwReady,
            holds: transport.resets == 2 && transport.configReads == 2 && driver.state == .ready)
        let session = try driver.aesCbcSession()
        #expect(try driver.cbc(session) == AesCbcVector.ciphertext)
        #expect(transport.submissions == 2 && transport.device.statistics.count(.ok) == 2)
    }

    @Test func statusIsReadAgainAfterEveryReset() throws {
        let transport = InProcessTransport()
        let driver = CryptoDriver(transport: transport)
        expectRefusal(.drvConfigNoRequestsBeforeHwReady, refused: .hardwareNotReady, on: transport) {
            try driver.createHashSession(.sha256, resultLength: sha256OfABC.count)  // not started
        }
        try driver.start()
        let session = try driver.createHashSession(.sha256, resultLength: sha256OfABC.count)
        #expect(transport.configReads == 1)
        // The device drops HW_READY: the reset must see it, not trust the status read before.
        transport.alterConfig = { $0.status = [] }
        expectRefusal(
            .drvConfigNoRequestsBeforeHwReady,
            refused: .hardwareNotReady, on: transport
        ) { try driver.reset() }
        expectRule(.drvConfigReadHwReady, holds: transport.configReads == 2 && driver.state == .waitingForHardware)
        expectRefusal(.drvConfigNoRequestsBeforeHwReady, refused: .hardwareNotReady, on: transport) {
            try driver.hash(session, input: abc)
        }
        expectRefusal(.drvConfigNoRequestsBeforeHwReady, refused: .hardwareNotReady, on: transport) {
            try driver.createHashSession(.sha256, resultLength: sha256OfABC.count)
        }
        // Only bit 0 means ready: every other (undefined) bit set is still not ready.
        transport.alterConfig = { $0.status = ConfigStatus(rawValue: ~ConfigStatus.hwReady.rawValue) }
        try expectRule(.drvConfigReadHwReady, holds: try driver.refreshStatus() == false)
        transport.alterConfig = { _ in }
        try expectRule(.drvConfigReadHwReady, holds: try driver.refreshStatus() == true && transport.configReads == 4)
        // The session of before the reset is gone with it.
        expectRefusal(.drvHashSessionIdValid, refused: .sessionNotLive(id: session.id, opcode: .hash), on: transport) {
            try driver.hash(session, input: abc)
        }
        let fresh = try driver.createHashSession(.sha256, resultLength: sha256OfABC.count)
        #expect(try driver.hash(fresh, input: abc) == sha256OfABC)
    }

    // MARK: data queues

    @Test func neverUsesMoreDataQueuesThanMaxDataqueues() throws {
        let transport = InProcessTransport(limits: limits { $0.dataQueues = 2 })
        let driver = try startedDriver(transport, dataQueues: 4)
        expectRule(
            .drvConfigReadMaxDataqueues,
            holds: driver.capabilities?.maxDataQueues == 2 && driver.dataQueues == 2)
        expectRule(
            .drvConfigReadMaxDataqueues,
            holds: transport.events.contains(.configureQueues(dataQueues: 2, controlQueue: 2)))
        let session = try driver.aesCbcSession()
        #expect(try driver.cbc(session, queue: 1) == AesCbcVector.ciphertext)
        expectRefusal(
            .drvConfigReadMaxDataqueues,
            refused: .dataQueueBeyondDevice(queue: 2, maxDataQueues: 2), on: transport
        ) {
            try driver.cbc(session, queue: 2)
        }
        expectRefusal(
            .drvConfigReadMaxDataqueues, refused: .dataQueueBeyondDevice(queue: -1, maxDataQueues: 2),
            on: transport
        ) { try driver.cbc(session, queue: -1) }
        #expect(transport.dataChains.map(\.queue) == [1])
    }

    @Test func aDeviceWithoutDataQueuesIsNotSetUp() throws {
        let transport = InProcessTransport()
        transport.alterConfig = { $0.maxDataqueues = 0 }
        let driver = CryptoDriver(transport: transport)
        expectRefusal(
            .drvConfigReadMaxDataqueues,
            refused: .dataQueueBeyondDevice(queue: 0, maxDataQueues: 0), on: transport
        ) {
            try driver.start()
        }
        #expect(driver.state == .stopped)
        #expect(!transport.events.contains { if case .configureQueues = $0 { return true } else { return false } })
        expectRefusal(.drvConfigNoRequestsBeforeHwReady, refused: .hardwareNotReady, on: transport) {
            try driver.createHashSession(.sha256, resultLength: sha256OfABC.count)
        }
        #expect(transport.traffic == 0)
    }

    @Test func setsUpTheControlQueueAndEveryUsedDataQueueBeforeAnyRequest() throws {
        let transport = InProcessTransport(limits: limits { $0.dataQueues = 4 })
        let driver = try startedDriver(transport, dataQueues: 2)
        // Virtio initialization order; the control queue sits at index max_dataqueues.
        expectRule(
            .drvInitConfigureAllVirtqueues,
            holds: transport.events == [
                .reset, .deviceFeatures, .acceptFeatures([.revision1]), .readConfig,
                .configureQueues(dataQueues: 2, controlQueue: 4),
            ])
        let session = try driver.createHashSession(.sha256, resultLength: sha256OfABC.count)
        for queue in 0..<2 { #expect(try driver.hash(session, input: abc, queue: queue) == sha256OfABC) }
        expectRefusal(
            .drvInitConfigureAllVirtqueues,
            refused: .dataQueueNotConfigured(queue: 3, configured: 2), on: transport
        ) {
            try driver.hash(session, input: abc, queue: 3)
        }
        #expect(transport.events.suffix(3) == [.control, .data(queue: 0), .data(queue: 1)])
    }

    @Test(arguments: [1, 3])
    func usesOneDataQueueOrSeveral(count: Int) throws {
        let transport = InProcessTransport(limits: limits { $0.dataQueues = 4 })
        let driver = try startedDriver(transport, dataQueues: count)
        #expect(driver.dataQueues == count)
        #expect(transport.events.contains(.configureQueues(dataQueues: count, controlQueue: 4)))
        let session = try driver.aesCbcSession()
        for queue in 0..<count { #expect(try driver.cbc(session, queue: queue) == AesCbcVector.ciphertext) }
        expectRule(.drvConfigMayUseOneDataq, holds: transport.dataChains.map(\.queue) == Array(0..<count))
        #expect(transport.device.statistics.count(.ok) == count + 1)
    }

    // MARK: services and algorithms

    @Test func decodesServicesAndTheAlgorithmsOfEachAdvertisedServiceAtStart() throws {
        let transport = InProcessTransport()
        let driver = try startedDriver(transport)
        let offer = transport.device.offer
        let capabilities = try #require(driver.capabilities)
        expectRule(
            .drvInitReadCryptoServices, .drvConfigReadCryptoServices,
            holds: capabilities.services == Set(offer.services)
                && capabilities.services == [.cipher, .hash, .mac, .aead, .akcipher])  // not IPsec (v1.4)
        expectRule(
            .drvInitReadAlgorithms, .drvConfigReadAlgoMasks,
            holds: capabilities.ciphers == Set(offer.ciphers) && capabilities.ciphers.contains(.aesCbc)
                && capabilities.hashes == Set(offer.hashes) && capabilities.macs == Set(offer.macs)
                && capabilities.aeads == Set(offer.aeads) && capabilities.akciphers == Set(offer.akciphers))
        #expect(capabilities.maxCipherKeyLength == offer.limits.maxCipherKeyLength)
        #expect(capabilities.maxAuthKeyLength == offer.limits.maxAuthKeyLength)
        #expect(capabilities.maxRequestSize == UInt64(offer.limits.maxRequestSize))
        // Masks are read based on crypto_services, and undefined bits mean nothing.
        var config = transport.device.config
        config.cryptoServices = Service.cipher.maskBit!.bit | 1 << 31  // bit 31: no service
        config.hashAlgo = ~0  // the hash service is not advertised
        config.cipherAlgoL = CipherAlgorithm.aesCbc.maskBit!.bit | 1  // bit 0 is VIRTIO_CRYPTO_NO_CIPHER
        config.cipherAlgoH = ~0  // values 32-63: none defined
        let decoded = DeviceCapabilities(config)
        expectRule(
            .drvInitReadAlgorithms, .drvConfigReadAlgoMasks, .drvConfigIgnoreUndefinedAlgoBits,
            holds: decoded.services == [.cipher] && decoded.hashes.isEmpty && decoded.ciphers == [.aesCbc])
    }

    @Test func refusesServicesTheDeviceDoesNotAdvertise() throws {
        let transport = InProcessTransport(device: VirtioCryptoDevice(offer: DeviceOffer().restricted(hashes: [])))
        let driver = try startedDriver(transport)
        expectRule(
            .drvInitReadCryptoServices, holds: driver.capabilities?.services == [.cipher, .mac, .aead, .akcipher])
        expectRefusal(
            .drvConfigReadCryptoServices, .drvInitReadCryptoServices,
            refused: .serviceNotOffered(.hash), on: transport
        ) {
            try driver.createHashSession(.sha256, resultLength: sha256OfABC.count)
        }
        #expect(transport.traffic == 0)
        // A data request of a service no longer advertised is refused too.
        let mac = try driver.createMacSession(.hmacSha256, key: jefe, resultLength: hmacJefe.count)
        let macBit = Service.mac.maskBit!.bit
        transport.alterConfig = { $0.cryptoServices &= ~macBit }
        #expect(try driver.refreshStatus())
        expectRefusal(
            .drvConfigReadCryptoServices, .drvInitReadCryptoServices,
            refused: .serviceNotOffered(.mac), on: transport
        ) {
            try driver.mac(mac, input: hmacJefeMessage)
        }
        expectRefusal(
            .drvConfigReadCryptoServices, .drvInitReadCryptoServices,
            refused: .serviceNotOffered(.mac), on: transport
        ) {
            try driver.createMacSession(.hmacSha256, key: jefe, resultLength: hmacJefe.count)
        }
        #expect(transport.submissions == 1 && transport.device.answered == 1)
    }

    @Test func refusesAlgorithmsWhoseMaskBitIsClear() throws {
        let offer = DeviceOffer().restricted(ciphers: [.aesCbc], hashes: [.sha256], macs: [.hmacSha256], aeads: [.gcm])
        let transport = InProcessTransport(device: VirtioCryptoDevice(offer: offer))
        let driver = try startedDriver(transport)
        expectRefusal(
            .drvConfigReadAlgoMasks, .drvInitReadAlgorithms,
            refused: .algorithmNotOffered(.cipher(.aesCtr)), on: transport
        ) {
            try driver.createCipherSession(.aesCtr, key: AesCbcVector.key, op: .encrypt)
        }
        expectRefusal(
            .drvConfigReadAlgoMasks, .drvInitReadAlgorithms,
            refused: .algorithmNotOffered(.hash(.sha512)), on: transport
        ) {
            try driver.createHashSession(.sha512, resultLength: 64)
        }
        expectRefusal(
            .drvConfigReadAlgoMasks, .drvInitReadAlgorithms,
            refused: .algorithmNotOffered(.mac(.hmacSha1)), on: transport
        ) {
            try driver.createMacSession(.hmacSha1, key: jefe, resultLength: 20)
        }
        expectRefusal(
            .drvConfigReadAlgoMasks, .drvInitReadAlgorithms,
            refused: .algorithmNotOffered(.aead(.chacha20Poly1305)), on: transport
        ) {
            try driver.createAeadSession(.chacha20Poly1305, key: key32, tagLength: 16, op: .encrypt)
        }
        let chain = chainRequest(cipherKey: AesCbcVector.key, mac: .hmacSha1, authKey: jefe)
        expectRefusal(
            .drvConfigReadAlgoMasks, .drvInitReadAlgorithms,
            refused: .algorithmNotOffered(.mac(.hmacSha1)), on: transport
        ) {
            try driver.createSession(chain.request, vlf: chain.vlf)
        }
        #expect(transport.traffic == 0)
        let session = try driver.aesCbcSession()
        #expect(try driver.cbc(session) == AesCbcVector.ciphertext)
    }

    @Test func aMaskBitClearInTheConfigIsRefusedThoughTheDeviceCouldServeIt() throws {
        let transport = InProcessTransport()
        let bit = HashAlgorithm.sha256.maskBit!.bit
        transport.alterConfig = { $0.hashAlgo &= ~bit }
        let driver = try startedDriver(transport)
        expectRefusal(
            .drvConfigReadAlgoMasks, .drvInitReadAlgorithms,
            refused: .algorithmNotOffered(.hash(.sha256)), on: transport
        ) {
            try driver.createHashSession(.sha256, resultLength: sha256OfABC.count)
        }
        #expect(transport.traffic == 0)
        let sha1 = try driver.createHashSession(.sha1, resultLength: 20)
        #expect(try driver.hash(sha1, input: abc) == hex("a9993e364706816aba3e25717850c26c9cd0d89d"))
    }

    // MARK: sizes

    @Test func refusesADataRequestOneByteOverMaxSizeAndSendsOneExactlyAtIt() throws {
        let maxSize = 100
        let transport = InProcessTransport(limits: limits { $0.maxRequestSize = maxSize })
        let driver = try startedDriver(transport)
        let session = try driver.createHashSession(.sha256, resultLength: sha256OfABC.count)
        // The size is the variable-length data: src_data (readable) + hash_result (writable).
        let atLimit = [UInt8](repeating: 0x61, count: maxSize - sha256OfABC.count)
        #expect(try driver.hash(session, input: atLimit).count == sha256OfABC.count)
        expectRefusal(
            .drvConfigReadMaxSize, .drvConfigRequestWithinMaxSize,
            refused: .requestTooLarge(size: maxSize + 1, maxSize: UInt64(maxSize)),
            on: transport
        ) { try driver.hash(session, input: atLimit + [0x61]) }
    }

    @Test func aCipherRequestCountsIvSourceAndDestination() throws {
        let maxSize = AesCbcVector.iv.count + 2 * AesCbcVector.plaintext.count
        let transport = InProcessTransport(limits: limits { $0.maxRequestSize = maxSize })
        let driver = try startedDriver(transport)
        let session = try driver.aesCbcSession()
        #expect(try driver.cbc(session) == AesCbcVector.ciphertext)
        let longer = AesCbcVector.plaintext + AesCbcVector.plaintext.prefix(AesCbcVector.iv.count)
        expectRefusal(
            .drvConfigReadMaxSize, .drvConfigRequestWithinMaxSize,
            refused: .requestTooLarge(size: maxSize + 2 * AesCbcVector.iv.count, maxSize: UInt64(maxSize)),
            on: transport
        ) { try driver.cipher(session, iv: AesCbcVector.iv, input: longer) }
        #expect(transport.dataChains.count == 1)
    }

    @Test func theDriverCountsTheSizeExactlyAsTheDeviceDoes() throws {
        let maxSize = 100
        let transport = InProcessTransport(limits: limits { $0.maxRequestSize = maxSize })
        // A config claiming one byte more lets the driver send what the device then refuses:
        // the device's bound is on the very count the driver checks.
        transport.alterConfig = { $0.maxSize += 1 }
        let driver = try startedDriver(transport)
        let session = try driver.createHashSession(.sha256, resultLength: sha256OfABC.count)
        let overByOne = [UInt8](repeating: 0x61, count: maxSize - sha256OfABC.count + 1)
        let answer = failure { try driver.hash(session, input: overByOne) }
        expectRule(.drvConfigReadMaxSize, holds: answer == .device(.err))
        #expect(try driver.hash(session, input: Array(overByOne.dropLast())).count == sha256OfABC.count)
    }

    @Test func refusesCipherAndAeadKeysLongerThanMaxCipherKeyLen() throws {
        let maxLength = AesCbcVector.key.count
        let transport = InProcessTransport(limits: limits { $0.maxCipherKeyLength = maxLength })
        let driver = try startedDriver(transport)
        #expect(driver.capabilities?.maxCipherKeyLength == maxLength)
        let long = [UInt8](repeating: 7, count: maxLength + 1)
        let tooLong = DriverRefusal.cipherKeyTooLong(length: maxLength + 1, maxLength: maxLength)
        expectRefusal(.drvConfigReadMaxCipherKeyLen, .drvConfigCipherKeyLenWithinMax, refused: tooLong, on: transport) {
            try driver.createCipherSession(.aesCbc, key: long, op: .encrypt)
        }
        expectRefusal(
            .drvConfigReadMaxCipherKeyLen, .drvConfigCipherKeyLenWithinMax,
            refused: .cipherKeyTooLong(length: key32.count, maxLength: maxLength),
            on: transport
        ) { try driver.createCipherSession(.aesCbc, key: key32, op: .encrypt) }
        expectRefusal(.drvConfigReadMaxCipherKeyLen, .drvConfigCipherKeyLenWithinMax, refused: tooLong, on: transport) {
            try driver.createAeadSession(.gcm, key: long, tagLength: 16, op: .encrypt)
        }
        let chain = chainRequest(cipherKey: long, mac: .hmacSha256, authKey: jefe)
        expectRefusal(.drvConfigReadMaxCipherKeyLen, .drvConfigCipherKeyLenWithinMax, refused: tooLong, on: transport) {
            try driver.createSession(chain.request, vlf: chain.vlf)
        }
        #expect(transport.traffic == 0)
        let session = try driver.aesCbcSession()
        #expect(try driver.cbc(session) == AesCbcVector.ciphertext)
    }

    @Test func refusesAuthKeysLongerThanMaxAuthKeyLen() throws {
        let maxLength = 32
        let transport = InProcessTransport(limits: limits { $0.maxAuthKeyLength = maxLength })
        let driver = try startedDriver(transport)
        #expect(driver.capabilities?.maxAuthKeyLength == maxLength)
        let long = [UInt8](repeating: 7, count: maxLength + 1)
        let tooLong = DriverRefusal.authKeyTooLong(length: maxLength + 1, maxLength: maxLength)
        expectRefusal(.drvConfigReadMaxAuthKeyLen, .drvConfigAuthKeyLenWithinMax, refused: tooLong, on: transport) {
            try driver.createMacSession(.hmacSha256, key: long, resultLength: hmacJefe.count)
        }
        let chain = chainRequest(cipherKey: AesCbcVector.key, mac: .hmacSha256, authKey: long)
        expectRefusal(.drvConfigReadMaxAuthKeyLen, .drvConfigAuthKeyLenWithinMax, refused: tooLong, on: transport) {
            try driver.createSession(chain.request, vlf: chain.vlf)
        }
        #expect(transport.traffic == 0)
        let atLimitKey = Array(long.dropLast())
        let atLimit = try driver.createMacSession(.hmacSha256, key: atLimitKey, resultLength: hmacJefe.count)
        #expect(try driver.mac(atLimit, input: hmacJefeMessage).count == hmacJefe.count)
        let jefeSession = try driver.createMacSession(.hmacSha256, key: jefe, resultLength: hmacJefe.count)
        #expect(try driver.mac(jefeSession, input: hmacJefeMessage) == hmacJefe)
    }

    // MARK: reserved fields

    @Test(arguments: [false, true])
    func sessionRequestsCarryZeroReservedFields(revision1: Bool) throws {
        let transport = InProcessTransport()
        let driver = try startedDriver(transport, features: revision1 ? [.revision1] : [])
        _ = try driver.createMacSession(.hmacSha256, key: jefe, resultLength: hmacJefe.count)
        _ = try driver.aesCbcSession()
        // Written out by hand: ctrl header (opcode, algo, flag, reserved), then the fixed part.
        let hmac = MacAlgorithm.hmacSha256.rawValue
        let aes = CipherAlgorithm.aesCbc.rawValue
        var mac = le32(Opcode.macCreateSession.rawValue) + le32(hmac) + le32(0) + le32(0)
        mac += le32(hmac) + le32(UInt32(hmacJefe.count)) + le32(UInt32(jefe.count)) + le32(0)
        if !revision1 { mac += [UInt8](repeating: 0, count: ControlQueue.legacyFLFSize - MacCreateSessionFlf.size) }
        expectRule(.drvSessionCreateReservedZero, holds: transport.controlChains.first == [mac, jefe])
        var cipher = le32(Opcode.cipherCreateSession.rawValue) + le32(aes) + le32(0) + le32(0)
        cipher += le32(aes) + le32(UInt32(AesCbcVector.key.count)) + le32(Op.encrypt.rawValue) + le32(0)
        cipher += [UInt8](repeating: 0, count: HeaderSize.symSessOpSpecHdr - CipherSessionFlf.size)  // op_flf slot
        cipher += le32(SymOp.cipher.rawValue) + le32(0)
        expectRule(.drvSessionCreateReservedZero, holds: transport.controlChains.last == [cipher, AesCbcVector.key])
    }

    @Test func refusesSessionRequestsWhoseReservedFieldsAreNotZero() throws {
        let transport = InProcessTransport()
        let driver = try startedDriver(transport)
        let key = AesCbcVector.key
        let inner = SymCreateSessionFlf(
            opFlf: .cipher(CipherSessionFlf(algo: .aesCbc, keyLen: UInt32(key.count), op: .encrypt, padding: 1)),
            opType: .cipher)
        expectRefusal(
            .drvSessionCreateReservedZero, refused: .reservedNotZero(field: "cipher_session_flf.padding"),
            on: transport
        ) {
            try driver.createSession(.cipherCreateSession(inner, SymCreateSessionVlf(inner)), vlf: key)
        }
        let outer = SymCreateSessionFlf(
            opFlf: .cipher(CipherSessionFlf(algo: .aesCbc, keyLen: UInt32(key.count), op: .encrypt)), opType: .cipher,
            padding: 1)
        expectRefusal(
            .drvSessionCreateReservedZero, refused: .reservedNotZero(field: "sym_create_session_flf.padding"),
            on: transport
        ) {
            try driver.createSession(.cipherCreateSession(outer, SymCreateSessionVlf(outer)), vlf: key)
        }
        let chain = chainRequest(cipherKey: key, mac: .hmacSha256, authKey: jefe, padding: 1)
        expectRefusal(
            .drvSessionCreateReservedZero, refused: .reservedNotZero(field: "alg_chain_session_flf.padding"),
            on: transport
        ) { try driver.createSession(chain.request, vlf: chain.vlf) }
        let mac = MacCreateSessionFlf(algo: .hmacSha256, hashResultLen: 32, authKeyLen: UInt32(jefe.count), padding: 1)
        expectRefusal(
            .drvSessionCreateReservedZero, refused: .reservedNotZero(field: "mac_create_session_flf.padding"),
            on: transport
        ) {
            try driver.createSession(.macCreateSession(mac, MacCreateSessionVlf(mac)), vlf: jefe)
        }
        let aead = AeadCreateSessionFlf(algo: .gcm, keyLen: UInt32(key.count), tagLen: 16, op: .encrypt, padding: 1)
        expectRefusal(
            .drvSessionCreateReservedZero,
            refused: .reservedNotZero(field: "aead_create_session_flf.padding"),
            on: transport
        ) {
            try driver.createSession(.aeadCreateSession(aead, AeadCreateSessionVlf(aead)), vlf: key)
        }
        #expect(transport.traffic == 0)
    }
}

let key32 = [UInt8](0..<32)
