import ArgumentParser
import CVhostUserSupport
import Foundation
import Glibc
import Logging
import MetricsHTTP
import VhostUser
import VhostUserCrypto
import VirtioCryptoDevice
import VirtioCryptoEngines
import VirtioCryptoWire

/// The vhost-user virtio-crypto backend daemon.
@main
struct VhostUserCrypto: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vhost-user-crypto",
        abstract: "A vhost-user virtio-crypto backend for QEMU's cryptodev-vhost-user (and any vhost-user frontend).")

    @Option(help: "UNIX socket to listen on (default: $XDG_RUNTIME_DIR/vhost-user-crypto.sock, or /tmp).")
    var socketPath: String?

    @Option(help: "Data queues offered (max_dataqueues, 1–64). QEMU 7.2 only ever starts queue 0.")
    var queues = 1

    @Option(help: "Live sessions at most (then NOSPC / ERR).")
    var maxSessions = 4096

    @Option(help: "Largest variable-length content of one request in bytes (max_size).")
    var maxRequestSize = 1 << 20

    @Option(help: "Only these cipher algorithms, by spec name (e.g. aes-cbc,aes-ctr); default: all that work.")
    var ciphers: String?

    @Option(help: "Only these hash algorithms (e.g. sha-256); 'none' for no HASH service.")
    var hashes: String?

    @Option(help: "Only these MAC algorithms (e.g. hmac-sha-256); 'none' for no MAC service.")
    var macs: String?

    @Option(help: "Only these AEAD algorithms (e.g. gcm); 'none' for no AEAD service.")
    var aeads: String?

    @Option(help: "Only these AKCIPHER algorithms (rsa, ecdsa); 'none' for no AKCIPHER service.")
    var akciphers: String?

    @Option(
        help: ArgumentHelp(
            "Longest AKCIPHER key accepted, in bytes (DER RSA keys, ECPrivateKey, SEC 1 points; no config field carries it). "
                + "Default: \(AkcipherSession.defaultMaxKeyLength), an RSA-4096 private key."))
    var maxAkcipherKeySize = AkcipherSession.defaultMaxKeyLength

    @Option(help: "Busy-poll each ring this many microseconds after a batch before sleeping on its kick (0–1000000).")
    var pollUs = 0

    @Option(
        help: ArgumentHelp(
            "Serve Prometheus metrics at http://ADDRESS/metrics: HOST:PORT (e.g. 127.0.0.1:9464) or a UNIX socket path. "
                + "Also times every request (a latency histogram per queue).",
            valueName: "address"))
    var metricsAddress: String?

    @Flag(
        inversion: .prefixedNo,
        help:
            "Batch each data ring's AES-CBC and AES-GCM encryptions, HMAC-SHA1/SHA-256 and CBC+HMAC chains through IPsec-MB's job API."
    )
    var multiBuffer = true

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    @Option(
        help: ArgumentHelp(
            "The spec revision the device is a device of (\(SpecRevision.allCases.map(\.id).joined(separator: ", "))): "
                + "which services, algorithms, features and config fields it offers and how it frames outcomes."))
    var specRevision = SpecRevision.newest.id

    func validate() throws {
        guard (1...64).contains(queues) else { throw ValidationError("--queues must be 1…64") }
        guard maxSessions >= 1 else { throw ValidationError("--max-sessions must be at least 1") }
        guard (4096...(64 << 20)).contains(maxRequestSize) else {
            throw ValidationError("--max-request-size must be 4 KiB…64 MiB")
        }
        guard (1...(64 << 10)).contains(maxAkcipherKeySize) else {
            throw ValidationError("--max-akcipher-key-size must be 1…65536")
        }
        if let metricsAddress {
            do { _ = try MetricsAddress(parsing: metricsAddress) } catch {
                throw ValidationError("--metrics-address: \(error)")
            }
        }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        guard SpecRevision(id: specRevision) != nil else {
            let known = SpecRevision.allCases.map(\.id).joined(separator: ", ")
            throw ValidationError("unknown --spec-revision \(specRevision) (one of: \(known))")
        }
    }

    func run() throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: "vhost-user-crypto")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info

        var limits = DeviceLimits()
        limits.dataQueues = queues
        limits.maxSessions = maxSessions
        limits.maxRequestSize = maxRequestSize
        limits.maxAkcipherKeyLength = maxAkcipherKeySize
        let revision = SpecRevision(id: specRevision) ?? .newest
        let offer = try AlgorithmFilter.apply(
            to: DeviceOffer(limits: limits, revision: revision), ciphers: ciphers,
            hashes: hashes, macs: macs, aeads: aeads, akciphers: akciphers)
        // Under systemd socket activation the socket (and its file) are systemd's.
        let activated = try SocketActivation.listener()
        let path = socketPath ?? Self.defaultSocketPath
        let listener = activated ?? vu_listen(path, 1)
        guard listener >= 0 else {
            throw ValidationError("cannot listen on \(path): \(String(cString: strerror(errno)))")
        }
        let counters = Counters()
        let labels = MetricLabels(dataQueues: queues)
        Shutdown.onReport = { CountersReport.log(counters.snapshot(), labels: labels, to: logger) }
        var metricsServer: MetricsServer?
        if let metricsAddress {
            let exporter = MetricsExporter(counters: counters, labels: labels)
            do {
                metricsServer = try MetricsServer(at: try MetricsAddress(parsing: metricsAddress)) { exporter.render() }
            } catch {
                throw ValidationError("cannot serve metrics at \(metricsAddress): \(error)")
            }
        }
        defer { metricsServer?.stop() }
        Shutdown.onStop = {
            logger.notice("stopping: finishing the requests already posted, then exiting")
            _ = Glibc.shutdown(listener, Int32(SHUT_RDWR))  // accept() returns
            counters.servedBackend?.stop(finishingPending: true)
        }
        Shutdown.install()

        logger.info(activated != nil ? "listening on the socket systemd passed" : "listening on \(path)")
        logger.info("a device of \(revision.title) (\(revision.id))")
        switch metricsServer?.address {
        case .tcp?: logger.info("metrics at http://\(metricsServer!.address)\(MetricsServer.path)")
        case .unix(let path)?: logger.info("metrics at \(MetricsServer.path) on the UNIX socket \(path)")
        case nil: break
        }
        logger.info(
            "offering \(offer.ciphers.count) ciphers, \(offer.hashes.count) hashes, \(offer.macs.count) MACs, \(offer.aeads.count) AEADs, \(offer.akciphers.count) AKCIPHERs; \(queues) data queue(s)"
        )
        if activated == nil {
            let attach = """
                Attach QEMU with:
                  -object memory-backend-memfd,id=mem,size=1G,share=on -machine memory-backend=mem \\
                  -chardev socket,id=vuc0,path=\(path) \\
                  -object cryptodev-vhost-user,id=cryptodev0,chardev=vuc0,queues=1 \\
                  -device virtio-crypto-pci,id=crypto0,cryptodev=cryptodev0

                """
            FileHandle.standardOutput.write(Data(attach.utf8))
        }

        while !Shutdown.requested {
            let fd = vu_accept(listener)
            if fd < 0 {
                if errno == EINTR { continue }
                if Shutdown.requested { break }
                logger.error("accept failed: \(String(cString: strerror(errno)))")
                break
            }
            logger.info("frontend connected")
            // A fresh device per frontend: no session or mapping survives a disconnect.
            let device = VirtioCryptoDevice(offer: offer)
            let backend = VhostUserBackend(
                device: CryptoVhostUserDevice(device, logger: logger, multiBuffer: multiBuffer),
                connection: VhostUserConnection(fd: fd),
                logger: logger)
            backend.pollMicroseconds = pollUs
            backend.measuresLatency = metricsServer != nil
            counters.serving(device, backend)
            // A stop that came before the backend was published must still end it.
            if Shutdown.requested { backend.stop(finishingPending: true) }
            let error = backend.serve()
            if let error {
                logger.warning("frontend dropped: \(error)")
            } else {
                logger.info("frontend disconnected")
            }
            counters.finished(device, backend, dropped: error != nil)
        }
        CountersReport.log(counters.snapshot(), labels: labels, to: logger)
        if activated == nil { unlink(path) }
        close(listener)
    }

    static var defaultSocketPath: String {
        let directory = ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"] ?? "/tmp"
        return directory + "/vhost-user-crypto.sock"
    }
}
