#!/usr/bin/env python3
"""Turns `virtio-crypto-bench vring --json` lines (stdin) into the Markdown tables of
BENCHMARKS.md: one table per mode, one row per workload/size/depth/queues. Each cell has its
three figures: req/s, the ratio to raw single-request calls (OpenSSL; IPsec-MB's one-buffer call
for SNOW 3G) and the ratio to the best raw path (the fastest of those calls and IPsec-MB's job API
with `depth` jobs in flight), all raw figures on as many threads as the daemon has workers."""
import json
import sys

rows = [json.loads(line) for line in sys.stdin if line.startswith("{")]
for mode in ("session", "stateless"):
    chosen = [r for r in rows if r["mode"] == mode]
    if not chosen:
        continue
    print(f"\n#### {mode} mode\n")
    print("| workload | size | depth | queues | req/s | MB/s | p50 µs | p99 µs | p99.9 µs | daemon CPU | raw threads | "
          "raw req/s | ratio | ratio, same buffers | raw batch req/s | best raw path | ratio to best | allocs/req |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for r in chosen:
        allocations = r.get("allocations")
        per_request = "n/a" if allocations is None else f"{allocations / max(r['requests'], 1):.3f}"
        failed = f" ({r['failed']} failed)" if r["failed"] else ""
        batch = "–" if r.get("batch_ops") is None else f"{r['batch_ops']:,}"
        print(f"| {r['workload']} | {r['size']} | {r['depth']} | {r['queues']} | {r['ops']:,} | {r['mb_s']:.1f} | {r['p50_us']:.1f} | "
              f"{r['p99_us']:.1f} | {r['p999_us']:.1f} | {r['daemon_cpu'] * 100:.0f}% | {r.get('raw_threads', 1)} | {r['raw_ops']:,} | "
              f"{r['ratio']:.3f} | {r['ratio_same_buffers']:.3f} | {batch} | {r.get('best_raw_path', 'single')} | "
              f"{r.get('ratio_best', r['ratio']):.3f} | {per_request}{failed} |")
