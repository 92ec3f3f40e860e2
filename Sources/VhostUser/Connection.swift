import CVhostUserSupport
import Glibc

/// Why a frontend connection ends. Each closes that frontend only.
public enum ConnectionError: Error, Equatable, Sendable {
    case closed
    case io(Int32)
    case badHeader
    case payloadTooLarge(Int)
}

/// A vhost-user UNIX socket: messages in, replies out, descriptors via SCM_RIGHTS.
public final class VhostUserConnection: @unchecked Sendable {
    public let fd: Int32
    public init(fd: Int32) { self.fd = fd }
    deinit { close(fd) }

    /// Reads one message. Descriptors arriving with it are owned by the caller.
    public func receive() throws(ConnectionError) -> VhostUserMessage {
        var header = [UInt8](repeating: 0, count: VhostUserMessage.headerSize)
        var fds = [Int32](repeating: -1, count: 16)
        var count: Int32 = 0
        let received = header.withUnsafeMutableBytes { raw in
            fds.withUnsafeMutableBufferPointer {
                vu_recv_with_fds(fd, raw.baseAddress, raw.count, $0.baseAddress, 16, &count)
            }
        }
        let attached = Array(fds.prefix(Int(count)))
        guard received == VhostUserMessage.headerSize else {
            attached.forEach { close($0) }
            if received == 0 { throw .closed }
            throw received < 0 ? .io(errno) : .badHeader
        }
        let request = header.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
        let flags = header.withUnsafeBytes {
            UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        }
        let size = Int(
            header.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) })
        guard flags & 0x3 == VhostUserMessage.version else {
            attached.forEach { close($0) }
            throw .badHeader
        }
        guard size <= VhostUserMessage.maxPayload else {
            attached.forEach { close($0) }
            throw .payloadTooLarge(size)
        }
        var payload = [UInt8](repeating: 0, count: size)
        if size > 0 {
            let read = payload.withUnsafeMutableBytes { vu_recv_all(fd, $0.baseAddress, size) }
            guard read == size else {
                attached.forEach { close($0) }
                throw read == 0 ? .closed : .io(errno)
            }
        }
        return VhostUserMessage(request: request, flags: flags, payload: payload, fds: attached)
    }

    /// Sends a reply: the same request code, flags REPLY | version (never NEED_REPLY).
    public func reply(to request: UInt32, payload: [UInt8]) throws(ConnectionError) {
        let message = VhostUserMessage(
            request: request, flags: VhostUserMessage.replyFlag | VhostUserMessage.version, payload: payload)
        try send(message)
    }

    public func send(_ message: VhostUserMessage) throws(ConnectionError) {
        var bytes = message.encoded
        defer { bytes.zeroize() }  // a session reply echoes keys
        let sent = bytes.withUnsafeBytes { raw in
            message.fds.withUnsafeBufferPointer {
                vu_send_with_fds(fd, raw.baseAddress, raw.count, $0.baseAddress, Int32($0.count))
            }
        }
        guard sent == bytes.count else { throw .io(errno) }
    }
}
