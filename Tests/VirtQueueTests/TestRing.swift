import VirtQueue

/// A driver's view of a split ring in a test buffer, for building hostile chains by hand.
final class TestRing {
    static let base: UInt64 = 0x10_0000
    let size: UInt16
    let bytes: UnsafeMutableRawBufferPointer
    let memory: RegionMemory
    let layout: QueueLayout
    /// Next free byte of the data area (guest address).
    private var dataCursor: UInt64
    private(set) var availIndex: UInt16 = 0

    init(size: UInt16 = 16, memorySize: Int = 1 << 20) {
        self.size = size
        bytes = .allocate(byteCount: memorySize, alignment: 4096)
        bytes.initializeMemory(as: UInt8.self, repeating: 0)
        memory = RegionMemory(regions: [MemoryRegion(guestAddress: Self.base, size: UInt64(memorySize), host: bytes.baseAddress!)])!
        let descriptors = Self.base
        let avail = descriptors + 16 * UInt64(size)
        let used = (avail + 6 + 2 * UInt64(size) + 3) & ~3
        layout = QueueLayout(size: size, descriptorTable: descriptors, availRing: avail, usedRing: used)
        dataCursor = (used + 6 + 8 * UInt64(size) + 4095) & ~4095
    }

    deinit { bytes.deallocate() }

    func host(_ address: UInt64) -> UnsafeMutableRawPointer { bytes.baseAddress! + Int(address - Self.base) }

    /// Places `content` (or `count` zero bytes) in the data area and returns its address.
    func allocate(_ content: [UInt8]) -> UInt64 {
        let address = dataCursor
        content.withUnsafeBytes { host(address).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        dataCursor += UInt64((content.count + 15) & ~15) + 16
        return address
    }

    func allocate(count: Int) -> UInt64 { allocate([UInt8](repeating: 0, count: count)) }

    /// Writes descriptor `index` of the table at `table` (the main table by default).
    func setDescriptor(_ index: Int, address: UInt64, length: UInt32, flags: UInt16, next: UInt16 = 0, table: UInt64? = nil) {
        let entry = host(table ?? layout.descriptorTable) + 16 * index
        entry.storeBytes(of: address.littleEndian, as: UInt64.self)
        entry.storeBytes(of: length.littleEndian, toByteOffset: 8, as: UInt32.self)
        entry.storeBytes(of: flags.littleEndian, toByteOffset: 12, as: UInt16.self)
        entry.storeBytes(of: next.littleEndian, toByteOffset: 14, as: UInt16.self)
    }

    /// Posts `head` and bumps avail.idx (by `advance`, to fake a jump).
    func post(_ head: UInt16, advance: UInt16 = 1) {
        host(layout.availRing + 4 + 2 * UInt64(availIndex % size)).storeBytes(of: head.littleEndian, as: UInt16.self)
        availIndex &+= advance
        host(layout.availRing + 2).storeBytes(of: availIndex.littleEndian, as: UInt16.self)
    }

    var usedIndex: UInt16 { UInt16(littleEndian: host(layout.usedRing + 2).load(as: UInt16.self)) }

    func usedElement(_ slot: Int) -> (id: UInt32, length: UInt32) {
        let element = host(layout.usedRing + 4 + 8 * UInt64(slot))
        return (element.load(as: UInt32.self), element.load(fromByteOffset: 4, as: UInt32.self))
    }

    var availEvent: UInt16 { host(layout.usedRing + 4 + 8 * UInt64(size)).load(as: UInt16.self) }

    func setUsedEvent(_ value: UInt16) {
        host(layout.availRing + 4 + 2 * UInt64(size)).storeBytes(of: value, as: UInt16.self)
    }

    func setAvailFlags(_ value: UInt16) { host(layout.availRing).storeBytes(of: value, as: UInt16.self) }

    func bytes(at address: UInt64, count: Int) -> [UInt8] { Array(UnsafeRawBufferPointer(start: host(address), count: count)) }
}

extension UInt16 {
    static let next: UInt16 = 1
    static let write: UInt16 = 2
    static let indirect: UInt16 = 4
}
