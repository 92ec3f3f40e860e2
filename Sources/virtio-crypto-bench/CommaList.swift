import ArgumentParser

/// A list option given as comma-separated values, as repeated flags, or both (`--sizes 64,256
/// --sizes 1024`), as the help's defaults are written.
struct CommaList<Element: ExpressibleByArgument>: ExpressibleByArgument {
    var values: [Element]

    init(_ values: [Element]) { self.values = values }

    init?(argument: String) {
        var values: [Element] = []
        for part in argument.split(separator: ",", omittingEmptySubsequences: false) {
            guard let value = Element(argument: part.trimmingCharacters(in: .whitespaces)) else { return nil }
            values.append(value)
        }
        self.values = values
    }

    var defaultValueDescription: String { values.map { "\($0)" }.joined(separator: ",") }
}

extension Array {
    /// The values of every occurrence of a `CommaList` option, in order.
    func flattened<Value>() -> [Value] where Element == CommaList<Value> { flatMap(\.values) }
}
