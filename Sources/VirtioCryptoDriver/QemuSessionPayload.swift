import VirtioCryptoWire
import WireBytes

/// QEMU's CREATE_CRYPTO_SESSION payload as the front-end builds it: a memcpy of QEMU's x86_64
/// structs (research/protocol.md §1.3), written from QEMU's headers here, independently of the
/// back-end's parser, so that each checks the other. Layout B (QEMU 7.1–8.0, 632 bytes):
/// `i64 session_id`, then `CryptoDevBackendSymSessionInfo` and its keys; layout C (QEMU ≥ 8.1,
/// 1072 bytes): `u64 op_code`, the same, and `i64 session_id` after the 1064-byte union.
public enum QemuSessionPayload {
    public static let sizeB = 632
    public static let sizeC = 1072

    /// Where the reply's session id is.
    public static func sessionIDOffset(layoutC: Bool) -> Int { layoutC ? 1064 : 0 }

    /// A symmetric session: `CryptoDevBackendSymSessionInfo` at 8 (six u32s, four u8s, padding,
    /// two host pointers QEMU leaves in), `key[64]` at 56, `auth_key[512]` at 120. Keys longer
    /// than their arrays are cut (the declared lengths stay, to test the back-end's check).
    public static func symmetric(
        cipher: CipherAlgorithm, key: [UInt8], op: Op, layoutC: Bool = false, opType: UInt8 = 1,
        hashMode: UInt8 = 0, authAlgorithm: UInt32 = 0, resultLength: UInt32 = 0, authKey: [UInt8] = [],
        chainOrder: UInt8 = 0
    ) -> [UInt8] {
        var writer = WireWriter(capacity: layoutC ? sizeC : sizeB)
        writer.le64(layoutC ? UInt64(Opcode.cipherCreateSession.rawValue) : 0)  // op_code, or session_id
        writer.le32(cipher.rawValue)
        writer.le32(UInt32(key.count))
        writer.le32(authAlgorithm)
        writer.le32(resultLength)
        writer.le32(UInt32(authKey.count))
        writer.le32(0)  // add_len
        for byte in [opType, UInt8(truncatingIfNeeded: op.rawValue), hashMode, chainOrder] { writer.u8(byte) }
        writer.zeros(4 + 8 + 8)  // padding, u8 *key, u8 *auth_key
        writer.append(bytes: Array(key.prefix(64)))
        writer.pad(from: 56, to: 64)
        writer.append(bytes: Array(authKey.prefix(512)))
        writer.pad(from: 120, to: 512)
        writer.pad(from: 0, to: layoutC ? sizeC : sizeB)
        return writer.bytes
    }

    /// An AKCIPHER session (layout C only): `CryptoDevBackendAsymSessionInfo` at 8 (algo, keytype,
    /// keylen, padding, u8 *key, RSA padding_algo and hash_algo), `key[1024]` at 40. Values are the
    /// guest's, as QEMU forwards them (algo in Linux's numbering: RSA 1).
    /// `keyLength` overrides the declared keylen and `opCode` the op_code (hostile tests).
    public static func akcipher(
        algorithm: UInt32, keyType: UInt32, key: [UInt8], padding: UInt32 = 0, hash: UInt32 = 0,
        keyLength: UInt32? = nil, opCode: UInt64 = UInt64(Opcode.akcipherCreateSession.rawValue)
    ) -> [UInt8] {
        var writer = WireWriter(capacity: sizeC)
        writer.le64(opCode)
        writer.le32(algorithm)
        writer.le32(keyType)
        writer.le32(keyLength ?? UInt32(key.count))
        writer.zeros(4)  // padding
        writer.le64(0x7f3a_5c00_1000)  // u8 *key: QEMU's host pointer to its own copy, meaningless here
        writer.le32(padding)
        writer.le32(hash)
        writer.append(bytes: Array(key.prefix(1024)))
        writer.pad(from: 40, to: 1024)
        writer.pad(from: 0, to: sizeC)
        return writer.bytes
    }
}
