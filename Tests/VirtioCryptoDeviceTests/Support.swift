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

let key16 = [UInt8](0..<16)
let iv16 = [UInt8](repeating: 0x24, count: 16)
let block64 = (0..<64).map { UInt8(truncatingIfNeeded: $0 * 3) }
