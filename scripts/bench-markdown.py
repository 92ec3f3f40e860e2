#!/usr/bin/env python3
"""Turns `virtio-crypto-bench vring --json` lines (stdin) into the Markdown tables of
BENCHMARKS.md: one table per mode, one row per workload/size/depth/queues."""
import json
import sys

rows = [json.loads(line) for line in sys.stdin if line.startswith("{")]
for mode in ("session", "stateless"):
    chosen = [r for r in rows if r["mode"] == mode]
    if not chosen:
        continue
    print(f"\n#### {mode} mode\n")
    print("| workload | size | depth | queues | req/s | MB/s | p50 µs | p99 µs | p99.9 µs | daemon CPU | raw req/s | ratio | ratio, same buffers | allocs/req |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in chosen:
        allocations = r.get("allocations")
        per_request = "n/a" if allocations is None else f"{allocations / max(r['requests'], 1):.3f}"
        failed = f" ({r['failed']} failed)" if r["failed"] else ""
        print(f"| {r['workload']} | {r['size']} | {r['depth']} | {r['queues']} | {r['ops']:,} | {r['mb_s']:.1f} | {r['p50_us']:.1f} | "
              f"{r['p99_us']:.1f} | {r['p999_us']:.1f} | {r['daemon_cpu'] * 100:.0f}% | {r['raw_ops']:,} | {r['ratio']:.3f} | "
              f"{r['ratio_same_buffers']:.3f} | {per_request}{failed} |")
