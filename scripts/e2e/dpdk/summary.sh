#!/usr/bin/env bash
# Summarises the guest runs of scripts/e2e-dpdk.sh and decides the result.
# Usage: scripts/e2e/dpdk/summary.sh WORK_DIR BACKEND...   (BACKEND: builtin, vhost-user)
#   Reads WORK_DIR/console-BACKEND.log (and daemon.log); writes WORK_DIR/cases-BACKEND.tsv
#   (suite, case, status: succeeded, failed, skipped, ..., prefixed "guarded-" when
#   null-session-guard.so refused an enqueue during the case) and WORK_DIR/perf-BACKEND.tsv (mode, size, enqueued, dequeued,
#   Mops, Gbps). Exits 1 when the daemon fails a must-pass case (must-pass.txt), fails a
#   case the builtin backend passes, fails any case not in expected-failures.txt, crashes
#   anywhere but at the known DPDK bug (only possible with --no-guard), or does not
#   complete a perf point; also when the builtin backend fails its own must-pass cases
#   (then the comparison means nothing).
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,9p' "$0" >&2; exit 2; }
work=$1; shift
backends=("$@")
here=$(dirname "$0")
# The known crash: see expected-failures.txt.
known_crash_suite="Negative HMAC SHA1 Unit Test Suite"
ok=1
fail() { echo "FAIL: $*"; ok=0; }

# The section of a console log between "E2E-BEGIN $2" and "E2E-END $2 ...", without CRs
# (the END marker may follow a prompt the tool left without a newline).
section() { tr -d '\r' < "$1" | sed -n "/^E2E-BEGIN $2\$/,/E2E-END $2 /p"; }
end_status() { tr -d '\r' < "$1" | grep -a -o -E "E2E-END $2 rc=[0-9]+" | sed 's/.*rc=//' | tail -1; }

for which in "${backends[@]}"; do
    log=$work/console-$which.log
    section "$log" autotest | awk -v OFS='\t' '
        /^ \+ Test Suite : / { suite = substr($0, length(" + Test Suite : ") + 1); next }
        /^E2E-GUARD/ { guarded = 1; next }
        /^ \+ TestCase \[ *[0-9]+\] : / {
            line = $0; sub(/^ \+ TestCase \[ *[0-9]+\] : /, "", line)
            status = line; sub(/.* /, "", status); name = line; sub(/ [^ ]*$/, "", name)
            # A case during which the guard refused a NULL-session enqueue proves nothing.
            if (guarded) status = "guarded-" status
            guarded = 0
            print suite, name, status }' > "$work/cases-$which.tsv"
    : > "$work/perf-$which.tsv"
    for mode in cipher chain; do
        # csv-friendly lines: lcore,size,burst,enqueued,dequeued,failed enq,failed deq,Mops,Gbps,cycles/buf
        section "$log" perf-$mode | grep -a -E '^[0-9]+,[0-9]+,' |
            awk -F, -v OFS='\t' -v mode=$mode '{ print mode, $2, $4, $5, $8, $9 }' >> "$work/perf-$which.tsv" || true
    done
done

status_of() {   # backend suite case → status, "not-run" when the case never printed
    awk -F'\t' -v s="$2" -v c="$3" '$1 == s && $2 == c { print $3; found = 1; exit } END { if (!found) print "not-run" }' "$work/cases-$1.tsv"
}
has() { [[ " ${backends[*]} " == *" $1 "* ]]; }

echo
echo "=== cryptodev_virtio_autotest (DPDK 22.11 dpdk-test) ==="
printf "%-11s %7s %7s %8s %8s  %s\n" backend passed failed skipped guarded "how the run ended"
for which in "${backends[@]}"; do
    log=$work/console-$which.log
    rc=$(end_status "$log" autotest)
    last_suite=$(section "$log" autotest | grep -a -E '^ \+ Test Suite : ' | tail -1 | sed 's/^ + Test Suite : //')
    finished=0; section "$log" autotest | grep -a -q -x -E "Test (OK|Failed)" && finished=1
    guarded=$(section "$log" autotest | grep -a -c "^E2E-GUARD" || true)
    case "${rc:-none}" in
        0) ended="completed, all executed cases passed" ;;
        139) ended="segfault in \"$last_suite\""
             [ "$last_suite" = "$known_crash_suite" ] && ended="$ended (the known DPDK 22.11 bug; later suites not run)" ;;
        none) ended="never finished (guest or QEMU died: see $work/qemu-$which.log)" ;;
        *) ended="exit status $rc"; [ $finished -eq 1 ] && ended="completed, some cases failed" ;;
    esac
    if [ "$guarded" -gt 0 ]; then ended="$ended; the guard refused $guarded NULL-session enqueue(s)"; fi
    read -r passed failed skipped other < <(awk -F'\t' '
        $3 == "succeeded" { p++ } $3 == "failed" { f++ } $3 == "skipped" { s++ }
        $3 != "succeeded" && $3 != "failed" && $3 != "skipped" { o++ }   # guarded-*
        END { print p + 0, f + 0, s + 0, o + 0 }' "$work/cases-$which.tsv")
    printf "%-11s %7s %7s %8s %8s  %s\n" "$which" "$passed" "$failed" "$skipped" "$other" "$ended"
    if [ "$which" = vhost-user ] && [ $finished -eq 0 ]; then
        [ "${rc:-none}" = 139 ] && [ "$last_suite" = "$known_crash_suite" ] || fail "the daemon's autotest run did not finish: $ended"
    fi
    if [ "$which" = vhost-user ]; then
        tr -d '\r' < "$log" | grep -a -E "^E2E kernel: .*segfault" | sed 's/^E2E kernel: /  kernel: /' || true
    fi
done

echo
echo "--- must-pass cases (scripts/e2e/dpdk/must-pass.txt) ---"
printf "%-80s %-10s %-10s %s\n" "suite / case" builtin vhost-user "required of"
while IFS='|' read -r scope suite name; do
    scope=$(echo $scope); suite=$(echo "$suite" | sed 's/^ *//; s/ *$//'); name=$(echo "$name" | sed 's/^ *//; s/ *$//')
    b=-; v=-
    has builtin && b=$(status_of builtin "$suite" "$name")
    has vhost-user && v=$(status_of vhost-user "$suite" "$name")
    printf "%-80s %-10s %-10s %s\n" "$suite / $name" "$b" "$v" "$scope"
    if has vhost-user && [ "$v" != succeeded ]; then fail "must-pass case failed through the daemon: $suite / $name ($v)"; fi
    if [ "$scope" = all ] && has builtin && [ "$b" != succeeded ]; then fail "the builtin baseline fails its must-pass case: $suite / $name ($b)"; fi
done < <(grep -v -E '^(#|$)' "$here/must-pass.txt")

if has builtin && has vhost-user; then
    echo
    echo "--- cases the builtin backend passes and the daemon does not ---"
    regressions=$(grep -v -E '^(#|$)' "$here/expected-failures.txt" | awk -F'\t' '
        FILENAME == "-" { split($0, f, "|"); gsub(/^ +| +$/, "", f[2]); gsub(/^ +| +$/, "", f[3]); skip[f[2] "\t" f[3]] = 1; next }
        FILENAME ~ /cases-vhost-user/ { v[$1 "\t" $2] = $3; next }
        ($1 "\t" $2) in skip { next }
        $3 == "succeeded" && v[$1 "\t" $2] != "succeeded" { print "  " $1 " / " $2 ": " (($1 "\t" $2) in v ? v[$1 "\t" $2] : "not-run") }' \
        - "$work/cases-vhost-user.tsv" "$work/cases-builtin.tsv")
    if [ -n "$regressions" ]; then echo "$regressions"; fail "the daemon fails cases the builtin backend passes"; else echo "  none"; fi
    echo "--- cases the daemon passes and the builtin backend does not ---"
    awk -F'\t' 'NR == FNR { b[$1 "\t" $2] = $3; next }
        $3 == "succeeded" && b[$1 "\t" $2] != "succeeded" { print "  " $1 " / " $2 " (builtin: " (($1 "\t" $2) in b ? b[$1 "\t" $2] : "not-run") ")" }' \
        "$work/cases-builtin.tsv" "$work/cases-vhost-user.tsv"
fi
if has vhost-user; then
    echo "--- every case that failed through the daemon ---"
    unexpected=$(grep -v -E '^(#|$)' "$here/expected-failures.txt" | awk -F'\t' '
        FILENAME == "-" { split($0, f, "|"); gsub(/^ +| +$/, "", f[2]); gsub(/^ +| +$/, "", f[3]); known[f[2] "\t" f[3]] = 1; next }
        $3 ~ /failed$/ { print "  " $1 " / " $2 (($1 "\t" $2) in known ? " (expected: expected-failures.txt)" : " UNEXPECTED") }' \
        - "$work/cases-vhost-user.tsv")
    echo "${unexpected:-  none}"
    if echo "$unexpected" | grep -q UNEXPECTED; then fail "the daemon fails cases that are not expected to fail"; fi
fi
echo
echo "--- expected failures and guarded cases (scripts/e2e/dpdk/expected-failures.txt) ---"
while IFS='|' read -r kind suite name reason; do
    kind=$(echo $kind); suite=$(echo "$suite" | sed 's/^ *//; s/ *$//'); name=$(echo "$name" | sed 's/^ *//; s/ *$//')
    results=""
    for which in "${backends[@]}"; do results="$results $which=$(status_of "$which" "$suite" "$name")"; done
    echo "  [$kind] $suite / $name:$results"
    echo "      why:$reason"
done < <(grep -v -E '^(#|$)' "$here/expected-failures.txt")

echo "=== dpdk-test-crypto-perf throughput (1 worker lcore, burst 32; TCG guest: compare within this run only) ==="
for which in "${backends[@]}"; do
    for mode in cipher chain; do
        rc=$(end_status "$work/console-$which.log" perf-$mode)
        points=$(awk -F'\t' -v m=$mode '$1 == m' "$work/perf-$which.tsv" | wc -l)
        incomplete=$(awk -F'\t' -v m=$mode '$1 == m && $3 != $4' "$work/perf-$which.tsv" | wc -l)
        note=""
        if [ "$which" = builtin ] && [ "$mode" = chain ] && [ "$points" -eq 0 ]; then
            note=" (expected: QEMU's builtin backend refuses chained sessions)"
        elif [ "$which" = vhost-user ] && { [ "${rc:-none}" != 0 ] || [ "$points" -eq 0 ] || [ "$incomplete" -ne 0 ]; }; then
            fail "dpdk-test-crypto-perf $mode through the daemon: exit ${rc:-none}, $points points, $incomplete with dequeued != enqueued"
        fi
        echo "  $which $mode: exit ${rc:-none}, $points sizes measured$note"
    done
done
mops() { awk -F'\t' -v m=$2 -v s=$3 '$1 == m && $2 == s { print $5; exit }' "$work/perf-$1.tsv" 2>/dev/null; }
sizes=$(cat "$work"/perf-*.tsv | cut -f2 | sort -n -u)
printf "%8s | %14s %14s %7s | %14s %14s %7s\n" "" "AES-128-CBC" "" "" "AES-CBC+HMAC-SHA1" "" ""
printf "%8s | %14s %14s %7s | %14s %14s %7s\n" bytes "builtin kop/s" "daemon kop/s" ratio "builtin kop/s" "daemon kop/s" ratio
for size in $sizes; do
    row=()
    for mode in cipher chain; do
        b=$(has builtin && mops builtin $mode $size || true); v=$(has vhost-user && mops vhost-user $mode $size || true)
        row+=("$(awk -v x="$b" 'BEGIN { print x == "" ? "-" : sprintf("%.1f", x * 1000) }')"
              "$(awk -v x="$v" 'BEGIN { print x == "" ? "-" : sprintf("%.1f", x * 1000) }')"
              "$(awk -v b="$b" -v v="$v" 'BEGIN { print (b == "" || v == "" || b == 0) ? "-" : sprintf("%.2f", v / b) }')")
    done
    printf "%8s | %14s %14s %7s | %14s %14s %7s\n" "$size" "${row[@]}"
done

if has vhost-user; then
    echo
    echo "--- daemon ---"
    grep -E "requests by (status|queue)|messages refused|ring faults" "$work/daemon.log" | sed 's/^.*\] /  /' || true
    # Not a failure of this test (the cases decide), but a daemon defect worth seeing: a ring
    # fault or an ERR answer means the daemon read something the driver never posted.
    faults=$( (grep -o "ring faults: .*" "$work/daemon.log" || true) | tail -1 | sed 's/ring faults: //')
    # The report lists only the statuses it counted ("requests by status: ok=… err=…").
    errors=$( (grep "requests by status:" "$work/daemon.log" || true) | tail -1 | grep -o -E "(^| )err=[0-9]+" |
        cut -d= -f2 || true)
    if [ -n "$faults" ] && [ "$faults" != none ] || [ "${errors:-0}" -gt 0 ]; then
        echo "  WARNING: the daemon reports ring faults ($faults) and ${errors:-0} ERR answers"
        grep -E "ring [0-9]+ broken" "$work/daemon.log" | sed 's/^/  /' || true
    fi
fi
echo
if [ $ok -eq 1 ]; then echo "E2E DPDK PASS (${backends[*]})"; exit 0; fi
echo "E2E DPDK FAIL (logs: $work/console-*.log $work/qemu-*.log $work/daemon.log)"
exit 1
