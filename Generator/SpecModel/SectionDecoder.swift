import Yams

/// Decodes the top-level sections of one file into the raw model, strictly.
struct SectionDecoder {
    let diagnostics: DiagnosticCollector

    mutating func decodeSections(_ top: inout MappingReader, into document: inout SpecDocument) {
        for node in top.sequence("features", in: "the file") {
            if let feature = decodeFeature(node, file: top.file) { document.features.append(feature) }
        }
        for node in top.sequence("constants", in: "the file") {
            if let group = decodeGroup(node, file: top.file) { document.groups.append(group) }
        }
        for node in top.sequence("structs", in: "the file") {
            if let decl = decodeStruct(node, file: top.file) { document.structs.append(decl) }
        }
        for node in top.sequence("requests", in: "the file") {
            if let queue = decodeQueue(node, file: top.file) { document.queues.append(queue) }
        }
        if let node = top.node("config"), var map = reader(node, top.file, "config") {
            if document.config != nil { diagnostics.error(map.location, "'config' is given twice") }
            if let structName = map.string("struct", in: "config"),
                let flags = map.string("status-flags", in: "config")
            {
                document.config = ConfigDecl(structName: structName, statusFlags: flags)
            }
            map.finish("config")
        }
        for node in top.sequence("rules", in: "the file") {
            if let rule = decodeRule(node, file: top.file) { document.rules.append(rule) }
        }
    }

    private func reader(_ node: Node, _ file: String, _ what: String) -> MappingReader? {
        MappingReader(node, file: file, what: what, diagnostics: diagnostics)
    }

    // MARK: features and constants

    private func decodeFeature(_ node: Node, file: String) -> FeatureDecl? {
        guard var map = reader(node, file, "a feature") else { return nil }
        defer { map.finish("a feature") }
        let what = "a feature"
        guard let name = map.string("name", in: what), let cName = map.string("c-name", in: what),
            let bit = map.integer("bit", in: what)
        else { return nil }
        return FeatureDecl(
            name: name, cName: cName.value, bit: bit,
            requires: map.stringList("requires", in: what),
            service: map.optionalString("service"), notes: map.annotations(),
            marks: map.revisionMarks())
    }

    private func decodeGroup(_ node: Node, file: String) -> ConstantGroupDecl? {
        guard var map = reader(node, file, "a constant group") else { return nil }
        defer { map.finish("a constant group") }
        let what = "a constant group"
        guard let name = map.string("group", in: what) else { return nil }
        var kind = ConstantGroupDecl.Kind.values
        if let kindText = map.optionalString("kind") {
            if let parsed = ConstantGroupDecl.Kind(rawValue: kindText.value) {
                kind = parsed
            } else {
                diagnostics.error(
                    kindText.location, "unknown group kind '\(kindText.value)' (values, opcode, flags, sizes)")
            }
        }
        let width = map.optionalString("width") ?? Located("le32", at: name.location)
        let cPrefix = map.text("c-prefix")
        let mask = map.stringList("mask", in: what)
        let section = map.text("section")
        let notes = map.annotations()
        let marks = map.revisionMarks()
        let entries = map.sequence("entries", in: what, required: true).compactMap { decodeEntry($0, file: file) }
        return ConstantGroupDecl(
            name: name, kind: kind, width: width, cPrefix: cPrefix, mask: mask,
            section: section, entries: entries, notes: notes, marks: marks)
    }

    private func decodeEntry(_ node: Node, file: String) -> ConstantEntryDecl? {
        guard var map = reader(node, file, "a constant") else { return nil }
        defer { map.finish("a constant") }
        let what = "a constant"
        guard let name = map.string("name", in: what), let cName = map.string("c-name", in: what) else { return nil }
        return ConstantEntryDecl(
            name: name, cName: cName, value: map.optionalInteger("value"),
            service: map.optionalString("service"), op: map.optionalInteger("op"),
            queue: map.optionalString("queue"), isNone: map.bool("none"),
            unsupported: map.text("unsupported"), notes: map.annotations(),
            marks: map.revisionMarks())
    }

    // MARK: structs

    private func decodeStruct(_ node: Node, file: String) -> StructDecl? {
        guard var map = reader(node, file, "a struct") else { return nil }
        defer { map.finish("a struct") }
        let what = "a struct"
        guard let name = map.string("name", in: what), let cName = map.string("c-name", in: what) else { return nil }
        var isVLF = false
        if let kind = map.optionalString("kind") {
            if kind.value == "vlf" {
                isVLF = true
            } else if kind.value != "flf" {
                diagnostics.error(kind.location, "unknown struct kind '\(kind.value)' (flf or vlf)")
            }
        }
        let section = map.text("section")
        let of = map.optionalString("of")
        let size = map.optionalInteger("size")
        let notes = map.annotations()
        let marks = map.revisionMarks()
        let fields = map.sequence("fields", in: what, required: true).compactMap { decodeField($0, file: file) }
        return StructDecl(
            name: name, cName: cName.value, section: section, isVLF: isVLF, of: of, size: size,
            fields: fields, notes: notes, marks: marks)
    }

    private func decodeField(_ node: Node, file: String) -> FieldDecl? {
        guard var map = reader(node, file, "a field") else { return nil }
        defer { map.finish("a field") }
        let what = "a field"
        let location = map.location
        guard let name = map.string("name", in: what), let cName = map.string("c-name", in: what) else { return nil }

        let type = map.optionalString("type")
        let slotNode = map.node("slot")
        let length = map.optionalString("length")
        let selectFrom = map.optionalString("select-from")
        let shapes = [type != nil, slotNode != nil, length != nil, selectFrom != nil].filter { $0 }.count
        guard shapes == 1 else {
            diagnostics.error(
                name.location, "field '\(name.value)' needs exactly one of 'type', 'slot', 'length' or 'select-from'")
            return nil
        }
        var shape: FieldDecl.Shape
        if let type {
            shape = .typed(type)
        } else if let slotNode {
            guard let size = MappingReader.valueLiteral(slotNode, file: file, key: "slot", diagnostics: diagnostics),
                let selector = map.string("selector", in: "a slot field")
            else { return nil }
            let cases = map.sequence("cases", in: "a slot field", required: true).compactMap {
                decodeCase($0, file: file)
            }
            shape = .slot(size: size, selector: selector, cases: cases)
        } else if let length {
            guard let direction = map.string("direction", in: "a vlf segment") else { return nil }
            shape = .segment(length: length, direction: direction)
        } else {
            shape = .selectFrom(selectFrom!)
        }
        return FieldDecl(
            name: name, cName: cName.value, shape: shape, enumGroup: map.optionalString("enum"),
            flagsGroup: map.optionalString("flags"), maskOf: map.optionalString("mask-of"),
            count: map.optionalInteger("count"), countFrom: map.optionalString("count-from"),
            isReserved: map.bool("reserved"), notes: map.annotations(), marks: map.revisionMarks(),
            location: location)
    }

    private func decodeCase(_ node: Node, file: String) -> SlotCaseDecl? {
        guard var map = reader(node, file, "a slot case") else { return nil }
        defer { map.finish("a slot case") }
        guard let when = map.valueLiteral("when", in: "a slot case"),
            let structName = map.string("struct", in: "a slot case")
        else { return nil }
        return SlotCaseDecl(
            when: when, structName: structName, vlf: map.optionalString("vlf"),
            marks: map.revisionMarks())
    }

    // MARK: requests

    private func decodeQueue(_ node: Node, file: String) -> QueueDecl? {
        guard var map = reader(node, file, "a queue") else { return nil }
        defer { map.finish("a queue") }
        let what = "a queue"
        guard let name = map.string("queue", in: what), let header = map.string("header", in: what),
            let opcodeField = map.string("opcode-field", in: what),
            let legacy = map.valueLiteral("legacy-flf-size", in: what),
            let outcome = map.string("outcome", in: what), let outcomeAt = map.string("outcome-at", in: what),
            let framingRule = map.string("framing-rule", in: what)
        else { return nil }
        let section = map.text("section")
        let flagField = map.optionalString("flag-field")
        let notes = map.annotations()
        let marks = map.revisionMarks()
        let ops = map.sequence("ops", in: what, required: true).compactMap { decodeOp($0, file: file) }
        return QueueDecl(
            name: name, section: section, header: header, opcodeField: opcodeField,
            flagField: flagField, legacyFLFSize: legacy, outcome: outcome, outcomeAt: outcomeAt,
            framingRule: framingRule, ops: ops, notes: notes, marks: marks)
    }

    private func decodeOp(_ node: Node, file: String) -> OpDecl? {
        guard var map = reader(node, file, "an op") else { return nil }
        defer { map.finish("an op") }
        let what = "an op"
        guard let opcode = map.valueLiteral("opcode", in: what), let flf = map.string("flf", in: what) else {
            return nil
        }
        var stateless: StatelessDecl?
        if let node = map.node("stateless"), var sub = reader(node, file, "stateless") {
            if let feature = sub.string("feature", in: "stateless"), let sflf = sub.string("flf", in: "stateless"),
                let svlf = sub.string("vlf", in: "stateless")
            {
                stateless = StatelessDecl(feature: feature, flf: sflf, vlf: svlf)
            }
            sub.finish("stateless")
        }
        return OpDecl(
            opcode: opcode, flf: flf, vlf: map.optionalString("vlf"), outcome: map.optionalString("outcome"),
            outcomeCompat: map.stringList("outcome-compat", in: what), stateless: stateless,
            notes: map.annotations(), marks: map.revisionMarks())
    }

    // MARK: rules

    private func decodeRule(_ node: Node, file: String) -> RuleDecl? {
        guard var map = reader(node, file, "a rule") else { return nil }
        defer { map.finish("a rule") }
        let what = "a rule"
        let location = map.location
        guard let id = map.string("id", in: what), let level = map.string("level", in: what),
            let actor = map.string("actor", in: what), let section = map.string("section", in: what),
            let origin = map.string("origin", in: what), let text = map.string("text", in: what),
            let onViolation = map.string("on-violation", in: what)
        else { return nil }
        guard let enforcementNode = map.node("enforcement") else {
            diagnostics.error(id.location, "rule '\(id.value)' has no 'enforcement'")
            return nil
        }
        guard var enforcement = reader(enforcementNode, file, "enforcement") else { return nil }
        defer { enforcement.finish("enforcement") }
        guard let by = enforcement.string("by", in: "enforcement") else { return nil }
        let validators = enforcement.sequence("validators", in: "enforcement").compactMap {
            decodeValidator($0, file: file)
        }
        return RuleDecl(
            id: id, level: level, actor: actor, section: section.value, origin: origin, text: text.value,
            enforcedBy: by, validators: validators, check: enforcement.optionalString("check"),
            checkOps: enforcement.stringList("ops", in: "enforcement"), note: enforcement.text("note"),
            reason: enforcement.text("reason"), onViolation: onViolation, notes: map.annotations(),
            marks: map.revisionMarks(), location: location)
    }

    private func decodeValidator(_ node: Node, file: String) -> ValidatorDecl? {
        guard var map = reader(node, file, "a validator") else { return nil }
        defer { map.finish("a validator") }
        let location = map.location
        guard let target = map.string("target", in: "a validator"), let field = map.string("field", in: "a validator"),
            let predicate = decodePredicate(&map, file: file, what: "a validator")
        else { return nil }
        let when = map.sequence("when", in: "a validator").compactMap { decodeCondition($0, file: file) }
        return ValidatorDecl(target: target, field: field, predicate: predicate, when: when, location: location)
    }

    private func decodeCondition(_ node: Node, file: String) -> ConditionDecl? {
        guard var map = reader(node, file, "a condition") else { return nil }
        defer { map.finish("a condition") }
        if let feature = map.optionalString("feature") { return .feature(feature) }
        if let feature = map.optionalString("not-feature") { return .notFeature(feature) }
        guard let field = map.string("field", in: "a condition (feature, not-feature or field)"),
            let predicate = decodePredicate(&map, file: file, what: "a condition")
        else { return nil }
        return .field(field, predicate)
    }

    private static let predicateKeys = ["range", "one-of", "not-one-of", "equals", "zero", "allowed-bits"]

    private func decodePredicate(_ map: inout MappingReader, file: String, what: String) -> Located<PredicateDecl>? {
        let present = Self.predicateKeys.filter { key in map.pairs.contains { $0.key == key } }
        guard present.count == 1, let key = present.first, let node = map.node(key) else {
            diagnostics.error(
                map.location, "\(what) needs exactly one predicate of: \(Self.predicateKeys.joined(separator: ", "))")
            return nil
        }
        let loc = map.location(of: node)
        func values(_ node: Node) -> [ValueLiteral]? {
            guard let items = node.sequence else {
                diagnostics.error(loc, "'\(key)' must be a list")
                return nil
            }
            let parsed = items.compactMap {
                MappingReader.valueLiteral($0, file: file, key: key, diagnostics: diagnostics)?.value
            }
            return parsed.count == items.count ? parsed : nil
        }
        switch key {
        case "range":
            guard let bounds = values(node), bounds.count == 2 else {
                diagnostics.error(loc, "'range' must be a list [low, high]")
                return nil
            }
            return Located(.range(bounds[0], bounds[1]), at: loc)
        case "one-of": return values(node).map { Located(.oneOf($0), at: loc) }
        case "not-one-of": return values(node).map { Located(.notOneOf($0), at: loc) }
        case "equals":
            return MappingReader.valueLiteral(node, file: file, key: key, diagnostics: diagnostics)
                .map { Located(.equals($0.value), at: loc) }
        case "zero":
            guard node.string == "true" else {
                diagnostics.error(loc, "'zero' must be true")
                return nil
            }
            return Located(.zero, at: loc)
        default:
            if node.string == "defined" { return Located(.allowedBitsDefined, at: loc) }
            return values(node).map { Located(.allowedBits($0), at: loc) }
        }
    }
}
