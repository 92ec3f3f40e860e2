import ArgumentParser
import Foundation
import SpecEmit
import SpecModel

/// The spec generator: `generate`, `check`, `lint`, `rules`.
@main
struct VirtioCryptoGen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "virtio-crypto-gen",
        abstract: "Generate Swift codecs, validators, vectors and the rule table from Spec/*.yaml.",
        subcommands: [Generate.self, Check.self, Lint.self, Rules.self],
        defaultSubcommand: Generate.self)
}

struct Options: ParsableArguments {
    @Option(help: "The entry YAML file of the spec.")
    var spec = "Spec/virtio-crypto.yaml"

    @Option(help: "The package root the generated files are written under.")
    var output = "."

    @Option(help: "Folder scanned for covers(...) marks of tests (default: <output>/Tests).")
    var tests: String?

    func render() throws -> [GeneratedFile] {
        let resolved = try Generator.load(entry: spec)
        let root = (output as NSString).standardizingPath
        let testFiles = CoverageScanner.swiftFiles(under: tests ?? (root as NSString).appendingPathComponent("Tests"), root: root)
        return try Generator.render(resolved, specLabel: spec, testFiles: testFiles)
    }
}

/// Prints diagnostics as `file:line:col: error: …` and exits non-zero on errors.
func reportingDiagnostics(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let errors as SpecErrors {
        for diagnostic in errors.diagnostics { FileHandle.standardError.write(Data((diagnostic.description + "\n").utf8)) }
        throw ExitCode(errors.diagnostics.contains { $0.severity == .error } ? 1 : 0)
    }
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Regenerate every output; files are rewritten only when they change.")
    @OptionGroup var options: Options

    func run() throws {
        try reportingDiagnostics {
            let written = try Generator.write(try options.render(), root: options.output)
            print(written.isEmpty ? "up to date" : written.map { "wrote \($0)" }.joined(separator: "\n"))
        }
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Fail with a diff when a committed generated file is stale.")
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
    static let configuration = CommandConfiguration(abstract: "Load, resolve and lint the spec; print warnings and errors.")
    @OptionGroup var options: Options

    func run() throws {
        try reportingDiagnostics {
            let resolved = try Generator.load(entry: options.spec)
            print("\(options.spec): \(resolved.structs.count) structs, \(resolved.groups.reduce(0) { $0 + $1.entries.count }) constants, \(resolved.rules.count) rules: ok")
        }
    }
}

struct Rules: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the rule table (md or json).")
    @OptionGroup var options: Options
    @Option(help: "md or json") var format = "md"

    func run() throws {
        try reportingDiagnostics {
            let files = try options.render()
            let wanted = format == "json" ? "Spec/generated/spec.json" : "Spec/RULES.md"
            print(files.first { $0.path == wanted }?.contents ?? "", terminator: "")
        }
    }
}
