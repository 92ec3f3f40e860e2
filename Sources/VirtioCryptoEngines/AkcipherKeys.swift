import COpenSSL
import VirtioCryptoWire

/// Turns the key bytes of an AKCIPHER session into an OpenSSL `EVP_PKEY`, accepting exactly the
/// encodings Virtio 1.4 names (Spec/akcipher.yaml, rules drv.akcipher-session.*-key-encoding):
/// RSA: DER RSAPublicKey / RSAPrivateKey (PKCS#1); ECDSA: the bare SEC 1 point for a public key,
/// DER ECPrivateKey (RFC 5915) for a private key, on the curve of the session's curve_id.
///
/// Why d2i_* and EVP_PKEY_fromdata rather than OSSL_DECODER: the COpenSSL module does not
/// include <openssl/decoder.h>, and in OpenSSL 3 d2i_PrivateKey is itself a front end of the
/// decoder (its failures queue "DECODER routines" errors). The d2i calls are more lenient than
/// the spec, in ways measured against OpenSSL 3.0.19:
/// `d2i_PrivateKey` also accepts a PKCS#8 PrivateKeyInfo, stops after the first DER value
/// (trailing bytes are left unread), and cannot read an ECPrivateKey without its optional
/// parameters. So the outer structure is checked here first (`DERScan`: the SEQUENCE spans the
/// key, its first fields have the right tags, lengths are in DER's shortest form), the consumed
/// length is compared, and an ECPrivateKey without parameters gets the session curve's OID
/// inserted.
/// All integers, OIDs and points are still decoded by OpenSSL.
enum AkcipherKeyDecoder {
    /// EVP_PKEY_PUBLIC_KEY of evp.h (the public key and its parameters), a macro Swift does not import.
    static let publicSelection = Int32(OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS | OSSL_KEYMGMT_SELECT_OTHER_PARAMETERS
        | OSSL_KEYMGMT_SELECT_PUBLIC_KEY)
    /// EVP_PKEY_KEYPAIR of evp.h: the public selection and the private key.
    static let keyPairSelection = publicSelection | Int32(OSSL_KEYMGMT_SELECT_PRIVATE_KEY)

    /// A key that OpenSSL accepted, with what the operations need to know about it.
    struct Decoded {
        let pkey: OpaquePointer
        /// RSA only: the modulus, big-endian, exactly `EVP_PKEY_get_size` bytes.
        let modulus: [UInt8]
    }

    static func decode(_ parameters: AkcipherParameters, keyType: AkcipherKeyType,
                       key: UnsafeRawBufferPointer) throws(CryptoError) -> Decoded {
        _ = OpenSSLRuntime.legacyLoaded  // the providers are loaded before the first OpenSSL call
        defer { OpenSSLRuntime.clearErrors() }
        switch (parameters, keyType) {
        case (.rsa, .publicKey):
            // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }, in DER.
            guard var fields = DERScan.sequence(key), fields.next()?.tag == DERScan.integer,
                  fields.next()?.tag == DERScan.integer, fields.isAtEnd else { throw .invalidKey }
            return try rsa(d2i(key) { cursor, length in d2i_PublicKey(EVP_PKEY_RSA, nil, cursor, length) })
        case (.rsa, .privateKey):
            // RSAPrivateKey ::= SEQUENCE { version, n, e, d, p, q, dP, dQ, qInv (INTEGERs),
            // otherPrimeInfos OPTIONAL } (RFC 8017 A.1.2); PKCS#8's PrivateKeyInfo has an
            // AlgorithmIdentifier SEQUENCE where n would be.
            guard var fields = DERScan.sequence(key) else { throw .invalidKey }
            var integers: [Range<Int>] = []
            while integers.count < 9, let field = fields.next(), field.tag == DERScan.integer { integers.append(field.content) }
            guard integers.count >= 2 else { throw .invalidKey }
            let decoded = try rsa(d2i(key) { cursor, length in d2i_PrivateKey(EVP_PKEY_RSA, nil, cursor, length) })
            guard integers.count == 9, integers[4...].allSatisfy({ key[$0].elementsEqual([0]) }) else { return decoded }
            EVP_PKEY_free(decoded.pkey)
            return try rsa(withoutFactors(key, n: integers[1], e: integers[2], d: integers[3]))
        case (.ecdsa(let curve), .publicKey):
            guard let group = AkcipherNames.group(curve) else { throw .unsupported }
            return Decoded(pkey: try ecPublic(key, group: group), modulus: [])
        case (.ecdsa(let curve), .privateKey):
            guard let group = AkcipherNames.group(curve) else { throw .unsupported }
            return Decoded(pkey: try ecPrivate(key, group: group), modulus: [])
        default:
            throw .unsupported
        }
    }

    /// Runs a d2i function over all of `key` and refuses the result unless every byte was read.
    private static func d2i(_ key: UnsafeRawBufferPointer,
                            _ body: (UnsafeMutablePointer<UnsafePointer<UInt8>?>, Int) -> OpaquePointer?) throws(CryptoError) -> OpaquePointer {
        guard !key.isEmpty else { throw .invalidKey }
        let start = key.basePointer
        var cursor: UnsafePointer<UInt8>? = UnsafePointer(start)
        guard let pkey = body(&cursor, key.count) else { throw .invalidKey }
        guard let end = cursor, end - UnsafePointer(start) == key.count else {
            EVP_PKEY_free(pkey)
            throw .invalidKey
        }
        return pkey
    }

    /// The largest RSA modulus a session may have. The key-length limit alone would admit a
    /// ~9,000-bit modulus in an RSAPrivateKey without CRT values, whose private operations take
    /// ~220 ms each: a guest could hold a worker that long with every request.
    static let maxModulusBits: Int32 = 4096

    private static func rsa(_ pkey: OpaquePointer) throws(CryptoError) -> Decoded {
        let size = Int(EVP_PKEY_get_size(pkey))
        guard EVP_PKEY_get_id(pkey) == EVP_PKEY_RSA, size > 0, EVP_PKEY_get_bits(pkey) <= maxModulusBits,
              let modulus = bigEndianModulus(pkey, size: size) else {
            EVP_PKEY_free(pkey)
            throw .invalidKey
        }
        return Decoded(pkey: pkey, modulus: modulus)
    }

    /// A key from n, e and d alone, for an RSAPrivateKey whose p, q, dP, dQ and qInv are all 0.
    /// Linux's crypto/testmgr.h RSA vectors, which its self-test runs on every registered "rsa"
    /// implementation (virtio-crypto's included), have such keys, and QEMU accepts them ("in the
    /// kernel's unit test, the p, q, a, b, c of some private keys is 0", its akcipher-nettle). OpenSSL decodes the DER but then
    /// fails every private operation on the zero CRT values; built without them it uses d. d2i
    /// has already checked the DER; the copies of n, e and d in host byte order are wiped.
    private static func withoutFactors(_ key: UnsafeRawBufferPointer, n: Range<Int>, e: Range<Int>,
                                       d: Range<Int>) throws(CryptoError) -> OpaquePointer {
        // DER INTEGERs are two's complement: a set top bit would make the number negative.
        guard [n, e, d].allSatisfy({ !$0.isEmpty && key[$0.lowerBound] < 0x80 }) else { throw .invalidKey }
        let pkey: OpaquePointer? = withUnsafeTemporaryAllocation(byteCount: n.count + e.count + d.count, alignment: 16) { buffer in
            defer { zeroize(buffer) }
            var offset = 0
            func native(_ range: Range<Int>) -> UnsafeMutableRawPointer {
                let start = buffer.baseAddress! + offset
                for index in 0..<range.count {
                    #if _endian(little)
                    buffer[offset + index] = key[range.upperBound - 1 - index]
                    #else
                    buffer[offset + index] = key[range.lowerBound + index]
                    #endif
                }
                offset += range.count
                return start
            }
            return withUnsafeTemporaryAllocation(of: OSSL_PARAM.self, capacity: 4) { params in
                params[0] = OSSL_PARAM_construct_BN(cString("n"), native(n).assumingMemoryBound(to: UInt8.self), n.count)
                params[1] = OSSL_PARAM_construct_BN(cString("e"), native(e).assumingMemoryBound(to: UInt8.self), e.count)
                params[2] = OSSL_PARAM_construct_BN(cString("d"), native(d).assumingMemoryBound(to: UInt8.self), d.count)
                params[3] = OSSL_PARAM_construct_end()
                return fromData("RSA", params.baseAddress!, selection: keyPairSelection)
            }
        }
        guard let pkey else { throw .invalidKey }
        return pkey
    }

    /// The modulus n as `size` big-endian bytes, for the textbook-RSA check that an input is below n.
    /// `EVP_PKEY_get_params` does not answer for the legacy key d2i_PublicKey returns;
    /// `EVP_PKEY_todata` exports either kind (public part only, so no secret is copied).
    private static func bigEndianModulus(_ pkey: OpaquePointer, size: Int) -> [UInt8]? {
        var exported: UnsafeMutablePointer<OSSL_PARAM>?
        guard OpenSSLRuntime.ok(EVP_PKEY_todata(pkey, publicSelection, &exported)), let exported else { return nil }
        defer { OSSL_PARAM_free(exported) }
        guard let n = OSSL_PARAM_locate(exported, cString("n")), n.pointee.data_type == UInt32(OSSL_PARAM_UNSIGNED_INTEGER),
              let data = n.pointee.data, n.pointee.data_size <= size else { return nil }
        // OSSL_PARAM integers are in the host's byte order (params.h: "native" unsigned integers).
        let native = UnsafeRawBufferPointer(start: data, count: n.pointee.data_size)
        var modulus = [UInt8](repeating: 0, count: size)
        for index in 0..<native.count {
            #if _endian(little)
            modulus[size - 1 - index] = native[index]
            #else
            modulus[size - native.count + index] = native[index]
            #endif
        }
        return modulus
    }

    /// The bare SEC 1 point (section 2.3.3), uncompressed 04‖X‖Y or compressed 02/03‖X. OpenSSL
    /// checks the length for the form and that the point is on the curve; it would also take the
    /// X9.62 hybrid form (06/07) and the point at infinity (00), which SEC 1 public keys are not.
    private static func ecPublic(_ key: UnsafeRawBufferPointer, group: String) throws(CryptoError) -> OpaquePointer {
        guard let form = key.first, [0x02, 0x03, 0x04].contains(form) else { throw .invalidKey }
        let pkey: OpaquePointer? = group.withCString { name in
            withUnsafeTemporaryAllocation(of: OSSL_PARAM.self, capacity: 3) { params in
                params[0] = OSSL_PARAM_construct_utf8_string(cString("group"), UnsafeMutablePointer(mutating: name), 0)
                params[1] = OSSL_PARAM_construct_octet_string(cString("pub"), UnsafeMutableRawPointer(mutating: key.baseAddress), key.count)
                params[2] = OSSL_PARAM_construct_end()
                return fromData("EC", params.baseAddress!, selection: publicSelection)
            }
        }
        guard let pkey else { throw .invalidKey }
        guard check(pkey, EVP_PKEY_public_check) else {
            EVP_PKEY_free(pkey)
            throw .invalidKey
        }
        return pkey
    }

    private static func fromData(_ type: String, _ params: UnsafeMutablePointer<OSSL_PARAM>, selection: Int32) -> OpaquePointer? {
        guard let context = EVP_PKEY_CTX_new_from_name(nil, type, nil) else { return nil }
        defer { EVP_PKEY_CTX_free(context) }
        var pkey: OpaquePointer?
        guard OpenSSLRuntime.ok(EVP_PKEY_fromdata_init(context)),
              OpenSSLRuntime.ok(EVP_PKEY_fromdata(context, &pkey, selection, params)) else { return nil }
        return pkey
    }

    /// Runs one of OpenSSL's key checks (EVP_PKEY_check, EVP_PKEY_public_check) on `pkey`.
    private static func check(_ pkey: OpaquePointer, _ body: (OpaquePointer?) -> Int32) -> Bool {
        guard let context = EVP_PKEY_CTX_new_from_pkey(nil, pkey, nil) else { return false }
        defer { EVP_PKEY_CTX_free(context) }
        return OpenSSLRuntime.ok(body(context))
    }

    /// ECPrivateKey ::= SEQUENCE { version INTEGER (1), privateKey OCTET STRING,
    ///   parameters [0] ECParameters OPTIONAL, publicKey [1] BIT STRING OPTIONAL } (RFC 5915 §3).
    /// Parameters, when present, must be a namedCurve OID naming the session's curve (1.4: "cannot
    /// use custom curves"); when absent, the session's curve is the key's. OpenSSL derives a
    /// missing public key (so a private-key session can verify) and EVP_PKEY_check then checks
    /// the scalar's range, the point, and that the two belong together.
    private static func ecPrivate(_ key: UnsafeRawBufferPointer, group: String) throws(CryptoError) -> OpaquePointer {
        guard var fields = DERScan.sequence(key),
              let version = fields.next(), version.tag == DERScan.integer, key[version.content].elementsEqual([1]),
              let scalar = fields.next(), scalar.tag == DERScan.octetString, !scalar.content.isEmpty else { throw .invalidKey }
        var element = fields.next()
        var hasParameters = false
        if let parameters = element, parameters.tag == DERScan.explicit0 {
            guard var inner = DERScan(key, parameters.content), inner.next()?.tag == DERScan.objectIdentifier,
                  inner.isAtEnd else { throw .invalidKey }
            hasParameters = true
            element = fields.next()
        }
        var publicKey: Range<Int>?
        if let point = element, point.tag == DERScan.explicit1 {
            guard var inner = DERScan(key, point.content), inner.next()?.tag == DERScan.bitString,
                  inner.isAtEnd else { throw .invalidKey }
            publicKey = point.whole
            element = fields.next()
        }
        guard element == nil else { throw .invalidKey }

        let pkey: OpaquePointer
        if hasParameters {
            pkey = try d2i(key) { cursor, length in d2i_PrivateKey(EVP_PKEY_EC, nil, cursor, length) }
        } else {
            pkey = try withParameters(key, version: version.whole, scalar: scalar.whole, publicKey: publicKey, group: group)
        }
        guard EVP_PKEY_get_id(pkey) == EVP_PKEY_EC, groupName(pkey) == group, check(pkey, EVP_PKEY_check) else {
            EVP_PKEY_free(pkey)
            throw .invalidKey
        }
        return pkey
    }

    /// Re-encodes an ECPrivateKey that has no parameters with `parameters [0]` naming `group`, and
    /// decodes that. The copy holds the private scalar, so it lives in a temporary buffer that is
    /// zeroized before it is released.
    private static func withParameters(_ key: UnsafeRawBufferPointer, version: Range<Int>, scalar: Range<Int>,
                                       publicKey: Range<Int>?, group: String) throws(CryptoError) -> OpaquePointer {
        guard let object = OBJ_nid2obj(OBJ_sn2nid(group)), let oid = OBJ_get0_data(object) else { throw .backendFailure }
        let oidLength = Int(OBJ_length(object))
        let parametersLength = DERScan.headerLength(oidLength) + oidLength
        let contentLength = version.count + scalar.count + DERScan.headerLength(parametersLength) + parametersLength
            + (publicKey?.count ?? 0)
        guard contentLength <= 0xffff else { throw .invalidKey }  // the Writer's longest length form
        let total = DERScan.headerLength(contentLength) + contentLength
        let result: Result<OpaquePointer, CryptoError> = withUnsafeTemporaryAllocation(byteCount: total, alignment: 16) { buffer in
            defer { zeroize(buffer) }
            var writer = DERScan.Writer(buffer: buffer)
            writer.header(0x30, contentLength)
            writer.copy(key, version)
            writer.copy(key, scalar)
            writer.header(DERScan.explicit0, parametersLength)
            writer.header(DERScan.objectIdentifier, oidLength)
            writer.copy(UnsafeRawBufferPointer(start: oid, count: oidLength), 0..<oidLength)
            if let publicKey { writer.copy(key, publicKey) }
            do throws(CryptoError) {
                return .success(try d2i(UnsafeRawBufferPointer(buffer)) { cursor, length in
                    d2i_PrivateKey(EVP_PKEY_EC, nil, cursor, length)
                })
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    private static func groupName(_ pkey: OpaquePointer) -> String? {
        var name = [CChar](repeating: 0, count: 64)
        var length = 0
        guard OpenSSLRuntime.ok(EVP_PKEY_get_utf8_string_param(pkey, cString("group"), &name, name.count, &length)) else { return nil }
        return String(decoding: name[..<min(length, name.count)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// OpenSSL names of the spec's curves and PKCS#1 digest algorithms: the one table of each.
enum AkcipherNames {
    /// The NIST curves of FIPS 186 by their OpenSSL short names (the names `EVP_PKEY_get_utf8_string_param`
    /// reports back, so a decoded key's curve can be compared as text).
    static func group(_ curve: EccCurve) -> String? {
        switch curve {
        case .nistP192: "prime192v1"
        case .nistP224: "secp224r1"
        case .nistP256: "prime256v1"
        case .nistP384: "secp384r1"
        case .nistP521: "secp521r1"
        default: nil
        }
    }

    /// What hash_algo means for a PKCS#1 v1.5 session.
    enum Digest: Equatable {
        /// VIRTIO_CRYPTO_RSA_NO_HASH: the signed data is the EMSA-PKCS1-v1_5 payload itself, no DigestInfo.
        case noDigestInfo
        /// The DigestInfo of this OpenSSL digest wraps the signed data.
        case named(String)
    }

    /// nil for values that name no hash function (MD3, which was never published, and undefined
    /// values): no DigestInfo exists for them.
    static func digest(_ hash: RsaHashAlgorithm) -> Digest? {
        switch hash {
        case .noHash: .noDigestInfo
        case .md2: .named("MD2")
        case .md4: .named("MD4")
        case .md5: .named("MD5")
        case .sha1: .named("SHA1")
        case .sha224: .named("SHA2-224")
        case .sha256: .named("SHA2-256")
        case .sha384: .named("SHA2-384")
        case .sha512: .named("SHA2-512")
        default: nil
        }
    }
}
