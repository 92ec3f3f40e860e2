import Testing
import VirtioCryptoDevice
import VirtioCryptoDriver
import VirtioCryptoEngines
import VirtioCryptoWire

/// Random valid requests through the device (rings, parsing, sessions, workers) compared
/// with the engines called directly on the same inputs.
struct DifferentialTests {
    @Test(arguments: [UInt64(1), 2, 3])
    func randomRequestsMatchTheEnginesCalledDirectly(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let harness = try Harness()
        let offer = harness.device.offer
        // Every offered algorithm of every service, twice, with random parameters and data.
        let plan: [(service: Int, index: Int)] = (0..<2).flatMap { _ in
            offer.ciphers.indices.map { (0, $0) } + offer.hashes.indices.map { (1, $0) }
                + offer.macs.indices.map { (2, $0) } + offer.aeads.indices.map { (3, $0) }
        }
        for (round, step) in plan.enumerated() {
            switch step.service {
            case 0:
                let algorithm = offer.ciphers[step.index]
                let parameters = try #require(CipherSession.parameters(algorithm))
                var key = random.bytes(
                    parameters.keyLengths.filter { $0 <= offer.limits.maxCipherKeyLength }.randomElement(
                        using: &random)!)
                // XTS refuses equal key halves when encrypting; random keys make that vanishingly rare
                if algorithm == .aesXts { key[0] ^= 0xff }
                let iv = random.bytes(parameters.ivLength ?? 0)
                let blocks = Int.random(in: 1...32, using: &random)
                let input = random.bytes(
                    min(
                        parameters.dataBlock == 1 ? blocks * 13 : blocks * parameters.dataBlock,
                        parameters.maxDataLength))
                let op: Op = Bool.random(using: &random) ? .encrypt : .decrypt
                let id = try harness.cipherSession(algorithm, key: key, op: op)
                let (status, output) = try harness.cipher(
                    session: id, opcode: op == .encrypt ? .cipherEncrypt : .cipherDecrypt, iv: iv, input: input)
                let context = try key.withUnsafeBytes {
                    try CipherSession(algorithm: algorithm, key: $0, direction: op)
                }.makeContext()
                var expected = [UInt8](repeating: 0, count: input.count)
                try iv.withUnsafeBytes { ivBytes in
                    try input.withUnsafeBytes { i in
                        try expected.withUnsafeMutableBytes { try context.run(iv: ivBytes, input: i, output: $0) }
                    }
                }
                #expect(status == .ok && output == expected, "seed \(seed) round \(round) \(algorithm)")
            case 1:
                let algorithm = offer.hashes[step.index]
                let full = HashSession.digestLength(algorithm)!
                let length = Int.random(
                    in: 1...(algorithm == .sha3Shake128 || algorithm == .sha3Shake256 ? 64 : full), using: &random)
                let message = random.bytes(Int.random(in: 0...300, using: &random))
                let (status, id) = try harness.createSession(
                    RequestBuilder.control(
                        opcode: .hashCreateSession,
                        flf: HashCreateSessionFlf(algo: algorithm, hashResultLen: UInt32(length))))
                #expect(status == .ok)
                let out = try harness.data(
                    [
                        RequestBuilder.data(
                            opcode: .hash, sessionID: id,
                            flf: HashDataFlf(srcDataLen: UInt32(message.count), hashResultLen: UInt32(length))),
                        message,
                    ],
                    writable: [length, 1])
                let context = try HashSession(algorithm: algorithm, resultLength: length).makeContext()
                var expected = [UInt8](repeating: 0, count: length)
                try message.withUnsafeBytes { m in
                    try expected.withUnsafeMutableBytes { try context.digest(m, into: $0) }
                }
                #expect(out.last == 0 && Array(out.dropLast()) == expected, "seed \(seed) round \(round) \(algorithm)")
            case 2:
                let algorithm = offer.macs[step.index]
                let keyRange = try #require(MacSession.keyLengths(algorithm))
                let keyLength =
                    algorithm == .cmacAes || algorithm == .cbcmacAes
                    ? [16, 24, 32].randomElement(using: &random)!
                    : algorithm == .cmac3des
                        ? [16, 24].randomElement(using: &random)!
                        : Int.random(in: keyRange.lowerBound...min(keyRange.upperBound, 100), using: &random)
                let key = random.bytes(keyLength)
                let length = Int.random(in: 1...MacSession.macLength(algorithm)!, using: &random)
                let message = random.bytes(Int.random(in: 0...300, using: &random))
                let (status, id) = try harness.createSession(
                    RequestBuilder.control(
                        opcode: .macCreateSession,
                        flf: MacCreateSessionFlf(
                            algo: algorithm, hashResultLen: UInt32(length), authKeyLen: UInt32(key.count))), keys: [key]
                )
                #expect(status == .ok, "seed \(seed) round \(round) \(algorithm)")
                let out = try harness.data(
                    [
                        RequestBuilder.data(
                            opcode: .mac, sessionID: id,
                            flf: MacDataFlf(
                                hdr: HashDataFlf(srcDataLen: UInt32(message.count), hashResultLen: UInt32(length)))),
                        message,
                    ],
                    writable: [length, 1])
                let context = try key.withUnsafeBytes {
                    try MacSession(algorithm: algorithm, key: $0, resultLength: length)
                }.makeContext()
                var expected = [UInt8](repeating: 0, count: length)
                try message.withUnsafeBytes { m in try expected.withUnsafeMutableBytes { try context.mac(m, into: $0) }
                }
                #expect(out.last == 0 && Array(out.dropLast()) == expected, "seed \(seed) round \(round) \(algorithm)")
            default:
                let algorithm = offer.aeads[step.index]
                let key = random.bytes(
                    algorithm == .chacha20Poly1305 ? 32 : [16, 24, 32].randomElement(using: &random)!)
                let tagLength = [12, 16].randomElement(using: &random)!
                let nonce = random.bytes(12)  // GCM and ChaCha20-Poly1305 (CCM is not offered)
                let aad = random.bytes(Int.random(in: 0...40, using: &random))
                let plaintext = random.bytes(Int.random(in: 0...200, using: &random))
                let (status, id) = try harness.createSession(
                    RequestBuilder.control(
                        opcode: .aeadCreateSession,
                        flf: AeadCreateSessionFlf(
                            algo: algorithm, keyLen: UInt32(key.count), tagLen: UInt32(tagLength),
                            aadLen: UInt32(aad.count), op: .encrypt)), keys: [key])
                #expect(status == .ok)
                let flf = AeadDataFlf(
                    ivLen: UInt32(nonce.count), aadLen: UInt32(aad.count), srcDataLen: UInt32(plaintext.count),
                    dstDataLen: UInt32(plaintext.count + tagLength), tagLen: UInt32(tagLength))
                let out = try harness.data(
                    [RequestBuilder.data(opcode: .aeadEncrypt, sessionID: id, flf: flf), nonce, plaintext, aad],
                    writable: [plaintext.count + tagLength, 1])
                let context = try key.withUnsafeBytes {
                    try AeadSession(algorithm: algorithm, key: $0, tagLength: tagLength, direction: .encrypt)
                }.makeContext()
                var expected = [UInt8](repeating: 0, count: plaintext.count + tagLength)
                try nonce.withUnsafeBytes { n in
                    try aad.withUnsafeBytes { a in
                        try plaintext.withUnsafeBytes { p in
                            try expected.withUnsafeMutableBytes { try context.run(iv: n, aad: a, input: p, output: $0) }
                        }
                    }
                }
                #expect(out.last == 0 && Array(out.dropLast()) == expected, "seed \(seed) round \(round) \(algorithm)")
            }
        }
    }
}
