import VirtioCryptoEngines
import VirtioCryptoWire

/// A symmetric session described outside the control queue (QEMU's vhost-user
/// CREATE_CRYPTO_SESSION message carries these fields).
public struct SymmetricSessionRequest: Sendable {
    public var opType: SymOp
    public var cipher: CipherAlgorithm
    public var cipherKey: [UInt8]
    public var direction: Op
    public var hashMode: HashMode
    /// A HASH algorithm for PLAIN, a MAC algorithm for AUTH.
    public var authAlgorithm: UInt32
    public var resultLength: UInt32
    public var authKey: [UInt8]
    public var chainOrder: ChainOrder

    public init(
        opType: SymOp, cipher: CipherAlgorithm, cipherKey: [UInt8], direction: Op, hashMode: HashMode = .unknown(0),
        authAlgorithm: UInt32 = 0, resultLength: UInt32 = 0, authKey: [UInt8] = [], chainOrder: ChainOrder = .unknown(0)
    ) {
        self.opType = opType
        self.cipher = cipher
        self.cipherKey = cipherKey
        self.direction = direction
        self.hashMode = hashMode
        self.authAlgorithm = authAlgorithm
        self.resultLength = resultLength
        self.authKey = authKey
        self.chainOrder = chainOrder
    }
}

extension VirtioCryptoDevice {
    /// Creates a CIPHER-service session (cipher only or chaining) in the shared table.
    public func createSymmetricSession(_ request: SymmetricSessionRequest) throws(SessionError) -> UInt64 {
        let factory = self.factory
        return try sessionMessage(.cipher) { () throws(SessionError) in try createSymmetric(request, factory) }
    }

    /// A session made for a session message (QEMU's CREATE_CRYPTO_SESSION), counted as one.
    func sessionMessage(_ service: Service, _ make: () throws(SessionError) -> Session) throws(SessionError) -> UInt64 {
        do throws(SessionError) {
            let session = try make()
            statistics.record(.ok, algorithm: session.algorithm, source: .sessionMessage)
            statistics.sessionCreated(service)
            return session.id
        } catch {
            statistics.record(error.status(features: features), algorithm: .unknown(service), source: .sessionMessage)
            statistics.sessionRefused(service)
            throw error
        }
    }

    private func createSymmetric(_ request: SymmetricSessionRequest, _ factory: SessionFactory) throws(SessionError)
        -> Session
    {
        try sessions.create(service: .cipher) { () throws(SessionError) -> Session.Kind in
            try withBytes(request.cipherKey) { (cipherKey) throws(SessionError) -> Session.Kind in
                switch request.opType {
                case .cipher:
                    return .cipher(try factory.cipher(request.cipher, key: cipherKey, op: request.direction))
                case .algorithmChaining:
                    return try withBytes(request.authKey) { (authKey) throws(SessionError) -> Session.Kind in
                        .chain(
                            try factory.chain(
                                order: request.chainOrder,
                                cipher: CipherSessionFlf(
                                    algo: request.cipher, keyLen: UInt32(cipherKey.count), op: request.direction),
                                hashMode: request.hashMode, authAlgorithm: request.authAlgorithm,
                                resultLength: request.resultLength, cipherKey: cipherKey, authKey: authKey))
                    }
                default:
                    throw .unsupported
                }
            }
        }
    }

    /// Destroys a session of any service; false if there is none with this ID.
    @discardableResult
    public func destroySession(_ id: UInt64) -> Bool {
        guard let session = sessions.lookup(id), (try? sessions.destroy(id, service: session.service)) != nil else {
            return false
        }
        statistics.sessionDestroyed(session.service)
        return true
    }
}

/// `withUnsafeBytes` keeping a typed error (the standard one only rethrows untyped).
func withBytes<T>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(SessionError) -> T) throws(SessionError)
    -> T
{
    let result: Result<T, SessionError> = bytes.withUnsafeBytes { raw in
        do throws(SessionError) { return .success(try body(raw)) } catch { return .failure(error) }
    }
    return try result.get()
}
