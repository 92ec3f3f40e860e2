import VirtioCryptoDevice
import VirtioCryptoWire

/// QEMU's CREATE_CRYPTO_SESSION payloads (protocol.md §1.3): a memcpy of QEMU structs.
/// Layout B (QEMU 7.1–8.0, 632 bytes): session_id @0. Layout C (≥ 8.1, 1072 bytes):
/// op_code @0, session_id @1064. Both hold the symmetric session info at @8, the cipher
/// key (≤ 64) at @56 and the auth key (≤ 512) at @120.
enum CryptoSessionMessage {
    static let layoutB = 632
    static let layoutC = 1072
    static let maxCipherKey = 64
    static let maxAuthKey = 512

    /// The session request a payload describes, or nil when it is malformed or not symmetric.
    static func parse(_ payload: [UInt8]) -> SymmetricSessionRequest? {
        guard payload.count == layoutB || payload.count == layoutC else { return nil }
        func u32(_ offset: Int) -> UInt32 { payload.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) } }
        if payload.count == layoutC {
            let opcode = payload.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
            guard opcode == UInt64(Opcode.cipherCreateSession.rawValue) else { return nil }
        }
        let keyLength = Int(u32(12)), authKeyLength = Int(u32(24))
        guard keyLength <= maxCipherKey, authKeyLength <= maxAuthKey else { return nil }
        return SymmetricSessionRequest(
            opType: SymOp(rawValue: UInt32(payload[32])), cipher: CipherAlgorithm(rawValue: u32(8)),
            cipherKey: Array(payload[56..<56 + keyLength]), direction: Op(rawValue: UInt32(payload[33])),
            hashMode: HashMode(rawValue: UInt32(payload[34])), authAlgorithm: u32(16), resultLength: u32(20),
            authKey: Array(payload[120..<120 + authKeyLength]), chainOrder: ChainOrder(rawValue: UInt32(payload[35])))
    }

    /// The reply: the request echoed with the session id (negative on failure) in place;
    /// a payload too short to hold the id is padded with zeros first.
    static func reply(to payload: [UInt8], sessionID: Int64) -> [UInt8] {
        let offset = payload.count == layoutC ? 1064 : 0
        var reply = payload + [UInt8](repeating: 0, count: max(0, offset + 8 - payload.count))
        withUnsafeBytes(of: sessionID.littleEndian) { reply.replaceSubrange(offset..<offset + 8, with: $0) }
        return reply
    }
}

extension VhostUserBackend {
    func createSession(_ message: VhostUserMessage) throws(ConnectionError) {
        var sessionID: Int64 = -1
        if var request = CryptoSessionMessage.parse(message.payload) {
            do {
                sessionID = Int64(bitPattern: try device.createSymmetricSession(request))
            } catch {
                log("CREATE_CRYPTO_SESSION refused: \(error)")
            }
            for index in request.cipherKey.indices { request.cipherKey[index] = 0 }
            for index in request.authKey.indices { request.authKey[index] = 0 }
        } else {
            log("CREATE_CRYPTO_SESSION: malformed payload of \(message.payload.count) bytes")
        }
        try connection.reply(to: message.request, payload: CryptoSessionMessage.reply(to: message.payload, sessionID: sessionID))
    }
}
