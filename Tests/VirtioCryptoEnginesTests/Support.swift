import Foundation
import Testing
import VirtioCryptoEngines
import VirtioCryptoWire

/// The published known-answer vectors (KnownAnswers.json, each with its source).
enum KnownAnswers {
    static let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "KnownAnswers.json")

    static func section(_ name: String) -> [[String: Any]] {
        guard let data = try? Data(contentsOf: url),
            let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return [] }
        return json[name] as? [[String: Any]] ?? []
    }

    static func vectors(_ section: String, _ algorithm: String) -> [[String: Any]] {
        Self.section(section).filter { $0["algorithm"] as? String == algorithm }
    }
}

extension Dictionary where Key == String, Value == Any {
    func hex(_ key: String) -> [UInt8] { bytes(hex: self[key] as? String ?? "") }
    var source: String { self["source"] as? String ?? "?" }
}

func bytes(hex: String) -> [UInt8] { [UInt8](hex: hex)! }

func hexString(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

/// Spec names of algorithms as the vectors write them.
func cipherAlgorithm(_ name: String) -> CipherAlgorithm? {
    [
        "arc4": .arc4, "aes-ecb": .aesEcb, "aes-cbc": .aesCbc, "aes-ctr": .aesCtr, "des-ecb": .desEcb,
        "des-cbc": .desCbc,
        "triple-des-ecb": .tripleDesEcb, "triple-des-cbc": .tripleDesCbc, "triple-des-ctr": .tripleDesCtr,
        "kasumi-f8": .kasumiF8, "snow3g-uea2": .snow3gUea2, "aes-f8": .aesF8, "aes-xts": .aesXts, "zuc-eea3": .zucEea3,
    ][name]
}

func hashAlgorithm(_ name: String) -> HashAlgorithm? {
    [
        "md5": .md5, "sha1": .sha1, "sha-224": .sha224, "sha-256": .sha256, "sha-384": .sha384, "sha-512": .sha512,
        "sha3-224": .sha3224, "sha3-256": .sha3256, "sha3-384": .sha3384, "sha3-512": .sha3512,
        "sha3-shake128": .sha3Shake128, "sha3-shake256": .sha3Shake256,
    ][name]
}

func macAlgorithm(_ name: String) -> MacAlgorithm? {
    [
        "hmac-md5": .hmacMd5, "hmac-sha1": .hmacSha1, "hmac-sha-224": .hmacSha224, "hmac-sha-256": .hmacSha256,
        "hmac-sha-384": .hmacSha384, "hmac-sha-512": .hmacSha512, "cmac-3des": .cmac3des, "cmac-aes": .cmacAes,
        "kasumi-f9": .kasumiF9, "snow3g-uia2": .snow3gUia2, "gmac-aes": .gmacAes, "gmac-twofish": .gmacTwofish,
        "cbcmac-aes": .cbcmacAes, "cbcmac-kasumi-f9": .cbcmacKasumiF9, "xcbc-aes": .xcbcAes, "zuc-eia3": .zucEia3,
    ][name]
}

func aeadAlgorithm(_ name: String) -> AeadAlgorithm? {
    ["gcm": .gcm, "ccm": .ccm, "chacha20-poly1305": .chacha20Poly1305][name]
}

/// Runs a cipher once, out of place.
func runCipher(_ algorithm: CipherAlgorithm, key: [UInt8], iv: [UInt8], input: [UInt8], direction: Op) throws -> [UInt8]
{
    let session = try key.withUnsafeBytes { try CipherSession(algorithm: algorithm, key: $0, direction: direction) }
    let context = try session.makeContext()
    var output = [UInt8](repeating: 0, count: input.count)
    try iv.withUnsafeBytes { ivBytes in
        try input.withUnsafeBytes { inBytes in
            try output.withUnsafeMutableBytes { outBytes in
                try context.run(iv: ivBytes, input: inBytes, output: outBytes)
            }
        }
    }
    return output
}

func runMac(_ algorithm: MacAlgorithm, key: [UInt8], iv: [UInt8] = [], message: [UInt8], length: Int) throws -> [UInt8]
{
    let session = try key.withUnsafeBytes { try MacSession(algorithm: algorithm, key: $0, resultLength: length) }
    let context = try session.makeContext()
    var output = [UInt8](repeating: 0, count: length)
    try iv.withUnsafeBytes { ivBytes in
        try message.withUnsafeBytes { input in
            try output.withUnsafeMutableBytes { try context.mac(iv: ivBytes, input, into: $0) }
        }
    }
    return output
}

func runHash(_ algorithm: HashAlgorithm, message: [UInt8], length: Int) throws -> [UInt8] {
    let context = try HashSession(algorithm: algorithm, resultLength: length).makeContext()
    var output = [UInt8](repeating: 0, count: length)
    try message.withUnsafeBytes { input in try output.withUnsafeMutableBytes { try context.digest(input, into: $0) } }
    return output
}

func runAead(
    _ algorithm: AeadAlgorithm, key: [UInt8], iv: [UInt8], aad: [UInt8], input: [UInt8], tagLength: Int,
    direction: Op
) throws -> [UInt8] {
    let session = try key.withUnsafeBytes {
        try AeadSession(algorithm: algorithm, key: $0, tagLength: tagLength, direction: direction)
    }
    let context = try session.makeContext()
    var output = [UInt8](
        repeating: 0xaa, count: direction == .encrypt ? input.count + tagLength : input.count - tagLength)
    try iv.withUnsafeBytes { ivBytes in
        try aad.withUnsafeBytes { aadBytes in
            try input.withUnsafeBytes { inBytes in
                try output.withUnsafeMutableBytes {
                    try context.run(iv: ivBytes, aad: aadBytes, input: inBytes, output: $0)
                }
            }
        }
    }
    return output
}
