import COpenSSL
import VirtioCryptoWire

/// Finds which AKCIPHER algorithms, PKCS#1 hashes and curves this machine's OpenSSL really
/// serves, by generating a throw-away key of each kind and using it: RSA and ECDSA through the
/// same path a guest's key takes (encoded as the spec says, decoded by `AkcipherSession`), the
/// PKCS#1 hashes by checking the encoding OpenSSL signs.
enum AkcipherProbe {
    struct Found {
        var algorithms: [AkcipherAlgorithm] = []
        var rsaHashes: [RsaHashAlgorithm] = []
        var curves: [EccCurve] = []
    }

    static func run() -> Found {
        var found = Found()
        if let key = generate("RSA", parameter: .bits(probeBits)).flatMap(privateKeyDER) {
            key.withUnsafeBytes { der in
                if roundTrips(der, .raw), roundTrips(der, .pkcs1) { found.algorithms.append(.rsa) }
            }
        }
        found.rsaHashes = RsaHashAlgorithm.known.filter { rsaSigningHashes.contains($0) }
        found.curves = EccCurve.known.filter { curve in
            guard let group = AkcipherNames.group(curve),
                let key = generate("EC", parameter: .group(group)).flatMap(privateKeyDER)
            else { return false }
            return key.withUnsafeBytes { signsAndVerifies($0, curve: curve) }
        }
        if !found.curves.isEmpty { found.algorithms.append(.ecdsa) }
        return found
    }

    /// 1024 bits: room for the longest DigestInfo (SHA-512: 19 + 64 bytes, plus 11 of padding),
    /// and quick to generate.
    private static let probeBits: UInt32 = 1024

    /// hash_algo values for which OpenSSL writes a correct EMSA-PKCS1-v1_5 encoding: the RSA
    /// public operation on a signature it made must give 00 01 FF… 00 ‖ DigestInfo ‖ digest,
    /// with the DigestInfo built here from the OID that OpenSSL's own object table gives the
    /// digest. Measured with OpenSSL 3.0.19: its MD4 DigestInfo carries OID 1.2.840.113549.2.3
    /// rather than MD4's 1.2.840.113549.2.4 (RFC 1320; OBJ_md4 in obj_mac.h), so no other
    /// implementation accepts those signatures and MD4 is left out; Debian builds no MD2.
    /// Found once per process with a key generated for it; every RSA session consults it.
    static let rsaSigningHashes: Set<RsaHashAlgorithm> = {
        guard let pkey = generate("RSA", parameter: .bits(probeBits)) else { return [] }
        defer { EVP_PKEY_free(pkey) }
        return Set(
            RsaHashAlgorithm.known.filter { hash in
                switch AkcipherNames.digest(hash) {
                case .noDigestInfo?: return encodesCorrectly(pkey, digest: nil)
                case .named(let name)?: return encodesCorrectly(pkey, digest: name)
                case nil: return false
                }
            })
    }()

    private static func encodesCorrectly(_ pkey: OpaquePointer, digest name: String?) -> Bool {
        defer { OpenSSLRuntime.clearErrors() }
        var prefix: [UInt8] = []
        var length = 20  // NO_HASH: any payload that fits
        if let name {
            guard let md = OpenSSLRuntime.digest(name) else { return false }
            defer { EVP_MD_free(md) }
            length = Int(EVP_MD_get_size(md))
            guard let object = OBJ_nid2obj(EVP_MD_get_type(md)), let oid = OBJ_get0_data(object) else { return false }
            let oidLength = Int(OBJ_length(object))
            // DigestInfo ::= SEQUENCE { SEQUENCE { OID, NULL }, OCTET STRING } (RFC 8017 §9.2
            // note 1); every length here is below 128, so each takes one byte.
            var algorithm: [UInt8] = [0x06, UInt8(oidLength)]
            algorithm += UnsafeBufferPointer(start: oid, count: oidLength)
            algorithm += [0x05, 0x00]
            let identifier: [UInt8] = [0x30, UInt8(algorithm.count)] + algorithm
            prefix = [0x30, UInt8(identifier.count + 2 + length)]
            prefix += identifier
            prefix += [0x04, UInt8(length)]
        }
        let k = Int(EVP_PKEY_get_size(pkey))
        guard k >= prefix.count + length + 11 else { return false }
        var settings: [(StaticString, String)] = [("pad-mode", "pkcs1")]
        if let name { settings.append(("digest", name)) }
        guard let signer = try? AkcipherSession.context(pkey, .sign, settings) else { return false }
        defer { EVP_PKEY_CTX_free(signer) }
        guard let opener = try? AkcipherSession.context(pkey, .encrypt, [("pad-mode", "none")]) else { return false }
        defer { EVP_PKEY_CTX_free(opener) }
        let digest = [UInt8](repeating: 0x5c, count: length)
        var signature = [UInt8](repeating: 0, count: k)
        var encoded = [UInt8](repeating: 0, count: k)
        var signed = k
        var opened = k
        guard OpenSSLRuntime.ok(EVP_PKEY_sign(signer, &signature, &signed, digest, digest.count)), signed == k,
            OpenSSLRuntime.ok(EVP_PKEY_encrypt(opener, &encoded, &opened, signature, k)), opened == k
        else { return false }
        var expected: [UInt8] = [0x00, 0x01]
        expected += [UInt8](repeating: 0xff, count: k - 3 - prefix.count - length)
        expected += [0x00]
        expected += prefix
        expected += digest
        return encoded == expected
    }

    private static func roundTrips(_ der: UnsafeRawBufferPointer, _ padding: RsaPadding) -> Bool {
        guard
            let session = try? AkcipherSession(
                keyType: .privateKey, key: der, parameters: .rsa(padding: padding, hash: .sha1)),
            let context = try? session.makeContext()
        else { return false }
        let message = [UInt8](repeating: 0x5a, count: 16)
        var ciphertext = [UInt8](repeating: 0, count: session.maxOutputLength)
        var plaintext = [UInt8](repeating: 0, count: session.maxOutputLength)
        return message.withUnsafeBytes { input in
            ciphertext.withUnsafeMutableBytes { encrypted in
                plaintext.withUnsafeMutableBytes { decrypted in
                    guard let sealed = try? context.encrypt(input, into: encrypted),
                        let opened = try? context.decrypt(
                            UnsafeRawBufferPointer(rebasing: encrypted[0..<sealed]), into: decrypted)
                    else { return false }
                    return opened >= message.count
                        && decrypted[(opened - message.count)..<opened].elementsEqual(message)
                }
            }
        }
    }

    private static func signsAndVerifies(_ der: UnsafeRawBufferPointer, curve: EccCurve) -> Bool {
        guard let session = try? AkcipherSession(keyType: .privateKey, key: der, parameters: .ecdsa(curve: curve)),
            let context = try? session.makeContext()
        else { return false }
        let digest = [UInt8](repeating: 0xa5, count: 32)
        var signature = [UInt8](repeating: 0, count: session.maxOutputLength)
        return digest.withUnsafeBytes { input in
            signature.withUnsafeMutableBytes { output in
                guard let written = try? context.sign(input, into: output) else { return false }
                return
                    (try? context.verify(
                        signature: UnsafeRawBufferPointer(rebasing: output[0..<written]), message: input)) != nil
            }
        }
    }

    enum KeyParameter {
        case bits(UInt32)
        case group(String)
    }

    /// A fresh key of `algorithm` ("RSA", "EC"); the caller frees it.
    static func generate(_ algorithm: String, parameter: KeyParameter) -> OpaquePointer? {
        _ = OpenSSLRuntime.legacyLoaded
        defer { OpenSSLRuntime.clearErrors() }
        guard let context = EVP_PKEY_CTX_new_from_name(nil, algorithm, nil) else { return nil }
        defer { EVP_PKEY_CTX_free(context) }
        guard OpenSSLRuntime.ok(EVP_PKEY_keygen_init(context)) else { return nil }
        let configured: Bool
        switch parameter {
        case .bits(var bits):
            configured = withUnsafeTemporaryAllocation(of: OSSL_PARAM.self, capacity: 2) { params in
                params[0] = OSSL_PARAM_construct_uint(cString("bits"), &bits)
                params[1] = OSSL_PARAM_construct_end()
                return OpenSSLRuntime.ok(EVP_PKEY_CTX_set_params(context, params.baseAddress))
            }
        case .group(let group):
            configured = group.withCString { name in
                withUnsafeTemporaryAllocation(of: OSSL_PARAM.self, capacity: 2) { params in
                    params[0] = OSSL_PARAM_construct_utf8_string(
                        cString("group"), UnsafeMutablePointer(mutating: name), 0)
                    params[1] = OSSL_PARAM_construct_end()
                    return OpenSSLRuntime.ok(EVP_PKEY_CTX_set_params(context, params.baseAddress))
                }
            }
        }
        var pkey: OpaquePointer?
        guard configured, OpenSSLRuntime.ok(EVP_PKEY_generate(context, &pkey)) else { return nil }
        return pkey
    }

    /// The spec's encoding of a generated private key (i2d_PrivateKey writes RSAPrivateKey for
    /// RSA and ECPrivateKey, with parameters and public key, for EC); frees the key. Only for
    /// the probe's throw-away keys, which protect nothing, so the bytes are not wiped.
    static func privateKeyDER(_ pkey: OpaquePointer) -> [UInt8]? {
        defer { EVP_PKEY_free(pkey) }
        let length = Int(i2d_PrivateKey(pkey, nil))
        guard length > 0 else { return nil }
        var der = [UInt8](repeating: 0, count: length)
        let written: Int32 = der.withUnsafeMutableBufferPointer { buffer in
            var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            return i2d_PrivateKey(pkey, &cursor)
        }
        return Int(written) == length ? der : nil
    }
}

extension AkcipherSession {
    /// A fresh private key in the spec's encoding (an RSAPrivateKey of `rsaBits` bits, or an
    /// ECPrivateKey on the curve), for benchmarks and tests: a throw-away key that protects nothing.
    public static func generatePrivateKey(_ parameters: AkcipherParameters, rsaBits: UInt32 = 2048) -> [UInt8]? {
        switch parameters {
        case .rsa: return AkcipherProbe.generate("RSA", parameter: .bits(rsaBits)).flatMap(AkcipherProbe.privateKeyDER)
        case .ecdsa(let curve):
            guard let group = AkcipherNames.group(curve) else { return nil }
            return AkcipherProbe.generate("EC", parameter: .group(group)).flatMap(AkcipherProbe.privateKeyDER)
        }
    }
}
