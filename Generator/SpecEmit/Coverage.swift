import Foundation
import SpecResolve

/// Finds the tests that are evidence for each rule. A test is evidence only through an
/// assertion that names the rule (a generated `RuleID` case, so a typo does not compile):
/// - `expectViolation(.rule, status: …)`: a request that breaks the rule went through the
///   device, got the rule's status, and exactly that rule's violation counter moved;
/// - `expectRefusal(.rule, …)`: our driver library refused, before sending anything, an
///   action the rule forbids;
/// - `expectRule(.rule, …, condition)`: a behaviour the rule requires, asserted.
public struct CoverageScanner {
    public enum Kind: String, Sendable, CaseIterable, Comparable {
        case violation = "device test"
        case refusal = "driver test"
        case behaviour = "behaviour test"

        public static func < (lhs: Kind, rhs: Kind) -> Bool {
            allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
        }

        var call: String {
            switch self {
            case .violation: return "expectViolation("
            case .refusal: return "expectRefusal("
            case .behaviour: return "expectRule("
            }
        }
    }

    public struct Hit: Hashable, Sendable {
        public var file: String
        public var test: String
        public var kind: Kind
    }

    public init() {}

    /// `rule id → evidence`, scanning `files` (path, contents).
    public func scan(_ files: [(path: String, contents: String)], rules: [Rule]) -> [String: [Hit]] {
        let bySwiftName = Dictionary(rules.map { ($0.swiftName, $0.id) }, uniquingKeysWith: { a, _ in a })
        var result: [String: [Hit]] = [:]
        for file in files {
            let lines = file.contents.split(separator: "\n", omittingEmptySubsequences: false)
            var currentTest = "?"
            for (index, line) in lines.enumerated() {
                if let name = Self.functionName(in: line) { currentTest = name }
                for kind in Kind.allCases {
                    guard let start = line.range(of: kind.call), !line.contains("func " + kind.call) else { continue }
                    // The leading arguments that are rule IDs, possibly over several lines (a formatter
                    // may also break right after the opening parenthesis).
                    var arguments = String(line[start.upperBound...])
                    var next = index + 1
                    func open(_ text: String) -> Bool {
                        let trimmed = text.trimmingCharacters(in: .whitespaces)
                        return trimmed.isEmpty || trimmed.hasSuffix(",")
                    }
                    while next < lines.count && open(arguments) {
                        arguments += String(lines[next])
                        next += 1
                    }
                    for token in arguments.split(separator: ",") {
                        let text = token.trimmingCharacters(in: .whitespaces)
                        guard text.hasPrefix(".") else { break }
                        let name = text.dropFirst().prefix { $0.isLetter || $0.isNumber }
                        guard let id = bySwiftName[String(name)] else { break }
                        let hit = Hit(file: file.path, test: currentTest, kind: kind)
                        if !(result[id]?.contains(hit) ?? false) { result[id, default: []].append(hit) }
                        if name.count + 1 < text.count { break }  // the rule list ends here: `.rule)` or `.rule holds:`
                    }
                }
            }
        }
        return result
    }

    static func functionName(in line: Substring) -> String? {
        guard let range = line.range(of: "func ") else { return nil }
        let rest = line[range.upperBound...]
        let name = rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
        return name.isEmpty ? nil : String(name)
    }

    /// Every `*.swift` under `folder`, sorted, as (path relative to `root`, contents).
    public static func swiftFiles(under folder: String, root: String) -> [(path: String, contents: String)] {
        guard let enumerator = FileManager.default.enumerator(atPath: folder) else { return [] }
        var files: [(String, String)] = []
        for case let relative as String in enumerator where relative.hasSuffix(".swift") {
            let full = (folder as NSString).appendingPathComponent(relative)
            guard let contents = try? String(contentsOfFile: full, encoding: .utf8) else { continue }
            let display = full.hasPrefix(root + "/") ? String(full.dropFirst(root.count + 1)) : full
            files.append((display, contents))
        }
        return files.sorted { $0.0 < $1.0 }
    }
}
