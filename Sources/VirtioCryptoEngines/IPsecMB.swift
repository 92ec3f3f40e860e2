import CIPSecMB
import VirtioCryptoWire

/// An Intel IPsec-MB manager for one context (managers are not shared between threads).
final class IPsecMBManager {
    let handle: OpaquePointer

    init() throws(CryptoError) {
        guard let handle = vc_imb_create() else { throw .unsupported }
        self.handle = handle
    }

    deinit { vc_imb_destroy(handle) }

    /// Whether the library works on this machine (a manager can be set up).
    static let isAvailable: Bool = {
        guard let handle = vc_imb_create() else { return false }
        vc_imb_destroy(handle)
        return true
    }()
}

/// The 3GPP ciphers: KASUMI F8 (8-byte IV), SNOW 3G UEA2 and ZUC EEA3 (16-byte IVs), in
/// the IV layouts IPsec-MB's one-buffer calls take (as DPDK passes them).
final class ThreeGPPCipherContext: CipherContext, ContextCopying {
    let algorithm: CipherAlgorithm
    let key: SecretBytes
    let manager: IPsecMBManager
    /// KASUMI and SNOW 3G key schedules; ZUC is keyed per call from `key`.
    let schedule: UnsafeMutableRawBufferPointer

    init(algorithm: CipherAlgorithm, key: SecretBytes) throws(CryptoError) {
        guard key.count == 16 else { throw .invalidKeyLength }
        self.algorithm = algorithm
        self.key = key
        manager = try IPsecMBManager()
        let size: Int
        switch algorithm {
        case .kasumiF8: size = vc_imb_kasumi_schedule_size(manager.handle)
        case .snow3gUea2: size = vc_imb_snow3g_schedule_size(manager.handle)
        default: size = 16
        }
        schedule = .allocate(byteCount: max(size, 16), alignment: 64)
        let result: Int32
        switch algorithm {
        case .kasumiF8: result = vc_imb_kasumi_init_f8(manager.handle, key.bytes.baseAddress, schedule.baseAddress)
        case .snow3gUea2: result = vc_imb_snow3g_init(manager.handle, key.bytes.baseAddress, schedule.baseAddress)
        default: result = 0
        }
        guard result == 0 else { throw .invalidKeyLength }
    }

    deinit {
        zeroize(schedule)
        schedule.deallocate()
    }

    func copy() throws(CryptoError) -> any CipherContext & ContextCopying {
        try ThreeGPPCipherContext(algorithm: algorithm, key: key)
    }

    func run(iv: UnsafeRawBufferPointer, input: UnsafeRawBufferPointer, output: UnsafeMutableRawBufferPointer) throws(CryptoError) {
        guard output.count >= input.count,
              input.count <= CipherFactory.parameters(algorithm)?.maxDataLength ?? 0 else { throw .invalidLength }
        if input.isEmpty { return }
        let length = UInt32(input.count)
        switch algorithm {
        case .kasumiF8:
            guard iv.count == 8 else { throw .invalidIVLength }
            vc_imb_kasumi_f8(manager.handle, schedule.baseAddress, iv.loadUnaligned(as: UInt64.self),
                             input.basePointer, output.basePointer, length)
        case .snow3gUea2:
            guard iv.count == 16 else { throw .invalidIVLength }
            vc_imb_snow3g_f8(manager.handle, schedule.baseAddress, iv.baseAddress, input.basePointer, output.basePointer, length)
        default:
            guard iv.count == 16 else { throw .invalidIVLength }
            vc_imb_zuc_eea3(manager.handle, key.bytes.baseAddress, iv.baseAddress, input.basePointer, output.basePointer, length)
        }
    }
}
