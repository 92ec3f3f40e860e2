import WireBytes

/// AES-GCM where the caller supplies the pre-counter block J0 itself (the seed's 16-byte
/// GCM IV form). SP 800-38D §7.1 from step 2 on: GCTR from inc32(J0), tag = E(K, J0) ⊕
/// GHASH(A, C). OpenSSL derives J0 from an IV and cannot take it directly.
final class GCMWithJ0 {
    private let ecb: EVPCipherContext
    private let hash: GHash
    private let block: UnsafeMutableRawBufferPointer

    init(key: SecretBytes) throws(CryptoError) {
        ecb = try EVPCipherContext(
            name: "AES-\(key.count * 8)-ECB", key: key, encrypt: true,
            parameters: CipherParameters(keyLengths: [], ivLength: nil, dataBlock: 16))
        block = .allocate(byteCount: 64, alignment: 16)
        let zero = UnsafeMutableRawBufferPointer(rebasing: block[0..<16])
        zero.initializeMemory(as: UInt8.self, repeating: 0)
        guard ecb.encryptBlock(zero.baseAddress!, zero.baseAddress!, length: 16) else { throw .backendFailure }
        hash = GHash(subkey: UnsafeRawBufferPointer(zero))
    }

    deinit {
        zeroize(block)
        block.deallocate()
    }

    func run(
        j0: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer, input: UnsafeRawBufferPointer,
        output: UnsafeMutableRawBufferPointer, encrypt: Bool, tag: UnsafeMutableRawBufferPointer
    ) throws(CryptoError) {
        let counter = UnsafeMutableRawBufferPointer(rebasing: block[0..<16])
        let keystream = UnsafeMutableRawBufferPointer(rebasing: block[16..<32])
        var y: (UInt64, UInt64) = (0, 0)
        hash.absorb(&y, aad)
        if !encrypt { hash.absorb(&y, input) }
        counter.copyMemory(from: j0)
        var offset = 0
        while offset < input.count {
            // inc32: only the low 32 bits count, wrapping.
            let low = UInt32(bigEndian: counter.loadUnaligned(fromByteOffset: 12, as: UInt32.self)) &+ 1
            counter.storeBytes(of: low.bigEndian, toByteOffset: 12, as: UInt32.self)
            guard ecb.encryptBlock(counter.baseAddress!, keystream.baseAddress!, length: 16) else {
                throw .backendFailure
            }
            let count = min(16, input.count - offset)
            for index in 0..<count { output[offset + index] = input[offset + index] ^ keystream[index] }
            offset += count
        }
        if encrypt {
            hash.absorb(&y, UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(output)[0..<input.count]))
        }
        hash.finish(&y, aadLength: aad.count, textLength: input.count)
        counter.copyMemory(from: j0)
        guard ecb.encryptBlock(counter.baseAddress!, keystream.baseAddress!, length: 16) else { throw .backendFailure }
        GHash.mask(y, with: UnsafeRawBufferPointer(keystream), into: tag)
    }
}

/// GHASH of SP 800-38D §6.4 over GF(2¹²⁸), bit by bit (GCM with a given J0 and
/// GMAC-Twofish are the only users; OpenSSL's GCM covers the fast path).
struct GHash {
    /// The hash subkey H as two big-endian words.
    let hashKey: (UInt64, UInt64)

    init(subkey: UnsafeRawBufferPointer) {
        hashKey = (Self.word(subkey, 0, count: 16), Self.word(subkey, 8, count: 16))
    }

    static func word(_ bytes: UnsafeRawBufferPointer, _ offset: Int, count: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<8 { value = value << 8 | UInt64(offset + index < count ? bytes[offset + index] : 0) }
        return value
    }

    /// X · H in GF(2¹²⁸) with GCM's bit order (SP 800-38D Algorithm 1).
    func multiply(_ x: (UInt64, UInt64)) -> (UInt64, UInt64) {
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

    func absorb(_ y: inout (UInt64, UInt64), _ data: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < data.count {
            y = multiply(
                (y.0 ^ Self.word(data, offset, count: data.count), y.1 ^ Self.word(data, offset + 8, count: data.count))
            )
            offset += 16
        }
    }

    /// Absorbs the length block: len(A) ‖ len(C) in bits.
    func finish(_ y: inout (UInt64, UInt64), aadLength: Int, textLength: Int) {
        y = multiply((y.0 ^ UInt64(aadLength) * 8, y.1 ^ UInt64(textLength) * 8))
    }

    /// `tag = E(K, J0) ⊕ S`, written as 16 bytes.
    static func mask(
        _ y: (UInt64, UInt64), with keystream: UnsafeRawBufferPointer, into tag: UnsafeMutableRawBufferPointer
    ) {
        for index in 0..<16 {
            let word = index < 8 ? y.0 : y.1
            tag[index] = keystream[index] ^ UInt8(truncatingIfNeeded: word >> UInt64(56 - (index % 8) * 8))
        }
    }
}
