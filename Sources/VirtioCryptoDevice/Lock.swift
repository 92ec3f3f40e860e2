import Foundation

/// NSLock with a typed-throws-friendly scope.
final class NSLockShim: @unchecked Sendable {
    private let lock = NSLock()

    @inline(__always)
    func locked<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }
}
