import CLibFuzzer
import Foundation
import VirtioCryptoWire

/// One input of a committed seed corpus (Fuzz/Corpus/<target>/<name>).
public struct Seed {
    public var name: String
    public var bytes: [UInt8]

    public init(_ name: String, _ bytes: [UInt8]) {
        self.name = name
        self.bytes = bytes
    }
}

/// The main of every fuzz target. SwiftPM links a Swift executable with its main renamed to
/// `<module>_main` (so tests could link it), which leaves libFuzzer's own main out; each target
/// defines that symbol and calls this, which hands over to libFuzzer's driver. One option is
/// ours: `--write-seeds=DIR` writes the target's seed corpus to DIR and exits (libFuzzer ignores
/// flags that start with `--`, and never sees this one).
public enum FuzzDriver {
    public typealias TestOneInput = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

    public static func main(
        _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, seeds: () -> [Seed],
        test: TestOneInput
    ) -> CInt {
        let arguments = (0..<Int(argc)).compactMap { argv?[$0].map { String(cString: $0) } }
        if let option = arguments.first(where: { $0.hasPrefix("--write-seeds=") }) {
            return write(seeds(), to: String(option.dropFirst("--write-seeds=".count)))
        }
        var count = argc
        var vector = argv
        return LLVMFuzzerRunDriver(&count, &vector, test)
    }

    private static func write(_ seeds: [Seed], to folder: String) -> CInt {
        let manager = FileManager.default
        do {
            try manager.createDirectory(atPath: folder, withIntermediateDirectories: true)
            var names: Set<String> = []
            for seed in seeds {
                precondition(names.insert(seed.name).inserted, "two seeds named \(seed.name)")
                let path = (folder as NSString).appendingPathComponent(seed.name)
                try Data(seed.bytes).write(to: URL(fileURLWithPath: path))
            }
        } catch {
            FileHandle.standardError.write(Data("cannot write seeds to \(folder): \(error)\n".utf8))
            return 1
        }
        print("wrote \(seeds.count) seeds to \(folder)")
        return 0
    }
}

/// Files of this repository (spec, vectors), found from this source file's place in it. Only
/// seed writing and the spec loader's setup read them, never the fuzzed code.
public enum Repository {
    public static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    public static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    public static func text(_ relative: String) -> String {
        guard let text = try? String(contentsOfFile: path(relative), encoding: .utf8) else {
            fatalError("cannot read \(path(relative))")
        }
        return text
    }

    public static func json(_ relative: String) -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: path(relative)),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { fatalError("cannot read \(path(relative)) as a JSON object") }
        return object
    }

    /// Spec/generated/vectors.json, the generator's golden vectors, under `key`.
    public static func vectors(_ key: String) -> [[String: Any]] {
        json("Spec/generated/vectors.json")[key] as? [[String: Any]] ?? []
    }
}

extension Array where Element == UInt8 {
    /// Bytes of a hex string from the vector files (which the generator wrote: always valid).
    public init(vectorHex hex: String) {
        guard let bytes = [UInt8](hex: hex) else { fatalError("not hex: \(hex.prefix(40))") }
        self = bytes
    }
}
