import CDigests
import COpenSSL
import VirtioCryptoWire

/// A hash session: the algorithm and the result length, fixed at creation.
public final class HashSession: @unchecked Sendable {
    public let algorithm: HashAlgorithm
    /// Bytes of result each request produces (a prefix of the digest; any length for SHAKE).
    public let resultLength: Int
    let digest: OpaquePointer
    let isXOF: Bool

    /// Longest SHAKE output a request may ask for.
    public static let maxXOFLength = 1 << 16

    public init(algorithm: HashAlgorithm, resultLength: Int) throws(CryptoError) {
        guard let name = Self.evpName(algorithm), let digest = OpenSSLRuntime.digest(name) else { throw .unsupported }
        self.algorithm = algorithm
        self.digest = digest
        isXOF = algorithm == .sha3Shake128 || algorithm == .sha3Shake256
        let full = Int(EVP_MD_get_size(digest))
        let limit = isXOF ? Self.maxXOFLength : full
        guard resultLength > 0, resultLength <= limit else {
            EVP_MD_free(digest)
            throw .invalidLength
        }
        self.resultLength = resultLength
    }

    deinit { EVP_MD_free(digest) }

    /// The full digest size (the default SHAKE length for XOFs).
    public static func digestLength(_ algorithm: HashAlgorithm) -> Int? {
        guard let name = evpName(algorithm), let digest = OpenSSLRuntime.digest(name) else { return nil }
        defer { EVP_MD_free(digest) }
        return Int(EVP_MD_get_size(digest))
    }

    static func evpName(_ algorithm: HashAlgorithm) -> String? {
        switch algorithm {
        case .md5: return "MD5"
        case .sha1: return "SHA1"
        case .sha224: return "SHA2-224"
        case .sha256: return "SHA2-256"
        case .sha384: return "SHA2-384"
        case .sha512: return "SHA2-512"
        case .sha3224: return "SHA3-224"
        case .sha3256: return "SHA3-256"
        case .sha3384: return "SHA3-384"
        case .sha3512: return "SHA3-512"
        case .sha3Shake128: return "SHAKE-128"
        case .sha3Shake256: return "SHAKE-256"
        default: return nil
        }
    }

    public func makeContext() throws(CryptoError) -> HashContext { try HashContext(session: self) }
}

/// A worker's hashing state for one session. MD5, SHA-1 and SHA-2 run on plain state
/// structs (no allocation per request); SHA-3 and SHAKE on an EVP context.
public final class HashContext {
    public let session: HashSession
    private let scratch: UnsafeMutableRawBufferPointer
    /// How this context hashes: a CDigests state struct, or an EVP context (SHA-3, SHAKE).
    private let engine: Engine

    private enum Engine {
        case state(UnsafeMutablePointer<vc_digest_state>, kind: Int32)
        case evp(OpaquePointer)
    }

    init(session: HashSession) throws(CryptoError) {
        self.session = session
        let kind = Self.stateKind(session.algorithm)
        if kind != 0 {
            engine = .state(.allocate(capacity: 1), kind: kind)
        } else {
            guard let context = EVP_MD_CTX_new() else { throw .backendFailure }
            engine = .evp(context)
        }
        scratch = .allocate(byteCount: Int(EVP_MAX_MD_SIZE), alignment: 16)
    }

    deinit {
        switch engine {
        case .state(let state, _): state.deallocate()
        case .evp(let context): EVP_MD_CTX_free(context)
        }
        scratch.deallocate()
    }

    /// The CDigests kind of `algorithm`, 0 when it needs EVP.
    static func stateKind(_ algorithm: HashAlgorithm) -> Int32 {
        switch algorithm {
        case .md5: Int32(VC_DIGEST_MD5.rawValue)
        case .sha1: Int32(VC_DIGEST_SHA1.rawValue)
        case .sha224: Int32(VC_DIGEST_SHA224.rawValue)
        case .sha256: Int32(VC_DIGEST_SHA256.rawValue)
        case .sha384: Int32(VC_DIGEST_SHA384.rawValue)
        case .sha512: Int32(VC_DIGEST_SHA512.rawValue)
        default: 0
        }
    }

    /// Hashes `input` into `output` (exactly `resultLength` bytes).
    public func digest(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws(CryptoError)
    {
        try digest(parts: input, UnsafeRawBufferPointer(start: nil, count: 0), into: output)
    }

    /// Hashes `first ‖ second` (AAD then data in algorithm chaining) without copying them together.
    public func digest(
        parts first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws(CryptoError) {
        let length = session.resultLength
        guard output.count >= length else { throw .invalidLength }
        switch engine {
        case .state(let state, let kind):
            guard vc_digest_init(state, kind) == 1, vc_digest_update(state, first.baseAddress, first.count) == 1,
                vc_digest_update(state, second.baseAddress, second.count) == 1,
                vc_digest_final(state, scratch.basePointer) == 1
            else { throw .backendFailure }
        case .evp(let context):
            guard OpenSSLRuntime.ok(EVP_DigestInit_ex2(context, session.digest, nil)),
                first.isEmpty || OpenSSLRuntime.ok(EVP_DigestUpdate(context, first.baseAddress, first.count)),
                second.isEmpty || OpenSSLRuntime.ok(EVP_DigestUpdate(context, second.baseAddress, second.count))
            else {
                OpenSSLRuntime.clearErrors()
                throw .backendFailure
            }
            if session.isXOF {
                guard OpenSSLRuntime.ok(EVP_DigestFinalXOF(context, output.basePointer, length)) else {
                    throw .backendFailure
                }
                return
            }
            var written: UInt32 = 0
            guard OpenSSLRuntime.ok(EVP_DigestFinal_ex(context, scratch.basePointer, &written)), Int(written) >= length
            else {
                throw .backendFailure
            }
        }
        output.baseAddress!.copyMemory(from: scratch.baseAddress!, byteCount: length)
    }
}
