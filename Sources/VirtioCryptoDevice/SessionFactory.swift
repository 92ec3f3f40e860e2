import VirtioCryptoEngines
import VirtioCryptoWire

/// Builds sessions from session parameters (control queue, vhost-user messages, or a
/// stateless request), checking them against what the device offers.
struct SessionFactory {
    let offer: DeviceOffer

    static func map(_ error: CryptoError) -> SessionError {
        error == .unsupported ? .unsupported : .invalid
    }

    func cipher(_ algorithm: CipherAlgorithm, key: UnsafeRawBufferPointer, op: Op) throws(SessionError) -> CipherSession {
        guard offer.ciphers.contains(algorithm) else { throw .unsupported }
        guard key.count <= offer.limits.maxCipherKeyLength else { throw .invalid }
        guard op == .encrypt || op == .decrypt else { throw .invalid }
        do { return try CipherSession(algorithm: algorithm, key: key, direction: op) } catch { throw Self.map(error) }
    }

    func hash(_ algorithm: HashAlgorithm, resultLength: UInt32) throws(SessionError) -> HashSession {
        guard offer.hashes.contains(algorithm) else { throw .unsupported }
        do { return try HashSession(algorithm: algorithm, resultLength: Int(resultLength)) } catch { throw Self.map(error) }
    }

    func mac(_ algorithm: MacAlgorithm, key: UnsafeRawBufferPointer, resultLength: UInt32) throws(SessionError) -> MacSession {
        guard offer.macs.contains(algorithm) else { throw .unsupported }
        guard key.count <= offer.limits.maxAuthKeyLength else { throw .invalid }
        do { return try MacSession(algorithm: algorithm, key: key, resultLength: Int(resultLength)) } catch { throw Self.map(error) }
    }

    func aead(_ algorithm: AeadAlgorithm, key: UnsafeRawBufferPointer, tagLength: UInt32, op: Op) throws(SessionError) -> AeadSession {
        guard offer.aeads.contains(algorithm) else { throw .unsupported }
        guard key.count <= offer.limits.maxCipherKeyLength else { throw .invalid }
        guard op == .encrypt || op == .decrypt else { throw .invalid }
        do { return try AeadSession(algorithm: algorithm, key: key, tagLength: Int(tagLength), direction: op) } catch { throw Self.map(error) }
    }

    /// A chain: `cipherKey` for the cipher, `authKey` for a MAC (empty for a plain hash).
    func chain(order: ChainOrder, cipher: CipherSessionFlf, hashMode: HashMode, authAlgorithm: UInt32, resultLength: UInt32,
               cipherKey: UnsafeRawBufferPointer, authKey: UnsafeRawBufferPointer) throws(SessionError) -> ChainSession {
        guard order == .hashThenCipher || order == .cipherThenHash else { throw .unsupported }
        let cipherSession = try self.cipher(cipher.algo, key: cipherKey, op: cipher.op)
        let authenticator: ChainSession.Authenticator
        switch hashMode {
        case .plain: authenticator = .hash(try hash(HashAlgorithm(rawValue: authAlgorithm), resultLength: resultLength))
        case .auth: authenticator = .mac(try mac(MacAlgorithm(rawValue: authAlgorithm), key: authKey, resultLength: resultLength))
        default: throw .unsupported  // NESTED has no defined structure in the seed
        }
        do { return try ChainSession(cipher: cipherSession, authenticator: authenticator, order: order) } catch { throw Self.map(error) }
    }
}
