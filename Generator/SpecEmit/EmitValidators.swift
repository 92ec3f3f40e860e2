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
                // A queue's header: inlined into each opcode's function of dispatch, where the opcode is a
                // constant and the switch on it folds to that opcode's rules (out of line: ~35 instructions
                // a data request).
                if spec.queues.contains(where: { $0.header == layout.name }) { p.line("@inlinable @inline(__always)") }
                p.block("public func violation(features: CryptoFeatures) -> RuleViolation?") { p in
                    emitBody(layout, &p)
                }
            }
            p.line()
        }
        return p.text
    }

    private func emitBody(_ layout: StructLayout, _ p: inout CodePrinter) {
        let checks = spec.rules.flatMap { rule in
            rule.validators.filter { $0.target == layout.name }.map { (rule: rule, validator: $0) }
        }
        if let key = switchKey(checks.map(\.validator)) {
            emitSwitch(on: key, checks, layout, &p)
        } else {
            for check in checks {
                p.line(comment(check.rule))
                emitCheck(check.rule, check.validator, key: nil, layout, &p)
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

    private func comment(_ rule: Rule) -> String {
        "// \(rule.id) (\(rule.level)): \(rule.text.prefix(100))\(rule.text.count > 100 ? "…" : "")"
    }

    /// The field most validators' conditions test, when two or more do (the header's opcode): the
    /// checks are then emitted as a switch on its value, each case with only the rules that apply to
    /// it, so a request pays for its own opcode's rules rather than every rule's condition.
    private func switchKey(_ validators: [Validator]) -> [String]? {
        var counts: [[String]: Int] = [:]
        var order: [[String]] = []
        for validator in validators {
            for case .field(let path, _) in validator.when {
                if counts[path] == nil { order.append(path) }
                counts[path, default: 0] += 1
            }
        }
        guard let key = order.max(by: { counts[$0]! < counts[$1]! }), counts[key]! >= 2 else { return nil }
        return key
    }

    /// Whether `predicate` holds for the key's value: known for each value a case names, and for
    /// `default` (every other value) when the predicate only compares with named values; nil when
    /// it must be evaluated.
    private func truth(_ predicate: Predicate, at key: KeyValue) -> Bool? {
        switch key {
        case .value(let value): return predicate.holds(value)
        case .other:
            switch predicate {
            case .oneOf, .equals, .zero: return false
            case .notOneOf: return true
            case .range, .allowedBits: return nil
            }
        }
    }

    /// The switch key's value in one case: a value it names, or any other (`default`).
    private enum KeyValue: Equatable {
        case value(UInt64)
        case other
    }

    /// Every value a condition or predicate on `key` compares with: the switch's cases.
    private func namedValues(_ validators: [Validator], key: [String]) -> [UInt64] {
        var values: [UInt64] = []
        func add(_ predicate: Predicate) {
            switch predicate {
            case .oneOf(let named), .notOneOf(let named): values += named
            case .equals(let value): values.append(value)
            case .zero: values.append(0)
            case .range, .allowedBits: break
            }
        }
        for validator in validators {
            if validator.path == key { add(validator.predicate) }
            for case .field(let path, let predicate) in validator.when where path == key { add(predicate) }
        }
        var seen: Set<UInt64> = []
        return values.filter { seen.insert($0).inserted }
    }

    private func emitSwitch(
        on key: [String], _ checks: [(rule: Rule, validator: Validator)], _ layout: StructLayout,
        _ p: inout CodePrinter
    ) {
        for check in checks { p.line(comment(check.rule)) }
        // Values whose cases read the same share one case, in the order the rules name them.
        var cases: [(values: [UInt64], body: String)] = []
        for value in namedValues(checks.map(\.validator), key: key) {
            let body = caseBody(.value(value), checks, key, layout)
            if let index = cases.firstIndex(where: { $0.body == body }) {
                cases[index].values.append(value)
            } else {
                cases.append(([value], body))
            }
        }
        p.block("switch \(types.uint64Expression(root: "self", path: key, in: layout))") { p in
            for (values, body) in cases {
                p.indented("case \(values.map(SwiftTypes.hex).joined(separator: ", ")):") { p in
                    for line in body.split(separator: "\n") { p.line(String(line)) }
                }
            }
            p.indented("default:") { p in
                for line in caseBody(.other, checks, key, layout).split(separator: "\n") { p.line(String(line)) }
            }
        }
    }

    /// The checks of one case: those of the rules that can apply to the key's value, in order, up to
    /// one that always returns; `break` when none can.
    private func caseBody(
        _ value: KeyValue, _ checks: [(rule: Rule, validator: Validator)], _ key: [String], _ layout: StructLayout
    ) -> String {
        var p = CodePrinter()
        var empty = true
        for check in checks {
            var checkPrinter = CodePrinter()
            let continues = emitCheck(check.rule, check.validator, key: (key, value), layout, &checkPrinter)
            if !checkPrinter.text.isEmpty {
                p.line("// \(check.rule.id)")
                empty = false
            }
            for line in checkPrinter.text.split(separator: "\n") { p.line(String(line)) }
            if !continues { break }
        }
        if empty { p.line("break") }
        return p.text
    }

    /// Emits one validator's check; with `key`, the conditions and predicate on the key's field are
    /// settled for its value where they can be. False when the check always returns (nothing after it
    /// in the case can run).
    @discardableResult
    private func emitCheck(
        _ rule: Rule, _ validator: Validator, key: (path: [String], value: KeyValue)?, _ layout: StructLayout,
        _ p: inout CodePrinter
    ) -> Bool {
        var conditions: [String] = []
        for condition in validator.when {
            switch condition {
            case .feature(let name): conditions.append("features.contains(.\(spec.feature(name)!.swiftName))")
            case .notFeature(let name): conditions.append("!features.contains(.\(spec.feature(name)!.swiftName))")
            case .field(let path, let predicate):
                switch key.flatMap({ path == $0.path ? truth(predicate, at: $0.value) : nil }) {
                case false?: return true
                case true?: break
                case nil:
                    conditions.append(
                        predicateExpression(predicate, types.uint64Expression(root: "self", path: path, in: layout)))
                }
            }
        }
        let status = spec.statusEntry(rule.onViolation).map { ".\($0.swiftName)" } ?? "nil"
        let violation =
            "return RuleViolation(rule: .\(rule.swiftName), field: \(swiftString(validator.path.joined(separator: "."))), status: \(status))"
        let check: String
        switch key.flatMap({ validator.path == $0.path ? truth(validator.predicate, at: $0.value) : nil }) {
        case true?: return true
        case false?:
            guard !conditions.isEmpty else {
                p.line(violation)
                return false
            }
            check = violation
        case nil:
            let value = types.uint64Expression(root: "self", path: validator.path, in: layout)
            check = "if !(\(predicateExpression(validator.predicate, value))) { \(violation) }"
        }
        if conditions.isEmpty {
            p.line(check)
        } else {
            p.block("if \(conditions.joined(separator: " && "))") { p in p.line(check) }
        }
        return true
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
