"""Run the pairs of ``chai eval quality`` through a runner, score every clip once, aggregate, report.

Per pair (one seed for all four runs): the **miss** (cached prompt, full schedule, into an empty cache), the
**hit** (request prompt, looked up), the **full twin** (request prompt, no cache, full schedule: the reference)
and the **short twin** (request prompt, no cache, the hit's step count). The hit and the short twin are scored
against the full twin (PSNR, SSIM); the hit also against the cached miss (how much of the cached clip it
copies). With a CLIP scorer, the hit and both twins get a CLIP score against the request prompt.

Pixels are compared in [0, 1] (``data_range`` 1). A pipeline without a decoder is compared in latent space with
``data_range`` the full twin's peak-to-peak (max - min) value, per pair.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chai.evaluation.metrics import PSNR_CAP_DB, capped_psnr, paired_bootstrap, ssim
from chai.evaluation.pairs import Pair

__all__ = ["RUNS_PER_PAIR", "SCHEMA", "BootstrapSettings", "SheetRow", "evaluate", "score_pair", "summarize"]

#: The report's schema string (``doc["schema"]``); bumped on any incompatible change.
SCHEMA = "chai.eval.quality/1"

#: Generations per pair: miss, hit, full twin, short twin.
RUNS_PER_PAIR = 4

#: The clips scored against the full twin, by their report key: the hit and the short (hit-length) twin.
_SCORED = ("hit", "short")


@dataclass(frozen=True)
class BootstrapSettings:
    """Paired bootstrap of the summary: ``resamples`` draws of the pairs, central ``confidence`` interval."""

    resamples: int = 10_000
    confidence: float = 0.95
    seed: int = 0


@dataclass
class SheetRow:
    """One row of the contact sheet: the pair's record and a few display frames of each of its four clips."""

    record: dict[str, Any]
    tiles: dict[str, np.ndarray]  # "miss" | "hit" | "full" | "short" -> (n, H, W, 3) uint8


def _pick_frames(display: Any, n: int) -> np.ndarray:
    v = np.asarray(display)
    t = v.shape[0]
    idx = sorted({round(i * (t - 1) / max(1, n - 1)) for i in range(n)})
    return v[idx]


def _data_range(reference: Any) -> float:
    if reference.space == "pixels":
        return 1.0
    ptp = float(np.ptp(reference.values))
    return ptp if ptp > 0 else 1.0


def _scores(clip: Any, reference: Any, data_range: float) -> dict[str, float]:
    return {
        "psnr_db": capped_psnr(clip.values, reference.values, data_range=data_range),
        "ssim": ssim(clip.values, reference.values, data_range=data_range),
    }


def score_pair(pair: Pair, clips: dict[str, Any], outcome: Any, clip_scorer: Any = None) -> dict[str, Any]:
    """The report record of one pair from its four clips (``miss``, ``hit``, ``full``, ``short``)."""
    full = clips["full"]
    dr = _data_range(full)
    rec: dict[str, Any] = {
        "line": pair.line,
        "cached": pair.cached,
        "request": pair.request,
        "seed": pair.seed,
        "outcome": outcome.to_dict(),
        "space": full.space,
        "data_range": dr,
        "hit": _scores(clips["hit"], full, dr),
        "short": _scores(clips["short"], full, dr),
        "hit_to_cached": _scores(clips["hit"], clips["miss"], _data_range(clips["miss"])),
        "clip_score": None,
    }
    if clip_scorer is not None:
        rec["clip_score"] = {k: clip_scorer.score(clips[k].display, pair.request) for k in ("hit", "full", "short")}
    return rec


def evaluate(
    runner: Any,
    pairs: Sequence[Pair],
    *,
    clip_scorer: Any = None,
    sheet_rows: int = 0,
    frames_per_tile: int = 4,
    on_run: Callable[[str], None] | None = None,
) -> tuple[list[dict[str, Any]], list[SheetRow]]:
    """Run and score every pair; returns the per-pair records and the first ``sheet_rows`` sheet rows.

    ``on_run(name)`` is called after each of the :data:`RUNS_PER_PAIR` generations of a pair (progress bars).
    Clips are dropped once scored; only the sheet rows' few frames are kept.
    """
    tick = on_run or (lambda name: None)
    records: list[dict[str, Any]] = []
    rows: list[SheetRow] = []
    for pair in pairs:
        miss, hit, outcome = runner.miss_and_hit(pair.cached, pair.request, pair.seed)
        tick("miss")
        tick("hit")
        clips = {"miss": miss, "hit": hit}
        clips["full"] = runner.plain(pair.request, pair.seed, runner.full_steps)
        tick("full twin")
        clips["short"] = runner.plain(pair.request, pair.seed, runner.hit_steps)
        tick("short twin")
        rec = score_pair(pair, clips, outcome, clip_scorer)
        records.append(rec)
        if len(rows) < sheet_rows:
            rows.append(SheetRow(rec, {k: _pick_frames(c.display, frames_per_tile) for k, c in clips.items()}))
    return records, rows


def _intervals(records: Sequence[dict], settings: BootstrapSettings) -> dict[str, Any]:
    kw = {"resamples": settings.resamples, "confidence": settings.confidence, "seed": settings.seed}
    out: dict[str, Any] = {}
    for arm in _SCORED:
        out[arm] = {m: paired_bootstrap([r[arm][m] for r in records], **kw).to_dict() for m in ("psnr_db", "ssim")}
    out["hit_minus_short"] = {
        m: paired_bootstrap([r["hit"][m] for r in records], [r["short"][m] for r in records], **kw).to_dict()
        for m in ("psnr_db", "ssim")
    }
    scored = [r for r in records if r["clip_score"] is not None]
    if scored:
        out["clip_score"] = {
            k: paired_bootstrap([r["clip_score"][k] for r in scored], **kw).to_dict() for k in ("hit", "full", "short")
        }
    return out


def summarize(records: Sequence[dict], settings: BootstrapSettings) -> dict[str, Any]:
    """Means with paired bootstrap intervals over all pairs, and again over the pairs that hit."""
    hits = [r for r in records if r["outcome"]["hit"]]
    return {
        "pairs": len(records),
        "hits": len(hits),
        "not_hit": [{"line": r["line"], "reason": r["outcome"]["reason"]} for r in records if not r["outcome"]["hit"]],
        "bootstrap": {"resamples": settings.resamples, "confidence": settings.confidence, "seed": settings.seed},
        "psnr_cap_db": PSNR_CAP_DB,
        "all_pairs": _intervals(records, settings),
        "hit_pairs": _intervals(hits, settings) if hits else None,
    }
