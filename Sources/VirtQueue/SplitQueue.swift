import CVirtQueueAtomics

/// Why a queue stopped or a chain was refused. Ring-level faults break the queue (the
/// virtio spec lets the device stop using a queue whose driver misbehaves); chain-level
/// faults fail that request only.
public enum QueueError: Error, Equatable, Sendable, CaseIterable {
    /// The rings do not fit in guest memory, or the size is not a power of two ≤ 32768.
    case invalidLayout
    /// `avail.idx` moved by more than the queue size since the last request.
    case availIndexJump
    /// A head or `next` index is outside the descriptor table.
    case indexOutOfRange
    /// More descriptors than the table can hold: a loop or an oversized chain.
    case chainTooLong
    /// An indirect descriptor inside an indirect table, or with NEXT set.
    case nestedIndirect
    /// An indirect table whose length is zero, not a multiple of 16, or too long.
    case badIndirectTable
    /// A device-readable buffer after a device-writable one.
    case readableAfterWritable
    /// A buffer outside guest memory.
    case addressOutOfRange
}

/// Where the three parts of a split virtqueue live in guest memory.
public struct QueueLayout: Equatable, Sendable {
    public var size: UInt16
    public var descriptorTable: UInt64
    public var availRing: UInt64
    public var usedRing: UInt64

    public init(size: UInt16, descriptorTable: UInt64, availRing: UInt64, usedRing: UInt64) {
        self.size = size
        self.descriptorTable = descriptorTable
        self.availRing = availRing
        self.usedRing = usedRing
    }
}

/// The device side of a split virtqueue (virtio 1.x §2.7) over memory it does not own.
/// Not thread-safe: one worker owns a queue.
public final class SplitQueue {
    static let flagNext: UInt16 = 1
    static let flagWrite: UInt16 = 2
    static let flagIndirect: UInt16 = 4
    /// Longest indirect table virtio allows (the maximum queue size).
    static let maxIndirect = 32768

    public let layout: QueueLayout
    public let memory: any GuestMemory
    /// `memory`'s regions when it has a fixed set (it lives as long as this queue: the regions stay
    /// mapped), and the one the last buffer was in: a chain's buffers are mostly in one region.
    private let regions: UnsafeMutableBufferPointer<HotRegion>
    private var hotRegion: HotRegion
    /// VIRTIO_F_EVENT_IDX negotiated: use used_event / avail_event.
    public let eventIndex: Bool
    /// Publish avail_event even without EVENT_IDX (QEMU's vhost-user cryptodev needs it).
    public var alwaysPublishAvailEvent = false

    private let descriptors: UnsafeMutableRawPointer
    private let avail: UnsafeMutableRawPointer
    private let used: UnsafeMutableRawPointer
    private let mask: UInt16

    public private(set) var lastAvailIndex: UInt16
    /// avail.idx as last read: chains up to it are taken without reading the index again,
    /// so a busy queue does not pull the driver's index cache line in per request.
    private var shadowAvailIndex: UInt16
    public private(set) var usedIndex: UInt16
    /// Set on a ring-level fault; a broken queue takes no more requests.
    public private(set) var isBroken = false
    private var usedAtLastSignal: UInt16

    public init(memory: any GuestMemory, layout: QueueLayout, eventIndex: Bool, startIndex: UInt16 = 0)
        throws(QueueError)
    {
        let size = Int(layout.size)
        func part(_ part: RingPart) -> UnsafeMutableRawPointer? {
            memory.bytes(at: layout.address(of: part), count: part.length(size: size))?.baseAddress
        }
        guard size > 0, size <= QueueLayout.maxSize, size & (size - 1) == 0,
            let descriptors = part(.descriptorTable), let avail = part(.availRing), let used = part(.usedRing)
        else {
            throw .invalidLayout
        }
        self.layout = layout
        self.memory = memory
        let fixed = memory.fixedRegions
        regions = .allocate(capacity: max(fixed.count, 1))
        _ = regions.initialize(from: fixed.map(HotRegion.init))
        regionCount = fixed.count
        // Not `regions.first`: the buffer holds one slot even when there is no region.
        hotRegion = regionCount > 0 ? regions[0] : HotRegion(emptyAt: UnsafeMutableRawPointer(regions.baseAddress!))
        self.eventIndex = eventIndex
        self.descriptors = descriptors
        self.avail = avail
        self.used = used
        mask = layout.size - 1
        lastAvailIndex = startIndex
        shadowAvailIndex = startIndex
        usedIndex = startIndex
        usedAtLastSignal = startIndex
    }

    /// Chains already known to be available after the last one taken (no read of the driver's index).
    public var knownAvailable: Int { Int(shadowAvailIndex &- lastAvailIndex) }

    /// The next available chain's head, nil when the driver has posted nothing new.
    /// Breaks the queue when `avail.idx` jumps by more than the queue size.
    public func nextAvailable() throws(QueueError) -> UInt16? {
        guard !isBroken else { return nil }
        if shadowAvailIndex == lastAvailIndex {
            // Acquire: the entries up to the index are visible once the index is.
            let availIndex = UInt16(littleEndian: vq_load_acquire_u16(avail + 2))
            let pending = availIndex &- lastAvailIndex
            if pending == 0 { return nil }
            guard pending <= layout.size else {
                isBroken = true
                throw .availIndexJump
            }
            shadowAvailIndex = availIndex
        }
        let slot = Int(lastAvailIndex & mask)
        let head = UInt16(littleEndian: (avail + 4 + 2 * slot).loadUnaligned(as: UInt16.self))
        lastAvailIndex &+= 1
        // A head outside the table names no chain the device could answer: the ring is broken.
        guard head < layout.size else {
            isBroken = true
            throw .indexOutOfRange
        }
        return head
    }

    private let regionCount: Int

    deinit { regions.deallocate() }

    /// Collects the buffers of the chain at `head` into `chain`. A chain it refuses leaves `chain`
    /// empty (head set), so nothing of a half-walked chain can be served.
    public func walk(head: UInt16, into chain: DescriptorChain) throws(QueueError) {
        do {
            try collect(head: head, into: chain)
        } catch {
            chain.reset(head: head)
            throw error
        }
    }

    /// The walk proper. What it keeps per buffer lives in locals, few enough to stay in registers,
    /// and reaches `chain` once, at the end. Every check a hostile driver can trip is here, in the
    /// order the errors are reported.
    @inline(__always)
    private func collect(head: UInt16, into chain: DescriptorChain) throws(QueueError) {
        let slots = chain.slots
        let capacity = chain.capacity
        var region = hotRegion
        var table = descriptors
        var tableSize = Int(layout.size)
        // Descriptors this table may still yield: more means a loop or an oversized chain.
        var remaining = tableSize
        var index = Int(head)
        var inIndirect = false
        var count = 0
        // The first `readableCount` buffers are readable: a readable one after a writable one is refused.
        var readableCount = 0
        // No overflow: at most 2 × 32768 descriptors (the ring's, then one indirect table's) of
        // less than 2^32 bytes each.
        var readableLength = 0
        var writableLength = 0
        while true {
            guard remaining > 0 else { throw .chainTooLong }
            remaining &-= 1
            let entry = table + 16 &* index
            // Copy the descriptor once: the driver may change it under us.
            let address = UInt64(littleEndian: entry.loadUnaligned(as: UInt64.self))
            let length = UInt32(littleEndian: entry.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
            let flags = UInt16(littleEndian: entry.loadUnaligned(fromByteOffset: 12, as: UInt16.self))

            if flags & Self.flagIndirect != 0 {
                guard !inIndirect, flags & Self.flagNext == 0 else { throw .nestedIndirect }
                guard length > 0, length % 16 == 0, Int(length / 16) <= Self.maxIndirect else {
                    throw .badIndirectTable
                }
                guard let indirect = translate(address, length, &region) else { throw .addressOutOfRange }
                table = indirect
                tableSize = Int(length / 16)
                remaining = tableSize
                index = 0
                inIndirect = true
                continue
            }
            if length > 0 {
                guard let base = translate(address, length, &region) else { throw .addressOutOfRange }
                guard count < capacity else { throw .chainTooLong }
                let end: Int
                if flags & Self.flagWrite != 0 {
                    writableLength &+= Int(length)
                    end = writableLength
                } else {
                    guard count == readableCount else { throw .readableAfterWritable }
                    readableCount &+= 1
                    readableLength &+= Int(length)
                    end = readableLength
                }
                (slots + count).initialize(to: ChainSlot(base: base, end: end))
                count &+= 1  // ≤ capacity: checked above
            }
            guard flags & Self.flagNext != 0 else { break }
            let next = Int(UInt16(littleEndian: entry.loadUnaligned(fromByteOffset: 14, as: UInt16.self)))
            guard next < tableSize else { throw .indexOutOfRange }
            index = next
        }
        chain.finish(
            head: head, count: count, readableCount: readableCount, readableLength: readableLength,
            writableLength: writableLength)
    }

    /// The host bytes of guest `[address, address + length)` in one region: `region` (the one the
    /// last buffer was in) first, then every region; the one that holds them becomes `region`.
    @inline(__always)
    private func translate(_ address: UInt64, _ length: UInt32, _ region: inout HotRegion) -> UnsafeMutableRawPointer? {
        if let pointer = region.translate(address, length) { return pointer }
        return translateSlowly(address, length, &region)
    }

    @inline(never)
    private func translateSlowly(_ address: UInt64, _ length: UInt32, _ region: inout HotRegion)
        -> UnsafeMutableRawPointer?
    {
        guard regionCount > 0 else { return memory.bytes(at: address, count: Int(length))?.baseAddress }
        for index in 0..<regionCount {
            let candidate = regions[index]
            if let pointer = candidate.translate(address, length) {
                region = candidate
                hotRegion = candidate
                return pointer
            }
        }
        return nil
    }

    /// Returns a chain to the driver with the number of bytes written into it.
    public func publishUsed(head: UInt16, written: UInt32) {
        let element = used + 4 + 8 * Int(usedIndex & mask)
        element.storeBytes(of: UInt32(head).littleEndian, as: UInt32.self)
        element.storeBytes(of: written.littleEndian, toByteOffset: 4, as: UInt32.self)
        usedIndex &+= 1
        vq_store_release_u16(used + 2, usedIndex.littleEndian)
    }

    /// True while the device asks the driver not to kick (it is draining or polling).
    public private(set) var notificationsSuppressed = false

    /// Asks the driver to stop kicking (VRING_USED_F_NO_NOTIFY; with EVENT_IDX, avail_event
    /// is simply left behind). A hint only: the driver may kick anyway.
    public func suppressNotifications() {
        guard !notificationsSuppressed, !isBroken else { return }
        notificationsSuppressed = true
        if !eventIndex { vq_store_relaxed_u16(used, UInt16(1).littleEndian) }
    }

    /// Asks for a kick on the next chain the driver posts, then says whether one is
    /// already there: the caller must drain again before sleeping when this returns true
    /// (the driver may have posted just before it saw the request).
    public func enableNotifications() -> Bool {
        if notificationsSuppressed {
            notificationsSuppressed = false
            if !eventIndex { vq_store_relaxed_u16(used, 0) }
            publishAvailEvent()
            vq_fence()
        }
        return hasPending
    }

    private func publishAvailEvent() {
        if eventIndex || alwaysPublishAvailEvent {
            vq_store_relaxed_u16(used + 4 + 8 * Int(layout.size), lastAvailIndex.littleEndian)
        }
    }

    /// After a batch: publishes avail_event (unless notifications are suppressed) and says
    /// whether the driver wants a signal for the used entries added since the last one
    /// (virtio §2.7.7.2 / §2.7.10).
    public func finishBatch() -> Bool {
        if !notificationsSuppressed { publishAvailEvent() }
        vq_fence()
        let old = usedAtLastSignal
        let new = usedIndex
        guard new != old else { return false }
        usedAtLastSignal = new
        if eventIndex {
            let event = UInt16(littleEndian: vq_load_relaxed_u16(avail + 4 + 2 * Int(layout.size)))
            return (new &- event &- 1) < (new &- old)
        }
        let flags = UInt16(littleEndian: vq_load_relaxed_u16(avail))
        return flags & 1 == 0  // VRING_AVAIL_F_NO_INTERRUPT
    }

    /// Whether the driver has posted chains not taken yet (to re-check after a batch).
    public var hasPending: Bool {
        !isBroken && UInt16(littleEndian: vq_load_acquire_u16(avail + 2)) != lastAvailIndex
    }
}

/// A region as the walk checks buffers against it. Its size is clamped so that the region neither
/// wraps the guest address space nor exceeds `Int.max` bytes (no mapping in this process is larger,
/// and the lookups refused that way were refused before too): then one subtraction and two
/// comparisons place a buffer, and its offset becomes a pointer offset without a check.
struct HotRegion {
    let guestAddress: UInt64
    let size: UInt64
    let host: UnsafeMutableRawPointer

    init(_ region: MemoryRegion) {
        guestAddress = region.guestAddress
        size = min(region.size, UInt64.max - region.guestAddress, UInt64(Int.max))
        host = region.host
    }

    /// Holds no byte (the queue's memory has no fixed regions): every lookup goes to the slow path.
    init(emptyAt host: UnsafeMutableRawPointer) {
        guestAddress = 0
        size = 0
        self.host = host
    }

    @inline(__always)
    func translate(_ address: UInt64, _ length: UInt32) -> UnsafeMutableRawPointer? {
        // Below `guestAddress` the difference wraps to more than `size` (the region does not wrap).
        let offset = address &- guestAddress
        guard offset <= size, UInt64(length) <= size &- offset else { return nil }
        return host + Int(bitPattern: UInt(offset))  // ≤ size ≤ Int.max
    }
}
