import CDigests
import CIPSecMB
import COpenSSL
import VirtioCryptoWire
import WireBytes

/// A MAC session keyed once: the algorithm, the key and the result length.
///
/// IVs: GMAC-AES and GMAC-Twofish take their IV per request (any non-zero length, 12 bytes usual);
/// SNOW 3G UIA2 and ZUC EIA3 take the 16-byte IV of IPsec-MB's one-buffer calls;
/// KASUMI F9 takes 9 bytes: COUNT ‖ FRESH (8) then the DIRECTION bit in the last byte.
/// The others take no IV.
public final class MacSession: @unchecked Sendable {
    public let algorithm: MacAlgorithm
    public let resultLength: Int
    let key: SecretBytes
    private let template: any MacBackend

    public init(algorithm: MacAlgorithm, key: UnsafeRawBufferPointer, resultLength: Int) throws(CryptoError) {
        guard let full = Self.macLength(algorithm) else { throw .unsupported }
        guard resultLength > 0, resultLength <= full else { throw .invalidLength }
        self.algorithm = algorithm
        self.resultLength = resultLength
        self.key = SecretBytes(key)
        template = try MacFactory.make(algorithm, key: self.key)
    }

    public func makeContext() throws(CryptoError) -> MacContext {
        try MacContext(backend: template.copy(), resultLength: resultLength)
    }

    /// Full MAC length in bytes of a supported algorithm, nil when unsupported.
    public static func macLength(_ algorithm: MacAlgorithm) -> Int? {
        switch algorithm {
        case .hmacMd5: return 16
        case .hmacSha1: return 20
        case .hmacSha224: return 28
        case .hmacSha256: return 32
        case .hmacSha384: return 48
        case .hmacSha512: return 64
        case .cmacAes, .gmacAes, .gmacTwofish, .cbcmacAes, .xcbcAes: return 16
        case .cmac3des: return 8
        case .kasumiF9, .snow3gUia2, .zucEia3: return 4
        default: return nil
        }
    }

    /// Valid key lengths of a supported algorithm.
    public static func keyLengths(_ algorithm: MacAlgorithm) -> ClosedRange<Int>? {
        switch algorithm {
        case .hmacMd5, .hmacSha1, .hmacSha224, .hmacSha256, .hmacSha384, .hmacSha512: return 1...MacFactory.maxHMACKey
        case .cmacAes, .gmacAes, .gmacTwofish, .cbcmacAes: return 16...32
        case .cmac3des: return 16...24
        case .xcbcAes, .kasumiF9, .snow3gUia2, .zucEia3: return 16...16
        default: return nil
        }
    }
}

/// A worker's MAC state for one session.
public final class MacContext {
    let backend: any MacBackend
    public let resultLength: Int
    private let scratch: UnsafeMutableRawBufferPointer

    init(backend: any MacBackend, resultLength: Int) {
        self.backend = backend
        self.resultLength = resultLength
        scratch = .allocate(byteCount: 64, alignment: 16)
    }

    deinit { scratch.deallocate() }

    /// MAC over `first ‖ second` (AAD then data in chaining; `first` is usually empty),
    /// writing `resultLength` bytes (a truncation of the full MAC) to `output`.
    public func mac(
        iv: UnsafeRawBufferPointer, parts first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws(CryptoError) {
        guard output.count >= resultLength else { throw .invalidLength }
        try backend.compute(iv: iv, first, second, into: scratch)
        output.baseAddress!.copyMemory(from: scratch.baseAddress!, byteCount: resultLength)
    }

    public func mac(
        iv: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0), _ input: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws(CryptoError) {
        try mac(iv: iv, parts: UnsafeRawBufferPointer(start: nil, count: 0), input, into: output)
    }
}

protocol MacBackend: AnyObject {
    /// Writes the full MAC to `output` (at least 64 bytes).
    func compute(
        iv: UnsafeRawBufferPointer, _ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer) throws(CryptoError)
    func copy() throws(CryptoError) -> any MacBackend
}

enum MacFactory {
    static let maxHMACKey = 1024

    static func make(_ algorithm: MacAlgorithm, key: SecretBytes) throws(CryptoError) -> any MacBackend {
        guard let lengths = MacSession.keyLengths(algorithm), lengths.contains(key.count) else {
            throw .invalidKeyLength
        }
        switch algorithm {
        case .hmacMd5: return try PreparedHMACBackend(kind: VC_DIGEST_MD5, key: key)
        case .hmacSha1: return try PreparedHMACBackend(kind: VC_DIGEST_SHA1, key: key)
        case .hmacSha224: return try PreparedHMACBackend(kind: VC_DIGEST_SHA224, key: key)
        case .hmacSha256: return try PreparedHMACBackend(kind: VC_DIGEST_SHA256, key: key)
        case .hmacSha384: return try PreparedHMACBackend(kind: VC_DIGEST_SHA384, key: key)
        case .hmacSha512: return try PreparedHMACBackend(kind: VC_DIGEST_SHA512, key: key)
        case .cmacAes:
            guard [16, 24, 32].contains(key.count) else { throw .invalidKeyLength }
            return try EVPMacBackend(mac: "CMAC", parameter: ("cipher", "AES-\(key.count * 8)-CBC"), key: key)
        case .cmac3des:
            return try EVPMacBackend(
                mac: "CMAC", parameter: ("cipher", key.count == 16 ? "DES-EDE-CBC" : "DES-EDE3-CBC"), key: key)
        case .gmacAes:
            guard [16, 24, 32].contains(key.count) else { throw .invalidKeyLength }
            return try EVPMacBackend(
                mac: "GMAC", parameter: ("cipher", "AES-\(key.count * 8)-GCM"), key: key, takesIV: true)
        case .gmacTwofish:
            guard [16, 24, 32].contains(key.count) else { throw .invalidKeyLength }
            return try TwofishGMACBackend(key: key)
        case .xcbcAes: return try BlockMacBackend(kind: .xcbc, key: key)
        case .cbcmacAes:
            guard [16, 24, 32].contains(key.count) else { throw .invalidKeyLength }
            return try BlockMacBackend(kind: .cbcMac, key: key)
        case .kasumiF9, .snow3gUia2, .zucEia3: return try ThreeGPPMacBackend(algorithm: algorithm, key: key)
        default: throw .unsupported
        }
    }
}

/// HMAC over MD5, SHA-1 and SHA-2 with the key's inner and outer states prepared once
/// (RFC 2104); a request copies them, so it allocates nothing (EVP_MAC_init allocates twice).
final class PreparedHMACBackend: MacBackend {
    private let prepared: UnsafeMutablePointer<vc_hmac_key>

    init(kind: vc_digest_kind, key: SecretBytes) throws(CryptoError) {
        prepared = .allocate(capacity: 1)
        guard vc_hmac_prepare(prepared, Int32(kind.rawValue), key.bytes.baseAddress, key.count) == 1 else {
            prepared.deallocate()
            throw .unsupported
        }
    }

    private init(copying other: PreparedHMACBackend) {
        prepared = .allocate(capacity: 1)
        prepared.initialize(to: other.prepared.pointee)
    }

    deinit {
        vc_hmac_clear(prepared)
        prepared.deallocate()
    }

    func copy() throws(CryptoError) -> any MacBackend { PreparedHMACBackend(copying: self) }

    func compute(
        iv: UnsafeRawBufferPointer, _ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws(CryptoError) {
        guard output.count >= 64,
            vc_hmac_compute(
                prepared, first.baseAddress, first.count, second.baseAddress, second.count,
                output.basePointer) == 1
        else { throw .backendFailure }
    }
}

/// CMAC and GMAC through OpenSSL's EVP_MAC, keyed at creation. A request restarts
/// the MAC with the same key (EVP_MAC_init with no key).
final class EVPMacBackend: MacBackend {
    let context: OpaquePointer
    let takesIV: Bool

    init(mac name: String, parameter: (String, String), key: SecretBytes, takesIV: Bool = false) throws(CryptoError) {
        guard let mac = OpenSSLRuntime.mac(name) else { throw .unsupported }
        defer { EVP_MAC_free(mac) }
        guard let context = EVP_MAC_CTX_new(mac) else { throw .backendFailure }
        self.context = context
        self.takesIV = takesIV
        let keyed: Bool = parameter.0.withCString { paramName in
            parameter.1.withCString { value in
                var params = [
                    OSSL_PARAM_construct_utf8_string(paramName, UnsafeMutablePointer(mutating: value), 0),
                    OSSL_PARAM_construct_end(),
                ]
                if takesIV {
                    // GMAC needs an IV before its key; a placeholder, replaced per request.
                    var placeholder = [UInt8](repeating: 0, count: 12)
                    return placeholder.withUnsafeMutableBytes { iv in
                        params.insert(OSSL_PARAM_construct_octet_string(cString("iv"), iv.baseAddress, 12), at: 1)
                        return OpenSSLRuntime.ok(EVP_MAC_init(context, key.bytes.basePointer, key.count, &params))
                    }
                }
                return OpenSSLRuntime.ok(EVP_MAC_init(context, key.bytes.basePointer, key.count, &params))
            }
        }
        guard keyed else {
            OpenSSLRuntime.clearErrors()
            throw .invalidKeyLength
        }
    }

    private init(copying other: EVPMacBackend) throws(CryptoError) {
        guard let context = EVP_MAC_CTX_dup(other.context) else { throw .backendFailure }
        self.context = context
        self.takesIV = other.takesIV
    }

    deinit { EVP_MAC_CTX_free(context) }

    func copy() throws(CryptoError) -> any MacBackend { try EVPMacBackend(copying: self) }

    func compute(
        iv: UnsafeRawBufferPointer, _ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws(CryptoError) {
        let restarted: Bool
        if takesIV {
            guard !iv.isEmpty else { throw .invalidIVLength }
            restarted = withUnsafeTemporaryAllocation(of: OSSL_PARAM.self, capacity: 2) { params in
                params[0] = OSSL_PARAM_construct_octet_string(
                    cString("iv"), UnsafeMutableRawPointer(mutating: iv.baseAddress), iv.count)
                params[1] = OSSL_PARAM_construct_end()
                return OpenSSLRuntime.ok(EVP_MAC_init(context, nil, 0, params.baseAddress))
            }
        } else {
            restarted = OpenSSLRuntime.ok(EVP_MAC_init(context, nil, 0, nil))
        }
        var written = 0
        guard restarted,
            first.isEmpty || OpenSSLRuntime.ok(EVP_MAC_update(context, first.basePointer, first.count)),
            second.isEmpty || OpenSSLRuntime.ok(EVP_MAC_update(context, second.basePointer, second.count)),
            OpenSSLRuntime.ok(EVP_MAC_final(context, output.basePointer, &written, output.count))
        else {
            OpenSSLRuntime.clearErrors()
            throw .backendFailure
        }
    }
}

/// AES-XCBC-MAC-96's full 128-bit MAC (RFC 3566) and plain AES CBC-MAC (zero IV,
/// zero-padded to a whole block), over an AES-ECB context keyed once.
final class BlockMacBackend: MacBackend {
    enum Kind { case xcbc, cbcMac }

    let kind: Kind
    let key: SecretBytes
    /// K1 for XCBC, the key itself for CBC-MAC.
    let cipher: EVPCipherContext
    /// XCBC's K2 and K3.
    let subkeys: UnsafeMutableRawBufferPointer
    private let state: UnsafeMutableRawBufferPointer

    init(kind: Kind, key: SecretBytes) throws(CryptoError) {
        self.kind = kind
        self.key = key
        subkeys = .allocate(byteCount: 32, alignment: 16)
        state = .allocate(byteCount: 32, alignment: 16)
        let ecb = CipherParameters(keyLengths: [16, 24, 32], ivLength: nil, dataBlock: 16)
        let base = try EVPCipherContext(name: "AES-\(key.count * 8)-ECB", key: key, encrypt: true, parameters: ecb)
        switch kind {
        case .cbcMac:
            cipher = base
        case .xcbc:
            let derived = UnsafeMutableRawBufferPointer.allocate(byteCount: 48, alignment: 16)
            defer {
                zeroize(derived)
                derived.deallocate()
            }
            for (index, constant) in [UInt8(1), 2, 3].enumerated() {
                let block = UnsafeMutableRawBufferPointer(rebasing: derived[index * 16..<index * 16 + 16])
                block.initializeMemory(as: UInt8.self, repeating: constant)
                guard base.encryptBlock(block.baseAddress!, block.baseAddress!, length: 16) else {
                    throw .backendFailure
                }
            }
            subkeys.copyMemory(from: UnsafeRawBufferPointer(rebasing: derived[16..<48]))
            cipher = try EVPCipherContext(
                name: "AES-128-ECB", key: SecretBytes(UnsafeRawBufferPointer(rebasing: derived[0..<16])),
                encrypt: true, parameters: ecb)
        }
    }

    deinit {
        zeroize(subkeys)
        subkeys.deallocate()
        zeroize(state)
        state.deallocate()
    }

    func copy() throws(CryptoError) -> any MacBackend { try BlockMacBackend(kind: kind, key: key) }

    func compute(
        iv: UnsafeRawBufferPointer, _ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws(CryptoError) {
        let total = first.count + second.count
        let chain = UnsafeMutableRawBufferPointer(rebasing: state[0..<16])
        chain.initializeMemory(as: UInt8.self, repeating: 0)
        func byte(_ index: Int) -> UInt8 { index < first.count ? first[index] : second[index - first.count] }
        // All blocks but the last (XCBC treats the last one specially; CBC-MAC pads it with zeros).
        let blocks = max(1, (total + 15) / 16)
        for block in 0..<blocks {
            let start = block * 16
            let isLast = block == blocks - 1
            for index in 0..<16 {
                let position = start + index
                var value: UInt8 = position < total ? byte(position) : 0
                if kind == .xcbc && isLast {
                    if total % 16 != 0 || total == 0, position == total { value = 0x80 }
                    let subkey = (total > 0 && total % 16 == 0) ? 0 : 16
                    value ^= subkeys[subkey + index]
                }
                chain[index] ^= value
            }
            guard cipher.encryptBlock(chain.baseAddress!, chain.baseAddress!, length: 16) else { throw .backendFailure }
        }
        output.baseAddress!.copyMemory(from: chain.baseAddress!, byteCount: 16)
    }
}

/// KASUMI F9, SNOW 3G UIA2 and ZUC EIA3 through IPsec-MB (32-bit MACs).
final class ThreeGPPMacBackend: MacBackend {
    let algorithm: MacAlgorithm
    let key: SecretBytes
    let keying: ThreeGPPKeying
    var schedule: UnsafeMutableRawBufferPointer { keying.schedule }
    /// The 3GPP calls take one contiguous message; AAD ‖ data are joined here when both exist.
    private var joined: UnsafeMutableRawBufferPointer

    init(algorithm: MacAlgorithm, key: SecretBytes) throws(CryptoError) {
        self.algorithm = algorithm
        self.key = key
        keying = try ThreeGPPKeying(
            algorithm == .kasumiF9 ? .kasumiF9 : algorithm == .snow3gUia2 ? .snow3g : .zuc, key: key)
        joined = .allocate(byteCount: 0, alignment: 16)
    }

    deinit { joined.deallocate() }

    func copy() throws(CryptoError) -> any MacBackend { try ThreeGPPMacBackend(algorithm: algorithm, key: key) }

    func compute(
        iv: UnsafeRawBufferPointer, _ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws(CryptoError) {
        var message = second
        if !first.isEmpty {
            let total = first.count + second.count
            if joined.count < total {
                joined.deallocate()
                joined = .allocate(byteCount: total, alignment: 16)
            }
            joined.baseAddress!.copyMemory(from: first.baseAddress!, byteCount: first.count)
            if !second.isEmpty {
                (joined.baseAddress! + first.count).copyMemory(from: second.baseAddress!, byteCount: second.count)
            }
            message = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(joined)[0..<total])
        }
        let limit =
            algorithm == .kasumiF9
            ? ThreeGPPLimits.kasumiBytes
            : algorithm == .zucEia3 ? ThreeGPPLimits.zucBytes : Int(UInt32.max / 8)
        guard !message.isEmpty, message.count <= limit else { throw .invalidLength }
        let bits = UInt32(message.count * 8)
        let manager = try IPsecMB.manager()
        switch algorithm {
        case .kasumiF9:
            guard iv.count == 9 else { throw .invalidIVLength }
            vc_imb_kasumi_f9(
                manager, schedule.baseAddress, iv.loadUnaligned(as: UInt64.self), message.basePointer,
                bits, output.baseAddress, UInt32(iv[8] & 1))
        case .snow3gUia2:
            guard iv.count == 16 else { throw .invalidIVLength }
            vc_imb_snow3g_f9(
                manager, schedule.baseAddress, iv.baseAddress, message.basePointer, UInt64(bits), output.baseAddress)
        default:
            guard iv.count == 16 else { throw .invalidIVLength }
            vc_imb_zuc_eia3(
                manager, key.bytes.baseAddress, iv.baseAddress, message.basePointer, bits,
                output.baseAddress!.assumingMemoryBound(to: UInt32.self))
        }
    }
}

/// GMAC (SP 800-38D with an empty plaintext) over the Twofish block cipher.
final class TwofishGMACBackend: MacBackend {
    let key: SecretBytes
    let cipher: Twofish
    let hash: GHash
    private let block: UnsafeMutableRawBufferPointer

    init(key: SecretBytes) throws(CryptoError) {
        guard let cipher = Twofish(key: Array(key.bytes)) else { throw .invalidKeyLength }
        self.key = key
        self.cipher = cipher
        block = .allocate(byteCount: 32, alignment: 16)
        block.initializeMemory(as: UInt8.self, repeating: 0)
        cipher.encrypt(block.baseAddress!, block.baseAddress!)
        hash = GHash(subkey: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(block)[0..<16]))
    }

    deinit {
        zeroize(block)
        block.deallocate()
    }

    func copy() throws(CryptoError) -> any MacBackend { try TwofishGMACBackend(key: key) }

    func compute(
        iv: UnsafeRawBufferPointer, _ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws(CryptoError) {
        guard !iv.isEmpty else { throw .invalidIVLength }
        let j0 = UnsafeMutableRawBufferPointer(rebasing: block[0..<16])
        let keystream = UnsafeMutableRawBufferPointer(rebasing: block[16..<32])
        if iv.count == 12 {
            j0.copyMemory(from: iv)
            j0.storeBytes(of: UInt32(1).bigEndian, toByteOffset: 12, as: UInt32.self)
        } else {
            var y: (UInt64, UInt64) = (0, 0)
            hash.absorb(&y, iv)
            hash.finish(&y, aadLength: 0, textLength: iv.count)
            GHash.mask(y, with: UnsafeRawBufferPointer(start: zeroBlock, count: 16), into: j0)
        }
        cipher.encrypt(j0.baseAddress!, keystream.baseAddress!)
        // The authenticated data is first ‖ second; GHASH pads only at the very end.
        var y: (UInt64, UInt64) = (0, 0)
        if first.isEmpty {
            hash.absorb(&y, second)
        } else {
            var joined = [UInt8](first)
            joined += second
            joined.withUnsafeBytes { hash.absorb(&y, $0) }
        }
        hash.finish(&y, aadLength: first.count + second.count, textLength: 0)
        GHash.mask(y, with: UnsafeRawBufferPointer(keystream), into: output)
    }
}

nonisolated(unsafe) private let zeroBlock: UnsafeMutableRawPointer = {
    let pointer = UnsafeMutableRawPointer.allocate(byteCount: 16, alignment: 16)
    pointer.initializeMemory(as: UInt8.self, repeating: 0, count: 16)
    return pointer
}()
