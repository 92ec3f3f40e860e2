import SpecResolve

/// A value of a fixed-length struct, built by the generator to produce vectors. The
/// generator encodes and evaluates it with its own code, independent of the emitted
/// Swift, so the vectors cross-check the generated codecs and validators.
struct StructSample {
    indirect enum Value {
        case scalar(UInt64)
        case nested(StructSample)
        /// The selected member, or nil when the selector names none.
        case slot(caseName: String?, member: StructSample?)
    }

    let layout: StructLayout
    var values: [String: Value] = [:]

    func scalar(_ path: [String]) -> UInt64 {
        guard let first = path.first else { return 0 }
        switch values[first] {
        case .scalar(let value)?: return value
        case .nested(let nested)?: return nested.scalar(Array(path.dropFirst()))
        default: return 0
        }
    }

    mutating func setScalar(_ path: [String], _ value: UInt64) {
        guard let first = path.first else { return }
        if path.count == 1 {
            values[first] = .scalar(value)
        } else if case .nested(var nested)? = values[first] {
            nested.setScalar(Array(path.dropFirst()), value)
            values[first] = .nested(nested)
        }
    }
}

/// Builds, encodes and evaluates samples against the resolved spec.
struct SampleEngine {
    let spec: ResolvedSpec

    /// Every combination of slot members (and "unused") of `layout`, fields filled by `fill`.
    func samples(_ layout: StructLayout, fill: (Field) -> UInt64) -> [StructSample] {
        var results = [StructSample(layout: layout)]
        let selectors = Set(
            layout.fields.compactMap { field -> String? in
                if case .slot(let slot) = field.kind { return slot.selector }
                return nil
            })
        let counts = Set(
            layout.fields.compactMap { field -> String? in
                if case .array(let array) = field.kind { return array.countFrom }
                return nil
            })
        for field in layout.fields {
            switch field.kind {
            case .scalar where selectors.contains(field.name):
                continue  // set by its slot, to the value of the chosen member
            case .scalar where counts.contains(field.name):
                // an empty trailing array
                for index in results.indices { results[index].values[field.name] = .scalar(0) }
            case .scalar:
                let value = field.isReserved ? 0 : fill(field)
                for index in results.indices { results[index].values[field.name] = .scalar(value) }
            case .nested(let name):
                let nested = samples(spec.layout(name)!, fill: fill)
                results = results.flatMap { base in
                    nested.map {
                        var s = base
                        s.values[field.name] = .nested($0)
                        return s
                    }
                }
            case .slot(let slot):
                var options: [(String?, StructSample?, UInt64)] = []
                for slotCase in slot.cases {
                    for member in samples(spec.layout(slotCase.structName)!, fill: fill) {
                        options.append((slotCase.caseName, member, slotCase.value))
                    }
                }
                let taken = Set(slot.cases.map(\.value))
                options.append((nil, nil, (0...UInt64(slot.cases.count)).first { !taken.contains($0) }!))
                results = results.flatMap { base in
                    options.map { option in
                        var s = base
                        s.values[field.name] = .slot(caseName: option.0, member: option.1)
                        s.values[slot.selector] = .scalar(option.2)
                        return s
                    }
                }
            case .array, .segment, .selectFrom:
                break  // arrays are sampled as zeros (fixed) or empty (trailing)
            }
        }
        return results
    }

    /// The first sample whose slots all select their first member (a plain, valid-looking value).
    func firstSample(_ layout: StructLayout, fill: (Field) -> UInt64) -> StructSample {
        samples(layout, fill: fill)[0]
    }

    func encode(_ sample: StructSample) -> [UInt8] {
        var bytes: [UInt8] = []
        for field in sample.layout.fields {
            switch (field.kind, sample.values[field.name]) {
            case (.scalar(let type), .scalar(let value)?):
                for index in 0..<type.size { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(index * 8))) }
            case (.nested, .nested(let nested)?):
                bytes += encode(nested)
            case (.slot(let slot), .slot(_, let member)?):
                var part = member.map(encode) ?? []
                part += [UInt8](repeating: 0, count: slot.size - part.count)
                bytes += part
            default:
                bytes += [UInt8](repeating: 0, count: field.size)
            }
        }
        return bytes
    }

    /// `path → value` as the generated `fieldValues` reports it.
    func flatten(_ sample: StructSample, prefix: String = "") -> [String: UInt64] {
        var result: [String: UInt64] = [:]
        for field in sample.layout.fields {
            switch sample.values[field.name] {
            case .scalar(let value)?: result[prefix + field.name] = value
            case .nested(let nested)?:
                result.merge(flatten(nested, prefix: prefix + field.name + "."), uniquingKeysWith: { a, _ in a })
            case .slot(let caseName?, let member?)?:
                result.merge(
                    flatten(member, prefix: prefix + field.name + "." + caseName + "."), uniquingKeysWith: { a, _ in a }
                )
            default: break
            }
        }
        return result
    }

    /// Every rule the sample breaks under `features`, by the generator's own evaluation.
    func violations(_ sample: StructSample, features: Set<String>) -> [(rule: Rule, validator: Validator)] {
        var found: [(Rule, Validator)] = []
        for rule in spec.rules {
            for validator in rule.validators where validator.target == sample.layout.name {
                let applies = validator.when.allSatisfy { condition in
                    switch condition {
                    case .feature(let name): return features.contains(name)
                    case .notFeature(let name): return !features.contains(name)
                    case .field(let path, let predicate): return predicate.holds(sample.scalar(path))
                    }
                }
                if applies && !validator.predicate.holds(sample.scalar(validator.path)) {
                    found.append((rule, validator))
                }
            }
        }
        for field in sample.layout.fields {
            switch sample.values[field.name] {
            case .nested(let nested)?: found += violations(nested, features: features).map { ($0.rule, $0.validator) }
            case .slot(_, let member?)?: found += violations(member, features: features).map { ($0.rule, $0.validator) }
            default: break
            }
        }
        return found
    }

    struct SegmentValue {
        var name: String
        var direction: Direction
        var offset: Int
        var length: Int
    }

    /// The vlf segments of `vlf` for the fixed part `flf`.
    func segments(_ vlf: StructLayout, _ flf: StructSample) -> [SegmentValue] {
        var readable = 0
        var writable = 0
        var result: [SegmentValue] = []
        for field in vlf.fields {
            switch field.kind {
            case .segment(let segment):
                let length = Int(lengthValue(segment.path, flf))
                let offset = segment.direction == .readable ? readable : writable
                if segment.direction == .readable { readable += length } else { writable += length }
                result.append(
                    SegmentValue(name: field.name, direction: segment.direction, offset: offset, length: length))
            case .selectFrom(let slotName):
                guard case .slot(let caseName?, let member?)? = flf.values[slotName],
                    case .slot(let slot)? = flf.layout.field(slotName)?.kind,
                    let vlfName = slot.cases.first(where: { $0.caseName == caseName })?.vlf
                else { continue }
                result += segments(spec.layout(vlfName)!, member)
            default:
                break
            }
        }
        return result
    }

    private func lengthValue(_ path: [PathStep], _ sample: StructSample) -> UInt64 {
        guard let step = path.first else { return 0 }
        switch (step, sample.values) {
        case (.field(let name), let values):
            switch values[name] {
            case .scalar(let value)?: return value
            case .nested(let nested)?: return lengthValue(Array(path.dropFirst()), nested)
            default: return 0
            }
        case (.slotMember(let slotName, let caseName), let values):
            guard case .slot(let selected?, let member?)? = values[slotName], selected == caseName else { return 0 }
            return lengthValue(Array(path.dropFirst()), member)
        }
    }

    /// `features` plus everything they require.
    func closure(_ features: Set<String>) -> Set<String> {
        var result = features
        var changed = true
        while changed {
            changed = false
            for feature in spec.features where result.contains(feature.name) {
                for required in feature.requires where !result.contains(required) {
                    result.insert(required)
                    changed = true
                }
            }
        }
        return result
    }
}
