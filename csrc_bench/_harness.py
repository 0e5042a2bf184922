"""Shared benchmark harness: timing, device peaks and result rows.

Small API used by every ``csrc_bench/bench_*.py`` file::

    from csrc_bench import _harness as H

    dev = H.bench_device()                      # torch.device("cuda") when present, else cpu
    t = H.time_fn(fn, device=dev)               # Timing(median_ms, p20_ms, p80_ms, reps)
    name = H.device_name(dev)                   # "NVIDIA H100 80GB HBM3" / "cpu (x86_64, 2 cores)"
    H.peak_tflops(name, torch.bfloat16)         # dense tensor-core peak, None when unknown (CPU)
    H.peak_gbps(name)                           # HBM bandwidth, None when unknown
    row = H.make_row(bench="cache_attention", case="240p-spatial", provider="chai-triton",
                     dtype=torch.bfloat16, timing=t, flops=..., nbytes=..., baseline_ms=...,
                     device=dev, extra={"frac": 0.25})
    H.write_rows([row, ...])                    # upserts csrc_bench/results/<device-slug>.csv (+ .json)
    print(H.format_table([row, ...]))

Timing: on CUDA ``triton.testing.do_bench`` with quantiles (0.5, 0.2, 0.8), which flushes L2 and
synchronises; on CPU a ``time.perf_counter`` loop (after warm-up) whose median and 20th/80th
percentiles are reported the same way. ``time_op`` additionally measures the op including its
Python/launch overhead (synchronised wall clock per call), which matters for CHAI's small per-step ops.

Rows carry the device name, torch and triton versions and the git SHA (read from ``.git`` files;
no git command is run). ``write_rows`` keys rows by (bench, case, provider, dtype, extra) and
replaces older rows with the same key, so the checked-in CSV stays one row per measurement.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch

__all__ = [
    "Timing",
    "PEAKS",
    "bench_device",
    "device_name",
    "device_slug",
    "peak_tflops",
    "peak_gbps",
    "time_fn",
    "time_op",
    "sync",
    "env_info",
    "git_sha",
    "make_row",
    "write_rows",
    "format_table",
    "RESULTS_DIR",
    "COLUMNS",
]

RESULTS_DIR = Path(__file__).resolve().parent / "results"
_REPO_ROOT = Path(__file__).resolve().parent.parent

# Dense (no sparsity) peaks from the vendor data sheets. tflops are per dtype; "float32" is plain
# fp32 FMA throughput (tf32 tensor cores are not used by the kernels at default precision).
# Order matters: the first key found in the device name wins (so "H100 PCIe" before "H100").
PEAKS: dict[str, dict[str, float]] = {
    "H200": {"bfloat16": 989.0, "float16": 989.0, "float32": 67.0, "int8": 1979.0, "gbps": 4800.0},
    "H100 NVL": {"bfloat16": 835.0, "float16": 835.0, "float32": 60.0, "int8": 1671.0, "gbps": 3900.0},
    "H100 PCIe": {"bfloat16": 756.0, "float16": 756.0, "float32": 51.0, "int8": 1513.0, "gbps": 2000.0},
    "H100": {"bfloat16": 989.0, "float16": 989.0, "float32": 67.0, "int8": 1979.0, "gbps": 3350.0},
    "A100": {"bfloat16": 312.0, "float16": 312.0, "float32": 19.5, "int8": 624.0, "gbps": 2039.0},
}

COLUMNS = [
    "bench",
    "case",
    "provider",
    "dtype",
    "extra",
    "median_ms",
    "p20_ms",
    "p80_ms",
    "reps",
    "tflops",
    "pct_peak_flops",
    "gbps",
    "pct_peak_bw",
    "ratio_to_baseline",
    "baseline",
    "device",
    "torch",
    "triton",
    "git_sha",
    "timestamp",
]


@dataclass(frozen=True)
class Timing:
    """Milliseconds per call: median and the 20th / 80th percentiles over ``reps`` calls."""

    median_ms: float
    p20_ms: float
    p80_ms: float
    reps: int


def bench_device() -> torch.device:
    """CUDA when available (probed lazily, at call time), else CPU."""
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def device_name(device: torch.device | str | None = None) -> str:
    """Human-readable device name; CPU names carry the architecture and core count."""
    device = torch.device(device) if device is not None else bench_device()
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.machine()}, {os.cpu_count()} cores)"


def device_slug(name: str) -> str:
    """File-name-safe slug of a device name: 'NVIDIA H100 80GB HBM3' -> 'nvidia-h100-80gb-hbm3'."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "unknown"


def _peak_entry(name: str) -> dict[str, float] | None:
    for key, entry in PEAKS.items():
        if key.lower() in name.lower():
            return entry
    return None


def peak_tflops(name: str, dtype: torch.dtype | str) -> float | None:
    """Dense peak TFLOP/s of the device for ``dtype``; None for unknown devices (CPU)."""
    entry = _peak_entry(name)
    if entry is None:
        return None
    key = str(dtype).replace("torch.", "")
    if key.startswith("float8"):
        key = "int8"  # fp8 and int8 tensor-core peaks are equal on Hopper
    return entry.get(key)


def peak_gbps(name: str) -> float | None:
    """Peak memory bandwidth in GB/s; None for unknown devices (CPU)."""
    entry = _peak_entry(name)
    return None if entry is None else entry["gbps"]


def sync(device: torch.device | str | None) -> None:
    """Synchronise the device (no-op on CPU)."""
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _quantiles(samples_ms: Sequence[float]) -> Timing:
    xs = sorted(samples_ms)
    n = len(xs)

    def q(p: float) -> float:
        if n == 1:
            return xs[0]
        pos = p * (n - 1)
        lo, hi = math.floor(pos), math.ceil(pos)
        return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)

    return Timing(median_ms=statistics.median(xs), p20_ms=q(0.2), p80_ms=q(0.8), reps=n)


def time_fn(
    fn: Callable[[], Any],
    *,
    device: torch.device | str | None = None,
    warmup: int | None = None,
    rep: int | None = None,
    max_seconds: float = 2.0,
) -> Timing:
    """Time ``fn()``.

    CUDA: ``triton.testing.do_bench(fn, warmup=warmup_ms, rep=rep_ms, quantiles=[0.5, 0.2, 0.8])``
    (``warmup`` / ``rep`` are milliseconds there, defaults 25 / 100). CPU: ``warmup`` calls (default 1)
    then up to ``rep`` timed calls (default 10), stopping early once ``max_seconds`` is spent.
    """
    device = torch.device(device) if device is not None else bench_device()
    if device.type == "cuda":
        import triton.testing

        med, p20, p80 = triton.testing.do_bench(fn, warmup=warmup or 25, rep=rep or 100, quantiles=[0.5, 0.2, 0.8])
        return Timing(median_ms=float(med), p20_ms=float(p20), p80_ms=float(p80), reps=-1)
    for _ in range(1 if warmup is None else warmup):
        fn()
    samples = []
    budget_end = time.perf_counter() + max_seconds
    for _ in range(rep or 10):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
        if time.perf_counter() > budget_end:
            break
    return _quantiles(samples)


def time_op(
    fn: Callable[[], Any], *, device: torch.device | str | None = None, warmup: int = 3, rep: int = 20
) -> Timing:
    """Synchronised wall clock per call, including Python and launch overhead (any device)."""
    device = torch.device(device) if device is not None else bench_device()
    for _ in range(warmup):
        fn()
    sync(device)
    samples = []
    for _ in range(rep):
        t0 = time.perf_counter()
        fn()
        sync(device)
        samples.append((time.perf_counter() - t0) * 1e3)
    return _quantiles(samples)


def git_sha(root: Path | None = None) -> str:
    """HEAD commit read from the ``.git`` files (no git process); 'unknown' when not a checkout.

    ``CHAI_GIT_SHA`` in the environment wins: a copied working tree (a device lease) can carry a stale
    ``.git``, so the lease command passes the SHA it was started from.
    """
    if os.environ.get("CHAI_GIT_SHA"):
        return os.environ["CHAI_GIT_SHA"].strip()[:12]
    gitdir = (root or _REPO_ROOT) / ".git"
    try:
        head = (gitdir / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head[:12]
        ref = head.split(None, 1)[1]
        ref_file = gitdir / ref
        if ref_file.exists():
            return ref_file.read_text().strip()[:12]
        packed = gitdir / "packed-refs"
        if packed.exists():
            for line in packed.read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split()[0][:12]
    except OSError:
        pass
    return "unknown"


def env_info(device: torch.device | str | None = None) -> dict[str, str]:
    """Device name and software versions stamped on every row."""
    try:
        import importlib.metadata as md

        triton_version = md.version("triton")
    except Exception:
        triton_version = "not installed"
    return {
        "device": device_name(device),
        "torch": torch.__version__,
        "triton": triton_version,
        "git_sha": git_sha(),
    }


def make_row(
    *,
    bench: str,
    case: str,
    provider: str,
    dtype: torch.dtype | str,
    timing: Timing | None,
    flops: float | None = None,
    nbytes: float | None = None,
    baseline_ms: float | None = None,
    baseline: str = "",
    device: torch.device | str | None = None,
    extra: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One result row. ``flops`` / ``nbytes`` per call give TFLOP/s and GB/s and their % of peak;
    ``baseline_ms`` (from the same run) gives ``ratio_to_baseline = median_ms / baseline_ms``.
    ``timing=None`` records a provider that could not run (reason in ``extra['skipped']``)."""
    env = env or env_info(device)
    name = env["device"]
    row: dict[str, Any] = {c: "" for c in COLUMNS}
    row.update(bench=bench, case=case, provider=provider, dtype=str(dtype).replace("torch.", ""))
    row["extra"] = json.dumps(extra or {}, sort_keys=True)
    row.update(env)
    row["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    row["baseline"] = baseline
    if timing is None:
        return row
    ms = timing.median_ms
    row.update(median_ms=round(ms, 5), p20_ms=round(timing.p20_ms, 5), p80_ms=round(timing.p80_ms, 5), reps=timing.reps)
    if flops is not None and ms > 0:
        tflops = flops / (ms * 1e-3) / 1e12
        row["tflops"] = round(tflops, 4)
        peak = peak_tflops(name, dtype)
        row["pct_peak_flops"] = "unknown" if peak is None else round(100.0 * tflops / peak, 2)
    if nbytes is not None and ms > 0:
        gbps = nbytes / (ms * 1e-3) / 1e9
        row["gbps"] = round(gbps, 3)
        peak = peak_gbps(name)
        row["pct_peak_bw"] = "unknown" if peak is None else round(100.0 * gbps / peak, 2)
    if baseline_ms:
        row["ratio_to_baseline"] = round(ms / baseline_ms, 4)
    return row


def _key(row: dict[str, Any]) -> tuple:
    return (row["bench"], row["case"], row["provider"], row["dtype"], row["extra"])


def write_rows(rows: Iterable[dict[str, Any]], *, results_dir: Path | str | None = None) -> Path:
    """Upsert ``rows`` into ``<results_dir>/<device-slug>.csv`` and mirror it as JSON. Returns the CSV path."""
    rows = list(rows)
    if not rows:
        raise ValueError("write_rows got no rows.\nHINT: pass the rows returned by make_row().")
    results_dir = Path(results_dir) if results_dir is not None else RESULTS_DIR
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{device_slug(rows[0]['device'])}.csv"
    merged: dict[tuple, dict[str, Any]] = {}
    if path.exists():
        with path.open(newline="") as f:
            for old in csv.DictReader(f):
                old = {c: old.get(c, "") for c in COLUMNS}
                merged[_key(old)] = old
    for row in rows:
        merged[_key(row)] = {c: row.get(c, "") for c in COLUMNS}
    ordered = sorted(merged.values(), key=lambda r: (r["bench"], r["case"], r["dtype"], r["extra"], r["provider"]))
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(ordered)
    path.with_suffix(".json").write_text(json.dumps(ordered, indent=1) + "\n")
    return path


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Plain-text table of ``rows`` (defaults to the interesting columns)."""
    columns = list(
        columns
        or ["case", "dtype", "extra", "provider", "median_ms", "tflops", "pct_peak_flops", "gbps", "ratio_to_baseline"]
    )
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)
