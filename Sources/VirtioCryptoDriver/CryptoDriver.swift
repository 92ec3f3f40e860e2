import VirtioCryptoWire

/// A session the driver created: what later requests on it need, and which device
/// incarnation (between resets) it belongs to.
public struct CryptoSession: Hashable, Sendable {
    public let id: UInt64
    public let service: Service
    /// Direction of a cipher or AEAD session.
    public let op: Op?
    /// Digest length of a hash or MAC session (the hash part of a chain).
    public let resultLength: Int
    /// Tag and AAD lengths of an AEAD session.
    public let tagLength: Int
    public let aadLength: Int
    let epoch: UInt64

    init(
        id: UInt64, service: Service, op: Op? = nil, resultLength: Int = 0, tagLength: Int = 0, aadLength: Int = 0,
        epoch: UInt64
    ) {
        self.id = id
        self.service = service
        self.op = op
        self.resultLength = resultLength
        self.tagLength = tagLength
        self.aadLength = aadLength
        self.epoch = epoch
    }
}

/// The device-writable outcome of a data request.
public struct DataResult: Equatable, Sendable {
    public var status: Status
    /// The device-writable vlf (dst_data, hash_result), without the inhdr status.
    public var output: [UInt8]
    /// The used entry's length: the bytes the device says it wrote (an AKCIPHER result and the status).
    public var usedLength: Int = 0
}

/// A virtio-crypto driver over any `CryptoTransport`. It initializes the device (reset,
/// features, config, every virtqueue it uses), and checks every request locally against
/// what the config says before transmitting it: HW_READY, the data queue index, the
/// service bit, the algorithm mask bit, the key lengths, max_size and the reserved fields.
/// A refused request throws `DriverError.refused` and nothing reaches the device.
///
/// Not thread-safe: one caller at a time (a transport waits for each request).
public final class CryptoDriver {
    public enum State: Equatable, Sendable {
        /// Not started, or a start failed before the queues were set up.
        case stopped
        /// Initialized, but HW_READY was clear when the status was last read.
        case waitingForHardware
        /// HW_READY was set when the status was last read: requests may be transmitted.
        case ready
    }

    /// The feature bits this driver can use: session-mode requests of every service, and stateless
    /// AKCIPHER requests (`akcipherStateless`).
    public static let supportedFeatures: CryptoFeatures = [.revision1, .akcipherStatelessMode]

    public let transport: any CryptoTransport
    public private(set) var state: State = .stopped
    /// What the last config read said; nil before the first start.
    public private(set) var capabilities: DeviceCapabilities?
    public private(set) var features: CryptoFeatures = []
    /// Data queues set up (0..<dataQueues): the requested count, at most max_dataqueues.
    public private(set) var dataQueues = 0
    /// Data queues the caller asked for.
    public let requestedDataQueues: Int
    private let wantedFeatures: CryptoFeatures
    /// Bumped by every (re)start: sessions of an earlier incarnation are gone.
    private var epoch: UInt64 = 0
    private var liveSessions: Set<UInt64> = []

    /// `dataQueues`: how many data queues to use (the seed lets a driver use one or more);
    /// `features`: the crypto features to accept if offered (within `supportedFeatures`).
    public init(transport: any CryptoTransport, dataQueues: Int = 1, features: CryptoFeatures = [.revision1]) {
        precondition(dataQueues >= 1, "a driver uses at least one data queue")
        self.transport = transport
        requestedDataQueues = dataQueues
        wantedFeatures = features.intersection(Self.supportedFeatures)
    }

    public var requestLayout: RequestLayout { features.contains(.revision1) ? .revision1 : .legacy }

    // MARK: initialization

    /// Device initialization: reset, negotiate features, read the config (status,
    /// max_dataqueues, crypto_services, the masks of each advertised service, the limits),
    /// set up the used data queues and the control queue. Throws
    /// `.refused(.hardwareNotReady)` when HW_READY is clear: the queues are set up but
    /// nothing is transmitted until `refreshStatus()` or `reset()` sees the bit.
    public func start() throws(DriverError) {
        state = .stopped
        epoch &+= 1
        liveSessions.removeAll()
        capabilities = nil
        dataQueues = 0
        try transported { () throws(TransportError) in try transport.reset() }
        let offered = try transported { () throws(TransportError) in try transport.deviceFeatures() }
        let accepted = offered.intersection(wantedFeatures)
        guard try transported({ () throws(TransportError) in try transport.acceptFeatures(accepted) }) else {
            throw .featuresRejected(accepted)
        }
        features = accepted
        let capabilities = try readCapabilities()
        guard capabilities.maxDataQueues >= 1 else {
            throw .refused(.dataQueueBeyondDevice(queue: 0, maxDataQueues: capabilities.maxDataQueues))
        }
        let used = min(requestedDataQueues, capabilities.maxDataQueues)
        // The control queue's index is max_dataqueues whatever the number of queues used.
        try transported { () throws(TransportError) in
            try transport.configureQueues(dataQueues: used, controlQueue: capabilities.maxDataQueues)
        }
        dataQueues = used
        state = capabilities.hardwareReady ? .ready : .waitingForHardware
        guard state == .ready else { throw .refused(.hardwareNotReady) }
    }

    /// Resets the device and initializes it again: HW_READY and the whole config are read
    /// anew, and every session of before is forgotten.
    public func reset() throws(DriverError) { try start() }

    /// Re-reads the config (e.g. on a configuration change notification); returns whether
    /// HW_READY is set. Requests are allowed exactly while it is.
    @discardableResult
    public func refreshStatus() throws(DriverError) -> Bool {
        guard state != .stopped else { return false }
        let capabilities = try readCapabilities()
        state = capabilities.hardwareReady ? .ready : .waitingForHardware
        return state == .ready
    }

    private func readCapabilities() throws(DriverError) -> DeviceCapabilities {
        let config = try transported { () throws(TransportError) in try transport.readConfig() }
        let capabilities = DeviceCapabilities(config)
        self.capabilities = capabilities
        return capabilities
    }

    // MARK: local checks

    /// Throws the refusal a control queue request would get; returns if it may be sent.
    public func check(_ request: ControlQueueRequest) throws(DriverRefusal) {
        let capabilities = try readyCapabilities()
        try require(request.opcode.service, capabilities)
        switch request {
        case .cipherCreateSession(let flf, _):
            try zero(flf.padding, "sym_create_session_flf.padding")
            switch flf.opFlf {
            case .cipher(let cipher):
                try check(cipher, capabilities)
            case .algorithmChaining(let chain):
                try zero(chain.padding, "alg_chain_session_flf.padding")
                try check(chain.cipherHdr, capabilities)
                switch chain.algoFlf {
                case .plain(let hash):
                    try require(.hash(hash.algo), capabilities)
                case .auth(let mac):
                    try zero(mac.padding, "mac_create_session_flf.padding")
                    try require(.mac(mac.algo), capabilities)
                    try authKey(mac.authKeyLen, capabilities)
                case .unused:
                    break  // no hash member (NESTED): the device answers NOTSUPP
                }
            case .unused:
                break  // op_type NONE: nothing keyed, the device decides
            }
        case .hashCreateSession(let flf):
            try require(.hash(flf.algo), capabilities)
        case .macCreateSession(let flf, _):
            try zero(flf.padding, "mac_create_session_flf.padding")
            try require(.mac(flf.algo), capabilities)
            try authKey(flf.authKeyLen, capabilities)
        case .aeadCreateSession(let flf, _):
            try zero(flf.padding, "aead_create_session_flf.padding")
            try require(.aead(flf.algo), capabilities)
            try cipherKey(flf.keyLen, capabilities)
        case .cipherDestroySession, .hashDestroySession, .macDestroySession, .aeadDestroySession:
            break
        case .akcipherCreateSession(let flf, _):
            try require(.akcipher(flf.algo), capabilities)  // no config field limits its key length
        case .akcipherDestroySession:
            break
        }
    }

    /// Throws the refusal a data queue request on `queue` would get.
    public func check(_ request: DataQueueRequest, queue: Int) throws(DriverRefusal) {
        let capabilities = try readyCapabilities()
        guard queue >= 0, queue < capabilities.maxDataQueues else {
            throw .dataQueueBeyondDevice(queue: queue, maxDataQueues: capabilities.maxDataQueues)
        }
        guard queue < dataQueues else { throw .dataQueueNotConfigured(queue: queue, configured: dataQueues) }
        try require(request.opcode.service, capabilities)
        // The size of a request is its variable-length data, device-readable plus
        // device-writable (headers, fixed parts and the status byte do not count), as the
        // device measures it against max_size.
        let size = request.readableLength + request.writableLength
        guard UInt64(size) <= capabilities.maxRequestSize else {
            throw .requestTooLarge(size: size, maxSize: capabilities.maxRequestSize)
        }
    }

    private func readyCapabilities() throws(DriverRefusal) -> DeviceCapabilities {
        guard state == .ready, let capabilities, capabilities.hardwareReady else { throw .hardwareNotReady }
        return capabilities
    }

    private func require(_ service: Service, _ capabilities: DeviceCapabilities) throws(DriverRefusal) {
        guard capabilities.services.contains(service) else { throw .serviceNotOffered(service) }
    }

    private func require(_ algorithm: CryptoAlgorithm, _ capabilities: DeviceCapabilities) throws(DriverRefusal) {
        guard capabilities.offers(algorithm) else { throw .algorithmNotOffered(algorithm) }
    }

    private func check(_ cipher: CipherSessionFlf, _ capabilities: DeviceCapabilities) throws(DriverRefusal) {
        try zero(cipher.padding, "cipher_session_flf.padding")
        try require(.cipher(cipher.algo), capabilities)
        try cipherKey(cipher.keyLen, capabilities)
    }

    private func cipherKey(_ length: UInt32, _ capabilities: DeviceCapabilities) throws(DriverRefusal) {
        guard Int(length) <= capabilities.maxCipherKeyLength else {
            throw .cipherKeyTooLong(length: Int(length), maxLength: capabilities.maxCipherKeyLength)
        }
    }

    private func authKey(_ length: UInt32, _ capabilities: DeviceCapabilities) throws(DriverRefusal) {
        guard Int(length) <= capabilities.maxAuthKeyLength else {
            throw .authKeyTooLong(length: Int(length), maxLength: capabilities.maxAuthKeyLength)
        }
    }

    private func zero(_ value: UInt32, _ field: String) throws(DriverRefusal) {
        guard value == 0 else { throw .reservedNotZero(field: field) }
    }

    // MARK: sessions

    /// Creates a session from a typed fixed part; `vlf` is its device-readable
    /// variable-length part (the keys, in the seed's order). Every check runs first.
    public func createSession(_ request: ControlQueueRequest, vlf: [UInt8] = []) throws(DriverError) -> CryptoSession {
        do { try check(request) } catch { throw .refused(error) }
        guard request.createsSession else { throw .invalidRequest("\(request.opcode) does not create a session") }
        guard vlf.count == request.readableLength else {
            throw .invalidRequest("vlf has \(vlf.count) bytes; the fixed part says \(request.readableLength)")
        }
        // The header is always built here, so its reserved field is always zero.
        let header = CtrlHeader(opcode: request.opcode, algo: request.algorithm)
        let head = Self.encode(header, request, requestLayout)
        let out = try transported { () throws(TransportError) in
            try transport.submitControl(
                readable: [head, vlf].filter { !$0.isEmpty }, writable: [CreateSessionInput.size])
        }
        guard let input = try? CreateSessionInput.decode(out.bytes) else { throw .malformedReply }
        guard input.status == .ok else { throw .device(input.status) }
        liveSessions.insert(input.sessionId)
        return request.session(id: input.sessionId, epoch: epoch)
    }

    public func createCipherSession(_ algorithm: CipherAlgorithm, key: [UInt8], op: Op) throws(DriverError)
        -> CryptoSession
    {
        let cipher = CipherSessionFlf(algo: algorithm, keyLen: try length(key), op: op)
        let flf = SymCreateSessionFlf(opFlf: .cipher(cipher), opType: .cipher)
        return try createSession(.cipherCreateSession(flf, SymCreateSessionVlf(flf)), vlf: key)
    }

    public func createHashSession(_ algorithm: HashAlgorithm, resultLength: Int) throws(DriverError) -> CryptoSession {
        let flf = HashCreateSessionFlf(algo: algorithm, hashResultLen: try length(resultLength))
        return try createSession(.hashCreateSession(flf))
    }

    public func createMacSession(_ algorithm: MacAlgorithm, key: [UInt8], resultLength: Int) throws(DriverError)
        -> CryptoSession
    {
        let flf = MacCreateSessionFlf(
            algo: algorithm, hashResultLen: try length(resultLength),
            authKeyLen: try length(key))
        return try createSession(.macCreateSession(flf, MacCreateSessionVlf(flf)), vlf: key)
    }

    public func createAeadSession(
        _ algorithm: AeadAlgorithm, key: [UInt8], tagLength: Int, aadLength: Int = 0,
        op: Op
    ) throws(DriverError) -> CryptoSession {
        let flf = AeadCreateSessionFlf(
            algo: algorithm, keyLen: try length(key), tagLen: try length(tagLength),
            aadLen: try length(aadLength), op: op)
        return try createSession(.aeadCreateSession(flf, AeadCreateSessionVlf(flf)), vlf: key)
    }

    public func destroySession(_ session: CryptoSession) throws(DriverError) {
        let flf = DestroySessionFlf(sessionId: session.id)
        let request: ControlQueueRequest
        switch session.service {
        case .cipher: request = .cipherDestroySession(flf)
        case .hash: request = .hashDestroySession(flf)
        case .mac: request = .macDestroySession(flf)
        case .akcipher: request = .akcipherDestroySession(flf)
        default: request = .aeadDestroySession(flf)
        }
        do { try check(request) } catch { throw .refused(error) }
        guard isLive(session) else { throw .refused(.sessionNotLive(id: session.id, opcode: request.opcode)) }
        let head = Self.encode(CtrlHeader(opcode: request.opcode), request, requestLayout)
        let out = try transported { () throws(TransportError) in
            try transport.submitControl(readable: [head], writable: [DestroySessionInput.size])
        }
        guard let input = try? DestroySessionInput.decode(out.bytes) else { throw .malformedReply }
        guard input.status == .ok else { throw .device(input.status) }
        liveSessions.remove(session.id)
    }

    public func isLive(_ session: CryptoSession) -> Bool { session.epoch == epoch && liveSessions.contains(session.id) }

    // MARK: data requests

    /// Sends one session-mode data request on data queue `queue`; `vlf` is its
    /// device-readable variable-length part in the seed's order. Every check runs first.
    public func submit(_ request: DataQueueRequest, session: CryptoSession, vlf: [UInt8], queue: Int = 0)
        throws(DriverError) -> DataResult
    {
        do { try check(request, queue: queue) } catch { throw .refused(error) }
        let opcode = request.opcode
        guard isLive(session), session.service == opcode.service else {
            throw .refused(.sessionNotLive(id: session.id, opcode: opcode))
        }
        guard !request.isStateless else { throw .invalidRequest("a stateless request has no session") }
        let layout = requestLayout
        let header = OpHeader(opcode: opcode, sessionId: session.id, flag: layout == .revision1 ? .sessionMode : [])
        return try send(request, header: header, layout: layout, vlf: vlf, queue: queue)
    }

    /// Sends one stateless data request (flag 0: its parameters and key travel with it); the
    /// service's stateless feature must be negotiated.
    public func submitStateless(_ request: DataQueueRequest, vlf: [UInt8], queue: Int = 0) throws(DriverError)
        -> DataResult
    {
        do { try check(request, queue: queue) } catch { throw .refused(error) }
        guard request.isStateless, let feature = CryptoFeatures.statelessMode(for: request.opcode.service),
            features.contains(feature)
        else {
            throw .invalidRequest("\(request.opcode) is not a stateless request the negotiated features allow")
        }
        return try send(request, header: OpHeader(opcode: request.opcode), layout: .stateless, vlf: vlf, queue: queue)
    }

    private func send(_ request: DataQueueRequest, header: OpHeader, layout: RequestLayout, vlf: [UInt8], queue: Int)
        throws(DriverError) -> DataResult
    {
        guard vlf.count == request.readableLength else {
            throw .invalidRequest("vlf has \(vlf.count) bytes; the fixed part says \(request.readableLength)")
        }
        let head = Self.encode(header, request, layout)
        let writableLength = request.writableLength
        let out = try transported { () throws(TransportError) in
            try transport.submitData(
                queue: queue, readable: [head, vlf].filter { !$0.isEmpty },
                writable: [writableLength, Inhdr.size].filter { $0 > 0 })
        }
        guard out.bytes.count == writableLength + Inhdr.size,
            let inhdr = try? Inhdr.decode(Array(out.bytes.suffix(Inhdr.size)))
        else { throw .malformedReply }
        return DataResult(
            status: inhdr.status, output: Array(out.bytes.prefix(writableLength)), usedLength: out.usedLength)
    }

    /// Encrypts or decrypts (as the session's op says) `input` with `iv`.
    public func cipher(_ session: CryptoSession, iv: [UInt8], input: [UInt8], queue: Int = 0) throws(DriverError)
        -> [UInt8]
    {
        let flf = SymDataFlf(
            opTypeFlf: .cipher(
                CipherDataFlf(
                    ivLen: try length(iv), srcDataLen: try length(input),
                    dstDataLen: try length(input))), opType: .cipher)
        let request: DataQueueRequest =
            session.op == .decrypt
            ? .cipherDecrypt(flf, SymDataVlf(flf)) : .cipherEncrypt(flf, SymDataVlf(flf))
        return try output(submit(request, session: session, vlf: iv + input, queue: queue))
    }

    /// The digest of `input` (the session's result length).
    public func hash(_ session: CryptoSession, input: [UInt8], queue: Int = 0) throws(DriverError) -> [UInt8] {
        let flf = HashDataFlf(srcDataLen: try length(input), hashResultLen: try length(session.resultLength))
        return try output(submit(.hash(flf, HashDataVlf(flf)), session: session, vlf: input, queue: queue))
    }

    /// The MAC of `input` (the session's result length).
    public func mac(_ session: CryptoSession, input: [UInt8], queue: Int = 0) throws(DriverError) -> [UInt8] {
        let lengths = HashDataFlf(srcDataLen: try length(input), hashResultLen: try length(session.resultLength))
        let flf = MacDataFlf(hdr: lengths)
        return try output(submit(.mac(flf, MacDataVlf(flf)), session: session, vlf: input, queue: queue))
    }

    /// Encrypts (ciphertext then tag) or decrypts and checks (input is ciphertext then tag)
    /// as the session's op says.
    public func aead(_ session: CryptoSession, iv: [UInt8], aad: [UInt8] = [], input: [UInt8], queue: Int = 0)
        throws(DriverError) -> [UInt8]
    {
        let decrypt = session.op == .decrypt
        let outputLength = decrypt ? input.count - session.tagLength : input.count + session.tagLength
        guard outputLength >= 0 else { throw .invalidRequest("input is shorter than the tag") }
        let flf = AeadDataFlf(
            ivLen: try length(iv), aadLen: try length(aad), srcDataLen: try length(input),
            dstDataLen: try length(outputLength), tagLen: try length(session.tagLength))
        let request: DataQueueRequest =
            decrypt
            ? .aeadDecrypt(flf, AeadDataVlf(flf)) : .aeadEncrypt(flf, AeadDataVlf(flf))
        // The AEAD vlf order is iv, src_data, aad.
        return try output(submit(request, session: session, vlf: iv + input + aad, queue: queue))
    }

    // MARK: AKCIPHER (Virtio 1.4)

    /// An RSA or ECDSA session: `parameters` is the RSA or ECDSA member; `key` is encoded as the spec
    /// says (DER RSAPublicKey / RSAPrivateKey, DER ECPrivateKey, or a SEC 1 point).
    public func createAkcipherSession(
        _ algorithm: AkcipherAlgorithm, keyType: AkcipherKeyType,
        parameters: AkcipherCreateSessionFlf.AlgoFlf, key: [UInt8]
    ) throws(DriverError)
        -> CryptoSession
    {
        let flf = AkcipherCreateSessionFlf(
            algo: algorithm, keyType: keyType, keyLen: try length(key), algoFlf: parameters)
        return try createSession(.akcipherCreateSession(flf, AkcipherCreateSessionVlf(flf)), vlf: key)
    }

    /// ENCRYPT, DECRYPT or SIGN `input` (`opcode` says which) into at most `capacity` bytes; the result
    /// is as long as the device says it wrote (its used length, less the status byte).
    public func akcipher(_ session: CryptoSession, _ opcode: Opcode, input: [UInt8], capacity: Int, queue: Int = 0)
        throws(DriverError) -> [UInt8]
    {
        let flf = AkcipherDataFlf(srcDataLen: try length(input), dstDataLen: try length(capacity))
        let vlf = AkcipherDataVlf(flf)
        let request: DataQueueRequest
        switch opcode {
        case .akcipherEncrypt: request = .akcipherEncrypt(flf, vlf)
        case .akcipherDecrypt: request = .akcipherDecrypt(flf, vlf)
        case .akcipherSign: request = .akcipherSign(flf, vlf)
        default: throw .invalidRequest("\(opcode) is not an AKCIPHER ENCRYPT, DECRYPT or SIGN")
        }
        return try akcipherResult(submit(request, session: session, vlf: input, queue: queue), capacity: capacity)
    }

    /// A stateless ENCRYPT, DECRYPT or SIGN: the session parameters and key travel with the request.
    public func akcipherStateless(
        _ opcode: Opcode, parameters: AkcipherSessPara, key: [UInt8], input: [UInt8],
        capacity: Int, queue: Int = 0
    ) throws(DriverError) -> [UInt8] {
        var para = parameters
        para.keyLen = try length(key)
        let flf = AkcipherDataFlfStateless(
            sessPara: para, srcDataLen: try length(input), dstDataLen: try length(capacity))
        let vlf = AkcipherDataVlfStateless(flf)
        let request: DataQueueRequest
        switch opcode {
        case .akcipherEncrypt: request = .akcipherEncryptStateless(flf, vlf)
        case .akcipherDecrypt: request = .akcipherDecryptStateless(flf, vlf)
        case .akcipherSign: request = .akcipherSignStateless(flf, vlf)
        default: throw .invalidRequest("\(opcode) is not an AKCIPHER ENCRYPT, DECRYPT or SIGN")
        }
        return try akcipherResult(submitStateless(request, vlf: key + input, queue: queue), capacity: capacity)
    }

    /// A stateless VERIFY: the status the device answers.
    public func akcipherVerifyStateless(
        parameters: AkcipherSessPara, key: [UInt8], signature: [UInt8], message: [UInt8],
        queue: Int = 0
    ) throws(DriverError) -> Status {
        var para = parameters
        para.keyLen = try length(key)
        let flf = AkcipherDataFlfStateless(
            sessPara: para, srcDataLen: try length(signature), dstDataLen: try length(message))
        let request = DataQueueRequest.akcipherVerifyStateless(flf, AkcipherVerifyDataVlfStateless(flf))
        return try submitStateless(request, vlf: key + signature + message, queue: queue).status
    }

    /// The result of an AKCIPHER ENCRYPT, DECRYPT or SIGN: as many bytes as the device says it wrote
    /// (its used length, less the status byte).
    private func akcipherResult(_ result: DataResult, capacity: Int) throws(DriverError) -> [UInt8] {
        guard result.status == .ok else { throw .device(result.status) }
        guard result.usedLength >= Inhdr.size, result.usedLength - Inhdr.size <= capacity else { throw .malformedReply }
        return Array(result.output.prefix(result.usedLength - Inhdr.size))
    }

    /// VERIFY: the status the device answers for `signature` over `message` (OK, or KEY_REJECTED).
    public func akcipherVerify(_ session: CryptoSession, signature: [UInt8], message: [UInt8], queue: Int = 0)
        throws(DriverError) -> Status
    {
        let flf = AkcipherDataFlf(srcDataLen: try length(signature), dstDataLen: try length(message))
        let result = try submit(
            .akcipherVerify(flf, AkcipherVerifyDataVlf(flf)), session: session,
            vlf: signature + message, queue: queue)
        return result.status
    }

    private func output(_ result: DataResult) throws(DriverError) -> [UInt8] {
        guard result.status == .ok else { throw .device(result.status) }
        return result.output
    }

    // MARK: helpers

    private func transported<T>(_ body: () throws(TransportError) -> T) throws(DriverError) -> T {
        do { return try body() } catch { throw .transport(error) }
    }

    private func length(_ bytes: [UInt8]) throws(DriverError) -> UInt32 { try length(bytes.count) }

    private func length(_ count: Int) throws(DriverError) -> UInt32 {
        guard let value = UInt32(exactly: count) else { throw .invalidRequest("length \(count) does not fit a le32") }
        return value
    }

    /// Header then the fixed part, padded as the layout requires; the generated encoders
    /// write every reserved field and padding byte as given (zero unless a caller set it,
    /// which `check` refuses).
    static func encode(_ header: some WireStruct, _ request: ControlQueueRequest, _ layout: RequestLayout) -> [UInt8] {
        var writer = WireWriter(capacity: ControlQueue.headerSize + ControlQueue.legacyFLFSize)
        header.encode(into: &writer)
        request.encodeFLF(into: &writer, layout: layout)
        return writer.bytes
    }

    static func encode(_ header: OpHeader, _ request: DataQueueRequest, _ layout: RequestLayout) -> [UInt8] {
        var writer = WireWriter(capacity: DataQueue.headerSize + DataQueue.legacyFLFSize)
        header.encode(into: &writer)
        request.encodeFLF(into: &writer, layout: layout)
        return writer.bytes
    }
}

extension ControlQueueRequest {
    /// The ctrl-header algo: the session's (cipher) algorithm, as Linux sets it.
    var algorithm: UInt32 {
        switch self {
        case .cipherCreateSession(let flf, _):
            switch flf.opFlf {
            case .cipher(let cipher): return cipher.algo.rawValue
            case .algorithmChaining(let chain): return chain.cipherHdr.algo.rawValue
            case .unused: return 0
            }
        case .hashCreateSession(let flf): return flf.algo.rawValue
        case .macCreateSession(let flf, _): return flf.algo.rawValue
        case .aeadCreateSession(let flf, _): return flf.algo.rawValue
        default: return 0
        }
    }

    func session(id: UInt64, epoch: UInt64) -> CryptoSession {
        switch self {
        case .cipherCreateSession(let flf, _):
            switch flf.opFlf {
            case .cipher(let cipher):
                return CryptoSession(id: id, service: .cipher, op: cipher.op, epoch: epoch)
            case .algorithmChaining(let chain):
                let resultLength: UInt32
                switch chain.algoFlf {
                case .plain(let hash): resultLength = hash.hashResultLen
                case .auth(let mac): resultLength = mac.hashResultLen
                case .unused: resultLength = 0
                }
                return CryptoSession(
                    id: id, service: .cipher, op: chain.cipherHdr.op, resultLength: Int(resultLength),
                    aadLength: Int(chain.aadLen), epoch: epoch)
            case .unused:
                return CryptoSession(id: id, service: .cipher, epoch: epoch)
            }
        case .hashCreateSession(let flf):
            return CryptoSession(id: id, service: .hash, resultLength: Int(flf.hashResultLen), epoch: epoch)
        case .macCreateSession(let flf, _):
            return CryptoSession(id: id, service: .mac, resultLength: Int(flf.hashResultLen), epoch: epoch)
        case .aeadCreateSession(let flf, _):
            return CryptoSession(
                id: id, service: .aead, op: flf.op, tagLength: Int(flf.tagLen),
                aadLength: Int(flf.aadLen), epoch: epoch)
        default:
            return CryptoSession(id: id, service: opcode.service, epoch: epoch)
        }
    }
}
