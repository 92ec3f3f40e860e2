import Foundation
import Testing
import VirtioCryptoDevice
import VirtioCryptoDriver
import VirtioCryptoWire

/// AKCIPHER (Virtio 1.4) through the daemon's backend over vhost-user, with our driver library:
/// control-queue sessions in both layouts, session-mode data, stateless data, and the result lengths
/// the spec gives (a driver reads the written length).
struct AkcipherDaemonTests {
    static let pkcs1Sha256 = AkcipherCreateSessionFlf.AlgoFlf.rsa(
        RsaSessionPara(paddingAlgo: .pkcs1, hashAlgo: .sha256))
    static let raw = AkcipherCreateSessionFlf.AlgoFlf.rsa(RsaSessionPara(paddingAlgo: .raw, hashAlgo: .noHash))
    static let p256 = AkcipherCreateSessionFlf.AlgoFlf.ecdsa(EcdsaSessionPara(curveId: .nistP256))

    static func started(features: CryptoFeatures) throws -> (BackendPair, CryptoDriver) {
        let pair = try BackendPair(limits: DeviceLimits(), slices: 2)
        let driver = CryptoDriver(
            transport: VhostUserTransport(frontend: pair.frontend), dataQueues: 1, features: features)
        try driver.start()
        return (pair, driver)
    }

    @Test(arguments: [CryptoFeatures(), [.revision1]])
    func rsaSignsVerifiesEncryptsAndDecrypts(features: CryptoFeatures) throws {
        let (pair, driver) = try Self.started(features: features)
        #expect(driver.capabilities?.akciphers == [.rsa, .ecdsa])
        let signer = try driver.createAkcipherSession(
            .rsa, keyType: .privateKey, parameters: Self.pkcs1Sha256,
            key: AkcipherKeys.rsaPrivate)
        let verifier = try driver.createAkcipherSession(
            .rsa, keyType: .publicKey, parameters: Self.pkcs1Sha256,
            key: AkcipherKeys.rsaPublic)
        // EMSA-PKCS1-v1_5 over the digest the driver passes: deterministic, so compare with OpenSSL's.
        let signature = try driver.akcipher(signer, .akcipherSign, input: AkcipherKeys.sha256Abc, capacity: 512)
        expectRule(
            .devAkcipherSessionRsaPkcs1Padding, .devAkcipherRsaSignatureByPadding, .devAkcipherSrcDataUsedAsGiven,
            .devAkcipherCopyDstData, holds: signature == AkcipherKeys.rsaSignatureOfSha256Abc)
        #expect(try driver.akcipherVerify(verifier, signature: signature, message: AkcipherKeys.sha256Abc) == .ok)
        var tampered = signature
        tampered[100] ^= 1
        try expectRule(
            .devAkcipherKeyRejectedOnlyOnVerify, .devAkcipherStatusValues,
            holds: try driver.akcipherVerify(verifier, signature: tampered, message: AkcipherKeys.sha256Abc)
                == .keyRejected)

        // RSAES-PKCS1-v1_5 (randomized): the public session encrypts, the private one decrypts; the
        // plaintext is as long as the device says it wrote.
        let message = Array("a message shorter than k - 11 bytes".utf8)
        let ciphertext = try driver.akcipher(verifier, .akcipherEncrypt, input: message, capacity: 256)
        #expect(ciphertext.count == 256)
        // The plaintext is shorter than dst_data: the written length says how long.
        try expectRule(
            .devAkcipherReportResultLength, .drvAkcipherResultLengthFromWrittenBytes,
            holds: try driver.akcipher(signer, .akcipherDecrypt, input: ciphertext, capacity: 256) == message)
        // PKCS1 ENCRYPT and DECRYPT ignore hash_algo: a session naming MD2, which OpenSSL cannot sign with here.
        let md2 = try driver.createAkcipherSession(
            .rsa, keyType: .publicKey,
            parameters: .rsa(RsaSessionPara(paddingAlgo: .pkcs1, hashAlgo: .md2)),
            key: AkcipherKeys.rsaPublic)
        let md2Cipher = try driver.akcipher(md2, .akcipherEncrypt, input: message, capacity: 256)
        try expectRule(
            .devAkcipherSessionRsaPkcs1HashAlgoIgnoredForEncryption,
            holds: try driver.akcipher(signer, .akcipherDecrypt, input: md2Cipher, capacity: 256) == message)
        try driver.destroySession(md2)

        // RAW: textbook RSA on k-byte integers, short inputs padded with leading zeros.
        let rawPublic = try driver.createAkcipherSession(
            .rsa, keyType: .publicKey, parameters: Self.raw,
            key: AkcipherKeys.rsaPublic)
        let rawPrivate = try driver.createAkcipherSession(
            .rsa, keyType: .privateKey, parameters: Self.raw,
            key: AkcipherKeys.rsaPrivate)
        let rawCipher = try driver.akcipher(rawPublic, .akcipherEncrypt, input: [1, 2, 3], capacity: 256)
        #expect(rawCipher.count == 256)
        try expectRule(
            .devAkcipherSessionRsaRawOutputLeadingZeros,
            holds: try driver.akcipher(rawPrivate, .akcipherDecrypt, input: rawCipher, capacity: 256)
                == [UInt8](repeating: 0, count: 253) + [1, 2, 3])
        // RAW signs nothing; a destination shorter than the result is an error, never a cut result.
        #expect(throws: DriverError.device(.notsupp)) {
            try driver.akcipher(rawPrivate, .akcipherSign, input: AkcipherKeys.sha256Abc, capacity: 256)
        }
        #expect(throws: DriverError.device(.err)) {
            try driver.akcipher(signer, .akcipherSign, input: AkcipherKeys.sha256Abc, capacity: 255)
        }
        // A public-key session cannot decrypt or sign.
        #expect(throws: DriverError.device(.err)) {
            try driver.akcipher(verifier, .akcipherSign, input: AkcipherKeys.sha256Abc, capacity: 256)
        }
        for session in [signer, verifier, rawPublic, rawPrivate] { try driver.destroySession(session) }
        #expect(pair.device.sessions.count == 0)
    }

    @Test func ecdsaSignsAndVerifiesDerSignatures() throws {
        let (_, driver) = try Self.started(features: [.revision1])
        let signer = try driver.createAkcipherSession(
            .ecdsa, keyType: .privateKey, parameters: Self.p256,
            key: AkcipherKeys.ecPrivate)
        let verifier = try driver.createAkcipherSession(
            .ecdsa, keyType: .publicKey, parameters: Self.p256,
            key: AkcipherKeys.ecPublic)
        let signature = try driver.akcipher(signer, .akcipherSign, input: AkcipherKeys.sha256Abc, capacity: 72)
        // DER ECDSA-Sig-Value: SEQUENCE { r INTEGER, s INTEGER }, at most 72 bytes for P-256.
        expectRule(
            .devAkcipherEcdsaSignatureDer,
            holds: signature.first == 0x30 && Int(signature[1]) == signature.count - 2 && signature.count <= 72
                && signature[2] == 0x02)
        #expect(try driver.akcipherVerify(verifier, signature: signature, message: AkcipherKeys.sha256Abc) == .ok)
        #expect(try driver.akcipherVerify(signer, signature: signature, message: AkcipherKeys.sha256Abc) == .ok)
        var otherDigest = AkcipherKeys.sha256Abc
        otherDigest[0] ^= 0x80
        #expect(try driver.akcipherVerify(verifier, signature: signature, message: otherDigest) == .keyRejected)
        #expect(try driver.akcipherVerify(verifier, signature: [0x30, 0x00], message: otherDigest) == .keyRejected)
        // ECDSA neither encrypts nor decrypts.
        #expect(throws: DriverError.device(.notsupp)) {
            try driver.akcipher(verifier, .akcipherEncrypt, input: [1, 2, 3], capacity: 64)
        }
    }

    @Test func badKeysAndParametersAreRefused() throws {
        let (pair, driver) = try Self.started(features: [.revision1])
        func create(
            _ algorithm: AkcipherAlgorithm, _ type: AkcipherKeyType, _ parameters: AkcipherCreateSessionFlf.AlgoFlf,
            _ key: [UInt8]
        ) -> DriverError? {
            do {
                _ = try driver.createAkcipherSession(algorithm, keyType: type, parameters: parameters, key: key)
                return nil
            } catch {
                return error
            }
        }
        #expect(
            create(.rsa, .privateKey, Self.pkcs1Sha256, Array(AkcipherKeys.rsaPrivate.dropLast(10))) == .device(.err))
        #expect(create(.rsa, .publicKey, Self.pkcs1Sha256, AkcipherKeys.rsaPrivate) == .device(.err))
        #expect(create(.rsa, .privateKey, Self.pkcs1Sha256, AkcipherKeys.ecPrivate) == .device(.err))
        #expect(
            create(.ecdsa, .privateKey, .ecdsa(EcdsaSessionPara(curveId: .nistP384)), AkcipherKeys.ecPrivate)
                == .device(.err))
        #expect(
            create(.ecdsa, .privateKey, .ecdsa(EcdsaSessionPara(curveId: .unknownCurve)), AkcipherKeys.ecPrivate)
                == .device(.notsupp))
        #expect(
            create(
                .rsa, .privateKey, .rsa(RsaSessionPara(paddingAlgo: .pkcs1, hashAlgo: .md3)), AkcipherKeys.rsaPrivate)
                == .device(.notsupp))
        // A key longer than the AKCIPHER key limit is refused before it is copied.
        let huge = [UInt8](repeating: 0x30, count: pair.device.offer.limits.maxAkcipherKeyLength + 1)
        #expect(create(.rsa, .privateKey, Self.pkcs1Sha256, huge) == .device(.err))
        #expect(pair.device.sessions.count == 0)
    }

    @Test func statelessRequestsCarryTheirKey() throws {
        let (pair, driver) = try Self.started(features: [.revision1, .akcipherStatelessMode])
        #expect(driver.features == [.revision1, .akcipherStatelessMode])
        let para = AkcipherSessPara(
            algo: .rsa, keyType: .privateKey, u: .rsa(RsaSessionPara(paddingAlgo: .pkcs1, hashAlgo: .sha256)))
        let signature = try driver.akcipherStateless(
            .akcipherSign, parameters: para, key: AkcipherKeys.rsaPrivate,
            input: AkcipherKeys.sha256Abc, capacity: 256)
        expectRule(
            .devAkcipherStatelessSameAsSession, .devAkcipherParseStatelessByOpcode,
            holds: signature == AkcipherKeys.rsaSignatureOfSha256Abc)
        let publicPara = AkcipherSessPara(algo: .rsa, keyType: .publicKey, u: para.u)
        #expect(
            try driver.akcipherVerifyStateless(
                parameters: publicPara, key: AkcipherKeys.rsaPublic, signature: signature,
                message: AkcipherKeys.sha256Abc) == .ok)
        let ecdsa = AkcipherSessPara(
            algo: .ecdsa, keyType: .privateKey, u: .ecdsa(EcdsaSessionPara(curveId: .nistP256)))
        let ecSignature = try driver.akcipherStateless(
            .akcipherSign, parameters: ecdsa, key: AkcipherKeys.ecPrivate,
            input: AkcipherKeys.sha256Abc, capacity: 72)
        let ecPublic = AkcipherSessPara(algo: .ecdsa, keyType: .publicKey, u: ecdsa.u)
        #expect(
            try driver.akcipherVerifyStateless(
                parameters: ecPublic, key: AkcipherKeys.ecPublic, signature: ecSignature,
                message: AkcipherKeys.sha256Abc) == .ok)
        #expect(pair.device.sessions.count == 0)  // nothing outlives a stateless request
    }
}
