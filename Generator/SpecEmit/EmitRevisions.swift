import SpecResolve

/// Revisions.swift: the revisions the YAML holds, and for every constant, feature and config
/// field the revisions that define it, so the device can be a device of any one of them.
struct RevisionsEmitter {
    let forms: RevisionForms
    var spec: ResolvedSpec { forms.newest }

    func revisions() -> String {
        var p = CodePrinter()
        emitRevisionEnum(&p)
        for group in spec.groups where group.kind == .values || group.kind == .opcode {
            p.line()
            emitGroup(group, &p)
        }
        for group in spec.groups where group.kind == .flags {
            p.line()
            p.block("extension \(group.swiftName)") { p in
                p.doc("The flags `revision` defines.")
                p.block("public static func defined(in revision: SpecRevision) -> \(group.swiftName)") { p in
                    p.line("var flags: \(group.swiftName) = []")
                    for entry in group.entries where !entry.isNone {
                        p.line("if \(condition(entry.history)) { flags.insert(.\(entry.swiftName)) }")
                    }
                    p.line("return flags")
                }
            }
        }
        p.line()
        emitFeatures(&p)
        p.line()
        emitConfig(&p)
        return p.text
    }

    /// A Swift condition on `revision` that holds where `history` says the item exists.
    private func condition(_ history: ItemHistory) -> String {
        let present = spec.revisions.indices.filter(history.exists(in:))
        if present.count == spec.revisions.count { return "true" }
        if present.isEmpty { return "false" }
        return "[" + present.map(forms.caseName).joined(separator: ", ") + "].contains(revision)"
    }

    private func emitRevisionEnum(_ p: inout CodePrinter) {
        p.doc("The revisions of the virtio crypto spec that Spec/ holds, oldest first (Spec/virtio-crypto.yaml).")
        p.block("public enum SpecRevision: Int, CaseIterable, Comparable, Sendable") { p in
            for (index, revision) in spec.revisions.enumerated() {
                p.doc("\(revision.title) (\(revision.date)).")
                p.line("case \(revision.swiftName) = \(index)")
            }
            p.line()
            p.doc("The newest revision: what the device is unless told otherwise.")
            p.line("public static let newest: SpecRevision = \(forms.caseName(spec.revisions.count - 1))")
            p.line()
            p.doc("The revision's id in the YAML (`v1.2`).")
            p.block("public var id: String") { p in
                p.block("switch self") { p in
                    for revision in spec.revisions {
                        p.line("case .\(revision.swiftName): return \(swiftString(revision.id))")
                    }
                }
            }
            p.line()
            p.block("public var title: String") { p in
                p.block("switch self") { p in
                    for revision in spec.revisions {
                        p.line("case .\(revision.swiftName): return \(swiftString(revision.title))")
                    }
                }
            }
            p.line()
            p.block("public init?(id: String)") { p in
                p.line("guard let revision = Self.allCases.first(where: { $0.id == id }) else { return nil }")
                p.line("self = revision")
            }
            p.line()
            p.line(
                "public static func < (lhs: SpecRevision, rhs: SpecRevision) -> Bool { lhs.rawValue < rhs.rawValue }")
        }
    }

    private func emitGroup(_ group: ConstantGroup, _ p: inout CodePrinter) {
        p.block("extension \(group.swiftName)") { p in
            p.doc("The revision that introduced this value; nil for a value no revision defines.")
            p.block("public var since: SpecRevision?") { p in
                p.block("switch self") { p in
                    var byRevision: [Int: [String]] = [:]
                    for entry in group.entries {
                        byRevision[entry.history.since, default: []].append("." + entry.swiftName)
                    }
                    for index in byRevision.keys.sorted() {
                        p.line("case \(byRevision[index]!.joined(separator: ", ")): return \(forms.caseName(index))")
                    }
                    p.line("case .unknown: return nil")
                }
            }
            p.line()
            p.doc("Whether `revision` defines this value.")
            // Inlinable: dispatch asks for every request's opcode.
            p.line("@inlinable")
            p.block("public func isDefined(in revision: SpecRevision) -> Bool") { p in
                p.block("switch self") { p in
                    var byCondition: [String: [String]] = [:]
                    var order: [String] = []
                    for entry in group.entries {
                        let text = condition(entry.history)
                        if byCondition[text] == nil { order.append(text) }
                        byCondition[text, default: []].append("." + entry.swiftName)
                    }
                    for text in order { p.line("case \(byCondition[text]!.joined(separator: ", ")): return \(text)") }
                    p.line("case .unknown: return false")
                }
            }
            p.line()
            p.doc("Every value `revision` defines, in the spec's order.")
            p.block("public static func known(in revision: SpecRevision) -> [\(group.swiftName)]") { p in
                p.line("known.filter { $0.isDefined(in: revision) }")
            }
            if !group.maskFields.isEmpty {
                p.line()
                p.doc(
                    "The config mask bits (\(group.maskFields.joined(separator: ", "))) of the values `revision` defines."
                )
                p.block("public static func definedMask(in revision: SpecRevision) -> [UInt32]") { p in
                    p.line("var words = [UInt32](repeating: 0, count: \(group.maskFields.count))")
                    p.line(
                        "for value in known(in: revision) { if let position = value.maskBit { words[position.word] |= position.bit } }"
                    )
                    p.line("return words")
                }
            }
        }
    }

    private func emitFeatures(_ p: inout CodePrinter) {
        p.block("extension CryptoFeatures") { p in
            p.doc("The feature bits `revision` defines.")
            p.block("public static func defined(in revision: SpecRevision) -> CryptoFeatures") { p in
                p.line("var features: CryptoFeatures = []")
                for feature in spec.features {
                    p.line("if \(condition(feature.history)) { features.insert(.\(feature.swiftName)) }")
                }
                p.line("return features")
            }
        }
    }

    /// `Config.restricted(to:)`: fields an earlier revision reserves (or lacks) read as zero there, and mask
    /// and flag bits of values it does not define are clear.
    private func emitConfig(_ p: inout CodePrinter) {
        guard let config = spec.layout(spec.config.structName) else { return }
        p.block("extension \(config.swiftName)") { p in
            p.doc("The config space as a device of `revision` presents it: a field that revision does not define (or")
            p.doc("reserves) is zero, and bits of values it does not define are clear.")
            p.block("public func restricted(to revision: SpecRevision) -> \(config.swiftName)") { p in
                p.line("var config = self")
                for field in config.fields where !field.isReserved {
                    let defined = spec.revisions.indices.filter { index in
                        forms.specs[index].layout(spec.config.structName).flatMap { layout in
                            layout.fields.first { $0.history.identity == field.name }
                        }.map { !$0.isReserved } ?? false
                    }
                    if defined.count < spec.revisions.count {
                        let list = defined.map(forms.caseName).joined(separator: ", ")
                        let zero = field.flagsGroup != nil ? "[]" : "0"
                        p.line("if ![\(list)].contains(revision) { config.\(field.swiftName) = \(zero) }")
                    }
                    if let group = field.maskOf.flatMap(spec.group) {
                        let word = group.maskFields.firstIndex(of: field.name) ?? 0
                        p.line("config.\(field.swiftName) &= \(group.swiftName).definedMask(in: revision)[\(word)]")
                    }
                    if let group = field.flagsGroup.flatMap(spec.group) {
                        p.line(
                            "config.\(field.swiftName) = config.\(field.swiftName).intersection(\(group.swiftName).defined(in: revision))"
                        )
                    }
                }
                p.line("return config")
            }
        }
    }
}
