import ArgumentParser
import Dispatch
import Foundation
import VirtQueue
import VirtioCryptoDevice
import VirtioCryptoDriver
import VirtioCryptoWire

/// The device core alone, in process: rings in local memory, no vhost-user, no threads,
/// no eventfds. Separates the core's per-request cost from the transport's, and (with
/// libMallocCounter.so preloaded) counts its allocations per request.
struct DeviceBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device",
        abstract: "Per-request cost of the device core alone vs the raw library.",
        discussion:
            "Run as LD_PRELOAD=.build/release/libMallocCounter.so virtio-crypto-bench device to count allocations per request."
    )

    @Option(
        name: .customLong("workloads"),
        help: "Workloads: \(BenchWorkload.allCases.map(\.rawValue).joined(separator: ", ")).")
    var workloadLists: [CommaList<String>] = [CommaList(BenchWorkload.allCases.map(\.rawValue))]
    var workloads: [String] { workloadLists.flattened() }
    @Option(name: .customLong("sizes"), help: "Request sizes in bytes.")
    var sizeLists: [CommaList<Int>] = [CommaList([64, 1024, 16384])]
    var sizes: [Int] { sizeLists.flattened() }
    @Option(help: "Seconds per measurement.") var seconds = 0.5
    @Option(
        help:
            "Handle exactly this many requests per measurement instead of timing, with no raw-library run (for callgrind: the instruction count is then a function of the count alone)."
    )
    var requests: Int?
    @Option(name: .customLong("modes"), help: "Request modes: session, stateless.")
    var modeLists: [CommaList<VringBenchmark.Mode>] = [CommaList([.session])]
    var modes: [VringBenchmark.Mode] { modeLists.flattened() }

    func validate() throws {
        for name in workloads where BenchWorkload(rawValue: name) == nil {
            throw ValidationError("unknown workload \(name)")
        }
        if let requests, requests < 1 { throw ValidationError("--requests must be positive") }
    }

    func run() throws {
        let ring = DriverRing(size: 256, memorySize: 16 << 20)
        let queue = try SplitQueue(memory: ring.memory, layout: ring.layout, eventIndex: false)
        let control = DriverRing(size: 16)
        let controlQueue = try SplitQueue(memory: control.memory, layout: control.layout, eventIndex: false)
        let chain = DescriptorChain()
        let counter = AllocationCounter()
        print("workload              mode        size   requests/s   ns/request   raw ns   ratio   allocs/request")
        for mode in modes {
            // A device per mode: stateless requests need REVISION_1 and the stateless
            // features; session requests keep the legacy layout Linux guests send.
            let device = VirtioCryptoDevice()
            guard device.negotiate(mode == .stateless ? CryptoFeatures.all : []) else {
                throw ValidationError("negotiation failed")
            }
            let worker = device.makeDataWorker()
            for workload in workloads.compactMap(BenchWorkload.init(rawValue:)) {
                var session: UInt64 = 0
                if mode == .session {
                    session = try workload.createSession { readable, writable in
                        control.resetData()
                        let sent = control.submit(readable: readable, writable: writable)
                        let head = try controlQueue.nextAvailable()!
                        try controlQueue.walk(head: head, into: chain)
                        _ = device.handleControl(chain)
                        controlQueue.publishUsed(head: head, written: 0)
                        return control.written(sent)
                    }
                }
                for size in sizes {
                    ring.resetData()
                    let (readable, writable) =
                        mode == .session
                        ? workload.request(session: session, size: size) : workload.statelessRequest(size: size)
                    let submission = ring.submit(readable: readable, writable: writable)
                    try queue.walk(head: submission.head, into: chain)
                    let written = worker.handle(chain) > 0 ? ring.written(submission) : []
                    guard written.last == 0 else {
                        throw ValidationError(
                            "\(workload.rawValue) \(size) B \(mode.rawValue): the device refused the request")
                    }
                    if let expected = workload.expectedOutput(size: size), !written.starts(with: expected) {
                        throw ValidationError(
                            "\(workload.rawValue) \(size) B \(mode.rawValue): the device's output is not the expected data"
                        )
                    }
                    // A fixed count times nothing else: no raw run, no clock inside the loop.
                    let rawRate =
                        requests == nil ? EnginesBenchmark().measure(seconds, try workload.rawOperation(size: size)) : 0
                    var count = 0
                    let allocationsBefore = counter.total
                    let start = DispatchTime.now().uptimeNanoseconds
                    var now = start
                    if let requests {
                        for _ in 0..<requests { _ = worker.handle(chain) }
                        count = requests
                        now = DispatchTime.now().uptimeNanoseconds
                    } else {
                        let deadline = start + UInt64(seconds * 1e9)
                        while now < deadline {
                            for _ in 0..<64 { _ = worker.handle(chain) }
                            count += 64
                            now = DispatchTime.now().uptimeNanoseconds
                        }
                    }
                    let allocations =
                        counter.total.map { after in allocationsBefore.map { Double(after - $0) / Double(count) } }
                        ?? nil
                    let perRequest = Double(now - start) / Double(count)
                    print(
                        String(
                            format: "%@ %@ %6d %12.0f %12.0f %@ %@   %@",
                            workload.rawValue.padding(toLength: 21, withPad: " ", startingAt: 0),
                            mode.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0), size, 1e9 / perRequest,
                            perRequest,
                            rightAligned(rawRate > 0 ? String(format: "%.0f", 1e9 / rawRate) : "-", 8) as NSString,
                            rightAligned(rawRate > 0 ? String(format: "%.3f", (1e9 / perRequest) / rawRate) : "-", 7)
                                as NSString,
                            allocations.map { String(format: "%.3f", $0) } ?? "n/a (no counter preloaded)"))
                }
            }
        }
    }
}

/// `text` padded on the left to `width` columns.
func rightAligned(_ text: String, _ width: Int) -> String {
    String(repeating: " ", count: max(0, width - text.count)) + text
}

/// libMallocCounter.so's count when it is preloaded into this process.
struct AllocationCounter {
    private let read: (@convention(c) () -> UInt64)?

    init() {
        read = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_counter_total").map {
            unsafeBitCast($0, to: (@convention(c) () -> UInt64).self)
        }
    }

    var total: UInt64? { read?() }
}
