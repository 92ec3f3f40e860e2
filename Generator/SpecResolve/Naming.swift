import SpecModel

/// Turns spec names (`aes-cbc`, `dev.config.max-dataqueues`) into Swift identifiers.
public enum Naming {
    static func words(_ name: String) -> [String] {
        name.split { $0 == "-" || $0 == "." || $0 == "_" }.map(String.init)
    }

    /// `sym-create-session-flf` → `symCreateSessionFlf`.
    public static func lowerCamel(_ name: String) -> String {
        let parts = words(name)
        guard let first = parts.first else { return name }
        return first.lowercased() + parts.dropFirst().map(capitalized).joined()
    }

    /// `sym-create-session-flf` → `SymCreateSessionFlf`.
    public static func upperCamel(_ name: String) -> String {
        words(name).map(capitalized).joined()
    }

    /// A Swift type name as a case name: `DestroySessionInputV23` → `destroySessionInputV23`.
    public static func lowerCamelFromType(_ typeName: String) -> String {
        guard let first = typeName.first else { return typeName }
        return first.lowercased() + typeName.dropFirst()
    }

    /// A revision id as a Swift identifier: `v1.2` → `v1_2`.
    public static func revision(_ id: String) -> String {
        id.replacingOccurrences(of: ".", with: "_").replacingOccurrences(of: "-", with: "_")
    }

    /// `v1_2` → `V1_2`, the suffix of an earlier form's type name.
    public static func capitalizedRevision(_ swiftName: String) -> String { capitalized(swiftName) }

    static func capitalized(_ word: String) -> String {
        guard let first = word.first else { return word }
        return first.uppercased() + word.dropFirst()
    }

    /// A spec name must be lower-case kebab starting with a letter.
    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, ("a"..."z").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
            && !name.hasSuffix("-") && !name.contains("--")
    }

    /// Reports a name that is not lower-case kebab or that the generated code reserves.
    static func check(_ name: Located<String>, _ what: String, _ diagnostics: DiagnosticCollector) {
        if !isValidName(name.value) {
            diagnostics.error(
                name.location, "\(what) name '\(name.value)' must be lower-case kebab starting with a letter")
        } else if reserved.contains(lowerCamel(name.value)) {
            diagnostics.error(name.location, "\(what) name '\(name.value)' is reserved in the generated code")
        }
    }

    /// Identifiers the generated code already uses or Swift reserves.
    public static let reserved: Set<String> = [
        "unknown", "unused", "rawValue", "init", "self", "Self", "default", "case", "none", "some",
        "size", "description", "validate", "encode", "decode", "segments", "in", "is", "as",
        // Swift keywords a constant could be named after.
        "public", "private", "internal", "fileprivate", "open", "static", "class", "struct", "enum", "protocol",
        "extension", "func", "var", "let", "return", "if", "else", "switch", "for", "while", "repeat", "break",
        "continue", "throw", "throws", "try", "catch", "do", "import", "operator", "true", "false", "nil", "where",
        "guard", "defer", "inout", "associatedtype", "typealias", "subscript", "super", "any", "some",
    ]
}
