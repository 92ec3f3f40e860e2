import ArgumentParser
import Dispatch
import VirtQueue
import VirtioCryptoDevice
import VirtioCryptoDriver
import VirtioCryptoWire

/// The device core alone, in process: rings in local memory, no vhost-user, no threads,
/// no eventfds. Separates the core's per-request cost from the transport's.
struct DeviceBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "device", abstract: "Per-request cost of the device core alone (AES-128-CBC).")

    @Option(help: "Request sizes in bytes.") var sizes: [Int] = [64, 1024, 16384]
    @Option(help: "Seconds per measurement.") var seconds = 0.5

    func run() throws {
        let device = VirtioCryptoDevice()
        device.negotiate([])
        let ring = DriverRing(size: 256, memorySize: 16 << 20)
        let queue = try SplitQueue(memory: ring.memory, layout: ring.layout, eventIndex: false)
        let control = DriverRing(size: 16)
        let controlQueue = try SplitQueue(memory: control.memory, layout: control.layout, eventIndex: false)
        let chain = DescriptorChain()
        let key = [UInt8](repeating: 3, count: 16)
        let sent = control.submit(readable: [RequestBuilder.control(opcode: .cipherCreateSession,
                                                                    flf: RequestBuilder.cipherSession(.aesCbc, keyLength: 16, op: .encrypt)), key],
                                  writable: [16])
        let head = try controlQueue.nextAvailable()!
        try controlQueue.walk(head: head, into: chain)
        _ = device.handleControl(chain)
        let session = try SessionInput.decode(control.written(sent)).sessionId
        let worker = device.makeDataWorker()
        print("size     requests/s   ns/request   (device core only: parse, session, AES-128-CBC, status)")
        for size in sizes {
            ring.resetData()
            let request = RequestBuilder.data(opcode: .cipherEncrypt, sessionID: session, flf: RequestBuilder.cipherData(ivLength: 16, sourceLength: size))
            let submission = ring.submit(readable: [request, [UInt8](repeating: 0, count: 16), [UInt8](repeating: 1, count: size)], writable: [size, 1])
            try queue.walk(head: submission.head, into: chain)
            var count = 0
            let start = DispatchTime.now().uptimeNanoseconds
            let deadline = start + UInt64(seconds * 1e9)
            var now = start
            while now < deadline {
                for _ in 0..<256 { _ = worker.handle(chain) }
                count += 256
                now = DispatchTime.now().uptimeNanoseconds
            }
            let perRequest = Double(now - start) / Double(count)
            print(String(format: "%5d %12.0f %12.0f", size, 1e9 / perRequest, perRequest))
        }
    }
}
