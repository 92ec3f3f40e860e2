import VirtioCryptoWire

/// Why a crypto operation was refused or failed. Each maps to the status the device
/// answers, so the device core never invents one.
public enum CryptoError: Error, Equatable, Sendable {
    /// The algorithm, mode or parameter combination is not supported here.
    case unsupported
    /// A key of this length is not valid for the algorithm.
    case invalidKeyLength
    /// An IV, nonce or tweak of this length is not valid for the algorithm.
    case invalidIVLength
    /// A data, tag or result length is not valid (e.g. not a whole number of blocks).
    case invalidLength
    /// AEAD decryption: the tag does not verify. No plaintext is released.
    case authenticationFailed
    /// The crypto library reported an internal failure.
    case backendFailure

    /// The virtio-crypto status this error is answered with.
    public var status: Status {
        switch self {
        case .unsupported: return .notsupp
        case .authenticationFailed: return .badmsg
        case .invalidKeyLength, .invalidIVLength, .invalidLength, .backendFailure: return .err
        }
    }
}
