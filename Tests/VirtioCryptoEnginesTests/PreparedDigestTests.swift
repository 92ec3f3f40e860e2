import COpenSSL
import Testing
import VirtioCryptoEngines
import VirtioCryptoWire

/// MD5/SHA-1/SHA-2 hashes and their HMACs run on prepared state structs (no allocation per
/// request); this checks them against OpenSSL's own one-shot EVP_Q_digest / EVP_Q_mac
/// across the block-boundary lengths where padding and key handling can go wrong.
struct PreparedDigestTests {
    static let digests: [(HashAlgorithm, MacAlgorithm, String)] = [
        (.md5, .hmacMd5, "MD5"), (.sha1, .hmacSha1, "SHA1"), (.sha224, .hmacSha224, "SHA2-224"),
        (.sha256, .hmacSha256, "SHA2-256"), (.sha384, .hmacSha384, "SHA2-384"), (.sha512, .hmacSha512, "SHA2-512"),
    ]
    static let messageLengths = [0, 1, 55, 56, 63, 64, 65, 111, 112, 127, 128, 129, 1000]
    static let keyLengths = [1, 20, 63, 64, 65, 127, 128, 129, 200, 1024]

    static func pattern(_ count: Int, _ seed: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed) }
    }

    @Test(arguments: 0..<6)
    func hashesMatchEVP(_ index: Int) throws {
        let (hash, _, name) = Self.digests[index]
        let full = try #require(HashSession.digestLength(hash))
        let context = try HashSession(algorithm: hash, resultLength: full).makeContext()
        for length in Self.messageLengths {
            let message = Self.pattern(length, 7)
            var ours = [UInt8](repeating: 0, count: full)
            var theirs = [UInt8](repeating: 0, count: 64)
            try message.withUnsafeBytes { input in
                try ours.withUnsafeMutableBytes { try context.digest(input, into: $0) }
            }
            var written = 0
            let ok = message.withUnsafeBytes { input in
                theirs.withUnsafeMutableBytes {
                    EVP_Q_digest(nil, name, nil, input.baseAddress, length, $0.baseAddress, &written)
                }
            }
            #expect(ok == 1 && ours == Array(theirs.prefix(written)), "\(name) over \(length) bytes")
        }
    }

    @Test(arguments: 0..<6)
    func hmacsMatchEVP(_ index: Int) throws {
        let (_, mac, name) = Self.digests[index]
        let full = try #require(MacSession.macLength(mac))
        for keyLength in Self.keyLengths {
            let key = Self.pattern(keyLength, 3)
            let context = try key.withUnsafeBytes { try MacSession(algorithm: mac, key: $0, resultLength: full) }
                .makeContext()
            for length in Self.messageLengths {
                let message = Self.pattern(length, 11)
                var ours = [UInt8](repeating: 0, count: full)
                var theirs = [UInt8](repeating: 0, count: 64)
                try message.withUnsafeBytes { input in
                    try ours.withUnsafeMutableBytes { try context.mac(input, into: $0) }
                }
                var written = 0
                let result = key.withUnsafeBytes { keyBytes in
                    message.withUnsafeBytes { input in
                        theirs.withUnsafeMutableBytes {
                            EVP_Q_mac(
                                nil, "HMAC", nil, name, nil, keyBytes.baseAddress, keyLength, input.baseAddress, length,
                                $0.baseAddress, 64, &written)
                        }
                    }
                }
                #expect(
                    result != nil && ours == Array(theirs.prefix(written)),
                    "HMAC-\(name), \(keyLength)-byte key, \(length) bytes")
            }
        }
    }
}
