import COpenSSL
import VirtioCryptoWire

/// The algorithm-specific part of an AKCIPHER session (virtio_crypto_rsa_session_para or
/// virtio_crypto_ecdsa_session_para); the case is the algorithm, so the two cannot disagree.
public enum AkcipherParameters: Equatable, Sendable {
    case rsa(padding: RsaPadding, hash: RsaHashAlgorithm)
    case ecdsa(curve: EccCurve)

    public var algorithm: AkcipherAlgorithm {
        switch self {
        case .rsa: .rsa
        case .ecdsa: .ecdsa
        }
    }
}

/// An RSA or ECDSA key, decoded once at session creation into an OpenSSL `EVP_PKEY` (see
/// `AkcipherKeyDecoder` for the accepted encodings). The session keeps no copy of the key bytes;
/// OpenSSL clears the private numbers when the `EVP_PKEY` is freed at deinit (RSA_free and
/// EC_KEY_free release them with BN_clear_free). Private keys are not given to OpenSSL's DER
/// decoder (d2i_PrivateKey frees its transient copy of the DER without clearing it): their
/// numbers reach `EVP_PKEY_fromdata` through a temporary buffer that is zeroized afterwards.
/// The caller's `key` buffer itself is the caller's to clear.
///
/// Which operations a session serves (Spec/akcipher.yaml, errata of akcipher-key-type and of
/// the RSA rules): RSA ENCRYPT/DECRYPT with RAW (textbook RSA) or PKCS1 (RSAES-PKCS1-v1_5)
/// padding; RSA SIGN/VERIFY with PKCS1 only (EMSA-PKCS1-v1_5 over the digest the driver passes,
/// wrapped in the DigestInfo of hash_algo, none for NO_HASH); ECDSA SIGN/VERIFY over the digest
/// the driver passes, with DER ECDSA-Sig-Value signatures. DECRYPT and SIGN need a private key;
/// a private-key session also serves ENCRYPT and VERIFY. RSA blinding stays on (OpenSSL's default).
///
/// Shared by the workers: after init nothing here changes; the `EVP_PKEY` is only read by
/// OpenSSL's operations (which it allows from several threads) and the prepared contexts are
/// only duplicated, never used, so each worker's `AkcipherContext` holds the only mutable state.
public final class AkcipherSession: @unchecked Sendable {
    public let parameters: AkcipherParameters
    public let keyType: AkcipherKeyType
    /// The most bytes ENCRYPT, DECRYPT or SIGN writes: the modulus length k for RSA (every RSA
    /// result but a PKCS#1 plaintext is exactly k bytes), the longest DER signature of the curve
    /// for ECDSA. The device can refuse a shorter destination before calling.
    public let maxOutputLength: Int

    /// The key-length limit a daemon uses unless told otherwise: the longest DER RSAPrivateKey
    /// of an RSA-4096 key (2353 bytes), the largest key size the project tests.
    public static let defaultMaxKeyLength = rsaPrivateKeyBound(modulusBits: 4096)

    let pkey: OpaquePointer
    /// RSA: the modulus, big-endian, `maxOutputLength` bytes. Empty for ECDSA.
    let modulus: [UInt8]
    /// RSA: the padding; nil for ECDSA.
    let padding: RsaPadding?
    /// RSA PKCS1 with a hash OpenSSL provides: the length the signed data of SIGN and VERIFY
    /// (a digest) must have. nil for NO_HASH (up to k − 11 bytes), RAW and ECDSA (any length).
    public let digestLength: Int?
    /// One context per operation, prepared once and duplicated for each worker.
    let templates: [Slot]

    /// Creates the session. `maxKeyLength` bounds `key.count` before anything parses it.
    public init(
        keyType: AkcipherKeyType, key: UnsafeRawBufferPointer, parameters: AkcipherParameters,
        maxKeyLength: Int = AkcipherSession.defaultMaxKeyLength
    ) throws(CryptoError) {
        guard keyType == .publicKey || keyType == .privateKey else { throw .unsupported }
        var digest: AkcipherNames.Digest?
        switch parameters {
        case .rsa(let padding, let hash):
            switch padding {
            // hash_algo is ignored, whatever its value (dev.akcipher-session.rsa-raw-hash-algo-ignored)
            case .raw: break
            case .pkcs1:
                guard let named = AkcipherNames.digest(hash) else { throw .unsupported }
                digest = named
            default: throw .unsupported
            }
        case .ecdsa(let curve):
            guard AkcipherNames.group(curve) != nil else { throw .unsupported }
        }
        guard key.count <= maxKeyLength else { throw .invalidKeyLength }

        let decoded = try AkcipherKeyDecoder.decode(parameters, keyType: keyType, key: key)

        // A hash OpenSSL cannot sign with correctly (AkcipherProbe.rsaSigningHashes: Debian builds
        // no MD2, and MD4's DigestInfo is wrong) only stops SIGN and VERIFY: hash_algo "is ignored
        // during encryption and decryption", so the session is not refused for it
        // (dev.akcipher-session.rsa-pkcs1-hash-algo-ignored-for-encryption).
        let signing: Result<String?, CryptoError>
        var length: Int?
        switch digest {
        case .named(let name):
            if case .rsa(_, let hash) = parameters, AkcipherProbe.rsaSigningHashes.contains(hash),
                let md = OpenSSLRuntime.digest(name)
            {
                length = Int(EVP_MD_get_size(md))
                EVP_MD_free(md)
                signing = .success(name)
            } else {
                signing = .failure(.unsupported)
            }
        case .noDigestInfo:
            signing = .success(nil)
        case nil:
            // RSA RAW (rule drv.akcipher-session.rsa-raw-not-for-sign-verify); ECDSA does not use it.
            signing = .failure(.unsupported)
        }
        do throws(CryptoError) {
            templates = try Self.prepare(
                pkey: decoded.pkey, parameters: parameters, privateKey: keyType == .privateKey,
                signing: signing)
        } catch {
            EVP_PKEY_free(decoded.pkey)
            throw error
        }
        pkey = decoded.pkey
        modulus = decoded.modulus
        digestLength = length
        self.parameters = parameters
        self.keyType = keyType
        maxOutputLength = Int(EVP_PKEY_get_size(decoded.pkey))
        if case .rsa(let padding, _) = parameters { self.padding = padding } else { self.padding = nil }
    }

    deinit {
        for slot in templates { if case .ready(let context) = slot { EVP_PKEY_CTX_free(context) } }
        EVP_PKEY_free(pkey)
    }

    /// A context for one worker: each operation's EVP_PKEY_CTX duplicated from the session's,
    /// so requests never share mutable OpenSSL state and nothing is re-initialised per request.
    public func makeContext() throws(CryptoError) -> AkcipherContext { try AkcipherContext(session: self) }

    /// An operation's prepared context, or why the session cannot do it.
    enum Slot {
        case ready(OpaquePointer)
        case refused(CryptoError)
    }

    enum Operation: Int, CaseIterable {
        case encrypt, decrypt, sign, verify
    }

    /// Sets up one EVP_PKEY_CTX per operation the session serves. `signing` is the digest name
    /// for PKCS#1 signatures (nil: NO_HASH), or why RSA cannot sign here.
    private static func prepare(
        pkey: OpaquePointer, parameters: AkcipherParameters, privateKey: Bool,
        signing: Result<String?, CryptoError>
    ) throws(CryptoError) -> [Slot] {
        var slots: [Slot] = []
        do throws(CryptoError) {
            for operation in Operation.allCases {
                if case .ecdsa = parameters, operation == .encrypt || operation == .decrypt {
                    // ECDSA is a signature scheme only (errata of akcipher-algorithm.ecdsa)
                    slots.append(.refused(.unsupported))
                    continue
                }
                if case .rsa = parameters, operation == .sign || operation == .verify,
                    case .failure(let error) = signing
                {
                    slots.append(.refused(error))
                    continue
                }
                if !privateKey && (operation == .decrypt || operation == .sign) {
                    slots.append(.refused(.privateKeyRequired))
                    continue
                }
                var settings: [(StaticString, String)] = []
                if case .rsa(let padding, _) = parameters {
                    settings.append(("pad-mode", padding == .raw ? "none" : "pkcs1"))
                    if operation == .sign || operation == .verify, case .success(let name?) = signing {
                        settings.append(("digest", name))
                    }
                }
                slots.append(.ready(try context(pkey, operation, settings)))
            }
        } catch {
            for slot in slots { if case .ready(let context) = slot { EVP_PKEY_CTX_free(context) } }
            throw error
        }
        return slots
    }

    /// A fresh EVP_PKEY_CTX initialised for `operation`, with `settings` ("pad-mode", "digest") set.
    static func context(
        _ pkey: OpaquePointer, _ operation: Operation,
        _ settings: [(StaticString, String)]
    ) throws(CryptoError) -> OpaquePointer {
        guard let context = EVP_PKEY_CTX_new_from_pkey(nil, pkey, nil) else { throw .backendFailure }
        let initialised: Int32
        switch operation {
        case .encrypt: initialised = EVP_PKEY_encrypt_init(context)
        case .decrypt: initialised = EVP_PKEY_decrypt_init(context)
        case .sign: initialised = EVP_PKEY_sign_init(context)
        case .verify: initialised = EVP_PKEY_verify_init(context)
        }
        guard OpenSSLRuntime.ok(initialised), settings.allSatisfy({ set(context, $0.0, $0.1) }) else {
            OpenSSLRuntime.clearErrors()
            EVP_PKEY_CTX_free(context)
            throw .backendFailure
        }
        return context
    }

    private static func set(_ context: OpaquePointer, _ key: StaticString, _ value: String) -> Bool {
        value.withCString { text in
            withUnsafeTemporaryAllocation(of: OSSL_PARAM.self, capacity: 2) { params in
                params[0] = OSSL_PARAM_construct_utf8_string(cString(key), UnsafeMutablePointer(mutating: text), 0)
                params[1] = OSSL_PARAM_construct_end()
                return OpenSSLRuntime.ok(EVP_PKEY_CTX_set_params(context, params.baseAddress))
            }
        }
    }

    /// The longest DER RSAPrivateKey (RFC 8017 appendix A.1.2, two primes) for a modulus of
    /// `modulusBits` bits split into two primes of half that size, with a public exponent
    /// below 2^32: version, n, e, d, then p, q, dP, dQ and qInv, each INTEGER with room for the
    /// leading zero byte DER adds when the top bit is set.
    static func rsaPrivateKeyBound(modulusBits: Int) -> Int {
        func element(_ contentLength: Int) -> Int { DERScan.headerLength(contentLength) + contentLength }
        func integer(bits: Int) -> Int { element((bits + 7) / 8 + 1) }
        let content =
            element(1) + integer(bits: modulusBits) + integer(bits: 32) + integer(bits: modulusBits)
            + 5 * integer(bits: modulusBits / 2)
        return element(content)
    }
}
