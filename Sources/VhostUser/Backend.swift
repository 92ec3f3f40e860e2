import CVhostUserSupport
import Foundation
import Glibc
import VirtQueue
import VirtioCryptoDevice
import VirtioCryptoWire

/// Serves one vhost-user frontend: QEMU's cryptodev-vhost-user (data queues only,
/// sessions by messages 26/27) or a generic frontend (control queue and config too).
public final class VhostUserBackend: @unchecked Sendable {
    public let device: VirtioCryptoDevice
    let connection: VhostUserConnection
    let log: (String) -> Void

    static let protocolFeaturesBit: UInt64 = 1 << 30
    static let offeredProtocolFeatures: UInt64 =
        ProtocolFeature.multiQueue.mask | ProtocolFeature.replyAck.mask
        | ProtocolFeature.cryptoSession.mask | ProtocolFeature.config.mask
    static let virtioVersion1: UInt64 = 1 << 32
    static let indirectDescriptors: UInt64 = 1 << 28
    static let eventIndex: UInt64 = 1 << 29

    private var protocolFeatures: UInt64 = 0
    private var acknowledged: UInt64 = 0
    private var memory: MappedGuestMemory?
    private var rings: [Ring]
    /// Data queues, then the control queue at index `dataQueues`.
    var dataQueues: Int { device.offer.limits.dataQueues }

    struct Ring {
        var size: UInt16 = 0
        var addresses: (descriptors: UInt64, used: UInt64, avail: UInt64)?
        var base: UInt16 = 0
        var kick: Int32?
        var call: Int32?
        var error: Int32?
        var worker: QueueWorker?
    }

    /// Busy-poll time after each batch (see `--poll-us`).
    public var pollMicroseconds = 0
    private let servedLock = NSLock()
    private var servedByRing: [Int: Int] = [:]
    /// Running workers by ring, readable from other threads (the counters' report).
    private var liveWorkers: [Int: QueueWorker] = [:]

    /// Requests served per ring so far (finished workers and running ones); thread-safe.
    public var requestsPerRing: [Int: Int] {
        servedLock.lock()
        var result = servedByRing
        let live = liveWorkers
        servedLock.unlock()
        for (index, worker) in live { result[index, default: 0] += worker.served }
        return result
    }

    public init(device: VirtioCryptoDevice, connection: VhostUserConnection, log: @escaping (String) -> Void = { _ in })
    {
        self.device = device
        self.connection = connection
        self.log = log
        rings = Array(repeating: Ring(), count: device.offer.limits.dataQueues + 1)
    }

    /// Serves messages until the frontend disconnects or misbehaves; then stops every
    /// worker, closes every fd and drops every session (nothing outlives the frontend).
    public func serve() -> ConnectionError? {
        defer { shutdown() }
        while true {
            do {
                var message = try connection.receive()
                // A session message carries keys: wipe the received bytes once it is handled.
                defer {
                    if message.request == VhostUserRequest.createCryptoSession.rawValue { message.payload.zeroize() }
                }
                try handle(message)
            } catch {
                return error == .closed ? nil : error
            }
        }
    }

    func shutdown() {
        for index in rings.indices { stopRing(index, closeFiles: true) }
        memory = nil
        device.sessions.removeAll()
    }

    // MARK: messages

    func handle(_ message: VhostUserMessage) throws(ConnectionError) {
        let request = VhostUserRequest(rawValue: message.request)
        // Descriptors go to the requests that take them; any others are closed here, so a
        // frontend cannot pile them up in the daemon.
        if request.map(Self.takesDescriptors) != true { message.fds.forEach { close($0) } }
        guard let request else {
            log("unknown vhost-user request \(message.request)")
            try acknowledge(message, success: false)
            return
        }
        switch request {
        case .getFeatures:
            let crypto = device.offer.features.rawValue
            try reply(
                message,
                u64: Self.protocolFeaturesBit | Self.virtioVersion1 | Self.indirectDescriptors | Self.eventIndex
                    | crypto)
        case .setFeatures:
            acknowledged = message.u64(at: 0) ?? 0
            // QEMU sends only bit 30: the guest negotiated no crypto feature (legacy layout).
            let negotiated = device.negotiate(CryptoFeatures(rawValue: acknowledged & CryptoFeatures.all.rawValue))
            try acknowledge(message, success: negotiated)
        case .getProtocolFeatures:
            try reply(message, u64: Self.offeredProtocolFeatures)
        case .setProtocolFeatures:
            protocolFeatures = (message.u64(at: 0) ?? 0) & Self.offeredProtocolFeatures
            try acknowledge(message, success: true)
        case .setOwner, .resetOwner, .setVringEnable, .setSlaveReqFD, .setVringEndian, .setStatus, .resetDevice:
            try acknowledge(message, success: true)
        case .getQueueNum:
            try reply(message, u64: UInt64(rings.count))
        case .setMemTable:
            try setMemTable(message)
        case .setVringNum, .setVringBase:
            guard let index = ringIndex(message.u32(at: 0)), let value = message.u32(at: 4) else {
                return try acknowledge(message, success: false)
            }
            if request == .setVringNum {
                guard value > 0, value <= 32768, value & (value - 1) == 0 else {
                    return try acknowledge(message, success: false)
                }
                rings[index].size = UInt16(truncatingIfNeeded: value == 32768 ? 32768 : value)
            } else {
                rings[index].base = UInt16(truncatingIfNeeded: value)
            }
            try acknowledge(message, success: true)
        case .setVringAddr:
            guard let index = ringIndex(message.u32(at: 0)), let descriptors = message.u64(at: 8),
                let used = message.u64(at: 16),
                let avail = message.u64(at: 24)
            else { return try acknowledge(message, success: false) }
            rings[index].addresses = (descriptors, used, avail)
            try acknowledge(message, success: true)
        case .setVringKick, .setVringCall, .setVringErr:
            try setVringFile(request, message)
        case .getVringBase:
            guard let index = ringIndex(message.u32(at: 0)) else {
                return try reply(message, payload: [UInt8](repeating: 0, count: 8))
            }
            let last = stopRing(index, closeFiles: false)
            var payload: [UInt8] = []
            payload.appendLE(UInt32(index))
            payload.appendLE(UInt32(last))
            try reply(message, payload: payload)
        case .getConfig:
            try getConfig(message)
        case .createCryptoSession:
            try createSession(message)
        case .closeCryptoSession:
            if let id = message.u64(at: 0) { device.destroySession(id) }  // unknown or repeated ids: a no-op
            if message.needsReply && protocolFeatures & ProtocolFeature.replyAck.mask != 0 {
                try reply(message, u64: 0)
            }
        default:
            log("unsupported vhost-user request \(request)")
            try acknowledge(message, success: false)
        }
    }

    /// The requests whose descriptors `handle` passes on (they close them on failure).
    static func takesDescriptors(_ request: VhostUserRequest) -> Bool {
        [.setMemTable, .setVringKick, .setVringCall, .setVringErr].contains(request)
    }

    private func ringIndex(_ value: UInt32?) -> Int? {
        guard let value, Int(value) < rings.count else { return nil }
        return Int(value)
    }

    private func reply(_ message: VhostUserMessage, u64 value: UInt64) throws(ConnectionError) {
        var payload: [UInt8] = []
        payload.appendLE(value)
        try reply(message, payload: payload)
    }

    private func reply(_ message: VhostUserMessage, payload: [UInt8]) throws(ConnectionError) {
        try connection.reply(to: message.request, payload: payload)
    }

    /// REPLY_ACK: answer 0 (success) or 1 only when the frontend asked for it.
    private func acknowledge(_ message: VhostUserMessage, success: Bool) throws(ConnectionError) {
        guard message.needsReply, protocolFeatures & ProtocolFeature.replyAck.mask != 0 else { return }
        try reply(message, u64: success ? 0 : 1)
    }

    private func setMemTable(_ message: VhostUserMessage) throws(ConnectionError) {
        let running = rings.indices.filter { rings[$0].worker != nil }
        // Rings pause while the table changes (QEMU may re-send it while running).
        var bases: [Int: UInt16] = [:]
        for index in running { bases[index] = stopRing(index, closeFiles: false) }
        do {
            memory = try MappedGuestMemory(payload: message.payload, fds: message.fds)
        } catch {
            log("rejected SET_MEM_TABLE: \(error)")
            return try acknowledge(message, success: false)
        }
        for index in running {
            rings[index].base = bases[index] ?? rings[index].base
            startRingIfReady(index)
        }
        try acknowledge(message, success: true)
    }

    private func setVringFile(_ request: VhostUserRequest, _ message: VhostUserMessage) throws(ConnectionError) {
        guard let value = message.u64(at: 0), value & ~UInt64(0x1ff) == 0, let index = ringIndex(UInt32(value & 0xff))
        else {
            message.fds.forEach { close($0) }
            return try acknowledge(message, success: false)
        }
        let noFD = value & 0x100 != 0
        // Kick and call must be eventfds (the error fd is only stored and closed).
        guard
            noFD
                ? message.fds.isEmpty
                : message.fds.count == 1 && (request == .setVringErr || vu_adopt_notifier(message.fds[0]) == 0)
        else {
            message.fds.forEach { close($0) }
            return try acknowledge(message, success: false)
        }
        let fd = noFD ? nil : message.fds[0]
        switch request {
        case .setVringKick:
            stopRing(index, closeFiles: false)
            if let old = rings[index].kick { close(old) }
            rings[index].kick = fd
            startRingIfReady(index)
        case .setVringCall:
            let wasRunning = rings[index].worker != nil
            if wasRunning { rings[index].base = stopRing(index, closeFiles: false) }
            if let old = rings[index].call { close(old) }
            rings[index].call = fd
            if wasRunning { startRingIfReady(index) }
        default:
            if let old = rings[index].error { close(old) }
            rings[index].error = fd
        }
        try acknowledge(message, success: true)
    }

    /// Starts a ring once it has a size, addresses, a kick fd and guest memory. QEMU's
    /// cryptodev never sends SET_VRING_ENABLE, so a started ring counts as enabled.
    private func startRingIfReady(_ index: Int) {
        guard rings[index].worker == nil, let memory, let kick = rings[index].kick,
            let addresses = rings[index].addresses,
            rings[index].size > 0,
            let descriptors = memory.guestAddress(ofUserAddress: addresses.descriptors),
            let used = memory.guestAddress(ofUserAddress: addresses.used),
            let avail = memory.guestAddress(ofUserAddress: addresses.avail)
        else { return }
        let layout = QueueLayout(
            size: rings[index].size, descriptorTable: descriptors, availRing: avail, usedRing: used)
        let eventIndex = acknowledged & Self.eventIndex != 0
        guard
            let queue = try? SplitQueue(
                memory: memory, layout: layout, eventIndex: eventIndex, startIndex: rings[index].base)
        else {
            log("ring \(index): rings outside guest memory")
            return
        }
        // The guest's EVENT_IDX is hidden from us behind QEMU: always keep avail_event current.
        queue.alwaysPublishAvailEvent = true
        let handler: (DescriptorChain) -> UInt32
        if index == dataQueues {
            let device = self.device
            handler = { device.handleControl($0) }
        } else {
            let worker = device.makeDataWorker()
            handler = { worker.handle($0) }
        }
        let worker = QueueWorker(
            queue: queue, kick: kick, call: rings[index].call, name: "vq\(index)",
            pollMicroseconds: pollMicroseconds, handle: handler)
        rings[index].worker = worker
        servedLock.lock()
        liveWorkers[index] = worker
        servedLock.unlock()
        log("ring \(index) started: size \(layout.size), base \(rings[index].base)")
    }

    /// Stops a ring's worker; returns the next avail index to serve.
    @discardableResult
    private func stopRing(_ index: Int, closeFiles: Bool) -> UInt16 {
        if let worker = rings[index].worker {
            worker.stop()
            servedLock.lock()
            servedByRing[index, default: 0] += worker.served
            liveWorkers[index] = nil
            servedLock.unlock()
            rings[index].base = worker.queue.lastAvailIndex
            rings[index].worker = nil
        }
        if closeFiles {
            for fd in [rings[index].kick, rings[index].call, rings[index].error].compactMap({ $0 }) { close(fd) }
            rings[index].kick = nil
            rings[index].call = nil
            rings[index].error = nil
        }
        return rings[index].base
    }

    private func getConfig(_ message: VhostUserMessage) throws(ConnectionError) {
        guard let offset = message.u32(at: 0), let size = message.u32(at: 4), message.payload.count >= 12 + Int(size)
        else {
            return try reply(message, payload: [UInt8](repeating: 0, count: 12))
        }
        let config = device.config.encoded()
        var payload = Array(message.payload.prefix(12))
        var region = [UInt8](repeating: 0, count: Int(size))
        if Int(offset) < config.count {
            let available = config[Int(offset)..<min(config.count, Int(offset) + Int(size))]
            region.replaceSubrange(0..<available.count, with: available)
        }
        payload += region
        try reply(message, payload: payload)
    }
}
