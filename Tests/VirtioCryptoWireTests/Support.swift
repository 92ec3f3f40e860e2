import Foundation
import Testing
import VirtioCryptoWire

/// Marks the rules a test covers; `Spec/RULES.md` lists the marking tests (the generator
/// scans for `covers(`). A rule ID that does not exist does not compile.
func covers(_ rules: RuleID...) {
    for rule in rules { #expect(RuleTable.info(rule) != nil) }
}

enum Repo {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func json(_ path: String) throws -> [String: Any] {
        let data = try Data(contentsOf: root.appendingPathComponent(path))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }
}

func bytes(hex: String) -> [UInt8] { [UInt8](hex: hex)! }

func features(_ names: [String]) -> CryptoFeatures {
    var result: CryptoFeatures = []
    for name in names {
        switch name {
        case "revision-1": result.insert(.revision1)
        case "cipher-stateless-mode": result.insert(.cipherStatelessMode)
        case "hash-stateless-mode": result.insert(.hashStatelessMode)
        case "mac-stateless-mode": result.insert(.macStatelessMode)
        case "aead-stateless-mode": result.insert(.aeadStatelessMode)
        default: Issue.record("unknown feature \(name)")
        }
    }
    return result
}

func status(named name: String?) -> Status? {
    guard let name else { return nil }
    return Status.known.first { $0.cName == "VIRTIO_CRYPTO_\(name)" }
}
