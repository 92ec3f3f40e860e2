import SpecResolve

/// Constants.swift and Features.swift: open enums, flag sets, sizes, feature bits.
struct ConstantsEmitter {
    let spec: ResolvedSpec
    var types: SwiftTypes { SwiftTypes(spec: spec) }

    func constants() -> String {
        var p = CodePrinter()
        for group in spec.groups {
            switch group.kind {
            case .sizes: emitSizes(group, &p)
            case .flags: emitFlags(group, &p)
            case .values, .opcode: emitEnum(group, &p)
            }
            p.line()
        }
        return p.text
    }

    private func groupDoc(_ group: ConstantGroup, _ p: inout CodePrinter) {
        p.doc(group.notes.doc ?? "The seed's \(group.cPrefix.map { "`\($0)*`" } ?? "`\(group.name)`") constants.")
        if let section = group.section { p.doc("Seed section: \(section).") }
        if let errata = group.notes.errata { p.doc("Errata: \(errata)") }
    }

    private func emitSizes(_ group: ConstantGroup, _ p: inout CodePrinter) {
        groupDoc(group, &p)
        p.block("public enum \(group.swiftName)") { p in
            for entry in group.entries {
                p.doc("`\(entry.cName)`")
                p.line("public static let \(entry.swiftName) = \(entry.value)")
            }
        }
    }

    private func emitFlags(_ group: ConstantGroup, _ p: inout CodePrinter) {
        let raw = types.rawType(group)
        groupDoc(group, &p)
        p.block("public struct \(group.swiftName): OptionSet, Hashable, Sendable") { p in
            p.line("public let rawValue: \(raw)")
            // Inlinable, and each flag a constant rather than a stored global: read from another module's
            // inlined code, a `static let` costs a call to its addressor.
            p.line("@inlinable public init(rawValue: \(raw)) { self.rawValue = rawValue }")
            for entry in group.entries {
                p.doc("`\(entry.cName)`\(entry.notes.doc.map { ": \($0)" } ?? "")")
                p.line(
                    "@inlinable public static var \(entry.swiftName): \(group.swiftName) { \(group.swiftName)(rawValue: \(SwiftTypes.hex(entry.value))) }"
                )
            }
            p.doc("Every flag the seed defines; any other bit is undefined.")
            let all = group.entries.filter { !$0.isNone }.map { "." + $0.swiftName }.joined(separator: ", ")
            p.line("public static let defined: \(group.swiftName) = [\(all)]")
        }
    }

    private func emitEnum(_ group: ConstantGroup, _ p: inout CodePrinter) {
        let raw = types.rawType(group)
        groupDoc(group, &p)
        p.doc("Open: a value the seed does not define decodes as `.unknown(raw)` and re-encodes unchanged.")
        p.block("public enum \(group.swiftName): Hashable, Sendable") { p in
            for entry in group.entries {
                p.doc("`\(entry.cName)` = \(entry.value)\(entry.notes.doc.map { ": \($0)" } ?? "")")
                if let errata = entry.notes.errata { p.doc("Errata: \(errata)") }
                if let compat = entry.notes.compat { p.doc("Compat: \(compat)") }
                p.line("case \(entry.swiftName)")
            }
            p.line("case unknown(\(raw))")
            p.line()
            // Inlinable, like `==` below: the decoders and the device call them per request, from other modules.
            p.line("@inlinable")
            p.block("public init(rawValue: \(raw))") { p in
                p.block("switch rawValue") { p in
                    for entry in group.entries {
                        p.line("case \(SwiftTypes.hex(entry.value)): self = .\(entry.swiftName)")
                    }
                    p.line("default: self = .unknown(rawValue)")
                }
            }
            p.line()
            p.line("@inlinable")
            p.block("public var rawValue: \(raw)") { p in
                p.block("switch self") { p in
                    for entry in group.entries {
                        p.line("case .\(entry.swiftName): return \(SwiftTypes.hex(entry.value))")
                    }
                    p.line("case .unknown(let value): return value")
                }
            }
            p.line()
            p.doc("The derived `==`, spelled out because the derived one is not inlinable.")
            p.line("@inlinable")
            p.block("public static func == (lhs: Self, rhs: Self) -> Bool") { p in
                p.block("switch (lhs, rhs)") { p in
                    let same = group.entries.map { "(.\($0.swiftName), .\($0.swiftName))" }.joined(separator: ", ")
                    p.line("case \(same): return true")
                    p.line("case (.unknown(let left), .unknown(let right)): return left == right")
                    p.line("default: return false")
                }
            }
            p.line()
            p.doc("The seed's C name, or nil for an unknown value.")
            p.block("public var cName: String?") { p in
                p.block("switch self") { p in
                    for entry in group.entries {
                        p.line("case .\(entry.swiftName): return \(swiftString(entry.cName))")
                    }
                    p.line("case .unknown: return nil")
                }
            }
            p.line()
            p.doc("Every value the seed defines, in the seed's order.")
            p.line(
                "public static let known: [\(group.swiftName)] = [\(group.entries.map { "." + $0.swiftName }.joined(separator: ", "))]"
            )
            if !group.maskFields.isEmpty {
                p.line()
                p.doc("Values the device never offers (Spec/constants.yaml `unsupported:` says why).")
                p.line(
                    "public static let unsupported: [\(group.swiftName)] = [\(group.entries.filter { $0.unsupported != nil }.map { "." + $0.swiftName }.joined(separator: ", "))]"
                )
            }
            if !group.maskFields.isEmpty {
                p.line()
                p.doc(
                    "Position in the config masks (\(group.maskFields.joined(separator: ", "))): word 0 holds values 0–31, word 1 values 32–63. Nil for the 'no algorithm' value and for values beyond the mask."
                )
                p.block("public var maskBit: (word: Int, bit: UInt32)?") { p in
                    let none = group.entries.filter(\.isNone).map { "." + $0.swiftName }
                    if !none.isEmpty {
                        p.line("if \(none.map { "self == \($0)" }.joined(separator: " || ")) { return nil }")
                    }
                    p.line("let value = rawValue")
                    p.line("guard value < \(group.maskFields.count * 32) else { return nil }")
                    p.line("return (Int(value / 32), UInt32(1) << UInt32(value % 32))")
                }
            }
            if group.kind == .opcode {
                p.line()
                p.doc("The service half of the opcode (`opcode >> 8`).")
                p.line("public var service: Service { Service(rawValue: rawValue >> 8) }")
                p.line()
                p.doc("Which queue carries this opcode, or nil for an unknown value.")
                p.block("public var queue: QueueKind?") { p in
                    p.block("switch self") { p in
                        for queue in ["controlq", "dataq"] {
                            let entries = group.entries.filter { $0.queue == queue }.map { "." + $0.swiftName }
                            if !entries.isEmpty {
                                p.line(
                                    "case \(entries.joined(separator: ", ")): return .\(queue == "controlq" ? "control" : "data")"
                                )
                            }
                        }
                        p.line("default: return nil")
                    }
                }
            }
        }
    }

    func features() -> String {
        var p = CodePrinter()
        p.doc(
            "The device feature bits of every revision (bits 0–\(spec.features.map(\.bit).max() ?? 0); `defined(in:)` per revision)."
        )
        p.block("public struct CryptoFeatures: OptionSet, Hashable, Sendable") { p in
            p.line("public let rawValue: UInt64")
            // Inlinable constants, as for the flag sets: dispatch tests features per request.
            p.line("@inlinable public init(rawValue: UInt64) { self.rawValue = rawValue }")
            for feature in spec.features {
                p.doc("`\(feature.cName)` (bit \(feature.bit)): \(feature.notes.doc ?? "")")
                p.line(
                    "@inlinable public static var \(feature.swiftName): CryptoFeatures { CryptoFeatures(rawValue: 1 << \(feature.bit)) }"
                )
            }
            p.doc("The feature the spec names `name` (`cipher-stateless-mode`), or nil.")
            p.block("public static func named(_ name: String) -> CryptoFeatures?") { p in
                p.block("switch name") { p in
                    for feature in spec.features {
                        p.line("case \(swiftString(feature.name)): return .\(feature.swiftName)")
                    }
                    p.line("default: return nil")
                }
            }
            p.doc("Every feature bit of every revision.")
            p.line(
                "public static let all: CryptoFeatures = [\(spec.features.map { "." + $0.swiftName }.joined(separator: ", "))]"
            )
            p.line()
            p.doc("Each feature and the features it requires (\"Feature bit requirements\").")
            p.line("public static let requirements: [(feature: CryptoFeatures, requires: CryptoFeatures)] = [")
            for feature in spec.features where !feature.requires.isEmpty {
                let requires = feature.requires.map { "." + spec.feature($0)!.swiftName }.joined(separator: ", ")
                p.line("    (.\(feature.swiftName), [\(requires)]),")
            }
            p.line("]")
            p.line()
            p.doc("The features of `self` whose requirements `self` does not contain.")
            p.block("public var unmetRequirements: CryptoFeatures") { p in
                p.line("var unmet: CryptoFeatures = []")
                p.line(
                    "for (feature, requires) in Self.requirements where contains(feature) && !isSuperset(of: requires) { unmet.insert(feature) }"
                )
                p.line("return unmet")
            }
            p.line()
            p.doc("The feature that enables stateless requests of `service`, if the seed defines one.")
            p.block("public static func statelessMode(for service: Service) -> CryptoFeatures?") { p in
                p.block("switch service") { p in
                    for feature in spec.features {
                        if let service = feature.service, let entry = spec.group("service")?.entry(service) {
                            p.line("case .\(entry.swiftName): return .\(feature.swiftName)")
                        }
                    }
                    p.line("default: return nil")
                }
            }
        }
        return p.text
    }
}
