/// The buffers of one request, device-readable ones first, as a byte stream: the device
/// must not assume how the driver split a request over descriptors. Allocated once per
/// worker and reused, so walking a chain allocates nothing.
public final class DescriptorChain {
    public private(set) var head: UInt16 = 0
    /// Where the walk stores the buffers (`capacity` of them).
    let slots: UnsafeMutablePointer<ChainSlot>
    public let capacity: Int
    /// The request's buffers as a value: what the device reads and writes through.
    public private(set) var buffers: ChainBuffers

    /// `capacity` bounds the buffers of one chain (longer chains fail with `.chainTooLong`).
    public init(capacity: Int = 4096) {
        self.capacity = capacity
        slots = .allocate(capacity: capacity)
        buffers = ChainBuffers(slots)
    }

    deinit { slots.deallocate() }

    public var count: Int { buffers.count }
    /// The first `readableCount` buffers are device-readable, the rest device-writable.
    public var readableCount: Int { buffers.readableCount }
    public var readableLength: Int { buffers.readableLength }
    public var writableLength: Int { buffers.writableLength }

    /// Empty, for a chain the walk refused.
    func reset(head: UInt16) {
        self.head = head
        buffers = ChainBuffers(slots)
    }

    /// The walk's result: `count` buffers stored, the first `readableCount` device-readable.
    @inline(__always)
    func finish(head: UInt16, count: Int, readableCount: Int, readableLength: Int, writableLength: Int) {
        self.head = head
        buffers = ChainBuffers(
            slots, count: count, readableCount: readableCount, readableLength: readableLength,
            writableLength: writableLength)
    }

    /// The device-readable buffers (an array: for tests and diagnostics, not the data path).
    public var readableBuffers: [UnsafeMutableRawBufferPointer] { buffers.buffers(in: 0..<buffers.readableCount) }

    /// The device-writable buffers (an array: for tests and diagnostics, not the data path).
    public var writableBuffers: [UnsafeMutableRawBufferPointer] {
        buffers.buffers(in: buffers.readableCount..<buffers.count)
    }

    public func read(at offset: Int, into destination: UnsafeMutableRawBufferPointer) -> Bool {
        buffers.read(at: offset, into: destination)
    }

    public func readableSpan(at offset: Int, count: Int) -> UnsafeRawBufferPointer? {
        buffers.readableSpan(at: offset, count: count)
    }

    public func writableSpan(at offset: Int, count: Int) -> UnsafeMutableRawBufferPointer? {
        buffers.writableSpan(at: offset, count: count)
    }

    public func write(at offset: Int, from source: UnsafeRawBufferPointer) -> Bool {
        buffers.write(at: offset, from: source)
    }

    public func writeLastByte(_ value: UInt8) -> Bool { buffers.writeLastByte(value) }
}

/// One buffer of a walked chain: where it starts, and where it ends in its part's byte stream
/// (readable or writable, each from 0). A lookup by offset compares one word per buffer, and a
/// buffer's stream start is the previous one's end.
struct ChainSlot {
    let base: UnsafeMutableRawPointer
    let end: Int
}

/// A walked chain's buffers as a plain value (a pointer and four counts, no reference counting),
/// valid while its `DescriptorChain` is neither walked again nor freed: what a worker keeps while
/// it serves one request.
///
/// The walk stores no empty buffer, so the ends rise strictly within each part, and the last
/// readable (writable) end is `readableLength` (`writableLength`). The lookups rely on that: once an
/// offset is checked against a part's length, a search for the buffer holding it needs no bound.
public struct ChainBuffers {
    private let slots: UnsafeMutablePointer<ChainSlot>
    public private(set) var count = 0
    /// The first `readableCount` buffers are device-readable, the rest device-writable.
    public private(set) var readableCount = 0
    public private(set) var readableLength = 0
    public private(set) var writableLength = 0

    fileprivate init(_ slots: UnsafeMutablePointer<ChainSlot>) { self.slots = slots }

    fileprivate init(
        _ slots: UnsafeMutablePointer<ChainSlot>, count: Int, readableCount: Int, readableLength: Int,
        writableLength: Int
    ) {
        self.slots = slots
        self.count = count
        self.readableCount = readableCount
        self.readableLength = readableLength
        self.writableLength = writableLength
    }

    fileprivate func buffers(in range: Range<Int>) -> [UnsafeMutableRawBufferPointer] {
        range.map { index in
            let start = index == range.lowerBound ? 0 : slots[index - 1].end
            return UnsafeMutableRawBufferPointer(start: slots[index].base, count: slots[index].end - start)
        }
    }

    /// The part starting at slot `first` holding stream byte `offset` (the caller has checked
    /// it is below the part's length): that buffer's index and its stream start.
    @inline(__always)
    private func locate(_ offset: Int, from first: Int) -> (index: Int, start: Int) {
        var index = first
        var start = 0
        while slots[index].end <= offset {
            start = slots[index].end
            index &+= 1  // stays in the part: its last end is above `offset`
        }
        return (index, start)
    }

    /// Copies `destination.count` readable bytes from stream offset `offset`; false if the
    /// readable part is shorter.
    public func read(at offset: Int, into destination: UnsafeMutableRawBufferPointer) -> Bool {
        let wanted = destination.count
        // Both non-negative: no overflow.
        guard offset >= 0, wanted <= readableLength &- offset else { return false }
        guard wanted > 0 else { return true }
        let (index, start) = locate(offset, from: 0)
        let slot = slots[index]
        // Most reads (header, fixed part, IV) lie in one buffer: one copy.
        if wanted <= slot.end &- offset {
            destination.baseAddress!.copyMemory(from: slot.base + (offset &- start), byteCount: wanted)
            return true
        }
        forEachPiece(from: index, start: start, at: offset, count: wanted) { piece, done in
            (destination.baseAddress! + done).copyMemory(from: piece.baseAddress!, byteCount: piece.count)
        }
        return true
    }

    /// Calls `body` with each piece of the stream bytes `[offset, offset + count)` and how many bytes
    /// came before it, from slot `index` (which holds `offset` and starts at `start`). The caller has
    /// checked the range fits its part.
    @inline(__always)
    private func forEachPiece(
        from index: Int, start: Int, at offset: Int, count: Int, _ body: (UnsafeMutableRawBufferPointer, Int) -> Void
    ) {
        var index = index
        var start = start
        var position = offset
        var done = 0
        while done < count {
            let slot = slots[index]
            let take = min(slot.end &- position, count &- done)
            body(UnsafeMutableRawBufferPointer(start: slot.base + (position &- start), count: take), done)
            done &+= take
            position &+= take
            start = slot.end
            index &+= 1
        }
    }

    /// The readable bytes `[offset, offset + count)` in place when one buffer holds them all.
    public func readableSpan(at offset: Int, count: Int) -> UnsafeRawBufferPointer? {
        span(from: 0, length: readableLength, at: offset, count: count).map(UnsafeRawBufferPointer.init)
    }

    /// The writable bytes `[offset, offset + count)` in place when one buffer holds them all.
    public func writableSpan(at offset: Int, count: Int) -> UnsafeMutableRawBufferPointer? {
        span(from: readableCount, length: writableLength, at: offset, count: count)
    }

    /// The bytes of the part that starts at slot `first` and is `length` long. An empty span is
    /// placed in the first buffer it touches (at its end when on a boundary), or at nil in an
    /// empty part.
    @inline(__always)
    private func span(from first: Int, length: Int, at offset: Int, count: Int) -> UnsafeMutableRawBufferPointer? {
        // Both non-negative: no overflow.
        guard offset >= 0, count >= 0, count <= length &- offset else { return nil }
        guard count > 0 else {
            guard length > 0 else { return UnsafeMutableRawBufferPointer(start: nil, count: 0) }
            // The buffer whose end is at or past `offset` (the one holding `offset - 1` when > 0).
            let (index, start) = offset == 0 ? (first, 0) : locate(offset &- 1, from: first)
            return UnsafeMutableRawBufferPointer(start: slots[index].base + (offset &- start), count: 0)
        }
        let (index, start) = locate(offset, from: first)
        let slot = slots[index]
        guard count <= slot.end &- offset else { return nil }
        return UnsafeMutableRawBufferPointer(start: slot.base + (offset &- start), count: count)
    }

    /// Writes `source` at writable stream offset `offset`; false if it does not fit.
    public func write(at offset: Int, from source: UnsafeRawBufferPointer) -> Bool {
        let wanted = source.count
        // Both non-negative: no overflow.
        guard offset >= 0, wanted <= writableLength &- offset else { return false }
        guard wanted > 0 else { return true }
        let (index, start) = locate(offset, from: readableCount)
        let slot = slots[index]
        // A status byte or a result mostly fits one buffer: one copy.
        if wanted <= slot.end &- offset {
            (slot.base + (offset &- start)).copyMemory(from: source.baseAddress!, byteCount: wanted)
            return true
        }
        forEachPiece(from: index, start: start, at: offset, count: wanted) { piece, done in
            piece.baseAddress!.copyMemory(from: source.baseAddress! + done, byteCount: piece.count)
        }
        return true
    }

    /// The writable byte at stream offset `offset`, found from the end (a status byte sits at or
    /// near it: one buffer looked at); nil past the writable part.
    public func writableByte(at offset: Int) -> UnsafeMutableRawPointer? {
        guard offset >= 0, offset < writableLength else { return nil }
        // A writable byte exists, so the writable part has a buffer: `count - 1` is in it.
        var index = count &- 1
        while true {
            let start = index > readableCount ? slots[index &- 1].end : 0
            if offset >= start { return slots[index].base + (offset &- start) }
            index &-= 1
        }
    }

    /// Writes one byte at the very end of the writable part (where a status byte goes
    /// when the driver's buffers are longer than the request needs). False if none.
    public func writeLastByte(_ value: UInt8) -> Bool {
        guard let last = writableByte(at: writableLength &- 1) else { return false }
        last.storeBytes(of: value, as: UInt8.self)
        return true
    }
}
