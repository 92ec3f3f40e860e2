import ArgumentParser
import CVhostUserSupport
import Foundation
import Glibc
import Histogram
import VirtioCryptoDriver
import VirtioCryptoEngines
import VirtioCryptoWire

/// Throughput and latency through real vrings: the daemon runs as its own process, this
/// process is the VMM + guest (our vhost-user frontend, memfd memory, eventfds), and the
/// same operation is timed against the crypto library directly in the same run.
struct VringBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vring",
        abstract: "Requests through the vhost-user daemon vs the crypto library called directly.")

    @Option(help: "The daemon binary (default: vhost-user-crypto next to this executable).") var daemon: String?
    @Option(help: "Attach to a daemon already listening on this socket instead of starting one.") var attach: String?
    @Option(
        name: .customLong("workloads"),
        help: "Workloads: \(BenchWorkload.allCases.map(\.rawValue).joined(separator: ", ")).")
    var workloadLists: [CommaList<String>] = [CommaList(BenchWorkload.allCases.map(\.rawValue))]
    @Option(name: .customLong("sizes"), help: "Request sizes in bytes.")
    var sizeLists: [CommaList<Int>] = [CommaList([64, 256, 1024, 4096, 16384])]
    @Option(name: .customLong("depths"), help: "Queue depths (requests in flight per queue); capped at the ring size.")
    var depthLists: [CommaList<Int>] = [CommaList([1, 32, 256])]
    @Option(name: .customLong("queues"), help: "Data queue counts.") var queueLists: [CommaList<Int>] = [
        CommaList([1, 2])
    ]
    @Option(name: .customLong("modes"), help: "Request modes: session, stateless.")
    var modeLists: [CommaList<Mode>] = [CommaList([.session, .stateless])]

    var workloads: [String] { workloadLists.flattened() }
    var sizes: [Int] { sizeLists.flattened() }
    var depths: [Int] { depthLists.flattened() }
    var queues: [Int] { queueLists.flattened() }
    var modes: [Mode] { modeLists.flattened() }
    @Option(help: "Seconds per measurement (split into rounds that alternate with the raw library).") var seconds = 1.0
    @Option(help: "Rounds per measurement: daemon and raw library alternate, medians are reported.") var rounds = 5
    @Option(help: "libMallocCounter.so to preload into the daemon (default: next to this executable, when present).")
    var mallocCounter: String?
    @Flag(
        help:
            "A short run (under a minute): session mode at 64, 256 and 16384 B, depths 1 and 256; stateless at depth 256, one queue."
    )
    var quick = false
    @Flag(help: "JSON lines instead of a table (progress goes to standard error).") var json = false
    @Flag(
        help:
            "All in-flight requests share one set of data buffers (diagnostic: separates memory traffic from per-request work)."
    )
    var sharedData = false
    @Option(
        help:
            "Fail when a session-mode measurement exceeds this many daemon allocations per request (needs the counter)."
    )
    var maxAllocationsPerRequest: Double?

    enum Mode: String, ExpressibleByArgument, CaseIterable { case session, stateless }

    /// One measurement: a workload, a size, a depth, a queue count, a mode.
    struct Cell { var workload: BenchWorkload, size: Int, depth: Int, queues: Int, mode: Mode }

    var plan: [Cell] {
        let chosen = workloads.compactMap(BenchWorkload.init(rawValue:))
        func cells(_ mode: Mode, sizes: [Int], depths: [Int], queues: [Int]) -> [Cell] {
            chosen.flatMap { workload in
                // An AKCIPHER request is one 32-byte digest whatever the size.
                (workload.akcipher == nil ? sizes : [BenchWorkload.digest.count]).flatMap { size in
                    depths.flatMap { depth in
                        queues.map { Cell(workload: workload, size: size, depth: depth, queues: $0, mode: mode) }
                    }
                }
            }
        }
        if quick {
            return cells(.session, sizes: [64, 256, 16384], depths: [1, 256], queues: [1, 2])
                + (modes.contains(.stateless) ? cells(.stateless, sizes: [64, 16384], depths: [256], queues: [1]) : [])
        }
        return modes.flatMap { cells($0, sizes: sizes, depths: depths, queues: queues) }
    }

    func validate() throws {
        for name in workloads where BenchWorkload(rawValue: name) == nil {
            throw ValidationError("unknown workload \(name)")
        }
        guard rounds >= 1, seconds > 0 else { throw ValidationError("--rounds and --seconds must be positive") }
    }

    func run() throws {
        let cells = plan
        let (perRound, roundCount) = quick ? (0.06, 3) : (seconds / Double(rounds), rounds)
        let maxQueues = cells.map(\.queues).max() ?? 1
        let daemon = try DaemonProcess(attach: attach, binary: daemon, queues: maxQueues, mallocCounter: mallocCounter)
        defer { daemon.stop() }

        if !json { print(Row.header) }
        var done = 0
        var problems: [String] = []
        for mode in Mode.allCases {
            let modeCells = cells.filter { $0.mode == mode }
            guard !modeCells.isEmpty else { continue }
            // One connection per mode: stateless requests need REVISION_1 and the stateless
            // features; session mode keeps the legacy layout QEMU's guests use.
            let wanted: UInt64 = mode == .stateless ? CryptoFeatures.all.rawValue | (1 << 32) : 0
            let frontend = try VhostUserFrontend(path: daemon.socket, slices: maxQueues + 1, sliceSize: 32 << 20)
            let offered = try frontend.handshake(features: (1 << 30) | wanted)
            if mode == .stateless, offered & CryptoFeatures.all.rawValue != CryptoFeatures.all.rawValue {
                throw ValidationError(
                    "the daemon does not offer every stateless mode (features \(String(offered, radix: 16)))")
            }
            let control = try frontend.startRing(maxQueues, size: 64)
            let dataRings = try (0..<maxQueues).map { try frontend.startRing($0, size: 256) }
            var sessions: [BenchWorkload: UInt64] = [:]
            for cell in modeCells {
                if mode == .session, sessions[cell.workload] == nil {
                    sessions[cell.workload] = try cell.workload.createSession(control)
                }
                let (readable, writable) =
                    mode == .session
                    ? cell.workload.request(session: sessions[cell.workload]!, size: cell.size)
                    : cell.workload.statelessRequest(size: cell.size)
                let pipelines = dataRings.prefix(cell.queues).map {
                    PipelinedRing(
                        ring: $0, depth: cell.depth, readable: readable, writable: writable, sharedData: sharedData)
                }
                let label =
                    "\(cell.workload.rawValue) \(cell.size) B depth \(cell.depth) q\(cell.queues) \(mode.rawValue)"
                let raw = try RawPaths(cell, pipelines: pipelines, sharedData: sharedData)
                if let mismatch = raw.batchMismatch { problems.append("\(label): \(mismatch)") }
                let row = measure(
                    cell, pipelines: pipelines, raw: raw, daemon: daemon, rounds: roundCount, seconds: perRound)
                done += 1
                if row.failed > 0 { problems.append("\(label): \(row.failed) requests failed") }
                if raw.batchFailures > 0 { problems.append("\(label): \(raw.batchFailures) raw IPsec-MB jobs failed") }
                // RSA and ECDSA allocate inside OpenSSL's big-number code on every operation; the limit
                // judges the device's own data path, which the symmetric workloads measure.
                if let limit = maxAllocationsPerRequest, mode == .session, cell.workload.akcipher == nil {
                    if let allocations = row.allocations {
                        let perRequest = Double(allocations) / Double(max(row.completed, 1))
                        if perRequest > limit { problems.append("\(label): \(perRequest) allocations per request") }
                    } else {
                        problems.append("\(label): no allocation counter in the daemon")
                    }
                }
                if json {
                    print(row.json)
                    FileHandle.standardError.write(Data("[\(done)/\(cells.count)] \(label)\n".utf8))
                } else {
                    print(row.table)
                }
                fflushStandardOutput()
            }
            // The connection closes with `frontend` at the end of this iteration.
        }
        if !problems.isEmpty {
            for problem in problems { FileHandle.standardError.write(Data("error: \(problem)\n".utf8)) }
            throw ExitCode.failure
        }
    }

    /// Alternates the daemon and the raw library round by round (the machine's speed drifts
    /// over seconds), and reports medians; each ratio is the median of the per-round ratios.
    func measure(
        _ cell: Cell, pipelines: [PipelinedRing], raw: RawPaths, daemon: DaemonProcess, rounds: Int, seconds: Double
    ) -> Row {
        let latency = Result()
        var daemonOps: [Double] = []
        var rawOps: [Double] = []
        var batchOps: [Double] = []
        var bestOps: [Double] = []
        var ratios: [Double] = []
        var spreadRatios: [Double] = []
        var bestRatios: [Double] = []
        var pathWins: [RawPaths.Path: Int] = [:]
        var cpu: [Double] = []
        var completed = 0
        var failed = 0
        let allocationsBefore = daemon.allocations
        for _ in 0..<rounds {
            let rates = raw.measure(seconds: seconds)
            let cpuBefore = daemon.cpuSeconds
            let start = DispatchTime.now().uptimeNanoseconds
            let results = Self.runAll(pipelines, until: start + UInt64(seconds * 1e9), latency: latency)
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let done = results.reduce(0) { $0 + $1.completed }
            completed += done
            failed += results.reduce(0) { $0 + $1.failed }
            let rate = Double(done) / elapsed
            daemonOps.append(rate)
            rawOps.append(rates.single)
            if let batch = rates.batch { batchOps.append(batch) }
            let best = rates.best
            bestOps.append(best.rate)
            pathWins[best.path, default: 0] += 1
            ratios.append(rate / rates.single)
            spreadRatios.append(rate / rates.spread)
            bestRatios.append(rate / best.rate)
            cpu.append((daemon.cpuSeconds - cpuBefore) / elapsed)
        }
        let allocations = daemon.allocations.map { after in allocationsBefore.map { after - $0 } } ?? nil
        let histogram = latency.latency
        // The path that was fastest in most rounds (ties: the batch path, then the distinct buffers).
        let bestPath = RawPaths.Path.allCases.reversed().max { pathWins[$0, default: 0] < pathWins[$1, default: 0] }!
        return Row(
            workload: cell.workload.rawValue, mode: cell.mode.rawValue, size: cell.size, depth: pipelines[0].depth,
            queues: cell.queues,
            ops: median(daemonOps), p50: Double(histogram.valueAtPercentile(50)) / 1e3,
            p99: Double(histogram.valueAtPercentile(99)) / 1e3,
            p999: Double(histogram.valueAtPercentile(99.9)) / 1e3, daemonCPU: median(cpu), rawOps: median(rawOps),
            ratio: median(ratios), spreadRatio: median(spreadRatios),
            batchOps: batchOps.isEmpty ? nil : median(batchOps), bestOps: median(bestOps), bestPath: bestPath,
            bestRatio: median(bestRatios), rawThreads: raw.threads,
            completed: completed, failed: failed, allocations: allocations)
    }

    func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1
            ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    struct Row {
        var workload: String, mode: String, size: Int, depth: Int, queues: Int, ops: Double, p50: Double, p99: Double,
            p999: Double
        /// The raw library one request per call on one hot buffer pair, summed over `rawThreads`.
        var daemonCPU: Double, rawOps: Double, ratio: Double
        /// The ratio to the raw library walking the same number of distinct buffers.
        var spreadRatio: Double
        /// Raw IPsec-MB jobs, `depth` per batch (nil: no job for the workload).
        var batchOps: Double?
        /// The fastest raw path (the median of each round's fastest), which one it was in most
        /// rounds, and the median of the per-round ratios to it.
        var bestOps: Double, bestPath: RawPaths.Path, bestRatio: Double
        /// Raw threads: one per queue, as the daemon has one worker per queue.
        var rawThreads: Int
        var completed: Int, failed: Int
        /// Allocation calls in the daemon during the measurement (nil: no counter preloaded).
        var allocations: UInt64?
        var megabytes: Double { ops * Double(size) / 1e6 }
        static let header =
            "workload              mode       size depth  q      ops/s      MB/s   p50 µs   p99 µs  p99.9 µs  daemon CPU    raw ops/s   ratio  ratio/spread  batch ops/s  ratio/best  best raw path            allocs/req"
        var allocationsPerRequest: String {
            guard let allocations else { return "n/a" }
            return allocations == 0 ? "0" : String(format: "%.4f", Double(allocations) / Double(max(completed, 1)))
        }
        var table: String {
            String(
                format:
                    "%@ %@ %6d %5d %2d %10.0f %9.1f %8.1f %8.1f %9.1f %10.0f%% %12.0f %7.3f %13.3f %12@ %11.3f  %@ %@%@",
                workload.padding(toLength: 21, withPad: " ", startingAt: 0),
                mode.padding(toLength: 9, withPad: " ", startingAt: 0),
                size, depth, queues, ops, megabytes, p50, p99, p999, daemonCPU * 100, rawOps, ratio, spreadRatio,
                (batchOps.map { String(format: "%.0f", $0) } ?? "-") as NSString, bestRatio,
                bestPath.rawValue.padding(toLength: 24, withPad: " ", startingAt: 0) as NSString,
                allocationsPerRequest as NSString,
                (failed > 0 ? "  (\(failed) failed)" : "") as NSString)
        }
        var json: String {
            "{\"workload\":\"\(workload)\",\"mode\":\"\(mode)\",\"size\":\(size),\"depth\":\(depth),\"queues\":\(queues),\"ops\":\(Int(ops)),"
                + "\"mb_s\":\(String(format: "%.1f", megabytes)),\"p50_us\":\(String(format: "%.1f", p50)),\"p99_us\":\(String(format: "%.1f", p99)),"
                + "\"p999_us\":\(String(format: "%.1f", p999)),\"daemon_cpu\":\(String(format: "%.2f", daemonCPU)),\"raw_threads\":\(rawThreads),\"raw_ops\":\(Int(rawOps)),"
                + "\"ratio\":\(String(format: "%.3f", ratio)),\"ratio_same_buffers\":\(String(format: "%.3f", spreadRatio)),"
                + "\"batch_ops\":\(batchOps.map { String(Int($0)) } ?? "null"),\"best_raw_ops\":\(Int(bestOps)),\"best_raw_path\":\"\(bestPath.rawValue)\","
                + "\"ratio_best\":\(String(format: "%.3f", bestRatio)),\"requests\":\(completed),\"failed\":\(failed),"
                + "\"allocations\":\(allocations.map { String($0) } ?? "null")}"
        }
    }

    final class Result: @unchecked Sendable {
        var completed = 0, failed = 0
        var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
    }

    /// One driver thread per queue; latencies of the first queue go into `latency`.
    static func runAll(_ pipelines: [PipelinedRing], until deadline: UInt64, latency: Result) -> [Result] {
        let results = pipelines.indices.map { $0 == 0 ? latency : Result() }
        let counts = pipelines.map { _ in Result() }
        let group = DispatchGroup()
        for (index, pipeline) in pipelines.enumerated() {
            let result = results[index]
            let count = counts[index]
            group.enter()
            Thread {
                let outcome = pipeline.run(until: deadline, latency: &result.latency)
                count.completed = outcome.completed
                count.failed = outcome.failed
                group.leave()
            }.start()
        }
        group.wait()
        return counts
    }
}

func fflushStandardOutput() { FileHandle.standardOutput.synchronizeFile() }
