import SpecResolve

/// Catalog.swift: name-based access to every struct (sizes, field offsets, decoding and
/// flattened field values), so tests and tools can run the JSON vectors without
/// knowing each Swift type.
struct CatalogEmitter {
    let forms: RevisionForms
    var spec: ResolvedSpec { forms.newest }

    private func emitLayouts(_ structs: [StructLayout], _ p: inout CodePrinter) {
        for layout in structs where !layout.isVLF {
            let fields = layout.fields.map { "FieldInfo(name: \(swiftString($0.name)), cName: \(swiftString($0.cName)), offset: \($0.offset), size: \($0.size))" }
            p.line("    \(swiftString(layout.name)): StructInfo(cName: \(swiftString(layout.cName)), size: \(layout.size), fields: [")
            for field in fields { p.line("        \(field),") }
            p.line("    ]),")
        }
    }

    func catalog() -> String {
        var p = CodePrinter()
        let fixed = spec.structs.filter { !$0.isVLF }
        p.block("public enum WireCatalog") { p in
            p.doc("Every fixed-length struct by spec name, with its size and fields (offset, size), in the newest revision.")
            p.line("public static let layouts: [String: StructInfo] = [")
            emitLayouts(spec.structs, &p)
            p.line("]")
            p.line()
            p.doc("The fixed-length structs as `revision` has them: its names, fields, offsets and sizes.")
            p.block("public static func layouts(in revision: SpecRevision) -> [String: StructInfo]") { p in
                p.block("switch revision") { p in
                    for index in forms.specs.indices.dropLast() {
                        p.line("case \(forms.caseName(index)): return [")
                        emitLayouts(forms.specs[index].structs, &p)
                        p.line("]")
                    }
                    p.line("case \(forms.caseName(forms.specs.count - 1)): return layouts")
                }
            }
            p.line()
            p.doc("Decodes the struct named `name` from `bytes`; nil for an unknown name.")
            p.block("public static func decode(_ name: String, from bytes: [UInt8]) throws(WireError) -> (any WireStruct)?") { p in
                p.block("switch name") { p in
                    for layout in fixed { p.line("case \(swiftString(layout.name)): return try \(layout.swiftName).decode(bytes)") }
                    p.line("default: return nil")
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
                                    p.line("case .\(slotCase.swiftName)(let member): member.appendFieldValues(prefix: \(key) + \".\(slotCase.caseName).\", into: &values)")
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
