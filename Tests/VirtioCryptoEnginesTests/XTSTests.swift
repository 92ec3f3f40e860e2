import COpenSSL
import Testing
import VirtioCryptoDriver
import VirtioCryptoWire

@testable import VirtioCryptoEngines

/// AES-XTS built on AES-ECB (`XTSContext`) against the published vectors and against OpenSSL's own
/// AES-XTS, with the errors OpenSSL's XTS answered before the construction replaced it.
struct XTSTests {
    /// The request lengths of the differential test: every one from 16 to 600, and large ones.
    static let lengths =
        Array(16...700) + [1023, 1535, 1536, 1551, 4096, 4097, 4111, 16384 + 5, 65536, 65536 + 15, 100_000]

    /// OpenSSL's AES-XTS (the EVP cipher, keyed and given the IV per call): the reference.
    static func openSSLXTS(key: [UInt8], iv: [UInt8], input: [UInt8], encrypt: Bool) -> [UInt8]? {
        guard let cipher = EVP_CIPHER_fetch(nil, "AES-\(key.count * 4)-XTS", nil) else { return nil }
        defer { EVP_CIPHER_free(cipher) }
        guard let context = EVP_CIPHER_CTX_new() else { return nil }
        defer { EVP_CIPHER_CTX_free(context) }
        var output = [UInt8](repeating: 0, count: input.count + 16)
        var written: Int32 = 0
        var finalWritten: Int32 = 0
        let ok = output.withUnsafeMutableBufferPointer { out in
            EVP_CipherInit_ex2(context, cipher, key, iv, encrypt ? 1 : 0, nil) == 1
                && EVP_CipherUpdate(context, out.baseAddress!, &written, input, Int32(input.count)) == 1
                && EVP_CipherFinal_ex(context, out.baseAddress! + Int(written), &finalWritten) == 1
        }
        guard ok, Int(written + finalWritten) == input.count else {
            ERR_clear_error()
            return nil
        }
        return Array(output.prefix(input.count))
    }

    /// The contexts under test for one key and direction: the construction alone, the construction
    /// with every request handed to OpenSSL's XTS, and the one the factory builds for sessions.
    static func contexts(key: [UInt8], encrypt: Bool) throws -> [(name: String, context: any CipherContext)] {
        let secret = key.withUnsafeBytes { SecretBytes($0) }
        let session = try key.withUnsafeBytes {
            try CipherSession(algorithm: .aesXts, key: $0, direction: encrypt ? .encrypt : .decrypt)
        }
        return [
            ("construction", try XTSContext(key: secret, encrypt: encrypt, openSSLFrom: .max)),
            ("via OpenSSL", try XTSContext(key: secret, encrypt: encrypt, openSSLFrom: 0)),
            ("session", try session.makeContext()),
        ]
    }

    /// Runs `context` out of place (output filled with 0xaa first) or in place.
    static func run(_ context: any CipherContext, iv: [UInt8], input: [UInt8], inPlace: Bool, outputCount: Int? = nil)
        throws -> [UInt8]
    {
        var buffer = inPlace ? input : [UInt8](repeating: 0xaa, count: outputCount ?? input.count)
        try iv.withUnsafeBytes { ivBytes in
            if inPlace {
                try buffer.withUnsafeMutableBytes { bytes in
                    try context.run(iv: ivBytes, input: UnsafeRawBufferPointer(bytes), output: bytes)
                }
            } else {
                try input.withUnsafeBytes { inBytes in
                    try buffer.withUnsafeMutableBytes { bytes in
                        try context.run(iv: ivBytes, input: inBytes, output: bytes)
                    }
                }
            }
        }
        return buffer
    }

    @Test func sessionsGetTheConstruction() throws {
        for keyLength in [32, 64] {
            for direction in [Op.encrypt, .decrypt] {
                let key = (0..<keyLength).map { UInt8($0) }
                let session = try key.withUnsafeBytes {
                    try CipherSession(algorithm: .aesXts, key: $0, direction: direction)
                }
                #expect(try session.makeContext() is XTSContext)
            }
        }
    }

    @Test func publishedVectorsPassThroughTheConstruction() throws {
        let vectors = KnownAnswers.vectors("cipher", "aes-xts")
        #expect(vectors.count >= 8)
        var keyLengths: Set<Int> = []
        var stolen = 0
        for vector in vectors {
            let key = vector.hex("key")
            let iv = vector.hex("iv")
            let plaintext = vector.hex("plaintext")
            let ciphertext = vector.hex("ciphertext")
            keyLengths.insert(key.count)
            if plaintext.count % 16 != 0 { stolen += 1 }
            for encrypt in [true, false] {
                let (input, expected) = encrypt ? (plaintext, ciphertext) : (ciphertext, plaintext)
                for (name, context) in try Self.contexts(key: key, encrypt: encrypt) {
                    for inPlace in [false, true] {
                        #expect(
                            try Self.run(context, iv: iv, input: input, inPlace: inPlace) == expected,
                            "\(vector.source), \(name), encrypt \(encrypt), in place \(inPlace)")
                    }
                }
            }
        }
        #expect(keyLengths == [32, 64])
        #expect(stolen >= 2, "vectors with ciphertext stealing")
    }

    /// Random keys, tweaks and data against OpenSSL's XTS: both key sizes and directions, every
    /// length from 16 to 600 and some large ones, in place and apart, all requests of a key on the
    /// same contexts (nothing of one request may leak into the next).
    @Test(arguments: [32, 64], [true, false])
    func matchesOpenSSLsXTS(keyLength: Int, encrypt: Bool) throws {
        var random = SplitMix64(seed: UInt64(keyLength) << 1 | (encrypt ? 1 : 0))
        let keys = (0..<3).map { _ in random.key(keyLength) }
        let contexts = try keys.map { try Self.contexts(key: $0, encrypt: encrypt) }
        var mismatches = 0
        for (round, length) in Self.lengths.enumerated() {
            let which = round % keys.count
            let iv = random.bytes(16)
            let input = random.bytes(length)
            let expected = try #require(Self.openSSLXTS(key: keys[which], iv: iv, input: input, encrypt: encrypt))
            for (name, context) in contexts[which] {
                for inPlace in [false, true] {
                    let output = try Self.run(context, iv: iv, input: input, inPlace: inPlace)
                    if output != expected {
                        mismatches += 1
                        Issue.record("length \(length), \(name), in place \(inPlace)")
                    }
                }
            }
            if mismatches > 10 { break }
        }
    }

    /// Decryption with equal key halves: OpenSSL 3.0 allows it (outside FIPS), so the construction
    /// decrypts as OpenSSL does; encryption refuses the key on every path.
    @Test(arguments: [32, 64])
    func equalKeyHalvesAreRefusedForEncryptionOnly(keyLength: Int) throws {
        var random = SplitMix64(seed: 99)
        let half = random.bytes(keyLength / 2)
        let key = half + half
        let secret = key.withUnsafeBytes { SecretBytes($0) }
        #expect(throws: CryptoError.invalidKeyLength) {
            try key.withUnsafeBytes { try CipherSession(algorithm: .aesXts, key: $0, direction: .encrypt) }
        }
        for openSSLFrom in [0, Int.max] {
            #expect(throws: CryptoError.invalidKeyLength) {
                try XTSContext(key: secret, encrypt: true, openSSLFrom: openSSLFrom)
            }
        }
        #expect(throws: CryptoError.invalidKeyLength) {
            try EVPCipherContext(
                name: "AES-\(keyLength * 4)-XTS", key: secret, encrypt: true,
                parameters: CipherFactory.parameters(.aesXts)!)
        }
        for length in [16, 31, 512] {
            let iv = random.bytes(16)
            let input = random.bytes(length)
            let expected = try #require(Self.openSSLXTS(key: key, iv: iv, input: input, encrypt: false))
            for (name, context) in try Self.contexts(key: key, encrypt: false) {
                #expect(try Self.run(context, iv: iv, input: input, inPlace: false) == expected, "\(name)")
            }
        }
    }

    /// The errors of today's path (OpenSSL's XTS through `EVPCipherContext`), pinned for both paths:
    /// fewer than 16 bytes or more than 2²⁰ blocks fail in the backend and write nothing; an IV
    /// other than 16 bytes is refused before the data length is looked at; a short output before
    /// the IV. A failed request leaves the context working.
    @Test(arguments: [32, 64], [true, false])
    func edgeCasesAnswerWhatOpenSSLsXTSAnswered(keyLength: Int, encrypt: Bool) throws {
        var random = SplitMix64(seed: 7 &+ UInt64(keyLength))
        let key = random.key(keyLength)
        let secret = key.withUnsafeBytes { SecretBytes($0) }
        var contexts = try Self.contexts(key: key, encrypt: encrypt)
        contexts.append(
            (
                "OpenSSL's XTS",
                try EVPCipherContext(
                    name: "AES-\(keyLength * 4)-XTS", key: secret, encrypt: encrypt,
                    parameters: CipherFactory.parameters(.aesXts)!)
            ))
        let iv = random.bytes(16)
        let good = random.bytes(48)
        let expected = try #require(Self.openSSLXTS(key: key, iv: iv, input: good, encrypt: encrypt))
        let limit = 16 << 20
        let largest = random.bytes(limit)
        let largestExpected = try #require(Self.openSSLXTS(key: key, iv: iv, input: largest, encrypt: encrypt))
        for (name, context) in contexts {
            func refused(_ error: CryptoError, iv: [UInt8], input: [UInt8], outputCount: Int? = nil) {
                do {
                    let output = try Self.run(context, iv: iv, input: input, inPlace: false, outputCount: outputCount)
                    Issue.record("\(name): \(input.count) bytes, IV \(iv.count): \(output.count) bytes out")
                } catch let thrown {
                    #expect(thrown as? CryptoError == error, "\(name): \(input.count) bytes, IV \(iv.count)")
                }
            }
            for length in [0, 1, 15] { refused(.backendFailure, iv: iv, input: random.bytes(length)) }
            for length in [limit + 1, limit + 16] { refused(.backendFailure, iv: iv, input: random.bytes(length)) }
            for ivLength in [0, 8, 15, 17, 32] {
                refused(.invalidIVLength, iv: random.bytes(ivLength), input: good)
                refused(.invalidIVLength, iv: random.bytes(ivLength), input: random.bytes(5))
            }
            refused(.invalidLength, iv: random.bytes(8), input: good, outputCount: 47)
            // Nothing is written when the backend refuses.
            var untouched = [UInt8](repeating: 0xaa, count: 15)
            let short = random.bytes(15)
            _ = iv.withUnsafeBytes { ivBytes in
                short.withUnsafeBytes { input in
                    untouched.withUnsafeMutableBytes { output in
                        #expect(throws: CryptoError.backendFailure) {
                            try context.run(iv: ivBytes, input: input, output: output)
                        }
                    }
                }
            }
            #expect(untouched.allSatisfy { $0 == 0xaa }, "\(name)")
            #expect(try Self.run(context, iv: iv, input: good, inPlace: false) == expected, "\(name) after failures")
            let largestMatches = try Self.run(context, iv: iv, input: largest, inPlace: true) == largestExpected
            #expect(largestMatches, "\(name): 2^20 blocks")
        }
    }

    /// The zero tweak's successors, by hand: α·T shifts left by one bit across the 16 bytes read
    /// little-endian, and a carry out of bit 127 feeds back 0x87 into byte 0.
    @Test func tweakDoublingIsMultiplicationByAlpha() {
        var tweak = XTSContext.Tweak(low: 1 << 63, high: 1 << 63)
        tweak.double()
        #expect(tweak.low == 0x87 && tweak.high == 1)
        tweak = XTSContext.Tweak(low: 0x8000_0000_0000_0001, high: 0)
        tweak.double()
        #expect(tweak.low == 2 && tweak.high == 1)
    }
}

extension SplitMix64 {
    /// An XTS key of `count` bytes whose halves differ.
    mutating func key(_ count: Int) -> [UInt8] {
        var key = bytes(count)
        if key[0] == key[count / 2] { key[0] ^= 1 }
        return key
    }
}
