import VirtioCryptoEngines
import VirtioCryptoWire

/// Builds sessions from session parameters (control queue, vhost-user messages, or a
/// stateless request), checking them against what the device offers.
struct SessionFactory {
    let offer: DeviceOffer

    static func map(_ error: CryptoError) -> SessionError {
        switch error {
        case .unsupported: return .unsupported
        case .invalidKey: return .invalidKey
        default: return .invalid
        }
    }

    func cipher(_ algorithm: CipherAlgorithm, key: UnsafeRawBufferPointer, op: Op) throws(SessionError) -> CipherSession
    {
        guard offer.ciphers.contains(algorithm) else { throw .unsupported }
        guard key.count <= offer.limits.maxCipherKeyLength else { throw .invalid }
        guard op == .encrypt || op == .decrypt else { throw .invalid }
        do { return try CipherSession(algorithm: algorithm, key: key, direction: op) } catch { throw Self.map(error) }
    }

    func hash(_ algorithm: HashAlgorithm, resultLength: UInt32) throws(SessionError) -> HashSession {
        guard offer.hashes.contains(algorithm) else { throw .unsupported }
        do { return try HashSession(algorithm: algorithm, resultLength: Int(resultLength)) } catch {
            throw Self.map(error)
        }
    }

    func mac(_ algorithm: MacAlgorithm, key: UnsafeRawBufferPointer, resultLength: UInt32) throws(SessionError)
        -> MacSession
    {
        guard offer.macs.contains(algorithm) else { throw .unsupported }
        guard key.count <= offer.limits.maxAuthKeyLength else { throw .invalid }
        do { return try MacSession(algorithm: algorithm, key: key, resultLength: Int(resultLength)) } catch {
            throw Self.map(error)
        }
    }

    func aead(_ algorithm: AeadAlgorithm, key: UnsafeRawBufferPointer, tagLength: UInt32, op: Op) throws(SessionError)
        -> AeadSession
    {
        guard offer.aeads.contains(algorithm) else { throw .unsupported }
        guard key.count <= offer.limits.maxCipherKeyLength else { throw .invalid }
        guard op == .encrypt || op == .decrypt else { throw .invalid }
        do { return try AeadSession(algorithm: algorithm, key: key, tagLength: Int(tagLength), direction: op) } catch {
            throw Self.map(error)
        }
    }

    /// An AKCIPHER session (control queue or stateless parameters): the algorithm, its RSA or ECDSA
    /// member and the key, which `AkcipherSession` decodes once. The key length is bounded first.
    func akcipher(
        _ algorithm: AkcipherAlgorithm, keyType: AkcipherKeyType, parameters: AkcipherParameters?,
        key: UnsafeRawBufferPointer
    ) throws(SessionError) -> AkcipherSession {
        guard offer.akciphers.contains(algorithm), let parameters, parameters.algorithm == algorithm else {
            throw .unsupported
        }
        // hash_algo is checked when a request signs or verifies: ENCRYPT and DECRYPT ignore it, and RAW always.
        if case .ecdsa(let curve) = parameters, !offer.curves.contains(curve) { throw .unsupported }
        guard key.count <= offer.limits.maxAkcipherKeyLength else { throw .invalid }
        do {
            return try AkcipherSession(
                keyType: keyType, key: key, parameters: parameters,
                maxKeyLength: offer.limits.maxAkcipherKeyLength)
        } catch {
            throw Self.map(error)
        }
    }

    /// A chain: `cipherKey` for the cipher, `authKey` for a MAC (empty for a plain hash).
    func chain(
        order: ChainOrder, cipher: CipherSessionFlf, hashMode: HashMode, authAlgorithm: UInt32, resultLength: UInt32,
        cipherKey: UnsafeRawBufferPointer, authKey: UnsafeRawBufferPointer
    ) throws(SessionError) -> ChainSession {
        guard order == .hashThenCipher || order == .cipherThenHash else { throw .unsupported }
        let cipherSession = try self.cipher(cipher.algo, key: cipherKey, op: cipher.op)
        let authenticator: ChainSession.Authenticator
        switch hashMode {
        case .plain: authenticator = .hash(try hash(HashAlgorithm(rawValue: authAlgorithm), resultLength: resultLength))
        case .auth:
            authenticator = .mac(
                try mac(MacAlgorithm(rawValue: authAlgorithm), key: authKey, resultLength: resultLength))
        default: throw .unsupported  // NESTED has no defined structure in the seed
        }
        do { return try ChainSession(cipher: cipherSession, authenticator: authenticator, order: order) } catch {
            throw Self.map(error)
        }
    }
}

extension AkcipherParameters {
    /// The RSA or ECDSA member of an AKCIPHER session's parameters; nil when `algo` names neither.
    init?(rsa: RsaSessionPara?, ecdsa: EcdsaSessionPara?) {
        if let rsa {
            self = .rsa(padding: rsa.paddingAlgo, hash: rsa.hashAlgo)
        } else if let ecdsa {
            self = .ecdsa(curve: ecdsa.curveId)
        } else {
            return nil
        }
    }
}

extension AkcipherCreateSessionFlf.AlgoFlf {
    var parameters: AkcipherParameters? {
        switch self {
        case .rsa(let rsa): AkcipherParameters(rsa: rsa, ecdsa: nil)
        case .ecdsa(let ecdsa): AkcipherParameters(rsa: nil, ecdsa: ecdsa)
        case .unused: nil
        }
    }
}

extension AkcipherSessPara.U {
    var parameters: AkcipherParameters? {
        switch self {
        case .rsa(let rsa): AkcipherParameters(rsa: rsa, ecdsa: nil)
        case .ecdsa(let ecdsa): AkcipherParameters(rsa: nil, ecdsa: ecdsa)
        case .unused: nil
        }
    }
}

extension DeviceCheck {
    /// The check whose rule an AKCIPHER key of `algorithm` and `keyType` breaks when it does not decode.
    static func akcipherKey(_ algorithm: AkcipherAlgorithm, _ keyType: AkcipherKeyType) -> DeviceCheck {
        switch (algorithm, keyType) {
        case (.ecdsa, .privateKey): return .ecdsaPrivateKey
        case (.ecdsa, _): return .ecdsaPublicKey
        default: return .rsaKey
        }
    }
}
