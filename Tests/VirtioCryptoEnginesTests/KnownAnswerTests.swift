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
            #expect(ciphers.contains { cipherAlgorithm($0["algorithm"] as? String ?? "") == algorithm }, "no vector for \(algorithm)")
        }
        for algorithm in Self.capabilities.hashes {
            #expect(KnownAnswers.section("hash").contains { hashAlgorithm($0["algorithm"] as! String) == algorithm }, "no vector for \(algorithm)")
        }
        for algorithm in Self.capabilities.macs {
            let all = KnownAnswers.section("mac") + KnownAnswers.section("differential")
            #expect(all.contains { macAlgorithm($0["algorithm"] as? String ?? "") == algorithm }, "no vector for \(algorithm)")
        }
        for algorithm in Self.capabilities.aeads {
            #expect(KnownAnswers.section("aead").contains { aeadAlgorithm($0["algorithm"] as! String) == algorithm }, "no vector for \(algorithm)")
        }
    }

    static func cipherVectors() -> [[String: Any]] {
        (KnownAnswers.section("cipher") + KnownAnswers.section("differential").filter { $0["kind"] as? String == "cipher" })
            .filter { $0["length-bits"] == nil && $0["salt"] == nil }
    }

    @Test func ciphersEncryptAndDecryptPublishedVectors() throws {
        var checked = 0
        for vector in Self.cipherVectors() {
            guard let algorithm = cipherAlgorithm(vector["algorithm"] as! String),
                  Self.capabilities.ciphers.contains(algorithm) else { continue }
            let plaintext = vector.hex("plaintext")
            let ciphertext = vector.hex("ciphertext")
            let encrypted = try runCipher(algorithm, key: vector.hex("key"), iv: vector.hex("iv"), input: plaintext, direction: .encrypt)
            #expect(encrypted == ciphertext, "\(vector.source)")
            let decrypted = try runCipher(algorithm, key: vector.hex("key"), iv: vector.hex("iv"), input: ciphertext, direction: .decrypt)
            #expect(decrypted == plaintext, "\(vector.source)")
            checked += 1
        }
        #expect(checked >= 20)
    }

    @Test func hashesMatchPublishedDigests() throws {
        var checked = 0
        for vector in KnownAnswers.section("hash") {
            guard let algorithm = hashAlgorithm(vector["algorithm"] as! String) else { continue }
            let digest = vector.hex("digest")
            #expect(try runHash(algorithm, message: vector.hex("message"), length: digest.count) == digest, "\(vector.source)")
            checked += 1
        }
        #expect(checked >= 12)
    }

    @Test func macsMatchPublishedValues() throws {
        var checked = 0
        let vectors = KnownAnswers.section("mac") + KnownAnswers.section("differential").filter { $0["kind"] as? String == "mac" }
        for vector in vectors where vector["length-bits"] == nil {
            guard let algorithm = macAlgorithm(vector["algorithm"] as! String), Self.capabilities.macs.contains(algorithm) else { continue }
            var iv = vector.hex("iv")
            if algorithm == .kasumiF9 {
                // Our KASUMI F9 IV: COUNT ‖ FRESH, then the direction bit.
                iv = vector.hex("count") + vector.hex("fresh") + [vector.hex("direction").last ?? 0]
            }
            let expected = vector.hex("mac")
            let computed = try runMac(algorithm, key: vector.hex("key"), iv: iv, message: vector.hex("message"), length: expected.count)
            #expect(computed == expected, "\(vector.source)")
            if let truncated = vector["truncated-mac"] as? String {
                let short = bytes(hex: truncated)
                #expect(try runMac(algorithm, key: vector.hex("key"), iv: iv, message: vector.hex("message"), length: short.count) == short)
            }
            checked += 1
        }
        #expect(checked >= 15)
    }

    @Test func aeadsSealAndOpenPublishedVectors() throws {
        var checked = 0
        for vector in KnownAnswers.section("aead") {
            guard let algorithm = aeadAlgorithm(vector["algorithm"] as! String) else { continue }
            let tag = vector.hex("tag")
            var iv = vector.hex("iv")
            if algorithm == .gcm && iv.count != 12 {
                guard vector["j0"] != nil else { continue }
                iv = vector.hex("j0")  // the seed's 16-byte form: J0 itself
            }
            let sealed = try runAead(algorithm, key: vector.hex("key"), iv: iv, aad: vector.hex("aad"),
                                     input: vector.hex("plaintext"), tagLength: tag.count, direction: .encrypt)
            #expect(sealed == vector.hex("ciphertext") + tag, "\(vector.source)")
            let opened = try runAead(algorithm, key: vector.hex("key"), iv: iv, aad: vector.hex("aad"),
                                     input: vector.hex("ciphertext") + tag, tagLength: tag.count, direction: .decrypt)
            #expect(opened == vector.hex("plaintext"), "\(vector.source)")
            checked += 1
        }
        #expect(checked >= 8)
    }
}
