import ArgumentParser
import Foundation
import SpecEmit
import SpecModel
import SpecResolve

/// The spec generator: `generate`, `check`, `lint`, `rules`.
@main
struct VirtioCryptoGen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "virtio-crypto-gen",
        abstract: "Generate Swift codecs, validators, vectors and the rule table from Spec/*.yaml.",
        subcommands: [Generate.self, Check.self, Lint.self, Rules.self, Changes.self],
        defaultSubcommand: Generate.self)
}

struct Options: ParsableArguments {
    @Option(help: "The entry YAML file of the spec.")
    var spec = "Spec/virtio-crypto.yaml"

    @Option(help: "The package root the generated files are written under.")
    var output = "."

    @Option(help: "Folder scanned for covers(...) marks of tests (default: <output>/Tests).")
    var tests: String?

    var testFiles: [(path: String, contents: String)] {
        let root = (output as NSString).standardizingPath
        return CoverageScanner.swiftFiles(
            under: tests ?? (root as NSString).appendingPathComponent("Tests"), root: root)
    }

    /// The package's `.swift-format`: generated Swift is formatted as the hand-written code is.
    var formatter: SwiftFormatter {
        SwiftFormatter(
            configuration: ((output as NSString).standardizingPath as NSString).appendingPathComponent(".swift-format"))
    }

    func render() throws -> [GeneratedFile] {
        try Generator.render(
            try Generator.loadRevisions(entry: spec), specLabel: spec, testFiles: testFiles, formatter: formatter)
    }

    /// The index of revision `id` in the spec, or a usage error listing the revisions.
    func revisionIndex(_ id: String?, in specs: [ResolvedSpec]) throws -> Int {
        guard let id else { return specs.count - 1 }
        guard let index = specs.last?.revisions.firstIndex(where: { $0.id == id }) else {
            let known = specs.last?.revisions.map(\.id).joined(separator: ", ") ?? ""
            throw ValidationError("unknown revision '\(id)' (the spec holds: \(known))")
        }
        return index
    }
}

/// Prints diagnostics as `file:line:col: error: …` and exits non-zero on errors.
func reportingDiagnostics(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let errors as SpecErrors {
        for diagnostic in errors.diagnostics {
            FileHandle.standardError.write(Data((diagnostic.description + "\n").utf8))
        }
        throw ExitCode(errors.diagnostics.contains { $0.severity == .error } ? 1 : 0)
    }
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Regenerate every output; files are rewritten only when they change.")
    @OptionGroup var options: Options

    func run() throws {
        try reportingDiagnostics {
            let written = try Generator.write(try options.render(), root: options.output)
            print(written.isEmpty ? "up to date" : written.map { "wrote \($0)" }.joined(separator: "\n"))
        }
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fail with a diff when a committed generated file is stale.")
    @OptionGroup var options: Options

    func run() throws {
        try reportingDiagnostics {
            let stale = Generator.stale(try options.render(), root: options.output)
            guard !stale.isEmpty else {
                print("generated files are up to date")
                return
            }
            for (path, diff) in stale { print("stale: \(path)\n\(diff)\n") }
            print("run `swift run virtio-crypto-gen generate` and commit the result")
            throw ExitCode(1)
        }
    }
}

struct Lint: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load, resolve and lint the spec in every revision's form; print warnings and errors.")
    @OptionGroup var options: Options
    @Option(help: "Lint only this revision's form (v23, v1.2, v1.4; default: all).") var revision: String?

    func run() throws {
        try reportingDiagnostics {
            for resolved in try Generator.loadRevisions(entry: options.spec)
            where revision == nil || resolved.revisions[resolved.revision].id == revision {
                let constants = resolved.groups.reduce(0) { $0 + $1.entries.count }
                print(
                    "\(options.spec) \(resolved.revisions[resolved.revision].id): \(resolved.structs.count) structs, \(constants) constants, \(resolved.rules.count) rules: ok"
                )
            }
        }
    }
}

struct Rules: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the rule table (md or json).")
    @OptionGroup var options: Options
    @Option(help: "md or json") var format = "md"
    @Option(help: "Print the Markdown table as this revision has it (v23, v1.2, v1.4; default: the newest).")
    var revision: String?

    func run() throws {
        try reportingDiagnostics {
            if format == "md", let revision {
                let specs = try Generator.loadRevisions(entry: options.spec)
                let index = try options.revisionIndex(revision, in: specs)
                print(
                    Generator.rulesMarkdown(
                        specs, revision: index, specLabel: options.spec, testFiles: options.testFiles),
                    terminator: "")
                return
            }
            let files = try options.render()
            let wanted = format == "json" ? "Spec/generated/spec.json" : "Spec/RULES.md"
            print(files.first { $0.path == wanted }?.contents ?? "", terminator: "")
        }
    }
}

struct Changes: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Print, as Markdown, every feature, constant, struct, request layout and rule added, changed or removed between two revisions."
    )
    @OptionGroup var options: Options
    @Option(help: "The earlier revision (default: the oldest).") var from: String?
    @Option(help: "The later revision (default: the newest).") var to: String?

    func run() throws {
        try reportingDiagnostics {
            let specs = try Generator.loadRevisions(entry: options.spec)
            let start = try from.map { try options.revisionIndex($0, in: specs) } ?? 0
            let end = try options.revisionIndex(to, in: specs)
            guard start < end else { throw ValidationError("--from must be an earlier revision than --to") }
            print(Generator.changesMarkdown(specs, from: start, to: end, specLabel: options.spec), terminator: "")
        }
    }
}
