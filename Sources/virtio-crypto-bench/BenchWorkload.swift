import ArgumentParser
import Dispatch
import VirtioCryptoDriver
import VirtioCryptoEngines
import VirtioCryptoWire

/// The benchmark's workloads: one session each, created through the control queue, or the
/// same operation as stateless requests that carry their keys.
enum BenchWorkload: String, CaseIterable {
    case aes128CBC = "aes-128-cbc"
    case aes256GCM = "aes-256-gcm"
    /// AES-256-GCM decryption of what `aes-256-gcm` produces: every request is authentic.
    case aes256GCMDecrypt = "aes-256-gcm-decrypt"
    case aes256XTS = "aes-256-xts"
    case hmacSHA256 = "hmac-sha256"
    case sha256 = "sha-256"
    case aesCBCHmacSHA1 = "aes-128-cbc+hmac-sha1"
    case snow3g = "snow3g-uea2"
    case rsa2048Sign = "rsa-2048-sign"
    case rsa2048Verify = "rsa-2048-verify"
    case ecdsaP256Sign = "ecdsa-p256-sign"
    case ecdsaP256Verify = "ecdsa-p256-verify"

    static let key = (0..<64).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
    static let iv = [UInt8](repeating: 0x42, count: 16)

    /// The cipher of the cipher-only workloads, with its key length.
    var cipher: (algorithm: CipherAlgorithm, keyLength: Int)? {
        switch self {
        case .aes128CBC: (.aesCbc, 16)
        case .aes256XTS: (.aesXts, 64)
        case .snow3g: (.snow3gUea2, 16)
        default: nil
        }
    }

    /// The service whose stateless mode the workload's stateless requests need.
    var statelessFeature: CryptoFeatures {
        switch self {
        case .aes128CBC, .aes256XTS, .snow3g, .aesCBCHmacSHA1: .cipherStatelessMode
        case .aes256GCM, .aes256GCMDecrypt: .aeadStatelessMode
        case .hmacSHA256: .macStatelessMode
        case .sha256: .hashStatelessMode
        case .rsa2048Sign, .rsa2048Verify, .ecdsaP256Sign, .ecdsaP256Verify: .akcipherStatelessMode
        }
    }

    /// AKCIPHER workloads sign or verify a SHA-256 digest whatever the cell's size, and OpenSSL's
    /// big-number code allocates inside every RSA and ECDSA operation (the device does not).
    var akcipher: (parameters: AkcipherParameters, sign: Bool)? {
        switch self {
        case .rsa2048Sign: (.rsa(padding: .pkcs1, hash: .sha256), true)
        case .rsa2048Verify: (.rsa(padding: .pkcs1, hash: .sha256), false)
        case .ecdsaP256Sign: (.ecdsa(curve: .nistP256), true)
        case .ecdsaP256Verify: (.ecdsa(curve: .nistP256), false)
        default: nil
        }
    }

    /// The digest the AKCIPHER workloads sign and verify: SHA-256("abc").
    static let digest = [UInt8](hex: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")!
    static let rsaKey = AkcipherSession.generatePrivateKey(.rsa(padding: .pkcs1, hash: .sha256))!
    static let ecKey = AkcipherSession.generatePrivateKey(.ecdsa(curve: .nistP256))!

    /// The workload's key, its session parameters as the wire carries them, and the result space.
    var akcipherMaterial:
        (key: [UInt8], member: AkcipherCreateSessionFlf.AlgoFlf, algorithm: AkcipherAlgorithm, output: Int)?
    {
        switch akcipher?.parameters {
        case .rsa?: (Self.rsaKey, .rsa(RsaSessionPara(paddingAlgo: .pkcs1, hashAlgo: .sha256)), .rsa, 256)
        case .ecdsa?: (Self.ecKey, .ecdsa(EcdsaSessionPara(curveId: .nistP256)), .ecdsa, 72)
        case nil: nil
        }
    }

    /// A signature of `digest` for the verify workloads, made by the engine once.
    var akcipherSignature: [UInt8] {
        guard let (parameters, _) = akcipher, let material = akcipherMaterial,
            let context = try? material.key.withUnsafeBytes({
                try AkcipherSession(keyType: .privateKey, key: $0, parameters: parameters)
            })
            .makeContext()
        else { return [] }
        var signature = [UInt8](repeating: 0, count: material.output)
        let written = Self.digest.withUnsafeBytes { digest in
            signature.withUnsafeMutableBytes { (try? context.sign(digest, into: $0)) ?? 0 }
        }
        return Array(signature.prefix(written))
    }

    /// The AES-256-GCM workloads' 12-byte IV.
    static let nonce = Array(iv.prefix(12))
    /// The bytes every workload reads as its message.
    static func plaintext(size: Int) -> [UInt8] { [UInt8](repeating: 0x5a, count: size) }

    /// What `aes-256-gcm-decrypt` reads: the ciphertext of `plaintext(size:)` followed by its
    /// 16-byte tag, under the workload's key and IV, made by the project's AEAD engine (the same
    /// bytes `aes-256-gcm` writes) once per request layout: never per request.
    static func sealedPlaintext(size: Int) -> [UInt8] {
        let plaintext = plaintext(size: size)
        var sealed = [UInt8](repeating: 0, count: size + 16)
        let key = Array(Self.key.prefix(32))
        do {
            let context = try key.withUnsafeBytes {
                try AeadSession(algorithm: .gcm, key: $0, tagLength: 16, direction: .encrypt)
            }
            .makeContext()
            try nonce.withUnsafeBytes { nonce in
                try plaintext.withUnsafeBytes { input in
                    try sealed.withUnsafeMutableBytes { output in
                        try context.run(
                            iv: nonce, aad: UnsafeRawBufferPointer(start: nil, count: 0), input: input, output: output)
                    }
                }
            }
        } catch {
            fatalError("AES-256-GCM encryption of the benchmark's plaintext failed: \(error)")
        }
        return sealed
    }

    /// The data a request's destination must hold once answered OK, for the workloads whose
    /// result the benchmark checks (the decryption's plaintext); nil for the others.
    func expectedOutput(size: Int) -> [UInt8]? {
        self == .aes256GCMDecrypt ? Self.plaintext(size: size) : nil
    }

    static let chainSessionFlf = AlgChainSessionFlf(
        algChainOrder: .cipherThenHash, hashMode: .auth,
        cipherHdr: CipherSessionFlf(algo: .aesCbc, keyLen: 16, op: .encrypt),
        algoFlf: .auth(MacCreateSessionFlf(algo: .hmacSha1, hashResultLen: 20, authKeyLen: 20)))

    func createSession(_ control: FrontendRing) throws -> UInt64 {
        try createSession { try control.run(readable: $0, writable: $1) }
    }

    /// Creates the workload's session with `run`, which sends one control request
    /// (readable parts, writable sizes) and returns the written bytes.
    func createSession(_ run: ([[UInt8]], [Int]) throws -> [UInt8]) throws -> UInt64 {
        let head: [UInt8]
        var keys: [[UInt8]] = []
        switch self {
        case .aes128CBC, .aes256XTS, .snow3g:
            let (algorithm, length) = cipher!
            head = RequestBuilder.control(
                opcode: .cipherCreateSession,
                flf: RequestBuilder.cipherSession(algorithm, keyLength: length, op: .encrypt))
            keys = [Array(Self.key.prefix(length))]
        case .aes256GCM, .aes256GCMDecrypt:
            head = RequestBuilder.control(
                opcode: .aeadCreateSession,
                flf: AeadCreateSessionFlf(
                    algo: .gcm, keyLen: 32, tagLen: 16, op: self == .aes256GCM ? .encrypt : .decrypt))
            keys = [Array(Self.key.prefix(32))]
        case .hmacSHA256:
            head = RequestBuilder.control(
                opcode: .macCreateSession,
                flf: MacCreateSessionFlf(algo: .hmacSha256, hashResultLen: 32, authKeyLen: 32))
            keys = [Array(Self.key.prefix(32))]
        case .sha256:
            head = RequestBuilder.control(
                opcode: .hashCreateSession, flf: HashCreateSessionFlf(algo: .sha256, hashResultLen: 32))
        case .aesCBCHmacSHA1:
            let flf = SymCreateSessionFlf(opFlf: .algorithmChaining(Self.chainSessionFlf), opType: .algorithmChaining)
            head = RequestBuilder.control(opcode: .cipherCreateSession, flf: flf)
            keys = [Array(Self.key.prefix(16)), Array(Self.key.prefix(20))]
        case .rsa2048Sign, .rsa2048Verify, .ecdsaP256Sign, .ecdsaP256Verify:
            let material = akcipherMaterial!
            head = RequestBuilder.control(
                opcode: .akcipherCreateSession,
                flf: AkcipherCreateSessionFlf(
                    algo: material.algorithm, keyType: .privateKey, keyLen: UInt32(material.key.count),
                    algoFlf: material.member))
            keys = [material.key]
        }
        let input = try CreateSessionInput.decode(try run([head] + keys, [16]))
        guard input.status == .ok else { throw ValidationError("\(rawValue): session refused with \(input.status)") }
        return input.sessionId
    }

    /// The readable parts and writable sizes of one session-mode request of `size` bytes
    /// (legacy layout: the connection negotiates no REVISION_1, like QEMU's builtin device).
    func request(session: UInt64, size: Int) -> ([[UInt8]], [Int]) {
        let source = [UInt8](repeating: 0x5a, count: size)
        switch self {
        case .aes128CBC, .aes256XTS, .snow3g:
            return (
                [
                    RequestBuilder.data(
                        opcode: .cipherEncrypt, sessionID: session,
                        flf: RequestBuilder.cipherData(ivLength: 16, sourceLength: size)),
                    Self.iv, source,
                ], [size, 1]
            )
        case .aes256GCM:
            return (
                [
                    RequestBuilder.data(
                        opcode: .aeadEncrypt, sessionID: session,
                        flf: AeadDataFlf(ivLen: 12, srcDataLen: UInt32(size), dstDataLen: UInt32(size + 16), tagLen: 16)
                    ),
                    Self.nonce, source,
                ], [size + 16, 1]
            )
        case .aes256GCMDecrypt:
            // Decryption reads ciphertext then tag (src_data_len counts both), writes the plaintext.
            return (
                [
                    RequestBuilder.data(
                        opcode: .aeadDecrypt, sessionID: session,
                        flf: AeadDataFlf(ivLen: 12, srcDataLen: UInt32(size + 16), dstDataLen: UInt32(size), tagLen: 16)
                    ),
                    Self.nonce, Self.sealedPlaintext(size: size),
                ], [size, 1]
            )
        case .hmacSHA256:
            return (
                [
                    RequestBuilder.data(
                        opcode: .mac, sessionID: session,
                        flf: MacDataFlf(hdr: HashDataFlf(srcDataLen: UInt32(size), hashResultLen: 32))), source,
                ], [32, 1]
            )
        case .sha256:
            return (
                [
                    RequestBuilder.data(
                        opcode: .hash, sessionID: session, flf: HashDataFlf(srcDataLen: UInt32(size), hashResultLen: 32)
                    ), source,
                ], [32, 1]
            )
        case .aesCBCHmacSHA1:
            let flf = SymDataFlf(
                opTypeFlf: .algorithmChaining(
                    AlgChainDataFlf(
                        ivLen: 16, srcDataLen: UInt32(size), dstDataLen: UInt32(size),
                        lenToCipher: UInt32(size), lenToHash: UInt32(size), hashResultLen: 20)),
                opType: .algorithmChaining)
            return (
                [RequestBuilder.data(opcode: .cipherEncrypt, sessionID: session, flf: flf), Self.iv, source],
                [size, 20, 1]
            )
        case .rsa2048Sign, .rsa2048Verify, .ecdsaP256Sign, .ecdsaP256Verify:
            let (readable, writable) = akcipherVlf()
            let opcode: Opcode = akcipher!.sign ? .akcipherSign : .akcipherVerify
            let flf = AkcipherDataFlf(
                srcDataLen: UInt32(readable.count - (akcipher!.sign ? 0 : Self.digest.count)),
                dstDataLen: UInt32(akcipher!.sign ? writable : Self.digest.count))
            return (
                [RequestBuilder.data(opcode: opcode, sessionID: session, flf: flf), readable],
                [writable, 1].filter { $0 > 0 }
            )
        }
    }

    /// An AKCIPHER request's device-readable vlf (the digest to sign, or signature then digest) and
    /// its destination size (0 for VERIFY).
    private func akcipherVlf() -> (readable: [UInt8], writable: Int) {
        akcipher!.sign ? (Self.digest, akcipherMaterial!.output) : (akcipherSignature + Self.digest, 0)
    }

    /// The same operation as a stateless request (REVISION_1 and the service's stateless
    /// mode negotiated): keys travel in the request, the device keys a context every time.
    func statelessRequest(size: Int) -> ([[UInt8]], [Int]) {
        let source = [UInt8](repeating: 0x5a, count: size)
        let length = UInt32(size)
        func head(_ opcode: Opcode, _ flf: some WireStruct) -> [UInt8] {
            RequestBuilder.data(opcode: opcode, flf: flf, layout: .stateless)
        }
        switch self {
        case .aes128CBC, .aes256XTS, .snow3g:
            let (algorithm, keyLength) = cipher!
            let flf = SymDataFlfStateless(
                opTypeFlf: .cipher(
                    CipherDataFlfStateless(
                        sessPara: CipherSessPara(algo: algorithm, keyLen: UInt32(keyLength), op: .encrypt), ivLen: 16,
                        srcDataLen: length, dstDataLen: length)),
                opType: .cipher)
            return ([head(.cipherEncrypt, flf), Array(Self.key.prefix(keyLength)), Self.iv, source], [size, 1])
        case .aes256GCM:
            let flf = AeadDataFlfStateless(
                sessPara: AeadSessPara(algo: .gcm, keyLen: 32, op: .encrypt), ivLen: 12, tagLen: 16, aadLen: 0,
                srcDataLen: length, dstDataLen: length + 16)
            return ([head(.aeadEncrypt, flf), Array(Self.key.prefix(32)), Self.nonce, source], [size + 16, 1])
        case .aes256GCMDecrypt:
            let flf = AeadDataFlfStateless(
                sessPara: AeadSessPara(algo: .gcm, keyLen: 32, op: .decrypt), ivLen: 12, tagLen: 16, aadLen: 0,
                srcDataLen: length + 16, dstDataLen: length)
            return (
                [head(.aeadDecrypt, flf), Array(Self.key.prefix(32)), Self.nonce, Self.sealedPlaintext(size: size)],
                [size, 1]
            )
        case .hmacSHA256:
            let flf = MacDataFlfStateless(
                sessPara: MacSessPara(algo: .hmacSha256, authKeyLen: 32), srcDataLen: length, hashResultLen: 32)
            return ([head(.mac, flf), Array(Self.key.prefix(32)), source], [32, 1])
        case .sha256:
            return (
                [
                    head(
                        .hash,
                        HashDataFlfStateless(
                            sessPara: HashSessPara(algo: .sha256), srcDataLen: length, hashResultLen: 32)), source,
                ], [32, 1]
            )
        case .aesCBCHmacSHA1:
            let para = AlgChainSessPara(
                algChainOrder: .cipherThenHash, aadLen: 0,
                cipher: CipherSessPara(algo: .aesCbc, keyLen: 16, op: .encrypt),
                hash: ChainHashPara(algo: MacAlgorithm.hmacSha1.rawValue, authKeyLen: 20, hashMode: .auth))
            let member = AlgChainDataFlfStateless(
                sessPara: para, ivLen: 16, srcDataLen: length, dstDataLen: length, cipherStartSrcOffset: 0,
                lenToCipher: length, hashStartSrcOffset: 0, lenToHash: length, aadLen: 0, hashResultLen: 20)
            let flf = SymDataFlfStateless(opTypeFlf: .algorithmChaining(member), opType: .algorithmChaining)
            return (
                [head(.cipherEncrypt, flf), Array(Self.key.prefix(16)), Array(Self.key.prefix(20)), Self.iv, source],
                [size, 20, 1]
            )
        case .rsa2048Sign, .rsa2048Verify, .ecdsaP256Sign, .ecdsaP256Verify:
            let material = akcipherMaterial!
            let sign = akcipher!.sign
            let (readable, writable) = akcipherVlf()
            let u: AkcipherSessPara.U
            switch material.member {
            case .rsa(let rsa): u = .rsa(rsa)
            case .ecdsa(let ecdsa): u = .ecdsa(ecdsa)
            case .unused: u = .unused
            }
            let para = AkcipherSessPara(
                algo: material.algorithm, keyType: .privateKey, keyLen: UInt32(material.key.count), u: u)
            let flf = AkcipherDataFlfStateless(
                sessPara: para, srcDataLen: UInt32(readable.count - (sign ? 0 : Self.digest.count)),
                dstDataLen: UInt32(sign ? writable : Self.digest.count))
            return (
                [head(sign ? .akcipherSign : .akcipherVerify, flf), material.key, readable],
                [writable, 1].filter { $0 > 0 }
            )
        }
    }

    /// The bytes one request writes: the data, then a tag or digest.
    func outputLength(size: Int) -> Int {
        switch self {
        case .aes128CBC, .aes256XTS, .snow3g, .aes256GCMDecrypt: size
        case .aes256GCM: size + 16
        case .hmacSHA256, .sha256: 32
        case .aesCBCHmacSHA1: size + 20
        case .rsa2048Sign, .rsa2048Verify, .ecdsaP256Sign, .ecdsaP256Verify: 0
        }
    }

    /// One call of the same operation on the crypto library directly, keyed once: raw EVP
    /// for everything OpenSSL has, the IPsec-MB context (a thin wrapper) for SNOW 3G. With
    /// `buffers` > 1, successive calls walk that many distinct input/output pairs, the
    /// memory a queue of that depth touches.
    func rawOperation(size: Int, buffers: Int = 1) throws -> () -> Void {
        if akcipher != nil { return try akcipherOperation() }
        let stride = (size + 64 + 63) & ~63
        let input = UnsafeMutableRawBufferPointer.allocate(byteCount: stride * buffers, alignment: 64)
        let output = UnsafeMutableRawBufferPointer.allocate(byteCount: stride * buffers, alignment: 64)
        input.initializeMemory(as: UInt8.self, repeating: 0x5a)
        output.initializeMemory(as: UInt8.self, repeating: 0)
        if self == .aes256GCMDecrypt {
            // Every buffer holds the authentic ciphertext and tag of the plaintext.
            let sealed = Self.sealedPlaintext(size: size)
            for index in 0..<buffers {
                UnsafeMutableRawBufferPointer(rebasing: input[(index * stride)..<(index * stride + sealed.count)])
                    .copyBytes(from: sealed)
            }
        }
        let call = try rawCall(size: size)
        if let expected = expectedOutput(size: size) {
            // The raw path must produce what the device is checked against (the tag verified).
            call(input.baseAddress!, output.baseAddress!)
            guard Array(UnsafeRawBufferPointer(rebasing: output[0..<size])) == expected else {
                throw ValidationError("\(rawValue) \(size) B: the raw library's output is not the plaintext")
            }
        }
        var index = 0
        return {
            call(input.baseAddress! + index * stride, output.baseAddress! + index * stride)
            index = index + 1 == buffers ? 0 : index + 1
        }
    }

    /// The raw library's operation on one input, writing `outputLength(size:)` bytes to the
    /// target: keyed once, the IV set per call. AKCIPHER workloads have none (they sign or
    /// verify one digest: `rawOperation`).
    func rawCall(size: Int) throws -> (_ source: UnsafeMutableRawPointer, _ target: UnsafeMutableRawPointer) -> Void {
        let key = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 16)
        key.copyBytes(from: Self.key)
        let iv = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 16)
        iv.copyBytes(from: Self.iv)
        let ivPointer = iv.baseAddress!
        switch self {
        case .aes128CBC, .aes256XTS:
            let context = RawEVP.cipher(self == .aes128CBC ? "AES-128-CBC" : "AES-256-XTS", key: key.baseAddress!)
            return { RawEVP.crypt(context, iv: ivPointer, input: $0, output: $1, size: size) }
        case .aes256GCM:
            let context = RawEVP.cipher("AES-256-GCM", key: key.baseAddress!)
            return { RawEVP.seal(context, iv: ivPointer, input: $0, output: $1, size: size) }
        case .aes256GCMDecrypt:
            // On a tag mismatch `open` zeroes the plaintext, which every check against it then catches.
            let context = RawEVP.cipher("AES-256-GCM", key: key.baseAddress!, encrypt: false)
            return { _ = RawEVP.open(context, iv: ivPointer, input: $0, output: $1, size: size) }
        case .hmacSHA256:
            let context = RawEVP.hmac(key: key.baseAddress!)
            return { RawEVP.mac(context, input: $0, output: $1, size: size) }
        case .sha256:
            let digest = RawEVP.digest()
            return { RawEVP.hash(digest, input: $0, output: $1, size: size) }
        case .aesCBCHmacSHA1:
            let cipher = RawEVP.cipher("AES-128-CBC", key: key.baseAddress!)
            let mac = RawEVP.hmac(key: key.baseAddress!, digest: "SHA1", keyLength: 20)
            return { source, target in
                RawEVP.crypt(cipher, iv: ivPointer, input: source, output: target, size: size)
                RawEVP.mac(mac, input: target, output: target + size, size: size)
            }
        case .snow3g:
            let context = try CipherSession(
                algorithm: .snow3gUea2, key: UnsafeRawBufferPointer(rebasing: key[0..<16]), direction: .encrypt
            ).makeContext()
            let ivBytes = UnsafeRawBufferPointer(iv)
            return { source, target in
                try! context.run(
                    iv: ivBytes, input: UnsafeRawBufferPointer(start: source, count: size),
                    output: UnsafeMutableRawBufferPointer(start: target, count: size))
            }
        case .rsa2048Sign, .rsa2048Verify, .ecdsaP256Sign, .ecdsaP256Verify:
            throw ValidationError("\(rawValue) has no per-buffer raw call")
        }
    }

    /// An AKCIPHER workload's raw operation: one sign or verify of `digest`.
    private func akcipherOperation() throws -> () -> Void {
        let input = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.digest.count, alignment: 64)
        switch self {
        case .rsa2048Sign, .rsa2048Verify, .ecdsaP256Sign, .ecdsaP256Verify:
            // The engine's context is a thin layer over EVP_PKEY_sign / EVP_PKEY_verify, keyed once.
            let (parameters, sign) = akcipher!
            let material = akcipherMaterial!
            let session = try material.key.withUnsafeBytes {
                try AkcipherSession(keyType: .privateKey, key: $0, parameters: parameters)
            }
            let context = try session.makeContext()
            let digest = UnsafeRawBufferPointer(start: input.baseAddress!, count: Self.digest.count)
            input.copyBytes(from: Self.digest)
            let signature = akcipherSignature
            let signatureBuffer = UnsafeMutableRawBufferPointer.allocate(
                byteCount: max(signature.count, 1), alignment: 16)
            signatureBuffer.copyBytes(from: signature)
            // The cell's size is the digest's; the result needs the key's size (k bytes for RSA).
            let target = UnsafeMutableRawBufferPointer.allocate(byteCount: material.output, alignment: 16)
            if sign { return { _ = try! context.sign(digest, into: target) } }
            return { try! context.verify(signature: UnsafeRawBufferPointer(signatureBuffer), message: digest) }
        default:
            throw ValidationError("\(rawValue) is not an AKCIPHER workload")
        }
    }
}
