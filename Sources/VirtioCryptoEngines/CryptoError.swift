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
    /// AKCIPHER: the key bytes are not the encoding the spec names for the algorithm and key
    /// type, describe no valid key, or name another curve than the session's.
    case invalidKey
    /// AKCIPHER: DECRYPT or SIGN on a session keyed with a public key.
    case privateKeyRequired
    /// AKCIPHER: the input is not one the operation accepts: an RSA integer not below the
    /// modulus, or a ciphertext whose PKCS#1 v1.5 padding does not decode.
    case invalidInput
    /// AKCIPHER VERIFY: the signature does not verify (malformed signatures included).
    /// Spec/akcipher.yaml reads a failed verification as KEY_REJECTED, never BADMSG.
    case verificationFailed
    /// The crypto library reported an internal failure.
    case backendFailure

    /// The virtio-crypto status this error is answered with.
    public var status: Status {
        switch self {
        case .unsupported: return .notsupp
        case .authenticationFailed: return .badmsg
        case .verificationFailed: return .keyRejected
        case .invalidKeyLength, .invalidIVLength, .invalidLength, .invalidKey, .privateKeyRequired, .invalidInput,
            .backendFailure:
            return .err
        }
    }
}
