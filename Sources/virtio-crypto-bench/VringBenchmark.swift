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
        help: ArgumentHelp(
            "Another daemon binary (e.g. a build of an earlier commit) measured in the same alternating rounds.",
            discussion:
                "It runs with the first daemon's options; every other row gets its req/s, p50 and p99 divided by the baseline's (before and after in one run)."
        ))
    var baseline: String?
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
    @Option(
        name: .customLong("metrics"),
        help: ArgumentHelp(
            "Daemons with metrics on (--metrics-address, which times every request), off, or both (default: off).",
            discussion: "Each value is a daemon of its own, measured in the same alternating rounds."))
    var metricsLists: [CommaList<Toggle>] = []
    @Option(
        name: .customLong("multi-buffer"),
        help: ArgumentHelp(
            "Daemons with IPsec-MB's lanes on, off (--no-multi-buffer), or both (default: on).",
            discussion: "Combined with --metrics: one daemon per combination."))
    var multiBufferLists: [CommaList<Toggle>] = []

    enum Mode: String, ExpressibleByArgument, CaseIterable { case session, stateless }
    enum Toggle: String, ExpressibleByArgument, CaseIterable { case on, off }

    /// The options of one daemon under test.
    struct Config: Hashable {
        var metrics: Bool, multiBuffer: Bool
        /// The --baseline binary rather than the daemon under test.
        var baseline = false
        static let standard = Config(metrics: false, multiBuffer: true)
        var name: String { "\(baseline ? "base-" : "")m\(metrics ? "on" : "off")-mb\(multiBuffer ? "on" : "off")" }
        var label: String {
            "\(baseline ? "baseline, " : "")metrics \(metrics ? "on" : "off"), multi-buffer \(multiBuffer ? "on" : "off")"
        }
    }

    /// One daemon per combination of the --metrics and --multi-buffer values, in the order given.
    var configs: [Config] {
        func values(_ lists: [CommaList<Toggle>], default value: Toggle) -> [Bool] {
            var seen: [Bool] = []
            for toggle in lists.isEmpty ? [value] : lists.flattened() where !seen.contains(toggle == .on) {
                seen.append(toggle == .on)
            }
            return seen
        }
        let configs = values(metricsLists, default: .off).flatMap { metrics in
            values(multiBufferLists, default: .on).map { Config(metrics: metrics, multiBuffer: $0) }
        }
        guard baseline != nil, var first = configs.first else { return configs }
        first.baseline = true
        return configs + [first]
    }

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
        if attach != nil, !metricsLists.isEmpty || !multiBufferLists.isEmpty || baseline != nil {
            throw ValidationError(
                "--metrics, --multi-buffer and --baseline start daemons of their own; --attach measures one")
        }
    }

    /// One daemon's connection for one mode: its data rings and its sessions.
    final class Target {
        let config: Config
        let daemon: DaemonProcess
        let frontend: VhostUserFrontend
        let control: FrontendRing
        let dataRings: [FrontendRing]
        var sessions: [BenchWorkload: UInt64] = [:]

        init(config: Config, daemon: DaemonProcess, mode: Mode, queues: Int) throws {
            self.config = config
            self.daemon = daemon
            // Stateless requests need REVISION_1 and the stateless features; session mode keeps
            // the legacy layout QEMU's guests use.
            let wanted: UInt64 = mode == .stateless ? CryptoFeatures.all.rawValue | (1 << 32) : 0
            let frontend = try VhostUserFrontend(path: daemon.socket, slices: queues + 1, sliceSize: 32 << 20)
            self.frontend = frontend
            let offered = try frontend.handshake(features: (1 << 30) | wanted)
            if mode == .stateless, offered & CryptoFeatures.all.rawValue != CryptoFeatures.all.rawValue {
                throw ValidationError(
                    "the daemon does not offer every stateless mode (features \(String(offered, radix: 16)))")
            }
            control = try frontend.startRing(queues, size: 64)
            dataRings = try (0..<queues).map { try frontend.startRing($0, size: 256) }
        }
    }

    func run() throws {
        let cells = plan
        let (perRound, roundCount) = quick ? (0.06, 3) : (seconds / Double(rounds), rounds)
        let maxQueues = cells.map(\.queues).max() ?? 1
        let chosen = attach == nil ? configs : [Config.standard]
        var daemons: [DaemonProcess] = []
        defer { for daemon in daemons { daemon.stop() } }
        for config in chosen {
            daemons.append(
                try DaemonProcess(
                    attach: attach, binary: config.baseline ? baseline : daemon, queues: maxQueues,
                    mallocCounter: mallocCounter,
                    name: chosen.count > 1 ? config.name : "", metrics: config.metrics,
                    arguments: config.multiBuffer ? [] : ["--no-multi-buffer"]))
        }

        if !json { print(Row.header) }
        var done = 0
        let total = cells.count * chosen.count
        var problems: [String] = []
        for mode in Mode.allCases {
            let modeCells = cells.filter { $0.mode == mode }
            guard !modeCells.isEmpty else { continue }
            // One connection per mode and daemon; they close at the end of this iteration.
            let targets = try zip(chosen, daemons).map {
                try Target(config: $0, daemon: $1, mode: mode, queues: maxQueues)
            }
            for cell in modeCells {
                let pipelines = try targets.map { target in
                    if mode == .session, target.sessions[cell.workload] == nil {
                        target.sessions[cell.workload] = try cell.workload.createSession(target.control)
                    }
                    let (readable, writable) =
                        mode == .session
                        ? cell.workload.request(session: target.sessions[cell.workload]!, size: cell.size)
                        : cell.workload.statelessRequest(size: cell.size)
                    return target.dataRings.prefix(cell.queues).map {
                        PipelinedRing(
                            ring: $0, depth: cell.depth, readable: readable, writable: writable, sharedData: sharedData)
                    }
                }
                let label =
                    "\(cell.workload.rawValue) \(cell.size) B depth \(cell.depth) q\(cell.queues) \(mode.rawValue)"
                let raw = try RawPaths(cell, pipelines: pipelines[0], sharedData: sharedData)
                if let mismatch = raw.batchMismatch { problems.append("\(label): \(mismatch)") }
                if raw.batchFailures > 0 { problems.append("\(label): \(raw.batchFailures) raw IPsec-MB jobs failed") }
                let rows = measure(
                    cell, targets: Array(zip(targets, pipelines)), raw: raw, rounds: roundCount, seconds: perRound)
                for (target, (row, rings)) in zip(targets, zip(rows, pipelines)) {
                    done += 1
                    let rowLabel = chosen.count > 1 ? "\(label) (\(target.config.label))" : label
                    if row.failed > 0 { problems.append("\(rowLabel): \(row.failed) requests failed") }
                    // Where the benchmark knows the result (decryption: the plaintext), every slot's is checked.
                    if let expected = cell.workload.expectedOutput(size: cell.size) {
                        let wrong = rings.reduce(0) { $0 + $1.slotsWithout(expected) }
                        if wrong > 0 { problems.append("\(rowLabel): \(wrong) slots' output is not the expected data") }
                    }
                    // RSA and ECDSA allocate inside OpenSSL's big-number code on every operation; the limit
                    // judges the device's own data path, which the symmetric workloads measure.
                    if let limit = maxAllocationsPerRequest, mode == .session, cell.workload.akcipher == nil {
                        if let allocations = row.allocations {
                            let perRequest = Double(allocations) / Double(max(row.completed, 1))
                            if perRequest > limit {
                                problems.append("\(rowLabel): \(perRequest) allocations per request")
                            }
                        } else {
                            problems.append("\(rowLabel): no allocation counter in the daemon")
                        }
                    }
                    if json {
                        print(row.json)
                        FileHandle.standardError.write(Data("[\(done)/\(total)] \(rowLabel)\n".utf8))
                    } else {
                        print(row.table)
                    }
                }
                fflushStandardOutput()
            }
        }
        if !problems.isEmpty {
            for problem in problems { FileHandle.standardError.write(Data("error: \(problem)\n".utf8)) }
            throw ExitCode.failure
        }
    }

    /// What one daemon did over the rounds of one cell.
    final class Samples {
        let latency = Result()
        var ops: [Double] = [], ratios: [Double] = [], spreadRatios: [Double] = [], bestRatios: [Double] = []
        var cpu: [Double] = []
        var completed = 0, failed = 0
        var allocationsBefore: UInt64?
    }

    /// Alternates the raw library and every daemon round by round (the machine's speed drifts
    /// over seconds; the daemons' order rotates each round), and reports medians; each ratio is the
    /// median of the per-round ratios, the on/off ones included.
    func measure(
        _ cell: Cell, targets: [(Target, [PipelinedRing])], raw: RawPaths, rounds: Int, seconds: Double
    ) -> [Row] {
        let samples = targets.map { _ in Samples() }
        var rawOps: [Double] = []
        var batchOps: [Double] = []
        var bestOps: [Double] = []
        var pathWins: [RawPaths.Path: Int] = [:]
        for (sample, (target, _)) in zip(samples, targets) { sample.allocationsBefore = target.daemon.allocations }
        for round in 0..<rounds {
            let rates = raw.measure(seconds: seconds)
            rawOps.append(rates.single)
            if let batch = rates.batch { batchOps.append(batch) }
            let best = rates.best
            bestOps.append(best.rate)
            pathWins[best.path, default: 0] += 1
            for step in targets.indices {
                let index = (step + round) % targets.count
                let (target, pipelines) = targets[index]
                let sample = samples[index]
                let cpuBefore = target.daemon.cpuSeconds
                let start = DispatchTime.now().uptimeNanoseconds
                let results = Self.runAll(pipelines, until: start + UInt64(seconds * 1e9), latency: sample.latency)
                let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                let done = results.reduce(0) { $0 + $1.completed }
                sample.completed += done
                sample.failed += results.reduce(0) { $0 + $1.failed }
                let rate = Double(done) / elapsed
                sample.ops.append(rate)
                sample.ratios.append(rate / rates.single)
                sample.spreadRatios.append(rate / rates.spread)
                sample.bestRatios.append(rate / best.rate)
                sample.cpu.append((target.daemon.cpuSeconds - cpuBefore) / elapsed)
            }
        }
        // The path that was fastest in most rounds (ties: the batch path, then the distinct buffers).
        let bestPath = RawPaths.Path.allCases.reversed().max { pathWins[$0, default: 0] < pathWins[$1, default: 0] }!
        var rows = zip(samples, targets).map { sample, target in
            let allocations = target.0.daemon.allocations.map { after in sample.allocationsBefore.map { after - $0 } }
            let histogram = sample.latency.latency
            return Row(
                workload: cell.workload.rawValue, mode: cell.mode.rawValue, size: cell.size, depth: target.1[0].depth,
                queues: cell.queues, metrics: target.0.config.metrics, multiBuffer: target.0.config.multiBuffer,
                baseline: target.0.config.baseline,
                ops: median(sample.ops), p50: Double(histogram.valueAtPercentile(50)) / 1e3,
                p99: Double(histogram.valueAtPercentile(99)) / 1e3,
                p999: Double(histogram.valueAtPercentile(99.9)) / 1e3, daemonCPU: median(sample.cpu),
                rawOps: median(rawOps), ratio: median(sample.ratios), spreadRatio: median(sample.spreadRatios),
                batchOps: batchOps.isEmpty ? nil : median(batchOps), bestOps: median(bestOps), bestPath: bestPath,
                bestRatio: median(sample.bestRatios), rawThreads: raw.threads,
                completed: sample.completed, failed: sample.failed, allocations: allocations ?? nil)
        }
        // Each "on" daemon against the daemon that differs from it in that option alone.
        func comparison(_ index: Int, against other: Int) -> Row.Comparison {
            Row.Comparison(
                ops: median(zip(samples[index].ops, samples[other].ops).map { $0 / $1 }),
                p50: rows[index].p50 / rows[other].p50, p99: rows[index].p99 / rows[other].p99)
        }
        for (index, (target, _)) in targets.enumerated() {
            let config = target.config
            if !config.baseline, let other = targets.firstIndex(where: { $0.0.config.baseline }) {
                rows[index].versusBaseline = comparison(index, against: other)
            }
            guard !config.baseline else { continue }
            if config.metrics,
                let other = targets.firstIndex(where: {
                    $0.0.config == Config(metrics: false, multiBuffer: config.multiBuffer)
                })
            {
                let versus = comparison(index, against: other)
                rows[index].versusMetricsOff = versus
            }
            if config.multiBuffer,
                let other = targets.firstIndex(where: {
                    $0.0.config == Config(metrics: config.metrics, multiBuffer: false)
                })
            {
                let versus = comparison(index, against: other)
                rows[index].versusMultiBufferOff = versus
            }
        }
        return rows
    }

    func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1
            ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    struct Row {
        var workload: String, mode: String, size: Int, depth: Int, queues: Int
        /// The daemon's options: metrics served (every request timed), IPsec-MB's lanes used; and
        /// whether it is the --baseline binary.
        var metrics: Bool, multiBuffer: Bool, baseline: Bool
        var ops: Double, p50: Double, p99: Double, p999: Double
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
        /// This daemon against the one with metrics off, or multi-buffer off, and otherwise the same
        /// (only in a run that has both): the median of the per-round req/s ratios, and p50 and p99
        /// over the whole measurement divided by the other's.
        struct Comparison { var ops: Double, p50: Double, p99: Double }
        var versusMetricsOff: Comparison?
        var versusMultiBufferOff: Comparison?
        var versusBaseline: Comparison?
        var megabytes: Double { ops * Double(size) / 1e6 }
        static let header =
            "workload              mode       size depth  q      ops/s      MB/s   p50 µs   p99 µs  p99.9 µs  daemon CPU    raw ops/s   ratio  ratio/spread  batch ops/s  ratio/best  best raw path            allocs/req  metrics multi-buffer  on÷off, ÷baseline (req/s p50 p99)"
        var allocationsPerRequest: String {
            guard let allocations else { return "n/a" }
            return allocations == 0 ? "0" : String(format: "%.4f", Double(allocations) / Double(max(completed, 1)))
        }
        var table: String {
            String(
                format:
                    "%@ %@ %6d %5d %2d %10.0f %9.1f %8.1f %8.1f %9.1f %10.0f%% %12.0f %7.3f %13.3f %12@ %11.3f  %@ %@  %@ %@  %@%@",
                workload.padding(toLength: 21, withPad: " ", startingAt: 0),
                mode.padding(toLength: 9, withPad: " ", startingAt: 0),
                size, depth, queues, ops, megabytes, p50, p99, p999, daemonCPU * 100, rawOps, ratio, spreadRatio,
                (batchOps.map { String(format: "%.0f", $0) } ?? "-") as NSString, bestRatio,
                bestPath.rawValue.padding(toLength: 24, withPad: " ", startingAt: 0) as NSString,
                allocationsPerRequest.padding(toLength: 10, withPad: " ", startingAt: 0) as NSString,
                (metrics ? "on     " : "off    ") as NSString,
                (multiBuffer ? "on          " : "off         ") as NSString,
                comparisons as NSString, (failed > 0 ? "  (\(failed) failed)" : "") as NSString)
        }
        /// "metrics 1.00 1.02 1.10; multi-buffer 4.51 0.98 1.00": on ÷ off, req/s, p50, p99.
        var comparisons: String {
            if baseline { return "(baseline)" }
            let named = [
                ("metrics", versusMetricsOff), ("multi-buffer", versusMultiBufferOff), ("vs baseline", versusBaseline),
            ]
            let shown = named.compactMap { name, comparison in
                comparison.map { String(format: "%@ %.3f %.2f %.2f", name as NSString, $0.ops, $0.p50, $0.p99) }
            }
            return shown.isEmpty ? "-" : shown.joined(separator: "; ")
        }
        func json(_ comparison: Comparison?, _ name: String) -> String {
            guard let comparison else { return "" }
            return String(
                format: ",\"%@\":{\"ops\":%.3f,\"p50\":%.3f,\"p99\":%.3f}", name as NSString, comparison.ops,
                comparison.p50,
                comparison.p99)
        }
        var json: String {
            "{\"workload\":\"\(workload)\",\"mode\":\"\(mode)\",\"size\":\(size),\"depth\":\(depth),\"queues\":\(queues),"
                + "\"metrics\":\"\(metrics ? "on" : "off")\",\"multi_buffer\":\"\(multiBuffer ? "on" : "off")\",\"ops\":\(Int(ops)),"
                + "\"mb_s\":\(String(format: "%.1f", megabytes)),\"p50_us\":\(String(format: "%.1f", p50)),\"p99_us\":\(String(format: "%.1f", p99)),"
                + "\"p999_us\":\(String(format: "%.1f", p999)),\"daemon_cpu\":\(String(format: "%.2f", daemonCPU)),\"raw_threads\":\(rawThreads),\"raw_ops\":\(Int(rawOps)),"
                + "\"ratio\":\(String(format: "%.3f", ratio)),\"ratio_same_buffers\":\(String(format: "%.3f", spreadRatio)),"
                + "\"batch_ops\":\(batchOps.map { String(Int($0)) } ?? "null"),\"best_raw_ops\":\(Int(bestOps)),\"best_raw_path\":\"\(bestPath.rawValue)\","
                + "\"ratio_best\":\(String(format: "%.3f", bestRatio)),\"requests\":\(completed),\"failed\":\(failed),"
                + "\"allocations\":\(allocations.map { String($0) } ?? "null")"
                + ",\"baseline\":\(baseline)" + json(versusMetricsOff, "vs_metrics_off")
                + json(versusMultiBufferOff, "vs_multi_buffer_off") + json(versusBaseline, "vs_baseline") + "}"
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
