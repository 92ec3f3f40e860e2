import Foundation
import Yams

/// Stage 1 and 2: load the YAML files (Yams, keeping marks) and decode them strictly into
/// the raw model. Reads files through `readFile` so tests can feed snippets from memory.
public struct SpecLoader {
    public typealias FileReader = (String) throws -> String

    let readFile: FileReader

    public init(readFile: @escaping FileReader = { try String(contentsOfFile: $0, encoding: .utf8) }) {
        self.readFile = readFile
    }

    /// Loads `entry` and the files it includes (paths relative to the entry's folder).
    public func load(entry: String) throws(SpecErrors) -> SpecDocument {
        let diagnostics = DiagnosticCollector()
        let folder = (entry as NSString).deletingLastPathComponent
        var files: [SpecFile] = []

        guard let root = parse(entry, into: &files, diagnostics) else { throw SpecErrors(diagnostics.diagnostics) }
        guard var top = MappingReader(root, file: entry, what: "the spec file", diagnostics: diagnostics) else {
            throw SpecErrors(diagnostics.diagnostics)
        }
        guard let info = decodeInfo(top.node("spec"), top: top, diagnostics) else {
            top.finish("the spec file")
            throw SpecErrors(diagnostics.diagnostics)
        }
        var document = SpecDocument(info: info, files: [])
        let includes = top.stringList("include", in: "the spec file")
        var sections = SectionDecoder(diagnostics: diagnostics)
        sections.decodeSections(&top, into: &document)
        top.finish("the spec file")

        for include in includes {
            let path = folder.isEmpty ? include.value : (folder as NSString).appendingPathComponent(include.value)
            guard let node = parse(path, includedAt: include.location, into: &files, diagnostics),
                  var reader = MappingReader(node, file: path, what: "an included file", diagnostics: diagnostics)
            else { continue }
            sections.decodeSections(&reader, into: &document)
            reader.finish("an included file (allowed: features, constants, structs, requests, config, rules)")
        }
        document.files = files
        if diagnostics.hasErrors { throw SpecErrors(diagnostics.diagnostics) }
        return document
    }

    private func parse(_ path: String, includedAt: SourceLocation? = nil, into files: inout [SpecFile],
                       _ diagnostics: DiagnosticCollector) -> Node? {
        let contents: String
        do {
            contents = try readFile(path)
        } catch {
            diagnostics.error(includedAt ?? SourceLocation(file: path, line: 1, column: 1), "cannot read \(path)")
            return nil
        }
        files.append(SpecFile(path: path, contents: contents))
        do {
            guard let node = try Yams.compose(yaml: contents) else {
                diagnostics.error(SourceLocation(file: path, line: 1, column: 1), "the file is empty")
                return nil
            }
            return node
        } catch let error as YamlError {
            diagnostics.append(Self.diagnostic(for: error, file: path))
            return nil
        } catch {
            diagnostics.error(SourceLocation(file: path, line: 1, column: 1), "\(error)")
            return nil
        }
    }

    /// Turns a Yams syntax error (with its mark) into our diagnostic.
    static func diagnostic(for error: YamlError, file: String) -> Diagnostic {
        func at(_ mark: Mark) -> SourceLocation { SourceLocation(file: file, line: mark.line, column: mark.column) }
        switch error {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let prefix = context.map { "\($0.text): " } ?? ""
            return Diagnostic(at: at(mark), "syntax: \(prefix)\(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            return Diagnostic(at: at(context.mark), "duplicate key '\(duplicates.joined(separator: "', '"))' in a mapping")
        default:
            return Diagnostic(at: SourceLocation(file: file, line: 1, column: 1), "\(error)")
        }
    }

    private func decodeInfo(_ node: Node?, top: MappingReader, _ diagnostics: DiagnosticCollector) -> SpecInfo? {
        guard let node else {
            diagnostics.error(top.location, "missing key 'spec' in the spec file")
            return nil
        }
        guard var map = MappingReader(node, file: top.file, what: "spec", diagnostics: diagnostics) else { return nil }
        let what = "spec"
        let info = SpecInfo(
            id: map.string("id", in: what)?.value ?? "",
            title: map.string("title", in: what)?.value ?? "",
            revision: map.string("revision", in: what)?.value ?? "",
            deviceID: Int(map.integer("device-id", in: what)?.value ?? 0),
            endian: map.string("endian", in: what)?.value ?? "le",
            source: map.string("source", in: what)?.value ?? "",
            location: map.location)
        map.finish(what)
        return info
    }
}
