import Glibc
import VirtQueue

/// Guest memory from SET_MEM_TABLE: each region's fd mapped into this process. Regions
/// are checked (non-empty, no wrap, no overlap, mappable) before any is used.
public final class MappedGuestMemory: GuestMemory, @unchecked Sendable {
    public struct Region: Sendable {
        public var guestAddress: UInt64
        public var size: UInt64
        public var userAddress: UInt64
        public var mmapOffset: UInt64
    }

    public static let maxRegions = 8

    public let regions: [Region]
    private let memory: RegionMemory
    private let mappings: [(pointer: UnsafeMutableRawPointer, length: Int)]

    public enum MapError: Error, Equatable {
        case invalidTable
        case mapFailed(Int32)
    }

    /// Parses a SET_MEM_TABLE payload and maps the regions; takes ownership of `fds`.
    public init(payload: [UInt8], fds: [Int32]) throws(MapError) {
        defer { fds.forEach { close($0) } }
        guard payload.count >= 8 else { throw .invalidTable }
        let count = payload.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self))) }
        guard count >= 1, count <= Self.maxRegions, payload.count >= 8 + 32 * count, fds.count == count else {
            throw .invalidTable
        }
        var regions: [Region] = []
        for index in 0..<count {
            let base = 8 + 32 * index
            func word(_ offset: Int) -> UInt64 {
                payload.withUnsafeBytes {
                    UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: base + offset, as: UInt64.self))
                }
            }
            let region = Region(guestAddress: word(0), size: word(8), userAddress: word(16), mmapOffset: word(24))
            let (_, guestWrap) = region.guestAddress.addingReportingOverflow(region.size)
            let (_, userWrap) = region.userAddress.addingReportingOverflow(region.size)
            let (mapEnd, offsetWrap) = region.mmapOffset.addingReportingOverflow(region.size)
            guard region.size > 0, !guestWrap, !userWrap, !offsetWrap, mapEnd <= UInt64(Int.max) else {
                throw .invalidTable
            }
            regions.append(region)
        }
        var mappings: [(UnsafeMutableRawPointer, Int)] = []
        var memoryRegions: [MemoryRegion] = []
        for (region, fd) in zip(regions, fds) {
            let length = Int(region.size + region.mmapOffset)
            // A file shorter than the region would SIGBUS on first touch: refuse it now.
            var status = stat()
            guard fstat(fd, &status) == 0, status.st_size >= length else {
                mappings.forEach { munmap($0.0, $0.1) }
                throw .invalidTable
            }
            guard let pointer = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), pointer != MAP_FAILED
            else {
                let error = errno
                mappings.forEach { munmap($0.0, $0.1) }
                throw .mapFailed(error)
            }
            mappings.append((pointer, length))
            memoryRegions.append(
                MemoryRegion(
                    guestAddress: region.guestAddress, size: region.size, host: pointer + Int(region.mmapOffset)))
        }
        guard let memory = RegionMemory(regions: memoryRegions) else {
            mappings.forEach { munmap($0.0, $0.1) }
            throw .invalidTable
        }
        self.regions = regions
        self.memory = memory
        self.mappings = mappings
    }

    deinit { mappings.forEach { munmap($0.pointer, $0.length) } }

    public func bytes(at address: UInt64, count: Int) -> UnsafeMutableRawBufferPointer? {
        memory.bytes(at: address, count: count)
    }

    /// The guest-physical address of a frontend (QEMU) virtual address, as ring addresses come.
    public func guestAddress(ofUserAddress address: UInt64) -> UInt64? {
        for region in regions where address >= region.userAddress && address - region.userAddress < region.size {
            return region.guestAddress + (address - region.userAddress)
        }
        return nil
    }
}
