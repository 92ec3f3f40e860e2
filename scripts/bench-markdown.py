#!/usr/bin/env python3
"""Turns `virtio-crypto-bench vring --json` lines (stdin) into the Markdown tables of
BENCHMARKS.md: one table per mode, one row per workload/size/depth/queues. Each cell has its
three figures: req/s, the ratio to raw single-request calls (OpenSSL; IPsec-MB's one-buffer call
for SNOW 3G) and the ratio to the best raw path (the fastest of those calls and IPsec-MB's job API
with `depth` jobs in flight), all raw figures on as many threads as the daemon has workers.
A run with several daemons (`--metrics on,off`, `--multi-buffer on,off`) gets each row's
configuration and, for the "on" rows, on ÷ off of req/s (median of the per-round ratios), p50
and p99 against the daemon that differs in that option alone."""
import json
import sys

rows = [json.loads(line) for line in sys.stdin if line.startswith("{")]
configured = len({(r.get("metrics", "off"), r.get("multi_buffer", "on")) for r in rows}) > 1


def versus(row, key):
    c = row.get(key)
    return "–" if c is None else f"{c['ops']:.3f} / {c['p50']:.2f} / {c['p99']:.2f}"


for mode in ("session", "stateless"):
    chosen = [r for r in rows if r["mode"] == mode]
    if not chosen:
        continue
    print(f"\n#### {mode} mode\n")
    print("| workload | size | depth | queues | " + ("metrics | multi-buffer | " if configured else "")
          + "req/s | MB/s | p50 µs | p99 µs | p99.9 µs | daemon CPU | raw threads | "
          "raw req/s | ratio | ratio, same buffers | raw batch req/s | best raw path | ratio to best | allocs/req |"
          + (" metrics on ÷ off: req/s / p50 / p99 | multi-buffer on ÷ off: req/s / p50 / p99 |" if configured else ""))
    print("|---|---:|---:|---:|" + ("---|---|" if configured else "")
          + "---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|" + ("---:|---:|" if configured else ""))
    for r in chosen:
        allocations = r.get("allocations")
        per_request = "n/a" if allocations is None else f"{allocations / max(r['requests'], 1):.3f}"
        failed = f" ({r['failed']} failed)" if r["failed"] else ""
        batch = "–" if r.get("batch_ops") is None else f"{r['batch_ops']:,}"
        config = f"{r.get('metrics', 'off')} | {r.get('multi_buffer', 'on')} | " if configured else ""
        versus_off = (f" {versus(r, 'vs_metrics_off')} | {versus(r, 'vs_multi_buffer_off')} |" if configured else "")
        print(f"| {r['workload']} | {r['size']} | {r['depth']} | {r['queues']} | {config}{r['ops']:,} | {r['mb_s']:.1f} | {r['p50_us']:.1f} | "
              f"{r['p99_us']:.1f} | {r['p999_us']:.1f} | {r['daemon_cpu'] * 100:.0f}% | {r.get('raw_threads', 1)} | {r['raw_ops']:,} | "
              f"{r['ratio']:.3f} | {r['ratio_same_buffers']:.3f} | {batch} | {r.get('best_raw_path', 'single')} | "
              f"{r.get('ratio_best', r['ratio']):.3f} | {per_request}{failed} |{versus_off}")
