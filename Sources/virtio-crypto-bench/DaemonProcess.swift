import Foundation
import Glibc

/// The daemon under test: started here as its own process (with the allocation counter
/// preloaded when available) or attached to by socket path.
final class DaemonProcess {
    let socket: String
    private var process: Process?
    /// The shared 8-byte counter file libMallocCounter.so increments, mapped here.
    private var counter: UnsafeMutablePointer<UInt64>?
    private var counterPath: String?
    /// The directory holding the daemon's metrics socket (`metrics: true`), removed by `stop()`.
    private var metricsDirectory: String?

    /// The daemon's pid when started here (nil when attached).
    var pid: Int32? { process?.processIdentifier }

    /// `environment`: variables added to the daemon's (e.g. glibc tunables). `name` tells the
    /// socket and counter files of several daemons of one run apart; `metrics` serves metrics on a
    /// UNIX socket in a directory of its own (which also times every request); `arguments` are
    /// added to the daemon's command line.
    init(
        attach: String?, binary: String?, queues: Int, mallocCounter: String?, logLevel: String = "warning",
        environment: [String: String] = [:], name: String = "", metrics: Bool = false, arguments: [String] = []
    ) throws {
        if let attach {
            socket = attach
            return
        }
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let stem = "/tmp/virtio-crypto-bench-\(getpid())\(name.isEmpty ? "" : "-" + name)"
        socket = stem + ".sock"
        let process = Process()
        process.executableURL = URL(
            fileURLWithPath: binary ?? directory.appendingPathComponent("vhost-user-crypto").path)
        process.arguments = [
            "--socket-path", socket, "--queues", String(queues), "--log-level", logLevel, "--max-request-size",
            String(1 << 20),
        ]
        if metrics {
            var template = Array((stem + ".XXXXXX").utf8CString)
            guard let directory = mkdtemp(&template) else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
            metricsDirectory = String(cString: directory)
            process.arguments! += ["--metrics-address", metricsDirectory! + "/metrics.sock"]
        }
        process.arguments! += arguments
        process.standardOutput = FileHandle.nullDevice
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let library = mallocCounter ?? directory.appendingPathComponent("libMallocCounter.so").path
        if access(library, R_OK) == 0 {
            let path = stem + ".allocations"
            let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
            if fd >= 0, ftruncate(fd, 8) == 0, let mapped = mmap(nil, 8, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0),
                mapped != MAP_FAILED
            {
                counter = mapped.assumingMemoryBound(to: UInt64.self)
                counterPath = path
                var environment = process.environment ?? ProcessInfo.processInfo.environment
                environment["LD_PRELOAD"] = library
                environment["VIRTIO_CRYPTO_MALLOC_COUNTER"] = path
                process.environment = environment
            }
            if fd >= 0 { close(fd) }
        }
        try process.run()
        self.process = process
        for _ in 0..<250 where access(socket, F_OK) != 0 { usleep(20_000) }
    }

    /// Allocation calls the daemon has made so far (nil without the counter).
    var allocations: UInt64? {
        // An aligned 8-byte load is atomic on the platforms this runs on.
        counter?.pointee
    }

    /// User + system CPU seconds of the daemon (from /proc/PID/stat); 0 when attached.
    var cpuSeconds: Double {
        guard let pid = process?.processIdentifier,
            let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    func stop() {
        process?.interrupt()
        process?.waitUntilExit()
        if let counter { munmap(counter, 8) }
        if let counterPath { unlink(counterPath) }
        if let metricsDirectory {
            unlink(metricsDirectory + "/metrics.sock")
            rmdir(metricsDirectory)
        }
    }
}
