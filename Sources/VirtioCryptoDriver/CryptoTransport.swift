import VirtioCryptoWire

/// A transport failed (socket, ring, timeout); nothing about the request is known.
public struct TransportError: Error, Equatable, Sendable, CustomStringConvertible {
    public var reason: String

    public init(_ reason: String) { self.reason = reason }

    public var description: String { reason }
}

/// What `CryptoDriver` needs from a virtio transport (PCI, MMIO, vhost-user, a test
/// harness). Virtqueue indices follow the seed: data queues 0..<N, the control queue at
/// N = `max_dataqueues`. The driver calls these in the order of virtio device
/// initialization: `reset`, `deviceFeatures`, `acceptFeatures`, `readConfig`,
/// `configureQueues`; then submissions.
public protocol CryptoTransport: AnyObject {
    /// Resets the device: every queue stops and is forgotten, the features are cleared.
    func reset() throws(TransportError)

    /// The crypto feature bits the device offers (transport bits are the transport's).
    func deviceFeatures() throws(TransportError) -> CryptoFeatures

    /// Writes the driver's features; false when the device does not accept them (no
    /// FEATURES_OK).
    func acceptFeatures(_ features: CryptoFeatures) throws(TransportError) -> Bool

    /// Reads `struct virtio_crypto_config` from the device configuration space.
    func readConfig() throws(TransportError) -> Config

    /// Sets up and enables data queues 0..<`dataQueues` and the control queue at
    /// virtqueue index `controlQueue`.
    func configureQueues(dataQueues: Int, controlQueue: Int) throws(TransportError)

    /// Posts one chain on the control queue and waits for it.
    func submitControl(readable: [[UInt8]], writable: [Int]) throws(TransportError) -> Completion

    /// Posts one chain on data queue `queue` and waits for it.
    func submitData(queue: Int, readable: [[UInt8]], writable: [Int]) throws(TransportError) -> Completion
}

/// One chain the device completed: the bytes of its device-writable buffers, concatenated, and
/// the length the device put in the used entry (what a driver reads as "written").
public struct Completion: Equatable, Sendable {
    public var bytes: [UInt8]
    public var usedLength: Int

    public init(bytes: [UInt8], usedLength: Int) {
        self.bytes = bytes
        self.usedLength = usedLength
    }

    /// The bytes the device says it wrote.
    public var written: [UInt8] { Array(bytes.prefix(usedLength)) }
}
