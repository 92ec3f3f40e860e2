import COpenSSL
import VirtioCryptoWire

/// One request's cipher work on a worker's own context: only the IV changes per call.
/// `input` and `output` have the same length; they may be the same memory but must not
/// overlap partially.
public protocol CipherContext: AnyObject {
    func run(iv: UnsafeRawBufferPointer, input: UnsafeRawBufferPointer, output: UnsafeMutableRawBufferPointer)
        throws(CryptoError)
}

/// A cipher keyed once at session creation. Each data-queue worker takes its own
/// context from it (`makeContext`), so requests never share mutable crypto state.
public final class CipherSession: @unchecked Sendable {
    public let algorithm: CipherAlgorithm
    public let direction: Op
    let key: SecretBytes
    private let template: any CipherContext & ContextCopying

    public init(algorithm: CipherAlgorithm, key: UnsafeRawBufferPointer, direction: Op) throws(CryptoError) {
        guard direction == .encrypt || direction == .decrypt else { throw .unsupported }
        self.algorithm = algorithm
        self.direction = direction
        self.key = SecretBytes(key)
        self.template = try CipherFactory.make(algorithm, key: self.key, encrypt: direction == .encrypt)
    }

    /// A context for one worker, sharing the key schedule by copy (no re-keying per request).
    public func makeContext() throws(CryptoError) -> any CipherContext { try template.copy() }

    /// Valid key lengths, IV length and block size of each supported algorithm.
    public static func parameters(_ algorithm: CipherAlgorithm) -> CipherParameters? {
        CipherFactory.parameters(algorithm)
    }
}

/// What a cipher accepts: key lengths, IV length (nil: no IV), the block size that data
/// lengths must be a multiple of (1 for stream modes), and the longest input.
public struct CipherParameters: Sendable {
    public var keyLengths: [Int]
    public var ivLength: Int?
    public var dataBlock: Int
    public var maxDataLength: Int = Int(Int32.max)
}

/// The 3GPP specifications' input limits, which IPsec-MB enforces by doing nothing.
enum ThreeGPPLimits {
    /// KASUMI f8/f9: 20000 bits (3GPP TS 35.201).
    static let kasumiBytes = 20000 / 8
    /// ZUC 128-EEA3/EIA3: 65504 bits (IPsec-MB's ZUC_MAX_BITLEN).
    static let zucBytes = 65504 / 8
}

protocol ContextCopying {
    func copy() throws(CryptoError) -> any CipherContext & ContextCopying
}

enum CipherFactory {
    static func parameters(_ algorithm: CipherAlgorithm) -> CipherParameters? {
        switch algorithm {
        case .arc4: return CipherParameters(keyLengths: Array(1...256), ivLength: nil, dataBlock: 1)
        case .aesEcb: return CipherParameters(keyLengths: [16, 24, 32], ivLength: nil, dataBlock: 16)
        case .aesCbc: return CipherParameters(keyLengths: [16, 24, 32], ivLength: 16, dataBlock: 16)
        case .aesCtr: return CipherParameters(keyLengths: [16, 24, 32], ivLength: 16, dataBlock: 1)
        case .aesXts: return CipherParameters(keyLengths: [32, 64], ivLength: 16, dataBlock: 1)
        case .aesF8: return CipherParameters(keyLengths: Array(16...32), ivLength: 16, dataBlock: 1)
        case .desEcb: return CipherParameters(keyLengths: [8], ivLength: nil, dataBlock: 8)
        case .desCbc: return CipherParameters(keyLengths: [8], ivLength: 8, dataBlock: 8)
        case .tripleDesEcb: return CipherParameters(keyLengths: [16, 24], ivLength: nil, dataBlock: 8)
        case .tripleDesCbc: return CipherParameters(keyLengths: [16, 24], ivLength: 8, dataBlock: 8)
        case .tripleDesCtr: return CipherParameters(keyLengths: [16, 24], ivLength: 8, dataBlock: 1)
        case .kasumiF8:
            return CipherParameters(
                keyLengths: [16], ivLength: 8, dataBlock: 1, maxDataLength: ThreeGPPLimits.kasumiBytes)
        case .snow3gUea2:
            return CipherParameters(keyLengths: [16], ivLength: 16, dataBlock: 1, maxDataLength: Int(UInt32.max / 8))
        case .zucEea3:
            return CipherParameters(
                keyLengths: [16], ivLength: 16, dataBlock: 1, maxDataLength: ThreeGPPLimits.zucBytes)
        default: return nil
        }
    }

    /// OpenSSL cipher name for an algorithm and key length, for the EVP-backed ones.
    static func evpName(_ algorithm: CipherAlgorithm, keyLength: Int) -> String? {
        let bits = keyLength * 8
        switch algorithm {
        case .arc4: return "RC4"
        case .aesEcb: return "AES-\(bits)-ECB"
        case .aesCbc: return "AES-\(bits)-CBC"
        case .aesCtr: return "AES-\(bits)-CTR"
        case .aesXts: return "AES-\(bits / 2)-XTS"
        case .desEcb: return "DES-ECB"
        case .desCbc: return "DES-CBC"
        case .tripleDesEcb: return keyLength == 16 ? "DES-EDE-ECB" : "DES-EDE3-ECB"
        case .tripleDesCbc: return keyLength == 16 ? "DES-EDE-CBC" : "DES-EDE3-CBC"
        default: return nil
        }
    }

    /// CBC chains across requests, ECB needs nothing; the other EVP modes set their IV.
    static func ivHandling(_ algorithm: CipherAlgorithm) -> IVHandling {
        switch algorithm {
        case .aesCbc, .desCbc, .tripleDesCbc: return .cbcChaining
        case .aesEcb, .desEcb, .tripleDesEcb: return .none
        default: return .reinitialize
        }
    }

    static func make(_ algorithm: CipherAlgorithm, key: SecretBytes, encrypt: Bool) throws(CryptoError)
        -> any CipherContext & ContextCopying
    {
        guard let parameters = parameters(algorithm) else { throw .unsupported }
        guard parameters.keyLengths.contains(key.count) else { throw .invalidKeyLength }
        switch algorithm {
        case .tripleDesCtr:
            return try CounterModeContext(
                blockCipher: EVPCipherContext(
                    name: key.count == 16 ? "DES-EDE-ECB" : "DES-EDE3-ECB",
                    key: key, encrypt: true, parameters: CipherParameters(keyLengths: [], ivLength: nil, dataBlock: 8)))
        case .kasumiF8, .snow3gUea2, .zucEea3:
            return try ThreeGPPCipherContext(algorithm: algorithm, key: key)
        case .aesF8:
            return try AesF8Context(key: key)
        case .aesXts:
            return try XTSContext(key: key, encrypt: encrypt)
        default:
            guard let name = evpName(algorithm, keyLength: key.count) else { throw .unsupported }
            return try EVPCipherContext(
                name: name, key: key, encrypt: encrypt, parameters: parameters,
                rekeyEachRequest: algorithm == .arc4, ivHandling: ivHandling(algorithm))
        }
    }
}

/// How a request's IV reaches an EVP context. Setting an IV through `EVP_CipherInit_ex2` costs
/// about 1,500 instructions in OpenSSL 3 (it looks the IV length up through the provider's
/// parameters each time), more than the AES-NI work of a 256-byte request, so the modes that
/// allow it avoid the call.
enum IVHandling {
    /// Set with `EVP_CipherInit_ex2` per request (CTR; XTS from `XTSContext.openSSLThreshold` on;
    /// ARC4 re-keys instead).
    case reinitialize
    /// ECB: no IV, and no state carried between requests of whole blocks: nothing to set.
    case none
    /// CBC: the context keeps chaining from the last ciphertext block of the previous request,
    /// which this side keeps too, so the request's IV is applied by XOR to the first block.
    case cbcChaining
}

/// An OpenSSL EVP cipher context, keyed at creation; a request sets the IV (as `IVHandling`
/// says) and runs.
final class EVPCipherContext: CipherContext, ContextCopying {
    let context: OpaquePointer
    let parameters: CipherParameters
    let key: SecretBytes
    let encrypt: Bool
    /// Stream ciphers without an IV (ARC4) restart their keystream per request by re-keying.
    let rekeyEachRequest: Bool
    let ivHandling: IVHandling
    /// CBC: four blocks of scratch: the block the context chains from, the first and last
    /// blocks of a request (read from guest memory once), and a decrypted last block.
    private let blocks: UnsafeMutableRawBufferPointer
    /// CBC: whether the context's chaining block is the one in `blocks` (false until set, and
    /// after a failed update, when the next request sets its IV through OpenSSL).
    private var chainingKnown = false
    private static let blockSlot = 16

    init(
        name: String, key: SecretBytes, encrypt: Bool, parameters: CipherParameters, rekeyEachRequest: Bool = false,
        ivHandling: IVHandling = .reinitialize
    ) throws(CryptoError) {
        guard let cipher = OpenSSLRuntime.cipher(name) else { throw .unsupported }
        defer { EVP_CIPHER_free(cipher) }
        precondition(
            ivHandling != .cbcChaining
                || (parameters.ivLength == parameters.dataBlock && parameters.dataBlock <= Self.blockSlot
                    && parameters.dataBlock % 8 == 0),
            "CBC chaining needs an IV of one block of 8 or 16 bytes")
        guard let context = EVP_CIPHER_CTX_new() else { throw .backendFailure }
        self.context = context
        self.parameters = parameters
        self.key = key
        self.encrypt = encrypt
        self.rekeyEachRequest = rekeyEachRequest
        self.ivHandling = ivHandling
        blocks = Self.allocateBlocks()
        guard OpenSSLRuntime.ok(EVP_CipherInit_ex2(context, cipher, nil, nil, encrypt ? 1 : 0, nil)),
            OpenSSLRuntime.ok(EVP_CIPHER_CTX_set_key_length(context, Int32(key.count))),
            OpenSSLRuntime.ok(EVP_CipherInit_ex2(context, nil, key.bytes.basePointer, nil, encrypt ? 1 : 0, nil))
        else {
            OpenSSLRuntime.clearErrors()
            throw .invalidKeyLength  // e.g. XTS with two equal key halves
        }
        EVP_CIPHER_CTX_set_padding(context, 0)
    }

    private init(copying other: EVPCipherContext) throws(CryptoError) {
        guard let context = EVP_CIPHER_CTX_new() else { throw .backendFailure }
        guard OpenSSLRuntime.ok(EVP_CIPHER_CTX_copy(context, other.context)) else {
            EVP_CIPHER_CTX_free(context)
            throw .backendFailure
        }
        self.context = context
        self.parameters = other.parameters
        self.key = other.key
        self.encrypt = other.encrypt
        self.rekeyEachRequest = other.rekeyEachRequest
        self.ivHandling = other.ivHandling
        blocks = Self.allocateBlocks()
        blocks.copyMemory(from: UnsafeRawBufferPointer(other.blocks))
        chainingKnown = other.chainingKnown
    }

    private static func allocateBlocks() -> UnsafeMutableRawBufferPointer {
        let blocks = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 * blockSlot, alignment: 16)
        blocks.initializeMemory(as: UInt8.self, repeating: 0)
        return blocks
    }

    deinit {
        EVP_CIPHER_CTX_free(context)
        zeroize(blocks)  // plaintext blocks pass through it
        blocks.deallocate()
    }

    func copy() throws(CryptoError) -> any CipherContext & ContextCopying { try EVPCipherContext(copying: self) }

    func run(iv: UnsafeRawBufferPointer, input: UnsafeRawBufferPointer, output: UnsafeMutableRawBufferPointer)
        throws(CryptoError)
    {
        guard output.count >= input.count, input.count % parameters.dataBlock == 0,
            input.count <= parameters.maxDataLength, input.count <= Int(Int32.max)
        else { throw .invalidLength }
        if let ivLength = parameters.ivLength, iv.count != ivLength { throw .invalidIVLength }
        switch ivHandling {
        case .cbcChaining:
            guard runChained(iv: iv.baseAddress!, input: input, output: output) else {
                OpenSSLRuntime.clearErrors()
                throw .backendFailure
            }
        case .none:
            guard input.count == 0 || update(output.baseAddress!, input.baseAddress!, input.count) else {
                OpenSSLRuntime.clearErrors()
                throw .backendFailure
            }
        case .reinitialize:
            let keyPointer = rekeyEachRequest ? key.bytes.basePointer : nil
            let ivPointer = parameters.ivLength == nil ? nil : iv.basePointer
            guard OpenSSLRuntime.ok(EVP_CipherInit_ex2(context, nil, keyPointer, ivPointer, -1, nil)) else {
                OpenSSLRuntime.clearErrors()
                throw .backendFailure
            }
            var written: Int32 = 0
            var finalWritten: Int32 = 0
            guard
                OpenSSLRuntime.ok(
                    EVP_CipherUpdate(context, output.basePointer, &written, input.basePointer, Int32(input.count))),
                OpenSSLRuntime.ok(EVP_CipherFinal_ex(context, output.basePointer + Int(written), &finalWritten)),
                Int(written + finalWritten) == input.count
            else {
                OpenSSLRuntime.clearErrors()
                throw .backendFailure
            }
        }
    }

    /// `length` bytes through the context as they are (whole blocks, padding off: all come out).
    @inline(__always)
    private func update(_ output: UnsafeMutableRawPointer, _ input: UnsafeRawPointer, _ length: Int) -> Bool {
        guard length > 0 else { return true }
        var written: Int32 = 0
        return EVP_CipherUpdate(
            context, output.assumingMemoryBound(to: UInt8.self), &written, input.assumingMemoryBound(to: UInt8.self),
            Int32(length)) == 1 && Int(written) == length
    }

    /// CBC without setting the IV: the context chains from block S (kept in `blocks`), so the first
    /// plaintext block enters as P0 ⊕ IV ⊕ S (encryption), or the first output block leaves as
    /// D(C0) ⊕ S and is corrected by ⊕ S ⊕ IV (decryption). The first and last blocks go through this
    /// side's copies, read from guest memory once: the next S is then the block the context really
    /// chained from, whatever the guest does to its buffers meanwhile. Three updates cost a few hundred
    /// instructions; one IV set costs about 1,500.
    private func runChained(iv: UnsafeRawPointer, input: UnsafeRawBufferPointer, output: UnsafeMutableRawBufferPointer)
        -> Bool
    {
        let block = parameters.dataBlock
        let count = input.count
        guard count > 0 else { return true }
        let state = blocks.baseAddress!
        let first = state + Self.blockSlot
        let last = first + Self.blockSlot
        let decrypted = last + Self.blockSlot
        let words = block / 8
        if !chainingKnown {
            guard
                OpenSSLRuntime.ok(
                    EVP_CipherInit_ex2(context, nil, nil, iv.assumingMemoryBound(to: UInt8.self), -1, nil))
            else { return false }
            Self.copy(state, iv, words: words)
            chainingKnown = true
        }
        // Known again only once this request's last block went through.
        chainingKnown = false
        let source = input.baseAddress!
        let destination = output.baseAddress!
        let lastOffset = count - block
        let middle = count - 2 * block
        if encrypt {
            Self.copy(first, source, words: words)
            Self.xor(first, iv, state, words: words)
            guard update(first, first, block) else { return false }
            Self.copy(destination, first, words: words)
            if count == block {
                Self.copy(state, first, words: words)
            } else {
                guard update(destination + block, source + block, middle) else { return false }
                Self.copy(last, source + lastOffset, words: words)
                guard update(last, last, block) else { return false }
                Self.copy(destination + lastOffset, last, words: words)
                Self.copy(state, last, words: words)
            }
        } else {
            Self.copy(last, source + lastOffset, words: words)
            // One block: it is the last one too, read once (the guest may change it meanwhile).
            Self.copy(first, count == block ? UnsafeRawPointer(last) : source, words: words)
            guard update(first, first, block) else { return false }
            Self.xor(first, iv, state, words: words)
            Self.copy(destination, first, words: words)
            if count > block {
                guard update(destination + block, source + block, middle) else { return false }
                guard update(decrypted, last, block) else { return false }
                Self.copy(destination + lastOffset, decrypted, words: words)
            }
            Self.copy(state, last, words: words)
        }
        chainingKnown = true
        return true
    }

    /// One block (one or two 8-byte words): inline loads and stores, not a call to memcpy.
    @inline(__always)
    private static func copy(_ target: UnsafeMutableRawPointer, _ source: UnsafeRawPointer, words: Int) {
        target.storeBytes(of: source.loadUnaligned(as: UInt64.self), as: UInt64.self)
        if words == 2 {
            target.storeBytes(
                of: source.loadUnaligned(fromByteOffset: 8, as: UInt64.self), toByteOffset: 8, as: UInt64.self)
        }
    }

    /// `target ^= a ^ b` over one block (one or two 8-byte words).
    @inline(__always)
    private static func xor(_ target: UnsafeMutableRawPointer, _ a: UnsafeRawPointer, _ b: UnsafeRawPointer, words: Int)
    {
        @inline(__always) func word(_ offset: Int) {
            let value =
                target.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                ^ a.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                ^ b.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            target.storeBytes(of: value, toByteOffset: offset, as: UInt64.self)
        }
        word(0)
        if words == 2 { word(8) }
    }

    /// Encrypts exactly one block (for modes built on ECB); no IV, no checks.
    func encryptBlock(_ input: UnsafeRawPointer, _ output: UnsafeMutableRawPointer, length: Int) -> Bool {
        var written: Int32 = 0
        return OpenSSLRuntime.ok(
            EVP_CipherUpdate(
                context, output.assumingMemoryBound(to: UInt8.self), &written,
                input.assumingMemoryBound(to: UInt8.self), Int32(length)))
    }
}

/// CTR mode over a block cipher OpenSSL offers only in ECB (3DES): the IV is the initial
/// counter block, incremented as one big-endian integer per block.
final class CounterModeContext: CipherContext, ContextCopying {
    let blockCipher: EVPCipherContext
    let blockSize: Int
    private let scratch: UnsafeMutableRawBufferPointer

    init(blockCipher: EVPCipherContext) throws(CryptoError) {
        self.blockCipher = blockCipher
        self.blockSize = blockCipher.parameters.dataBlock
        scratch = .allocate(byteCount: blockSize * 2, alignment: 16)
    }

    deinit { scratch.deallocate() }

    func copy() throws(CryptoError) -> any CipherContext & ContextCopying {
        try CounterModeContext(blockCipher: blockCipher.copy() as! EVPCipherContext)
    }

    func run(iv: UnsafeRawBufferPointer, input: UnsafeRawBufferPointer, output: UnsafeMutableRawBufferPointer)
        throws(CryptoError)
    {
        guard iv.count == blockSize else { throw .invalidIVLength }
        guard output.count >= input.count else { throw .invalidLength }
        let counter = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<blockSize])
        let keystream = UnsafeMutableRawBufferPointer(rebasing: scratch[blockSize..<blockSize * 2])
        counter.copyMemory(from: iv)
        var offset = 0
        while offset < input.count {
            guard blockCipher.encryptBlock(counter.baseAddress!, keystream.baseAddress!, length: blockSize) else {
                throw .backendFailure
            }
            let count = min(blockSize, input.count - offset)
            for index in 0..<count { output[offset + index] = input[offset + index] ^ keystream[index] }
            offset += count
            var position = blockSize - 1
            while position >= 0 {
                counter[position] &+= 1
                if counter[position] != 0 { break }
                position -= 1
            }
        }
    }
}
