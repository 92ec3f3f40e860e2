import SpecResolve

/// Validators.swift and Rules.swift: one check per validator of a rule, next to the rule
/// ID it enforces, and the rule table as data.
struct ValidatorsEmitter {
    let spec: ResolvedSpec
    var types: SwiftTypes { SwiftTypes(spec: spec) }

    func validators() -> String {
        var p = CodePrinter()
        for layout in spec.structs where !layout.isVLF {
            p.block("extension \(layout.swiftName)") { p in
                p.doc(
                    "The first rule this value breaks under `features`, with the status the device answers; nil when it breaks none."
                )
                p.doc("Nested structs and the selected slot members are checked too.")
                p.block("public func violation(features: CryptoFeatures) -> RuleViolation?") { p in
                    emitBody(layout, &p)
                }
            }
            p.line()
        }
        return p.text
    }

    private func emitBody(_ layout: StructLayout, _ p: inout CodePrinter) {
        for rule in spec.rules {
            for validator in rule.validators where validator.target == layout.name {
                p.line("// \(rule.id) (\(rule.level)): \(rule.text.prefix(100))\(rule.text.count > 100 ? "…" : "")")
                let conditions = validator.when.map { condition -> String in
                    switch condition {
                    case .feature(let name): return "features.contains(.\(spec.feature(name)!.swiftName))"
                    case .notFeature(let name): return "!features.contains(.\(spec.feature(name)!.swiftName))"
                    case .field(let path, let predicate):
                        return predicateExpression(
                            predicate, types.uint64Expression(root: "self", path: path, in: layout))
                    }
                }
                let value = types.uint64Expression(root: "self", path: validator.path, in: layout)
                let status = spec.statusEntry(rule.onViolation).map { ".\($0.swiftName)" } ?? "nil"
                let check =
                    "if !(\(predicateExpression(validator.predicate, value))) { return RuleViolation(rule: .\(rule.swiftName), field: \(swiftString(validator.path.joined(separator: "."))), status: \(status)) }"
                if conditions.isEmpty {
                    p.line(check)
                } else {
                    p.block("if \(conditions.joined(separator: " && "))") { p in p.line(check) }
                }
            }
        }
        for field in layout.fields {
            switch field.kind {
            case .nested:
                p.line("if let violation = \(field.swiftName).violation(features: features) { return violation }")
            case .slot(let slot):
                p.block("switch \(field.swiftName)") { p in
                    for slotCase in slot.cases {
                        p.line(
                            "case .\(slotCase.swiftName)(let member): if let violation = member.violation(features: features) { return violation }"
                        )
                    }
                    p.line("case .unused: break")
                }
            default:
                break
            }
        }
        p.line("return nil")
    }

    func predicateExpression(_ predicate: Predicate, _ value: String) -> String {
        switch predicate {
        case .range(let low, let high): return "(\(low)...\(high)).contains(\(value))"
        case .oneOf(let values):
            return "(" + values.map { "\(value) == \(SwiftTypes.hex($0))" }.joined(separator: " || ") + ")"
        case .notOneOf(let values):
            return "(" + values.map { "\(value) != \(SwiftTypes.hex($0))" }.joined(separator: " && ") + ")"
        case .equals(let expected): return "\(value) == \(SwiftTypes.hex(expected))"
        case .zero: return "\(value) == 0"
        case .allowedBits(let mask): return "\(value) & ~\(SwiftTypes.hex(mask)) == 0"
        }
    }

    func rules() -> String {
        var p = CodePrinter()
        p.doc("Stable IDs of every normative rule of every revision (Spec/RULES.md lists them with their text).")
        p.block("public enum RuleID: String, CaseIterable, Sendable") { p in
            for rule in spec.rules { p.line("case \(rule.swiftName) = \(swiftString(rule.id))") }
            p.line()
            p.doc("Position in `RuleTable.all`, and the slot of per-rule counters.")
            p.block("public var index: Int") { p in
                p.block("switch self") { p in
                    for (index, rule) in spec.rules.enumerated() { p.line("case .\(rule.swiftName): return \(index)") }
                }
            }
            p.line()
            p.doc("Number of rules (slots of per-rule counters).")
            p.line("public static let count = \(spec.rules.count)")
        }
        p.line()
        p.block("extension RuleTable") { p in
            p.doc("Every rule, in the order of the spec files.")
            p.line("public static let all: [RuleInfo] = [")
            for rule in spec.rules {
                let level = Naming.lowerCamel(rule.level.lowercased().replacingOccurrences(of: " ", with: "-"))
                let status = spec.statusEntry(rule.onViolation).map { ".\($0.swiftName)" } ?? "nil"
                p.line(
                    "    RuleInfo(id: .\(rule.swiftName), level: .\(level), actor: .\(rule.actor), section: \(swiftString(rule.section)),"
                )
                p.line("             enforcement: .\(Naming.lowerCamel(rule.enforcedBy)), onViolation: \(status),")
                let removed = rule.history.removedIn.map { "." + spec.revisions[$0].swiftName } ?? "nil"
                p.line("             text: \(swiftString(rule.text)),")
                p.line("             since: .\(spec.revisions[rule.history.since].swiftName), removedIn: \(removed)),")
            }
            p.line("]")
        }
        return p.text
    }
}
