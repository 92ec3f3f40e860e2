import Testing
import VirtioCryptoEngines
import VirtioCryptoWire

/// AES-CBC through IPsec-MB's job API (the data rings' multi-buffer path) on the published vectors:
/// every AES-CBC vector of KnownAnswers.json (SP 800-38A, 128/192/256-bit keys), all submitted
/// together, several times over, so lanes run side by side and jobs come back at later submissions
/// and at the flush.
struct MultiBufferTests {
    @Test func aesCBCJobsEncryptThePublishedVectors() throws {
        let vectors = KnownAnswers.section("cipher").filter { $0["algorithm"] as? String == "aes-cbc" }
        try #require(vectors.count >= 3, "SP 800-38A F.2.1, F.2.3 and F.2.5")
        let engine = try MultiBufferEngine()
        let copies = 10
        var keys: [CBCJobKeys] = []
        var inputs: [[UInt8]] = []
        var expected: [[UInt8]] = []
        var ivs: [[UInt8]] = []
        for _ in 0..<copies {
            for vector in vectors {
                let key = vector.hex("key")
                let session = try key.withUnsafeBytes {
                    try CipherSession(algorithm: .aesCbc, key: $0, direction: .encrypt)
                }
                keys.append(try #require(CBCJobKeys(session, engine: engine)))
                inputs.append(vector.hex("plaintext"))
                expected.append(vector.hex("ciphertext"))
                ivs.append(vector.hex("iv"))
            }
        }
        let total = inputs.count
        let stride = inputs.map(\.count).max()!
        let input = UnsafeMutableRawBufferPointer.allocate(byteCount: total * stride, alignment: 64)
        let output = UnsafeMutableRawBufferPointer.allocate(byteCount: total * stride, alignment: 64)
        let ivBytes = UnsafeMutableRawBufferPointer.allocate(byteCount: total * 16, alignment: 16)
        defer {
            input.deallocate()
            output.deallocate()
            ivBytes.deallocate()
        }
        var returned: [Int] = []
        for index in 0..<total {
            inputs[index].withUnsafeBytes {
                (input.baseAddress! + index * stride).copyMemory(from: $0.baseAddress!, byteCount: $0.count)
            }
            ivs[index].withUnsafeBytes {
                (ivBytes.baseAddress! + index * 16).copyMemory(from: $0.baseAddress!, byteCount: 16)
            }
            engine.submitCBC(
                keys[index], iv: ivBytes.baseAddress! + index * 16, input: input.baseAddress! + index * stride,
                output: output.baseAddress! + index * stride, length: inputs[index].count, tag: index
            ) { tag, succeeded in
                #expect(succeeded)
                returned.append(tag)
            }
        }
        engine.flush { tag, succeeded in
            #expect(succeeded)
            returned.append(tag)
        }
        #expect(returned == Array(0..<total), "every job back once, in submission order")
        #expect(engine.pending == 0)
        for index in 0..<total {
            let got = Array(
                UnsafeRawBufferPointer(rebasing: output[(index * stride)..<(index * stride + expected[index].count)]))
            #expect(
                got == expected[index], "vector \(index % vectors.count): \(vectors[index % vectors.count]["source"]!)")
        }
    }

    /// RFC 2202 (HMAC-SHA1) and RFC 4231 (HMAC-SHA-256, long keys and truncated results included),
    /// all submitted together: the job writes the full digest, the session's result is its prefix.
    @Test func hmacJobsMatchThePublishedVectors() throws {
        let vectors = KnownAnswers.section("mac").filter {
            ["hmac-sha1", "hmac-sha-256"].contains($0["algorithm"] as? String ?? "")
        }
        try #require(vectors.count >= 10)
        let engine = try MultiBufferEngine()
        var keys: [HMACJobKeys] = []
        var messages: [[UInt8]] = []
        for vector in vectors {
            let algorithm: MacAlgorithm = vector["algorithm"] as? String == "hmac-sha1" ? .hmacSha1 : .hmacSha256
            let expected = vector.hex("mac")
            let session = try vector.hex("key").withUnsafeBytes {
                try MacSession(algorithm: algorithm, key: $0, resultLength: expected.count)
            }
            keys.append(try #require(HMACJobKeys(session, engine: engine)))
            messages.append(vector.hex("message"))
        }
        let digests = UnsafeMutableRawBufferPointer.allocate(byteCount: 32 * vectors.count, alignment: 64)
        defer { digests.deallocate() }
        var returned: [Int] = []
        // The messages stay alive (and in place) until the flush: the job reads them when it runs.
        try withExtendedLifetime(messages) {
            for index in messages.indices where messages[index].isEmpty {
                Issue.record("vector \(index) has an empty message: the job path takes none")
            }
            let pointers = messages.map { message -> UnsafeMutableRawPointer in
                let copy = UnsafeMutableRawPointer.allocate(byteCount: message.count, alignment: 16)
                message.withUnsafeBytes { copy.copyMemory(from: $0.baseAddress!, byteCount: message.count) }
                return copy
            }
            defer { pointers.forEach { $0.deallocate() } }
            for index in messages.indices {
                engine.submitHMAC(
                    keys[index], input: pointers[index], length: messages[index].count,
                    digest: digests.baseAddress! + 32 * index, tag: index
                ) { tag, succeeded in
                    #expect(succeeded)
                    returned.append(tag)
                }
            }
            engine.flush { tag, succeeded in
                #expect(succeeded)
                returned.append(tag)
            }
            try #require(returned == Array(messages.indices))
        }
        for (index, vector) in vectors.enumerated() {
            let expected = vector.hex("mac")
            let got = Array(UnsafeRawBufferPointer(rebasing: digests[(32 * index)..<(32 * index + expected.count)]))
            #expect(got == expected, "\(vector["source"]!)")
        }
    }

    /// The published AES-GCM vectors the job path takes: a 12-byte IV and some plaintext.
    static func gcmVectors() throws -> [[String: Any]] {
        let vectors = KnownAnswers.section("aead").filter {
            $0["algorithm"] as? String == "gcm" && $0.hex("iv").count == GCMJobKeys.ivLength
                && !$0.hex("plaintext").isEmpty
        }
        try #require(vectors.count >= 6)
        return vectors
    }

    /// AES-GCM encryption through the job path on the published vectors with a 12-byte IV (SP 800-38D /
    /// the GCM specification's test cases, 128- and 256-bit keys, with and without AAD), whole and
    /// with the tag truncated to 12 and 8 bytes (a GCM tag's prefix).
    @Test func gcmJobsEncryptThePublishedVectors() throws {
        let vectors = try Self.gcmVectors()
        let engine = try MultiBufferEngine()
        var cases: [(keys: GCMJobKeys, vector: [String: Any], tagLength: Int)] = []
        for tagLength in [16, 12, 8] {
            for vector in vectors {
                let session = try vector.hex("key").withUnsafeBytes {
                    try AeadSession(algorithm: .gcm, key: $0, tagLength: tagLength, direction: .encrypt)
                }
                cases.append((try #require(GCMJobKeys(session, engine: engine)), vector, tagLength))
            }
        }
        let stride = 128
        let buffers = UnsafeMutableRawBufferPointer.allocate(byteCount: cases.count * stride * 4, alignment: 64)
        defer { buffers.deallocate() }
        func place(_ bytes: [UInt8], _ index: Int, _ part: Int) -> UnsafeMutableRawPointer {
            let pointer = buffers.baseAddress! + (index * 4 + part) * stride
            bytes.withUnsafeBytes { if $0.count > 0 { pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
            return pointer
        }
        var returned: [Int] = []
        for (index, item) in cases.enumerated() {
            let plaintext = item.vector.hex("plaintext")
            let aad = item.vector.hex("aad")
            let output = place([], index, 3)
            engine.submitGCM(
                item.keys, iv: place(item.vector.hex("iv"), index, 0), aad: place(aad, index, 1), aadLength: aad.count,
                input: place(plaintext, index, 2), output: output, length: plaintext.count,
                tagOutput: output + plaintext.count, tag: index
            ) { tag, succeeded in
                #expect(succeeded)
                returned.append(tag)
            }
        }
        engine.flush { tag, succeeded in
            #expect(succeeded)
            returned.append(tag)
        }
        #expect(returned == Array(cases.indices))
        for (index, item) in cases.enumerated() {
            let expected = item.vector.hex("ciphertext") + item.vector.hex("tag").prefix(item.tagLength)
            let start = (index * 4 + 3) * stride
            let got = Array(UnsafeRawBufferPointer(rebasing: buffers[start..<(start + expected.count)]))
            #expect(got == expected, "\(item.vector["source"]!), tag \(item.tagLength)")
        }
    }

    /// AES-GCM decryption through the job path on the same vectors: the plaintext comes back, and the
    /// tag the job computes (over the ciphertext) is the published one, whole or truncated; the
    /// caller's comparison is what rejects a forged tag, so a flipped ciphertext bit must change it.
    @Test func gcmJobsDecryptThePublishedVectorsAndComputeTheirTags() throws {
        let vectors = try Self.gcmVectors()
        let engine = try MultiBufferEngine()
        var cases: [(keys: GCMJobKeys, vector: [String: Any], tagLength: Int, tampered: Bool)] = []
        for tagLength in [16, 12, 8] {
            for vector in vectors {
                let session = try vector.hex("key").withUnsafeBytes {
                    try AeadSession(algorithm: .gcm, key: $0, tagLength: tagLength, direction: .decrypt)
                }
                let keys = try #require(GCMJobKeys(session, engine: engine))
                #expect(!keys.encrypt)
                cases.append((keys, vector, tagLength, false))
                cases.append((keys, vector, tagLength, true))
            }
        }
        let stride = 128
        let buffers = UnsafeMutableRawBufferPointer.allocate(byteCount: cases.count * stride * 5, alignment: 64)
        defer { buffers.deallocate() }
        func slot(_ index: Int, _ part: Int) -> UnsafeMutableRawPointer {
            buffers.baseAddress! + (index * 5 + part) * stride
        }
        func place(_ bytes: [UInt8], _ index: Int, _ part: Int) -> UnsafeMutableRawPointer {
            let pointer = slot(index, part)
            bytes.withUnsafeBytes { if $0.count > 0 { pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
            return pointer
        }
        var returned: [Int] = []
        for (index, item) in cases.enumerated() {
            var ciphertext = item.vector.hex("ciphertext")
            if item.tampered { ciphertext[0] ^= 1 }
            let aad = item.vector.hex("aad")
            engine.submitGCM(
                item.keys, iv: place(item.vector.hex("iv"), index, 0), aad: place(aad, index, 1), aadLength: aad.count,
                input: place(ciphertext, index, 2), output: slot(index, 3), length: ciphertext.count,
                tagOutput: slot(index, 4), tag: index
            ) { tag, succeeded in
                #expect(succeeded)
                returned.append(tag)
            }
        }
        engine.flush { tag, succeeded in
            #expect(succeeded)
            returned.append(tag)
        }
        #expect(returned == Array(cases.indices))
        for (index, item) in cases.enumerated() {
            let plaintext = item.vector.hex("plaintext")
            let tag = Array(item.vector.hex("tag").prefix(item.tagLength))
            let computed = Array(UnsafeRawBufferPointer(start: slot(index, 4), count: item.tagLength))
            let source = "\(item.vector["source"]!), tag \(item.tagLength)"
            if item.tampered {
                #expect(computed != tag, "\(source): a changed ciphertext changes the tag")
            } else {
                #expect(
                    Array(UnsafeRawBufferPointer(start: slot(index, 3), count: plaintext.count)) == plaintext,
                    "\(source)")
                #expect(computed == tag, "\(source)")
            }
        }
    }

    @Test func onlyAESCBCIsKeyedForJobs() throws {
        let engine = try MultiBufferEngine()
        let key = [UInt8](repeating: 7, count: 16)
        let ctr = try key.withUnsafeBytes { try CipherSession(algorithm: .aesCtr, key: $0, direction: .encrypt) }
        #expect(CBCJobKeys(ctr, engine: engine) == nil)
    }
}
