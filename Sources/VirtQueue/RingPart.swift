/// The three parts of a split virtqueue, with the alignment and extent virtio gives each
/// (§2.7: descriptor table, available ring and used ring, event index words included).
public enum RingPart: String, Sendable, CaseIterable, CustomStringConvertible {
    case descriptorTable = "descriptor table"
    case availRing = "available ring"
    case usedRing = "used ring"

    public var alignment: UInt64 {
        switch self {
        case .descriptorTable: return 16
        case .availRing: return 2
        case .usedRing: return 4
        }
    }

    /// Bytes the part covers for a ring of `size` entries.
    public func length(size: Int) -> Int {
        switch self {
        case .descriptorTable: return 16 * size
        case .availRing: return 6 + 2 * size
        case .usedRing: return 6 + 8 * size
        }
    }

    public var description: String { rawValue }
}

extension QueueLayout {
    /// Where `part` starts.
    public func address(of part: RingPart) -> UInt64 {
        switch part {
        case .descriptorTable: return descriptorTable
        case .availRing: return availRing
        case .usedRing: return usedRing
        }
    }

    /// Largest ring size virtio allows.
    public static let maxSize = 32768
}
