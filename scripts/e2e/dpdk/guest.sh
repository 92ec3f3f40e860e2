#!/bin/bash
# Runs inside the Debian 12 guest of scripts/e2e-dpdk.sh (chroot into the read-only root,
# started by the initramfs): DPDK 22.11's cryptodev_virtio_autotest and
# dpdk-test-crypto-perf against the virtio-crypto device bound to uio_pci_generic.
# Usage (from the initramfs): chroot /newroot /bin/bash /e2e/guest.sh PCI_ADDRESS
# Settings come from the kernel command line: e2e.ops=N (operations per perf point),
# e2e.sizes=64,128,... (perf buffer sizes), e2e.burst=N (perf burst size), e2e.guard=0|1
# (preload null-session-guard.so into dpdk-test).
# Every tool's output is framed on the console by "E2E-BEGIN <name>" and
# "E2E-END <name> rc=<exit status>" lines, which the host script parses.
set -uo pipefail   # not -e: a tool that fails or crashes must not end the run
pci=$1
ops=100000; sizes=64,128,256,512,1024,2048; burst=32; use_guard=1
for word in $(cat /proc/cmdline); do
    case $word in
        e2e.ops=*) ops=${word#e2e.ops=} ;;
        e2e.sizes=*) sizes=${word#e2e.sizes=} ;;
        e2e.burst=*) burst=${word#e2e.burst=} ;;
        e2e.guard=*) use_guard=${word#e2e.guard=} ;;
    esac
done
# Physical addresses: uio_pci_generic gives the device no IOMMU mapping, so DPDK must hand it
# guest-physical addresses (Debian's kernel has no vfio no-IOMMU mode).
eal=(-l 0-1 -n 1 -a "$pci" --iova-mode=pa --no-telemetry)

# Runs one tool with its output framed for the host; line-buffered so that the output up
# to a crash reaches the console.
run() {
    local name=$1; shift
    echo "E2E-BEGIN $name"
    local start=$(date +%s)
    stdbuf -oL -eL "$@" 2>&1
    local rc=$?
    echo; echo "E2E-END $name rc=$rc seconds=$(( $(date +%s) - start ))"
}

echo "E2E guest: device $pci driver $(basename "$(readlink /sys/bus/pci/devices/$pci/driver)")," \
     "hugepages $(cat /proc/sys/vm/nr_hugepages)"
# The autotest takes its command from DPDK_TEST (and exits with its result); the guard
# refuses the NULL-session enqueue that otherwise crashes it (null-session-guard.c).
guard=""; [ -f /e2e/null-session-guard.so ] && [ "$use_guard" = 1 ] && guard=/e2e/null-session-guard.so
LD_PRELOAD=$guard DPDK_TEST=cryptodev_virtio_autotest run autotest dpdk-test "${eal[@]}"
# Where a crash happened (the kernel logs it below the console's quiet level).
dmesg | grep -E "segfault|trap" | sed 's/^/E2E kernel: /'

perf=(--ptest throughput --devtype crypto_virtio --total-ops "$ops" --burst-sz "$burst"
      --buffer-sz "$sizes" --csv-friendly --silent)
aes=(--cipher-algo aes-cbc --cipher-op encrypt --cipher-key-sz 16 --cipher-iv-sz 16)
run perf-cipher dpdk-test-crypto-perf "${eal[@]}" -- "${perf[@]}" --optype cipher-only "${aes[@]}"
# HMAC-SHA1: a 64-byte key (the block size) and the full 20-byte digest.
run perf-chain dpdk-test-crypto-perf "${eal[@]}" -- "${perf[@]}" --optype cipher-then-auth "${aes[@]}" \
    --auth-algo sha1-hmac --auth-op generate --auth-key-sz 64 --digest-sz 20
echo "E2E done"
