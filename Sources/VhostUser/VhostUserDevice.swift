import VirtQueue

/// What the vhost-user back-end drives: a virtio device seen through its queues, features and
/// config space. The back-end owns the protocol (messages, memory, rings, notifications) and
/// knows nothing of what the device does with a chain.
public protocol VhostUserDevice: AnyObject, Sendable {
    /// Queues the device has; ring indexes run 0..<queueCount.
    var queueCount: Int { get }
    /// The device's virtio feature bits (the back-end adds the transport's).
    var deviceFeatures: UInt64 { get }
    /// SET_FEATURES: the device bits the front-end acknowledged. False refuses them.
    func acknowledge(features: UInt64) -> Bool
    /// The config space, read by GET_CONFIG.
    func configSpace() -> [UInt8]
    /// The handler of ring `index`, called once each time the ring starts; it runs on that
    /// ring's own worker thread.
    func makeQueueHandler(_ index: Int) -> QueueHandler
    /// How ring `index` is served; by default with `makeQueueHandler`, each chain answered at once.
    func makeRingService(_ index: Int) -> RingService
    /// Protocol features of the device's own messages (e.g. CRYPTO_SESSION).
    var extensionProtocolFeatures: UInt64 { get }
    /// Serves a request the protocol layer does not (`extensionRequests`), or nil when the device
    /// has no such request. The payload is wiped by the back-end once the reply is sent.
    func handleExtension(_ request: UInt32, payload: [UInt8]) -> ExtensionOutcome?
    /// The front-end went away or reset the device: forget everything it set up (sessions).
    func reset()
}

/// How the device answers one of its own requests.
public enum ExtensionOutcome: Sendable {
    /// A reply payload, always sent (the request's own reply).
    case reply([UInt8])
    /// Done (or refused with the reason): acknowledged under REPLY_ACK when the front-end asks.
    case acknowledged(refusal: String?)
}

extension VhostUserDevice {
    public func makeRingService(_ index: Int) -> RingService { .immediate(makeQueueHandler(index)) }
}

/// How a ring worker hands chains to the device.
public enum RingService {
    /// Each chain answered when the handler returns.
    case immediate(QueueHandler)
    /// Some chains answered later in the same batch (a device that runs them together).
    case batching(any BatchingQueueHandler)
}

/// A handler that may answer a chain after it returns, before the batch ends: it reports those
/// through the `UsedRingCompletion` it is given, and `finishBatch` answers every one still
/// pending (the worker calls it before it publishes the batch, so none outlives it, nor the
/// guest memory and the chain it was taken from).
public protocol BatchingQueueHandler: AnyObject {
    /// The bytes written when `chain` is answered now; nil when its answer comes through `completion`.
    /// `othersWaiting`: chains known to be available after this one (0: it may be alone).
    func serve(_ chain: DescriptorChain, head: UInt16, othersWaiting: Int, completion: any UsedRingCompletion)
        -> UInt32?
    func finishBatch(completion: any UsedRingCompletion)
}
