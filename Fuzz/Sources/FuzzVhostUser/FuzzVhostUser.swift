import CVhostUserSupport
import FuzzSupport
import Glibc
import Logging
import VhostUser
import VhostUserCrypto
import VirtioCryptoDevice
import VirtioCryptoDriver
import VirtioCryptoWire

/// Message sequences into the vhost-user back-end, over a real socket pair with real descriptors
/// (a shared memfd for guest RAM, eventfds, pipes, short memfds, /dev/null): each input is a
/// front-end's whole connection, sent before the back-end reads it; the back-end serves it to the
/// end (or to the refusal that ends it) and must leave no fd, mapping or session behind.
/// Each step is a raw message (request, flags, payload and descriptors from the input) or one of
/// the protocol's messages with fields from the input (`Template`), so both the decoders' size
/// checks and the state machine behind them are reached. The rest of the input fills guest RAM,
/// where rings set up by the steps find their descriptors.
enum BackendFuzzer {
    static let ramSize = 256 << 10
    /// The front-end's virtual address of guest RAM (QEMU's would be a real one; any value works).
    static let userBase: UInt64 = 0x7f00_0000_0000
    static let guestBase: UInt64 = 0x10_0000
    static let maxSteps = 40
    static let maxRawPayload = 1100

    static let logger: Logger = {
        var logger = Logger(label: "fuzz") { _ in SwiftLogNoOpLogHandler() }
        logger.logLevel = .critical
        return logger
    }()
    static let offer: DeviceOffer = {
        var limits = DeviceLimits()
        limits.maxSessions = 8
        limits.dataQueues = 2
        return DeviceOffer(limits: limits)
    }()

    /// The protocol messages a step can build (the raw step covers every other request code).
    enum Template: UInt8, CaseIterable {
        case getFeatures, setFeatures, getProtocolFeatures, setProtocolFeatures, setOwner, setMemTable
        case setVringNum, setVringBase, setVringAddr, setVringKick, setVringCall, setVringErr, getVringBase
        case getConfig, createSymmetricSession, createAkcipherSession, closeSession, setVringEnable, getQueueNum
        case resetOwner
    }

    /// Descriptor kinds a message can carry.
    enum Descriptor: UInt8, CaseIterable {
        case ram, eventfd, pipe, shortMemfd, devNull
    }

    final class Connection {
        var input: FuzzInput
        let ram: Int32
        let front: FrontendConnection
        /// Our copies of the kick eventfds sent, signalled once every message is sent.
        var kicks: [Int32] = []

        init(input: FuzzInput, ram: Int32, front: FrontendConnection) {
            self.input = input
            self.ram = ram
            self.front = front
        }

        func descriptor(_ kind: Descriptor) -> Int32 {
            switch kind {
            case .ram: return dup(ram)
            case .eventfd: return vu_eventfd()
            case .pipe:
                var ends: [Int32] = [-1, -1]
                guard pipe(&ends) == 0 else { return -1 }
                close(ends[0])
                return ends[1]
            case .shortMemfd: return vu_memfd("fuzz-short", 4096)
            case .devNull: return open("/dev/null", O_RDWR)
            }
        }

        /// Sends one message; the descriptors are the back-end's once sent (ours are closed).
        func send(_ request: UInt32, flags: UInt32, payload: [UInt8], fds: [Int32], keep: Int32? = nil) {
            let valid = fds.filter { $0 >= 0 }
            try? front.send(FrontendMessage(request: request, flags: flags, payload: payload, fds: valid))
            for fd in valid where fd != keep { close(fd) }
        }

        var flags: UInt32 { FrontendMessage.version | (input.bool() ? FrontendMessage.needReplyFlag : 0) }

        func raw() {
            let request = UInt32(input.u8())
            let flags = UInt32(input.u8())
            let payload = input.bytes(Int(input.le16()) % BackendFuzzer.maxRawPayload)
            let spec = input.u8()
            let fds = (0..<Int(spec & 3)).map { _ in descriptor(input.pick(Descriptor.allCases)) }
            send(request, flags: flags, payload: payload, fds: fds)
        }

        func template(_ template: Template) {
            var writer = WireWriter(capacity: 64)
            var fds: [Int32] = []
            var keep: Int32?
            let request: FrontendRequest
            let flags = self.flags
            switch template {
            case .getFeatures: request = .getFeatures
            case .getProtocolFeatures: request = .getProtocolFeatures
            case .getQueueNum: request = .getQueueNum
            case .setOwner: request = .setOwner
            case .resetOwner: request = .resetOwner
            case .setFeatures:
                request = .setFeatures
                // Mostly what a front-end would accept; sometimes any bits.
                let offered: UInt64 =
                    (1 << 28) | (1 << 29) | (1 << 30) | (1 << 32) | BackendFuzzer.offer.features.rawValue
                writer.le64(input.bool() ? input.le64() : offered & input.le64())
            case .setProtocolFeatures:
                request = .setProtocolFeatures
                writer.le64(input.bool() ? input.le64() : 0x289 & UInt64(input.le16()))
            case .setMemTable:
                request = .setMemTable
                let regions = 1 + Int(input.u8() % 2)
                writer.le32(UInt32(regions))
                writer.le32(0)
                for index in 0..<regions {
                    let size = input.bool() ? UInt64(BackendFuzzer.ramSize) / UInt64(regions) : UInt64(input.le32())
                    let offset = UInt64(index) * UInt64(BackendFuzzer.ramSize) / UInt64(regions)
                    writer.le64(BackendFuzzer.guestBase + offset)
                    writer.le64(size)
                    writer.le64(BackendFuzzer.userBase + offset)
                    writer.le64(input.bool() ? offset : UInt64(input.le32()))
                    fds.append(descriptor(input.u8() < 224 ? .ram : input.pick(Descriptor.allCases)))
                }
            case .setVringNum, .setVringBase, .setVringEnable, .getVringBase:
                request = [
                    Template.setVringNum: .setVringNum, .setVringBase: .setVringBase, .setVringEnable: .setVringEnable,
                    .getVringBase: .getVringBase,
                ][template]!
                writer.le32(UInt32(input.u8() % 4))
                switch template {
                case .setVringNum: writer.le32(input.bool() ? 1 << (input.u8() % 10) : input.le32())
                case .setVringEnable: writer.le32(UInt32(input.u8() % 3))
                default: writer.le32(UInt32(input.le16()))
                }
            case .setVringAddr:
                request = .setVringAddr
                writer.le32(UInt32(input.u8() % 4))
                writer.le32(input.u8() < 240 ? 0 : UInt32(input.u8()))
                // Offsets into guest RAM, aligned most of the time.
                for _ in 0..<3 {
                    let offset = UInt64(input.le32()) % UInt64(BackendFuzzer.ramSize + 4096)
                    writer.le64(BackendFuzzer.userBase + (input.u8() < 200 ? offset & ~15 : offset))
                }
                writer.le64(0)
            case .setVringKick, .setVringCall, .setVringErr:
                request =
                    [Template.setVringKick: .setVringKick, .setVringCall: .setVringCall][template] ?? .setVringErr
                let index = UInt64(input.u8() % 4)
                let noFD = input.u8() < 16
                writer.le64(index | (noFD ? 1 << 8 : 0))
                if !noFD {
                    let fd = descriptor(input.u8() < 224 ? .eventfd : input.pick(Descriptor.allCases))
                    fds.append(fd)
                    if template == .setVringKick, fd >= 0 {
                        keep = fd
                        kicks.append(fd)
                    }
                }
            case .getConfig:
                request = .getConfig
                let offset = UInt32(input.u8() % 64)
                let size = UInt32(input.u8() % 80)
                writer.le32(offset)
                writer.le32(size)
                writer.le32(0)
                writer.zeros(Int(size))
            case .createSymmetricSession:
                request = .createCryptoSession
                let cipher = input.pick(CipherAlgorithm.known)
                let key = input.bytes(Int(input.u8() % 80))
                writer.append(
                    bytes: QemuSessionPayload.symmetric(
                        cipher: cipher, key: key, op: input.bool() ? .encrypt : .decrypt, layoutC: input.bool(),
                        opType: input.u8() % 4, hashMode: input.u8() % 4, authAlgorithm: UInt32(input.u8() % 16),
                        resultLength: UInt32(input.u8()), authKey: input.bytes(Int(input.u8() % 80)),
                        chainOrder: input.u8() % 3))
            case .createAkcipherSession:
                request = .createCryptoSession
                writer.append(
                    bytes: QemuSessionPayload.akcipher(
                        algorithm: UInt32(input.u8() % 4), keyType: UInt32(input.u8() % 4),
                        key: input.bytes(Int(input.le16()) % 1100), padding: UInt32(input.u8() % 3),
                        hash: UInt32(input.u8() % 11), keyLength: input.u8() < 32 ? input.le32() : nil))
            case .closeSession:
                request = .closeCryptoSession
                writer.le64(UInt64(input.u8() % 12))
            }
            send(request.rawValue, flags: flags, payload: writer.bytes, fds: fds, keep: keep)
        }
    }

    /// As the daemon does: a write to a peer that went away is an error return, not a signal.
    static let ignoreSIGPIPE: Void = { signal(SIGPIPE, SIG_IGN) }()

    static func run(_ bytes: UnsafeRawBufferPointer) {
        _ = ignoreSIGPIPE
        var ends: [Int32] = [-1, -1]
        guard vu_socketpair(&ends) == 0 else { fatalError("no socket pair") }
        let ram = vu_memfd("fuzz-ram", ramSize)
        guard ram >= 0, let mapped = mmap(nil, ramSize, PROT_READ | PROT_WRITE, MAP_SHARED, ram, 0),
            mapped != MAP_FAILED
        else { fatalError("no guest RAM") }
        defer {
            munmap(mapped, ramSize)
            close(ram)
        }
        let device = VirtioCryptoDevice(offer: offer)
        let backend = VhostUserBackend(
            device: CryptoVhostUserDevice(device, logger: logger), connection: VhostUserConnection(fd: ends[0]),
            logger: logger)
        let connection = Connection(input: FuzzInput(bytes), ram: ram, front: FrontendConnection(fd: ends[1]))
        for _ in 0..<maxSteps where !connection.input.isEmpty {
            let step = connection.input.u8()
            if step % 4 == 0 {
                connection.raw()
            } else {
                connection.template(connection.input.pick(Template.allCases))
            }
        }
        // What is left fills guest RAM: the rings' descriptors, indexes and buffers.
        let rest = connection.input.rest()
        rest.prefix(ramSize).withUnsafeBytes { mapped.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        _ = shutdown(ends[1], Int32(SHUT_WR))
        for kick in connection.kicks { _ = vu_eventfd_signal(kick) }
        _ = backend.serve()
        connection.kicks.forEach { close($0) }
        precondition(device.sessions.count == 0, "sessions outlived the front-end")
    }

    /// Seeds: the message sequences QEMU's cryptodev and our generic front-end send.
    static var seeds: [Seed] {
        func step(_ template: Template, _ fields: [UInt8] = []) -> [UInt8] {
            [1, UInt8(template.rawValue)] + fields
        }
        let ring = { (index: UInt8, descriptors: UInt32, avail: UInt32, used: UInt32) -> [UInt8] in
            var writer = InputWriter()
            writer.u8(index)
            writer.u8(0)
            for offset in [descriptors, used, avail] {
                writer.le32(offset)
                writer.u8(0)
            }
            return writer.bytes
        }
        let handshake =
            step(.getFeatures, [0]) + step(.getProtocolFeatures, [0]) + step(.setProtocolFeatures, [0, 0, 0x89, 0x02])
            + step(.setOwner, [0]) + step(.setFeatures, [1, 0] + [UInt8](repeating: 0xff, count: 8))
            + step(.setMemTable, [1, 0, 1, 1, 0])
        func start(_ index: UInt8) -> [UInt8] {
            let base = UInt32(index) * 0x8000
            return step(.setVringNum, [1, index, 1, 8]) + step(.setVringBase, [1, index, 0, 0])
                + step(.setVringAddr, [1] + ring(index, base, base + 0x1000, base + 0x2000))
                + step(.setVringErr, [1, index, 255, 0]) + step(.setVringCall, [1, index, 255, 0])
                + step(.setVringKick, [1, index, 255, 0])
        }
        let aesKey = [UInt8](repeating: 0x2b, count: 16)
        let aesCBC = UInt8(CipherAlgorithm.known.firstIndex(of: .aesCbc) ?? 0)
        let session = step(.createSymmetricSession, [0, aesCBC, 16] + aesKey + [1, 0, 1, 0, 0, 0, 0, 0])
        return [
            Seed(
                "qemu-cryptodev",
                handshake + start(0) + session + step(.closeSession, [0, 1]) + step(.getVringBase, [1, 0, 0, 0])),
            Seed("generic-frontend", handshake + start(0) + start(2) + step(.getConfig, [1, 0, 60])),
            Seed(
                "memory-table-twice",
                handshake + start(0) + step(.setMemTable, [1, 0, 1, 1, 0]) + step(.resetOwner, [1])),
            Seed("raw-unknown", [0, 99, 0x09, 0, 0, 0] + handshake + [0, 5, 0x09, 3, 0, 1, 0, 0, 1]),
        ]
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    BackendFuzzer.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

/// SwiftPM's name for this executable's main (see FuzzDriver).
@_cdecl("FuzzVhostUser_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzDriver.main(argc, argv, seeds: { BackendFuzzer.seeds }) { data, size in data.map { fuzz($0, size) } ?? 0 }
}
