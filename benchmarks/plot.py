#!/usr/bin/env python3
"""Plot requests/s and p99 latency by connection count, per target and body size,
from a results TSV written by benchmarks/run.sh.

Usage: benchmarks/plot.py [TSV] [PNG]
  TSV defaults to benchmarks/results/full.tsv (or latest.tsv if there is no full.tsv),
  PNG to benchmarks/results/throughput.png.

One column per body size; top row requests/s, bottom row p99 (log scale). Each
line is a target; points are the median over rounds and the bars span min-max.
The x axis is the connection count (log scale). Needs matplotlib
(`pip install matplotlib`).
"""
import csv
import os
import statistics
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
SIZE_ORDER = {"10b": 0, "1k": 1, "64k": 2}
STYLE = {
    "direct": dict(color="0.55", linestyle=":", marker="o"),
    "runtime-proxy": dict(color="tab:red", linestyle="-", marker="o"),
    "runtime-proxy-nolog": dict(color="tab:orange", linestyle="--", marker="s"),
    "nginx": dict(color="tab:green", linestyle="-", marker="^"),
    "haproxy": dict(color="tab:blue", linestyle="-", marker="v"),
}
SIZE_LABEL = {"10b": "10 B body", "1k": "1 KiB body", "64k": "64 KiB body"}


def main():
    tsv = sys.argv[1] if len(sys.argv) > 1 else None
    if tsv is None:
        tsv = os.path.join(RESULTS, "full.tsv")
        if not os.path.exists(tsv):
            tsv = os.path.join(RESULTS, "latest.tsv")
    png = sys.argv[2] if len(sys.argv) > 2 else os.path.join(RESULTS, "throughput.png")

    data = defaultdict(lambda: defaultdict(list))  # (target, size) -> conns -> [(rps, p99)]
    rounds = set()
    with open(tsv) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            data[(row["target"], row["size"])][int(row["conns"])].append((float(row["rps"]), float(row["p99_us"])))
            rounds.add(row["round"])
    sizes = sorted({s for _, s in data}, key=lambda s: SIZE_ORDER.get(s, 9))
    targets = [t for t in STYLE if any((t, s) in data for s in sizes)]
    targets += sorted({t for t, _ in data} - set(targets))

    fig, axes = plt.subplots(2, len(sizes), figsize=(5.2 * len(sizes), 8.2), squeeze=False)
    for col, size in enumerate(sizes):
        ax_rps, ax_p99 = axes[0][col], axes[1][col]
        for target in targets:
            series = data.get((target, size))
            if not series:
                continue
            conns = sorted(series)
            style = STYLE.get(target, {})
            for ax, idx, scale in ((ax_rps, 0, 1.0), (ax_p99, 1, 1e-3)):
                med = [statistics.median(v[idx] for v in series[c]) * scale for c in conns]
                lo = [min(v[idx] for v in series[c]) * scale for c in conns]
                hi = [max(v[idx] for v in series[c]) * scale for c in conns]
                yerr = [[m - l for m, l in zip(med, lo)], [h - m for m, h in zip(med, hi)]]
                ax.errorbar(conns, med, yerr=yerr, label=target, capsize=3, linewidth=1.6, markersize=5, **style)
        for ax in (ax_rps, ax_p99):
            ax.set_xscale("log")
            conns_all = sorted({c for (t, s), v in data.items() if s == size for c in v})
            ax.set_xticks(conns_all)
            ax.set_xticklabels([str(c) for c in conns_all])
            ax.grid(True, which="both", alpha=0.3)
            ax.set_xlabel("connections (wrk -c)")
        ax_rps.set_title(SIZE_LABEL.get(size, size))
        ax_rps.set_ylabel("requests/s (median over rounds; bars: min-max)")
        ax_rps.set_ylim(bottom=0)
        ax_p99.set_yscale("log")
        ax_p99.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax_p99.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax_p99.set_ylabel("p99 latency, ms (log scale)")
    axes[0][0].legend(loc="best", fontsize=9)
    fig.suptitle(f"{os.path.basename(tsv)}: {len(rounds)} rounds per point; wrk -t1 on CPU 1, "
                 "proxy and upstream share CPU 0 (noisy shared 2-CPU machine)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(png, dpi=110)
    print(f"wrote {png} from {tsv}")


if __name__ == "__main__":
    main()
