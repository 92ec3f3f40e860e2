import SpecResolve

/// Catalog.swift: name-based access to every struct (sizes, field offsets, decoding and
/// flattened field values), so tests and tools can run the JSON vectors without
/// knowing each Swift type.
struct CatalogEmitter {
    let forms: RevisionForms
    var spec: ResolvedSpec { forms.newest }

    /// `StructInfo(…)` of a fixed struct, one line per field after the first.
    private func info(_ layout: StructLayout) -> [String] {
        let fields = layout.fields.map {
            "FieldInfo(name: \(swiftString($0.name)), cName: \(swiftString($0.cName)), offset: \($0.offset), size: \($0.size))"
        }
        return ["StructInfo(cName: \(swiftString(layout.cName)), size: \(layout.size), fields: ["]
            + fields.map { "    \($0)," } + ["])"]
    }

    private func emitLayouts(_ structs: [StructLayout], _ p: inout CodePrinter) {
        for layout in structs where !layout.isVLF {
            let lines = info(layout)
            p.line("    \(swiftString(layout.name)): \(lines[0])")
            for line in lines.dropFirst().dropLast() { p.line("    \(line)") }
            p.line("    \(lines.last!),")
        }
    }

    /// Revision `index`'s catalog as the newest one's, minus what it lacks, plus what it names or lays out otherwise.
    private func emitEarlierLayouts(_ index: Int, _ p: inout CodePrinter) {
        let earlier = forms.specs[index].structs.filter { !$0.isVLF }
        let newest = spec.structs.filter { !$0.isVLF }
        p.line("var layouts = Self.layouts")
        for layout in newest where !earlier.contains(where: { $0.name == layout.name && info($0) == info(layout) }) {
            p.line("layouts[\(swiftString(layout.name))] = nil")
        }
        for layout in earlier where !newest.contains(where: { $0.name == layout.name && info($0) == info(layout) }) {
            let lines = info(layout)
            p.line("layouts[\(swiftString(layout.name))] = \(lines[0])")
            for line in lines.dropFirst().dropLast() { p.line(line) }
            p.line(lines.last!)
        }
        p.line("return layouts")
    }

    func catalog() -> String {
        var p = CodePrinter()
        let fixed = spec.structs.filter { !$0.isVLF }
        p.block("public enum WireCatalog") { p in
            p.doc(
                "Every fixed-length struct by spec name, with its size and fields (offset, size), in the newest revision."
            )
            p.line("public static let layouts: [String: StructInfo] = [")
            emitLayouts(spec.structs, &p)
            p.line("]")
            p.line()
            p.doc("The fixed-length structs as `revision` has them: its names, fields, offsets and sizes.")
            p.block("public static func layouts(in revision: SpecRevision) -> [String: StructInfo]") { p in
                p.block("switch revision") { p in
                    for index in forms.specs.indices.dropLast() {
                        p.indented("case \(forms.caseName(index)):") { p in emitEarlierLayouts(index, &p) }
                    }
                    p.line("case \(forms.caseName(forms.specs.count - 1)): return layouts")
                }
            }
            p.line()
            p.doc("Decodes the struct named `name` from `bytes`; nil for an unknown name.")
            p.block(
                "public static func decode(_ name: String, from bytes: [UInt8]) throws(WireError) -> (any WireStruct)?"
            ) { p in
                p.block("switch name") { p in
                    for layout in fixed {
                        p.line("case \(swiftString(layout.name)): return try \(layout.swiftName).decode(bytes)")
                    }
                    p.line("default: return nil")
                }
            }
            p.line()
            p.doc(
                "Decodes the struct named `name` in the form `revision` gives it (its own type where that form differs from the newest, e.g. `DestroySessionInputV23`); nil for a name `revision` does not have."
            )
            p.block(
                "public static func decode(_ name: String, from bytes: [UInt8], in revision: SpecRevision) throws(WireError) -> (any WireStruct)?"
            ) { p in
                p.block("switch revision") { p in
                    for index in forms.specs.indices.dropLast() {
                        p.indented("case \(forms.caseName(index)):") { p in
                            p.block("switch name") { p in
                                for layout in forms.renamed(index).structs where !layout.isVLF {
                                    p.line(
                                        "case \(swiftString(layout.name)): return try \(layout.swiftName).decode(bytes)"
                                    )
                                }
                                p.line("default: return nil")
                            }
                        }
                    }
                    p.line("case \(forms.caseName(forms.specs.count - 1)): return try decode(name, from: bytes)")
                }
            }
        }
        p.line()
        for layout in fixed {
            p.block("extension \(layout.swiftName): FieldReflecting") { p in
                p.block("public func appendFieldValues(prefix: String, into values: inout [String: UInt64])") { p in
                    for field in layout.fields {
                        let key = "prefix + \(swiftString(field.name))"
                        switch field.kind {
                        case .scalar:
                            let wrapped = field.enumGroup != nil || field.flagsGroup != nil
                            p.line("values[\(key)] = UInt64(\(field.swiftName)\(wrapped ? ".rawValue" : ""))")
                        case .nested:
                            p.line("\(field.swiftName).appendFieldValues(prefix: \(key) + \".\", into: &values)")
                        case .array:
                            break  // arrays hold data, not values a rule reads
                        case .slot(let slot):
                            p.block("switch \(field.swiftName)") { p in
                                for slotCase in slot.cases {
                                    p.line(
                                        "case .\(slotCase.swiftName)(let member): member.appendFieldValues(prefix: \(key) + \".\(slotCase.caseName).\", into: &values)"
                                    )
                                }
                                p.line("case .unused: break")
                            }
                        case .segment, .selectFrom:
                            break
                        }
                    }
                }
            }
            p.line()
        }
        return p.text
    }
}
