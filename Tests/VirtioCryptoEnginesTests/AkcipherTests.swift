import Foundation
import Testing
import VirtioCryptoEngines
import VirtioCryptoWire

/// RSA and ECDSA against published vectors (NIST CAVP FIPS 186-3, RSA Laboratories PKCS#1 v1.5
/// examples), values other implementations made, and malformed keys; AkcipherVectors.json names
/// the source of each (scripts/akcipher-vectors.py wrote it).
struct AkcipherKnownAnswerTests {
    static let capabilities = EngineCapabilities.probe()

    @Test func capabilitiesListWhatOpenSSL3Provides() {
        let capabilities = Self.capabilities
        #expect(capabilities.akciphers == [.rsa, .ecdsa])
        #expect(capabilities.curves == [.nistP192, .nistP224, .nistP256, .nistP384, .nistP521])
        // OpenSSL 3's default provider has all of these; MD4 comes with the legacy provider.
        #expect(Set(capabilities.rsaHashes).isSuperset(of: [.noHash, .md5, .sha1, .sha224, .sha256, .sha384, .sha512]))
        #expect(!capabilities.rsaHashes.contains(.md3), "MD3 names no hash function")
        #expect(capabilities.maxAkcipherKeyLength == AkcipherSession.defaultMaxKeyLength)
        for hash in capabilities.rsaHashes {
            #expect(
                AkcipherVectors.section("rsa-signature").contains {
                    rsaHash($0["hash"] as! String) == hash && $0["result"] as? String == "valid"
                },
                "no valid vector for \(hash)")
        }
    }

    @Test func rsaSignaturesMatchPublishedVectors() throws {
        var validRuns: [RsaHashAlgorithm: Int] = [:]
        var invalidRuns = 0
        for vector in AkcipherVectors.section("rsa-signature") {
            let hash = rsaHash(vector["hash"] as! String)
            let digest = vector.hex("digest")
            let signature = vector.hex("signature")
            for variant in AkcipherVectors.variants(vector["key"] as! String) {
                let where_ = "\(vector.source) [\(variant.name)]"
                let context = try akSession(variant.der, variant.type, .rsa(padding: .pkcs1, hash: hash)).makeContext()
                guard Self.capabilities.rsaHashes.contains(hash) else {
                    // A hash OpenSSL lacks (MD2) stops SIGN and VERIFY only.
                    #expect(
                        akError { try AkcipherRun.verify(context, signature: signature, message: digest) }
                            == .unsupported, "\(where_)")
                    if variant.type == .privateKey {
                        #expect(akError { _ = try AkcipherRun.sign(context, digest) } == .unsupported, "\(where_)")
                    }
                    continue
                }
                let verified = akError { try AkcipherRun.verify(context, signature: signature, message: digest) }
                switch vector["result"] as! String {
                case "valid":
                    #expect(verified == nil, "\(where_)")
                    if variant.type == .privateKey {
                        // RSASSA-PKCS1-v1_5 is deterministic (RFC 8017 §8.2.1): signing must give the published value.
                        #expect(try AkcipherRun.sign(context, digest) == signature, "\(where_)")
                    }
                    validRuns[hash, default: 0] += 1
                case "invalid":
                    #expect(verified == .verificationFailed, "\(where_)")
                    invalidRuns += 1
                case "invalid-length":
                    #expect(verified == .invalidLength, "\(where_)")
                    if variant.type == .privateKey {
                        #expect(akError { _ = try AkcipherRun.sign(context, digest) } == .invalidLength, "\(where_)")
                    }
                default:
                    Issue.record("unknown result in \(where_)")
                }
            }
        }
        for hash in Self.capabilities.rsaHashes {
            #expect(validRuns[hash, default: 0] > 0, "no valid vector ran for \(hash)")
        }
        #expect(validRuns.values.reduce(0, +) >= 100 && invalidRuns >= 150)
    }

    @Test func rsaEncryptionMatchesPublishedVectors() throws {
        var runs = 0
        for vector in AkcipherVectors.section("rsa-encryption") {
            let padding: RsaPadding = vector["padding"] as! String == "raw" ? .raw : .pkcs1
            let plaintext = vector.hex("plaintext")
            let ciphertext = vector.hex("ciphertext")
            let keys = AkcipherVectors.variants(vector["key"] as! String)
            let publicKey = try #require(keys.first { $0.type == .publicKey })
            let privateKey = try #require(keys.first { $0.type == .privateKey })
            // hash_algo is ignored by ENCRYPT and DECRYPT; SHA-1 is what Linux sends for them.
            let parameters = AkcipherParameters.rsa(padding: padding, hash: .sha1)
            let encryptor = try akSession(publicKey.der, .publicKey, parameters).makeContext()
            let decryptor = try akSession(privateKey.der, .privateKey, parameters).makeContext()
            let k = encryptor.session.maxOutputLength
            switch (vector["result"] as! String, padding) {
            case ("ok", .raw):
                #expect(try AkcipherRun.encrypt(encryptor, plaintext) == ciphertext, "\(vector.source)")
                #expect(
                    try AkcipherRun.encrypt(decryptor, plaintext) == ciphertext,
                    "\(vector.source) [private key encrypts too]")
                // The result has exactly k bytes, leading zeros kept (dev.akcipher-session.rsa-raw-output-leading-zeros).
                #expect(
                    try AkcipherRun.decrypt(decryptor, ciphertext) == [UInt8](repeating: 0, count: k - plaintext.count)
                        + plaintext,
                    "\(vector.source)")
            case ("ok", _):
                #expect(try AkcipherRun.decrypt(decryptor, ciphertext) == plaintext, "\(vector.source)")
                let sealed = try AkcipherRun.encrypt(encryptor, plaintext)
                #expect(sealed.count == k && sealed != ciphertext, "fresh random padding (RFC 8017 §7.2.1)")
                #expect(try AkcipherRun.decrypt(decryptor, sealed) == plaintext, "\(vector.source) [round trip]")
            case ("invalid-input", .raw):
                #expect(
                    akError { _ = try AkcipherRun.encrypt(encryptor, plaintext) } == .invalidInput, "\(vector.source)")
                #expect(
                    akError { _ = try AkcipherRun.decrypt(decryptor, plaintext) } == .invalidInput, "\(vector.source)")
            case ("invalid-length", _):
                #expect(
                    akError { _ = try AkcipherRun.encrypt(encryptor, plaintext) } == .invalidLength, "\(vector.source)")
                #expect(
                    akError { _ = try AkcipherRun.decrypt(decryptor, plaintext) } == .invalidLength, "\(vector.source)")
            default:
                Issue.record("unknown result in \(vector.source)")
            }
            runs += 1
        }
        #expect(runs >= 40)
    }

    @Test func ecdsaSignaturesMatchPublishedVectors() throws {
        var validRuns: [EccCurve: Int] = [:]
        var invalidRuns = 0
        for vector in AkcipherVectors.section("ecdsa-signature") {
            let id = vector["key"] as! String
            let curve = eccCurve(AkcipherVectors.key(id)["curve"] as! String)
            guard Self.capabilities.curves.contains(curve) else { continue }
            let digest = vector.hex("digest")
            let signature = vector.hex("signature")
            var contexts: [(name: String, type: AkcipherKeyType, context: AkcipherContext)] = []
            for variant in AkcipherVectors.variants(id) {
                let created = Result { try akSession(variant.der, variant.type, .ecdsa(curve: curve)) }
                if vector["result"] as? String == "invalid-key" {
                    #expect(akError { _ = try created.get() } == .invalidKey, "\(vector.source) [\(variant.name)]")
                } else {
                    contexts.append((variant.name, variant.type, try created.get().makeContext()))
                }
            }
            for (name, type, context) in contexts {
                let where_ = "\(vector.source) [\(name)]"
                let verified = akError { try AkcipherRun.verify(context, signature: signature, message: digest) }
                switch vector["result"] as! String {
                case "valid":
                    #expect(verified == nil, "\(where_)")
                    validRuns[curve, default: 0] += 1
                    guard type == .privateKey else { continue }
                    // ECDSA signatures are randomised: the engine's own must verify, here and with the public key.
                    let own = try AkcipherRun.sign(context, digest)
                    #expect(own.count <= context.session.maxOutputLength)
                    for (_, _, verifier) in contexts {
                        #expect(
                            akError { try AkcipherRun.verify(verifier, signature: own, message: digest) } == nil,
                            "\(where_) [own signature]")
                    }
                case "invalid":
                    #expect(verified == .verificationFailed, "\(where_)")
                    invalidRuns += 1
                case "invalid-key":
                    break
                default:
                    Issue.record("unknown result in \(where_)")
                }
            }
        }
        for curve in Self.capabilities.curves {
            #expect(validRuns[curve, default: 0] >= 20, "valid vectors run for \(curve)")
        }
        #expect(invalidRuns >= 150)
    }
}

/// Keys the spec's encodings do not describe, limits, and which operations each session allows.
struct AkcipherBehaviourTests {
    nonisolated(unsafe) static let rsa2048 = AkcipherVectors.key("cavp-sigver15-2048")
    nonisolated(unsafe) static let p256 = AkcipherVectors.key("cavp-ecdsa-siggen-nist-p256-sha256")

    @Test func malformedKeysAreRefusedWithTypedErrors() {
        var checked = 0
        for vector in AkcipherVectors.section("bad-keys") {
            let parameters: AkcipherParameters =
                vector["algorithm"] as! String == "rsa"
                ? .rsa(padding: .pkcs1, hash: .sha256) : .ecdsa(curve: eccCurve(vector["curve"] as! String))
            let type: AkcipherKeyType = vector["key-type"] as! String == "public" ? .publicKey : .privateKey
            #expect(
                akError { _ = try akSession(vector.hex("key"), type, parameters) } == .invalidKey, "\(vector.source)")
            checked += 1
        }
        #expect(checked >= 25)
        // Every good key, cut short or followed by one more byte, is no longer that DER structure.
        let good: [([UInt8], AkcipherKeyType, AkcipherParameters)] = [
            (bytes(hex: Self.rsa2048["private"] as! String), .privateKey, .rsa(padding: .raw, hash: .noHash)),
            (bytes(hex: Self.rsa2048["public"] as! String), .publicKey, .rsa(padding: .raw, hash: .noHash)),
            (bytes(hex: Self.p256["private"] as! String), .privateKey, .ecdsa(curve: .nistP256)),
            (bytes(hex: Self.p256["private-no-parameters"] as! String), .privateKey, .ecdsa(curve: .nistP256)),
            (bytes(hex: Self.p256["public"] as! String), .publicKey, .ecdsa(curve: .nistP256)),
            (bytes(hex: Self.p256["public-compressed"] as! String), .publicKey, .ecdsa(curve: .nistP256)),
        ]
        for (key, type, parameters) in good {
            #expect(akError { _ = try akSession(key, type, parameters) } == nil)
            for length in Set([0, 1, 2, 3, 7, key.count / 2, key.count - 2, key.count - 1]) {
                #expect(
                    akError { _ = try akSession(Array(key.prefix(length)), type, parameters) } == .invalidKey,
                    "\(parameters) \(type) cut to \(length) of \(key.count) bytes")
            }
            #expect(
                akError { _ = try akSession(key + [0], type, parameters) } == .invalidKey,
                "\(parameters) \(type) with a trailing byte")
        }
    }

    @Test func keysLongerThanTheLimitAreRefusedBeforeParsing() throws {
        let key = bytes(hex: Self.rsa2048["private"] as! String)
        let parameters = AkcipherParameters.rsa(padding: .pkcs1, hash: .sha256)
        #expect(
            akError { _ = try akSession(key, .privateKey, parameters, maxKeyLength: key.count - 1) }
                == .invalidKeyLength)
        #expect(akError { _ = try akSession(key, .privateKey, parameters, maxKeyLength: key.count) } == nil)
        // Garbage one byte over the default limit: refused for its length, not parsed (no .invalidKey).
        let garbage = patternBytes(AkcipherSession.defaultMaxKeyLength + 1, seed: 1)
        #expect(akError { _ = try akSession(garbage, .privateKey, parameters) } == .invalidKeyLength)
        // The default fits the published RSA-4096 private key (NIST CAVP SigVer15 [mod = 4096]).
        let rsa4096 = bytes(hex: AkcipherVectors.key("cavp-sigver15-4096")["private"] as! String)
        #expect(rsa4096.count <= AkcipherSession.defaultMaxKeyLength && AkcipherSession.defaultMaxKeyLength == 2353)
        #expect(akError { _ = try akSession(rsa4096, .privateKey, parameters) } == nil)
    }

    @Test func parametersTheSpecDoesNotDefineAreNotSupported() {
        let rsa = bytes(hex: Self.rsa2048["private"] as! String)
        let ec = bytes(hex: Self.p256["private"] as! String)
        #expect(akError { _ = try akSession(rsa, .unknown(3), .rsa(padding: .pkcs1, hash: .sha256)) } == .unsupported)
        #expect(
            akError { _ = try akSession(rsa, .privateKey, .rsa(padding: .unknown(2), hash: .sha256)) } == .unsupported)
        #expect(akError { _ = try akSession(rsa, .privateKey, .rsa(padding: .pkcs1, hash: .md3)) } == .unsupported)
        #expect(
            akError { _ = try akSession(rsa, .privateKey, .rsa(padding: .pkcs1, hash: .unknown(10))) } == .unsupported)
        // RAW ignores hash_algo, whatever its value (dev.akcipher-session.rsa-raw-hash-algo-ignored).
        #expect(akError { _ = try akSession(rsa, .privateKey, .rsa(padding: .raw, hash: .md3)) } == nil)
        #expect(akError { _ = try akSession(rsa, .privateKey, .rsa(padding: .raw, hash: .unknown(99))) } == nil)
        #expect(akError { _ = try akSession(ec, .privateKey, .ecdsa(curve: .unknownCurve)) } == .unsupported)
        #expect(akError { _ = try akSession(ec, .privateKey, .ecdsa(curve: .unknown(6))) } == .unsupported)
        #expect(CryptoError.unsupported.status == .notsupp && CryptoError.verificationFailed.status == .keyRejected)
        for error in [CryptoError.invalidKey, .privateKeyRequired, .invalidInput, .invalidKeyLength, .invalidLength] {
            #expect(error.status == .err)
        }
    }

    @Test func operationsFollowKeyTypePaddingAndAlgorithm() throws {
        let rsaPublic = bytes(hex: Self.rsa2048["public"] as! String)
        let rsaPrivate = bytes(hex: Self.rsa2048["private"] as! String)
        let digest = [UInt8](repeating: 7, count: 32)
        let signature = [UInt8](repeating: 1, count: 256)
        let publicPKCS1 = try akSession(rsaPublic, .publicKey, .rsa(padding: .pkcs1, hash: .sha256)).makeContext()
        #expect(akError { _ = try AkcipherRun.decrypt(publicPKCS1, signature) } == .privateKeyRequired)
        #expect(akError { _ = try AkcipherRun.sign(publicPKCS1, digest) } == .privateKeyRequired)
        // RAW sessions are not for SIGN or VERIFY (drv.akcipher-session.rsa-raw-not-for-sign-verify).
        let raw = try akSession(rsaPrivate, .privateKey, .rsa(padding: .raw, hash: .sha256)).makeContext()
        #expect(akError { _ = try AkcipherRun.sign(raw, digest) } == .unsupported)
        #expect(akError { try AkcipherRun.verify(raw, signature: signature, message: digest) } == .unsupported)
        // ECDSA signs and verifies only (errata of akcipher-algorithm.ecdsa).
        let ecPrivate = try akSession(
            bytes(hex: Self.p256["private"] as! String), .privateKey, .ecdsa(curve: .nistP256)
        ).makeContext()
        let ecPublic = try akSession(bytes(hex: Self.p256["public"] as! String), .publicKey, .ecdsa(curve: .nistP256))
            .makeContext()
        for context in [ecPrivate, ecPublic] {
            #expect(akError { _ = try AkcipherRun.encrypt(context, digest) } == .unsupported)
            #expect(akError { _ = try AkcipherRun.decrypt(context, digest) } == .unsupported)
        }
        #expect(akError { _ = try AkcipherRun.sign(ecPublic, digest) } == .privateKeyRequired)
        // A PKCS1 session naming a hash OpenSSL lacks still encrypts and decrypts.
        for hash in RsaHashAlgorithm.known
        where hash != .md3 && !AkcipherKnownAnswerTests.capabilities.rsaHashes.contains(hash) {
            let context = try akSession(rsaPrivate, .privateKey, .rsa(padding: .pkcs1, hash: hash)).makeContext()
            let sealed = try AkcipherRun.encrypt(context, [1, 2, 3])
            #expect(try AkcipherRun.decrypt(context, sealed) == [1, 2, 3], "\(hash)")
            #expect(
                akError { _ = try AkcipherRun.sign(context, [UInt8](repeating: 0, count: 16)) } == .unsupported,
                "\(hash)")
        }
    }

    @Test func resultLengthsAndDestinationSizes() throws {
        #expect(
            try akSession(bytes(hex: Self.rsa2048["public"] as! String), .publicKey, .rsa(padding: .raw, hash: .noHash))
                .maxOutputLength == 256)
        let odd = AkcipherVectors.key("rsa-labs-sign-7")  // a 1025-bit modulus: k = 129
        #expect(
            try akSession(bytes(hex: odd["public"] as! String), .publicKey, .rsa(padding: .raw, hash: .noHash))
                .maxOutputLength == 129)
        // The DER of SEQUENCE { r, s } with both at their longest: 72 bytes on P-256, 139 on P-521.
        #expect(
            try akSession(bytes(hex: Self.p256["public"] as! String), .publicKey, .ecdsa(curve: .nistP256))
                .maxOutputLength == 72)
        let p521 = AkcipherVectors.key("cavp-ecdsa-siggen-nist-p521-sha256")
        #expect(
            try akSession(bytes(hex: p521["public"] as! String), .publicKey, .ecdsa(curve: .nistP521)).maxOutputLength
                == 139)

        let rsa = try akSession(
            bytes(hex: Self.rsa2048["private"] as! String), .privateKey, .rsa(padding: .pkcs1, hash: .sha256)
        ).makeContext()
        let message = [UInt8](repeating: 0x33, count: 20)
        #expect(akError { _ = try AkcipherRun.encrypt(rsa, message, capacity: 255) } == .invalidLength)
        #expect(
            akError { _ = try AkcipherRun.sign(rsa, [UInt8](repeating: 0, count: 32), capacity: 255) } == .invalidLength
        )
        let sealed = try AkcipherRun.encrypt(rsa, message)
        // A PKCS#1 plaintext may go to a destination shorter than k, as long as it fits.
        #expect(try AkcipherRun.decrypt(rsa, sealed, capacity: 20) == message)
        #expect(akError { _ = try AkcipherRun.decrypt(rsa, sealed, capacity: 19) } == .invalidLength)
        var tampered = sealed
        tampered[128] ^= 0x40
        #expect(
            akError { _ = try AkcipherRun.decrypt(rsa, tampered) } == .invalidInput,
            "PKCS#1 v1.5 block that does not decode")
        #expect(
            akError { _ = try AkcipherRun.decrypt(rsa, Array(sealed.dropFirst())) } == .invalidLength,
            "k − 1 byte ciphertext")
        let raw = try akSession(
            bytes(hex: Self.rsa2048["private"] as! String), .privateKey, .rsa(padding: .raw, hash: .noHash)
        ).makeContext()
        #expect(akError { _ = try AkcipherRun.decrypt(raw, [5], capacity: 255) } == .invalidLength)

        let ec = try akSession(bytes(hex: Self.p256["private"] as! String), .privateKey, .ecdsa(curve: .nistP256))
            .makeContext()
        let digest = [UInt8](repeating: 0x44, count: 32)
        #expect(akError { _ = try AkcipherRun.sign(ec, digest, capacity: 8) } == .invalidLength)
        // ECDSA signatures are shorter than the maximum when r or s is: a destination of 70 bytes
        // holds most of them (both r and s have their top bit set in about a quarter of signatures).
        var fitted = 0
        for _ in 0..<24 {
            switch Result(catching: { try AkcipherRun.sign(ec, digest, capacity: 70) }) {
            case .success(let signature):
                #expect(
                    signature.count <= 70
                        && akError { try AkcipherRun.verify(ec, signature: signature, message: digest) } == nil)
                fitted += 1
            case .failure(let error):
                #expect(error as? CryptoError == .invalidLength)
            }
        }
        #expect(fitted > 0)
        // An empty digest is the integer 0 (FIPS 186-4 §6.4); it signs and verifies like any other.
        let empty = try AkcipherRun.sign(ec, [])
        #expect(akError { try AkcipherRun.verify(ec, signature: empty, message: []) } == nil)
    }

    @Test func eachWorkerSignsWithItsOwnContext() async throws {
        let rsa = try akSession(
            bytes(hex: Self.rsa2048["private"] as! String), .privateKey, .rsa(padding: .pkcs1, hash: .sha256))
        let ec = try akSession(bytes(hex: Self.p256["private"] as! String), .privateKey, .ecdsa(curve: .nistP256))
        let failures = await withTaskGroup(of: Int.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var failures = 0
                    guard let rsaContext = try? rsa.makeContext(), let ecContext = try? ec.makeContext() else {
                        return 1
                    }
                    for round in 0..<8 {
                        let digest = patternBytes(32, seed: UInt32(worker * 100 + round))
                        for context in [rsaContext, ecContext] {
                            guard let signature = try? AkcipherRun.sign(context, digest),
                                akError({ try AkcipherRun.verify(context, signature: signature, message: digest) })
                                    == nil
                            else {
                                failures += 1
                                continue
                            }
                        }
                    }
                    return failures
                }
            }
            return await group.reduce(0, +)
        }
        #expect(failures == 0)
    }
}

/// The engine's own outputs checked by an independent implementation at test time: python's
/// `cryptography` package and plain Python integers (scripts/akcipher-vectors.py oracle). Round
/// trips inside the engine cannot catch an error that encryption and decryption share; this can.
struct AkcipherDifferentialTests {
    @Test(
        .enabled(
            if: PythonOracle.available,
            "SKIPPED, not run: no python3 with the cryptography package (Debian: python3-cryptography, installed by scripts/install-deps.sh)"
        ))
    func engineOutputsAreCheckedByPythonCryptography() throws {
        let capabilities = AkcipherKnownAnswerTests.capabilities
        var signatures: [[String: String]] = []
        var ciphertexts: [[String: String]] = []
        var raw: [[String: String]] = []
        var ecdsa: [[String: String]] = []
        var plaintexts: [String] = []
        for (index, id) in [
            "cavp-sigver15-1024", "cavp-sigver15-2048", "cavp-sigver15-3072", "cavp-sigver15-4096", "rsa-labs-sign-7",
        ].enumerated() {
            let entry = AkcipherVectors.key(id)
            let publicHex = entry["public"] as! String
            let privateHex = entry["private"] as! String
            for hash in capabilities.rsaHashes {
                let session = try akSession(bytes(hex: privateHex), .privateKey, .rsa(padding: .pkcs1, hash: hash))
                let digest = patternBytes(session.digestLength ?? 35, seed: UInt32(index * 16) + hash.rawValue)
                let signature = try AkcipherRun.sign(session.makeContext(), digest)
                signatures.append([
                    "public": publicHex, "hash": rsaHashName(hash), "digest": hexString(digest),
                    "signature": hexString(signature),
                ])
            }
            let pkcs1 = try akSession(bytes(hex: publicHex), .publicKey, .rsa(padding: .pkcs1, hash: .sha1))
                .makeContext()
            let k = pkcs1.session.maxOutputLength
            for length in [1, 32, k - 11] {
                let message = patternBytes(length, seed: UInt32(1000 + index * 10 + length))
                ciphertexts.append([
                    "private": privateHex, "ciphertext": hexString(try AkcipherRun.encrypt(pkcs1, message)),
                ])
                plaintexts.append(hexString(message))
            }
            let textbook = try akSession(bytes(hex: publicHex), .publicKey, .rsa(padding: .raw, hash: .noHash))
                .makeContext()
            for input in [patternBytes(8, seed: 7), [0] + patternBytes(k - 1, seed: UInt32(index))] {
                raw.append([
                    "public": publicHex, "plaintext": hexString(input),
                    "ciphertext": hexString(try AkcipherRun.encrypt(textbook, input)),
                ])
            }
        }
        for curve in capabilities.curves {
            let entry = AkcipherVectors.key("cavp-ecdsa-siggen-\(eccCurveName(curve))-sha256")
            for variant in ["private", "private-no-parameters", "private-no-public-key"] {
                let context = try akSession(bytes(hex: entry[variant] as! String), .privateKey, .ecdsa(curve: curve))
                    .makeContext()
                for length in [20, 28, 32, 48, 64] {
                    let digest = patternBytes(length, seed: curve.rawValue * 100 + UInt32(length))
                    ecdsa.append([
                        "curve": eccCurveName(curve), "public": entry["public"] as! String, "digest": hexString(digest),
                        "signature": hexString(try AkcipherRun.sign(context, digest)),
                    ])
                }
            }
        }

        let answer = try PythonOracle.ask([
            "rsa-signature": signatures, "rsa-pkcs1-ciphertext": ciphertexts, "rsa-raw": raw,
            "ecdsa-signature": ecdsa,
        ])
        let signatureAnswers = answer["rsa-signature"] as? [[String: Any]] ?? []
        #expect(signatureAnswers.count == signatures.count)
        for (request, verdict) in zip(signatures, signatureAnswers) {
            #expect(
                verdict["integers"] as? Bool == true,
                "s^e mod n is not EMSA-PKCS1-v1_5 of the digest: \(request["hash"]!)")
            #expect(
                verdict["package"] is NSNull || verdict["package"] as? Bool == true,
                "cryptography rejects: \(request["hash"]!)")
        }
        #expect(
            answer["rsa-pkcs1-ciphertext"] as? [String] == plaintexts,
            "cryptography decrypts the engine's RSAES-PKCS1-v1_5")
        #expect(
            answer["rsa-raw"] as? [Bool] == Array(repeating: true, count: raw.count),
            "textbook RSA agrees with Python's pow")
        #expect(
            answer["ecdsa-signature"] as? [Bool] == Array(repeating: true, count: ecdsa.count),
            "cryptography verifies the engine's ECDSA")
        #expect(signatures.count == 5 * capabilities.rsaHashes.count && ecdsa.count == 15 * capabilities.curves.count)
    }
}

extension AkcipherBehaviourTests {
    /// Degenerate RSA keys in good DER (n = 1, even n, e = 0, primes that do not divide n …):
    /// each is refused or, if OpenSSL takes it, every operation ends in a result or a typed error.
    @Test func degenerateKeysNeverCrash() {
        var created = 0
        for vector in AkcipherVectors.section("odd-keys") {
            let type: AkcipherKeyType = vector["key-type"] as! String == "public" ? .publicKey : .privateKey
            for padding in [RsaPadding.raw, .pkcs1] {
                guard let session = try? akSession(vector.hex("key"), type, .rsa(padding: padding, hash: .sha256)),
                    let context = try? session.makeContext()
                else { continue }
                created += 1
                let k = session.maxOutputLength
                for input in [[], [2], [UInt8](repeating: 0x01, count: k), [UInt8](repeating: 0x00, count: 32)] {
                    _ = akError { _ = try AkcipherRun.encrypt(context, input) }
                    _ = akError { _ = try AkcipherRun.decrypt(context, input) }
                    _ = akError { _ = try AkcipherRun.sign(context, input) }
                    _ = akError { try AkcipherRun.verify(context, signature: input, message: input) }
                }
            }
        }
        #expect(AkcipherVectors.section("odd-keys").count >= 9, "ran \(created) sessions OpenSSL accepted")
    }
}
