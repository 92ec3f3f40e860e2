import COpenSSL

/// OpenSSL 3 set-up shared by the engines: the default and legacy providers (ARC4 and
/// single DES live in `legacy`) and small helpers for EVP calls.
enum OpenSSLRuntime {
    /// Loads the providers once; false if the legacy provider is missing (ARC4/DES then
    /// report unsupported).
    static let legacyLoaded: Bool = {
        _ = OSSL_PROVIDER_load(nil, "default")
        return OSSL_PROVIDER_load(nil, "legacy") != nil
    }()

    /// Fetches a cipher by OpenSSL name, or nil if no provider offers it.
    static func cipher(_ name: String) -> OpaquePointer? {
        _ = legacyLoaded
        return EVP_CIPHER_fetch(nil, name, nil)
    }

    static func digest(_ name: String) -> OpaquePointer? {
        _ = legacyLoaded
        return EVP_MD_fetch(nil, name, nil)
    }

    static func mac(_ name: String) -> OpaquePointer? {
        _ = legacyLoaded
        return EVP_MAC_fetch(nil, name, nil)
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
