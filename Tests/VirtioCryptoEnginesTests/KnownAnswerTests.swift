import Testing
import VirtioCryptoEngines
import VirtioCryptoWire

/// Every supported algorithm against published vectors (or, where none is published, an
/// independent implementation's output); KnownAnswers.json names the source of each.
struct KnownAnswerTests {
    static let capabilities = EngineCapabilities.probe()

    @Test func everyAdvertisedAlgorithmHasVectors() {
        let ciphers = KnownAnswers.section("cipher") + KnownAnswers.section("differential")
        for algorithm in Self.capabilities.ciphers {
            #expect(
                ciphers.contains { cipherAlgorithm($0["algorithm"] as? String ?? "") == algorithm },
                "no vector for \(algorithm)")
        }
        for algorithm in Self.capabilities.hashes {
            #expect(
                KnownAnswers.section("hash").contains { hashAlgorithm($0["algorithm"] as! String) == algorithm },
                "no vector for \(algorithm)")
        }
        for algorithm in Self.capabilities.macs {
            let all = KnownAnswers.section("mac") + KnownAnswers.section("differential")
            #expect(
                all.contains { macAlgorithm($0["algorithm"] as? String ?? "") == algorithm },
                "no vector for \(algorithm)")
        }
        for algorithm in Self.capabilities.aeads {
            #expect(
                KnownAnswers.section("aead").contains { aeadAlgorithm($0["algorithm"] as! String) == algorithm },
                "no vector for \(algorithm)")
        }
    }

    static func cipherVectors() -> [[String: Any]] {
        KnownAnswers.section("cipher")
            + KnownAnswers.section("differential").filter { $0["kind"] as? String == "cipher" }
    }

    /// Equal up to `bits`: 3GPP vectors may end inside a byte; stream ciphers leave the
    /// unused low bits of the last byte as the keystream makes them.
    static func equal(_ a: [UInt8], _ b: [UInt8], bits: Int?) -> Bool {
        guard let bits, bits % 8 != 0 else { return a == b }
        let whole = bits / 8
        let mask = UInt8(0xff) << UInt8(8 - bits % 8)
        return a.count == b.count && a.prefix(whole) == b.prefix(whole) && a[whole] & mask == b[whole] & mask
    }

    @Test func ciphersEncryptAndDecryptPublishedVectors() throws {
        var checked = 0
        var algorithms: Set<CipherAlgorithm> = []
        for vector in Self.cipherVectors() {
            guard let algorithm = cipherAlgorithm(vector["algorithm"] as! String),
                Self.capabilities.ciphers.contains(algorithm)
            else { continue }
            let plaintext = vector.hex("plaintext")
            let ciphertext = vector.hex("ciphertext")
            let bits = vector["length-bits"] as? Int
            // AES-F8 keys carry the salt after the AES key (see AesF8Context).
            let key = vector.hex("key") + vector.hex("salt")
            let encrypted = try runCipher(
                algorithm, key: key, iv: vector.hex("iv"), input: plaintext, direction: .encrypt)
            #expect(Self.equal(encrypted, ciphertext, bits: bits), "\(vector.source)")
            let decrypted = try runCipher(
                algorithm, key: key, iv: vector.hex("iv"), input: ciphertext, direction: .decrypt)
            #expect(Self.equal(decrypted, plaintext, bits: bits), "\(vector.source)")
            checked += 1
            algorithms.insert(algorithm)
        }
        #expect(checked >= 20)
        #expect(algorithms == Set(Self.capabilities.ciphers), "every supported cipher ran at least one vector")
    }

    @Test func hashesMatchPublishedDigests() throws {
        var checked = 0
        var algorithms: Set<HashAlgorithm> = []
        for vector in KnownAnswers.section("hash") {
            guard let algorithm = hashAlgorithm(vector["algorithm"] as! String) else { continue }
            let digest = vector.hex("digest")
            #expect(
                try runHash(algorithm, message: vector.hex("message"), length: digest.count) == digest,
                "\(vector.source)")
            checked += 1
            algorithms.insert(algorithm)
        }
        #expect(checked >= 12)
        #expect(algorithms == Set(Self.capabilities.hashes), "every supported hash ran at least one vector")
    }

    @Test func macsMatchPublishedValues() throws {
        var checked = 0
        var algorithms: Set<MacAlgorithm> = []
        let vectors =
            KnownAnswers.section("mac") + KnownAnswers.section("differential").filter { $0["kind"] as? String == "mac" }
        for vector in vectors where vector["length-bits"] == nil {
            guard let algorithm = macAlgorithm(vector["algorithm"] as! String),
                Self.capabilities.macs.contains(algorithm)
            else { continue }
            var iv = vector.hex("iv")
            if algorithm == .kasumiF9 {
                // Our KASUMI F9 IV: COUNT ‖ FRESH, then the direction bit.
                iv = vector.hex("count") + vector.hex("fresh") + [vector.hex("direction").last ?? 0]
            }
            let expected = vector.hex("mac")
            let computed = try runMac(
                algorithm, key: vector.hex("key"), iv: iv, message: vector.hex("message"), length: expected.count)
            #expect(computed == expected, "\(vector.source)")
            if let truncated = vector["truncated-mac"] as? String {
                let short = bytes(hex: truncated)
                #expect(
                    try runMac(
                        algorithm, key: vector.hex("key"), iv: iv, message: vector.hex("message"), length: short.count)
                        == short)
            }
            checked += 1
            algorithms.insert(algorithm)
        }
        #expect(checked >= 15)
        #expect(algorithms == Set(Self.capabilities.macs), "every supported MAC ran at least one vector")
    }

    @Test func aeadsSealAndOpenPublishedVectors() throws {
        var checked = 0
        var algorithms: Set<AeadAlgorithm> = []
        for vector in KnownAnswers.section("aead") {
            guard let algorithm = aeadAlgorithm(vector["algorithm"] as! String) else { continue }
            let tag = vector.hex("tag")
            var iv = vector.hex("iv")
            if algorithm == .gcm && iv.count != 12 {
                guard vector["j0"] != nil else { continue }
                iv = vector.hex("j0")  // the seed's 16-byte form: J0 itself
            }
            let sealed = try runAead(
                algorithm, key: vector.hex("key"), iv: iv, aad: vector.hex("aad"),
                input: vector.hex("plaintext"), tagLength: tag.count, direction: .encrypt)
            #expect(sealed == vector.hex("ciphertext") + tag, "\(vector.source)")
            let opened = try runAead(
                algorithm, key: vector.hex("key"), iv: iv, aad: vector.hex("aad"),
                input: vector.hex("ciphertext") + tag, tagLength: tag.count, direction: .decrypt)
            #expect(opened == vector.hex("plaintext"), "\(vector.source)")
            checked += 1
            algorithms.insert(algorithm)
        }
        #expect(checked >= 8)
        #expect(algorithms.isSuperset(of: Self.capabilities.aeads), "every offered AEAD ran at least one vector")
        #expect(algorithms.contains(.ccm), "CCM is not offered (ambiguous IV layout) but its engine is still verified")
    }
}
