import CVhostUserSupport
import Glibc
import VirtQueue
import WireBytes

/// Why a front-end connection ends. Each ends that front-end only.
public enum ConnectionError: Error, Equatable, Sendable {
    case closed
    case io(Int32)
    case badHeader
    case payloadTooLarge(Int)
    /// A message the back-end could not honour and could not answer with a failure reply.
    case refused(request: UInt32, MessageRefusal)
    /// A ring broke and the front-end gave it no error eventfd to be told by.
    case ringBroken(ring: Int, QueueError)
}

/// A vhost-user UNIX socket: messages in, replies out, descriptors via SCM_RIGHTS.
public final class VhostUserConnection: @unchecked Sendable {
    /// Most descriptors one message may bring (a memory table's regions); more are closed.
    static let maxDescriptors = 16

    public let fd: Int32
    public init(fd: Int32) { self.fd = fd }
    deinit { close(fd) }

    /// Reads one message. Descriptors arriving with it are owned by the caller.
    public func receive() throws(ConnectionError) -> VhostUserMessage {
        var header = [UInt8](repeating: 0, count: MessageHeader.size)
        var fds = [Int32](repeating: -1, count: Self.maxDescriptors)
        var count: Int32 = 0
        let received = header.withUnsafeMutableBytes { raw in
            fds.withUnsafeMutableBufferPointer {
                vu_recv_with_fds(fd, raw.baseAddress, raw.count, $0.baseAddress, Int32(Self.maxDescriptors), &count)
            }
        }
        let attached = Array(fds.prefix(Int(count)))
        guard received == MessageHeader.size else {
            attached.forEach { close($0) }
            if received == 0 { throw .closed }
            throw received < 0 ? .io(errno) : .badHeader
        }
        let decoded: MessageHeader? = header.withUnsafeBytes { raw in
            var reader = WireReader(raw)
            return try? MessageHeader(from: &reader)
        }
        guard let decoded, decoded.flags & MessageHeader.versionMask == MessageHeader.version else {
            attached.forEach { close($0) }
            throw .badHeader
        }
        let size = Int(decoded.payloadSize)
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
        return VhostUserMessage(request: decoded.request, flags: decoded.flags, payload: payload, fds: attached)
    }

    /// Sends a reply: the same request code, flags REPLY | version (never NEED_REPLY).
    public func reply(to request: UInt32, payload: [UInt8]) throws(ConnectionError) {
        var bytes = VhostUserMessage(
            request: request, flags: MessageHeader.replyFlag | MessageHeader.version, payload: payload
        ).encoded
        defer { bytes.zeroize() }  // a device reply may echo keys
        let sent = bytes.withUnsafeBytes { vu_send_all(fd, $0.baseAddress, $0.count) }
        guard sent == bytes.count else { throw .io(errno) }
    }

    /// Ends the connection from any thread: the message loop reads end of stream.
    func shutdown() {
        _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
    }
}
