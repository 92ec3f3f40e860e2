import CIPSecMB
import COpenSSL
import Glibc
import VirtioCryptoEngines

/// The part of Intel IPsec-MB's ABI the raw batch path uses. Its job API is macros over the
/// manager's function pointers (`IMB_GET_NEXT_JOB(mgr)` is `mgr->get_next_job(mgr)`), which
/// Swift cannot call and the project's shim does not wrap, so the benchmark reads the pointers
/// from the manager and fills `IMB_JOB`s itself. The offsets and values are those of
/// intel-ipsec-mb.h 1.3 (`offsetof` against Debian's libipsec-mb-dev 1.3-2); they are used only
/// when the library reports a 1.3 version, and every cell checks the batch output against
/// OpenSSL before timing it.
enum IPsecMBJobABI {
    static let supportedVersionPrefix = "1.3."

    /// `IMB_MGR` members: function pointers set up by `init_mb_mgr_auto` for this CPU.
    enum ManagerOffset {
        static let getNextJob = 64
        static let submitJob = 72
        static let getCompletedJob = 88
        static let flushJob = 96
        static let aesKeyExpansion128 = 112
        static let sha1OneBlock = 160
        static let sha256OneBlock = 176
        static let gcm256Precompute = 464
        static let snow3gKeySchedule = 664
    }

    /// `IMB_JOB` members (the C enums are 4 bytes).
    enum JobOffset {
        static let encryptionKeys = 0
        static let decryptionKeys = 8
        static let keyLength = 16
        static let source = 24
        static let destination = 32
        /// In bits for the `_BITLEN` ciphers (SNOW 3G), in bytes otherwise.
        static let cipherStart = 40
        static let cipherLength = 48
        static let hashStart = 56
        static let hashLength = 64
        static let iv = 72
        static let ivLength = 80
        static let tagOutput = 88
        static let tagLength = 96
        /// `u.HMAC._hashed_auth_key_xor_ipad` / `_opad`; `u.GCM.aad` / `aad_len_in_bytes`.
        static let hashSpecific0 = 104
        static let hashSpecific1 = 112
        static let status = 128
        static let cipherMode = 132
        static let cipherDirection = 136
        static let hashAlgorithm = 140
        static let chainOrder = 144
    }

    static let jobSize = 200
    /// `sizeof(struct gcm_key_data)`.
    static let gcmKeyDataSize = 1008
    /// `sizeof(snow3g_key_schedule_t)`.
    static let snow3gScheduleSize = 16
    /// AES-128's expanded key: 11 round keys of 16 bytes.
    static let aes128ExpandedKeySize = 11 * 16

    enum CipherMode: UInt32 {
        case cbc = 1
        case null = 3
        case gcm = 5
        case snow3gUEA2Bits = 15
    }

    enum HashAlgorithm: UInt32 {
        case hmacSHA1 = 1
        case hmacSHA256 = 3
        case null = 8
        case gmac = 9
        case sha256 = 15
    }

    static let directionEncrypt: UInt32 = 1
    static let directionDecrypt: UInt32 = 2
    static let orderCipherThenHash: UInt32 = 1
    /// GMAC covers the ciphertext: it runs before a GCM decryption.
    static let orderHashThenCipher: UInt32 = 2
    static let statusCompleted: UInt32 = 3

    typealias JobCall = @convention(c) (OpaquePointer) -> UnsafeMutableRawPointer?
    typealias KeyExpansion =
        @convention(c) (UnsafeRawPointer, UnsafeMutableRawPointer, UnsafeMutableRawPointer) ->
        Void
    typealias OneBlock = @convention(c) (UnsafeRawPointer, UnsafeMutableRawPointer) -> Void
    typealias Precompute = @convention(c) (UnsafeRawPointer, UnsafeMutableRawPointer) -> Void
    typealias KeySchedule = @convention(c) (UnsafeRawPointer, UnsafeMutableRawPointer) -> Int32

    /// The library's version string when its ABI is the one above, nil otherwise.
    static var supportedVersion: String? {
        guard let version = vc_imb_version().map({ String(cString: $0) }),
            version.hasPrefix(supportedVersionPrefix)
        else { return nil }
        return version
    }
}

/// Raw IPsec-MB through its job API: `count` independent requests on distinct buffers are
/// submitted one after the other and the manager is flushed, on one thread with its own
/// manager, keyed once, as a multi-buffer backend (DPDK's aesni_mb) runs a burst. For the
/// algorithms IPsec-MB runs in parallel lanes (AES-CBC encryption, HMAC-SHA1/SHA-256 and
/// their chains) this is the machine's batch limit; GCM and SNOW 3G go through the same API.
/// A GCM decryption job computes the tag of its ciphertext; as the device does, the batch compares
/// it in constant time with the request's own tag once the job is back (a mismatch counts as failed
/// and its plaintext is zeroed).
final class IPsecMBBatch {
    typealias ABI = IPsecMBJobABI

    let count: Int
    let size: Int
    /// Input `i` starts at `inputs + i * stride`, its output at `outputs + i * stride`.
    let stride: Int
    let inputs: UnsafeMutableRawBufferPointer
    let outputs: UnsafeMutableRawBufferPointer
    /// Where the tag goes in an output (nil: the cipher writes no tag).
    private let tagOffset: Int?
    /// GCM decryption: the tags the jobs compute, 16 bytes per buffer, each compared with the one
    /// that follows its input's ciphertext (nil for the other workloads).
    private let computedTags: UnsafeMutableRawBufferPointer?
    /// Jobs that completed with another status than COMPLETED, over the batch's life.
    private(set) var failed = 0

    private let manager: OpaquePointer
    private let getNextJob: ABI.JobCall
    private let submitJob: ABI.JobCall
    private let getCompletedJob: ABI.JobCall
    private let flushJob: ABI.JobCall
    /// The job every request copies before its buffers are set.
    private let template: UnsafeMutableRawBufferPointer
    /// Expanded keys, HMAC states, the IV: referenced by the template.
    private let keyMaterial: UnsafeMutableRawBufferPointer

    /// nil when IPsec-MB has no job for the workload or the library is not the ABI above.
    init?(workload: BenchWorkload, size: Int, count: Int) {
        guard ABI.supportedVersion != nil, let manager = vc_imb_create() else { return nil }
        let base = UnsafeRawPointer(manager)
        func pointer(_ offset: Int) -> UnsafeRawPointer? {
            base.load(fromByteOffset: offset, as: UnsafeRawPointer?.self)
        }
        guard let next = pointer(ABI.ManagerOffset.getNextJob), let submit = pointer(ABI.ManagerOffset.submitJob),
            let completed = pointer(ABI.ManagerOffset.getCompletedJob), let flush = pointer(ABI.ManagerOffset.flushJob)
        else {
            vc_imb_destroy(manager)
            return nil
        }
        self.manager = manager
        getNextJob = unsafeBitCast(next, to: ABI.JobCall.self)
        submitJob = unsafeBitCast(submit, to: ABI.JobCall.self)
        getCompletedJob = unsafeBitCast(completed, to: ABI.JobCall.self)
        flushJob = unsafeBitCast(flush, to: ABI.JobCall.self)
        self.count = count
        self.size = size
        // Room for the largest output (data and a tag), cache-line aligned like the rings' buffers.
        stride = (size + 64 + 63) & ~63
        inputs = .allocate(byteCount: stride * count, alignment: 64)
        outputs = .allocate(byteCount: stride * count, alignment: 64)
        outputs.initializeMemory(as: UInt8.self, repeating: 0)
        // Distinct contents per buffer, so a lane that took another lane's data fails the check.
        for index in 0..<count {
            for offset in 0..<stride {
                inputs[index * stride + offset] = UInt8(truncatingIfNeeded: index &* 131 &+ offset &* 7)
            }
        }
        template = .allocate(byteCount: ABI.jobSize, alignment: 64)
        template.initializeMemory(as: UInt8.self, repeating: 0)
        keyMaterial = .allocate(byteCount: 4096, alignment: 64)
        keyMaterial.initializeMemory(as: UInt8.self, repeating: 0)
        var tagOffset: Int?
        guard
            Self.prepare(
                workload, size: size, template: template, material: keyMaterial, manager: base,
                hashSourceOffset: outputs.baseAddress! - inputs.baseAddress!, tagOffset: &tagOffset)
        else {
            vc_imb_destroy(manager)
            return nil
        }
        self.tagOffset = tagOffset
        if workload == .aes256GCMDecrypt {
            // Each input becomes the authentic ciphertext ‖ tag of its distinct contents.
            let key = UnsafeMutableRawBufferPointer.allocate(byteCount: 32, alignment: 16)
            let iv = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 16)
            defer {
                key.deallocate()
                iv.deallocate()
            }
            key.copyBytes(from: BenchWorkload.key.prefix(32))
            iv.copyBytes(from: BenchWorkload.iv)
            let sealing = RawEVP.cipher("AES-256-GCM", key: key.baseAddress!)
            for index in 0..<count {
                let buffer = inputs.baseAddress! + index * stride
                RawEVP.seal(sealing, iv: iv.baseAddress!, input: buffer, output: buffer, size: size)
            }
            EVP_CIPHER_CTX_free(sealing)
            let tags = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * count, alignment: 64)
            tags.initializeMemory(as: UInt8.self, repeating: 0)
            computedTags = tags
        } else {
            computedTags = nil
        }
    }

    deinit {
        vc_imb_destroy(manager)
        computedTags?.deallocate()
        inputs.deallocate()
        outputs.deallocate()
        template.deallocate()
        keyMaterial.deallocate()
    }

    /// Fills the job template for `workload` and keys it once; false when IPsec-MB has no job
    /// for it (AES-XTS, the AKCIPHER workloads).
    private static func prepare(
        _ workload: BenchWorkload, size: Int, template: UnsafeMutableRawBufferPointer,
        material: UnsafeMutableRawBufferPointer, manager: UnsafeRawPointer, hashSourceOffset: Int,
        tagOffset: inout Int?
    ) -> Bool {
        typealias Offset = ABI.JobOffset
        func set<T>(_ offset: Int, _ value: T) { template.storeBytes(of: value, toByteOffset: offset, as: T.self) }
        func function<T>(_ offset: Int, as type: T.Type) -> T? {
            manager.load(fromByteOffset: offset, as: UnsafeRawPointer?.self).map { unsafeBitCast($0, to: type) }
        }
        // The key material's layout: IV, expanded keys (encrypt, decrypt) or GCM key data, HMAC states.
        let iv = material.baseAddress!
        let keys = iv + 64
        let decryptKeys = keys + 256
        let innerState = iv + 3072
        let outerState = innerState + 128
        iv.copyMemory(from: BenchWorkload.iv, byteCount: BenchWorkload.iv.count)
        let key = BenchWorkload.key

        /// RFC 2104: the hash states after one block of (key XOR ipad) and of (key XOR opad).
        func hmacStates(keyLength: Int, oneBlock: Int) -> Bool {
            guard let hashBlock = function(oneBlock, as: ABI.OneBlock.self) else { return false }
            let hmacBlockSize = 64
            var inner = [UInt8](repeating: 0x36, count: hmacBlockSize)
            var outer = [UInt8](repeating: 0x5c, count: hmacBlockSize)
            for index in 0..<keyLength {
                inner[index] ^= key[index]
                outer[index] ^= key[index]
            }
            hashBlock(inner, innerState)
            hashBlock(outer, outerState)
            set(Offset.hashSpecific0, UnsafeRawPointer(innerState))
            set(Offset.hashSpecific1, UnsafeRawPointer(outerState))
            return true
        }
        func cbc() -> Bool {
            guard let expand = function(ABI.ManagerOffset.aesKeyExpansion128, as: ABI.KeyExpansion.self) else {
                return false
            }
            expand(key, keys, decryptKeys)
            set(Offset.cipherMode, ABI.CipherMode.cbc.rawValue)
            set(Offset.encryptionKeys, UnsafeRawPointer(keys))
            set(Offset.decryptionKeys, UnsafeRawPointer(decryptKeys))
            set(Offset.keyLength, UInt64(16))
            set(Offset.cipherLength, UInt64(size))
            set(Offset.iv, UnsafeRawPointer(iv))
            set(Offset.ivLength, UInt64(16))
            return true
        }
        func hashOnly(_ algorithm: ABI.HashAlgorithm, tag: Int) {
            set(Offset.cipherMode, ABI.CipherMode.null.rawValue)
            set(Offset.hashAlgorithm, algorithm.rawValue)
            set(Offset.hashLength, UInt64(size))
            set(Offset.tagLength, UInt64(tag))
            tagOffset = 0
        }

        set(Offset.cipherDirection, ABI.directionEncrypt)
        set(Offset.chainOrder, ABI.orderCipherThenHash)
        set(Offset.hashAlgorithm, ABI.HashAlgorithm.null.rawValue)
        switch workload {
        case .aes128CBC:
            return cbc()
        case .aesCBCHmacSHA1:
            guard cbc(), hmacStates(keyLength: 20, oneBlock: ABI.ManagerOffset.sha1OneBlock) else { return false }
            // IPsec-MB hashes `src + hash_start`: point it at the ciphertext in the output, as
            // DPDK's aesni_mb does for out-of-place encrypt-then-MAC.
            set(Offset.hashAlgorithm, ABI.HashAlgorithm.hmacSHA1.rawValue)
            set(Offset.hashStart, UInt64(bitPattern: Int64(hashSourceOffset)))
            set(Offset.hashLength, UInt64(size))
            set(Offset.tagLength, UInt64(20))
            tagOffset = size
            return true
        case .hmacSHA256:
            guard hmacStates(keyLength: 32, oneBlock: ABI.ManagerOffset.sha256OneBlock) else { return false }
            hashOnly(.hmacSHA256, tag: 32)
            return true
        case .sha256:
            hashOnly(.sha256, tag: 32)
            return true
        case .aes256GCM, .aes256GCMDecrypt:
            guard let precompute = function(ABI.ManagerOffset.gcm256Precompute, as: ABI.Precompute.self) else {
                return false
            }
            precompute(key, keys)
            let nonceLength = 12
            set(Offset.cipherMode, ABI.CipherMode.gcm.rawValue)
            set(Offset.hashAlgorithm, ABI.HashAlgorithm.gmac.rawValue)
            set(Offset.encryptionKeys, UnsafeRawPointer(keys))
            set(Offset.decryptionKeys, UnsafeRawPointer(keys))
            set(Offset.keyLength, UInt64(32))
            set(Offset.cipherLength, UInt64(size))
            set(Offset.hashLength, UInt64(size))
            set(Offset.iv, UnsafeRawPointer(iv))
            set(Offset.ivLength, UInt64(nonceLength))
            set(Offset.tagLength, UInt64(16))
            // No additional data: a valid pointer and length 0.
            set(Offset.hashSpecific0, UnsafeRawPointer(iv))
            set(Offset.hashSpecific1, UInt64(0))
            if workload == .aes256GCMDecrypt {
                // The tag goes to `computedTags` (set per job), not to the output.
                set(Offset.cipherDirection, ABI.directionDecrypt)
                set(Offset.chainOrder, ABI.orderHashThenCipher)
            } else {
                tagOffset = size
            }
            return true
        case .snow3g:
            guard let schedule = function(ABI.ManagerOffset.snow3gKeySchedule, as: ABI.KeySchedule.self),
                schedule(key, keys) == 0
            else { return false }
            set(Offset.cipherMode, ABI.CipherMode.snow3gUEA2Bits.rawValue)
            set(Offset.encryptionKeys, UnsafeRawPointer(keys))
            set(Offset.decryptionKeys, UnsafeRawPointer(keys))
            set(Offset.keyLength, UInt64(16))
            set(Offset.cipherLength, UInt64(size * 8))
            set(Offset.iv, UnsafeRawPointer(iv))
            set(Offset.ivLength, UInt64(16))
            return true
        case .aes256XTS, .rsa2048Sign, .rsa2048Verify, .ecdsaP256Sign, .ecdsaP256Verify:
            return false
        }
    }

    /// One batch: a job per buffer, submitted in order, then a flush; returns the jobs completed.
    @discardableResult
    func run() -> Int {
        typealias Offset = ABI.JobOffset
        var completed = 0
        let computedTags = computedTags?.baseAddress
        func retire(_ job: UnsafeMutableRawPointer) {
            guard job.load(fromByteOffset: Offset.status, as: UInt32.self) == ABI.statusCompleted else {
                failed += 1
                return
            }
            if let computedTags {
                // GCM decryption: the tag the job computed against the one after the ciphertext.
                let source = job.load(fromByteOffset: Offset.source, as: UnsafeRawPointer.self)
                let index = (source - UnsafeRawPointer(inputs.baseAddress!)) / stride
                let expected = UnsafeRawBufferPointer(start: source + size, count: 16)
                let computed = UnsafeRawBufferPointer(start: computedTags + index * 16, count: 16)
                guard constantTimeEqual(computed, expected) else {
                    // Not authentic: the plaintext is not released.
                    memset(outputs.baseAddress! + index * stride, 0, size)
                    failed += 1
                    return
                }
            }
            completed += 1
        }
        let template = UnsafeRawPointer(template.baseAddress!)
        for index in 0..<count {
            guard let job = getNextJob(manager) else { break }
            job.copyMemory(from: template, byteCount: ABI.jobSize)
            let source = inputs.baseAddress! + index * stride
            let destination = outputs.baseAddress! + index * stride
            job.storeBytes(of: UnsafeRawPointer(source), toByteOffset: Offset.source, as: UnsafeRawPointer.self)
            job.storeBytes(of: destination, toByteOffset: Offset.destination, as: UnsafeMutableRawPointer.self)
            if let tagOffset {
                job.storeBytes(
                    of: destination + tagOffset, toByteOffset: Offset.tagOutput, as: UnsafeMutableRawPointer.self)
            } else if let computedTags {
                job.storeBytes(
                    of: computedTags + index * 16, toByteOffset: Offset.tagOutput, as: UnsafeMutableRawPointer.self)
            }
            var finished = submitJob(manager)
            while let done = finished {
                retire(done)
                finished = getCompletedJob(manager)
            }
        }
        while let done = flushJob(manager) { retire(done) }
        return completed
    }

    /// Runs one batch and compares every output (data and tag, `outputLength` bytes) with
    /// `reference` computed on the same input; returns the index of the first output that
    /// differs, or nil when all match.
    func firstMismatch(
        outputLength: Int, reference: (UnsafeMutableRawPointer, UnsafeMutableRawPointer) -> Void
    ) -> Int? {
        outputs.initializeMemory(as: UInt8.self, repeating: 0)
        guard run() == count, failed == 0 else { return 0 }
        let expected = UnsafeMutableRawBufferPointer.allocate(byteCount: stride, alignment: 64)
        defer { expected.deallocate() }
        for index in 0..<count {
            expected.initializeMemory(as: UInt8.self, repeating: 0)
            reference(inputs.baseAddress! + index * stride, expected.baseAddress!)
            if memcmp(expected.baseAddress!, outputs.baseAddress! + index * stride, outputLength) != 0 { return index }
        }
        return nil
    }
}
