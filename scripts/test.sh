#!/usr/bin/env bash
# The whole test suite: builds the generator, fails if committed generated code is stale,
# then runs every test target. CI (.ci/run) runs exactly this.
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
swift test 2>&1 | tee .build/test.log
