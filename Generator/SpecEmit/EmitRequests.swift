import SpecResolve

/// Requests.swift: per queue, which layout a request follows, the size of its fixed part,
/// and a parser from header + fixed part to a typed request with its vlf map.
struct RequestsEmitter {
    let spec: ResolvedSpec

    func requests() -> String {
        var p = CodePrinter()
        for queue in spec.queues {
            emitRequestEnum(queue, &p)
            p.line()
            emitQueue(queue, &p)
            p.line()
        }
        return p.text
    }

    func layoutCases(_ op: Op) -> [(name: String, flf: StructLayout, vlf: StructLayout?, layouts: [String])] {
        var cases = [
            (
                name: op.opcode.swiftName, flf: spec.layout(op.flf)!, vlf: op.vlf.flatMap(spec.layout),
                layouts: ["legacy", "revision1"]
            )
        ]
        if let stateless = op.stateless {
            cases.append(
                (
                    name: op.opcode.swiftName + "Stateless", flf: spec.layout(stateless.flf)!,
                    vlf: spec.layout(stateless.vlf), layouts: ["stateless"]
                ))
        }
        return cases
    }

    private func requestEnumName(_ queue: Queue) -> String { queue.swiftName + "Request" }

    private func emitRequestEnum(_ queue: Queue, _ p: inout CodePrinter) {
        p.doc("A parsed \(queue.name) request: the typed fixed-length part and the map of its variable-length part.")
        if let errata = queue.notes.errata { p.doc("Errata: \(errata)") }
        p.block("public enum \(requestEnumName(queue)): Equatable, Sendable") { p in
            for op in queue.ops {
                for c in layoutCases(op) {
                    p.doc(
                        "`\(op.opcode.cName)` (\(c.layouts.joined(separator: ", ")) layout)\(op.notes.doc.map { ": \($0)" } ?? "")"
                    )
                    p.line("case \(c.name)(\(c.flf.swiftName)\(c.vlf.map { ", \($0.swiftName)" } ?? ""))")
                }
            }
            for (property, type) in [
                ("readableLength", "Int"), ("writableLength", "Int"), ("segments", "[NamedVlfSegment]"),
            ] {
                p.line()
                p.doc(
                    property == "segments"
                        ? "The vlf segments in wire order (empty when the op has no vlf)."
                        : "Bytes of the \(property == "readableLength" ? "device-readable" : "device-writable") vlf.")
                p.block("public var \(property): \(type)") { p in
                    p.block("switch self") { p in
                        for op in queue.ops {
                            for c in layoutCases(op) {
                                if c.vlf != nil {
                                    p.line("case .\(c.name)(_, let vlf): return vlf.\(property)")
                                } else {
                                    p.line("case .\(c.name): return \(property == "segments" ? "[]" : "0")")
                                }
                            }
                        }
                    }
                }
            }
            p.line()
            p.doc("The request's opcode.")
            p.block("public var opcode: Opcode") { p in
                p.block("switch self") { p in
                    for op in queue.ops {
                        let names = layoutCases(op).map { "." + $0.name }.joined(separator: ", ")
                        p.line("case \(names): return .\(op.opcode.swiftName)")
                    }
                }
            }
            let creating = queue.ops.filter { op in spec.layout(op.outcome)?.field("session-id") != nil }
                .flatMap { layoutCases($0) }.map { "." + $0.name }
            emitMembership(
                "createsSession", "Whether the request creates a session (its outcome carries a session id).",
                creating, &p)
            let stateless = queue.ops.flatMap { layoutCases($0).filter { $0.layouts == ["stateless"] } }.map {
                "." + $0.name
            }
            emitMembership(
                "isStateless", "Whether the request is a stateless one (its layout is the op's stateless layout).",
                stateless, &p)
            p.line()
            p.doc("Writes the fixed-length part, padded as `layout` requires.")
            p.block("public func encodeFLF(into writer: inout WireWriter, layout: RequestLayout)") { p in
                p.line("let start = writer.bytes.count")
                p.block("switch self") { p in
                    for op in queue.ops {
                        for c in layoutCases(op) {
                            p.line("case .\(c.name)(let flf\(c.vlf != nil ? ", _" : "")): flf.encode(into: &writer)")
                        }
                    }
                }
                p.line("if layout == .legacy { writer.pad(from: start, to: \(queue.swiftName).legacyFLFSize) }")
            }
        }
    }

    /// `public var name: Bool`, true for the request cases listed.
    private func emitMembership(_ name: String, _ doc: String, _ cases: [String], _ p: inout CodePrinter) {
        p.line()
        p.doc(doc)
        p.block("public var \(name): Bool") { p in
            if cases.isEmpty {
                p.line("false")
            } else {
                p.block("switch self") { p in
                    p.line("case \(cases.joined(separator: ", ")): return true")
                    p.line("default: return false")
                }
            }
        }
    }

    private func emitQueue(_ queue: Queue, _ p: inout CodePrinter) {
        let header = spec.layout(queue.header)!
        let opcodeField = header.field(queue.opcodeField)!
        let flagField = queue.flagField.flatMap(header.field)
        p.doc("Request framing of the \(queue.name)\(queue.section.map { " (seed: \($0))" } ?? "").")
        p.block("public enum \(queue.swiftName)") { p in
            p.doc("Size of the header, `\(header.cName)`.")
            p.line("public static let headerSize = \(header.size)")
            p.doc("Size the fixed-length part is padded to when REVISION_1 is not negotiated.")
            p.line("public static let legacyFLFSize = \(queue.legacyFLFSize)")
            p.line()
            p.doc("The layout of a request with this header, or nil for an opcode this queue does not carry.")
            if flagField != nil {
                p.doc(
                    "Stateless only when the service's stateless feature is negotiated and `flag` lacks SESSION_MODE; without REVISION_1 the flag is ignored."
                )
            }
            // Inlined, like the decoders: dispatch asks for every request, in each opcode's case, where
            // the opcode is a constant and the switch folds (out of line: ~18 instructions a request).
            p.line("@inlinable @inline(__always)")
            p.block(
                "public static func layout(for header: \(header.swiftName), features: CryptoFeatures) -> RequestLayout?"
            ) { p in
                p.block("switch header.\(opcodeField.swiftName)") { p in
                    for op in queue.ops {
                        p.indented("case .\(op.opcode.swiftName):") { p in
                            p.line("guard features.contains(.revision1) else { return .legacy }")
                            if let stateless = op.stateless, let flagField,
                                let feature = spec.feature(stateless.feature)
                            {
                                p.line(
                                    "if features.contains(.\(feature.swiftName)) && !header.\(flagField.swiftName).contains(.sessionMode) { return .stateless }"
                                )
                            }
                            p.line("return .revision1")
                        }
                    }
                    p.line("default: return nil")
                }
            }
            p.line()
            p.doc("Bytes of the fixed-length part for `opcode` in `layout`, or nil when the pair does not exist.")
            // Inlined into dispatch's case of each opcode, as `layout(for:features:)` is.
            p.line("@inlinable @inline(__always)")
            p.block("public static func flfSize(opcode: Opcode, layout: RequestLayout) -> Int?") { p in
                p.block("switch (opcode, layout)") { p in
                    for op in queue.ops {
                        p.line("case (.\(op.opcode.swiftName), .legacy): return legacyFLFSize")
                        p.line(
                            "case (.\(op.opcode.swiftName), .revision1): return \(spec.layout(op.flf)!.swiftName).size")
                        if let stateless = op.stateless {
                            p.line(
                                "case (.\(op.opcode.swiftName), .stateless): return \(spec.layout(stateless.flf)!.swiftName).size"
                            )
                        }
                    }
                    p.line("default: return nil")
                }
            }
            p.line()
            p.doc(
                "Sizes of the device-writable outcome for `opcode`: the seed's layout first, then the layouts real drivers use (compat)."
            )
            p.block("public static func outcomeSizes(opcode: Opcode) -> [Int]") { p in
                p.block("switch opcode") { p in
                    var groups: [String: [String]] = [:]
                    var order: [String] = []
                    for op in queue.ops {
                        let sizes = ([op.outcome] + op.outcomeCompat).map { "\(spec.layout($0)!.swiftName).size" }
                            .joined(separator: ", ")
                        if groups[sizes] == nil { order.append(sizes) }
                        groups[sizes, default: []].append("." + op.opcode.swiftName)
                    }
                    for sizes in order { p.line("case \(groups[sizes]!.joined(separator: ", ")): return [\(sizes)]") }
                    p.line("default: return [\(spec.layout(queue.outcome)!.swiftName).size]")
                }
            }
            p.line()
            p.doc("Parses the fixed-length part that follows `header` (exactly `flfSize` bytes are consumed).")
            p.doc("Returns nil for an opcode this queue does not carry; throws when the bytes run out.")
            p.block(
                "public static func parse(header: \(header.swiftName), flf reader: inout WireReader, features: CryptoFeatures) throws(WireError) -> \(requestEnumName(queue))?"
            ) { p in
                p.line("guard let layout = layout(for: header, features: features),")
                p.line(
                    "      let size = flfSize(opcode: header.\(opcodeField.swiftName), layout: layout) else { return nil }"
                )
                p.line("var part = try reader.subReader(size)")
                p.block("switch (header.\(opcodeField.swiftName), layout)") { p in
                    for op in queue.ops {
                        // Stateless first: the session case matches any other layout.
                        for c in layoutCases(op).reversed() {
                            let pattern = c.layouts == ["stateless"] ? ".stateless" : "_"
                            p.indented("case (.\(op.opcode.swiftName), \(pattern)):") { p in
                                p.line("let flf = try \(c.flf.swiftName)(from: &part)")
                                p.line("return .\(c.name)(flf\(c.vlf.map { ", \($0.swiftName)(flf)" } ?? ""))")
                            }
                        }
                    }
                    p.line("default: return nil")
                }
            }
        }
    }
}
