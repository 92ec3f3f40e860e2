import VirtioCryptoWire

/// `CryptoTransport` over our vhost-user frontend, as a generic VMM would drive a
/// vhost-user-crypto backend: features by GET/SET_FEATURES, the config space by
/// GET_CONFIG, and the control and data queues as rings in shared memory.
///
/// Reset: the backend offers no VHOST_USER_PROTOCOL_F_RESET_DEVICE, so a reset is what
/// a VMM does when it stops the device: GET_VRING_BASE on every started ring, whose
/// memory is then zeroed so `configureQueues` starts the rings afresh from index 0.
/// Sessions the backend holds survive (the driver forgets them after a reset).
public final class VhostUserTransport: CryptoTransport {
    public let frontend: VhostUserFrontend
    public let ringSize: UInt16
    /// Started rings: virtqueue index → memory slice.
    private var slices: [Int: Int] = [:]
    private var controlIndex: Int?
    private var ownerSet = false
    private var memoryShared = false

    /// VHOST_USER_F_PROTOCOL_FEATURES and VIRTIO_F_VERSION_1 (transport feature bits).
    static let protocolFeaturesBit: UInt64 = 1 << 30
    static let virtioVersion1: UInt64 = 1 << 32
    /// What this transport needs of the backend: REPLY_ACK for every setup step, CONFIG
    /// for the config space, MQ for more than one data queue.
    static let protocolFeatures =
        FrontendProtocolFeature.replyAck.mask | FrontendProtocolFeature.config.mask
        | FrontendProtocolFeature.multiQueue.mask

    public init(frontend: VhostUserFrontend, ringSize: UInt16 = 256) {
        self.frontend = frontend
        self.ringSize = ringSize
    }

    private func run<T>(_ what: String, _ body: () throws -> T) throws(TransportError) -> T {
        do { return try body() } catch { throw TransportError("\(what): \(error)") }
    }

    public func reset() throws(TransportError) {
        for (index, slice) in slices.sorted(by: { $0.key < $1.key }) {
            _ = try run("GET_VRING_BASE \(index)") { try frontend.stopRing(index) }
            let start = slice * frontend.sliceSize
            UnsafeMutableRawBufferPointer(rebasing: frontend.memory[start..<start + frontend.sliceSize])
                .initializeMemory(as: UInt8.self, repeating: 0)
        }
        slices.removeAll()
        controlIndex = nil
    }

    public func deviceFeatures() throws(TransportError) -> CryptoFeatures {
        try run("feature negotiation") {
            let offered = try frontend.call(.getFeatures).u64(at: 0) ?? 0
            let protocolOffered = try frontend.call(.getProtocolFeatures).u64(at: 0) ?? 0
            guard offered & Self.protocolFeaturesBit != 0,
                protocolOffered & Self.protocolFeatures == Self.protocolFeatures
            else {
                throw TransportError("the backend lacks protocol features \(Self.protocolFeatures & ~protocolOffered)")
            }
            try frontend.send(.setProtocolFeatures, payload: VhostUserFrontend.u64(Self.protocolFeatures))
            if !ownerSet {
                try frontend.send(.setOwner)
                ownerSet = true
            }
            return CryptoFeatures(rawValue: offered & CryptoFeatures.all.rawValue)
        }
    }

    public func acceptFeatures(_ features: CryptoFeatures) throws(TransportError) -> Bool {
        let bits = Self.protocolFeaturesBit | Self.virtioVersion1 | features.rawValue
        do {
            try frontend.acked(.setFeatures, payload: VhostUserFrontend.u64(bits))
        } catch VhostUserFrontend.FrontendError.backend {
            return false
        } catch {
            throw TransportError("SET_FEATURES: \(error)")
        }
        if !memoryShared {
            try run("SET_MEM_TABLE") {
                try frontend.acked(.setMemTable, payload: frontend.memoryTable(), fds: [frontend.memoryFD])
            }
            memoryShared = true
        }
        return true
    }

    public func readConfig() throws(TransportError) -> Config {
        try run("GET_CONFIG") { try frontend.config() }
    }

    /// Data queue i in slice i, the control queue in the slice after the last data queue.
    public func configureQueues(dataQueues: Int, controlQueue: Int) throws(TransportError) {
        guard dataQueues + 1 <= frontend.slices else {
            let needed = dataQueues + 1
            throw TransportError(
                "\(dataQueues) data queues and the control queue need \(needed) memory slices; "
                    + "the frontend has \(frontend.slices)")
        }
        for index in 0..<dataQueues { try start(index, slice: index) }
        try start(controlQueue, slice: dataQueues)
        controlIndex = controlQueue
    }

    private func start(_ index: Int, slice: Int) throws(TransportError) {
        _ = try run("starting ring \(index)") { try frontend.startRing(index, size: ringSize, slice: slice) }
        slices[index] = slice
    }

    public func submitControl(readable: [[UInt8]], writable: [Int]) throws(TransportError) -> Completion {
        guard let controlIndex, let ring = frontend.rings[controlIndex] else {
            throw TransportError("the control queue is not set up")
        }
        return try run("control queue") { try ring.complete(readable: readable, writable: writable) }
    }

    public func submitData(queue: Int, readable: [[UInt8]], writable: [Int]) throws(TransportError) -> Completion {
        guard slices[queue] != nil, queue != controlIndex, let ring = frontend.rings[queue] else {
            throw TransportError("data queue \(queue) is not set up")
        }
        return try run("data queue \(queue)") { try ring.complete(readable: readable, writable: writable) }
    }
}
