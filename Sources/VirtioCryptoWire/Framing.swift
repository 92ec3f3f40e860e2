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
/// the device-writable part of the variable-length data. Two words and nothing else, so the
/// request values that hold several of them stay small enough to pass in registers (the
/// field's name and direction are in `NamedVlfSegment`, for descriptions and tests).
public struct VlfSegment: Equatable, Sendable {
    public var offset: Int
    public var length: Int

    @inlinable
    public init(offset: Int = 0, length: Int = 0) {
        self.offset = offset
        self.length = length
    }

    public var range: Range<Int> { offset..<offset + length }
}

/// A vlf segment with the field's C name and who may touch it (`segments` of a vlf).
public struct NamedVlfSegment: Equatable, Sendable {
    public var name: String
    public var direction: SegmentDirection
    public var segment: VlfSegment

    public init(name: String, direction: SegmentDirection, segment: VlfSegment) {
        self.name = name
        self.direction = direction
        self.segment = segment
    }

    public var offset: Int { segment.offset }
    public var length: Int { segment.length }
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
