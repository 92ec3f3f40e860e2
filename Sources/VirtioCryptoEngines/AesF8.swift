import WireBytes

/// AES in f8 mode (RFC 3711 §4.1.2.1). The virtio key carries both f8 keys: the AES
/// key k_e, then the optional salt k_s (any length shorter than k_e). A 24- or 32-byte
/// key is AES-192/AES-256 without salt; other lengths from 17 to 31 bytes are AES-128
/// followed by a (length − 16)-byte salt, e.g. 20 bytes for RFC 3711 B.1's 4-byte salt.
///
/// IV' = E(k_e ⊕ m, IV) with m = k_s ‖ 0x55…; S(j) = E(k_e, IV' ⊕ j ⊕ S(j−1)).
final class AesF8Context: CipherContext, ContextCopying {
    let key: SecretBytes
    /// Keyed with k_e.
    private let keystreamCipher: EVPCipherContext
    /// Keyed with k_e ⊕ m.
    private let ivCipher: EVPCipherContext
    private let state: UnsafeMutableRawBufferPointer

    /// The AES key length for an f8 key of `count` bytes, nil when not valid.
    static func aesKeyLength(_ count: Int) -> Int? {
        switch count {
        case 16, 24, 32: return count
        case 17..<32: return 16
        default: return nil
        }
    }

    init(key: SecretBytes) throws(CryptoError) {
        guard let aesLength = Self.aesKeyLength(key.count) else { throw .invalidKeyLength }
        self.key = key
        let ecb = CipherParameters(keyLengths: [], ivLength: nil, dataBlock: 16)
        let masked = UnsafeMutableRawBufferPointer.allocate(byteCount: aesLength, alignment: 16)
        defer {
            zeroize(masked)
            masked.deallocate()
        }
        let salt = key.count - aesLength
        for index in 0..<aesLength {
            let mask: UInt8 = index < salt ? key.bytes[aesLength + index] : 0x55
            masked[index] = key.bytes[index] ^ mask
        }
        keystreamCipher = try EVPCipherContext(
            name: "AES-\(aesLength * 8)-ECB",
            key: SecretBytes(UnsafeRawBufferPointer(rebasing: key.bytes[0..<aesLength])),
            encrypt: true, parameters: ecb)
        ivCipher = try EVPCipherContext(
            name: "AES-\(aesLength * 8)-ECB", key: SecretBytes(UnsafeRawBufferPointer(masked)),
            encrypt: true, parameters: ecb)
        state = .allocate(byteCount: 48, alignment: 16)
    }

    deinit {
        zeroize(state)
        state.deallocate()
    }

    func copy() throws(CryptoError) -> any CipherContext & ContextCopying { try AesF8Context(key: key) }

    func run(iv: UnsafeRawBufferPointer, input: UnsafeRawBufferPointer, output: UnsafeMutableRawBufferPointer)
        throws(CryptoError)
    {
        guard iv.count == 16 else { throw .invalidIVLength }
        guard output.count >= input.count else { throw .invalidLength }
        let ivPrime = UnsafeMutableRawBufferPointer(rebasing: state[0..<16])
        let block = UnsafeMutableRawBufferPointer(rebasing: state[16..<32])
        let keystream = UnsafeMutableRawBufferPointer(rebasing: state[32..<48])
        guard ivCipher.encryptBlock(iv.baseAddress!, ivPrime.baseAddress!, length: 16) else { throw .backendFailure }
        keystream.initializeMemory(as: UInt8.self, repeating: 0)
        var offset = 0
        var j: UInt64 = 0
        while offset < input.count {
            for index in 0..<16 { block[index] = ivPrime[index] ^ keystream[index] }
            // j is a 128-bit big-endian counter; its high 64 bits stay zero for any real input.
            let low = UInt64(bigEndian: block.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) ^ j
            block.storeBytes(of: low.bigEndian, toByteOffset: 8, as: UInt64.self)
            guard keystreamCipher.encryptBlock(block.baseAddress!, keystream.baseAddress!, length: 16) else {
                throw .backendFailure
            }
            let count = min(16, input.count - offset)
            for index in 0..<count { output[offset + index] = input[offset + index] ^ keystream[index] }
            offset += count
            j += 1
        }
    }
}
