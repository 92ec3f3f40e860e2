/// The buffers of one request, device-readable ones first, as a byte stream: the device
/// must not assume how the driver split a request over descriptors. Allocated once per
/// worker and reused, so walking a chain allocates nothing.
public final class DescriptorChain {
    public private(set) var head: UInt16 = 0
    private let storage: UnsafeMutableBufferPointer<UnsafeMutableRawBufferPointer>
    public let capacity: Int
    /// The request's buffers as a value: what the device reads and writes through.
    public private(set) var buffers: ChainBuffers

    /// `capacity` bounds the buffers of one chain (longer chains fail with `.chainTooLong`).
    public init(capacity: Int = 4096) {
        self.capacity = capacity
        storage = .allocate(capacity: capacity)
        buffers = ChainBuffers(storage.baseAddress!)
    }

    deinit { storage.deallocate() }

    public var count: Int { buffers.count }
    /// The first `readableCount` buffers are device-readable, the rest device-writable.
    public var readableCount: Int { buffers.readableCount }
    public var readableLength: Int { buffers.readableLength }
    public var writableLength: Int { buffers.writableLength }

    func reset(head: UInt16) {
        self.head = head
        buffers = ChainBuffers(storage.baseAddress!)
    }

    func append(_ buffer: UnsafeMutableRawBufferPointer, writable: Bool) throws(QueueError) {
        guard buffers.count < capacity else { throw .chainTooLong }
        if writable {
            buffers.writableLength += buffer.count
        } else {
            guard buffers.count == buffers.readableCount else { throw .readableAfterWritable }
            buffers.readableCount += 1
            buffers.readableLength += buffer.count
        }
        storage[buffers.count] = buffer
        buffers.count += 1
    }

    public var readableBuffers: UnsafeMutableBufferPointer<UnsafeMutableRawBufferPointer>.SubSequence {
        storage[0..<buffers.readableCount]
    }

    public var writableBuffers: UnsafeMutableBufferPointer<UnsafeMutableRawBufferPointer>.SubSequence {
        storage[buffers.readableCount..<buffers.count]
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

/// A walked chain's buffers as a plain value (a pointer and four counts, no reference counting),
/// valid while its `DescriptorChain` is neither walked again nor freed: what a worker keeps while
/// it serves one request.
public struct ChainBuffers {
    private let buffers: UnsafeMutablePointer<UnsafeMutableRawBufferPointer>
    public fileprivate(set) var count = 0
    /// The first `readableCount` buffers are device-readable, the rest device-writable.
    public fileprivate(set) var readableCount = 0
    public fileprivate(set) var readableLength = 0
    public fileprivate(set) var writableLength = 0

    fileprivate init(_ buffers: UnsafeMutablePointer<UnsafeMutableRawBufferPointer>) { self.buffers = buffers }

    /// Copies `destination.count` readable bytes from stream offset `offset`; false if the
    /// readable part is shorter.
    public func read(at offset: Int, into destination: UnsafeMutableRawBufferPointer) -> Bool {
        guard offset >= 0, destination.count <= readableLength - offset else { return false }
        // Most reads (header, fixed part, IV) lie in one buffer: one copy.
        if destination.count > 0, let source = span(in: 0..<readableCount, at: offset, count: destination.count) {
            destination.baseAddress!.copyMemory(from: source.baseAddress!, byteCount: destination.count)
            return true
        }
        forEachPiece(of: 0..<readableCount, at: offset, count: destination.count) { buffer, done in
            (destination.baseAddress! + done).copyMemory(from: buffer.baseAddress!, byteCount: buffer.count)
        }
        return true
    }

    /// Calls `body` with each piece of buffers `range` covering stream bytes `[offset, offset + count)`
    /// and how many bytes came before it. The caller has checked the range fits.
    @inline(__always)
    private func forEachPiece(
        of range: Range<Int>, at offset: Int, count: Int, _ body: (UnsafeMutableRawBufferPointer, Int) -> Void
    ) {
        var skip = offset
        var done = 0
        var index = range.lowerBound
        while done < count, index < range.upperBound {
            let buffer = buffers[index]
            index += 1
            if skip >= buffer.count {
                skip -= buffer.count
                continue
            }
            let take = min(buffer.count - skip, count - done)
            body(UnsafeMutableRawBufferPointer(start: buffer.baseAddress! + skip, count: take), done)
            done += take
            skip = 0
        }
    }

    /// The readable bytes `[offset, offset + count)` in place when one buffer holds them all.
    public func readableSpan(at offset: Int, count: Int) -> UnsafeRawBufferPointer? {
        span(in: 0..<readableCount, at: offset, count: count).map(UnsafeRawBufferPointer.init)
    }

    /// The writable bytes `[offset, offset + count)` in place when one buffer holds them all.
    public func writableSpan(at offset: Int, count: Int) -> UnsafeMutableRawBufferPointer? {
        span(in: readableCount..<self.count, at: offset, count: count)
    }

    @inline(__always)
    private func span(in range: Range<Int>, at offset: Int, count: Int) -> UnsafeMutableRawBufferPointer? {
        guard offset >= 0, count >= 0 else { return nil }
        var start = offset
        for index in range {
            let buffer = buffers[index]
            if start < buffer.count || (count == 0 && start == buffer.count) {
                guard count <= buffer.count - start else { return nil }
                return UnsafeMutableRawBufferPointer(start: buffer.baseAddress! + start, count: count)
            }
            start -= buffer.count
        }
        return count == 0 && start == 0 ? UnsafeMutableRawBufferPointer(start: nil, count: 0) : nil
    }

    /// Writes `source` at writable stream offset `offset`; false if it does not fit.
    public func write(at offset: Int, from source: UnsafeRawBufferPointer) -> Bool {
        guard offset >= 0, source.count <= writableLength - offset else { return false }
        // A status byte or a result mostly fits one buffer: one copy.
        if source.count > 0, let target = span(in: readableCount..<self.count, at: offset, count: source.count) {
            target.baseAddress!.copyMemory(from: source.baseAddress!, byteCount: source.count)
            return true
        }
        forEachPiece(of: readableCount..<self.count, at: offset, count: source.count) { buffer, done in
            buffer.baseAddress!.copyMemory(from: source.baseAddress! + done, byteCount: buffer.count)
        }
        return true
    }

    /// The writable byte at stream offset `offset`, found from the end (a status byte sits at or
    /// near it: one buffer looked at); nil past the writable part.
    public func writableByte(at offset: Int) -> UnsafeMutableRawPointer? {
        guard offset >= 0, offset < writableLength else { return nil }
        var end = writableLength
        var index = count
        while index > readableCount {
            index -= 1
            let buffer = buffers[index]
            let start = end - buffer.count
            if offset >= start { return buffer.baseAddress! + (offset - start) }
            end = start
        }
        return nil
    }

    /// Writes one byte at the very end of the writable part (where a status byte goes
    /// when the driver's buffers are longer than the request needs). False if none.
    public func writeLastByte(_ value: UInt8) -> Bool {
        guard writableLength > 0 else { return false }
        for index in (readableCount..<count).reversed() where buffers[index].count > 0 {
            buffers[index][buffers[index].count - 1] = value
            return true
        }
        return false
    }
}
