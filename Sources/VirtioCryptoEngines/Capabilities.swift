import VirtioCryptoWire

/// What this machine's libraries really provide, found by keying each algorithm once.
/// The device's config masks are built from this, never written by hand.
public struct EngineCapabilities: Sendable {
    public var ciphers: [CipherAlgorithm]
    public var hashes: [HashAlgorithm]
    public var macs: [MacAlgorithm]
    public var aeads: [AeadAlgorithm]
    public var maxCipherKeyLength: Int
    public var maxAuthKeyLength: Int
    /// AKCIPHER algorithms a session can be created for (bits of akcipher_algo).
    public var akciphers: [AkcipherAlgorithm]
    /// hash_algo values with which an RSA PKCS1 session signs and verifies; ENCRYPT and DECRYPT
    /// ignore hash_algo, so a session naming another defined hash still serves them.
    public var rsaHashes: [RsaHashAlgorithm]
    /// curve_id values an ECDSA session can be created for.
    public var curves: [EccCurve]
    /// The default bound on AKCIPHER key_len: no config field carries it (errata of
    /// akcipher-create-session-vlf), so the daemon passes it to every AkcipherSession.
    public var maxAkcipherKeyLength: Int

    /// Probes every algorithm of the seed but those the spec files mark `unsupported`.
    public static func probe() -> EngineCapabilities {
        func pattern(_ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) } }
        let ciphers = CipherAlgorithm.known.filter { !CipherAlgorithm.unsupported.contains($0) }.filter { algorithm in
            guard let parameters = CipherSession.parameters(algorithm), let length = parameters.keyLengths.first else {
                return false
            }
            let key = pattern(length)
            return key.withUnsafeBytes { raw in
                guard let session = try? CipherSession(algorithm: algorithm, key: raw, direction: .encrypt) else {
                    return false
                }
                return (try? session.makeContext()) != nil
            }
        }
        let hashes = HashAlgorithm.known.filter { !HashAlgorithm.unsupported.contains($0) }.filter { algorithm in
            (try? HashSession(algorithm: algorithm, resultLength: 1).makeContext()) != nil
        }
        let macs = MacAlgorithm.known.filter { !MacAlgorithm.unsupported.contains($0) }.filter { algorithm in
            guard let lengths = MacSession.keyLengths(algorithm) else { return false }
            let key = pattern(lengths.lowerBound)
            return key.withUnsafeBytes { raw in
                (try? MacSession(algorithm: algorithm, key: raw, resultLength: 1).makeContext()) != nil
            }
        }
        let aeads = AeadAlgorithm.known.filter { !AeadAlgorithm.unsupported.contains($0) }.filter { algorithm in
            let key = pattern(32)
            return key.withUnsafeBytes { raw in
                (try? AeadSession(algorithm: algorithm, key: raw, tagLength: 16, direction: .encrypt).makeContext())
                    != nil
            }
        }
        let cipherKeys =
            ciphers.compactMap { CipherSession.parameters($0)?.keyLengths.max() }
            + aeads.map { _ in 32 }
        let authKeys = macs.compactMap { MacSession.keyLengths($0)?.upperBound }
        let akcipher = AkcipherProbe.run()
        return EngineCapabilities(
            ciphers: ciphers, hashes: hashes, macs: macs, aeads: aeads,
            maxCipherKeyLength: cipherKeys.max() ?? 0, maxAuthKeyLength: authKeys.max() ?? 0,
            akciphers: akcipher.algorithms, rsaHashes: akcipher.rsaHashes, curves: akcipher.curves,
            maxAkcipherKeyLength: AkcipherSession.defaultMaxKeyLength)
    }
}
