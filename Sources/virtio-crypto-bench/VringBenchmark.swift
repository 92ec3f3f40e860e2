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
    static let configuration = CommandConfiguration(commandName: "vring",
                                                    abstract: "Requests through the vhost-user daemon vs the crypto library called directly.")

    @Option(help: "The daemon binary (default: vhost-user-crypto next to this executable).") var daemon: String?
    @Option(help: "Attach to a daemon already listening on this socket instead of starting one.") var attach: String?
    @Option(help: "Workloads: \(BenchWorkload.allCases.map(\.rawValue).joined(separator: ", ")).")
    var workloads: [String] = BenchWorkload.allCases.map(\.rawValue)
    @Option(help: "Request sizes in bytes.") var sizes: [Int] = [64, 256, 1024, 4096, 16384]
    @Option(help: "Queue depths (requests in flight per queue); capped at the ring size.") var depths: [Int] = [1, 32, 256]
    @Option(help: "Data queue counts.") var queues: [Int] = [1, 2]
    @Option(help: "Seconds per measurement.") var seconds = 1.0
    @Flag(help: "A short run: fewer sizes and depths, 0.2 s each (under a minute).") var quick = false
    @Flag(help: "JSON lines instead of a table.") var json = false

    func run() throws {
        let plan: (sizes: [Int], depths: [Int], seconds: Double, queues: [Int]) = quick ? ([64, 16384], [1, 256], 0.2, [1, 2]) : (sizes, depths, seconds, queues)
        let maxQueues = plan.queues.max() ?? 1
        var child: Process?
        let socket: String
        if let attach {
            socket = attach
        } else {
            socket = "/tmp/virtio-crypto-bench-\(getpid()).sock"
            let binary = daemon ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("vhost-user-crypto").path
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["--socket-path", socket, "--queues", String(maxQueues), "--log-level", "warning",
                                 "--max-request-size", String(1 << 20)]
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            child = process
            for _ in 0..<200 where access(socket, F_OK) != 0 { usleep(20_000) }
        }
        defer {
            child?.interrupt()
            child?.waitUntilExit()
        }
        let frontend = try VhostUserFrontend(path: socket, slices: maxQueues + 1, sliceSize: 32 << 20)
        try frontend.handshake()
        let control = try frontend.startRing(maxQueues, size: 64)
        let dataRings = try (0..<maxQueues).map { try frontend.startRing($0, size: 256) }
        let daemonPID = child?.processIdentifier

        if !json {
            print("workload              size  depth  q    ops/s       MB/s    p50 µs   p99 µs  p99.9 µs  daemon CPU   raw ops/s   ratio")
        }
        for name in workloads {
            guard let workload = BenchWorkload(rawValue: name) else { throw ValidationError("unknown workload \(name)") }
            let session = try workload.createSession(control)
            for size in plan.sizes {
                let raw = try workload.rawOpsPerSecond(size: size, seconds: plan.seconds)
                for depth in plan.depths {
                    for queueCount in plan.queues {
                        let (readable, writable) = workload.request(session: session, size: size)
                        let pipelines = dataRings.prefix(queueCount).map { PipelinedRing(ring: $0, depth: depth, readable: readable, writable: writable) }
                        let cpuBefore = Self.cpuSeconds(daemonPID)
                        let start = DispatchTime.now().uptimeNanoseconds
                        let deadline = start + UInt64(plan.seconds * 1e9)
                        let results = Self.runAll(pipelines, until: deadline)
                        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                        let cpu = (Self.cpuSeconds(daemonPID) - cpuBefore) / elapsed
                        let completed = results.reduce(0) { $0 + $1.completed }
                        let failed = results.reduce(0) { $0 + $1.failed }
                        let ops = Double(completed) / elapsed
                        let latency = results[0].latency
                        let row = Row(workload: name, size: size, depth: min(depth, 256), queues: queueCount, ops: ops, megabytes: ops * Double(size) / 1e6,
                                      p50: Double(latency.valueAtPercentile(50)) / 1e3, p99: Double(latency.valueAtPercentile(99)) / 1e3,
                                      p999: Double(latency.valueAtPercentile(99.9)) / 1e3, daemonCPU: cpu, rawOps: raw, failed: failed)
                        print(json ? row.json : row.table)
                        fflushStandardOutput()
                    }
                }
            }
        }
    }

    struct Row {
        var workload: String, size: Int, depth: Int, queues: Int, ops: Double, megabytes: Double, p50: Double, p99: Double, p999: Double
        var daemonCPU: Double, rawOps: Double, failed: Int
        var ratio: Double { rawOps > 0 ? ops / rawOps : 0 }
        var table: String {
            String(format: "%-20@ %6d %6d %2d %10.0f %9.1f %9.1f %8.1f %9.1f %10.0f%% %11.0f %7.3f%@", workload as NSString, size, depth, queues, ops, megabytes,
                   p50, p99, p999, daemonCPU * 100, rawOps, ratio, (failed > 0 ? "  (\(failed) failed)" : "") as NSString)
        }
        var json: String {
            "{\"workload\":\"\(workload)\",\"size\":\(size),\"depth\":\(depth),\"queues\":\(queues),\"ops\":\(Int(ops)),\"mb_s\":\(String(format: "%.1f", megabytes)),"
                + "\"p50_us\":\(String(format: "%.1f", p50)),\"p99_us\":\(String(format: "%.1f", p99)),\"p999_us\":\(String(format: "%.1f", p999)),"
                + "\"daemon_cpu\":\(String(format: "%.2f", daemonCPU)),\"raw_ops\":\(Int(rawOps)),\"ratio\":\(String(format: "%.3f", ratio)),\"failed\":\(failed)}"
        }
    }

    final class Result: @unchecked Sendable {
        var completed = 0, failed = 0
        var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
    }

    /// One driver thread per queue.
    static func runAll(_ pipelines: [PipelinedRing], until deadline: UInt64) -> [Result] {
        let results = pipelines.map { _ in Result() }
        let group = DispatchGroup()
        for (index, pipeline) in pipelines.enumerated() {
            let result = results[index]
            group.enter()
            Thread {
                let counts = pipeline.run(until: deadline, latency: &result.latency)
                result.completed = counts.completed
                result.failed = counts.failed
                group.leave()
            }.start()
        }
        group.wait()
        return results
    }

    /// User + system CPU seconds of a process (from /proc/PID/stat); 0 when unknown.
    static func cpuSeconds(_ pid: Int32?) -> Double {
        guard let pid, let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}

func fflushStandardOutput() { FileHandle.standardOutput.synchronizeFile() }
