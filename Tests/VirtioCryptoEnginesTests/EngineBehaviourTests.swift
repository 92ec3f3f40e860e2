import Testing
import VirtioCryptoEngines
import VirtioCryptoWire

/// Edge cases beyond the vectors: key and length checks, tag mismatch, in-place
/// operation, large inputs, truncation, per-worker contexts.
struct EngineBehaviourTests {
    static let key16 = [UInt8](0..<16)
    static let key32 = [UInt8](0..<32)

    @Test func wrongKeyLengthsAreRefused() {
        for (algorithm, length) in [
            (CipherAlgorithm.aesCbc, 15), (.aesCbc, 33), (.aesXts, 16), (.desCbc, 16),
            (.tripleDesCbc, 8), (.kasumiF8, 8), (.snow3gUea2, 32), (.zucEea3, 0),
        ] {
            #expect(throws: CryptoError.invalidKeyLength) {
                try [UInt8](repeating: 1, count: length).withUnsafeBytes {
                    try CipherSession(algorithm: algorithm, key: $0, direction: .encrypt)
                }
            }
        }
        #expect(throws: CryptoError.invalidKeyLength) {
            try [UInt8](repeating: 1, count: 20).withUnsafeBytes {
                try AeadSession(algorithm: .gcm, key: $0, tagLength: 16, direction: .encrypt)
            }
        }
        #expect(throws: CryptoError.invalidKeyLength) {
            try [UInt8](repeating: 1, count: 17).withUnsafeBytes {
                try MacSession(algorithm: .cmacAes, key: $0, resultLength: 16)
            }
        }
        #expect(throws: CryptoError.unsupported) {
            try Self.key16.withUnsafeBytes { try CipherSession(algorithm: .unknown(99), key: $0, direction: .encrypt) }
        }
        #expect(CryptoError.invalidKeyLength.status == .err && CryptoError.unsupported.status == .notsupp)
    }

    @Test func wrongIVAndDataLengthsAreRefused() {
        #expect(throws: CryptoError.invalidIVLength) {
            _ = try runCipher(
                .aesCbc, key: Self.key16, iv: [UInt8](repeating: 0, count: 8), input: [UInt8](repeating: 0, count: 16),
                direction: .encrypt)
        }
        #expect(throws: CryptoError.invalidLength) {
            _ = try runCipher(
                .aesCbc, key: Self.key16, iv: [UInt8](repeating: 0, count: 16), input: [UInt8](repeating: 0, count: 15),
                direction: .encrypt)
        }
        #expect(throws: CryptoError.invalidIVLength) {
            _ = try runAead(
                .ccm, key: Self.key16, iv: [UInt8](repeating: 0, count: 14), aad: [], input: [1], tagLength: 8,
                direction: .encrypt)
        }
        #expect(throws: CryptoError.invalidLength) {
            _ = try runHash(.sha256, message: [], length: 33)
        }
        #expect(throws: CryptoError.invalidLength) {
            _ = try runMac(.hmacSha1, key: Self.key16, message: [], length: 21)
        }
    }

    @Test(arguments: [AeadAlgorithm.gcm, .ccm, .chacha20Poly1305])
    func tamperedCiphertextOrTagFailsAuthenticationAndReleasesNothing(algorithm: AeadAlgorithm) throws {
        let key = algorithm == .chacha20Poly1305 ? Self.key32 : Self.key16
        let iv = [UInt8](repeating: 7, count: 12)
        let plaintext = [UInt8](repeating: 0x42, count: 100)
        let sealed = try runAead(
            algorithm, key: key, iv: iv, aad: [1, 2, 3], input: plaintext, tagLength: 16, direction: .encrypt)
        #expect(
            try runAead(algorithm, key: key, iv: iv, aad: [1, 2, 3], input: sealed, tagLength: 16, direction: .decrypt)
                == plaintext)
        for position in [0, 99, 100, 115] {
            var tampered = sealed
            tampered[position] ^= 1
            #expect(throws: CryptoError.authenticationFailed) {
                _ = try runAead(
                    algorithm, key: key, iv: iv, aad: [1, 2, 3], input: tampered, tagLength: 16, direction: .decrypt)
            }
        }
        #expect(throws: CryptoError.authenticationFailed) {
            _ = try runAead(
                algorithm, key: key, iv: iv, aad: [1, 2, 4], input: sealed, tagLength: 16, direction: .decrypt)
        }
        // Nothing a caller could take for plaintext is left behind.
        let session = try key.withUnsafeBytes {
            try AeadSession(algorithm: algorithm, key: $0, tagLength: 16, direction: .decrypt)
        }
        let context = try session.makeContext()
        var tampered = sealed
        tampered[3] ^= 0x80
        var output = [UInt8](repeating: 0xaa, count: plaintext.count)
        _ = iv.withUnsafeBytes { ivBytes in
            [UInt8]([1, 2, 3]).withUnsafeBytes { aad in
                tampered.withUnsafeBytes { input in
                    output.withUnsafeMutableBytes { out in
                        #expect(throws: CryptoError.authenticationFailed) {
                            try context.run(iv: ivBytes, aad: aad, input: input, output: out)
                        }
                    }
                }
            }
        }
        #expect(output.allSatisfy { $0 == 0 })
    }

    @Test func gcmWithJ0MatchesGCMWithTheIVThatDerivesIt() throws {
        // For a 12-byte IV, J0 = IV ‖ 0x00000001 (SP 800-38D §7.1): both paths must agree.
        let iv = [UInt8](repeating: 0x5c, count: 12)
        let j0 = iv + [0, 0, 0, 1]
        let plaintext = [UInt8]((0..<77).map { UInt8($0) })
        for key in [Self.key16, [UInt8](0..<24), Self.key32] {
            let viaIV = try runAead(
                .gcm, key: key, iv: iv, aad: [9, 8, 7], input: plaintext, tagLength: 16, direction: .encrypt)
            let viaJ0 = try runAead(
                .gcm, key: key, iv: j0, aad: [9, 8, 7], input: plaintext, tagLength: 16, direction: .encrypt)
            #expect(viaIV == viaJ0)
            #expect(
                try runAead(.gcm, key: key, iv: j0, aad: [9, 8, 7], input: viaJ0, tagLength: 16, direction: .decrypt)
                    == plaintext)
        }
    }

    @Test(arguments: [
        CipherAlgorithm.aesCbc, .aesCtr, .aesXts, .aesF8, .tripleDesCtr, .arc4, .snow3gUea2, .zucEea3, .kasumiF8,
    ])
    func inPlaceEqualsOutOfPlaceAndLargeInputsRoundTrip(algorithm: CipherAlgorithm) throws {
        guard EngineCapabilities.probe().ciphers.contains(algorithm),
            let parameters = CipherSession.parameters(algorithm)
        else { return }
        let key = (0..<parameters.keyLengths.last!).map { UInt8(truncatingIfNeeded: $0 * 13 + 5) }
        let iv = [UInt8](repeating: 3, count: parameters.ivLength ?? 0)
        let input = (0..<min(4 << 20, parameters.maxDataLength)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let outOfPlace = try runCipher(algorithm, key: key, iv: iv, input: input, direction: .encrypt)
        let session = try key.withUnsafeBytes { try CipherSession(algorithm: algorithm, key: $0, direction: .encrypt) }
        let context = try session.makeContext()
        var buffer = input
        try iv.withUnsafeBytes { ivBytes in
            try buffer.withUnsafeMutableBytes {
                try context.run(iv: ivBytes, input: UnsafeRawBufferPointer($0), output: $0)
            }
        }
        // Compared as Bools: a failing #expect on 4 MiB arrays would spend minutes diffing them.
        let inPlaceMatches = buffer == outOfPlace
        #expect(inPlaceMatches, "in place differs from out of place")
        let changed = outOfPlace != input
        #expect(changed)
        let roundTrips = try runCipher(algorithm, key: key, iv: iv, input: outOfPlace, direction: .decrypt) == input
        #expect(roundTrips, "decrypt(encrypt(x)) != x")
        let repeatable = try runCipher(algorithm, key: key, iv: iv, input: input, direction: .encrypt) == outOfPlace
        #expect(repeatable, "a second run differs")
    }

    @Test func aesF8MatchesRFC3711() throws {
        // RFC 3711 Appendix B.1: AES-f8 with a 4-byte salt; our key is k_e ‖ k_s.
        let key = bytes(hex: "234829008467be186c3de14aae72d62c" + "32f2870d")
        let iv = bytes(hex: "006e5cba50681de55c621599d462564a")
        let plaintext = bytes(
            hex: "70736575646f72616e646f6d6e65737320697320746865206e65787420626573" + "74207468696e67")
        let ciphertext = bytes(
            hex: "019ce7a26e7854014a6366aa95d4eefd1ad4172a14f9faf455b7f1d4b62bd08f" + "562c0eef7c4802")
        #expect(try runCipher(.aesF8, key: key, iv: iv, input: plaintext, direction: .encrypt) == ciphertext)
        #expect(try runCipher(.aesF8, key: key, iv: iv, input: ciphertext, direction: .decrypt) == plaintext)
    }

    @Test func threeGPPLengthLimitsAreEnforced() {
        #expect(throws: CryptoError.invalidLength) {
            _ = try runCipher(
                .kasumiF8, key: Self.key16, iv: [UInt8](repeating: 0, count: 8),
                input: [UInt8](repeating: 0, count: 2501), direction: .encrypt)
        }
        #expect(throws: CryptoError.invalidLength) {
            _ = try runCipher(
                .zucEea3, key: Self.key16, iv: [UInt8](repeating: 0, count: 16),
                input: [UInt8](repeating: 0, count: 8189), direction: .encrypt)
        }
        #expect(throws: CryptoError.invalidLength) {
            _ = try runMac(.zucEia3, key: Self.key16, iv: [UInt8](repeating: 0, count: 16), message: [], length: 4)
        }
    }

    @Test func emptyInputsWhereLegal() throws {
        #expect(
            try runHash(.sha256, message: [], length: 32)
                == bytes(hex: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"))
        #expect(
            try runCipher(
                .aesCtr, key: Self.key16, iv: [UInt8](repeating: 0, count: 16), input: [], direction: .encrypt) == [])
        let tagOnly = try runAead(
            .gcm, key: Self.key16, iv: [UInt8](repeating: 0, count: 12), aad: [], input: [], tagLength: 16,
            direction: .encrypt)
        #expect(tagOnly.count == 16)
        #expect(
            try runAead(
                .gcm, key: Self.key16, iv: [UInt8](repeating: 0, count: 12), aad: [], input: tagOnly, tagLength: 16,
                direction: .decrypt) == [])
    }

    @Test func truncatedResultsArePrefixesOfTheFullOnes() throws {
        let message = [UInt8]("The quick brown fox".utf8)
        let fullHash = try runHash(.sha512, message: message, length: 64)
        #expect(try runHash(.sha512, message: message, length: 20) == Array(fullHash.prefix(20)))
        let fullMac = try runMac(.hmacSha256, key: Self.key32, message: message, length: 32)
        #expect(try runMac(.hmacSha256, key: Self.key32, message: message, length: 12) == Array(fullMac.prefix(12)))
        let shake = try runHash(.sha3Shake256, message: message, length: 200)
        #expect(try runHash(.sha3Shake256, message: message, length: 17) == Array(shake.prefix(17)))
        let fullTag = try runAead(
            .gcm, key: Self.key16, iv: [UInt8](repeating: 1, count: 12), aad: [], input: message, tagLength: 16,
            direction: .encrypt)
        let shortTag = try runAead(
            .gcm, key: Self.key16, iv: [UInt8](repeating: 1, count: 12), aad: [], input: message, tagLength: 8,
            direction: .encrypt)
        #expect(shortTag == Array(fullTag.prefix(message.count + 8)))
    }

    @Test func hashOfPartsEqualsHashOfTheWhole() throws {
        let big = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let context = try HashSession(algorithm: .sha256, resultLength: 32).makeContext()
        var whole = [UInt8](repeating: 0, count: 32)
        var split = [UInt8](repeating: 0, count: 32)
        try big.withUnsafeBytes { all in
            try whole.withUnsafeMutableBytes { try context.digest(all, into: $0) }
            try split.withUnsafeMutableBytes {
                try context.digest(
                    parts: UnsafeRawBufferPointer(rebasing: all[0..<1000]),
                    UnsafeRawBufferPointer(rebasing: all[1000...]), into: $0)
            }
        }
        let same = whole == split
        #expect(same)
    }

    @Test func chainingCipherThenHashAuthenticatesTheCiphertext() throws {
        let cipher = try Self.key16.withUnsafeBytes {
            try CipherSession(algorithm: .aesCbc, key: $0, direction: .encrypt)
        }
        let mac = try Self.key32.withUnsafeBytes { try MacSession(algorithm: .hmacSha1, key: $0, resultLength: 20) }
        let chain = try ChainSession(cipher: cipher, authenticator: .mac(mac), order: .cipherThenHash)
        let context = try chain.makeContext()
        let src = [UInt8]((0..<72).map { UInt8($0) })  // 8-byte header, 64 bytes to encrypt
        let iv = [UInt8](repeating: 9, count: 16)
        let aad = [UInt8](repeating: 0xa5, count: 8)
        var dst = [UInt8](repeating: 0, count: 72)
        var tag = [UInt8](repeating: 0, count: 20)
        try iv.withUnsafeBytes { ivBytes in
            try src.withUnsafeBytes { source in
                try aad.withUnsafeBytes { aadBytes in
                    try dst.withUnsafeMutableBytes { out in
                        try tag.withUnsafeMutableBytes { result in
                            try context.run(
                                iv: ivBytes, src: source, cipherRange: 8..<72, hashRange: 0..<72, aad: aadBytes,
                                dst: out, hashResult: result)
                        }
                    }
                }
            }
        }
        #expect(Array(dst[0..<8]) == Array(src[0..<8]))
        #expect(
            Array(dst[8...])
                == (try runCipher(.aesCbc, key: Self.key16, iv: iv, input: Array(src[8...]), direction: .encrypt)))
        #expect(tag == (try runMac(.hmacSha1, key: Self.key32, message: aad + dst, length: 20)))
    }

    @Test func capabilitiesListWhatWorks() {
        let capabilities = EngineCapabilities.probe()
        // With OpenSSL 3 (legacy provider) and IPsec-MB installed, as .ci/run does.
        #expect(capabilities.ciphers == CipherAlgorithm.known.filter { $0 != .noCipher })
        #expect(capabilities.macs == MacAlgorithm.known.filter { $0 != .noMac && $0 != .cbcmacKasumiF9 })
        #expect(capabilities.hashes.count == 12)
        #expect(capabilities.aeads == [.gcm, .chacha20Poly1305], "CCM is marked unsupported in Spec/constants.yaml")
        #expect(capabilities.maxCipherKeyLength >= 64)
        #expect(!capabilities.ciphers.contains(.noCipher))
    }
}
