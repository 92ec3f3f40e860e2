/// The raw model of the YAML, as written: names are still names, values still literals.
/// Every item keeps the location it came from so later stages can point at it.

public struct Located<Value: Sendable>: Sendable {
    public var value: Value
    public var location: SourceLocation
    public init(_ value: Value, at location: SourceLocation) {
        self.value = value
        self.location = location
    }
}

extension Located: Equatable where Value: Equatable {}
extension Located: Hashable where Value: Hashable {}

/// An integer literal or a reference to a constant (`group.entry`).
public enum ValueLiteral: Hashable, Sendable, CustomStringConvertible {
    case integer(UInt64)
    case constant(group: String, entry: String)

    public var description: String {
        switch self {
        case .integer(let value): return String(value)
        case .constant(let group, let entry): return "\(group).\(entry)"
        }
    }
}

/// Notes attached to any item: where the seed is wrong, and what the real world does.
public struct Annotations: Sendable {
    public var doc: String?
    public var errata: String?
    public var compat: String?
    public init(doc: String? = nil, errata: String? = nil, compat: String? = nil) {
        self.doc = doc
        self.errata = errata
        self.compat = compat
    }
}

public struct SpecInfo: Sendable {
    public var id: String
    public var title: String
    /// Every revision the YAML holds, oldest first.
    public var revisions: [RevisionDecl]
    public var deviceID: Int
    public var endian: String
    public var source: String
    public var location: SourceLocation
}

public struct FeatureDecl: Sendable {
    public var name: Located<String>
    public var cName: String
    public var bit: Located<UInt64>
    public var requires: [Located<String>]
    public var service: Located<String>?
    public var notes: Annotations
    public var marks: RevisionMarks
}

public struct ConstantEntryDecl: Sendable {
    public var name: Located<String>
    public var cName: Located<String>
    public var value: Located<UInt64>?
    public var service: Located<String>?
    public var op: Located<UInt64>?
    public var queue: Located<String>?
    public var isNone: Bool
    /// Why the implementation does not support this value, if it does not.
    public var unsupported: String?
    public var notes: Annotations
    public var marks: RevisionMarks
}

public struct ConstantGroupDecl: Sendable {
    public enum Kind: String, Sendable { case values, opcode, flags, sizes }
    public var name: Located<String>
    public var kind: Kind
    public var width: Located<String>
    public var cPrefix: String?
    public var mask: [Located<String>]
    public var section: String?
    public var entries: [ConstantEntryDecl]
    public var notes: Annotations
    public var marks: RevisionMarks
}

public struct SlotCaseDecl: Sendable {
    public var when: Located<ValueLiteral>
    public var structName: Located<String>
    public var vlf: Located<String>?
    public var marks: RevisionMarks
}

public struct FieldDecl: Sendable {
    public enum Shape: Sendable {
        /// `type: le32` or the name of a nested struct.
        case typed(Located<String>)
        /// A fixed-size region whose member is chosen by `selector`.
        case slot(size: Located<ValueLiteral>, selector: Located<String>, cases: [SlotCaseDecl])
        /// A vlf byte segment whose length is a field path of the `of` struct.
        case segment(length: Located<String>, direction: Located<String>)
        /// The vlf of the member selected in a slot of the `of` struct.
        case selectFrom(Located<String>)
    }

    public var name: Located<String>
    public var cName: String
    public var shape: Shape
    public var enumGroup: Located<String>?
    public var flagsGroup: Located<String>?
    public var maskOf: Located<String>?
    /// `count: N`: a fixed array of N elements of the type.
    public var count: Located<UInt64>?
    /// `count-from: field`: a trailing array whose element count is that sibling field.
    public var countFrom: Located<String>?
    public var isReserved: Bool
    public var notes: Annotations
    public var marks: RevisionMarks
    public var location: SourceLocation
}

public struct StructDecl: Sendable {
    public var name: Located<String>
    public var cName: String
    public var section: String?
    public var isVLF: Bool
    public var of: Located<String>?
    public var size: Located<UInt64>?
    public var fields: [FieldDecl]
    public var notes: Annotations
    public var marks: RevisionMarks
}

public struct StatelessDecl: Sendable {
    public var feature: Located<String>
    public var flf: Located<String>
    public var vlf: Located<String>
}

public struct OpDecl: Sendable {
    public var opcode: Located<ValueLiteral>
    public var flf: Located<String>
    public var vlf: Located<String>?
    public var outcome: Located<String>?
    public var outcomeCompat: [Located<String>]
    public var stateless: StatelessDecl?
    public var notes: Annotations
    public var marks: RevisionMarks
}

public struct QueueDecl: Sendable {
    public var name: Located<String>
    public var section: String?
    public var header: Located<String>
    public var opcodeField: Located<String>
    public var flagField: Located<String>?
    public var legacyFLFSize: Located<ValueLiteral>
    public var outcome: Located<String>
    /// `start` or `end`: where the outcome sits in the device-writable part.
    public var outcomeAt: Located<String>
    /// The rule a request breaks when its parts do not fit its buffers.
    public var framingRule: Located<String>
    public var ops: [OpDecl]
    public var notes: Annotations
    public var marks: RevisionMarks
}

public struct ConfigDecl: Sendable {
    public var structName: Located<String>
    public var statusFlags: Located<String>
}

public enum PredicateDecl: Sendable {
    case range(ValueLiteral, ValueLiteral)
    case oneOf([ValueLiteral])
    case notOneOf([ValueLiteral])
    case equals(ValueLiteral)
    case zero
    case allowedBitsDefined
    case allowedBits([ValueLiteral])
}

public enum ConditionDecl: Sendable {
    case feature(Located<String>)
    case notFeature(Located<String>)
    case field(Located<String>, Located<PredicateDecl>)
}

public struct ValidatorDecl: Sendable {
    public var target: Located<String>
    public var field: Located<String>
    public var predicate: Located<PredicateDecl>
    public var when: [ConditionDecl]
    public var location: SourceLocation
}

public struct RuleDecl: Sendable {
    public var id: Located<String>
    public var level: Located<String>
    public var actor: Located<String>
    public var section: String
    public var origin: Located<String>
    public var text: String
    public var enforcedBy: Located<String>
    public var validators: [ValidatorDecl]
    /// The named device-core check that enforces the rule, and the opcodes it applies to.
    public var check: Located<String>?
    public var checkOps: [Located<String>]
    public var note: String?
    public var reason: String?
    public var onViolation: Located<String>
    public var notes: Annotations
    public var marks: RevisionMarks
    public var location: SourceLocation
}

/// One spec file as read from disk, kept for hashing and snippets.
public struct SpecFile: Sendable {
    public var path: String
    public var contents: String
    public init(path: String, contents: String) {
        self.path = path
        self.contents = contents
    }
}

public struct SpecDocument: Sendable {
    public var info: SpecInfo
    /// The revision this document is the form of (an index into `info.revisions`).
    public var revision: Int = 0
    public var files: [SpecFile]
    public var features: [FeatureDecl] = []
    public var groups: [ConstantGroupDecl] = []
    public var structs: [StructDecl] = []
    public var queues: [QueueDecl] = []
    public var config: ConfigDecl?
    public var rules: [RuleDecl] = []
}
