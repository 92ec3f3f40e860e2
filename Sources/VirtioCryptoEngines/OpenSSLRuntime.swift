import COpenSSL
import Foundation

/// OpenSSL 3 set-up shared by the engines: the default and legacy providers (ARC4 and
/// single DES live in `legacy`) and small helpers for EVP calls.
enum OpenSSLRuntime {
    /// Loads the providers once; false if the legacy provider is missing (ARC4/DES then
    /// report unsupported).
    static let legacyLoaded: Bool = {
        _ = OSSL_PROVIDER_load(nil, "default")
        return OSSL_PROVIDER_load(nil, "legacy") != nil
    }()

    /// Fetches a cipher by OpenSSL name, or nil if no provider offers it. The caller owns
    /// one reference (EVP_CIPHER_free it).
    static func cipher(_ name: String) -> OpaquePointer? {
        ciphers.fetch(name, EVP_CIPHER_fetch, EVP_CIPHER_up_ref)
    }

    static func digest(_ name: String) -> OpaquePointer? {
        digests.fetch(name, EVP_MD_fetch, EVP_MD_up_ref)
    }

    static func mac(_ name: String) -> OpaquePointer? {
        macs.fetch(name, EVP_MAC_fetch, EVP_MAC_up_ref)
    }

    private static let ciphers = FetchCache()
    private static let digests = FetchCache()
    private static let macs = FetchCache()

    /// Fetched algorithms by name: an OpenSSL 3 fetch searches the provider store under a
    /// lock and costs microseconds, which stateless requests would pay every time. Holds
    /// one reference per name for the life of the process; hands out up-ref'd copies.
    ///
    /// Under an NSLock (a pthread mutex), not the standard library's `Mutex`: on Linux a
    /// contended `Mutex` is handed over by the kernel (FUTEX_LOCK_PI / FUTEX_UNLOCK_PI), which
    /// ThreadSanitizer cannot see, so it reports the accesses it guards as races (sessions keyed
    /// on several threads at once; Tests/VhostUserTests/ConcurrencyTests.swift).
    private final class FetchCache: @unchecked Sendable {
        private let lock = NSLock()
        private var fetched: [String: OpaquePointer] = [:]

        func fetch(
            _ name: String, _ fetch: (OpaquePointer?, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> OpaquePointer?,
            _ upRef: (OpaquePointer?) -> Int32
        ) -> OpaquePointer? {
            _ = legacyLoaded
            return lock.withLock {
                if let cached = fetched[name] {
                    return upRef(cached) == 1 ? cached : nil
                }
                guard let algorithm = fetch(nil, name, nil) else { return nil }
                guard upRef(algorithm) == 1 else { return algorithm }
                fetched[name] = algorithm
                return algorithm
            }
        }
    }

    /// Drops queued OpenSSL errors so a failure does not leak into the next call's report.
    static func clearErrors() { ERR_clear_error() }

    /// `true` when an EVP call returned success (1).
    @inline(__always)
    static func ok(_ result: Int32) -> Bool { result == 1 }
}

/// A C string constant for OSSL_PARAM keys, without allocating.
@inline(__always)
func cString(_ text: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(text.utf8Start).assumingMemoryBound(to: CChar.self)
}

extension UnsafeRawBufferPointer {
    /// A non-null base pointer even for an empty buffer (EVP rejects NULL inputs).
    var basePointer: UnsafePointer<UInt8> {
        if let base = baseAddress { return base.assumingMemoryBound(to: UInt8.self) }
        return UnsafeRawPointer(emptyByte).assumingMemoryBound(to: UInt8.self)
    }
}

extension UnsafeMutableRawBufferPointer {
    var basePointer: UnsafeMutablePointer<UInt8> {
        if let base = baseAddress { return base.assumingMemoryBound(to: UInt8.self) }
        return emptyByte.assumingMemoryBound(to: UInt8.self)
    }
}

nonisolated(unsafe) private let emptyByte = UnsafeMutableRawPointer.allocate(byteCount: 16, alignment: 16)
