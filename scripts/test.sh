#!/usr/bin/env bash
# The whole test suite: builds the generator, fails if committed generated code is stale or any
# Swift file is not formatted, then runs every test target. CI (.ci/run) runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v swift >/dev/null 2>&1; then
    echo "error: no Swift toolchain on PATH (Swift 6.x expected, e.g. /opt/swift/usr/bin)" >&2
    exit 1
fi

# System libraries the crypto engines link (Debian packages), installed when missing.
./scripts/install-deps.sh

swift build --product virtio-crypto-gen
.build/debug/virtio-crypto-gen check
# Style: the toolchain's swift-format with .swift-format (120 columns), generated code included.
swift format lint --strict --configuration .swift-format --recursive Package.swift Sources Tests Generator \
    Fuzz/Package.swift Fuzz/Sources
swift test 2>&1 | tee .build/test.log
