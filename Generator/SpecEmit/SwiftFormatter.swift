import Foundation

/// Formats generated Swift with the toolchain's `swift-format` and the package's `.swift-format`,
/// so generated code meets the same style (and lint) as hand-written code. The emitters write
/// plain, correct Swift; line breaking is the formatter's job.
public struct SwiftFormatter: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The package's `.swift-format`.
    public let configuration: String

    public init(configuration: String) { self.configuration = configuration }

    public func format(_ source: String, as name: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["swift-format", "format", "--configuration", configuration, "--assume-filename", name]
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        do { try process.run() } catch {
            throw Failure(description: "cannot run swift-format (the toolchain's, on PATH): \(error)")
        }
        // Write and read concurrently: a large file would fill one pipe while the other waits.
        let writer = Thread {
            input.fileHandleForWriting.write(Data(source.utf8))
            try? input.fileHandleForWriting.close()
        }
        writer.start()
        let formatted = output.fileHandleForReading.readDataToEndOfFile()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "swift-format failed on \(name): \(String(decoding: message, as: UTF8.self))")
        }
        return String(decoding: formatted, as: UTF8.self)
    }
}
