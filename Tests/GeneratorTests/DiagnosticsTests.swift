import Testing

@testable import SpecEmit
@testable import SpecModel
@testable import SpecResolve

/// Broken YAML gives `file:line:col: error:` at the exact place, one test per error kind.
struct DiagnosticsTests {
    static let entry = """
        spec: {id: t, title: T, revisions: [{id: r1}, {id: r2}], device-id: 20, endian: le, source: test}
        include: [body.yaml]
        """

    static let body = """
        features:
          - {name: revision-1, c-name: F_R1, bit: 0}
          - {name: cipher-stateless-mode, c-name: F_CS, bit: 1, requires: [revision-1]}
        constants:
          - group: service
            entries:
              - {name: cipher, c-name: S_CIPHER, value: 0}
          - group: status
            width: u8
            entries:
              - {name: ok, c-name: VIRTIO_CRYPTO_OK, value: 0}
              - {name: notsupp, c-name: VIRTIO_CRYPTO_NOTSUPP, value: 3}
          - group: ready
            kind: flags
            entries:
              - {name: hw-ready, c-name: S_HW_READY, value: 0x1}
          - group: op
            entries:
              - {name: encrypt, c-name: OP_ENCRYPT, value: 1}
              - {name: decrypt, c-name: OP_DECRYPT, value: 2}
        structs:
          - name: cfg
            c-name: cfg
            size: 8
            fields:
              - {name: status, c-name: status, type: le32, flags: ready}
              - {name: queues, c-name: queues, type: le32}
          - name: member
            c-name: member
            size: 8
            fields:
              - {name: a, c-name: a, type: le32}
              - {name: b, c-name: b, type: le32}
          - name: holder
            c-name: holder
            size: 12
            fields:
              - name: part
                c-name: part
                slot: 8
                selector: op
                cases:
                  - {when: op.encrypt, struct: member}
              - {name: op, c-name: op, type: le32, enum: op}
        config: {struct: cfg, status-flags: ready}
        rules:
          - id: dev.config.queues
            level: MUST
            actor: device
            section: S
            origin: devicenormative
            text: "The device MUST set queues."
            enforcement: {by: validator, validators: [{target: cfg, field: queues, range: [1, 9]}]}
            on-violation: none
        """

    /// Loads the two files, with `edit` applied to body.yaml, and returns the diagnostics.
    static func diagnostics(_ edit: (String) -> String) -> (String, [Diagnostic]) {
        let edited = edit(body)
        let files = ["t/spec.yaml": entry, "t/body.yaml": edited]
        do {
            let specs = try Generator.loadRevisions(entry: "t/spec.yaml") { path in
                guard let text = files[path] else { throw SpecErrors([]) }
                return text
            }
            _ = try Generator.render(specs, specLabel: "t/spec.yaml", testFiles: [])
            return (edited, [])
        } catch {
            return (edited, error.diagnostics)
        }
    }

    /// 1-based line and column of the `occurrence`-th `token` in `text`.
    static func locate(_ token: String, in text: String, occurrence: Int = 1) -> (Int, Int) {
        var seen = 0
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var searchStart = line.startIndex
            while let range = line.range(of: token, range: searchStart..<line.endIndex) {
                seen += 1
                if seen == occurrence {
                    return (index + 1, line.distance(from: line.startIndex, to: range.lowerBound) + 1)
                }
                searchStart = range.upperBound
            }
        }
        return (0, 0)
    }

    static func expectError(
        _ edit: (String) -> String, at token: String, occurrence: Int = 1, containing message: String
    ) {
        let (text, found) = diagnostics(edit)
        let (line, column) = locate(token, in: text, occurrence: occurrence)
        let expected = "t/body.yaml:\(line):\(column): error:"
        #expect(
            found.contains { $0.description.hasPrefix(expected) && $0.message.contains(message) },
            "expected \(expected) …\(message)…, got:\n\(found.map(\.description).joined(separator: "\n"))")
    }

    @Test func theBaseSnippetIsValid() {
        #expect(Self.diagnostics { $0 }.1.isEmpty)
    }

    @Test func syntaxError() {
        Self.expectError(
            { $0.replacingOccurrences(of: "c-name: holder\n", with: "c-name: holder: x\n") }, at: ": x",
            containing: "syntax")
    }

    @Test func unknownKey() {
        Self.expectError(
            { $0.replacingOccurrences(of: "size: 12", with: "size: 12\n    colour: red") }, at: "colour",
            containing: "unknown key 'colour'")
    }

    @Test func duplicateKey() {
        let (_, found) = Self.diagnostics { $0.replacingOccurrences(of: "size: 12", with: "size: 12\n    size: 13") }
        let (text, _) = Self.diagnostics { $0.replacingOccurrences(of: "size: 12", with: "size: 12\n    size: 13") }
        let (line, column) = Self.locate("size: 12", in: text)
        #expect(
            found.contains { $0.description.hasPrefix("t/body.yaml:\(line):\(column): error: duplicate key 'size'") },
            "\(found)")
    }

    @Test func wrongType() {
        Self.expectError(
            { $0.replacingOccurrences(of: "bit: 0}", with: "bit: zero}") }, at: "zero", containing: "must be a decimal")
    }

    @Test func octalLookingIntegerIsRefused() {
        Self.expectError(
            { $0.replacingOccurrences(of: "value: 3}", with: "value: 03}") }, at: "03}", containing: "must be a decimal"
        )
    }

    @Test func unknownReference() {
        Self.expectError(
            { $0.replacingOccurrences(of: "struct: member}", with: "struct: mebmer}") }, at: "mebmer",
            containing: "unknown struct 'mebmer'")
    }

    @Test func unknownConstantReference() {
        Self.expectError(
            { $0.replacingOccurrences(of: "when: op.encrypt", with: "when: op.encrpyt") }, at: "op.encrpyt",
            containing: "unknown constant 'encrpyt'")
    }

    @Test func structDoesNotFitItsSlot() {
        Self.expectError(
            {
                $0.replacingOccurrences(of: "slot: 8", with: "slot: 4").replacingOccurrences(
                    of: "size: 12", with: "size: 8")
            },
            at: "member}", containing: "does not fit the 4-byte slot")
    }

    @Test func declaredSizeDisagrees() {
        Self.expectError(
            { $0.replacingOccurrences(of: "size: 12", with: "size: 16") }, at: "16",
            containing: "is 12 bytes, not the declared 16")
    }

    @Test func duplicateValue() {
        Self.expectError(
            { $0.replacingOccurrences(of: "c-name: OP_DECRYPT, value: 2", with: "c-name: OP_DECRYPT, value: 1") },
            at: "decrypt", containing: "duplicate value 1")
    }

    @Test func cyclicFeatureRequirement() {
        Self.expectError(
            {
                $0.replacingOccurrences(
                    of: "c-name: F_R1, bit: 0}", with: "c-name: F_R1, bit: 0, requires: [cipher-stateless-mode]}")
            },
            at: "revision-1]}", containing: "cyclic feature requirement")
    }

    @Test func ruleWithoutEnforcement() {
        Self.expectError(
            {
                $0.replacingOccurrences(
                    of: "    enforcement: {by: validator, validators: [{target: cfg, field: queues, range: [1, 9]}]}\n",
                    with: "")
            },
            at: "dev.config.queues", containing: "has no 'enforcement'")
    }

    @Test func manualRuleNeedsAReason() {
        Self.expectError(
            {
                $0.replacingOccurrences(
                    of: "{by: validator, validators: [{target: cfg, field: queues, range: [1, 9]}]}",
                    with: "{by: manual}")
            },
            at: "manual", containing: "needs a 'reason'")
    }

    // MARK: revisions

    @Test func unknownRevision() {
        Self.expectError(
            {
                $0.replacingOccurrences(
                    of: "{name: b, c-name: b, type: le32}", with: "{name: b, c-name: b, type: le32, since: r9}")
            },
            at: "r9", containing: "unknown revision 'r9'")
    }

    @Test func aChangeMustComeAfterTheItemAppeared() {
        let edit = "{name: b, c-name: b, type: le32, since: r2, changed-in: [{revision: r2, was: {c-name: bee}}]}"
        Self.expectError(
            { $0.replacingOccurrences(of: "{name: b, c-name: b, type: le32}", with: edit) },
            at: "r2, was", containing: "is not after 'b' appeared")
    }

    @Test func aReferenceOnlyAnEarlierFormBreaksNamesThatRevision() {
        // `member` was called `old-member` in r1, but the slot case still says `member` there.
        let edit = "  - name: member\n    c-name: member\n    changed-in: [{revision: r2, was: {name: old-member}}]\n"
        Self.expectError(
            { $0.replacingOccurrences(of: "  - name: member\n    c-name: member\n", with: edit) },
            at: "member}", occurrence: 2, containing: "in r1: unknown struct 'member'")
    }

    @Test func eachRevisionIsItsOwnForm() throws {
        let files = [
            "t/spec.yaml": Self.entry,
            "t/body.yaml": Self.body
                .replacingOccurrences(
                    of: "{name: b, c-name: b, type: le32}",
                    with: "{name: b, c-name: b, type: le32, changed-in: [{revision: r2, was: {type: u8}}]}"
                )
                .replacingOccurrences(
                    of: "size: 8\n    fields:\n      - {name: a",
                    with: "size: 8\n    changed-in: [{revision: r2, was: {size: 5}}]\n    fields:\n      - {name: a"
                )
                .replacingOccurrences(
                    of: "{name: decrypt, c-name: OP_DECRYPT, value: 2}",
                    with: "{name: decrypt, c-name: OP_DECRYPT, value: 2, since: r2}"),
        ]
        let specs = try Generator.loadRevisions(entry: "t/spec.yaml") { path in
            guard let text = files[path] else { throw SpecErrors([]) }
            return text
        }
        #expect(specs.count == 2)
        #expect(specs[0].layout("member")?.size == 5 && specs[1].layout("member")?.size == 8)
        #expect(specs[0].group("op")?.entry("decrypt") == nil && specs[1].group("op")?.entry("decrypt") != nil)
        #expect(specs[1].group("op")?.entry("decrypt")?.history.since == 1)
        let forms = RevisionForms(specs: specs)
        #expect(forms.typeName("member", in: 0) == "MemberR1" && forms.typeName("member", in: 1) == "Member")
        let changes = Generator.changesMarkdown(specs, from: 0, to: 1, specLabel: "t")
        #expect(changes.contains("`OP_DECRYPT`** (since r2)"))
        #expect(changes.contains("`b` changed in r2 (`type`)"))
    }

    @Test func validatorOnUnknownField() {
        Self.expectError(
            { $0.replacingOccurrences(of: "field: queues", with: "field: queus") }, at: "queus",
            containing: "'queus' is not a field")
    }

    @Test func readableSegmentAfterWritable() {
        let vlf = """
              - name: member-vlf
                c-name: member_vlf
                kind: vlf
                of: member
                fields:
                  - {name: out, c-name: out, length: a, direction: writable}
                  - {name: inbound, c-name: inbound, length: b, direction: readable}
            config:
            """
        Self.expectError(
            { $0.replacingOccurrences(of: "config:", with: vlf) }, at: "inbound,", containing: "follows a writable one")
    }
}

extension Error {
    var diagnostics: [Diagnostic] { (self as? SpecErrors)?.diagnostics ?? [] }
}
