import Testing
import VirtioCryptoDevice
import VirtioCryptoDriver
import VirtioCryptoWire

/// Each AKCIPHER rule the device refuses requests for, broken once through the daemon's backend:
/// the status the YAML gives and exactly that rule's violation counter.
struct AkcipherRuleTests {
    static func create(_ driver: CryptoDriver, _ flf: AkcipherCreateSessionFlf, key: [UInt8]) throws -> Status {
        let head = RequestBuilder.control(opcode: .akcipherCreateSession, flf: flf, layout: .revision1)
        let completion = try driver.transport.submitControl(readable: [head, key], writable: [CreateSessionInput.size])
        return try CreateSessionInput.decode(completion.bytes).status
    }

    static func data(
        _ driver: CryptoDriver, _ opcode: Opcode, session: UInt64, flag: RequestFlag, flf: some WireStruct,
        readable: [UInt8], writable: Int
    ) throws -> Status {
        let head = RequestBuilder.data(opcode: opcode, sessionID: session, flag: flag, flf: flf, layout: .revision1)
        let completion = try driver.transport.submitData(
            queue: 0, readable: [head, readable], writable: [writable, 1])
        return Status(rawValue: UInt32(completion.bytes.last ?? 0xff))
    }

    @Test func sessionsKeysAndPaddingsThatBreakTheRules() throws {
        let (pair, driver) = try AkcipherDaemonTests.started(features: [.revision1])
        let device = pair.device
        let sha256 = RsaSessionPara(paddingAlgo: .pkcs1, hashAlgo: .sha256)
        let rsaKey = AkcipherKeys.rsaPrivate
        try expectViolation(.drvAkcipherSessionAlgoFlfMember, status: .notsupp, on: device) {
            try Self.create(
                driver,
                AkcipherCreateSessionFlf(
                    algo: .noAkcipher, keyType: .privateKey,
                    keyLen: UInt32(rsaKey.count)), key: rsaKey)
        }
        try expectViolation(.drvAkcipherSessionEcdsaKnownCurves, status: .notsupp, on: device) {
            let key = AkcipherKeys.ecPrivate
            return try Self.create(
                driver,
                AkcipherCreateSessionFlf(
                    algo: .ecdsa, keyType: .privateKey, keyLen: UInt32(key.count),
                    algoFlf: .ecdsa(EcdsaSessionPara(curveId: .unknownCurve))),
                key: key)
        }
        try expectViolation(.drvAkcipherSessionRsaKeyEncoding, status: .err, on: device) {
            let truncated = Array(rsaKey.prefix(600))
            return try Self.create(
                driver,
                AkcipherCreateSessionFlf(
                    algo: .rsa, keyType: .privateKey,
                    keyLen: UInt32(truncated.count), algoFlf: .rsa(sha256)),
                key: truncated)
        }
        let p256 = EcdsaSessionPara(curveId: .nistP256)
        try expectViolation(.drvAkcipherSessionEcdsaPrivateKeyEncoding, status: .err, on: device) {
            let key = AkcipherKeys.ecPublic  // a point where an ECPrivateKey belongs
            return try Self.create(
                driver,
                AkcipherCreateSessionFlf(
                    algo: .ecdsa, keyType: .privateKey, keyLen: UInt32(key.count),
                    algoFlf: .ecdsa(p256)), key: key)
        }
        try expectViolation(.drvAkcipherSessionEcdsaPublicKeyEncoding, status: .err, on: device) {
            var point = AkcipherKeys.ecPublic
            point[40] ^= 1  // no longer on the curve
            return try Self.create(
                driver,
                AkcipherCreateSessionFlf(
                    algo: .ecdsa, keyType: .publicKey, keyLen: UInt32(point.count),
                    algoFlf: .ecdsa(p256)), key: point)
        }
        #expect(device.sessions.count == 0)

        let raw = try driver.createAkcipherSession(
            .rsa, keyType: .privateKey,
            parameters: .rsa(RsaSessionPara(paddingAlgo: .raw, hashAlgo: .md3)),
            key: rsaKey)
        expectRule(
            .devAkcipherSessionRsaRawHashAlgoIgnored, holds: driver.isLive(raw), "RAW keys whatever hash_algo says")
        try expectViolation(.drvAkcipherSessionRsaRawNotForSignVerify, status: .notsupp, on: device) {
            try Self.data(
                driver, .akcipherSign, session: raw.id, flag: .sessionMode,
                flf: AkcipherDataFlf(srcDataLen: 32, dstDataLen: 256), readable: AkcipherKeys.sha256Abc, writable: 256)
        }
        try expectViolation(.drvAkcipherSessionRsaRawInputLeadingZeros, status: .err, on: device) {
            try Self.data(
                driver, .akcipherEncrypt, session: raw.id, flag: .sessionMode,
                flf: AkcipherDataFlf(srcDataLen: 257, dstDataLen: 256), readable: [UInt8](repeating: 0, count: 257),
                writable: 256)
        }
        try expectViolation(.drvAkcipherSessionIdValid, status: .invsess, on: device) {
            try Self.data(
                driver, .akcipherSign, session: 4242, flag: .sessionMode,
                flf: AkcipherDataFlf(srcDataLen: 32, dstDataLen: 256), readable: AkcipherKeys.sha256Abc, writable: 256)
        }
        // Without AKCIPHER_STATELESS_MODE a request without SESSION_MODE is refused.
        try expectViolation(.devAkcipherRejectFlagWithoutSessionMode, status: .notsupp, on: device) {
            try Self.data(
                driver, .akcipherSign, session: raw.id, flag: [],
                flf: AkcipherDataFlf(srcDataLen: 32, dstDataLen: 256), readable: AkcipherKeys.sha256Abc, writable: 256)
        }
    }

    @Test func aFlagThatNamesNoModeIsRefusedWithStatelessMode() throws {
        let (pair, driver) = try AkcipherDaemonTests.started(features: [.revision1, .akcipherStatelessMode])
        try expectViolation(.drvAkcipherFlagByMode, status: .err, on: pair.device) {
            try Self.data(
                driver, .akcipherSign, session: 1, flag: RequestFlag(rawValue: 2),
                flf: AkcipherDataFlf(srcDataLen: 32, dstDataLen: 256), readable: AkcipherKeys.sha256Abc, writable: 256)
        }
    }
}
