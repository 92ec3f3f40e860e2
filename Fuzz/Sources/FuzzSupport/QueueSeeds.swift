import Foundation
import VirtioCryptoDriver
import VirtioCryptoEngines
import VirtioCryptoWire

/// The seed corpora of the queue fuzzers, from the spec and the engines: every request vector of
/// Spec/generated/vectors.json framed on its queue, and for every algorithm the engines serve a
/// session built with `RequestBuilder` (parameters from the engines), used and destroyed; the
/// stateless form of each service; a few hostile rings; for the data queue, batches of each kind of
/// request the lanes take.
public enum QueueSeeds {
    public static func seeds(focus: QueueFocus) -> [Seed] {
        var seeds: [Seed] = []
        func add(_ name: String, _ script: Script) { seeds.append(Seed(name, script.writer.bytes)) }
        let queue = focus == .control ? "controlq" : "dataq"
        for (index, vector) in Repository.vectors("requests").enumerated() where vector["queue"] as? String == queue {
            let names = vector["features"] as? [String] ?? []
            let features = names.reduce(into: CryptoFeatures()) { $0.formUnion(CryptoFeatures.named($1) ?? []) }
            var script = Script(focus: focus, features: features)
            let head =
                [UInt8](vectorHex: vector["header-hex"] as! String) + [UInt8](vectorHex: vector["flf-hex"] as! String)
            script.framed(focus == .control ? .control : .data, head: head)
            let label = "\(vector["opcode"]!)-\(vector["layout"]!)"
            add("vector-\(String(format: "%03d", index))-\(label)", script)
        }
        for service in ServiceSeed.all {
            for legacy in [false, true] where !legacy || service.legacyToo {
                var script = Script(focus: focus, features: legacy ? [] : nil)
                script.framed(.control, head: service.create(script.layout), payloads: service.keys)
                if focus == .data || service.legacyToo {
                    for request in service.requests(script.layout) {
                        script.framed(.data, head: request.head, session: 0, payloads: request.payloads)
                    }
                }
                script.framed(.control, head: service.destroy(script.layout, id: 1))
                if focus == .data, let request = service.requests(script.layout).first {
                    // The session is gone: the same request must now fail (INVSESS) without a crash.
                    script.framed(.data, head: request.head, session: 0, payloads: request.payloads)
                }
                add("session-\(service.name)\(legacy ? "-legacy" : "")", script)
            }
            if focus == .data, service.inPlace {
                // A builder request on the session with its destination over its source (choice bit 5),
                // 32 bytes of source; the reads past the end of the seed are zeros (defaults).
                var script = Script(focus: focus)
                script.framed(.control, head: service.create(script.layout), payloads: service.keys)
                script.writer.append([QueueFuzzer.opByte(.sessionRequest, focus: focus), 0x20, 0, 0, 0x42])
                add("in-place-\(service.name)", script)
            }
        }
        if focus == .data {
            for stateless in StatelessSeed.all {
                var script = Script(focus: focus)
                script.framed(.data, head: stateless.head, payloads: stateless.payloads)
                add("stateless-\(stateless.name)", script)
            }
            for (name, script) in BatchSeed.all { add("batch-\(name)", script) }
        } else {
            // More sessions than the table holds: the last ones get NOSPC.
            var script = Script(focus: focus)
            let service = ServiceSeed.all[0]
            for _ in 0...QueueFuzzer.limits.maxSessions { script.framed(.control, head: service.create(script.layout)) }
            add("sessions-until-nospc", script)
        }
        // Builder steps whose choices are all zero: the first offered algorithm of each service.
        for service in 0..<6 {
            var script = Script(focus: focus)
            script.writer.u8(QueueFuzzer.opByte(.createSession, focus: focus))
            script.writer.u8(UInt8(service))
            script.writer.append([UInt8](repeating: 0, count: 12))
            script.writer.u8(QueueFuzzer.opByte(.sessionRequest, focus: focus))
            script.writer.append([UInt8](repeating: 0, count: 12))
            add("builder-\(service)", script)
        }
        for (name, ring) in HostileRingSeed.all {
            var script = Script(focus: focus)
            ring(&script, focus == .control ? .control : .data)
            add("ring-\(name)", script)
        }
        return seeds
    }
}

/// An input written step by step in the order `QueueFuzzer` reads it.
struct Script {
    let focus: QueueFocus
    var writer = InputWriter()
    let features: CryptoFeatures
    /// Sub-steps written, when this is a batch's (`batch`).
    var subSteps = 0

    /// Newest revision, no event index, rings of `QueueFuzzer.ringSizes[ring]` entries (16 by default);
    /// `features` nil takes all the device offers.
    init(focus: QueueFocus, features: CryptoFeatures? = nil, ring: UInt8 = 0) {
        self.focus = focus
        if let features {
            writer.u8(0xc0 | ring << 2)
            writer.u8(UInt8(truncatingIfNeeded: features.rawValue))
            let offered = QueueFuzzer.offers.last!.features
            self.features = offered.isSuperset(of: features) && features.unmetRequirements.isEmpty ? features : []
        } else {
            writer.u8(ring << 2)
            self.features = QueueFuzzer.offers.last!.features
        }
    }

    /// The sub-steps of a batch in `script`'s input (no setup byte; `script.batch` writes them).
    init(subStepsOf script: Script) {
        focus = script.focus
        features = script.features
    }

    var layout: RequestLayout { features.contains(.revision1) ? .revision1 : .legacy }

    /// A `framed` step: the head as is, the session id replaced by the `session`-th one this input
    /// created, each readable segment from `payloads` (or a pattern), taken whole from the input.
    /// `op`: the op byte when not the step table's (a batch's); `inPlace`: a data request's destination
    /// over its source.
    mutating func framed(
        _ kind: QueueKind, head: [UInt8], session: Int? = nil, payloads: [[UInt8]] = [], op: UInt8? = nil,
        inPlace: Bool = false
    ) {
        writer.u8(op ?? QueueFuzzer.opByte(.framed(kind), focus: focus))
        writer.u8((session == nil ? 0 : 2) | (inPlace ? 0x20 : 0))
        let headerSize = kind == .control ? ControlQueue.headerSize : DataQueue.headerSize
        writer.append(Array(head.prefix(headerSize)))
        if let session { writer.u8(UInt8(session)) }
        writer.append(Array(head.dropFirst(headerSize)))
        let plan = QueueFuzzer.plan(kind, head, features: features)
        for (index, length) in plan.readable.enumerated() {
            let payload = index < payloads.count ? payloads[index] : pattern(length)
            writer.le16(UInt16(payload.count))
            writer.append(payload)
        }
    }
}

extension Script {
    /// A batch step with `subSteps`' sub-steps.
    mutating func batch(_ subSteps: Script) {
        precondition((1...256).contains(subSteps.subSteps), "a batch has 1 to 256 sub-steps")
        writer.u8(QueueFuzzer.opByte(.batch, focus: focus))
        writer.u8(UInt8(subSteps.subSteps - 1))
        writer.append(subSteps.writer.bytes)
    }

    /// A `framed` sub-step; a data request's route byte after it (`QueueFuzzer.serveBatch`): bit 7
    /// handles it, else the low bits are `othersWaiting`.
    mutating func batchFramed(
        _ kind: QueueKind, head: [UInt8], session: Int? = nil, payloads: [[UInt8]] = [], inPlace: Bool = false,
        route: UInt8 = 0
    ) {
        framed(
            kind, head: head, session: session, payloads: payloads, op: QueueFuzzer.batchOpByte(.framed(kind)),
            inPlace: inPlace)
        if kind == .data { writer.u8(route) }
        subSteps += 1
    }

    /// The lanes answer all they hold, mid-batch.
    mutating func batchFinish() {
        writer.u8(QueueFuzzer.batchOpByte(.finishBatch))
        subSteps += 1
    }
}

/// `VIRTIO_CRYPTO_CIPHER_AES_CBC` → `aes-cbc`, for seed names.
func short(_ cName: String?, _ group: String) -> String {
    (cName ?? "unnamed").replacingOccurrences(of: "VIRTIO_CRYPTO_\(group)_", with: "").lowercased()
        .replacingOccurrences(of: "_", with: "-")
}

func pattern(_ count: Int, seed: UInt8 = 1) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ Int(seed)) }
}

/// A session of one service: how it is created, the requests it serves, how it is destroyed.
struct ServiceSeed {
    struct Request {
        var head: [UInt8]
        var payloads: [[UInt8]] = []
    }
    var name: String
    var create: (RequestLayout) -> [UInt8]
    var keys: [[UInt8]] = []
    var requests: (RequestLayout) -> [Request]
    var destroyOpcode: Opcode
    /// Also seeded without REVISION_1 (legacy layouts), for the few that the Linux driver uses.
    var legacyToo = false
    /// Its requests have a destination that can lie over their source.
    var inPlace: Bool { name.hasPrefix("cipher-") || name.hasPrefix("chain-") || name.hasSuffix("-decrypt") }

    func destroy(_ layout: RequestLayout, id: UInt64) -> [UInt8] {
        RequestBuilder.control(opcode: destroyOpcode, flf: DestroySessionFlf(sessionId: id), layout: layout)
    }

    static func data(_ opcode: Opcode, _ flf: some WireStruct, _ layout: RequestLayout) -> [UInt8] {
        RequestBuilder.data(opcode: opcode, sessionID: 0, flag: .sessionMode, flf: flf, layout: layout)
    }

    static var all: [ServiceSeed] {
        var seeds: [ServiceSeed] = []
        for algorithm in CipherAlgorithm.known {
            guard let parameters = CipherSession.parameters(algorithm), let keyLength = parameters.keyLengths.first
            else { continue }
            let iv = parameters.ivLength ?? 0
            let length = 4 * max(parameters.dataBlock, 16)
            seeds.append(
                ServiceSeed(
                    name: "cipher-\(short(algorithm.cName, "CIPHER"))",
                    create: {
                        RequestBuilder.control(
                            opcode: .cipherCreateSession,
                            flf: RequestBuilder.cipherSession(algorithm, keyLength: keyLength, op: .encrypt), layout: $0
                        )
                    },
                    keys: [pattern(keyLength)],
                    requests: { layout in
                        [
                            Request(
                                head: data(
                                    .cipherEncrypt,
                                    RequestBuilder.cipherData(ivLength: iv, sourceLength: length), layout)),
                            Request(
                                head: data(
                                    .cipherDecrypt,
                                    RequestBuilder.cipherData(ivLength: iv, sourceLength: length), layout)),
                        ]
                    }, destroyOpcode: .cipherDestroySession, legacyToo: algorithm == .aesCbc))
        }
        for algorithm in HashAlgorithm.known where HashSession.digestLength(algorithm) != nil || algorithm.cName != nil
        {
            let result = UInt32(HashSession.digestLength(algorithm) ?? 32)
            seeds.append(
                ServiceSeed(
                    name: "hash-\(short(algorithm.cName, "HASH"))",
                    create: {
                        RequestBuilder.control(
                            opcode: .hashCreateSession,
                            flf: HashCreateSessionFlf(algo: algorithm, hashResultLen: result),
                            layout: $0)
                    },
                    requests: { layout in
                        [Request(head: data(.hash, HashDataFlf(srcDataLen: 100, hashResultLen: result), layout))]
                    }, destroyOpcode: .hashDestroySession))
        }
        for algorithm in MacAlgorithm.known {
            guard let keys = MacSession.keyLengths(algorithm) else { continue }
            let result = UInt32(MacSession.macLength(algorithm) ?? 16)
            let key = min(keys.upperBound, max(keys.lowerBound, 32))
            seeds.append(
                ServiceSeed(
                    name: "mac-\(short(algorithm.cName, "MAC"))",
                    create: {
                        RequestBuilder.control(
                            opcode: .macCreateSession,
                            flf: MacCreateSessionFlf(algo: algorithm, hashResultLen: result, authKeyLen: UInt32(key)),
                            layout: $0)
                    },
                    keys: [pattern(key)],
                    requests: { layout in
                        [
                            Request(
                                head: data(
                                    .mac, MacDataFlf(hdr: HashDataFlf(srcDataLen: 64, hashResultLen: result)), layout)
                            )
                        ]
                    }, destroyOpcode: .macDestroySession))
        }
        for (algorithm, key) in [(AeadAlgorithm.gcm, 16), (.chacha20Poly1305, 32), (.ccm, 16)] {
            for op in [Op.encrypt, .decrypt] {
                seeds.append(
                    ServiceSeed(
                        name: "aead-\(short(algorithm.cName, "AEAD"))-\(op == .encrypt ? "encrypt" : "decrypt")",
                        create: {
                            RequestBuilder.control(
                                opcode: .aeadCreateSession,
                                flf: AeadCreateSessionFlf(
                                    algo: algorithm, keyLen: UInt32(key), tagLen: 16, aadLen: 8, op: op),
                                layout: $0)
                        },
                        keys: [pattern(key)],
                        requests: { layout in
                            let flf = AeadDataFlf(
                                ivLen: 12, aadLen: 8, srcDataLen: 48, dstDataLen: op == .encrypt ? 64 : 32, tagLen: 16)
                            return [Request(head: data(op == .encrypt ? .aeadEncrypt : .aeadDecrypt, flf, layout))]
                        }, destroyOpcode: .aeadDestroySession))
            }
        }
        for order in ChainOrder.known {
            for auth in [false, true] {
                let member: AlgChainSessionFlf.AlgoFlf =
                    auth
                    ? .auth(MacCreateSessionFlf(algo: .hmacSha256, hashResultLen: 32, authKeyLen: 32))
                    : .plain(HashCreateSessionFlf(algo: .sha256, hashResultLen: 32))
                let chain = AlgChainSessionFlf(
                    algChainOrder: order, hashMode: auth ? .auth : .plain,
                    cipherHdr: CipherSessionFlf(
                        algo: .aesCbc, keyLen: 16, op: order == .cipherThenHash ? .encrypt : .decrypt),
                    algoFlf: member, aadLen: 0)
                seeds.append(
                    ServiceSeed(
                        name: order == .cipherThenHash
                            ? "chain-cipher-then-\(auth ? "hmac" : "hash")"
                            : "chain-\(auth ? "hmac" : "hash")-then-cipher",
                        create: {
                            RequestBuilder.control(
                                opcode: .cipherCreateSession,
                                flf: SymCreateSessionFlf(opFlf: .algorithmChaining(chain), opType: .algorithmChaining),
                                layout: $0)
                        },
                        keys: auth ? [pattern(16), pattern(32, seed: 3)] : [pattern(16)],
                        requests: { layout in
                            let flf = AlgChainDataFlf(
                                ivLen: 16, srcDataLen: 64, dstDataLen: 64, cipherStartSrcOffset: 0, lenToCipher: 64,
                                hashStartSrcOffset: 0, lenToHash: 64, aadLen: 0, hashResultLen: 32)
                            let opcode: Opcode = order == .cipherThenHash ? .cipherEncrypt : .cipherDecrypt
                            return [
                                Request(
                                    head: data(
                                        opcode,
                                        SymDataFlf(opTypeFlf: .algorithmChaining(flf), opType: .algorithmChaining),
                                        layout))
                            ]
                        }, destroyOpcode: .cipherDestroySession))
            }
        }
        seeds += AkcipherSeedKeys.all.map { key in
            ServiceSeed(
                name: "akcipher-\(key.name)",
                create: {
                    RequestBuilder.control(
                        opcode: .akcipherCreateSession,
                        flf: AkcipherCreateSessionFlf(
                            algo: key.algorithm, keyType: key.keyType, keyLen: UInt32(key.der.count),
                            algoFlf: key.member),
                        layout: $0)
                },
                keys: [key.der],
                requests: { layout in
                    key.operations.map { operation in
                        Request(
                            head: data(
                                operation.opcode,
                                AkcipherDataFlf(
                                    srcDataLen: UInt32(operation.source), dstDataLen: UInt32(operation.destination)),
                                layout))
                    }
                }, destroyOpcode: .akcipherDestroySession)
        }
        return seeds
    }
}

/// AKCIPHER keys for seeds, from the engines' published vectors (Tests/VirtioCryptoEnginesTests).
struct AkcipherSeedKeys {
    struct Operation {
        var opcode: Opcode
        var source: Int
        var destination: Int
    }
    var name: String
    var algorithm: AkcipherAlgorithm
    var keyType: AkcipherKeyType
    var der: [UInt8]
    var member: AkcipherCreateSessionFlf.AlgoFlf
    var operations: [Operation]

    static var all: [AkcipherSeedKeys] {
        let file = Repository.json("Tests/VirtioCryptoEnginesTests/AkcipherVectors.json")
        let keys = file["keys"] as? [String: [String: Any]] ?? [:]
        var result: [AkcipherSeedKeys] = []
        if let rsa = keys["rsa-labs-sign-1"] {
            // 1024 bits: 128-byte blocks; a SHA-256 digest to sign, a signature and digest to verify.
            let pkcs1 = AkcipherCreateSessionFlf.AlgoFlf.rsa(RsaSessionPara(paddingAlgo: .pkcs1, hashAlgo: .sha256))
            let raw = AkcipherCreateSessionFlf.AlgoFlf.rsa(RsaSessionPara(paddingAlgo: .raw, hashAlgo: .noHash))
            let privateOperations = [
                Operation(opcode: .akcipherDecrypt, source: 128, destination: 128),
                Operation(opcode: .akcipherSign, source: 32, destination: 128),
            ]
            let publicOperations = [
                Operation(opcode: .akcipherEncrypt, source: 32, destination: 128),
                Operation(opcode: .akcipherVerify, source: 128, destination: 32),
            ]
            for (name, member) in [("pkcs1", pkcs1), ("raw", raw)] {
                result.append(
                    AkcipherSeedKeys(
                        name: "rsa-\(name)-private", algorithm: .rsa, keyType: .privateKey,
                        der: [UInt8](vectorHex: rsa["private"] as! String), member: member,
                        operations: privateOperations))
                result.append(
                    AkcipherSeedKeys(
                        name: "rsa-\(name)-public", algorithm: .rsa, keyType: .publicKey,
                        der: [UInt8](vectorHex: rsa["public"] as! String), member: member, operations: publicOperations)
                )
            }
        }
        for curve in EccCurve.known {
            guard let name = curve.cName?.lowercased().replacingOccurrences(of: "virtio_crypto_curve_", with: ""),
                // The first by name: a dictionary's order changes from run to run, the seeds must not.
                let key = keys.sorted(by: { $0.key < $1.key }).first(where: {
                    $0.value["algorithm"] as? String == "ecdsa" && $0.value["private"] != nil
                        && ($0.value["curve"] as? String)?.replacingOccurrences(of: "-", with: "_") == name
                })?.value
            else { continue }
            let member = AkcipherCreateSessionFlf.AlgoFlf.ecdsa(EcdsaSessionPara(curveId: curve))
            result.append(
                AkcipherSeedKeys(
                    name: "ecdsa-\(name)-private", algorithm: .ecdsa, keyType: .privateKey,
                    der: [UInt8](vectorHex: key["private"] as! String), member: member,
                    operations: [Operation(opcode: .akcipherSign, source: 32, destination: 144)]))
            result.append(
                AkcipherSeedKeys(
                    name: "ecdsa-\(name)-public", algorithm: .ecdsa, keyType: .publicKey,
                    der: [UInt8](vectorHex: key["public"] as! String), member: member,
                    operations: [Operation(opcode: .akcipherVerify, source: 72, destination: 32)]))
        }
        return result
    }
}

/// Stateless requests (parameters and key in the request) of each service.
struct StatelessSeed {
    var name: String
    var head: [UInt8]
    var payloads: [[UInt8]]

    static func data(_ opcode: Opcode, _ flf: some WireStruct) -> [UInt8] {
        RequestBuilder.data(opcode: opcode, flf: flf, layout: .stateless)
    }

    static var all: [StatelessSeed] {
        let cipher = CipherDataFlfStateless(
            sessPara: CipherSessPara(algo: .aesCbc, keyLen: 16, op: .encrypt), ivLen: 16, srcDataLen: 32, dstDataLen: 32
        )
        let chain = AlgChainDataFlfStateless(
            sessPara: AlgChainSessPara(
                algChainOrder: .cipherThenHash, aadLen: 0,
                cipher: CipherSessPara(algo: .aesCbc, keyLen: 16, op: .encrypt),
                hash: ChainHashPara(algo: MacAlgorithm.hmacSha256.rawValue, authKeyLen: 32, hashMode: .auth)),
            ivLen: 16, srcDataLen: 32, dstDataLen: 32, cipherStartSrcOffset: 0, lenToCipher: 32, hashStartSrcOffset: 0,
            lenToHash: 32, aadLen: 0, hashResultLen: 32)
        return [
            StatelessSeed(
                name: "cipher-aes-cbc",
                head: data(.cipherEncrypt, SymDataFlfStateless(opTypeFlf: .cipher(cipher), opType: .cipher)),
                payloads: [pattern(16)]),
            StatelessSeed(
                name: "chain-aes-cbc-hmac-sha256",
                head: data(
                    .cipherEncrypt,
                    SymDataFlfStateless(opTypeFlf: .algorithmChaining(chain), opType: .algorithmChaining)),
                payloads: [pattern(16), pattern(32, seed: 3)]),
            StatelessSeed(
                name: "hash-sha256",
                head: data(
                    .hash,
                    HashDataFlfStateless(sessPara: HashSessPara(algo: .sha256), srcDataLen: 64, hashResultLen: 32)),
                payloads: []),
            StatelessSeed(
                name: "mac-hmac-sha256",
                head: data(
                    .mac,
                    MacDataFlfStateless(
                        sessPara: MacSessPara(algo: .hmacSha256, authKeyLen: 32), srcDataLen: 64, hashResultLen: 32)),
                payloads: [pattern(32)]),
            StatelessSeed(
                name: "aead-gcm",
                head: data(
                    .aeadEncrypt,
                    AeadDataFlfStateless(
                        sessPara: AeadSessPara(algo: .gcm, keyLen: 16, op: .encrypt), ivLen: 12, tagLen: 16, aadLen: 8,
                        srcDataLen: 32, dstDataLen: 48)),
                payloads: [pattern(16)]),
        ]
            + AkcipherSeedKeys.all.prefix(2).map { key in
                var para = AkcipherSessPara(algo: key.algorithm, keyType: key.keyType, keyLen: UInt32(key.der.count))
                if case .rsa(let rsa) = key.member { para.u = .rsa(rsa) }
                let operation = key.operations[0]
                return StatelessSeed(
                    name: "akcipher-\(key.name)",
                    head: data(
                        operation.opcode,
                        AkcipherDataFlfStateless(
                            sessPara: para, srcDataLen: UInt32(operation.source),
                            dstDataLen: UInt32(operation.destination))), payloads: [key.der])
            }
    }
}

/// Hostile rings, written in the order `QueueFuzzer.hostileRing` reads them.
enum HostileRingSeed {
    static var all: [(String, (inout Script, QueueKind) -> Void)] {
        [
            (
                "loop",
                { script, kind in
                    // Two descriptors that name each other, then the head posted.
                    script.writer.u8(QueueFuzzer.opByte(.ring(kind), focus: script.focus))
                    script.writer.u8(1)
                    for (slot, next) in [(0, 1), (1, 0)] {
                        script.writer.append([UInt8(slot), UInt8(UInt16.next), 0, 0, 0, 16])
                        script.writer.le16(UInt16(next))
                    }
                    script.writer.u8(0)
                    script.writer.le16(0)
                }
            ),
            (
                "indirect-table",
                { script, kind in
                    script.writer.u8(QueueFuzzer.opByte(.ring(kind), focus: script.focus))
                    script.writer.u8(0)
                    // One descriptor naming a table of three: the second nests another table.
                    script.writer.append([0, UInt8(UInt16.indirect), 0, 0, 0, 16, 1, 2])
                    for flags in [UInt16.next, .next | .indirect, .write] {
                        script.writer.append([0, 0, 0, 48, UInt8(flags)])
                        script.writer.le16(1)
                    }
                    script.writer.le16(0)
                    script.writer.u8(0)
                    script.writer.le16(0)
                }
            ),
            (
                "avail-jump",
                { script, kind in
                    script.writer.u8(QueueFuzzer.opByte(.ring(kind), focus: script.focus))
                    // avail.idx moved by half the index space, and odd event words.
                    script.writer.append([0, 0, 0, 0, 0, 0, 16])
                    script.writer.le16(0)
                    script.writer.u8(4 | 8 | 16)
                    script.writer.le16(0)
                    script.writer.le16(0x8000)
                    script.writer.le16(0xffff)
                    script.writer.le16(1)
                }
            ),
            (
                "wild-addresses",
                { script, kind in
                    script.writer.u8(QueueFuzzer.opByte(.ring(kind), focus: script.focus))
                    // Buffers across a region's end, over the descriptor table, at the top of the
                    // address space, and past the high region.
                    script.writer.u8(3)
                    for slot in UInt8(0)..<4 {
                        script.writer.append([slot, slot == 3 ? 0 : UInt8(UInt16.next)])
                        switch slot {
                        case 0: script.writer.append([2, 0x80])
                        case 1: script.writer.u8(3)
                        case 2:
                            script.writer.u8(5)
                            script.writer.le64(0xffff_ffff_ffff_fff0)
                        default: script.writer.append([6, 0x10])
                        }
                        script.writer.append([0x40, 0xff, 0xff])
                        script.writer.le16(UInt16(slot + 1))
                    }
                    script.writer.u8(0)
                    script.writer.le16(0)
                }
            ),
        ]
    }
}
