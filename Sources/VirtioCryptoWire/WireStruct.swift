@_exported import WireBytes

/// A struct with a fixed wire layout.
public protocol WireStruct: Equatable, Sendable {
    /// Encoded size in bytes.
    static var size: Int { get }
    init(from reader: inout WireReader) throws(WireError)
    func encode(into writer: inout WireWriter)
    /// The first normative rule the value breaks (generated validators).
    func violation(features: CryptoFeatures) -> RuleViolation?
}

extension WireStruct {
    /// Decodes from the start of `bytes`; extra bytes after the struct are left alone.
    public static func decode(_ bytes: [UInt8]) throws(WireError) -> Self {
        let result: Result<Self, WireError> = bytes.withUnsafeBytes { raw in
            var reader = WireReader(raw)
            do throws(WireError) { return .success(try Self(from: &reader)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    public func encoded() -> [UInt8] {
        var writer = WireWriter(capacity: Self.size)
        encode(into: &writer)
        return writer.bytes
    }
}
