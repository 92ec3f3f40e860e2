import Foundation
import Testing

@testable import SpecEmit
@testable import SpecResolve

/// The committed generated files are what the spec and generator produce now (the same
/// check as `virtio-crypto-gen check`, run inside `swift test`).
struct GeneratedFilesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    static func realSpec() throws -> ResolvedSpec {
        try Generator.load(entry: root + "/Spec/virtio-crypto.yaml")
    }

    static func realRevisions() throws -> [ResolvedSpec] {
        try Generator.loadRevisions(entry: root + "/Spec/virtio-crypto.yaml")
    }

    @Test func committedOutputIsFresh() throws {
        let specs = try Self.realRevisions()
        let tests = CoverageScanner.swiftFiles(under: Self.root + "/Tests", root: Self.root)
        let formatter = SwiftFormatter(configuration: Self.root + "/.swift-format")
        let files = try Generator.render(
            specs, specLabel: "Spec/virtio-crypto.yaml", testFiles: tests, formatter: formatter)
        let stale = Generator.stale(files, root: Self.root)
        #expect(
            stale.isEmpty,
            "stale generated files (run `swift run virtio-crypto-gen generate`):\n\(stale.map { "\($0.path)\n\($0.diff)" }.joined(separator: "\n"))"
        )
    }

    @Test func renderingIsDeterministic() throws {
        let specs = try Self.realRevisions()
        let first = try Generator.render(specs, specLabel: "x", testFiles: [])
        let second = try Generator.render(specs, specLabel: "x", testFiles: [])
        #expect(first == second)
    }

    @Test func everyGeneratedFileSaysDoNotEdit() throws {
        let files = try Generator.render(try Self.realRevisions(), specLabel: "Spec/virtio-crypto.yaml", testFiles: [])
        for file in files where !file.path.hasSuffix(".json") {
            #expect(file.contents.prefix(200).contains("DO NOT EDIT"), "\(file.path)")
            #expect(file.contents.prefix(300).contains("Spec/virtio-crypto.yaml"), "\(file.path)")
        }
    }

    @Test func opcodesAreComposedFromServiceAndOp() throws {
        let opcodes = try #require(try Self.realSpec().group("opcode"))
        #expect(opcodes.entry("cipher-create-session")?.value == 0x002)
        #expect(opcodes.entry("aead-destroy-session")?.value == 0x303)
        #expect(opcodes.entry("mac")?.value == 0x200)
        #expect(opcodes.entry("aead-decrypt")?.value == 0x301)
    }

    @Test func slotsHaveTheSeedsSizes() throws {
        let spec = try Self.realSpec()
        func slotSize(_ structName: String, _ field: String) -> Int? {
            guard case .slot(let slot)? = spec.layout(structName)?.field(field)?.kind else { return nil }
            return slot.size
        }
        #expect(slotSize("sym-create-session-flf", "op-flf") == 48)
        #expect(slotSize("alg-chain-session-flf", "algo-flf") == 16)
        #expect(slotSize("sym-data-flf", "op-type-flf") == 40)
        #expect(slotSize("sym-data-flf-stateless", "op-type-flf") == 72)
        #expect(spec.queues.first { $0.name == "controlq" }?.legacyFLFSize == 56)
        #expect(spec.queues.first { $0.name == "dataq" }?.legacyFLFSize == 48)
    }

    @Test func coverageScannerFindsEvidenceByKind() throws {
        let spec = try Self.realSpec()
        let rule = try #require(spec.rules.first)
        let second = spec.rules[1]
        let third = spec.rules[2]
        let source = """
            struct T {
                @Test func breaksIt() throws {
                    try harness.expectViolation(.\(rule.swiftName), status: .err) { .err }
                }
                @Test func behaves() {
                    expectRule(.\(rule.swiftName),
                               .\(second.swiftName), 1 == 1)
                }
                @Test func refuses() {
                    expectRefusal(.\(third.swiftName)) { }
                }
                func covers() { mentions(.\(third.swiftName)) }
            }
            """
        let hits = CoverageScanner().scan([("Tests/X/T.swift", source)], rules: spec.rules)
        #expect(
            hits[rule.id] == [
                CoverageScanner.Hit(file: "Tests/X/T.swift", test: "breaksIt", kind: .violation),
                CoverageScanner.Hit(file: "Tests/X/T.swift", test: "behaves", kind: .behaviour),
            ])
        #expect(
            hits[second.id] == [CoverageScanner.Hit(file: "Tests/X/T.swift", test: "behaves", kind: .behaviour)],
            "rule IDs over several lines")
        #expect(
            hits[third.id] == [CoverageScanner.Hit(file: "Tests/X/T.swift", test: "refuses", kind: .refusal)],
            "a mention outside an assertion is no evidence")
    }

    /// Every rule the implementation claims to enforce has evidence of the right kind: a rule
    /// the device refuses requests for (it has an on-violation status) a device test that
    /// breaks it; a driver-library rule a driver test (or, for what the driver must do rather than
    /// refuse, a behaviour test of the driver library); a codec or device-core behaviour a
    /// behaviour test.
    @Test func everyEnforcedRuleHasEvidence() throws {
        let spec = try Self.realSpec()
        let tests = CoverageScanner.swiftFiles(under: Self.root + "/Tests", root: Self.root)
        let coverage = CoverageScanner().scan(tests, rules: spec.rules)
        func has(_ rule: Rule, _ kind: CoverageScanner.Kind) -> Bool {
            coverage[rule.id]?.contains { $0.kind == kind } ?? false
        }
        let untested = spec.rules.filter { rule in
            switch rule.enforcedBy {
            case "manual": return false
            case "driver-library": return !has(rule, .refusal) && !has(rule, .behaviour)
            default:
                if rule.onViolation != nil { return !has(rule, .violation) }
                return rule.validators.isEmpty && !has(rule, .behaviour) && !has(rule, .violation)
            }
        }
        #expect(untested.isEmpty, "rules enforced without evidence: \(untested.map(\.id))")
    }
}
