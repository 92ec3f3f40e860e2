/// Guest-physical memory as the device sees it: regions of the guest mapped into this
/// process. Every address and length from the driver is checked here before use.
public protocol GuestMemory: AnyObject, Sendable {
    /// The host bytes of `[address, address + count)`, when the whole range lies in one
    /// mapped region; nil otherwise (out of range, wrapping, or across regions).
    func bytes(at address: UInt64, count: Int) -> UnsafeMutableRawBufferPointer?
    /// The regions, when the memory is a fixed set of them: a ring translates its buffers against
    /// its own copy, without a call through the protocol per buffer. Empty: ask `bytes`.
    var fixedRegions: [MemoryRegion] { get }
}

extension GuestMemory {
    public var fixedRegions: [MemoryRegion] { [] }
}

/// One mapped region: guest-physical `[guestAddress, guestAddress + size)` at `host`.
public struct MemoryRegion: Sendable {
    public var guestAddress: UInt64
    public var size: UInt64
    public nonisolated(unsafe) var host: UnsafeMutableRawPointer

    public init(guestAddress: UInt64, size: UInt64, host: UnsafeMutableRawPointer) {
        self.guestAddress = guestAddress
        self.size = size
        self.host = host
    }

    /// The host pointer for `[address, address + count)` if it lies wholly inside.
    @inline(__always)
    public func translate(_ address: UInt64, _ count: Int) -> UnsafeMutableRawPointer? {
        guard count >= 0, address >= guestAddress else { return nil }
        let offset = address - guestAddress
        guard offset <= size, UInt64(count) <= size - offset else { return nil }
        return host + Int(offset)
    }
}

/// A fixed set of regions (a vhost-user memory table, or a test buffer).
public final class RegionMemory: GuestMemory, @unchecked Sendable {
    public let regions: [MemoryRegion]

    /// Fails when regions overlap in guest-physical space or wrap the address space.
    public init?(regions: [MemoryRegion]) {
        for region in regions {
            let (_, overflow) = region.guestAddress.addingReportingOverflow(region.size)
            if overflow || region.size == 0 { return nil }
        }
        let sorted = regions.sorted { $0.guestAddress < $1.guestAddress }
        for (first, second) in zip(sorted, sorted.dropFirst())
        where first.guestAddress + first.size > second.guestAddress {
            return nil
        }
        self.regions = sorted
    }

    public var fixedRegions: [MemoryRegion] { regions }

    public func bytes(at address: UInt64, count: Int) -> UnsafeMutableRawBufferPointer? {
        for region in regions {
            if let pointer = region.translate(address, count) {
                return UnsafeMutableRawBufferPointer(start: pointer, count: count)
            }
        }
        return nil
    }
}
