import VirtQueue
import VirtioCryptoEngines
import VirtioCryptoWire
import WireBytes

/// Serves one data queue. Owns its crypto contexts (copied from each session once) and
/// bounce buffers (for data split over descriptors), so a request allocates nothing.
public final class DataWorker {
    let device: VirtioCryptoDevice
    private var contexts: [UInt64: WorkerSession] = [:]
    /// Copies of destroyed sessions whose keys jobs in the lanes may still read: released when the
    /// lanes are next flushed.
    private var retiring: [WorkerSession] = []
    /// The last session used: a stream of requests on one session skips the table's lock and both
    /// dictionaries. Not retained: `contexts` holds it, and is filtered only after this is cleared.
    private var recent: Unmanaged<WorkerSession>?
    /// The session table's generation that `recent` and `contexts` reflect: they hold only
    /// sessions that were live then.
    private var seenGeneration: UInt64 = 0
    /// This worker's counts (no lock per request).
    private let counters: CounterShard
    /// This worker's copy of the statistics' algorithm slots (the lock only on an algorithm's first request).
    private var algorithmSlots: [RequestAlgorithm: Int] = [:]
    /// The counter slot of the algorithm of the request being handled, once known.
    private var algorithmSlot: Int?
    /// Gathers input that is not contiguous in guest memory, or that overlaps the output.
    private let inputBounce: UnsafeMutableRawBufferPointer
    /// Collects output that is not contiguous in guest memory.
    private let outputBounce: UnsafeMutableRawBufferPointer
    /// Header, fixed part, IV and AAD copies (the guest cannot change them mid-request).
    private let small: UnsafeMutableRawBufferPointer
    static let smallSize = 4096
    /// `small` holds the dispatch's header and fixed-part copy below this offset, the IV,
    /// AAD and key slots from it.
    static let slotsStart = 256
    /// The dispatch's scratch: the request's header and fixed part.
    private let prefix: UnsafeMutableRawBufferPointer
    /// The chain and opcode of the request being handled.
    private var chain: ChainBuffers?
    private var opcode: Opcode = .unknown(0)
    /// The spec revision the device follows (read once: the dispatch takes it per request).
    private let revision: SpecRevision

    /// IPsec-MB's job API, for the requests it runs in parallel lanes (nil: each runs alone). Job keys
    /// exist only with it: the submissions, reached only with keys, unwrap it where they call it (a
    /// binding would retain and release it per request).
    private let multiBuffer: MultiBufferEngine?
    /// Requests handed to it and not answered yet, by tag; the free tags are a stack.
    private let inFlight: UnsafeMutableBufferPointer<InFlight>
    private let freeTags: UnsafeMutableBufferPointer<Int>
    private var freeCount: Int
    /// The IVs of those requests (a job reads its IV when it runs): 16 bytes per tag; and their
    /// digests (a job writes the full digest; the session's result may be shorter): 32 per tag, or
    /// for a GCM decryption the tag the job computes, then at `expectedTagOffset` the request's own.
    private let inFlightIVs: UnsafeMutableRawBufferPointer
    private let inFlightDigests: UnsafeMutableRawBufferPointer
    static let digestSlot = 32
    static let expectedTagOffset = 16
    /// Their AAD (GCM reads it when the job runs): requests with more than this run now.
    private let inFlightAAD: UnsafeMutableRawBufferPointer
    static let aadSlot = 64
    /// The shortest AES-CBC request that goes to the lanes: below it one chained OpenSSL call is
    /// faster (`vring --multi-buffer on,off`, depth 256: 0.92x at 64 B, 1.06x at 128 B, 1.37x at
    /// 256 B). HMAC, GCM and the chain gain from the lanes at 64 B already.
    public static let cbcLaneMinimum = 128
    /// Requests in the job API at most: a bound on how long one waits for the batch to end.
    public static let maxInFlight = 64
    static let blockSize = 16
    /// Whether the request being handled may go to the job API: set only while `serve` runs, when
    /// others wait (`handle` answers every request now).
    private var mayDefer = false
    /// Requests back from the job API (their status written) whose used entries are not published
    /// yet: jobs return during submissions, deep in a request's handling, where no completion is at
    /// hand; `serve` and `finishBatch` publish them through theirs. At most every tag in flight plus
    /// the one submitted after a full flush (both drain the list before they return).
    private let answered: UnsafeMutableBufferPointer<Answered>
    private var answeredCount = 0
    static let answeredCapacity = maxInFlight + 1
    /// The head of the chain being served.
    private var head: UInt16 = 0
    /// The written length `dispatch` returns for a request handed to the job API.
    private static let deferred = -1

    struct Answered {
        var head: UInt16
        var written: UInt32
    }

    struct InFlight {
        var head: UInt16 = 0
        /// The status byte, in guest memory.
        var status: UnsafeMutableRawPointer?
        /// The used length when it succeeds: destination and status.
        var written: UInt32 = 0
        /// Its algorithm's counter slot.
        var slot = 0
        /// Where its MAC goes in guest memory, and how many bytes of the digest (0: no MAC).
        var result: UnsafeMutableRawPointer?
        var resultLength = 0
        /// A GCM decryption: the tag bytes to compare (0: none), and the plaintext to clear when
        /// they differ.
        var verifiedTagLength = 0
        var plaintext: UnsafeMutableRawPointer?
        var plaintextLength = 0
    }

    /// This worker's copy of one live session: its context keyed once, the job API's keys when the
    /// lanes can run its requests, its algorithm's counter slot. A class: a request borrows one
    /// reference instead of copying context values with reference-counted payloads.
    ///
    /// The context and keys are optional stored properties, exactly one context set (as the session's
    /// kind says), rather than enums: a request reads a stored property in place, where binding an
    /// enum's payload costs a retain and a release. The request path reads them where it uses them for
    /// the same reason: a binding held across the calls in between is retained too.
    final class WorkerSession {
        let id: UInt64
        let session: Session
        let slot: Int
        let cipher: (any CipherContext)?
        let chain: ChainContext?
        let hash: HashContext?
        let mac: MacContext?
        let aead: AeadContext?
        let akcipher: AkcipherContext?
        /// The session's direction (CIPHER and chaining sessions: a request's opcode must name it).
        let direction: Op
        /// IPsec-MB's keys: AES-CBC encryption (alone, or the cipher of a CBC-then-HMAC chain).
        let cbcKeys: CBCJobKeys?
        /// HMAC-SHA1 or HMAC-SHA-256 (alone, or the MAC of that chain).
        let hmacKeys: HMACJobKeys?
        /// AES-GCM.
        let gcmKeys: GCMJobKeys?

        /// Keys `session` for one worker; `multiBuffer` gives the lanes' keys to the kinds it runs.
        init(id: UInt64, session: Session, slot: Int, multiBuffer: MultiBufferEngine?) throws(CryptoError) {
            self.id = id
            self.session = session
            self.slot = slot
            var cipher: (any CipherContext)?
            var chain: ChainContext?
            var hash: HashContext?
            var mac: MacContext?
            var aead: AeadContext?
            var akcipher: AkcipherContext?
            var direction = Op.encrypt
            var cbcKeys: CBCJobKeys?
            var hmacKeys: HMACJobKeys?
            var gcmKeys: GCMJobKeys?
            switch session.kind {
            case .cipher(let session):
                cipher = try session.makeContext()
                direction = session.direction
                if let multiBuffer, direction == .encrypt { cbcKeys = CBCJobKeys(session, engine: multiBuffer) }
            case .chain(let session):
                chain = try session.makeContext()
                direction = session.cipher.direction
                // Encrypt-then-MAC with HMAC: both keys, or neither (the job runs both).
                if let multiBuffer, session.order == .cipherThenHash, direction == .encrypt,
                    case .mac(let authenticator) = session.authenticator,
                    let macKeys = HMACJobKeys(authenticator, engine: multiBuffer),
                    let cipherKeys = CBCJobKeys(session.cipher, engine: multiBuffer)
                {
                    (cbcKeys, hmacKeys) = (cipherKeys, macKeys)
                }
            case .hash(let session): hash = try session.makeContext()
            case .mac(let session):
                mac = try session.makeContext()
                hmacKeys = multiBuffer.flatMap { HMACJobKeys(session, engine: $0) }
            case .aead(let session):
                aead = try session.makeContext()
                gcmKeys = multiBuffer.flatMap { GCMJobKeys(session, engine: $0) }
            case .akcipher(let session): akcipher = try session.makeContext()
            }
            (self.cipher, self.chain, self.hash, self.mac, self.aead, self.akcipher) =
                (cipher, chain, hash, mac, aead, akcipher)
            self.direction = direction
            (self.cbcKeys, self.hmacKeys, self.gcmKeys) = (cbcKeys, hmacKeys, gcmKeys)
        }
    }

    init(device: VirtioCryptoDevice, queue: Int, multiBuffer: Bool = false) {
        self.device = device
        revision = device.offer.revision
        let size = device.offer.limits.maxRequestSize + 64
        inputBounce = .allocate(byteCount: size, alignment: 64)
        outputBounce = .allocate(byteCount: size, alignment: 64)
        small = .allocate(byteCount: Self.smallSize, alignment: 64)
        small.initializeMemory(as: UInt8.self, repeating: 0)
        precondition(DataQueue.prefixCapacity <= Self.slotsStart, "header and fixed part overlap the IV slots")
        prefix = UnsafeMutableRawBufferPointer(rebasing: small[0..<DataQueue.prefixCapacity])
        counters = device.statistics.makeShard(for: .dataQueue(queue))
        self.multiBuffer = multiBuffer ? try? MultiBufferEngine() : nil
        inFlight = .allocate(capacity: Self.maxInFlight)
        inFlight.initialize(repeating: InFlight())
        answered = .allocate(capacity: Self.answeredCapacity)
        freeTags = .allocate(capacity: Self.maxInFlight)
        for tag in 0..<Self.maxInFlight { freeTags[tag] = Self.maxInFlight - 1 - tag }
        freeCount = Self.maxInFlight
        inFlightIVs = .allocate(byteCount: Self.maxInFlight * Self.blockSize, alignment: 16)
        inFlightIVs.initializeMemory(as: UInt8.self, repeating: 0)
        inFlightDigests = .allocate(byteCount: Self.maxInFlight * Self.digestSlot, alignment: 64)
        inFlightDigests.initializeMemory(as: UInt8.self, repeating: 0)
        inFlightAAD = .allocate(byteCount: Self.maxInFlight * Self.aadSlot, alignment: 64)
        inFlightAAD.initializeMemory(as: UInt8.self, repeating: 0)
    }

    deinit {
        device.statistics.retire(counters)
        zeroize(inputBounce)
        zeroize(outputBounce)
        zeroize(small)  // stateless keys pass through it
        inputBounce.deallocate()
        outputBounce.deallocate()
        small.deallocate()
        inFlight.deallocate()
        answered.deallocate()
        freeTags.deallocate()
        inFlightIVs.deallocate()
        zeroize(inFlightDigests)
        inFlightDigests.deallocate()
        inFlightAAD.deallocate()
    }

    /// Handles one data request and returns the bytes written (result plus status byte).
    /// The generated dispatch parses and checks it and calls one of the handler methods
    /// below; the status goes where `DataQueue.outcomeOffset` says (the inhdr).
    public func handle(_ chain: DescriptorChain) -> UInt32 { answer(chain.buffers) ?? 0 }

    /// Serves one data request of a batch: the bytes written when it is answered now, nil when
    /// it went to the job API and its answer comes through `completion`, by `finishBatch` at the
    /// latest (requests the job API returned meanwhile are answered through it too). A request with
    /// no other waiting, in the ring or in the job API, runs now: alone, it would gain nothing from
    /// the lanes and wait for the flush (depth-1 latency stays as it was).
    public func serve(
        _ chain: DescriptorChain, head: UInt16, othersWaiting: Int, completion: any UsedRingCompletion
    ) -> UInt32? {
        mayDefer = othersWaiting > 0 || (multiBuffer?.pending ?? 0) > 0
        self.head = head
        let written = answer(chain.buffers)
        mayDefer = false
        if answeredCount > 0 { publishAnswered(completion) }
        return written
    }

    /// Answers every request still in the job API (the batch ends).
    public func finishBatch(completion: any UsedRingCompletion) {
        flushLanes()
        if answeredCount > 0 { publishAnswered(completion) }
    }

    /// Runs every job still in the lanes to its end.
    private func flushLanes() {
        if let multiBuffer, multiBuffer.pending > 0 {
            multiBuffer.flush { tag, succeeded in finish(tag, succeeded) }
        }
        // Nothing is in the lanes now (jobs also return during submissions): no copy is needed.
        if !retiring.isEmpty { retiring.removeAll() }
    }

    private func publishAnswered(_ completion: any UsedRingCompletion) {
        for index in 0..<answeredCount {
            completion.complete(head: answered[index].head, written: answered[index].written)
        }
        answeredCount = 0
    }

    /// A request back from the job API: its status where the driver looks, counted, and its used
    /// entry noted for publishing.
    private func finish(_ tag: Int, _ succeeded: Bool) {
        let entry = inFlight[tag]
        freeTags[freeCount] = tag
        freeCount += 1
        var status: Status = succeeded ? .ok : .err
        let digest = inFlightDigests.baseAddress! + tag * Self.digestSlot
        if succeeded, let result = entry.result {
            result.copyMemory(from: digest, byteCount: entry.resultLength)
        }
        if succeeded, entry.verifiedTagLength > 0,
            !constantTimeEqual(
                UnsafeRawBufferPointer(start: digest, count: entry.verifiedTagLength),
                UnsafeRawBufferPointer(start: digest + Self.expectedTagOffset, count: entry.verifiedTagLength))
        {
            // Not authentic: the plaintext is not released (as on the synchronous path).
            zeroize(UnsafeMutableRawBufferPointer(start: entry.plaintext, count: entry.plaintextLength))
            status = CryptoError.authenticationFailed.status
        }
        entry.status?.storeBytes(of: UInt8(truncatingIfNeeded: status.rawValue), as: UInt8.self)
        counters.record(status, slot: entry.slot)
        precondition(answeredCount < Self.answeredCapacity, "more jobs returned than were in flight")
        answered[answeredCount] = Answered(
            head: entry.head, written: status == .ok ? entry.written : UInt32(DataQueue.Outcome.inhdr.size))
        answeredCount += 1
    }

    /// Where the status byte of a request answered later goes: in place, in guest memory.
    private static func statusByte(_ chain: ChainBuffers) -> UnsafeMutableRawPointer? {
        guard let offset = DataQueue.outcomeOffset(.inhdr, writableLength: chain.writableLength) else { return nil }
        return chain.writableByte(at: offset)
    }

    /// A free tag for a request going to the job API; with all in flight, the lanes are flushed first.
    private func takeTag() -> Int {
        if freeCount == 0 { flushLanes() }
        freeCount -= 1
        return freeTags[freeCount]
    }

    /// Copies the IV (`iv.length` ≤ `blockSize`, checked by the caller) into `tag`'s own storage: the
    /// job reads it when it runs. On failure the tag goes back.
    private func copyIV(_ iv: VlfSegment, tag: Int, io: RequestIO) throws(Failure) -> UnsafeMutableRawBufferPointer {
        let start = tag * Self.blockSize
        let copy = UnsafeMutableRawBufferPointer(rebasing: inFlightIVs[start..<start + iv.length])
        guard io.chain.read(at: io.vlfStart + iv.offset, into: copy) else {
            releaseTag()
            throw .err
        }
        return copy
    }

    /// Gives back the tag just taken (a copy for its job failed): it is still on top of the stack.
    private func releaseTag() { freeCount += 1 }

    /// Records the request under `tag` until the job returns, and counts it.
    private func record(
        _ tag: Int, status: UnsafeMutableRawPointer, written: Int, result: UnsafeMutableRawPointer? = nil,
        resultLength: Int = 0, verifiedTagLength: Int = 0, plaintext: UnsafeMutableRawBufferPointer? = nil
    ) {
        inFlight[tag] = InFlight(
            head: head, status: status, written: UInt32(written + DataQueue.Outcome.inhdr.size),
            slot: algorithmSlot ?? 0, result: result, resultLength: resultLength, verifiedTagLength: verifiedTagLength,
            plaintext: plaintext?.baseAddress, plaintextLength: plaintext?.count ?? 0)
        counters.multiBuffer.increment(0)
    }

    /// Hands a session-mode AES-CBC request to the job API when it can wait for the batch: source
    /// and destination each contiguous in guest memory (the same bytes or apart), whole blocks, a
    /// 16-byte IV (copied: the job reads it later). Nil when it must run now.
    private func submitCBC(
        _ keyed: WorkerSession, iv: VlfSegment, src: VlfSegment, dst: VlfSegment, dstLength: Int, io: RequestIO
    ) throws(Failure) -> Int? {
        guard mayDefer, let chain, algorithmSlot != nil, dstLength >= src.length,
            src.length >= Self.cbcLaneMinimum, src.length % Self.blockSize == 0, iv.length == Self.blockSize,
            let input = chain.readableSpan(at: io.vlfStart + src.offset, count: src.length),
            let output = chain.writableSpan(at: dst.offset, count: src.length),
            !RequestIO.overlapsPartially(input, output), let status = Self.statusByte(chain)
        else { return nil }
        let tag = takeTag()
        let ivCopy = try copyIV(iv, tag: tag, io: io)
        record(tag, status: status, written: dst.offset + src.length)
        multiBuffer!.submitCBC(
            keyed.cbcKeys!, iv: ivCopy.baseAddress!, input: input.baseAddress!, output: output.baseAddress!,
            length: src.length,
            tag: tag
        ) { tag, succeeded in finish(tag, succeeded) }
        return Self.deferred
    }

    /// Hands a session-mode HMAC request to the job API when it can wait for the batch: its source
    /// and result each contiguous in guest memory, the result not in the source. Nil when it must run
    /// now (also when a length check fails: the synchronous path answers that).
    private func submitHMAC(
        _ keyed: WorkerSession, resultSpace: Int, src: VlfSegment, result: VlfSegment, io: RequestIO
    ) throws(Failure) -> Int? {
        let length = keyed.hmacKeys!.resultLength
        guard mayDefer, let chain, algorithmSlot != nil, resultSpace >= length,
            result.length >= length, src.length > 0,
            let input = chain.readableSpan(at: io.vlfStart + src.offset, count: src.length),
            let output = chain.writableSpan(at: result.offset, count: length),
            !RequestIO.overlapsPartially(input, output), input.baseAddress != UnsafeRawPointer(output.baseAddress),
            let status = Self.statusByte(chain)
        else { return nil }
        let tag = takeTag()
        record(tag, status: status, written: result.offset + length, result: output.baseAddress, resultLength: length)
        multiBuffer!.submitHMAC(
            keyed.hmacKeys!, input: input.baseAddress!, length: src.length,
            digest: inFlightDigests.baseAddress! + tag * Self.digestSlot, tag: tag
        ) { tag, succeeded in finish(tag, succeeded) }
        return Self.deferred
    }

    /// Hands a session-mode AES-GCM request to the job API when it can wait for the batch: a 12-byte
    /// IV and at most `aadSlot` bytes of AAD (both copied: the job reads them later), source and
    /// destination each contiguous in guest memory, the same bytes or apart. Encryption writes
    /// ciphertext then tag; decryption reads ciphertext then tag (the tag copied) and writes the
    /// plaintext, which `finish` clears when the tag the job computed differs. Nil when it must run
    /// now (also when a length check fails: the synchronous path answers that).
    private func submitGCM(
        _ keyed: WorkerSession, iv: VlfSegment, aad: VlfSegment, src: VlfSegment, dst: VlfSegment, io: RequestIO
    ) throws(Failure) -> Int? {
        let tagLength = keyed.gcmKeys!.tagLength
        let encrypt = keyed.gcmKeys!.encrypt
        let textLength = encrypt ? src.length : src.length - tagLength
        let outputLength = encrypt ? src.length + tagLength : textLength
        guard mayDefer, let chain, algorithmSlot != nil, iv.length == GCMJobKeys.ivLength,
            aad.length <= Self.aadSlot, textLength > 0, dst.length >= outputLength,
            let input = chain.readableSpan(at: io.vlfStart + src.offset, count: src.length),
            let output = chain.writableSpan(at: dst.offset, count: outputLength),
            !RequestIO.overlapsPartially(input, output), let status = Self.statusByte(chain)
        else { return nil }
        let tag = takeTag()
        let ivCopy = try copyIV(iv, tag: tag, io: io)
        let aadCopy = UnsafeMutableRawBufferPointer(
            rebasing: inFlightAAD[(tag * Self.aadSlot)..<(tag * Self.aadSlot + aad.length)])
        guard aad.length == 0 || chain.read(at: io.vlfStart + aad.offset, into: aadCopy) else {
            releaseTag()
            throw .err
        }
        let digest = inFlightDigests.baseAddress! + tag * Self.digestSlot
        if encrypt {
            record(tag, status: status, written: dst.offset + outputLength)
        } else {
            (digest + Self.expectedTagOffset).copyMemory(from: input.baseAddress! + textLength, byteCount: tagLength)
            record(
                tag, status: status, written: dst.offset + outputLength, verifiedTagLength: tagLength,
                plaintext: output)
        }
        multiBuffer!.submitGCM(
            keyed.gcmKeys!, iv: ivCopy.baseAddress!, aad: aadCopy.baseAddress, aadLength: aad.length,
            input: input.baseAddress!,
            output: output.baseAddress!, length: textLength,
            tagOutput: encrypt ? output.baseAddress! + textLength : digest, tag: tag
        ) { tag, succeeded in finish(tag, succeeded) }
        return Self.deferred
    }

    /// Hands a session-mode AES-CBC + HMAC encrypt-then-MAC request to the job API when it can wait for
    /// the batch: no AAD (the MAC's input is `aad ‖ region`, which one job cannot take), whole blocks,
    /// a 16-byte IV (copied), source, destination and result each contiguous in guest memory, source
    /// and destination the same bytes or apart. The source is copied to the destination first (it has
    /// the source's layout), then the job ciphers and MACs the destination in place. Nil when it must
    /// run now (also when a field check fails: the synchronous path answers that).
    private func submitCBCThenHMAC(
        _ keyed: WorkerSession, flf: ChainParameters, segments: ChainSegments, io: RequestIO
    ) throws(Failure) -> Int? {
        let source = segments.src.length
        let resultLength = keyed.chain!.resultLength
        guard mayDefer, let chain, algorithmSlot != nil,
            resultLength == keyed.hmacKeys!.resultLength,
            flf.cipherStart <= source, flf.cipherLength <= source - flf.cipherStart, flf.hashStart <= source,
            flf.hashLength <= source - flf.hashStart, flf.dstLength >= source, flf.resultLength >= resultLength,
            segments.hashResult.length >= resultLength, segments.aad.length == 0, segments.iv.length == Self.blockSize,
            flf.cipherLength > 0, flf.cipherLength % Self.blockSize == 0, flf.hashLength > 0,
            let input = chain.readableSpan(at: io.vlfStart + segments.src.offset, count: source),
            let output = chain.writableSpan(at: segments.dst.offset, count: source),
            let result = chain.writableSpan(at: segments.hashResult.offset, count: resultLength),
            !RequestIO.overlapsPartially(input, output), let status = Self.statusByte(chain)
        else { return nil }
        let tag = takeTag()
        let ivCopy = try copyIV(segments.iv, tag: tag, io: io)
        if input.baseAddress != UnsafeRawPointer(output.baseAddress) {
            output.baseAddress!.copyMemory(from: input.baseAddress!, byteCount: source)
        }
        record(
            tag, status: status, written: segments.hashResult.offset + resultLength, result: result.baseAddress,
            resultLength: resultLength)
        // The ranges were checked against the source above.
        let cipher = flf.cipherStart..<flf.cipherStart + flf.cipherLength
        let hashed = flf.hashStart..<flf.hashStart + flf.hashLength
        multiBuffer!.submitCBCThenHMAC(
            keyed.cbcKeys!, keyed.hmacKeys!, iv: ivCopy.baseAddress!, buffer: output.baseAddress!, cipher: cipher,
            hashed: hashed,
            digest: inFlightDigests.baseAddress! + tag * Self.digestSlot, tag: tag
        ) { tag, succeeded in finish(tag, succeeded) }
        return Self.deferred
    }

    /// Answers one request now (the bytes written), or nil when the job API took it.
    private func answer(_ chain: ChainBuffers) -> UInt32? {
        self.chain = chain
        defer { self.chain = nil }
        opcode = .unknown(UInt32.max)
        algorithmSlot = nil
        var written = 0
        let status: Status
        do throws(Failure) {
            written = try DataQueue.dispatch(
                chain, features: device.features, revision: revision, scratch: prefix, to: self)
            if written == Self.deferred { return nil }
            status = .ok
        } catch {
            let resolved = error.resolved(opcode: opcode)
            status = resolved.status
            if let rule = resolved.rule { counters.record(rule) }
        }
        counters.record(status, slot: algorithmSlot ?? countingSlot(.unknown(opcode: opcode)))
        guard let statusByte = Self.statusByte(chain) else { return 0 }
        statusByte.storeBytes(of: UInt8(truncatingIfNeeded: status.rawValue), as: UInt8.self)
        return UInt32(clamping: written + DataQueue.Outcome.inhdr.size)
    }

    /// Why a request failed: the status the driver gets, and the rule it broke when one
    /// applies (a generated violation, or a device-core check the YAML binds to a rule).
    public struct Failure: Error {
        public internal(set) var status: Status
        public internal(set) var rule: RuleID?
        /// A device-core check that failed; its rule and status depend on the opcode.
        var check: DeviceCheck?
        static let err = Failure(status: .err)
        static let notsupp = Failure(status: .notsupp)
        static let badmsg = Failure(status: .badmsg)
        init(status: Status, rule: RuleID? = nil) {
            self.status = status
            self.rule = rule
        }
        init(_ error: CryptoError) { status = error.status }
        init(_ error: SessionError, _ features: CryptoFeatures) { status = error.status(features: features) }
        /// A failed device-core check: answered and counted as the YAML binds it.
        static func failed(_ check: DeviceCheck) -> Failure {
            var failure = Failure(status: .err)
            failure.check = check
            return failure
        }

        func resolved(opcode: Opcode) -> Failure {
            guard let check, let violation = check.violation(opcode: opcode) else { return self }
            return Failure(status: violation.status ?? status, rule: violation.rule)
        }
    }

    /// The counter slot of `algorithm` (this worker's copy; the statistics' on first sight).
    private func countingSlot(_ algorithm: RequestAlgorithm) -> Int {
        if let slot = algorithmSlots[algorithm] { return slot }
        let slot = device.statistics.slot(for: algorithm)
        algorithmSlots[algorithm] = slot
        return slot
    }

    /// Counts the request under the algorithm of the session keyed for it alone (stateless).
    private func counting(_ kind: Session.Kind) { algorithmSlot = countingSlot(kind.algorithm) }

    /// Starts one request: its opcode (for checks) and its vlf access, after the device's
    /// own limit on the request size (max_size in the config).
    @inline(__always)
    private func begin(_ frame: DataQueue.Frame, readable: Int, writable: Int) throws(Failure) -> RequestIO {
        opcode = frame.header.opcode
        guard readable + writable <= device.offer.limits.maxRequestSize, let chain else { throw .err }
        return RequestIO(
            chain: chain, vlfStart: frame.vlfStart, inputBounce: inputBounce, outputBounce: outputBounce,
            small: UnsafeMutableRawBufferPointer(rebasing: small[Self.slotsStart...]))
    }

    /// Runs `body` with this worker's copy of the live session `id` of `service`; INVSESS otherwise.
    /// A stream of requests on one session takes the first branch: no lock, no dictionary, and no
    /// reference counting (`recent` is borrowed for the call, which `contexts` outlives).
    @inline(__always)
    private func withSession(
        _ id: UInt64, service: Service, _ body: (WorkerSession) throws(Failure) -> Int
    ) throws(Failure) -> Int {
        if let recent,
            recent._withUnsafeGuaranteedRef({
                $0.id == id && device.sessions.generation == seenGeneration && $0.session.service == service
            })
        {
            let result = recent._withUnsafeGuaranteedRef { keyed -> Result<Int, Failure> in
                algorithmSlot = keyed.slot
                do throws(Failure) { return .success(try body(keyed)) } catch { return .failure(error) }
            }
            return try result.get()
        }
        return try body(lookUpSession(id, service: service))
    }

    private func lookUpSession(_ id: UInt64, service: Service) throws(Failure) -> WorkerSession {
        let generation = device.sessions.generation
        if generation != seenGeneration {
            // Sessions went away since this worker last looked: drop its copies of their
            // keyed contexts now rather than whenever the cache fills. Jobs still in the lanes may
            // use those keys (IPsec-MB reads HMAC states when a lane runs): the copies live on
            // until the lanes are flushed.
            recent = nil
            let lanesBusy = (multiBuffer?.pending ?? 0) > 0
            for (id, copy) in contexts where device.sessions.lookup(id) !== copy.session {
                contexts[id] = nil
                if lanesBusy { retiring.append(copy) }
            }
            seenGeneration = generation
        }
        let entry: WorkerSession
        if let cached = contexts[id] {
            entry = cached  // live at `seenGeneration`, which is current: no table lookup
        } else {
            guard let session = device.sessions.lookup(id), session.service == service else { throw .failed(.session) }
            do throws(CryptoError) {
                entry = try WorkerSession(
                    id: id, session: session, slot: countingSlot(session.algorithm), multiBuffer: multiBuffer)
            } catch { throw Failure(error) }
            contexts[id] = entry
        }
        recent = Unmanaged.passUnretained(entry)
        guard entry.session.service == service else { throw .failed(.session) }
        algorithmSlot = entry.slot
        return entry
    }

    /// The direction a CIPHER or AEAD opcode names.
    private var opcodeDirection: Op { opcode == .cipherEncrypt || opcode == .aeadEncrypt ? .encrypt : .decrypt }

    /// A session-mode CIPHER request: its op_type must match its session's kind (cipher or
    /// chaining) and its opcode the session's direction.
    private func runSymmetric(
        _ member: SymDataFlf.OpTypeFlf, _ vlf: SymDataVlf, session keyed: WorkerSession, io: RequestIO
    ) throws(Failure) -> Int {
        switch member {
        case .cipher(let flf):
            // The vlf is generated from the member: the same case.
            guard keyed.cipher != nil else {
                throw .failed(.cipherFields)  // cipher fields on a chaining session
            }
            guard case .cipher(let segments) = vlf else { throw .notsupp }
            guard keyed.direction == opcodeDirection else { throw .failed(.direction) }
            let dstLength = Int(flf.dstDataLen)
            if keyed.cbcKeys != nil,
                let deferred = try submitCBC(
                    keyed, iv: segments.iv, src: segments.srcData, dst: segments.dstData, dstLength: dstLength, io: io)
            {
                return deferred
            }
            return try runCipher(
                keyed.cipher!, iv: segments.iv, src: segments.srcData, dst: segments.dstData, dstLength: dstLength,
                io: io)
        case .algorithmChaining(let flf):
            guard keyed.chain != nil else {
                throw .failed(.chainFields)  // chaining fields on a cipher-only session
            }
            guard case .algorithmChaining(let segments) = vlf else { throw .notsupp }
            guard keyed.direction == opcodeDirection else { throw .failed(.direction) }
            let parameters = ChainParameters(flf)
            let parts = ChainSegments(segments)
            if keyed.cbcKeys != nil, keyed.hmacKeys != nil,
                let deferred = try submitCBCThenHMAC(keyed, flf: parameters, segments: parts, io: io)
            {
                return deferred
            }
            return try runChain(keyed.chain!, flf: parameters, segments: parts, io: io)
        case .unused:
            throw .notsupp
        }
    }

    private func runStatelessSymmetric(
        _ flf: SymDataFlfStateless, _ vlf: SymDataVlfStateless,
        io: RequestIO
    ) throws(Failure) -> Int {
        let features = device.features
        switch (flf.opTypeFlf, vlf) {
        case (.cipher(let member), .cipher(let segments)):
            guard member.sessPara.op == opcodeDirection else { throw .failed(.direction) }
            let key = try io.input(segments.cipherKey, copy: true)
            let session: CipherSession
            do throws(SessionError) {
                session = try device.factory.cipher(member.sessPara.algo, key: key, op: member.sessPara.op)
            } catch { throw Failure(error, features) }
            counting(.cipher(session))
            let context: any CipherContext
            do throws(CryptoError) { context = try session.makeContext() } catch { throw Failure(error) }
            return try runCipher(
                context, iv: segments.iv, src: segments.srcData, dst: segments.dstData,
                dstLength: Int(member.dstDataLen), io: io)
        case (.algorithmChaining(let member), .algorithmChaining(let segments)):
            let para = member.sessPara
            guard para.cipher.op == opcodeDirection else { throw .failed(.direction) }
            let cipherKey = try io.input(segments.cipherKey, copy: true)
            let authKey = try io.input(segments.authKey, copy: true, slot: 1)
            let cipherHeader = CipherSessionFlf(algo: para.cipher.algo, keyLen: para.cipher.keyLen, op: para.cipher.op)
            let session: ChainSession
            do throws(SessionError) {
                session = try device.factory.chain(
                    order: para.algChainOrder, cipher: cipherHeader, hashMode: para.hash.hashMode,
                    authAlgorithm: para.hash.algo, resultLength: member.hashResultLen,
                    cipherKey: cipherKey, authKey: authKey)
            } catch { throw Failure(error, features) }
            counting(.chain(session))
            let context: ChainContext
            do throws(CryptoError) { context = try session.makeContext() } catch { throw Failure(error) }
            return try runChain(context, flf: ChainParameters(member), segments: ChainSegments(segments), io: io)
        default:
            throw .notsupp
        }
    }

    @inline(__always)
    private func runCipher(
        _ cipher: any CipherContext, iv: VlfSegment, src: VlfSegment, dst: VlfSegment, dstLength: Int,
        io: RequestIO
    ) throws(Failure) -> Int {
        guard dstLength >= src.length else { throw .failed(.cipherFields) }
        let ivBytes = try io.input(iv, copy: true)
        let output = try io.outputBuffer(dst.offset, count: src.length)
        let input = try io.input(src, avoiding: output)
        do throws(CryptoError) { try cipher.run(iv: ivBytes, input: input, output: output) } catch {
            throw Failure(error)
        }
        try io.commit(output, at: dst.offset)
        return dst.offset + src.length
    }

    struct ChainParameters {
        var cipherStart: Int, cipherLength: Int, hashStart: Int, hashLength: Int, resultLength: Int, dstLength: Int
        init(_ flf: AlgChainDataFlf) {
            cipherStart = Int(flf.cipherStartSrcOffset)
            cipherLength = Int(flf.lenToCipher)
            hashStart = Int(flf.hashStartSrcOffset)
            hashLength = Int(flf.lenToHash)
            resultLength = Int(flf.hashResultLen)
            dstLength = Int(flf.dstDataLen)
        }
        init(_ flf: AlgChainDataFlfStateless) {
            cipherStart = Int(flf.cipherStartSrcOffset)
            cipherLength = Int(flf.lenToCipher)
            hashStart = Int(flf.hashStartSrcOffset)
            hashLength = Int(flf.lenToHash)
            resultLength = Int(flf.hashResultLen)
            dstLength = Int(flf.dstDataLen)
        }
    }

    struct ChainSegments {
        var iv, src, aad, dst, hashResult: VlfSegment
        init(_ vlf: AlgChainDataVlf) {
            (iv, src, aad, dst, hashResult) = (vlf.iv, vlf.srcData, vlf.aad, vlf.dstData, vlf.hashResult)
        }
        init(_ vlf: AlgChainDataVlfStateless) {
            (iv, src, aad, dst, hashResult) = (vlf.iv, vlf.srcData, vlf.aad, vlf.dstData, vlf.hashResult)
        }
    }

    private func runChain(_ chain: ChainContext, flf: ChainParameters, segments: ChainSegments, io: RequestIO)
        throws(Failure) -> Int
    {
        let source = segments.src.length
        // The result is the session's length, as for a hash or MAC request: the request's
        // hash_result_len only has to leave room for it.
        let resultLength = chain.resultLength
        guard flf.cipherStart <= source, flf.cipherLength <= source - flf.cipherStart,
            flf.hashStart <= source, flf.hashLength <= source - flf.hashStart,
            flf.dstLength >= source, flf.resultLength >= resultLength,
            segments.hashResult.length >= resultLength
        else { throw .failed(.chainFields) }
        let ivBytes = try io.input(segments.iv, copy: true)
        // The seed: check aad_len > 0 before parsing the AAD.
        let aad =
            segments.aad.length > 0
            ? try io.input(segments.aad, copy: true, slot: 1) : UnsafeRawBufferPointer(start: nil, count: 0)
        let output = try io.outputBuffer(segments.dst.offset, count: source)
        let input = try io.input(segments.src, avoiding: output)
        let result = try io.resultBuffer(count: resultLength)
        do throws(CryptoError) {
            try chain.run(
                iv: ivBytes, src: input, cipherRange: flf.cipherStart..<flf.cipherStart + flf.cipherLength,
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

    private func runDigest(context: Digest, resultSpace: Int, src: VlfSegment, result: VlfSegment, io: RequestIO)
        throws(Failure) -> Int
    {
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

    /// A session-mode ENCRYPT, DECRYPT or SIGN (the opcode says which).
    private func akcipherData(_ frame: DataQueue.Frame, _ vlf: AkcipherDataVlf) throws(Failure) -> Int {
        try akcipherSession(frame, vlf.readableLength, vlf.writableLength) { (context, io) throws(Failure) in
            try runAkcipher(context, src: vlf.srcData, dst: vlf.dstData, io: io)
        }
    }

    /// A stateless ENCRYPT, DECRYPT or SIGN.
    private func akcipherData(
        _ frame: DataQueue.Frame, _ flf: AkcipherDataFlfStateless, _ vlf: AkcipherDataVlfStateless
    )
        throws(Failure) -> Int
    {
        try akcipherStateless(frame, flf.sessPara, key: vlf.akcipherKey, vlf.readableLength, vlf.writableLength) {
            (context, io) throws(Failure) in try runAkcipher(context, src: vlf.srcData, dst: vlf.dstData, io: io)
        }
    }

    /// A session-mode AKCIPHER request: its session, then `run` with this worker's context.
    private func akcipherSession(
        _ frame: DataQueue.Frame, _ readable: Int, _ writable: Int,
        _ run: (AkcipherContext, RequestIO) throws(Failure) -> Int
    ) throws(Failure) -> Int {
        let io = try begin(frame, readable: readable, writable: writable)
        return try withSession(frame.header.sessionId, service: .akcipher) { keyed throws(Failure) in
            guard let context = keyed.akcipher else { throw .failed(.session) }
            return try run(context, io)
        }
    }

    /// A stateless AKCIPHER request: a session keyed for this request only, from its parameters and
    /// key (bounded by the AKCIPHER key limit before the copy; zeroized after).
    private func akcipherStateless(
        _ frame: DataQueue.Frame, _ para: AkcipherSessPara, key segment: VlfSegment,
        _ readable: Int, _ writable: Int,
        _ run: (AkcipherContext, RequestIO) throws(Failure) -> Int
    ) throws(Failure) -> Int {
        let io = try begin(frame, readable: readable, writable: writable)
        guard segment.length <= device.offer.limits.maxAkcipherKeyLength else { throw .err }
        var key = [UInt8](repeating: 0, count: segment.length)
        defer { key.withUnsafeMutableBytes { zeroize($0) } }
        guard key.withUnsafeMutableBytes({ io.chain.read(at: io.vlfStart + segment.offset, into: $0) }) else {
            throw .err
        }
        let factory = device.factory
        let made: Result<AkcipherSession, SessionError> = key.withUnsafeBytes { raw in
            do throws(SessionError) {
                return .success(
                    try factory.akcipher(para.algo, keyType: para.keyType, parameters: para.u.parameters, key: raw))
            } catch {
                return .failure(error)
            }
        }
        let session: AkcipherSession
        switch made {
        case .success(let value): session = value
        case .failure(.invalidKey): throw .failed(.akcipherKey(para.algo, para.keyType))
        case .failure(let error): throw Failure(error, device.features)
        }
        counting(.akcipher(session))
        let context: AkcipherContext
        do throws(CryptoError) { context = try session.makeContext() } catch { throw Failure(error) }
        return try run(context, io)
    }

    /// ENCRYPT, DECRYPT or SIGN (the opcode says which): the result goes at the start of dst_data and
    /// the written length says how long it is (Linux reads `used_len - 1`).
    private func runAkcipher(_ context: AkcipherContext, src: VlfSegment, dst: VlfSegment, io: RequestIO)
        throws(Failure) -> Int
    {
        if case .rsa(.raw, _) = context.session.parameters {
            if opcode == .akcipherSign { throw .failed(.rsaRawSignature) }
            // RAW pads a short input itself; a longer one is no k-byte integer.
            if src.length > context.session.maxOutputLength { throw .failed(.rsaRawInput) }
        }
        let output = try io.outputBuffer(dst.offset, count: dst.length)
        let input = try io.input(src, avoiding: output)
        let written: Int
        do throws(CryptoError) {
            switch opcode {
            case .akcipherEncrypt: written = try context.encrypt(input, into: output)
            case .akcipherDecrypt: written = try context.decrypt(input, into: output)
            case .akcipherSign: written = try context.sign(input, into: output)
            default: throw .unsupported
            }
        } catch {
            throw Failure(error)
        }
        try io.commit(UnsafeMutableRawBufferPointer(rebasing: output[0..<written]), at: dst.offset)
        return dst.offset + written
    }

    /// VERIFY: signature and signed data are both device-readable (Spec/akcipher.yaml); nothing but the
    /// status is written, KEY_REJECTED when the signature does not verify.
    private func runVerify(
        _ context: AkcipherContext, signature: VlfSegment, message: VlfSegment,
        io: RequestIO
    ) throws(Failure) -> Int {
        if case .rsa(.raw, _) = context.session.parameters { throw .failed(.rsaRawSignature) }
        let signatureBytes = try io.input(signature)
        let messageBytes: UnsafeRawBufferPointer
        if signatureBytes.baseAddress == UnsafeRawPointer(inputBounce.baseAddress) && message.length > 0 {
            // The signature took the start of the input bounce buffer; the signed data goes after it
            // (both together are at most max_size, which the buffer holds).
            let rest = UnsafeMutableRawBufferPointer(
                rebasing: inputBounce[signature.length..<(signature.length + message.length)])
            guard io.chain.read(at: io.vlfStart + message.offset, into: rest) else { throw .err }
            messageBytes = UnsafeRawBufferPointer(rest)
        } else {
            messageBytes = try io.input(message)
        }
        do throws(CryptoError) { try context.verify(signature: signatureBytes, message: messageBytes) } catch {
            throw Failure(error)
        }
        return 0
    }

    private func runAead(
        _ context: AeadContext, iv: VlfSegment, aad: VlfSegment, src: VlfSegment, dst: VlfSegment,
        io: RequestIO
    ) throws(Failure) -> Int {
        let session = context.session
        let encrypt = session.direction == .encrypt
        let outputLength = encrypt ? src.length + session.tagLength : src.length - session.tagLength
        guard outputLength >= 0, dst.length >= outputLength else { throw .err }
        // CCM, whose IV layout the seed leaves ambiguous, is never offered (Spec/constants.yaml).
        let ivBytes = try io.input(iv, copy: true)
        let aadBytes =
            aad.length > 0 ? try io.input(aad, copy: true, slot: 1) : UnsafeRawBufferPointer(start: nil, count: 0)
        let output = try io.outputBuffer(dst.offset, count: outputLength)
        let input = try io.input(src, avoiding: output)
        do throws(CryptoError) { try context.run(iv: ivBytes, aad: aadBytes, input: input, output: output) } catch {
            throw Failure(error)
        }
        try io.commit(output, at: dst.offset)
        return dst.offset + outputLength
    }
}

/// The device's side of every data request the spec defines: the generated
/// `DataQueue.dispatch` has parsed and checked header, fixed part and framing.
extension DataWorker: DataQueueHandler {
    public func refuse(_ violation: RuleViolation, frame: DataQueue.Frame?) -> Failure {
        if let frame { opcode = frame.header.opcode }
        return Failure(status: violation.status ?? .err, rule: violation.rule)
    }

    /// A request of a service the device does not offer (IPsec, Virtio 1.4): NOTSUPP, "operation or
    /// algorithm is unsupported", after the same size limit as every request.
    private func unsupported(_ frame: DataQueue.Frame, readable: Int, writable: Int) throws(Failure) -> Int {
        _ = try begin(frame, readable: readable, writable: writable)
        throw .notsupp
    }

    public func akcipherEncrypt(_ frame: DataQueue.Frame, _ flf: AkcipherDataFlf, _ vlf: AkcipherDataVlf)
        throws(Failure) -> Int
    {
        try akcipherData(frame, vlf)
    }

    public func akcipherDecrypt(_ frame: DataQueue.Frame, _ flf: AkcipherDataFlf, _ vlf: AkcipherDataVlf)
        throws(Failure) -> Int
    {
        try akcipherData(frame, vlf)
    }

    public func akcipherSign(_ frame: DataQueue.Frame, _ flf: AkcipherDataFlf, _ vlf: AkcipherDataVlf) throws(Failure)
        -> Int
    {
        try akcipherData(frame, vlf)
    }

    public func akcipherVerify(
        _ frame: DataQueue.Frame, _ flf: AkcipherDataFlf,
        _ vlf: AkcipherVerifyDataVlf
    ) throws(Failure) -> Int {
        try akcipherSession(frame, vlf.readableLength, vlf.writableLength) { (context, io) throws(Failure) in
            try runVerify(context, signature: vlf.signature, message: vlf.signedData, io: io)
        }
    }

    public func akcipherEncryptStateless(
        _ frame: DataQueue.Frame, _ flf: AkcipherDataFlfStateless,
        _ vlf: AkcipherDataVlfStateless
    ) throws(Failure) -> Int {
        try akcipherData(frame, flf, vlf)
    }

    public func akcipherDecryptStateless(
        _ frame: DataQueue.Frame, _ flf: AkcipherDataFlfStateless,
        _ vlf: AkcipherDataVlfStateless
    ) throws(Failure) -> Int {
        try akcipherData(frame, flf, vlf)
    }

    public func akcipherSignStateless(
        _ frame: DataQueue.Frame, _ flf: AkcipherDataFlfStateless,
        _ vlf: AkcipherDataVlfStateless
    ) throws(Failure) -> Int {
        try akcipherData(frame, flf, vlf)
    }

    public func akcipherVerifyStateless(
        _ frame: DataQueue.Frame, _ flf: AkcipherDataFlfStateless,
        _ vlf: AkcipherVerifyDataVlfStateless
    ) throws(Failure) -> Int {
        try akcipherStateless(frame, flf.sessPara, key: vlf.akcipherKey, vlf.readableLength, vlf.writableLength) {
            (context, io) throws(Failure) in
            try runVerify(context, signature: vlf.signature, message: vlf.signedData, io: io)
        }
    }

    public func ipsecOutbound(_ frame: DataQueue.Frame, _ flf: IpsecDataFlf, _ vlf: IpsecDataVlf) throws(Failure) -> Int
    {
        try unsupported(frame, readable: vlf.readableLength, writable: vlf.writableLength)
    }

    public func ipsecInbound(_ frame: DataQueue.Frame, _ flf: IpsecDataFlf, _ vlf: IpsecDataVlf) throws(Failure) -> Int
    {
        try unsupported(frame, readable: vlf.readableLength, writable: vlf.writableLength)
    }

    public func cipherEncrypt(_ frame: DataQueue.Frame, _ flf: SymDataFlf, _ vlf: SymDataVlf) throws(Failure) -> Int {
        try symmetric(frame, flf, vlf)
    }

    public func cipherDecrypt(_ frame: DataQueue.Frame, _ flf: SymDataFlf, _ vlf: SymDataVlf) throws(Failure) -> Int {
        try symmetric(frame, flf, vlf)
    }

    public func cipherEncryptStateless(
        _ frame: DataQueue.Frame, _ flf: SymDataFlfStateless,
        _ vlf: SymDataVlfStateless
    ) throws(Failure) -> Int {
        try runStatelessSymmetric(
            flf, vlf, io: begin(frame, readable: vlf.readableLength, writable: vlf.writableLength))
    }

    public func cipherDecryptStateless(
        _ frame: DataQueue.Frame, _ flf: SymDataFlfStateless,
        _ vlf: SymDataVlfStateless
    ) throws(Failure) -> Int {
        try runStatelessSymmetric(
            flf, vlf, io: begin(frame, readable: vlf.readableLength, writable: vlf.writableLength))
    }

    @inline(__always)
    private func symmetric(_ frame: DataQueue.Frame, _ flf: SymDataFlf, _ vlf: SymDataVlf) throws(Failure) -> Int {
        let io = try begin(frame, readable: vlf.readableLength, writable: vlf.writableLength)
        return try withSession(frame.header.sessionId, service: .cipher) { keyed throws(Failure) in
            try runSymmetric(flf.opTypeFlf, vlf, session: keyed, io: io)
        }
    }

    public func hash(_ frame: DataQueue.Frame, _ flf: HashDataFlf, _ vlf: HashDataVlf) throws(Failure) -> Int {
        let io = try begin(frame, readable: vlf.readableLength, writable: vlf.writableLength)
        return try withSession(frame.header.sessionId, service: .hash) { keyed throws(Failure) in
            guard let context = keyed.hash else { throw .failed(.session) }
            return try runDigest(
                context: .hash(context), resultSpace: Int(flf.hashResultLen), src: vlf.srcData,
                result: vlf.hashResult, io: io)
        }
    }

    public func hashStateless(
        _ frame: DataQueue.Frame, _ flf: HashDataFlfStateless,
        _ vlf: HashDataVlfStateless
    ) throws(Failure) -> Int {
        let io = try begin(frame, readable: vlf.readableLength, writable: vlf.writableLength)
        let session: HashSession
        do throws(SessionError) {
            session = try device.factory.hash(flf.sessPara.algo, resultLength: flf.hashResultLen)
        } catch { throw Failure(error, device.features) }
        counting(.hash(session))
        let context: HashContext
        do throws(CryptoError) { context = try session.makeContext() } catch { throw Failure(error) }
        return try runDigest(
            context: .hash(context), resultSpace: Int(flf.hashResultLen), src: vlf.srcData,
            result: vlf.hashResult, io: io)
    }

    public func mac(_ frame: DataQueue.Frame, _ flf: MacDataFlf, _ vlf: MacDataVlf) throws(Failure) -> Int {
        let io = try begin(frame, readable: vlf.readableLength, writable: vlf.writableLength)
        return try withSession(frame.header.sessionId, service: .mac) { keyed throws(Failure) in
            guard keyed.mac != nil else { throw .failed(.session) }
            if keyed.hmacKeys != nil,
                let deferred = try submitHMAC(
                    keyed, resultSpace: Int(flf.hdr.hashResultLen), src: vlf.srcData, result: vlf.hashResult, io: io)
            {
                return deferred
            }
            return try runDigest(
                context: .mac(keyed.mac!), resultSpace: Int(flf.hdr.hashResultLen), src: vlf.srcData,
                result: vlf.hashResult, io: io)
        }
    }

    public func macStateless(
        _ frame: DataQueue.Frame, _ flf: MacDataFlfStateless,
        _ vlf: MacDataVlfStateless
    ) throws(Failure) -> Int {
        let io = try begin(frame, readable: vlf.readableLength, writable: vlf.writableLength)
        let key = try io.input(vlf.authKey, copy: true)
        let session: MacSession
        do throws(SessionError) {
            session = try device.factory.mac(flf.sessPara.algo, key: key, resultLength: flf.hashResultLen)
        } catch { throw Failure(error, device.features) }
        counting(.mac(session))
        let context: MacContext
        do throws(CryptoError) { context = try session.makeContext() } catch { throw Failure(error) }
        return try runDigest(
            context: .mac(context), resultSpace: Int(flf.hashResultLen), src: vlf.srcData,
            result: vlf.hashResult, io: io)
    }

    public func aeadEncrypt(_ frame: DataQueue.Frame, _ flf: AeadDataFlf, _ vlf: AeadDataVlf) throws(Failure) -> Int {
        try aead(frame, flf, vlf)
    }

    public func aeadDecrypt(_ frame: DataQueue.Frame, _ flf: AeadDataFlf, _ vlf: AeadDataVlf) throws(Failure) -> Int {
        try aead(frame, flf, vlf)
    }

    private func aead(_ frame: DataQueue.Frame, _ flf: AeadDataFlf, _ vlf: AeadDataVlf) throws(Failure) -> Int {
        let io = try begin(frame, readable: vlf.readableLength, writable: vlf.writableLength)
        return try withSession(frame.header.sessionId, service: .aead) { keyed throws(Failure) in
            guard let aead = keyed.aead?.session else { throw .failed(.session) }
            guard aead.direction == opcodeDirection else { throw .failed(.direction) }
            guard Int(flf.tagLen) == aead.tagLength else { throw .err }
            if keyed.gcmKeys != nil,
                let deferred = try submitGCM(
                    keyed, iv: vlf.iv, aad: vlf.aad, src: vlf.srcData, dst: vlf.dstData, io: io)
            {
                return deferred
            }
            return try runAead(keyed.aead!, iv: vlf.iv, aad: vlf.aad, src: vlf.srcData, dst: vlf.dstData, io: io)
        }
    }

    public func aeadEncryptStateless(
        _ frame: DataQueue.Frame, _ flf: AeadDataFlfStateless,
        _ vlf: AeadDataVlfStateless
    ) throws(Failure) -> Int {
        try aeadStateless(frame, flf, vlf)
    }

    public func aeadDecryptStateless(
        _ frame: DataQueue.Frame, _ flf: AeadDataFlfStateless,
        _ vlf: AeadDataVlfStateless
    ) throws(Failure) -> Int {
        try aeadStateless(frame, flf, vlf)
    }

    private func aeadStateless(
        _ frame: DataQueue.Frame, _ flf: AeadDataFlfStateless,
        _ vlf: AeadDataVlfStateless
    ) throws(Failure) -> Int {
        let io = try begin(frame, readable: vlf.readableLength, writable: vlf.writableLength)
        guard flf.sessPara.op == opcodeDirection else { throw .failed(.direction) }
        let key = try io.input(vlf.key, copy: true)
        let session: AeadSession
        do throws(SessionError) {
            session = try device.factory.aead(flf.sessPara.algo, key: key, tagLength: flf.tagLen, op: opcodeDirection)
        } catch { throw Failure(error, device.features) }
        counting(.aead(session))
        let context: AeadContext
        do throws(CryptoError) { context = try session.makeContext() } catch { throw Failure(error) }
        return try runAead(
            context, iv: vlf.iv, aad: vlf.aad, src: vlf.srcData,
            dst: vlf.dstData, io: io)
    }
}

extension DescriptorChain: RequestBytes {}
extension ChainBuffers: RequestBytes {}
