import SpecModel

/// Stages 3 and 4: resolve names, compose values, solve layouts, and lint the spec.
/// Every problem is reported with the location of the YAML that caused it.
public struct Resolver {
    let document: SpecDocument
    let diagnostics = DiagnosticCollector()

    public init(_ document: SpecDocument) { self.document = document }

    var histories: HistoryResolver { HistoryResolver(revisions: document.info.revisions, diagnostics: diagnostics) }

    public static func resolve(_ document: SpecDocument) throws(SpecErrors) -> ResolvedSpec {
        try Resolver(document).run()
    }

    func run() throws(SpecErrors) -> ResolvedSpec {
        let groups = resolveGroups()
        let features = resolveFeatures(groups)
        var structs = StructSolver(
            decls: document.structs, groups: groups, histories: histories, diagnostics: diagnostics
        ).solve()
        let queues = resolveQueues(groups, features, structs)
        let config = resolveConfig(groups, &structs)
        let rules = RuleResolver(
            groups: groups, features: features, structs: structs, histories: histories,
            diagnostics: diagnostics
        )
        .resolve(document.rules)
        DispatchLint(queues: queues, structs: structs, rules: rules, document: document, diagnostics: diagnostics).run()
        if diagnostics.hasErrors { throw SpecErrors(diagnostics.diagnostics) }
        // File names without their folder: the hash must not depend on where the checkout lives.
        let hashInput = document.files.map { "\($0.path.split(separator: "/").last ?? "")\n\($0.contents)" }
            .joined(separator: "\u{0}")
        let revisions = document.info.revisions.map {
            Revision(
                id: $0.id.value, swiftName: Naming.revision($0.id.value),
                title: $0.title, date: $0.date, source: $0.source)
        }
        return ResolvedSpec(
            info: document.info, revisions: revisions, revision: document.revision, files: document.files,
            specHash: SHA256.hex(Array(hashInput.utf8)),
            groups: groups, features: features, structs: structs, queues: queues,
            config: config ?? ConfigLayout(structName: "", statusFlags: ""), rules: rules)
    }

    // MARK: names

    func checkUnique<T>(_ items: [T], key: (T) -> Located<String>, _ what: String) {
        var seen: [String: SourceLocation] = [:]
        for item in items {
            let name = key(item)
            if let first = seen[name.value] {
                diagnostics.error(name.location, "duplicate \(what) '\(name.value)' (first at \(first))")
            } else {
                seen[name.value] = name.location
            }
        }
    }

    // MARK: constants

    func resolveGroups() -> [ConstantGroup] {
        checkUnique(document.groups, key: \.name, "constant group")
        var cNames: [String: SourceLocation] = [:]
        let services = document.groups.first { $0.name.value == "service" }
        return document.groups.map { decl in
            if !Naming.isValidName(decl.name.value) {
                diagnostics.error(
                    decl.name.location,
                    "group name '\(decl.name.value)' must be lower-case kebab starting with a letter")
            }
            checkUnique(decl.entries, key: \.name, "constant in group '\(decl.name.value)'")
            let width =
                ScalarType(rawValue: decl.width.value)
                ?? {
                    diagnostics.error(decl.width.location, "unknown width '\(decl.width.value)' (u8, le16, le32, le64)")
                    return .le32
                }()
            var values: [UInt64: String] = [:]
            let groupHistory = histories.history(decl.marks, name: decl.name)
            let entries = decl.entries.map { entry -> ConstantEntry in
                Naming.check(entry.name, "constant", diagnostics)
                if let first = cNames[entry.cName.value] {
                    diagnostics.error(
                        entry.cName.location, "duplicate c-name '\(entry.cName.value)' (first at \(first))")
                }
                cNames[entry.cName.value] = entry.cName.location
                var value: UInt64 = 0
                if decl.kind == .opcode {
                    if entry.value != nil {
                        diagnostics.error(
                            entry.name.location,
                            "opcode '\(entry.name.value)' is composed from 'service' and 'op'; do not give 'value'")
                    }
                    guard let service = entry.service, let op = entry.op else {
                        diagnostics.error(entry.name.location, "opcode '\(entry.name.value)' needs 'service' and 'op'")
                        return makeEntry(entry, value: 0, groupHistory)
                    }
                    guard let serviceEntry = services?.entries.first(where: { $0.name.value == service.value }),
                        let serviceValue = serviceEntry.value?.value
                    else {
                        diagnostics.error(service.location, "unknown service '\(service.value)'")
                        return makeEntry(entry, value: 0, groupHistory)
                    }
                    if op.value > 0xff { diagnostics.error(op.location, "op \(op.value) does not fit in 8 bits") }
                    value = (serviceValue << 8) | op.value
                    if let queue = entry.queue, !["controlq", "dataq"].contains(queue.value) {
                        diagnostics.error(queue.location, "queue must be controlq or dataq")
                    }
                } else {
                    guard let given = entry.value else {
                        diagnostics.error(entry.name.location, "constant '\(entry.name.value)' needs 'value'")
                        return makeEntry(entry, value: 0, groupHistory)
                    }
                    value = given.value
                }
                if value > width.maxValue {
                    diagnostics.error(
                        entry.name.location, "value \(value) of '\(entry.name.value)' does not fit \(width.rawValue)")
                }
                if let other = values[value], decl.kind != .sizes {
                    diagnostics.error(
                        entry.name.location, "duplicate value \(value) in group '\(decl.name.value)' (also '\(other)')")
                }
                values[value] = entry.name.value
                if !decl.mask.isEmpty, !entry.isNone, value >= UInt64(decl.mask.count * 32) {
                    diagnostics.error(
                        entry.name.location, "value \(value) has no bit in the \(decl.mask.count)-word mask")
                }
                return makeEntry(entry, value: value, groupHistory)
            }
            return ConstantGroup(
                name: decl.name.value, swiftName: Naming.upperCamel(decl.name.value), kind: decl.kind,
                width: width, cPrefix: decl.cPrefix, maskFields: decl.mask.map(\.value),
                section: decl.section, entries: entries, notes: decl.notes, history: groupHistory)
        }
    }

    private func makeEntry(_ entry: ConstantEntryDecl, value: UInt64, _ group: ItemHistory) -> ConstantEntry {
        ConstantEntry(
            name: entry.name.value, swiftName: Naming.lowerCamel(entry.name.value), cName: entry.cName.value,
            value: value, service: entry.service?.value, queue: entry.queue?.value, isNone: entry.isNone,
            unsupported: entry.unsupported, notes: entry.notes,
            history: histories.history(entry.marks, name: entry.name, parent: group))
    }

    // MARK: features

    func resolveFeatures(_ groups: [ConstantGroup]) -> [Feature] {
        checkUnique(document.features, key: \.name, "feature")
        var bits: [UInt64: String] = [:]
        let names = Set(document.features.map(\.name.value))
        for feature in document.features {
            Naming.check(feature.name, "feature", diagnostics)
            if feature.bit.value > 63 {
                diagnostics.error(feature.bit.location, "feature bit \(feature.bit.value) is above 63")
            }
            if let other = bits[feature.bit.value] {
                diagnostics.error(feature.bit.location, "feature bit \(feature.bit.value) is also used by '\(other)'")
            }
            bits[feature.bit.value] = feature.name.value
            for required in feature.requires where !names.contains(required.value) {
                diagnostics.error(required.location, "unknown feature '\(required.value)'")
            }
            if let service = feature.service, groups.first(where: { $0.name == "service" })?.entry(service.value) == nil
            {
                diagnostics.error(service.location, "unknown service '\(service.value)'")
            }
        }
        checkAcyclic()
        return document.features.map {
            Feature(
                name: $0.name.value, swiftName: Naming.lowerCamel($0.name.value), cName: $0.cName,
                bit: Int($0.bit.value), requires: $0.requires.map(\.value), service: $0.service?.value,
                notes: $0.notes, history: histories.history($0.marks, name: $0.name))
        }
    }

    /// Feature requirements must form a DAG: a cycle could never be negotiated.
    func checkAcyclic() {
        let byName = Dictionary(document.features.map { ($0.name.value, $0) }, uniquingKeysWith: { first, _ in first })
        var state: [String: Int] = [:]  // 1 = on the stack, 2 = done
        func visit(_ name: String, _ path: [String]) {
            if state[name] == 2 { return }
            guard let feature = byName[name] else { return }
            state[name] = 1
            for required in feature.requires {
                if state[required.value] == 1 {
                    let cycle = (path + [name, required.value]).drop { $0 != required.value }
                    diagnostics.error(
                        required.location, "cyclic feature requirement: \(cycle.joined(separator: " → "))")
                    continue
                }
                visit(required.value, path + [name])
            }
            state[name] = 2
        }
        for feature in document.features { visit(feature.name.value, []) }
    }

    // MARK: requests and config

    func resolveQueues(_ groups: [ConstantGroup], _ features: [Feature], _ structs: [StructLayout]) -> [Queue] {
        checkUnique(document.queues, key: \.name, "queue")
        let opcodes = groups.first { $0.kind == .opcode }
        func flf(_ name: Located<String>) -> StructLayout? {
            guard let layout = structs.first(where: { $0.name == name.value }) else {
                diagnostics.error(name.location, "unknown struct '\(name.value)'")
                return nil
            }
            if layout.isVLF {
                diagnostics.error(name.location, "'\(name.value)' is a vlf, a fixed-length struct is needed here")
            }
            return layout
        }
        func vlf(_ name: Located<String>, of flfName: String) {
            guard let layout = structs.first(where: { $0.name == name.value }) else {
                diagnostics.error(name.location, "unknown struct '\(name.value)'")
                return
            }
            if !layout.isVLF { diagnostics.error(name.location, "'\(name.value)' is not a vlf") }
            if layout.of != flfName {
                diagnostics.error(
                    name.location, "vlf '\(name.value)' takes its lengths from '\(layout.of ?? "?")', not '\(flfName)'")
            }
        }
        return document.queues.map { decl in
            if !["controlq", "dataq"].contains(decl.name.value) {
                diagnostics.error(decl.name.location, "queue must be controlq or dataq")
            }
            let header = flf(decl.header)
            if let header, header.field(decl.opcodeField.value)?.scalarType == nil {
                diagnostics.error(
                    decl.opcodeField.location, "'\(decl.opcodeField.value)' is not a scalar field of '\(header.name)'")
            }
            if let flag = decl.flagField, let header {
                let flagsGroup = header.field(flag.value)?.flagsGroup.flatMap { name in groups.first { $0.name == name }
                }
                if flagsGroup?.entry("session-mode") == nil {
                    diagnostics.error(
                        flag.location,
                        "'\(flag.value)' must be a 'flags' field of '\(header.name)' whose group has a 'session-mode' entry"
                    )
                }
            }
            let legacy = Int(resolveSize(decl.legacyFLFSize, groups))
            if !["start", "end"].contains(decl.outcomeAt.value) {
                diagnostics.error(decl.outcomeAt.location, "outcome-at must be start or end")
            }
            _ = flf(decl.outcome)
            var seen: Set<UInt64> = []
            let ops = decl.ops.compactMap { op -> Op? in
                guard case .constant(let groupName, let entryName) = op.opcode.value, groupName == opcodes?.name,
                    let entry = opcodes?.entry(entryName)
                else {
                    diagnostics.error(op.opcode.location, "'\(op.opcode.value)' is not an opcode constant")
                    return nil
                }
                if entry.queue != decl.name.value {
                    diagnostics.error(
                        op.opcode.location,
                        "opcode '\(entry.name)' belongs to \(entry.queue ?? "no queue"), not \(decl.name.value)")
                }
                if !seen.insert(entry.value).inserted {
                    diagnostics.error(op.opcode.location, "opcode '\(entry.name)' is listed twice")
                }
                guard let flfLayout = flf(op.flf) else { return nil }
                if flfLayout.size > legacy {
                    diagnostics.error(
                        op.flf.location,
                        "'\(flfLayout.name)' is \(flfLayout.size) bytes and does not fit the legacy \(legacy)-byte fixed-length part"
                    )
                }
                if let vlfName = op.vlf { vlf(vlfName, of: flfLayout.name) }
                for outcome in [op.outcome].compactMap({ $0 }) + op.outcomeCompat { _ = flf(outcome) }
                var stateless: StatelessLayout?
                if let decl = op.stateless {
                    if !features.contains(where: { $0.name == decl.feature.value }) {
                        diagnostics.error(decl.feature.location, "unknown feature '\(decl.feature.value)'")
                    }
                    if let statelessFLF = flf(decl.flf) { vlf(decl.vlf, of: statelessFLF.name) }
                    stateless = StatelessLayout(feature: decl.feature.value, flf: decl.flf.value, vlf: decl.vlf.value)
                }
                return Op(
                    opcode: entry, flf: flfLayout.name, vlf: op.vlf?.value,
                    outcome: op.outcome?.value ?? decl.outcome.value,
                    outcomeCompat: op.outcomeCompat.map(\.value), stateless: stateless, notes: op.notes,
                    history: histories.history(op.marks, name: Located(entry.name, at: op.opcode.location)))
            }
            return Queue(
                name: decl.name.value,
                swiftName: Naming.upperCamel(decl.name.value == "controlq" ? "control-queue" : "data-queue"),
                section: decl.section, header: decl.header.value, opcodeField: decl.opcodeField.value,
                flagField: decl.flagField?.value, legacyFLFSize: legacy, outcome: decl.outcome.value,
                outcomeAtEnd: decl.outcomeAt.value == "end", framingRule: decl.framingRule.value,
                ops: ops, notes: decl.notes)
        }
    }

    func resolveSize(_ literal: Located<ValueLiteral>, _ groups: [ConstantGroup]) -> UInt64 {
        Self.resolveValue(literal, groups, diagnostics) ?? 0
    }

    static func resolveValue(
        _ literal: Located<ValueLiteral>, _ groups: [ConstantGroup],
        _ diagnostics: DiagnosticCollector
    ) -> UInt64? {
        switch literal.value {
        case .integer(let value): return value
        case .constant(let groupName, let entryName):
            guard let group = groups.first(where: { $0.name == groupName }) else {
                diagnostics.error(literal.location, "unknown constant group '\(groupName)'")
                return nil
            }
            guard let entry = group.entry(entryName) else {
                diagnostics.error(literal.location, "unknown constant '\(entryName)' in group '\(groupName)'")
                return nil
            }
            return entry.value
        }
    }

    func resolveConfig(_ groups: [ConstantGroup], _ structs: inout [StructLayout]) -> ConfigLayout? {
        guard let decl = document.config else {
            diagnostics.error(document.info.location, "missing 'config' section")
            return nil
        }
        guard let layout = structs.first(where: { $0.name == decl.structName.value }) else {
            diagnostics.error(decl.structName.location, "unknown struct '\(decl.structName.value)'")
            return nil
        }
        if groups.first(where: { $0.name == decl.statusFlags.value })?.kind != .flags {
            diagnostics.error(decl.statusFlags.location, "'\(decl.statusFlags.value)' is not a flags group")
        }
        for group in document.groups {
            for field in group.mask where layout.field(field.value)?.scalarType == nil {
                diagnostics.error(field.location, "mask field '\(field.value)' is not a field of '\(layout.name)'")
            }
        }
        return ConfigLayout(structName: layout.name, statusFlags: decl.statusFlags.value)
    }
}
