import Foundation
import FuzzSupport
import SpecEmit
import SpecModel
import SpecResolve

/// The generator on hostile YAML: load (Yams, strict decoding), resolve and lint every revision's
/// form, and, when that succeeds, plan and render every output (without swift-format). Whatever the
/// text, the generator must answer with diagnostics at real places or with files, never crash.
/// Files are served from memory (`SpecLoader`'s `readFile`), so nothing touches the disk per input.
///
/// The first byte says where the text (the rest of the input, UTF-8) goes:
/// - bit 0 clear: the included body of a small spec (an entry with the real revision ids);
/// - bit 0 set: the entry file itself (its includes: any name whose file is another seed-sized body
///   is `fuzz/body.yaml`, which holds the small spec's body; anything else cannot be read).
/// With `FUZZ_SPEC_FULL=1`, bit 1 instead puts the text into the real spec: as an extra included
/// file (byte 2), or in place of its (byte >> 2)-th included file (byte 3 + 4k). That loads and
/// resolves all of Spec/ per input (about 250 ms under ASan), so it is a run of its own.
enum SpecFuzz {
    static let entry = "Spec/virtio-crypto.yaml"
    static let revisions = "[{id: v23}, {id: v1.2}, {id: v1.4}]"
    static let smallEntry = """
        spec: {id: fuzz, title: Fuzz, revisions: \(revisions), device-id: 20, endian: le, source: fuzz}
        include: [body.yaml]
        """
    static let full = ProcessInfo.processInfo.environment["FUZZ_SPEC_FULL"] != nil
    static let trace = ProcessInfo.processInfo.environment["FUZZ_TRACE"] != nil

    /// The real spec's files by path, read once per process.
    static let files: [String: String] = {
        var files = [entry: Repository.text(entry)]
        for name in includes { files["Spec/\(name)"] = Repository.text("Spec/\(name)") }
        return files
    }()

    /// The entry's include list, in its order (read from the entry's text: it is one flow sequence).
    static let includes: [String] = {
        let text = Repository.text(entry)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("include:") }),
            let open = line.firstIndex(of: "["), let close = line.lastIndex(of: "]")
        else { fatalError("\(entry) has no one-line include list") }
        return line[line.index(after: open)..<close].split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces)
        }
    }()

    enum Placement {
        case body, entry, extra
        case replacing(String)

        init(_ byte: UInt8) {
            switch byte & 3 {
            case 0: self = .body
            case 1: self = .entry
            case 2 where SpecFuzz.full: self = .extra
            case 3 where SpecFuzz.full: self = .replacing(SpecFuzz.includes[Int(byte >> 2) % SpecFuzz.includes.count])
            default: self = byte & 1 == 0 ? .body : .entry
            }
        }

        var byte: UInt8 {
            switch self {
            case .body: return 0
            case .entry: return 1
            case .extra: return 2
            case .replacing(let name): return 3 | UInt8(SpecFuzz.includes.firstIndex(of: name)!) << 2
            }
        }
    }

    struct Unreadable: Error {}

    static func run(_ text: String, _ placement: Placement) {
        var files: [String: String]
        var entryPath = entry
        switch placement {
        case .body:
            files = ["fuzz/spec.yaml": smallEntry, "fuzz/body.yaml": text]
            entryPath = "fuzz/spec.yaml"
        case .entry:
            files = ["fuzz/spec.yaml": text, "fuzz/body.yaml": minimalBody]
            entryPath = "fuzz/spec.yaml"
        case .extra:
            files = Self.files
            files[entry] = files[entry]!.replacingOccurrences(of: "include: [", with: "include: [fuzz.yaml, ")
            files["Spec/fuzz.yaml"] = text
        case .replacing(let name):
            files = Self.files
            files["Spec/\(name)"] = text
        }
        let specs: [ResolvedSpec]
        do {
            specs = try Generator.loadRevisions(entry: entryPath) { path in
                guard let contents = files[path] else { throw Unreadable() }
                return contents
            }
        } catch {
            check(error.diagnostics, files: files)
            return
        }
        do {
            let rendered = try Generator.render(specs, specLabel: entryPath, testFiles: [])
            guard !rendered.isEmpty else { fatalError("a spec that resolves rendered no files") }
            if trace { print("rendered \(rendered.count) files") }
        } catch {
            check(error.diagnostics, files: files)
        }
    }

    /// A failure must say what is wrong and where: at least one error, each diagnostic in a file the
    /// loader read (or was asked to), at a line and column counted from 1.
    static func check(_ diagnostics: [Diagnostic], files: [String: String]) {
        guard diagnostics.contains(where: { $0.severity == .error }) else {
            fatalError("the generator failed without an error: \(diagnostics)")
        }
        for diagnostic in diagnostics {
            let location = diagnostic.location
            guard !diagnostic.message.isEmpty, location.line >= 1, location.column >= 1,
                files[location.file] != nil || diagnostic.message.hasPrefix("cannot read")
            else { fatalError("a diagnostic without a real place or message: \(diagnostic)") }
        }
        if trace { print(diagnostics.map(\.description).joined(separator: "\n")) }
    }

    /// A small complete spec body (every section, revision marks) that loads, resolves and renders:
    /// the seed the fuzzer starts the deep stages from.
    static let minimalBody = """
        features:
          - {name: revision-1, c-name: F_REVISION_1, bit: 0}
          - {name: cipher-stateless-mode, c-name: F_CIPHER_STATELESS, bit: 1, requires: [revision-1], since: v1.2}
        constants:
          - group: service
            entries:
              - {name: cipher, c-name: SERVICE_CIPHER, value: 0}
              - {name: hash, c-name: SERVICE_HASH, value: 1, since: v1.2}
          - group: status
            width: u8
            entries:
              - {name: ok, c-name: VIRTIO_CRYPTO_OK, value: 0}
              - {name: err, c-name: VIRTIO_CRYPTO_ERR, value: 1}
              - {name: notsupp, c-name: VIRTIO_CRYPTO_NOTSUPP, value: 3}
          - group: config-ready
            kind: flags
            entries:
              - {name: hw-ready, c-name: STATUS_HW_READY, value: 0x1}
          - group: direction
            entries:
              - {name: encrypt, c-name: OP_ENCRYPT, value: 1}
              - {name: decrypt, c-name: OP_DECRYPT, value: 2,
                 changed-in: [{revision: v1.2, was: {c-name: OP_DEC}, note: renamed}]}
        structs:
          - name: device-config
            c-name: device_config
            size: 12
            fields:
              - {name: status, c-name: status, type: le32, flags: config-ready}
              - {name: queues, c-name: max_queues, type: le32}
              - {name: spare, c-name: spare, type: le32, reserved: true}
          - name: key-part
            c-name: key_part
            size: 8
            fields:
              - {name: key-len, c-name: key_len, type: le32}
              - {name: tag, c-name: tag, type: le32}
          - name: session
            c-name: session
            size: 16
            fields:
              - name: params
                c-name: params
                slot: 8
                selector: op
                cases:
                  - {when: direction.encrypt, struct: key-part}
              - {name: op, c-name: op, type: le32, enum: direction}
              - {name: padding, c-name: padding, type: le32, reserved: true}
        config: {struct: device-config, status-flags: config-ready}
        rules:
          - id: dev.config.queues-range
            level: MUST
            actor: device
            section: Device configuration layout
            origin: devicenormative
            since: v1.2
            text: "The device MUST set max_queues to a value from 1 to 8."
            enforcement: {by: validator, validators: [{target: device-config, field: queues, range: [1, 8]}]}
            on-violation: none
        """

    /// The minimal spec whole, as a body and as one entry file; each top-level section of each real
    /// file cut into small bodies; with `FUZZ_SPEC_FULL`, each real file whole in its own place.
    static func seeds() -> [Seed] {
        let small = smallEntry.replacingOccurrences(of: "include: [body.yaml]", with: "")
        var seeds = [
            Seed("minimal-body", [Placement.body.byte] + Array(minimalBody.utf8)),
            Seed("minimal-entry", [Placement.entry.byte] + Array((small + minimalBody).utf8)),
            Seed("minimal-entry-including", [Placement.entry.byte] + Array(smallEntry.utf8)),
        ]
        if full { seeds.append(Seed("entry", [Placement.entry.byte] + Array(files[entry]!.utf8))) }
        for name in includes {
            let text = files["Spec/\(name)"]!
            let stem = name.replacingOccurrences(of: ".yaml", with: "")
            if full { seeds.append(Seed("file-\(stem)", [Placement.replacing(name).byte] + Array(text.utf8))) }
            for (index, section) in sections(text).enumerated() {
                seeds.append(Seed("body-\(stem)-\(index)", [Placement.body.byte] + Array(section.utf8)))
                if full { seeds.append(Seed("extra-\(stem)-\(index)", [Placement.extra.byte] + Array(section.utf8))) }
            }
        }
        return seeds
    }

    /// Top-level sections cut into pieces of a few list items each (small seeds, still valid YAML).
    static func sections(_ text: String, items: Int = 2) -> [String] {
        var pieces: [String] = []
        var key: String?
        var current: [Substring] = []
        var count = 0
        func flush() {
            if let key, !current.isEmpty { pieces.append(([Substring(key)] + current).joined(separator: "\n") + "\n") }
            current = []
            count = 0
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if let first = line.first, first != " ", first != "#", line.hasSuffix(":") {
                flush()
                key = String(line)
            } else if line.hasPrefix("  - ") {
                if count == items { flush() }
                count += 1
                current.append(line)
            } else if key != nil, !current.isEmpty {
                current.append(line)
            }
        }
        flush()
        return pieces
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let bytes = UnsafeBufferPointer(start: data, count: size)
    SpecFuzz.run(String(decoding: bytes.dropFirst(), as: UTF8.self), SpecFuzz.Placement(bytes[0]))
    return 0
}

/// SwiftPM's name for this executable's main (see FuzzDriver).
@_cdecl("FuzzSpecLoader_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzDriver.main(argc, argv, seeds: SpecFuzz.seeds) { data, size in data.map { fuzz($0, size) } ?? 0 }
}
