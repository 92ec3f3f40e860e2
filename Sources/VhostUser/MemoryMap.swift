import Glibc
import VirtQueue

/// Guest memory from SET_MEM_TABLE: each region's fd mapped into this process. Regions are
/// checked (non-empty, no wrap, no overlap, within their file, mappable) before any is used.
public final class MappedGuestMemory: GuestMemory, @unchecked Sendable {
    public let regions: [MemoryRegionEntry]
    private let memory: RegionMemory
    private let mappings: [(pointer: UnsafeMutableRawPointer, length: Int)]

    /// Maps a decoded table; takes ownership of `fds` (one per region, closed here either way).
    public init(table: MemoryTable, fds: [Int32]) throws(MemoryTableFault) {
        defer { fds.forEach { close($0) } }
        precondition(fds.count == table.regions.count, "the decoder matched descriptors to regions")
        for (index, region) in table.regions.enumerated() {
            let (_, guestWrap) = region.guestAddress.addingReportingOverflow(region.size)
            let (_, userWrap) = region.userAddress.addingReportingOverflow(region.size)
            let (mapEnd, offsetWrap) = region.mmapOffset.addingReportingOverflow(region.size)
            guard region.size > 0 else { throw .emptyRegion(index) }
            guard !guestWrap, !userWrap, !offsetWrap, mapEnd <= UInt64(Int.max) else { throw .wraps(index) }
        }
        var mappings: [(UnsafeMutableRawPointer, Int)] = []
        func unmapAll() { mappings.forEach { munmap($0.0, $0.1) } }
        var memoryRegions: [MemoryRegion] = []
        for (index, (region, fd)) in zip(table.regions, fds).enumerated() {
            let length = Int(region.size + region.mmapOffset)
            // A file shorter than the region would SIGBUS on first touch: refuse it now.
            var status = stat()
            guard fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFREG, status.st_size >= length else {
                unmapAll()
                throw .fileTooShort(index)
            }
            guard let pointer = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), pointer != MAP_FAILED
            else {
                let error = errno
                unmapAll()
                throw .notMappable(region: index, errno: error)
            }
            mappings.append((pointer, length))
            memoryRegions.append(
                MemoryRegion(
                    guestAddress: region.guestAddress, size: region.size, host: pointer + Int(region.mmapOffset)))
        }
        guard let memory = RegionMemory(regions: memoryRegions) else {
            unmapAll()
            throw .overlaps(Self.firstOverlap(table.regions))
        }
        self.regions = table.regions
        self.memory = memory
        self.mappings = mappings
    }

    deinit { mappings.forEach { munmap($0.pointer, $0.length) } }

    public func bytes(at address: UInt64, count: Int) -> UnsafeMutableRawBufferPointer? {
        memory.bytes(at: address, count: count)
    }

    public var fixedRegions: [MemoryRegion] { memory.regions }

    /// The guest-physical address of `count` bytes at a front-end virtual address (ring addresses
    /// come as those), when they lie within one region; nil otherwise.
    public func guestAddress(ofUserAddress address: UInt64, count: Int = 1) -> UInt64? {
        for region in regions where address >= region.userAddress && address - region.userAddress < region.size {
            let offset = address - region.userAddress
            guard UInt64(count) <= region.size - offset else { return nil }
            return region.guestAddress + offset
        }
        return nil
    }

    /// The first region whose guest range meets an earlier one's.
    private static func firstOverlap(_ regions: [MemoryRegionEntry]) -> Int {
        for (index, region) in regions.enumerated() {
            for other in regions[..<index]
            where region.guestAddress < other.guestAddress + other.size
                && other.guestAddress < region.guestAddress + region.size
            {
                return index
            }
        }
        return 0
    }
}
