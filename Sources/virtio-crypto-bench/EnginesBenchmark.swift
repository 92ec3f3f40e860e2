import ArgumentParser
import COpenSSL
import Foundation
import VirtioCryptoEngines
import VirtioCryptoWire

/// Engine path vs raw EVP: AES-128-CBC, AES-256-GCM encryption and decryption, HMAC-SHA256, SHA-256.
struct EnginesBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engines",
        abstract: "Per-request cost of the crypto engines vs raw OpenSSL EVP.")

    @Option(name: .customLong("sizes"), help: "Request sizes in bytes.")
    var sizeLists: [CommaList<Int>] = [CommaList([64, 1024, 16384])]
    var sizes: [Int] { sizeLists.flattened() }
    @Option(help: "Seconds per measurement (each pair is measured 3 times, best kept).") var seconds = 0.3
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() throws {
        var rows: [Row] = []
        for workload in Workload.allCases {
            for size in sizes {
                let pair = try workload.make(size: size)
                var best = (engine: 0.0, raw: 0.0)
                for _ in 0..<3 {
                    best.raw = max(best.raw, measure(seconds, pair.raw))
                    best.engine = max(best.engine, measure(seconds, pair.engine))
                }
                rows.append(Row(workload: workload.rawValue, size: size, engineOps: best.engine, rawOps: best.raw))
                if !json { FileHandle.standardError.write(Data("  \(workload.rawValue) \(size) B done\n".utf8)) }
            }
        }
        if json {
            let objects = rows.map {
                "{\"workload\":\"\($0.workload)\",\"size\":\($0.size),\"engine_ops\":\(Int($0.engineOps)),\"raw_ops\":\(Int($0.rawOps)),\"ratio\":\(String(format: "%.3f", $0.ratio))}"
            }
            print("[" + objects.joined(separator: ",\n ") + "]")
            return
        }
        // Foundation on Linux ignores a width on %@: the name is padded here.
        func name(_ text: String) -> NSString { text.padding(toLength: 21, withPad: " ", startingAt: 0) as NSString }
        print("\(name("workload"))   size    engine ops/s   raw EVP ops/s   engine MB/s   ratio")
        for row in rows {
            print(
                String(
                    format: "%@ %6d %15.0f %15.0f %13.1f %7.3f", name(row.workload), row.size, row.engineOps,
                    row.rawOps, row.engineOps * Double(row.size) / 1e6, row.ratio))
        }
    }

    struct Row {
        var workload: String
        var size: Int
        var engineOps: Double
        var rawOps: Double
        var ratio: Double { rawOps > 0 ? engineOps / rawOps : 0 }
    }

    /// Operations per second of `body` over about `seconds`.
    func measure(_ seconds: Double, _ body: () -> Void) -> Double {
        for _ in 0..<100 { body() }
        var count = 0
        let start = DispatchTime.now().uptimeNanoseconds
        let deadline = start + UInt64(seconds * 1e9)
        var now = start
        while now < deadline {
            for _ in 0..<64 { body() }
            count += 64
            now = DispatchTime.now().uptimeNanoseconds
        }
        return Double(count) / (Double(now - start) / 1e9)
    }
}

enum Workload: String, CaseIterable {
    case aes128CBC = "aes-128-cbc"
    case aes256GCM = "aes-256-gcm"
    /// Decryption of the encryption's output (ciphertext ‖ tag of the same input), tag verified.
    case aes256GCMDecrypt = "aes-256-gcm-decrypt"
    case hmacSHA256 = "hmac-sha256"
    case sha256 = "sha-256"

    struct Pair {
        var engine: () -> Void
        var raw: () -> Void
    }

    func make(size: Int) throws -> Pair {
        let input = UnsafeMutableRawBufferPointer.allocate(byteCount: size + 64, alignment: 64)
        let output = UnsafeMutableRawBufferPointer.allocate(byteCount: size + 64, alignment: 64)
        input.initializeMemory(as: UInt8.self, repeating: 0x5a)
        let key = UnsafeMutableRawBufferPointer.allocate(byteCount: 32, alignment: 16)
        key.initializeMemory(as: UInt8.self, repeating: 7)
        let iv = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 16)
        iv.initializeMemory(as: UInt8.self, repeating: 1)
        let source = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(input)[0..<size])
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)

        switch self {
        case .aes128CBC:
            let context = try CipherSession(
                algorithm: .aesCbc, key: UnsafeRawBufferPointer(rebasing: key[0..<16]), direction: .encrypt
            ).makeContext()
            let ivBytes = UnsafeRawBufferPointer(iv)
            let raw = RawEVP.cipher("AES-128-CBC", key: key.baseAddress!)
            return Pair(
                engine: { try! context.run(iv: ivBytes, input: source, output: output) },
                raw: {
                    RawEVP.crypt(
                        raw, iv: iv.baseAddress!, input: input.baseAddress!, output: output.baseAddress!, size: size)
                })
        case .aes256GCM:
            let context = try AeadSession(
                algorithm: .gcm, key: UnsafeRawBufferPointer(key), tagLength: 16, direction: .encrypt
            ).makeContext()
            let nonce = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(iv)[0..<12])
            let raw = RawEVP.cipher("AES-256-GCM", key: key.baseAddress!)
            return Pair(
                engine: { try! context.run(iv: nonce, aad: empty, input: source, output: output) },
                raw: {
                    RawEVP.seal(
                        raw, iv: iv.baseAddress!, input: input.baseAddress!, output: output.baseAddress!, size: size)
                })
        case .aes256GCMDecrypt:
            let context = try AeadSession(
                algorithm: .gcm, key: UnsafeRawBufferPointer(key), tagLength: 16, direction: .decrypt
            ).makeContext()
            let nonce = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(iv)[0..<12])
            // The input becomes the ciphertext of the 0x5a bytes followed by its tag (sealed in place).
            let sealing = RawEVP.cipher("AES-256-GCM", key: key.baseAddress!)
            RawEVP.seal(sealing, iv: iv.baseAddress!, input: input.baseAddress!, output: input.baseAddress!, size: size)
            EVP_CIPHER_CTX_free(sealing)
            let sealed = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(input)[0..<(size + 16)])
            let plaintext = UnsafeMutableRawBufferPointer(rebasing: output[0..<size])
            let raw = RawEVP.cipher("AES-256-GCM", key: key.baseAddress!, encrypt: false)
            // Both paths must give back the plaintext (the engine throws on a tag mismatch).
            for check in 0..<2 {
                output.initializeMemory(as: UInt8.self, repeating: 0)
                if check == 0 {
                    try context.run(iv: nonce, aad: empty, input: sealed, output: plaintext)
                } else {
                    RawEVP.open(
                        raw, iv: iv.baseAddress!, input: input.baseAddress!, output: output.baseAddress!, size: size)
                }
                guard plaintext.allSatisfy({ $0 == 0x5a }) else {
                    throw ValidationError("\(rawValue) \(size) B: the decryption is not the plaintext")
                }
            }
            return Pair(
                engine: { try! context.run(iv: nonce, aad: empty, input: sealed, output: plaintext) },
                raw: {
                    RawEVP.open(
                        raw, iv: iv.baseAddress!, input: input.baseAddress!, output: output.baseAddress!, size: size)
                })
        case .hmacSHA256:
            let context = try MacSession(algorithm: .hmacSha256, key: UnsafeRawBufferPointer(key), resultLength: 32)
                .makeContext()
            let raw = RawEVP.hmac(key: key.baseAddress!)
            return Pair(
                engine: { try! context.mac(source, into: output) },
                raw: { RawEVP.mac(raw, input: input.baseAddress!, output: output.baseAddress!, size: size) })
        case .sha256:
            let context = try HashSession(algorithm: .sha256, resultLength: 32).makeContext()
            let raw = RawEVP.digest()
            return Pair(
                engine: { try! context.digest(source, into: output) },
                raw: { RawEVP.hash(raw, input: input.baseAddress!, output: output.baseAddress!, size: size) })
        }
    }
}

/// The same operations written directly against EVP, the way a C backend keyed once would.
enum RawEVP {
    /// A context keyed once for encryption, or (`encrypt: false`) for decryption (`open`).
    static func cipher(_ name: String, key: UnsafeMutableRawPointer, encrypt: Bool = true) -> OpaquePointer {
        _ = OSSL_PROVIDER_load(nil, "default")
        let cipher = EVP_CIPHER_fetch(nil, name, nil)
        let context = EVP_CIPHER_CTX_new()!
        if encrypt {
            EVP_EncryptInit_ex2(context, cipher, key.assumingMemoryBound(to: UInt8.self), nil, nil)
        } else {
            EVP_DecryptInit_ex2(context, cipher, key.assumingMemoryBound(to: UInt8.self), nil, nil)
        }
        EVP_CIPHER_CTX_set_padding(context, 0)
        return context
    }

    static func crypt(
        _ context: OpaquePointer, iv: UnsafeMutableRawPointer, input: UnsafeMutableRawPointer,
        output: UnsafeMutableRawPointer, size: Int
    ) {
        var length: Int32 = 0
        EVP_EncryptInit_ex2(context, nil, nil, iv.assumingMemoryBound(to: UInt8.self), nil)
        EVP_EncryptUpdate(
            context, output.assumingMemoryBound(to: UInt8.self), &length, input.assumingMemoryBound(to: UInt8.self),
            Int32(size))
        EVP_EncryptFinal_ex(context, output.assumingMemoryBound(to: UInt8.self) + Int(length), &length)
    }

    static func seal(
        _ context: OpaquePointer, iv: UnsafeMutableRawPointer, input: UnsafeMutableRawPointer,
        output: UnsafeMutableRawPointer, size: Int
    ) {
        var length: Int32 = 0
        EVP_EncryptInit_ex2(context, nil, nil, iv.assumingMemoryBound(to: UInt8.self), nil)
        EVP_EncryptUpdate(
            context, output.assumingMemoryBound(to: UInt8.self), &length, input.assumingMemoryBound(to: UInt8.self),
            Int32(size))
        EVP_EncryptFinal_ex(context, output.assumingMemoryBound(to: UInt8.self) + Int(length), &length)
        EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_GET_TAG, 16, output + size)
    }

    /// AEAD decryption of `input` = ciphertext (`size` bytes) ‖ 16-byte tag into `output` (`size`
    /// bytes), on a context from `cipher(_:key:encrypt: false)`: the IV set per call, the tag set
    /// before the final, which verifies it. False, with the plaintext zeroed, when it is not authentic.
    @discardableResult
    static func open(
        _ context: OpaquePointer, iv: UnsafeMutableRawPointer, input: UnsafeMutableRawPointer,
        output: UnsafeMutableRawPointer, size: Int
    ) -> Bool {
        var length: Int32 = 0
        EVP_DecryptInit_ex2(context, nil, nil, iv.assumingMemoryBound(to: UInt8.self), nil)
        EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, 16, input + size)
        EVP_DecryptUpdate(
            context, output.assumingMemoryBound(to: UInt8.self), &length, input.assumingMemoryBound(to: UInt8.self),
            Int32(size))
        guard EVP_DecryptFinal_ex(context, output.assumingMemoryBound(to: UInt8.self) + Int(length), &length) == 1
        else {
            memset(output, 0, size)
            return false
        }
        return true
    }

    static func hmac(key: UnsafeMutableRawPointer, digest: String = "SHA2-256", keyLength: Int = 32) -> OpaquePointer {
        let mac = EVP_MAC_fetch(nil, "HMAC", nil)
        let context = EVP_MAC_CTX_new(mac)!
        "digest".withCString { name in
            digest.withCString { value in
                var params = [
                    OSSL_PARAM_construct_utf8_string(name, UnsafeMutablePointer(mutating: value), 0),
                    OSSL_PARAM_construct_end(),
                ]
                EVP_MAC_init(context, key.assumingMemoryBound(to: UInt8.self), keyLength, &params)
            }
        }
        return context
    }

    static func mac(
        _ context: OpaquePointer, input: UnsafeMutableRawPointer, output: UnsafeMutableRawPointer, size: Int
    ) {
        var length = 0
        EVP_MAC_init(context, nil, 0, nil)
        EVP_MAC_update(context, input.assumingMemoryBound(to: UInt8.self), size)
        EVP_MAC_final(context, output.assumingMemoryBound(to: UInt8.self), &length, 64)
    }

    static func digest() -> (OpaquePointer, OpaquePointer) {
        (EVP_MD_fetch(nil, "SHA2-256", nil)!, EVP_MD_CTX_new()!)
    }

    static func hash(
        _ pair: (OpaquePointer, OpaquePointer), input: UnsafeMutableRawPointer, output: UnsafeMutableRawPointer,
        size: Int
    ) {
        var length: UInt32 = 0
        EVP_DigestInit_ex2(pair.1, pair.0, nil)
        EVP_DigestUpdate(pair.1, input, size)
        EVP_DigestFinal_ex(pair.1, output.assumingMemoryBound(to: UInt8.self), &length)
    }
}
