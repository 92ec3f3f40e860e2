#!/usr/bin/env bash
# End-to-end: a Linux guest (Debian's 6.1 kernel, busybox initramfs) under Debian's QEMU,
# its virtio-crypto device served by our vhost-user-crypto daemon. Checks the kernel's
# self-test of virtio_crypto_aes_cbc, AF_ALG known answers, random round trips against the
# kernel's generic AES (16 B–64 KiB, 128/192/256-bit keys), and concurrent requests.
# Usage: scripts/e2e-qemu.sh [--threads N] [--timeout SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=4
timeout_seconds=600
while [ $# -gt 0 ]; do
    case "$1" in
        --threads) threads=$2; shift 2 ;;
        --timeout) timeout_seconds=$2; shift 2 ;;
        *) echo "usage: $0 [--threads N] [--timeout SECONDS]" >&2; exit 2 ;;
    esac
done

work=$PWD/.build/e2e
mkdir -p "$work"

need=()
for package in qemu-system-x86 busybox-static cpio gcc libc6-dev kmod xz-utils; do
    dpkg -s "$package" >/dev/null 2>&1 || need+=("$package")
done
if [ ${#need[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The guest kernel: Debian's newest 6.1 image, unpacked into the cache (not installed).
kernel_dir=$work/kernel
if ! ls "$kernel_dir"/boot/vmlinuz-* >/dev/null 2>&1; then
    package=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' | awk '{print $1}' | sort -V | tail -1)
    [ -n "$package" ] || { apt-get update -qq; package=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' | awk '{print $1}' | sort -V | tail -1); }
    (cd "$work" && rm -f linux-image-*.deb && apt-get download "$package" >/dev/null)
    rm -rf "$kernel_dir" && dpkg-deb -x "$work"/linux-image-*.deb "$kernel_dir"
fi
vmlinuz=$(ls "$kernel_dir"/boot/vmlinuz-* | head -1)
release=$(basename "$vmlinuz" | sed 's/^vmlinuz-//')
modules=$kernel_dir/lib/modules/$release
# The package ships no modules.dep (dpkg's trigger makes it on install): make it here.
[ -f "$modules/modules.dep" ] || depmod -b "$kernel_dir" "$release"

# The initramfs: busybox, the virtio-crypto and AF_ALG modules with their dependencies, the checker.
root=$work/initramfs
rm -rf "$root" && mkdir -p "$root"/{bin,proc,sys,dev,modules}
cp /bin/busybox "$root/bin/busybox"
for tool in sh mount insmod sleep cat grep poweroff echo dmesg; do ln -sf busybox "$root/bin/$tool"; done
gcc -O2 -static -pthread -o "$root/bin/afalg-check" scripts/e2e/afalg-check.c
order=()
add_module() {
    local name=$1 path dep
    path=$(grep -E "(^|/)$name\.ko(\.xz)?:" "$modules/modules.dep" | head -1 | cut -d: -f1) || true
    [ -n "$path" ] || return 0   # built into the kernel
    for dep in $(grep -E "^$path:" "$modules/modules.dep" | cut -d: -f2); do
        add_module "$(basename "$dep" | sed -E 's/\.ko(\.xz)?$//')"
    done
    for seen in "${order[@]:-}"; do [ "$seen" = "$path" ] && return 0; done
    order+=("$path")
}
for module in virtio_pci virtio_crypto algif_skcipher; do add_module "$module"; done
: > "$root/modules/order"
for path in "${order[@]}"; do
    name=$(basename "$path")
    if [[ "$name" == *.xz ]]; then xz -dc "$modules/$path" > "$root/modules/${name%.xz}"; name=${name%.xz}
    else cp "$modules/$path" "$root/modules/$name"; fi
    echo "$name" >> "$root/modules/order"
done
cat > "$root/init" <<INIT
#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for module in \$(cat /modules/order); do insmod /modules/\$module 2>/dev/null; done
for i in \$(seq 1 60); do grep -q virtio_crypto_aes_cbc /proc/crypto && break; sleep 1; done
echo "E2E selftest: \$(grep -A6 'virtio_crypto_aes_cbc' /proc/crypto | grep selftest | head -1)"
if ! grep -q virtio_crypto_aes_cbc /proc/crypto; then
    echo "E2E diagnostics: modules:"; cat /proc/modules
    echo "E2E diagnostics: kernel log:"; dmesg | grep -i -E "virtio|crypto" | tail -20
fi
/bin/afalg-check $threads
echo "E2E done"
poweroff -f
INIT
chmod +x "$root/init"
ln -sf busybox "$root/bin/seq"
(cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -1 > "$work/initramfs.gz")

# The daemon, on a socket of its own.
swift build --product vhost-user-crypto >/dev/null
socket=$work/vhost-user-crypto.sock
rm -f "$socket"
.build/debug/vhost-user-crypto --socket-path "$socket" --log-level "${E2E_LOG_LEVEL:-info}" --ciphers aes-cbc --hashes none --macs none --aeads none \
    > "$work/daemon.log" 2>&1 &
daemon=$!
trap 'kill $daemon 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -S "$socket" ] && break; sleep 0.1; done

# KVM when it really runs this guest (on some hosts /dev/kvm exists but the guest hangs or
# QEMU aborts: research/guest-e2e-facts.md), TCG otherwise. E2E_ACCEL=kvm|tcg skips the probe.
accel=${E2E_ACCEL:-auto}
if [ "$accel" = auto ]; then
    accel=tcg
    if [ -w /dev/kvm ]; then
        probe=$work/probe
        rm -rf "$probe" && mkdir -p "$probe/bin"
        cp /bin/busybox "$probe/bin/busybox"; ln -sf busybox "$probe/bin/sh"; ln -sf busybox "$probe/bin/poweroff"; ln -sf busybox "$probe/bin/echo"
        printf '#!/bin/sh\necho KVM-PROBE-OK\npoweroff -f\n' > "$probe/init"; chmod +x "$probe/init"
        (cd "$probe" && find . | cpio -o -H newc 2>/dev/null | gzip -1 > "$work/probe.gz")
        if timeout 20 qemu-system-x86_64 -machine q35,accel=kvm -m 256 -kernel "$vmlinuz" -initrd "$work/probe.gz" \
               -append "console=ttyS0 panic=-1 quiet" -nographic -no-reboot -monitor none -serial stdio 2>/dev/null | grep -q KVM-PROBE-OK; then
            accel=kvm
        fi
    fi
fi
echo "accelerator: $accel"
set +e
timeout "$timeout_seconds" qemu-system-x86_64 -machine q35,accel=$accel -cpu qemu64 -smp 2 -m 512 \
    -object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem \
    -kernel "$vmlinuz" -initrd "$work/initramfs.gz" -append "console=ttyS0 panic=-1 quiet" \
    -nographic -no-reboot -monitor none -serial stdio \
    -chardev socket,id=vuc0,path="$socket" \
    -object cryptodev-vhost-user,id=cryptodev0,chardev=vuc0,queues=1 \
    -device virtio-crypto-pci,id=crypto0,cryptodev=cryptodev0,vectors=0 \
    > "$work/console.log" 2>&1
qemu_status=$?
set -e
kill -INT $daemon 2>/dev/null || true
wait $daemon 2>/dev/null || true
trap - EXIT

echo "--- guest ---"
grep -a -o -E "(E2E|AFALG) .*" "$work/console.log" || true
echo "--- daemon ---"
grep -E "requests by (status|queue)|frontend|listening" "$work/daemon.log" || true
echo "--- result ---"
ok=1
grep -q "E2E selftest: selftest *: passed" "$work/console.log" || { echo "FAIL: the kernel self-test of virtio_crypto_aes_cbc did not pass"; ok=0; }
grep -q "AFALG SUMMARY passed=[1-9][0-9]* failed=0" "$work/console.log" || { echo "FAIL: AF_ALG checks"; ok=0; }
served=$(grep -o "OK=[0-9]*" "$work/daemon.log" | tail -1 | cut -d= -f2)
[ "${served:-0}" -gt 0 ] || { echo "FAIL: the daemon served no request"; ok=0; }
[ $qemu_status -eq 0 ] || echo "note: qemu exited with $qemu_status (logs in $work)"
if [ $ok -eq 1 ]; then echo "E2E PASS: guest self-test passed, AF_ALG checks passed, daemon served ${served} requests OK"; exit 0; fi
echo "logs: $work/console.log $work/daemon.log"
exit 1
