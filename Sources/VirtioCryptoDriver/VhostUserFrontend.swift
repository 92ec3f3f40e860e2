import CVhostUserSupport
import Foundation
import Glibc
import VirtQueue
import VirtioCryptoWire

/// Our own vhost-user frontend, as a VMM would be: shares memfd guest memory with a
/// backend, sets up rings with kick/call eventfds, and sends requests through them.
/// For integration tests, the benchmark and fuzzers (including hostile messages).
public final class VhostUserFrontend {
    public enum FrontendError: Error, Equatable {
        case connect(Int32)
        case memory
        case unexpectedReply(UInt32)
        case timeout
        case backend(UInt64)
    }

    public let connection: FrontendConnection
    public let memory: UnsafeMutableRawBufferPointer
    public let memoryFD: Int32
    public static let guestBase: UInt64 = 0x10_0000
    /// Bytes of shared memory per ring.
    public let sliceSize: Int
    public private(set) var rings: [Int: FrontendRing] = [:]

    /// Connects to a backend at `path` (or wraps a connected socket `fd`), with `slices`
    /// × 4 MiB of shared guest memory: one slice per ring.
    public init(path: String? = nil, fd: Int32? = nil, slices: Int = 4, sliceSize: Int = 4 << 20) throws(FrontendError)
    {
        self.sliceSize = sliceSize
        let socket: Int32
        if let fd {
            socket = fd
        } else {
            socket = vu_connect(path ?? "")
            guard socket >= 0 else { throw .connect(errno) }
        }
        connection = FrontendConnection(fd: socket)
        let size = slices * sliceSize
        memoryFD = vu_memfd("guest-ram", size)
        guard memoryFD >= 0, let pointer = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, memoryFD, 0),
            pointer != MAP_FAILED
        else {
            throw .memory
        }
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        memory = UnsafeMutableRawBufferPointer(start: pointer, count: size)
    }

    deinit {
        rings.values.forEach { $0.close() }
        munmap(memory.baseAddress, memory.count)
        close(memoryFD)
    }

    // MARK: messages

    public func send(_ request: FrontendRequest, payload: [UInt8] = [], fds: [Int32] = [], needReply: Bool = false)
        throws
    {
        let flags = FrontendMessage.version | (needReply ? FrontendMessage.needReplyFlag : 0)
        try connection.send(FrontendMessage(request: request.rawValue, flags: flags, payload: payload, fds: fds))
    }

    /// Sends and waits for the reply to the same request.
    public func call(_ request: FrontendRequest, payload: [UInt8] = [], fds: [Int32] = [], needReply: Bool = false)
        throws -> FrontendMessage
    {
        try send(request, payload: payload, fds: fds, needReply: needReply)
        let reply = try connection.receive()
        guard reply.request == request.rawValue, reply.flags == FrontendMessage.replyFlag | FrontendMessage.version
        else {
            throw FrontendError.unexpectedReply(reply.request)
        }
        return reply
    }

    /// A request that takes REPLY_ACK: fails when the backend answers non-zero.
    public func acked(_ request: FrontendRequest, payload: [UInt8] = [], fds: [Int32] = []) throws {
        let reply = try call(request, payload: payload, fds: fds, needReply: true)
        let status = reply.u64(at: 0) ?? 1
        guard status == 0 else { throw FrontendError.backend(status) }
    }

    static func u64(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
    static func u32s(_ values: UInt32...) -> [UInt8] {
        values.flatMap { value in withUnsafeBytes(of: value.littleEndian) { Array($0) } }
    }

    /// Feature and protocol-feature negotiation, as QEMU does it. Returns the backend's
    /// feature bits.
    @discardableResult
    public func handshake(
        features: UInt64 = 1 << 30,
        protocolFeatures: UInt64 = FrontendProtocolFeature.multiQueue.mask | FrontendProtocolFeature.replyAck.mask
            | FrontendProtocolFeature.cryptoSession.mask | FrontendProtocolFeature.config.mask
    ) throws -> UInt64 {
        let offered = try call(.getFeatures).u64(at: 0) ?? 0
        _ = try call(.getProtocolFeatures)
        try send(.setProtocolFeatures, payload: Self.u64(protocolFeatures))
        try send(.setOwner)
        try acked(.setFeatures, payload: Self.u64(features))
        try acked(.setMemTable, payload: memoryTable(), fds: [memoryFD])
        return offered
    }

    /// The SET_MEM_TABLE payload for our one region.
    public func memoryTable() -> [UInt8] {
        Self.u32s(1, 0) + Self.u64(Self.guestBase) + Self.u64(UInt64(memory.count))
            + Self.u64(UInt64(UInt(bitPattern: memory.baseAddress))) + Self.u64(0)
    }

    /// Memory slices available for rings.
    public var slices: Int { memory.count / sliceSize }

    /// Sets up ring `index` in memory slice `slice` (by default its own index) and starts
    /// it (NUM, BASE, ADDR, CALL, KICK). A ring started again replaces the old one, whose
    /// eventfds are closed.
    /// With `errorNotifier` (as QEMU ≥ 7.1 does), the ring's error eventfd goes to the backend
    /// too, which signals it if the ring breaks; without one, the backend closes the connection.
    @discardableResult
    public func startRing(_ index: Int, size: UInt16 = 256, slice sliceIndex: Int? = nil, errorNotifier: Bool = true)
        throws -> FrontendRing
    {
        let sliceIndex = sliceIndex ?? index
        precondition(sliceIndex >= 0 && sliceIndex < slices, "no memory slice \(sliceIndex) for ring \(index)")
        let start = sliceIndex * sliceSize
        let slice = UnsafeMutableRawBufferPointer(rebasing: memory[start..<start + sliceSize])
        // A ring set up again starts empty, as a driver resets it (indexes 0, no stale entries).
        slice.initializeMemory(as: UInt8.self, repeating: 0)
        let ring = FrontendRing(
            index: index, ring: DriverRing(size: size, region: slice, guestBase: Self.guestBase + UInt64(start)))
        func address(_ guest: UInt64) -> UInt64 { UInt64(UInt(bitPattern: ring.ring.host(guest))) }
        try acked(.setVringNum, payload: Self.u32s(UInt32(index), UInt32(size)))
        try acked(.setVringBase, payload: Self.u32s(UInt32(index), 0))
        try acked(
            .setVringAddr,
            payload: Self.u32s(UInt32(index), 0) + Self.u64(address(ring.ring.layout.descriptorTable))
                + Self.u64(address(ring.ring.layout.usedRing)) + Self.u64(address(ring.ring.layout.availRing))
                + Self.u64(0))
        if errorNotifier {
            let error = vu_eventfd()
            guard error >= 0 else { throw FrontendError.memory }
            ring.error = error
            try acked(.setVringErr, payload: Self.u64(UInt64(index)), fds: [error])
        }
        try acked(.setVringCall, payload: Self.u64(UInt64(index)), fds: [ring.call])
        try acked(.setVringKick, payload: Self.u64(UInt64(index)), fds: [ring.kick])
        rings[index]?.close()  // the backend now holds the new eventfds
        rings[index] = ring
        return ring
    }

    /// CREATE_CRYPTO_SESSION in QEMU 7.2's 632-byte layout (or 8.1's 1072-byte one).
    public func createSession(
        cipher: CipherAlgorithm, key: [UInt8], op: Op, layoutC: Bool = false, opType: UInt8 = 1,
        hashMode: UInt8 = 0, authAlgorithm: UInt32 = 0, resultLength: UInt32 = 0, authKey: [UInt8] = [],
        chainOrder: UInt8 = 0
    ) throws -> Int64 {
        let payload = QemuSessionPayload.symmetric(
            cipher: cipher, key: key, op: op, layoutC: layoutC, opType: opType, hashMode: hashMode,
            authAlgorithm: authAlgorithm, resultLength: resultLength, authKey: authKey, chainOrder: chainOrder)
        let reply = try call(.createCryptoSession, payload: payload)
        guard reply.payload.count == payload.count else { throw FrontendError.unexpectedReply(reply.request) }
        return Int64(bitPattern: reply.u64(at: QemuSessionPayload.sessionIDOffset(layoutC: layoutC)) ?? UInt64.max)
    }

    /// CLOSE_CRYPTO_SESSION: never answered.
    public func closeSession(_ id: UInt64) throws { try send(.closeCryptoSession, payload: Self.u64(id)) }

    /// The device config space (generic frontends).
    public func config() throws -> Config {
        let reply = try call(
            .getConfig, payload: Self.u32s(0, UInt32(Config.size), 0) + [UInt8](repeating: 0, count: Config.size))
        return try Config.decode(Array(reply.payload.dropFirst(12)))
    }

    /// GET_VRING_BASE: stops the ring; returns the backend's next avail index.
    public func stopRing(_ index: Int) throws -> UInt32 {
        let reply = try call(.getVringBase, payload: Self.u32s(UInt32(index), 0))
        return reply.u32(at: 4) ?? 0
    }
}

/// One ring of a frontend: the driver ring in shared memory and its eventfds.
public final class FrontendRing {
    public let index: Int
    public let ring: DriverRing
    public let kick: Int32
    public let call: Int32

    init(index: Int, ring: DriverRing) {
        self.index = index
        self.ring = ring
        kick = vu_eventfd()
        call = vu_eventfd()
    }

    /// The error eventfd given to the backend (`startRing(errorNotifier:)`), if any.
    public internal(set) var error: Int32?

    func close() {
        Glibc.close(kick)
        Glibc.close(call)
        if let error { Glibc.close(error) }
    }

    /// Waits up to `timeout` ms for the backend to report this ring broken on its error eventfd.
    public func waitForError(timeout: Int32 = 5000) -> Bool {
        guard let error else { return false }
        return vu_eventfd_wait(error, timeout) == 1
    }

    /// Submits one chain, kicks, and waits (up to `timeout` ms) for the backend to use it;
    /// returns the bytes of the writable buffers.
    public func run(readable: [[UInt8]], writable: [Int], indirect: Bool = true, timeout: Int32 = 5000) throws
        -> [UInt8]
    {
        ring.resetData()
        let before = ring.usedIndex
        let submission = ring.submit(readable: readable, writable: writable, indirect: indirect)
        _ = vu_eventfd_signal(kick)
        var waited: Int32 = 0
        while ring.usedIndex == before {
            guard waited < timeout else { throw VhostUserFrontend.FrontendError.timeout }
            _ = vu_eventfd_wait(call, 50)
            waited += 50
        }
        return ring.written(submission)
    }

    /// `run`, with the used entry's length.
    public func complete(readable: [[UInt8]], writable: [Int]) throws -> Completion {
        let bytes = try run(readable: readable, writable: writable)
        return Completion(bytes: bytes, usedLength: ring.lastUsedLength)
    }
}
