// swift-tools-version:6.0
import PackageDescription

/// libFuzzer targets for the device core, the generated codecs and the generator's loader, built by
/// scripts/fuzz.sh with `-sanitize=fuzzer,address -parse-as-library`. A package of its own, so the
/// root package's builds and tests never see those flags; it uses the root package's products.
let root = "virtio-crypto"

let package = Package(
    name: "virtio-crypto-fuzz",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: root, path: ".."), .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
    ],
    targets: [
        // Declares libFuzzer's driver entry (LLVMFuzzerRunDriver), which -sanitize=fuzzer links.
        .target(name: "CLibFuzzer", path: "Sources/CLibFuzzer"),
        // The driver entry, the input reader, guest memory and the queue fuzzers' engine and seeds.
        .target(
            name: "FuzzSupport",
            dependencies: [
                "CLibFuzzer",
                .product(name: "VirtioCryptoWire", package: root),
                .product(name: "VirtQueue", package: root),
                .product(name: "VirtioCryptoDevice", package: root),
                .product(name: "VirtioCryptoDriver", package: root),
                .product(name: "VirtioCryptoEngines", package: root),
            ],
            path: "Sources/FuzzSupport"),
        .executableTarget(
            name: "FuzzWireDecoders",
            dependencies: ["FuzzSupport", .product(name: "VirtioCryptoWire", package: root)],
            path: "Sources/FuzzWireDecoders"),
        .executableTarget(
            name: "FuzzSpecLoader",
            dependencies: [
                "FuzzSupport", .product(name: "SpecModel", package: root),
                .product(name: "SpecResolve", package: root), .product(name: "SpecEmit", package: root),
            ],
            path: "Sources/FuzzSpecLoader"),
        .executableTarget(name: "FuzzControlQueue", dependencies: ["FuzzSupport"], path: "Sources/FuzzControlQueue"),
        .executableTarget(name: "FuzzDataQueue", dependencies: ["FuzzSupport"], path: "Sources/FuzzDataQueue"),
        // The vhost-user back-end: message sequences over a socket pair, with real descriptors.
        .executableTarget(
            name: "FuzzVhostUser",
            dependencies: [
                "FuzzSupport", .product(name: "VhostUser", package: root),
                .product(name: "VhostUserCrypto", package: root), .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/FuzzVhostUser"),
        // QEMU's session payloads, parsed and served by the crypto device.
        .executableTarget(
            name: "FuzzSessionMessage",
            dependencies: [
                "FuzzSupport", .product(name: "VhostUser", package: root),
                .product(name: "VhostUserCrypto", package: root), .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/FuzzSessionMessage"),
    ]
)
