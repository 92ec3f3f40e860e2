import SpecResolve

/// Structs.swift: every fixed-length struct with its codec; slots as enums of members.
struct StructsEmitter {
    let spec: ResolvedSpec
    var types: SwiftTypes { SwiftTypes(spec: spec) }

    /// Every fixed struct in its newest form, then each earlier form that differs (`earlier`), with the
    /// revisions it belongs to.
    func structs(earlier: [(revision: Int, spec: ResolvedSpec, layout: StructLayout)] = []) -> String {
        var p = CodePrinter()
        for layout in spec.structs where !layout.isVLF {
            emit(layout, &p)
            p.line()
        }
        for form in earlier {
            let emitter = StructsEmitter(spec: form.spec)
            let first = spec.revisions[form.revision].id
            let next = spec.structs.first { $0.history.identity == form.layout.history.identity }
            p.doc(
                "The form of `\(form.layout.cName)` from \(first) until it changed\(next.map { " (newest form: `\($0.swiftName)`)" } ?? "")."
            )
            p.doc("Earlier forms carry no validators: the device checks requests in their newest form.")
            emitter.emit(form.layout, &p)
            p.block("extension \(form.layout.swiftName)") { p in
                p.line("public func violation(features: CryptoFeatures) -> RuleViolation? { nil }")
            }
            p.line()
        }
        return p.text
    }

    private func emit(_ layout: StructLayout, _ p: inout CodePrinter) {
        let revision = spec.revisions[layout.history.since].id
        p.doc(
            "`struct \(layout.cName)`, \(layout.size) bytes\(layout.section.map { " (section: \($0))" } ?? ""); since \(revision)."
        )
        if let doc = layout.notes.doc { p.doc(doc) }
        if let errata = layout.notes.errata { p.doc("Errata: \(errata)") }
        if let compat = layout.notes.compat { p.doc("Compat: \(compat)") }
        p.block("public struct \(layout.swiftName): WireStruct") { p in
            p.line("public static let size = \(layout.size)")
            p.line()
            for field in layout.fields {
                p.doc(
                    "`\(field.cName)` at offset \(field.offset), \(field.size) bytes\(field.isReserved ? " (reserved)" : "")\(field.notes.doc.map { ": \($0)" } ?? "")"
                )
                if let compat = field.notes.compat { p.doc("Compat: \(compat)") }
                if let errata = field.notes.errata { p.doc("Errata: \(errata)") }
                p.line("public var \(field.swiftName): \(types.fieldType(field, in: layout))")
            }
            for field in layout.fields {
                guard case .slot(let slot) = field.kind else { continue }
                p.line()
                p.doc(
                    "The member of the \(slot.size)-byte slot `\(field.cName)`, chosen by `\(slot.selector)`; bytes after the member are ignored."
                )
                p.block("public enum \(Naming.upperCamel(field.name)): Equatable, Sendable") { p in
                    for slotCase in slot.cases {
                        p.line("case \(slotCase.swiftName)(\(spec.layout(slotCase.structName)!.swiftName))")
                    }
                    p.doc("The selector names no member: the slot's content is ignored.")
                    p.line("case unused")
                }
            }
            p.line()
            emitInit(layout, &p)
            p.line()
            emitDecode(layout, &p)
            p.line()
            emitEncode(layout, &p)
        }
    }

    private func defaultValue(_ field: Field) -> String {
        switch field.kind {
        case .scalar:
            if let group = field.enumGroup.flatMap(spec.group) { return "\(group.swiftName)(rawValue: 0)" }
            if field.flagsGroup != nil { return "[]" }
            return "0"
        case .nested(let name): return "\(spec.layout(name)!.swiftName)()"
        case .array(let array):
            guard let count = array.count else { return "[]" }
            return "[\(types.elementType(array))](repeating: \(types.elementDefault(array)), count: \(count))"
        case .slot: return ".unused"
        case .segment, .selectFrom: return "VlfSegment()"
        }
    }

    private func emitInit(_ layout: StructLayout, _ p: inout CodePrinter) {
        let params = layout.fields.map { "\($0.swiftName): \(types.fieldType($0, in: layout)) = \(defaultValue($0))" }
        if params.isEmpty {
            p.line("public init() {}")
            return
        }
        p.line("public init(")
        for (index, param) in params.enumerated() { p.line("    \(param)\(index < params.count - 1 ? "," : "")") }
        p.block(")") { p in
            for field in layout.fields { p.line("self.\(field.swiftName) = \(field.swiftName)") }
        }
    }

    private func emitDecode(_ layout: StructLayout, _ p: inout CodePrinter) {
        p.block("public init(from reader: inout WireReader) throws(WireError)") { p in
            // Slots are read as sub-readers first: their selector may come after them.
            for field in layout.fields {
                switch field.kind {
                case .scalar(let scalar):
                    p.line("\(field.swiftName) = \(types.decodeExpression(field, scalar))")
                case .nested(let name):
                    p.line("\(field.swiftName) = try \(spec.layout(name)!.swiftName)(from: &reader)")
                case .array(let array):
                    let count = array.count.map(String.init) ?? "Int(\(layout.field(array.countFrom!)!.swiftName))"
                    p.line("var \(field.swiftName)Elements: \(types.fieldType(field, in: layout)) = []")
                    p.block("for _ in 0..<\(count)") { p in
                        p.line("\(field.swiftName)Elements.append(\(types.elementDecode(array)))")
                    }
                    p.line("\(field.swiftName) = \(field.swiftName)Elements")
                case .slot(let slot):
                    p.line("var \(field.swiftName)Bytes = try reader.subReader(\(slot.size))")
                case .segment, .selectFrom:
                    break
                }
            }
            for field in layout.fields {
                guard case .slot(let slot) = field.kind, let selector = layout.field(slot.selector) else { continue }
                let selectorValue =
                    (selector.enumGroup ?? selector.flagsGroup) != nil
                    ? "\(selector.swiftName).rawValue" : selector.swiftName
                p.block("switch \(selectorValue)") { p in
                    for slotCase in slot.cases {
                        p.line(
                            "case \(SwiftTypes.hex(slotCase.value)): \(field.swiftName) = .\(slotCase.swiftName)(try \(spec.layout(slotCase.structName)!.swiftName)(from: &\(field.swiftName)Bytes))"
                        )
                    }
                    p.line("default: \(field.swiftName) = .unused")
                }
            }
        }
    }

    private func emitEncode(_ layout: StructLayout, _ p: inout CodePrinter) {
        p.block("public func encode(into writer: inout WireWriter)") { p in
            for field in layout.fields {
                switch field.kind {
                case .scalar(let scalar):
                    p.line(types.encodeStatement(field, scalar, value: field.swiftName))
                case .nested:
                    p.line("\(field.swiftName).encode(into: &writer)")
                case .array(let array):
                    if let count = array.count {
                        p.doc("Exactly \(count) elements: missing ones are written as zero, extra ones are dropped.")
                        p.block("for index in 0..<\(count)") { p in
                            let element =
                                "(index < \(field.swiftName).count ? \(field.swiftName)[index] : \(types.elementDefault(array)))"
                            p.line(types.elementEncode(array, value: element))
                        }
                    } else {
                        p.block("for element in \(field.swiftName)") { p in
                            p.line(types.elementEncode(array, value: "element"))
                        }
                    }
                case .slot(let slot):
                    p.block("do") { p in
                        p.line("let start = writer.bytes.count")
                        p.block("switch \(field.swiftName)") { p in
                            for slotCase in slot.cases {
                                p.line("case .\(slotCase.swiftName)(let member): member.encode(into: &writer)")
                            }
                            p.line("case .unused: break")
                        }
                        p.line("writer.pad(from: start, to: \(slot.size))")
                    }
                case .segment, .selectFrom:
                    break
                }
            }
        }
    }
}
