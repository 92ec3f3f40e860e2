import COpenSSL
import VirtioCryptoWire
import WireBytes

/// An AEAD session keyed once: GCM, CCM or ChaCha20-Poly1305, with its tag length and
/// direction. Encryption writes `ciphertext ‖ tag`; decryption reads `ciphertext ‖ tag`,
/// verifies, and only then releases the plaintext.
///
/// IVs: GCM takes a 12-byte IV, or 16 bytes that are J0 itself (the seed's reading of
/// SP 800-38D); CCM takes the 7–13-byte nonce; ChaCha20-Poly1305 the 12-byte nonce.
public final class AeadSession: @unchecked Sendable {
    public let algorithm: AeadAlgorithm
    public let tagLength: Int
    public let direction: Op
    let key: SecretBytes

    public init(algorithm: AeadAlgorithm, key: UnsafeRawBufferPointer, tagLength: Int, direction: Op)
        throws(CryptoError)
    {
        guard direction == .encrypt || direction == .decrypt else { throw .unsupported }
        switch algorithm {
        case .gcm:
            guard [16, 24, 32].contains(key.count) else { throw .invalidKeyLength }
            guard [4, 8, 12, 13, 14, 15, 16].contains(tagLength) else { throw .invalidLength }
        case .ccm:
            guard [16, 24, 32].contains(key.count) else { throw .invalidKeyLength }
            guard (4...16).contains(tagLength), tagLength % 2 == 0 else { throw .invalidLength }
        case .chacha20Poly1305:
            guard key.count == 32 else { throw .invalidKeyLength }
            guard (1...16).contains(tagLength) else { throw .invalidLength }
        default:
            throw .unsupported
        }
        self.algorithm = algorithm
        self.tagLength = tagLength
        self.direction = direction
        self.key = SecretBytes(key)
    }

    public func makeContext() throws(CryptoError) -> AeadContext { try AeadContext(session: self) }

    var evpName: String {
        switch algorithm {
        case .gcm: return "AES-\(key.count * 8)-GCM"
        case .ccm: return "AES-\(key.count * 8)-CCM"
        default: return "ChaCha20-Poly1305"
        }
    }
}

/// A worker's AEAD state for one session.
public final class AeadContext {
    public let session: AeadSession
    let context: OpaquePointer
    /// GCM with a caller-given J0 is computed here (OpenSSL only derives J0 from an IV).
    private lazy var explicitJ0: GCMWithJ0? = try? GCMWithJ0(key: session.key)
    private let tagScratch: UnsafeMutableRawBufferPointer

    init(session: AeadSession) throws(CryptoError) {
        guard let cipher = OpenSSLRuntime.cipher(session.evpName) else { throw .unsupported }
        defer { EVP_CIPHER_free(cipher) }
        guard let context = EVP_CIPHER_CTX_new() else { throw .backendFailure }
        self.session = session
        self.context = context
        tagScratch = .allocate(byteCount: 16, alignment: 16)
        let encrypt: Int32 = session.direction == .encrypt ? 1 : 0
        // CCM must know its tag length before the key; the others take the key now.
        if session.algorithm == .ccm {
            guard OpenSSLRuntime.ok(EVP_CipherInit_ex2(context, cipher, nil, nil, encrypt, nil)) else {
                throw .backendFailure
            }
        } else {
            guard
                OpenSSLRuntime.ok(EVP_CipherInit_ex2(context, cipher, session.key.bytes.basePointer, nil, encrypt, nil))
            else {
                OpenSSLRuntime.clearErrors()
                throw .invalidKeyLength
            }
        }
    }

    deinit {
        EVP_CIPHER_CTX_free(context)
        tagScratch.deallocate()
    }

    /// Encrypts (`output` = ciphertext ‖ tag, `input.count + tagLength` bytes) or decrypts
    /// (`input` = ciphertext ‖ tag, `output` = plaintext) as the session's direction says.
    /// On a tag mismatch the output is zeroed and `.authenticationFailed` thrown.
    public func run(
        iv: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer, input: UnsafeRawBufferPointer,
        output: UnsafeMutableRawBufferPointer
    ) throws(CryptoError) {
        let tagLength = session.tagLength
        let encrypt = session.direction == .encrypt
        let textLength = encrypt ? input.count : input.count - tagLength
        guard textLength >= 0, output.count >= (encrypt ? input.count + tagLength : textLength),
            textLength <= Int(Int32.max), aad.count <= Int(Int32.max)
        else { throw .invalidLength }
        let text = UnsafeRawBufferPointer(rebasing: input[0..<textLength])
        let tagIn = UnsafeRawBufferPointer(rebasing: input[textLength...])
        let textOut = UnsafeMutableRawBufferPointer(rebasing: output[0..<textLength])

        if session.algorithm == .gcm && iv.count == 16 {
            guard let gcm = explicitJ0 else { throw .backendFailure }
            try gcm.run(j0: iv, aad: aad, input: text, output: textOut, encrypt: encrypt, tag: tagScratch)
        } else {
            try evpRun(iv: iv, aad: aad, text: text, textOut: textOut, tagIn: tagIn, encrypt: encrypt)
        }
        if encrypt {
            (output.baseAddress! + textLength).copyMemory(from: tagScratch.baseAddress!, byteCount: tagLength)
        } else if session.algorithm == .gcm && iv.count == 16 {
            if !constantTimeEqual(
                UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(tagScratch)[0..<tagLength]), tagIn)
            {
                zeroize(textOut)
                throw .authenticationFailed
            }
        }
    }

    private func evpRun(
        iv: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer, text: UnsafeRawBufferPointer,
        textOut: UnsafeMutableRawBufferPointer, tagIn: UnsafeRawBufferPointer, encrypt: Bool
    ) throws(CryptoError) {
        let algorithm = session.algorithm
        let tagLength = session.tagLength
        switch algorithm {
        case .gcm: guard iv.count == 12 else { throw .invalidIVLength }
        case .ccm: guard (7...13).contains(iv.count) else { throw .invalidIVLength }
        default: guard iv.count == 12 else { throw .invalidIVLength }
        }
        var ok = true
        if algorithm == .ccm {
            ok = ok && OpenSSLRuntime.ok(EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_IVLEN, Int32(iv.count), nil))
            ok =
                ok
                && OpenSSLRuntime.ok(
                    EVP_CIPHER_CTX_ctrl(
                        context, EVP_CTRL_AEAD_SET_TAG, Int32(tagLength),
                        encrypt ? nil : UnsafeMutableRawPointer(mutating: tagIn.baseAddress)))
            ok =
                ok
                && OpenSSLRuntime.ok(
                    EVP_CipherInit_ex2(context, nil, session.key.bytes.basePointer, iv.basePointer, -1, nil))
            var unused: Int32 = 0
            ok = ok && OpenSSLRuntime.ok(EVP_CipherUpdate(context, nil, &unused, nil, Int32(text.count)))
        } else {
            ok = ok && OpenSSLRuntime.ok(EVP_CipherInit_ex2(context, nil, nil, iv.basePointer, -1, nil))
            if !encrypt {
                ok =
                    ok
                    && OpenSSLRuntime.ok(
                        EVP_CIPHER_CTX_ctrl(
                            context, EVP_CTRL_AEAD_SET_TAG, Int32(tagLength),
                            UnsafeMutableRawPointer(mutating: tagIn.baseAddress)))
            }
        }
        var written: Int32 = 0
        if ok && !aad.isEmpty {
            ok = OpenSSLRuntime.ok(EVP_CipherUpdate(context, nil, &written, aad.basePointer, Int32(aad.count)))
        }
        if ok && (!text.isEmpty || algorithm == .ccm) {
            ok = OpenSSLRuntime.ok(
                EVP_CipherUpdate(context, textOut.basePointer, &written, text.basePointer, Int32(text.count)))
        }
        guard ok else {
            OpenSSLRuntime.clearErrors()
            zeroize(textOut)
            // CCM verifies inside the update that carries the data.
            if algorithm == .ccm && !encrypt { throw .authenticationFailed }
            throw .backendFailure
        }
        if algorithm != .ccm {
            var finalWritten: Int32 = 0
            guard OpenSSLRuntime.ok(EVP_CipherFinal_ex(context, textOut.basePointer + Int(written), &finalWritten))
            else {
                OpenSSLRuntime.clearErrors()
                zeroize(textOut)
                if !encrypt { throw .authenticationFailed }
                throw .backendFailure
            }
        }
        if encrypt {
            guard
                OpenSSLRuntime.ok(
                    EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_GET_TAG, Int32(tagLength), tagScratch.baseAddress))
            else {
                throw .backendFailure
            }
        }
    }
}

/// Whether two tags are equal, in time that does not depend on where they differ.
public func constantTimeEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in 0..<a.count { difference |= a[index] ^ b[index] }
    return difference == 0
}
