/// Which of the seed's request layouts a request follows.
public enum RequestLayout: String, Sendable, CaseIterable {
    /// REVISION_1 not negotiated: the fixed-length part is padded to 56 (controlq) / 48 (dataq).
    case legacy
    /// REVISION_1 negotiated: the fixed-length part has its exact size.
    case revision1 = "revision-1"
    /// A stateless request: the service's stateless feature is negotiated and `flag` is 0.
    case stateless
}

/// The two kinds of virtqueue of the device.
public enum QueueKind: Sendable {
    case control, data
}

/// Who may touch a vlf segment.
public enum SegmentDirection: String, Sendable {
    /// The driver writes it, the device reads it.
    case readable
    /// The device writes it.
    case writable
}

/// One variable-length field of a request: where it sits within the device-readable or
/// the device-writable part of the variable-length data.
public struct VlfSegment: Equatable, Sendable {
    /// The field's C name. A StaticString keeps the segment (and every request enum that
    /// holds segments) trivially copyable: no reference counting on the data path.
    public var name: StaticString
    public var direction: SegmentDirection
    public var offset: Int
    public var length: Int

    public init(name: StaticString = "", direction: SegmentDirection = .readable, offset: Int = 0, length: Int = 0) {
        self.name = name
        self.direction = direction
        self.offset = offset
        self.length = length
    }

    public static func == (lhs: VlfSegment, rhs: VlfSegment) -> Bool {
        lhs.direction == rhs.direction && lhs.offset == rhs.offset && lhs.length == rhs.length
            && lhs.name.description == rhs.name.description
    }

    public var range: Range<Int> { offset..<offset + length }
}

/// The bytes of one request as the driver placed them: a device-readable part and a
/// device-writable part (a descriptor chain). The generated `dispatch` reads header and
/// fixed-length part through it.
public protocol RequestBytes {
    var readableLength: Int { get }
    var writableLength: Int { get }
    /// Copies `destination.count` readable bytes from `offset`; false when they run out.
    func read(at offset: Int, into destination: UnsafeMutableRawBufferPointer) -> Bool
}
