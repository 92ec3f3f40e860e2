import Testing
import VirtioCryptoDriver
import VirtioCryptoEngines
import VirtioCryptoWire

/// A CBC context does not set each request's IV through OpenSSL: it chains from the last block
/// of the request before and applies the IV by XOR. These tests run long sequences of requests
/// (changing IVs and sizes, in place and apart, failures between) on one context and compare
/// each answer with CBC computed block by block from the same cipher's ECB mode.
struct CBCChainingTests {
    static let cases: [(CipherAlgorithm, CipherAlgorithm, Int)] = [
        (.aesCbc, .aesEcb, 16), (.aesCbc, .aesEcb, 24), (.aesCbc, .aesEcb, 32),
        (.tripleDesCbc, .tripleDesEcb, 24), (.tripleDesCbc, .tripleDesEcb, 16), (.desCbc, .desEcb, 8),
    ]

    /// CBC from ECB, one block at a time: the reference.
    static func reference(
        ecb: any CipherContext, block: Int, iv: [UInt8], input: [UInt8], encrypt: Bool
    ) throws -> [UInt8] {
        var previous = iv
        var output: [UInt8] = []
        for start in stride(from: 0, to: input.count, by: block) {
            let chunk = Array(input[start..<start + block])
            var result = [UInt8](repeating: 0, count: block)
            let cipherInput = encrypt ? zip(chunk, previous).map { $0 ^ $1 } : chunk
            try cipherInput.withUnsafeBytes { source in
                try result.withUnsafeMutableBytes {
                    try ecb.run(iv: UnsafeRawBufferPointer(start: nil, count: 0), input: source, output: $0)
                }
            }
            if encrypt {
                previous = result
            } else {
                result = zip(result, previous).map { $0 ^ $1 }
                previous = chunk
            }
            output += result
        }
        return output
    }

    @Test(arguments: 0..<cases.count)
    func longSequencesMatchCBCFromECB(index: Int) throws {
        let (cbc, ecb, keyLength) = Self.cases[index]
        let capabilities = EngineCapabilities.probe()
        guard capabilities.ciphers.contains(cbc), capabilities.ciphers.contains(ecb),
            let parameters = CipherSession.parameters(cbc)
        else { return }
        let block = parameters.dataBlock
        var random = SplitMix64(seed: UInt64(index) * 7919 + 1)
        var key = random.bytes(keyLength)
        if keyLength == 16 && cbc == .tripleDesCbc { key[8] ^= 0x55 }  // two-key 3DES: halves differ
        for encrypt in [true, false] {
            let direction: Op = encrypt ? .encrypt : .decrypt
            let session = try key.withUnsafeBytes { try CipherSession(algorithm: cbc, key: $0, direction: direction) }
            let ecbSession = try key.withUnsafeBytes {
                try CipherSession(algorithm: ecb, key: $0, direction: direction)
            }
            let context = try session.makeContext()
            let ecbContext = try ecbSession.makeContext()
            for request in 0..<60 {
                let blocks = [1, 2, 3, 1, 4, Int(random.next() % 40) + 1][request % 6]
                let iv = random.bytes(block)
                let input = random.bytes(blocks * block)
                let expected = try Self.reference(ecb: ecbContext, block: block, iv: iv, input: input, encrypt: encrypt)
                var output = [UInt8](repeating: 0, count: input.count)
                if request % 2 == 0 {
                    output = input
                    try iv.withUnsafeBytes { ivBytes in
                        try output.withUnsafeMutableBytes {
                            try context.run(iv: ivBytes, input: UnsafeRawBufferPointer($0), output: $0)
                        }
                    }
                } else {
                    try iv.withUnsafeBytes { ivBytes in
                        try input.withUnsafeBytes { source in
                            try output.withUnsafeMutableBytes {
                                try context.run(iv: ivBytes, input: source, output: $0)
                            }
                        }
                    }
                }
                #expect(
                    output == expected, "\(cbc) \(keyLength * 8)-bit \(direction) request \(request), \(blocks) blocks")
                if request % 7 == 3 {
                    // A refused request (not whole blocks, or a short IV) leaves the chaining intact.
                    let bad = random.bytes(block + 1)
                    var sink = [UInt8](repeating: 0, count: bad.count)
                    #expect(throws: CryptoError.invalidLength) {
                        try iv.withUnsafeBytes { ivBytes in
                            try bad.withUnsafeBytes { source in
                                try sink.withUnsafeMutableBytes {
                                    try context.run(iv: ivBytes, input: source, output: $0)
                                }
                            }
                        }
                    }
                    var wholeSink = [UInt8](repeating: 0, count: input.count)
                    #expect(throws: CryptoError.invalidIVLength) {
                        try Array(iv.dropLast()).withUnsafeBytes { ivBytes in
                            try input.withUnsafeBytes { source in
                                try wholeSink.withUnsafeMutableBytes {
                                    try context.run(iv: ivBytes, input: source, output: $0)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
