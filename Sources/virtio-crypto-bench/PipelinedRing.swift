import CVhostUserSupport
import CVirtQueueAtomics
import Dispatch
import Glibc
import Histogram
import VirtioCryptoDriver

/// Keeps `depth` identical requests in flight on one ring: every slot's chain (an indirect
/// table and its buffers) is laid out once, so the driver side allocates nothing either.
final class PipelinedRing: @unchecked Sendable {
    let ring: FrontendRing
    let depth: Int
    private var started: [UInt64]
    private var usedSeen: UInt16
    private let statusAddresses: [UInt64]
    /// Each slot's first device-writable part (the destination data) and its size.
    private let outputs: [(address: UInt64, count: Int)]

    /// `sharedData`: every slot points at the same data buffers (the last readable part and
    /// the writable ones), which takes memory traffic out of the measurement.
    init(ring: FrontendRing, depth: Int, readable: [[UInt8]], writable: [Int], sharedData: Bool = false) {
        self.ring = ring
        self.depth = min(depth, Int(ring.ring.size))
        started = Array(repeating: 0, count: self.depth)
        usedSeen = ring.ring.usedIndex
        let driver = ring.ring
        driver.resetData()
        var statuses: [UInt64] = []
        var outputs: [(address: UInt64, count: Int)] = []
        var shared: [(UInt64, Int, UInt16)] = []
        for slot in 0..<self.depth {
            var parts =
                readable.map { (driver.allocate($0), $0.count, UInt16(0)) }
                + writable.map { (driver.allocate(count: $0), $0, UInt16.write) }
            if sharedData {
                // Header and status stay per slot; the payload parts are the first slot's.
                let payload = (readable.count - 1)..<(parts.count - 1)
                if shared.isEmpty {
                    shared = Array(parts[payload])
                } else {
                    parts.replaceSubrange(payload, with: shared)
                }
            }
            let table = driver.allocate(count: 16 * parts.count)
            for (index, part) in parts.enumerated() {
                let last = index == parts.count - 1
                driver.setDescriptor(
                    index, address: part.0, length: UInt32(part.1), flags: part.2 | (last ? 0 : .next),
                    next: UInt16(index + 1), table: table)
            }
            driver.setDescriptor(slot, address: table, length: UInt32(16 * parts.count), flags: .indirect)
            statuses.append(parts.last!.0 + UInt64(parts.last!.1 - 1))
            let output = parts[readable.count]
            outputs.append((output.0, output.1))
        }
        statusAddresses = statuses
        self.outputs = outputs
    }

    /// The slots whose destination data does not start with `expected` (checked after a run:
    /// every slot was last answered with the same request).
    func slotsWithout(_ expected: [UInt8]) -> Int {
        let driver = ring.ring
        return outputs.filter { output in
            output.count < expected.count
                || !expected.withUnsafeBytes { memcmp(driver.host(output.address), $0.baseAddress!, $0.count) == 0 }
        }.count
    }

    /// Runs until `deadline` (uptime ns); returns completed requests and failed ones. Like
    /// a polling guest driver: kicks only when the device asks for kicks, and takes no
    /// interrupts while it spins (VRING_AVAIL_F_NO_INTERRUPT), only before it sleeps.
    func run(until deadline: UInt64, latency: inout Histogram<UInt64>) -> (completed: Int, failed: Int) {
        let driver = ring.ring
        var completed = 0
        var failed = 0
        var free = Array((0..<depth).reversed())
        var now = DispatchTime.now().uptimeNanoseconds
        driver.setAvailFlags(1)
        defer { driver.setAvailFlags(0) }
        while now < deadline || free.count < depth {
            if now < deadline && !free.isEmpty {
                while let slot = free.popLast() {
                    started[slot] = now
                    driver.post(UInt16(slot))
                }
                if driver.deviceWantsKick { _ = vu_eventfd_signal(ring.kick) }
            }
            // Spin briefly, then sleep on the call eventfd with interrupts enabled.
            var spins = 0
            while driver.usedIndex == usedSeen {
                vq_cpu_relax()
                spins += 1
                if spins > 2000 {
                    driver.setAvailFlags(0)
                    vq_fence()
                    if driver.usedIndex == usedSeen { _ = vu_eventfd_wait(ring.call, 10) }
                    driver.setAvailFlags(1)
                    spins = 0
                }
            }
            now = DispatchTime.now().uptimeNanoseconds
            let used = driver.usedIndex
            while usedSeen != used {
                let slot = Int(driver.usedElement(Int(usedSeen % driver.size)).id)
                usedSeen &+= 1
                guard slot < depth else { continue }
                _ = latency.record(now - started[slot])
                if driver.host(statusAddresses[slot]).load(as: UInt8.self) != 0 { failed += 1 }
                completed += 1
                free.append(slot)
            }
        }
        return (completed, failed)
    }
}
