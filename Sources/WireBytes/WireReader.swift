/// Why a byte stream could not be decoded. Small and allocation-free, so the data path
/// can throw it without cost.
public enum WireError: Error, Equatable, Sendable {
    /// `needed` bytes were asked for at `offset` but fewer remain.
    case truncated(offset: Int, needed: Int)
}

/// Little-endian reads over borrowed bytes. A read either succeeds whole and advances,
/// or throws and leaves the cursor where it was.
public struct WireReader {
    public let bytes: UnsafeRawBufferPointer
    /// Inlinable into every parser (the generated ones read a field per call): the data path
    /// would otherwise pay a cross-module call per field.
    @usableFromInline var cursor: Int
    public var offset: Int { cursor }

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        self.cursor = 0
    }

    @inlinable
    public var remaining: Int { bytes.count - cursor }

    @inlinable @inline(__always)
    mutating func advance(_ count: Int) throws(WireError) -> Int {
        guard count >= 0, count <= remaining else { throw .truncated(offset: cursor, needed: count) }
        defer { cursor += count }
        return cursor
    }

    @inlinable @inline(__always)
    public mutating func u8() throws(WireError) -> UInt8 {
        u8(at: try advance(1))
    }

    @inlinable @inline(__always)
    public mutating func le16() throws(WireError) -> UInt16 {
        le16(at: try advance(2))
    }

    @inlinable @inline(__always)
    public mutating func le32() throws(WireError) -> UInt32 {
        le32(at: try advance(4))
    }

    @inlinable @inline(__always)
    public mutating func le64() throws(WireError) -> UInt64 {
        le64(at: try advance(8))
    }

    /// The offset of the next `count` bytes, which the cursor passes; nil (the cursor unmoved) when
    /// fewer remain. A fixed-size struct takes all of its bytes in this one check, then loads each
    /// field at its constant offset with the unchecked reads below.
    @inlinable @inline(__always)
    public mutating func take(_ count: Int) -> Int? {
        guard count >= 0, count <= remaining else { return nil }
        defer { cursor += count }
        return cursor
    }

    // Unchecked reads at an offset of `bytes`: the caller has checked that the value lies within
    // them (with `take`). The cursor does not move.

    @inlinable @inline(__always)
    public func u8(at offset: Int) -> UInt8 {
        bytes[offset]
    }

    @inlinable @inline(__always)
    public func le16(at offset: Int) -> UInt16 {
        UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inlinable @inline(__always)
    public func le32(at offset: Int) -> UInt32 {
        UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inlinable @inline(__always)
    public func le64(at offset: Int) -> UInt64 {
        UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// The error that reading a struct's fields one by one from the cursor would throw, for a struct
    /// `take` refused: `fields` are its scalar fields' sizes in order (a slot counts as one field),
    /// each run of equal sizes as one `(size, count)`. Off the data path, so not inlinable.
    public func truncation(_ fields: [(size: Int, count: Int)]) -> WireError {
        var offset = cursor
        for (size, count) in fields {
            let room = bytes.count - offset
            if room < size * count { return .truncated(offset: offset + room / size * size, needed: size) }
            offset += size * count
        }
        return .truncated(offset: offset, needed: 0)  // every field fits: `take` would not have refused
    }

    @inlinable
    public mutating func skip(_ count: Int) throws(WireError) {
        _ = try advance(count)
    }

    /// The next `count` bytes as a reader of their own (a slot, a padded part).
    @inlinable @inline(__always)
    public mutating func subReader(_ count: Int) throws(WireError) -> WireReader {
        let start = try advance(count)
        return WireReader(UnsafeRawBufferPointer(rebasing: bytes[start..<start + count]))
    }
}

/// Little-endian writes into a growing byte array: used by drivers, tests and tools,
/// never on the device's data path.
public struct WireWriter {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func u8(_ value: UInt8) { bytes.append(value) }

    public mutating func le16(_ value: UInt16) { append(value.littleEndian) }

    public mutating func le32(_ value: UInt32) { append(value.littleEndian) }

    public mutating func le64(_ value: UInt64) { append(value.littleEndian) }

    public mutating func zeros(_ count: Int) { bytes.append(contentsOf: repeatElement(0, count: count)) }

    /// Pads with zeros up to `size` bytes from `start` (a slot or a legacy fixed part).
    public mutating func pad(from start: Int, to size: Int) {
        zeros(max(0, start + size - bytes.count))
    }

    public mutating func append(bytes other: [UInt8]) { bytes.append(contentsOf: other) }

    private mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }
}

extension Array where Element == UInt8 {
    /// Bytes from a hex string (two digits a byte); nil if it is not one.
    public init?(hex: String) {
        guard hex.utf8.count % 2 == 0 else { return nil }
        self.init()
        reserveCapacity(hex.utf8.count / 2)
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            append(byte)
            index = next
        }
    }
}
