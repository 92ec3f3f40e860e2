import WireBytes

/// Key material owned by a session: copied once, never logged, zeroized when released.
final class SecretBytes: @unchecked Sendable {
    let buffer: UnsafeMutableRawBufferPointer

    init(_ bytes: UnsafeRawBufferPointer) {
        buffer = .allocate(byteCount: max(bytes.count, 1), alignment: 16)
        if bytes.count > 0 { buffer.copyMemory(from: bytes) }
        count = bytes.count
    }

    let count: Int

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[0..<count]) }

    deinit {
        zeroize(buffer)
        buffer.deallocate()
    }
}
