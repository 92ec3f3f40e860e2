import VirtQueue
import VirtioCryptoDevice
import VirtioCryptoDriver
import VirtioCryptoWire

/// `CryptoTransport` over an in-process device on driver rings in memory (as the device
/// tests' Harness drives it), recording every call so a test can prove what reached the
/// device and in which order. `alterConfig` lets a test make the config space say
/// something other than the device's offer.
final class InProcessTransport: CryptoTransport, DeviceTraffic {
    enum Event: Equatable {
        case reset, deviceFeatures
        case acceptFeatures(CryptoFeatures)
        case readConfig
        case configureQueues(dataQueues: Int, controlQueue: Int)
        case control
        case data(queue: Int)
    }

    let device: VirtioCryptoDevice
    var alterConfig: (inout Config) -> Void = { _ in }
    private(set) var events: [Event] = []
    /// The device-readable buffers of every chain posted, in order.
    private(set) var controlChains: [[[UInt8]]] = []
    private(set) var dataChains: [(queue: Int, readable: [[UInt8]])] = []

    private final class Queue {
        let ring: DriverRing
        let queue: SplitQueue
        let handle: (DescriptorChain) -> UInt32
        let chain = DescriptorChain()

        init(device: VirtioCryptoDevice, control: Bool) throws(QueueError) {
            ring = DriverRing(size: 64, memorySize: 4 << 20)
            queue = try SplitQueue(memory: ring.memory, layout: ring.layout, eventIndex: false)
            if control {
                handle = { device.handleControl($0) }
            } else {
                let worker = device.makeDataWorker()
                handle = { worker.handle($0) }
            }
        }

        func run(readable: [[UInt8]], writable: [Int]) throws(TransportError) -> Completion {
            ring.resetData()
            let submission = ring.submit(readable: readable, writable: writable)
            do {
                guard let head = try queue.nextAvailable() else { throw TransportError("nothing available") }
                try queue.walk(head: head, into: chain)
                queue.publishUsed(head: head, written: handle(chain))
            } catch let error as TransportError {
                throw error
            } catch {
                throw TransportError("ring: \(error)")
            }
            return Completion(bytes: ring.written(submission), usedLength: ring.lastUsedLength)
        }
    }

    private var dataQueues: [Queue] = []
    private var controlQueue: Queue?
    private var controlIndex: Int?

    init(device: VirtioCryptoDevice = VirtioCryptoDevice()) { self.device = device }

    convenience init(limits: DeviceLimits) { self.init(device: VirtioCryptoDevice(offer: DeviceOffer(limits: limits))) }

    var configReads: Int { events.filter { $0 == .readConfig }.count }
    var resets: Int { events.filter { $0 == .reset }.count }
    /// Chains posted on any queue.
    var submissions: Int { controlChains.count + dataChains.count }
    var traffic: Int { submissions + device.answered }

    func reset() throws(TransportError) {
        events.append(.reset)
        dataQueues = []
        controlQueue = nil
        controlIndex = nil
        device.sessions.removeAll()
        device.negotiate([])
    }

    func deviceFeatures() throws(TransportError) -> CryptoFeatures {
        events.append(.deviceFeatures)
        return device.offer.features
    }

    func acceptFeatures(_ features: CryptoFeatures) throws(TransportError) -> Bool {
        events.append(.acceptFeatures(features))
        return device.negotiate(features)
    }

    func readConfig() throws(TransportError) -> Config {
        events.append(.readConfig)
        var config = device.config
        alterConfig(&config)
        return config
    }

    func configureQueues(dataQueues count: Int, controlQueue index: Int) throws(TransportError) {
        events.append(.configureQueues(dataQueues: count, controlQueue: index))
        do {
            dataQueues = try (0..<count).map { _ throws(QueueError) in try Queue(device: device, control: false) }
            controlQueue = try Queue(device: device, control: true)
        } catch {
            throw TransportError("queue setup: \(error)")
        }
        controlIndex = index
    }

    func submitControl(readable: [[UInt8]], writable: [Int]) throws(TransportError) -> Completion {
        guard let controlQueue else { throw TransportError("the control queue is not set up") }
        events.append(.control)
        controlChains.append(readable)
        return try controlQueue.run(readable: readable, writable: writable)
    }

    func submitData(queue: Int, readable: [[UInt8]], writable: [Int]) throws(TransportError) -> Completion {
        guard dataQueues.indices.contains(queue) else { throw TransportError("data queue \(queue) is not set up") }
        events.append(.data(queue: queue))
        dataChains.append((queue, readable))
        return try dataQueues[queue].run(readable: readable, writable: writable)
    }
}

extension VirtioCryptoDevice {
    /// Requests the device answered, whatever the status (its own counters).
    var answered: Int { Status.known.reduce(0) { $0 + statistics.count($1) } }
}
