/// The fuzzer's bytes read as a stream of choices. Reads past the end give zeros, so every
/// input, however short, is a complete program (a dull one), and a byte always means the same
/// thing wherever the input ends.
public struct FuzzInput {
    private let bytes: UnsafeRawBufferPointer
    public private(set) var offset = 0

    public init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    public var remaining: Int { bytes.count - offset }
    public var isEmpty: Bool { remaining <= 0 }

    public mutating func u8() -> UInt8 {
        guard offset < bytes.count else { return 0 }
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func le16() -> UInt16 { UInt16(u8()) | UInt16(u8()) << 8 }
    public mutating func le32() -> UInt32 { UInt32(le16()) | UInt32(le16()) << 16 }
    public mutating func le64() -> UInt64 { UInt64(le32()) | UInt64(le32()) << 32 }
    public mutating func bool() -> Bool { u8() & 1 != 0 }

    /// `count` bytes; zeros for the part past the end of the input.
    public mutating func bytes(_ count: Int) -> [UInt8] {
        var result: [UInt8] = []
        append(count, to: &result)
        return result
    }

    /// Appends `count` bytes (zeros past the end of the input) without a temporary array.
    public mutating func append(_ count: Int, to array: inout [UInt8]) {
        let available = max(0, min(count, remaining))
        array.reserveCapacity(array.count + max(0, count))
        array.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + available]))
        offset += available
        if available < count { array.append(contentsOf: repeatElement(0, count: count - available)) }
    }

    /// Everything not read yet.
    public mutating func rest() -> [UInt8] { bytes(max(0, remaining)) }

    /// One of `choices` (not empty), chosen by the next byte.
    public mutating func pick<T>(_ choices: [T]) -> T {
        precondition(!choices.isEmpty, "nothing to pick from")
        return choices[Int(u8()) % choices.count]
    }
}

/// The writer of inputs in `FuzzInput`'s format, for seeds: each call appends what the
/// matching read takes.
public struct InputWriter {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func u8(_ value: UInt8) { bytes.append(value) }
    public mutating func le16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    public mutating func le32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    public mutating func le64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    public mutating func append(_ other: [UInt8]) { bytes += other }
}
