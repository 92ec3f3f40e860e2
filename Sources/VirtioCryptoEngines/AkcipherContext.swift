import COpenSSL
import VirtioCryptoWire
import WireBytes

/// A worker's AKCIPHER state for one session: its own EVP_PKEY_CTX per operation and a scratch
/// buffer, both made once, so a request allocates nothing here (OpenSSL's big-number code still
/// allocates inside each RSA or EC operation; its API offers no way around that).
///
/// Each operation writes its result at the start of `output` and returns its length; the driver
/// learns it from the used length (rule drv.akcipher.result-length-from-written-bytes). `input`
/// and `output` must not overlap (a guest's src_data is readable, its dst_data writable memory).
public final class AkcipherContext {
    public let session: AkcipherSession
    private let slots: [AkcipherSession.Slot]
    /// `[0, k)`: a textbook-RSA input left-padded to k bytes; `[k, 2k)`: a result that may not fit
    /// the caller's buffer (a PKCS#1 plaintext, an ECDSA signature), copied out when it does.
    private let scratch: UnsafeMutableRawBufferPointer

    init(session: AkcipherSession) throws(CryptoError) {
        self.session = session
        var slots: [AkcipherSession.Slot] = []
        for slot in session.templates {
            switch slot {
            case .ready(let template):
                guard let copy = EVP_PKEY_CTX_dup(template) else {
                    for made in slots { if case .ready(let context) = made { EVP_PKEY_CTX_free(context) } }
                    OpenSSLRuntime.clearErrors()
                    throw .backendFailure
                }
                slots.append(.ready(copy))
            case .refused(let error):
                slots.append(.refused(error))
            }
        }
        self.slots = slots
        scratch = .allocate(byteCount: 2 * session.maxOutputLength, alignment: 16)
    }

    deinit {
        for slot in slots { if case .ready(let context) = slot { EVP_PKEY_CTX_free(context) } }
        zeroize(scratch)
        scratch.deallocate()
    }

    private var k: Int { session.maxOutputLength }

    private func context(_ operation: AkcipherSession.Operation) throws(CryptoError) -> OpaquePointer {
        switch slots[operation.rawValue] {
        case .ready(let context): return context
        case .refused(let error): throw error
        }
    }

    /// RSA ENCRYPT. RAW: `input` is a big-endian integer of at most k bytes (left-padded with
    /// zeros, as Linux's raw RSA passes it) below n; PKCS1: a message of at most k − 11 bytes
    /// (RFC 8017 §7.2.1). Writes exactly k bytes.
    public func encrypt(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws(CryptoError)
        -> Int
    {
        let context = try context(.encrypt)
        guard output.count >= k else { throw .invalidLength }
        if session.padding == .raw {
            let padded = try textbookInput(input)
            defer { zeroize(inputArea) }  // the padded copy is plaintext
            return try run(EVP_PKEY_encrypt, context, padded, k, into: output.basePointer, capacity: output.count)
        }
        guard input.count <= k - 11 else { throw .invalidLength }
        return try run(
            EVP_PKEY_encrypt, context, input.basePointer, input.count, into: output.basePointer, capacity: output.count)
    }

    /// RSA DECRYPT. RAW: as `encrypt`, writing the k-byte integer with its leading zeros (rule
    /// dev.akcipher-session.rsa-raw-output-leading-zeros); PKCS1: a k-byte ciphertext, writing the
    /// message. A PKCS#1 block that does not decode is `.invalidInput` (ERR), like any other
    /// failure, so the status tells a guest no more than RFC 8017's single "decryption error".
    public func decrypt(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws(CryptoError)
        -> Int
    {
        let context = try context(.decrypt)
        if session.padding == .raw {
            guard output.count >= k else { throw .invalidLength }
            let padded = try textbookInput(input)
            return try run(EVP_PKEY_decrypt, context, padded, k, into: output.basePointer, capacity: output.count)
        }
        guard input.count == k else { throw .invalidLength }
        // OpenSSL wants room for k bytes whatever the message length, so it decrypts into the
        // scratch area; the plaintext is wiped from there once copied.
        defer { zeroize(resultArea) }
        let written: Int
        do throws(CryptoError) {
            written = try run(
                EVP_PKEY_decrypt, context, input.basePointer, k, into: resultArea.basePointer, capacity: k)
        } catch {
            throw .invalidInput
        }
        return try copyResult(written, into: output)
    }

    /// SIGN over `digest`, the data to be signed as the driver passes it (rule
    /// dev.akcipher.src-data-used-as-given). RSA PKCS1: `digest` has the length of hash_algo's
    /// digest, or at most k − 11 bytes for NO_HASH; writes k bytes. ECDSA: any length (FIPS 186
    /// uses the leftmost bits of the order's length); writes a DER ECDSA-Sig-Value.
    public func sign(_ digest: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws(CryptoError)
        -> Int
    {
        let context = try context(.sign)
        if session.padding != nil {
            try checkSignedData(digest)
            guard output.count >= k else { throw .invalidLength }
            return try run(
                EVP_PKEY_sign, context, digest.basePointer, digest.count, into: output.basePointer,
                capacity: output.count)
        }
        // OpenSSL wants room for the longest DER signature; a shorter buffer may still hold this one.
        if output.count >= k {
            return try run(
                EVP_PKEY_sign, context, digest.basePointer, digest.count, into: output.basePointer,
                capacity: output.count)
        }
        let written = try run(
            EVP_PKEY_sign, context, digest.basePointer, digest.count, into: resultArea.basePointer, capacity: k)
        return try copyResult(written, into: output)
    }

    /// VERIFY `signature` over `message` (the signed data: a digest, as for `sign`). Returns when
    /// the signature is valid and throws `.verificationFailed` (KEY_REJECTED) when it is not,
    /// malformed signatures included: OpenSSL reports a bad DER encoding, a wrong length or a
    /// value not below n as an error rather than as "invalid", and to the guest each is a
    /// signature that does not verify. A message of the wrong length for hash_algo is
    /// `.invalidLength` (ERR), as it is for SIGN.
    public func verify(signature: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer) throws(CryptoError) {
        let context = try context(.verify)
        if session.padding != nil {
            try checkSignedData(message)
            // RFC 8017 §8.2.2 step 1: an RSA signature is exactly k bytes. OpenSSL checks it only when
            // a digest is set; without one (NO_HASH) it would accept a signature shorter than k.
            guard signature.count == session.maxOutputLength else { throw .verificationFailed }
        }
        let result = EVP_PKEY_verify(
            context, signature.basePointer, signature.count, message.basePointer, message.count)
        guard OpenSSLRuntime.ok(result) else {
            OpenSSLRuntime.clearErrors()
            throw .verificationFailed
        }
    }

    // MARK: - helpers

    private var inputArea: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(rebasing: scratch[0..<k]) }
    private var resultArea: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: scratch[k..<(2 * k)])
    }

    /// The k-byte big-endian form of a textbook-RSA input, refused when longer than k bytes or
    /// not below the modulus (rule drv.akcipher-session.rsa-raw-input-leading-zeros, as the brief
    /// of this engine reads it: shorter inputs are left-padded rather than refused).
    private func textbookInput(_ input: UnsafeRawBufferPointer) throws(CryptoError) -> UnsafePointer<UInt8> {
        guard input.count <= k else { throw .invalidLength }
        let area = inputArea
        let pad = k - input.count
        for index in 0..<pad { area[index] = 0 }
        if !input.isEmpty { (area.baseAddress! + pad).copyMemory(from: input.baseAddress!, byteCount: input.count) }
        // Big-endian numbers of equal length compare as their bytes do.
        var below = false
        for index in 0..<k where area[index] != session.modulus[index] {
            below = area[index] < session.modulus[index]
            break
        }
        guard below else {
            zeroize(area)
            throw .invalidInput
        }
        return UnsafePointer(area.basePointer)
    }

    /// RSA PKCS1 signed data: exactly the digest length of hash_algo (errata of rule
    /// dev.akcipher-session.rsa-pkcs1-padding), or for NO_HASH what fits EMSA-PKCS1-v1_5 (k − 11).
    private func checkSignedData(_ data: UnsafeRawBufferPointer) throws(CryptoError) {
        if let length = session.digestLength {
            guard data.count == length else { throw .invalidLength }
        } else {
            guard data.count <= k - 11 else { throw .invalidLength }
        }
    }

    private func copyResult(_ written: Int, into output: UnsafeMutableRawBufferPointer) throws(CryptoError) -> Int {
        guard written <= output.count else { throw .invalidLength }
        if written > 0 { output.baseAddress!.copyMemory(from: resultArea.baseAddress!, byteCount: written) }
        return written
    }

    private typealias Operation = (
        OpaquePointer?, UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<Int>?,
        UnsafePointer<UInt8>?, Int
    ) -> Int32

    private func run(
        _ operation: Operation, _ context: OpaquePointer, _ input: UnsafePointer<UInt8>, _ count: Int,
        into output: UnsafeMutablePointer<UInt8>, capacity: Int
    ) throws(CryptoError) -> Int {
        var written = capacity
        guard OpenSSLRuntime.ok(operation(context, output, &written, input, count)) else {
            OpenSSLRuntime.clearErrors()
            throw .backendFailure
        }
        return written
    }
}
