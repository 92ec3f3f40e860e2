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

    @Test func committedOutputIsFresh() throws {
        let spec = try Self.realSpec()
        let tests = CoverageScanner.swiftFiles(under: Self.root + "/Tests", root: Self.root)
        let files = try Generator.render(spec, specLabel: "Spec/virtio-crypto.yaml", testFiles: tests)
        let stale = Generator.stale(files, root: Self.root)
        #expect(stale.isEmpty, "stale generated files (run `swift run virtio-crypto-gen generate`):\n\(stale.map { "\($0.path)\n\($0.diff)" }.joined(separator: "\n"))")
    }

    @Test func renderingIsDeterministic() throws {
        let spec = try Self.realSpec()
        let first = try Generator.render(spec, specLabel: "x", testFiles: [])
        let second = try Generator.render(spec, specLabel: "x", testFiles: [])
        #expect(first == second)
    }

    @Test func everyGeneratedFileSaysDoNotEdit() throws {
        let files = try Generator.render(try Self.realSpec(), specLabel: "Spec/virtio-crypto.yaml", testFiles: [])
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

    @Test func coverageScannerFindsCoversMarks() throws {
        let spec = try Self.realSpec()
        let rule = try #require(spec.rules.first)
        let second = spec.rules[1]
        let source = "struct T {\n    @Test func checksIt() {\n        covers(.\(rule.swiftName),\n               .\(second.swiftName))\n    }\n}\n"
        let hits = CoverageScanner().scan([("Tests/X/T.swift", source)], rules: spec.rules)
        #expect(hits[rule.id] == [CoverageScanner.Hit(file: "Tests/X/T.swift", test: "checksIt")])
        #expect(hits[second.id] == [CoverageScanner.Hit(file: "Tests/X/T.swift", test: "checksIt")], "marks over several lines")
    }

    /// Every rule the implementation claims to enforce is tested: validator rules by their
    /// generated negative vectors, codec and device-core rules by a test marked `covers(…)`.
    @Test func everyEnforcedRuleHasATest() throws {
        let spec = try Self.realSpec()
        let tests = CoverageScanner.swiftFiles(under: Self.root + "/Tests", root: Self.root)
        let coverage = CoverageScanner().scan(tests, rules: spec.rules)
        let untested = spec.rules.filter { rule in
            switch rule.enforcedBy {
            case "validator": return rule.validators.isEmpty
            case "codec", "device-core": return coverage[rule.id] == nil
            default: return false
            }
        }
        #expect(untested.isEmpty, "rules enforced but not tested: \(untested.map(\.id))")
    }
}
