import COpenSSL
import WireBytes

/// XTS-AES (IEEE Std 1619, NIST SP 800-38E) built on two AES-ECB contexts keyed once, so a
/// request sets no IV in OpenSSL: `EVP_CipherInit_ex2` with an IV costs about 1,500 instructions
/// in OpenSSL 3.0, more than the AES work of a 256-byte request.
///
/// The key is K1 ‖ K2. T₀ = E_K2(IV); block j is C_j = E_K1(P_j ⊕ T_j) ⊕ T_j with
/// T_{j+1} = T_j · α in GF(2¹²⁸) (tweaks as little-endian 128-bit integers, feedback 0x87). A final
/// partial block takes ciphertext stealing. The work goes in chunks: one pass writes the chunk's
/// tweaks to scratch and output = input ⊕ T, one ECB call runs over the chunk in place, a second
/// pass XORs the tweaks back in.
///
/// Requests of `openSSLFrom` bytes or more go to OpenSSL's own XTS instead (its interleaved
/// AES-NI code wins once the IV cost is spread over enough data). Both paths answer the same
/// errors as OpenSSL's XTS alone did: no more than 2²⁰ blocks (16 MiB) per request and no fewer
/// than 16 bytes (`backendFailure`), an IV of 16 bytes (`invalidIVLength`), and for encryption a key
/// whose halves differ (`invalidKeyLength`; OpenSSL 3.0's default provider allows equal halves
/// when decrypting).
final class XTSContext: CipherContext, ContextCopying {
    /// Blocks per ECB call; their tweaks fill `scratch`.
    static let chunkBlocks = 256
    /// OpenSSL 3.0's limit: 2²⁰ blocks per data unit (IEEE Std 1619-2018).
    static let maxDataLength = 16 << 20
    /// From this request length on, OpenSSL's XTS is the faster path. Chosen by time, not by
    /// instructions: the construction's two passes over the data wait on their own stores, so it
    /// executes fewer instructions than OpenSSL's XTS up to 1,536 B but takes longer from ~640 B.
    /// `virtio-crypto-bench device --workloads aes-256-xts --modes session` (the device core in
    /// process), ns per request, OpenSSL's XTS with its IV set per request → this construction:
    ///
    ///      256 B  183 → 126        640 B  226–243 → 227–233
    ///      512 B  220 → 192        768 B  233–240 → 263–267
    ///      576 B  227 → 219      1,024 B      277 → 336
    ///
    /// Instructions per request (callgrind, AES-256 encryption; AES-128 and decryption alike):
    ///
    ///       64 B  1,599 →    760        1,536 B  4,511 →  4,493
    ///      256 B  1,989 →  1,232        2,048 B  5,535 →  5,796
    ///      512 B  2,512 →  1,885        4,096 B  9,548 → 11,013
    ///    1,024 B  3,501 →  3,188       16,384 B 33,741 → 42,888
    ///
    /// The construction saves the IV set (~850 instructions) but spends ~9 more per block than
    /// OpenSSL's interleaved XTS (two passes over the data and a tweak store beside the ECB work).
    /// Timed with AES-256 only (the benchmark's XTS workload).
    static let openSSLThreshold = 640

    let encrypt: Bool
    let openSSLFrom: Int
    /// K1, in the session's direction.
    private let dataCipher: EVPCipherContext
    /// K2, always encrypting: computes T₀.
    private let tweakCipher: EVPCipherContext
    /// OpenSSL's own AES-XTS, for requests of `openSSLFrom` bytes or more (nil if none are).
    private let openSSL: EVPCipherContext?
    /// `chunkBlocks` tweaks, then one block for ciphertext stealing. Holds tweaks and plaintext.
    private let scratch: UnsafeMutableRawBufferPointer

    init(key: SecretBytes, encrypt: Bool, openSSLFrom: Int = XTSContext.openSSLThreshold) throws(CryptoError) {
        guard key.count == 32 || key.count == 64 else { throw .invalidKeyLength }
        let half = key.count / 2
        let base = key.bytes.baseAddress!
        // As OpenSSL's XTS key setup: equal halves are refused for encryption only.
        if encrypt && CRYPTO_memcmp(base, base + half, half) == 0 { throw .invalidKeyLength }
        let ecb = CipherParameters(keyLengths: [], ivLength: nil, dataBlock: 16)
        let name = "AES-\(half * 8)-ECB"
        dataCipher = try EVPCipherContext(
            name: name, key: SecretBytes(UnsafeRawBufferPointer(rebasing: key.bytes[0..<half])), encrypt: encrypt,
            parameters: ecb, ivHandling: .none)
        tweakCipher = try EVPCipherContext(
            name: name, key: SecretBytes(UnsafeRawBufferPointer(rebasing: key.bytes[half...])), encrypt: true,
            parameters: ecb, ivHandling: .none)
        openSSL =
            openSSLFrom > Self.maxDataLength
            ? nil
            : try EVPCipherContext(
                name: "AES-\(half * 8)-XTS", key: key, encrypt: encrypt,
                parameters: CipherFactory.parameters(.aesXts)!, ivHandling: .reinitialize)
        self.encrypt = encrypt
        self.openSSLFrom = openSSLFrom
        scratch = Self.allocateScratch()
    }

    private init(copying other: XTSContext) throws(CryptoError) {
        dataCipher = try other.dataCipher.copy() as! EVPCipherContext
        tweakCipher = try other.tweakCipher.copy() as! EVPCipherContext
        openSSL = try other.openSSL.map { context throws(CryptoError) in try context.copy() as! EVPCipherContext }
        encrypt = other.encrypt
        openSSLFrom = other.openSSLFrom
        scratch = Self.allocateScratch()
    }

    private static func allocateScratch() -> UnsafeMutableRawBufferPointer {
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: (chunkBlocks + 1) * 16, alignment: 64)
        scratch.initializeMemory(as: UInt8.self, repeating: 0)
        return scratch
    }

    deinit {
        zeroize(scratch)  // tweaks, and plaintext in the stealing block
        scratch.deallocate()
    }

    func copy() throws(CryptoError) -> any CipherContext & ContextCopying { try XTSContext(copying: self) }

    func run(iv: UnsafeRawBufferPointer, input: UnsafeRawBufferPointer, output: UnsafeMutableRawBufferPointer)
        throws(CryptoError)
    {
        // OpenSSL's XTS makes the checks that the construction repeats below.
        // (`openSSL!` borrows the property; `if let` would retain and release it.)
        if input.count >= openSSLFrom, openSSL != nil {
            try openSSL!.run(iv: iv, input: input, output: output)
        } else {
            try runConstruction(iv: iv, input: input, output: output)
        }
    }

    /// Apart from `run`, so that a request for OpenSSL's XTS pays none of its set-up.
    @inline(never)
    private func runConstruction(
        iv: UnsafeRawBufferPointer, input: UnsafeRawBufferPointer, output: UnsafeMutableRawBufferPointer
    ) throws(CryptoError) {
        // The checks, and their order, of EVPCipherContext.run.
        guard output.count >= input.count, input.count <= Int(Int32.max) else { throw .invalidLength }
        guard iv.count == 16 else { throw .invalidIVLength }
        let count = input.count
        // What OpenSSL's XTS refuses (it writes nothing then).
        guard count >= 16, count <= Self.maxDataLength else { throw .backendFailure }
        guard
            let tweak = Self.encryptTweak(iv.baseAddress!, tweakCipher.context, into: scratch.baseAddress!),
            run(tweak: tweak, input: input.baseAddress!, output: output.baseAddress!, count: count)
        else {
            OpenSSLRuntime.clearErrors()
            throw .backendFailure
        }
    }

    /// A tweak, a 128-bit integer read little-endian from its 16 bytes: lane 0 holds bytes 0–7.
    struct Tweak {
        var value: SIMD2<UInt64>

        init(low: UInt64, high: UInt64) { value = SIMD2(low, high) }

        /// The tweak stored at `slot` (16 bytes, 16-aligned).
        @inline(__always)
        init(at slot: UnsafeRawPointer) {
            let bytes = slot.load(as: SIMD2<UInt64>.self)
            value = SIMD2(UInt64(littleEndian: bytes[0]), UInt64(littleEndian: bytes[1]))
        }

        var low: UInt64 { value[0] }
        var high: UInt64 { value[1] }

        /// Its 16 bytes as two native words, to XOR into data.
        @inline(__always)
        var bytes: SIMD2<UInt64> {
            #if _endian(little)
                value
            #else
                SIMD2(value[0].byteSwapped, value[1].byteSwapped)
            #endif
        }

        /// Multiplies by α (x) in GF(2¹²⁸) mod x¹²⁸ + x⁷ + x² + x + 1: each lane shifts left by one;
        /// bit 63 carries into lane 1, bit 127 feeds 0x87 back into lane 0. The carries' masks come
        /// from the lanes' top 32-bit words, swapped and shifted arithmetically (no 64-bit arithmetic
        /// shift below AVX-512).
        @inline(__always)
        mutating func double() {
            let words = unsafeBitCast(value, to: SIMD4<Int32>.self)
            #if _endian(little)
                let signs = SIMD4(words[3], words[3], words[1], words[1]) &>> 31
            #else
                let signs = SIMD4(words[2], words[2], words[0], words[0]) &>> 31
            #endif
            let carries = unsafeBitCast(signs, to: SIMD2<UInt64>.self) & SIMD2(0x87, 1)
            value = (value &<< 1) ^ carries
        }
    }

    /// T₀ = E_K2(IV), through `slot` (one block of scratch).
    @inline(__always)
    private static func encryptTweak(
        _ iv: UnsafeRawPointer, _ cipher: OpaquePointer, into slot: UnsafeMutableRawPointer
    ) -> Tweak? {
        guard ecb(cipher, slot, iv, 16) else { return nil }
        return Tweak(at: slot)
    }

    /// `length` bytes (whole blocks) through an ECB context; `output` may be `input`.
    ///
    /// `EVP_Cipher`, not `EVP_CipherUpdate`: for a provider cipher it calls the provider's one-shot
    /// cipher function, which skips the partial-block buffering of an update. With whole blocks and
    /// padding off both compute the same; the provider path returns the byte count, or -1 on failure.
    @inline(__always)
    private static func ecb(
        _ cipher: OpaquePointer, _ output: UnsafeMutableRawPointer, _ input: UnsafeRawPointer, _ length: Int
    ) -> Bool {
        EVP_Cipher(
            cipher, output.assumingMemoryBound(to: UInt8.self), input.assumingMemoryBound(to: UInt8.self),
            UInt32(truncatingIfNeeded: length)) == Int32(truncatingIfNeeded: length)
    }

    /// The blocks of a request of `count` bytes (16 to 2²⁴), from T₀ = `tweak`.
    private func run(tweak start: Tweak, input: UnsafeRawPointer, output: UnsafeMutableRawPointer, count: Int)
        -> Bool
    {
        let cipher = dataCipher.context
        let tweaks = scratch.baseAddress!
        let partial = count & 15
        let fullBlocks = count &>> 4
        var tweak = start
        // Ciphertext stealing runs the last full block and the partial one with the two last
        // tweaks: encryption T_{m−1} then T_m, decryption T_m then T_{m−1}. The block that goes with
        // the bulk gets the first, the stealing block the second.
        var stealingTweak = start
        var done = 0
        while done < fullBlocks {
            let blocks = min(fullBlocks &- done, Self.chunkBlocks)
            let offset = done &<< 4
            Self.whiten(input + offset, output + offset, tweaks: tweaks, blocks: blocks, tweak: &tweak)
            done &+= blocks
            if partial != 0 {
                if encrypt {
                    stealingTweak = tweak
                } else if done == fullBlocks {
                    // Decryption: the last full block takes T_m (now `tweak`), not T_{m−1}.
                    let last = tweaks + ((blocks &- 1) &<< 4)
                    stealingTweak = Tweak(at: last)
                    Self.xor(output + offset + ((blocks &- 1) &<< 4), stealingTweak.bytes ^ tweak.bytes)
                    last.storeBytes(of: tweak.bytes, as: SIMD2<UInt64>.self)
                }
            }
            guard Self.ecb(cipher, output + offset, output + offset, blocks &<< 4) else { return false }
            Self.unwhiten(output + offset, tweaks: tweaks, blocks: blocks)
        }
        guard partial != 0 else { return true }
        // The last full output block is CC (encryption) or PP (decryption); the stealing block is
        // the partial input ‖ its tail, and its result replaces it; its head is the partial output.
        let last = output + ((fullBlocks &- 1) &<< 4)
        let stealing = tweaks + (Self.chunkBlocks &<< 4)
        let partialOffset = fullBlocks &<< 4
        stealing.copyMemory(from: input + partialOffset, byteCount: partial)
        (stealing + partial).copyMemory(from: last + partial, byteCount: 16 &- partial)
        (output + partialOffset).copyMemory(from: last, byteCount: partial)
        Self.xor(stealing, stealingTweak.bytes)
        guard Self.ecb(cipher, stealing, stealing, 16) else { return false }
        Self.xor(stealing, stealingTweak.bytes)
        last.copyMemory(from: stealing, byteCount: 16)
        return true
    }

    /// Pass one over a chunk: tweak j to `tweaks`, output_j = input_j ⊕ T_j; leaves `tweak` at the
    /// next block's.
    @inline(__always)
    private static func whiten(
        _ input: UnsafeRawPointer, _ output: UnsafeMutableRawPointer, tweaks: UnsafeMutableRawPointer, blocks: Int,
        tweak: inout Tweak
    ) {
        var t = tweak
        var offset = 0
        let end = blocks &<< 4
        while offset < end {
            let bytes = t.bytes
            tweaks.storeBytes(of: bytes, toByteOffset: offset, as: SIMD2<UInt64>.self)
            let block = input.loadUnaligned(fromByteOffset: offset, as: SIMD2<UInt64>.self)
            output.storeBytes(of: block ^ bytes, toByteOffset: offset, as: SIMD2<UInt64>.self)
            t.double()
            offset &+= 16
        }
        tweak = t
    }

    /// Pass two: output_j ⊕= T_j.
    @inline(__always)
    private static func unwhiten(_ output: UnsafeMutableRawPointer, tweaks: UnsafeRawPointer, blocks: Int) {
        var offset = 0
        let end = blocks &<< 4
        while offset < end {
            let block = output.loadUnaligned(fromByteOffset: offset, as: SIMD2<UInt64>.self)
            let bytes = tweaks.load(fromByteOffset: offset, as: SIMD2<UInt64>.self)
            output.storeBytes(of: block ^ bytes, toByteOffset: offset, as: SIMD2<UInt64>.self)
            offset &+= 16
        }
    }

    /// One block ⊕= `bytes`.
    @inline(__always)
    private static func xor(_ block: UnsafeMutableRawPointer, _ bytes: SIMD2<UInt64>) {
        block.storeBytes(of: block.loadUnaligned(as: SIMD2<UInt64>.self) ^ bytes, as: SIMD2<UInt64>.self)
    }
}
