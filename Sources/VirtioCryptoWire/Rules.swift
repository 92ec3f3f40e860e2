/// A request or value that breaks a normative rule of the seed.
public struct RuleViolation: Error, Equatable, Sendable {
    public var rule: RuleID
    /// The field path (spec names) that broke it.
    public var field: String
    /// What the device answers; nil when the rule is not one the device rejects for.
    public var status: Status?

    public init(rule: RuleID, field: String, status: Status?) {
        self.rule = rule
        self.field = field
        self.status = status
    }
}

public enum RuleLevel: String, Sendable {
    case must = "MUST"
    case mustNot = "MUST NOT"
    case should = "SHOULD"
    case shouldNot = "SHOULD NOT"
    case may = "MAY"
}

public enum RuleActor: String, Sendable {
    case device, driver
}

/// How a rule is enforced (see Spec/RULES.md).
public enum RuleEnforcement: String, Sendable {
    /// A generated validator (`violation(features:)`).
    case validator
    /// The generated dispatch: a request's parts must fit its buffers.
    case dispatch
    /// The generated decoders and request framing, by construction.
    case codec
    /// The hand-written device core.
    case deviceCore = "device-core"
    /// Our driver library follows it; the device cannot observe it.
    case driverLibrary = "driver-library"
    /// Not machine-checkable; the reason is in RULES.md.
    case manual
}

public struct RuleInfo: Sendable {
    public var id: RuleID
    public var level: RuleLevel
    public var actor: RuleActor
    public var section: String
    public var enforcement: RuleEnforcement
    public var onViolation: Status?
    public var text: String
    /// The revision that introduced the rule, and the first that dropped it (if one did).
    public var since: SpecRevision
    public var removedIn: SpecRevision?

    /// Whether the rule is part of `revision`.
    public func isDefined(in revision: SpecRevision) -> Bool {
        since <= revision && removedIn.map { revision < $0 } ?? true
    }
}

/// The rule table (generated `RuleTable.all`).
public enum RuleTable {
    public static func info(_ id: RuleID) -> RuleInfo? { all.first { $0.id == id } }
}
