import CVhostUserSupport
import Glibc
import WireBytes

/// The vhost-user requests our front-end sends, numbered here from the vhost-user
/// specification on purpose: the back-end has its own table, so a misreading of the protocol
/// on one side cannot hide behind the same misreading on the other.
public enum FrontendRequest: UInt32, Sendable {
    case getFeatures = 1
    case setFeatures = 2
    case setOwner = 3
    case resetOwner = 4
    case setMemTable = 5
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
    case getConfig = 24
    case setConfig = 25
    case createCryptoSession = 26
    case closeCryptoSession = 27
    case addMemReg = 37
}

/// The protocol feature bits the front-end asks for.
public enum FrontendProtocolFeature: UInt64, Sendable {
    case multiQueue = 0
    case replyAck = 3
    case cryptoSession = 7
    case config = 9
    public var mask: UInt64 { 1 << rawValue }
}

/// One message as the front-end sends or receives it.
public struct FrontendMessage {
    /// Header flags: the protocol version (bits 0–1), REPLY (bit 2), NEED_REPLY (bit 3).
    public static let version: UInt32 = 0x1
    public static let replyFlag: UInt32 = 0x4
    public static let needReplyFlag: UInt32 = 0x8
    static let headerSize = 12

    public var request: UInt32
    public var flags: UInt32
    public var payload: [UInt8]
    public var fds: [Int32]

    public init(request: UInt32, flags: UInt32 = FrontendMessage.version, payload: [UInt8] = [], fds: [Int32] = []) {
        self.request = request
        self.flags = flags
        self.payload = payload
        self.fds = fds
    }

    /// A le64 of the payload (replies carry u64s and vring states).
    public func u64(at offset: Int) -> UInt64? {
        read(at: offset) { (reader: inout WireReader) throws(WireError) in try reader.le64() }
    }

    public func u32(at offset: Int) -> UInt32? {
        read(at: offset) { (reader: inout WireReader) throws(WireError) in try reader.le32() }
    }

    private func read<T>(at offset: Int, _ body: (inout WireReader) throws(WireError) -> T) -> T? {
        payload.withUnsafeBytes { raw in
            var reader = WireReader(raw)
            do throws(WireError) {
                try reader.skip(offset)
                return try body(&reader)
            } catch { return nil }
        }
    }

    /// Header (request, flags, size: le32 each) and payload.
    public var encoded: [UInt8] {
        var writer = WireWriter(capacity: Self.headerSize + payload.count)
        writer.le32(request)
        writer.le32(flags)
        writer.le32(UInt32(payload.count))
        writer.append(bytes: payload)
        return writer.bytes
    }
}

/// The front-end's end of a vhost-user socket.
public final class FrontendConnection: @unchecked Sendable {
    public enum Failure: Error, Equatable {
        case closed
        case io(Int32)
        case badReply
    }

    public let fd: Int32
    public init(fd: Int32) { self.fd = fd }
    deinit { close(fd) }

    public func send(_ message: FrontendMessage) throws(Failure) {
        let bytes = message.encoded
        let sent = bytes.withUnsafeBytes { raw in
            message.fds.withUnsafeBufferPointer {
                vu_send_with_fds(fd, raw.baseAddress, raw.count, $0.baseAddress, Int32($0.count))
            }
        }
        guard sent == bytes.count else { throw .io(errno) }
    }

    /// Reads one reply (back-ends send no descriptors; any that come are closed).
    public func receive() throws(Failure) -> FrontendMessage {
        var header = [UInt8](repeating: 0, count: FrontendMessage.headerSize)
        var fds = [Int32](repeating: -1, count: 8)
        var count: Int32 = 0
        let received = header.withUnsafeMutableBytes { raw in
            fds.withUnsafeMutableBufferPointer {
                vu_recv_with_fds(fd, raw.baseAddress, raw.count, $0.baseAddress, 8, &count)
            }
        }
        fds.prefix(Int(count)).forEach { close($0) }
        guard received == FrontendMessage.headerSize else { throw received == 0 ? .closed : .io(errno) }
        let fields: (UInt32, UInt32, UInt32)? = header.withUnsafeBytes { raw in
            var reader = WireReader(raw)
            guard let request = try? reader.le32(), let flags = try? reader.le32(), let size = try? reader.le32()
            else { return nil }
            return (request, flags, size)
        }
        guard let (request, flags, size) = fields, size <= 1 << 16 else { throw .badReply }
        var payload = [UInt8](repeating: 0, count: Int(size))
        if size > 0 {
            let read = payload.withUnsafeMutableBytes { vu_recv_all(fd, $0.baseAddress, Int(size)) }
            guard read == Int(size) else { throw read == 0 ? .closed : .io(errno) }
        }
        return FrontendMessage(request: request, flags: flags, payload: payload)
    }
}
