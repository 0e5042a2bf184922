"""Trace replay: hit rate and projected latency of a prompt trace against cache budget, without the model.

``chai trace`` is a thin wrapper over :func:`run_trace`. A trace is replayed once per (budget, matching)
through a real :class:`chai.cache.LatentCache` (the real entity extractor, embedder, vector index and LRU
store) holding entries of the real size: three noisy latents of the request shape, quantized as
configured, plus one (T, S) token mask per key, exactly what :class:`chai.CHAIPipeline` stores. Every
miss inserts; every hit is counted with the cached entity it landed on.

Latency is projected from a per-step cost (seconds per denoising step, CFG included), either given or
measured by :func:`measure_step_cost`, which times **one model step** (one forward pass of the CFG batch)
of a model at the request's latent shape:

* miss: ``fixed_cost + steps_full * step_cost + lookup + insert`` (lookup and insert measured);
* hit: ``fixed_cost + steps_hit * step_cost + lookup``;
* all-miss baseline: ``fixed_cost + steps_full * step_cost``; ``speedup = baseline / mean``.

A budget smaller than one entry could never hold anything; :func:`check_budget` refuses it up front
(the CLI applies the same check to ``chai run`` and ``chai demo``). An entry that is still larger than
its budget (a prompt with many entities) is counted in the ``refused`` column instead of being stored.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from chai.sizes import format_size

__all__ = [
    "BudgetTooSmallError",
    "MemoExtractor",
    "TraceConfig",
    "check_budget",
    "entry_floor_bytes",
    "measure_step_cost",
    "run_trace",
    "token_grid",
]

#: Latents stored per entry (one per Cache Attention step of a hit: 2, 3, 4).
LATENTS_PER_ENTRY = 3


class BudgetTooSmallError(ValueError):
    """A cache budget below the size of one entry: nothing could ever be cached."""


class MemoExtractor:
    """Wraps an entity extractor so that a prompt replayed at several budgets is parsed once."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.name = getattr(inner, "name", type(inner).__name__)
        self._memo: dict[str, list[str]] = {}

    def extract(self, prompt: str) -> list[str]:
        out = self._memo.get(prompt)
        if out is None:
            out = list(self.inner.extract(prompt))
            self._memo[prompt] = out
        return list(out)


def token_grid(shape: Sequence[int], patch: Sequence[int] = (1, 2, 2)) -> tuple[int, int]:
    """(T, S) of STDiT3's token grid for a latent (C, T, H, W) with ``patch`` (padded up)."""
    pt, ph, pw = (int(p) for p in patch)
    _, t, h, w = (int(s) for s in shape)
    return -(-t // pt), (-(-h // ph)) * (-(-w // pw))


def entry_floor_bytes(
    shape: Sequence[int], *, quant_dtype: torch.dtype, dim: int, prompt_chars: int, mask_shape: tuple[int, int]
) -> int:
    """Bytes of the smallest entry a request of latent ``shape`` (C, T, H, W) can store: three latents of
    ``quant_dtype``, one entity key of ``dim`` with its (T, S) mask, a prompt of ``prompt_chars``."""
    from chai.cache import entry_nbytes_estimate

    return entry_nbytes_estimate(
        (1, *shape),
        LATENTS_PER_ENTRY,
        quant_dtype=quant_dtype,
        n_entities=1,
        dim=dim,
        prompt_chars=prompt_chars,
        entity_chars=1,
        mask_shape=mask_shape,
    )


def check_budget(budget: int, floor: int, *, flag: str, what: str) -> None:
    """Raise :class:`BudgetTooSmallError` when ``budget`` bytes cannot hold one entry of ``floor`` bytes.

    ``flag`` names the option the budget came from; ``what`` describes the entry (clip size, dtype).
    """
    if budget < floor:
        raise BudgetTooSmallError(
            f"{flag} {format_size(budget)} is smaller than one cache entry: an entry of {what} needs at least "
            f"{format_size(floor)}, so nothing could ever be cached. HINT: use a budget of {format_size(floor * 4)} "
            "or more, or a smaller --resolution / --frames."
        )


def measure_step_cost(
    model: torch.nn.Module,
    shape: Sequence[int],
    *,
    height: int,
    width: int,
    device: str,
    seed: int = 0,
    repeats: int = 2,
) -> float:
    """Seconds of one denoising step of ``model``: one forward pass of the CFG batch of 2 at latent ``shape``
    (C, T, H, W), the median of ``repeats`` timings after a warm-up (CUDA synchronised)."""
    c_cap, length = int(model.config.caption_channels), int(model.config.model_max_length)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((2, *shape), generator=g).to(device)
    y = torch.randn((2, 1, length, c_cap), generator=g).to(device)
    kw = {
        "mask": torch.ones(1, length, dtype=torch.long, device=device),
        "fps": torch.full((2,), 24.0, device=device),
        "height": torch.full((2,), float(height), device=device),
        "width": torch.full((2,), float(width), device=device),
    }
    t = torch.full((2,), 900.0, device=device)
    cuda = str(device).startswith("cuda")
    times = []
    with torch.no_grad():
        model(x, t, y, **kw)  # warm-up: first-call allocations and kernel selection are not a step's cost
        for _ in range(repeats):
            if cuda:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            model(x, t, y, **kw)
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    return float(statistics.median(times))


@dataclass
class TraceConfig:
    """What :func:`run_trace` replays.

    budgets: cache budgets in bytes; matchings: "entity" and/or "prompt"; shape: latent (C, T, H, W) of
    every request; step_cost / fixed_cost: seconds per denoising step and per request outside denoising;
    steps_full / steps_hit: schedules of a miss and a hit; threshold: cosine threshold (None: the
    cache's default); quant_dtype: latent storage dtype; warmup: first requests that fill the cache
    without being counted; seed: of the stand-in latents and masks.
    """

    budgets: Sequence[int]
    matchings: Sequence[str]
    shape: tuple[int, int, int, int]
    step_cost: float
    fixed_cost: float = 0.0
    steps_full: int = 30
    steps_hit: int = 8
    threshold: float | None = None
    quant_dtype: torch.dtype = torch.int8
    warmup: int = 0
    seed: int = 0

    @property
    def full_s(self) -> float:
        return self.fixed_cost + self.steps_full * self.step_cost

    @property
    def hit_s(self) -> float:
        return self.fixed_cost + self.steps_hit * self.step_cost


def _open_cache(cfg: TraceConfig, budget: int, matching: str, embedder: Any, extractor: Any):
    # The trace's only contact with the cache's constructor: an in-memory cache per (budget, matching).
    from chai.cache import LatentCache

    kw: dict[str, Any] = {"matching": matching, "embedder": embedder, "extractor": extractor}
    if cfg.threshold is not None:
        kw["threshold"] = cfg.threshold
    return LatentCache(budget, namespace="trace", quant_dtype=cfg.quant_dtype, **kw)


def _pct(xs: Sequence[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return float(s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))])


def _replay(prompts: Sequence[str], cfg: TraceConfig, budget: int, matching: str, parts: dict, tick) -> dict:
    hits = misses = refused = 0
    lookups: list[float] = []
    inserts: list[float] = []
    lat: list[float] = []
    ents: Counter[str] = Counter()
    entry_bytes = None
    with _open_cache(cfg, budget, matching, parts["embedder"], parts["extractor"]) as cache:
        for i, prompt in enumerate(prompts):
            counted = i >= cfg.warmup
            t0 = time.perf_counter()
            looked = cache.lookup(prompt, shape=(1, *cfg.shape))
            t_lookup = time.perf_counter() - t0
            m = looked.match
            if m is not None:
                if counted:
                    hits += 1
                    ents[str(m.cached_entity)] += 1
                    lat.append(cfg.hit_s + t_lookup)
                    lookups.append(t_lookup)
            else:
                # One (T, S) mask per key, as the pipeline stores them, so entry sizes are real.
                masks = {k: parts["mask"] for k in looked.keys}
                t0 = time.perf_counter()
                try:
                    cache.insert(prompt, parts["latents"], entity_masks=masks or None, lookup=looked)
                except ValueError:
                    refused += counted  # this entry alone is larger than the whole budget
                t_insert = time.perf_counter() - t0
                if entry_bytes is None and len(cache):
                    entry_bytes = cache.stats()["bytes_used"] / len(cache)
                if counted:
                    misses += 1
                    lat.append(cfg.full_s + t_lookup + t_insert)
                    lookups.append(t_lookup)
                    inserts.append(t_insert)
            tick()
        stats = cache.stats()
    n = hits + misses
    mean_lat = float(statistics.fmean(lat)) if lat else 0.0
    return {
        "budget_bytes": budget,
        "matching": matching,
        "requests": n,
        "hits": hits,
        "misses": misses,
        "hit_rate": hits / n if n else 0.0,
        "evictions": int(stats.get("evictions", 0)),
        "refused": refused,
        "entries_end": int(stats.get("entries", 0)),
        "bytes_used_end": int(stats.get("bytes_used", 0)),
        "entry_bytes": entry_bytes,
        "mean_latency_s": mean_lat,
        "all_miss_latency_s": cfg.full_s,
        "speedup": (cfg.full_s / mean_lat) if mean_lat > 0 else None,
        "lookup_ms_p50": None if not lookups else 1e3 * _pct(lookups, 0.5),
        "lookup_ms_p95": None if not lookups else 1e3 * _pct(lookups, 0.95),
        "insert_ms_p50": None if not inserts else 1e3 * _pct(inserts, 0.5),
        "hit_entities": dict(ents.most_common(15)),
    }


def run_trace(
    prompts: Sequence[str],
    cfg: TraceConfig,
    *,
    embedder: Any,
    extractor: Any,
    on_request: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Replay ``prompts`` once per (matching, budget) of ``cfg``.

    Returns ``{"entry_bytes", "results", "entity_vs_prompt", "extractor"}``: the mean bytes of an entry as
    the cache counts them, one record per replay (the ``results`` of the ``chai.trace/1`` schema), per
    budget replayed with both matchings the entity hit rate over the prompt hit rate (None when prompt
    had no hit), and the extractor's name.
    ``on_request()`` is called after every replayed request (progress bars).

    Raises :class:`BudgetTooSmallError` before replaying anything when a budget cannot hold one entry.
    """
    if cfg.warmup >= len(prompts):
        raise ValueError(f"warmup={cfg.warmup} leaves no request to count ({len(prompts)} prompts).")
    mask_shape = token_grid(cfg.shape)
    floor = entry_floor_bytes(
        cfg.shape,
        quant_dtype=cfg.quant_dtype,
        dim=int(embedder.dim),
        prompt_chars=min(len(p) for p in prompts),
        mask_shape=mask_shape,
    )
    what = f"latent {tuple(cfg.shape)} x {LATENTS_PER_ENTRY} ({str(cfg.quant_dtype).replace('torch.', '')})"
    for b in cfg.budgets:
        check_budget(b, floor, flag="--budgets", what=what)
    gen = torch.Generator().manual_seed(cfg.seed)
    # Three noisy latents of the request shape stand in for the captured ones: the cache stores and
    # quantizes them exactly as in the pipeline, so entry sizes are real.
    parts = {
        "latents": [torch.randn((1, *cfg.shape), generator=gen) for _ in range(LATENTS_PER_ENTRY)],
        "mask": torch.rand(mask_shape, generator=gen) < 0.5,
        "embedder": embedder,
        # Parsed once for every replay: spaCy dominates a replay's time otherwise.
        "extractor": MemoExtractor(extractor),
    }
    tick = on_request or (lambda: None)
    results = [_replay(prompts, cfg, b, m, parts, tick) for m in cfg.matchings for b in cfg.budgets]
    ratios: dict[str, float | None] = {}
    for b in cfg.budgets:
        by = {r["matching"]: r for r in results if r["budget_bytes"] == b}
        if "entity" in by and "prompt" in by:
            pe, pp = by["entity"]["hit_rate"], by["prompt"]["hit_rate"]
            ratios[str(b)] = (pe / pp) if pp > 0 else None
    entry_bytes = next((r["entry_bytes"] for r in results if r["entry_bytes"]), None)
    return {
        "entry_bytes": entry_bytes,
        "results": results,
        "entity_vs_prompt": ratios,
        "extractor": parts["extractor"].name,
    }
