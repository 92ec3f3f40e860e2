import CVhostUserSupport
import Foundation
import Logging
import Testing
import VhostUser
import VhostUserCrypto
import VirtioCryptoDevice
import VirtioCryptoDriver
import VirtioCryptoWire

/// A real backend serving one end of a socket pair on its own thread; the driver, over
/// `VhostUserTransport`, is the frontend on the other end.
final class BackendPair: @unchecked Sendable, DeviceTraffic {
    let device: VirtioCryptoDevice
    let backend: VhostUserBackend
    let frontend: VhostUserFrontend

    init(limits: DeviceLimits, slices: Int, revision: SpecRevision = .newest) throws {
        var fds: [Int32] = [-1, -1]
        precondition(vu_socketpair(&fds) == 0)
        device = VirtioCryptoDevice(offer: DeviceOffer(limits: limits, revision: revision))
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        backend = VhostUserBackend(
            device: CryptoVhostUserDevice(device, logger: logger), connection: VhostUserConnection(fd: fds[0]),
            logger: logger)
        frontend = try VhostUserFrontend(fd: fds[1], slices: slices)
        Thread { [backend] in _ = backend.serve() }.start()
    }

    /// Requests the backend served on every ring.
    var traffic: Int { backend.requestsPerRing.values.reduce(0, +) }

    /// Whether the backend's served-request counts reach `expected` (a worker adds its
    /// count just after publishing the used entries, so give it a moment).
    func served(_ expected: [Int: Int], timeout: TimeInterval = 5) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let served = backend.requestsPerRing.filter { $0.value > 0 }
            if served == expected.filter({ $0.value > 0 }) { return true }
            usleep(1000)
        }
        return false
    }
}

struct VhostUserTransportTests {
    @Test func theDriverOverVhostUserChecksLocallyAndResetsTheRings() throws {
        let maxSize = AesCbcVector.iv.count + 2 * AesCbcVector.plaintext.count
        let dataQueues = 2
        let pair = try BackendPair(
            limits: limits {
                $0.dataQueues = dataQueues
                $0.maxRequestSize = maxSize
            },
            slices: dataQueues + 1)
        let driver = CryptoDriver(transport: VhostUserTransport(frontend: pair.frontend), dataQueues: dataQueues + 1)
        try driver.start()
        #expect(driver.features == [.revision1] && pair.device.features == [.revision1])
        expectRule(
            .drvConfigReadHwReady, .drvConfigReadCryptoServices, .drvConfigReadAlgoMasks,
            holds: driver.capabilities == DeviceCapabilities(pair.device.config) && driver.state == .ready)
        expectRule(.drvConfigReadMaxDataqueues, holds: driver.dataQueues == dataQueues)
        let control = dataQueues  // the control queue's ring index is max_dataqueues
        let session = try driver.aesCbcSession()
        // Exactly max_size (iv + source + destination), on the second data queue.
        #expect(try driver.cbc(session, queue: 1) == AesCbcVector.ciphertext)
        expectRule(.drvInitConfigureAllVirtqueues, .drvConfigMayUseOneDataq, holds: pair.served([control: 1, 1: 1]))
        // Refused locally, so the backend sees nothing more.
        let longer = AesCbcVector.plaintext + AesCbcVector.plaintext.prefix(AesCbcVector.iv.count)
        expectRefusal(
            .drvConfigReadMaxSize, .drvConfigRequestWithinMaxSize,
            refused: .requestTooLarge(size: maxSize + 2 * AesCbcVector.iv.count, maxSize: UInt64(maxSize)),
            on: pair
        ) { try driver.cipher(session, iv: AesCbcVector.iv, input: longer) }
        expectRefusal(
            .drvConfigReadMaxDataqueues,
            refused: .dataQueueBeyondDevice(queue: dataQueues, maxDataQueues: dataQueues),
            on: pair
        ) { try driver.cbc(session, queue: dataQueues) }
        let longKey = key32 + key32 + key32
        let maxKey = pair.device.offer.limits.maxCipherKeyLength
        expectRefusal(
            .drvConfigReadMaxCipherKeyLen, .drvConfigCipherKeyLenWithinMax,
            refused: .cipherKeyTooLong(length: longKey.count, maxLength: maxKey),
            on: pair
        ) { try driver.createCipherSession(.aesCbc, key: longKey, op: .encrypt) }
        #expect(pair.served([control: 1, 1: 1]))
        // A reset stops every ring (GET_VRING_BASE); start sets them up again from index 0.
        try driver.reset()
        #expect(driver.state == .ready && !driver.isLive(session))
        let again = try driver.aesCbcSession()
        #expect(try driver.cbc(again) == AesCbcVector.ciphertext)
        #expect(try driver.cbc(again, queue: 1) == AesCbcVector.ciphertext)
        try driver.destroySession(again)
        #expect(pair.served([control: 3, 0: 1, 1: 2]))
    }
}
