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

    /// Whether every field of `layout` sits at a constant offset within its size: no counted array in
    /// it, in a nested struct or in a slot member.
    private func isFixedSize(_ layout: StructLayout) -> Bool {
        layout.fields.allSatisfy { field in
            switch field.kind {
            case .scalar: return true
            case .nested(let name): return isFixedSize(spec.layout(name)!)
            case .array(let array):
                guard array.count != nil else { return false }
                if case .nested(let name) = array.element { return isFixedSize(spec.layout(name)!) }
                return true
            case .slot(let slot): return slot.cases.allSatisfy { isFixedSize(spec.layout($0.structName)!) }
            case .segment, .selectFrom: return false
            }
        }
    }

    /// The sizes of the reads a field-by-field decode of a fixed-size `layout` makes, in order: a
    /// slot is one read (its member is decoded from those bytes).
    private func readSizes(_ layout: StructLayout) -> [Int] {
        layout.fields.flatMap { field -> [Int] in
            switch field.kind {
            case .scalar(let scalar): return [scalar.size]
            case .nested(let name): return readSizes(spec.layout(name)!)
            case .array(let array):
                let element: [Int]
                switch array.element {
                case .scalar(let scalar): element = [scalar.size]
                case .nested(let name): element = readSizes(spec.layout(name)!)
                }
                return Array([[Int]](repeating: element, count: array.count ?? 0).joined())
            case .slot(let slot): return [slot.size]
            case .segment, .selectFrom: return []
            }
        }
    }

    private func emitDecode(_ layout: StructLayout, _ p: inout CodePrinter) {
        guard isFixedSize(layout) else { return emitReadingDecode(layout, &p) }
        // One bounds check for the whole struct; a short input throws what the field-by-field reads did.
        let sizes = readSizes(layout)
        precondition(sizes.reduce(0, +) == layout.size, "\(layout.name): fields do not tile the struct")
        var runs: [(size: Int, count: Int)] = []
        for size in sizes {
            if let last = runs.last, last.size == size {
                runs[runs.count - 1].count += 1
            } else {
                runs.append((size, 1))
            }
        }
        let fields = runs.map { "(\($0.size), \($0.count))" }.joined(separator: ", ")
        // Always inlined, both: left to the optimizer, dispatch kept the decodes as calls that copy the
        // struct out through memory (~140 instructions a data request more in callgrind).
        p.line("@inlinable @inline(__always)")
        p.block("public init(from reader: inout WireReader) throws(WireError)") { p in
            p.line("guard let start = reader.take(\(layout.size)) else { throw reader.truncation([\(fields)]) }")
            p.line("self.init(unchecked: reader, at: start)")
        }
        p.line()
        p.doc(
            "Decodes the \(layout.size) bytes at `offset` of `reader`'s bytes, which the caller has bounds-checked."
        )
        p.line("@inlinable @inline(__always)")
        p.block("init(unchecked reader: WireReader, at offset: Int)") { p in emitUncheckedBody(layout, given: nil, &p) }
        // A queue's header also decodes with the opcode given: dispatch switches on the opcode's raw value
        // and passes each case's constant, so the header is not read through the opcode's 20-odd-case init.
        if let queue = spec.queues.first(where: { $0.header == layout.name }),
            let given = layout.field(queue.opcodeField),
            case .scalar = given.kind
        {
            p.line()
            p.doc(
                "Decodes the \(layout.size) bytes at `offset` of `reader`'s bytes, which the caller has bounds-checked, with"
            )
            p.doc("`\(given.swiftName)` as the caller has read it from them.")
            p.line("@inlinable @inline(__always)")
            p.block(
                "init(unchecked reader: WireReader, at offset: Int, \(given.swiftName): \(types.fieldType(given, in: layout)))"
            ) { p in emitUncheckedBody(layout, given: given, &p) }
        }
    }

    /// The field-by-field decode of a fixed-size `layout` at `offset`; `given` is a scalar field the
    /// initializer takes as its parameter of the same name instead of reading it.
    private func emitUncheckedBody(_ layout: StructLayout, given: Field?, _ p: inout CodePrinter) {
        for field in layout.fields {
            let at = field.offset == 0 ? "offset" : "offset + \(field.offset)"
            switch field.kind {
            case .scalar where field.name == given?.name:
                p.line("self.\(field.swiftName) = \(field.swiftName)")
            case .scalar(let scalar):
                let read = types.uncheckedRead(scalar, at: at)
                p.line("\(field.swiftName) = \(types.decodeExpression(field, scalar, read: read))")
            case .nested(let name):
                p.line("\(field.swiftName) = \(spec.layout(name)!.swiftName)(unchecked: reader, at: \(at))")
            case .array(let array):
                let element = array.elementSize == 1 ? "\(at) + index" : "\(at) + index * \(array.elementSize)"
                p.line(
                    "\(field.swiftName) = (0..<\(array.count!)).map { index in \(types.elementDecode(array, at: element)) }"
                )
            case .slot, .segment, .selectFrom:
                break
            }
        }
        // The selector may come after its slot: members are decoded once every scalar is.
        for field in layout.fields {
            guard case .slot(let slot) = field.kind, let selector = layout.field(slot.selector) else { continue }
            let at = field.offset == 0 ? "offset" : "offset + \(field.offset)"
            p.block("switch \(selectorValue(selector))") { p in
                for slotCase in slot.cases {
                    p.line(
                        "case \(SwiftTypes.hex(slotCase.value)): \(field.swiftName) = .\(slotCase.swiftName)(\(spec.layout(slotCase.structName)!.swiftName)(unchecked: reader, at: \(at)))"
                    )
                }
                p.line("default: \(field.swiftName) = .unused")
            }
        }
    }

    private func selectorValue(_ selector: Field) -> String {
        (selector.enumGroup ?? selector.flagsGroup) != nil ? "\(selector.swiftName).rawValue" : selector.swiftName
    }

    /// A struct with a counted array reads field by field, each read bounds-checked.
    private func emitReadingDecode(_ layout: StructLayout, _ p: inout CodePrinter) {
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
                p.block("switch \(selectorValue(selector))") { p in
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
