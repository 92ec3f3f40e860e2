import SpecResolve

/// How spec types appear in generated Swift: one place for the mapping so every emitter
/// agrees on it.
struct SwiftTypes {
    let spec: ResolvedSpec

    func rawType(_ group: ConstantGroup) -> String { group.width == .le64 ? "UInt64" : "UInt32" }

    func scalarSwiftType(_ type: ScalarType) -> String {
        switch type {
        case .u8: return "UInt8"
        case .le16: return "UInt16"
        case .le32: return "UInt32"
        case .le64: return "UInt64"
        }
    }

    /// The Swift type of a fixed struct field.
    func fieldType(_ field: Field, in layout: StructLayout) -> String {
        switch field.kind {
        case .scalar(let scalar):
            if let group = field.enumGroup.flatMap(spec.group) { return group.swiftName }
            if let group = field.flagsGroup.flatMap(spec.group) { return group.swiftName }
            return scalarSwiftType(scalar)
        case .nested(let name): return spec.layout(name)!.swiftName
        case .array(let array): return "[\(elementType(array))]"
        case .slot: return Naming.upperCamel(field.name)
        case .segment, .selectFrom: return "VlfSegment"
        }
    }

    func elementType(_ array: ArrayField) -> String {
        switch array.element {
        case .scalar(let scalar): return scalarSwiftType(scalar)
        case .nested(let name): return spec.layout(name)!.swiftName
        }
    }

    /// Expression decoding one array element from `reader`.
    func elementDecode(_ array: ArrayField) -> String {
        switch array.element {
        case .scalar(let scalar): return "try reader.\(scalar.rawValue)()"
        case .nested(let name): return "try \(spec.layout(name)!.swiftName)(from: &reader)"
        }
    }

    /// Expression decoding one array element at offset `at` of `reader`'s bytes, without a bounds check.
    func elementDecode(_ array: ArrayField, at: String) -> String {
        switch array.element {
        case .scalar(let scalar): return uncheckedRead(scalar, at: at)
        case .nested(let name): return "\(spec.layout(name)!.swiftName)(unchecked: reader, at: \(at))"
        }
    }

    /// Expression reading one scalar at offset `at` of `reader`'s bytes, without a bounds check.
    func uncheckedRead(_ scalar: ScalarType, at: String) -> String { "reader.\(scalar.rawValue)(at: \(at))" }

    /// Statement encoding the array element `value` into `writer`.
    func elementEncode(_ array: ArrayField, value: String) -> String {
        switch array.element {
        case .scalar(let scalar): return "writer.\(scalar.rawValue)(\(value))"
        case .nested: return "\(value).encode(into: &writer)"
        }
    }

    func elementDefault(_ array: ArrayField) -> String {
        switch array.element {
        case .scalar: return "0"
        case .nested(let name): return "\(spec.layout(name)!.swiftName)()"
        }
    }

    /// Expression reading one scalar of `type` from `reader` (by `read`, else at the cursor), wrapped for
    /// enums and flags.
    func decodeExpression(_ field: Field, _ scalar: ScalarType, read: String? = nil) -> String {
        let read = read ?? "try reader.\(scalar.rawValue)()"
        if let group = (field.enumGroup ?? field.flagsGroup).flatMap(spec.group) {
            let raw = rawType(group)
            let widened = scalarSwiftType(scalar) == raw ? read : "\(raw)(\(read))"
            return "\(group.swiftName)(rawValue: \(widened))"
        }
        return read
    }

    /// Statement writing one scalar field to `writer`.
    func encodeStatement(_ field: Field, _ scalar: ScalarType, value: String) -> String {
        if let group = (field.enumGroup ?? field.flagsGroup).flatMap(spec.group) {
            let raw = "\(value).rawValue"
            let narrowed =
                scalarSwiftType(scalar) == rawType(group)
                ? raw : "\(scalarSwiftType(scalar))(truncatingIfNeeded: \(raw))"
            return "writer.\(scalar.rawValue)(\(narrowed))"
        }
        return "writer.\(scalar.rawValue)(\(value))"
    }

    /// `UInt64` value of a scalar field reached from `root` by `path` (nested structs only).
    func uint64Expression(root: String, path: [String], in layout: StructLayout) -> String {
        var current = layout
        var access = root
        var last: Field?
        for name in path {
            let field = current.field(name)!
            access += "." + field.swiftName
            last = field
            if case .nested(let nested) = field.kind { current = spec.layout(nested)! }
        }
        guard let field = last else { return "0" }
        let isWrapped = field.enumGroup != nil || field.flagsGroup != nil
        return "UInt64(\(access)\(isWrapped ? ".rawValue" : ""))"
    }

    static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
}
