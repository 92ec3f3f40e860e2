#!/usr/bin/env bash
# Installs the Debian packages the project needs, if any is missing:
# OpenSSL 3 libcrypto (libssl-dev) and Intel IPsec-MB (libipsec-mb-dev) for the engines;
# python3-cryptography, the independent implementation the AKCIPHER differential test asks
# (Tests/VirtioCryptoEnginesTests/AkcipherTests.swift; without it that test reports "skipped");
# systemd for systemd-socket-activate (Tests/VhostUserTests/ShutdownTests.swift starts the daemon
# the way a socket unit does).
set -euo pipefail
packages=(libssl-dev libipsec-mb-dev pkg-config python3-cryptography systemd valgrind)
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
