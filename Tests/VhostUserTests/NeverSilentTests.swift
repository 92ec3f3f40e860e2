import CVhostUserSupport
import Foundation
import Glibc
import Testing
import VhostUser
import VirtQueue
import VirtioCryptoDevice
import VirtioCryptoDriver
import VirtioCryptoWire

/// The classes of hostile front-end input that once left a queue silent: each is refused where
/// the front-end sees it (a failure reply, an error eventfd, a status where the driver looks, or
/// a closed connection), and what ran before keeps running.
struct NeverSilentTests {
    static func u32s(_ values: UInt32...) -> [UInt8] {
        values.flatMap { value in withUnsafeBytes(of: value.littleEndian) { Array($0) } }
    }
    static func u64(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

    func expectNack(
        _ pair: Pair, _ request: FrontendRequest, _ payload: [UInt8], fds: [Int32] = [],
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(throws: VhostUserFrontend.FrontendError.backend(1), sourceLocation: sourceLocation) {
            try pair.frontend.acked(request, payload: payload, fds: fds)
        }
    }

    /// A started data ring with an AES-CBC session, and a check that it still serves.
    struct Serving {
        let ring: FrontendRing
        let session: UInt64

        init(_ pair: Pair, errorNotifier: Bool = true) throws {
            try pair.frontend.handshake()
            ring = try pair.frontend.startRing(0, errorNotifier: errorNotifier)
            session = UInt64(try pair.frontend.createSession(cipher: .aesCbc, key: key16, op: .encrypt))
        }

        func servesCorrectly() throws -> Bool {
            let out = try ring.run(readable: [aesCBCRequest(session), iv16, block64], writable: [64, 1])
            let expected = try engineCBC(key16, iv16, block64)
            return out.last == 0 && Array(out.prefix(64)) == expected
        }
    }

    static let region = u64(VhostUserFrontend.guestBase) + u64(4096) + u64(0x7000_0000) + u64(0)
    static func table(_ regions: [[UInt8]], count: UInt32? = nil) -> [UInt8] {
        u32s(count ?? UInt32(regions.count), 0) + regions.flatMap { $0 }
    }

    @Test func aRefusedMemoryTableLeavesTheRunningRingsRunning() throws {
        let pair = try Pair()
        let serving = try Serving(pair)
        #expect(try serving.servesCorrectly())
        let memfd = { vu_memfd("r", 8192) }
        var pipeEnds: [Int32] = [0, 0]
        #expect(pipe(&pipeEnds) == 0)
        close(pipeEnds[0])
        let region = Self.region
        let refused: [(String, [UInt8], [Int32])] = [
            ("no fd", Self.table([region]), []),
            ("nine regions", Self.table(Array(repeating: region, count: 9)), (0..<9).map { _ in memfd() }),
            (
                "overlapping",
                Self.table([
                    region,
                    Self.u64(VhostUserFrontend.guestBase + 0x800) + Self.u64(4096) + Self.u64(0x7100_0000)
                        + Self.u64(0),
                ]), [memfd(), memfd()]
            ),
            (
                "wrapping", Self.table([Self.u64(UInt64.max - 100) + Self.u64(4096) + Self.u64(0) + Self.u64(0)]),
                [memfd()]
            ),
            (
                "zero size", Self.table([Self.u64(0x10_0000) + Self.u64(0) + Self.u64(0x7000_0000) + Self.u64(0)]),
                [memfd()]
            ),
            (
                "beyond its file",
                Self.table([Self.u64(0x10_0000) + Self.u64(1 << 20) + Self.u64(0x7000_0000) + Self.u64(0)]), [memfd()]
            ),
            ("an fd that is not memory", Self.table([region]), [pipeEnds[1]]),
            ("an eventfd", Self.table([region]), [vu_eventfd()]),
            ("count above its regions", Self.table([region], count: 2), [memfd()]),
            ("count below its regions", Self.table([region, region], count: 1), [memfd()]),
            ("truncated", [1, 0, 0], []),
            // A valid table in which the running ring's memory is not.
            ("without the running ring", Self.table([region]), [memfd()]),
        ]
        for (name, payload, fds) in refused {
            expectNack(pair, .setMemTable, payload, fds: fds)
            #expect(try serving.servesCorrectly(), "the ring still runs after a refused table: \(name)")
        }
        #expect(pair.backend.refusedMessages.values.reduce(0, +) == refused.count, "each refusal is counted")
        // The same table again (QEMU re-sends it while running): the ring pauses and resumes.
        try pair.frontend.acked(.setMemTable, payload: pair.frontend.memoryTable(), fds: [pair.frontend.memoryFD])
        #expect(try serving.servesCorrectly())
    }

    /// Breaks ring 0 by moving avail.idx `by` entries without posting chains (past the ring
    /// size, or backwards), or by posting a head outside the descriptor table.
    enum Break: CaseIterable {
        case indexJumpsPastTheSize, indexMovesBackwards, headOutOfRange

        func apply(to ring: DriverRing) {
            switch self {
            case .indexJumpsPastTheSize: ring.post(0, advance: ring.size + 1)
            case .indexMovesBackwards: ring.post(0, advance: 0 &- 1)
            case .headOutOfRange: ring.post(ring.size + 7)
            }
        }

        var fault: String {
            self == .headOutOfRange ? "\(QueueError.indexOutOfRange)" : "\(QueueError.availIndexJump)"
        }
    }

    @Test(arguments: Break.allCases)
    func aBrokenRingSignalsItsErrorEventfd(_ broken: Break) throws {
        let pair = try Pair()
        let serving = try Serving(pair)
        #expect(try serving.servesCorrectly())
        broken.apply(to: serving.ring.ring)
        _ = vu_eventfd_signal(serving.ring.kick)
        #expect(serving.ring.waitForError(), "the error eventfd is signalled")
        #expect(pair.backend.ringFaults[broken.fault] == 1)
        #expect(try pair.frontend.call(.getFeatures).u64(at: 0) != nil, "the connection stays up")
        // GET_VRING_BASE and a restart bring the ring back, as a front-end's reset would.
        _ = try pair.frontend.stopRing(0)
        let restarted = try pair.frontend.startRing(0)
        let out = try restarted.run(readable: [aesCBCRequest(serving.session), iv16, block64], writable: [64, 1])
        #expect(out.last == 0)
    }

    @Test func aBrokenRingWithoutAnErrorEventfdClosesTheConnection() throws {
        let pair = try Pair()
        let serving = try Serving(pair, errorNotifier: false)
        Break.indexJumpsPastTheSize.apply(to: serving.ring.ring)
        _ = vu_eventfd_signal(serving.ring.kick)
        let ended = pair.ended()
        #expect(ended == .some(.some(.ringBroken(ring: 0, .availIndexJump))))
    }

    @Test func aChainTheDeviceCannotWalkIsReturnedAndCounted() throws {
        let pair = try Pair()
        let serving = try Serving(pair)
        let ring = serving.ring.ring
        ring.setDescriptor(0, address: 0xdead_0000_0000, length: 64, flags: 0)
        ring.post(0)
        _ = vu_eventfd_signal(serving.ring.kick)
        let deadline = Date().addingTimeInterval(5)
        while ring.usedIndex == 0, Date() < deadline { usleep(1000) }
        #expect(ring.usedIndex == 1 && ring.lastUsedLength == 0, "returned unused")
        #expect(pair.backend.ringFaults["\(QueueError.addressOutOfRange)"] == 1)
        #expect(try serving.servesCorrectly())
    }

    @Test func ringSetUpThatCannotBeHonouredIsRefused() throws {
        let pair = try Pair()
        try pair.frontend.handshake()
        let base = UInt64(UInt(bitPattern: pair.frontend.memory.baseAddress))
        let end = base + UInt64(pair.frontend.memory.count)
        try pair.frontend.acked(.setVringNum, payload: Self.u32s(0, 256))
        func address(_ descriptors: UInt64, _ used: UInt64, _ avail: UInt64, flags: UInt32 = 0) -> [UInt8] {
            Self.u32s(0, flags) + Self.u64(descriptors) + Self.u64(used) + Self.u64(avail) + Self.u64(0)
        }
        expectNack(pair, .setVringAddr, address(0xdead_0000, base + 0x2000, base + 0x1000))  // outside every region
        expectNack(pair, .setVringAddr, address(base + 8, base + 0x2000, base + 0x1000))  // descriptors unaligned
        expectNack(pair, .setVringAddr, address(base, base + 0x2002, base + 0x1000))  // used unaligned
        expectNack(pair, .setVringAddr, address(base, base + 0x2000, base + 0x1001))  // avail unaligned
        expectNack(pair, .setVringAddr, address(end - 16, base + 0x2000, base + 0x1000))  // runs past the end
        expectNack(pair, .setVringAddr, address(base, base + 0x2000, base + 0x1000, flags: 1))  // logging
        expectNack(pair, .setVringAddr, address(base, base + 0x2000, base + 0x1000) + [0])  // one byte too many
        try pair.frontend.acked(.setVringAddr, payload: address(base, base + 0x2000, base + 0x1000))
        // A size that would carry the set addresses past the end of memory.
        try pair.frontend.acked(
            .setVringAddr, payload: address(end - 0x1000, base + 0x8000, base + 0x4000))
        expectNack(pair, .setVringNum, Self.u32s(0, 512))
        expectNack(pair, .setVringKick, Self.u64(0x100))  // NOFD: the ring would never be served
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        close(ends[0])
        expectNack(pair, .setVringErr, Self.u64(0), fds: [ends[1]])  // a pipe: SIGPIPE, or a blocked worker
        close(ends[1])
        expectNack(pair, .setVringEnable, Self.u32s(7, 1))  // ring index out of range
        expectNack(pair, .setVringEnable, Self.u32s(0, 2))  // neither 0 nor 1
        expectNack(pair, .setFeatures, [1, 0, 0, 0])  // short
        expectNack(pair, .setFeatures, Self.u64(1 << 63))  // a bit never offered
        expectNack(pair, .setProtocolFeatures, Self.u64(1 << 40))
        #expect(try pair.frontend.call(.getFeatures).u64(at: 0) != nil, "still serving")
    }

    /// Without REPLY_ACK's NEED_REPLY, or for a request whose reply is its answer, a refusal has
    /// no failure reply: the connection ends, so the front-end cannot take it for success.
    @Test(arguments: [
        (FrontendRequest.setFeatures, [UInt8]([1, 0, 0, 0]), false),
        (.getQueueNum, [0], false),
        (.getVringBase, u32s(9, 0), false),
        (.setVringEnable, u32s(9, 1), false),
        (.setVringNum, u32s(0, 3), false),
    ])
    func aRefusalWithNoFailureReplyEndsTheConnection(_ request: FrontendRequest, _ payload: [UInt8], _: Bool) throws {
        let pair = try Pair()
        try pair.frontend.handshake()
        try pair.frontend.send(request, payload: payload)
        guard case .some(.some(.refused(let code, _))) = pair.ended() else {
            Issue.record("the connection did not end with a refusal")
            return
        }
        #expect(code == request.rawValue)
    }

    /// A control request whose opcode the device does not know, or does not offer, is answered
    /// where a driver expecting that request's outcome looks: the create-session outcome's
    /// status (offset 8) when the writable part has its 16 bytes, else the 1-byte status.
    @Test(arguments: [Opcode.unknown(0x999), .akcipherCreateSession, .hashCreateSession])
    func controlRequestsTheDeviceCannotServeAreAnsweredWhereTheDriverLooks(_ opcode: Opcode) throws {
        let offer = DeviceOffer().restricted(hashes: [], akciphers: [])
        let pair = try Pair(offer: offer)
        try pair.frontend.handshake()
        let control = try pair.frontend.startRing(1)
        let request = RequestBuilder.control(
            opcode: opcode, flf: RequestBuilder.cipherSession(.aesCbc, keyLength: 16, op: .encrypt))
        let created = try CreateSessionInput.decode(try control.run(readable: [request, key16], writable: [16]))
        #expect(created.status == .notsupp, "\(opcode)")
        guard case .unknown = opcode else { return }
        // An opcode of no known request has no outcome of its own: the 1-byte status fits.
        let statusOnly = try control.run(readable: [request, key16], writable: [1])
        #expect(statusOnly == [UInt8(Status.notsupp.rawValue)])
    }

    /// Sessions created and destroyed in a loop through the control queue leave nothing behind:
    /// the table empties, and (under AddressSanitizer in CI) no MAC state or key leaks.
    @Test func creatingAndDestroyingSessionsInALoopLeavesNothing() throws {
        let pair = try Pair()
        try pair.frontend.handshake()
        let control = try pair.frontend.startRing(1)
        let mac = RequestBuilder.control(
            opcode: .macCreateSession, flf: MacCreateSessionFlf(algo: .hmacSha256, hashResultLen: 32, authKeyLen: 4))
        for _ in 0..<300 {
            let created = try CreateSessionInput.decode(
                try control.run(readable: [mac, Array("Jefe".utf8)], writable: [16]))
            #expect(created.status == .ok)
            let destroy = RequestBuilder.control(
                opcode: .macDestroySession, flf: DestroySessionFlf(sessionId: created.sessionId))
            #expect(try control.run(readable: [destroy], writable: [1]) == [0])
        }
        #expect(pair.device.sessions.count == 0)
    }

    /// After GET_VRING_BASE the ring stays stopped through the NUM, BASE and ADDR that set it up
    /// again, and starts on the next SET_VRING_KICK's fd only (the vhost-user spec's order): it
    /// never serves what the driver posted while it was being reset.
    @Test func aRingStoppedByGetVringBaseWaitsForItsNextKick() throws {
        let pair = try Pair()
        let serving = try Serving(pair)
        #expect(try serving.servesCorrectly())
        #expect(try pair.frontend.stopRing(0) == 1)
        let ring = serving.ring.ring
        _ = ring.submit(readable: [aesCBCRequest(serving.session), iv16, block64], writable: [64, 1])
        let base = UInt64(UInt(bitPattern: pair.frontend.memory.baseAddress))
        func host(_ guest: UInt64) -> UInt64 { base + guest - VhostUserFrontend.guestBase }
        try pair.frontend.acked(.setVringNum, payload: Self.u32s(0, UInt32(ring.size)))
        try pair.frontend.acked(.setVringBase, payload: Self.u32s(0, 1))
        try pair.frontend.acked(
            .setVringAddr,
            payload: Self.u32s(0, 0) + Self.u64(host(ring.layout.descriptorTable))
                + Self.u64(host(ring.layout.usedRing))
                + Self.u64(host(ring.layout.availRing)) + Self.u64(0))
        usleep(300_000)  // longer than a worker's poll: a started worker would have served it
        #expect(ring.usedIndex == 1, "not served before the next kick fd")
        let kick = vu_eventfd()
        try pair.frontend.acked(.setVringKick, payload: Self.u64(0), fds: [kick])
        _ = vu_eventfd_signal(kick)
        let deadline = Date().addingTimeInterval(5)
        while ring.usedIndex == 1, Date() < deadline { usleep(1000) }
        #expect(ring.usedIndex == 2, "served once the kick fd came")
        close(kick)
    }
}
