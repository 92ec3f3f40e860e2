#!/usr/bin/env bash
# Runs the vhost-user virtio-crypto backend: installs what is missing, builds in release
# mode, and starts the daemon (arguments are passed on; see --help).
#   scripts/run-daemon.sh --socket-path /tmp/vhost-user-crypto.sock
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
./scripts/install-deps.sh
swift build -c release --product vhost-user-crypto >&2
exec .build/release/vhost-user-crypto "$@"
