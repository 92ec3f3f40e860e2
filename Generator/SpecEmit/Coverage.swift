import Foundation
import SpecResolve

/// Finds which tests cover which rules: a test marks a rule with `covers(.ruleName, …)`
/// where `.ruleName` is a generated `RuleID` case (so a typo does not compile).
public struct CoverageScanner {
    public struct Hit: Hashable, Sendable {
        public var file: String
        public var test: String
    }

    public init() {}

    /// `rule id → tests`, scanning `files` (path, contents).
    public func scan(_ files: [(path: String, contents: String)], rules: [Rule]) -> [String: [Hit]] {
        let bySwiftName = Dictionary(rules.map { ($0.swiftName, $0.id) }, uniquingKeysWith: { a, _ in a })
        var result: [String: [Hit]] = [:]
        for file in files {
            let lines = file.contents.split(separator: "\n", omittingEmptySubsequences: false)
            var currentTest = "?"
            var index = 0
            while index < lines.count {
                let line = lines[index]
                if let name = Self.functionName(in: line) { currentTest = name }
                guard let start = line.range(of: "covers(") else {
                    index += 1
                    continue
                }
                // The argument list may run over several lines, up to the closing parenthesis.
                var arguments = String(line[start.upperBound...])
                while !arguments.contains(")") && index + 1 < lines.count {
                    index += 1
                    arguments += String(lines[index])
                }
                let list = arguments.prefix { $0 != ")" }
                for token in list.split(separator: ",") {
                    let name = token.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "."))
                    if let id = bySwiftName[name] {
                        let hit = Hit(file: file.path, test: currentTest)
                        if !(result[id]?.contains(hit) ?? false) { result[id, default: []].append(hit) }
                    }
                }
                index += 1
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
