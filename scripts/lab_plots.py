#!/usr/bin/env python3
"""Plots a device-lab run (benches/src/bin/lab.rs) from its lab-series.csv.

Usage: lab_plots.py LAB_SERIES_CSV OUT_PREFIX [TITLE]
Writes OUT_PREFIX-resources.png (CPU and resident memory of sotp over time) and
OUT_PREFIX-polls.png (polls per interval by outcome and p99 poll lateness, per collector).
Needs matplotlib (pip install matplotlib).
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    path, prefix = sys.argv[1], sys.argv[2]
    title = sys.argv[3] if len(sys.argv) > 3 else "device lab"
    rows = list(csv.DictReader(open(path)))
    if len(rows) < 2:
        sys.exit(f"{path}: fewer than two samples")
    t = [float(r["seconds"]) / 60 for r in rows]
    col = lambda name: [float(r[name]) for r in rows]  # noqa: E731

    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(t, col("cpu_percent"), color="tab:blue", label="CPU % (200 = both cores)")
    ax.set_xlabel("minutes")
    ax.set_ylabel("CPU %")
    ax.set_ylim(bottom=0)
    ax2 = ax.twinx()
    ax2.plot(t, col("rss_mb"), color="tab:red", label="resident MB")
    if "hot_mb" in rows[0]:
        ax2.plot(t, col("hot_mb"), ":", color="tab:red", label="hot tier MB (Arrow)")
    ax2.set_ylabel("resident memory, MB")
    ax2.set_ylim(bottom=0)
    fig.legend(loc="lower right")
    ax.set_title(f"{title}: sotp CPU and memory")
    fig.tight_layout()
    fig.savefig(f"{prefix}-resources.png", dpi=100)

    fig, (a1, a2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for name, style in [
        ("snmp_ok", "-"),
        ("snmp_partial", ":"),
        ("snmp_failed", "--"),
        ("icmp_ok", "-"),
        ("icmp_failed", "--"),
    ]:
        c = col(name)
        per_step = [b - a for a, b in zip(c, c[1:])]
        a1.plot(t[1:], per_step, style, label=name.replace("_", " "))
    a1.set_ylabel("polls per sample step")
    a1.set_ylim(bottom=0)
    a1.legend(ncol=3, fontsize="small")
    a1.set_title(f"{title}: polls and lateness")
    a2.plot(t, col("snmp_lateness_p99_s"), label="SNMP p99")
    a2.plot(t, col("icmp_lateness_p99_s"), label="ICMP p99")
    a2.set_ylabel("poll start lateness, s")
    a2.set_xlabel("minutes")
    a2.set_ylim(bottom=0)
    a2.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(f"{prefix}-polls.png", dpi=100)


if __name__ == "__main__":
    main()
