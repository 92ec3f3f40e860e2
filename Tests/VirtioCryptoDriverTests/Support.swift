import Testing
import VirtioCryptoDevice
import VirtioCryptoDriver
import VirtioCryptoWire

/// What reached a device: chains posted and requests it answered. A refusal must leave it
/// unchanged.
protocol DeviceTraffic {
    var traffic: Int { get }
}

/// Asserts that our driver library refused `body` locally with `expected`, that the
/// refusal names each of `rules`, and that nothing reached the device. Spec/RULES.md lists
/// each test that calls it under those rules as a driver test.
func expectRefusal<T>(
    _ rules: RuleID..., refused expected: DriverRefusal, on device: some DeviceTraffic,
    _ body: () throws -> T, sourceLocation: SourceLocation = #_sourceLocation
) {
    let before = device.traffic
    let actual = refusal(body)
    #expect(actual == expected, sourceLocation: sourceLocation)
    #expect(actual?.rule == rules.first, "the refusal names the rule it protects", sourceLocation: sourceLocation)
    let named = Set(actual?.rules ?? [])
    #expect(named.isSuperset(of: rules), "and the others", sourceLocation: sourceLocation)
    #expect(device.traffic == before, "nothing reached the device", sourceLocation: sourceLocation)
}

/// Asserts `condition` as the evidence that our driver library follows `rules` (a
/// behaviour test in Spec/RULES.md).
func expectRule(
    _ rules: RuleID..., holds condition: @autoclosure () throws -> Bool, _ comment: Comment? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) rethrows {
    #expect(try condition(), comment, sourceLocation: sourceLocation)
}

func hex(_ string: String) -> [UInt8] { [UInt8](hex: string)! }

/// NIST SP 800-38A F.2.1 (AES-128-CBC), the first two blocks.
enum AesCbcVector {
    static let key = hex("2b7e151628aed2a6abf7158809cf4f3c")
    static let iv = hex("000102030405060708090a0b0c0d0e0f")
    static let plaintext = hex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51")
    static let ciphertext = hex("7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2")
}

/// FIPS 180-2: SHA-256("abc").
let sha256OfABC = hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
/// RFC 4231 test case 2: HMAC-SHA-256, key "Jefe".
let hmacJefe = hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
let hmacJefeMessage = Array("what do ya want for nothing?".utf8)
extension CryptoDriver {
    /// Encrypts the vector's plaintext with the vector's IV (the session holds the key).
    func cbc(_ session: CryptoSession, queue: Int = 0) throws -> [UInt8] {
        try cipher(session, iv: AesCbcVector.iv, input: AesCbcVector.plaintext, queue: queue)
    }

    func aesCbcSession() throws -> CryptoSession {
        try createCipherSession(.aesCbc, key: AesCbcVector.key, op: .encrypt)
    }
}

/// GCM spec test case 2: zero key, zero 96-bit IV, one zero block.
enum GcmVector {
    static let key = [UInt8](repeating: 0, count: 16)
    static let iv = [UInt8](repeating: 0, count: 12)
    static let plaintext = [UInt8](repeating: 0, count: 16)
    static let ciphertextAndTag = hex("0388dace60b6a392f328c2b971b2fe78" + "ab6e47d42cec13bdf53a67b21257bddf")
}

/// The refusal `body` threw, or nil if it threw something else or nothing.
func refusal<T>(_ body: () throws -> T) -> DriverRefusal? {
    guard case .refused(let refusal) = failure(body) else { return nil }
    return refusal
}

/// The driver error `body` threw, or nil if it threw another error or none.
/// (Closures infer an untyped `throws`, hence the cast.)
func failure<T>(_ body: () throws -> T) -> DriverError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error as? DriverError
    }
}

/// Little-endian bytes of a 32-bit value, for hand-written expected layouts.
func le32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

/// Sends, through the daemon's backend, one request that breaks `rule`, and asserts that it got
/// `status` (the rule's on-violation status in the YAML) and that the device counted exactly one
/// violation, of `rule` (the device tests' `Harness.expectViolation`, over vhost-user).
func expectViolation(
    _ rule: RuleID, status: Status, on device: VirtioCryptoDevice,
    sourceLocation: SourceLocation = #_sourceLocation, _ send: () throws -> Status
) throws {
    let (answered, fired) = try device.statistics.violationsCounted(during: send)
    #expect(answered == status, "status of \(rule.rawValue)", sourceLocation: sourceLocation)
    #expect(
        RuleTable.info(rule)?.onViolation == status, "on-violation of \(rule.rawValue)", sourceLocation: sourceLocation)
    #expect(fired == [rule: 1], "exactly \(rule.rawValue) fired", sourceLocation: sourceLocation)
}
