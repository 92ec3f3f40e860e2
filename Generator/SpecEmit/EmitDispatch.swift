import SpecResolve

/// Dispatch.swift: per queue, the handler protocol the device implements (one method per
/// request of every opcode and layout), the one entry point that reads, parses and checks a
/// request against every machine-checkable rule before it calls that method, where the
/// outcome goes, and the device-core checks bound to their rules.
struct DispatchEmitter {
    let forms: RevisionForms
    var spec: ResolvedSpec { forms.newest }

    func dispatch() -> String {
        var p = CodePrinter()
        for queue in spec.queues {
            emitHandler(queue, &p)
            p.line()
            emitEntryPoint(queue, &p)
            p.line()
            emitOutcome(queue, &p)
            p.line()
        }
        emitChecks(&p)
        return p.text
    }

    private var requests: RequestsEmitter { RequestsEmitter(spec: spec) }

    private func handlerName(_ queue: Queue) -> String { queue.swiftName + "Handler" }

    private func status(_ rule: Rule) -> String {
        spec.statusEntry(rule.onViolation).map { ".\($0.swiftName)" } ?? "nil"
    }

    private func rule(_ id: String) -> Rule { spec.rules.first { $0.id == id }! }

    private func emitHandler(_ queue: Queue, _ p: inout CodePrinter) {
        p.doc("What the device does with each \(queue.name) request, one method per opcode and layout of the spec.")
        p.doc("An opcode added to the YAML adds a method here, so the device does not compile until it handles it.")
        p.doc("`\(queue.swiftName).dispatch` calls exactly one of them, or `refuse`, per request.")
        p.block("public protocol \(handlerName(queue))") { p in
            p.line("associatedtype Output")
            p.line("associatedtype Failure: Error")
            p.doc(
                "A request the generated checks refused: the first rule it breaks, the field and the status to answer.")
            p.line("func refuse(_ violation: RuleViolation, frame: \(queue.swiftName).Frame?) -> Failure")
            for op in queue.ops {
                for c in requests.layoutCases(op) {
                    p.doc("`\(op.opcode.cName)`, \(c.layouts.joined(separator: " or ")) layout.")
                    let vlf = c.vlf.map { ", _ vlf: \($0.swiftName)" } ?? ""
                    p.line(
                        "func \(c.name)(_ frame: \(queue.swiftName).Frame, _ flf: \(c.flf.swiftName)\(vlf)) throws(Failure) -> Output"
                    )
                }
            }
        }
    }

    private func emitEntryPoint(_ queue: Queue, _ p: inout CodePrinter) {
        let header = spec.layout(queue.header)!
        let opcodeField = header.field(queue.opcodeField)!.swiftName
        let opcodeRead = opcodeRawRead(header.field(queue.opcodeField)!)
        let framing = rule(queue.framingRule)
        let opcodeRule = Rule.opcodeRule(of: queue, in: spec.rules)!
        let largest =
            queue.ops.flatMap { op in [op.flf] + (op.stateless.map { [$0.flf] } ?? []) }
            .map { spec.layout($0)!.size }.max() ?? 0
        p.block("extension \(queue.swiftName)") { p in
            p.doc("Where a parsed request sits: its header, its layout and the offset of its vlf in the readable part.")
            p.block("public struct Frame: Sendable") { p in
                p.line("public var header: \(header.swiftName)")
                p.line("public var layout: RequestLayout")
                p.line("public var vlfStart: Int")
                p.line()
                p.line("@inlinable")
                p.block("public init(header: \(header.swiftName), layout: RequestLayout, vlfStart: Int)") { p in
                    p.line("self.header = header")
                    p.line("self.layout = layout")
                    p.line("self.vlfStart = vlfStart")
                }
            }
            p.line()
            p.doc("Bytes of scratch `dispatch` needs: the header and the largest fixed-length part.")
            p.line("public static let prefixCapacity = headerSize + \(max(largest, queue.legacyFLFSize))")
            p.line()
            p.doc("A request whose parts do not fit its buffers (`\(framing.id)`).")
            p.line("@inlinable")
            p.block("public static func framingViolation(_ field: String) -> RuleViolation") { p in
                p.line("RuleViolation(rule: .\(framing.swiftName), field: field, status: \(status(framing)))")
            }
            p.line()
            p.doc("A request whose opcode this queue does not carry (`\(opcodeRule.id)`).")
            p.line("@inlinable")
            p.block("public static var undefinedOpcodeViolation: RuleViolation") { p in
                p.line(
                    "RuleViolation(rule: .\(opcodeRule.swiftName), field: \(swiftString(queue.opcodeField)), status: \(status(opcodeRule)))"
                )
            }
            p.line()
            p.doc("Reads the header and fixed-length part of one request from `bytes` into `scratch` (copied once: the")
            p.doc(
                "driver cannot change them afterwards), parses them for `features`, applies every generated rule that bears"
            )
            p.doc(
                "on them (header, fixed part, slot members, and that the vlf and outcome fit the buffers), then calls the"
            )
            p.doc(
                "handler's method for the request, or `refuse` with the first violation. An opcode that `revision` does not"
            )
            p.doc("define is refused like an undefined one.")
            p.line("@inlinable")
            p.line("public static func dispatch<Bytes: RequestBytes, Handler: \(handlerName(queue))>(")
            p.line("    _ bytes: Bytes, features: CryptoFeatures, revision: SpecRevision = .newest,")
            p.line("    scratch: UnsafeMutableRawBufferPointer, to handler: Handler")
            p.block(") throws(Handler.Failure) -> Handler.Output") { p in
                p.line(
                    "precondition(scratch.count >= prefixCapacity, \"dispatch scratch is smaller than prefixCapacity\")"
                )
                p.line("// One copy for the header and a fixed part of up to the legacy size (drivers put both in one")
                p.line("// buffer; a copy past it would cross into the next), a second only for a larger fixed part.")
                p.line("// Fewer readable bytes are refused as each part turns out not to fit.")
                p.line("let copied = min(bytes.readableLength, headerSize + legacyFLFSize)")
                p.line(
                    "guard bytes.read(at: 0, into: UnsafeMutableRawBufferPointer(rebasing: scratch[0..<copied])) else {"
                )
                p.line("    throw handler.refuse(framingViolation(\"header\"), frame: nil)")
                p.line("}")
                p.line("// The header as `\(header.swiftName)(from:)` reads it: all of it, or the framing violation.")
                p.line("guard copied >= \(header.swiftName).size else {")
                p.line("    throw handler.refuse(framingViolation(\"header\"), frame: nil)")
                p.line("}")
                p.line("let headerReader = WireReader(UnsafeRawBufferPointer(rebasing: scratch[0..<copied]))")
                p.line("// One switch on the opcode: each case's function has its opcode as a constant, and reads,")
                p.line("// decodes, checks and calls the handler's method for it.")
                p.block("switch \(opcodeRead)") { p in
                    for op in queue.ops {
                        p.line(
                            "case \(SwiftTypes.hex(op.opcode.value)) where Opcode.\(op.opcode.swiftName).isDefined(in: revision):"
                        )
                        p.line(
                            "    return try \(opFunction(op))(bytes, features: features, scratch: scratch, copied: copied, to: handler)"
                        )
                    }
                    p.indented("default:") { p in
                        p.line(
                            "// Not this queue's opcode, or not one of the device's revision: refused as the revision, the"
                        )
                        p.line("// header's rules and an unknown layout refuse it.")
                        p.line("let header = \(header.swiftName)(unchecked: headerReader, at: 0)")
                        p.line("let frame = Frame(header: header, layout: .legacy, vlfStart: headerSize)")
                        emitHeaderChecks(opcodeField: opcodeField, &p)
                        p.line("throw handler.refuse(undefinedOpcodeViolation, frame: frame)")
                    }
                }
            }
            for op in queue.ops {
                p.line()
                p.doc(
                    "`dispatch` of a request whose opcode is `\(op.opcode.cName)`, which the device's revision defines, and whose"
                )
                p.doc(
                    "first `copied` bytes (the whole header) are in `scratch`. The header's `\(queue.opcodeField)` is a constant here,"
                )
                p.doc(
                    "so its rules, the layout and the fixed part's size (all inlined) fold to this opcode's. A function of"
                )
                p.doc("its own, not a case of `dispatch`: in one function that large the optimizer stops inlining.")
                p.line("@inlinable")
                p.line("static func \(opFunction(op))<Bytes: RequestBytes, Handler: \(handlerName(queue))>(")
                p.line(
                    "    _ bytes: Bytes, features: CryptoFeatures, scratch: UnsafeMutableRawBufferPointer, copied: Int,"
                )
                p.line("    to handler: Handler")
                p.block(") throws(Handler.Failure) -> Handler.Output") { p in
                    emitOpCase(queue, op, header: header, opcodeField: opcodeField, &p)
                }
            }
            p.line()
            p.doc(
                "The framing violation, if the vlf's readable segments do not fit the readable part after the fixed part,"
            )
            p.doc("or its writable segments and the smallest outcome do not fit the writable part.")
            p.line("@inlinable")
            p.block(
                "static func fit<Bytes: RequestBytes>(_ bytes: Bytes, _ frame: Frame, readable: Int, writable: Int, outcome: Int) -> RuleViolation?"
            ) { p in
                p.line("if readable > bytes.readableLength - frame.vlfStart { return framingViolation(\"op_vlf\") }")
                p.line("if writable > bytes.writableLength - outcome { return framingViolation(\"outcome\") }")
                p.line("return nil")
            }
        }
    }

    /// The function `dispatch` calls for a request with `op`'s opcode.
    private func opFunction(_ op: Op) -> String { "dispatch" + Naming.upperCamel(op.opcode.name) }

    /// The raw value of the header's opcode field, read from `headerReader` as its decoder reads it.
    private func opcodeRawRead(_ field: Field) -> String {
        guard case .scalar(let scalar) = field.kind, let group = field.enumGroup.flatMap(spec.group) else {
            fatalError("\(field.name): a queue's opcode field is a scalar of an enum group")
        }
        let read = SwiftTypes(spec: spec).uncheckedRead(scalar, at: "\(field.offset)").replacingOccurrences(
            of: "reader.", with: "headerReader.")
        let types = SwiftTypes(spec: spec)
        return types.scalarSwiftType(scalar) == types.rawType(group) ? read : "\(types.rawType(group))(\(read))"
    }

    /// The checks every request's header gets before its layout is known: the opcode is defined in the
    /// device's revision, and the header's rules hold.
    private func emitHeaderChecks(opcodeField: String, _ p: inout CodePrinter) {
        p.line("// An opcode the device's revision does not define is as undefined as any other value.")
        p.line(
            "guard header.\(opcodeField).isDefined(in: revision) else { throw handler.refuse(undefinedOpcodeViolation, frame: frame) }"
        )
        p.line(
            "if let violation = header.violation(features: features) { throw handler.refuse(violation, frame: frame) }"
        )
    }

    /// One opcode's case of dispatch: the header with the opcode as a constant, its checks, the layout
    /// and the fixed part (read, decoded, checked), the vlf's fit, then the handler's method.
    private func emitOpCase(
        _ queue: Queue, _ op: Op, header: StructLayout, opcodeField: String, _ p: inout CodePrinter
    ) {
        p.line(
            "let header = \(header.swiftName)(unchecked: WireReader(UnsafeRawBufferPointer(scratch)), at: 0, \(opcodeField): .\(op.opcode.swiftName))"
        )
        p.line("var frame = Frame(header: header, layout: .legacy, vlfStart: headerSize)")
        p.line(
            "if let violation = header.violation(features: features) { throw handler.refuse(violation, frame: frame) }"
        )
        p.line("guard let layout = layout(for: header, features: features),")
        p.line(
            "      let size = flfSize(opcode: header.\(opcodeField), layout: layout) else { throw handler.refuse(undefinedOpcodeViolation, frame: frame) }"
        )
        p.line("frame.layout = layout")
        p.line("let end = headerSize + size")
        p.line("frame.vlfStart = end")
        p.line(
            "if end > copied, !bytes.read(at: copied, into: UnsafeMutableRawBufferPointer(rebasing: scratch[copied..<end])) {"
        )
        p.line("    throw handler.refuse(framingViolation(\"op_flf\"), frame: frame)")
        p.line("}")
        p.line("var reader = WireReader(UnsafeRawBufferPointer(rebasing: scratch[headerSize..<end]))")
        let outcome = minOutcome(op)
        let cases = requests.layoutCases(op).reversed()
        for c in cases {
            let stateless = c.layouts == ["stateless"]
            if stateless {
                p.block("if layout == .stateless") { p in emitCall(c, outcome: outcome, &p) }
            } else {
                emitCall(c, outcome: outcome, &p)
            }
        }
    }

    /// Decodes and checks the fixed part of one layout case, checks the vlf's fit, and calls its method.
    private func emitCall(
        _ c: (name: String, flf: StructLayout, vlf: StructLayout?, layouts: [String]), outcome: String,
        _ p: inout CodePrinter
    ) {
        p.line("guard let flf = try? \(c.flf.swiftName)(from: &reader) else {")
        p.line("    throw handler.refuse(framingViolation(\"op_flf\"), frame: frame)")
        p.line("}")
        p.line("if let violation = flf.violation(features: features) { throw handler.refuse(violation, frame: frame) }")
        if let vlf = c.vlf {
            p.line("let vlf = \(vlf.swiftName)(flf)")
            p.line(
                "if let violation = fit(bytes, frame, readable: vlf.readableLength, writable: vlf.writableLength, outcome: \(outcome)) {"
            )
            p.line("    throw handler.refuse(violation, frame: frame)")
            p.line("}")
            p.line("return try handler.\(c.name)(frame, flf, vlf)")
        } else {
            p.line("if let violation = fit(bytes, frame, readable: 0, writable: 0, outcome: \(outcome)) {")
            p.line("    throw handler.refuse(violation, frame: frame)")
            p.line("}")
            p.line("return try handler.\(c.name)(frame, flf)")
        }
    }

    /// The size of the smallest outcome layout of `op` (the seed's or a compat one).
    private func minOutcome(_ op: Op) -> String {
        let layouts = ([op.outcome] + op.outcomeCompat).map { spec.layout($0)! }
        return "\(layouts.min { $0.size < $1.size }!.swiftName).size"
    }

    /// One outcome layout of the queue in some revision: the Swift type of its form there.
    private struct OutcomeForm {
        var caseName: String
        var typeName: String
        var layout: StructLayout
    }

    /// The queue's outcome layouts in revision `index`, largest first.
    private func outcomeForms(_ queue: Queue, in index: Int) -> [OutcomeForm] {
        guard let revisionQueue = forms.specs[index].queues.first(where: { $0.name == queue.name }) else { return [] }
        var names: [String] = [revisionQueue.outcome]
        for op in revisionQueue.ops {
            for name in [op.outcome] + op.outcomeCompat where !names.contains(name) { names.append(name) }
        }
        return names.map { name in
            let typeName = forms.typeName(name, in: index)
            return OutcomeForm(
                caseName: Naming.lowerCamelFromType(typeName), typeName: typeName,
                layout: forms.specs[index].layout(name)!)
        }.sorted { $0.layout.size > $1.layout.size }
    }

    /// Every outcome form of the queue in any revision, largest first.
    private func allOutcomeForms(_ queue: Queue) -> [OutcomeForm] {
        var result: [OutcomeForm] = []
        for index in forms.specs.indices.reversed() {
            for form in outcomeForms(queue, in: index) where !result.contains(where: { $0.typeName == form.typeName }) {
                result.append(form)
            }
        }
        return result.sorted { $0.layout.size > $1.layout.size }
    }

    private func emitOutcome(_ queue: Queue, _ p: inout CodePrinter) {
        let all = allOutcomeForms(queue)
        p.block("extension \(queue.swiftName)") { p in
            p.doc("The outcome layouts of the \(queue.name) in every revision, largest first.")
            p.block("public enum Outcome: CaseIterable, Sendable") { p in
                for form in all { p.line("case \(form.caseName)") }
                p.line()
                p.block("public var size: Int") { p in
                    p.block("switch self") { p in
                        for form in all { p.line("case .\(form.caseName): return \(form.typeName).size") }
                    }
                }
                p.line()
                p.doc("The outcome's bytes: `status`, and `sessionId` where the layout has a session id.")
                p.block("public func encoded(status: Status, sessionId: UInt64) -> [UInt8]") { p in
                    p.block("switch self") { p in
                        for form in all {
                            let arguments = form.layout.fields.filter { !$0.isReserved }.map { field in
                                field.name == "session-id" ? "sessionId: sessionId" : "status: status"
                            }
                            p.line(
                                "case .\(form.caseName): return \(form.typeName)(\(arguments.joined(separator: ", "))).encoded()"
                            )
                        }
                    }
                }
            }
            p.line()
            p.doc(
                "The outcome layout for a request with `opcode` whose writable part has `capacity` bytes, as `revision`"
            )
            p.doc(
                "defines it: the op's layout if it fits, else the first compat layout that fits, else (and for an opcode"
            )
            p.doc("the queue does not carry) the largest of the revision's layouts that fits. nil when none fits.")
            p.block(
                "public static func outcome(opcode: Opcode?, capacity: Int, revision: SpecRevision = .newest) -> Outcome?"
            ) { p in
                p.line("let preferred: [Outcome]")
                p.line("let layouts: [Outcome]")
                p.block("switch revision") { p in
                    for index in forms.specs.indices {
                        p.indented("case \(forms.caseName(index)):") { p in
                            let revisionForms = outcomeForms(queue, in: index)
                            p.line("layouts = [\(revisionForms.map { "." + $0.caseName }.joined(separator: ", "))]")
                            emitPreferred(queue, in: index, &p)
                        }
                    }
                }
                p.line("return (preferred + layouts).first { $0.size <= capacity }")
            }
            p.line()
            p.doc(
                "Offset of the outcome in a writable part of `writableLength` bytes holding `outcome`: at its "
                    + (queue.outcomeAtEnd ? "end" : "start") + " (Spec/requests.yaml `outcome-at`).")
            p.line("@inlinable")
            p.block("public static func outcomeOffset(_ outcome: Outcome, writableLength: Int) -> Int?") { p in
                p.line("guard writableLength >= outcome.size else { return nil }")
                p.line(queue.outcomeAtEnd ? "return writableLength - outcome.size" : "return 0")
            }
        }
    }

    /// `preferred = […]` per opcode, as revision `index` defines the outcome of each op.
    private func emitPreferred(_ queue: Queue, in index: Int, _ p: inout CodePrinter) {
        guard let revisionQueue = forms.specs[index].queues.first(where: { $0.name == queue.name }) else {
            p.line("preferred = []")
            return
        }
        p.block("switch opcode") { p in
            var groups: [String: [String]] = [:]
            var order: [String] = []
            for op in revisionQueue.ops {
                let list = ([op.outcome] + op.outcomeCompat)
                    .map { "." + Naming.lowerCamelFromType(forms.typeName($0, in: index)) }.joined(separator: ", ")
                if groups[list] == nil { order.append(list) }
                groups[list, default: []].append(".\(Naming.lowerCamel(op.opcode.history.identity))?")
            }
            for list in order { p.line("case \(groups[list]!.joined(separator: ", ")): preferred = [\(list)]") }
            p.line("default: preferred = []")
        }
    }

    private func emitChecks(_ p: inout CodePrinter) {
        var checks: [String] = []
        for rule in spec.rules { if let check = rule.check, !checks.contains(check) { checks.append(check) } }
        p.doc("The checks the hand-written device core makes (Spec/rules.yaml `check:`). Each is bound, per opcode, to")
        p.doc("the rule it enforces, so the status and the rule counted come from the YAML.")
        p.block("public enum DeviceCheck: String, CaseIterable, Sendable") { p in
            for check in checks {
                let name = Naming.lowerCamel(check)
                p.line(name == check ? "case \(name)" : "case \(name) = \(swiftString(check))")
            }
            p.line()
            p.doc(
                "The rule a request with `opcode` breaks when this check fails, with its status; nil when none is bound."
            )
            p.block("public func violation(opcode: Opcode) -> RuleViolation?") { p in
                p.block("switch (self, opcode)") { p in
                    for rule in spec.rules {
                        guard let check = rule.check else { continue }
                        let ops = rule.checkOps.compactMap { name in
                            spec.groups.first { $0.kind == .opcode }?.entry(name)
                        }
                        let patterns = ops.map { "(.\(Naming.lowerCamel(check)), .\($0.swiftName))" }.joined(
                            separator: ", ")
                        p.line("case \(patterns):")
                        p.line(
                            "    return RuleViolation(rule: .\(rule.swiftName), field: \(swiftString(check)), status: \(status(rule)))"
                        )
                    }
                    p.line("default: return nil")
                }
            }
        }
    }
}
