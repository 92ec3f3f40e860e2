import SpecResolve

/// Spec/RULES.md and Spec/generated/spec.json.
struct DocsEmitter {
    let spec: ResolvedSpec
    let coverage: [String: [CoverageScanner.Hit]]
    /// Every revision's spec, for the values constants had in earlier revisions (spec.json).
    var forms: RevisionForms? = nil

    private func cell(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }

    private func enforcement(_ rule: Rule) -> String {
        switch rule.enforcedBy {
        case "validator":
            let checks = rule.validators.map { "`\($0.target).\($0.path.joined(separator: "."))`" }
            return "validator: " + checks.joined(separator: ", ")
        case "manual": return "manual: " + (rule.reason ?? "")
        default: return rule.enforcedBy + (rule.note.map { ": \($0)" } ?? "")
        }
    }

    private func tests(_ rule: Rule) -> String {
        let hits = (coverage[rule.id] ?? []).sorted { ($0.kind, $0.file, $0.test) < ($1.kind, $1.file, $1.test) }
        var items = hits.map { "\($0.kind.rawValue): `\($0.test)` (\($0.file.split(separator: "/").last ?? ""))" }
        if !rule.validators.isEmpty { items.insert("negative vector", at: 0) }
        return items.isEmpty ? "—" : items.joined(separator: "<br>")
    }

    /// The strongest evidence a rule has: a device test for the rules the device refuses
    /// requests for, a driver test for our driver library's, a behaviour test, the generated
    /// negative vector only, or none.
    static let evidenceColumns = ["device test", "driver test", "behaviour test", "vector only", "none"]

    func evidence(_ rule: Rule) -> String {
        let kinds = Set((coverage[rule.id] ?? []).map(\.kind))
        if let strongest = CoverageScanner.Kind.allCases.first(where: kinds.contains) { return strongest.rawValue }
        return rule.validators.isEmpty ? "none" : "vector only"
    }

    private var revision: Revision { spec.revisions[spec.revision] }

    /// `v1.2`, or `v23, changed in v1.2` when the item has changes up to this revision.
    func since(_ history: ItemHistory) -> String {
        let changed = history.changes.filter { $0.revision <= spec.revision }.map { spec.revisions[$0.revision].id }
        let introduced = spec.revisions[history.since].id
        return changed.isEmpty ? introduced : "\(introduced), changed in \(changed.joined(separator: ", "))"
    }

    func rulesMarkdown(header: String) -> String {
        var out = "<!-- \(header) -->\n\n# Normative rules of the virtio crypto device (\(revision.id))\n\n"
        out += "Every MUST/SHOULD/MAY of \(revision.title) (\(revision.date)), with a stable ID, the revision that "
        out += "introduced it, how it is enforced and which tests cover it. The YAML holds every revision ("
        out += spec.revisions.map { "`\($0.id)`" }.joined(separator: ", ")
        out += "); `virtio-crypto-gen rules --revision <id>` prints this table for another one, and `Spec/CHANGES.md` "
        out += "lists what changed between them.\n"
        out +=
            "Generated from `Spec/*.yaml` by `swift run virtio-crypto-gen generate`; edit the YAML, not this file.\n\n"
        out += "How to read it: *enforced* says which code enforces a rule (a generated validator, the generated "
        out += "dispatch's framing, the generated codecs, the hand-written device core, our driver library, or nobody: "
        out += "manual, with the reason). *Tested* is the evidence found in `Tests/`: a **device test** sent a request "
        out += "that breaks the rule through the device and asserted its status and that exactly this rule's violation "
        out += "counter moved (`expectViolation`); a **driver test** asserted that our driver library refused the "
        out += "action before sending anything (`expectRefusal`); a **behaviour test** asserted the behaviour the rule "
        out += "requires (`expectRule`); **vector only**: the rule's generated negative vector is rejected by its "
        out += "validator, but no device test breaks it.\n\n"
        out += "| enforced by | rules | " + Self.evidenceColumns.joined(separator: " | ") + " |\n"
        out += "|---|---|" + Self.evidenceColumns.map { _ in "---|" }.joined() + "\n"
        for kind in ["validator", "dispatch", "codec", "device-core", "driver-library", "manual"] {
            let rules = spec.rules.filter { $0.enforcedBy == kind }
            let counts = Self.evidenceColumns.map { column in rules.filter { evidence($0) == column }.count }
            out += "| \(kind) | \(rules.count) | " + counts.map(String.init).joined(separator: " | ") + " |\n"
        }
        let totals = Self.evidenceColumns.map { column in spec.rules.filter { evidence($0) == column }.count }
        out += "| **all** | \(spec.rules.count) | " + totals.map(String.init).joined(separator: " | ") + " |\n\n"
        let refusing = spec.rules.filter { $0.onViolation != nil && $0.enforcedBy != "manual" }
        let proven = refusing.filter { evidence($0) == "device test" }.count
        out += "Rules with an on-violation status: \(refusing.count); with a device test: \(proven).\n\n"
        var sections: [String] = []
        for rule in spec.rules where !sections.contains(rule.section) { sections.append(rule.section) }
        for section in sections {
            out +=
                "## \(section)\n\n| ID | Level | Actor | Since | Text | Enforcement | On violation | Tested | Evidence |\n"
            out += "|---|---|---|---|---|---|---|---|---|\n"
            let rules = spec.rules.filter { $0.section == section }
            for rule in rules {
                let columns = [
                    "`\(rule.id)`", rule.level, rule.actor, since(rule.history), cell(rule.text),
                    cell(enforcement(rule)),
                    rule.onViolation ?? "—", evidence(rule), tests(rule),
                ]
                out += "| " + columns.joined(separator: " | ") + " |\n"
            }
            let notes = rules.flatMap { rule in
                [
                    rule.notes.errata.map { "- `\(rule.id)` errata: \(cell($0))" },
                    rule.notes.compat.map { "- `\(rule.id)` compat: \(cell($0))" },
                ].compactMap { $0 }
            }
            if !notes.isEmpty { out += "\n" + notes.joined(separator: "\n") + "\n" }
            out += "\n"
        }
        out += "## Readings of constants, structs, fields and requests\n\n"
        out +=
            "Where the spec's constants, structs or request layouts are wrong or unclear (*errata*: how we read them) or "
        out += "real drivers differ (*compat*). The rules' own errata are in their sections above.\n\n"
        out += "| item | errata | compat |\n|---|---|---|\n"
        for group in spec.groups {
            let items = [("group `\(group.name)`", group.notes)] + group.entries.map { ("`\($0.cName)`", $0.notes) }
            for (name, notes) in items where notes.errata != nil || notes.compat != nil {
                out += "| \(name) | \(cell(notes.errata ?? "—")) | \(cell(notes.compat ?? "—")) |\n"
            }
        }
        for feature in spec.features where feature.notes.errata != nil || feature.notes.compat != nil {
            out +=
                "| `\(feature.cName)` | \(cell(feature.notes.errata ?? "—")) | \(cell(feature.notes.compat ?? "—")) |\n"
        }
        for layout in spec.structs {
            let items =
                [("`\(layout.cName)`", layout.notes)]
                + layout.fields.map { ("`\(layout.cName).\($0.cName)`", $0.notes) }
            for (name, notes) in items where notes.errata != nil || notes.compat != nil {
                out += "| \(name) | \(cell(notes.errata ?? "—")) | \(cell(notes.compat ?? "—")) |\n"
            }
        }
        for queue in spec.queues where queue.notes.errata != nil || queue.notes.compat != nil {
            out +=
                "| \(queue.name) requests | \(cell(queue.notes.errata ?? "—")) | \(cell(queue.notes.compat ?? "—")) |\n"
        }
        out += "\n"
        let unsupported = spec.groups.flatMap { group in
            group.entries.compactMap { entry in
                entry.unsupported.map { "| `\(entry.cName)` | \(entry.value) | \(cell($0)) |" }
            }
        }
        out += "## Values of the spec this implementation does not support\n\n"
        out += "They are never advertised in the config masks; requests naming them get NOTSUPP.\n\n"
        out +=
            unsupported.isEmpty
            ? "None.\n" : "| constant | value | why |\n|---|---|---|\n" + unsupported.joined(separator: "\n") + "\n"
        return out
    }

    /// `since`, and `removed-in` / `changed-in` where the item has them.
    private func historyPairs(_ history: ItemHistory) -> [(String, JSON)] {
        var pairs: [(String, JSON)] = [("since", .string(spec.revisions[history.since].id))]
        if let removed = history.removedIn { pairs.append(("removed-in", .string(spec.revisions[removed].id))) }
        if !history.changes.isEmpty {
            pairs.append(("changed-in", .array(history.changes.map { .string(spec.revisions[$0.revision].id) })))
        }
        return pairs
    }

    /// `values`: the entry's value in each revision that has it, where it is not the same in all.
    private func earlierValues(_ group: ConstantGroup, _ entry: ConstantEntry) -> [(String, JSON)] {
        guard let forms else { return [] }
        let values: [(String, UInt64)] = forms.specs.compactMap { revisionSpec in
            let match = revisionSpec.groups.first { $0.history.identity == group.history.identity }?
                .entries.first { $0.history.identity == entry.history.identity }
            return match.map { (revisionSpec.revisions[revisionSpec.revision].id, $0.value) }
        }
        guard Set(values.map(\.1)).count > 1 else { return [] }
        return [("values", .object(values.map { ($0.0, JSON.uint($0.1)) }))]
    }

    func specJSON() -> String {
        let constants = spec.groups.map { group in
            JSON.object([
                ("group", .string(group.name)), ("kind", .string(group.kind.rawValue)),
                ("mask", .array(group.maskFields.map(JSON.string))),
                ("since", .string(spec.revisions[group.history.since].id)),
                (
                    "entries",
                    .array(
                        group.entries.map { entry in
                            JSON.object(
                                [
                                    ("name", .string(entry.name)), ("c-name", .string(entry.cName)),
                                    ("value", .uint(entry.value)),
                                ]
                                    + historyPairs(entry.history) + earlierValues(group, entry))
                        })
                ),
            ])
        }
        let features = spec.features.map { feature in
            JSON.object(
                [
                    ("name", .string(feature.name)), ("c-name", .string(feature.cName)), ("bit", .int(feature.bit)),
                    ("requires", .array(feature.requires.map(JSON.string))),
                ] + historyPairs(feature.history))
        }
        let structs = spec.structs.map { layout in
            JSON.object([
                ("name", .string(layout.name)), ("c-name", .string(layout.cName)),
                ("kind", .string(layout.isVLF ? "vlf" : "flf")), ("size", layout.isVLF ? .null : .int(layout.size)),
                ("of", JSON.optional(layout.of)),
                ("since", .string(spec.revisions[layout.history.since].id)),
                (
                    "fields",
                    .array(
                        layout.fields.map { field in
                            var pairs: [(String, JSON)] = [
                                ("name", .string(field.name)), ("c-name", .string(field.cName)),
                            ]
                            switch field.kind {
                            case .scalar(let type):
                                pairs += [
                                    ("type", .string(type.rawValue)), ("offset", .int(field.offset)),
                                    ("size", .int(field.size)),
                                ]
                            case .nested(let name):
                                pairs += [
                                    ("type", .string(name)), ("offset", .int(field.offset)), ("size", .int(field.size)),
                                ]
                            case .array(let array):
                                let element: String
                                switch array.element {
                                case .scalar(let type): element = type.rawValue
                                case .nested(let name): element = name
                                }
                                pairs += [
                                    ("type", .string(element)), ("offset", .int(field.offset)),
                                    ("size", .int(field.size)),
                                ]
                                pairs += [
                                    array.count.map { ("count", JSON.int($0)) } ?? (
                                        "count-from", JSON.string(array.countFrom ?? "")
                                    )
                                ]
                            case .slot(let slot):
                                pairs += [
                                    ("slot", .int(slot.size)), ("offset", .int(field.offset)),
                                    ("selector", .string(slot.selector)),
                                    (
                                        "cases",
                                        .array(
                                            slot.cases.map {
                                                .object([
                                                    ("when", .uint($0.value)), ("struct", .string($0.structName)),
                                                    ("vlf", JSON.optional($0.vlf)),
                                                ])
                                            })
                                    ),
                                ]
                            case .segment(let segment):
                                pairs += [
                                    ("length", .string(segment.pathText)),
                                    ("direction", .string(segment.direction.rawValue)),
                                ]
                            case .selectFrom(let slot): pairs += [("select-from", .string(slot))]
                            }
                            return .object(pairs + historyPairs(field.history))
                        })
                ),
            ])
        }
        let rules = spec.rules.map { rule in
            JSON.object(
                [
                    ("id", .string(rule.id)), ("level", .string(rule.level)), ("actor", .string(rule.actor)),
                    ("section", .string(rule.section)), ("origin", .string(rule.origin)), ("text", .string(rule.text)),
                    ("enforcement", .string(rule.enforcedBy)), ("on-violation", JSON.optional(rule.onViolation)),
                    ("errata", JSON.optional(rule.notes.errata)), ("compat", JSON.optional(rule.notes.compat)),
                    ("tested", .string(evidence(rule))),
                ] + historyPairs(rule.history) + [
                    (
                        "tests",
                        .array((coverage[rule.id] ?? []).map { .string("\($0.kind.rawValue): \($0.file):\($0.test)") })
                    )
                ])
        }
        return JSON.object([
            (
                "spec",
                .object([
                    ("id", .string(spec.info.id)), ("revision", .string(revision.id)),
                    (
                        "revisions",
                        .array(
                            spec.revisions.map {
                                .object([
                                    ("id", .string($0.id)), ("title", .string($0.title)), ("date", .string($0.date)),
                                ])
                            })
                    ),
                    ("device-id", .int(spec.info.deviceID)), ("sha256", .string(spec.specHash)),
                ])
            ),
            ("features", .array(features)), ("constants", .array(constants)), ("structs", .array(structs)),
            ("rules", .array(rules)),
        ]).render() + "\n"
    }
}
