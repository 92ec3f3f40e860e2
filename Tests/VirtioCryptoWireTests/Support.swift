import Foundation
import Testing
import VirtioCryptoWire

/// Asserts `condition` as the evidence that the device (or codec) follows `rules`:
/// Spec/RULES.md lists each test that calls it under those rules as a behaviour test.
/// Rules the device refuses requests for are tested with `expectViolation` instead.
func expectRule(
    _ rules: RuleID..., holds condition: @autoclosure () throws -> Bool, _ comment: Comment? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) rethrows {
    #expect(try condition(), comment, sourceLocation: sourceLocation)
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
        guard let feature = CryptoFeatures.named(name) else {
            Issue.record("unknown feature \(name)")
            continue
        }
        result.insert(feature)
    }
    return result
}

func status(named name: String?) -> Status? {
    guard let name else { return nil }
    return Status.known.first { $0.cName == "VIRTIO_CRYPTO_\(name)" }
}
