import WireBytes

/// The payload layouts of the vhost-user messages this back-end serves, each described once.
/// Every decoder reads exactly its layout's bytes: a payload of any other size is refused.

/// `struct vhost_vring_state`: a ring index and a number (size, base or enable flag).
public struct VringState: Equatable, Sendable {
    public static let size = 8
    public var index: UInt32
    public var number: UInt32

    public init(index: UInt32, number: UInt32) {
        self.index = index
        self.number = number
    }

    init(from reader: inout WireReader) throws(WireError) {
        index = try reader.le32()
        number = try reader.le32()
    }

    func encode(into writer: inout WireWriter) {
        writer.le32(index)
        writer.le32(number)
    }
}

/// `struct vhost_vring_addr`: the three ring parts as front-end virtual addresses.
public struct VringAddress: Equatable, Sendable {
    public static let size = 40
    /// `VHOST_VRING_F_LOG`: log used-ring writes at `log`; needs LOG_ALL, which is not offered.
    public static let logFlag: UInt32 = 1 << 0

    public var index: UInt32
    public var flags: UInt32
    public var descriptors: UInt64
    public var used: UInt64
    public var avail: UInt64
    public var log: UInt64

    init(from reader: inout WireReader) throws(WireError) {
        index = try reader.le32()
        flags = try reader.le32()
        descriptors = try reader.le64()
        used = try reader.le64()
        avail = try reader.le64()
        log = try reader.le64()
    }
}

/// The u64 of SET_VRING_KICK / CALL / ERR: the ring index in bits 0–7, `noFD` in bit 8, and
/// nothing else.
public struct VringFile: Equatable, Sendable {
    public static let size = 8
    static let indexMask: UInt64 = 0xff
    static let noFDFlag: UInt64 = 1 << 8

    public var index: UInt32
    /// No descriptor comes with the message: polling (kick) or no notification (call, err).
    public var noFD: Bool

    init(from reader: inout WireReader) throws(MessageRefusal) {
        let value: UInt64
        do { value = try reader.le64() } catch { throw .payloadSize(expected: Self.size) }
        guard value & ~(Self.indexMask | Self.noFDFlag) == 0 else { throw .vringFileBits(value) }
        index = UInt32(value & Self.indexMask)
        noFD = value & Self.noFDFlag != 0
    }
}

/// One region of `struct vhost_memory`: guest-physical address, size, front-end virtual
/// address and the offset of the region in its file.
public struct MemoryRegionEntry: Equatable, Sendable {
    public static let size = 32
    public var guestAddress: UInt64
    public var size: UInt64
    public var userAddress: UInt64
    public var mmapOffset: UInt64

    public init(guestAddress: UInt64, size: UInt64, userAddress: UInt64, mmapOffset: UInt64) {
        self.guestAddress = guestAddress
        self.size = size
        self.userAddress = userAddress
        self.mmapOffset = mmapOffset
    }

    init(from reader: inout WireReader) throws(WireError) {
        guestAddress = try reader.le64()
        size = try reader.le64()
        userAddress = try reader.le64()
        mmapOffset = try reader.le64()
    }
}

/// `struct vhost_memory`: le32 nregions, le32 padding, then the regions; one fd per region.
public struct MemoryTable: Equatable, Sendable {
    static let headerSize = 8
    /// `VHOST_MEMORY_BASELINE_NREGIONS`: without CONFIGURE_MEM_SLOTS (not offered) a table has at most 8.
    public static let maxRegions = 8

    public var regions: [MemoryRegionEntry]

    init(from reader: inout WireReader) throws(MessageRefusal) {
        let count: UInt32
        do {
            count = try reader.le32()
            try reader.skip(4)
        } catch { throw .payloadSize(expected: Self.headerSize) }
        guard count >= 1, count <= Self.maxRegions else { throw .memoryTable(.regionCount(count)) }
        let expected = Self.headerSize + MemoryRegionEntry.size * Int(count)
        guard reader.remaining == expected - Self.headerSize else { throw .payloadSize(expected: expected) }
        regions = []
        for _ in 0..<count {
            do { regions.append(try MemoryRegionEntry(from: &reader)) } catch { throw .payloadSize(expected: expected) }
        }
    }
}

/// `VhostUserConfig`'s header: offset and size of the config range, flags; then `size` bytes.
public struct ConfigRange: Equatable, Sendable {
    public static let headerSize = 12
    /// `VHOST_USER_MAX_CONFIG_SIZE`.
    public static let maxSize = 256

    public var offset: UInt32
    public var size: UInt32
    public var flags: UInt32

    init(from reader: inout WireReader) throws(MessageRefusal) {
        do {
            offset = try reader.le32()
            size = try reader.le32()
            flags = try reader.le32()
        } catch { throw .payloadSize(expected: Self.headerSize) }
        guard size <= Self.maxSize else { throw .configRange(offset: offset, size: size) }
        // The config bytes follow: GET_CONFIG's are placeholders the reply overwrites.
        guard reader.remaining == Int(size) else { throw .payloadSize(expected: Self.headerSize + Int(size)) }
        do { try reader.skip(Int(size)) } catch { throw .payloadSize(expected: Self.headerSize + Int(size)) }
    }

    func encode(into writer: inout WireWriter) {
        writer.le32(offset)
        writer.le32(size)
        writer.le32(flags)
    }
}
