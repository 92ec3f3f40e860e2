import VirtQueue
import VirtioCryptoEngines
import VirtioCryptoWire

/// Serves one data queue. Owns its crypto contexts (copied from each session once) and
/// bounce buffers (for data split over descriptors), so a request allocates nothing.
public final class DataWorker {
    let device: VirtioCryptoDevice
    private var contexts: [UInt64: (session: Session, context: WorkerContext)] = [:]
    /// The last session used: a stream of requests on one session skips the table's lock
    /// and both dictionaries.
    private var recent: (id: UInt64, service: Service, context: WorkerContext)?
    /// The session table's generation that `recent` and `contexts` reflect: they hold only
    /// sessions that were live then.
    private var seenGeneration: UInt64 = 0
    /// This worker's status counts (no lock per request).
    private let counters: StatusCounters
    /// Gathers input that is not contiguous in guest memory, or that overlaps the output.
    private let inputBounce: UnsafeMutableRawBufferPointer
    /// Collects output that is not contiguous in guest memory.
    private let outputBounce: UnsafeMutableRawBufferPointer
    /// Header, fixed part, IV and AAD copies (the guest cannot change them mid-request).
    private let small: UnsafeMutableRawBufferPointer
    static let smallSize = 4096

    enum WorkerContext {
        case cipher(any CipherContext)
        case chain(ChainContext)
        case hash(HashContext)
        case mac(MacContext)
        case aead(AeadContext)
    }

    init(device: VirtioCryptoDevice) {
        self.device = device
        let size = device.offer.limits.maxRequestSize + 64
        inputBounce = .allocate(byteCount: size, alignment: 64)
        outputBounce = .allocate(byteCount: size, alignment: 64)
        small = .allocate(byteCount: Self.smallSize, alignment: 64)
        small.initializeMemory(as: UInt8.self, repeating: 0)
        counters = device.statistics.makeShard()
    }

    deinit {
        device.statistics.retire(counters)
        zeroizeBytes(inputBounce)
        zeroizeBytes(outputBounce)
        zeroizeBytes(small)  // stateless keys pass through it
        inputBounce.deallocate()
        outputBounce.deallocate()
        small.deallocate()
    }

    /// Handles one data request and returns the bytes written (result plus status byte).
    /// The status goes to the last byte of the writable area (virtio_crypto_inhdr).
    public func handle(_ chain: DescriptorChain) -> UInt32 {
        var written = 0
        let status: Status
        do {
            written = try process(chain)
            status = .ok
        } catch {
            status = error.status
        }
        counters.record(status)
        guard chain.writeLastByte(UInt8(status.rawValue)) else { return 0 }
        return UInt32(clamping: written + 1)
    }

    /// Why a request failed, as the status the driver gets.
    struct Failure: Error {
        var status: Status
        static let err = Failure(status: .err)
        static let notsupp = Failure(status: .notsupp)
        static let invsess = Failure(status: .invsess)
        static let badmsg = Failure(status: .badmsg)
        init(status: Status) { self.status = status }
        init(_ error: CryptoError) { status = error.status }
        init(_ error: SessionError, _ features: CryptoFeatures) { status = error.status(features: features) }
    }

    private func process(_ chain: DescriptorChain) throws(Failure) -> Int {
        let features = device.features
        guard chain.writableLength >= 1 else { throw .err }
        // Copy header and fixed part out of guest memory once (no double fetch).
        let headerBytes = UnsafeMutableRawBufferPointer(rebasing: small[0..<OpHeader.size])
        guard chain.read(at: 0, into: headerBytes) else { throw .err }
        var headerReader = WireReader(UnsafeRawBufferPointer(headerBytes))
        guard let header = try? OpHeader(from: &headerReader) else { throw .err }
        guard let layout = DataQueue.layout(for: header, features: features),
              let flfSize = DataQueue.flfSize(opcode: header.opcode, layout: layout) else { throw .notsupp }
        let flfBytes = UnsafeMutableRawBufferPointer(rebasing: small[OpHeader.size..<OpHeader.size + flfSize])
        guard chain.read(at: OpHeader.size, into: flfBytes) else { throw .err }
        var flfReader = WireReader(UnsafeRawBufferPointer(flfBytes))
        guard let request = try? DataQueue.parse(header: header, flf: &flfReader, features: features) else { throw .notsupp }
        if let violation = header.violation(features: features), let status = violation.status { throw Failure(status: status) }

        let vlfStart = OpHeader.size + flfSize
        // Every length is checked against the chain and max_size before any byte moves.
        // (Each length getter copies the request enum: read them once.)
        let readable = request.readableLength, writable = request.writableLength
        guard readable <= chain.readableLength - vlfStart, writable <= chain.writableLength - 1,
              readable + writable <= device.offer.limits.maxRequestSize else { throw .err }
        let io = RequestIO(chain: chain, vlfStart: vlfStart, inputBounce: inputBounce, outputBounce: outputBounce,
                           small: UnsafeMutableRawBufferPointer(rebasing: small[256...]))

        switch request {
        case .cipherEncrypt(let flf, let vlf), .cipherDecrypt(let flf, let vlf):
            if let violation = flf.violation(features: features), let status = violation.status { throw Failure(status: status) }
            let session = try sessionContext(header.sessionId, service: .cipher)
            return try runSymmetric(flf.opTypeFlf, vlf, context: session, io: io)
        case .cipherEncryptStateless(let flf, let vlf), .cipherDecryptStateless(let flf, let vlf):
            if let violation = flf.violation(features: features), let status = violation.status { throw Failure(status: status) }
            return try runStatelessSymmetric(flf, vlf, io: io)
        case .hash(let flf, let vlf):
            guard case .hash(let context) = try sessionContext(header.sessionId, service: .hash) else { throw .invsess }
            return try runDigest(context: .hash(context), resultSpace: Int(flf.hashResultLen), src: vlf.srcData, result: vlf.hashResult, io: io)
        case .hashStateless(let flf, let vlf):
            let session: HashSession
            do throws(SessionError) { session = try device.factory.hash(flf.sessPara.algo, resultLength: flf.hashResultLen) } catch { throw Failure(error, features) }
            let context: HashContext
            do throws(CryptoError) { context = try session.makeContext() } catch { throw Failure(error) }
            return try runDigest(context: .hash(context), resultSpace: Int(flf.hashResultLen), src: vlf.srcData, result: vlf.hashResult, io: io)
        case .mac(let flf, let vlf):
            guard case .mac(let context) = try sessionContext(header.sessionId, service: .mac) else { throw .invsess }
            return try runDigest(context: .mac(context), resultSpace: Int(flf.hdr.hashResultLen), src: vlf.srcData, result: vlf.hashResult, io: io)
        case .macStateless(let flf, let vlf):
            let key = try io.input(vlf.authKey, copy: true)
            let session: MacSession
            do throws(SessionError) { session = try device.factory.mac(flf.sessPara.algo, key: key, resultLength: flf.hashResultLen) } catch { throw Failure(error, features) }
            let context: MacContext
            do throws(CryptoError) { context = try session.makeContext() } catch { throw Failure(error) }
            return try runDigest(context: .mac(context), resultSpace: Int(flf.hashResultLen), src: vlf.srcData, result: vlf.hashResult, io: io)
        case .aeadEncrypt(let flf, let vlf), .aeadDecrypt(let flf, let vlf):
            guard case .aead(let context) = try sessionContext(header.sessionId, service: .aead) else { throw .invsess }
            guard context.session.direction == (header.opcode == .aeadEncrypt ? .encrypt : .decrypt),
                  Int(flf.tagLen) == context.session.tagLength else { throw .err }
            return try runAead(context, iv: vlf.iv, aad: vlf.aad, src: vlf.srcData, dst: vlf.dstData, io: io)
        case .aeadEncryptStateless(let flf, let vlf), .aeadDecryptStateless(let flf, let vlf):
            let key = try io.input(vlf.key, copy: true)
            let direction: Op = header.opcode == .aeadEncrypt ? .encrypt : .decrypt
            guard flf.sessPara.op == direction else { throw .err }
            let session: AeadSession
            do throws(SessionError) { session = try device.factory.aead(flf.sessPara.algo, key: key, tagLength: flf.tagLen, op: direction) } catch { throw Failure(error, features) }
            let context: AeadContext
            do throws(CryptoError) { context = try session.makeContext() } catch { throw Failure(error) }
            return try runAead(context, iv: vlf.iv, aad: vlf.aad, src: vlf.srcData, dst: vlf.dstData, io: io)
        }
    }

    /// This worker's context for a live session of `service`; INVSESS otherwise.
    private func sessionContext(_ id: UInt64, service: Service) throws(Failure) -> WorkerContext {
        let generation = device.sessions.generation
        if generation != seenGeneration {
            // Sessions went away since this worker last looked: drop its copies of their
            // keyed contexts now rather than whenever the cache fills.
            recent = nil
            contexts = contexts.filter { device.sessions.lookup($0.key) === $0.value.session }
            seenGeneration = generation
        }
        if let recent, recent.id == id {
            guard recent.service == service else { throw .invsess }
            return recent.context
        }
        let entry: (session: Session, context: WorkerContext)
        if let cached = contexts[id] {
            entry = cached  // live at `seenGeneration`, which is current: no table lookup
        } else {
            guard let session = device.sessions.lookup(id), session.service == service else { throw .invsess }
            entry = (session, try makeContext(session))
            contexts[id] = entry
        }
        guard entry.session.service == service else { throw .invsess }
        recent = (id, service, entry.context)
        return entry.context
    }

    /// This worker's copy of a session's keyed context.
    private func makeContext(_ session: Session) throws(Failure) -> WorkerContext {
        do throws(CryptoError) {
            switch session.kind {
            case .cipher(let cipher): return .cipher(try cipher.makeContext())
            case .chain(let chain): return .chain(try chain.makeContext())
            case .hash(let hash): return .hash(try hash.makeContext())
            case .mac(let mac): return .mac(try mac.makeContext())
            case .aead(let aead): return .aead(try aead.makeContext())
            }
        } catch {
            throw Failure(error)
        }
    }

    /// The cipher runs in its session's direction (as QEMU and DPDK do); the opcode's is not
    /// compared for CIPHER requests.
    private func runSymmetric(_ member: SymDataFlf.OpTypeFlf, _ vlf: SymDataVlf, context: WorkerContext,
                              io: RequestIO) throws(Failure) -> Int {
        switch (member, vlf, context) {
        case (.cipher(let flf), .cipher(let segments), .cipher(let cipher)):
            return try runCipher(cipher, iv: segments.iv, src: segments.srcData, dst: segments.dstData,
                                 dstLength: Int(flf.dstDataLen), io: io)
        case (.algorithmChaining(let flf), .algorithmChaining(let segments), .chain(let chain)):
            return try runChain(chain, flf: ChainParameters(flf), segments: ChainSegments(segments), io: io)
        case (.cipher, _, _), (.algorithmChaining, _, _):
            throw .err  // the request's op_type does not match its session
        default:
            throw .notsupp
        }
    }

    private func runStatelessSymmetric(_ flf: SymDataFlfStateless, _ vlf: SymDataVlfStateless,
                                       io: RequestIO) throws(Failure) -> Int {
        let features = device.features
        switch (flf.opTypeFlf, vlf) {
        case (.cipher(let member), .cipher(let segments)):
            let key = try io.input(segments.cipherKey, copy: true)
            let session: CipherSession
            do throws(SessionError) { session = try device.factory.cipher(member.sessPara.algo, key: key, op: member.sessPara.op) } catch { throw Failure(error, features) }
            let context: any CipherContext
            do throws(CryptoError) { context = try session.makeContext() } catch { throw Failure(error) }
            return try runCipher(context, iv: segments.iv, src: segments.srcData, dst: segments.dstData,
                                 dstLength: Int(member.dstDataLen), io: io)
        case (.algorithmChaining(let member), .algorithmChaining(let segments)):
            let para = member.sessPara
            let cipherKey = try io.input(segments.cipherKey, copy: true)
            let authKey = try io.input(segments.authKey, copy: true, slot: 1)
            let cipherHeader = CipherSessionFlf(algo: para.cipher.algo, keylen: para.cipher.keylen, op: para.cipher.op)
            let session: ChainSession
            do throws(SessionError) {
                session = try device.factory.chain(order: para.algChainOrder, cipher: cipherHeader, hashMode: para.hash.hashMode,
                                                   authAlgorithm: para.hash.algo, resultLength: member.hashResultLen,
                                                   cipherKey: cipherKey, authKey: authKey)
            } catch { throw Failure(error, features) }
            let context: ChainContext
            do throws(CryptoError) { context = try session.makeContext() } catch { throw Failure(error) }
            return try runChain(context, flf: ChainParameters(member), segments: ChainSegments(segments), io: io)
        default:
            throw .notsupp
        }
    }

    private func runCipher(_ cipher: any CipherContext, iv: VlfSegment, src: VlfSegment, dst: VlfSegment, dstLength: Int,
                           io: RequestIO) throws(Failure) -> Int {
        guard dstLength >= src.length else { throw .err }
        let ivBytes = try io.input(iv, copy: true)
        let output = try io.outputBuffer(dst.offset, count: src.length)
        let input = try io.input(src, avoiding: output)
        do throws(CryptoError) { try cipher.run(iv: ivBytes, input: input, output: output) } catch { throw Failure(error) }
        try io.commit(output, at: dst.offset)
        return dst.offset + src.length
    }

    struct ChainParameters {
        var cipherStart: Int, cipherLength: Int, hashStart: Int, hashLength: Int, resultLength: Int, dstLength: Int
        init(_ flf: AlgChainDataFlf) {
            cipherStart = Int(flf.cipherStartSrcOffset); cipherLength = Int(flf.lenToCipher)
            hashStart = Int(flf.hashStartSrcOffset); hashLength = Int(flf.lenToHash)
            resultLength = Int(flf.hashResultLen); dstLength = Int(flf.dstDataLen)
        }
        init(_ flf: AlgChainDataFlfStateless) {
            cipherStart = Int(flf.cipherStartSrcOffset); cipherLength = Int(flf.lenToCipher)
            hashStart = Int(flf.hashStartSrcOffset); hashLength = Int(flf.lenToHash)
            resultLength = Int(flf.hashResultLen); dstLength = Int(flf.dstDataLen)
        }
    }

    struct ChainSegments {
        var iv, src, aad, dst, hashResult: VlfSegment
        init(_ vlf: AlgChainDataVlf) { (iv, src, aad, dst, hashResult) = (vlf.iv, vlf.srcData, vlf.aad, vlf.dstData, vlf.hashResult) }
        init(_ vlf: AlgChainDataVlfStateless) { (iv, src, aad, dst, hashResult) = (vlf.iv, vlf.srcData, vlf.aad, vlf.dstData, vlf.hashResult) }
    }

    private func runChain(_ chain: ChainContext, flf: ChainParameters, segments: ChainSegments, io: RequestIO) throws(Failure) -> Int {
        let source = segments.src.length
        // The result is the session's length, as for a hash or MAC request: the request's
        // hash_result_len only has to leave room for it.
        let resultLength = chain.resultLength
        guard flf.cipherStart <= source, flf.cipherLength <= source - flf.cipherStart,
              flf.hashStart <= source, flf.hashLength <= source - flf.hashStart,
              flf.dstLength >= source, flf.resultLength >= resultLength, segments.hashResult.length >= resultLength else { throw .err }
        let ivBytes = try io.input(segments.iv, copy: true)
        // The seed: check aad_len > 0 before parsing the AAD.
        let aad = segments.aad.length > 0 ? try io.input(segments.aad, copy: true, slot: 1) : UnsafeRawBufferPointer(start: nil, count: 0)
        let output = try io.outputBuffer(segments.dst.offset, count: source)
        let input = try io.input(segments.src, avoiding: output)
        let result = try io.resultBuffer(count: resultLength)
        do throws(CryptoError) {
            try chain.run(iv: ivBytes, src: input, cipherRange: flf.cipherStart..<flf.cipherStart + flf.cipherLength,
                          hashRange: flf.hashStart..<flf.hashStart + flf.hashLength, aad: aad, dst: output, hashResult: result)
        } catch { throw Failure(error) }
        try io.commit(output, at: segments.dst.offset)
        guard io.chain.write(at: segments.hashResult.offset, from: UnsafeRawBufferPointer(result)) else { throw .err }
        return segments.hashResult.offset + resultLength
    }

    enum Digest {
        case hash(HashContext)
        case mac(MacContext)
    }

    private func runDigest(context: Digest, resultSpace: Int, src: VlfSegment, result: VlfSegment, io: RequestIO) throws(Failure) -> Int {
        let length: Int
        switch context {
        case .hash(let hash): length = hash.session.resultLength
        case .mac(let mac): length = mac.resultLength
        }
        guard resultSpace >= length, result.length >= length else { throw .err }
        let input = try io.input(src)
        let output = try io.resultBuffer(count: length)
        do throws(CryptoError) {
            switch context {
            case .hash(let hash): try hash.digest(input, into: output)
            case .mac(let mac): try mac.mac(input, into: output)
            }
        } catch { throw Failure(error) }
        guard io.chain.write(at: result.offset, from: UnsafeRawBufferPointer(output)) else { throw .err }
        return result.offset + length
    }

    private func runAead(_ context: AeadContext, iv: VlfSegment, aad: VlfSegment, src: VlfSegment, dst: VlfSegment,
                         io: RequestIO) throws(Failure) -> Int {
        let session = context.session
        let encrypt = session.direction == .encrypt
        let outputLength = encrypt ? src.length + session.tagLength : src.length - session.tagLength
        guard outputLength >= 0, dst.length >= outputLength else { throw .err }
        var ivBytes = try io.input(iv, copy: true)
        // CCM: the first IV byte is reserved for the flags; the nonce follows (seed, AEAD vlf).
        if session.algorithm == .ccm {
            guard ivBytes.count >= 1 else { throw .err }
            ivBytes = UnsafeRawBufferPointer(rebasing: ivBytes[1...])
        }
        let aadBytes = aad.length > 0 ? try io.input(aad, copy: true, slot: 1) : UnsafeRawBufferPointer(start: nil, count: 0)
        let output = try io.outputBuffer(dst.offset, count: outputLength)
        let input = try io.input(src, avoiding: output)
        do throws(CryptoError) { try context.run(iv: ivBytes, aad: aadBytes, input: input, output: output) } catch { throw Failure(error) }
        try io.commit(output, at: dst.offset)
        return dst.offset + outputLength
    }
}

extension Error {
    /// The status for any error thrown while processing a data request.
    var status: Status { (self as? DataWorker.Failure)?.status ?? .err }
}
