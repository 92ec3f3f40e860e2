import SpecModel

/// Lint of what the generated dispatch relies on: every queue names its framing rule and
/// validates its opcode, every device-core check is bound to one rule per opcode, and no
/// validator is written for a struct that no request (or the config) reaches.
struct DispatchLint {
    let queues: [Queue]
    let structs: [StructLayout]
    let rules: [Rule]
    let document: SpecDocument
    let diagnostics: DiagnosticCollector

    func run() {
        checkFraming()
        checkOpcodeRules()
        checkDeviceChecks()
        checkValidatorsReachable()
    }

    private func rule(_ id: String) -> Rule? { rules.first { $0.id == id } }

    private func checkFraming() {
        for (queue, decl) in zip(queues, document.queues) {
            guard let framing = rule(decl.framingRule.value) else {
                diagnostics.error(decl.framingRule.location, "unknown rule '\(decl.framingRule.value)'")
                continue
            }
            if framing.enforcedBy != "dispatch" || framing.onViolation == nil {
                diagnostics.error(
                    decl.framingRule.location,
                    "framing rule '\(framing.id)' of \(queue.name) must be 'by: dispatch' with an on-violation status")
            }
        }
        let framingRules = Set(queues.map(\.framingRule))
        for rule in rules where rule.enforcedBy == "dispatch" && !framingRules.contains(rule.id) {
            diagnostics.error(
                rule.location, "rule '\(rule.id)' is 'by: dispatch' but no queue names it as its framing-rule")
        }
    }

    /// The header validator that refuses opcodes the queue does not carry.
    private func checkOpcodeRules() {
        for (queue, decl) in zip(queues, document.queues) where Rule.opcodeRule(of: queue, in: rules) == nil {
            diagnostics.error(
                decl.name.location,
                "\(queue.name): no rule validates \(queue.header).\(queue.opcodeField) with an on-violation status")
        }
    }

    private func checkDeviceChecks() {
        let opcodes = Set(queues.flatMap { $0.ops.map(\.opcode.name) })
        var bound: [String: String] = [:]
        for rule in rules {
            guard let check = rule.check else { continue }
            for op in rule.checkOps {
                if !opcodes.contains(op) {
                    diagnostics.error(
                        rule.location, "check '\(check)' of '\(rule.id)': opcode '\(op)' is carried by no queue")
                }
                let key = check + " " + op
                if let other = bound[key] {
                    diagnostics.error(
                        rule.location, "check '\(check)' on '\(op)' is bound to both '\(other)' and '\(rule.id)'")
                }
                bound[key] = rule.id
            }
        }
    }

    private func checkValidatorsReachable() {
        var reachable: Set<String> = []
        func visit(_ name: String) {
            guard reachable.insert(name).inserted, let layout = structs.first(where: { $0.name == name }) else {
                return
            }
            for field in layout.fields {
                switch field.kind {
                case .nested(let nested): visit(nested)
                case .slot(let slot): slot.cases.forEach { visit($0.structName) }
                default: break
                }
            }
        }
        for queue in queues {
            visit(queue.header)
            for op in queue.ops {
                visit(op.flf)
                if let stateless = op.stateless { visit(stateless.flf) }
            }
        }
        if let config = document.config { visit(config.structName.value) }
        for rule in rules {
            for validator in rule.validators where !reachable.contains(validator.target) {
                diagnostics.error(
                    rule.location,
                    "rule '\(rule.id)' validates '\(validator.target)', which no request header, fixed part or the config reaches"
                )
            }
        }
    }
}

extension Rule {
    /// The rule whose validator refuses an opcode `queue` does not carry.
    public static func opcodeRule(of queue: Queue, in rules: [Rule]) -> Rule? {
        rules.first { rule in
            rule.onViolation != nil
                && rule.validators.contains {
                    $0.target == queue.header && $0.path == [queue.opcodeField] && $0.when.isEmpty
                }
        }
    }
}
