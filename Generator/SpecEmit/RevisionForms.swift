import SpecResolve

/// Every revision's resolved spec, and how a struct's layout in one revision relates to its newest
/// form: a struct whose wire layout differs in an earlier revision gets a Swift type of its own for
/// that form (`DestroySessionInputV23`), so code can speak each revision's wire format.
struct RevisionForms {
    /// One resolved spec per revision, oldest first.
    let specs: [ResolvedSpec]

    var newest: ResolvedSpec { specs[specs.count - 1] }

    func revision(_ index: Int) -> Revision { newest.revisions[index] }

    /// `.v1_2` for a Swift expression of type `SpecRevision`.
    func caseName(_ index: Int) -> String { "." + revision(index).swiftName }

    /// What makes two forms of a fixed struct different on the wire: sizes, offsets and types (a rename
    /// alone, or a field that becomes reserved, leaves the wire format and the newest type as they are).
    private func signature(_ layout: StructLayout) -> String {
        let fields = layout.fields.map { field -> String in
            var kind: String
            switch field.kind {
            case .scalar(let type): kind = type.rawValue
            case .nested(let name): kind = "struct " + name
            case .array(let array):
                kind = "array \(array.elementSize)x\(array.count.map(String.init) ?? array.countFrom ?? "")"
            case .slot(let slot):
                kind = "slot \(slot.size) " + slot.cases.map { "\($0.value)=\($0.structName)" }.joined(separator: ",")
            case .segment(let segment): kind = "segment \(segment.pathText) \(segment.direction.rawValue)"
            case .selectFrom(let slot): kind = "select \(slot)"
            }
            return "\(field.offset):\(field.size):\(kind)"
        }
        return "\(layout.size)|" + fields.joined(separator: ";")
    }

    /// The newest layout of the struct that `layout` (of some revision) is a form of.
    func newestForm(of layout: StructLayout) -> StructLayout? { newest.layout(layout.history.identity) }

    /// The first revision, at or before `index`, from which the struct has the form it has in `index`.
    private func formStart(_ layout: StructLayout, in index: Int) -> Int {
        var start = index
        while start > 0,
            let earlier = specs[start - 1].structs.first(where: { $0.history.identity == layout.history.identity }),
            signature(earlier) == signature(layout)
        {
            start -= 1
        }
        return start
    }

    /// The Swift type of struct `name` as revision `index` has it.
    func typeName(_ name: String, in index: Int) -> String {
        guard let layout = specs[index].layout(name) else { return name }
        if let newestLayout = newestForm(of: layout), signature(newestLayout) == signature(layout) {
            return newestLayout.swiftName
        }
        let base = newestForm(of: layout)?.swiftName ?? layout.swiftName
        return base + Naming.capitalizedRevision(revision(formStart(layout, in: index)).swiftName)
    }

    /// Revision `index`'s spec with every struct's Swift name set to the type of its form there.
    func renamed(_ index: Int) -> ResolvedSpec {
        var spec = specs[index]
        spec.structs = spec.structs.map { layout in
            var renamed = layout
            renamed.swiftName = typeName(layout.name, in: index)
            return renamed
        }
        return spec
    }

    /// Each earlier fixed-struct form, once: the revision it starts in and the renamed layout.
    func earlierForms() -> [(revision: Int, spec: ResolvedSpec, layout: StructLayout)] {
        var seen: Set<String> = Set(newest.structs.map(\.swiftName))
        var forms: [(Int, ResolvedSpec, StructLayout)] = []
        for index in specs.indices.dropLast() {
            let spec = renamed(index)
            for layout in spec.structs where !layout.isVLF && seen.insert(layout.swiftName).inserted {
                forms.append((formStart(layout, in: index), spec, layout))
            }
        }
        return forms
    }
}
