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

With a step cache on the misses (``skip_fraction`` f > 0: the share of a miss's model calls that run block
pair 0 only), a miss's denoising is ``steps_full * ((1 - f) * step_cost + f * skip_step_cost)``, where
``skip_step_cost`` is one such call, timed like ``step_cost`` (:func:`measure_skip_step_cost`). The all-miss
baseline stays the plain miss.

A budget smaller than one entry could never hold anything; :func:`check_budget` refuses it up front
(the CLI applies the same check to ``chai run`` and ``chai demo``). An entry that is still larger than
its budget (a prompt with many entities) is counted in the ``refused`` column instead of being stored.
"""

from __future__ import annotations

import dataclasses
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
    "measure_skip_fraction",
    "measure_skip_step_cost",
    "measure_step_cost",
    "run_fleet",
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
        from chai.cache.entities import narrowed, subject_count

        out = self._memo.get(prompt)
        if out is None:
            out = self.inner.extract(prompt)
            out = self._memo[prompt] = narrowed(out, out, subject_count(out))
        return out.narrowed(out, out.subjects)


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


def measure_skip_step_cost(
    model: torch.nn.Module, shape: Sequence[int], *, height: int, width: int, device: str, seed: int = 0,
    probe: str = "block",
) -> float:
    """Seconds of one model call that reuses the first-block residual cache (the probe, embedding and final
    layer only), timed as :func:`measure_step_cost` times a step: its warm-up call computes every block, the
    timed calls skip (threshold so large that every later call reuses)."""
    import chai
    from chai.config import MissCacheConfig

    with chai.patched(model, miss_cache=MissCacheConfig(1e30, probe=probe)) as handle, handle.session() as sess:
        cost = measure_step_cost(model, shape, height=height, width=width, device=device, seed=seed)
        if sess.first_block.calls_skipped < 1:
            raise RuntimeError("the skip-step timing did not skip. HINT: this is a bug in chai's step cache.")
    return cost


def measure_skip_fraction(pipe: Any, prompts: Sequence[str], *, num_frames: int, height: int, width: int) -> float:
    """Share of model calls the step cache skipped over plain misses (no lookup) of ``prompts`` through
    ``pipe`` (a :class:`chai.CHAIPipeline` built with ``PipelineConfig(miss_cache=...)``)."""
    per_call = 2 * len(pipe.model.spatial_blocks) - pipe.config.miss_cache_config().probe_blocks
    calls = skipped = 0
    for i, prompt in enumerate(prompts):
        res = pipe.generate(prompt, seed=i, num_frames=num_frames, height=height, width=width, use_cache=False)
        calls += res.steps
        skipped += res.blocks_skipped // per_call
    return skipped / calls if calls else 0.0


@dataclass
class TraceConfig:
    """What :func:`run_trace` replays.

    budgets: cache budgets in bytes; matchings: "entity" and/or "prompt"; shape: latent (C, T, H, W) of
    every request; step_cost / fixed_cost: seconds per denoising step and per request outside denoising;
    steps_full / steps_hit: schedules of a miss and a hit; threshold: cosine threshold (None: the
    cache's default); quant_dtype: latent storage dtype; warmup: first requests that fill the cache
    without being counted; seed: of the stand-in latents and masks; skip_fraction / skip_step_cost: the
    share of a miss's model calls that a step cache skips and the seconds of such a call (0: no step cache).
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
    skip_fraction: float = 0.0
    skip_step_cost: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.skip_fraction) <= 1.0:
            raise ValueError(f"skip_fraction must be in [0, 1], got {self.skip_fraction!r}. HINT: e.g. 0.4.")

    @property
    def full_s(self) -> float:
        """A plain miss (the all-miss baseline)."""
        return self.fixed_cost + self.steps_full * self.step_cost

    @property
    def miss_s(self) -> float:
        """A miss with the step cache (equal to ``full_s`` without one)."""
        f = float(self.skip_fraction)
        return self.fixed_cost + self.steps_full * ((1.0 - f) * self.step_cost + f * self.skip_step_cost)

    @property
    def hit_s(self) -> float:
        return self.fixed_cost + self.steps_hit * self.step_cost


def _open_cache(cfg: TraceConfig, budget: int, matching: str, embedder: Any, extractor: Any,
                location: Any = None, namespace: str = "trace"):
    # The trace's only contact with the cache's constructor: a cache per (budget, matching), in memory
    # unless a location is given.
    from chai.cache import LatentCache

    kw: dict[str, Any] = {"matching": matching, "embedder": embedder, "extractor": extractor}
    if cfg.threshold is not None:
        kw["threshold"] = cfg.threshold
    return LatentCache(budget, location, namespace=namespace, quant_dtype=cfg.quant_dtype, **kw)


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
    kinds: Counter[str] = Counter()
    pairs: list[dict] = []
    entry_bytes = None
    import uuid

    location = parts.get("location")
    ns = "trace" if location is None else f"trace-{uuid.uuid4().hex[:12]}"  # a fresh namespace, cleared after
    with _open_cache(cfg, budget, matching, parts["embedder"], parts["extractor"], location, ns) as cache:
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
                    kinds[m.kind] += 1
                    pairs.append({"request": i, "prompt_entity": m.prompt_entity, "cached_entity": m.cached_entity,
                                  "kind": m.kind, "score": round(float(m.score), 4), "cached_prompt": m.prompt})
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
                    lat.append(cfg.miss_s + t_lookup + t_insert)
                    lookups.append(t_lookup)
                    inserts.append(t_insert)
            tick()
        stats = cache.stats()
    if location is not None:
        from chai.cache import LatentCache

        LatentCache.clear_location(location, ns)
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
        "hit_kinds": dict(kinds),
        "hit_pairs": pairs,
    }


def run_trace(
    prompts: Sequence[str],
    cfg: TraceConfig,
    *,
    embedder: Any,
    extractor: Any,
    on_request: Callable[[], None] | None = None,
    location: Any = None,
) -> dict[str, Any]:
    """Replay ``prompts`` once per (matching, budget) of ``cfg``, in memory or, with ``location``, in a fresh
    namespace of that store (cleared afterwards).

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
        "location": location,
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


# --------------------------------------------------------------------------------------------- fleet replay
def _stand_ins(cfg: TraceConfig) -> tuple[list[torch.Tensor], torch.Tensor]:
    gen = torch.Generator().manual_seed(cfg.seed)
    latents = [torch.randn((1, *cfg.shape), generator=gen) for _ in range(LATENTS_PER_ENTRY)]
    return latents, torch.rand(token_grid(cfg.shape), generator=gen) < 0.5


def _fleet_worker(wid: int, n: int, prompts: Sequence[str], cfg: TraceConfig, budget: int, location: Any,
                  namespace: str, embedder_kind: str, done: Any, barrier: Any, out: Any) -> None:
    """One worker process of a fleet replay: requests ``wid, wid + n, ...`` in trace order, with at most
    ``n`` requests of the fleet in flight (a request waits until every request ``n`` places before it is done)."""
    torch.set_num_threads(1)
    from chai import demo
    from chai.cache.entities import default_extractor

    records = []
    try:
        embedder, extractor = demo.build_embedder(embedder_kind), default_extractor()
        latents, mask = _stand_ins(cfg)
        cache = _open_cache(cfg, budget, "entity", embedder, extractor, location, namespace)
        cache.matcher.embed(["warm up"])  # first calls load models and kernels: not a lookup's or insert's cost
        extractor.extract("a warm up prompt")
        from chai_kernels import quantize_latent

        quantize_latent(latents[0], dtype=cfg.quant_dtype)
        barrier.wait()
        for i in range(wid, len(prompts), n):
            while any(not done[j] for j in range(max(0, i - 2 * n), i - n + 1)):
                time.sleep(0.0005)
            t0 = time.perf_counter()
            looked = cache.lookup(prompts[i], shape=(1, *cfg.shape))
            t_lookup, t_insert, refused = time.perf_counter() - t0, None, False
            m = looked.match
            if m is None:
                t0 = time.perf_counter()
                try:
                    cache.insert(prompts[i], latents, entity_masks={k: mask for k in looked.keys} or None,
                                 lookup=looked)
                except ValueError:
                    refused = True
                t_insert = time.perf_counter() - t0
            records.append({"i": i, "w": wid, "hit": m is not None, "kind": None if m is None else m.kind,
                            "prompt_entity": None if m is None else m.prompt_entity,
                            "cached_entity": None if m is None else m.cached_entity, "lookup_s": t_lookup,
                            "insert_s": t_insert, "refused": refused})
            done[i] = 1
        st = cache.stats()
        cache.close()
        out.put({"w": wid, "records": records, "store_errors": st["store_errors"]})
    except BaseException as exc:  # report, never hang the parent
        out.put({"w": wid, "error": f"{type(exc).__name__}: {exc}"})
        for i in range(wid, len(prompts), n):
            done[i] = 1


def _fleet_run(prompts, cfg: TraceConfig, worker_budget: int, n: int, location: Any, namespaces: Sequence[str],
               embedder_kind: str) -> dict:
    """``n`` worker processes, worker w on ``namespaces[w % len(namespaces)]`` with a cache of ``worker_budget``."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # no inherited locks, torch threads or connections
    done = ctx.Array("b", len(prompts), lock=False)
    barrier, out = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_fleet_worker, args=(w, n, list(prompts), cfg, worker_budget, location,
                                                     namespaces[w % len(namespaces)], embedder_kind, done, barrier,
                                                     out)) for w in range(n)]
    for p in procs:
        p.start()
    got = [out.get() for _ in procs]
    for p in procs:
        p.join()
    errors = [g["error"] for g in got if "error" in g]
    if errors:
        raise RuntimeError("chai trace --workers: a worker failed: " + "; ".join(errors))
    recs = sorted((r for g in got for r in g["records"]), key=lambda r: r["i"])
    counted = [r for r in recs if r["i"] >= cfg.warmup]
    hits = sum(r["hit"] for r in counted)
    lookups = [r["lookup_s"] for r in counted]
    inserts = [r["insert_s"] for r in counted if r["insert_s"] is not None]
    return {
        "requests": len(counted),
        "hits": hits,
        "hit_rate": hits / len(counted) if counted else 0.0,
        "refused": sum(r["refused"] for r in counted),
        "lookup_ms_p50": None if not lookups else 1e3 * _pct(lookups, 0.5),
        "lookup_ms_p99": None if not lookups else 1e3 * _pct(lookups, 0.99),
        "insert_ms_p50": None if not inserts else 1e3 * _pct(inserts, 0.5),
        "insert_ms_p99": None if not inserts else 1e3 * _pct(inserts, 0.99),
        "store_errors": sum(g["store_errors"] for g in got),
    }


def run_fleet(prompts: Sequence[str], cfg: TraceConfig, *, location: Any, workers: int, embedder: Any,
              extractor: Any, embedder_kind: str) -> dict[str, Any]:
    """Replay ``prompts`` over ``workers`` real worker processes, per budget of ``cfg``, three ways:

    * ``single``: one process, one cache of the whole budget (the reference);
    * ``shared``: ``workers`` processes sharing one namespace of budget B at ``location`` (a Redis URL);
    * ``private``: ``workers`` processes, each with its own in-memory cache of B / workers.

    Requests go round-robin (request i to worker i mod N), in trace order with N in flight. Entity
    matching. Returns ``{"results": [...], "workers": N, "location": ...}`` with hit rates, lookup and
    insert latency (p50 / p99) per (budget, mode).
    """
    import uuid

    from chai.cache import LatentCache
    from chai.cache.store import parse_location

    if workers < 2:
        raise ValueError(f"run_fleet: workers={workers}; a fleet needs at least 2.\nHINT: pass workers >= 2.")
    if parse_location(location).scheme != "redis":
        raise ValueError(
            f"run_fleet: the shared cache must be a Redis location (one namespace for every worker); got "
            f"{location!r}.\nHINT: start a redis-server and pass --cache redis://localhost:6379/0."
        )
    results = []
    single_cfg = dataclasses.replace(cfg, matchings=["entity"])
    for budget in cfg.budgets:
        one = run_trace(prompts, dataclasses.replace(single_cfg, budgets=[budget]), embedder=embedder,
                        extractor=extractor)["results"][0]
        row = {"budget_bytes": budget, "workers": workers, "single_hit_rate": one["hit_rate"]}
        ns = f"trace-{uuid.uuid4().hex[:12]}"
        try:
            shared = _fleet_run(prompts, cfg, budget, workers, location, [ns], embedder_kind)
        finally:
            LatentCache.clear_location(location, ns)
        private = _fleet_run(prompts, cfg, budget // workers, workers, None, [f"p{w}" for w in range(workers)],
                             embedder_kind)
        row.update({"shared": shared, "private": private, "shared_hit_rate": shared["hit_rate"],
                    "private_hit_rate": private["hit_rate"],
                    "single_lookup_ms_p50": one["lookup_ms_p50"]})
        results.append(row)
    from chai.cache.redis_store import redact_url

    return {"workers": workers, "location": redact_url(str(location)), "results": results}
