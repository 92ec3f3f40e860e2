import Foundation
import Testing
import VirtQueue
import VirtioCryptoDevice
import VirtioCryptoDriver
import VirtioCryptoWire

/// The QEMU and DPDK vulnerability patterns of research/protocol.md §4, each as a request
/// the device must answer with a status (or drop), never a crash, hang or overread.
struct HostileRequestTests {
    let err = UInt8(Status.err.rawValue)

    @Test func cve_2017_5931_lengthsWhoseSumWraps32Bits() throws {
        let harness = try Harness()
        let id = try harness.cipherSession(.aesCbc, key: key16, op: .encrypt)
        let half = UInt32.max / 2 + 1
        let flf = SymDataFlf(
            opTypeFlf: .cipher(CipherDataFlf(ivLen: half, srcDataLen: half, dstDataLen: 16)), opType: .cipher)
        #expect(
            try harness.data(
                [RequestBuilder.data(opcode: .cipherEncrypt, sessionID: id, flf: flf), iv16, block64],
                writable: [16, 1]
            ).last == err)
        let chain = SymDataFlf(
            opTypeFlf: .algorithmChaining(
                AlgChainDataFlf(
                    ivLen: 16, srcDataLen: 64, dstDataLen: 64, aadLen: UInt32.max,
                    hashResultLen: UInt32.max)), opType: .algorithmChaining)
        #expect(
            try harness.data(
                [RequestBuilder.data(opcode: .cipherEncrypt, sessionID: id, flf: chain), iv16, block64],
                writable: [64, 1]
            ).last == err)
    }

    @Test func cve_2023_3180_destinationShorterThanSource() throws {
        let harness = try Harness()
        let id = try harness.cipherSession(.aesCbc, key: key16, op: .encrypt)
        let (status, output) = try harness.cipher(session: id, iv: iv16, input: block64, destinationLength: 16)
        #expect(status == .err && output.allSatisfy { $0 == 0 }, "nothing written past dst_data_len")
    }

    @Test func cve_2024_3446_descriptorsAliasingTheRingsAndTheStatusByte() throws {
        let harness = try Harness()
        let id = try harness.cipherSession(.aesCbc, key: key16, op: .encrypt)
        let ring = harness.dataRing
        ring.resetData()
        let head = ring.allocate(
            RequestBuilder.data(
                opcode: .cipherEncrypt, sessionID: id, flf: RequestBuilder.cipherData(ivLength: 16, sourceLength: 64))
                + iv16 + block64)
        // The destination is the descriptor table itself, the status byte the used ring's flags.
        ring.setDescriptor(0, address: head, length: 72 + 16 + 64, flags: .next, next: 1)
        ring.setDescriptor(1, address: ring.layout.descriptorTable, length: 64, flags: .write | .next, next: 2)
        ring.setDescriptor(2, address: ring.layout.usedRing, length: 1, flags: .write)
        ring.post(0)
        let queueHead = try #require(try harness.dataQueue.nextAvailable())
        try harness.dataQueue.walk(head: queueHead, into: harness.chain)
        _ = harness.worker.handle(harness.chain)  // writes where the guest said; must not crash or loop
        harness.dataQueue.publishUsed(head: queueHead, written: 0)
        // The queue still works (the descriptor table is rewritten by the next submission).
        #expect(try harness.cipher(session: id, iv: iv16, input: block64).0 == .ok)
    }

    @Test func invalidSessionIDsNeverAbort() throws {
        let harness = try Harness()
        _ = try harness.cipherSession(.aesCbc, key: key16, op: .encrypt)
        for id: UInt64 in [0, 2, 12345, .max] {
            #expect(try harness.cipher(session: id, iv: iv16, input: block64).0 == .invsess)
            let destroy = RequestBuilder.control(opcode: .cipherDestroySession, flf: DestroySessionFlf(sessionId: id))
            #expect(try harness.control([destroy], writable: 1) == [err])
        }
    }

    @Test func cve_2020_10724_keyLengthsBeyondTheLimits() throws {
        let harness = try Harness()
        for length: UInt32 in [65, 512, 513, .max] {
            let head = RequestBuilder.control(
                opcode: .cipherCreateSession,
                flf: SymCreateSessionFlf(
                    opFlf: .cipher(CipherSessionFlf(algo: .aesCbc, keyLen: length, op: .encrypt)), opType: .cipher))
            #expect(
                try harness.createSession(head, keys: [[UInt8](repeating: 1, count: 64)]).0 == .err, "keylen \(length)")
            let mac = RequestBuilder.control(
                opcode: .macCreateSession,
                flf: MacCreateSessionFlf(algo: .hmacSha256, hashResultLen: 32, authKeyLen: length))
            #expect(
                try harness.createSession(mac, keys: [[UInt8](repeating: 1, count: 64)]).0 == .err,
                "auth_key_len \(length)")
        }
        #expect(harness.device.sessions.count == 0)
    }

    @Test func cve_2020_10725_zeroLengthBufferOutsideMemory() throws {
        let harness = try Harness()
        let id = try harness.cipherSession(.aesCbc, key: key16, op: .encrypt)
        let ring = harness.dataRing
        ring.resetData()
        let head = ring.allocate(
            RequestBuilder.data(
                opcode: .cipherEncrypt, sessionID: id, flf: RequestBuilder.cipherData(ivLength: 16, sourceLength: 64))
                + iv16 + block64)
        let out = ring.allocate(count: 65)
        ring.setDescriptor(0, address: head, length: 152, flags: .next, next: 1)
        ring.setDescriptor(1, address: 0xdead_beef_0000, length: 0, flags: .next, next: 2)
        ring.setDescriptor(2, address: out, length: 65, flags: .write)
        ring.post(0)
        let queueHead = try #require(try harness.dataQueue.nextAvailable())
        try harness.dataQueue.walk(head: queueHead, into: harness.chain)
        #expect(harness.worker.handle(harness.chain) == 65)
        harness.dataQueue.publishUsed(head: queueHead, written: 65)
    }

    @Test func cve_2020_14376_ivAndLengthsBeyondBuffers() throws {
        let harness = try Harness()
        let id = try harness.cipherSession(.aesCbc, key: key16, op: .encrypt)
        let longIV = [UInt8](repeating: 9, count: 4000)
        #expect(try harness.cipher(session: id, iv: longIV, input: block64).0 == .err)
        // Descriptors longer than dst_data_len: only dst_data_len bytes are written.
        let head = RequestBuilder.data(
            opcode: .cipherEncrypt, sessionID: id, flf: RequestBuilder.cipherData(ivLength: 16, sourceLength: 32))
        let out = try harness.data([head, iv16, Array(block64.prefix(32))], writable: [200, 1])
        #expect(out[32..<200].allSatisfy { $0 == 0 } && out.last == 0)
    }

    @Test func cve_2022_2132_headerSplitBytewiseAndChainsShorterThanTheHeader() throws {
        let harness = try Harness()
        let id = try harness.cipherSession(.aesCbc, key: key16, op: .encrypt)
        let head = RequestBuilder.data(
            opcode: .cipherEncrypt, sessionID: id, flf: RequestBuilder.cipherData(ivLength: 16, sourceLength: 16))
        let pieces = head.map { [$0] } + [iv16, Array(block64.prefix(16))]
        let out = try harness.data(pieces, writable: [16, 1], indirect: true)
        #expect(out.last == 0)
        for length in [0, 1, 23, 24, 71] {
            #expect(try harness.data([Array(head.prefix(length))], writable: [1]) == [err], "chain of \(length) bytes")
        }
    }

    @Test func cve_2024_11614_chainOffsetsBeyondTheSource() throws {
        let harness = try Harness()
        let chainSession = SymCreateSessionFlf(
            opFlf: .algorithmChaining(
                AlgChainSessionFlf(
                    algChainOrder: .hashThenCipher, hashMode: .plain,
                    cipherHdr: CipherSessionFlf(algo: .aesCtr, keyLen: 16, op: .encrypt),
                    algoFlf: .plain(HashCreateSessionFlf(algo: .sha256, hashResultLen: 32)))),
            opType: .algorithmChaining)
        let (status, id) = try harness.createSession(
            RequestBuilder.control(opcode: .cipherCreateSession, flf: chainSession), keys: [key16])
        #expect(status == .ok)
        let cases: [(UInt32, UInt32, UInt32, UInt32)] = [
            (65, 0, 0, 64), (0, 65, 0, 64), (1, 64, 0, 64), (0, 64, 60, 5),
            (UInt32.max, 2, 0, 64), (0, 64, UInt32.max, 2),
        ]
        for (cipherStart, cipherLength, hashStart, hashLength) in cases {
            let flf = SymDataFlf(
                opTypeFlf: .algorithmChaining(
                    AlgChainDataFlf(
                        ivLen: 16, srcDataLen: 64, dstDataLen: 64, cipherStartSrcOffset: cipherStart,
                        lenToCipher: cipherLength, hashStartSrcOffset: hashStart, lenToHash: hashLength,
                        hashResultLen: 32)), opType: .algorithmChaining)
            let out = try harness.data(
                [RequestBuilder.data(opcode: .cipherEncrypt, sessionID: id, flf: flf), iv16, block64],
                writable: [64, 32, 1])
            #expect(out.last == err, "\(cipherStart) \(cipherLength) \(hashStart) \(hashLength)")
        }
    }

    @Test func opTypeAndOpcodeMismatchesAreRefused() throws {
        let harness = try Harness()
        let encrypt = try harness.cipherSession(.aesCbc, key: key16, op: .encrypt)
        // A chaining request on a cipher-only session.
        let flf = SymDataFlf(
            opTypeFlf: .algorithmChaining(AlgChainDataFlf(ivLen: 16, srcDataLen: 64, dstDataLen: 64, lenToCipher: 64)),
            opType: .algorithmChaining)
        #expect(
            try harness.data(
                [RequestBuilder.data(opcode: .cipherEncrypt, sessionID: encrypt, flf: flf), iv16, block64],
                writable: [64, 1]
            ).last == err)
        // op_type outside {1, 2}.
        let none = SymDataFlf(opType: .unknown(7))
        #expect(
            try harness.data(
                [RequestBuilder.data(opcode: .cipherEncrypt, sessionID: encrypt, flf: none)], writable: [1]
            ).last == UInt8(Status.notsupp.rawValue))
    }

    @Test func sessionsDestroyedWhileRequestsRunStaySafe() throws {
        let harness = try Harness()
        let stop = ManagedAtomicFlag()
        let device = harness.device
        // The control path churns sessions on another thread while this worker serves requests.
        let churn = Thread {
            let control = try! Harness.controlOnly(device)
            while !stop.isSet {
                let id = try! control.cipherSession(.aesCbc, key: key16, op: .encrypt)
                _ = try! control.control(
                    [RequestBuilder.control(opcode: .cipherDestroySession, flf: DestroySessionFlf(sessionId: id))],
                    writable: 1)
            }
        }
        churn.start()
        var seen: Set<UInt8> = []
        for round in 0..<300 {
            let id = UInt64(round % 40 + 1)
            seen.insert(
                try harness.data(
                    [
                        RequestBuilder.data(
                            opcode: .cipherEncrypt, sessionID: id,
                            flf: RequestBuilder.cipherData(ivLength: 16, sourceLength: 64)),
                        iv16, block64,
                    ], writable: [64, 1]
                ).last!)
        }
        stop.set()
        while !churn.isFinished { usleep(1000) }
        #expect(seen.isSubset(of: [0, UInt8(Status.invsess.rawValue)]))
    }
}

/// A flag set once from one thread and read from another.
final class ManagedAtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
    func set() {
        lock.lock()
        value = true
        lock.unlock()
    }
}
