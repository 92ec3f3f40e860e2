import Foundation
import VirtQueue

/// Guest memory for the queue fuzzers: a low region that holds both rings and their buffers,
/// and a small high region after a hole, so raw descriptors can point into either, into the
/// hole, across a region's end or past the address space. One per process, cleared per input.
public final class FuzzMemory: GuestMemory, @unchecked Sendable {
    public static let lowBase: UInt64 = 0x10_0000
    public static let highBase: UInt64 = 0x4000_0000
    public let low: UnsafeMutableRawBufferPointer
    public let high: UnsafeMutableRawBufferPointer

    public init(lowSize: Int, highSize: Int) {
        low = .allocate(byteCount: lowSize, alignment: 4096)
        high = .allocate(byteCount: highSize, alignment: 4096)
        clear()
    }

    deinit {
        low.deallocate()
        high.deallocate()
    }

    /// Zeros both regions: an input must not see what the previous one left.
    public func clear() {
        // memset, not a loop of instrumented stores.
        memset(low.baseAddress!, 0, low.count)
        memset(high.baseAddress!, 0, high.count)
    }

    public func bytes(at address: UInt64, count: Int) -> UnsafeMutableRawBufferPointer? {
        Self.slice(low, at: Self.lowBase, address, count) ?? Self.slice(high, at: Self.highBase, address, count)
    }

    private static func slice(
        _ region: UnsafeMutableRawBufferPointer, at base: UInt64, _ address: UInt64, _ count: Int
    ) -> UnsafeMutableRawBufferPointer? {
        guard count >= 0, address >= base else { return nil }
        let offset = address - base
        guard offset <= UInt64(region.count), UInt64(count) <= UInt64(region.count) - offset else { return nil }
        return UnsafeMutableRawBufferPointer(start: region.baseAddress! + Int(offset), count: count)
    }
}
