"""The run report: summary (JSON and Markdown) and a timeline plot (PNG)."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from chaos.checker import Verdict
from chaos.history import Op


def failover_times(ops: list[Op], faults: list[dict[str, Any]]) -> None:
    """For each fault: seconds from injection to the first acknowledged write that was
    *sent* after it (a write already in flight says nothing about the faulty cluster)."""
    oks = sorted((o.time - (o.duration or 0.0), o.time) for o in ops
                 if o.f == "submit" and o.type == "ok")
    for fault in faults:
        after = next((done for sent, done in oks if sent >= fault["start"]), None)
        fault["first_ack_after_s"] = None if after is None else round(after - fault["start"], 3)


def summarize(meta: dict[str, Any], ops: list[Op], faults: list[dict[str, Any]],
              verdict: Verdict) -> dict[str, Any]:
    failover_times(ops, faults)
    per_kind: dict[str, list[float]] = defaultdict(list)
    for f in faults:
        if f["first_ack_after_s"] is not None:
            per_kind[f["name"]].append(f["first_ack_after_s"])
    return {
        **meta,
        "faults_injected": len(faults),
        "faults": faults,
        "failover_median_s": {k: round(statistics.median(v), 3) for k, v in sorted(per_kind.items())},
        **verdict.stats,
        "violations": [{"rule": v.rule, "detail": v.detail, "ops": v.ops} for v in verdict.violations],
        "ok": verdict.ok,
    }


def write(out: Path, summary: dict[str, Any], ops: list[Op]) -> None:
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "summary.md").write_text(markdown(summary))
    plot(out / "timeline.png", summary, ops)


def markdown(s: dict[str, Any]) -> str:
    lines = [
        f"# Chaos run: profile {s['profile']}, seed {s['seed']}, mode {s['mode']}",
        "",
        f"- replicas {s['replicas']}, workers {s['workers']}, clients {s['clients']}, "
        f"duration {s['duration_s']:.0f} s",
        f"- faults injected: {s['faults_injected']}; operations: {s.get('operations', 0)}; "
        f"acknowledged submits: {s.get('submits_acknowledged', 0)}; unknown outcome: "
        f"{s.get('submits_unknown', 0)}",
        f"- **lost = {s.get('lost', 0)}, duplicated = {s.get('duplicated', 0)}, "
        f"violations = {len(s['violations'])}** -> {'PASS' if s['ok'] else 'FAIL'}",
        "",
        "| # | fault | what | start s | healed s | first ack after fault s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for i, f in enumerate(s["faults"], 1):
        first = f["first_ack_after_s"]
        lines.append(f"| {i} | {f['name']} | {f['desc']} | {f['start']:.1f} | {f['end']:.1f} | "
                     f"{'-' if first is None else f'{first:.2f}'} |")
    lines += ["", "Median time from fault to first acknowledged write, per kind:", ""]
    for kind, value in s["failover_median_s"].items():
        lines.append(f"- {kind}: {value:.2f} s")
    if s["violations"]:
        lines += ["", "## Violations", ""]
        lines += [f"- {v['rule']}: {v['detail']} (ops {v['ops'][:5]})" for v in s["violations"][:50]]
    return "\n".join(lines) + "\n"


def plot(path: Path, summary: dict[str, Any], ops: list[Op]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # the report still has every number
        path.with_suffix(".txt").write_text("matplotlib is not installed; no plot\n")
        return
    end = max([o.time for o in ops] + [1.0])
    bins = int(end) + 1
    series = {kind: [0] * bins for kind in ("ok", "fail", "info")}
    for o in ops:
        if o.f == "submit" and o.type in series:
            series[o.type][int(o.time)] += 1
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(12, 6), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1]})
    xs = list(range(bins))
    ax.plot(xs, series["ok"], label="submit ok/s", color="tab:green")
    ax.plot(xs, series["fail"], label="submit fail/s", color="tab:red")
    ax.plot(xs, series["info"], label="submit unknown/s", color="tab:orange")
    for f in summary["faults"]:
        for a in (ax, ax2):
            a.axvspan(f["start"], f["end"], color="tab:gray", alpha=0.2)
        ax.text(f["start"], ax.get_ylim()[1] * 0.95, f["name"], rotation=90, fontsize=7,
                va="top")
    ax.set_ylabel("operations / s")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(f"chaos {summary['profile']} seed {summary['seed']}: lost {summary.get('lost', 0)}, "
                 f"duplicated {summary.get('duplicated', 0)}, "
                 f"{'PASS' if summary['ok'] else 'FAIL'}")
    leaders = sorted({o.leader for o in ops if o.leader})
    for o in ops:
        if o.f == "submit" and o.type == "ok" and o.term is not None:
            ax2.scatter(o.time, o.term, s=4, color=f"C{leaders.index(o.leader)}")
    for i, name in enumerate(leaders):
        ax2.scatter([], [], color=f"C{i}", label=name)
    ax2.set_ylabel("term (color: leader)")
    ax2.set_xlabel("seconds")
    ax2.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
