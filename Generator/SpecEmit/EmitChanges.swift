import SpecResolve

/// Spec/CHANGES.md (`virtio-crypto-gen changes --from A --to B`): every feature, constant, struct,
/// request layout and rule added, changed or removed between two revisions, with both texts.
/// Items are matched by their newest name, so a rename is a change, not a removal and an addition.
struct ChangesEmitter {
    let forms: RevisionForms
    let from: Int
    let to: Int

    private struct Item {
        var identity: String
        var title: String
        var text: String
        var history: ItemHistory
        /// Histories of what the item holds (a struct's fields, a group's entries), labelled.
        var parts: [(label: String, history: ItemHistory)] = []
    }

    private enum Difference {
        case added(Item)
        case removed(Item)
        case changed(before: Item, after: Item)
    }

    private var older: ResolvedSpec { forms.specs[from] }
    private var newer: ResolvedSpec { forms.specs[to] }
    private func id(_ index: Int) -> String { forms.revision(index).id }

    func markdown(header: String) -> String {
        var out = "<!-- \(header) -->\n\n# Changes from \(id(from)) to \(id(to))\n\n"
        out += "From *\(forms.revision(from).title)* (\(forms.revision(from).date)) to *\(forms.revision(to).title)* "
        out +=
            "(\(forms.revision(to).date)). Generated from the revision markers of `Spec/*.yaml` (`since`, `removed-in`, "
        out +=
            "`changed-in`) by `virtio-crypto-gen changes --from \(id(from)) --to \(id(to))`; each item is shown as each "
        out += "revision has it. Items are matched by their newest name, so a renamed item is listed as changed.\n\n"
        let sections: [(String, [Difference])] = [
            ("Features", differences(features(older), features(newer))),
            ("Constants", differences(constants(older), constants(newer)) + groupNotes()),
            ("Structs", differences(structs(older, from), structs(newer, to))),
            ("Request layouts", differences(requests(older), requests(newer))),
            ("Rules", differences(rules(older), rules(newer))),
        ]
        out += "| kind | added | changed | removed |\n|---|---|---|---|\n"
        for (title, list) in sections {
            let counts = [list.filter(isAdded).count, list.filter(isChanged).count, list.filter(isRemoved).count]
            out += "| \(title.lowercased()) | " + counts.map(String.init).joined(separator: " | ") + " |\n"
        }
        for (title, list) in sections where !list.isEmpty {
            out += "\n## \(title)\n"
            let added = list.compactMap { if case .added(let item) = $0 { return item } else { return nil } }
            if !added.isEmpty {
                out += "\n### Added\n\n"
                for item in added {
                    out += "- **\(item.title)** (since \(id(item.history.since))): \(inline(item.text))\n"
                }
            }
            let changed = list.compactMap { difference -> (Item, Item)? in
                if case .changed(let before, let after) = difference { return (before, after) }
                return nil
            }
            let reworded = changed.filter { $0.0.text != $0.1.text }
            let annotated = changed.filter { $0.0.text == $0.1.text }
            if !reworded.isEmpty {
                out += "\n### Changed\n"
                for (before, after) in reworded {
                    out += "\n#### \(after.title)\n\n"
                    let notes = changeNotes(before, after)
                    out += notes.isEmpty ? "- changed through what it refers to\n" : notes.map { "- \($0)\n" }.joined()
                    out += "\n\(id(from)):\n\n```\n\(before.text)\n```\n\n\(id(to)):\n\n```\n\(after.text)\n```\n"
                }
            }
            if !annotated.isEmpty {
                out += "\n### Same text, changed notes\n\n"
                out +=
                    "The item reads the same in both revisions; what changed is the spec's wording around it (a typo "
                out += "fixed, a description reworded) or our reading of it, recorded in the YAML's notes.\n\n"
                for (before, after) in annotated {
                    out += "- **\(after.title)**: " + changeNotes(before, after).joined(separator: "; ") + "\n"
                }
            }
            let removed = list.compactMap { if case .removed(let item) = $0 { return item } else { return nil } }
            if !removed.isEmpty {
                out += "\n### Removed\n\n"
                for item in removed { out += "- **\(item.title)**: \(inline(item.text))\n" }
            }
        }
        return out
    }

    private func inRange(_ revision: Int) -> Bool { revision > from && revision <= to }

    /// Constant groups whose own notes changed (their entries are listed one by one).
    private func groupNotes() -> [Difference] {
        newer.groups.compactMap { group in
            guard group.history.changes.contains(where: { inRange($0.revision) }),
                older.groups.contains(where: { $0.history.identity == group.history.identity })
            else { return nil }
            let item = Item(
                identity: "group " + group.history.identity, title: "group `\(group.name)`",
                text: "(\(group.entries.count) constants)", history: group.history)
            return .changed(before: item, after: item)
        }
    }

    /// What the YAML says changed, in the item and in what it holds, between the two revisions.
    private func changeNotes(_ before: Item, _ after: Item) -> [String] {
        func describe(_ label: String?, _ change: ItemHistory.Change) -> String {
            let keys = change.keys.map { "`\($0)`" }.joined(separator: ", ")
            return
                "\(label.map { "`\($0)` " } ?? "")changed in \(id(change.revision)) (\(keys))\(change.note.map { ": \($0)" } ?? "")"
        }
        var notes = after.history.changes.filter { inRange($0.revision) }.map { describe(nil, $0) }
        for part in after.parts {
            if inRange(part.history.since) { notes.append("`\(part.label)` added in \(id(part.history.since))") }
            notes += part.history.changes.filter { inRange($0.revision) }.map { describe(part.label, $0) }
        }
        for part in before.parts where !after.parts.contains(where: { $0.history.identity == part.history.identity }) {
            notes.append("`\(part.label)` removed\(part.history.removedIn.map { " in \(id($0))" } ?? "")")
        }
        return notes
    }

    private func hasChanges(_ item: Item) -> Bool {
        item.history.changes.contains { inRange($0.revision) }
            || item.parts.contains { part in
                inRange(part.history.since) || part.history.changes.contains { inRange($0.revision) }
            }
    }

    private func isAdded(_ difference: Difference) -> Bool {
        if case .added = difference { return true } else { return false }
    }
    private func isChanged(_ difference: Difference) -> Bool {
        if case .changed = difference { return true } else { return false }
    }
    private func isRemoved(_ difference: Difference) -> Bool {
        if case .removed = difference { return true } else { return false }
    }

    private func inline(_ text: String) -> String {
        text.contains("\n")
            ? "\n\n  ```\n" + text.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n  ```\n"
            : "`" + text + "`"
    }

    private func differences(_ before: [Item], _ after: [Item]) -> [Difference] {
        var result: [Difference] = []
        for item in after {
            if let old = before.first(where: { $0.identity == item.identity }) {
                if old.text != item.text || hasChanges(item) { result.append(.changed(before: old, after: item)) }
            } else {
                result.append(.added(item))
            }
        }
        for item in before where !after.contains(where: { $0.identity == item.identity }) {
            result.append(.removed(item))
        }
        return result
    }

    // MARK: items as each revision has them

    private func features(_ spec: ResolvedSpec) -> [Item] {
        spec.features.map { feature in
            let requires = feature.requires.compactMap { spec.feature($0)?.cName }
            let text =
                "\(feature.cName) (bit \(feature.bit))"
                + (requires.isEmpty ? "" : ", requires \(requires.joined(separator: ", "))")
            return Item(
                identity: feature.history.identity, title: "`\(feature.cName)`", text: text, history: feature.history)
        }
    }

    private func constants(_ spec: ResolvedSpec) -> [Item] {
        spec.groups.flatMap { group in
            group.entries.map { entry in
                let hex = group.kind == .flags || group.kind == .opcode || entry.value >= 0x100
                var text = "\(entry.cName) = \(hex ? SwiftTypes.hex(entry.value) : String(entry.value))"
                if group.kind == .opcode, let service = spec.group("service")?.entry(entry.service ?? "") {
                    text +=
                        "  /* VIRTIO_CRYPTO_OPCODE(\(service.cName), \(SwiftTypes.hex(entry.value & 0xff))), \(entry.queue ?? "") */"
                }
                return Item(
                    identity: "\(group.history.identity).\(entry.history.identity)", title: "`\(entry.cName)`",
                    text: text, history: entry.history)
            }
        }
    }

    private func structs(_ spec: ResolvedSpec, _ index: Int) -> [Item] {
        spec.structs.map { layout in
            Item(
                identity: layout.history.identity, title: "`struct \(layout.cName)`", text: cText(layout, spec),
                history: layout.history, parts: layout.fields.map { ($0.cName, $0.history) })
        }
    }

    /// The struct as C, the way the spec writes it.
    private func cText(_ layout: StructLayout, _ spec: ResolvedSpec) -> String {
        var lines = ["struct \(layout.cName) {"]
        for field in layout.fields {
            switch field.kind {
            case .scalar(let type): lines.append("    \(type.rawValue) \(field.cName);")
            case .nested(let name): lines.append("    struct \(spec.layout(name)?.cName ?? name) \(field.cName);")
            case .array(let array):
                let element: String
                switch array.element {
                case .scalar(let type): element = type.rawValue
                case .nested(let name): element = "struct " + (spec.layout(name)?.cName ?? name)
                }
                lines.append(
                    "    \(element) \(field.cName)[\(array.count.map(String.init) ?? "")];"
                        + (array.countFrom.map { "  /* \($0) entries */" } ?? ""))
            case .slot(let slot):
                let members = slot.cases.map {
                    "\(spec.layout($0.structName)?.cName ?? $0.structName) when \(slot.selector) = \($0.value)"
                }
                lines.append("    u8 \(field.cName)[\(slot.size)];  /* \(members.joined(separator: "; ")) */")
            case .segment(let segment):
                lines.append(
                    "    u8 \(field.cName)[\(cPath(segment.path, from: layout.of, spec))];  /* \(segment.direction.rawValue) */"
                )
            case .selectFrom(let slot): lines.append("    u8 \(field.cName)[];  /* the vlf of the member of \(slot) */")
            }
        }
        lines.append("};" + (layout.isVLF ? "" : "  /* size \(layout.size) */"))
        return lines.joined(separator: "\n")
    }

    /// A vlf length path in the spec's C names (`cipher_hdr.key_len`); a slot member's field is
    /// written after the slot (`algo_flf.auth_key_len`).
    private func cPath(_ path: [PathStep], from root: String?, _ spec: ResolvedSpec) -> String {
        var current = root.flatMap(spec.layout)
        var names: [String] = []
        for step in path {
            switch step {
            case .field(let name):
                guard let field = current?.field(name) else { return name }
                names.append(field.cName)
                if case .nested(let nested) = field.kind { current = spec.layout(nested) }
            case .slotMember(let slotName, let caseName):
                guard let slot = current?.field(slotName), case .slot(let cases) = slot.kind,
                    let member = cases.cases.first(where: { $0.caseName == caseName })
                else { return slotName }
                names.append(slot.cName)
                current = spec.layout(member.structName)
            }
        }
        return names.joined(separator: ".")
    }

    private func requests(_ spec: ResolvedSpec) -> [Item] {
        spec.queues.flatMap { queue in
            queue.ops.map { op in
                var text = "\(queue.name) \(op.opcode.cName): op_flf \(cName(op.flf, spec))"
                if let vlf = op.vlf { text += ", op_vlf \(cName(vlf, spec))" }
                if let stateless = op.stateless {
                    text += "; stateless with \(spec.feature(stateless.feature)?.cName ?? stateless.feature): "
                    text += "\(cName(stateless.flf, spec)), \(cName(stateless.vlf, spec))"
                }
                text += "; outcome \(cName(op.outcome, spec))"
                if !op.outcomeCompat.isEmpty {
                    text += " (also accepted: \(op.outcomeCompat.map { cName($0, spec) }.joined(separator: ", ")))"
                }
                return Item(
                    identity: "\(queue.name).\(op.opcode.history.identity)",
                    title: "\(queue.name) `\(op.opcode.cName)`",
                    text: text, history: op.history)
            }
        }
    }

    private func cName(_ name: String, _ spec: ResolvedSpec) -> String { spec.layout(name)?.cName ?? name }

    private func rules(_ spec: ResolvedSpec) -> [Item] {
        spec.rules.map { rule in
            let text = "[\(rule.level), \(rule.actor), \(rule.section)] \(rule.text)"
            return Item(identity: rule.history.identity, title: "`\(rule.id)`", text: text, history: rule.history)
        }
    }
}
