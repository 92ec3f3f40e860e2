import Testing
import VirtQueue
import VirtioCryptoDevice
import VirtioCryptoDriver
import VirtioCryptoWire

/// A device with one control queue and one data queue on driver rings in memory: the
/// mock driver of the device tests.
final class Harness {
    let device: VirtioCryptoDevice
    let controlRing = DriverRing(size: 64, memorySize: 4 << 20)
    let dataRing = DriverRing(size: 64, memorySize: 8 << 20)
    let controlQueue: SplitQueue
    let dataQueue: SplitQueue
    let worker: DataWorker
    let chain = DescriptorChain()

    convenience init(
        limits: DeviceLimits = DeviceLimits(), features: CryptoFeatures = [],
        revision: SpecRevision = .newest
    ) throws {
        try self.init(
            device: VirtioCryptoDevice(offer: DeviceOffer(limits: limits, revision: revision)), features: features)
    }

    init(device: VirtioCryptoDevice, features: CryptoFeatures) throws {
        self.device = device
        precondition(device.negotiate(features))
        controlQueue = try SplitQueue(memory: controlRing.memory, layout: controlRing.layout, eventIndex: false)
        dataQueue = try SplitQueue(memory: dataRing.memory, layout: dataRing.layout, eventIndex: false)
        worker = device.makeDataWorker()
    }

    /// Another set of rings on the same device (a second thread's control path).
    static func controlOnly(_ device: VirtioCryptoDevice) throws -> Harness {
        try Harness(device: device, features: device.features)
    }

    /// Runs one control request; returns what the device wrote.
    func control(_ readable: [[UInt8]], writable: Int) throws -> [UInt8] {
        controlRing.resetData()
        let submission = controlRing.submit(readable: readable, writable: [writable])
        let head = try controlQueue.nextAvailable()!
        try controlQueue.walk(head: head, into: chain)
        let written = device.handleControl(chain)
        controlQueue.publishUsed(head: head, written: written)
        return controlRing.written(submission)
    }

    /// Creates a session; returns (status, session id).
    func createSession(_ head: [UInt8], keys: [[UInt8]] = []) throws -> (Status, UInt64) {
        let out = try control([head] + keys.filter { !$0.isEmpty }, writable: CreateSessionInput.size)
        let input = try CreateSessionInput.decode(out)
        return (input.status, input.sessionId)
    }

    func cipherSession(_ algorithm: CipherAlgorithm, key: [UInt8], op: Op, layout: RequestLayout = .legacy) throws
        -> UInt64
    {
        let (status, id) = try createSession(
            RequestBuilder.control(
                opcode: .cipherCreateSession,
                flf: RequestBuilder.cipherSession(algorithm, keyLength: key.count, op: op), layout: layout),
            keys: [key])
        precondition(status == .ok, "session creation failed: \(status)")
        return id
    }

    /// Runs one data request given as readable parts and writable sizes; returns the
    /// written bytes (the status is the last one).
    func data(_ readable: [[UInt8]], writable: [Int], indirect: Bool = false) throws -> [UInt8] {
        dataRing.resetData()
        let submission = dataRing.submit(readable: readable, writable: writable, indirect: indirect)
        let head = try dataQueue.nextAvailable()!
        try dataQueue.walk(head: head, into: chain)
        let written = worker.handle(chain)
        dataQueue.publishUsed(head: head, written: written)
        return dataRing.written(submission)
    }

    /// AES-CBC style request: returns (status, output).
    func cipher(
        session: UInt64, opcode: Opcode = .cipherEncrypt, iv: [UInt8], input: [UInt8], layout: RequestLayout = .legacy,
        flag: RequestFlag = [], destinationLength: Int? = nil
    ) throws -> (Status, [UInt8]) {
        let head = RequestBuilder.data(
            opcode: opcode, sessionID: session, flag: flag,
            flf: RequestBuilder.cipherData(
                ivLength: iv.count, sourceLength: input.count,
                destinationLength: destinationLength), layout: layout)
        let out = try data([head, iv, input], writable: [destinationLength ?? input.count, 1])
        return (Status(rawValue: UInt32(out.last!)), Array(out.dropLast()))
    }
}

extension Harness {
    /// Runs `send`, which submits one request that breaks `rule`, and asserts that it got
    /// `status` (the rule's on-violation status in the YAML) and that the device counted
    /// exactly one violation, of `rule`. RULES.md lists the tests that call this as the
    /// evidence that a rule is enforced (Spec/generated via the generator's scanner).
    func expectViolation(
        _ rule: RuleID, status: Status, sourceLocation: SourceLocation = #_sourceLocation,
        _ send: () throws -> Status
    ) throws {
        let (answered, fired) = try device.statistics.violationsCounted(during: send)
        #expect(answered == status, "status of \(rule.rawValue)", sourceLocation: sourceLocation)
        #expect(
            RuleTable.info(rule)?.onViolation == status, "on-violation of \(rule.rawValue)",
            sourceLocation: sourceLocation)
        #expect(fired == [rule: 1], "exactly \(rule.rawValue) fired", sourceLocation: sourceLocation)
    }

    /// A control request's status from its create-session outcome.
    func createStatus(_ readable: [[UInt8]]) throws -> Status {
        try CreateSessionInput.decode(control(readable, writable: CreateSessionInput.size)).status
    }

    /// A control request's status from its 1-byte destroy outcome.
    func destroyStatus(_ readable: [[UInt8]]) throws -> Status {
        Status(rawValue: UInt32(try control(readable, writable: Inhdr.size)[0]))
    }

    /// A data request's status (its last written byte).
    func dataStatus(_ readable: [[UInt8]], writable: [Int]) throws -> Status {
        Status(rawValue: UInt32(try data(readable, writable: writable).last ?? 0xff))
    }
}
