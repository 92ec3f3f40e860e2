import SpecModel

/// Solves struct layouts: offsets and sizes, nested structs first, slots checked against
/// their members, vlf segment paths resolved against the struct named by `of`.
struct StructSolver {
    let decls: [StructDecl]
    let groups: [ConstantGroup]
    let histories: HistoryResolver
    let diagnostics: DiagnosticCollector

    func solve() -> [StructLayout] {
        var seen: [String: SourceLocation] = [:]
        var cNames: [String: SourceLocation] = [:]
        for decl in decls {
            if let first = seen[decl.name.value] {
                diagnostics.error(decl.name.location, "duplicate struct '\(decl.name.value)' (first at \(first))")
            }
            seen[decl.name.value] = decl.name.location
            if let first = cNames[decl.cName] {
                diagnostics.error(decl.name.location, "duplicate c-name '\(decl.cName)' (first at \(first))")
            }
            cNames[decl.cName] = decl.name.location
        }
        var solved: [String: StructLayout] = [:]
        var inProgress: Set<String> = []
        for decl in decls where !decl.isVLF { _ = solveFixed(decl, &solved, &inProgress) }
        for decl in decls where decl.isVLF { solved[decl.name.value] = solveVLF(decl, solved) }
        return decls.compactMap { solved[$0.name.value] }
    }

    private func lookup(_ name: String) -> StructDecl? { decls.first { $0.name.value == name } }

    private func group(_ name: Located<String>?, kind: ConstantGroupDecl.Kind? = nil) -> String? {
        guard let name else { return nil }
        guard let group = groups.first(where: { $0.name == name.value }) else {
            diagnostics.error(name.location, "unknown constant group '\(name.value)'")
            return nil
        }
        if let kind, group.kind != kind {
            diagnostics.error(name.location, "'\(name.value)' is not a \(kind.rawValue) group")
        }
        return group.name
    }

    private func solveFixed(
        _ decl: StructDecl, _ solved: inout [String: StructLayout],
        _ inProgress: inout Set<String>
    ) -> StructLayout? {
        if let done = solved[decl.name.value] { return done }
        guard !inProgress.contains(decl.name.value) else {
            diagnostics.error(decl.name.location, "struct '\(decl.name.value)' contains itself")
            return nil
        }
        inProgress.insert(decl.name.value)
        defer { inProgress.remove(decl.name.value) }
        Naming.check(decl.name, "struct", diagnostics)
        if decl.of != nil { diagnostics.error(decl.of!.location, "'of' is only for vlf structs") }

        var fields: [Field] = []
        var offset = 0
        var names: Set<String> = []
        let structHistory = histories.history(decl.marks, name: decl.name)
        for field in decl.fields {
            Naming.check(field.name, "field", diagnostics)
            if !names.insert(field.name.value).inserted {
                diagnostics.error(field.name.location, "duplicate field '\(field.name.value)' in '\(decl.name.value)'")
            }
            var size = 0
            var kind: FieldKind
            switch field.shape {
            case .typed(let type):
                if let scalar = ScalarType(rawValue: type.value) {
                    kind = .scalar(scalar)
                    size = scalar.size
                } else if let nestedDecl = lookup(type.value) {
                    if nestedDecl.isVLF { diagnostics.error(type.location, "a vlf cannot be nested in a fixed struct") }
                    guard let nested = solveFixed(nestedDecl, &solved, &inProgress) else { continue }
                    kind = .nested(nested.name)
                    size = nested.size
                } else {
                    diagnostics.error(type.location, "unknown type '\(type.value)' (u8, le16, le32, le64 or a struct)")
                    continue
                }
                if field.count != nil || field.countFrom != nil {
                    guard let array = arrayField(field, kind, elementSize: size, in: decl) else { continue }
                    kind = .array(array)
                    size = array.count.map { $0 * array.elementSize } ?? 0
                }
            case .slot(let sizeLiteral, let selector, let cases):
                let slotSize = Int(Resolver.resolveValue(sizeLiteral, groups, diagnostics) ?? 0)
                size = slotSize
                guard let selectorDecl = decl.fields.first(where: { $0.name.value == selector.value }),
                    case .typed(let selectorType) = selectorDecl.shape, ScalarType(rawValue: selectorType.value) != nil
                else {
                    diagnostics.error(
                        selector.location, "selector '\(selector.value)' is not a scalar field of '\(decl.name.value)'")
                    continue
                }
                let selectorGroup = selectorDecl.enumGroup?.value
                var resolvedCases: [SlotCase] = []
                for slotCase in cases {
                    guard let value = Resolver.resolveValue(slotCase.when, groups, diagnostics) else { continue }
                    var caseName = "value\(value)"
                    if case .constant(let groupName, let entryName) = slotCase.when.value {
                        if groupName != selectorGroup {
                            diagnostics.error(
                                slotCase.when.location,
                                "'\(groupName).\(entryName)' is not a value of the selector's group '\(selectorGroup ?? "none")'"
                            )
                        }
                        caseName = entryName
                    }
                    guard let memberDecl = lookup(slotCase.structName.value),
                        let member = solveFixed(memberDecl, &solved, &inProgress)
                    else {
                        diagnostics.error(slotCase.structName.location, "unknown struct '\(slotCase.structName.value)'")
                        continue
                    }
                    if member.size > slotSize {
                        diagnostics.error(
                            slotCase.structName.location,
                            "struct '\(member.name)' is \(member.size) bytes and does not fit the \(slotSize)-byte slot '\(field.name.value)'"
                        )
                    }
                    if let vlf = slotCase.vlf {
                        if let vlfDecl = lookup(vlf.value) {
                            if !vlfDecl.isVLF || vlfDecl.of?.value != member.name {
                                diagnostics.error(vlf.location, "'\(vlf.value)' is not a vlf of '\(member.name)'")
                            }
                        } else {
                            diagnostics.error(vlf.location, "unknown struct '\(vlf.value)'")
                        }
                    }
                    if resolvedCases.contains(where: { $0.value == value }) {
                        diagnostics.error(slotCase.when.location, "duplicate slot case \(value)")
                    }
                    resolvedCases.append(
                        SlotCase(
                            value: value, caseName: caseName, swiftName: Naming.lowerCamel(caseName),
                            structName: member.name, vlf: slotCase.vlf?.value))
                }
                kind = .slot(Slot(size: slotSize, selector: selector.value, cases: resolvedCases))
            case .segment, .selectFrom:
                diagnostics.error(
                    field.name.location, "'length' and 'select-from' fields belong in a 'kind: vlf' struct")
                continue
            }
            let enumGroup = group(field.enumGroup)
            let flagsGroup = group(field.flagsGroup, kind: .flags)
            let maskOf = group(field.maskOf)
            if enumGroup != nil || flagsGroup != nil || maskOf != nil, case .scalar = kind {
            } else if enumGroup != nil || flagsGroup != nil || maskOf != nil {
                diagnostics.error(field.name.location, "'enum', 'flags' and 'mask-of' apply to scalar fields only")
            }
            fields.append(
                Field(
                    name: field.name.value, swiftName: Naming.lowerCamel(field.name.value), cName: field.cName,
                    offset: offset, size: size, kind: kind, enumGroup: enumGroup, flagsGroup: flagsGroup,
                    maskOf: maskOf, isReserved: field.isReserved, notes: field.notes, location: field.location,
                    history: histories.history(field.marks, name: field.name, parent: structHistory)))
            offset += size
        }
        if let declared = decl.size, Int(declared.value) != offset {
            diagnostics.error(
                declared.location, "struct '\(decl.name.value)' is \(offset) bytes, not the declared \(declared.value)")
        }
        let layout = StructLayout(
            name: decl.name.value, swiftName: Naming.upperCamel(decl.name.value), cName: decl.cName,
            section: decl.section, isVLF: false, of: nil, size: offset, fields: fields,
            notes: decl.notes, location: decl.name.location, history: structHistory)
        solved[decl.name.value] = layout
        return layout
    }

    private func solveVLF(_ decl: StructDecl, _ solved: [String: StructLayout]) -> StructLayout? {
        Naming.check(decl.name, "struct", diagnostics)
        if let size = decl.size { diagnostics.error(size.location, "a vlf has no fixed size") }
        guard let ofName = decl.of else {
            diagnostics.error(
                decl.name.location, "vlf '\(decl.name.value)' needs 'of': the fixed-length struct holding its lengths")
            return nil
        }
        guard let of = solved[ofName.value] else {
            diagnostics.error(ofName.location, "unknown fixed-length struct '\(ofName.value)'")
            return nil
        }
        var fields: [Field] = []
        var seenWritable = false
        let structHistory = histories.history(decl.marks, name: decl.name)
        for field in decl.fields {
            Naming.check(field.name, "field", diagnostics)
            var kind: FieldKind
            switch field.shape {
            case .segment(let length, let directionText):
                guard let direction = Direction(rawValue: directionText.value) else {
                    diagnostics.error(directionText.location, "direction must be readable or writable")
                    continue
                }
                if direction == .readable && seenWritable {
                    diagnostics.error(
                        field.name.location,
                        "readable segment '\(field.name.value)' follows a writable one; the device-readable part comes first"
                    )
                }
                seenWritable = seenWritable || direction == .writable
                guard let path = resolvePath(length, in: of, solved) else { continue }
                kind = .segment(Segment(path: path, pathText: length.value, direction: direction))
            case .selectFrom(let slotName):
                guard let slotField = of.field(slotName.value), case .slot(let slot) = slotField.kind else {
                    diagnostics.error(slotName.location, "'\(slotName.value)' is not a slot of '\(of.name)'")
                    continue
                }
                if slot.cases.contains(where: { $0.vlf == nil }) {
                    diagnostics.warning(
                        slotName.location,
                        "some members of slot '\(slotName.value)' name no vlf; they contribute no segments")
                }
                if decl.fields.count != 1 {
                    diagnostics.error(field.name.location, "a 'select-from' field must be the only field of its vlf")
                }
                kind = .selectFrom(slot: slotName.value)
            case .typed, .slot:
                diagnostics.error(field.name.location, "a vlf field needs 'length' + 'direction' or 'select-from'")
                continue
            }
            fields.append(
                Field(
                    name: field.name.value, swiftName: Naming.lowerCamel(field.name.value), cName: field.cName,
                    offset: 0, size: 0, kind: kind, enumGroup: nil, flagsGroup: nil, maskOf: nil,
                    isReserved: false, notes: field.notes, location: field.location,
                    history: histories.history(field.marks, name: field.name, parent: structHistory)))
        }
        return StructLayout(
            name: decl.name.value, swiftName: Naming.upperCamel(decl.name.value), cName: decl.cName,
            section: decl.section, isVLF: true, of: of.name, size: 0, fields: fields, notes: decl.notes,
            location: decl.name.location, history: structHistory)
    }

    /// `count: N` or `count-from: sibling` on a typed field.
    private func arrayField(_ field: FieldDecl, _ kind: FieldKind, elementSize: Int, in decl: StructDecl) -> ArrayField?
    {
        let element: ArrayField.Element
        switch kind {
        case .scalar(let scalar): element = .scalar(scalar)
        case .nested(let name): element = .nested(name)
        default: return nil
        }
        if field.count != nil && field.countFrom != nil {
            diagnostics.error(field.name.location, "give 'count' or 'count-from', not both")
            return nil
        }
        if let count = field.count {
            if count.value == 0 || count.value > 4096 {
                diagnostics.error(count.location, "'count' must be between 1 and 4096")
                return nil
            }
            return ArrayField(element: element, elementSize: elementSize, count: Int(count.value), countFrom: nil)
        }
        let countFrom = field.countFrom!
        guard let index = decl.fields.firstIndex(where: { $0.name.value == countFrom.value }),
            case .typed(let type) = decl.fields[index].shape, ScalarType(rawValue: type.value) != nil,
            decl.fields[index].count == nil
        else {
            diagnostics.error(countFrom.location, "'count-from' must name a scalar field of '\(decl.name.value)'")
            return nil
        }
        if decl.fields.last?.name.value != field.name.value {
            diagnostics.error(countFrom.location, "a 'count-from' array must be the last field of its struct")
        }
        if index > decl.fields.firstIndex(where: { $0.name.value == field.name.value })! {
            diagnostics.error(countFrom.location, "the count must come before the array")
        }
        return ArrayField(element: element, elementSize: elementSize, count: nil, countFrom: countFrom.value)
    }

    /// `a.b.c` through nested structs, and `slot.case.field` through slot members.
    private func resolvePath(_ text: Located<String>, in root: StructLayout, _ solved: [String: StructLayout])
        -> [PathStep]?
    {
        var parts = text.value.split(separator: ".").map(String.init)[...]
        var current = root
        var steps: [PathStep] = []
        while let part = parts.popFirst() {
            guard let field = current.field(part) else {
                diagnostics.error(
                    text.location, "'\(part)' is not a field of '\(current.name)' (in length '\(text.value)')")
                return nil
            }
            switch field.kind {
            case .scalar:
                guard parts.isEmpty else {
                    diagnostics.error(text.location, "'\(part)' is a scalar; the path '\(text.value)' goes on past it")
                    return nil
                }
                steps.append(.field(part))
                return steps
            case .nested(let name):
                steps.append(.field(part))
                current = solved[name]!
            case .slot(let slot):
                guard let caseName = parts.popFirst(),
                    let slotCase = slot.cases.first(where: { $0.caseName == caseName })
                else {
                    diagnostics.error(
                        text.location,
                        "after slot '\(part)' name one of its cases (\(slot.cases.map(\.caseName).joined(separator: ", ")))"
                    )
                    return nil
                }
                steps.append(.slotMember(slot: part, caseName: caseName))
                current = solved[slotCase.structName]!
            case .array:
                diagnostics.error(text.location, "'\(part)' is an array; a length must be a scalar field")
                return nil
            case .segment, .selectFrom:
                return nil
            }
        }
        diagnostics.error(text.location, "length '\(text.value)' does not end at a scalar field")
        return nil
    }

}
