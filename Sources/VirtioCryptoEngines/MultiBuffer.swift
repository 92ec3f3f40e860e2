import CIPSecMB
import VirtioCryptoWire
import WireBytes

/// AES-CBC key schedules for IPsec-MB's job API, expanded once per worker from a session's key
/// and zeroized when released.
public final class CBCJobKeys {
    static let scheduleSize = 15 * 16
    let schedules: UnsafeMutableRawBufferPointer
    @usableFromInline let keyLength: UInt32
    public let encrypt: Bool
    @usableFromInline let encryption: UnsafeMutableRawPointer
    @usableFromInline let decryption: UnsafeMutableRawPointer

    /// Nil for a session the job path does not run: anything but AES-CBC.
    public init?(_ session: CipherSession, engine: MultiBufferEngine) {
        guard session.algorithm == .aesCbc else { return nil }
        schedules = .allocate(byteCount: 2 * Self.scheduleSize, alignment: 64)
        encryption = schedules.baseAddress!
        decryption = schedules.baseAddress! + Self.scheduleSize
        keyLength = UInt32(session.key.count)
        encrypt = session.direction == .encrypt
        guard
            vc_imb_aes_keyexp(
                engine.manager, session.key.bytes.baseAddress, keyLength, encryption, decryption) == 0
        else {
            schedules.deallocate()
            return nil
        }
    }

    deinit {
        zeroize(schedules)
        schedules.deallocate()
    }
}

/// HMAC-SHA1 and HMAC-SHA-256 inner and outer states for IPsec-MB's job API, hashed once per
/// worker from a session's key and zeroized when released.
public final class HMACJobKeys {
    let states: UnsafeMutableRawBufferPointer
    @usableFromInline let sha256: Bool
    /// The full digest's length (the job writes all of it); the session's result may be shorter.
    public let digestLength: Int
    public let resultLength: Int
    @usableFromInline let inner: UnsafeMutableRawPointer
    @usableFromInline let outer: UnsafeMutableRawPointer

    /// Nil for a session the job path does not run: anything but HMAC-SHA1 and HMAC-SHA-256.
    public init?(_ session: MacSession, engine: MultiBufferEngine) {
        switch session.algorithm {
        case .hmacSha1: (sha256, digestLength) = (false, 20)
        case .hmacSha256: (sha256, digestLength) = (true, 32)
        default: return nil
        }
        resultLength = session.resultLength
        states = .allocate(byteCount: 64, alignment: 64)
        inner = states.baseAddress!
        outer = states.baseAddress! + 32
        states.initializeMemory(as: UInt8.self, repeating: 0)
        let key = session.key.bytes
        guard
            vc_imb_hmac_precompute(engine.manager, sha256 ? 1 : 0, key.baseAddress, UInt64(key.count), inner, outer)
                == 0
        else {
            states.deallocate()
            return nil
        }
    }

    deinit {
        zeroize(states)
        states.deallocate()
    }
}

/// An AES-GCM key's tables for IPsec-MB's job API, precomputed once per worker from a session's key
/// and zeroized when released.
public final class GCMJobKeys {
    /// The tag lengths the job path takes (the others run through OpenSSL).
    public static let tagLengths: Set<Int> = [8, 12, 16]
    /// The IV length the job path takes (a 16-byte J0 runs through the engine).
    public static let ivLength = 12
    @usableFromInline let keyData: UnsafeMutableRawBufferPointer
    @usableFromInline let keyLength: UInt32
    public let tagLength: Int
    public let encrypt: Bool

    /// Nil for a session the job path does not run: anything but AES-GCM with one of `tagLengths`.
    public init?(_ session: AeadSession, engine: MultiBufferEngine) {
        guard session.algorithm == .gcm, Self.tagLengths.contains(session.tagLength) else { return nil }
        encrypt = session.direction == .encrypt
        keyData = .allocate(byteCount: vc_imb_gcm_key_size(), alignment: 64)
        keyData.initializeMemory(as: UInt8.self, repeating: 0)
        keyLength = UInt32(session.key.count)
        tagLength = session.tagLength
        guard vc_imb_gcm_precompute(engine.manager, session.key.bytes.baseAddress, keyLength, keyData.baseAddress) == 0
        else {
            keyData.deallocate()
            return nil
        }
    }

    deinit {
        zeroize(keyData)
        keyData.deallocate()
    }
}

/// Intel IPsec-MB's job API on one worker: independent requests submitted one after the other
/// run in parallel lanes (AES-CBC encryption, serial within one buffer, gains the most; HMAC-SHA1
/// and HMAC-SHA-256), and
/// come back in submission order, some at a later submission and the rest at the flush. It has
/// its own manager: the job queue is the manager's state, so it must not be shared.
public final class MultiBufferEngine {
    @usableFromInline let manager: OpaquePointer
    /// Jobs submitted and not yet returned.
    public var pending: Int { inLanes }
    @usableFromInline var inLanes = 0

    public init() throws(CryptoError) {
        guard let manager = vc_imb_create() else { throw .unsupported }
        self.manager = manager
    }

    deinit { vc_imb_destroy(manager) }

    /// Submits one AES-CBC job on `length` bytes (a positive multiple of the block) from `input`
    /// to `output` (the same address, or not overlapping), with `tag` to tell it when it returns.
    /// The IV, input and output must stay as they are until then. `completed` is called for each
    /// job that returns now, with its tag and whether it succeeded.
    @inlinable @inline(__always)
    public func submitCBC(
        _ keys: CBCJobKeys, iv: UnsafeRawPointer, input: UnsafeRawPointer, output: UnsafeMutableRawPointer,
        length: Int, tag: Int, completed: (Int, Bool) -> Void
    ) {
        var doneTag: UInt64 = 0
        var ok: Int32 = 0
        inLanes += 1
        let returned = vc_imb_submit_aes_cbc(
            manager, keys.encryption, keys.decryption, keys.keyLength, keys.encrypt ? 1 : 0, iv, input, output,
            UInt64(length), UInt64(tag), &doneTag, &ok)
        collect(returned: returned, &doneTag, &ok, completed)
    }

    /// Submits one HMAC job over `length` bytes of `input` (which must stay as it is until the job
    /// returns); the full digest (`keys.digestLength` bytes) goes to `digest`.
    @inlinable @inline(__always)
    public func submitHMAC(
        _ keys: HMACJobKeys, input: UnsafeRawPointer, length: Int, digest: UnsafeMutableRawPointer, tag: Int,
        completed: (Int, Bool) -> Void
    ) {
        var doneTag: UInt64 = 0
        var ok: Int32 = 0
        inLanes += 1
        let returned = vc_imb_submit_hmac(
            manager, keys.sha256 ? 1 : 0, keys.inner, keys.outer, input, UInt64(length), digest, UInt64(tag),
            &doneTag, &ok)
        collect(returned: returned, &doneTag, &ok, completed)
    }

    /// Submits one AES-GCM encryption or decryption (as the keys' session says) of `length` bytes with
    /// a 12-byte IV and `aadLength` bytes of AAD; the result goes to `output`, the tag computed over the
    /// ciphertext (`keys.tagLength` bytes) to `tagOutput`: a decryption is authentic only if it equals
    /// the tag the request carries, which the caller checks when the job returns. All of them must
    /// stay as they are until then.
    @inlinable @inline(__always)
    public func submitGCM(
        _ keys: GCMJobKeys, iv: UnsafeRawPointer, aad: UnsafeRawPointer?, aadLength: Int, input: UnsafeRawPointer,
        output: UnsafeMutableRawPointer, length: Int, tagOutput: UnsafeMutableRawPointer, tag: Int,
        completed: (Int, Bool) -> Void
    ) {
        var doneTag: UInt64 = 0
        var ok: Int32 = 0
        inLanes += 1
        let returned = vc_imb_submit_gcm(
            manager, keys.encrypt ? 1 : 0, keys.keyData.baseAddress, keys.keyLength, iv, aad, UInt64(aadLength), input,
            output,
            UInt64(length), tagOutput, UInt64(keys.tagLength), UInt64(tag), &doneTag, &ok)
        collect(returned: returned, &doneTag, &ok, completed)
    }

    /// Submits one AES-CBC encryption then HMAC over the ciphertext (encrypt-then-MAC), in place in
    /// `buffer`: `cipher` and `hashed` are ranges of it; the full digest goes to `digest`.
    @inlinable @inline(__always)
    public func submitCBCThenHMAC(
        _ cipherKeys: CBCJobKeys, _ macKeys: HMACJobKeys, iv: UnsafeRawPointer, buffer: UnsafeMutableRawPointer,
        cipher: Range<Int>, hashed: Range<Int>, digest: UnsafeMutableRawPointer, tag: Int,
        completed: (Int, Bool) -> Void
    ) {
        var doneTag: UInt64 = 0
        var ok: Int32 = 0
        inLanes += 1
        let returned = vc_imb_submit_cbc_hmac(
            manager, cipherKeys.encryption, cipherKeys.decryption, cipherKeys.keyLength, iv, buffer,
            UInt64(cipher.lowerBound), UInt64(cipher.count), UInt64(hashed.lowerBound), UInt64(hashed.count),
            macKeys.sha256 ? 1 : 0, macKeys.inner, macKeys.outer, digest, UInt64(tag), &doneTag, &ok)
        collect(returned: returned, &doneTag, &ok, completed)
    }

    /// After a submission: the job it returned (`returned` non-zero), then every other one done.
    @inlinable @inline(__always)
    func collect(
        returned: Int32, _ doneTag: inout UInt64, _ ok: inout Int32, _ completed: (Int, Bool) -> Void
    ) {
        if returned != 0 {
            inLanes -= 1
            completed(Int(doneTag), ok != 0)
        }
        while vc_imb_completed_job(manager, &doneTag, &ok) != 0 {
            inLanes -= 1
            completed(Int(doneTag), ok != 0)
        }
    }

    /// Runs every pending job to completion, `completed` called for each in submission order.
    public func flush(completed: (Int, Bool) -> Void) {
        var doneTag: UInt64 = 0
        var ok: Int32 = 0
        while pending > 0, vc_imb_flush_job(manager, &doneTag, &ok) != 0 {
            inLanes -= 1
            completed(Int(doneTag), ok != 0)
        }
    }
}
