import Testing
import VirtioCryptoWire

/// Marks the rules a test covers (listed in Spec/RULES.md by the generator).
func covers(_ rules: RuleID...) {
    for rule in rules { #expect(RuleTable.info(rule) != nil) }
}

let key16 = [UInt8](0..<16)
let iv16 = [UInt8](repeating: 0x24, count: 16)
let block64 = (0..<64).map { UInt8(truncatingIfNeeded: $0 * 3) }
