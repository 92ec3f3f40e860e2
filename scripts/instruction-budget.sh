#!/usr/bin/env bash
# The instruction budget of the data path (issue 15): instructions per 256 B AES-128-CBC
# session request spent outside libcrypto and libIPSec_MB, counted by callgrind on the device
# core in process (`virtio-crypto-bench device --requests N`: parse, session, crypto, status).
# Instruction counts are deterministic where seconds are not: the figure is the difference
# between a run of 2N requests and a run of N, divided by N, so the first request's one-time
# work (keying the worker's context) cancels. Fails when the figure exceeds the committed
# budget by more than 10 %.
#
#   scripts/instruction-budget.sh            # measure and compare with scripts/instruction-budget.txt
#   scripts/instruction-budget.sh --update   # measure and write the figure as the new budget
#
# BUILD_PATH: the scratch path of the release build (default .build; the build is incremental).
# TOP_FUNCTIONS: how many of the costliest functions to list (default 15).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

budget_file=scripts/instruction-budget.txt
# 10 %: the growth the check lets through before it fails.
tolerance_percent=10
requests=20000
workload=aes-128-cbc
size=256
top_functions="${TOP_FUNCTIONS:-15}"
# Only the device's request handler is counted (the benchmark calls nothing else per request):
# the process's set-up includes AKCIPHER capability probes that generate RSA and EC keys, whose
# instruction counts are random, so they are left out rather than subtracted.
handle_function='*DataWorkerC6handle*'
update=false
case "${1:-}" in
"") ;;
--update) update=true ;;
*) echo "usage: $0 [--update]" >&2; exit 2 ;;
esac

# Valgrind (callgrind and callgrind_annotate) from Debian, as the e2e scripts install their tools.
if ! dpkg -s valgrind >/dev/null 2>&1; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq valgrind >/dev/null
fi

build_path="${BUILD_PATH:-.build}"
swift build -c release --scratch-path "$build_path" --product virtio-crypto-bench >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Valgrind cannot read Swift 6.3's debug information; the symbols stay.
cp "$build_path/release/virtio-crypto-bench" "$work/bench"
strip --strip-debug "$work/bench"

profile() { # $1: request count; writes $work/<count>.out
    # Swift's per-process random hashing seed would change what the set-up executes from run to run.
    SWIFT_DETERMINISTIC_HASHING=1 valgrind --tool=callgrind --callgrind-out-file="$work/$1.out" \
        --collect-atstart=no --toggle-collect="$handle_function" \
        "$work/bench" device --workloads "$workload" --sizes "$size" --modes session --requests "$1" \
        >"$work/$1.log" 2>&1 || { cat "$work/$1.log" >&2; exit 1; }
}
profile "$requests"
profile $((2 * requests))

python3 - "$work/$requests.out" "$work/$((2 * requests)).out" "$requests" "$budget_file" \
    "$tolerance_percent" "$update" "$top_functions" "$workload $size B session" <<'EOF'
import re
import subprocess
import sys

once, twice, requests, budget_file, tolerance, update, top, label = sys.argv[1:]
requests, tolerance, top = int(requests), float(tolerance), int(top)
# The libraries whose instructions are the crypto itself, not ours.
LIBRARIES = ("libcrypto.so", "libIPSec_MB.so")
NAMED = re.compile(r"^\((\d+)\)(?: (.*))?$")


def is_library(obj):
    return obj.rsplit("/", 1)[-1].startswith(LIBRARIES)


def profile(path):
    """From a callgrind output file: every function's self cost, keyed (function, object), and
    every call edge (caller, callee, inclusive cost)."""
    names = {"ob": {}, "fn": {}}

    def name(kind, value):  # callgrind writes a repeated name as its "(id)" alone
        match = NAMED.match(value)
        if not match:
            return value
        if match.group(2) is not None:
            names[kind][match.group(1)] = match.group(2)
        return names[kind].get(match.group(1), value)

    costs, edges = {}, []
    obj = function = callee_obj = callee = None
    in_call = False
    with open(path) as stream:
        for line in stream:
            line = line.rstrip("\n")
            if not line or line[0] == "#":
                continue
            key, equals, value = line.partition("=")
            if equals and key in ("ob", "cob", "fn", "cfn"):
                resolved = name("ob" if key.endswith("ob") else "fn", value)
                if key == "ob":
                    obj = callee_obj = resolved
                elif key == "cob":
                    callee_obj = resolved
                elif key == "fn":
                    function, callee_obj = resolved, obj
                else:
                    callee = resolved
                continue
            if equals and key == "calls":
                in_call = True
                continue
            if not (line[0].isdigit() or line[0] in "+-*"):
                continue
            fields = line.split()
            cost = int(fields[1]) if len(fields) > 1 else 0
            if in_call:  # the line after calls= is the call's inclusive cost
                edges.append(((function, obj), (callee, callee_obj), cost))
                in_call, callee_obj = False, obj  # a cob= names the next callee only
            else:
                costs[(function, obj)] = costs.get((function, obj), 0) + cost
    return costs, edges


def split(path):
    """Instructions inside the crypto libraries (every call into them from outside, inclusive:
    the libc strcmp and memcpy under OpenSSL's parameter lookups are OpenSSL's) and ours per
    function (self cost less what it ran for a library). Valgrind shows PLT stubs as functions of
    an unknown object: a stub that jumps into a library is the library's entry, a stub only a
    library calls is the library's."""
    costs, edges = profile(path)
    callees, callers = {}, {}
    for caller, callee, _ in edges:
        callees.setdefault(caller, set()).add(callee)
        callers.setdefault(callee, set()).add(caller)
    unknown = lambda key: key[1] in (None, "???") or key[1].endswith("???")
    in_library = lambda key: key[1] is not None and is_library(key[1])
    entry = lambda key: in_library(key) or (unknown(key) and any(in_library(c) for c in callees.get(key, ())))
    on_behalf = lambda key: entry(key) or (unknown(key) and callers.get(key) and all(map(entry, callers[key])))
    library = sum(cost for caller, callee, cost in edges if not on_behalf(caller) and entry(callee))
    ours = {key: cost for key, cost in costs.items() if not on_behalf(key)}
    for caller, callee, cost in edges:
        if on_behalf(caller) and not on_behalf(callee):
            ours[callee] = ours.get(callee, 0) - cost
    return sum(costs.values()) - library, library, ours


(ours_once, library_once, functions_once), (ours_twice, library_twice, functions_twice) = split(once), split(twice)
ours = (ours_twice - ours_once) / requests
library = (library_twice - library_once) / requests
per_request = {key: (functions_twice.get(key, 0) - functions_once.get(key, 0)) / requests
               for key in set(functions_once) | set(functions_twice)}
print(f"{label}: {ours:.1f} instructions per request outside libcrypto and libIPSec_MB, "
      f"{library:.1f} inside them (callgrind, {2 * requests} minus {requests} requests)")
print(f"top functions outside the libraries (instructions per request):")
mine = sorted(((cost, key) for key, cost in per_request.items()), reverse=True)[:top]
try:  # the toolchain's demangler, for readable names; the mangled ones otherwise
    demangled = subprocess.run(["swift-demangle", "--simplified", "--compact"], capture_output=True, text=True,
                               input="\n".join(function for _, (function, _) in mine)).stdout.splitlines()
except OSError:
    demangled = []
if len(demangled) != len(mine):
    demangled = [function for _, (function, _) in mine]
for (cost, (_, obj)), function in zip(mine, demangled):
    print(f"  {cost:8.1f}  {function}  [{obj.rsplit('/', 1)[-1]}]")

measured = round(ours, 1)
if update == "true":
    with open(budget_file, "w") as stream:
        stream.write("# Instructions per 256 B AES-128-CBC session request outside libcrypto and libIPSec_MB\n"
                     "# (scripts/instruction-budget.sh; --update rewrites this file).\n"
                     f"{measured}\n")
    print(f"budget written: {measured} ({budget_file})")
    sys.exit(0)
with open(budget_file) as stream:
    budget = float(next(line for line in stream if line.strip() and not line.startswith("#")))
limit = budget * (1 + tolerance / 100)
print(f"measured {measured}, budget {budget}, limit {limit:.1f} (budget + {tolerance:g} %)")
if measured > limit:
    print(f"error: {measured} instructions per request exceed the budget {budget} by more than {tolerance:g} %")
    sys.exit(1)
EOF
