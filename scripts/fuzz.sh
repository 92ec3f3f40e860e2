#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer (Fuzz/: one target per entry point). Builds the fuzz
# package with -sanitize=fuzzer,address into .build-fuzz, then runs each target (or the ones
# named) for a bounded time or number of executions, starting from the committed corpus
# Fuzz/Corpus/<target> (read only) plus a scratch corpus .build-fuzz/corpus/<target> that
# collects what the run finds. Any crash, leak (LeakSanitizer is on), timeout or out-of-memory
# fails the run; the input is left in .build-fuzz/artifacts/<target>/.
#
#   ./scripts/fuzz.sh                         # every target, 20 s each
#   ./scripts/fuzz.sh --seconds 600 FuzzDataQueue
#   ./scripts/fuzz.sh --runs 10000000 FuzzWireDecoders
#   ./scripts/fuzz.sh --write-seeds           # regenerate Fuzz/Corpus from the spec and vectors
#   ./scripts/fuzz.sh --reproduce FuzzDataQueue .build-fuzz/artifacts/FuzzDataQueue/crash-…
set -euo pipefail
cd "$(dirname "$0")/.."

targets_all=(FuzzWireDecoders FuzzSpecLoader FuzzControlQueue FuzzDataQueue FuzzVhostUser FuzzSessionMessage)
seconds=20
runs=""
write_seeds=false
reproduce=false
targets=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --write-seeds) write_seeds=true; shift ;;
        --reproduce) reproduce=true; shift ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        Fuzz*) targets+=("$1"); shift ;;
        *) if $reproduce; then targets+=("$1"); shift; else echo "unknown argument: $1" >&2; exit 2; fi ;;
    esac
done
[[ ${#targets[@]} -gt 0 ]] || targets=("${targets_all[@]}")

if ! command -v swift >/dev/null 2>&1; then
    echo "error: no Swift toolchain on PATH (Swift 6.x expected, e.g. /opt/swift/usr/bin)" >&2
    exit 1
fi

scratch=${FUZZ_SCRATCH:-.build-fuzz}
# -parse-as-library: the targets have no main.swift (libFuzzer's driver is the entry point).
swift build --package-path Fuzz --scratch-path "$scratch" -c release \
    -Xswiftc -parse-as-library -Xswiftc -sanitize=fuzzer,address
bin="$scratch/release"

# Swift's own crash backtracer reads the stack behind AddressSanitizer's back and is reported as
# a stack-buffer-underflow; libFuzzer and ASan print the stack instead.
export SWIFT_BACKTRACE=enable=no
# Leak reports that are not ours (scripts/lsan-fuzz.supp says why each one is there).
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan-fuzz.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

if $write_seeds; then
    for target in "${targets[@]}"; do
        rm -rf "Fuzz/Corpus/$target"
        "$bin/$target" --write-seeds="Fuzz/Corpus/$target"
    done
    exit 0
fi

if $reproduce; then
    target="${targets[0]}"
    "$bin/$target" -runs=1 "${targets[@]:1}"
    exit $?
fi

# Longest input per target: a few requests with keys and data, a spec section, one struct.
max_len() {
    case "$1" in
        FuzzWireDecoders) echo 1024 ;;
        FuzzSpecLoader) echo 8192 ;;
        FuzzVhostUser) echo 8192 ;;
        FuzzSessionMessage) echo 2048 ;;
        *) echo 4096 ;;
    esac
}

failed=()
summary=()
for target in "${targets[@]}"; do
    corpus="$scratch/corpus/$target"
    artifacts="$scratch/artifacts/$target/"
    log="$scratch/logs/$target.log"
    mkdir -p "$corpus" "$artifacts" "$(dirname "$log")" "Fuzz/Corpus/$target"
    limit=(-max_total_time="$seconds")
    [[ -n "$runs" ]] && limit=(-runs="$runs")
    echo "== $target (${runs:-$seconds s}${runs:+ runs})"
    start=$(date +%s)
    status=0
    # New inputs go to the first corpus folder only: the committed one is read, never written.
    "$bin/$target" "$corpus" "Fuzz/Corpus/$target" "${limit[@]}" -max_len="$(max_len "$target")" \
        -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -artifact_prefix="$artifacts" >"$log" 2>&1 ||
        status=$?
    elapsed=$(($(date +%s) - start))
    done_line=$(grep -E "^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)" "$log" | tail -1 || true)
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    cov=$(sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\).*/cov \1 ft \2/p' <<<"$done_line")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<<"$done_line")
    line="$target: ${executions:-?} executions, ${speed:-?} exec/s, ${cov:-cov ?}, corpus ${corp:-?}, ${elapsed} s"
    if [[ $status -ne 0 ]]; then
        line+=": FAILED (exit $status)"
        failed+=("$target")
        grep -E "ERROR: |Fatal error|SUMMARY|Test unit written|ALARM|out-of-memory|leak" "$log" | head -20 >&2 || true
        echo "full log: $log" >&2
    else
        line+=": ok"
    fi
    echo "$line"
    summary+=("$line")
done

echo
printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzzing failed: ${failed[*]} (inputs in $scratch/artifacts/; reproduce with ./scripts/fuzz.sh --reproduce <target> <file>)" >&2
    exit 1
fi
