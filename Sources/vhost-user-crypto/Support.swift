import ArgumentParser
import Dispatch
import Foundation
import Glibc
import Logging
import Synchronization
import VhostUser
import VirtioCryptoDevice
import VirtioCryptoWire

/// `--ciphers aes-cbc,aes-ctr` and friends: names are the spec's (Spec/constants.yaml).
enum AlgorithmFilter {
    static func parse<T: Hashable>(_ list: String?, _ known: [T], _ name: (T) -> String?) throws -> Set<T>? {
        guard let list else { return nil }
        if list == "none" { return [] }
        var result: Set<T> = []
        for item in list.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            guard let value = known.first(where: { name($0) == item }) else {
                throw ValidationError("unknown algorithm '\(item)'")
            }
            result.insert(value)
        }
        return result
    }

    /// The spec name of a constant from its C name: VIRTIO_CRYPTO_CIPHER_AES_CBC → aes-cbc.
    static func specName(_ cName: String?, prefix: String) -> String? {
        guard let cName, cName.hasPrefix(prefix) else { return nil }
        return cName.dropFirst(prefix.count).lowercased().replacingOccurrences(of: "_", with: "-")
    }

    static func apply(
        to offer: DeviceOffer, ciphers: String?, hashes: String?, macs: String?, aeads: String?,
        akciphers: String? = nil
    ) throws -> DeviceOffer {
        offer.restricted(
            ciphers: try parse(ciphers, CipherAlgorithm.known) { specName($0.cName, prefix: "VIRTIO_CRYPTO_CIPHER_") },
            hashes: try parse(hashes, HashAlgorithm.known) { specName($0.cName, prefix: "VIRTIO_CRYPTO_HASH_") },
            macs: try parse(macs, MacAlgorithm.known) { specName($0.cName, prefix: "VIRTIO_CRYPTO_MAC_") },
            aeads: try parse(aeads, AeadAlgorithm.known) { specName($0.cName, prefix: "VIRTIO_CRYPTO_AEAD_") },
            akciphers: try parse(akciphers, AkcipherAlgorithm.known) {
                specName($0.cName, prefix: "VIRTIO_CRYPTO_AKCIPHER_")
            })
    }
}

/// SIGINT/SIGTERM: a clean shutdown (`onStop` ends the accept loop and the frontend's connection
/// after its rings serve what is already posted; the main loop then reports and exits); a second
/// signal, or a shutdown that takes longer than `gracePeriod`, exits at once. SIGUSR1: the counters.
enum Shutdown {
    static let gracePeriod: DispatchTimeInterval = .seconds(10)
    private static let stopRequested = Atomic<Bool>(false)
    static var requested: Bool { stopRequested.load(ordering: .acquiring) }
    nonisolated(unsafe) static var onReport: () -> Void = {}
    nonisolated(unsafe) static var onStop: () -> Void = {}
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []
    /// Signals are handled on this one queue, in order.
    private static let queue = DispatchQueue(label: "signals")

    static func install() {
        // A write to a peer that went away must be an error return, not the end of the daemon.
        signal(SIGPIPE, SIG_IGN)
        for signalNumber in [SIGINT, SIGTERM, SIGUSR1] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
            source.setEventHandler {
                if signalNumber == SIGUSR1 {
                    onReport()
                    return
                }
                if requested { exit(1) }
                stopRequested.store(true, ordering: .releasing)
                onStop()
                queue.asyncAfter(deadline: .now() + gracePeriod) { exit(1) }
            }
            source.resume()
            sources.append(source)
        }
    }
}

/// systemd socket activation (sd_listen_fds(3)): the listening socket systemd passed as fd 3, when
/// LISTEN_PID names this process and LISTEN_FDS is 1; nil otherwise. The variables are removed so
/// no child inherits them.
enum SocketActivation {
    static let firstDescriptor: Int32 = 3

    static func listener() throws -> Int32? {
        let environment = ProcessInfo.processInfo.environment
        guard let pid = environment["LISTEN_PID"], pid == String(getpid()), let count = environment["LISTEN_FDS"] else {
            return nil
        }
        unsetenv("LISTEN_PID")
        unsetenv("LISTEN_FDS")
        unsetenv("LISTEN_FDNAMES")
        guard count == "1" else {
            throw ValidationError("systemd passed \(count) sockets; the daemon takes exactly one")
        }
        var listening: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(firstDescriptor, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0, listening == 1 else {
            throw ValidationError("fd 3 from systemd is not a listening socket")
        }
        _ = fcntl(firstDescriptor, F_SETFD, FD_CLOEXEC)
        return firstDescriptor
    }
}
