import Yams

/// One revision of the spec (`spec.revisions`, oldest first).
public struct RevisionDecl: Sendable {
    public var id: Located<String>
    public var title: String
    public var date: String
    public var source: String
}

/// One `changed-in` entry: the keys whose earlier values `was` keeps, and why they changed.
public struct ChangeDecl: Sendable {
    public var revision: Located<String>
    public var keys: [String]
    public var note: String?
}

/// An item's revision markers, as written. The item as written is its newest form.
public struct RevisionMarks: Sendable {
    /// The item's newest name (or id), set by the projector where an earlier form renamed it.
    public var identity: String?
    public var since: Located<String>?
    public var removedIn: Located<String>?
    public var changes: [ChangeDecl]

    public static let none = RevisionMarks(identity: nil, since: nil, removedIn: nil, changes: [])
}

/// Builds the form of the YAML a revision had, before any item is decoded: drops the items that
/// the revision does not have (`since` later, `removed-in` not later) and lays each later change's
/// `was` over its item, newest change first, so the decoders read each revision like a spec of its own.
struct RevisionProjector {
    static let identityKey = "$identity"
    static let identityKeys = ["name", "id", "group", "queue", "opcode"]

    /// Revision id → position (0 = oldest).
    let order: [String: Int]
    let target: Int

    func project(_ node: Node) -> Node {
        switch node {
        case .sequence(let sequence):
            let items = sequence.compactMap { item -> Node? in isPresent(item) ? project(item) : nil }
            return .sequence(Node.Sequence(items, sequence.tag, sequence.style, sequence.mark))
        case .mapping(let mapping):
            var pairs = mapping.map { (key: $0.key, value: $0.value) }
            let overlays = laterChanges(in: pairs)
            if !overlays.isEmpty {
                if let identity = Self.identityKeys.lazy.compactMap({ key in pairs.first { $0.key.string == key } })
                    .first?.value
                {
                    pairs.append((Node(Self.identityKey), identity))
                }
                for was in overlays.reversed() { overlay(was, on: &pairs) }
            }
            let projected = pairs.map { ($0.key, project($0.value)) }
            return .mapping(Node.Mapping(projected, mapping.tag, mapping.style, mapping.mark))
        default:
            return node
        }
    }

    /// Whether a list item exists in the target revision.
    private func isPresent(_ item: Node) -> Bool {
        guard let mapping = item.mapping else { return true }
        if let since = mapping["since"]?.string, let index = order[since], index > target { return false }
        if let removed = mapping["removed-in"]?.string, let index = order[removed], index <= target { return false }
        return true
    }

    /// The `was` mappings of the changes made after the target revision, oldest first.
    private func laterChanges(in pairs: [(key: Node, value: Node)]) -> [Node.Mapping] {
        guard let changes = pairs.first(where: { $0.key.string == "changed-in" })?.value.sequence else { return [] }
        return changes.compactMap { change in
            guard let revision = change.mapping?["revision"]?.string, let index = order[revision], index > target
            else { return nil }
            return change.mapping?["was"]?.mapping
        }
    }

    private func overlay(_ was: Node.Mapping, on pairs: inout [(key: Node, value: Node)]) {
        for (key, value) in was {
            let existing = pairs.firstIndex { $0.key.string == key.string }
            if Self.isNull(value) {
                if let existing { pairs.remove(at: existing) }
            } else if let existing {
                pairs[existing].value = value
            } else {
                pairs.append((key, value))
            }
        }
    }

    static func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain else { return false }
        return ["null", "~", "Null", "NULL", ""].contains(scalar.string)
    }
}
