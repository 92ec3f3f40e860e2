/// Builds source text line by line with indentation, so emitters read like the code
/// they produce.
struct CodePrinter {
    private(set) var text = ""
    private var level = 0

    mutating func line(_ content: String = "") {
        if content.isEmpty {
            text += "\n"
        } else {
            text += String(repeating: "    ", count: level) + content + "\n"
        }
    }

    /// `header {` … `}` with the body indented.
    mutating func block(_ header: String, _ body: (inout CodePrinter) -> Void) {
        line(header + " {")
        level += 1
        body(&self)
        level -= 1
        line("}")
    }

    /// `case …:` with the body indented and no braces.
    mutating func indented(_ header: String, _ body: (inout CodePrinter) -> Void) {
        line(header)
        level += 1
        body(&self)
        level -= 1
    }

    /// A `///` doc comment; each line of `text` becomes one comment line.
    mutating func doc(_ text: String?) {
        guard let text, !text.isEmpty else { return }
        for part in text.split(separator: "\n", omittingEmptySubsequences: false) {
            line("/// " + part)
        }
    }
}

/// Swift string literal with escapes.
func swiftString(_ text: String) -> String {
    quotedLiteral(text) { "\\u{\(String($0, radix: 16))}" }
}

/// A double-quoted literal as Swift and JSON both spell it: backslash, quote, newline and
/// tab escaped; other control characters by `escapeControl` (the languages differ there).
func quotedLiteral(_ text: String, escapeControl: (UInt32) -> String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\\": out += "\\\\"
        case "\"": out += "\\\""
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 { out += escapeControl(scalar.value) } else { out.unicodeScalars.append(scalar) }
        }
    }
    return out + "\""
}
