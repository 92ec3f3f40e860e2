import Yams

/// Reads one YAML mapping strictly: every key must be asked for, each value must have the
/// asked type, and `finish()` reports the keys nobody asked for (unknown keys).
struct MappingReader {
    let file: String
    let node: Node
    let pairs: [(key: String, keyNode: Node, value: Node)]
    let diagnostics: DiagnosticCollector
    private var consumed: Set<String> = []

    /// Returns nil (and reports) when `node` is not a mapping.
    init?(_ node: Node, file: String, what: String, diagnostics: DiagnosticCollector) {
        self.file = file
        self.node = node
        self.diagnostics = diagnostics
        guard let mapping = node.mapping else {
            diagnostics.error(Self.location(of: node, in: file), "expected a mapping for \(what)")
            return nil
        }
        pairs = mapping.map { (key: $0.key.string ?? "", keyNode: $0.key, value: $0.value) }
    }

    static func location(of node: Node, in file: String) -> SourceLocation {
        let mark = node.mark
        return SourceLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    var location: SourceLocation { Self.location(of: node, in: file) }

    func location(of node: Node) -> SourceLocation { Self.location(of: node, in: file) }

    private mutating func take(_ key: String) -> Node? {
        consumed.insert(key)
        return pairs.first { $0.key == key }?.value
    }

    /// Reports every key that was never taken.
    mutating func finish(_ what: String) {
        for pair in pairs where !consumed.contains(pair.key) {
            diagnostics.error(location(of: pair.keyNode), "unknown key '\(pair.key)' in \(what)")
        }
    }

    // MARK: scalars

    mutating func string(_ key: String, in what: String) -> Located<String>? {
        guard let value = take(key) else {
            diagnostics.error(location, "missing key '\(key)' in \(what)")
            return nil
        }
        return stringValue(value, key: key)
    }

    mutating func optionalString(_ key: String) -> Located<String>? {
        take(key).flatMap { stringValue($0, key: key) }
    }

    mutating func text(_ key: String) -> String? { optionalString(key)?.value }

    private func stringValue(_ node: Node, key: String) -> Located<String>? {
        guard case .scalar(let scalar) = node else {
            diagnostics.error(location(of: node), "'\(key)' must be a string")
            return nil
        }
        return Located(scalar.string, at: location(of: node))
    }

    mutating func integer(_ key: String, in what: String) -> Located<UInt64>? {
        guard let value = take(key) else {
            diagnostics.error(location, "missing key '\(key)' in \(what)")
            return nil
        }
        return integerValue(value, key: key)
    }

    mutating func optionalInteger(_ key: String) -> Located<UInt64>? {
        take(key).flatMap { integerValue($0, key: key) }
    }

    func integerValue(_ node: Node, key: String) -> Located<UInt64>? {
        guard case .scalar(let scalar) = node, let value = Self.parseInteger(scalar.string) else {
            diagnostics.error(location(of: node), "'\(key)' must be a decimal or 0x-hex integer")
            return nil
        }
        return Located(value, at: location(of: node))
    }

    /// Decimal without a leading zero, or 0x hex: YAML 1.1's octal and sexagesimal
    /// readings are refused so `010` can never silently mean 8.
    static func parseInteger(_ text: String) -> UInt64? {
        if text.hasPrefix("0x") || text.hasPrefix("0X") {
            return UInt64(text.dropFirst(2), radix: 16)
        }
        guard let first = text.first, first.isASCII, first.isNumber else { return nil }
        if text.count > 1 && first == "0" { return nil }
        return UInt64(text, radix: 10)
    }

    mutating func bool(_ key: String) -> Bool {
        guard let value = take(key) else { return false }
        guard case .scalar(let scalar) = value, ["true", "false"].contains(scalar.string) else {
            diagnostics.error(location(of: value), "'\(key)' must be true or false")
            return false
        }
        return scalar.string == "true"
    }

    /// An integer or a `group.entry` reference.
    mutating func valueLiteral(_ key: String, in what: String) -> Located<ValueLiteral>? {
        guard let node = take(key) else {
            diagnostics.error(location, "missing key '\(key)' in \(what)")
            return nil
        }
        return Self.valueLiteral(node, file: file, key: key, diagnostics: diagnostics)
    }

    static func valueLiteral(
        _ node: Node, file: String, key: String,
        diagnostics: DiagnosticCollector
    ) -> Located<ValueLiteral>? {
        let loc = location(of: node, in: file)
        guard case .scalar(let scalar) = node else {
            diagnostics.error(loc, "'\(key)' must be an integer or a constant reference group.entry")
            return nil
        }
        if let value = parseInteger(scalar.string) { return Located(.integer(value), at: loc) }
        let parts = scalar.string.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            diagnostics.error(loc, "'\(scalar.string)' is neither an integer nor a constant reference group.entry")
            return nil
        }
        return Located(.constant(group: String(parts[0]), entry: String(parts[1])), at: loc)
    }

    // MARK: collections

    mutating func sequence(_ key: String, in what: String, required: Bool = false) -> [Node] {
        guard let value = take(key) else {
            if required { diagnostics.error(location, "missing key '\(key)' in \(what)") }
            return []
        }
        guard let items = value.sequence else {
            diagnostics.error(location(of: value), "'\(key)' must be a list")
            return []
        }
        return Array(items)
    }

    mutating func stringList(_ key: String, in what: String) -> [Located<String>] {
        sequence(key, in: what).compactMap { stringValue($0, key: key) }
    }

    mutating func node(_ key: String) -> Node? { take(key) }

    /// `since`, `removed-in` and `changed-in` (each change's `was` was already laid over the item
    /// by the projector; here only its keys are kept, for the change log).
    mutating func revisionMarks() -> RevisionMarks {
        let identity = text(RevisionProjector.identityKey)
        let since = optionalString("since")
        let removedIn = optionalString("removed-in")
        var changes: [ChangeDecl] = []
        for node in sequence("changed-in", in: "an item") {
            guard var change = MappingReader(node, file: file, what: "a change", diagnostics: diagnostics) else {
                continue
            }
            let revision = change.string("revision", in: "a change")
            let keys = change.node("was").map { was -> [String] in
                guard let mapping = was.mapping else {
                    diagnostics.error(location(of: was), "'was' must be a mapping of the keys as they were")
                    return []
                }
                return mapping.compactMap { $0.key.string }
            }
            if keys == nil { diagnostics.error(change.location, "missing key 'was' in a change") }
            let note = change.text("note")
            change.finish("a change (allowed: revision, was, note)")
            if let revision { changes.append(ChangeDecl(revision: revision, keys: keys ?? [], note: note)) }
        }
        return RevisionMarks(identity: identity, since: since, removedIn: removedIn, changes: changes)
    }

    mutating func annotations() -> Annotations {
        Annotations(doc: text("doc"), errata: text("errata"), compat: text("compat"))
    }
}
