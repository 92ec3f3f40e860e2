import Foundation
import Testing
import VirtioCryptoEngines
import VirtioCryptoWire

/// AkcipherVectors.json, written by scripts/akcipher-vectors.py (each vector names its source).
enum AkcipherVectors {
    static let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "AkcipherVectors.json")

    nonisolated(unsafe) static let document: [String: Any] = {
        guard let data = try? Data(contentsOf: url),
            let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return [:] }
        return json
    }()

    static func section(_ name: String) -> [[String: Any]] { document[name] as? [[String: Any]] ?? [] }

    static func key(_ id: String) -> [String: Any] {
        (document["keys"] as? [String: Any])?[id] as? [String: Any] ?? [:]
    }

    /// The encodings a key entry carries, by the name the fixture gives them, with the key type each is.
    static func variants(_ id: String) -> [(name: String, type: AkcipherKeyType, der: [UInt8])] {
        let entry = key(id)
        let names: [(String, AkcipherKeyType)] = [
            ("public", .publicKey), ("public-compressed", .publicKey), ("private", .privateKey),
            ("private-no-parameters", .privateKey), ("private-no-public-key", .privateKey),
        ]
        return names.compactMap { name, type in (entry[name] as? String).map { (name, type, bytes(hex: $0)) } }
    }
}

/// The YAML names (Spec/akcipher.yaml) the fixture uses for hash_algo and curve_id.
func rsaHash(_ name: String) -> RsaHashAlgorithm {
    [
        "no-hash": .noHash, "md2": .md2, "md3": .md3, "md4": .md4, "md5": .md5, "sha1": .sha1, "sha224": .sha224,
        "sha256": .sha256, "sha384": .sha384, "sha512": .sha512,
    ][name]!
}

func eccCurve(_ name: String) -> EccCurve {
    [
        "nist-p192": .nistP192, "nist-p224": .nistP224, "nist-p256": .nistP256, "nist-p384": .nistP384,
        "nist-p521": .nistP521,
    ][name]!
}

func akSession(
    _ key: [UInt8], _ type: AkcipherKeyType, _ parameters: AkcipherParameters,
    maxKeyLength: Int = AkcipherSession.defaultMaxKeyLength
) throws -> AkcipherSession {
    try key.withUnsafeBytes { raw in
        try AkcipherSession(keyType: type, key: raw, parameters: parameters, maxKeyLength: maxKeyLength)
    }
}

/// One operation through a fresh worker context, the result trimmed to the written length.
enum AkcipherRun {
    static func encrypt(_ context: AkcipherContext, _ input: [UInt8], capacity: Int? = nil) throws -> [UInt8] {
        try produce(capacity ?? context.session.maxOutputLength) { output in
            try input.withUnsafeBytes { raw in try context.encrypt(raw, into: output) }
        }
    }

    static func decrypt(_ context: AkcipherContext, _ input: [UInt8], capacity: Int? = nil) throws -> [UInt8] {
        try produce(capacity ?? context.session.maxOutputLength) { output in
            try input.withUnsafeBytes { raw in try context.decrypt(raw, into: output) }
        }
    }

    static func sign(_ context: AkcipherContext, _ digest: [UInt8], capacity: Int? = nil) throws -> [UInt8] {
        try produce(capacity ?? context.session.maxOutputLength) { output in
            try digest.withUnsafeBytes { raw in try context.sign(raw, into: output) }
        }
    }

    static func verify(_ context: AkcipherContext, signature: [UInt8], message: [UInt8]) throws {
        try signature.withUnsafeBytes { signatureBytes in
            try message.withUnsafeBytes { messageBytes in
                try context.verify(signature: signatureBytes, message: messageBytes)
            }
        }
    }

    private static func produce(
        _ capacity: Int,
        _ body: (UnsafeMutableRawBufferPointer) throws -> Int
    ) throws -> [UInt8] {
        var output = [UInt8](repeating: 0xee, count: capacity)
        let written = try output.withUnsafeMutableBytes { raw in try body(raw) }
        return Array(output[0..<written])
    }
}

/// The error an operation threw, nil when it succeeded (for expectations on typed errors). The
/// engine throws only CryptoError; anything else is recorded as an issue.
func akError(_ body: () throws -> Void) -> CryptoError? {
    do {
        try body()
        return nil
    } catch let error as CryptoError {
        return error
    } catch {
        Issue.record("not a CryptoError: \(error)")
        return .backendFailure
    }
}

/// python3 with the `cryptography` package, the differential test's oracle, if this machine has
/// one: the first of `python3` on PATH and Debian's /usr/bin/python3 that imports it.
enum PythonOracle {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/akcipher-vectors.py")

    static let interpreter: URL? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let candidates =
            path.split(separator: ":").map { URL(fileURLWithPath: String($0)).appendingPathComponent("python3") }
            + [URL(fileURLWithPath: "/usr/bin/python3")]
        return candidates.first { candidate in
            FileManager.default.isExecutableFile(atPath: candidate.path)
                && (try? run(candidate, ["-c", "import cryptography"], input: Data()))?.status == 0
        }
    }()

    static var available: Bool { interpreter != nil }

    /// Sends `request` to `akcipher-vectors.py oracle` and returns its answer.
    static func ask(_ request: [String: Any]) throws -> [String: Any] {
        let input = try JSONSerialization.data(withJSONObject: request)
        guard let interpreter else { throw OracleFailure.unavailable }
        let result = try run(interpreter, [script.path, "oracle"], input: input)
        guard result.status == 0, let answer = try JSONSerialization.jsonObject(with: result.output) as? [String: Any]
        else {
            throw OracleFailure.failed(result.status, String(decoding: result.error, as: UTF8.self))
        }
        return answer
    }

    enum OracleFailure: Error {
        case unavailable
        case failed(Int32, String)
    }

    private static func run(_ executable: URL, _ arguments: [String], input: Data) throws -> (
        status: Int32, output: Data, error: Data
    ) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let stdin = Pipe()
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        // The oracle reads all of its input before it writes, so writing first cannot deadlock;
        // stderr is drained on another thread in case a failure prints more than a pipe holds.
        nonisolated(unsafe) var errors = Data()
        let drained = DispatchSemaphore(value: 0)
        Thread {
            errors = stderr.fileHandleForReading.readDataToEndOfFile()
            drained.signal()
        }.start()
        stdin.fileHandleForWriting.write(input)
        try stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        drained.wait()
        return (process.terminationStatus, output, errors)
    }
}

func rsaHashName(_ hash: RsaHashAlgorithm) -> String {
    ["no-hash", "md2", "md3", "md4", "md5", "sha1", "sha224", "sha256", "sha384", "sha512"].first {
        rsaHash($0) == hash
    }!
}

func eccCurveName(_ curve: EccCurve) -> String {
    ["nist-p192", "nist-p224", "nist-p256", "nist-p384", "nist-p521"].first { eccCurve($0) == curve }!
}

/// Reproducible filler bytes (a linear congruential sequence), so a failing run can be repeated.
func patternBytes(_ count: Int, seed: UInt32) -> [UInt8] {
    var state = seed &* 2_654_435_761 &+ 1
    return (0..<count).map { _ in
        state = state &* 1_103_515_245 &+ 12345
        return UInt8(truncatingIfNeeded: state >> 16)
    }
}
