/// AES-GCM where the caller supplies the pre-counter block J0 itself (the seed's 16-byte
/// GCM IV form). SP 800-38D §7.1 from step 2 on: GCTR from inc32(J0), tag = E(K, J0) ⊕
/// GHASH(A, C). OpenSSL derives J0 from an IV and cannot take it directly.
final class GCMWithJ0 {
    private let ecb: EVPCipherContext
    /// The hash subkey H = E(K, 0¹²⁸) as two big-endian words.
    private let hashKey: (UInt64, UInt64)
    private let block: UnsafeMutableRawBufferPointer

    init(key: SecretBytes) throws(CryptoError) {
        ecb = try EVPCipherContext(name: "AES-\(key.count * 8)-ECB", key: key, encrypt: true,
                                   parameters: CipherParameters(keyLengths: [], ivLength: nil, dataBlock: 16))
        block = .allocate(byteCount: 64, alignment: 16)
        let zero = UnsafeMutableRawBufferPointer(rebasing: block[0..<16])
        zero.initializeMemory(as: UInt8.self, repeating: 0)
        guard ecb.encryptBlock(zero.baseAddress!, zero.baseAddress!, length: 16) else { throw .backendFailure }
        hashKey = (Self.word(zero, 0), Self.word(zero, 8))
    }

    deinit {
        zeroize(block)
        block.deallocate()
    }

    static func word(_ bytes: UnsafeMutableRawBufferPointer, _ offset: Int) -> UInt64 {
        UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    static func word(_ bytes: UnsafeRawBufferPointer, _ offset: Int, count: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<8 { value = value << 8 | UInt64(offset + index < count ? bytes[offset + index] : 0) }
        return value
    }

    /// X · H in GF(2¹²⁸) with GCM's bit order (SP 800-38D Algorithm 1).
    private func multiply(_ x: (UInt64, UInt64)) -> (UInt64, UInt64) {
        var z: (UInt64, UInt64) = (0, 0)
        var v = hashKey
        for bit in 0..<128 {
            let word = bit < 64 ? x.0 : x.1
            if (word >> UInt64(63 - bit % 64)) & 1 == 1 { z = (z.0 ^ v.0, z.1 ^ v.1) }
            let carry = v.1 & 1
            v = (v.0 >> 1, (v.1 >> 1) | (v.0 << 63))
            if carry == 1 { v.0 ^= 0xe100_0000_0000_0000 }
        }
        return z
    }

    private func ghash(_ y: inout (UInt64, UInt64), _ data: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < data.count {
            y = multiply((y.0 ^ Self.word(data, offset, count: data.count), y.1 ^ Self.word(data, offset + 8, count: data.count)))
            offset += 16
        }
    }

    func run(j0: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer, input: UnsafeRawBufferPointer,
             output: UnsafeMutableRawBufferPointer, encrypt: Bool, tag: UnsafeMutableRawBufferPointer) throws(CryptoError) {
        let counter = UnsafeMutableRawBufferPointer(rebasing: block[0..<16])
        let keystream = UnsafeMutableRawBufferPointer(rebasing: block[16..<32])
        var y: (UInt64, UInt64) = (0, 0)
        ghash(&y, aad)
        if !encrypt { ghash(&y, input) }
        counter.copyMemory(from: j0)
        var offset = 0
        while offset < input.count {
            // inc32: only the low 32 bits count, wrapping.
            let low = UInt32(bigEndian: counter.loadUnaligned(fromByteOffset: 12, as: UInt32.self)) &+ 1
            counter.storeBytes(of: low.bigEndian, toByteOffset: 12, as: UInt32.self)
            guard ecb.encryptBlock(counter.baseAddress!, keystream.baseAddress!, length: 16) else { throw .backendFailure }
            let count = min(16, input.count - offset)
            for index in 0..<count { output[offset + index] = input[offset + index] ^ keystream[index] }
            offset += count
        }
        if encrypt { ghash(&y, UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(output)[0..<input.count])) }
        y = multiply((y.0 ^ UInt64(aad.count) * 8, y.1 ^ UInt64(input.count) * 8))
        counter.copyMemory(from: j0)
        guard ecb.encryptBlock(counter.baseAddress!, keystream.baseAddress!, length: 16) else { throw .backendFailure }
        for index in 0..<16 {
            let word = index < 8 ? y.0 : y.1
            tag[index] = keystream[index] ^ UInt8(truncatingIfNeeded: word >> UInt64(56 - (index % 8) * 8))
        }
    }
}
