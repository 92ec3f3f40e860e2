import COpenSSL
import VirtioCryptoWire
import WireBytes

/// Turns the key bytes of an AKCIPHER session into an OpenSSL `EVP_PKEY`, accepting exactly the
/// encodings Virtio 1.4 names (Spec/akcipher.yaml, rules drv.akcipher-session.*-key-encoding):
/// RSA: DER RSAPublicKey / RSAPrivateKey (PKCS#1); ECDSA: the bare SEC 1 point for a public key,
/// DER ECPrivateKey (RFC 5915) for a private key, on the curve of the session's curve_id.
///
/// Public keys go through `d2i_PublicKey` (RSA) or `EVP_PKEY_fromdata` (EC). Private keys are
/// never given to a d2i function: in OpenSSL 3 `d2i_PrivateKey` is a front end of the DER decoder
/// (`der2key_decode` → `ossl_read_der`), which copies the whole DER and frees that copy with
/// plain OPENSSL_free, and `d2i_ECPrivateKey` frees its privateKey OCTET STRING the same way:
/// every session creation would leave the full private key in freed heap memory (measured on
/// OpenSSL 3.0.19). So `DERScan` finds every field of RSAPrivateKey and ECPrivateKey here, the
/// numbers are handed to `EVP_PKEY_fromdata` as OSSL_PARAM BIGNUMs in a temporary buffer that is
/// zeroized before it is released, and OpenSSL's own copies are the BIGNUMs it frees with
/// BN_clear_free. The checks are those d2i made, measured against OpenSSL 3.0.19: the SEQUENCE
/// spans the key, every field has its tag, lengths are in DER's shortest form, a PKCS#8
/// PrivateKeyInfo or trailing bytes are refused; INTEGERs are read as 3.0's d2i reads them
/// (the content as an unsigned big-endian number), the RSA version as a DER int32. An
/// ECPrivateKey without parameters is on the session's curve.
enum AkcipherKeyDecoder {
    /// EVP_PKEY_PUBLIC_KEY of evp.h (the public key and its parameters), a macro Swift does not import.
    static let publicSelection = Int32(
        OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS | OSSL_KEYMGMT_SELECT_OTHER_PARAMETERS
            | OSSL_KEYMGMT_SELECT_PUBLIC_KEY)
    /// EVP_PKEY_KEYPAIR of evp.h: the public selection and the private key.
    static let keyPairSelection = publicSelection | Int32(OSSL_KEYMGMT_SELECT_PRIVATE_KEY)

    /// A key that OpenSSL accepted, with what the operations need to know about it.
    struct Decoded {
        let pkey: OpaquePointer
        /// RSA only: the modulus, big-endian, exactly `EVP_PKEY_get_size` bytes.
        let modulus: [UInt8]
    }

    static func decode(
        _ parameters: AkcipherParameters, keyType: AkcipherKeyType,
        key: UnsafeRawBufferPointer
    ) throws(CryptoError) -> Decoded {
        _ = OpenSSLRuntime.legacyLoaded  // the providers are loaded before the first OpenSSL call
        defer { OpenSSLRuntime.clearErrors() }
        switch (parameters, keyType) {
        case (.rsa, .publicKey):
            // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }, in DER.
            guard var fields = DERScan.sequence(key), fields.next()?.tag == DERScan.integer,
                fields.next()?.tag == DERScan.integer, fields.isAtEnd
            else { throw .invalidKey }
            return try rsa(d2i(key) { cursor, length in d2i_PublicKey(EVP_PKEY_RSA, nil, cursor, length) })
        case (.rsa, .privateKey):
            return try rsa(rsaPrivate(key))
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
    /// For public keys only (see the type's comment).
    private static func d2i(
        _ key: UnsafeRawBufferPointer,
        _ body: (UnsafeMutablePointer<UnsafePointer<UInt8>?>, Int) -> OpaquePointer?
    ) throws(CryptoError) -> OpaquePointer {
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
            let modulus = bigEndianModulus(pkey, size: size)
        else {
            EVP_PKEY_free(pkey)
            throw .invalidKey
        }
        return Decoded(pkey: pkey, modulus: modulus)
    }

    /// RSAPrivateKey ::= SEQUENCE { version, n, e, d, p, q, dP, dQ, qInv (INTEGERs),
    ///   otherPrimeInfos SEQUENCE OF OtherPrimeInfo OPTIONAL } and
    /// OtherPrimeInfo ::= SEQUENCE { prime, exponent, coefficient (INTEGERs) } (RFC 8017 A.1.2).
    /// What 3.0's d2i took is taken, the same way: version 1 (multi) needs at least one
    /// OtherPrimeInfo, whose primes then belong to the key; any other version is a two-prime key
    /// whose otherPrimeInfos, if present, are only checked for their structure. The one
    /// difference: more than the 10 primes OSSL_PARAM has names for are refused.
    private static func rsaPrivate(_ key: UnsafeRawBufferPointer) throws(CryptoError) -> OpaquePointer {
        guard var fields = DERScan.sequence(key) else { throw .invalidKey }
        var integers: [Range<Int>] = []
        while integers.count < 9 {
            guard let field = fields.next(), field.tag == DERScan.integer else { throw .invalidKey }
            integers.append(field.content)
        }
        guard let version = int32(key, integers[0]) else { throw .invalidKey }
        var others: [Range<Int>] = []  // r, d, t of each OtherPrimeInfo, in order
        if !fields.isAtEnd {
            guard let infos = fields.next(), infos.tag == DERScan.sequence, fields.isAtEnd,
                var list = DERScan(key, infos.content)
            else { throw .invalidKey }
            while !list.isAtEnd {
                guard let info = list.next(), info.tag == DERScan.sequence, var triple = DERScan(key, info.content)
                else {
                    throw .invalidKey
                }
                for _ in 0..<3 {
                    guard let field = triple.next(), field.tag == DERScan.integer else { throw .invalidKey }
                    others.append(field.content)
                }
                guard triple.isAtEnd else { throw .invalidKey }
            }
        }
        if version == 1 {
            guard !others.isEmpty, 2 + others.count / 3 <= factorNames.count else { throw .invalidKey }
        } else {
            others = []
        }
        if integers[4...].allSatisfy({ key[$0].elementsEqual([0]) }) {
            return try withoutFactors(key, n: integers[1], e: integers[2], d: integers[3])
        }
        var numbers: [(StaticString, Range<Int>)] = [
            ("n", integers[1]), ("e", integers[2]), ("d", integers[3]),
            (factorNames[0], integers[4]), (factorNames[1], integers[5]),
            (exponentNames[0], integers[6]), (exponentNames[1], integers[7]), (coefficientNames[0], integers[8]),
        ]
        for index in 0..<(others.count / 3) {
            numbers.append((factorNames[2 + index], others[3 * index]))
            numbers.append((exponentNames[2 + index], others[3 * index + 1]))
            numbers.append((coefficientNames[1 + index], others[3 * index + 2]))
        }
        guard let pkey = fromNumbers(key, "RSA", numbers) else { throw .invalidKey }
        return pkey
    }

    /// OSSL_PKEY_PARAM_RSA_FACTOR1…10, _EXPONENT1…10 and _COEFFICIENT1…9 of core_names.h.
    private static let factorNames: [StaticString] = [
        "rsa-factor1", "rsa-factor2", "rsa-factor3", "rsa-factor4", "rsa-factor5",
        "rsa-factor6", "rsa-factor7", "rsa-factor8", "rsa-factor9", "rsa-factor10",
    ]
    private static let exponentNames: [StaticString] = [
        "rsa-exponent1", "rsa-exponent2", "rsa-exponent3", "rsa-exponent4",
        "rsa-exponent5", "rsa-exponent6", "rsa-exponent7", "rsa-exponent8",
        "rsa-exponent9", "rsa-exponent10",
    ]
    private static let coefficientNames: [StaticString] = [
        "rsa-coefficient1", "rsa-coefficient2", "rsa-coefficient3",
        "rsa-coefficient4", "rsa-coefficient5", "rsa-coefficient6",
        "rsa-coefficient7", "rsa-coefficient8", "rsa-coefficient9",
    ]

    /// A DER INTEGER that must fit an int32, as d2i reads RSAPrivateKey's version: not empty,
    /// no leading byte that only repeats the sign (X.690 §8.3.2).
    private static func int32(_ key: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int32? {
        guard (1...4).contains(range.count) else { return nil }
        let first = key[range.lowerBound]
        if range.count > 1 {
            let second = key[range.lowerBound + 1]
            guard !(first == 0 && second < 0x80), !(first == 0xff && second >= 0x80) else { return nil }
        }
        var value = Int32(Int8(bitPattern: first))
        for index in range.dropFirst() { value = value << 8 | Int32(key[index]) }
        return value
    }

    /// A key of `type` from DER INTEGER (or OCTET STRING) contents of `key`, each an unsigned
    /// big-endian number, plus `extra` parameters. OSSL_PARAM_construct_BN takes numbers in the
    /// host's byte order, so each is copied reversed into one temporary buffer, zeroized before
    /// it is released (OpenSSL reads the numbers into its own BIGNUMs during EVP_PKEY_fromdata).
    private static func fromNumbers(
        _ key: UnsafeRawBufferPointer, _ type: String, _ numbers: [(StaticString, Range<Int>)],
        extra: [OSSL_PARAM] = []
    ) -> OpaquePointer? {
        let total = numbers.reduce(0) { $0 + $1.1.count }
        return withUnsafeTemporaryAllocation(byteCount: max(total, 1), alignment: 16) { buffer in
            defer { zeroize(buffer) }
            return withUnsafeTemporaryAllocation(of: OSSL_PARAM.self, capacity: numbers.count + extra.count + 1) {
                params in
                var offset = 0
                for (index, (name, range)) in numbers.enumerated() {
                    for byte in 0..<range.count {
                        #if _endian(little)
                            buffer[offset + byte] = key[range.upperBound - 1 - byte]
                        #else
                            buffer[offset + byte] = key[range.lowerBound + byte]
                        #endif
                    }
                    params[index] = OSSL_PARAM_construct_BN(
                        cString(name), (buffer.baseAddress! + offset).assumingMemoryBound(to: UInt8.self),
                        range.count)
                    offset += range.count
                }
                for (index, param) in extra.enumerated() { params[numbers.count + index] = param }
                params[numbers.count + extra.count] = OSSL_PARAM_construct_end()
                return fromData(type, params.baseAddress!, selection: keyPairSelection)
            }
        }
    }

    /// A key from n, e and d alone, for an RSAPrivateKey whose p, q, dP, dQ and qInv are all 0.
    /// Linux's crypto/testmgr.h RSA vectors, which its self-test runs on every registered "rsa"
    /// implementation (virtio-crypto's included), have such keys, and QEMU accepts them ("in the
    /// kernel's unit test, the p, q, a, b, c of some private keys is 0", its akcipher-nettle). OpenSSL takes the zero CRT
    /// values but then fails every private operation on them; built without them it uses d.
    private static func withoutFactors(
        _ key: UnsafeRawBufferPointer, n: Range<Int>, e: Range<Int>,
        d: Range<Int>
    ) throws(CryptoError) -> OpaquePointer {
        // DER INTEGERs are two's complement: a set top bit would make the number negative.
        guard [n, e, d].allSatisfy({ !$0.isEmpty && key[$0.lowerBound] < 0x80 }) else { throw .invalidKey }
        guard let pkey = fromNumbers(key, "RSA", [("n", n), ("e", e), ("d", d)]) else { throw .invalidKey }
        return pkey
    }

    /// The modulus n as `size` big-endian bytes, for the textbook-RSA check that an input is below n.
    /// `EVP_PKEY_get_params` does not answer for the legacy key d2i_PublicKey returns;
    /// `EVP_PKEY_todata` exports either kind (public part only, so no secret is copied).
    private static func bigEndianModulus(_ pkey: OpaquePointer, size: Int) -> [UInt8]? {
        var exported: UnsafeMutablePointer<OSSL_PARAM>?
        guard OpenSSLRuntime.ok(EVP_PKEY_todata(pkey, publicSelection, &exported)), let exported else { return nil }
        defer { OSSL_PARAM_free(exported) }
        guard let n = OSSL_PARAM_locate(exported, cString("n")),
            n.pointee.data_type == UInt32(OSSL_PARAM_UNSIGNED_INTEGER),
            let data = n.pointee.data, n.pointee.data_size <= size
        else { return nil }
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
                params[1] = OSSL_PARAM_construct_octet_string(
                    cString("pub"), UnsafeMutableRawPointer(mutating: key.baseAddress), key.count)
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

    private static func fromData(_ type: String, _ params: UnsafeMutablePointer<OSSL_PARAM>, selection: Int32)
        -> OpaquePointer?
    {
        guard let context = EVP_PKEY_CTX_new_from_name(nil, type, nil) else { return nil }
        defer { EVP_PKEY_CTX_free(context) }
        var pkey: OpaquePointer?
        guard OpenSSLRuntime.ok(EVP_PKEY_fromdata_init(context)),
            OpenSSLRuntime.ok(EVP_PKEY_fromdata(context, &pkey, selection, params))
        else { return nil }
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
    /// Parameters, when present, must be the namedCurve OID of the session's curve (1.4: "cannot
    /// use custom curves"); when absent, the session's curve is the key's. The scalar is read as
    /// d2i read it (an unsigned big-endian number of any length), the BIT STRING's point as
    /// d2i_ECPrivateKey read it (unused bits cleared); a missing public key is derived, as d2i
    /// did, so a private-key session can verify. EVP_PKEY_check then checks the scalar's range,
    /// the point, and that the two belong together.
    private static func ecPrivate(_ key: UnsafeRawBufferPointer, group: String) throws(CryptoError) -> OpaquePointer {
        guard var fields = DERScan.sequence(key),
            let version = fields.next(), version.tag == DERScan.integer, key[version.content].elementsEqual([1]),
            let scalar = fields.next(), scalar.tag == DERScan.octetString, !scalar.content.isEmpty
        else { throw .invalidKey }
        guard let object = OBJ_nid2obj(OBJ_sn2nid(group)), let oid = OBJ_get0_data(object) else {
            throw .backendFailure
        }
        var element = fields.next()
        if let parameters = element, parameters.tag == DERScan.explicit0 {
            guard var inner = DERScan(key, parameters.content), let named = inner.next(),
                named.tag == DERScan.objectIdentifier,
                inner.isAtEnd
            else { throw .invalidKey }
            // Another curve's OID, or one OpenSSL does not know, is not the session's curve.
            guard key[named.content].elementsEqual(UnsafeBufferPointer(start: oid, count: Int(OBJ_length(object))))
            else {
                throw .invalidKey
            }
            element = fields.next()
        }
        var bitString: Range<Int>?
        if let publicKey = element, publicKey.tag == DERScan.explicit1 {
            guard var inner = DERScan(key, publicKey.content), let bits = inner.next(), bits.tag == DERScan.bitString,
                inner.isAtEnd
            else { throw .invalidKey }
            bitString = bits.content
            element = fields.next()
        }
        guard element == nil, fields.isAtEnd else { throw .invalidKey }
        var point: [UInt8]
        if let bitString {
            // The first octet counts the unused bits of the last; d2i cleared them (the point is public).
            guard let unused = bitString.first.map({ key[$0] }), unused <= 7 else { throw .invalidKey }
            point = Array(key[bitString.dropFirst()])
            if !point.isEmpty { point[point.count - 1] &= UInt8(0xff) << unused }
        } else {
            point = try derivedPoint(key, scalar: scalar.content, group: group)
        }

        let pkey: OpaquePointer? = group.withCString { name in
            point.withUnsafeMutableBytes { pub in
                fromNumbers(
                    key, "EC", [("priv", scalar.content)],
                    extra: [
                        OSSL_PARAM_construct_utf8_string(cString("group"), UnsafeMutablePointer(mutating: name), 0),
                        OSSL_PARAM_construct_octet_string(
                            cString("pub"), UnsafeMutableRawPointer(pub.basePointer), pub.count),
                    ])
            }
        }
        guard let pkey else { throw .invalidKey }
        guard EVP_PKEY_get_id(pkey) == EVP_PKEY_EC, groupName(pkey) == group, check(pkey, EVP_PKEY_check) else {
            EVP_PKEY_free(pkey)
            throw .invalidKey
        }
        return pkey
    }

    /// scalar·G, uncompressed, for an ECPrivateKey without publicKey: EVP_PKEY_fromdata does not
    /// derive it (a key made from "priv" alone fails EVP_PKEY_check). The scalar goes into a
    /// BIGNUM straight from the DER (big-endian, no other copy), flagged constant-time and
    /// freed with BN_clear_free.
    private static func derivedPoint(_ key: UnsafeRawBufferPointer, scalar: Range<Int>, group: String)
        throws(CryptoError) -> [UInt8]
    {
        guard let ecGroup = EC_GROUP_new_by_curve_name(OBJ_sn2nid(group)) else { throw .backendFailure }
        defer { EC_GROUP_free(ecGroup) }
        guard let point = EC_POINT_new(ecGroup) else { throw .backendFailure }
        defer { EC_POINT_free(point) }
        guard let number = BN_secure_new() else { throw .backendFailure }
        defer { BN_clear_free(number) }
        BN_set_flags(number, BN_FLG_CONSTTIME)
        guard BN_bin2bn(key.basePointer + scalar.lowerBound, Int32(scalar.count), number) != nil,
            EC_POINT_mul(ecGroup, point, number, nil, nil, nil) == 1
        else { throw .invalidKey }
        let length = EC_POINT_point2oct(ecGroup, point, POINT_CONVERSION_UNCOMPRESSED, nil, 0, nil)
        guard length > 0 else { throw .invalidKey }
        var encoded = [UInt8](repeating: 0, count: length)
        guard
            encoded.withUnsafeMutableBufferPointer({
                EC_POINT_point2oct(ecGroup, point, POINT_CONVERSION_UNCOMPRESSED, $0.baseAddress, length, nil)
            }) == length
        else { throw .invalidKey }
        return encoded
    }

    private static func groupName(_ pkey: OpaquePointer) -> String? {
        var name = [CChar](repeating: 0, count: 64)
        var length = 0
        guard OpenSSLRuntime.ok(EVP_PKEY_get_utf8_string_param(pkey, cString("group"), &name, name.count, &length))
        else { return nil }
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
