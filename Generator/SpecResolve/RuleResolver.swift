import SpecModel

/// Resolves the normative rules: levels, actors, enforcement, and the validators'
/// field paths and values.
struct RuleResolver {
    let groups: [ConstantGroup]
    let features: [Feature]
    let structs: [StructLayout]
    let histories: HistoryResolver
    let diagnostics: DiagnosticCollector

    static let levels = ["MUST", "MUST NOT", "SHOULD", "SHOULD NOT", "MAY"]
    static let actors = ["device", "driver"]
    static let origins = ["devicenormative", "drivernormative", "body", "feature-bits"]
    static let enforcements = ["validator", "dispatch", "codec", "device-core", "driver-library", "manual"]

    func resolve(_ decls: [RuleDecl]) -> [Rule] {
        var seen: [String: SourceLocation] = [:]
        var swiftNames: [String: String] = [:]
        let statuses = groups.first { $0.name == "status" }
        return decls.map { decl in
            if let first = seen[decl.id.value] {
                diagnostics.error(decl.id.location, "duplicate rule id '\(decl.id.value)' (first at \(first))")
            }
            seen[decl.id.value] = decl.id.location
            let parts = decl.id.value.split(separator: ".", omittingEmptySubsequences: false)
            if parts.count < 3 || !["dev", "drv", "feat"].contains(parts[0])
                || !parts.allSatisfy({ Naming.isValidName(String($0)) })
            {
                diagnostics.error(
                    decl.id.location,
                    "rule id '\(decl.id.value)' must be <dev|drv|feat>.<area>.<slug> in lower-case kebab")
            }
            let swiftName = Naming.lowerCamel(decl.id.value)
            if let other = swiftNames[swiftName], other != decl.id.value {
                diagnostics.error(
                    decl.id.location, "rule ids '\(other)' and '\(decl.id.value)' give the same Swift name")
            }
            swiftNames[swiftName] = decl.id.value
            check(decl.level, in: Self.levels, "level")
            check(decl.actor, in: Self.actors, "actor")
            check(decl.origin, in: Self.origins, "origin")
            check(decl.enforcedBy, in: Self.enforcements, "enforcement 'by'")
            if !decl.text.contains(decl.level.value.components(separatedBy: " ").first!)
                && !decl.text.lowercased().contains(decl.level.value.lowercased().components(separatedBy: " ").first!)
                && decl.origin.value != "body" && decl.origin.value != "feature-bits"
            {
                diagnostics.warning(
                    decl.id.location, "rule '\(decl.id.value)' is \(decl.level.value) but its text does not say so")
            }
            switch decl.enforcedBy.value {
            case "validator" where decl.validators.isEmpty:
                diagnostics.error(
                    decl.enforcedBy.location, "rule '\(decl.id.value)' is enforced by a validator but lists none")
            case "manual" where (decl.reason ?? "").isEmpty:
                diagnostics.error(decl.enforcedBy.location, "rule '\(decl.id.value)' is manual and needs a 'reason'")
            default:
                if decl.enforcedBy.value != "validator" && !decl.validators.isEmpty {
                    diagnostics.error(decl.enforcedBy.location, "only 'by: validator' rules list validators")
                }
            }
            let opcodes = groups.first { $0.kind == .opcode }
            var checkOps: [String] = []
            if let check = decl.check {
                if decl.enforcedBy.value != "device-core" {
                    diagnostics.error(check.location, "only 'by: device-core' rules name a 'check'")
                }
                if !Naming.isValidName(check.value) {
                    diagnostics.error(check.location, "check '\(check.value)' must be lower-case kebab")
                }
                if decl.checkOps.isEmpty { diagnostics.error(check.location, "check '\(check.value)' needs 'ops'") }
                if decl.onViolation.value == "none" {
                    diagnostics.error(check.location, "a rule with a check needs an on-violation status")
                }
                for op in decl.checkOps {
                    let parts = op.value.split(separator: ".", maxSplits: 1).map(String.init)
                    guard parts.count == 2, parts[0] == opcodes?.name, let entry = opcodes?.entry(parts[1]) else {
                        diagnostics.error(op.location, "'\(op.value)' is not an opcode constant")
                        continue
                    }
                    checkOps.append(entry.name)
                }
            } else if !decl.checkOps.isEmpty {
                diagnostics.error(decl.checkOps[0].location, "'ops' goes with a 'check'")
            }
            var onViolation: String?
            if decl.onViolation.value != "none" {
                if statuses?.entries.contains(where: {
                    !$0.isNone && $0.cName == "VIRTIO_CRYPTO_\(decl.onViolation.value)"
                }) == true {
                    onViolation = decl.onViolation.value
                } else {
                    diagnostics.error(
                        decl.onViolation.location,
                        "on-violation must be a status (OK, ERR, BADMSG, NOTSUPP, INVSESS, NOSPC) or none")
                }
            }
            return Rule(
                id: decl.id.value, swiftName: swiftName, level: decl.level.value, actor: decl.actor.value,
                section: decl.section, origin: decl.origin.value, text: decl.text,
                enforcedBy: decl.enforcedBy.value, validators: decl.validators.compactMap(resolveValidator),
                check: decl.check?.value, checkOps: checkOps, note: decl.note, reason: decl.reason,
                onViolation: onViolation, notes: decl.notes,
                location: decl.location, history: histories.history(decl.marks, name: decl.id))
        }
    }

    private func check(_ value: Located<String>, in allowed: [String], _ what: String) {
        if !allowed.contains(value.value) {
            diagnostics.error(
                value.location, "\(what) '\(value.value)' must be one of: \(allowed.joined(separator: ", "))")
        }
    }

    private func resolveValidator(_ decl: ValidatorDecl) -> Validator? {
        guard let target = structs.first(where: { $0.name == decl.target.value && !$0.isVLF }) else {
            diagnostics.error(decl.target.location, "unknown fixed-length struct '\(decl.target.value)'")
            return nil
        }
        guard let (path, field) = scalarPath(decl.field, in: target),
            let predicate = resolvePredicate(decl.predicate, field: field)
        else { return nil }
        var conditions: [Condition] = []
        for condition in decl.when {
            switch condition {
            case .feature(let name), .notFeature(let name):
                guard features.contains(where: { $0.name == name.value }) else {
                    diagnostics.error(name.location, "unknown feature '\(name.value)'")
                    continue
                }
                if case .feature = condition {
                    conditions.append(.feature(name.value))
                } else {
                    conditions.append(.notFeature(name.value))
                }
            case .field(let fieldPath, let predicateDecl):
                guard let (conditionPath, conditionField) = scalarPath(fieldPath, in: target),
                    let conditionPredicate = resolvePredicate(predicateDecl, field: conditionField)
                else { continue }
                conditions.append(.field(conditionPath, conditionPredicate))
            }
        }
        return Validator(target: target.name, path: path, predicate: predicate, when: conditions)
    }

    /// A dotted path through nested structs to a scalar field; validators do not look into slots.
    private func scalarPath(_ text: Located<String>, in root: StructLayout) -> ([String], Field)? {
        var current = root
        var path: [String] = []
        let parts = text.value.split(separator: ".").map(String.init)
        for (index, part) in parts.enumerated() {
            guard let field = current.field(part) else {
                diagnostics.error(text.location, "'\(part)' is not a field of '\(current.name)'")
                return nil
            }
            path.append(part)
            switch field.kind {
            case .scalar where index == parts.count - 1:
                return (path, field)
            case .nested(let name) where index < parts.count - 1:
                current = structs.first { $0.name == name }!
            default:
                diagnostics.error(text.location, "'\(text.value)' must lead through nested structs to a scalar field")
                return nil
            }
        }
        return nil
    }

    private func resolvePredicate(_ decl: Located<PredicateDecl>, field: Field) -> Predicate? {
        func value(_ literal: ValueLiteral) -> UInt64? {
            Resolver.resolveValue(Located(literal, at: decl.location), groups, diagnostics)
        }
        func values(_ literals: [ValueLiteral]) -> [UInt64]? {
            let resolved = literals.compactMap(value)
            return resolved.count == literals.count ? resolved : nil
        }
        switch decl.value {
        case .range(let low, let high):
            guard let low = value(low), let high = value(high) else { return nil }
            if low > high { diagnostics.error(decl.location, "empty range [\(low), \(high)]") }
            return .range(low, high)
        case .oneOf(let literals): return values(literals).map(Predicate.oneOf)
        case .notOneOf(let literals): return values(literals).map(Predicate.notOneOf)
        case .equals(let literal): return value(literal).map(Predicate.equals)
        case .zero: return .zero
        case .allowedBits(let literals):
            return values(literals).map { .allowedBits($0.reduce(0, |)) }
        case .allowedBitsDefined:
            if let flags = field.flagsGroup, let group = groups.first(where: { $0.name == flags }) {
                return .allowedBits(group.entries.filter { !$0.isNone }.reduce(0) { $0 | $1.value })
            }
            guard let maskOf = field.maskOf, let group = groups.first(where: { $0.name == maskOf }),
                let word = group.maskFields.firstIndex(of: field.name)
            else {
                diagnostics.error(decl.location, "'allowed-bits: defined' needs a field with 'flags' or 'mask-of'")
                return nil
            }
            let low = UInt64(word * 32)
            let bits = group.entries.filter { !$0.isNone && $0.value >= low && $0.value < low + 32 }
                .reduce(UInt64(0)) { $0 | (UInt64(1) << ($1.value - low)) }
            return .allowedBits(bits)
        }
    }
}
