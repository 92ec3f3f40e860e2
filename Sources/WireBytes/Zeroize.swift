import Glibc

/// Overwrites key material with zeros the optimizer keeps (explicit_bzero): the one zeroize
/// of the project, for session keys, received session messages and copies of guest keys.
public func zeroize(_ buffer: UnsafeMutableRawBufferPointer) {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    explicit_bzero(base, buffer.count)
}

extension Array where Element == UInt8 {
    /// Zeroizes the array's bytes in place (its count stays).
    public mutating func zeroize() {
        withUnsafeMutableBytes { WireBytes.zeroize($0) }
    }
}
