/// Layout facts of one field, for tools and tests.
public struct FieldInfo: Equatable, Sendable {
    public var name: String
    public var cName: String
    public var offset: Int
    public var size: Int
}

public struct StructInfo: Equatable, Sendable {
    public var cName: String
    public var size: Int
    public var fields: [FieldInfo]

    public func field(_ name: String) -> FieldInfo? { fields.first { $0.name == name } }
}

/// Flattens a decoded struct to `path → value` (slot members as `slot.case.field`).
public protocol FieldReflecting {
    func appendFieldValues(prefix: String, into values: inout [String: UInt64])
}

extension FieldReflecting {
    public var fieldValues: [String: UInt64] {
        var values: [String: UInt64] = [:]
        appendFieldValues(prefix: "", into: &values)
        return values
    }
}
