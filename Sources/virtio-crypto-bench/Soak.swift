import ArgumentParser
import CVhostUserSupport
import Dispatch
import Foundation
import Glibc
import VirtioCryptoDriver
import VirtioCryptoEngines
import VirtioCryptoWire

/// A frontend that disconnects at random points (mid-message, with requests in flight, during a
/// memory-table change, …) cycle after cycle against one daemon. After each cycle the next
/// frontend must be served (the daemon serves one at a time, so that proves it noticed the
/// disconnect and tore the last one down); the daemon's open fds, guest-RAM mappings, VmSize and
/// VmRSS (from /proc/PID) must return to their baseline, and a correct frontend is checked
/// against the crypto engine every `--check-every` cycles and at the end.
struct SoakCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak",
        abstract: "Disconnects at random points against one daemon; its fds, mappings and memory must come back.",
        discussion: """
            Each cycle connects, proves it is served (GET_FEATURES answered), does one of the actions below and \
            disconnects in the middle of it: \(DisconnectPoint.allCases.map(\.rawValue).joined(separator: ", ")). \
            Figures are read from /proc/PID after the next frontend is served; the baseline is taken after the \
            warm-up cycles (at least one of each point), so allocator arenas and cached thread stacks have settled.
            """)

    @Option(help: "The daemon binary (default: vhost-user-crypto next to this executable).") var daemon: String?
    @Option(
        help: ArgumentHelp(
            "Attach to a daemon already listening on this socket instead of starting one (needs --pid).",
            discussion:
                "Start it with the GLIBC_TUNABLES of --glibc-defaults' help for the default tolerances to hold; under glibc's defaults raise --heap-tolerance-kib and --rss-tolerance-kib (to 8192, say)."
        ))
    var attach: String?
    @Option(help: "The pid of the daemon given by --attach (its figures are read from /proc/PID).") var pid: Int32?
    @Option(help: "The data queues of the daemon given by --attach (its control queue follows them).") var queues = 1
    @Option(help: "Connect → act → disconnect cycles after the warm-up.") var cycles = 1000
    @Option(help: "PRNG seed: the same seed replays the same cycles.") var seed: UInt64 = 1
    @Option(help: "Warm-up cycles before the baseline (the first ones go through every point once).")
    var warmup = 2 * DisconnectPoint.allCases.count
    @Option(help: "A full frontend is served and checked every this many cycles, and at the end.") var checkEvery = 100
    @Option(help: "VmRSS may end at most this many KiB above its baseline.") var rssToleranceKib = 512
    @Option(
        help: ArgumentHelp(
            "The brk heap may end at most this many KiB above its baseline (every other kind of mapping must match).",
            discussion:
                "Its top floats with the last allocations, by up to glibc's trim threshold plus its top pad (128 KiB each): free space at the top is returned only beyond the one and kept up to the other. A leak shows as growth past that; more cycles find smaller ones."
        ))
    var heapToleranceKib = 256
    @Flag(
        help: ArgumentHelp(
            "Run the daemon under glibc's allocator defaults (VmSize may then differ by thread stacks and arenas).",
            discussion: """
                By default the daemon gets GLIBC_TUNABLES=\(SoakCommand.pinnedAllocator["GLIBC_TUNABLES"]!): one malloc \
                arena, no cache of exited threads' stacks, a fixed mmap threshold. Under the defaults, per-thread arenas \
                (64 MiB reservations), cached stacks and the adaptive mmap threshold (which moves the workers' 1 MiB \
                bounce buffers between mmap and the brk heap) make VmSize and VmRSS follow thread timing, not the daemon.
                """))
    var glibcDefaults = false
    static let pinnedAllocator = [
        "GLIBC_TUNABLES": "glibc.malloc.arena_max=1:glibc.pthread.stack_cache_size=0:glibc.malloc.mmap_threshold=131072"
    ]
    @Option(name: .customLong("daemon-env"), help: "NAME=VALUE added to the started daemon's environment.")
    var daemonEnvironment: [String] = []
    @Flag(help: "One line per cycle (point, fds, mappings, VmRSS).") var verbose = false

    func validate() throws {
        guard cycles >= 1, warmup >= 0, checkEvery >= 1 else {
            throw ValidationError("--cycles and --check-every must be positive, --warmup not negative")
        }
        if attach != nil, pid == nil { throw ValidationError("--attach needs --pid: the figures come from /proc/PID") }
    }

    func run() throws {
        // A daemon that drops a hostile frontend first must not end this process with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        let started = DispatchTime.now().uptimeNanoseconds
        // No allocation counter: the daemon runs as in production; errors only (hostile cycles log).
        var environment = glibcDefaults ? [:] : Self.pinnedAllocator
        for setting in daemonEnvironment {
            let parts = setting.split(separator: "=", maxSplits: 1)
            environment[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        let daemon = try DaemonProcess(
            attach: attach, binary: daemon, queues: queues, mallocCounter: "", logLevel: "error",
            environment: environment)
        defer { daemon.stop() }
        guard let pid = pid ?? daemon.pid, access("/proc/\(pid)/status", R_OK) == 0 else {
            throw ValidationError("no daemon process to measure")
        }
        let soak = Soak(socket: daemon.socket, pid: pid, dataQueues: queues, seed: seed, verbose: verbose)
        let ownFDsAtStart = try ProcFigures.countFDs(getpid())
        let start = try soak.probe()

        // Warm-up: every point once in order, then random ones; then a checked frontend.
        for index in 0..<warmup {
            let points = DisconnectPoint.allCases
            soak.cycle(index < points.count ? points[index] : soak.randomPoint(), number: -warmup + index)
        }
        soak.verifyService(label: "after warm-up")
        let baseline = try soak.probe()
        soak.resetAttribution(to: baseline)

        let loopStart = DispatchTime.now().uptimeNanoseconds
        for number in 1...cycles {
            soak.cycle(soak.randomPoint(), number: number)
            if number % checkEvery == 0 { soak.verifyService(label: "after cycle \(number)") }
        }
        let loopSeconds = Double(DispatchTime.now().uptimeNanoseconds - loopStart) / 1e9
        if cycles % checkEvery != 0 { soak.verifyService(label: "at the end") }
        // The end figures, and this process's own descriptors once the last frontend is gone.
        func report(_ end: ProcFigures) -> SoakReport {
            let ownFDsAtEnd = (try? ProcFigures.countFDs(getpid())) ?? -1
            return SoakReport(
                start: start, baseline: baseline, end: end, peak: soak.peak, rssToleranceKiB: rssToleranceKib,
                heapToleranceKiB: heapToleranceKib, ownFDs: (ownFDsAtStart, ownFDsAtEnd),
                threadsExplainVmSize: glibcDefaults || attach != nil)
        }
        let end = try soak.settledEnd { report($0).problems.isEmpty }
        let report = report(end)
        print(report.table)
        print(soak.pointSummary)
        let total = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        print(
            String(
                format:
                    "%ld cycles (+%ld warm-up) in %.1f s (%.0f cycles/s), %ld services checked; %.1f s in all; seed %llu",
                cycles, warmup, loopSeconds, Double(cycles) / loopSeconds, soak.servicesChecked, total, seed))
        let problems = soak.problems + report.problems
        guard problems.isEmpty else {
            for problem in problems { FileHandle.standardError.write(Data("error: \(problem)\n".utf8)) }
            throw ExitCode.failure
        }
        print("soak: ok")
    }
}

/// Where a cycle disconnects.
enum DisconnectPoint: String, CaseIterable {
    /// 1–11 bytes of a 12-byte header.
    case midHeader = "mid-header"
    /// Part of a header, with descriptors attached to it.
    case midHeaderWithFDs = "mid-header+fds"
    /// A whole header and part of its payload (session message, memory table, GET_CONFIG).
    case midPayload = "mid-payload"
    /// SET_MEM_TABLE or SET_VRING_KICK/CALL with its descriptors, the payload cut.
    case cutMessageWithFDs = "cut-message+fds"
    /// A header the daemon refuses (bad version, oversized payload), descriptors attached.
    case badHeader = "bad-header+fds"
    /// Descriptors on messages that take none, a kick that is no eventfd, an error fd, …
    case strayFDs = "stray-fds"
    case afterHandshake = "after-handshake"
    /// Data queue 0 and / or the control queue started.
    case afterRings = "after-rings"
    /// Requests submitted on the data ring and kicked, never waited for.
    case requestsInFlight = "requests-in-flight"
    /// Session creations submitted on the control queue and kicked, never waited for.
    case controlInFlight = "control-in-flight"
    /// QEMU-style sessions (messages 26) never closed, some used by the data ring.
    case openSessions = "open-sessions"
    /// A second SET_MEM_TABLE (the same memfd again, a new memfd, or two regions) while the
    /// data ring is busy, disconnecting before its reply.
    case memoryTableChange = "mem-table-change"
    /// The same, its reply awaited, then a request checked against the engine when the memory
    /// is still the same.
    case afterMemoryTableChange = "after-mem-table-change"
    /// GET_VRING_BASE (answered or not), sometimes the ring started again.
    case afterGetVringBase = "after-get-vring-base"
}

/// Figures of one process from /proc/PID.
struct ProcFigures {
    var fds = 0
    /// Open descriptors by kind (`socket`, `anon_inode:[eventfd]`, `/memfd:guest-ram`, …).
    var fdKinds: [String: Int] = [:]
    /// Lines of /proc/PID/maps that map a memfd (guest RAM: the daemon creates none itself).
    var memfdMappings = 0
    var memfdKiB = 0
    var vmSizeKiB = 0
    var vmRSSKiB = 0
    /// VmSize by what the mappings are.
    var kinds = MappingKinds([])
    var threads = 0
    /// Every mapping as "perms size name", counted (to explain a VmSize difference).
    var mappings: [String: Int] = [:]

    static func countFDs(_ pid: Int32) throws -> Int { try descriptors(pid).count }

    static func descriptors(_ pid: Int32) throws -> [String] {
        let directory = "/proc/\(pid)/fd"
        guard let handle = opendir(directory) else { throw ValidationError("cannot read \(directory)") }
        defer { closedir(handle) }
        var kinds: [String] = []
        var buffer = [CChar](repeating: 0, count: 4096)
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            let count = readlink("\(directory)/\(name)", &buffer, buffer.count - 1)
            guard count > 0 else { continue }  // closed while we looked
            let target = String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            kinds.append(kind(of: target))
        }
        return kinds
    }

    /// A /proc file whole: read() to the end (its size says 0, and one read returns one page).
    static func readAll(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { return nil }
            if count == 0 { break }
            bytes += chunk.prefix(count)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `socket:[123]` → `socket`, `/memfd:guest-ram (deleted)` → `/memfd:guest-ram`.
    static func kind(of target: String) -> String {
        if let bracket = target.firstIndex(of: "["), target.hasPrefix("socket:") || target.hasPrefix("pipe:") {
            return String(target[..<bracket].dropLast())
        }
        return target.hasSuffix(" (deleted)") ? String(target.dropLast(10)) : target
    }

    static func read(_ pid: Int32) throws -> ProcFigures {
        var figures = ProcFigures()
        let kinds = try descriptors(pid)
        figures.fds = kinds.count
        for kind in kinds { figures.fdKinds[kind, default: 0] += 1 }
        guard let maps = readAll("/proc/\(pid)/maps"), let status = readAll("/proc/\(pid)/status")
        else { throw ValidationError("cannot read /proc/\(pid)") }
        var entries: [MapEntry] = []
        for line in maps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 5 else { continue }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let low = UInt64(range[0], radix: 16), let high = UInt64(range[1], radix: 16)
            else { continue }
            let entry = MapEntry(
                low: low, high: high, perms: String(fields[1]),
                name: fields.count > 5 ? fields[5...].joined(separator: " ") : "")
            entries.append(entry)
            figures.mappings[
                "\(entry.perms) \(entry.kiB) KiB \(entry.name.isEmpty ? "(anonymous)" : entry.name)", default: 0] += 1
            if entry.name.hasPrefix("/memfd:") {
                figures.memfdMappings += 1
                figures.memfdKiB += entry.kiB
            }
        }
        figures.kinds = MappingKinds(entries)
        for line in status.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let value = Int(parts[1].split { $0 == " " || $0 == "\t" }.first ?? "") ?? 0
            switch parts[0] {
            case "VmSize": figures.vmSizeKiB = value
            case "VmRSS": figures.vmRSSKiB = value
            case "Threads": figures.threads = value
            default: break
            }
        }
        return figures
    }

    /// The larger of each figure.
    mutating func raise(to other: ProcFigures) {
        fds = max(fds, other.fds)
        memfdMappings = max(memfdMappings, other.memfdMappings)
        memfdKiB = max(memfdKiB, other.memfdKiB)
        vmSizeKiB = max(vmSizeKiB, other.vmSizeKiB)
        vmRSSKiB = max(vmRSSKiB, other.vmRSSKiB)
        threads = max(threads, other.threads)
    }

    /// Descriptor kinds and mappings that `self` has beyond `base` (positive) or lacks (negative).
    static func difference(_ mine: [String: Int], _ base: [String: Int]) -> [(String, Int)] {
        Set(mine.keys).union(base.keys).compactMap { key in
            let delta = (mine[key] ?? 0) - (base[key] ?? 0)
            return delta == 0 ? nil : (key, delta)
        }.sorted { $0.0 < $1.0 }
    }
}

/// One line of /proc/PID/maps.
struct MapEntry {
    var low: UInt64
    var high: UInt64
    var perms: String
    var name: String
    var kiB: Int { Int((high - low) / 1024) }
    var anonymous: Bool { name.isEmpty }
}

/// The address space by kind, from the maps' shapes: glibc's thread stacks (a 4 KiB PROT_NONE
/// guard page right below a read-write anonymous region: live threads' and exited threads' that
/// glibc caches, up to 40 MiB), malloc arenas of non-main threads (64 MiB-aligned, 64 MiB runs of
/// anonymous mappings, read-write then PROT_NONE), the brk heap, guest RAM (memfds), the rest.
struct MappingKinds: Equatable {
    static let arenaBytes: UInt64 = 64 << 20
    var stacks = 0
    var stackKiB = 0
    var largestStackKiB = 0
    var arenas = 0
    var arenaKiB = 0
    var heapKiB = 0
    var memfdKiB = 0
    var otherKiB = 0

    init(_ entries: [MapEntry]) {
        var index = 0
        while index < entries.count {
            let entry = entries[index]
            if entry.name == "[heap]" {
                heapKiB += entry.kiB
            } else if entry.name.hasPrefix("/memfd:") {
                memfdKiB += entry.kiB
            } else if entry.anonymous, entry.perms == "---p", entry.kiB == 4, index + 1 < entries.count,
                entries[index + 1].anonymous, entries[index + 1].perms == "rw-p", entries[index + 1].low == entry.high
            {
                stacks += 1
                stackKiB += entry.kiB + entries[index + 1].kiB
                largestStackKiB = max(largestStackKiB, entry.kiB + entries[index + 1].kiB)
                index += 2
                continue
            } else if entry.anonymous, entry.low % Self.arenaBytes == 0, let run = Self.arenaRun(entries, from: index) {
                arenas += 1
                arenaKiB += Int(Self.arenaBytes / 1024)
                index = run
                continue
            } else {
                otherKiB += entry.kiB
            }
            index += 1
        }
    }

    /// The index after a run of adjacent anonymous mappings (read-write, then PROT_NONE) from
    /// `start` that spans exactly one arena heap; nil if there is none.
    static func arenaRun(_ entries: [MapEntry], from start: Int) -> Int? {
        var end = start
        var high = entries[start].low
        while end < entries.count, entries[end].anonymous, entries[end].low == high,
            entries[end].high - entries[start].low <= arenaBytes,
            entries[end].perms == "rw-p" || entries[end].perms == "---p"
        {
            high = entries[end].high
            end += 1
            if high - entries[start].low == arenaBytes { return end }
        }
        return nil
    }

    var summary: String {
        "thread stacks \(stacks) (\(stackKiB) KiB), malloc arenas \(arenas) (\(arenaKiB) KiB), brk heap \(heapKiB) KiB, "
            + "guest RAM \(memfdKiB) KiB, other \(otherKiB) KiB"
    }
}

/// The cycles, the figures seen so far, and what went wrong.
final class Soak {
    let socket: String
    let pid: Int32
    let verbose: Bool
    var rng: SplitMix64
    /// The largest of each figure over every sample (settled ones and live ones).
    var peak = ProcFigures()
    private(set) var problems: [String] = []
    private(set) var servicesChecked = 0
    /// The control queue's ring index (the daemon's data queue count).
    private let controlIndex: Int

    /// Per point: cycles run, and cycles after which descriptors or guest-RAM mappings stayed behind.
    private var perPoint: [DisconnectPoint: (cycles: Int, leftFDs: Int, leftMappings: Int)] = [:]
    /// Per point: nanoseconds from the cycle's connect to the next frontend being served.
    private var perPointTime: [DisconnectPoint: UInt64] = [:]
    private var cycleStarted: UInt64 = 0
    /// The settled figures before the cycle in progress, and that cycle's point.
    private var lastSettled: ProcFigures?
    private var lastPoint: DisconnectPoint?

    static let sliceSize = 2 << 20
    static let dataRingSize: UInt16 = 256
    static let controlRingSize: UInt16 = 64

    init(socket: String, pid: Int32, dataQueues: Int, seed: UInt64, verbose: Bool) {
        self.socket = socket
        self.pid = pid
        self.verbose = verbose
        rng = SplitMix64(seed: seed)
        controlIndex = dataQueues  // rings are the data queues, then the control queue
    }

    func randomPoint() -> DisconnectPoint { DisconnectPoint.allCases.randomElement(using: &rng)! }

    func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
    func chance(_ probability: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < probability }
    func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) } }

    /// Connects and waits to be served: GET_FEATURES answered means the daemon has finished with
    /// the previous frontend (it serves one at a time) and accepted this one.
    func connect() throws -> VhostUserFrontend {
        // One memory slice per ring up to the control queue's. A daemon just started may have
        // bound its socket and not be listening yet: a refused connection is tried again for 2 s.
        var attempts = 0
        var connected: VhostUserFrontend?
        while connected == nil {
            do {
                connected = try VhostUserFrontend(path: socket, slices: controlIndex + 1, sliceSize: Self.sliceSize)
            } catch {
                attempts += 1
                guard attempts < 100 else { throw error }
                usleep(20_000)
            }
        }
        let frontend = connected!
        let fd = frontend.connection.fd
        // A daemon that stops answering fails the soak instead of hanging it.
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = try frontend.call(.getFeatures)
        return frontend
    }

    func sample() -> ProcFigures? {
        guard let figures = try? ProcFigures.read(pid) else {
            problems.append("cannot read /proc/\(pid): the daemon is gone")
            return nil
        }
        peak.raise(to: figures)
        return figures
    }

    /// The figures with a served frontend connected that has done nothing else (one accepted
    /// socket in the daemon): the state every cycle starts from.
    func probe() throws -> ProcFigures {
        let frontend = try connect()
        guard let figures = sample() else { throw ExitCode.failure }
        withExtendedLifetime(frontend) {}
        return figures
    }

    func resetAttribution(to baseline: ProcFigures) {
        perPoint = [:]
        lastSettled = baseline
        lastPoint = nil
    }

    /// What a cycle left behind is seen when the next frontend is served; it is charged to the
    /// point of the cycle that ran just before.
    private func attribute(_ settled: ProcFigures) {
        if let point = lastPoint {
            perPointTime[point, default: 0] += DispatchTime.now().uptimeNanoseconds - cycleStarted
        }
        if let before = lastSettled, let point = lastPoint {
            if settled.fds > before.fds { perPoint[point, default: (0, 0, 0)].leftFDs += 1 }
            if settled.memfdMappings > before.memfdMappings { perPoint[point, default: (0, 0, 0)].leftMappings += 1 }
            if settled.fds > before.fds || settled.memfdMappings > before.memfdMappings {
                let kinds = ProcFigures.difference(settled.fdKinds, before.fdKinds).map {
                    "\($0.0) \($0.1 > 0 ? "+" : "")\($0.1)"
                }
                problems.append(
                    "after a \(point.rawValue) cycle: fds \(before.fds) → \(settled.fds) (\(kinds.joined(separator: ", "))), "
                        + "guest-RAM mappings \(before.memfdMappings) → \(settled.memfdMappings)")
            }
        }
        lastSettled = settled
    }

    /// One cycle: connect (served), act, sample the live figures, disconnect.
    func cycle(_ point: DisconnectPoint, number: Int) {
        do {
            let frontend = try connect()
            guard let settled = sample() else { return }
            attribute(settled)
            cycleStarted = DispatchTime.now().uptimeNanoseconds
            lastPoint = point
            perPoint[point, default: (0, 0, 0)].cycles += 1
            try act(point, frontend)
            let live = sample()
            if verbose, let live {
                print(
                    "cycle \(number) \(point.rawValue): settled fds \(settled.fds) memfd \(settled.memfdMappings) "
                        + "VmSize \(settled.vmSizeKiB) heap \(settled.kinds.heapKiB) VmRSS \(settled.vmRSSKiB) KiB threads \(settled.threads); "
                        + "live fds \(live.fds) memfd \(live.memfdMappings) threads \(live.threads)")
            }
            withExtendedLifetime(frontend) {}
        } catch {
            problems.append("cycle \(number) (\(point.rawValue)): \(error)")
        }
        // The frontend is gone here: its socket, eventfds and memfd are closed.
    }

    // MARK: the actions

    /// Vhost-user request codes (QEMU's numbering) for hand-made headers.
    enum Code {
        static let getFeatures: UInt32 = 1
        static let setMemTable: UInt32 = 5
        static let setVringKick: UInt32 = 12
        static let setVringCall: UInt32 = 13
        static let getConfig: UInt32 = 24
        static let createCryptoSession: UInt32 = 26
        static let unknown: UInt32 = 99
    }

    static func header(_ request: UInt32, flags: UInt32 = 1, size: Int) -> [UInt8] {
        [request, flags, UInt32(size)].flatMap { word in withUnsafeBytes(of: word.littleEndian) { Array($0) } }
    }

    static func send(_ fd: Int32, _ bytes: [UInt8], fds: [Int32] = []) throws {
        let sent = bytes.withUnsafeBytes { raw in
            fds.withUnsafeBufferPointer {
                vu_send_with_fds(fd, raw.baseAddress, raw.count, $0.baseAddress, Int32($0.count))
            }
        }
        guard sent == bytes.count else { throw ValidationError("send failed: errno \(errno)") }
    }

    /// Descriptors to attach: eventfds and a second view of guest RAM (closed here once sent).
    func someFDs(_ frontend: VhostUserFrontend) -> [Int32] {
        (0..<int(1...3)).map { _ in chance(0.5) ? vu_eventfd() : dup(frontend.memoryFD) }
    }

    func closeAll(_ fds: [Int32]) { fds.forEach { close($0) } }

    /// A short random pause before the disconnect, so it lands at varying points of the
    /// daemon's work (0 half of the time).
    func jitter() { if chance(0.5) { usleep(UInt32(int(1...400))) } }

    func act(_ point: DisconnectPoint, _ frontend: VhostUserFrontend) throws {
        let fd = frontend.connection.fd
        switch point {
        case .midHeader:
            if chance(0.5) { try frontend.handshake() }
            let code = [Code.getFeatures, Code.setMemTable, Code.createCryptoSession].randomElement(using: &rng)!
            try Self.send(fd, Array(Self.header(code, size: 40).prefix(int(1...11))))
        case .midHeaderWithFDs:
            let fds = someFDs(frontend)
            defer { closeAll(fds) }
            try Self.send(fd, Array(Self.header(Code.setMemTable, size: 40).prefix(int(1...11))), fds: fds)
        case .midPayload:
            if chance(0.5) { try frontend.handshake() }
            let (code, size) = [
                (Code.createCryptoSession, 632), (Code.createCryptoSession, 1072), (Code.setMemTable, 40),
                (Code.getConfig, 12 + 60),
            ].randomElement(using: &rng)!
            try Self.send(fd, Self.header(code, size: size) + bytes(int(0...size - 1)))
        case .cutMessageWithFDs:
            if chance(0.5) { try frontend.handshake() }
            let fds = someFDs(frontend)
            defer { closeAll(fds) }
            let (code, payload) =
                chance(0.5)
                ? (Code.setMemTable, frontend.memoryTable())
                : ([Code.setVringKick, Code.setVringCall].randomElement(using: &rng)!, [UInt8](repeating: 0, count: 8))
            let cut = Array(payload.prefix(int(0...payload.count - 1)))
            if chance(0.5) {
                try Self.send(fd, Self.header(code, size: payload.count) + cut, fds: fds)
            } else {
                // The descriptors ride on the payload's bytes, not on the header's.
                try Self.send(fd, Self.header(code, size: payload.count))
                try Self.send(fd, cut.isEmpty ? [0] : cut, fds: fds)
            }
        case .badHeader:
            if chance(0.5) { try frontend.handshake() }
            let fds = someFDs(frontend)
            defer { closeAll(fds) }
            let bad =
                chance(0.5)
                ? Self.header(Code.setMemTable, flags: [0, 2, 3].randomElement(using: &rng)!, size: 40)
                : Self.header(Code.setMemTable, size: int(4097...1 << 20))
            try Self.send(fd, bad + bytes(int(0...40)), fds: fds)
        case .strayFDs:
            try frontend.handshake()
            try strayDescriptors(frontend)
        case .afterHandshake:
            try frontend.handshake(features: chance(0.5) ? 1 << 30 : (1 << 30) | (1 << 32) | 1)
        case .afterRings:
            try frontend.handshake()
            let which = int(0...2)
            if which != 1 { try frontend.startRing(0, size: 1 << int(1...8)) }
            if which != 0 { try frontend.startRing(controlIndex, size: 1 << int(1...6)) }
        case .requestsInFlight:
            try frontend.handshake()
            let ring = try frontend.startRing(0, size: Self.dataRingSize)
            let session = try createSession(frontend)
            submitRequests(ring, session: session, count: int(1...250))
            jitter()
        case .controlInFlight:
            try frontend.handshake()
            let control = try frontend.startRing(controlIndex, size: Self.controlRingSize)
            for _ in 0..<int(1...Int(Self.controlRingSize)) {
                let create = RequestBuilder.control(
                    opcode: .cipherCreateSession,
                    flf: RequestBuilder.cipherSession(.aesCbc, keyLength: 16, op: .encrypt))
                control.ring.submit(readable: [create, bytes(16)], writable: [16], indirect: true)
            }
            _ = vu_eventfd_signal(control.kick)
            jitter()
        case .openSessions:
            try frontend.handshake()
            let ring = try frontend.startRing(0, size: Self.dataRingSize)
            let sessions = try (0..<int(1...32)).map { _ in try createSession(frontend) }
            for session in sessions.prefix(int(0...8)) {
                try expectServed(ring, session: session.id, key: session.key, what: "open-sessions request")
            }
        case .memoryTableChange, .afterMemoryTableChange:
            try frontend.handshake()
            let ring = try frontend.startRing(0, size: Self.dataRingSize)
            if chance(0.5) { try frontend.startRing(controlIndex, size: Self.controlRingSize) }
            let session = try createSession(frontend)
            submitRequests(ring, session: session, count: int(1...120))
            let sameMemory = try changeMemoryTable(frontend, awaitReply: point == .afterMemoryTableChange)
            if point == .memoryTableChange {
                jitter()
            } else if sameMemory {
                // Wait for the requests posted before the change, then one more through the new mapping.
                for _ in 0..<2000 where ring.ring.usedIndex != ring.ring.availIndex { usleep(1000) }
                guard ring.ring.usedIndex == ring.ring.availIndex else {
                    throw ValidationError("requests posted before SET_MEM_TABLE not served 2 s after it")
                }
                try expectServed(ring, session: session.id, key: session.key, what: "request after SET_MEM_TABLE")
            }
        case .afterGetVringBase:
            try frontend.handshake()
            var ring = try frontend.startRing(0, size: Self.dataRingSize)
            let session = try createSession(frontend)
            try expectServed(ring, session: session.id, key: session.key, what: "request before GET_VRING_BASE")
            if chance(0.5) {
                let next = try frontend.stopRing(0)
                guard next == UInt32(ring.ring.availIndex) else {
                    throw ValidationError("GET_VRING_BASE said \(next), \(ring.ring.availIndex) were posted")
                }
                if chance(0.5) {
                    // A fresh ring where the stopped one was (the daemon no longer reads it).
                    ring.ring.bytes.baseAddress!.initializeMemory(as: UInt8.self, repeating: 0, count: 64 << 10)
                    ring = try frontend.startRing(0, size: Self.dataRingSize)
                    try expectServed(ring, session: session.id, key: session.key, what: "request on a restarted ring")
                }
            } else {
                try frontend.send(.getVringBase, payload: Self.u32s(0, 0))
            }
        }
    }

    static func u32s(_ values: UInt32...) -> [UInt8] {
        values.flatMap { value in withUnsafeBytes(of: value.littleEndian) { Array($0) } }
    }

    static func u64(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

    /// Messages with descriptors the daemon must close (or keep until the disconnect).
    func strayDescriptors(_ frontend: VhostUserFrontend) throws {
        for _ in 0..<int(1...4) {
            let fds = someFDs(frontend)
            defer { closeAll(fds) }
            switch int(0...5) {
            case 0:  // a request that takes no descriptors, answered
                _ = try frontend.call(.getFeatures, fds: fds)
            case 1:  // an unknown request, refused
                try Self.send(frontend.connection.fd, Self.header(Code.unknown, flags: 1 | 8, size: 0), fds: fds)
                let reply = try Self.receiveReply(frontend.connection.fd)
                guard reply.request == Code.unknown, reply.status == 1 else {
                    throw ValidationError("an unknown request was not refused")
                }
            case 2:  // a kick that is no eventfd, refused
                let memfd = dup(frontend.memoryFD)
                defer { close(memfd) }
                try expectRefused(frontend, "a kick that is no eventfd") {
                    try frontend.acked(.setVringKick, payload: Self.u64(0), fds: [memfd])
                }
            case 3:  // a call with two descriptors, refused
                try expectRefused(frontend, "a call with two descriptors") {
                    try frontend.acked(.setVringCall, payload: Self.u64(0), fds: [fds[0], fds[0]])
                }
            case 4:  // an error fd: kept until the disconnect
                let eventfd = vu_eventfd()
                defer { close(eventfd) }
                try frontend.acked(.setVringErr, payload: Self.u64(0), fds: [eventfd])
            default:  // a memory table with one descriptor too many, or a memfd too small
                let small = vu_memfd("guest-ram", 4096)
                defer { close(small) }
                let descriptors = chance(0.5) ? [dup(frontend.memoryFD), small] : [small]
                defer { closeAll(descriptors.filter { $0 != small }) }
                try expectRefused(frontend, "a memory table with a bad descriptor") {
                    try frontend.acked(.setMemTable, payload: frontend.memoryTable(), fds: descriptors)
                }
            }
        }
    }

    /// `acked` throws when the daemon answers non-zero; the connection must stay up.
    func expectRefused(_ frontend: VhostUserFrontend, _ what: String, _ body: () throws -> Void) throws {
        var accepted = true
        do { try body() } catch { accepted = false }
        guard !accepted else { throw ValidationError("\(what) was accepted") }
        _ = try frontend.call(.getFeatures)
    }

    /// One reply read by hand (for a request the frontend's API has no code for): its request
    /// code and its u64 answer.
    static func receiveReply(_ fd: Int32) throws -> (request: UInt32, status: UInt64) {
        var bytes = [UInt8](repeating: 0, count: 20)
        let count = bytes.withUnsafeMutableBytes { vu_recv_all(fd, $0.baseAddress, 20) }
        guard count == 20 else { throw ValidationError("no reply (errno \(errno))") }
        return bytes.withUnsafeBytes {
            (
                UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)),
                UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 12, as: UInt64.self))
            )
        }
    }

    /// A QEMU-style AES-CBC session (its key kept to check results).
    func createSession(_ frontend: VhostUserFrontend) throws -> (id: UInt64, key: [UInt8]) {
        let key = bytes(chance(0.5) ? 16 : 32)
        let id = try frontend.createSession(cipher: .aesCbc, key: key, op: .encrypt, layoutC: chance(0.5))
        guard id > 0 else { throw ValidationError("CREATE_CRYPTO_SESSION refused (\(id))") }
        return (UInt64(id), key)
    }

    /// Posts `count` AES-CBC requests (sizes 16 B – 4 KiB, within the ring's memory) and kicks once.
    func submitRequests(_ ring: FrontendRing, session: (id: UInt64, key: [UInt8]), count: Int) {
        ring.ring.resetData()
        var budget = Self.sliceSize - (64 << 10)
        for _ in 0..<count {
            let size = 16 << int(0...8)
            budget -= 2 * size + 1024  // data, header, IV, status, table and alignment
            guard budget > 0 else { break }
            let head = RequestBuilder.data(
                opcode: .cipherEncrypt, sessionID: session.id,
                flf: RequestBuilder.cipherData(ivLength: 16, sourceLength: size))
            ring.ring.submit(readable: [head, bytes(16), bytes(size)], writable: [size, 1], indirect: true)
        }
        _ = vu_eventfd_signal(ring.kick)
    }

    /// Sends a second SET_MEM_TABLE: the same memfd again (a new mapping of it), a new memfd at
    /// the same addresses, or the old region plus a new one. Returns whether guest RAM is unchanged.
    func changeMemoryTable(_ frontend: VhostUserFrontend, awaitReply: Bool) throws -> Bool {
        var table = frontend.memoryTable()
        let word = { (offset: Int) in
            table.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
        }
        let (base, size) = (word(8), Int(word(16)))
        var fds: [Int32]
        let variant = int(0...2)
        switch variant {
        case 0:
            fds = [dup(frontend.memoryFD)]
        case 1:
            fds = [vu_memfd("guest-ram", size)]
        default:
            // Region 2: guest-physical right after region 1, at a user address no other region uses.
            table[0] = 2
            table += Self.u64(base + UInt64(size)) + Self.u64(1 << 20) + Self.u64(0x7000_0000_0000) + Self.u64(0)
            fds = [dup(frontend.memoryFD), vu_memfd("guest-ram", 1 << 20)]
        }
        defer { closeAll(fds) }
        if awaitReply {
            try frontend.acked(.setMemTable, payload: table, fds: fds)
        } else {
            try frontend.send(.setMemTable, payload: table, fds: fds, needReply: true)
        }
        return variant != 1
    }

    /// Runs one AES-CBC request and compares it with the engine; throws on any difference.
    func expectServed(_ ring: FrontendRing, session: UInt64, key: [UInt8], what: String) throws {
        let size = 16 << int(0...6)
        let iv = bytes(16)
        let input = bytes(size)
        let head = RequestBuilder.data(
            opcode: .cipherEncrypt, sessionID: session, flf: RequestBuilder.cipherData(ivLength: 16, sourceLength: size)
        )
        let out = try ring.run(readable: [head, iv, input], writable: [size, 1])
        let expected = try Self.engine(key: key, iv: iv, input: input, direction: .encrypt)
        guard out.last == UInt8(Status.ok.rawValue), Array(out.prefix(size)) == expected else {
            throw ValidationError(
                "\(what): status \(out.last ?? 255), output \(Array(out.prefix(size)) == expected ? "right" : "wrong")")
        }
    }

    static func engine(key: [UInt8], iv: [UInt8], input: [UInt8], direction: Op) throws -> [UInt8] {
        let context = try key.withUnsafeBytes { try CipherSession(algorithm: .aesCbc, key: $0, direction: direction) }
            .makeContext()
        var output = [UInt8](repeating: 0, count: input.count)
        try iv.withUnsafeBytes { iv in
            try input.withUnsafeBytes { input in
                try output.withUnsafeMutableBytes { try context.run(iv: iv, input: input, output: $0) }
            }
        }
        return output
    }

    /// A correct frontend: a QEMU-style session through the data ring and a control-queue session
    /// decrypting the result back, both compared with the engine; then sessions closed, ring stopped.
    func verifyService(label: String) {
        do {
            let frontend = try connect()
            try frontend.handshake()
            let data = try frontend.startRing(0, size: 64)
            let control = try frontend.startRing(controlIndex, size: 16)
            let session = try createSession(frontend)
            let size = 16 << int(0...8)
            let iv = bytes(16)
            let plain = bytes(size)
            let head = RequestBuilder.data(
                opcode: .cipherEncrypt, sessionID: session.id,
                flf: RequestBuilder.cipherData(ivLength: 16, sourceLength: size))
            let encrypted = try data.run(readable: [head, iv, plain], writable: [size, 1])
            let expected = try Self.engine(key: session.key, iv: iv, input: plain, direction: .encrypt)
            guard encrypted.last == 0, Array(encrypted.prefix(size)) == expected else {
                throw ValidationError("the data ring's AES-CBC result differs from the engine's")
            }
            let create = RequestBuilder.control(
                opcode: .cipherCreateSession,
                flf: RequestBuilder.cipherSession(.aesCbc, keyLength: session.key.count, op: .decrypt))
            let input = try CreateSessionInput.decode(try control.run(readable: [create, session.key], writable: [16]))
            guard input.status == .ok else { throw ValidationError("control-queue session refused: \(input.status)") }
            let decryptHead = RequestBuilder.data(
                opcode: .cipherDecrypt, sessionID: input.sessionId,
                flf: RequestBuilder.cipherData(ivLength: 16, sourceLength: size))
            let decrypted = try data.run(
                readable: [decryptHead, iv, Array(encrypted.prefix(size))], writable: [size, 1])
            guard decrypted.last == 0, Array(decrypted.prefix(size)) == plain else {
                throw ValidationError("the round trip through a control-queue session does not give the plaintext")
            }
            let destroy = RequestBuilder.control(
                opcode: .cipherDestroySession, flf: DestroySessionFlf(sessionId: input.sessionId))
            guard try control.run(readable: [destroy], writable: [1]) == [0] else {
                throw ValidationError("DESTROY_SESSION failed")
            }
            try frontend.closeSession(session.id)
            _ = try frontend.call(.getFeatures)  // messages are handled in order: the close is done
            let stale = try data.run(readable: [head, iv, plain], writable: [size, 1])
            guard stale.last == UInt8(Status.invsess.rawValue) else {
                throw ValidationError("a closed session answered \(stale.last ?? 255), not INVSESS")
            }
            guard try frontend.stopRing(0) == 3 else { throw ValidationError("GET_VRING_BASE: not 3 requests") }
            servicesChecked += 1
        } catch {
            problems.append("correct frontend \(label): \(error)")
        }
    }

    /// The end figures: sampled with a served probe until they pass (threads that were told to
    /// stop may take a moment to go), for up to two seconds.
    func settledEnd(passes: (ProcFigures) -> Bool) throws -> ProcFigures {
        var end = try probe()
        attribute(end)
        for _ in 0..<40 where !passes(end) {
            usleep(50_000)
            end = try probe()
        }
        return end
    }

    var pointSummary: String {
        var lines = ["point                     cycles  left fds behind  left mappings behind  ms per cycle"]
        for point in DisconnectPoint.allCases {
            let entry = perPoint[point] ?? (0, 0, 0)
            let milliseconds = Double(perPointTime[point] ?? 0) / 1e6 / Double(max(entry.cycles, 1))
            lines.append(
                point.rawValue.padding(toLength: 24, withPad: " ", startingAt: 0)
                    + String(
                        format: " %7ld %16ld %21ld %13.1f", entry.cycles, entry.leftFDs, entry.leftMappings,
                        milliseconds))
        }
        return lines.joined(separator: "\n")
    }
}

/// The figures table and the checks on it.
struct SoakReport {
    var start: ProcFigures
    var baseline: ProcFigures
    var end: ProcFigures
    var peak: ProcFigures
    var rssToleranceKiB: Int
    var heapToleranceKiB: Int
    var ownFDs: (start: Int, end: Int)

    var rows: [(String, Int, Int, Int, Int, String?)] {
        [
            (
                "open fds", start.fds, baseline.fds, end.fds, peak.fds,
                end.fds != baseline.fds ? "end ≠ baseline" : baseline.fds != start.fds ? "the warm-up left fds" : nil
            ),
            (
                "guest-RAM mappings (memfd)", start.memfdMappings, baseline.memfdMappings, end.memfdMappings,
                peak.memfdMappings, end.memfdMappings + baseline.memfdMappings == 0 ? nil : "mappings left"
            ),
            (
                "guest-RAM mapped KiB", start.memfdKiB, baseline.memfdKiB, end.memfdKiB, peak.memfdKiB,
                end.memfdKiB == 0 ? nil : "guest RAM still mapped"
            ),
            ("VmSize KiB", start.vmSizeKiB, baseline.vmSizeKiB, end.vmSizeKiB, peak.vmSizeKiB, vmSizeProblem),
            (
                "VmRSS KiB", start.vmRSSKiB, baseline.vmRSSKiB, end.vmRSSKiB, peak.vmRSSKiB,
                end.vmRSSKiB <= baseline.vmRSSKiB + rssToleranceKiB
                    ? nil : "more than \(rssToleranceKiB) KiB above baseline"
            ),
            (
                "threads", start.threads, baseline.threads, end.threads, peak.threads,
                end.threads == baseline.threads ? nil : "end ≠ baseline"
            ),
            (
                "soak's own fds", ownFDs.start, ownFDs.start, ownFDs.end, ownFDs.end,
                ownFDs.end == ownFDs.start ? nil : "the frontend leaks"
            ),
        ]
    }

    /// VmSize must come back: every kind of mapping exactly as at the baseline but the brk heap,
    /// whose top may float within the heap tolerance, and one thread stack. glibc cannot unmap
    /// the stack a detached thread exits on: it frees it when the next thread starts or exits, so
    /// the last worker's stack may outlive it, even with no stack cache; shown by the maps (a
    /// guard page and a stack) and by the thread count being back. Under glibc's defaults
    /// (`--glibc-defaults`, or an attached daemon) threads explain more: exited threads' stacks in
    /// glibc's cache (at most 40 MiB of them) and arenas of threads (at most 8 per core); nothing
    /// else may grow.
    var vmSizeProblem: String? {
        guard end.vmSizeKiB != baseline.vmSizeKiB else { return nil }
        var (before, after) = (baseline.kinds, end.kinds)
        let heapFloats = after.heapKiB <= before.heapKiB + heapToleranceKiB
        let changes =
            "brk heap \(before.heapKiB) → \(after.heapKiB) KiB; "
            + ProcFigures.difference(end.mappings, baseline.mappings).filter { !$0.0.hasSuffix("[heap]") }
            .map { "\($0.0) \($0.1 > 0 ? "+" : "")\($0.1)" }.joined(separator: ", ")
        guard end.threads == baseline.threads else { return "end ≠ baseline, threads still there: " + changes }
        if threadsExplainVmSize {
            let explained =
                heapFloats && after.otherKiB <= before.otherKiB && after.memfdKiB == 0
                && after.arenas <= 8 * sysconf(Int32(_SC_NPROCESSORS_ONLN))
                && (after.stackKiB - before.stackKiB) <= 40 << 10
            return explained ? nil : "end ≠ baseline, not by thread stacks and arenas: " + changes
        }
        let lingering = after.stacks - before.stacks
        let oneStack = lingering <= 0 || (lingering == 1 && after.stackKiB - before.stackKiB <= after.largestStackKiB)
        (before.heapKiB, after.heapKiB) = (0, 0)
        (before.stacks, before.stackKiB, before.largestStackKiB) = (0, 0, 0)
        (after.stacks, after.stackKiB, after.largestStackKiB) = (0, 0, 0)
        return heapFloats && oneStack && after == before ? nil : "end ≠ baseline: " + changes
    }

    /// What a VmSize that passes with a difference differs by.
    var vmSizeNote: String? {
        guard end.vmSizeKiB != baseline.vmSizeKiB, vmSizeProblem == nil else { return nil }
        let stacks = end.kinds.stacks - baseline.kinds.stacks
        var notes = ["brk heap \(end.kinds.heapKiB - baseline.kinds.heapKiB) KiB"]
        if stacks > 0 {
            notes.append("\(stacks) exited thread's stack not yet unmapped by glibc, threads back to \(end.threads)")
        }
        if end.kinds.arenas != baseline.kinds.arenas {
            notes.append("malloc arenas \(baseline.kinds.arenas) → \(end.kinds.arenas)")
        }
        return "VmSize differs by: " + notes.joined(separator: "; ")
    }

    /// Whether thread stacks and arenas may explain a VmSize difference (the daemon runs under
    /// glibc's defaults).
    var threadsExplainVmSize: Bool

    var problems: [String] {
        rows.compactMap { row in row.5.map { "\(row.0): \($0) (baseline \(row.2), end \(row.3))" } }
    }

    var table: String {
        var lines = [
            "figure                           start   baseline        end  max during  check"
        ]
        for row in rows {
            lines.append(
                row.0.padding(toLength: 28, withPad: " ", startingAt: 0)
                    + String(format: " %9ld %10ld %10ld %11ld  ", row.1, row.2, row.3, row.4)
                    + (row.5.map { "FAIL: \($0)" } ?? "ok"))
        }
        lines.append("VmSize at baseline: \(baseline.kinds.summary)")
        lines.append("VmSize at the end:  \(end.kinds.summary)")
        if let vmSizeNote { lines.append(vmSizeNote) }
        let delta = end.vmRSSKiB - baseline.vmRSSKiB
        lines.append(
            "VmRSS end − baseline: \(delta >= 0 ? "+" : "")\(delta) KiB (tolerance +\(rssToleranceKiB) KiB); brk heap "
                + "end − baseline: \(end.kinds.heapKiB - baseline.kinds.heapKiB) KiB (tolerance +\(heapToleranceKiB) KiB); "
                + "fds at the end: \(end.fdKinds.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", "))"
        )
        return lines.joined(separator: "\n")
    }
}
