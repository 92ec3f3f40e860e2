import VirtioCryptoDevice
import VirtioCryptoDriver
import VirtioCryptoEngines
import VirtioCryptoWire

/// Batches of the data target (`QueueFuzzer.runBatch`), one per kind of request IPsec-MB's lanes take:
/// session-mode AES-CBC encryption of `DataWorker.cbcLaneMinimum` bytes and more, HMAC-SHA1 and
/// HMAC-SHA-256, AES-GCM, AES-CBC then HMAC. Each request waits in the lanes, runs now beside them, is
/// answered at a mid-batch end, or waits while its session is destroyed; sources come from the
/// fuzzer's pattern (two bytes of input each), so a batch of a dozen requests stays short.
enum BatchSeed {
    /// Sessions of one kind and requests on them; the first request is one the lanes take.
    struct Lane {
        var name: String
        var create: (RequestLayout) -> [UInt8]
        var keys: [[UInt8]]
        var destroy: Opcode
        var requests: (RequestLayout) -> [[UInt8]]
        /// Readable parts of the requests given whole (the rest come from the fuzzer's pattern).
        var payloads: [[UInt8]] = [[], [], [], []]
        /// The first request's destination may lie over its source.
        var inPlace = false
    }

    static func data(_ opcode: Opcode, _ flf: some WireStruct, _ layout: RequestLayout) -> [UInt8] {
        ServiceSeed.data(opcode, flf, layout)
    }

    static func cipher(_ opcode: Opcode, source: Int, _ layout: RequestLayout) -> [UInt8] {
        data(opcode, RequestBuilder.cipherData(ivLength: 16, sourceLength: source), layout)
    }

    static func cbc(keyLength: Int) -> Lane {
        Lane(
            name: "cbc-aes\(keyLength * 8)",
            create: {
                RequestBuilder.control(
                    opcode: .cipherCreateSession,
                    flf: RequestBuilder.cipherSession(.aesCbc, keyLength: keyLength, op: .encrypt), layout: $0)
            }, keys: [pattern(keyLength)], destroy: .cipherDestroySession,
            requests: { layout in
                // Below the lanes' minimum and not whole blocks: both run now.
                [256, DataWorker.cbcLaneMinimum - 16, 4096, 200].map { cipher(.cipherEncrypt, source: $0, layout) }
            }, inPlace: true)
    }

    static func hmac(_ algorithm: MacAlgorithm, result: UInt32, key: Int) -> Lane {
        Lane(
            name: "\(short(algorithm.cName, "MAC"))-\(result * 8)-key\(key)",
            create: {
                RequestBuilder.control(
                    opcode: .macCreateSession,
                    flf: MacCreateSessionFlf(algo: algorithm, hashResultLen: result, authKeyLen: UInt32(key)),
                    layout: $0)
            }, keys: [pattern(key, seed: 5)], destroy: .macDestroySession,
            requests: { layout in
                // An empty source runs now; a result shorter than the session's fails now.
                [(64, result), (1000, result), (0, result), (64, result - 1)].map {
                    data(.mac, MacDataFlf(hdr: HashDataFlf(srcDataLen: UInt32($0.0), hashResultLen: $0.1)), layout)
                }
            })
    }

    static let gcmKey = pattern(16, seed: 9)
    static let gcmIV = pattern(12, seed: 11)
    static let gcmAAD = pattern(8, seed: 13)

    /// Ciphertext and tag of `plaintext` under the seeds' GCM key, IV and AAD: what a decryption must
    /// find authentic.
    static func sealed(_ plaintext: [UInt8]) -> [UInt8] {
        do {
            let session = try gcmKey.withUnsafeBytes {
                try AeadSession(algorithm: .gcm, key: $0, tagLength: 16, direction: .encrypt)
            }
            let context = try session.makeContext()
            var output = [UInt8](repeating: 0, count: plaintext.count + 16)
            try gcmIV.withUnsafeBytes { iv in
                try gcmAAD.withUnsafeBytes { aad in
                    try plaintext.withUnsafeBytes { input in
                        try output.withUnsafeMutableBytes {
                            try context.run(iv: iv, aad: aad, input: input, output: $0)
                        }
                    }
                }
            }
            return output
        } catch {
            fatalError("AES-GCM for the seeds: \(error)")
        }
    }

    static func gcm(_ op: Op) -> Lane {
        let encrypt = op == .encrypt
        return Lane(
            name: "gcm-\(encrypt ? "encrypt" : "decrypt")",
            create: {
                RequestBuilder.control(
                    opcode: .aeadCreateSession,
                    flf: AeadCreateSessionFlf(algo: .gcm, keyLen: 16, tagLen: 16, aadLen: 8, op: op), layout: $0)
            }, keys: [gcmKey], destroy: .aeadDestroySession,
            requests: { layout in
                // A 16-byte IV (J0) and 80 bytes of AAD run now.
                [(12, 8, 64), (12, 0, 256), (16, 8, 64), (12, 80, 64)].map { iv, aad, text in
                    let source = encrypt ? text : text + 16
                    let flf = AeadDataFlf(
                        ivLen: UInt32(iv), aadLen: UInt32(aad), srcDataLen: UInt32(source),
                        dstDataLen: UInt32(encrypt ? text + 16 : text), tagLen: 16)
                    return data(encrypt ? .aeadEncrypt : .aeadDecrypt, flf, layout)
                }
            },
            // The first decryption is authentic, the others are not (the pattern's tag). Wire order:
            // IV, source, AAD.
            payloads: encrypt ? [[], [], []] : [gcmIV, sealed(pattern(64, seed: 15)), gcmAAD],
            inPlace: !encrypt)
    }

    static func chain(_ mac: MacAlgorithm, result: UInt32) -> Lane {
        let flf = AlgChainSessionFlf(
            algChainOrder: .cipherThenHash, hashMode: .auth,
            cipherHdr: CipherSessionFlf(algo: .aesCbc, keyLen: 16, op: .encrypt),
            algoFlf: .auth(MacCreateSessionFlf(algo: mac, hashResultLen: result, authKeyLen: 32)), aadLen: 0)
        return Lane(
            name: "chain-aes-cbc-\(short(mac.cName, "MAC"))",
            create: {
                RequestBuilder.control(
                    opcode: .cipherCreateSession,
                    flf: SymCreateSessionFlf(opFlf: .algorithmChaining(flf), opType: .algorithmChaining),
                    layout: $0)
            }, keys: [pattern(16), pattern(32, seed: 3)], destroy: .cipherDestroySession,
            requests: { layout in
                // Parts of the source ciphered and hashed (the rest copied), then AAD and a partial
                // block, which run now.
                [(0, 256, 0, 256, 0), (16, 64, 8, 200, 0), (0, 64, 0, 64, 8), (0, 60, 0, 64, 0)].map {
                    (part: (UInt32, UInt32, UInt32, UInt32, UInt32)) -> [UInt8] in
                    let data = AlgChainDataFlf(
                        ivLen: 16, srcDataLen: 256, dstDataLen: 256, cipherStartSrcOffset: part.0, lenToCipher: part.1,
                        hashStartSrcOffset: part.2, lenToHash: part.3, aadLen: part.4, hashResultLen: result)
                    return Self.data(
                        .cipherEncrypt, SymDataFlf(opTypeFlf: .algorithmChaining(data), opType: .algorithmChaining),
                        layout)
                }
            }, inPlace: true)
    }

    static var lanes: [Lane] {
        [
            cbc(keyLength: 16), cbc(keyLength: 32), hmac(.hmacSha1, result: 20, key: 20),
            hmac(.hmacSha1, result: 12, key: 100), hmac(.hmacSha256, result: 32, key: 64),
            hmac(.hmacSha256, result: 16, key: 16), gcm(.encrypt), gcm(.decrypt), chain(.hmacSha256, result: 32),
            chain(.hmacSha1, result: 20),
        ]
    }

    static var all: [(String, Script)] {
        var seeds: [(String, Script)] = []
        for lane in lanes {
            var script = Script(focus: .data)
            let layout = script.layout
            // Sessions 0 and 1 of the input (ids 1 and 2).
            for _ in 0..<2 { script.framed(.control, head: lane.create(layout), payloads: lane.keys) }
            let requests = lane.requests(layout)
            var batch = Script(subStepsOf: script)
            func request(_ index: Int = 0, on session: Int, route: UInt8, inPlace: Bool = false) {
                batch.batchFramed(
                    .data, head: requests[index], session: session,
                    payloads: index == 0 ? lane.payloads : [[], [], []],
                    inPlace: inPlace, route: route)
            }
            // Into the lanes (others waiting), beside them (handled, or not taken), and one with none
            // waiting while the lanes hold others.
            request(on: 0, route: 1)
            request(on: 1, route: 2)
            if lane.inPlace { request(on: 0, route: 1, inPlace: true) }
            for index in requests.indices.dropFirst() { request(index, on: 1, route: 1) }
            request(on: 0, route: 0x80)
            request(on: 1, route: 0)
            batch.batchFinish()
            // Alone (none waiting, lanes empty): now.
            request(on: 0, route: 0)
            request(on: 0, route: 3)
            // Destroyed while its request waits: the next request flushes the lanes first; one on the
            // destroyed session gets INVSESS.
            batch.batchFramed(
                .control,
                head: RequestBuilder.control(opcode: lane.destroy, flf: DestroySessionFlf(sessionId: 1), layout: layout)
            )
            request(on: 1, route: 1)
            request(on: 0, route: 1)
            request(on: 1, route: 0x80)
            script.batch(batch)
            seeds.append((lane.name, script))
        }
        for lane in lanes { seeds.append(("\(lane.name)-destroyed-then-handled", destroyedThenHandled(lane))) }
        seeds.append(("cbc-all-tags", allTags()))
        return seeds
    }

    /// A session destroyed while its request waits in the lanes, then a request on another session
    /// through `handle` (which looks the sessions up again), then the end of the batch.
    static func destroyedThenHandled(_ lane: Lane) -> Script {
        var script = Script(focus: .data)
        let layout = script.layout
        for _ in 0..<2 { script.framed(.control, head: lane.create(layout), payloads: lane.keys) }
        let request = lane.requests(layout)[0]
        var batch = Script(subStepsOf: script)
        batch.batchFramed(.data, head: request, session: 0, payloads: lane.payloads, route: 1)
        batch.batchFramed(.data, head: request, session: 1, payloads: lane.payloads, route: 1)
        batch.batchFramed(
            .control,
            head: RequestBuilder.control(opcode: lane.destroy, flf: DestroySessionFlf(sessionId: 1), layout: layout))
        batch.batchFramed(.data, head: request, session: 1, payloads: lane.payloads, route: 0x80)
        script.batch(batch)
        return script
    }

    /// More requests in the lanes than the worker has tags (`DataWorker.maxInFlight`), on a 256-entry
    /// ring: the worker flushes the lanes to free one. Builder requests (`sessionRequest`: 256 bytes of
    /// AES-CBC on the input's first session, every fourth in place) keep the input short.
    static func allTags() -> Script {
        let lane = cbc(keyLength: 16)
        var script = Script(focus: .data, ring: 7)
        script.framed(.control, head: lane.create(script.layout), payloads: lane.keys)
        var batch = Script(subStepsOf: script)
        for index in 0..<(DataWorker.maxInFlight + 6) {
            // Op, choice (bit 5 in place), session 0, IV length (16), 16 blocks, IV and source from
            // the pattern, others waiting.
            batch.writer.append([QueueFuzzer.batchOpByte(.sessionRequest), index % 4 == 3 ? 0x20 : 0, 0, 0, 0x50])
            batch.writer.append([0, 0, 0, 0, 1])
            batch.subSteps += 1
        }
        script.batch(batch)
        return script
    }
}
