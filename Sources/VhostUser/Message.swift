/// vhost-user request codes this backend knows (QEMU `enum VhostUserRequest`).
public enum VhostUserRequest: UInt32, Sendable {
    case getFeatures = 1
    case setFeatures = 2
    case setOwner = 3
    case resetOwner = 4
    case setMemTable = 5
    case setLogBase = 6
    case setLogFD = 7
    case setVringNum = 8
    case setVringAddr = 9
    case setVringBase = 10
    case getVringBase = 11
    case setVringKick = 12
    case setVringCall = 13
    case setVringErr = 14
    case getProtocolFeatures = 15
    case setProtocolFeatures = 16
    case getQueueNum = 17
    case setVringEnable = 18
    case sendRARP = 19
    case netSetMTU = 20
    case setSlaveReqFD = 21
    case iotlbMessage = 22
    case setVringEndian = 23
    case getConfig = 24
    case setConfig = 25
    case createCryptoSession = 26
    case closeCryptoSession = 27
    case getInflightFD = 31
    case setInflightFD = 32
    case resetDevice = 34
    case getMaxMemSlots = 36
    case addMemReg = 37
    case remMemReg = 38
    case setStatus = 39
    case getStatus = 40
}

/// Protocol feature bits (`VHOST_USER_PROTOCOL_F_*`).
public enum ProtocolFeature: UInt64, Sendable {
    case multiQueue = 0
    case replyAck = 3
    case cryptoSession = 7
    case config = 9
    public var mask: UInt64 { 1 << rawValue }
}

/// One message: the 12-byte header, its payload and the descriptors that came with it.
public struct VhostUserMessage {
    public static let headerSize = 12
    public static let version: UInt32 = 0x1
    public static let replyFlag: UInt32 = 0x4
    public static let needReplyFlag: UInt32 = 0x8
    /// Largest payload accepted: QEMU ≥ 8.1's crypto session (1072) with room to spare;
    /// anything longer is a broken or hostile frontend.
    public static let maxPayload = 4096

    public var request: UInt32
    public var flags: UInt32
    public var payload: [UInt8]
    public var fds: [Int32]

    public init(request: UInt32, flags: UInt32 = VhostUserMessage.version, payload: [UInt8] = [], fds: [Int32] = []) {
        self.request = request
        self.flags = flags
        self.payload = payload
        self.fds = fds
    }

    public var needsReply: Bool { flags & Self.needReplyFlag != 0 }

    public func u64(at offset: Int) -> UInt64? {
        guard offset >= 0, payload.count >= offset + 8 else { return nil }
        return payload.withUnsafeBytes {
            UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        }
    }

    public func u32(at offset: Int) -> UInt32? {
        guard offset >= 0, payload.count >= offset + 4 else { return nil }
        return payload.withUnsafeBytes {
            UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        }
    }

    /// The header and payload as sent on the socket.
    public var encoded: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.headerSize + payload.count)
        for word in [request, flags, UInt32(payload.count)] { withUnsafeBytes(of: word.littleEndian) { bytes += $0 } }
        return bytes + payload
    }
}

extension Array where Element == UInt8 {
    mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}
