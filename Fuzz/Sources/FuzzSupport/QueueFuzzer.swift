import Foundation
import VirtQueue
import VirtioCryptoDevice
import VirtioCryptoDriver
import VirtioCryptoEngines
import VirtioCryptoWire

/// Which queue a target aims its raw, framed and hostile chains at. Both targets create sessions
/// on the control queue and use them on the data queue, so each reaches the other's state.
public enum QueueFocus: Sendable {
    case control, data
}

/// One input drives one device from power-on to teardown: the first byte picks the spec revision,
/// the ring size, event index and the features the driver accepts; then each step takes an op byte
/// and the bytes that step reads (`FuzzInput`), until the input runs out. Steps build requests the
/// way a driver does (typed fixed parts from the generated codecs, algorithms from the generated
/// and offered lists, variable-length parts sized by the generated framing), or raw chains, or
/// hostile descriptors and ring indices. After every chain the device handles, it must have
/// claimed no more bytes than the chain can take, written nothing device-readable, answered with a
/// status its revision defines and kept its session table within its limit; a data request the
/// builders mark runs again through another chain (in place where it has a destination no longer
/// than its source) and must get the same answer; at the end every answered request is counted
/// once. Batch steps (BatchFuzzing.swift) serve data requests through a worker with IPsec-MB's lanes,
/// which may answer them later, and check those answers against a lanes-off worker's.
public final class QueueFuzzer {
    /// Small enough that inputs reach them: a full session table, the largest request.
    public static let limits: DeviceLimits = {
        var limits = DeviceLimits()
        limits.maxSessions = 8
        limits.maxRequestSize = 16 << 10
        return limits
    }()

    /// One offer per revision; probing keys every algorithm, so it is done once per process.
    public static let offers: [DeviceOffer] = {
        let capabilities = EngineCapabilities.probe()
        return SpecRevision.allCases.map { DeviceOffer(capabilities: capabilities, limits: limits, revision: $0) }
    }()

    /// The setup byte's revision bits: 0 (most seeds) is the newest revision.
    static let revisionChoices: [SpecRevision] = [.newest, .v23, .v1_2, .newest]
    static let ringSizes: [UInt16] = [16, 8, 4, 2, 32, 64, 128, 256]
    /// Bytes one chain's buffers may take: both rings' data areas hold it with room for alignment.
    static let budget = 36 << 10
    static let maxDescriptors = 64
    static let maxSteps = 24
    /// Lengths at the edges: around a block, around the request limit, far past it.
    static let edgeLengths: [Int] = [0, 1, 15, 16, 17, 255, 256, 4096, 16 << 10, (16 << 10) + 1, 1 << 20, 0x7fff_ffff]

    /// `FUZZ_TRACE=1` prints each request's opcode and the status it got (to see what an input or a
    /// seed does: `FUZZ_TRACE=1 .build-fuzz/release/FuzzDataQueue -runs=1 <file>`).
    static let trace = ProcessInfo.processInfo.environment["FUZZ_TRACE"] != nil

    // The fuzzer is single-threaded; these are reused by every input.
    static let memory = FuzzMemory(lowSize: 192 << 10, highSize: 16 << 10)
    nonisolated(unsafe) static let chain = DescriptorChain()
    /// Where batch steps copy the data ring before the lanes worker sees a chain, and the chain the
    /// lanes-off worker answers there.
    static let mirror = FuzzMemory(lowSize: 192 << 10, highSize: 16 << 10)
    nonisolated(unsafe) static let mirrorChain = DescriptorChain()

    let focus: QueueFocus
    var input: FuzzInput
    let offer: DeviceOffer
    let device: VirtioCryptoDevice
    let worker: DataWorker
    let controlRing: DriverRing
    let dataRing: DriverRing
    let controlQueue: SplitQueue
    let dataQueue: SplitQueue
    /// Sessions the device said it created, for later requests and destroys.
    var sessions: [SessionRecord] = []
    /// Where the next chain's descriptors start in each ring (chains move around the table).
    var nextDescriptor: [Int] = [0, 0]
    /// Chains the device handled (walked): each must be counted under exactly one status.
    var handled = 0
    /// Set by the data builders: the request then runs again with its destination over its source.
    var inPlace = false
    /// The worker with IPsec-MB's lanes that batch steps serve through, made on an input's first batch
    /// (it is the device's second data worker: `worker`, lanes off, answers the copies).
    lazy var batchWorker = device.makeDataWorker(queue: 1, multiBuffer: true)
    /// The data ring's layout over `mirror`.
    lazy var mirrorQueue: SplitQueue = {
        do {
            return try SplitQueue(memory: Self.mirror, layout: dataRing.layout, eventIndex: dataQueue.eventIndex)
        } catch {
            fatalError("the mirror does not hold the data ring: \(error)")
        }
    }()
    /// The batch step running, with its chains served and not answered yet (nil outside one).
    var batch: Batch?

    struct SessionRecord {
        var id: UInt64
        var service: Service
        var chained = false
        var cipher: CipherAlgorithm = .noCipher
        var op: Op = .encrypt
    }

    /// Runs one input on a fresh device; everything it made is gone when this returns.
    public static func run(_ bytes: UnsafeRawBufferPointer, focus: QueueFocus) {
        memory.clear()
        var input = FuzzInput(bytes)
        let setup = input.u8()
        let revision = revisionChoices[Int(setup & 3)]
        let offer = offers[SpecRevision.allCases.firstIndex(of: revision)!]
        let size = ringSizes[Int(setup >> 2) & 7]
        let eventIndex = setup & 0x20 != 0
        var features: CryptoFeatures
        switch setup >> 6 {
        case 0: features = offer.features
        case 1: features = []
        case 2: features = offer.features.intersection(.revision1)
        default: features = CryptoFeatures(rawValue: UInt64(input.u8()))
        }
        let fuzzer = QueueFuzzer(focus: focus, input: input, offer: offer, size: size, eventIndex: eventIndex)
        // Features the offer lacks are refused and the device keeps none: a driver may try.
        fuzzer.device.negotiate(features)
        var steps = 0
        while !fuzzer.input.isEmpty, steps < maxSteps {
            fuzzer.step()
            steps += 1
        }
        fuzzer.checkCounters()
    }

    /// The device counts every request it answered once, under the status it answered.
    func checkCounters() {
        let counted = (0..<UInt32(8)).reduce(0) { $0 + device.statistics.count(Status(rawValue: $1)) }
        guard counted == handled else { fatalError("\(handled) requests answered, \(counted) counted by status") }
    }

    init(focus: QueueFocus, input: FuzzInput, offer: DeviceOffer, size: UInt16, eventIndex: Bool) {
        self.focus = focus
        self.input = input
        self.offer = offer
        device = VirtioCryptoDevice(offer: offer)
        worker = device.makeDataWorker()
        let low = Self.memory.low
        let split = 64 << 10
        controlRing = DriverRing(
            size: size, region: UnsafeMutableRawBufferPointer(rebasing: low[0..<split]), guestBase: FuzzMemory.lowBase)
        dataRing = DriverRing(
            size: size, region: UnsafeMutableRawBufferPointer(rebasing: low[split...]),
            guestBase: FuzzMemory.lowBase + UInt64(split))
        do {
            controlQueue = try SplitQueue(memory: Self.memory, layout: controlRing.layout, eventIndex: eventIndex)
            dataQueue = try SplitQueue(memory: Self.memory, layout: dataRing.layout, eventIndex: eventIndex)
        } catch {
            fatalError("the fuzzer's own rings do not fit its memory: \(error)")
        }
    }

    // MARK: steps

    enum Step: Equatable {
        case createSession, destroySession, sessionRequest, statelessRequest
        case framed(QueueKind)
        case raw(QueueKind)
        case ring(QueueKind)
        /// Sub-steps whose data requests go through the batch path (`batchSteps`), then the batch ends.
        case batch
        /// Within a batch: the lanes answer everything they hold.
        case finishBatch
    }

    /// The op byte's low three bits choose the step; the focus decides how often each comes up. Both
    /// tables frame raw heads on both queues (`framed`): that is how seeds create sessions and use them.
    /// Only the data table has batches.
    static let controlSteps: [Step] = [
        .createSession, .createSession, .destroySession, .framed(.control), .raw(.control), .ring(.control),
        .sessionRequest, .framed(.data),
    ]
    static let dataSteps: [Step] = [
        .createSession, .sessionRequest, .framed(.control), .statelessRequest, .framed(.data), .raw(.data),
        .ring(.data), .batch,
    ]
    /// A batch's sub-steps: data requests (served through the lanes worker, or handled), sessions made
    /// and destroyed between them, and the end of a batch at a point the input picks.
    static let batchSteps: [Step] = [
        .sessionRequest, .framed(.data), .sessionRequest, .statelessRequest, .createSession, .destroySession,
        .framed(.control), .finishBatch,
    ]

    /// The op byte that runs `step` in `focus`'s table, with chain shape bits `shape`.
    static func opByte(_ step: Step, focus: QueueFocus, shape: UInt8 = 0) -> UInt8 {
        let table = focus == .control ? controlSteps : dataSteps
        guard let index = table.firstIndex(of: step) else { fatalError("no step \(step)") }
        return UInt8(index) | shape << 3
    }

    /// The op byte that runs `step` within a batch.
    static func batchOpByte(_ step: Step, shape: UInt8 = 0) -> UInt8 {
        guard let index = batchSteps.firstIndex(of: step) else { fatalError("no batch step \(step)") }
        return UInt8(index) | shape << 3
    }

    static let controlOpcodes = Opcode.known.filter { $0.queue == .control }
    static let dataOpcodes = Opcode.known.filter { $0.queue == .data }

    func step() {
        let op = input.u8()
        run((focus == .control ? Self.controlSteps : Self.dataSteps)[Int(op & 7)], shape: ChainShape(op >> 3))
    }

    func run(_ step: Step, shape: ChainShape) {
        switch step {
        case .createSession: submitFramed(.control, head: buildCreateSession(), shape: shape)
        case .destroySession: submitFramed(.control, head: buildDestroySession(), shape: shape)
        case .sessionRequest: submitFramed(.data, head: buildSessionRequest(), shape: shape)
        case .statelessRequest: submitFramed(.data, head: buildStatelessRequest(), shape: shape)
        case .framed(let kind): submitFramed(kind, head: framedHead(kind), shape: shape)
        case .raw(let kind): submitRaw(kind, shape: shape)
        case .ring(let kind): hostileRing(kind)
        case .batch: runBatch()
        case .finishBatch: finishBatch()
        }
    }

    var features: CryptoFeatures { device.features }
    var revision: SpecRevision { offer.revision }

    /// The layout the negotiated features give a session request; flipped when `wrong`.
    func sessionLayout(wrong: Bool) -> RequestLayout {
        (features.contains(.revision1) != wrong) ? .revision1 : .legacy
    }

    // MARK: choices

    /// Mostly what the device offers, sometimes anything the spec defines, sometimes any small value.
    func choose<T>(_ offered: [T], _ known: [T], raw: (UInt32) -> T) -> T {
        let byte = input.u8()
        switch byte >> 6 {
        case 0, 1: return offered.isEmpty ? known[Int(byte) % known.count] : offered[Int(byte) % offered.count]
        case 2: return known[Int(byte) % known.count]
        default: return raw(UInt32(input.u8()))
        }
    }

    func cipherAlgorithm() -> CipherAlgorithm {
        choose(offer.ciphers, CipherAlgorithm.known, raw: CipherAlgorithm.init)
    }
    func hashAlgorithm() -> HashAlgorithm { choose(offer.hashes, HashAlgorithm.known, raw: HashAlgorithm.init) }
    func macAlgorithm() -> MacAlgorithm { choose(offer.macs, MacAlgorithm.known, raw: MacAlgorithm.init) }
    func aeadAlgorithm() -> AeadAlgorithm { choose(offer.aeads, AeadAlgorithm.known, raw: AeadAlgorithm.init) }
    func akcipherAlgorithm() -> AkcipherAlgorithm {
        choose(offer.akciphers, AkcipherAlgorithm.known, raw: AkcipherAlgorithm.init)
    }
    func op() -> Op { choose(Op.known, Op.known, raw: Op.init) }

    /// A length from `valid` (the engine's), or any byte's value.
    func length(_ valid: [Int]) -> UInt32 {
        let byte = input.u8()
        if byte < 0xc0, !valid.isEmpty { return UInt32(valid[Int(byte) % valid.count]) }
        return UInt32(input.u8())
    }

    /// A data length: small, whole blocks, up to the request limit, or an edge.
    func dataLength(block: Int = 16) -> UInt32 {
        let byte = input.u8()
        switch byte >> 6 {
        case 0: return UInt32(byte & 0x3f)
        case 1: return UInt32(block * Int(byte & 0x3f))
        case 2: return UInt32(input.u8()) | UInt32(byte & 0x3f) << 8
        default: return UInt32(truncatingIfNeeded: Self.edgeLengths[Int(byte & 0x3f) % Self.edgeLengths.count])
        }
    }

    /// A value within `0...total` mostly (offsets and lengths inside a source), or an edge.
    func within(_ total: UInt32) -> UInt32 {
        let byte = input.u8()
        if byte < 0xc0 { return UInt32(byte) % (total &+ 1 == 0 ? UInt32.max : total &+ 1) }
        return dataLength()
    }

    func cipherKeyLength(_ algorithm: CipherAlgorithm) -> UInt32 {
        length(CipherSession.parameters(algorithm)?.keyLengths ?? [])
    }

    func ivLength(_ algorithm: CipherAlgorithm) -> UInt32 {
        length([CipherSession.parameters(algorithm)?.ivLength ?? 0])
    }

    func hashResultLength(_ algorithm: HashAlgorithm) -> UInt32 { length([HashSession.digestLength(algorithm) ?? 32]) }
    func macResultLength(_ algorithm: MacAlgorithm) -> UInt32 { length([MacSession.macLength(algorithm) ?? 16]) }
    func macKeyLength(_ algorithm: MacAlgorithm) -> UInt32 {
        let range = MacSession.keyLengths(algorithm) ?? 16...16
        return length([range.lowerBound, min(range.upperBound, 64), range.upperBound])
    }

    func session() -> SessionRecord? {
        let byte = input.u8()
        guard !sessions.isEmpty, byte & 0x80 == 0 else { return nil }
        return sessions[Int(byte) % sessions.count]
    }

    // MARK: control requests

    static let createOpcodes: [Opcode] = [
        .cipherCreateSession, .cipherCreateSession, .hashCreateSession, .macCreateSession, .aeadCreateSession,
        .akcipherCreateSession,
    ]

    /// A create-session request as a driver builds it. The service byte: bits 0-2 the service (cipher,
    /// chain, hash, mac, aead, akcipher; 6 and 7 any control opcode), bit 6 puts the algorithm in the
    /// header's `algo`, bit 7 uses the layout the features do not give.
    func buildCreateSession() -> [UInt8] {
        let choice = input.u8()
        let layout = sessionLayout(wrong: choice & 0x80 != 0)
        let service = Int(choice & 7)
        let opcode =
            service < 6 ? Self.createOpcodes[service] : input.pick(Self.controlOpcodes)
        func head(_ flf: some WireStruct, algo: UInt32) -> [UInt8] {
            RequestBuilder.control(opcode: opcode, algo: choice & 0x40 != 0 ? algo : 0, flf: flf, layout: layout)
        }
        switch service {
        case 0, 6, 7:
            let algorithm = cipherAlgorithm()
            let keyLength = cipherKeyLength(algorithm)
            return head(
                RequestBuilder.cipherSession(algorithm, keyLength: Int(keyLength), op: op()), algo: algorithm.rawValue)
        case 1:
            let cipher = cipherAlgorithm()
            let header = CipherSessionFlf(algo: cipher, keyLen: cipherKeyLength(cipher), op: op())
            let mode = choose([HashMode.plain, .auth], HashMode.known, raw: HashMode.init)
            let member: AlgChainSessionFlf.AlgoFlf
            if mode == .auth {
                let mac = macAlgorithm()
                member = .auth(
                    MacCreateSessionFlf(algo: mac, hashResultLen: macResultLength(mac), authKeyLen: macKeyLength(mac)))
            } else {
                let hash = hashAlgorithm()
                member = .plain(HashCreateSessionFlf(algo: hash, hashResultLen: hashResultLength(hash)))
            }
            let chain = AlgChainSessionFlf(
                algChainOrder: choose(ChainOrder.known, ChainOrder.known, raw: ChainOrder.init), hashMode: mode,
                cipherHdr: header, algoFlf: member, aadLen: within(64))
            return head(SymCreateSessionFlf(opFlf: .algorithmChaining(chain), opType: .algorithmChaining), algo: 0)
        case 2:
            let hash = hashAlgorithm()
            return head(HashCreateSessionFlf(algo: hash, hashResultLen: hashResultLength(hash)), algo: hash.rawValue)
        case 3:
            let mac = macAlgorithm()
            return head(
                MacCreateSessionFlf(algo: mac, hashResultLen: macResultLength(mac), authKeyLen: macKeyLength(mac)),
                algo: mac.rawValue)
        case 4:
            let aead = aeadAlgorithm()
            return head(
                AeadCreateSessionFlf(
                    algo: aead, keyLen: length([16, 32, 24]), tagLen: length([16, 12, 8, 4]), aadLen: within(64),
                    op: op()), algo: aead.rawValue)
        default:
            let algorithm = akcipherAlgorithm()
            let keyType = choose(AkcipherKeyType.known, AkcipherKeyType.known, raw: AkcipherKeyType.init)
            let keyLength = UInt32(input.le16() & 0x1fff)
            return head(
                AkcipherCreateSessionFlf(
                    algo: algorithm, keyType: keyType, keyLen: keyLength, algoFlf: akcipherMember(algorithm)),
                algo: algorithm.rawValue)
        }
    }

    func akcipherMember(_ algorithm: AkcipherAlgorithm) -> AkcipherCreateSessionFlf.AlgoFlf {
        switch algorithm {
        case .rsa:
            return .rsa(
                RsaSessionPara(
                    paddingAlgo: choose(RsaPadding.known, RsaPadding.known, raw: RsaPadding.init),
                    hashAlgo: choose(RsaHashAlgorithm.known, RsaHashAlgorithm.known, raw: RsaHashAlgorithm.init)))
        case .ecdsa:
            return .ecdsa(EcdsaSessionPara(curveId: choose(offer.curves, EccCurve.known, raw: EccCurve.init)))
        default: return .unused
        }
    }

    static let destroyOpcodes: [Opcode] = [
        .cipherDestroySession, .hashDestroySession, .macDestroySession, .aeadDestroySession, .akcipherDestroySession,
    ]

    /// Destroys a session this input created (by its service's opcode), or any small id with any
    /// destroy opcode. Bit 6 of the choice byte picks another destroy opcode; bit 7 the other layout.
    func buildDestroySession() -> [UInt8] {
        let choice = input.u8()
        let layout = sessionLayout(wrong: choice & 0x80 != 0)
        let target = session()
        let id = target?.id ?? UInt64(input.u8())
        var opcode = Self.destroyOpcodes[Int(choice) % Self.destroyOpcodes.count]
        if let target, choice & 0x40 == 0 {
            switch target.service {
            case .hash: opcode = .hashDestroySession
            case .mac: opcode = .macDestroySession
            case .aead: opcode = .aeadDestroySession
            case .akcipher: opcode = .akcipherDestroySession
            default: opcode = .cipherDestroySession
            }
        }
        return RequestBuilder.control(opcode: opcode, flf: DestroySessionFlf(sessionId: id), layout: layout)
    }

    // MARK: data requests

    /// A data request on a session of this input (or on any small id): the opcode its service
    /// serves, lengths mostly consistent with its algorithm. The choice byte: bit 0 the other
    /// direction or operation, bit 1 any destination length, bit 5 in place too, bit 6 flag 0
    /// (stateless, where the feature makes that a layout), bit 7 the other layout.
    func buildSessionRequest() -> [UInt8] {
        let choice = input.u8()
        inPlace = choice & 0x20 != 0
        let target = session() ?? SessionRecord(id: UInt64(input.u8()), service: input.pick(Service.known))
        let flag: RequestFlag = choice & 0x40 != 0 ? [] : .sessionMode
        let layout = sessionLayout(wrong: choice & 0x80 != 0)
        let flip = choice & 1 != 0
        func head(_ opcode: Opcode, _ flf: some WireStruct) -> [UInt8] {
            RequestBuilder.data(opcode: opcode, sessionID: target.id, flag: flag, flf: flf, layout: layout)
        }
        let encrypt = (target.op == .encrypt) != flip
        switch target.service {
        case .cipher:
            let opcode: Opcode = encrypt ? .cipherEncrypt : .cipherDecrypt
            let iv = ivLength(target.cipher)
            let source = dataLength(block: CipherSession.parameters(target.cipher)?.dataBlock ?? 16)
            let destination = choice & 2 != 0 ? dataLength() : source
            if target.chained {
                let cipherStart = within(source)
                let hashStart = within(source)
                let flf = AlgChainDataFlf(
                    ivLen: iv, srcDataLen: source, dstDataLen: destination, cipherStartSrcOffset: cipherStart,
                    lenToCipher: within(source &- min(cipherStart, source)), hashStartSrcOffset: hashStart,
                    lenToHash: within(source &- min(hashStart, source)), aadLen: within(64),
                    hashResultLen: length([32, 20, 16, 64]))
                return head(opcode, SymDataFlf(opTypeFlf: .algorithmChaining(flf), opType: .algorithmChaining))
            }
            return head(
                opcode,
                RequestBuilder.cipherData(
                    ivLength: Int(iv), sourceLength: Int(source), destinationLength: Int(destination)))
        case .hash:
            return head(.hash, HashDataFlf(srcDataLen: dataLength(), hashResultLen: length([32, 20, 16, 64, 28, 48])))
        case .mac:
            return head(
                .mac, MacDataFlf(hdr: HashDataFlf(srcDataLen: dataLength(), hashResultLen: length([32, 20, 16]))))
        case .aead:
            let source = dataLength()
            let tag = length([16, 12, 8])
            let destination = choice & 2 != 0 ? dataLength() : (encrypt ? source &+ tag : source &- min(tag, source))
            return head(
                encrypt ? .aeadEncrypt : .aeadDecrypt,
                AeadDataFlf(
                    ivLen: length([12, 16, 8]), aadLen: within(64), srcDataLen: source, dstDataLen: destination,
                    tagLen: tag))
        case .akcipher:
            let opcode = input.pick([Opcode.akcipherEncrypt, .akcipherDecrypt, .akcipherSign, .akcipherVerify])
            return head(opcode, AkcipherDataFlf(srcDataLen: dataLength(), dstDataLen: dataLength()))
        default:
            let opcode = input.pick(Self.dataOpcodes)
            return head(opcode, IpsecDataFlf(srcDataLen: dataLength(), dstDataLen: dataLength()))
        }
    }

    /// A stateless request: the session's parameters travel in the request, the key in its vlf. The
    /// choice byte: bits 0-2 the service (cipher, chain, hash, mac, aead, akcipher), bit 3 any
    /// destination length, bit 5 in place too, bit 6 the session-mode flag (wrong here), bit 7 the
    /// revision-1 layout instead.
    func buildStatelessRequest() -> [UInt8] {
        let choice = input.u8()
        inPlace = choice & 0x20 != 0
        let flag: RequestFlag = choice & 0x40 != 0 ? .sessionMode : []
        let layout: RequestLayout = choice & 0x80 != 0 ? .revision1 : .stateless
        func head(_ opcode: Opcode, _ flf: some WireStruct) -> [UInt8] {
            RequestBuilder.data(opcode: opcode, flag: flag, flf: flf, layout: layout)
        }
        func cipherPara() -> CipherSessPara {
            let algorithm = cipherAlgorithm()
            return CipherSessPara(algo: algorithm, keyLen: cipherKeyLength(algorithm), op: op())
        }
        switch choice & 7 {
        case 0, 6, 7:
            let para = cipherPara()
            let source = dataLength(block: CipherSession.parameters(para.algo)?.dataBlock ?? 16)
            let flf = CipherDataFlfStateless(
                sessPara: para, ivLen: ivLength(para.algo), srcDataLen: source,
                dstDataLen: choice & 8 != 0 ? dataLength() : source)
            return head(
                para.op == .decrypt ? .cipherDecrypt : .cipherEncrypt,
                SymDataFlfStateless(opTypeFlf: .cipher(flf), opType: .cipher))
        case 1:
            let cipher = cipherPara()
            let mode = choose([HashMode.plain, .auth], HashMode.known, raw: HashMode.init)
            let hash: ChainHashPara
            if mode == .auth {
                let mac = macAlgorithm()
                hash = ChainHashPara(algo: mac.rawValue, authKeyLen: macKeyLength(mac), hashMode: mode)
            } else {
                hash = ChainHashPara(algo: hashAlgorithm().rawValue, authKeyLen: 0, hashMode: mode)
            }
            let source = dataLength()
            let aad = within(64)
            let flf = AlgChainDataFlfStateless(
                sessPara: AlgChainSessPara(
                    algChainOrder: choose(ChainOrder.known, ChainOrder.known, raw: ChainOrder.init), aadLen: aad,
                    cipher: cipher, hash: hash),
                ivLen: ivLength(cipher.algo), srcDataLen: source, dstDataLen: source,
                cipherStartSrcOffset: within(source), lenToCipher: within(source), hashStartSrcOffset: within(source),
                lenToHash: within(source), aadLen: aad, hashResultLen: length([32, 20, 16]))
            return head(
                cipher.op == .decrypt ? .cipherDecrypt : .cipherEncrypt,
                SymDataFlfStateless(opTypeFlf: .algorithmChaining(flf), opType: .algorithmChaining))
        case 2:
            let hash = hashAlgorithm()
            return head(
                .hash,
                HashDataFlfStateless(
                    sessPara: HashSessPara(algo: hash), srcDataLen: dataLength(), hashResultLen: hashResultLength(hash))
            )
        case 3:
            let mac = macAlgorithm()
            return head(
                .mac,
                MacDataFlfStateless(
                    sessPara: MacSessPara(algo: mac, authKeyLen: macKeyLength(mac)), srcDataLen: dataLength(),
                    hashResultLen: macResultLength(mac)))
        case 4:
            let para = AeadSessPara(algo: aeadAlgorithm(), keyLen: length([16, 32, 24]), op: op())
            let source = dataLength()
            let tag = length([16, 12, 8])
            let destination = para.op == .decrypt ? source &- min(tag, source) : source &+ tag
            return head(
                para.op == .decrypt ? .aeadDecrypt : .aeadEncrypt,
                AeadDataFlfStateless(
                    sessPara: para, ivLen: length([12, 16, 8]), tagLen: tag, aadLen: within(64), srcDataLen: source,
                    dstDataLen: destination))
        default:
            let algorithm = akcipherAlgorithm()
            let member: AkcipherSessPara.U
            switch akcipherMember(algorithm) {
            case .rsa(let rsa): member = .rsa(rsa)
            case .ecdsa(let ecdsa): member = .ecdsa(ecdsa)
            case .unused: member = .unused
            }
            let para = AkcipherSessPara(
                algo: algorithm,
                keyType: choose(AkcipherKeyType.known, AkcipherKeyType.known, raw: AkcipherKeyType.init),
                keyLen: UInt32(input.le16() & 0x1fff), u: member)
            let opcode = input.pick([Opcode.akcipherEncrypt, .akcipherDecrypt, .akcipherSign, .akcipherVerify])
            return head(
                opcode, AkcipherDataFlfStateless(sessPara: para, srcDataLen: dataLength(), dstDataLen: dataLength()))
        }
    }

    // MARK: framing

    /// A header and fixed part from raw bytes, sized as the generated framing says for its opcode.
    /// The choice byte: bit 0 replaces the opcode with one of the queue's, bit 1 (data) the session
    /// id with one of this input's sessions, bit 5 (data) in place too.
    func framedHead(_ kind: QueueKind) -> [UInt8] {
        let choice = input.u8()
        if kind == .data { inPlace = choice & 0x20 != 0 }
        var writer = WireWriter(capacity: 80)
        let size: Int
        if kind == .control {
            var header = (try? CtrlHeader.decode(input.bytes(ControlQueue.headerSize))) ?? CtrlHeader()
            if choice & 1 != 0 { header.opcode = input.pick(Self.controlOpcodes) }
            header.encode(into: &writer)
            size =
                ControlQueue.layout(for: header, features: features).flatMap {
                    ControlQueue.flfSize(opcode: header.opcode, layout: $0)
                } ?? Int(input.u8() % 72)
        } else {
            var header = (try? OpHeader.decode(input.bytes(DataQueue.headerSize))) ?? OpHeader()
            if choice & 1 != 0 { header.opcode = input.pick(Self.dataOpcodes) }
            if choice & 2 != 0, let target = session() { header.sessionId = target.id }
            header.encode(into: &writer)
            size =
                DataQueue.layout(for: header, features: features).flatMap {
                    DataQueue.flfSize(opcode: header.opcode, layout: $0)
                } ?? Int(input.u8() % 80)
        }
        writer.append(bytes: input.bytes(size))
        return writer.bytes
    }

    /// What the generated parser says the rest of a request with this head needs: the readable
    /// segments (lengths in wire order), the writable ones, and the outcome's size.
    public struct Plan {
        var readable: [Int] = []
        var writable: [Int] = []
        /// Which readable part is `src-data` and which writable one `dst-data` (for in-place runs).
        var source: Int?
        var destination: Int?
        var outcome: Int
        var opcode: Opcode?
    }

    static func plan(_ kind: QueueKind, _ head: [UInt8], features: CryptoFeatures) -> Plan {
        head.withUnsafeBytes { raw -> Plan in
            var reader = WireReader(raw)
            // Segments come in wire order, so each direction's are in offset order.
            func split(_ segments: [NamedVlfSegment], into plan: inout Plan) {
                for segment in segments {
                    let name = segment.name
                    if segment.direction == .readable {
                        if name == "src-data" { plan.source = plan.readable.count }
                        plan.readable.append(segment.length)
                    } else {
                        if name == "dst-data" { plan.destination = plan.writable.count }
                        plan.writable.append(segment.length)
                    }
                }
            }
            if kind == .control {
                guard let header = try? CtrlHeader(from: &reader) else { return Plan(outcome: CreateSessionInput.size) }
                var plan = Plan(
                    outcome: ControlQueue.outcomeSizes(opcode: header.opcode).first ?? 1, opcode: header.opcode)
                if let request = try? ControlQueue.parse(header: header, flf: &reader, features: features) {
                    split(request.segments, into: &plan)
                }
                return plan
            }
            guard let header = try? OpHeader(from: &reader) else { return Plan(outcome: Inhdr.size) }
            var plan = Plan(outcome: DataQueue.outcomeSizes(opcode: header.opcode).first ?? 1, opcode: header.opcode)
            if let request = try? DataQueue.parse(header: header, flf: &reader, features: features) {
                split(request.segments, into: &plan)
            }
            return plan
        }
    }

    /// `count` bytes of a vlf: how many come from the input is the input's choice (le16), the rest
    /// is a pattern, so a long source costs the input two bytes.
    func payload(_ count: Int) -> [UInt8] {
        let count = max(0, min(count, Self.budget))
        let taken = min(count, Int(input.le16()))
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        input.append(taken, to: &bytes)
        bytes.append(contentsOf: Self.pattern[taken..<count])
        return bytes
    }

    static let pattern: [UInt8] = (0..<budget).map { UInt8(truncatingIfNeeded: $0 &* 29 &+ 7) }

    /// Sends `head` with the vlf and outcome buffers its plan asks for, one part per segment.
    func submitFramed(_ kind: QueueKind, head: [UInt8], shape: ChainShape) {
        let plan = Self.plan(kind, head, features: features)
        var readable = [head]
        readable.reserveCapacity(1 + plan.readable.count)
        var budget = Self.budget - head.count
        for length in plan.readable {
            let part = payload(min(length, max(0, budget)))
            budget -= part.count
            readable.append(part)
        }
        // ECDSA signatures and PKCS#1 v1.5 encryption are randomized: twice is two different answers.
        let randomized = plan.opcode == .akcipherSign || plan.opcode == .akcipherEncrypt
        let fits =
            readable.reduce(0) { $0 + $1.count } <= Self.budget && plan.writable.reduce(plan.outcome, +) <= Self.budget
        if kind == .data, batch != nil {
            // In a batch, in place is the request's only chain; its answer may come later, and is
            // checked when it comes.
            let alias = inPlace && fits && Self.exactParts(readable, plan) ? Self.inPlaceAlias(plan) : nil
            let placed =
                alias.map { postPerPart(readable: readable, writable: plan.writable + [plan.outcome], alias: $0) }
                ?? submit(kind, readable: readable, writable: plan.writable + [plan.outcome], shape: shape)
            serveBatch(placed, opcode: plan.opcode, compare: !randomized)
            inPlace = false
            return
        }
        let placed = submit(kind, readable: readable, writable: plan.writable + [plan.outcome], shape: shape)
        drain(kind)
        if Self.trace {
            // stderr, unbuffered: a trace must survive the crash it explains.
            let violations = device.statistics.violationCounts().map { "\($0.key.rawValue) \($0.value)" }
            let opcode = plan.opcode.map { "\($0)" } ?? "-"
            let hex = head.map { String($0, radix: 16) }.joined(separator: " ")
            let line =
                "\(kind) \(opcode): \(status(kind, placed)) (used \(ring(kind).lastUsedLength)); rules broken so far: \(violations)\n  head \(hex)\n  readable \(plan.readable) writable \(plan.writable) + \(plan.outcome)\n"
            FileHandle.standardError.write(Data(line.utf8))
        }
        verify(placed, on: kind)
        checkStatus(kind, opcode: plan.opcode, placed)
        if kind == .control, let opcode = plan.opcode { record(opcode, head: head, placed: placed) }
        // Only where the first chain held the request's exact bytes (no padding, nothing cut off).
        let exact = shape.writable == .exact || shape.writable == .separateStatus
        if kind == .data, inPlace, exact, fits, !randomized, answered(.data) {
            replayInPlace(readable: readable, plan: plan, expected: written(placed, on: .data))
        }
        inPlace = false
    }

    /// Whether the chain just posted on `kind` was answered (it is alone on its ring, so the newest
    /// used entry is its answer), and the ring still works.
    func answered(_ kind: QueueKind) -> Bool {
        let ring = ring(kind)
        return !queue(kind).isBroken && ring.usedIndex == ring.availIndex
    }

    /// The same request again through an indirect table, one descriptor per part, and where it has a
    /// destination no longer than its source, with the destination over the source (in place, as
    /// Linux posts many skcipher requests): the device must answer exactly as it did the first time,
    /// whatever that chain looked like.
    func replayInPlace(readable: [[UInt8]], plan: Plan, expected: [UInt8]) {
        guard Self.exactParts(readable, plan) else { return }
        let alias = Self.inPlaceAlias(plan)
        let usedLength = dataRing.lastUsedLength
        let ring = dataRing
        let placed = postPerPart(readable: readable, writable: plan.writable + [plan.outcome], alias: alias)
        drain(.data)
        guard answered(.data) else { return }
        verify(placed, on: .data)
        // What the used length says the device wrote: the writable part's first bytes, and the status.
        let got = written(placed, on: .data)
        let result = min(max(0, usedLength - plan.outcome), got.count - plan.outcome)
        guard ring.lastUsedLength == usedLength, got.suffix(plan.outcome) == expected.suffix(plan.outcome),
            got.prefix(result) == expected.prefix(result)
        else {
            fatalError(
                "again\(alias == nil ? "" : " in place") the device answered \(got.suffix(1)) (used \(ring.lastUsedLength)), apart \(expected.suffix(1)) (used \(usedLength)), the first \(result) bytes differ: \(got.prefix(result) != expected.prefix(result))"
            )
        }
        if Self.trace {
            FileHandle.standardError.write(
                Data("  again\(alias == nil ? "" : " in place"): the same \(usedLength) bytes\n".utf8))
        }
    }

    /// Whether `readable` (head, then the vlf's readable parts) holds every part of `plan` whole.
    static func exactParts(_ readable: [[UInt8]], _ plan: Plan) -> Bool {
        readable.count == plan.readable.count + 1
            && zip(readable.dropFirst(), plan.readable).allSatisfy { $0.count == $1 }
    }

    /// The parts a request with this plan can alias to run in place: its destination over its source,
    /// where the destination is no longer.
    static func inPlaceAlias(_ plan: Plan) -> (source: Int, destination: Int)? {
        guard let source = plan.source, let destination = plan.destination, plan.writable[destination] > 0,
            plan.writable[destination] <= plan.readable[source]
        else { return nil }
        return (source, destination)
    }

    /// Posts a data chain of one descriptor per part through an indirect table, with writable part
    /// `alias.destination` over readable part `alias.source` when given (the source is then not
    /// among the placement's readable parts: the device may write it).
    func postPerPart(readable: [[UInt8]], writable: [Int], alias: (source: Int, destination: Int)?) -> Placement {
        let ring = dataRing
        let aliased = alias.map { writable[$0.destination] } ?? 0
        let parts = readable.count + writable.count
        prepareData(
            .data,
            need: readable.reduce(0) { $0 + $1.count } + writable.reduce(-aliased, +) + 80 * parts + 16 * parts + 80)
        var placement = Placement()
        var descriptors: [(address: UInt64, length: UInt32, flags: UInt16)] = []
        for (index, part) in readable.enumerated() {
            let address = ring.allocate(part)
            descriptors.append((address, UInt32(part.count), 0))
            if alias.map({ $0.source + 1 != index }) ?? true { placement.readable.append((address, part)) }
        }
        for (index, size) in writable.enumerated() {
            let address =
                alias.flatMap { $0.destination == index ? descriptors[$0.source + 1].address : nil }
                ?? ring.allocate(count: size)
            placement.writable.append((address, size))
            descriptors.append((address, UInt32(size), .write))
        }
        let start = startSlot(.data)
        postIndirect(descriptors, kind: .data, start: start)
        ring.post(UInt16(start))
        return placement
    }

    /// Writes `descriptors` as one indirect table, and the ring descriptor at `start` that points
    /// at it.
    func postIndirect(_ descriptors: [(address: UInt64, length: UInt32, flags: UInt16)], kind: QueueKind, start: Int) {
        let ring = ring(kind)
        let table = ring.allocate(count: 16 * descriptors.count)
        for (index, descriptor) in descriptors.enumerated() {
            let last = index == descriptors.count - 1
            ring.setDescriptor(
                index, address: descriptor.address, length: descriptor.length,
                flags: descriptor.flags | (last ? 0 : .next), next: UInt16(index + 1), table: table)
        }
        ring.setDescriptor(start, address: table, length: UInt32(16 * descriptors.count), flags: .indirect)
        nextDescriptor[kind == .control ? 0 : 1] = start + 1
    }

    /// The device answers only with statuses its revision defines, and never holds more sessions
    /// than its limit. (The chain is alone on its ring: the newest used entry is its answer.)
    func checkStatus(_ kind: QueueKind, opcode: Opcode?, _ placed: Placement) {
        if kind == .control, device.sessions.count > Self.limits.maxSessions {
            fatalError("\(device.sessions.count) sessions live, the limit is \(Self.limits.maxSessions)")
        }
        let ring = ring(kind)
        guard !queue(kind).isBroken, ring.usedIndex == ring.availIndex, ring.lastUsedLength > 0 else { return }
        let written = written(placed, on: kind)
        let status: Status
        if kind == .data {
            guard let offset = DataQueue.outcomeOffset(.inhdr, writableLength: written.count) else { return }
            status = Status(rawValue: UInt32(written[offset]))
        } else {
            guard let layout = ControlQueue.outcome(opcode: opcode, capacity: written.count, revision: revision),
                let offset = ControlQueue.outcomeOffset(layout, writableLength: written.count)
            else { return }
            let bytes = Array(written[offset...])
            switch layout {
            case .createSessionInput: status = (try? CreateSessionInput.decode(bytes))?.status ?? .ok
            case .destroySessionInputV23: status = (try? DestroySessionInputV23.decode(bytes))?.status ?? .ok
            case .destroySessionInput: status = (try? DestroySessionInput.decode(bytes))?.status ?? .ok
            case .inhdr: status = (try? Inhdr.decode(bytes))?.status ?? .ok
            }
        }
        if !status.isDefined(in: revision) {
            fatalError(
                "the device answered \(status), which \(revision.id) does not define (\(kind) \(String(describing: opcode)))"
            )
        }
    }

    /// The status the device wrote for the last chain (traces only).
    func status(_ kind: QueueKind, _ placed: Placement) -> String {
        let written = written(placed, on: kind)
        if kind == .data {
            guard let offset = DataQueue.outcomeOffset(.inhdr, writableLength: written.count) else { return "none" }
            return "\(Status(rawValue: UInt32(written[offset])))"
        }
        guard let offset = ControlQueue.outcomeOffset(.destroySessionInput, writableLength: written.count) else {
            return "none"
        }
        if written.count >= CreateSessionInput.size,
            let input = try? CreateSessionInput.decode(Array(written[offset...]))
        {
            return "\(input.status) session \(input.sessionId) (or \(Status(rawValue: UInt32(written[offset]))))"
        }
        return "\(Status(rawValue: UInt32(written[offset])))"
    }

    /// Readable parts and writable sizes straight from the input.
    func submitRaw(_ kind: QueueKind, shape: ChainShape) {
        let counts = input.u8()
        let readable = (0..<Int(counts & 7)).map { _ in input.bytes(Int(input.u8())) }
        let writable = (0..<Int(counts >> 3 & 3)).map { _ in Int(input.le16() & 0x3fff) }
        let placed = submit(kind, readable: readable, writable: writable, shape: shape)
        drain(kind)
        verify(placed, on: kind)
    }

    /// Remembers the session a create request made (its outcome says so), for later requests.
    func record(_ opcode: Opcode, head: [UInt8], placed: Placement) {
        guard opcode.queue == .control, Self.createOpcodes.contains(opcode) else { return }
        let written = written(placed, on: .control)
        guard let offset = ControlQueue.outcomeOffset(.createSessionInput, writableLength: written.count),
            offset + CreateSessionInput.size <= written.count,
            let outcome = try? CreateSessionInput.decode(Array(written[offset..<offset + CreateSessionInput.size])),
            outcome.status == .ok, outcome.sessionId != 0
        else { return }
        var session = SessionRecord(id: outcome.sessionId, service: opcode.service)
        let flf = Array(head.dropFirst(ControlQueue.headerSize))
        if opcode == .cipherCreateSession, let sym = try? SymCreateSessionFlf.decode(flf) {
            switch sym.opFlf {
            case .cipher(let cipher):
                session.cipher = cipher.algo
                session.op = cipher.op
            case .algorithmChaining(let chain):
                session.chained = true
                session.cipher = chain.cipherHdr.algo
                session.op = chain.cipherHdr.op
            case .unused: break
            }
        } else if opcode == .aeadCreateSession, let aead = try? AeadCreateSessionFlf.decode(flf) {
            session.op = aead.op
        }
        sessions.append(session)
    }

    // MARK: chains

    func ring(_ kind: QueueKind) -> DriverRing { kind == .control ? controlRing : dataRing }
    func queue(_ kind: QueueKind) -> SplitQueue { kind == .control ? controlQueue : dataQueue }

    /// How a chain's parts become descriptors (five bits of the op byte).
    struct ChainShape {
        enum Split {
            /// One descriptor per part, as drivers usually post.
            case perPart
            /// Everything readable in one buffer, everything writable in another.
            case merged
            /// Cut into pieces of a size the input picks (parts straddle descriptors).
            case pieces
            /// One per part, with an empty descriptor after each.
            case withEmpty
        }
        enum Writable {
            case exact, longer, shorter, separateStatus
        }
        static let splits: [Split] = [.perPart, .merged, .pieces, .withEmpty]
        static let writables: [Writable] = [.exact, .longer, .shorter, .separateStatus]
        var indirect: Bool
        var split: Split
        var writable: Writable

        init(_ bits: UInt8) {
            indirect = bits & 1 != 0
            split = Self.splits[Int(bits >> 1) & 3]
            writable = Self.writables[Int(bits >> 3) & 3]
        }
    }

    struct Placement {
        var readable: [(address: UInt64, bytes: [UInt8])] = []
        var writable: [(address: UInt64, count: Int)] = []
    }

    /// Posts one chain (alone on its ring: the previous one was drained) and returns where its
    /// buffers went.
    func submit(_ kind: QueueKind, readable: [[UInt8]], writable: [Int], shape: ChainShape) -> Placement {
        let ring = ring(kind)
        var sizes = writable
        if !sizes.isEmpty {
            switch shape.writable {
            case .exact: break
            case .longer: sizes[sizes.count - 1] += Int(input.u8())
            case .shorter: sizes[sizes.count - 1] = max(0, sizes[sizes.count - 1] - 1 - Int(input.u8() % 8))
            case .separateStatus:
                if sizes[sizes.count - 1] > 1 {
                    sizes[sizes.count - 1] -= 1
                    sizes.append(1)
                }
            }
        }
        // Bound what the ring's data area must hold; the device then sees a short chain.
        var budget = Self.budget
        let readableParts = readable.map { part -> [UInt8] in
            let kept = part.count <= budget ? part : Array(part.prefix(max(0, budget)))
            budget -= kept.count
            return kept
        }
        var writableBudget = Self.budget
        sizes = sizes.map { size in
            let kept = min(size, max(0, writableBudget))
            writableBudget -= kept
            return kept
        }
        var buffers: [(content: [UInt8]?, count: Int)] = []
        buffers.reserveCapacity(2 * (readableParts.count + sizes.count))
        switch shape.split {
        case .perPart:
            buffers = readableParts.map { ($0, $0.count) } + sizes.map { (nil, $0) }
        case .merged:
            let all = concatenated(readableParts)
            buffers = [(all, all.count), (nil, sizes.reduce(0, +))]
        case .pieces:
            // At most half the descriptor budget per direction: the last piece takes what is left.
            let piece = 1 + Int(input.u8() % 64)
            let all = concatenated(readableParts)
            var start = 0
            while start < all.count {
                let end = buffers.count == Self.maxDescriptors / 2 - 1 ? all.count : min(all.count, start + piece)
                buffers.append((Array(all[start..<end]), end - start))
                start = end
            }
            var left = sizes.reduce(0, +)
            var pieces = 0
            while left > 0 {
                pieces += 1
                let size = pieces == Self.maxDescriptors / 2 ? left : min(piece, left)
                buffers.append((nil, size))
                left -= size
            }
        case .withEmpty:
            for part in readableParts { buffers += [(part, part.count), ([], 0)] }
            for size in sizes { buffers += [(nil, size), (nil, 0)] }
        }
        if buffers.count > Self.maxDescriptors {
            // Many parts (raw steps): fold the tail of each direction into one buffer.
            let readableBuffers = buffers.filter { $0.content != nil }
            let writableCount = buffers.filter { $0.content == nil }.reduce(0) { $0 + $1.count }
            let head = Array(readableBuffers.prefix(Self.maxDescriptors / 2 - 1))
            let tail = concatenated(readableBuffers.dropFirst(head.count).map { $0.content! })
            buffers = head + [(tail, tail.count), (nil, writableCount)]
        }
        // Each buffer is aligned and followed by a gap (`DriverRing.allocate`); an indirect table too.
        prepareData(kind, need: buffers.reduce(0) { $0 + $1.count + 80 } + 16 * buffers.count + 80)
        var placement = Placement()
        placement.readable.reserveCapacity(buffers.count)
        placement.writable.reserveCapacity(buffers.count)
        var descriptors: [(address: UInt64, length: UInt32, flags: UInt16)] = []
        descriptors.reserveCapacity(buffers.count)
        for buffer in buffers {
            if let content = buffer.content {
                let address = ring.allocate(content)
                placement.readable.append((address, content))
                descriptors.append((address, UInt32(content.count), 0))
            } else {
                let address = ring.allocate(count: buffer.count)
                placement.writable.append((address, buffer.count))
                descriptors.append((address, UInt32(buffer.count), .write))
            }
        }
        guard !descriptors.isEmpty else { return placement }
        let size = Int(ring.size)
        let start = startSlot(kind)
        if shape.indirect || descriptors.count > size {
            postIndirect(descriptors, kind: kind, start: start)
        } else {
            for (index, descriptor) in descriptors.enumerated() {
                let slot = (start + index) % size
                let last = index == descriptors.count - 1
                ring.setDescriptor(
                    slot, address: descriptor.address, length: descriptor.length,
                    flags: descriptor.flags | (last ? 0 : .next), next: UInt16((slot + 1) % size))
            }
            nextDescriptor[kind == .control ? 0 : 1] = start + descriptors.count
        }
        ring.post(UInt16(start))
        return placement
    }

    /// Serves everything the ring holds, as the vhost-user queue worker does: a ring-level fault
    /// stops the drain, a chain the device cannot walk is returned with length 0.
    func drain(_ kind: QueueKind) {
        let queue = queue(kind)
        let chain = Self.chain
        queue.suppressNotifications()
        for _ in 0...Int(queue.layout.size) {
            let head: UInt16
            do throws(QueueError) {
                guard let next = try queue.nextAvailable() else { break }
                head = next
            } catch {
                break
            }
            var written: UInt32 = 0
            do throws(QueueError) {
                try queue.walk(head: head, into: chain)
                handled += 1
                written = kind == .control ? device.handleControl(chain) : worker.handle(chain)
                if Int(written) > chain.writableLength {
                    fatalError("the device claims \(written) bytes written into \(chain.writableLength) writable")
                }
            } catch {}
            queue.publishUsed(head: head, written: written)
        }
        _ = queue.finishBatch()
        _ = queue.enableNotifications()
    }

    /// The device must never write a device-readable buffer.
    func verify(_ placement: Placement, on kind: QueueKind) {
        let ring = ring(kind)
        for part in placement.readable {
            let same = part.bytes.withUnsafeBytes { memcmp(ring.host(part.address), $0.baseAddress!, $0.count) == 0 }
            if !same { fatalError("the device wrote into a device-readable buffer at \(part.address)") }
        }
    }

    /// The parts one after the other (whole-array appends: memcpy, not a loop per byte).
    func concatenated(_ parts: [[UInt8]]) -> [UInt8] {
        var all: [UInt8] = []
        all.reserveCapacity(parts.reduce(0) { $0 + $1.count })
        for part in parts { all.append(contentsOf: part) }
        return all
    }

    /// What the device wrote into a chain's writable buffers, in order.
    func written(_ placement: Placement, on kind: QueueKind) -> [UInt8] {
        let ring = ring(kind)
        return concatenated(placement.writable.map { ring.bytes(at: $0.address, count: $0.count) })
    }

    // MARK: hostile rings

    /// Raw descriptors (any address, length, flags and next; indirect tables of raw entries), raw
    /// avail entries and index jumps, and the event words, then a drain.
    func hostileRing(_ kind: QueueKind) {
        let ring = ring(kind)
        ring.resetData()
        let size = Int(ring.size)
        let count = 1 + Int(input.u8() % 8)
        for _ in 0..<count {
            let slot = Int(input.u8()) % size
            let flags = UInt16(input.u8())
            var address = hostileAddress(ring)
            var length = hostileLength()
            if flags & UInt16.indirect != 0, input.bool() {
                let entries = 1 + Int(input.u8() % 8)
                let table = ring.allocate(count: 16 * entries)
                for index in 0..<entries {
                    ring.setDescriptor(
                        index, address: hostileAddress(ring), length: hostileLength(), flags: UInt16(input.u8()),
                        next: input.le16() % UInt16(entries + 1), table: table)
                }
                address = table
                length = UInt32(16 * entries)
            }
            ring.setDescriptor(
                slot, address: address, length: length, flags: flags, next: input.le16() % UInt16(size + 1))
        }
        let posts = input.u8()
        for _ in 0..<(1 + Int(posts & 3)) {
            let head = input.le16() % UInt16(size + 1)
            ring.post(head, advance: posts & 4 != 0 ? input.le16() : 1)
        }
        if posts & 8 != 0 { ring.setUsedEvent(input.le16()) }
        if posts & 16 != 0 { ring.setAvailFlags(input.le16()) }
        drain(kind)
    }

    func hostileAddress(_ target: DriverRing) -> UInt64 {
        let choice = input.u8()
        let layout = target.layout
        switch choice & 7 {
        case 0: return target.allocate(count: 0) + UInt64(input.le16() % 8192)
        case 1: return FuzzMemory.highBase + UInt64(input.le16())
        case 2: return FuzzMemory.lowBase + UInt64(Self.memory.low.count) - UInt64(input.u8())
        case 3: return [layout.descriptorTable, layout.availRing, layout.usedRing][Int(choice >> 3) % 3]
        case 4: return (target === controlRing ? dataRing : controlRing).layout.descriptorTable + UInt64(input.u8())
        case 5: return input.le64()
        case 6: return FuzzMemory.highBase + UInt64(Self.memory.high.count) - UInt64(input.u8())
        default: return 0
        }
    }

    func hostileLength() -> UInt32 {
        let choice = input.u8()
        switch choice >> 6 {
        case 0: return UInt32(choice)
        case 1: return UInt32(input.le16())
        case 2: return input.le32()
        default: return UInt32(truncatingIfNeeded: Self.edgeLengths[Int(choice & 0x3f) % Self.edgeLengths.count])
        }
    }
}
