#!/usr/bin/env bash
# End-to-end with a second real client: DPDK 22.11's virtio crypto poll-mode driver in a
# Debian 12 guest under Debian's QEMU 7.2, its virtio-crypto device bound to
# uio_pci_generic. Sessions go through QEMU's control queue (and reach the daemon as
# CREATE/CLOSE_CRYPTO_SESSION messages), data goes straight to the backend.
#
# The guest runs dpdk-test's cryptodev_virtio_autotest and dpdk-test-crypto-perf
# (AES-128-CBC cipher-only and AES-128-CBC + HMAC-SHA1 chaining, 64 B-2 KiB: the 22.11 PMD
# refuses requests over 2,176 bytes) twice in one run: on QEMU's cryptodev-backend-builtin,
# then on our vhost-user-crypto daemon (release build in .build-dpdk). Then a summary:
# passed/failed/skipped per backend, the cases that must pass, the expected failures, a
# throughput table and the ratio daemon / builtin.
# Fails when, through the daemon, a must-pass case (scripts/e2e/dpdk/must-pass.txt), a case
# the builtin backend passes, or any case not in expected-failures.txt fails, or a perf
# point does not complete.
#
# Usage: scripts/e2e-dpdk.sh [--backend both|builtin|vhost-user] [--ops N] [--sizes 64,...]
#        [--timeout SECONDS] [--no-guard]
#   --sizes: perf buffer sizes, at most 2176 (the 22.11 PMD refuses longer requests).
#   --no-guard: run dpdk-test without null-session-guard.so, to see the DPDK crash (the
#   summary then counts the cases up to it; the General suite after it is never reached,
#   so the run fails).
# Environment: E2E_DPDK_CACHE (guest root and kernel cache, default
#   /var/tmp/vhost-user-crypto-e2e-dpdk), E2E_LOG_LEVEL (daemon log level, default info),
#   E2E_DAEMON_ARGS (extra daemon options), E2E_DAEMON_BINARY (a daemon built elsewhere:
#   no build here), E2E_DEBIAN_MIRROR.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=both
ops=100000         # operations per perf point: about 0.3-1 s each under TCG
sizes=64,128,256,512,1024,2048
timeout_seconds=900
guard=1
while [ $# -gt 0 ]; do
    case "$1" in
        --backend) backend=$2; shift 2 ;;
        --ops) ops=$2; shift 2 ;;
        --sizes) sizes=$2; shift 2 ;;
        --timeout) timeout_seconds=$2; shift 2 ;;
        --no-guard) guard=0; shift ;;
        *) sed -n '2,26p' "$0" >&2; exit 2 ;;
    esac
done
pmd_max_request=2176   # the 22.11 PMD refuses requests longer than this: they never reach a device
for size in ${sizes//,/ }; do
    [[ "$size" =~ ^[0-9]+$ ]] && [ "$size" -le $pmd_max_request ] ||
        { echo "--sizes: $size is not a size of at most $pmd_max_request bytes" >&2; exit 2; }
done
case "$backend" in vhost-user) backends=(vhost-user) ;; builtin) backends=(builtin) ;; both) backends=(builtin vhost-user) ;;
    *) echo "unknown backend $backend" >&2; exit 2 ;; esac
started=$(date +%s)
elapsed() { echo "$(( $(date +%s) - started )) s"; }

work=$PWD/.build-dpdk/e2e-dpdk
cache=${E2E_DPDK_CACHE:-/var/tmp/vhost-user-crypto-e2e-dpdk}
mkdir -p "$work" "$cache"
sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo

need=()
for package in qemu-system-x86 debootstrap busybox-static cpio kmod xz-utils e2fsprogs gcc libc6-dev; do
    dpkg -s "$package" >/dev/null 2>&1 || need+=("$package")
done
if [ ${#need[@]} -gt 0 ]; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The guest root: cached, keyed by the package list and the builder itself.
guest_packages=(dpdk dpdk-dev librte-crypto-virtio23)
key=$( (echo bookworm "${guest_packages[@]}"; cat scripts/e2e/dpdk/build-root.sh) | sha256sum | cut -c1-16)
root_image=$cache/root-$key/root.ext4
scripts/e2e/dpdk/build-root.sh "$cache/root-$key" "${guest_packages[@]}"
echo "guest root: $root_image ($(grep -E '^(dpdk|librte-crypto-virtio23) ' "$cache/root-$key/packages" | tr '\n' ' '))"

# The guest kernel: Debian's newest 6.1 image, unpacked into the cache (not installed).
kernel_dir=$cache/kernel
if ! ls "$kernel_dir"/boot/vmlinuz-* >/dev/null 2>&1; then
    pattern='^linux-image-6\.1\.0-[0-9]+-amd64$'
    package=$(apt-cache search --names-only "$pattern" | awk '{print $1}' | sort -V | tail -1)
    [ -n "$package" ] || { $sudo apt-get update -qq; package=$(apt-cache search --names-only "$pattern" | awk '{print $1}' | sort -V | tail -1); }
    rm -rf "$cache/kernel.tmp" && mkdir -p "$cache/kernel.tmp"
    (cd "$cache/kernel.tmp" && apt-get download -o APT::Sandbox::User=root "$package" >/dev/null && dpkg-deb -x ./*.deb tree)
    rm -rf "$kernel_dir" && mv "$cache/kernel.tmp/tree" "$kernel_dir" && rm -rf "$cache/kernel.tmp"
fi
vmlinuz=$(ls "$kernel_dir"/boot/vmlinuz-* | head -1)
release=$(basename "$vmlinuz" | sed 's/^vmlinuz-//')
modules=$kernel_dir/lib/modules/$release
[ -f "$modules/modules.dep" ] || depmod -b "$kernel_dir" "$release"   # made by dpkg's trigger on install

# The initramfs: busybox, the modules for the root disk and uio_pci_generic, the init.
initramfs=$work/initramfs
rm -rf "$initramfs" && mkdir -p "$initramfs"/{bin,proc,sys,dev,newroot,modules,e2e}
cp /bin/busybox "$initramfs/bin/busybox"
for tool in sh mount umount insmod sleep cat grep poweroff echo seq chroot mkdir cp ls basename; do
    ln -sf busybox "$initramfs/bin/$tool"
done
cp scripts/e2e/dpdk/guest.sh "$initramfs/e2e/guest.sh"
# The guard that keeps dpdk-test's NULL-session enqueue from killing the autotest
# (null-session-guard.c), built against the guest's own DPDK headers; corei7 is the
# baseline Debian's DPDK headers are configured for.
include=$cache/root-$key/include
gcc -O2 -shared -fPIC -march=corei7 -include rte_config.h -I"$include/dpdk" -I"$include/arch/dpdk" -I"$include" \
    -o "$initramfs/e2e/null-session-guard.so" scripts/e2e/dpdk/null-session-guard.c -ldl
order=()
add_module() {   # appends the module $1 after its dependencies (nothing when built in)
    local name=$1 path dep seen
    path=$(grep -E "(^|/)$name\.ko(\.xz)?:" "$modules/modules.dep" | head -1 | cut -d: -f1) || true
    [ -n "$path" ] || return 0
    for dep in $(grep -E "^$path:" "$modules/modules.dep" | cut -d: -f2); do
        add_module "$(basename "$dep" | sed -E 's/\.ko(\.xz)?$//')"
    done
    for seen in "${order[@]:-}"; do [ "$seen" = "$path" ] && return 0; done
    order+=("$path")
}
# virtio_pci comes last: the init sets the crypto device's driver_override first, so that
# uio_pci_generic, not virtio_pci, takes it. ext4 asks the crypto API for crc32c (no
# modules.dep entry, and the initramfs has no modprobe to load it on demand).
for module in crc32c_generic ext4 virtio_blk uio_pci_generic virtio_pci; do add_module "$module"; done
: > "$initramfs/modules/order"
for path in "${order[@]}"; do
    name=$(basename "$path")
    if [[ "$name" == *.xz ]]; then xz -dc "$modules/$path" > "$initramfs/modules/${name%.xz}"; name=${name%.xz}
    else cp "$modules/$path" "$initramfs/modules/$name"; fi
    echo "$name" >> "$initramfs/modules/order"
done
cat > "$initramfs/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
crypto=""
for device in /sys/bus/pci/devices/*; do
    # 1af4:1054 is the modern virtio-crypto PCI device.
    if [ "$(cat $device/vendor)" = 0x1af4 ] && [ "$(cat $device/device)" = 0x1054 ]; then
        crypto=$(basename $device); echo uio_pci_generic > $device/driver_override
    fi
done
for module in $(cat /modules/order); do insmod /modules/$module 2>/dev/null; done
for i in $(seq 1 100); do [ -b /dev/vda ] && break; sleep 0.1; done   # up to 10 s
if [ -z "$crypto" ] || ! mount -t ext4 -o ro /dev/vda /newroot; then
    echo "E2E failed: no virtio-crypto device (${crypto:-none}) or no root disk"; ls /sys/bus/pci/devices; poweroff -f
fi
mount -t proc proc /newroot/proc; mount -t sysfs sys /newroot/sys; mount -t devtmpfs dev /newroot/dev
mkdir -p /newroot/dev/hugepages; mount -t hugetlbfs hugetlbfs /newroot/dev/hugepages
for dir in tmp run e2e; do mount -t tmpfs tmpfs /newroot/$dir; done
cp /e2e/* /newroot/e2e/
chroot /newroot /bin/bash /e2e/guest.sh $crypto
poweroff -f
INIT
chmod +x "$initramfs/init"
(cd "$initramfs" && find . | cpio -o -H newc 2>/dev/null | gzip -1 > "$work/initramfs.gz")

# The daemon: the release build, in its own scratch path.
daemon_binary=${E2E_DAEMON_BINARY:-$PWD/.build-dpdk/release/vhost-user-crypto}
if [[ " ${backends[*]} " == *" vhost-user "* ]] && [ -z "${E2E_DAEMON_BINARY:-}" ]; then
    echo "building the daemon ($(elapsed))"
    PATH=/opt/swift/usr/bin:$PATH swift build -c release --product vhost-user-crypto --scratch-path .build-dpdk > "$work/build.log" 2>&1 ||
        { tail -20 "$work/build.log"; echo "FAIL: the daemon does not build (log: $work/build.log)"; exit 1; }
fi

socket=$work/vhost-user-crypto.sock
guest_mib=2048     # guest RAM; half of it is reserved as 2 MiB hugepages for DPDK
hugepages=$(( guest_mib / 2 / 2 ))   # 2 MiB each
# quiet: only warnings from the kernel on the console, which also carries the tools' output.
append="console=ttyS0 panic=-1 quiet hugepages=$hugepages e2e.ops=$ops e2e.sizes=$sizes e2e.guard=$guard"

# Boots the guest with the device on backend $1; console in $work/console-$1.log.
run_guest() {
    local which=$1 device daemon="" status
    if [ "$which" = vhost-user ]; then
        rm -f "$socket"
        "$daemon_binary" --socket-path "$socket" --log-level "${E2E_LOG_LEVEL:-info}" ${E2E_DAEMON_ARGS:-} > "$work/daemon.log" 2>&1 &
        daemon=$!
        trap "kill $daemon 2>/dev/null || true" EXIT
        for _ in $(seq 1 100); do [ -S "$socket" ] && break; sleep 0.1; done   # up to 10 s
        device=(-chardev socket,id=vuc0,path="$socket" -object cryptodev-vhost-user,id=cryptodev0,chardev=vuc0,queues=1)
    else
        device=(-object cryptodev-backend-builtin,id=cryptodev0,queues=1)
    fi
    # TCG (KVM does not run this guest here); a Nehalem CPU for SSE4.2, the baseline of
    # Debian's DPDK build; vectors=0 because QEMU 7.2 crashes with MSI-X on a vhost-user
    # cryptodev under TCG; memfd shared memory so that the daemon can map the guest's RAM;
    # 2 vCPUs for DPDK's main lcore and the one perf worker (guest.sh: -l 0-1).
    set +e
    timeout "$timeout_seconds" qemu-system-x86_64 -machine q35,accel=tcg -cpu Nehalem -smp 2 -m $guest_mib \
        -object memory-backend-memfd,id=mem,size=${guest_mib}M,share=on -numa node,memdev=mem \
        -kernel "$vmlinuz" -initrd "$work/initramfs.gz" -append "$append" \
        -drive file="$root_image",format=raw,if=virtio,readonly=on \
        -nographic -no-reboot -monitor none -serial stdio \
        "${device[@]}" -device virtio-crypto-pci,id=crypto0,cryptodev=cryptodev0,vectors=0 \
        > "$work/console-$which.log" 2> "$work/qemu-$which.log"
    status=$?
    set -e
    if [ -n "$daemon" ]; then
        kill -INT "$daemon" 2>/dev/null || true
        wait "$daemon" 2>/dev/null || true
        trap - EXIT
    fi
    [ $status -eq 0 ] || echo "note: qemu ($which) exited with $status (logs in $work)"
}

for which in "${backends[@]}"; do
    echo "guest on the $which backend ($(elapsed))"
    run_guest "$which"
done
echo "guests done ($(elapsed))"
exec scripts/e2e/dpdk/summary.sh "$work" "${backends[@]}"
