import VirtQueue
import VirtioCryptoEngines
import VirtioCryptoWire

/// One control queue request: create or destroy a session, answered in the outcome
/// layout the driver's writable area has room for.
struct ControlHandler {
    let device: VirtioCryptoDevice

    func handle(_ chain: DescriptorChain) -> UInt32 {
        var headerBytes = [UInt8](repeating: 0, count: CtrlHeader.size)
        guard headerBytes.withUnsafeMutableBytes({ chain.read(at: 0, into: $0) }),
              let header = try? CtrlHeader.decode(headerBytes) else {
            return writeBareStatus(.err, chain)
        }
        let features = device.features
        guard let layout = ControlQueue.layout(for: header, features: features),
              let flfSize = ControlQueue.flfSize(opcode: header.opcode, layout: layout) else {
            return writeBareStatus(.notsupp, chain)
        }
        var flf = [UInt8](repeating: 0, count: flfSize)
        guard flf.withUnsafeMutableBytes({ chain.read(at: CtrlHeader.size, into: $0) }) else {
            return writeOutcome(for: header.opcode, status: .err, sessionID: 0, chain)
        }
        let parsed: ControlQueueRequest?
        do {
            parsed = try flf.withUnsafeBytes { (raw) throws(WireError) -> ControlQueueRequest? in
                var reader = WireReader(raw)
                return try ControlQueue.parse(header: header, flf: &reader, features: features)
            }
        } catch {
            return writeOutcome(for: header.opcode, status: .err, sessionID: 0, chain)
        }
        guard let request = parsed else { return writeBareStatus(.notsupp, chain) }
        if let violation = header.violation(features: features) ?? flfViolation(request, features), let status = violation.status {
            return writeOutcome(for: header.opcode, status: status, sessionID: 0, chain)
        }
        // The vlf (keys) follows the padded fixed part.
        let vlfStart = CtrlHeader.size + flfSize
        // The vlf is keys only: cap it by the key limits before allocating its copy (the
        // chain alone does not bound it: descriptors may all point at the same memory).
        let keyLimit = device.offer.limits.maxCipherKeyLength + device.offer.limits.maxAuthKeyLength
        guard request.readableLength <= keyLimit, request.readableLength <= chain.readableLength - vlfStart else {
            return writeOutcome(for: header.opcode, status: .err, sessionID: 0, chain)
        }
        var vlf = [UInt8](repeating: 0, count: request.readableLength)
        guard vlf.withUnsafeMutableBytes({ chain.read(at: vlfStart, into: $0) }) else {
            return writeOutcome(for: header.opcode, status: .err, sessionID: 0, chain)
        }
        defer { vlf.withUnsafeMutableBytes { zeroizeBytes($0) } }

        switch request {
        case .cipherDestroySession(let destroy), .hashDestroySession(let destroy), .macDestroySession(let destroy),
             .aeadDestroySession(let destroy):
            var status = Status.ok
            do { try device.sessions.destroy(destroy.sessionId, service: header.opcode.service) } catch { status = .err }
            device.statistics.record(status)
            return writeOutcome(for: header.opcode, status: status, sessionID: 0, chain)
        default:
            guard chain.writableLength >= SessionInput.size else { return writeBareStatus(.err, chain) }
            let result: Result<Session, SessionError> = vlf.withUnsafeBytes { keys in
                do throws(SessionError) {
                    return .success(try device.sessions.create(service: header.opcode.service) { () throws(SessionError) -> Session.Kind in
                        try makeSession(request, keys: keys)
                    })
                } catch { return .failure(error) }
            }
            switch result {
            case .success(let session):
                device.statistics.record(.ok)
                return writeOutcome(for: header.opcode, status: .ok, sessionID: session.id, chain)
            case .failure(let error):
                let status = error.status(features: features)
                device.statistics.record(status)
                return writeOutcome(for: header.opcode, status: status, sessionID: 0, chain)
            }
        }
    }

    private func flfViolation(_ request: ControlQueueRequest, _ features: CryptoFeatures) -> RuleViolation? {
        switch request {
        case .cipherCreateSession(let flf, _): return flf.violation(features: features)
        case .hashCreateSession(let flf): return flf.violation(features: features)
        case .macCreateSession(let flf, _): return flf.violation(features: features)
        case .aeadCreateSession(let flf, _): return flf.violation(features: features)
        default: return nil
        }
    }

    private func makeSession(_ request: ControlQueueRequest, keys: UnsafeRawBufferPointer) throws(SessionError) -> Session.Kind {
        let factory = device.factory
        func segment(_ segment: VlfSegment) -> UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(rebasing: keys[segment.offset..<segment.offset + segment.length])
        }
        switch request {
        case .cipherCreateSession(let flf, let vlf):
            switch (flf.opFlf, vlf) {
            case (.cipher(let cipher), .cipher(let keys)):
                return .cipher(try factory.cipher(cipher.algo, key: segment(keys.cipherKey), op: cipher.op))
            case (.algorithmChaining(let chain), .algorithmChaining(let keys)):
                let (algorithm, resultLength): (UInt32, UInt32)
                switch chain.algoFlf {
                case .plain(let hash): (algorithm, resultLength) = (hash.algo.rawValue, hash.hashResultLen)
                case .auth(let mac): (algorithm, resultLength) = (mac.algo.rawValue, mac.hashResultLen)
                case .unused: throw .unsupported
                }
                return .chain(try factory.chain(order: chain.algChainOrder, cipher: chain.cipherHdr, hashMode: chain.hashMode,
                                                authAlgorithm: algorithm, resultLength: resultLength,
                                                cipherKey: segment(keys.cipherKey), authKey: segment(keys.authKey)))
            default:
                throw .unsupported
            }
        case .hashCreateSession(let flf):
            return .hash(try factory.hash(flf.algo, resultLength: flf.hashResultLen))
        case .macCreateSession(let flf, let vlf):
            return .mac(try factory.mac(flf.algo, key: segment(vlf.authKey), resultLength: flf.hashResultLen))
        case .aeadCreateSession(let flf, let vlf):
            return .aead(try factory.aead(flf.algo, key: segment(vlf.key), tagLength: flf.tagLen, op: flf.op))
        default:
            throw .unsupported
        }
    }

    /// Writes the outcome of `opcode`: a session input for creates; for destroys the v23
    /// `le32 status, le32 padding`, cut to what fits (its first byte is the status, so a
    /// 1-byte area gets the final spec's and Linux's `u8 status`).
    private func writeOutcome(for opcode: Opcode, status: Status, sessionID: UInt64, _ chain: DescriptorChain) -> UInt32 {
        let bytes: [UInt8]
        switch opcode {
        case .cipherCreateSession, .hashCreateSession, .macCreateSession, .aeadCreateSession:
            bytes = SessionInput(sessionId: status == .ok ? sessionID : 0, status: status).encoded()
        default:
            bytes = DestroySessionInput(status: status).encoded()
        }
        let count = min(bytes.count, chain.writableLength)
        guard count > 0, bytes.withUnsafeBytes({ chain.write(at: 0, from: UnsafeRawBufferPointer(rebasing: $0[0..<count])) }) else {
            return 0
        }
        return UInt32(count)
    }

    /// For a request whose opcode (and so outcome layout) is unknown: the status in the
    /// last writable byte, the one place every layout's drivers look at.
    private func writeBareStatus(_ status: Status, _ chain: DescriptorChain) -> UInt32 {
        device.statistics.record(status)
        return chain.writeLastByte(UInt8(status.rawValue)) ? 1 : 0
    }
}

func zeroizeBytes(_ buffer: UnsafeMutableRawBufferPointer) {
    guard let base = buffer.baseAddress else { return }
    memsetZero(base, buffer.count)
}

@inline(never)
func memsetZero(_ pointer: UnsafeMutableRawPointer, _ count: Int) {
    pointer.initializeMemory(as: UInt8.self, repeating: 0, count: count)
}
