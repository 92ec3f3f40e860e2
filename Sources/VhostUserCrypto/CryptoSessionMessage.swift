import VirtioCryptoDevice
import VirtioCryptoWire
import WireBytes

/// QEMU's CREATE_CRYPTO_SESSION payloads (protocol.md §1.3): a memcpy of QEMU's structs, x86_64.
///
/// Facts this relies on (qemu/qemu):
/// - `hw/virtio/vhost-user.c` ≥ 8.1 (commit 5c33f9783ace, unchanged through 10.x):
///   `VhostUserCryptoSession` is {u64 op_code; union {sym: CryptoDevBackendSymSessionInfo,
///   key[64], auth_key[512]; asym: CryptoDevBackendAsymSessionInfo, key[1024]}; i64 session_id}
///   = 1072 bytes. `vhost_user_crypto_create_session` zero-fills the message, copies the info
///   struct (host pointers included), then the key, refusing (-ENOTSUP, nothing sent) a keylen >
///   `VHOST_CRYPTO_ASYM_MAX_KEY_LEN` 1024; it sends op_code as the virtio opcode. It reads the
///   reply's session_id only (negative: failure) and wants the reply exactly this size.
/// - `include/sysemu/cryptodev.h` ≥ 8.1: `CryptoDevBackendAsymSessionInfo` is {u32 algo,
///   u32 keytype, u32 keylen, (pad), u8 *key, union {CryptoDevBackendRsaPara rsa} u} with
///   `CryptoDevBackendRsaPara` {u32 padding_algo, u32 hash_algo}: 32 bytes, no ECDSA member.
/// - `hw/virtio/virtio-crypto.c` `virtio_crypto_create_asym_session` ≥ 7.1: copies the guest's
///   virtio values verbatim (ldl_le_p, no conversion to QCryptoAkCipher* enums; backends convert
///   themselves), refuses a keytype other than PUBLIC 1 / PRIVATE 2 (NOTSUPP) and any algo but
///   RSA (ERR: "TODO DSA&ECDSA"), and bounds keylen by nothing before the vhost-user copy.
/// - `include/standard-headers/linux/virtio_crypto.h` (from Linux, both 7.1+): NO_AKCIPHER 0,
///   RSA 1, **DSA 2, ECDSA 3**; Virtio 1.4 numbers ECDSA 2 and has no DSA. Padding (RAW 0,
///   PKCS1 1), hash (NO_HASH 0 … SHA224 9) and key type (1, 2) agree with the spec.
/// - `backends/cryptodev-vhost-user.c` ≥ 8.1 forwards CIPHER and AKCIPHER create requests (and
///   HASH, MAC, AEAD, which virtio-crypto.c answers NOTSUPP before they get here).
public enum CryptoSessionMessage {
    /// CLOSE_CRYPTO_SESSION: the session id, le64.
    static let closePayloadSize = 8

    /// A byte range of the payload.
    struct Region {
        let offset: Int
        let size: Int
        var end: Int { offset + size }
    }

    /// Each layout, described once. Layout B (QEMU 7.1–8.0, 632 bytes): session_id, then the
    /// symmetric member. Layout C (QEMU ≥ 8.1, 1072 bytes): op_code, the union, session_id.
    enum Layout {
        static let sizeB = 632
        static let sizeC = 1072
        /// B: `i64 session_id`, 0 in the request; the reply carries the result here.
        static let sessionIDB = Region(offset: 0, size: 8)
        /// C: `u64 op_code`, the virtio opcode.
        static let opCode = Region(offset: 0, size: 8)
        /// C: `i64 session_id` after the union.
        static let sessionIDC = Region(offset: 1064, size: 8)
        /// Both: `CryptoDevBackendSymSessionInfo` (read field by field in `symmetric`), its keys.
        static let symmetricInfo = Region(offset: 8, size: 48)
        static let cipherKey = Region(offset: 56, size: 64)
        static let authKey = Region(offset: 120, size: 512)
        /// C only: `CryptoDevBackendAsymSessionInfo` (read in `akcipher`), its key.
        static let akcipherInfo = Region(offset: 8, size: 32)
        static let akcipherKey = Region(offset: 40, size: 1024)

        static func sessionID(payloadSize: Int) -> Region { payloadSize == sizeC ? sessionIDC : sessionIDB }
    }

    /// A payload decoded. The AKCIPHER key stays in the payload: `key` is its range there.
    public enum Description {
        case symmetric(SymmetricSessionRequest)
        case akcipher(AkcipherSessionRequest, key: Range<Int>)
    }

    /// Why a payload describes no session the device can create (the log says which).
    public enum Refusal: Error, CustomStringConvertible {
        case size(Int)
        case opCode(UInt64)
        case notSymmetric(opType: UInt8, layoutB: Bool)
        case symmetricKeyLengths(cipher: UInt32, auth: UInt32)
        case akcipherKeyLength(UInt32, deviceLimit: Int)
        case akcipherAlgorithm(UInt32)

        public var description: String {
            switch self {
            case .size(let size):
                return
                    "a payload of \(size) bytes is neither QEMU 7.1–8.0's (\(Layout.sizeB)) nor QEMU ≥ 8.1's (\(Layout.sizeC)) session"
            case .opCode(let code):
                return
                    "op_code 0x\(String(code, radix: 16)) is neither CIPHER_CREATE_SESSION (0x002) nor AKCIPHER_CREATE_SESSION (0x404)"
            case .notSymmetric(let opType, true):
                return
                    "a \(Layout.sizeB)-byte payload (QEMU 7.1–8.0) always describes a symmetric session, but its op_type \(opType) "
                    + "is neither CIPHER (1) nor ALGORITHM_CHAINING (2); QEMU before 8.1 cannot forward AKCIPHER sessions"
            case .notSymmetric(let opType, false):
                return "symmetric session with op_type \(opType), neither CIPHER (1) nor ALGORITHM_CHAINING (2)"
            case .symmetricKeyLengths(let cipher, let auth):
                return
                    "key_len \(cipher) (at most \(Layout.cipherKey.size)) or auth_key_len \(auth) (at most \(Layout.authKey.size)) does not fit"
            case .akcipherKeyLength(let length, let deviceLimit) where Int(length) > Layout.akcipherKey.size:
                return "AKCIPHER keylen \(length) exceeds QEMU's key[\(Layout.akcipherKey.size)]"
                    + (deviceLimit < Layout.akcipherKey.size
                        ? " and the device's AKCIPHER key limit of \(deviceLimit)" : "")
            case .akcipherKeyLength(let length, let deviceLimit):
                return
                    "AKCIPHER keylen \(length) exceeds the device's AKCIPHER key limit of \(deviceLimit) (--max-akcipher-key-size)"
            case .akcipherAlgorithm(let raw):
                return "AKCIPHER algo \(raw): " + QemuAkcipherValues.refusedAlgorithm(raw)
            }
        }
    }

    /// Decodes a payload, checking every length before it reads what the length covers.
    /// `maxAkcipherKeyLength` is the device's AKCIPHER key limit.
    public static func parse(_ payload: [UInt8], maxAkcipherKeyLength: Int) throws(Refusal) -> Description {
        let result: Result<Description, Refusal> = payload.withUnsafeBytes { raw in
            do throws(Refusal) { return .success(try parse(raw, maxAkcipherKeyLength: maxAkcipherKeyLength)) } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    private static func parse(_ raw: UnsafeRawBufferPointer, maxAkcipherKeyLength: Int) throws(Refusal) -> Description {
        switch raw.count {
        case Layout.sizeB:
            return .symmetric(try symmetric(raw, layoutB: true))
        case Layout.sizeC:
            var opCode = reader(raw, Layout.opCode)
            let code = read(try opCode.le64())
            switch code {
            case UInt64(Opcode.cipherCreateSession.rawValue):
                return .symmetric(try symmetric(raw, layoutB: false))
            case UInt64(Opcode.akcipherCreateSession.rawValue):
                return try akcipher(raw, deviceLimit: maxAkcipherKeyLength)
            default:
                throw .opCode(code)
            }
        default:
            throw .size(raw.count)
        }
    }

    /// `CryptoDevBackendSymSessionInfo`: u32 cipher_alg @8, key_len @12, hash_alg @16,
    /// hash_result_len @20, auth_key_len @24, add_len @28; u8 op_type @32, direction @33,
    /// hash_mode @34, alg_chain_order @35 (QEMU truncates the guest's le32s to u8); pad;
    /// two host pointers @40, @48, ignored. Then key[64] @56 and auth_key[512] @120.
    private static func symmetric(_ raw: UnsafeRawBufferPointer, layoutB: Bool) throws(Refusal)
        -> SymmetricSessionRequest
    {
        var info = reader(raw, Layout.symmetricInfo)
        let cipher = read(try info.le32())
        let keyLength = read(try info.le32())
        let authAlgorithm = read(try info.le32())
        let resultLength = read(try info.le32())
        let authKeyLength = read(try info.le32())
        _ = read(try info.le32())  // add_len: AAD of a chain; the data request carries its own
        let opType = read(try info.u8())
        let direction = read(try info.u8())
        let hashMode = read(try info.u8())
        let chainOrder = read(try info.u8())
        guard opType == 1 || opType == 2 else { throw .notSymmetric(opType: opType, layoutB: layoutB) }
        guard keyLength <= Layout.cipherKey.size, authKeyLength <= Layout.authKey.size else {
            throw .symmetricKeyLengths(cipher: keyLength, auth: authKeyLength)
        }
        var cipherKeyArea = reader(raw, Layout.cipherKey)
        var authKeyArea = reader(raw, Layout.authKey)
        let cipherKey = read(try cipherKeyArea.subReader(Int(keyLength))).bytes
        let authKey = read(try authKeyArea.subReader(Int(authKeyLength))).bytes
        return SymmetricSessionRequest(
            opType: SymOp(rawValue: UInt32(opType)), cipher: CipherAlgorithm(rawValue: cipher),
            cipherKey: Array(cipherKey),
            direction: Op(rawValue: UInt32(direction)), hashMode: HashMode(rawValue: UInt32(hashMode)),
            authAlgorithm: authAlgorithm, resultLength: resultLength, authKey: Array(authKey),
            chainOrder: ChainOrder(rawValue: UInt32(chainOrder)))
    }

    /// `CryptoDevBackendAsymSessionInfo`: u32 algo @8, keytype @12, keylen @16; pad @20; host
    /// pointer @24, ignored; rsa {u32 padding_algo @32, u32 hash_algo @36}. Then key[1024] @40.
    /// QEMU's values are mapped through `QemuAkcipherValues`. The key is not copied here.
    private static func akcipher(_ raw: UnsafeRawBufferPointer, deviceLimit: Int) throws(Refusal) -> Description {
        var info = reader(raw, Layout.akcipherInfo)
        let algo = read(try info.le32())
        let keyType = read(try info.le32())
        let keyLength = read(try info.le32())
        read(try info.skip(4 + 8))  // padding, u8 *key
        let padding = read(try info.le32())
        let hash = read(try info.le32())
        guard let algorithm = QemuAkcipherValues.algorithms[algo] else { throw .akcipherAlgorithm(algo) }
        guard keyLength <= min(Layout.akcipherKey.size, deviceLimit) else {
            throw .akcipherKeyLength(keyLength, deviceLimit: deviceLimit)
        }
        var keyArea = reader(raw, Layout.akcipherKey)
        read(try keyArea.skip(Int(keyLength)))  // within the area: checked by the reader as well
        let request = AkcipherSessionRequest(
            algorithm: algorithm, keyType: QemuAkcipherValues.keyType(keyType),
            parameters: .rsa(
                RsaSessionPara(
                    paddingAlgo: QemuAkcipherValues.padding(padding), hashAlgo: QemuAkcipherValues.hash(hash))))
        return .akcipher(request, key: Layout.akcipherKey.offset..<Layout.akcipherKey.offset + Int(keyLength))
    }

    /// A reader over one region (the payload's size was matched to its layout first).
    private static func reader(_ raw: UnsafeRawBufferPointer, _ region: Region) -> WireReader {
        WireReader(UnsafeRawBufferPointer(rebasing: raw[region.offset..<region.end]))
    }

    /// A read within a region of known size: the layout table guarantees it fits.
    private static func read<T>(_ value: @autoclosure () throws(WireError) -> T) -> T {
        do { return try value() } catch {
            preconditionFailure("CryptoSessionMessage.Layout does not hold its fields: \(error)")
        }
    }

    /// The reply: the request echoed with the session id (negative on failure) in place;
    /// a payload too short to hold the id is padded with zeros first.
    static func reply(to payload: [UInt8], sessionID: Int64) -> [UInt8] {
        let region = Layout.sessionID(payloadSize: payload.count)
        var reply = payload + [UInt8](repeating: 0, count: max(0, region.end - payload.count))
        withUnsafeBytes(of: sessionID.littleEndian) { reply.replaceSubrange(region.offset..<region.end, with: $0) }
        return reply
    }
}

/// QEMU's AKCIPHER values → the spec's, explicitly: QEMU passes the guest's values through
/// untouched, and they follow Linux's virtio_crypto.h, which numbers algo differently from
/// Virtio 1.4 (DSA 2 and ECDSA 3 there, ECDSA 2 in the spec). Key type, padding and hash values
/// agree; one the table does not list reaches the device as `.unknown(raw)`, which answers it
/// as on the control queue (RAW padding ignores the hash, for instance).
enum QemuAkcipherValues {
    /// Only RSA: the message has no ECDSA member (no curve), and QEMU forwards nothing else.
    static let algorithms: [UInt32: AkcipherAlgorithm] = [1: .rsa]
    static let keyTypes: [UInt32: AkcipherKeyType] = [1: .publicKey, 2: .privateKey]
    static let paddings: [UInt32: RsaPadding] = [0: .raw, 1: .pkcs1]
    static let hashes: [UInt32: RsaHashAlgorithm] = [
        0: .noHash, 1: .md2, 2: .md3, 3: .md4, 4: .md5, 5: .sha1, 6: .sha256, 7: .sha384, 8: .sha512, 9: .sha224,
    ]

    static func keyType(_ raw: UInt32) -> AkcipherKeyType { keyTypes[raw] ?? .unknown(raw) }
    static func padding(_ raw: UInt32) -> RsaPadding { paddings[raw] ?? .unknown(raw) }
    static func hash(_ raw: UInt32) -> RsaHashAlgorithm { hashes[raw] ?? .unknown(raw) }

    /// Why an algo value is refused.
    static func refusedAlgorithm(_ raw: UInt32) -> String {
        switch raw {
        case 0: return "NO_AKCIPHER names no algorithm"
        case 2: return "DSA in QEMU's and Linux's numbering (the spec has no DSA; its value 2 is ECDSA)"
        case 3:
            return
                "ECDSA in QEMU's numbering, but QEMU's session message has no ECDSA member (no curve) and QEMU forwards only RSA"
        default: return "unknown to QEMU and to the spec"
        }
    }
}
