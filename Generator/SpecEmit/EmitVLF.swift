import SpecResolve

/// Vlf.swift: the variable-length parts as segment maps computed from their fixed part.
/// No bytes are copied: a segment is an offset and a length within the device-readable
/// or device-writable part of the request.
struct VLFEmitter {
    let spec: ResolvedSpec

    func vlfs() -> String {
        var p = CodePrinter()
        for layout in spec.structs where layout.isVLF {
            if layout.fields.count == 1, case .selectFrom(let slotName) = layout.fields[0].kind {
                emitSelected(layout, slotName, &p)
            } else {
                emitSegments(layout, &p)
            }
            p.line()
        }
        return p.text
    }

    private func header(_ layout: StructLayout, _ p: inout CodePrinter) {
        let of = spec.layout(layout.of!)!
        p.doc(
            "`struct \(layout.cName)`: the variable-length part whose lengths come from `\(of.swiftName)`\(layout.section.map { " (seed: \($0))" } ?? "")."
        )
        if let errata = layout.notes.errata { p.doc("Errata: \(errata)") }
        if let compat = layout.notes.compat { p.doc("Compat: \(compat)") }
    }

    private func emitSegments(_ layout: StructLayout, _ p: inout CodePrinter) {
        let of = spec.layout(layout.of!)!
        header(layout, &p)
        p.block("public struct \(layout.swiftName): Equatable, Sendable") { p in
            for field in layout.fields {
                guard case .segment(let segment) = field.kind else { continue }
                p.doc("`\(field.cName)[\(segment.pathText)]`, device-\(segment.direction.rawValue).")
                p.line("public var \(field.swiftName): VlfSegment")
            }
            p.doc("Bytes of the device-readable part of the vlf.")
            p.line("public var readableLength: Int")
            p.doc("Bytes of the device-writable part of the vlf.")
            p.line("public var writableLength: Int")
            p.line()
            // Inlinable, like the decoders: dispatch computes the vlf of every request.
            p.line("@inlinable")
            p.block("public init(_ flf: \(of.swiftName))") { p in
                let directions = Set(
                    layout.fields.compactMap { field -> Direction? in
                        if case .segment(let segment) = field.kind { return segment.direction }
                        return nil
                    })
                p.line("\(directions.contains(.readable) ? "var" : "let") readable = 0")
                p.line("\(directions.contains(.writable) ? "var" : "let") writable = 0")
                for field in layout.fields {
                    guard case .segment(let segment) = field.kind else { continue }
                    let counter = segment.direction == .readable ? "readable" : "writable"
                    p.line(
                        "\(field.swiftName) = VlfSegment(offset: \(counter), length: \(lengthExpression(segment.path, root: of)))"
                    )
                    p.line("\(counter) += \(field.swiftName).length")
                }
                p.line("readableLength = readable")
                p.line("writableLength = writable")
            }
            p.line()
            p.doc("The segments in wire order, named.")
            let named = layout.fields.compactMap { field -> String? in
                guard case .segment(let segment) = field.kind else { return nil }
                return
                    "NamedVlfSegment(name: \(swiftString(field.name)), direction: .\(segment.direction.rawValue), segment: \(field.swiftName))"
            }
            p.block("public var segments: [NamedVlfSegment]") { p in
                p.line("[")
                for entry in named { p.line("    \(entry),") }
                p.line("]")
            }
        }
    }

    /// `Int(flf.a.b)`, or a closure yielding 0 when the path crosses an unselected slot member.
    func lengthExpression(_ path: [PathStep], root: StructLayout) -> String {
        var current = root
        var access = "flf"
        var conditions: [String] = []
        for step in path {
            switch step {
            case .field(let name):
                let field = current.field(name)!
                access += "." + field.swiftName
                if case .nested(let nested) = field.kind { current = spec.layout(nested)! }
            case .slotMember(let slotName, let caseName):
                let field = current.field(slotName)!
                guard case .slot(let slot) = field.kind,
                    let slotCase = slot.cases.first(where: { $0.caseName == caseName })
                else { continue }
                let binding = "member\(conditions.count)"
                conditions.append("case .\(slotCase.swiftName)(let \(binding)) = \(access).\(field.swiftName)")
                access = binding
                current = spec.layout(slotCase.structName)!
            }
        }
        if conditions.isEmpty { return "Int(\(access))" }
        return "{ if \(conditions.joined(separator: ", ")) { return Int(\(access)) }; return 0 }()"
    }

    private func emitSelected(_ layout: StructLayout, _ slotName: String, _ p: inout CodePrinter) {
        let of = spec.layout(layout.of!)!
        guard let slotField = of.field(slotName), case .slot(let slot) = slotField.kind else { return }
        header(layout, &p)
        p.doc("The vlf of the member selected in `\(slotField.cName)`.")
        p.block("public enum \(layout.swiftName): Equatable, Sendable") { p in
            for slotCase in slot.cases {
                if let vlf = slotCase.vlf { p.line("case \(slotCase.swiftName)(\(spec.layout(vlf)!.swiftName))") }
            }
            p.doc("No member is selected (or it has no vlf): the part is empty.")
            p.line("case unused")
            p.line()
            p.line("@inlinable")
            p.block("public init(_ flf: \(of.swiftName))") { p in
                p.block("switch flf.\(slotField.swiftName)") { p in
                    for slotCase in slot.cases {
                        if let vlf = slotCase.vlf {
                            p.line(
                                "case .\(slotCase.swiftName)(let member): self = .\(slotCase.swiftName)(\(spec.layout(vlf)!.swiftName)(member))"
                            )
                        } else {
                            p.line("case .\(slotCase.swiftName): self = .unused")
                        }
                    }
                    p.line("case .unused: self = .unused")
                }
            }
            for (property, type, empty) in [
                ("readableLength", "Int", "0"), ("writableLength", "Int", "0"), ("segments", "[NamedVlfSegment]", "[]"),
            ] {
                p.line()
                if property != "segments" { p.line("@inlinable") }
                p.block("public var \(property): \(type)") { p in
                    p.block("switch self") { p in
                        for slotCase in slot.cases where slotCase.vlf != nil {
                            p.line("case .\(slotCase.swiftName)(let vlf): return vlf.\(property)")
                        }
                        p.line("case .unused: return \(empty)")
                    }
                }
            }
        }
    }
}
