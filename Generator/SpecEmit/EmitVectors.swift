import SpecModel
import SpecResolve

/// Spec/generated/vectors.json: golden encodings of every struct (every slot member),
/// the framing of every request in every layout, and a negative vector per validator.
struct VectorsEmitter {
    let spec: ResolvedSpec
    var engine: SampleEngine { SampleEngine(spec: spec) }

    /// Distinct, non-trivial bytes per field, so a swapped or misplaced field shows.
    static func goldenFill() -> (Field) -> UInt64 {
        var counter: UInt64 = 0
        return { field in
            counter += 1
            let size = field.scalarType?.size ?? 4
            var value: UInt64 = 0
            for index in 0..<size { value |= ((counter * 16 + UInt64(index) + 1) & 0xff) << UInt64(index * 8) }
            return value
        }
    }

    /// Small values, so lengths taken from them make short segments.
    static func smallFill() -> (Field) -> UInt64 {
        var counter: UInt64 = 0
        return { _ in
            counter += 1
            return 1 + (counter * 7) % 61
        }
    }

    func vectors(diagnostics: DiagnosticCollector) -> String {
        JSON.object([
            ("spec-sha256", .string(spec.specHash)),
            ("structs", .array(structVectors())),
            ("requests", .array(requestVectors())),
            ("negative", .array(negativeVectors(diagnostics))),
        ]).render() + "\n"
    }

    private func structVectors() -> [JSON] {
        spec.structs.filter { !$0.isVLF }.flatMap { layout in
            engine.samples(layout, fill: Self.goldenFill()).map { sample in
                let fields = engine.flatten(sample).sorted { $0.key < $1.key }.map { ($0.key, JSON.uint($0.value)) }
                return JSON.object([
                    ("struct", .string(layout.name)), ("hex", .string(hexString(engine.encode(sample)))),
                    ("fields", .object(fields)),
                ])
            }
        }
    }

    private func requestVectors() -> [JSON] {
        var result: [JSON] = []
        for queue in spec.queues {
            let header = spec.layout(queue.header)!
            for op in queue.ops {
                var layouts: [(name: String, features: [String], flag: UInt64, flf: String, vlf: String?, size: Int)] =
                    [
                        ("legacy", [], 0, op.flf, op.vlf, queue.legacyFLFSize),
                        ("revision-1", ["revision-1"], 1, op.flf, op.vlf, spec.layout(op.flf)!.size),
                    ]
                if let stateless = op.stateless {
                    layouts.append(
                        (
                            "stateless", ["revision-1", stateless.feature], 0, stateless.flf, stateless.vlf,
                            spec.layout(stateless.flf)!.size
                        ))
                }
                for layout in layouts {
                    var headerSample = engine.firstSample(header, fill: Self.smallFill())
                    headerSample.setScalar([queue.opcodeField], op.opcode.value)
                    if let flag = queue.flagField { headerSample.setScalar([flag], layout.flag) }
                    for flf in engine.samples(spec.layout(layout.flf)!, fill: Self.smallFill()) {
                        var bytes = engine.encode(flf)
                        bytes += [UInt8](repeating: 0, count: layout.size - bytes.count)
                        let segments = layout.vlf.map { engine.segments(spec.layout($0)!, flf) } ?? []
                        let outcomes = ([op.outcome] + op.outcomeCompat).map { JSON.int(spec.layout($0)!.size) }
                        result.append(
                            .object([
                                ("queue", .string(queue.name)), ("opcode", .string(op.opcode.name)),
                                ("layout", .string(layout.name)),
                                ("features", .array(layout.features.map(JSON.string))),
                                ("header-hex", .string(hexString(engine.encode(headerSample)))),
                                ("flf-struct", .string(layout.flf)), ("flf-hex", .string(hexString(bytes))),
                                (
                                    "segments",
                                    .array(
                                        segments.map { segment in
                                            .object([
                                                ("name", .string(segment.name)),
                                                ("direction", .string(segment.direction.rawValue)),
                                                ("offset", .int(segment.offset)), ("length", .int(segment.length)),
                                            ])
                                        })
                                ),
                                ("outcome-sizes", .array(outcomes)),
                            ]))
                    }
                }
            }
        }
        return result
    }

    private func negativeVectors(_ diagnostics: DiagnosticCollector) -> [JSON] {
        var result: [JSON] = []
        for rule in spec.rules {
            for (index, validator) in rule.validators.enumerated() {
                guard let vector = negativeVector(rule, validator) else {
                    diagnostics.error(
                        rule.location,
                        "cannot build a negative vector for validator \(index + 1) of rule '\(rule.id)': its conditions cannot hold while the rule alone is broken"
                    )
                    continue
                }
                result.append(vector)
            }
        }
        return result
    }

    /// A value of the target that breaks this validator and nothing else.
    private func negativeVector(_ rule: Rule, _ validator: Validator) -> JSON? {
        let layout = spec.layout(validator.target)!
        var features: Set<String> = []
        for condition in validator.when { if case .feature(let name) = condition { features.insert(name) } }
        features = engine.closure(features)
        for condition in validator.when {
            if case .notFeature(let name) = condition, features.contains(name) { return nil }
        }
        for var sample in engine.samples(layout, fill: { _ in 0 }) {
            for condition in validator.when {
                if case .field(let path, let predicate) = condition {
                    sample.setScalar(path, Self.satisfying(predicate))
                }
            }
            sample.setScalar(validator.path, Self.violating(validator.predicate))
            // Repair whatever else the base value breaks, without touching the fields this rule reads.
            let protected = Set(
                [validator.path]
                    + validator.when.compactMap { if case .field(let p, _) = $0 { return p } else { return nil } })
            for _ in 0..<8 {
                let others = engine.violations(sample, features: features).filter {
                    $0.rule.id != rule.id || $0.validator.path != validator.path
                }
                guard let other = others.first, !protected.contains(other.validator.path) else { break }
                sample.setScalar(other.validator.path, Self.satisfying(other.validator.predicate))
            }
            let found = engine.violations(sample, features: features)
            guard found.count == 1, found[0].rule.id == rule.id, found[0].validator.path == validator.path else {
                continue
            }
            return .object([
                ("rule", .string(rule.id)), ("target", .string(layout.name)),
                ("features", .array(features.sorted().map(JSON.string))),
                ("field", .string(validator.path.joined(separator: "."))),
                ("hex", .string(hexString(engine.encode(sample)))),
                ("status", JSON.optional(rule.onViolation)),
            ])
        }
        return nil
    }

    static func satisfying(_ predicate: Predicate) -> UInt64 {
        switch predicate {
        case .range(let low, _): return low
        case .oneOf(let values): return values[0]
        case .notOneOf(let values): return (0...UInt64(values.count)).first { !values.contains($0) }!
        case .equals(let value): return value
        case .zero, .allowedBits: return 0
        }
    }

    static func violating(_ predicate: Predicate) -> UInt64 {
        switch predicate {
        case .range(let low, let high): return high < UInt64(UInt32.max) ? high + 1 : low - 1
        case .oneOf(let values): return (values.max() ?? 0) + 1
        case .notOneOf(let values): return values[0]
        case .equals(let value): return value == 0 ? 1 : value - 1
        case .zero: return 1
        case .allowedBits(let mask): return (0..<32).map { UInt64(1) << UInt64($0) }.first { $0 & mask == 0 } ?? 0
        }
    }
}
