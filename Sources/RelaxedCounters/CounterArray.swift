import CVirtQueueAtomics

/// Counters with one writer (a ring's worker thread) and any number of readers: an increment is
/// a relaxed load and store, no locked instruction and no lock, so counting costs the data path
/// almost nothing; a reader sees each counter as it was at some recent moment. Several writers'
/// arrays are summed when read (a scrape, a report), never shared while written.
public final class CounterArray: @unchecked Sendable {
    public let count: Int
    @usableFromInline let slots: UnsafeMutablePointer<UInt64>

    public init(count: Int) {
        self.count = count
        slots = .allocate(capacity: max(count, 1))
        slots.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { slots.deallocate() }

    /// By the writer only.
    @inlinable @inline(__always)
    public func increment(_ index: Int) { vq_increment_relaxed_u64(slots + index) }

    /// By the writer only.
    @inlinable @inline(__always)
    public func add(_ amount: UInt64, at index: Int) { vq_add_relaxed_u64(slots + index, amount) }

    /// By anyone.
    @inlinable @inline(__always)
    public subscript(index: Int) -> UInt64 { vq_load_relaxed_u64(slots + index) }

    /// Every counter, by anyone.
    public var values: [UInt64] { (0..<count).map { self[$0] } }

    /// Adds `other`'s counts into this array: by this array's writer, or while it has none (a
    /// retired worker's counts folded into the totals).
    public func add(_ other: CounterArray) {
        precondition(other.count == count, "counter arrays of different shapes")
        for index in 0..<count { add(other[index], at: index) }
    }
}
