import CIPSecMB
import VirtioCryptoWire
import WireBytes

/// Intel IPsec-MB's managers: one per thread (the shim's thread-local manager), so keying
/// and running a context sets nothing up and memory does not grow with sessions.
enum IPsecMB {
    /// The calling thread's manager.
    static func manager() throws(CryptoError) -> OpaquePointer {
        guard let handle = vc_imb_thread_manager() else { throw .unsupported }
        return handle
    }
}

/// A key schedule for one 3GPP algorithm, zeroized when released. ZUC has no schedule
/// (IPsec-MB keys it per call from the key itself).
final class ThreeGPPKeying {
    enum Kind { case kasumiF8, kasumiF9, snow3g, zuc }

    let schedule: UnsafeMutableRawBufferPointer

    init(_ kind: Kind, key: SecretBytes) throws(CryptoError) {
        guard key.count == 16 else { throw .invalidKeyLength }
        let manager = try IPsecMB.manager()
        let size: Int
        switch kind {
        case .kasumiF8, .kasumiF9: size = vc_imb_kasumi_schedule_size(manager)
        case .snow3g: size = vc_imb_snow3g_schedule_size(manager)
        case .zuc: size = 16
        }
        schedule = .allocate(byteCount: max(size, 16), alignment: 64)
        let result: Int32
        switch kind {
        case .kasumiF8: result = vc_imb_kasumi_init_f8(manager, key.bytes.baseAddress, schedule.baseAddress)
        case .kasumiF9: result = vc_imb_kasumi_init_f9(manager, key.bytes.baseAddress, schedule.baseAddress)
        case .snow3g: result = vc_imb_snow3g_init(manager, key.bytes.baseAddress, schedule.baseAddress)
        case .zuc: result = 0
        }
        guard result == 0 else { throw .invalidKeyLength }
    }

    deinit {
        zeroize(schedule)
        schedule.deallocate()
    }
}

/// The 3GPP ciphers: KASUMI F8 (8-byte IV), SNOW 3G UEA2 and ZUC EEA3 (16-byte IVs), in
/// the IV layouts IPsec-MB's one-buffer calls take (as DPDK passes them).
final class ThreeGPPCipherContext: CipherContext, ContextCopying {
    let algorithm: CipherAlgorithm
    let key: SecretBytes
    let keying: ThreeGPPKeying
    var schedule: UnsafeMutableRawBufferPointer { keying.schedule }

    init(algorithm: CipherAlgorithm, key: SecretBytes) throws(CryptoError) {
        self.algorithm = algorithm
        self.key = key
        keying = try ThreeGPPKeying(
            algorithm == .kasumiF8 ? .kasumiF8 : algorithm == .snow3gUea2 ? .snow3g : .zuc, key: key)
    }

    func copy() throws(CryptoError) -> any CipherContext & ContextCopying {
        try ThreeGPPCipherContext(algorithm: algorithm, key: key)
    }

    func run(iv: UnsafeRawBufferPointer, input: UnsafeRawBufferPointer, output: UnsafeMutableRawBufferPointer)
        throws(CryptoError)
    {
        guard output.count >= input.count,
            input.count <= CipherFactory.parameters(algorithm)?.maxDataLength ?? 0
        else { throw .invalidLength }
        if input.isEmpty { return }
        let length = UInt32(input.count)
        let manager = try IPsecMB.manager()
        switch algorithm {
        case .kasumiF8:
            guard iv.count == 8 else { throw .invalidIVLength }
            vc_imb_kasumi_f8(
                manager, schedule.baseAddress, iv.loadUnaligned(as: UInt64.self),
                input.basePointer, output.basePointer, length)
        case .snow3gUea2:
            guard iv.count == 16 else { throw .invalidIVLength }
            vc_imb_snow3g_f8(
                manager, schedule.baseAddress, iv.baseAddress, input.basePointer, output.basePointer, length)
        default:
            guard iv.count == 16 else { throw .invalidIVLength }
            vc_imb_zuc_eea3(
                manager, key.bytes.baseAddress, iv.baseAddress, input.basePointer, output.basePointer, length)
        }
    }
}
