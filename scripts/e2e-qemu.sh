#!/usr/bin/env bash
# End-to-end: a Linux guest (Debian's 6.1 kernel, busybox initramfs) under Debian's QEMU,
# its virtio-crypto device served by our vhost-user-crypto daemon or by QEMU's own
# cryptodev-backend-builtin.
#
# --mode check (default): the kernel's self-test of virtio_crypto_aes_cbc, AF_ALG known
#   answers, random round trips against the kernel's generic AES (16 B-64 KiB, 128/192/256-bit
#   keys), and concurrent requests.
# --mode throughput: AF_ALG AES-128-CBC on virtio_crypto_aes_cbc, sizes 64 B-64 KiB, 1 and 8
#   threads, against each backend in turn (--backend both, the default for this mode), then
#   both tables and the ratio vhost-user / builtin.
# Usage: scripts/e2e-qemu.sh [--mode check|throughput] [--backend vhost-user|builtin|both]
#        [--threads N] [--seconds S] [--sizes 64,256,...] [--bench-threads 1,8] [--timeout SECONDS]
# Environment: E2E_ACCEL=kvm|tcg (skip the KVM probe), E2E_LOG_LEVEL, E2E_DAEMON_ARGS (extra
#   vhost-user-crypto options, e.g. --poll-us 50).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=check
backend=""
threads=4
seconds=2
sizes=64,256,1024,4096,16384,65536
bench_threads=1,8
timeout_seconds=600
while [ $# -gt 0 ]; do
    case "$1" in
        --mode) mode=$2; shift 2 ;;
        --backend) backend=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --sizes) sizes=$2; shift 2 ;;
        --bench-threads) bench_threads=$2; shift 2 ;;
        --timeout) timeout_seconds=$2; shift 2 ;;
        *) sed -n '2,17p' "$0" >&2; exit 2 ;;
    esac
done
case "$mode" in check) backend=${backend:-vhost-user} ;; throughput) backend=${backend:-both} ;; *) echo "unknown mode $mode" >&2; exit 2 ;; esac
case "$backend" in vhost-user) backends=(vhost-user) ;; builtin) backends=(builtin) ;; both) backends=(builtin vhost-user) ;;
    *) echo "unknown backend $backend" >&2; exit 2 ;; esac

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
gcc -O2 -static -pthread -o "$root/bin/afalg-bench" scripts/e2e/afalg-bench.c
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
# The init takes its work from the kernel command line (e2e.mode=check|throughput ...).
cat > "$root/init" <<INIT
#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mode=check; threads=4; seconds=2; sizes=64; bench_threads=1
for word in \$(cat /proc/cmdline); do
    case \$word in
        e2e.mode=*) mode=\${word#e2e.mode=} ;;
        e2e.threads=*) threads=\${word#e2e.threads=} ;;
        e2e.seconds=*) seconds=\${word#e2e.seconds=} ;;
        e2e.sizes=*) sizes=\${word#e2e.sizes=} ;;
        e2e.bench_threads=*) bench_threads=\${word#e2e.bench_threads=} ;;
    esac
done
for module in \$(cat /modules/order); do insmod /modules/\$module 2>/dev/null; done
for i in \$(seq 1 60); do grep -q virtio_crypto_aes_cbc /proc/crypto && break; sleep 1; done
echo "E2E selftest: \$(grep -A6 'virtio_crypto_aes_cbc' /proc/crypto | grep selftest | head -1)"
if ! grep -q virtio_crypto_aes_cbc /proc/crypto; then
    echo "E2E diagnostics: modules:"; cat /proc/modules
    echo "E2E diagnostics: kernel log:"; dmesg | grep -i -E "virtio|crypto" | tail -20
fi
if [ "\$mode" = throughput ]; then /bin/afalg-bench \$seconds \$sizes \$bench_threads; else /bin/afalg-check \$threads; fi
echo "E2E done"
poweroff -f
INIT
chmod +x "$root/init"
ln -sf busybox "$root/bin/seq"
(cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -1 > "$work/initramfs.gz")

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

# The daemon: the release build for throughput (what users run), the debug build (with its
# assertions) for the checks.
configuration=debug; [ "$mode" = throughput ] && configuration=release
if [[ " ${backends[*]} " == *" vhost-user "* ]]; then
    swift build -c $configuration --product vhost-user-crypto >/dev/null
fi
socket=$work/vhost-user-crypto.sock
append="console=ttyS0 panic=-1 quiet e2e.mode=$mode e2e.threads=$threads e2e.seconds=$seconds e2e.sizes=$sizes e2e.bench_threads=$bench_threads"
# Per-point guest time plus boot and module loading under TCG.
points=$(( $(echo "$sizes" | tr ',' '\n' | wc -l) * $(echo "$bench_threads" | tr ',' '\n' | wc -l) ))
[ "$mode" = throughput ] && timeout_seconds=$(( timeout_seconds + points * (${seconds%.*} + 2) ))

# Boots one guest with the device on backend $1; console in $work/console-$1.log.
run_guest() {
    local which=$1 device daemon=""
    if [ "$which" = vhost-user ]; then
        rm -f "$socket"
        .build/$configuration/vhost-user-crypto --socket-path "$socket" --log-level "${E2E_LOG_LEVEL:-info}" \
            --ciphers aes-cbc --hashes none --macs none --aeads none ${E2E_DAEMON_ARGS:-} > "$work/daemon.log" 2>&1 &
        daemon=$!
        trap "kill $daemon 2>/dev/null || true" EXIT
        for _ in $(seq 1 100); do [ -S "$socket" ] && break; sleep 0.1; done
        device=(-chardev socket,id=vuc0,path="$socket" -object cryptodev-vhost-user,id=cryptodev0,chardev=vuc0,queues=1)
    else
        device=(-object cryptodev-backend-builtin,id=cryptodev0,queues=1)
    fi
    set +e
    timeout "$timeout_seconds" qemu-system-x86_64 -machine q35,accel=$accel -cpu qemu64 -smp 2 -m 512 \
        -object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem \
        -kernel "$vmlinuz" -initrd "$work/initramfs.gz" -append "$append" \
        -nographic -no-reboot -monitor none -serial stdio \
        "${device[@]}" -device virtio-crypto-pci,id=crypto0,cryptodev=cryptodev0,vectors=0 \
        > "$work/console-$which.log" 2>&1
    local status=$?
    set -e
    if [ -n "$daemon" ]; then
        kill -INT "$daemon" 2>/dev/null || true
        wait "$daemon" 2>/dev/null || true
        trap - EXIT
    fi
    [ $status -eq 0 ] || echo "note: qemu ($which) exited with $status (logs in $work)"
}

for which in "${backends[@]}"; do
    echo "guest on the $which backend ($mode)"
    run_guest "$which"
done

ok=1
if [ "$mode" = throughput ]; then
    for which in "${backends[@]}"; do
        echo "--- $which ---"
        grep -a -o -E "AFBENCH .*" "$work/console-$which.log" || true
        grep -a -q "AFBENCH DONE failures=0" "$work/console-$which.log" || { echo "FAIL: the $which guest run did not complete cleanly"; ok=0; }
    done
    if [ ${#backends[@]} -eq 2 ]; then
        echo "--- AF_ALG AES-128-CBC in the guest: vhost-user-crypto vs QEMU's builtin backend ($accel) ---"
        printf "%8s %8s %16s %16s %12s %12s %8s\n" size threads "builtin ops/s" "vhost-user ops/s" "builtin MB/s" "vhost MB/s" ratio
        join <(grep -a -o -E "AFBENCH size=[0-9]+ threads=[0-9]+ .*" "$work/console-builtin.log" | awk '{print $2"/"$3, $6, $7}' | sort) \
             <(grep -a -o -E "AFBENCH size=[0-9]+ threads=[0-9]+ .*" "$work/console-vhost-user.log" | awk '{print $2"/"$3, $6, $7}' | sort) |
            sed 's/[a-z_]*=//g; s#/# #' | sort -k2,2n -k1,1n |
            awk '{ printf "%8s %8s %16s %16s %12s %12s %8.3f\n", $1, $2, $3, $5, $4, $6, ($3 > 0 ? $5 / $3 : 0) }'
    fi
    if [[ " ${backends[*]} " == *" vhost-user "* ]]; then
        echo "--- daemon ---"
        grep -E "requests by (status|queue)" "$work/daemon.log" || true
    fi
    [ $ok -eq 1 ] && { echo "E2E THROUGHPUT PASS"; exit 0; }
    exit 1
fi

for which in "${backends[@]}"; do
    log=$work/console-$which.log
    echo "--- guest ($which) ---"
    grep -a -o -E "(E2E|AFALG) .*" "$log" || true
    grep -q "E2E selftest: selftest *: passed" "$log" || { echo "FAIL: the kernel self-test of virtio_crypto_aes_cbc did not pass ($which)"; ok=0; }
    grep -q "AFALG SUMMARY passed=[1-9][0-9]* failed=0" "$log" || { echo "FAIL: AF_ALG checks ($which)"; ok=0; }
done
served=0
if [[ " ${backends[*]} " == *" vhost-user "* ]]; then
    echo "--- daemon ---"
    grep -E "requests by (status|queue)|frontend|listening|a device of" "$work/daemon.log" || true
    served=$( (grep "requests by status:" "$work/daemon.log" || true) | tail -1 | grep -o -E "(^| )ok=[0-9]+" | cut -d= -f2 || true)
    [ "${served:-0}" -gt 0 ] || { echo "FAIL: the daemon served no request"; ok=0; }
fi
echo "--- result ---"
if [ $ok -eq 1 ]; then echo "E2E PASS (${backends[*]}): guest self-test passed, AF_ALG checks passed, daemon served ${served:-0} requests OK"; exit 0; fi
echo "logs: $work/console-*.log $work/daemon.log"
exit 1
