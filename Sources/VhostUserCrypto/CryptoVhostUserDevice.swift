import Logging
import VhostUser
import VirtQueue
import VirtioCryptoDevice
import VirtioCryptoWire
import WireBytes

/// The virtio-crypto device as a vhost-user device: data queues 0..<n, then the control queue;
/// the crypto feature bits and config space; QEMU's session messages (CREATE/CLOSE_CRYPTO_SESSION)
/// as the device's extension of the protocol.
public final class CryptoVhostUserDevice: VhostUserDevice, @unchecked Sendable {
    public let crypto: VirtioCryptoDevice
    let logger: Logger
    /// Data rings batch AES-CBC and AES-GCM encryptions, HMAC-SHA1/SHA-256 and CBC + HMAC chains through IPsec-MB.
    let multiBuffer: Bool

    public init(_ crypto: VirtioCryptoDevice, logger: Logger, multiBuffer: Bool = true) {
        self.crypto = crypto
        self.logger = logger
        self.multiBuffer = multiBuffer
    }

    var dataQueues: Int { crypto.offer.limits.dataQueues }

    public var queueCount: Int { dataQueues + 1 }

    public var deviceFeatures: UInt64 { crypto.offer.features.rawValue }

    public func acknowledge(features: UInt64) -> Bool {
        // QEMU sends no crypto bit at all when the guest negotiated none (the legacy layout).
        crypto.negotiate(CryptoFeatures(rawValue: features))
    }

    public func configSpace() -> [UInt8] { crypto.config.encoded() }

    public func makeQueueHandler(_ index: Int) -> QueueHandler {
        if index == dataQueues {
            let crypto = self.crypto
            return { crypto.handleControl($0) }
        }
        let worker = crypto.makeDataWorker(queue: index)
        return { worker.handle($0) }
    }

    /// Data rings are served in batches: requests IPsec-MB's job API runs (AES-CBC and AES-GCM
    /// encryption, HMAC-SHA1 and HMAC-SHA-256, CBC + HMAC encrypt-then-MAC) wait for the batch's end (`multiBuffer`; the daemon's `--no-multi-buffer` turns it off).
    public func makeRingService(_ index: Int) -> RingService {
        guard multiBuffer, index < dataQueues else { return .immediate(makeQueueHandler(index)) }
        return .batching(BatchedDataQueue(crypto.makeDataWorker(queue: index, multiBuffer: true)))
    }

    public var extensionProtocolFeatures: UInt64 { ProtocolFeature.cryptoSession.mask }

    public func handleExtension(_ request: UInt32, payload: [UInt8]) -> ExtensionOutcome? {
        switch VhostUserRequest(rawValue: request) {
        case .createCryptoSession?:
            return .reply(createSession(payload))
        case .closeCryptoSession?:
            guard payload.count == CryptoSessionMessage.closePayloadSize else {
                return .acknowledged(refusal: "CLOSE_CRYPTO_SESSION payload of \(payload.count) bytes, not 8")
            }
            let id: UInt64? = payload.withUnsafeBytes { raw in
                var reader = WireReader(raw)
                return try? reader.le64()
            }
            guard let id else { return .acknowledged(refusal: "CLOSE_CRYPTO_SESSION unreadable") }
            _ = crypto.destroySession(id)  // an unknown or repeated id is a no-op, as QEMU expects
            return .acknowledged(refusal: nil)
        default:
            return nil
        }
    }

    public func reset() { crypto.sessions.removeAll() }

    /// CREATE_CRYPTO_SESSION: the reply is the request echoed with the session id (negative when
    /// the session was refused: QEMU reads nothing else).
    func createSession(_ payload: [UInt8]) -> [UInt8] {
        var sessionID: Int64 = -1
        do {
            switch try CryptoSessionMessage.parse(
                payload, maxAkcipherKeyLength: crypto.offer.limits.maxAkcipherKeyLength)
            {
            case .symmetric(var request):
                defer {
                    request.cipherKey.zeroize()
                    request.authKey.zeroize()
                }
                do {
                    sessionID = Int64(bitPattern: try crypto.createSymmetricSession(request))
                } catch {
                    logger.info(
                        "CREATE_CRYPTO_SESSION refused: symmetric session (cipher \(request.cipher), op_type \(request.opType)): \(error)"
                    )
                }
            case .akcipher(let request, let key):
                let result: Result<UInt64, SessionError> = payload.withUnsafeBytes { raw in
                    do throws(SessionError) {
                        return .success(
                            try crypto.createAkcipherSession(request, key: UnsafeRawBufferPointer(rebasing: raw[key])))
                    } catch {
                        return .failure(error)
                    }
                }
                switch result {
                case .success(let id): sessionID = Int64(bitPattern: id)
                case .failure(let error):
                    logger.info(
                        "CREATE_CRYPTO_SESSION refused: AKCIPHER \(request.logDescription), key of \(key.count) bytes: \(error)"
                    )
                }
            }
        } catch {
            // A payload that does not parse: no service can be read from it.
            crypto.statistics.sessionRefused(nil)
            logger.info("CREATE_CRYPTO_SESSION refused: \(error)")
        }
        return CryptoSessionMessage.reply(to: payload, sessionID: sessionID)
    }
}

extension AkcipherSessionRequest {
    var logDescription: String {
        var text = "\(algorithm) \(keyType)"
        if case .rsa(let rsa) = parameters { text += ", padding \(rsa.paddingAlgo), hash \(rsa.hashAlgo)" }
        return text
    }
}

/// A data queue's worker as a batching ring handler.
final class BatchedDataQueue: BatchingQueueHandler {
    let worker: DataWorker

    init(_ worker: DataWorker) { self.worker = worker }

    func serve(_ chain: DescriptorChain, head: UInt16, othersWaiting: Int, completion: any UsedRingCompletion)
        -> UInt32?
    {
        worker.serve(chain, head: head, othersWaiting: othersWaiting, completion: completion)
    }

    func finishBatch(completion: any UsedRingCompletion) { worker.finishBatch(completion: completion) }
}
