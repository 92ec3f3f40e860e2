import SpecModel

/// The spec after resolution: names checked and linked, values composed, layouts solved.
/// Everything the emitters need, and nothing that still has to be looked up by text.
public struct ResolvedSpec: Sendable {
    public var info: SpecInfo
    /// Every revision of the YAML, oldest first, and the one this spec is the form of.
    public var revisions: [Revision]
    public var revision: Int
    public var files: [SpecFile]
    /// SHA-256 of the spec files, in load order; printed in every generated header.
    public var specHash: String
    public var groups: [ConstantGroup]
    public var features: [Feature]
    public var structs: [StructLayout]
    public var queues: [Queue]
    public var config: ConfigLayout
    public var rules: [Rule]

    public func group(_ name: String) -> ConstantGroup? { groups.first { $0.name == name } }
    public func layout(_ name: String) -> StructLayout? { structs.first { $0.name == name } }
    public func feature(_ name: String) -> Feature? { features.first { $0.name == name } }

    /// The status entry a rule's `on-violation` names, if any.
    public func statusEntry(_ name: String?) -> ConstantEntry? {
        guard let name else { return nil }
        return group("status")?.entries.first { $0.cName.hasSuffix("_" + name) }
    }
}

/// One revision of the spec, as `spec.revisions` lists it.
public struct Revision: Sendable, Equatable {
    public var id: String
    /// `v1.2` → `v1_2`.
    public var swiftName: String
    public var title: String
    public var date: String
    public var source: String
}

/// When an item appeared, went away and changed (indices into `ResolvedSpec.revisions`).
public struct ItemHistory: Sendable, Equatable {
    public struct Change: Sendable, Equatable {
        public var revision: Int
        /// The keys whose earlier value the YAML keeps.
        public var keys: [String]
        public var note: String?
    }
    /// The item's name (or id) in the newest revision.
    public var identity: String
    public var since: Int
    public var removedIn: Int?
    public var changes: [Change]

    public static func original(_ identity: String) -> ItemHistory {
        ItemHistory(identity: identity, since: 0, removedIn: nil, changes: [])
    }

    public func exists(in revision: Int) -> Bool { since <= revision && (removedIn.map { revision < $0 } ?? true) }
}

public struct ConstantEntry: Sendable {
    public var name: String
    public var swiftName: String
    public var cName: String
    public var value: UInt64
    public var service: String?
    public var queue: String?
    public var isNone: Bool
    public var unsupported: String?
    public var notes: Annotations
    public var history: ItemHistory = .original("")
}

public struct ConstantGroup: Sendable {
    public var name: String
    public var swiftName: String
    public var kind: ConstantGroupDecl.Kind
    public var width: ScalarType
    public var cPrefix: String?
    /// Config fields whose bits are this group's values (low word first).
    public var maskFields: [String]
    public var section: String?
    public var entries: [ConstantEntry]
    public var notes: Annotations

    public func entry(_ name: String) -> ConstantEntry? { entries.first { $0.name == name } }
    public func entry(value: UInt64) -> ConstantEntry? { entries.first { $0.value == value } }
    public var history: ItemHistory = .original("")
}

public struct Feature: Sendable {
    public var name: String
    public var swiftName: String
    public var cName: String
    public var bit: Int
    public var requires: [String]
    public var service: String?
    public var notes: Annotations
    public var history: ItemHistory = .original("")
}

public enum ScalarType: String, Sendable, CaseIterable {
    case u8, le16, le32, le64

    public var size: Int {
        switch self {
        case .u8: return 1
        case .le16: return 2
        case .le32: return 4
        case .le64: return 8
        }
    }

    public var maxValue: UInt64 { size == 8 ? .max : (UInt64(1) << UInt64(size * 8)) - 1 }
}

public enum Direction: String, Sendable { case readable, writable }

/// One step of a vlf length path: a field, or a slot member that may not be selected.
public enum PathStep: Sendable, Equatable {
    case field(String)
    case slotMember(slot: String, caseName: String)
}

public struct SlotCase: Sendable {
    public var value: UInt64
    public var caseName: String
    public var swiftName: String
    public var structName: String
    public var vlf: String?
}

public struct Slot: Sendable {
    public var size: Int
    public var selector: String
    public var cases: [SlotCase]
}

public struct Segment: Sendable {
    public var path: [PathStep]
    public var pathText: String
    public var direction: Direction
}

/// `u8 data[32]` (`count`) or a trailing `struct x items[]` whose count is a sibling field (`count-from`).
public struct ArrayField: Sendable {
    public enum Element: Sendable {
        case scalar(ScalarType)
        case nested(String)
    }
    public var element: Element
    public var elementSize: Int
    /// The fixed element count; nil for a trailing array sized by `countFrom`.
    public var count: Int?
    public var countFrom: String?
}

public enum FieldKind: Sendable {
    case scalar(ScalarType)
    case nested(String)
    case array(ArrayField)
    case slot(Slot)
    case segment(Segment)
    case selectFrom(slot: String)
}

public struct Field: Sendable {
    public var name: String
    public var swiftName: String
    public var cName: String
    public var offset: Int
    public var size: Int
    public var kind: FieldKind
    public var enumGroup: String?
    public var flagsGroup: String?
    public var maskOf: String?
    public var isReserved: Bool
    public var notes: Annotations
    public var location: SourceLocation

    public var scalarType: ScalarType? {
        if case .scalar(let type) = kind { return type }
        return nil
    }
    public var history: ItemHistory = .original("")
}

public struct StructLayout: Sendable {
    public var name: String
    public var swiftName: String
    public var cName: String
    public var section: String?
    public var isVLF: Bool
    public var of: String?
    /// Byte size of a fixed-length struct; 0 for a vlf.
    public var size: Int
    public var fields: [Field]
    public var notes: Annotations
    public var location: SourceLocation

    public func field(_ name: String) -> Field? { fields.first { $0.name == name } }
    public var history: ItemHistory = .original("")
}

public struct StatelessLayout: Sendable {
    public var feature: String
    public var flf: String
    public var vlf: String
}

public struct Op: Sendable {
    public var opcode: ConstantEntry
    public var flf: String
    public var vlf: String?
    public var outcome: String
    public var outcomeCompat: [String]
    public var stateless: StatelessLayout?
    public var notes: Annotations
    public var history: ItemHistory = .original("")
}

public struct Queue: Sendable {
    public var name: String
    public var swiftName: String
    public var section: String?
    public var header: String
    public var opcodeField: String
    public var flagField: String?
    public var legacyFLFSize: Int
    public var outcome: String
    /// The outcome sits at the end of the device-writable part (else at its start).
    public var outcomeAtEnd: Bool
    /// The rule a request breaks when its parts do not fit its buffers.
    public var framingRule: String
    public var ops: [Op]
    public var notes: Annotations
}

public struct ConfigLayout: Sendable {
    public var structName: String
    public var statusFlags: String
}

public enum Predicate: Sendable, Equatable {
    case range(UInt64, UInt64)
    case oneOf([UInt64])
    case notOneOf([UInt64])
    case equals(UInt64)
    case zero
    case allowedBits(UInt64)

    /// The generator's own evaluation, used to build and cross-check vectors.
    public func holds(_ value: UInt64) -> Bool {
        switch self {
        case .range(let low, let high): return value >= low && value <= high
        case .oneOf(let values): return values.contains(value)
        case .notOneOf(let values): return !values.contains(value)
        case .equals(let expected): return value == expected
        case .zero: return value == 0
        case .allowedBits(let mask): return value & ~mask == 0
        }
    }
}

public enum Condition: Sendable, Equatable {
    case feature(String)
    case notFeature(String)
    case field([String], Predicate)
}

public struct Validator: Sendable {
    public var target: String
    /// Field names from the target through nested structs to a scalar.
    public var path: [String]
    public var predicate: Predicate
    public var when: [Condition]
}

public struct Rule: Sendable {
    public var id: String
    public var swiftName: String
    public var level: String
    public var actor: String
    public var section: String
    public var origin: String
    public var text: String
    public var enforcedBy: String
    public var validators: [Validator]
    /// The device-core check that enforces the rule (`session`, `direction`, …), if any.
    public var check: String?
    /// Opcode entry names the check applies to.
    public var checkOps: [String]
    public var note: String?
    public var reason: String?
    /// `nil` when the rule has `on-violation: none`.
    public var onViolation: String?
    public var notes: Annotations
    public var location: SourceLocation
    public var history: ItemHistory = .original("")
}
