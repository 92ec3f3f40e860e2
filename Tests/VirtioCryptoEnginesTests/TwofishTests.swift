import Testing

@testable import VirtioCryptoEngines

/// Twofish against the submission package's known answers: ecb_ival.txt (the three
/// "Intermediate Values" keys) and ecb_tbl.txt (I=2, I=3 of KEYSIZE=128).
struct TwofishTests {
    static let vectors: [(key: String, plaintext: String, ciphertext: String, source: String)] = [
        (
            "00000000000000000000000000000000", "00000000000000000000000000000000", "9f589f5cf6122c32b6bfec2f2ae8c35a",
            "ecb_tbl.txt KEYSIZE=128 I=1"
        ),
        (
            "00000000000000000000000000000000", "9f589f5cf6122c32b6bfec2f2ae8c35a", "d491db16e7b1c39e86cb086b789f5419",
            "ecb_tbl.txt KEYSIZE=128 I=2"
        ),
        (
            "9f589f5cf6122c32b6bfec2f2ae8c35a", "d491db16e7b1c39e86cb086b789f5419", "019f9809de1711858faac3a3ba20fbc3",
            "ecb_tbl.txt KEYSIZE=128 I=3"
        ),
        (
            "0123456789abcdeffedcba98765432100011223344556677", "00000000000000000000000000000000",
            "cfd1d2e5a9be9cdf501f13b892bd2248", "ecb_ival.txt 192-bit key"
        ),
        (
            "0123456789abcdeffedcba987654321000112233445566778899aabbccddeeff", "00000000000000000000000000000000",
            "37527be0052334b89f0cfccae87cfa20", "ecb_ival.txt 256-bit key"
        ),
        (
            "d43bb7556ea32e46f2a282b7d45b4e0d57ff739d4dc92c1bd7fc01700cc8216f", "90afe91bb288544f2c32dc239b2635e6",
            "6cb4561c40bf0a9705931cb6d408e7fa", "ecb_tbl.txt KEYSIZE=256 I=4"
        ),
    ]

    @Test func encryptsTheSubmissionVectors() throws {
        for vector in Self.vectors {
            let cipher = try #require(Twofish(key: bytes(hex: vector.key)))
            var output = [UInt8](repeating: 0, count: 16)
            bytes(hex: vector.plaintext).withUnsafeBytes { input in
                output.withUnsafeMutableBytes { cipher.encrypt(input.baseAddress!, $0.baseAddress!) }
            }
            #expect(hexString(output) == vector.ciphertext, "\(vector.source)")
        }
        #expect(Twofish(key: [UInt8](repeating: 0, count: 20)) == nil)
    }
}
