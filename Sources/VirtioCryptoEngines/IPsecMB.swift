import CIPSecMB
import Foundation
import VirtioCryptoWire

/// An Intel IPsec-MB manager for one context at a time (managers are not shared between
/// threads). Setting one up costs hundreds of microseconds, so released managers go back
/// to a small pool instead of being freed: stateless 3GPP requests lease one each.
final class IPsecMBManager: @unchecked Sendable {
    let handle: OpaquePointer

    private init(handle: OpaquePointer) { self.handle = handle }

    deinit { vc_imb_destroy(handle) }

    private static let poolLock = NSLock()
    nonisolated(unsafe) private static var pool: [IPsecMBManager] = []
    /// Idle managers kept for reuse; more are freed.
    static let poolLimit = 16

    /// A manager from the pool, or a new one.
    static func lease() throws(CryptoError) -> IPsecMBManager {
        poolLock.lock()
        let reused = pool.popLast()
        poolLock.unlock()
        if let reused { return reused }
        guard let handle = vc_imb_create() else { throw .unsupported }
        return IPsecMBManager(handle: handle)
    }

    /// Returns a manager nobody else holds.
    static func release(_ manager: IPsecMBManager) {
        poolLock.lock()
        defer { poolLock.unlock() }
        if pool.count < poolLimit { pool.append(manager) }
    }

    /// Whether the library works on this machine (a manager can be set up).
    static let isAvailable: Bool = {
        guard let handle = vc_imb_create() else { return false }
        vc_imb_destroy(handle)
        return true
    }()
}

/// A manager and a key schedule for one 3GPP algorithm, zeroized when released. ZUC has
/// no schedule (IPsec-MB keys it per call from the key itself).
final class ThreeGPPKeying {
    enum Kind { case kasumiF8, kasumiF9, snow3g, zuc }

    let manager: IPsecMBManager
    let schedule: UnsafeMutableRawBufferPointer

    init(_ kind: Kind, key: SecretBytes) throws(CryptoError) {
        guard key.count == 16 else { throw .invalidKeyLength }
        manager = try IPsecMBManager.lease()
        let size: Int
        switch kind {
        case .kasumiF8, .kasumiF9: size = vc_imb_kasumi_schedule_size(manager.handle)
        case .snow3g: size = vc_imb_snow3g_schedule_size(manager.handle)
        case .zuc: size = 16
        }
        schedule = .allocate(byteCount: max(size, 16), alignment: 64)
        let result: Int32
        switch kind {
        case .kasumiF8: result = vc_imb_kasumi_init_f8(manager.handle, key.bytes.baseAddress, schedule.baseAddress)
        case .kasumiF9: result = vc_imb_kasumi_init_f9(manager.handle, key.bytes.baseAddress, schedule.baseAddress)
        case .snow3g: result = vc_imb_snow3g_init(manager.handle, key.bytes.baseAddress, schedule.baseAddress)
        case .zuc: result = 0
        }
        guard result == 0 else { throw .invalidKeyLength }
    }

    deinit {
        zeroize(schedule)
        schedule.deallocate()
        IPsecMBManager.release(manager)
    }
}

/// The 3GPP ciphers: KASUMI F8 (8-byte IV), SNOW 3G UEA2 and ZUC EEA3 (16-byte IVs), in
/// the IV layouts IPsec-MB's one-buffer calls take (as DPDK passes them).
final class ThreeGPPCipherContext: CipherContext, ContextCopying {
    let algorithm: CipherAlgorithm
    let key: SecretBytes
    let keying: ThreeGPPKeying
    var manager: IPsecMBManager { keying.manager }
    var schedule: UnsafeMutableRawBufferPointer { keying.schedule }

    init(algorithm: CipherAlgorithm, key: SecretBytes) throws(CryptoError) {
        self.algorithm = algorithm
        self.key = key
        keying = try ThreeGPPKeying(algorithm == .kasumiF8 ? .kasumiF8 : algorithm == .snow3gUea2 ? .snow3g : .zuc, key: key)
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
