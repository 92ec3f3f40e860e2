import FuzzSupport
import Logging
import VhostUser
import VhostUserCrypto
import VirtioCryptoDevice
import VirtioCryptoDriver
import VirtioCryptoWire

/// QEMU's CREATE_CRYPTO_SESSION payloads into the back-end's parser and on into the device (a
/// session is really created when the payload describes one), then CLOSE_CRYPTO_SESSION. The
/// first byte picks the payload's size: QEMU 7.1–8.0's 632 bytes, QEMU ≥ 8.1's 1072, or the input's
/// own length; the input fills it. The reply must echo the request with only the session id
/// changed, and a created session must be the only one in the table.
enum SessionFuzzer {
    static let logger: Logger = {
        var logger = Logger(label: "fuzz") { _ in SwiftLogNoOpLogHandler() }
        logger.logLevel = .critical
        return logger
    }()
    static let offer = DeviceOffer()
    static let createRequest = VhostUserRequest.createCryptoSession.rawValue
    static let closeRequest = VhostUserRequest.closeCryptoSession.rawValue

    static func run(_ bytes: UnsafeRawBufferPointer) {
        var input = FuzzInput(bytes)
        let sizes = [QemuSessionPayload.sizeB, QemuSessionPayload.sizeC, input.remaining - 1]
        let size = max(0, sizes[Int(input.u8()) % sizes.count])
        var payload = input.bytes(size)
        if size == QemuSessionPayload.sizeC, input.bool() {
            // Mostly a valid op_code, so the layouts behind it are reached.
            payload.replaceSubrange(
                0..<8, with: [input.bool() ? 0x02 : 0x04, input.bool() ? 0 : 0x04, 0, 0, 0, 0, 0, 0])
        }
        let device = VirtioCryptoDevice(offer: offer)
        let adapter = CryptoVhostUserDevice(device, logger: logger)
        guard case .reply(let reply)? = adapter.handleExtension(createRequest, payload: payload) else {
            fatalError("CREATE_CRYPTO_SESSION has a reply")
        }
        let idOffset = size == QemuSessionPayload.sizeC ? 1064 : 0
        precondition(reply.count == max(payload.count, idOffset + 8), "the reply is the request's size")
        precondition(
            Array(reply.prefix(idOffset)) == Array(payload.prefix(idOffset)), "the reply changes only the session id")
        let id = reply.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: idOffset, as: Int64.self) }
        precondition(id >= 0 ? device.sessions.count == 1 : device.sessions.count == 0, "one session per success")
        if id >= 0 {
            var close = WireWriter(capacity: 8)
            close.le64(UInt64(id))
            _ = adapter.handleExtension(closeRequest, payload: close.bytes)
            precondition(device.sessions.count == 0, "CLOSE_CRYPTO_SESSION destroys it")
        }
        _ = try? CryptoSessionMessage.parse(payload, maxAkcipherKeyLength: Int(input.le16()))
    }

    /// Seeds: the payloads our front-end builds for every cipher and key length the engines take,
    /// both layouts, and AKCIPHER's with the test keys' sizes.
    static var seeds: [Seed] {
        var seeds: [Seed] = []
        for (index, cipher) in CipherAlgorithm.known.enumerated() {
            for layoutC in [false, true] {
                let key = [UInt8](repeating: UInt8(index), count: cipher == .aesXts ? 32 : 16)
                let payload = QemuSessionPayload.symmetric(cipher: cipher, key: key, op: .encrypt, layoutC: layoutC)
                seeds.append(Seed("cipher-\(index)-\(layoutC ? "c" : "b")", [layoutC ? 1 : 0] + payload + [0, 4]))
            }
        }
        let chain = QemuSessionPayload.symmetric(
            cipher: .aesCbc, key: [UInt8](repeating: 1, count: 16), op: .encrypt, opType: 2, hashMode: 1,
            authAlgorithm: 3, resultLength: 32, authKey: [UInt8](repeating: 2, count: 32), chainOrder: 1)
        seeds.append(Seed("chain-hmac", [0] + chain + [0, 4]))
        for (name, length) in [("rsa-1024-public", 140), ("rsa-2048-public", 270)] {
            var key = [UInt8](repeating: 0, count: length)
            key[0] = 0x30
            let payload = QemuSessionPayload.akcipher(algorithm: 1, keyType: 1, key: key, padding: 1, hash: 6)
            seeds.append(Seed(name, [1] + payload + [0, 4]))
        }
        return seeds
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    SessionFuzzer.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

/// SwiftPM's name for this executable's main (see FuzzDriver).
@_cdecl("FuzzSessionMessage_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzDriver.main(argc, argv, seeds: { SessionFuzzer.seeds }) { data, size in data.map { fuzz($0, size) } ?? 0 }
}
