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

    /// Loads `entry` and the files it includes (paths relative to the entry's folder) in the form
    /// of its newest revision.
    public func load(entry: String) throws(SpecErrors) -> SpecDocument {
        guard let newest = try loadRevisions(entry: entry).last else { throw SpecErrors([]) }
        return newest
    }

    /// Loads `entry` once and decodes it in the form of every revision `spec.revisions` lists,
    /// oldest first. Diagnostics that every form repeats are reported once.
    public func loadRevisions(entry: String) throws(SpecErrors) -> [SpecDocument] {
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
        let includes = top.stringList("include", in: "the spec file")
        var included: [(path: String, node: Node)] = []
        for include in includes {
            let path = folder.isEmpty ? include.value : (folder as NSString).appendingPathComponent(include.value)
            if let node = parse(path, includedAt: include.location, into: &files, diagnostics) {
                included.append((path, node))
            }
        }
        if diagnostics.hasErrors { throw SpecErrors(diagnostics.diagnostics) }

        var order: [String: Int] = [:]
        for (index, revision) in info.revisions.enumerated() { order[revision.id.value] = index }
        var documents: [SpecDocument] = []
        var reported: [Diagnostic] = []
        for index in info.revisions.indices {
            let projected = DiagnosticCollector()
            let projector = RevisionProjector(order: order, target: index)
            var document = SpecDocument(info: info, files: files)
            document.revision = index
            var sections = SectionDecoder(diagnostics: projected)
            if var reader = MappingReader(
                projector.project(root), file: entry, what: "the spec file",
                diagnostics: projected)
            {
                _ = reader.node("spec")
                _ = reader.node("include")
                sections.decodeSections(&reader, into: &document)
                reader.finish("the spec file")
            }
            for (path, node) in included {
                guard
                    var reader = MappingReader(
                        projector.project(node), file: path, what: "an included file",
                        diagnostics: projected)
                else { continue }
                sections.decodeSections(&reader, into: &document)
                reader.finish("an included file (allowed: features, constants, structs, requests, config, rules)")
            }
            for diagnostic in projected.diagnostics where !reported.contains(diagnostic) {
                reported.append(diagnostic)
                diagnostics.append(diagnostic)
            }
            documents.append(document)
        }
        if diagnostics.hasErrors { throw SpecErrors(diagnostics.diagnostics) }
        return documents
    }

    private func parse(
        _ path: String, includedAt: SourceLocation? = nil, into files: inout [SpecFile],
        _ diagnostics: DiagnosticCollector
    ) -> Node? {
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
            return Diagnostic(
                at: at(context.mark), "duplicate key '\(duplicates.joined(separator: "', '"))' in a mapping")
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
        var revisions: [RevisionDecl] = []
        for node in map.sequence("revisions", in: what, required: true) {
            guard var revision = MappingReader(node, file: top.file, what: "a revision", diagnostics: diagnostics),
                let id = revision.string("id", in: "a revision")
            else { continue }
            revisions.append(
                RevisionDecl(
                    id: id, title: revision.text("title") ?? "", date: revision.text("date") ?? "",
                    source: revision.text("source") ?? ""))
            revision.finish("a revision (allowed: id, title, date, source)")
        }
        if revisions.isEmpty { diagnostics.error(map.location, "'spec.revisions' must list at least one revision") }
        let info = SpecInfo(
            id: map.string("id", in: what)?.value ?? "",
            title: map.string("title", in: what)?.value ?? "",
            revisions: revisions,
            deviceID: Int(map.integer("device-id", in: what)?.value ?? 0),
            endian: map.string("endian", in: what)?.value ?? "le",
            source: map.string("source", in: what)?.value ?? "",
            location: map.location)
        map.finish(what)
        return info
    }
}
