#!/usr/bin/python3
# Debian's python3 (not a pyenv one): matplotlib comes from the python3-matplotlib package.
"""Draws `virtio-crypto-bench vring --json` lines (stdin, or the files given) as PNG charts:
for each mode, one row per workload and two panels, the ratio to raw single-request calls
and the ratio to the best raw path, against the request size, one line per depth and queue
count. AKCIPHER workloads have one size (a digest) and are left to the tables. Rows of a run
with several daemons (`--metrics on,off`, `--multi-buffer on,off`) are drawn for one daemon
configuration, the default one (metrics off, multi-buffer on) unless --metrics / --multi-buffer
say otherwise; a `--baseline` daemon's rows (another build in the same rounds) are drawn beside
them, faint and dotted, as the "before" of a before/after run.

    scripts/bench-charts.py --output docs/bench results.jsonl
"""
import argparse
import collections
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

# The two figures a cell is judged by, as the JSON names them, with their panel titles.
RATIOS = (
    ("ratio", "daemon ÷ raw single-request calls"),
    ("ratio_best", "daemon ÷ best raw path"),
)
# One colour per depth, one line style per queue count.
DEPTH_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")
QUEUE_STYLES = ("-", "--", ":", "-.")
PANEL_INCHES = (5.5, 2.8)


def read_rows(paths):
    streams = [open(path) for path in paths] if paths else [sys.stdin]
    rows = []
    for stream in streams:
        rows += [json.loads(line) for line in stream if line.startswith("{")]
    return rows


def chart(mode, rows, path):
    by_workload = collections.OrderedDict()
    for row in rows:
        by_workload.setdefault(row["workload"], []).append(row)
    # A workload measured at one size only has no curve to draw.
    workloads = [w for w, cells in by_workload.items() if len({c["size"] for c in cells}) > 1]
    if not workloads:
        return False
    depths = sorted({r["depth"] for r in rows})
    queues = sorted({r["queues"] for r in rows})
    figure, axes = plt.subplots(
        len(workloads), len(RATIOS), squeeze=False,
        figsize=(PANEL_INCHES[0] * len(RATIOS), PANEL_INCHES[1] * len(workloads)))
    for line, workload in enumerate(workloads):
        cells = by_workload[workload]
        for column, (key, title) in enumerate(RATIOS):
            axis = axes[line][column]
            for baseline in (False, True):
                for depth_index, depth in enumerate(depths):
                    for queue_index, queue_count in enumerate(queues):
                        points = sorted((c["size"], c[key]) for c in cells
                                        if c["depth"] == depth and c["queues"] == queue_count and key in c
                                        and c.get("baseline", False) == baseline)
                        if not points:
                            continue
                        label = f"depth {depth}, {queue_count} queue{'s' if queue_count > 1 else ''}"
                        axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3,
                                  color=DEPTH_COLOURS[depth_index % len(DEPTH_COLOURS)],
                                  linestyle=":" if baseline else QUEUE_STYLES[queue_index % len(QUEUE_STYLES)],
                                  alpha=0.45 if baseline else 1.0,
                                  label=f"baseline, {label}" if baseline else label)
            axis.set_xscale("log", base=2)
            sizes = sorted({c["size"] for c in cells})
            axis.set_xticks(sizes)
            axis.set_xticklabels([str(s) for s in sizes])
            axis.axhline(1.0, color="grey", linewidth=0.8)
            axis.set_ylim(bottom=0)
            axis.grid(True, alpha=0.3)
            axis.set_title(f"{workload}: {title}", fontsize=9)
            axis.set_xlabel("request bytes", fontsize=8)
            axis.tick_params(labelsize=7)
            paths = sorted({c.get("best_raw_path", "single") for c in cells})
            if column == 0:
                axis.set_ylabel("ratio", fontsize=8)
                axis.legend(fontsize=6, loc="best")
            else:
                axis.set_title(f"{workload}: {title}\n(best raw path in its cells: {', '.join(paths)})", fontsize=8)
    figure.suptitle(f"virtio-crypto-bench vring, {mode} mode", fontsize=11)
    figure.tight_layout(rect=(0, 0, 1, 0.985))
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=".", help="directory for vring-<mode>.png")
    parser.add_argument("--metrics", choices=("on", "off"), default="off", help="the daemon configuration drawn")
    parser.add_argument("--multi-buffer", choices=("on", "off"), default="on", help="the daemon configuration drawn")
    parser.add_argument("files", nargs="*", help="JSON lines (default: standard input)")
    arguments = parser.parse_args()
    # Rows from before the configuration fields were written are the default configuration.
    rows = [r for r in read_rows(arguments.files)
            if r.get("metrics", "off") == arguments.metrics and r.get("multi_buffer", "on") == arguments.multi_buffer]
    os.makedirs(arguments.output, exist_ok=True)
    for mode in ("session", "stateless"):
        path = os.path.join(arguments.output, f"vring-{mode}.png")
        if chart(mode, [r for r in rows if r["mode"] == mode], path):
            print(path)


if __name__ == "__main__":
    main()
