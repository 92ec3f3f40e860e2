// swift-tools-version:6.0
import PackageDescription

/// Hot-path targets skip the dynamic exclusivity checks (swift_beginAccess on every class
/// property access cost ~17 % of a small request in callgrind); static checks remain.
let hotPath: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"])]

let package = Package(
    name: "virtio-crypto",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "VirtioCryptoWire", targets: ["VirtioCryptoWire"]),
        .library(name: "VirtioCryptoEngines", targets: ["VirtioCryptoEngines"]),
        .library(name: "VirtQueue", targets: ["VirtQueue"]),
        .library(name: "VirtioCryptoDevice", targets: ["VirtioCryptoDevice"]),
        .library(name: "VirtioCryptoDriver", targets: ["VirtioCryptoDriver"]),
        .library(name: "VhostUser", targets: ["VhostUser"]),
        // The generator's stages, for the spec loader's fuzz target (Fuzz/).
        .library(name: "SpecModel", targets: ["SpecModel"]),
        .library(name: "SpecResolve", targets: ["SpecResolve"]),
        .library(name: "SpecEmit", targets: ["SpecEmit"]),
        .library(name: "VhostUserCrypto", targets: ["VhostUserCrypto"]),
        .executable(name: "virtio-crypto-gen", targets: ["virtio-crypto-gen"]),
        .executable(name: "virtio-crypto-bench", targets: ["virtio-crypto-bench"]),
        .executable(name: "vhost-user-crypto", targets: ["vhost-user-crypto"]),
        // Preloaded into the daemon by the benchmark to count allocations per request.
        .library(name: "MallocCounter", type: .dynamic, targets: ["CMallocCounter"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", exact: "0.2.0"),
        .package(url: "https://github.com/apple/swift-metrics", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", .upToNextMinor(from: "2.101.2")),
    ],
    targets: [
        // Little-endian reads and writes and the one zeroize: shared by every layer's codecs.
        .target(name: "WireBytes", path: "Sources/WireBytes", swiftSettings: hotPath),
        // Runtime: only WireBytes. Generated/ is written by virtio-crypto-gen.
        .target(
            name: "VirtioCryptoWire", dependencies: ["WireBytes"], path: "Sources/VirtioCryptoWire",
            swiftSettings: hotPath),

        // Split virtqueues over guest memory the device does not own.
        .target(name: "CVirtQueueAtomics", path: "Sources/CVirtQueueAtomics"),
        .target(
            name: "VirtQueue", dependencies: ["CVirtQueueAtomics"], path: "Sources/VirtQueue", swiftSettings: hotPath),
        // Single-writer counters, summed when read: what the data path counts with.
        .target(
            name: "RelaxedCounters", dependencies: ["CVirtQueueAtomics"], path: "Sources/RelaxedCounters",
            swiftSettings: hotPath),

        // Crypto engines: OpenSSL 3 libcrypto and Intel IPsec-MB from Debian packages.
        .systemLibrary(
            name: "COpenSSL", path: "Sources/COpenSSL", pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]),
        .target(name: "CIPSecMB", path: "Sources/CIPSecMB", linkerSettings: [.linkedLibrary("IPSec_MB")]),
        .target(
            name: "CDigests", path: "Sources/CDigests", cSettings: [.define("OPENSSL_SUPPRESS_DEPRECATED")],
            linkerSettings: [.linkedLibrary("crypto")]),
        .target(
            name: "VirtioCryptoEngines",
            dependencies: ["VirtioCryptoWire", "WireBytes", "COpenSSL", "CIPSecMB", "CDigests"],
            path: "Sources/VirtioCryptoEngines", swiftSettings: hotPath),
        .target(name: "CMallocCounter", path: "Sources/CMallocCounter"),
        .executableTarget(
            name: "virtio-crypto-bench",
            dependencies: [
                "VirtioCryptoEngines", "VirtioCryptoDevice", "VirtioCryptoDriver", "VirtioCryptoWire", "VirtQueue",
                "CVhostUserSupport", "CVirtQueueAtomics", "COpenSSL",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "Sources/virtio-crypto-bench"),

        // The device core: sessions, controlq and dataq dispatch over the engines.
        .target(
            name: "VirtioCryptoDevice",
            dependencies: [
                "VirtioCryptoWire", "VirtioCryptoEngines", "VirtQueue", "WireBytes", "CVirtQueueAtomics",
                "RelaxedCounters",
            ],
            path: "Sources/VirtioCryptoDevice", swiftSettings: hotPath),

        // vhost-user: the backend protocol over a UNIX socket, and the ring workers.
        .target(name: "CVhostUserSupport", path: "Sources/CVhostUserSupport"),
        // The protocol layer knows no crypto: it drives any `VhostUserDevice`.
        .target(
            name: "VhostUser",
            dependencies: [
                "CVhostUserSupport", "VirtQueue", "WireBytes", "RelaxedCounters",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/VhostUser", swiftSettings: hotPath),
        // The crypto device behind that interface, and QEMU's session messages.
        .target(
            name: "VhostUserCrypto",
            dependencies: [
                "VhostUser", "VirtioCryptoDevice", "VirtioCryptoWire", "WireBytes", "VirtQueue",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/VhostUserCrypto"),
        .executableTarget(
            name: "vhost-user-crypto",
            dependencies: [
                "VhostUser", "VhostUserCrypto", "VirtioCryptoDevice", "VirtioCryptoEngines", "VirtioCryptoWire",
                "CVhostUserSupport", "MetricsHTTP", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Sources/vhost-user-crypto"),
        // A scrape endpoint: GET /metrics over HTTP/1.1 on TCP or a UNIX socket (SwiftNIO); knows no metric.
        .target(
            name: "MetricsHTTP",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Sources/MetricsHTTP"),

        // The driver side: rings and request builders for tests, benchmarks and fuzzers.
        .target(
            name: "VirtioCryptoDriver",
            dependencies: ["VirtioCryptoWire", "VirtQueue", "WireBytes", "CVhostUserSupport", "CVirtQueueAtomics"],
            path: "Sources/VirtioCryptoDriver"),

        // Generator: load → decode → resolve → lint → plan → render → write.
        .target(
            name: "SpecModel", dependencies: [.product(name: "Yams", package: "Yams")],
            path: "Generator/SpecModel"),
        .target(name: "SpecResolve", dependencies: ["SpecModel"], path: "Generator/SpecResolve"),
        .target(name: "SpecEmit", dependencies: ["SpecResolve"], path: "Generator/SpecEmit"),
        .executableTarget(
            name: "virtio-crypto-gen",
            dependencies: [
                "SpecEmit", "SpecResolve", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Generator/virtio-crypto-gen"),

        .testTarget(name: "GeneratorTests", dependencies: ["SpecEmit"], path: "Tests/GeneratorTests"),
        .testTarget(
            name: "VirtioCryptoEnginesTests", dependencies: ["VirtioCryptoEngines", "VirtioCryptoDriver", "COpenSSL"],
            path: "Tests/VirtioCryptoEnginesTests", exclude: ["KnownAnswers.json", "AkcipherVectors.json"]),
        .testTarget(
            name: "VhostUserTests",
            dependencies: [
                "VhostUser", "VhostUserCrypto", "VirtioCryptoDriver", "VirtioCryptoDevice", "VirtQueue",
                "CVhostUserSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/VhostUserTests"),
        .testTarget(
            name: "VirtQueueTests", dependencies: ["VirtQueue", "VirtioCryptoDriver"], path: "Tests/VirtQueueTests"),
        .testTarget(
            name: "VirtioCryptoDeviceTests",
            dependencies: ["VirtioCryptoDevice", "VirtioCryptoDriver", "VirtioCryptoEngines"],
            path: "Tests/VirtioCryptoDeviceTests"),
        .testTarget(
            name: "VirtioCryptoDriverTests",
            dependencies: [
                "VirtioCryptoDriver", "VirtioCryptoDevice", "VirtioCryptoWire", "VirtQueue", "VhostUser",
                "VhostUserCrypto", "CVhostUserSupport", .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/VirtioCryptoDriverTests"),
        .testTarget(
            name: "VirtioCryptoWireTests", dependencies: ["VirtioCryptoWire"],
            path: "Tests/VirtioCryptoWireTests"),
    ]
)
