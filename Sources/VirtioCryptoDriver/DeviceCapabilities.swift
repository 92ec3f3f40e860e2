import VirtioCryptoWire

/// The device configuration as the driver reads it: the readiness bit, the queue count,
/// the services, the algorithms of each advertised service and the size limits.
/// Undefined bits (of status, crypto_services and every mask) are ignored: only values
/// the seed defines are decoded.
public struct DeviceCapabilities: Equatable, Sendable {
    /// `status` bit 0, VIRTIO_CRYPTO_S_HW_READY.
    public var hardwareReady: Bool
    /// `max_dataqueues`.
    public var maxDataQueues: Int
    /// The services whose bit is set in `crypto_services`.
    public var services: Set<Service>
    /// The algorithms of each advertised service; empty for a service not advertised,
    /// whatever its mask says (the masks are read based on crypto_services).
    public var ciphers: Set<CipherAlgorithm>
    public var hashes: Set<HashAlgorithm>
    public var macs: Set<MacAlgorithm>
    public var aeads: Set<AeadAlgorithm>
    /// `akcipher_algo` (Virtio 1.4): RSA, ECDSA.
    public var akciphers: Set<AkcipherAlgorithm>
    /// `max_cipher_key_len` (cipher and AEAD keys), `max_auth_key_len` (MAC keys).
    public var maxCipherKeyLength: Int
    public var maxAuthKeyLength: Int
    /// `max_size`: the largest variable-length content (readable + writable) of a request.
    public var maxRequestSize: UInt64

    public init(_ config: Config) {
        hardwareReady = config.status.contains(.hwReady)
        maxDataQueues = Int(config.maxDataqueues)
        let services = Self.decode(Service.known, \.maskBit, (config.cryptoServices, 0))
        self.services = services
        ciphers =
            services.contains(.cipher)
            ? Self.decode(CipherAlgorithm.known, \.maskBit, (config.cipherAlgoL, config.cipherAlgoH)) : []
        hashes = services.contains(.hash) ? Self.decode(HashAlgorithm.known, \.maskBit, (config.hashAlgo, 0)) : []
        macs =
            services.contains(.mac)
            ? Self.decode(MacAlgorithm.known, \.maskBit, (config.macAlgoL, config.macAlgoH)) : []
        aeads = services.contains(.aead) ? Self.decode(AeadAlgorithm.known, \.maskBit, (config.aeadAlgo, 0)) : []
        akciphers =
            services.contains(.akcipher)
            ? Self.decode(AkcipherAlgorithm.known, \.maskBit, (config.akcipherAlgo, 0)) : []
        maxCipherKeyLength = Int(config.maxCipherKeyLen)
        maxAuthKeyLength = Int(config.maxAuthKeyLen)
        maxRequestSize = config.maxSize
    }

    /// The known values whose bit is set in the two mask words.
    private static func decode<T: Hashable>(
        _ known: [T], _ maskBit: KeyPath<T, (word: Int, bit: UInt32)?>,
        _ words: (UInt32, UInt32)
    ) -> Set<T> {
        Set(
            known.filter { value in
                guard let position = value[keyPath: maskBit] else { return false }
                return (position.word == 0 ? words.0 : words.1) & position.bit != 0
            })
    }

    /// Whether the algorithm's service is advertised and its mask bit is set.
    public func offers(_ algorithm: CryptoAlgorithm) -> Bool {
        switch algorithm {
        case .cipher(let value): return ciphers.contains(value)
        case .hash(let value): return hashes.contains(value)
        case .mac(let value): return macs.contains(value)
        case .aead(let value): return aeads.contains(value)
        case .akcipher(let value): return akciphers.contains(value)
        }
    }
}
