#!/usr/bin/env bash
# Builds the Debian 12 guest root for scripts/e2e-dpdk.sh and packs it as an ext4 image:
# debootstrap (minbase) plus DPDK 22.11's test tools and virtio crypto PMD.
# Usage: scripts/e2e/dpdk/build-root.sh CACHE_DIR PACKAGE...
#   Writes CACHE_DIR/root.ext4, CACHE_DIR/packages (the versions installed) and
#   CACHE_DIR/include (the guest's DPDK and libbsd headers, to build the dpdk-test guard
#   on the host) and removes the unpacked tree; does nothing when CACHE_DIR/root.ext4 exists.
# Environment: E2E_DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,8p' "$0" >&2; exit 2; }
cache=$1; shift
packages=("$@")
[ -f "$cache/root.ext4" ] && exit 0
mirror=${E2E_DEBIAN_MIRROR:-http://deb.debian.org/debian}
sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
mkdir -p "$cache"
tree=$cache/tree
$sudo rm -rf "$tree"
include=$(IFS=,; echo "${packages[*]}")
echo "building the guest root in $tree (debootstrap bookworm + $include)"
# minbase: no init system or kernel; the initramfs of e2e-dpdk.sh loads the modules and
# switch_roots straight into the test script.
$sudo debootstrap --variant=minbase --include="$include" bookworm "$tree" "$mirror" > "$cache/debootstrap.log" 2>&1 ||
    { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
$sudo chroot "$tree" dpkg-query -W -f '${Package} ${Version}\n' > "$cache/packages"
rm -rf "$cache/include" && mkdir -p "$cache/include/arch"
cp -r "$tree/usr/include/dpdk" "$tree/usr/include/bsd" "$cache/include/"
cp -r "$tree/usr/include/x86_64-linux-gnu/dpdk" "$cache/include/arch/"
# What the guest never needs: apt's lists and caches, documentation, locales.
$sudo rm -rf "$tree"/var/cache/apt/* "$tree"/var/lib/apt/lists/* "$tree"/usr/share/doc/* "$tree"/usr/share/man/* "$tree"/usr/share/locale/*
# Mount points the guest script uses (the image is mounted read-only).
$sudo mkdir -p "$tree"/dev/hugepages "$tree"/e2e
size_mib=$(( $($sudo du -sm "$tree" | cut -f1) * 5 / 4 + 64 ))   # 25 % + 64 MiB headroom for ext4 metadata
rm -f "$cache/root.ext4.tmp"
$sudo mke2fs -q -t ext4 -L e2e-dpdk -d "$tree" "$cache/root.ext4.tmp" "${size_mib}M" > /dev/null
mv "$cache/root.ext4.tmp" "$cache/root.ext4"
$sudo rm -rf "$tree"
echo "guest root: $cache/root.ext4 (${size_mib} MiB)"
