import CVirtQueueAtomics
import VirtQueue

/// The driver side of a split ring in memory this process owns: builds chains (normal or
/// hostile, by hand) and reads completions. Used by tests, fuzzers and the benchmark.
public final class DriverRing {
    public static let base: UInt64 = 0x10_0000
    public let size: UInt16
    public let bytes: UnsafeMutableRawBufferPointer
    public let memory: RegionMemory
    public let layout: QueueLayout
    private var nextDescriptor = 0
    /// Next free byte of the data area (guest address).
    private var dataCursor: UInt64
    public private(set) var availIndex: UInt16 = 0

    /// The guest-physical address of `bytes[0]`.
    public let guestBase: UInt64
    private let ownsBytes: Bool

    /// A ring in memory of its own.
    public convenience init(size: UInt16 = 16, memorySize: Int = 1 << 20) {
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: memorySize, alignment: 4096)
        bytes.initializeMemory(as: UInt8.self, repeating: 0)
        self.init(size: size, region: bytes, guestBase: Self.base, owned: true)
    }

    /// A ring at the start of `region` (e.g. a slice of a memfd shared with a backend),
    /// whose first byte is guest-physical `guestBase`.
    public init(size: UInt16, region: UnsafeMutableRawBufferPointer, guestBase: UInt64, owned: Bool = false) {
        self.size = size
        bytes = region
        self.guestBase = guestBase
        ownsBytes = owned
        memory = RegionMemory(regions: [
            MemoryRegion(guestAddress: guestBase, size: UInt64(region.count), host: region.baseAddress!)
        ])!
        let descriptors = guestBase
        let avail = descriptors + 16 * UInt64(size)
        let used = (avail + 6 + 2 * UInt64(size) + 3) & ~3
        layout = QueueLayout(size: size, descriptorTable: descriptors, availRing: avail, usedRing: used)
        dataStart = (used + 6 + 8 * UInt64(size) + 4095) & ~4095
        dataCursor = dataStart
    }

    private let dataStart: UInt64

    /// Forgets every data allocation (once all chains using them are done).
    public func resetData() { dataCursor = dataStart }

    deinit { if ownsBytes { bytes.deallocate() } }

    public func host(_ address: UInt64) -> UnsafeMutableRawPointer { bytes.baseAddress! + Int(address - guestBase) }

    /// Places `content` (or `count` zero bytes) in the data area and returns its address:
    /// cache-line aligned, as a guest's kmalloc or page buffers are (vectorized AES loses
    /// a quarter of its speed on buffers that straddle lines), with a gap after each.
    public func allocate(_ content: [UInt8]) -> UInt64 {
        let address = (dataCursor + 63) & ~63
        content.withUnsafeBytes { host(address).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        dataCursor = address + UInt64(content.count) + 16
        return address
    }

    public func allocate(count: Int) -> UInt64 { allocate([UInt8](repeating: 0, count: count)) }

    /// Writes descriptor `index` of the table at `table` (the main table by default).
    public func setDescriptor(
        _ index: Int, address: UInt64, length: UInt32, flags: UInt16, next: UInt16 = 0, table: UInt64? = nil
    ) {
        let entry = host(table ?? layout.descriptorTable) + 16 * index
        entry.storeBytes(of: address.littleEndian, as: UInt64.self)
        entry.storeBytes(of: length.littleEndian, toByteOffset: 8, as: UInt32.self)
        entry.storeBytes(of: flags.littleEndian, toByteOffset: 12, as: UInt16.self)
        entry.storeBytes(of: next.littleEndian, toByteOffset: 14, as: UInt16.self)
    }

    /// Posts `head` and bumps avail.idx (by `advance`, to fake a jump).
    public func post(_ head: UInt16, advance: UInt16 = 1) {
        host(layout.availRing + 4 + 2 * UInt64(availIndex % size)).storeBytes(of: head.littleEndian, as: UInt16.self)
        availIndex &+= advance
        // Release: the entry (and the chain it names) is visible before the index moves.
        vq_store_release_u16(host(layout.availRing + 2), availIndex.littleEndian)
    }

    public var usedIndex: UInt16 { UInt16(littleEndian: vq_load_acquire_u16(host(layout.usedRing + 2))) }

    public func usedElement(_ slot: Int) -> (id: UInt32, length: UInt32) {
        let element = host(layout.usedRing + 4 + 8 * UInt64(slot))
        return (element.load(as: UInt32.self), element.load(fromByteOffset: 4, as: UInt32.self))
    }

    public var availEvent: UInt16 { host(layout.usedRing + 4 + 8 * UInt64(size)).load(as: UInt16.self) }

    public func setUsedEvent(_ value: UInt16) {
        host(layout.availRing + 4 + 2 * UInt64(size)).storeBytes(of: value, as: UInt16.self)
    }

    public func setAvailFlags(_ value: UInt16) { vq_store_relaxed_u16(host(layout.availRing), value.littleEndian) }

    /// Whether the device wants a kick for what was just posted (VRING_USED_F_NO_NOTIFY
    /// clear; no EVENT_IDX). The fence orders the avail.idx store before the flag load.
    public var deviceWantsKick: Bool {
        vq_fence()
        return UInt16(littleEndian: vq_load_relaxed_u16(host(layout.usedRing))) & 1 == 0
    }

    public func bytes(at address: UInt64, count: Int) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: host(address), count: count))
    }
}

extension DriverRing {
    public struct Submission {
        public var head: UInt16
        /// Guest addresses and sizes of the device-writable buffers, in order.
        public var writable: [(address: UInt64, count: Int)]
    }

    /// Posts one chain: each readable part and each writable size becomes one buffer
    /// (through an indirect table when `indirect`).
    @discardableResult
    public func submit(readable: [[UInt8]], writable: [Int], indirect: Bool = false) -> Submission {
        let parts: [(UInt64, Int, UInt16)] =
            readable.map { (allocate($0), $0.count, 0) }
            + writable.map { (allocate(count: $0), $0, UInt16.write) }
        let writableParts = parts.filter { $0.2 == UInt16.write }.map { (address: $0.0, count: $0.1) }
        if indirect {
            let table = allocate(count: 16 * parts.count)
            for (index, part) in parts.enumerated() {
                let last = index == parts.count - 1
                setDescriptor(
                    index, address: part.0, length: UInt32(part.1), flags: part.2 | (last ? 0 : .next),
                    next: UInt16(index + 1), table: table)
            }
            let head = takeDescriptors(1)
            setDescriptor(Int(head), address: table, length: UInt32(16 * parts.count), flags: .indirect)
            post(head)
            return Submission(head: head, writable: writableParts)
        }
        let head = takeDescriptors(parts.count)
        for (index, part) in parts.enumerated() {
            let slot = (Int(head) + index) % Int(size)
            let last = index == parts.count - 1
            setDescriptor(
                slot, address: part.0, length: UInt32(part.1), flags: part.2 | (last ? 0 : .next),
                next: UInt16((slot + 1) % Int(size)))
        }
        post(head)
        return Submission(head: head, writable: writableParts)
    }

    private func takeDescriptors(_ count: Int) -> UInt16 {
        let head = nextDescriptor
        nextDescriptor = (nextDescriptor + count) % Int(size)
        return UInt16(head)
    }

    /// The device-writable bytes of a completed submission, concatenated.
    public func written(_ submission: Submission) -> [UInt8] {
        submission.writable.flatMap { bytes(at: $0.address, count: $0.count) }
    }

    /// The length the device put in the newest used entry: how many bytes it says it wrote.
    public var lastUsedLength: Int { Int(usedElement(Int((usedIndex &- 1) % size)).length) }
}

extension UInt16 {
    public static let next: UInt16 = 1
    public static let write: UInt16 = 2
    public static let indirect: UInt16 = 4
}
