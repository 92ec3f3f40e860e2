import Foundation
import Synchronization
import VirtioCryptoEngines
import VirtioCryptoWire

/// A session: crypto keyed once at creation. In-flight requests keep a reference, so
/// destroying a session while they run is safe: they finish with the old keys.
public final class Session: @unchecked Sendable {
    public enum Kind {
        case cipher(CipherSession)
        case chain(ChainSession)
        case hash(HashSession)
        case mac(MacSession)
        case aead(AeadSession)
        case akcipher(AkcipherSession)
    }

    public let id: UInt64
    public let service: Service
    public let kind: Kind

    init(id: UInt64, service: Service, kind: Kind) {
        self.id = id
        self.service = service
        self.kind = kind
    }

    /// What its requests are counted under.
    public var algorithm: RequestAlgorithm { kind.algorithm }
}

extension Session.Kind {
    var algorithm: RequestAlgorithm {
        switch self {
        case .cipher(let cipher): .cipher(cipher.algorithm)
        case .chain(let chain):
            switch chain.authenticator {
            case .hash(let hash): .chain(chain.cipher.algorithm, .hash(hash.algorithm))
            case .mac(let mac): .chain(chain.cipher.algorithm, .mac(mac.algorithm))
            }
        case .hash(let hash): .hash(hash.algorithm)
        case .mac(let mac): .mac(mac.algorithm)
        case .aead(let aead): .aead(aead.algorithm)
        case .akcipher(let akcipher): .akcipher(akcipher.parameters.algorithm)
        }
    }
}

/// Why a session operation failed, mapped to the seed's statuses.
public enum SessionError: Error, Equatable, Sendable {
    /// `invalidKey`: AKCIPHER key bytes that are not the encoding the spec names (its own rule).
    case unsupported, invalid, invalidKey, noSpace, unknownSession

    public func status(features: CryptoFeatures) -> Status {
        switch self {
        case .unsupported: return .notsupp
        case .invalid, .invalidKey, .unknownSession: return .err
        // NOSPC exists only with REVISION_1 (seed, Operation Status); ERR otherwise.
        case .noSpace: return features.contains(.revision1) ? .nospc : .err
        }
    }
}

/// The bounded session table shared by the control path and every data-queue worker.
public final class SessionTable: @unchecked Sendable {
    private let lock = NSLock()
    private var sessions: [UInt64: Session] = [:]
    private var nextID: UInt64 = 1
    public let capacity: Int
    /// Bumped after every removal. IDs are never reused, so a worker that saw a session
    /// live under generation G knows it is still live while the generation is G.
    private let removals = Atomic<UInt64>(0)
    public var generation: UInt64 { removals.load(ordering: .acquiring) }

    public init(capacity: Int) { self.capacity = capacity }

    public var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return sessions.count
    }

    /// Adds a session built by `make` under a fresh, never reused ID.
    public func create(service: Service, _ make: () throws(SessionError) -> Session.Kind) throws(SessionError)
        -> Session
    {
        guard count < capacity else { throw .noSpace }
        let kind = try make()  // keying happens outside the lock
        lock.lock()
        defer { lock.unlock() }
        guard sessions.count < capacity else { throw .noSpace }
        let session = Session(id: nextID, service: service, kind: kind)
        nextID += 1
        sessions[session.id] = session
        return session
    }

    public func lookup(_ id: UInt64) -> Session? {
        lock.lock()
        defer { lock.unlock() }
        return sessions[id]
    }

    /// Removes a session; an unknown or already destroyed ID (or one of another service)
    /// changes nothing.
    public func destroy(_ id: UInt64, service: Service) throws(SessionError) {
        lock.lock()
        defer { lock.unlock() }
        guard let session = sessions[id], session.service == service else { throw .unknownSession }
        sessions[id] = nil
        removals.add(1, ordering: .releasing)
    }

    public func removeAll() {
        lock.lock()
        defer { lock.unlock() }
        sessions.removeAll()
        removals.add(1, ordering: .releasing)
    }
}
