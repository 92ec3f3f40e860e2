import VirtQueue
import VirtioCryptoEngines
import VirtioCryptoWire
import WireBytes

/// One control queue request: create or destroy a session. The generated
/// `ControlQueue.dispatch` parses and checks it and calls one method below; the outcome
/// goes in the layout the driver's writable area has room for (`ControlQueue.outcome`).
final class ControlHandler {
    let device: VirtioCryptoDevice
    let chain: DescriptorChain
    /// The request's opcode once its header is read (it decides the outcome layout).
    private var opcode: Opcode?
    /// The algorithm of the session it created.
    private var algorithm: RequestAlgorithm?

    init(device: VirtioCryptoDevice, chain: DescriptorChain) {
        self.device = device
        self.chain = chain
    }

    struct Failure: Error {
        var status: Status
        var rule: RuleID?
    }

    func handle() -> UInt32 {
        let status: Status
        var sessionID: UInt64 = 0
        var rule: RuleID?
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: ControlQueue.prefixCapacity, alignment: 8)
        defer { scratch.deallocate() }
        do throws(Failure) {
            sessionID = try ControlQueue.dispatch(
                chain, features: device.features, revision: device.offer.revision, scratch: scratch, to: self)
            status = .ok
        } catch {
            status = error.status
            rule = error.rule
        }
        count(status, rule: rule)
        return writeOutcome(status: status, sessionID: sessionID)
    }

    /// The destroy opcodes: every other control request asks for a session.
    static let destroyOpcodes: Set<Opcode> = [
        .cipherDestroySession, .hashDestroySession, .macDestroySession, .aeadDestroySession, .akcipherDestroySession,
    ]

    private func count(_ status: Status, rule: RuleID?) {
        let statistics = device.statistics
        let service = opcode.map { Service.known.contains($0.service) ? $0.service : nil } ?? nil
        statistics.record(status, algorithm: algorithm ?? .unknown(service), rule: rule, source: .controlQueue)
        let destroys = opcode.map { Self.destroyOpcodes.contains($0) } ?? false
        switch (status, destroys) {
        case (.ok, true): if let service { statistics.sessionDestroyed(service) }
        case (.ok, false): if let service { statistics.sessionCreated(service) }
        case (_, false): statistics.sessionRefused(service)
        case (_, true): break  // a destroy that failed: counted with its status
        }
    }

    /// Writes the outcome where `ControlQueue.outcomeOffset` says, in the layout the device's revision
    /// gives the opcode (v23's 8-byte destroy outcome, or the 1-byte one of v1.2 and later).
    private func writeOutcome(status: Status, sessionID: UInt64) -> UInt32 {
        guard
            let layout = ControlQueue.outcome(
                opcode: opcode, capacity: chain.writableLength,
                revision: device.offer.revision),
            let offset = ControlQueue.outcomeOffset(layout, writableLength: chain.writableLength)
        else { return 0 }
        let bytes = layout.encoded(status: status, sessionId: status == .ok ? sessionID : 0)
        guard bytes.withUnsafeBytes({ chain.write(at: offset, from: $0) }) else { return 0 }
        return UInt32(bytes.count)
    }

    /// The keys of a create request (its vlf), copied out of the chain after a cap by the
    /// key limits (the chain alone does not bound them: descriptors may all alias one buffer).
    private func withKeys<T>(
        _ frame: ControlQueue.Frame, readable: Int, limit: Int? = nil, keyCheck: DeviceCheck? = nil,
        _ body: (UnsafeRawBufferPointer) throws(SessionError) -> T
    ) throws(Failure) -> T {
        opcode = frame.header.opcode
        let limits = device.offer.limits
        guard readable <= limit ?? limits.maxCipherKeyLength + limits.maxAuthKeyLength else {
            throw Failure(status: .err)
        }
        var keys = [UInt8](repeating: 0, count: readable)
        defer { keys.withUnsafeMutableBytes { zeroize($0) } }
        guard keys.withUnsafeMutableBytes({ chain.read(at: frame.vlfStart, into: $0) }) else {
            throw Failure(status: .err)
        }
        let result: Result<T, SessionError> = keys.withUnsafeBytes { raw in
            do throws(SessionError) { return .success(try body(raw)) } catch { return .failure(error) }
        }
        switch result {
        case .success(let value): return value
        case .failure(let error):
            // An AKCIPHER key that does not decode breaks the encoding rule of its algorithm and key type.
            if error == .invalidKey, let keyCheck { throw Failure(check: keyCheck, opcode: frame.header.opcode) }
            throw Failure(status: error.status(features: device.features))
        }
    }

    private func create(
        _ frame: ControlQueue.Frame, readable: Int, keyLimit: Int? = nil, keyCheck: DeviceCheck? = nil,
        _ make: (UnsafeRawBufferPointer) throws(SessionError) -> Session.Kind
    ) throws(Failure) -> UInt64 {
        let service = frame.header.opcode.service
        return try withKeys(frame, readable: readable, limit: keyLimit, keyCheck: keyCheck) {
            (keys) throws(SessionError) -> UInt64 in
            let session = try device.sessions.create(service: service) { () throws(SessionError) -> Session.Kind in
                try make(keys)
            }
            algorithm = session.algorithm
            return session.id
        }
    }

    private func destroy(_ frame: ControlQueue.Frame, _ flf: DestroySessionFlf) throws(Failure) -> UInt64 {
        opcode = frame.header.opcode
        do throws(SessionError) {
            try device.sessions.destroy(flf.sessionId, service: frame.header.opcode.service)
        } catch {
            throw Failure(check: .session, opcode: frame.header.opcode)
        }
        return 0
    }
}

extension ControlHandler.Failure {
    /// A failed device-core check, answered and counted as the YAML binds it.
    init(check: DeviceCheck, opcode: Opcode) {
        let violation = check.violation(opcode: opcode)
        self.init(status: violation?.status ?? .err, rule: violation?.rule)
    }
}

/// The device's side of every control request the spec defines.
extension ControlHandler: ControlQueueHandler {
    func refuse(_ violation: RuleViolation, frame: ControlQueue.Frame?) -> Failure {
        opcode = frame?.header.opcode
        return Failure(status: violation.status ?? .err, rule: violation.rule)
    }

    func cipherCreateSession(
        _ frame: ControlQueue.Frame, _ flf: SymCreateSessionFlf,
        _ vlf: SymCreateSessionVlf
    ) throws(Failure) -> UInt64 {
        let factory = device.factory
        return try create(frame, readable: vlf.readableLength) { (keys) throws(SessionError) -> Session.Kind in
            switch (flf.opFlf, vlf) {
            case (.cipher(let cipher), .cipher(let segments)):
                return .cipher(try factory.cipher(cipher.algo, key: keys.segment(segments.cipherKey), op: cipher.op))
            case (.algorithmChaining(let chain), .algorithmChaining(let segments)):
                let (algorithm, resultLength): (UInt32, UInt32)
                switch chain.algoFlf {
                case .plain(let hash): (algorithm, resultLength) = (hash.algo.rawValue, hash.hashResultLen)
                case .auth(let mac): (algorithm, resultLength) = (mac.algo.rawValue, mac.hashResultLen)
                case .unused: throw .unsupported
                }
                return .chain(
                    try factory.chain(
                        order: chain.algChainOrder, cipher: chain.cipherHdr, hashMode: chain.hashMode,
                        authAlgorithm: algorithm, resultLength: resultLength,
                        cipherKey: keys.segment(segments.cipherKey),
                        authKey: keys.segment(segments.authKey)))
            default:
                throw .unsupported
            }
        }
    }

    func hashCreateSession(_ frame: ControlQueue.Frame, _ flf: HashCreateSessionFlf) throws(Failure) -> UInt64 {
        let factory = device.factory
        return try create(frame, readable: 0) { (_) throws(SessionError) -> Session.Kind in
            .hash(try factory.hash(flf.algo, resultLength: flf.hashResultLen))
        }
    }

    func macCreateSession(
        _ frame: ControlQueue.Frame, _ flf: MacCreateSessionFlf,
        _ vlf: MacCreateSessionVlf
    ) throws(Failure) -> UInt64 {
        let factory = device.factory
        return try create(frame, readable: vlf.readableLength) { (keys) throws(SessionError) -> Session.Kind in
            .mac(try factory.mac(flf.algo, key: keys.segment(vlf.authKey), resultLength: flf.hashResultLen))
        }
    }

    func aeadCreateSession(
        _ frame: ControlQueue.Frame, _ flf: AeadCreateSessionFlf,
        _ vlf: AeadCreateSessionVlf
    ) throws(Failure) -> UInt64 {
        let factory = device.factory
        return try create(frame, readable: vlf.readableLength) { (keys) throws(SessionError) -> Session.Kind in
            .aead(try factory.aead(flf.algo, key: keys.segment(vlf.key), tagLength: flf.tagLen, op: flf.op))
        }
    }

    func cipherDestroySession(_ frame: ControlQueue.Frame, _ flf: DestroySessionFlf) throws(Failure) -> UInt64 {
        try destroy(frame, flf)
    }

    func hashDestroySession(_ frame: ControlQueue.Frame, _ flf: DestroySessionFlf) throws(Failure) -> UInt64 {
        try destroy(frame, flf)
    }

    func macDestroySession(_ frame: ControlQueue.Frame, _ flf: DestroySessionFlf) throws(Failure) -> UInt64 {
        try destroy(frame, flf)
    }

    func aeadDestroySession(_ frame: ControlQueue.Frame, _ flf: DestroySessionFlf) throws(Failure) -> UInt64 {
        try destroy(frame, flf)
    }

    /// The key is bounded by the AKCIPHER key limit (not a config field) before it is copied.
    func akcipherCreateSession(
        _ frame: ControlQueue.Frame, _ flf: AkcipherCreateSessionFlf,
        _ vlf: AkcipherCreateSessionVlf
    ) throws(Failure) -> UInt64 {
        let factory = device.factory
        let limit = device.offer.limits.maxAkcipherKeyLength
        let keyCheck = DeviceCheck.akcipherKey(flf.algo, flf.keyType)
        return try create(frame, readable: vlf.readableLength, keyLimit: limit, keyCheck: keyCheck) {
            (keys) throws(SessionError) -> Session.Kind in
            .akcipher(
                try factory.akcipher(
                    flf.algo, keyType: flf.keyType, parameters: flf.algoFlf.parameters,
                    key: keys.segment(vlf.key)))
        }
    }

    func akcipherDestroySession(_ frame: ControlQueue.Frame, _ flf: DestroySessionFlf) throws(Failure) -> UInt64 {
        try destroy(frame, flf)
    }
}

extension UnsafeRawBufferPointer {
    /// The bytes of one vlf segment (the dispatch checked it lies within the vlf).
    func segment(_ segment: VlfSegment) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: self[segment.offset..<segment.offset + segment.length])
    }
}
