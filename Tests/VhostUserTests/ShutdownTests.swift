import CVhostUserSupport
import Foundation
import Glibc
import Testing
import VirtioCryptoDevice
import VirtioCryptoDriver
import VirtioCryptoWire

/// A clean stop serves what the driver already posted; the daemon does so on SIGTERM, also when
/// systemd started it with the listening socket (socket activation).
struct ShutdownTests {
    /// Posts `count` AES-CBC requests on `ring` without kicking it (the worker sleeps on its kick).
    static func post(_ count: Int, on ring: FrontendRing, session: UInt64) {
        ring.ring.resetData()
        for _ in 0..<count {
            _ = ring.ring.submit(readable: [aesCBCRequest(session), iv16, block64], writable: [64, 1], indirect: true)
        }
    }

    @Test func aStopFinishingPendingServesWhatWasPosted() throws {
        let pair = try Pair()
        try pair.frontend.handshake()
        let ring = try pair.frontend.startRing(0)
        let session = UInt64(try pair.frontend.createSession(cipher: .aesCbc, key: key16, op: .encrypt))
        Self.post(100, on: ring, session: session)
        pair.backend.stop(finishingPending: true)
        #expect(pair.ended() != nil)
        #expect(ring.ring.usedIndex == 100, "every posted request was served before the rings stopped")
        #expect((0..<100).allSatisfy { ring.ring.usedElement($0).length == 65 })
    }

    @Test func aPlainDisconnectLeavesPostedRequestsInTheRing() throws {
        let pair = try Pair()
        try pair.frontend.handshake()
        let ring = try pair.frontend.startRing(0)
        let session = UInt64(try pair.frontend.createSession(cipher: .aesCbc, key: key16, op: .encrypt))
        Self.post(100, on: ring, session: session)
        pair.backend.stop(finishingPending: false)
        #expect(pair.ended() != nil)
        #expect(ring.ring.usedIndex == 0, "not taken, so not lost: still in the avail ring")
    }

    /// The daemon binary next to the test bundle (SwiftPM builds every product for `swift test`).
    static var daemon: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("vhost-user-crypto").path
    }

    @Test func theSocketActivatedDaemonFinishesPostedRequestsOnSIGTERM() throws {
        let activate = "/usr/bin/systemd-socket-activate"
        try #require(access(activate, X_OK) == 0, "systemd-socket-activate (Debian package systemd) is needed")
        try #require(access(Self.daemon, X_OK) == 0, "no daemon at \(Self.daemon)")
        let path = "/tmp/vhost-user-crypto-activation-\(getpid()).sock"
        unlink(path)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: activate)
        process.arguments = ["-l", path, Self.daemon, "--log-level", "notice"]
        let output = Pipe()
        process.standardError = output
        process.standardOutput = output
        try process.run()
        for _ in 0..<250 where access(path, F_OK) != 0 { usleep(20_000) }
        // The first connection makes systemd-socket-activate exec the daemon with the socket as fd 3.
        let frontend = try VhostUserFrontend(path: path)
        try frontend.handshake()
        let ring = try frontend.startRing(0)
        let session = UInt64(try frontend.createSession(cipher: .aesCbc, key: key16, op: .encrypt))
        Self.post(100, on: ring, session: session)
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        let log = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(log)")
        #expect(ring.ring.usedIndex == 100, "the posted requests were served before the daemon exited")
        #expect(log.contains("stopping: finishing the requests already posted"), "\(log)")
        #expect(access(path, F_OK) == 0, "the socket file is systemd's: the daemon leaves it")
        unlink(path)
    }
}
