"""Reports of the ``chai`` CLI: JSON documents, plain-text summary tables and PNG plots.

Two JSON schemas (documented field by field in ``docs/cli.md``):

- ``chai.run/1`` (``chai demo`` and ``chai run``): ``environment``, ``config``, one record per request
  (``requests``), a ``summary`` and the cache's ``stats()``.
- ``chai.trace/1`` (``chai trace``): trace ``setup`` (resolution, latent shape, entry bytes, step cost)
  and one record per (budget, matching) in ``results``, plus ``entity_vs_prompt`` hit-rate ratios.

Plots are drawn on bare matplotlib ``Figure`` objects (no pyplot, no backend switch, no display needed);
matplotlib is imported only when a plot is written.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from chai.sizes import format_size

__all__ = [
    "RUN_REQUEST_KEYS",
    "RUN_SCHEMA",
    "TIMING_KEYS",
    "TRACE_SCHEMA",
    "environment",
    "format_table",
    "plot_run",
    "plot_trace",
    "run_table",
    "summarize_run",
    "trace_table",
    "twins_table",
    "write_json",
]

RUN_SCHEMA = "chai.run/1"
TRACE_SCHEMA = "chai.trace/1"
TIMING_KEYS = ("lookup", "cache_load", "denoise", "capture", "insert", "decode", "total", "cpu_total")
RUN_REQUEST_KEYS = (
    "index",
    "prompt",
    "hit",
    "steps",
    "entry_id",
    "prompt_entity",
    "cached_entity",
    "score",
    "inserted_entry",
    "timings",
)


def environment(device: str | torch.device = "cpu") -> dict[str, Any]:
    """Where a run happened: versions, device and thread count (reported with every timing)."""
    dev = torch.device(device)
    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(dev),
    }
    if dev.type == "cuda" and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(dev)
    return env


def _mean(xs: Sequence[float]) -> float | None:
    return float(statistics.fmean(xs)) if xs else None


def _median(xs: Sequence[float]) -> float | None:
    return float(statistics.median(xs)) if xs else None


def summarize_run(requests: Sequence[Mapping[str, Any]], *, all_miss_s: float | None = None) -> dict[str, Any]:
    """Summary of a ``chai.run/1`` request list.

    ``all_miss_mean_s`` is the mean measured miss-path latency of this same run, i.e. the expected
    latency of a request without CHAI (every request on the full schedule), unless ``all_miss_s`` gives
    it (measured apart: with a step cache on the misses, this run's misses are not the plain baseline);
    ``speedup_vs_all_miss`` is that divided by the measured mean latency over all requests.
    ``block_evals`` / ``blocks_skipped`` total the transformer blocks run and skipped by the step cache;
    ``miss_block_reduction`` is a miss's block evaluations without it over those with it (1.0 when off). ``hit_to_miss_ratio`` is the mean
    hit latency over the mean miss latency (target <= 0.30 for ``mini``, docs/results.md);
    ``hit_to_miss_cpu_ratio`` is the same with process CPU time, robust to other load on the machine.
    """
    totals = [float(r["timings"]["total"]) for r in requests]
    hits = [float(r["timings"]["total"]) for r in requests if r["hit"]]
    misses = [float(r["timings"]["total"]) for r in requests if not r["hit"]]
    hit_denoise = [float(r["timings"]["denoise"]) for r in requests if r["hit"]]
    miss_denoise = [float(r["timings"]["denoise"]) for r in requests if not r["hit"]]
    cpu_hits = [float(r["timings"]["cpu_total"]) for r in requests if r["hit"] and "cpu_total" in r["timings"]]
    cpu_misses = [float(r["timings"]["cpu_total"]) for r in requests if not r["hit"] and "cpu_total" in r["timings"]]
    n = len(requests)
    mean_all, mean_hit, mean_miss = _mean(totals), _mean(hits), _mean(misses)
    cpu_hit, cpu_miss = _mean(cpu_hits), _mean(cpu_misses)
    overhead = [float(r["timings"]["lookup"]) + float(r["timings"]["cache_load"]) for r in requests if r["hit"]]
    entities = Counter(r["cached_entity"] for r in requests if r["hit"] and r.get("cached_entity"))
    baseline = mean_miss if all_miss_s is None else float(all_miss_s)
    miss_evals = sum(int(r.get("block_evals", 0)) for r in requests if not r["hit"])
    miss_blocks = miss_evals + sum(int(r.get("blocks_skipped", 0)) for r in requests if not r["hit"])
    return {
        "requests": n,
        "hits": len(hits),
        "misses": len(misses),
        "hit_rate": (len(hits) / n) if n else 0.0,
        "total_s": float(sum(totals)),
        "mean_latency_s": mean_all,
        "median_latency_s": _median(totals),
        "mean_hit_s": mean_hit,
        "mean_miss_s": mean_miss,
        "mean_hit_denoise_s": _mean(hit_denoise),
        "mean_miss_denoise_s": _mean(miss_denoise),
        "mean_hit_overhead_s": _mean(overhead),
        "hit_to_miss_ratio": (mean_hit / mean_miss) if (mean_hit is not None and mean_miss) else None,
        "mean_hit_cpu_s": cpu_hit,
        "mean_miss_cpu_s": cpu_miss,
        "hit_to_miss_cpu_ratio": (cpu_hit / cpu_miss) if (cpu_hit is not None and cpu_miss) else None,
        "all_miss_mean_s": baseline,
        "speedup_vs_all_miss": (baseline / mean_all) if (baseline and mean_all) else None,
        "block_evals": sum(int(r.get("block_evals", 0)) for r in requests),
        "blocks_skipped": sum(int(r.get("blocks_skipped", 0)) for r in requests),
        "miss_block_reduction": (miss_blocks / miss_evals) if miss_evals else None,
        "hit_entities": dict(entities.most_common()),
    }


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, align: str | None = None) -> str:
    """A plain-text table with a header rule; ``align`` is one 'l'/'r' per column (default: numbers right)."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    if align is None:
        align = "".join(
            "r" if rows and all(isinstance(r[i], (int, float)) or r[i] is None for r in rows) else "l"
            for i in range(len(headers))
        )

    def fmt(row: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(row, widths, align)).rstrip()

    lines = [fmt(list(headers)), "  ".join("-" * w for w in widths)]
    lines += [fmt(r) for r in cells]
    return "\n".join(lines)


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def _fmt_s(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}s"


#: Cached entities listed by name in the "hits landed on" row of :func:`run_table`; the rest are counted.
HIT_ENTITIES_SHOWN = 6


def run_table(summary: Mapping[str, Any]) -> str:
    """Readable summary of a run (two-column table); a "cache unreachable" row when the summary counts
    ``unavailable_lookups`` / ``unavailable_inserts`` (the CLI adds them from the cache's stats)."""
    ratio = summary.get("hit_to_miss_ratio")
    speed = summary.get("speedup_vs_all_miss")
    cpu_ratio = summary.get("hit_to_miss_cpu_ratio")
    rows = [
        ("requests", summary["requests"]),
        ("hits / misses", f"{summary['hits']} / {summary['misses']}"),
        ("hit rate", f"{100 * summary['hit_rate']:.1f}%"),
        ("mean latency (all)", _fmt_s(summary["mean_latency_s"])),
        ("mean latency (hit)", _fmt_s(summary["mean_hit_s"])),
        ("mean latency (miss)", _fmt_s(summary["mean_miss_s"])),
        ("hit / miss time", "-" if ratio is None else f"{ratio:.3f}x"),
        ("hit / miss CPU time", "-" if cpu_ratio is None else f"{cpu_ratio:.3f}x"),
        ("hit overhead (lookup+load)", _fmt_s(summary.get("mean_hit_overhead_s"))),
        ("all-miss baseline (mean)", _fmt_s(summary["all_miss_mean_s"])),
        ("speedup vs all-miss", "-" if speed is None else f"{speed:.2f}x"),
    ]
    if summary.get("blocks_skipped"):
        red = summary.get("miss_block_reduction")
        rows.append(
            (
                "blocks run / skipped",
                f"{summary['block_evals']} / {summary['blocks_skipped']}"
                + ("" if red is None else f" (a miss runs {red:.2f}x fewer)"),
            )
        )
    down, down_ins = summary.get("unavailable_lookups") or 0, summary.get("unavailable_inserts") or 0
    if down or down_ins:
        what = f"{down} of {summary['requests']} lookups, {down_ins} inserts (ran as misses)"
        rows.append(("cache unreachable", what))
    ents = summary.get("hit_entities") or {}
    if ents:
        shown = list(ents.items())[:HIT_ENTITIES_SHOWN]
        top = ", ".join(f"{k} ({v})" for k, v in shown)
        if len(ents) > len(shown):
            rest = sum(ents.values()) - sum(v for _, v in shown)
            top += f" and {len(ents) - len(shown)} more entities ({rest} hits)"
        rows.append(("hits landed on", top))
    return format_table(["metric", "value"], rows, align="ll")


def twins_table(twins: Sequence[Mapping[str, Any]]) -> str:
    """Per hit, PSNR to its full-schedule twin of the hit and of its plain short twin (``chai demo``'s twins
    records, docs/cli.md), with their means (the difference's over the hits that have both); ``-`` where a PSNR
    is infinite (identical clips)."""

    def db(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f} dB"

    rows, gains = [], []
    for t in twins:
        gain = None if None in (t["psnr_hit_db"], t["psnr_short_db"]) else t["psnr_hit_db"] - t["psnr_short_db"]
        gains += [] if gain is None else [gain]
        rows.append([f"#{t['index'] + 1}", t["match"], db(t["psnr_hit_db"]), db(t["psnr_short_db"]), db(gain)])
    if len(twins) > 1:
        hit = _mean([t["psnr_hit_db"] for t in twins if t["psnr_hit_db"] is not None])
        short = _mean([t["psnr_short_db"] for t in twins if t["psnr_short_db"] is not None])
        rows.append([f"mean of {len(twins)}", "", db(hit), db(short), db(_mean(gains))])
    steps = f"{twins[0]['short_steps']} steps" if twins else "short"
    return format_table(["hit", "match", "hit (cache)", f"plain {steps}", "hit - plain"], rows, align="llrrr")


def trace_table(results: Sequence[Mapping[str, Any]]) -> str:
    """Hit rate and projected latency per (budget, matching); ``refused``: entries larger than the budget."""
    rows = []
    for r in results:
        rows.append(
            [
                format_size(r["budget_bytes"]),
                r["matching"],
                r["hits"],
                r["misses"],
                f"{100 * r['hit_rate']:.1f}%",
                r["evictions"],
                r.get("refused", 0),
                r["entries_end"],
                f"{r['mean_latency_s']:.2f}s",
                f"{r['speedup']:.2f}x",
            ]
        )
    return format_table(
        [
            "budget",
            "matching",
            "hits",
            "misses",
            "hit rate",
            "evictions",
            "refused",
            "entries",
            "proj. latency",
            "speedup",
        ],
        rows,
        align="llrrrrrrrr",
    )


def write_json(path: str | os.PathLike, doc: Mapping[str, Any]) -> Path:
    """Write ``doc`` as indented JSON (atomic: temporary file then rename)."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=False, default=_json_default) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (torch.dtype, torch.device, Path)):
        return str(obj)
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def now_iso() -> str:
    """UTC timestamp for report headers."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def new_figure(*, figsize: tuple[float, float], dpi: int):
    """A matplotlib ``Figure`` not registered with pyplot: no backend is selected and no global state is
    touched, so writing a plot never changes the caller's matplotlib set-up (``Figure.savefig`` renders
    PNG with Agg on its own)."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, dpi=dpi)


def plot_run(path: str | os.PathLike, requests: Sequence[Mapping[str, Any]], *, title: str = "chai run") -> Path:
    """Per-request latency bars, hits and misses in different colours, with the mean lines."""
    path = Path(path)
    xs = [int(r["index"]) for r in requests]
    ys = [float(r["timings"]["total"]) for r in requests]
    colors = ["tab:green" if r["hit"] else "tab:red" for r in requests]
    fig = new_figure(figsize=(max(6.0, 0.25 * len(xs) + 2), 4.0), dpi=100)
    ax = fig.subplots()
    ax.bar(xs, ys, color=colors, width=0.8)
    s = summarize_run(requests)
    if s["mean_miss_s"] is not None:
        ax.axhline(s["mean_miss_s"], color="tab:red", ls="--", lw=1, label=f"mean miss {s['mean_miss_s']:.2f}s")
    if s["mean_hit_s"] is not None:
        ax.axhline(s["mean_hit_s"], color="tab:green", ls="--", lw=1, label=f"mean hit {s['mean_hit_s']:.2f}s")
    if s["mean_latency_s"] is not None:
        ax.axhline(s["mean_latency_s"], color="black", ls=":", lw=1, label=f"mean all {s['mean_latency_s']:.2f}s")
    from matplotlib.patches import Patch

    handles, _ = ax.get_legend_handles_labels()
    handles = [
        Patch(color="tab:red", label="miss (full schedule)"),
        Patch(color="tab:green", label="hit (cache)"),
    ] + handles
    ax.legend(handles=handles, fontsize=8, loc="upper right")
    ax.set_xlabel("request")
    ax.set_ylabel("latency (s)")
    ax.set_title(f"{title}: {s['hits']}/{s['requests']} hits")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def plot_trace(path: str | os.PathLike, results: Sequence[Mapping[str, Any]], *, title: str = "chai trace") -> Path:
    """Two panels: hit rate against cache budget, and projected mean latency against budget, per matching."""
    path = Path(path)
    fig = new_figure(figsize=(10, 4), dpi=100)
    ax1, ax2 = fig.subplots(1, 2)
    by_match: dict[str, list[Mapping[str, Any]]] = {}
    for r in results:
        by_match.setdefault(r["matching"], []).append(r)
    baseline = None
    for matching, rs in by_match.items():
        rs = sorted(rs, key=lambda r: r["budget_bytes"])
        xs = [r["budget_bytes"] / 1e6 for r in rs]
        ax1.plot(xs, [100 * r["hit_rate"] for r in rs], marker="o", label=matching)
        ax2.plot(xs, [r["mean_latency_s"] for r in rs], marker="o", label=matching)
        baseline = rs[0]["all_miss_latency_s"]
    if baseline is not None:
        ax2.axhline(baseline, color="black", ls=":", lw=1, label=f"all-miss {baseline:.2f}s")
    budgets = sorted({r["budget_bytes"] for r in results})
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_xticks([b / 1e6 for b in budgets])
        ax.set_xticklabels([format_size(b) for b in budgets])
        ax.minorticks_off()
        ax.set_xlabel("cache budget")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    ax1.set_ylabel("hit rate (%)")
    ax1.set_ylim(0, 100)
    ax2.set_ylabel("projected mean latency (s)")
    ax2.set_ylim(bottom=0)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def is_tty() -> bool:
    """Whether stderr is a terminal (progress bars are shown only then, unless forced)."""
    try:
        return sys.stderr.isatty()
    except Exception:  # noqa: BLE001
        return False
