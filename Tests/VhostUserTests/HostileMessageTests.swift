import CVhostUserSupport
import Foundation
import Glibc
import Testing
import VhostUser
import VirtioCryptoDevice
import VirtioCryptoDriver
import VirtioCryptoWire

/// Malformed vhost-user traffic (research/protocol.md §4.2–4.3): each gets a failure
/// reply or a disconnect of that frontend, never a crash.
struct HostileMessageTests {
    func expectNack(_ pair: Pair, _ request: FrontendRequest, _ payload: [UInt8], fds: [Int32] = []) throws {
        #expect(throws: VhostUserFrontend.FrontendError.backend(1)) {
            try pair.frontend.acked(request, payload: payload, fds: fds)
        }
    }

    static func u32s(_ values: UInt32...) -> [UInt8] {
        values.flatMap { value in withUnsafeBytes(of: value.littleEndian) { Array($0) } }
    }
    static func u64(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

    @Test func badRingParametersAreRefused() throws {
        let pair = try Pair()
        try pair.frontend.handshake()
        try expectNack(pair, .setVringNum, Self.u32s(0x10000, 256))  // CVE-2020-10723: index truncation
        try expectNack(pair, .setVringNum, Self.u32s(2, 256))  // ring ≥ queue count
        for size: UInt32 in [0, 3, 65536] { try expectNack(pair, .setVringNum, Self.u32s(0, size)) }
        try expectNack(pair, .setVringAddr, Self.u32s(7, 0))  // short and out of range
        let eventfd = vu_eventfd()
        try expectNack(pair, .setVringKick, Self.u64(0x1_0000), fds: [eventfd])  // bits beyond index + NOFD
        try expectNack(pair, .setVringKick, Self.u64(0x100), fds: [vu_eventfd()])  // NOFD with an fd
        try expectNack(pair, .setVringCall, Self.u64(0))  // fd missing
        var pipeEnds: [Int32] = [0, 0]
        #expect(pipe(&pipeEnds) == 0)
        try expectNack(pair, .setVringCall, Self.u64(0), fds: [pipeEnds[1]])  // not an eventfd: SIGPIPE, blocking
        try expectNack(pair, .setVringKick, Self.u64(0), fds: [pipeEnds[0]])
        pipeEnds.forEach { close($0) }
        // Rings whose addresses are outside memory are refused when set (NeverSilentTests has the rest).
        try pair.frontend.acked(.setVringNum, payload: Self.u32s(0, 256))
        try expectNack(
            pair, .setVringAddr,
            Self.u32s(0, 0) + Self.u64(0xdead_0000) + Self.u64(0xdead_1000) + Self.u64(0xdead_2000) + Self.u64(0))
        #expect(try pair.frontend.call(.getFeatures).u64(at: 0) != nil)
    }

    @Test func badMemoryTablesAreRefused() throws {
        let pair = try Pair()
        _ = try pair.frontend.handshake()
        let region = Self.u64(0x10_0000) + Self.u64(4096) + Self.u64(0x7000_0000) + Self.u64(0)
        func table(_ regions: [[UInt8]]) -> [UInt8] { Self.u32s(UInt32(regions.count), 0) + regions.flatMap { $0 } }
        let fds = (0..<9).map { _ in vu_memfd("r", 8192) }
        try expectNack(pair, .setMemTable, table(Array(repeating: region, count: 9)), fds: fds)  // more than 8 regions
        let overlapping = Self.u64(0x10_0800) + Self.u64(4096) + Self.u64(0x7100_0000) + Self.u64(0)
        try expectNack(
            pair, .setMemTable, table([region, overlapping]), fds: [vu_memfd("a", 8192), vu_memfd("b", 8192)])
        let wrapping = Self.u64(UInt64.max - 100) + Self.u64(4096) + Self.u64(0) + Self.u64(0)
        try expectNack(pair, .setMemTable, table([wrapping]), fds: [vu_memfd("c", 8192)])
        let offsetOverflow = Self.u64(0x10_0000) + Self.u64(4096) + Self.u64(0) + Self.u64(UInt64.max - 10)
        try expectNack(pair, .setMemTable, table([offsetOverflow]), fds: [vu_memfd("d", 8192)])
        try expectNack(pair, .setMemTable, table([region]))  // fd missing
        let pastTheFile = Self.u64(0x10_0000) + Self.u64(1 << 20) + Self.u64(0x7000_0000) + Self.u64(0)
        try expectNack(pair, .setMemTable, table([pastTheFile]), fds: [vu_memfd("small", 8192)])  // would SIGBUS
        try expectNack(pair, .setMemTable, [1, 0, 0])  // truncated
        #expect(try pair.frontend.call(.getFeatures).u64(at: 0) != nil, "still serving")
    }

    @Test func unknownRequestsAndMalformedSessionsAreAnswered() throws {
        let pair = try Pair()
        try pair.frontend.handshake()
        #expect(throws: VhostUserFrontend.FrontendError.backend(1)) {
            try pair.frontend.connection.send(FrontendMessage(request: 99, flags: 0x9))
            let reply = try pair.frontend.connection.receive()
            throw VhostUserFrontend.FrontendError.backend(reply.u64(at: 0) ?? 0)
        }
        // A session payload of the wrong size is echoed with a negative id…
        let reply = try pair.frontend.call(.createCryptoSession, payload: [UInt8](repeating: 0xff, count: 100))
        #expect(reply.payload.count == 100)
        // …padded when it is too short to hold one.
        let short = try pair.frontend.call(.createCryptoSession, payload: [1, 2, 3])
        #expect(short.payload.count == 8 && short.payload.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) } == -1)
        // Key lengths beyond the buffers QEMU's structs hold (CVE-2020-10724 pattern).
        // (the frontend copies 64 key bytes but declares key_len 65)
        #expect(
            try pair.frontend.createSession(cipher: .aesCbc, key: [UInt8](repeating: 1, count: 65), op: .encrypt) < 0)
        var payload = [UInt8](repeating: 0, count: 632)
        payload.replaceSubrange(8..<12, with: Self.u32s(3))
        payload.replaceSubrange(12..<16, with: Self.u32s(0xffff_ffff))
        payload[32] = 1
        payload[33] = 1
        let oversized = try pair.frontend.call(.createCryptoSession, payload: payload)
        #expect(oversized.payload.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) } < 0)
    }

    @Test func descriptorsSentWithOtherRequestsAreClosed() throws {
        let pair = try Pair()
        try pair.frontend.handshake()
        var ends: [Int32] = [0, 0]
        #expect(vu_socketpair(&ends) == 0)
        _ = try pair.frontend.call(.getFeatures, fds: [ends[0]])
        close(ends[0])
        // Once the backend's copy is closed too, the other end reads end of stream.
        var byte: UInt8 = 0
        var pollEntry = pollfd(fd: ends[1], events: Int16(POLLIN), revents: 0)
        #expect(poll(&pollEntry, 1, 2000) == 1)
        #expect(recv(ends[1], &byte, 1, Int32(MSG_DONTWAIT)) == 0)
        close(ends[1])
    }

    @Test func oversizedPayloadsAndBadVersionsDropTheFrontend() throws {
        for (flags, size) in [(UInt32(0x1), UInt32(1 << 20)), (UInt32(0x2), UInt32(0))] {
            let pair = try Pair()
            var header: [UInt8] = []
            for word in [UInt32(1), flags, size] { withUnsafeBytes(of: word.littleEndian) { header += $0 } }
            _ = header.withUnsafeBytes { vu_send_all(pair.frontend.connection.fd, $0.baseAddress, $0.count) }
            let ended = pair.ended()
            #expect(ended != nil, "the backend stopped serving this frontend")
            if case .some(.some(let error)) = ended {
                #expect(error == (size > 0 ? .payloadTooLarge(Int(size)) : .badHeader))
            }
        }
    }
}
