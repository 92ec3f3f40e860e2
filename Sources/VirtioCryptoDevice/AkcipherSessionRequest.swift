import VirtioCryptoEngines
import VirtioCryptoWire

/// An AKCIPHER session described outside the control queue (QEMU ≥ 8.1's vhost-user
/// CREATE_CRYPTO_SESSION message carries these fields). The key travels beside it, borrowed.
public struct AkcipherSessionRequest: Equatable, Sendable {
    public var algorithm: AkcipherAlgorithm
    public var keyType: AkcipherKeyType
    /// The algorithm's member, as on the control queue: RSA padding and hash, or an ECDSA curve.
    public var parameters: AkcipherCreateSessionFlf.AlgoFlf

    public init(algorithm: AkcipherAlgorithm, keyType: AkcipherKeyType, parameters: AkcipherCreateSessionFlf.AlgoFlf) {
        self.algorithm = algorithm
        self.keyType = keyType
        self.parameters = parameters
    }
}

extension VirtioCryptoDevice {
    /// Creates an AKCIPHER-service session in the shared table. `key` is bounded by
    /// `offer.limits.maxAkcipherKeyLength` before anything reads it, and is not kept: the engine
    /// decodes it once into its own key object (the caller zeroizes its bytes).
    public func createAkcipherSession(_ request: AkcipherSessionRequest, key: UnsafeRawBufferPointer)
        throws(SessionError) -> UInt64
    {
        let factory = self.factory
        let limit = offer.limits.maxAkcipherKeyLength
        return try sessionMessage(.akcipher) { () throws(SessionError) in
            guard key.count <= limit else { throw .invalid }
            return try sessions.create(service: .akcipher) { () throws(SessionError) -> Session.Kind in
                .akcipher(
                    try factory.akcipher(
                        request.algorithm, keyType: request.keyType,
                        parameters: request.parameters.parameters, key: key))
            }
        }
    }
}
