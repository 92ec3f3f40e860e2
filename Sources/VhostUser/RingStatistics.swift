import Glibc
import RelaxedCounters

/// What one ring served: requests (chains answered, those returned unused included), bytes the
/// device read from and wrote into their buffers, and, when measured, how long each waited from the
/// worker taking it off the avail ring to its used entry being published and the driver signalled.
public struct RingStatistics: Sendable, Equatable {
    public var requests = 0
    public var bytesRead = 0
    public var bytesWritten = 0
    /// Requests per latency bucket (`latencyBoundsNanoseconds`, then one past the last bound); all
    /// zero when latency is not measured.
    public var latencyBuckets = [Int](repeating: 0, count: RingStatistics.latencyBoundsNanoseconds.count + 1)
    public var latencySumNanoseconds = 0

    /// Bucket upper bounds, 1 µs to 1 s in 1-2-5 steps: wide enough for a request served in
    /// microseconds and for one queued behind a ring of RSA signatures.
    public static let latencyBoundsNanoseconds: [UInt64] = [
        1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000, 2_000_000, 5_000_000,
        10_000_000, 20_000_000, 50_000_000, 100_000_000, 200_000_000, 500_000_000, 1_000_000_000,
    ]

    public init() {}

    public var latencyCount: Int { latencyBuckets.reduce(0, +) }

    public mutating func add(_ other: RingStatistics) {
        requests += other.requests
        bytesRead += other.bytesRead
        bytesWritten += other.bytesWritten
        for index in latencyBuckets.indices { latencyBuckets[index] += other.latencyBuckets[index] }
        latencySumNanoseconds += other.latencySumNanoseconds
    }
}

/// A ring worker's counters (it alone writes them; readers take `statistics`), and the times its
/// current batch's requests were taken, until the batch is published.
final class RingCounters: @unchecked Sendable {
    private enum Slot {
        static let requests = 0
        static let bytesRead = 1
        static let bytesWritten = 2
        static let latencySum = 3
        static let firstBucket = 4
    }
    private static let bounds = RingStatistics.latencyBoundsNanoseconds
    private let counts = CounterArray(count: Slot.firstBucket + RingCounters.bounds.count + 1)
    /// Nil when latency is not measured: then no clock is read.
    private let taken: UnsafeMutableBufferPointer<UInt64>?
    private var pending = 0

    /// `batchCapacity`: the most requests one batch takes (the ring size).
    init(measuresLatency: Bool, batchCapacity: Int) {
        if measuresLatency {
            let taken = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: max(batchCapacity, 1))
            taken.initialize(repeating: 0)
            self.taken = taken
        } else {
            taken = nil
        }
    }

    deinit { taken?.deallocate() }

    @inline(__always)
    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
    }

    /// A request taken off the avail ring.
    @inline(__always)
    func took() {
        guard let taken else { return }
        // A driver that keeps re-posting cannot overrun the times: a full batch is recorded early.
        if pending == taken.count { published() }
        taken[pending] = Self.now()
        pending += 1
    }

    /// A request's readable bytes, when its chain is walked.
    @inline(__always)
    func read(_ count: Int) { counts.add(UInt64(count), at: Slot.bytesRead) }

    /// A request answered.
    @inline(__always)
    func answered(written: UInt32) {
        counts.increment(Slot.requests)
        counts.add(UInt64(written), at: Slot.bytesWritten)
    }

    /// The batch's used entries are published: each request's latency ends now.
    func published() {
        guard let taken, pending > 0 else { return }
        let now = Self.now()
        var sum: UInt64 = 0
        for index in 0..<pending {
            let latency = now &- taken[index]
            sum &+= latency
            var bucket = 0
            while bucket < Self.bounds.count, latency > Self.bounds[bucket] { bucket += 1 }
            counts.increment(Slot.firstBucket + bucket)
        }
        counts.add(sum, at: Slot.latencySum)
        pending = 0
    }

    /// By anyone.
    var statistics: RingStatistics {
        var result = RingStatistics()
        result.requests = Int(counts[Slot.requests])
        result.bytesRead = Int(counts[Slot.bytesRead])
        result.bytesWritten = Int(counts[Slot.bytesWritten])
        result.latencySumNanoseconds = Int(counts[Slot.latencySum])
        for index in result.latencyBuckets.indices {
            result.latencyBuckets[index] = Int(counts[Slot.firstBucket + index])
        }
        return result
    }
}
