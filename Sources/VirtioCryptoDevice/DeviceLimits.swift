import VirtioCryptoEngines
import VirtioCryptoWire

/// The device's configurable limits; every one shows in the config space or the CLI.
public struct DeviceLimits: Sendable {
    /// Data queues offered (`max_dataqueues`, 1...65535).
    public var dataQueues: Int = 1
    /// Live sessions at most; creating one more answers NOSPC (REVISION_1) or ERR.
    public var maxSessions: Int = 4096
    /// Largest variable-length content of one request in bytes (`max_size`).
    public var maxRequestSize: Int = 1 << 20
    /// Longest cipher / AEAD key accepted (`max_cipher_key_len`), capped by the engines.
    public var maxCipherKeyLength: Int = 64
    /// Longest MAC key accepted (`max_auth_key_len`), capped by the engines.
    public var maxAuthKeyLength: Int = 256
    /// Longest AKCIPHER key accepted (a session's `key_len`: DER, or a SEC 1 point), checked before
    /// anything is copied. No config field carries it (Spec/akcipher.yaml), so the daemon shows it in
    /// `--help`; the default holds an RSA-4096 private key.
    public var maxAkcipherKeyLength: Int = AkcipherSession.defaultMaxKeyLength

    public init() {}
}

/// What the device offers, built from what the engines really support, the limits, and the spec
/// revision the device is a device of: only what that revision defines is offered (generated
/// `isDefined(in:)`, `CryptoFeatures.defined(in:)`, `Config.restricted(to:)`).
public struct DeviceOffer: Sendable {
    /// The revision of the spec the device follows: what it offers, how it frames outcomes.
    public var revision: SpecRevision
    public var ciphers: [CipherAlgorithm]
    public var hashes: [HashAlgorithm]
    public var macs: [MacAlgorithm]
    public var aeads: [AeadAlgorithm]
    public var akciphers: [AkcipherAlgorithm]
    /// curve_id values ECDSA sessions use (hash_algo is checked by the engine when a request signs).
    public var curves: [EccCurve]
    public var limits: DeviceLimits

    /// MAC algorithms that need a per-request IV: the seed's MAC request has no field for
    /// one, so the device serves them in no request and does not advertise them.
    public static let macsNeedingIV: Set<MacAlgorithm> = [.gmacAes, .gmacTwofish, .kasumiF9, .snow3gUia2, .zucEia3]

    public init(
        capabilities: EngineCapabilities = .probe(), limits: DeviceLimits = DeviceLimits(),
        revision: SpecRevision = .newest
    ) {
        self.revision = revision
        ciphers = capabilities.ciphers.filter { $0.isDefined(in: revision) }
        hashes = capabilities.hashes.filter { $0.isDefined(in: revision) }
        macs = capabilities.macs.filter { !Self.macsNeedingIV.contains($0) && $0.isDefined(in: revision) }
        aeads = capabilities.aeads.filter { $0.isDefined(in: revision) }
        akciphers = capabilities.akciphers.filter { $0.isDefined(in: revision) }
        curves = capabilities.curves.filter { $0.isDefined(in: revision) }
        var limits = limits
        limits.maxCipherKeyLength = min(limits.maxCipherKeyLength, capabilities.maxCipherKeyLength)
        limits.maxAuthKeyLength = min(limits.maxAuthKeyLength, capabilities.maxAuthKeyLength)
        limits.maxAkcipherKeyLength = min(limits.maxAkcipherKeyLength, capabilities.maxAkcipherKeyLength)
        self.limits = limits
    }

    /// Restricts the offer to the given algorithms (the daemon's allow-lists).
    public func restricted(
        ciphers: Set<CipherAlgorithm>? = nil, hashes: Set<HashAlgorithm>? = nil,
        macs: Set<MacAlgorithm>? = nil, aeads: Set<AeadAlgorithm>? = nil,
        akciphers: Set<AkcipherAlgorithm>? = nil
    ) -> DeviceOffer {
        var copy = self
        if let akciphers { copy.akciphers = copy.akciphers.filter(akciphers.contains) }
        if let ciphers { copy.ciphers = copy.ciphers.filter(ciphers.contains) }
        if let hashes { copy.hashes = copy.hashes.filter(hashes.contains) }
        if let macs { copy.macs = copy.macs.filter(macs.contains) }
        if let aeads { copy.aeads = copy.aeads.filter(aeads.contains) }
        return copy
    }

    public var services: [Service] {
        var result: [Service] = []
        if !ciphers.isEmpty { result.append(.cipher) }
        if !hashes.isEmpty { result.append(.hash) }
        if !macs.isEmpty { result.append(.mac) }
        if !aeads.isEmpty { result.append(.aead) }
        if !akciphers.isEmpty { result.append(.akcipher) }
        return result.filter { $0.isDefined(in: revision) }
    }

    /// `struct virtio_crypto_config` for this offer.
    public var config: Config {
        func mask<T>(_ values: [T], _ bit: (T) -> (word: Int, bit: UInt32)?) -> (UInt32, UInt32) {
            var words: (UInt32, UInt32) = (0, 0)
            for value in values {
                guard let position = bit(value) else { continue }
                if position.word == 0 { words.0 |= position.bit } else { words.1 |= position.bit }
            }
            return words
        }
        let cipherMask = mask(ciphers, \.maskBit)
        let macMask = mask(macs, \.maskBit)
        return Config(
            status: .hwReady, maxDataqueues: UInt32(limits.dataQueues),
            cryptoServices: mask(services, \.maskBit).0,
            cipherAlgoL: cipherMask.0, cipherAlgoH: cipherMask.1, hashAlgo: mask(hashes, \.maskBit).0,
            macAlgoL: macMask.0, macAlgoH: macMask.1, aeadAlgo: mask(aeads, \.maskBit).0,
            maxCipherKeyLen: ciphers.isEmpty && aeads.isEmpty ? 0 : UInt32(limits.maxCipherKeyLength),
            maxAuthKeyLen: macs.isEmpty ? 0 : UInt32(limits.maxAuthKeyLength),
            akcipherAlgo: mask(akciphers, \.maskBit).0,
            maxSize: UInt64(limits.maxRequestSize)
        )
        .restricted(to: revision)
    }

    /// Device features offered: REVISION_1 and the stateless mode of every offered service, as far as the
    /// revision defines them.
    public var features: CryptoFeatures {
        var features: CryptoFeatures = [.revision1]
        for service in services {
            if let stateless = CryptoFeatures.statelessMode(for: service) { features.insert(stateless) }
        }
        return features.intersection(.defined(in: revision))
    }
}
