import VirtioCryptoWire

/// An algorithm of any service, as the config masks name them.
public enum CryptoAlgorithm: Hashable, Sendable {
    case cipher(CipherAlgorithm)
    case hash(HashAlgorithm)
    case mac(MacAlgorithm)
    case aead(AeadAlgorithm)
    case akcipher(AkcipherAlgorithm)

    public var service: Service {
        switch self {
        case .cipher: return .cipher
        case .hash: return .hash
        case .mac: return .mac
        case .aead: return .aead
        case .akcipher: return .akcipher
        }
    }
}

/// A request the driver refused locally, before anything reached the device: each case
/// protects one driver rule of the seed (`rule`).
public enum DriverRefusal: Error, Equatable, Sendable {
    /// HW_READY is clear (or the config was never read): nothing may be transmitted.
    case hardwareNotReady
    /// The data queue index is not below `max_dataqueues` (or the device has none).
    case dataQueueBeyondDevice(queue: Int, maxDataQueues: Int)
    /// The data queue exists on the device but the driver did not configure it.
    case dataQueueNotConfigured(queue: Int, configured: Int)
    /// The service's bit in `crypto_services` is clear.
    case serviceNotOffered(Service)
    /// The algorithm's bit in its service's mask is clear (or the service is not offered).
    case algorithmNotOffered(CryptoAlgorithm)
    /// The request's variable-length data (device-readable + device-writable) exceeds
    /// `max_size`.
    case requestTooLarge(size: Int, maxSize: UInt64)
    /// A cipher or AEAD key is longer than `max_cipher_key_len`.
    case cipherKeyTooLong(length: Int, maxLength: Int)
    /// An authentication (MAC) key is longer than `max_auth_key_len`.
    case authKeyTooLong(length: Int, maxLength: Int)
    /// A reserved or padding field of a session request is not zero.
    case reservedNotZero(field: String)
    /// The session was destroyed, belongs to another service, or predates a reset.
    case sessionNotLive(id: UInt64, opcode: Opcode)

    /// Every rule this refusal keeps the driver from breaking: `rule` first, then the Device
    /// Initialization rule that says the same of the init step, or the MUST that Virtio 1.2 added
    /// to the SHOULD of reading a limit.
    public var rules: [RuleID] {
        switch self {
        case .serviceNotOffered: return [rule, .drvInitReadCryptoServices]
        case .algorithmNotOffered: return [rule, .drvInitReadAlgorithms]
        case .requestTooLarge: return [rule, .drvConfigRequestWithinMaxSize]
        case .cipherKeyTooLong: return [rule, .drvConfigCipherKeyLenWithinMax]
        case .authKeyTooLong: return [rule, .drvConfigAuthKeyLenWithinMax]
        default: return [rule]
        }
    }

    /// The seed rule this refusal keeps the driver from breaking.
    public var rule: RuleID {
        switch self {
        case .hardwareNotReady: return .drvConfigNoRequestsBeforeHwReady
        case .dataQueueBeyondDevice: return .drvConfigReadMaxDataqueues
        case .dataQueueNotConfigured: return .drvInitConfigureAllVirtqueues
        case .serviceNotOffered: return .drvConfigReadCryptoServices
        case .algorithmNotOffered: return .drvConfigReadAlgoMasks
        case .requestTooLarge: return .drvConfigReadMaxSize
        case .cipherKeyTooLong: return .drvConfigReadMaxCipherKeyLen
        case .authKeyTooLong: return .drvConfigReadMaxAuthKeyLen
        case .reservedNotZero: return .drvSessionCreateReservedZero
        case .sessionNotLive(_, let opcode):
            switch opcode {
            case .cipherDestroySession, .hashDestroySession, .macDestroySession, .aeadDestroySession:
                return .drvSessionDestroyValidSessionId
            default:
                switch opcode.service {
                case .hash: return .drvHashSessionIdValid
                case .mac: return .drvMacSessionIdValid
                case .aead: return .drvAeadSessionIdValid
                default: return .drvSymSessionIdValid
                }
            }
        }
    }
}

/// Why a driver operation failed.
public enum DriverError: Error, Equatable, Sendable {
    /// Refused locally; nothing was transmitted.
    case refused(DriverRefusal)
    /// The device answered a status other than OK.
    case device(Status)
    /// The transport failed.
    case transport(TransportError)
    /// The device did not accept the driver's features (no FEATURES_OK).
    case featuresRejected(CryptoFeatures)
    /// The caller's request is inconsistent (e.g. vlf bytes that do not match the lengths
    /// of the fixed part) or of a kind this driver does not send (stateless requests).
    case invalidRequest(String)
    /// The device wrote fewer bytes than the outcome needs.
    case malformedReply
}
