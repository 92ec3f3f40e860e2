import WireBytes

/// vhost-user request codes (front-end to back-end), as the vhost-user specification numbers them.
public enum VhostUserRequest: UInt32, Sendable, CaseIterable {
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
    case setBackendReqFD = 21
    case iotlbMessage = 22
    case setVringEndian = 23
    case getConfig = 24
    case setConfig = 25
    case createCryptoSession = 26
    case closeCryptoSession = 27
    case postcopyAdvise = 28
    case postcopyListen = 29
    case postcopyEnd = 30
    case getInflightFD = 31
    case setInflightFD = 32
    case gpuSetSocket = 33
    case resetDevice = 34
    case vringKick = 35
    case getMaxMemSlots = 36
    case addMemReg = 37
    case remMemReg = 38
    case setStatus = 39
    case getStatus = 40
}

/// Protocol feature bits (`VHOST_USER_PROTOCOL_F_*`) this layer knows by name.
public enum ProtocolFeature: UInt64, Sendable, CaseIterable {
    case multiQueue = 0
    case replyAck = 3
    case cryptoSession = 7
    case config = 9
    public var mask: UInt64 { 1 << rawValue }
}

/// The 12-byte header every message starts with: request, flags, payload size (all le32).
public struct MessageHeader: Equatable, Sendable {
    public static let size = 12
    public static let versionMask: UInt32 = 0x3
    public static let version: UInt32 = 0x1
    public static let replyFlag: UInt32 = 1 << 2
    public static let needReplyFlag: UInt32 = 1 << 3

    public var request: UInt32
    public var flags: UInt32
    public var payloadSize: UInt32

    public init(request: UInt32, flags: UInt32, payloadSize: UInt32) {
        self.request = request
        self.flags = flags
        self.payloadSize = payloadSize
    }

    public init(from reader: inout WireReader) throws(WireError) {
        request = try reader.le32()
        flags = try reader.le32()
        payloadSize = try reader.le32()
    }

    public func encode(into writer: inout WireWriter) {
        writer.le32(request)
        writer.le32(flags)
        writer.le32(payloadSize)
    }
}

/// One message as received: the header's request and flags, the payload, and the descriptors
/// that came with it (owned by whoever holds the message until they are passed on or closed).
public struct VhostUserMessage {
    /// Largest payload accepted: QEMU 8.1's crypto session (1072 bytes) with room to spare; the
    /// largest message of the protocol (a memory table of 8 regions) is 264 bytes.
    public static let maxPayload = 4096

    public var request: UInt32
    public var flags: UInt32
    public var payload: [UInt8]
    public var fds: [Int32]

    public init(request: UInt32, flags: UInt32 = MessageHeader.version, payload: [UInt8] = [], fds: [Int32] = []) {
        self.request = request
        self.flags = flags
        self.payload = payload
        self.fds = fds
    }

    public var needsReply: Bool { flags & MessageHeader.needReplyFlag != 0 }

    /// The header and payload as sent on the socket.
    public var encoded: [UInt8] {
        var writer = WireWriter(capacity: MessageHeader.size + payload.count)
        MessageHeader(request: request, flags: flags, payloadSize: UInt32(payload.count)).encode(into: &writer)
        writer.append(bytes: payload)
        return writer.bytes
    }
}
