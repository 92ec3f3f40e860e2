import CVhostUserSupport
import Foundation
import Glibc
import Logging
import Synchronization
import VirtQueue
import WireBytes

/// Serves one vhost-user front-end for a `VhostUserDevice`: decodes each message once into a
/// typed value, keeps the memory table and the rings, and starts one worker per ring.
///
/// Never silent: a message it cannot honour gets a failure reply where the front-end asked for
/// one (REPLY_ACK), and otherwise ends the connection; a refused memory table leaves the old
/// table and every running ring as they were; a ring that breaks signals its error eventfd (or,
/// without one, ends the connection). Each refusal and fault is logged and counted.
public final class VhostUserBackend: @unchecked Sendable {
    public let device: any VhostUserDevice
    let connection: VhostUserConnection
    let logger: Logger

    /// Transport feature bits offered next to the device's.
    static let protocolFeaturesBit: UInt64 = 1 << 30
    static let virtioVersion1: UInt64 = 1 << 32
    static let indirectDescriptors: UInt64 = 1 << 28
    static let eventIndex: UInt64 = 1 << 29
    static let transportFeatures = protocolFeaturesBit | virtioVersion1 | indirectDescriptors | eventIndex
    static let ownProtocolFeatures =
        ProtocolFeature.multiQueue.mask | ProtocolFeature.replyAck.mask | ProtocolFeature.config.mask

    var offeredFeatures: UInt64 { Self.transportFeatures | device.deviceFeatures }
    var offeredProtocolFeatures: UInt64 { Self.ownProtocolFeatures | device.extensionProtocolFeatures }

    private var protocolFeatures: UInt64 = 0
    private var acknowledged: UInt64 = 0
    private var memory: MappedGuestMemory?
    private var rings: [Ring]

    struct Ring {
        var size: UInt16 = 0
        /// Front-end virtual addresses, checked against the memory table when set.
        var addresses: VringAddress?
        var base: UInt16 = 0
        var kick: Int32?
        var call: Int32?
        /// Rings start enabled: QEMU's cryptodev never sends SET_VRING_ENABLE.
        var enabled = true
        let error = ErrorNotifier()
        var worker: QueueWorker?
    }

    /// Busy-poll time after each batch (see `--poll-us`).
    public var pollMicroseconds = 0
    /// Time each request from avail to used (`RingStatistics` latency buckets): a clock read per
    /// request and one per batch, so only when someone looks (metrics).
    public var measuresLatency = false
    /// State the message thread shares with ring workers and readers of the counters, under
    /// `sharedLock` (an NSLock: a pthread mutex, which ThreadSanitizer sees; the standard
    /// library's Mutex hands over through the kernel on Linux, where it cannot).
    private let sharedLock = NSLock()
    private var sharedState = Shared()
    private func shared<T>(_ body: (inout Shared) -> T) -> T { sharedLock.withLock { body(&sharedState) } }

    struct Shared {
        /// What the workers that stopped served, by ring.
        var servedByRing: [Int: RingStatistics] = [:]
        var liveWorkers: [Int: QueueWorker] = [:]
        var faults: [String: Int] = [:]
        var refusals: [String: Int] = [:]
        /// Set when a ring broke without an error eventfd: the reason the connection ends.
        var fatal: ConnectionError?
    }

    public init(device: any VhostUserDevice, connection: VhostUserConnection, logger: Logger) {
        self.device = device
        self.connection = connection
        self.logger = logger
        rings = (0..<device.queueCount).map { _ in Ring() }
    }

    // MARK: counters (thread-safe)

    /// What each ring served so far (finished workers and running ones).
    public var ringStatistics: [Int: RingStatistics] {
        let (served, live) = shared { ($0.servedByRing, $0.liveWorkers) }
        var result = served
        for (index, worker) in live { result[index, default: RingStatistics()].add(worker.statistics) }
        return result
    }

    /// Requests served per ring so far.
    public var requestsPerRing: [Int: Int] { ringStatistics.mapValues(\.requests) }

    /// Ring faults by kind (`QueueError` case names): chains returned unused and rings broken.
    public var ringFaults: [String: Int] {
        let (faults, live) = shared { ($0.faults, $0.liveWorkers) }
        var result = faults
        for worker in live.values { for (fault, count) in worker.faults { result["\(fault)", default: 0] += count } }
        return result
    }

    /// Messages refused, by `MessageRefusal.kind`.
    public var refusedMessages: [String: Int] { shared { $0.refusals } }

    // MARK: serving

    /// Serves messages until the front-end disconnects or misbehaves; then stops every worker,
    /// closes every fd and resets the device (nothing outlives the front-end).
    public func serve() -> ConnectionError? {
        defer { shutdown() }
        while true {
            do {
                var message = try connection.receive()
                // Device messages may carry keys: wipe what was received once it is handled.
                defer { message.payload.zeroize() }
                try handle(message)
            } catch {
                if let fatal = shared({ $0.fatal }) { return fatal }
                return error == .closed ? nil : error
            }
        }
    }

    /// Ends the connection from any thread (a clean shutdown on SIGTERM): with `finishingPending`,
    /// every ring first serves the chains the driver already made available, so none that the
    /// worker took is lost and none that was posted waits forever.
    public func stop(finishingPending: Bool) {
        if finishingPending { finishOnStop.store(true, ordering: .releasing) }
        connection.shutdown()
    }

    private let finishOnStop = Atomic<Bool>(false)

    func shutdown() {
        let finishing = finishOnStop.load(ordering: .acquiring)
        for index in rings.indices { stopRing(index, closeFiles: true, finishingPending: finishing) }
        memory = nil
        device.reset()
    }

    /// What a served message answers.
    enum Response {
        /// Done: acknowledged with 0 under REPLY_ACK when the front-end asked.
        case done
        case reply([UInt8])
    }

    func handle(_ message: VhostUserMessage) throws(ConnectionError) {
        let decoded: DecodedMessage
        do {
            decoded = try DecodedMessage.decode(message)
        } catch {
            message.fds.forEach { close($0) }
            return try refuse(message, error)
        }
        // Descriptors go to the requests that take them (which close them on refusal); any
        // others are closed here, so a front-end cannot pile them up in the daemon.
        if decoded.descriptorCount == nil { message.fds.forEach { close($0) } }
        let response: Response
        do throws(MessageRefusal) {
            response = try serve(decoded, message)
        } catch {
            return try refuse(message, error)
        }
        switch response {
        case .done: try acknowledge(message)
        case .reply(let payload): try connection.reply(to: message.request, payload: payload)
        }
    }

    private func serve(_ decoded: DecodedMessage, _ message: VhostUserMessage) throws(MessageRefusal) -> Response {
        switch decoded {
        case .getFeatures:
            return .reply(u64(offeredFeatures))
        case .setFeatures(let features):
            let unoffered = features & ~offeredFeatures
            guard unoffered == 0 else { throw .features(unoffered) }
            guard device.acknowledge(features: features & device.deviceFeatures) else { throw .features(features) }
            acknowledged = features
            return .done
        case .getProtocolFeatures:
            return .reply(u64(offeredProtocolFeatures))
        case .setProtocolFeatures(let features):
            let unoffered = features & ~offeredProtocolFeatures
            guard unoffered == 0 else { throw .protocolFeatures(unoffered) }
            protocolFeatures = features
            return .done
        case .setOwner:
            return .done
        case .resetOwner:
            for index in rings.indices { stopRing(index, closeFiles: true) }
            rings = (0..<device.queueCount).map { _ in Ring() }
            memory = nil
            acknowledged = 0
            device.reset()
            return .done
        case .getQueueNum:
            return .reply(u64(UInt64(rings.count)))
        case .setMemTable(let table):
            try setMemTable(table, fds: message.fds)
            return .done
        case .setVringNum(let state):
            let index = try ringIndex(state.index)
            let size = Int(state.number)
            guard size > 0, size <= QueueLayout.maxSize, size & (size - 1) == 0 else { throw .ringSize(state.number) }
            try reconfigure(index) { ring throws(MessageRefusal) in
                if let addresses = ring.addresses, let memory { try Self.check(addresses, size: size, in: memory) }
                ring.size = UInt16(size)
            }
            return .done
        case .setVringBase(let state):
            let index = try ringIndex(state.index)
            try reconfigure(index) { $0.base = UInt16(truncatingIfNeeded: state.number) }
            return .done
        case .setVringAddr(let addresses):
            let index = try ringIndex(addresses.index)
            guard addresses.flags & VringAddress.logFlag == 0 else { throw .ringAddress(.logging) }
            guard let memory else { throw .ringAddress(.noMemoryTable) }
            try reconfigure(index) { ring throws(MessageRefusal) in
                try Self.check(addresses, size: Int(ring.size), in: memory)
                ring.addresses = addresses
            }
            return .done
        case .getVringBase(let state):
            let index = try ringIndex(state.index)
            let last = stopRing(index, closeFiles: false)
            // A ring stopped here starts again only on the kick fd of the next SET_VRING_KICK (as the
            // vhost-user spec says): without this, the NUM/BASE/ADDR that precede it restarted the
            // old ring on the driver's fresh one (found by the DPDK guest test). Call goes too.
            for fd in [rings[index].kick, rings[index].call].compactMap({ $0 }) { close(fd) }
            rings[index].kick = nil
            rings[index].call = nil
            var writer = WireWriter(capacity: VringState.size)
            VringState(index: state.index, number: UInt32(last)).encode(into: &writer)
            return .reply(writer.bytes)
        case .setVringKick(let file), .setVringCall(let file), .setVringErr(let file):
            try setVringFile(decoded, file, fds: message.fds)
            return .done
        case .setVringEnable(let state):
            let index = try ringIndex(state.index)
            guard acknowledged & Self.protocolFeaturesBit != 0 else { throw .notNegotiated }
            guard state.number <= 1 else { throw .enableValue(state.number) }
            try reconfigure(index) { $0.enabled = state.number == 1 }
            return .done
        case .getConfig(let range):
            guard protocolFeatures & ProtocolFeature.config.mask != 0 else { throw .notNegotiated }
            let config = device.configSpace()
            guard UInt64(range.offset) + UInt64(range.size) <= UInt64(config.count) else {
                throw .configRange(offset: range.offset, size: range.size)
            }
            var writer = WireWriter(capacity: ConfigRange.headerSize + Int(range.size))
            range.encode(into: &writer)
            writer.append(bytes: Array(config[Int(range.offset)..<Int(range.offset + range.size)]))
            return .reply(writer.bytes)
        case .other(let request):
            guard let outcome = device.handleExtension(request, payload: message.payload) else {
                throw .unsupportedRequest
            }
            switch outcome {
            case .reply(let payload): return .reply(payload)
            case .acknowledged(let refusal?): throw .device(refusal)
            case .acknowledged(nil): return .done
            }
        }
    }

    // MARK: refusals

    /// Requests whose reply is their answer: a refusal of one cannot be an acknowledgement.
    private static func hasOwnReply(_ request: UInt32) -> Bool {
        switch VhostUserRequest(rawValue: request) {
        case .getFeatures?, .getProtocolFeatures?, .getQueueNum?, .getVringBase?, .getConfig?,
            .createCryptoSession?:
            return true
        default:
            return false
        }
    }

    private func refuse(_ message: VhostUserMessage, _ refusal: MessageRefusal) throws(ConnectionError) {
        shared { $0.refusals[refusal.kind, default: 0] += 1 }
        let name = VhostUserRequest(rawValue: message.request).map { "\($0)" } ?? "request \(message.request)"
        let replyAck = protocolFeatures & ProtocolFeature.replyAck.mask != 0
        if !Self.hasOwnReply(message.request), message.needsReply, replyAck {
            logger.warning("refused \(name) (\(message.payload.count) bytes): \(refusal)")
            try connection.reply(to: message.request, payload: u64(1))
            return
        }
        if message.request == VhostUserRequest.getConfig.rawValue {
            // GET_CONFIG's failure reply: the header alone, which no front-end takes for a config.
            logger.warning("refused \(name): \(refusal); replied with no config")
            try connection.reply(to: message.request, payload: [])
            return
        }
        logger.warning(
            "refused \(name) (\(message.payload.count) bytes): \(refusal); no failure reply is possible, closing")
        throw .refused(request: message.request, refusal)
    }

    /// REPLY_ACK: 0 (success) when the front-end asked for it.
    private func acknowledge(_ message: VhostUserMessage) throws(ConnectionError) {
        guard message.needsReply, protocolFeatures & ProtocolFeature.replyAck.mask != 0 else { return }
        try connection.reply(to: message.request, payload: u64(0))
    }

    private func u64(_ value: UInt64) -> [UInt8] {
        var writer = WireWriter(capacity: 8)
        writer.le64(value)
        return writer.bytes
    }

    private func ringIndex(_ value: UInt32) throws(MessageRefusal) -> Int {
        guard Int(value) < rings.count else { throw .ringIndex(value) }
        return Int(value)
    }

    // MARK: memory and rings

    /// Maps the new table first: if it is refused, or a running ring would not be in it, the
    /// old table and the running rings stay as they were.
    private func setMemTable(_ table: MemoryTable, fds: [Int32]) throws(MessageRefusal) {
        let new: MappedGuestMemory
        do { new = try MappedGuestMemory(table: table, fds: fds) } catch { throw .memoryTable(error) }
        let running = rings.indices.filter { rings[$0].worker != nil }
        for index in running {
            guard let addresses = rings[index].addresses,
                (try? Self.check(addresses, size: Int(rings[index].size), in: new)) != nil
            else { throw .memoryTable(.ringOutside(index)) }
        }
        // Rings pause while the table changes (QEMU may re-send it while running).
        for index in running { stopRing(index, closeFiles: false) }
        memory = new
        for index in running { try startRingIfReady(index) }
    }

    /// Every part of the ring in one region of `memory`, aligned as virtio requires; the whole
    /// extent when the size is known (it is checked again when either changes).
    static func check(_ addresses: VringAddress, size: Int, in memory: MappedGuestMemory) throws(MessageRefusal) {
        let parts: [(RingPart, UInt64)] = [
            (.descriptorTable, addresses.descriptors), (.availRing, addresses.avail), (.usedRing, addresses.used),
        ]
        for (part, address) in parts {
            guard address % part.alignment == 0 else { throw .ringAddress(.misaligned(part: part)) }
            guard memory.guestAddress(ofUserAddress: address, count: max(1, part.length(size: size))) != nil else {
                throw .ringAddress(.outside(part: part))
            }
        }
    }

    /// Applies a change to a ring's set-up, pausing it while it runs; starts it when ready.
    private func reconfigure(_ index: Int, _ change: (inout Ring) throws(MessageRefusal) -> Void)
        throws(MessageRefusal)
    {
        let wasRunning = rings[index].worker != nil
        if wasRunning { stopRing(index, closeFiles: false) }
        var ring = rings[index]
        do {
            try change(&ring)
        } catch {
            if wasRunning { try startRingIfReady(index) }
            throw error
        }
        rings[index] = ring
        try startRingIfReady(index)
    }

    private func setVringFile(_ decoded: DecodedMessage, _ file: VringFile, fds: [Int32]) throws(MessageRefusal) {
        let index: Int
        do { index = try ringIndex(file.index) } catch {
            fds.forEach { close($0) }
            throw error
        }
        let fd = fds.first
        // A kick without an fd asks the back-end to poll the ring, which it does not do.
        if case .setVringKick = decoded, fd == nil { throw .pollingNotSupported }
        // Kick, call and error fds must be eventfds, made non-blocking: a pipe or a file would raise
        // SIGPIPE, block a worker that signals it, or never wake one (found by FuzzVhostUser).
        if let fd, vu_adopt_notifier(fd) != 0 {
            close(fd)
            throw .notAnEventFD
        }
        switch decoded {
        case .setVringKick:
            try reconfigure(index) { ring in
                if let old = ring.kick { close(old) }
                ring.kick = fd
            }
        case .setVringCall:
            try reconfigure(index) { ring in
                if let old = ring.call { close(old) }
                ring.call = fd
            }
        default:
            rings[index].error.replace(with: fd)
        }
    }

    /// Starts a ring once it has a size, addresses, a kick fd, guest memory and is enabled.
    private func startRingIfReady(_ index: Int) throws(MessageRefusal) {
        let ring = rings[index]
        guard ring.worker == nil, ring.enabled, let memory, let kick = ring.kick, let addresses = ring.addresses,
            ring.size > 0
        else { return }
        let size = Int(ring.size)
        guard let descriptors = memory.guestAddress(ofUserAddress: addresses.descriptors, count: 16 * size),
            let used = memory.guestAddress(ofUserAddress: addresses.used, count: RingPart.usedRing.length(size: size)),
            let avail = memory.guestAddress(
                ofUserAddress: addresses.avail, count: RingPart.availRing.length(size: size))
        else { throw .ringLayout(index) }
        let layout = QueueLayout(size: ring.size, descriptorTable: descriptors, availRing: avail, usedRing: used)
        let queue: SplitQueue
        do {
            queue = try SplitQueue(
                memory: memory, layout: layout, eventIndex: acknowledged & Self.eventIndex != 0, startIndex: ring.base)
        } catch { throw .ringLayout(index) }
        // The guest's EVENT_IDX is hidden from us behind QEMU: always keep avail_event current.
        queue.alwaysPublishAvailEvent = true
        let worker = QueueWorker(
            queue: queue, kick: kick, call: ring.call, name: "vq\(index)", pollMicroseconds: pollMicroseconds,
            measuresLatency: measuresLatency,
            service: device.makeRingService(index)
        ) { [weak self, notifier = ring.error] fault in self?.ringBroke(index, fault, notifier: notifier) }
        rings[index].worker = worker
        shared { $0.liveWorkers[index] = worker }
        logger.debug("ring \(index) started: size \(layout.size), base \(ring.base)")
    }

    /// On the ring's worker thread: the front-end must learn that the ring stopped.
    private func ringBroke(_ index: Int, _ fault: QueueError, notifier: ErrorNotifier) {
        let signalled = notifier.signal()
        if signalled {
            logger.warning("ring \(index) broken (\(fault)): stopped; error eventfd signalled")
        } else {
            logger.warning("ring \(index) broken (\(fault)): stopped; no error eventfd, closing the connection")
            shared { $0.fatal = .ringBroken(ring: index, fault) }
            connection.shutdown()
        }
    }

    /// Stops a ring's worker; returns the next avail index to serve.
    @discardableResult
    private func stopRing(_ index: Int, closeFiles: Bool, finishingPending: Bool = false) -> UInt16 {
        if let worker = rings[index].worker {
            worker.stop(finishingPending: finishingPending)
            let faults = worker.faults
            shared {
                $0.servedByRing[index, default: RingStatistics()].add(worker.statistics)
                for (fault, count) in faults { $0.faults["\(fault)", default: 0] += count }
                $0.liveWorkers[index] = nil
            }
            rings[index].base = worker.queue.lastAvailIndex
            rings[index].worker = nil
        }
        if closeFiles {
            for fd in [rings[index].kick, rings[index].call].compactMap({ $0 }) { close(fd) }
            rings[index].kick = nil
            rings[index].call = nil
            rings[index].error.replace(with: nil)
        }
        return rings[index].base
    }
}

/// A ring's error eventfd, shared with its worker, which signals it when the ring breaks.
final class ErrorNotifier: @unchecked Sendable {
    private let lock = NSLock()
    private var fd: Int32?

    /// Takes `new` (nil: none) and closes the one it replaces.
    func replace(with new: Int32?) {
        lock.withLock {
            if let old = fd { close(old) }
            fd = new
        }
    }

    /// True when there is an error eventfd and it was signalled.
    func signal() -> Bool {
        lock.withLock { fd.map { vu_eventfd_signal($0) == 0 } ?? false }
    }
}
