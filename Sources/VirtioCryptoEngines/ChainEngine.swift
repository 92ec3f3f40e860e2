import VirtioCryptoWire

/// Algorithm chaining: a cipher and a hash or MAC on regions of one source buffer.
///
/// Reading of the seed used here (the seed defines the fields, not the arithmetic):
/// - `dst` has the layout of `src`: bytes in the cipher region are transformed, the others
///   copied, so `dst` must be at least as long as `src`;
/// - HASH_THEN_CIPHER hashes the source region, CIPHER_THEN_HASH hashes the region of the
///   output after ciphering (encrypt-then-MAC);
/// - the hash or MAC input is `aad ‖ region`;
/// - MACs that need their own IV (GMAC, the 3GPP MACs) cannot be chained: no field carries it.
public final class ChainSession: @unchecked Sendable {
    public enum Authenticator: Sendable {
        case hash(HashSession)
        case mac(MacSession)
    }

    public let cipher: CipherSession
    public let authenticator: Authenticator
    public let order: ChainOrder

    public init(cipher: CipherSession, authenticator: Authenticator, order: ChainOrder) throws(CryptoError) {
        guard order == .hashThenCipher || order == .cipherThenHash else { throw .unsupported }
        if case .mac(let mac) = authenticator, [.gmacAes, .kasumiF9, .snow3gUia2, .zucEia3].contains(mac.algorithm) {
            throw .unsupported
        }
        self.cipher = cipher
        self.authenticator = authenticator
        self.order = order
    }

    public func makeContext() throws(CryptoError) -> ChainContext { try ChainContext(session: self) }
}

public final class ChainContext {
    let session: ChainSession
    let cipher: any CipherContext
    let hash: HashContext?
    let mac: MacContext?

    init(session: ChainSession) throws(CryptoError) {
        self.session = session
        cipher = try session.cipher.makeContext()
        switch session.authenticator {
        case .hash(let hashSession):
            hash = try hashSession.makeContext()
            mac = nil
        case .mac(let macSession):
            mac = try macSession.makeContext()
            hash = nil
        }
    }

    /// Runs the chain. Ranges are checked against `src` here; a bad one is `.invalidLength`.
    /// Bytes of hash or MAC result a request produces (the session's result length).
    public var resultLength: Int { hash?.session.resultLength ?? mac?.resultLength ?? 0 }

    public func run(
        iv: UnsafeRawBufferPointer, src: UnsafeRawBufferPointer, cipherRange: Range<Int>, hashRange: Range<Int>,
        aad: UnsafeRawBufferPointer, dst: UnsafeMutableRawBufferPointer,
        hashResult: UnsafeMutableRawBufferPointer
    ) throws(CryptoError) {
        guard cipherRange.upperBound <= src.count, hashRange.upperBound <= src.count, dst.count >= src.count else {
            throw .invalidLength
        }
        if session.order == .hashThenCipher {
            try authenticate(aad, UnsafeRawBufferPointer(rebasing: src[hashRange]), hashResult)
        }
        // Copy what lies outside the cipher region (memmove: src and dst may be the same memory).
        if src.baseAddress != UnsafeRawPointer(dst.baseAddress) {
            if cipherRange.lowerBound > 0 {
                dst.baseAddress!.copyMemory(from: src.baseAddress!, byteCount: cipherRange.lowerBound)
            }
            if cipherRange.upperBound < src.count {
                (dst.baseAddress! + cipherRange.upperBound).copyMemory(
                    from: src.baseAddress! + cipherRange.upperBound,
                    byteCount: src.count - cipherRange.upperBound)
            }
        }
        try cipher.run(
            iv: iv, input: UnsafeRawBufferPointer(rebasing: src[cipherRange]),
            output: UnsafeMutableRawBufferPointer(rebasing: dst[cipherRange]))
        if session.order == .cipherThenHash {
            try authenticate(aad, UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(dst)[hashRange]), hashResult)
        }
    }

    private func authenticate(
        _ aad: UnsafeRawBufferPointer, _ region: UnsafeRawBufferPointer,
        _ output: UnsafeMutableRawBufferPointer
    ) throws(CryptoError) {
        if let hash {
            try hash.digest(parts: aad, region, into: output)
        } else if let mac {
            try mac.mac(iv: UnsafeRawBufferPointer(start: nil, count: 0), parts: aad, region, into: output)
        }
    }
}
