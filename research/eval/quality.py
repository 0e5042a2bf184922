"""CHAI quality benchmark on the trained synthetic STDiT3: ``python -m research.eval quality``.

Workload (:func:`build_workload`, deterministic from ``seed``): prompt pairs (A, B) written by
:mod:`research.eval.synthetic` with one object each.

- ``related-background``: B keeps A's object (shape, colour, size, motion) over a new background
  (kind and colour);
- ``related-motion``: B keeps A's object (shape, colour, size) and background, with a new motion;
- ``unrelated``: B shares no object attribute (shape, colour, size) with A and has another background.

Per pair, A runs through :class:`chai.CHAIPipeline` as a 30-step miss and fills a fresh in-memory
:class:`chai.cache.LatentCache` (spaCy entities, MiniLM embedder). Then B runs as these variants, all
from B's own seed (same initial noise):

- ``baseline-30``: 30-step rectified flow, no cache (the reference of PSNR / SSIM);
- ``plain-8``: 8 steps, no cache;
- ``chai-joint`` / ``chai-replace``: the pipeline's hit path: 8 steps with Cache Attention in
  spatial block 0 at steps 2, 3, 4 fed with A's stored latents under the stored mask of the matched
  entity (joint: current + masked cached keys; replace: cached keys only). The cache is opened with
  threshold -1 so B always hits A's entry; whether a cache with the product's defaults (threshold 0.72 and
  the entity-agreement rule) would have hit is asked of the real matcher and recorded per pair
  (``natural_hit``); the unrelated-pair target is evaluated on those;
- ``reuse-8`` (NIRVANA-style whole-prompt reuse): start from A's latent at ``t = reuse_t * 1000`` of its
  30-step trajectory and run 8 Euler steps (re-spaced from ``reuse_t`` to 0) with B's caption.

Per variant: prompt adherence (``research.eval.analyzer.adherence`` of the decoded clip against B's spec, mean
of the per-attribute scores), PSNR and SSIM against B's ``baseline-30`` clip, temporal consistency, wall
time per request and sampler steps. Entity masks: the mask the pipeline stored for A's entity (block-0
cross-attention, (T, S) tokens of 8 x 8 pixels) against (1) the analyzer's segmentation of A's
generated clip ("stored vs generated") and (2) a teacher-forced mask computed the same way on the
generator's own clip of A (noised to the capture timesteps) against the generator's ground-truth mask.

Deciding (docs/quality.md, "Deciding with intervals"): ``natural_related`` scores the related group on pairs
that hit naturally (:func:`collect_natural_related`); :func:`paired_intervals` gives paired bootstrap 95 %
intervals of the differences that decide (``chai.evaluation.metrics.paired_bootstrap``); ``bias_sweep`` runs
CHAI-joint at each cache bias with both CFG halves and with the conditional half only seeing the cache
(:func:`sweep_summary`: adherence against leakage, compared at matched leakage), and :func:`decide` says per
knob whether an interval supports changing the product's default.

Outputs: a JSON report (schema ``chai.quality/2``, keys documented in docs/quality.md), a PNG grid
(per shown pair, rows = variants, columns = frames), the sweep's plot of adherence against leakage
(:func:`draw_sweep`) and the results table in docs/quality.md (between the
``<!-- chai-quality:begin -->`` / ``<!-- chai-quality:end -->`` markers).
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "REPORT_KEYS",
    "VARIANT_KEYS",
    "NaturalRelated",
    "Pair",
    "QualityConfig",
    "build_workload",
    "collect_natural_related",
    "decide",
    "draw_sweep",
    "estimate_seconds",
    "paired_intervals",
    "run_quality",
    "sweep_summary",
]

#: Top-level keys of the JSON report.
REPORT_KEYS = (
    "schema",
    "config",
    "model",
    "workload",
    "variants",
    "variants_by_kind",
    "mask_iou",
    "hits",
    "targets",
    "intervals",
    "sweep",
    "decision",
    "knobs",
    "pairs",
    "summary",
)
#: Keys of every entry of ``report["variants"]``.
VARIANT_KEYS = (
    "n",
    "adherence",
    "adherence_by_attribute",
    "psnr_db",
    "psnr_vs_a_db",
    "ssim",
    "temporal_consistency",
    "wall_s",
    "steps",
)
DOC_BEGIN, DOC_END = "<!-- chai-quality:begin -->", "<!-- chai-quality:end -->"
MAIN_VARIANTS = ("baseline-30", "plain-8", "chai-joint", "chai-replace", "reuse-8")


@dataclass
class QualityConfig:
    """Benchmark settings. ``pairs``: pairs per kind group (related: alternating background / motion;
    unrelated: the same number). ``cfg_scale`` None -> ``DEFAULT_CFG``. ``knobs``: also sweep cache bias,
    steps, mask rule and token masks for the joint mode. ``grid_pairs``: pairs drawn in the PNG.

    ``natural_related``: instead of ``pairs`` related pairs, draw related pairs until this many hit A under the
    cache's default matcher (at most ``natural_related_cap`` drawn; None: 4x). ``bias_sweep``: cache biases at
    which CHAI-joint runs with both CFG halves and with the conditional half only seeing the cache (the
    product's default bias is always added). ``resamples``: bootstrap resamples of every interval."""

    pairs: int = 12
    full_steps: int = 30
    hit_steps: int = 8
    cache_steps: tuple[int, ...] = (2, 3, 4)
    cfg_scale: float | None = None
    cache_bias: float = 0.0
    reuse_t: float = 0.6
    knobs: bool = False
    seed: int = 0
    grid_pairs: int = 3
    teacher_forced_masks: bool = True
    natural_related: int | None = None
    natural_related_cap: int | None = None
    bias_sweep: tuple[float, ...] = ()
    resamples: int = 10_000

    def __post_init__(self) -> None:
        for name in ("pairs", "full_steps", "hit_steps"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"QualityConfig.{name} must be a positive int, got {v!r}. HINT: e.g. {name}=8.")
        if self.hit_steps > self.full_steps:
            raise ValueError(f"hit_steps {self.hit_steps} > full_steps {self.full_steps}. HINT: 8 and 30.")
        self.cache_steps = tuple(int(s) for s in self.cache_steps)
        if not 0.0 < float(self.reuse_t) <= 1.0:
            raise ValueError(f"QualityConfig.reuse_t={self.reuse_t!r} must be in (0, 1]. HINT: 0.6.")
        if self.natural_related is not None:
            if self.natural_related_cap is None:
                self.natural_related_cap = 4 * self.natural_related
            for name in ("natural_related", "natural_related_cap"):
                v = getattr(self, name)
                if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                    raise ValueError(f"QualityConfig.{name} must be a positive int, got {v!r}. HINT: e.g. 50.")
            if self.natural_related_cap < self.natural_related:
                raise ValueError(
                    f"QualityConfig.natural_related_cap={self.natural_related_cap} < natural_related="
                    f"{self.natural_related}.\nHINT: a cap of 4 x natural_related (the default) leaves room for misses."
                )
        self.bias_sweep = tuple(float(b) for b in self.bias_sweep)
        if not all(math.isfinite(b) for b in self.bias_sweep):
            raise ValueError(
                f"QualityConfig.bias_sweep={self.bias_sweep!r} holds a non-finite bias. HINT: -2,-1,0,1,2."
            )
        if isinstance(self.resamples, bool) or not isinstance(self.resamples, int) or self.resamples < 100:
            raise ValueError(f"QualityConfig.resamples={self.resamples!r} must be an int >= 100. HINT: 10000.")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["cache_steps"] = list(self.cache_steps)
        d["bias_sweep"] = list(self.bias_sweep)
        return d


#: CFG scale used when ``QualityConfig.cfg_scale`` is None.
DEFAULT_CFG = 7.0


@dataclass(frozen=True)
class Pair:
    kind: str
    spec_a: Any
    spec_b: Any
    seed_a: int
    seed_b: int

    @property
    def prompt_a(self) -> str:
        return self.spec_a.caption

    @property
    def prompt_b(self) -> str:
        return self.spec_b.caption


# ----------------------------------------------------------------------------------------------------------------
# workload
# ----------------------------------------------------------------------------------------------------------------


def _object_like(
    rng: np.random.Generator,
    *,
    colour: str,
    shape: str | None,
    size: str | None,
    motion=None,
    not_motion=None,
    not_shape=None,
    not_size=None,
    placement: str = "random",
):
    """Draw a placed object with the given attributes (rejection sampling over the generator's own placer)."""
    from research.eval import synthetic as syn

    for _ in range(10_000):
        o = syn._sample_object(rng, colour, placement)
        if shape is not None and o.shape != shape:
            continue
        if size is not None and o.size != size:
            continue
        if motion is not None and o.motion != motion:
            continue
        if not_motion is not None and o.motion == not_motion:
            continue
        if not_shape is not None and o.shape == not_shape:
            continue
        if not_size is not None and o.size == not_size:
            continue
        return o
    raise RuntimeError("could not place an object with the requested attributes")  # pragma: no cover


def _draw_pair(
    rng: np.random.Generator, kind: str, i: int, seed: int, *, frames: int, size: int, placement: str
) -> Pair:
    """One pair of ``kind`` drawn from ``rng``; ``i`` fixes its noise seeds (A: 2i, B: 2i + 1, offset by the seed)."""
    from research.eval import synthetic as syn

    a = syn.sample_spec(rng, n_objects=1, frames=frames, size=size, placement=placement)
    obj = a.objects[0]
    bg = a.background
    if kind == "related-background":
        colours = [c for c in syn.COLOURS if c not in (obj.colour, bg.colour)]
        kinds = [k for k in syn.BACKGROUNDS if k != bg.kind]
        new_bg = dataclasses.replace(
            bg, kind=kinds[rng.integers(len(kinds))], colour=colours[rng.integers(len(colours))]
        )
        b = syn.ClipSpec(objects=(obj,), background=new_bg, seed=int(rng.integers(2**31 - 1)))
    elif kind == "related-motion":
        o2 = _object_like(
            rng, colour=obj.colour, shape=obj.shape, size=obj.size, not_motion=obj.motion, placement=placement
        )
        b = syn.ClipSpec(objects=(o2,), background=bg, seed=int(rng.integers(2**31 - 1)))
    else:
        colours = [c for c in syn.COLOURS if c not in (obj.colour, bg.colour)]
        c_obj = colours[rng.integers(len(colours))]
        c_bg = [c for c in colours if c != c_obj][rng.integers(len(colours) - 1)]
        o2 = _object_like(
            rng, colour=c_obj, shape=None, size=None, not_shape=obj.shape, not_size=obj.size, placement=placement
        )
        kinds = [k for k in syn.BACKGROUNDS if k != bg.kind]
        new_bg = dataclasses.replace(bg, kind=kinds[rng.integers(len(kinds))], colour=c_bg)
        b = syn.ClipSpec(objects=(o2,), background=new_bg, seed=int(rng.integers(2**31 - 1)))
    return Pair(kind, a, b, seed_a=2 * i + 1000 * int(seed), seed_b=2 * i + 1 + 1000 * int(seed))


def build_workload(
    pairs: int, seed: int = 0, *, frames: int = 8, size: int = 32, placement: str = "random"
) -> list[Pair]:
    """``pairs`` related pairs (alternating background / motion changes) and ``pairs`` unrelated pairs, in the
    world of ``placement`` (the one the model was trained in)."""
    out: list[Pair] = []
    for i in range(2 * pairs):
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0xC4A1, i])
        if i < pairs:
            kind = "related-background" if i % 2 == 0 else "related-motion"
        else:
            kind = "unrelated"
        out.append(_draw_pair(rng, kind, i, seed, frames=frames, size=size, placement=placement))
    return out


def check_entities(pairs: list[Pair], extractor) -> None:
    """Raise ValueError, before any model runs, when a prompt of ``pairs`` yields no entity: its request could
    never hit (not even a forced hit), so its CHAI runs would silently be 30-step misses."""
    for i, p in enumerate(pairs):
        for side, prompt in (("A", p.prompt_a), ("B", p.prompt_b)):
            if not list(extractor.extract(prompt)):
                raise ValueError(
                    f"quality: pair {i} ({p.kind}) prompt {side} {prompt!r} yields no entity with "
                    f"{getattr(extractor, 'name', type(extractor).__name__)}, so it can never hit.\n"
                    "HINT: this is an extractor bug to fix in chai.cache.entities (docs/matching.md); "
                    "a different --seed draws other pairs meanwhile."
                )


#: Noise-seed index of the first related pair drawn by :func:`collect_natural_related` (clear of the indices
#: :func:`build_workload` gives its pairs, so no two pairs of one run share a seed).
NATURAL_SEED_BASE = 100_000


@dataclass(frozen=True)
class NaturalRelated:
    """What :func:`collect_natural_related` found: the related pairs that hit naturally, how many candidates it
    drew, and a message when it stopped at the cap short of the wanted number (else None)."""

    pairs: list[Pair]
    drawn: int
    wanted: int
    cap: int
    message: str | None


def collect_natural_related(
    wanted: int,
    probe,
    *,
    cap: int,
    seed: int = 0,
    frames: int = 8,
    size: int = 32,
    placement: str = "random",
) -> NaturalRelated:
    """Draw related pairs (alternating background / motion changes, a stream of their own) until ``wanted`` of
    them hit naturally (``probe(pair)`` is True: B's lookup finds A's entry under the cache's default matcher) or
    ``cap`` candidates were drawn. Stopping at the cap is not an error: the pairs found are returned with a
    message that says so and how to get more."""
    if isinstance(wanted, bool) or not isinstance(wanted, int) or wanted < 1:
        raise ValueError(f"collect_natural_related: wanted={wanted!r} must be a positive int. HINT: e.g. 50.")
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < wanted:
        raise ValueError(f"collect_natural_related: cap={cap!r} must be an int >= wanted ({wanted}). HINT: 4 x wanted.")
    found: list[Pair] = []
    drawn = 0
    while len(found) < wanted and drawn < cap:
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0xC4A1, 0x4E47, drawn])
        kind = "related-background" if drawn % 2 == 0 else "related-motion"
        pair = _draw_pair(rng, kind, NATURAL_SEED_BASE + drawn, seed, frames=frames, size=size, placement=placement)
        drawn += 1
        if probe(pair):
            found.append(pair)
    message = None
    if len(found) < wanted:
        message = (
            f"natural related pairs: only {len(found)} of the {wanted} wanted hit under the default matcher after "
            f"drawing the cap of {cap} candidates; the related group is scored on these {len(found)}.\n"
            "HINT: raise --natural-related-cap, or read the matcher's refusals in docs/matching.md."
        )
    return NaturalRelated(found, drawn, wanted, cap, message)


# ----------------------------------------------------------------------------------------------------------------
# sampling helpers
# ----------------------------------------------------------------------------------------------------------------


def _recording_sampler_cls():
    from chai.sampling import RFlowSampler

    class RecordingSampler(RFlowSampler):
        """RFlowSampler that also keeps every latent entering the model (``trajectory[step] = (t, z)``)."""

        trajectory: dict[int, tuple[float, torch.Tensor]]

        def sample(self, model, z, y, *, callback=None, **kw):  # type: ignore[override]
            self.trajectory = {}

            def cb(step, t, zz):
                self.trajectory[step] = (float(t[0]), zz.detach().clone())
                if callback is not None:
                    callback(step, t, zz)

            return super().sample(model, z, y, callback=cb, **kw)

    return RecordingSampler


@torch.no_grad()
def _euler_from(model, z, y, mask, *, t_start: float, steps: int, cfg: float, fps: int, size: int) -> torch.Tensor:
    """CFG Euler integration from ``t_start`` (in [0, 1]) to 0 in ``steps`` equal steps (the sampler's math)."""
    B = z.shape[0]
    y_null = model.y_embedder.y_embedding[None].repeat(B, 1, 1)[:, None]
    kw = {
        "y": torch.cat([y, y_null.to(y.dtype)], 0),
        "mask": mask,
        "fps": torch.full((B,), float(fps)),
        "height": torch.full((B,), float(size)),
        "width": torch.full((B,), float(size)),
    }
    ts = [t_start * (1.0 - i / steps) for i in range(steps)] + [0.0]
    for i in range(steps):
        t = torch.full((B,), ts[i] * 1000.0)
        pred = model(torch.cat([z, z]), torch.cat([t, t]), **kw)[:, : z.shape[1]]
        pc, pu = pred.chunk(2)
        z = z + (pu + cfg * (pc - pu)) * (ts[i] - ts[i + 1])
    return z


def _token_mask_to_pixels(mask: torch.Tensor, grid: tuple[int, int], px: int) -> np.ndarray:
    """(T, S) token mask -> (T, gh*px, gw*px) pixel mask (each token covers px x px pixels)."""
    gh, gw = grid
    m = mask.reshape(mask.shape[0], gh, gw).cpu().numpy().astype(bool)
    return m.repeat(px, axis=1).repeat(px, axis=2)


def _pixel_mask_to_tokens(mask: np.ndarray, px: int) -> np.ndarray:
    """(T, H, W) pixel mask -> (T, H/px, W/px) token mask: a token is the object's if it holds any of its pixels."""
    T, H, W = mask.shape
    return mask.reshape(T, H // px, px, W // px, px).any(axis=(2, 4))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def _entity_object(entity: str, spec) -> int | None:
    """Index of the spec object an extracted entity names (colour and shape words), else None."""
    words = set(entity.lower().split())
    for k, o in enumerate(spec.objects):
        if o.colour in words and o.shape in words:
            return k
    for k, o in enumerate(spec.objects):
        if o.shape in words or o.colour in words:
            return k
    return None


def _mean(xs: Sequence[float]) -> float | None:
    xs = [float(x) for x in xs if x is not None and math.isfinite(float(x))]
    return float(np.mean(xs)) if xs else None


# ----------------------------------------------------------------------------------------------------------------
# benchmark
# ----------------------------------------------------------------------------------------------------------------


class _Bench:
    def __init__(self, qcfg: QualityConfig, model, ae, mconfig: dict, progress: bool):
        from chai.text_encoder import MiniLMTextEncoder

        self.q = qcfg
        self.model = model
        self.ae = ae
        self.cfg_scale = float(DEFAULT_CFG if qcfg.cfg_scale is None else qcfg.cfg_scale)
        s = mconfig.get("sampling", {})
        self.frames = int(s.get("num_frames", 8))
        self.size = int(s.get("height", 32))
        self.fps = int(s.get("fps", 24))
        self.placement = str(mconfig.get("train_config", {}).get("placement", "random"))
        self.enc = MiniLMTextEncoder(model_max_length=int(model.config.model_max_length))
        self.gen = {"num_frames": self.frames, "height": self.size, "width": self.size}
        self.progress = progress
        _, ph, pw = model.config.patch_size
        lat = ae.get_latent_size([self.frames, self.size, self.size])
        self.grid = (lat[1] // ph, lat[2] // pw)
        self.token_px = ae.factor * ph
        self._cache = None
        self._default_cache = None
        self._natural: dict[tuple[str, str], bool] = {}

    # -- pieces ------------------------------------------------------------------------------------------------
    def pipeline(self, **cfg_kw):
        from chai.pipeline import CHAIPipeline, PipelineConfig

        kw = {
            "full_steps": self.q.full_steps,
            "hit_steps": self.q.hit_steps,
            "cache_steps": self.q.cache_steps,
            "cfg_scale": self.cfg_scale,
            "fps": self.fps,
            "use_timestep_transform": False,
        }
        kw.update(cfg_kw)
        sampler_cls = _recording_sampler_cls()
        sampler = sampler_cls(kw["full_steps"], kw["cfg_scale"], False)
        return CHAIPipeline(self.model, self.enc, None, sampler=sampler, config=PipelineConfig(**kw), vae=self.ae)

    def cache(self):
        """One in-memory cache, cleared per pair, in which the single stored entry always matches: threshold -1
        and the cosine-only rule (the default entity-agreement rule would refuse the unrelated pairs, whose
        forced hits are what the benchmark measures)."""
        from chai.cache import LatentCache

        if self._cache is None:
            self._cache = LatentCache(64 << 20, threshold=-1.0, match_rule="embedding")
        self._cache.clear()
        return self._cache

    def natural_hit(self, pair: Pair) -> bool:
        """Would B hit A's entry in a cache opened with the product's defaults (threshold, entity-agreement rule)?

        Asked of the real matcher: A's prompt goes into an otherwise empty default cache (with a one-element
        stand-in latent: matching reads the prompt only) and B is looked up. Memoised per prompt pair."""
        from chai.cache import LatentCache

        key = (pair.prompt_a, pair.prompt_b)
        if key not in self._natural:
            if self._default_cache is None:
                forced = self._cache if self._cache is not None else self.cache()
                self._default_cache = LatentCache(1 << 20, embedder=forced.embedder, extractor=forced.extractor)
            c = self._default_cache
            c.clear()
            c.insert(pair.prompt_a, [torch.zeros(1, 1, 1, 1, 1)], model="natural-hit-probe")
            self._natural[key] = c.lookup(pair.prompt_b, model="natural-hit-probe").match is not None
        return self._natural[key]

    def frames_of(self, latents: torch.Tensor) -> np.ndarray:
        return self.ae.decode_to_frames(latents)[0].numpy()

    def metrics(
        self, video: np.ndarray, spec, ref: np.ndarray | None, a_clip: np.ndarray | None = None
    ) -> dict[str, Any]:
        """Adherence to ``spec``; with ``ref``: PSNR / SSIM against it; with ``a_clip`` (A's generated clip): PSNR
        against it, which measures how far a variant copies A instead of drawing B."""
        from research.eval import analyzer

        adh = analyzer.adherence(video, spec)
        out = {
            "adherence": float(adh.score),
            "adherence_by_attribute": {k: float(v) for k, v in adh.scores.items()},
            "temporal_consistency": float(analyzer.temporal_consistency(video)),
        }
        if ref is not None:
            p = analyzer.psnr(video, ref)
            out["psnr_db"] = float(p) if math.isfinite(p) else 99.0
            out["ssim"] = float(analyzer.ssim(video, ref))
        if a_clip is not None:
            p = analyzer.psnr(video, a_clip)
            out["psnr_vs_a_db"] = float(p) if math.isfinite(p) else 99.0
        return out

    def teacher_forced_mask(self, pipe, pair: Pair, entity: str) -> float | None:
        """IoU of the block-0 cross-attention mask on the generator's own clip of A vs its ground truth."""
        from chai.pipeline import entity_token_mask
        from chai.sampling import capture_steps_for
        from research.eval import synthetic as syn

        k = _entity_object(entity, pair.spec_a)
        if k is None:
            return None
        clip = syn.render(pair.spec_a, frames=self.frames, size=self.size)
        x0 = self.ae.encode(torch.from_numpy(syn.stack_videos([clip])))
        steps = capture_steps_for(
            self.q.full_steps,
            self.q.hit_steps,
            self.q.cache_steps,
            sampler=pipe.sampler,
            height=self.size,
            width=self.size,
            num_frames=self.frames,
        )
        ts = pipe.sampler.timesteps(self.q.full_steps, height=self.size, width=self.size, num_frames=self.frames)
        y, ymask = self.enc.encode([pair.prompt_a])
        y_null = self.model.y_embedder.y_embedding[None, None]
        noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(pair.seed_a))
        maps = []
        for s in steps:
            t = ts[s - 1]
            z = (1 - t / 1000.0) * x0 + (t / 1000.0) * noise
            with pipe.handle.session(
                cached_latents=None, token_mask=None, capture_steps=(s,), capture_cross_attn=True
            ) as sess:
                sess.on_step(s, t.expand(1), z)
                tt = t.expand(2)
                self.model(
                    torch.cat([z, z]),
                    tt,
                    torch.cat([y, y_null]),
                    mask=ymask,
                    fps=torch.full((2,), float(self.fps)),
                    height=torch.full((2,), float(self.size)),
                    width=torch.full((2,), float(self.size)),
                )
            maps.append(sess.cross_attn[s][0])
        idx = self.enc.token_spans(pair.prompt_a, entity)
        tm = entity_token_mask(maps, idx, rule=pipe.config.mask_rule, top_fraction=pipe.config.mask_top_fraction)
        pred = _token_mask_to_pixels(tm, self.grid, self.token_px)
        return _iou(pred, clip.masks[k])

    # -- main loops --------------------------------------------------------------------------------------------
    def run_plain(self, pairs: list[Pair], name: str, steps: int) -> dict[int, dict]:
        out = {}
        with self.pipeline(
            full_steps=steps,
            hit_steps=min(steps, self.q.hit_steps),
            cache_steps=tuple(s for s in self.q.cache_steps if s <= steps) or (1,),
        ) as pipe:
            for i, p in enumerate(self._iter(pairs, name)):
                t0 = time.perf_counter()
                r = pipe.generate(p.prompt_b, seed=p.seed_b, use_cache=False, **self.gen)
                out[i] = {"latents": r.latents, "wall_s": time.perf_counter() - t0, "steps": r.steps}
        return out

    def run_chai(
        self,
        pairs: list[Pair],
        name: str,
        *,
        keep_a: bool = False,
        teacher: bool = False,
        stored_masks: dict[int, torch.Tensor] | None = None,
        a_entries: dict[int, dict] | None = None,
        **cfg_kw,
    ) -> dict[int, dict]:
        """A as a 30-step miss into a fresh cache, then B as a hit. ``stored_masks[i]`` (a (T, S) token mask)
        replaces the mask stored for pair ``i``'s entities (an experiment on mask quality); pairs without one
        keep the pipeline's cross-attention mask.

        With ``keep_a`` each record also holds ``a_entry``: the arguments A's insert was called with. Given
        ``a_entries`` (those records' ``a_entry`` by pair), A is not generated again: its entry is inserted as
        recorded. Only for settings that leave the miss unchanged (``mode``, ``cache_bias``,
        ``uncond_uses_cache``: they act on hits only), which the cache's schedule identity also checks."""
        if a_entries is not None and (keep_a or stored_masks is not None or set(cfg_kw) - _HIT_ONLY_SETTINGS):
            raise ValueError(
                f"run_chai: a_entries replays A's miss, which settings {sorted(set(cfg_kw) - _HIT_ONLY_SETTINGS)} "
                f"(or keep_a / stored_masks) would change.\nHINT: replay only across {sorted(_HIT_ONLY_SETTINGS)}."
            )
        out = {}
        with self.pipeline(**cfg_kw) as pipe:
            for i, p in enumerate(self._iter(pairs, name)):
                cache = self.cache()
                if stored_masks is not None and i in stored_masks:
                    cache = _StoredMaskOverride(cache, stored_masks[i])
                if a_entries is not None:
                    e = a_entries[i]
                    cache.insert(e["prompt"], e["latents"], entity_masks=e["entity_masks"], model=e["model"])
                else:
                    recorder = _InsertRecorder(cache)
                    pipe.cache = recorder
                    ra = pipe.generate(p.prompt_a, seed=p.seed_a, **self.gen)
                pipe.cache = cache
                traj = dict(pipe.sampler.trajectory) if keep_a else None
                t0 = time.perf_counter()
                rb = pipe.generate(p.prompt_b, seed=p.seed_b, **self.gen)
                wall = time.perf_counter() - t0
                if a_entries is not None and not rb.hit:
                    raise RuntimeError(
                        f"run_chai {name!r}: pair {i}'s B missed A's replayed entry (entry made under "
                        f"{a_entries[i]['model']!r}).\nHINT: replay only across settings that keep the hit schedule."
                    )
                rec = {
                    "latents": rb.latents,
                    "wall_s": wall,
                    "steps": rb.steps,
                    "hit": bool(rb.hit),
                    "score": rb.score,
                    "prompt_entity": rb.prompt_entity,
                    "cached_entity": rb.cached_entity,
                    "natural_hit": self.natural_hit(p),
                }
                if keep_a:
                    rec["a_entry"] = recorder.recorded
                    rec["a_latents"] = ra.latents
                    rec["a_trajectory"] = traj
                    rec["a_masks"] = {e: m.clone() for e, m in ra.entity_masks.items()}
                    if teacher:
                        rec["teacher_iou"] = {e: self.teacher_forced_mask(pipe, p, e) for e in ra.entity_masks}
                out[i] = rec
                pipe.cache = None
        return out

    def run_reuse(self, pairs: list[Pair], chai_runs: dict[int, dict]) -> dict[int, dict]:
        out = {}
        for i, p in enumerate(self._iter(pairs, "reuse-8")):
            traj = chai_runs[i]["a_trajectory"]
            # the recorded latent whose timestep is nearest to reuse_t (NIRVANA: retrieve, then skip steps)
            step = min(traj, key=lambda s: abs(traj[s][0] / 1000.0 - self.q.reuse_t))
            t_start, z = traj[step][0] / 1000.0, traj[step][1]
            t0 = time.perf_counter()
            y, ymask = self.enc.encode([p.prompt_b])
            zb = _euler_from(
                self.model,
                z,
                y,
                ymask,
                t_start=t_start,
                steps=self.q.hit_steps,
                cfg=self.cfg_scale,
                fps=self.fps,
                size=self.size,
            )
            self.ae.decode(zb)
            out[i] = {
                "latents": zb,
                "wall_s": time.perf_counter() - t0,
                "steps": self.q.hit_steps,
                "reuse_from_step": int(step),
                "reuse_t": t_start,
            }
        return out

    def _iter(self, pairs, name):
        if not self.progress:
            return pairs
        from tqdm.auto import tqdm

        return tqdm(pairs, desc=name, file=sys.stderr, leave=False)


#: PipelineConfig fields that act on hits only (a miss runs the same with any value of them).
_HIT_ONLY_SETTINGS = frozenset({"mode", "cache_bias", "uncond_uses_cache"})


class _InsertRecorder:
    """A cache that keeps the arguments of its (one) insert in ``recorded``, to be replayed by later runs that
    differ from this one only in hit-side settings; everything else goes to the wrapped cache."""

    def __init__(self, cache):
        self._cache, self.recorded = cache, None

    def insert(self, prompt, latents, *, entity_masks=None, model=None, **kw):
        self.recorded = {
            "prompt": prompt,
            "latents": [x.clone() for x in latents],
            "entity_masks": None if entity_masks is None else {e: m.clone() for e, m in entity_masks.items()},
            "model": model,
        }
        return self._cache.insert(prompt, latents, entity_masks=entity_masks, model=model, **kw)

    def __getattr__(self, name):
        return getattr(self._cache, name)


class _StoredMaskOverride:
    """A :class:`chai.cache.LatentCache` whose inserts store ``mask`` for every entity instead of the masks the
    pipeline derived from cross-attention; everything else goes to the wrapped cache."""

    def __init__(self, cache, mask: torch.Tensor):
        self._cache, self._mask = cache, mask

    def insert(self, prompt, latents, *, entity_masks=None, **kw):
        masks = {e: self._mask.clone() for e in entity_masks} if entity_masks else None
        return self._cache.insert(prompt, latents, entity_masks=masks, **kw)

    def __getattr__(self, name):
        return getattr(self._cache, name)


def _analyzer_token_masks(b: _Bench, pairs: list[Pair], a_analyses: dict[int, Any]) -> dict[int, torch.Tensor]:
    """Per pair, the token mask of A's object as the analyzer segmented A's generated clip (``a_analyses[i]``;
    (T, S) bool, tokens holding any of its pixels); pairs where it found no object of A's colour are left out."""
    out = {}
    for i, p in enumerate(pairs):
        obj = next((o for o in a_analyses[i].objects if o.colour == p.spec_a.objects[0].colour), None)
        if obj is not None:
            tm = _pixel_mask_to_tokens(obj.mask, b.token_px)
            out[i] = torch.from_numpy(tm.reshape(tm.shape[0], -1))
    return out


# ----------------------------------------------------------------------------------------------------------------
# paired intervals, the CFG / bias sweep and the decision (pure functions of the per-pair records)
# ----------------------------------------------------------------------------------------------------------------

#: The groups the intervals are reported for: related pairs whose B hits A under the product's default matcher,
#: and unrelated pairs (forced to hit: the cache is told to match).
GROUPS = {
    "related_natural_hits": lambda r: r["kind"].startswith("related") and bool(r.get("natural_hit")),
    "unrelated_forced": lambda r: not r["kind"].startswith("related"),
}
#: (variant, minus, metrics): the paired differences that decide whether CHAI earns its place.
COMPARISONS = (
    ("chai-joint", "plain-8", ("psnr_db", "ssim")),
    ("chai-joint", "baseline-30", ("adherence",)),
    ("reuse-8", "plain-8", ("psnr_db", "ssim")),
    ("reuse-8", "baseline-30", ("adherence",)),
)
#: CFG modes of the sweep: name -> ``uncond_uses_cache``.
CFG_MODES = {"both": True, "cond-only": False}
#: Leakage: PSNR (dB) of B's clip against A's (the cached miss's) clip; higher = more of A copied into B.
LEAKAGE = "psnr_vs_a_db"


def sweep_run_name(mode: str, bias: float) -> str:
    """Name of the sweep run of CFG ``mode`` (a key of :data:`CFG_MODES`) at ``bias``, e.g. ``sweep:both:+1``."""
    return f"sweep:{mode}:{bias:+g}"


def _interval(values, baseline=None, *, resamples: int, seed: int) -> dict[str, Any]:
    """:func:`chai.evaluation.metrics.paired_bootstrap` as a JSON dict with ``excludes_zero``; n = 0 gives Nones."""
    from chai.evaluation.metrics import paired_bootstrap

    if len(values) == 0:
        return {"mean": None, "low": None, "high": None, "n": 0, "excludes_zero": None}
    iv = paired_bootstrap(values, baseline, resamples=resamples, seed=seed)
    return {**iv.to_dict(), "excludes_zero": iv.excludes_zero()}


def paired_intervals(pair_recs: list[dict[str, Any]], *, resamples: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """Per group of :data:`GROUPS`, the paired bootstrap 95 % interval of each difference in :data:`COMPARISONS`
    (variant minus the other, pair by pair, same seeds)."""
    out: dict[str, Any] = {"groups": {}, "comparisons": []}
    for group, sel in GROUPS.items():
        rows = [r for r in pair_recs if sel(r)]
        out["groups"][group] = len(rows)
        for variant, minus, metrics in COMPARISONS:
            for metric in metrics:
                x = [r["variants"][variant][metric] for r in rows]
                y = [r["variants"][minus][metric] for r in rows]
                iv = _interval(x, y, resamples=resamples, seed=seed)
                out["comparisons"].append({"group": group, "variant": variant, "minus": minus, "metric": metric, **iv})
    return out


def _matched_weights(target: float, biases: list[float], leak: list[float]) -> tuple[int, float] | None:
    """Where the piecewise-linear curve through (bias, mean leakage) first reaches ``target``: (k, w) such that
    ``(1 - w) leak[k] + w leak[k + 1] == target``; None when the curve never reaches it."""
    for k in range(len(biases) - 1):
        lo, hi = leak[k], leak[k + 1]
        if min(lo, hi) <= target <= max(lo, hi):
            return k, (0.0 if hi == lo else (target - lo) / (hi - lo))
    if len(biases) == 1 and leak[0] == target:
        return 0, 0.0
    return None


def sweep_summary(
    pair_recs: list[dict[str, Any]],
    biases: Sequence[float],
    *,
    default_bias: float = 0.0,
    resamples: int = 10_000,
    seed: int = 0,
) -> dict[str, Any]:
    """The CFG comparison at matched strength, per group.

    - ``points[group][mode]``: per bias, intervals of mean adherence, leakage (PSNR to A's clip) and PSNR to the
      30-step twin;
    - ``equal_bias[group]``: per bias, cond-only minus both halves, pair by pair (adherence, leakage);
    - ``matched[group][ref]``: matched strength. Per bias b of CFG mode ``ref``, the other mode's curve is
      followed (linearly between its two neighbouring sweep points) to where its mean leakage equals ``ref``'s at
      b; per pair, the same two weights give the other mode's adherence there, and the interval is of the other
      mode minus ``ref``. ``other_bias`` None where the other mode's sweep never reaches that leakage (widen the
      sweep);
    - ``vs_default_bias[group][mode]``: per bias, that bias minus ``default_bias`` in the same mode, pair by pair
      (adherence, PSNR to the 30-step twin, leakage).
    """
    biases = sorted(float(b) for b in biases)
    if float(default_bias) not in biases:
        raise ValueError(
            f"sweep_summary: default_bias {default_bias} is not among the swept biases {biases}.\n"
            "HINT: include the default in the sweep."
        )
    out: dict[str, Any] = {"biases": biases, "default_bias": float(default_bias), "modes": dict(CFG_MODES),
                           "points": {}, "equal_bias": {}, "matched": {}, "vs_default_bias": {}}  # fmt: skip
    for group, sel in GROUPS.items():
        rows = [r for r in pair_recs if sel(r)]
        per = {
            (m, b): {
                k: [r["variants"][sweep_run_name(m, b)][k] for r in rows] for k in ("adherence", LEAKAGE, "psnr_db")
            }
            for m in CFG_MODES
            for b in biases
        }

        def iv(x, y=None):
            return _interval(x, y, resamples=resamples, seed=seed)

        out["points"][group] = {
            m: [
                {"bias": b, "n": len(rows), **{k: iv(per[(m, b)][k]) for k in ("adherence", LEAKAGE, "psnr_db")}}
                for b in biases
            ]
            for m in CFG_MODES
        }
        out["equal_bias"][group] = [
            {
                "bias": b,
                **{k: iv(per[("cond-only", b)][k], per[("both", b)][k]) for k in ("adherence", LEAKAGE)},
            }
            for b in biases
        ]
        out["matched"][group] = {
            ref: _matched_at_leakage(per, biases, ref, next(m for m in CFG_MODES if m != ref), iv) if rows else []
            for ref in CFG_MODES
        }
        out["vs_default_bias"][group] = {
            m: [
                {
                    "bias": b,
                    **{
                        k: iv(per[(m, b)][k], per[(m, float(default_bias))][k])
                        for k in ("adherence", "psnr_db", LEAKAGE)
                    },
                }
                for b in biases
                if b != float(default_bias)
            ]
            for m in CFG_MODES
        }
    return out


def _matched_at_leakage(per: dict, biases: list[float], ref: str, other: str, iv) -> list[dict[str, Any]]:
    """Per bias b of CFG mode ``ref``: ``other``'s curve followed to ``ref``'s mean leakage at b (linearly between
    two neighbouring sweep points, weights from the means) and, per pair, ``other``'s adherence there minus
    ``ref``'s at b, as an interval (``iv``). ``other_bias`` is the interpolated bias; None when ``other``'s sweep
    never reaches that leakage."""
    leak_other = [float(np.mean(per[(other, b)][LEAKAGE])) for b in biases]
    out = []
    for b in biases:
        target = float(np.mean(per[(ref, b)][LEAKAGE]))
        kw = _matched_weights(target, biases, leak_other)
        if kw is None:
            out.append({"bias": b, "leakage_db": target, "other_bias": None, "adherence": iv([])})
            continue
        k, w = kw
        k1 = min(k + 1, len(biases) - 1)
        a0, a1 = np.asarray(per[(other, biases[k])]["adherence"]), np.asarray(per[(other, biases[k1])]["adherence"])
        at_match = (1.0 - w) * a0 + w * a1
        out.append({
            "bias": b,
            "leakage_db": target,
            "other_bias": (1.0 - w) * biases[k] + w * biases[k1],
            "adherence": iv(at_match.tolist(), per[(ref, b)]["adherence"]),
        })  # fmt: skip
    return out


def _favours(iv: dict[str, Any]) -> str | None:
    """The side ("alternative" / "default") that the interval of (alternative minus default, higher = better)
    favours when it excludes zero; None when it does not (or there is no data)."""
    if not iv.get("excludes_zero"):
        return None
    return "alternative" if iv["low"] > 0 else "default"


#: Fewest pairs behind an interval that may decide a default: a bootstrap of fewer pairs resamples too few
#: distinct values for its percentiles to mean much (one pair gives a zero-width interval at its value).
MIN_DECISION_PAIRS = 10


def _verdict(intervals: dict[str, dict[str, Any]]) -> tuple[bool, str]:
    """``intervals``: label -> interval of (alternative minus default), higher = better. A change is supported
    when at least one interval excludes zero in the alternative's favour and none excludes zero against it;
    intervals of fewer than :data:`MIN_DECISION_PAIRS` pairs, or with no data, do not count either way (the
    reason says which)."""
    usable = {k: iv for k, iv in intervals.items() if iv.get("mean") is not None and iv["n"] >= MIN_DECISION_PAIRS}
    notes = []
    missing = [k for k, iv in intervals.items() if iv.get("mean") is None]
    small = [f"{k} (n = {iv['n']})" for k, iv in intervals.items() if iv.get("mean") is not None and k not in usable]
    if missing:
        notes.append("no data for " + ", ".join(missing))
    if small:
        notes.append(f"too few pairs to decide (< {MIN_DECISION_PAIRS}): " + ", ".join(small))
    pro = [k for k, iv in usable.items() if _favours(iv) == "alternative"]
    con = [k for k, iv in usable.items() if _favours(iv) == "default"]
    if pro and not con:
        why = "interval excludes zero in its favour: " + ", ".join(pro)
    elif con:
        why = "interval excludes zero against it: " + ", ".join(con)
    elif usable:
        why = "no interval excludes zero"
    else:
        why = "nothing to decide on"
    return bool(pro and not con), "; ".join([why, *notes])


def decide(sweep: dict[str, Any], *, default_uncond: bool, default_bias: float) -> dict[str, Any]:
    """The ``decision`` block: per knob the sweep compares, the intervals that decide it and a plain verdict.

    - ``uncond_uses_cache``: the other CFG mode minus the default one, adherence at matched leakage (the
      default mode's at the default bias), per group.
    - ``cache_bias``: in the default CFG mode, each swept bias minus the default bias, pair by pair, in adherence
      and in PSNR to the 30-step twin, per group.

    ``change_supported`` is True only where some interval excludes zero in the alternative's favour and none
    excludes zero against it: change a default there and nowhere else."""
    if default_bias not in sweep["biases"]:
        raise ValueError(
            f"decide: the default cache_bias {default_bias} is not in the sweep {sweep['biases']}.\n"
            "HINT: include it in --bias-sweep (the benchmark adds it when it builds the grid)."
        )
    out: dict[str, Any] = {}
    default_mode = next(m for m, v in CFG_MODES.items() if v == default_uncond)
    other_mode = next(m for m in CFG_MODES if m != default_mode)
    by_group = {}
    for group, matched in sweep["matched"].items():
        entry = next((m for m in matched[default_mode] if m["bias"] == default_bias), None)
        if entry is None:  # a group without pairs
            entry = {"leakage_db": None, "other_bias": None, "adherence": {"mean": None, "n": 0, "excludes_zero": None}}
        by_group[group] = {"adherence_at_matched_leakage": entry["adherence"], "leakage_db": entry["leakage_db"],
                           "other_bias": entry["other_bias"]}  # fmt: skip
    unmatched = [g for g, v in by_group.items() if v["other_bias"] is None and v["leakage_db"] is not None]
    ok, why = _verdict(
        {f"{g} adherence": v["adherence_at_matched_leakage"] for g, v in by_group.items() if g not in unmatched}
    )
    if unmatched:
        why += (
            f"; {other_mode}'s sweep never reaches the leakage of {default_mode} at bias {default_bias:g} in "
            + ", ".join(unmatched)
            + " (widen --bias-sweep)"
        )
    out["uncond_uses_cache"] = {
        "default": default_uncond,
        "alternative": CFG_MODES[other_mode],
        "compared": f"{other_mode} minus {default_mode}: adherence at the leakage of {default_mode} at bias "
        f"{default_bias:g} (matched strength)",
        "by_group": by_group,
        "change_supported": ok,
        "statement": f"uncond_uses_cache={CFG_MODES[other_mode]} instead of {default_uncond}: "
        + ("change supported" if ok else "keep the default")
        + f" ({why}).",
    }
    candidates = []
    for b in sweep["biases"]:
        if b == default_bias:
            continue
        by_group = {
            g: next(e for e in per_mode[default_mode] if e["bias"] == b)
            for g, per_mode in sweep["vs_default_bias"].items()
        }
        ok, why = _verdict({f"{g} {k}": e[k] for g, e in by_group.items() for k in ("adherence", "psnr_db")})
        candidates.append({
            "bias": b,
            "by_group": {g: {k: e[k] for k in ("adherence", "psnr_db")} for g, e in by_group.items()},
            "change_supported": ok,
            "statement": f"cache_bias={b:g} instead of {default_bias:g} ({default_mode}): "
            + ("change supported" if ok else "keep the default") + f" ({why}).",
        })  # fmt: skip
    out["cache_bias"] = {
        "default": default_bias,
        "mode": default_mode,
        "compared": f"each swept bias minus {default_bias:g} in the default CFG mode ({default_mode}), pair by "
        "pair: adherence and PSNR to the 30-step twin (higher is better for both)",
        "candidates": candidates,
        "change_supported": [c["bias"] for c in candidates if c["change_supported"]],
    }
    return out


def _aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    from research.eval.analyzer import ATTRIBUTES

    return {
        "n": len(rows),
        "adherence": _mean([r["adherence"] for r in rows]),
        "adherence_by_attribute": {a: _mean([r["adherence_by_attribute"][a] for r in rows]) for a in ATTRIBUTES},
        "psnr_db": _mean([r.get("psnr_db") for r in rows]),
        "psnr_vs_a_db": _mean([r.get("psnr_vs_a_db") for r in rows]),
        "ssim": _mean([r.get("ssim") for r in rows]),
        "temporal_consistency": _mean([r["temporal_consistency"] for r in rows]),
        "wall_s": _mean([r["wall_s"] for r in rows]),
        "steps": _mean([r["steps"] for r in rows]),
    }


def _product_defaults() -> tuple[float, bool]:
    """The product's defaults of the knobs the sweep compares: (``cache_bias``, ``uncond_uses_cache``)."""
    from chai.pipeline import PipelineConfig

    d = PipelineConfig()
    return float(d.cache_bias), bool(d.uncond_uses_cache)


#: Model evaluations (CFG batches) of a run's per-pair work, beside the swept hits: what each variant costs.
_KNOB_RUNS = 13


def estimate_seconds(b: _Bench, n_pairs: int, sweep_runs: int) -> dict[str, Any]:
    """A rough run time, printed before the run: model evaluations (one CFG batch per sampler step) times the
    measured cost of one, plus clip scorings (decode + analyzer) times the measured cost of one. Excludes the
    one-time loading of the models and the caches."""
    from research.eval import analyzer

    q = b.q
    full, hit = q.full_steps, q.hit_steps
    # baseline, plain, A's miss + B's hit, teacher-forced masks, replace, reuse, the sweep's new hits
    per_pair = full + hit + full + hit + (len(q.cache_steps) if q.teacher_forced_masks else 0) + hit + hit
    per_pair += max(0, sweep_runs - 1) * hit
    runs_per_pair = 6 + max(0, sweep_runs - 1)
    if q.knobs:
        per_pair += _KNOB_RUNS * (full + hit) + 10
        runs_per_pair += _KNOB_RUNS + 1
    C = int(b.model.config.in_channels)
    T, H, W = b.ae.get_latent_size([b.frames, b.size, b.size])
    z = torch.randn(1, C, T, H, W, generator=torch.Generator().manual_seed(0))
    y, ymask = b.enc.encode(["a small red circle moving left over a blue plain background"])
    kw = {"cfg": b.cfg_scale, "fps": b.fps, "size": b.size}
    _euler_from(b.model, z, y, ymask, t_start=1.0, steps=1, **kw)  # warm-up
    t0 = time.perf_counter()
    zz = _euler_from(b.model, z, y, ymask, t_start=1.0, steps=3, **kw)
    per_eval = (time.perf_counter() - t0) / 3
    t0 = time.perf_counter()
    clip = b.frames_of(zz)
    analyzer.adherence(clip, "a small red circle moving left over a blue plain background")
    analyzer.temporal_consistency(clip)
    per_scoring = time.perf_counter() - t0
    evals, scorings = n_pairs * per_pair, n_pairs * (runs_per_pair + 2)
    return {
        "model_evals": evals,
        "per_eval_s": per_eval,
        "clip_scorings": scorings,
        "per_scoring_s": per_scoring,
        "seconds": evals * per_eval + scorings * per_scoring,
    }


def _load_bundle(model_dir):
    from chai.synthetic import load_synthetic_model

    return load_synthetic_model(model_dir)


def run_quality(
    qcfg: QualityConfig | None = None,
    *,
    model_dir: str | Path | None = None,
    report_path: str | Path | None = None,
    grid_path: str | Path | None = None,
    doc_path: str | Path | None = None,
    sweep_plot_path: str | Path | None = None,
    threads: int | None = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the benchmark and write the requested outputs; returns the report dict (keys ``REPORT_KEYS``)."""
    from research.eval import analyzer
    from research.eval import synthetic as syn

    qcfg = qcfg or QualityConfig()
    if threads is not None:
        torch.set_num_threads(int(threads))
    t_all = time.perf_counter()
    model, ae, mconfig = _load_bundle(model_dir)
    b = _Bench(qcfg, model, ae, mconfig, progress)
    world = {"frames": b.frames, "size": b.size, "placement": b.placement}
    pairs = build_workload(qcfg.pairs, qcfg.seed, **world)
    natural = None
    if qcfg.natural_related is not None:
        natural = collect_natural_related(
            qcfg.natural_related, b.natural_hit, cap=qcfg.natural_related_cap, seed=qcfg.seed, **world
        )
        if natural.message:
            print(natural.message, file=sys.stderr)
        pairs = natural.pairs + [p for p in pairs if p.kind == "unrelated"]
    check_entities(pairs, b.cache().extractor)
    default_bias, default_uncond = _product_defaults()
    biases = sorted(set(qcfg.bias_sweep) | {default_bias}) if qcfg.bias_sweep else []
    est = estimate_seconds(b, len(pairs), 2 * len(biases))
    # printed with or without a progress bar: a long run should say how long before it starts
    print(
        f"quality: {len(pairs)} pairs, {est['model_evals']} model evaluations at {1000 * est['per_eval_s']:.1f} ms "
        f"and {est['clip_scorings']} clip scorings at {1000 * est['per_scoring_s']:.0f} ms: about "
        f"{est['seconds'] / 60:.1f} min (loading and per-pair bookkeeping add about a fifth)",
        file=sys.stderr,
    )

    runs: dict[str, dict[int, dict]] = {}
    runs["baseline-30"] = b.run_plain(pairs, "baseline-30", qcfg.full_steps)
    runs["plain-8"] = b.run_plain(pairs, "plain-8", qcfg.hit_steps)
    runs["chai-joint"] = b.run_chai(
        pairs, "chai-joint", keep_a=True, teacher=qcfg.teacher_forced_masks, mode="joint", cache_bias=qcfg.cache_bias
    )
    # A's generated clips and the analyzer's reading of them, once: the metrics, the mask IoUs and the mask
    # experiment all use them
    a_clips = [b.frames_of(runs["chai-joint"][i]["a_latents"]) for i in range(len(pairs))]
    a_analyses = {i: analyzer.analyze(v) for i, v in enumerate(a_clips)}
    # the hit-side variants replay A's entry from the chai-joint run instead of generating A again
    a_entries = {i: r["a_entry"] for i, r in runs["chai-joint"].items()}
    runs["chai-replace"] = b.run_chai(
        pairs, "chai-replace", a_entries=a_entries, mode="replace", cache_bias=qcfg.cache_bias
    )
    runs["reuse-8"] = b.run_reuse(pairs, runs["chai-joint"])
    for mode, uncond in CFG_MODES.items():
        for bias in biases:
            name = sweep_run_name(mode, bias)
            if uncond and bias == qcfg.cache_bias:
                runs[name] = runs["chai-joint"]  # the same run (deterministic): not generated twice
            else:
                runs[name] = b.run_chai(
                    pairs, name, a_entries=a_entries, mode="joint", cache_bias=bias, uncond_uses_cache=uncond
                )

    knob_specs: list[tuple[str, dict]] = []
    if qcfg.knobs:
        knob_specs = [
            ("joint bias=+1", {"mode": "joint", "cache_bias": 1.0}),
            ("joint bias=+3", {"mode": "joint", "cache_bias": 3.0}),
            ("joint no token mask", {"mode": "joint", "cache_bias": qcfg.cache_bias, "use_token_masks": False}),
            ("joint cache steps 1,2,3", {"mode": "joint", "cache_bias": qcfg.cache_bias, "cache_steps": (1, 2, 3)}),
            ("joint 10 steps", {"mode": "joint", "cache_bias": qcfg.cache_bias, "hit_steps": 10}),
            ("replace bias=+1", {"mode": "replace", "cache_bias": 1.0}),
            # one experiment per hypothesis of where CHAI loses (docs/quality.md, "Where CHAI loses")
            ("joint bias=-2", {"mode": "joint", "cache_bias": -2.0}),
            ("joint cache steps 3,4,5", {"mode": "joint", "cache_bias": qcfg.cache_bias, "cache_steps": (3, 4, 5)}),
            ("joint block 1", {"mode": "joint", "cache_bias": qcfg.cache_bias, "blocks": (1,)}),
            ("joint block 2", {"mode": "joint", "cache_bias": qcfg.cache_bias, "blocks": (2,)}),
            ("joint cond-only cache", {"mode": "joint", "cache_bias": qcfg.cache_bias, "uncond_uses_cache": False}),
            ("joint top-25% mask", {"mode": "joint", "cache_bias": qcfg.cache_bias, "mask_rule": "top"}),
            (
                "joint analyzer mask of A",
                {
                    "mode": "joint",
                    "cache_bias": qcfg.cache_bias,
                    "stored_masks": _analyzer_token_masks(b, pairs, a_analyses),
                },
            ),
        ]
        for name, kw in knob_specs:
            runs["knob:" + name] = b.run_chai(pairs, name, **kw)
        runs["knob:plain-10"] = b.run_plain(pairs, "plain-10", 10)

    # -- per-pair metrics --
    pair_recs: list[dict[str, Any]] = []
    videos: dict[str, dict[int, np.ndarray]] = {k: {} for k in runs}
    for i, p in enumerate(pairs):
        ref = b.frames_of(runs["baseline-30"][i]["latents"])
        a_clip = a_clips[i]
        truth = syn.render(p.spec_b, frames=b.frames, size=b.size).video
        rec: dict[str, Any] = {
            "index": i,
            "kind": p.kind,
            "prompt_a": p.prompt_a,
            "prompt_b": p.prompt_b,
            "seed_a": p.seed_a,
            "seed_b": p.seed_b,
            "generator_adherence": b.metrics(truth, p.spec_b, None)["adherence"],
            "natural_hit": b.natural_hit(p),
            "variants": {},
        }
        scored: dict[int, str] = {}  # id of a run -> the name it was scored under (a sweep point may be chai-joint)
        for name, rr in runs.items():
            if id(rr) in scored:
                videos[name][i] = videos[scored[id(rr)]][i]
                rec["variants"][name] = dict(rec["variants"][scored[id(rr)]])
                continue
            scored[id(rr)] = name
            v = b.frames_of(rr[i]["latents"])
            videos[name][i] = v
            m = b.metrics(v, p.spec_b, ref, a_clip)
            m["wall_s"], m["steps"] = float(rr[i]["wall_s"]), int(rr[i]["steps"])
            for k in ("hit", "score", "prompt_entity", "cached_entity", "natural_hit"):
                if k in rr[i]:
                    m[k] = rr[i][k]
            rec["variants"][name] = m
        cj = runs["chai-joint"][i]
        rec["mask_iou"] = _mask_iou_pair(b, p, cj, a_analyses[i])
        videos.setdefault("_a", {})[i] = a_clip
        videos.setdefault("_truth", {})[i] = truth
        pair_recs.append(rec)

    # -- aggregates --
    def agg(names, sel):
        return {n: _aggregate([r["variants"][n] for r in pair_recs if sel(r)]) for n in names}

    all_names = list(runs)
    variants = agg(all_names, lambda r: True)
    related = lambda r: r["kind"].startswith("related")
    by_kind = {
        "related": agg(all_names, related),
        "unrelated": agg(all_names, lambda r: not related(r)),
        "unrelated_natural_hits": agg(
            all_names, lambda r: not related(r) and r["variants"]["chai-joint"].get("natural_hit", False)
        ),
    }
    for k in ("related-background", "related-motion"):
        by_kind[k] = agg(all_names, lambda r, k=k: r["kind"] == k)
    hits = {
        kind: {
            "pairs": sum(1 for r in pair_recs if sel(r)),
            "natural_hits": sum(1 for r in pair_recs if sel(r) and r["variants"]["chai-joint"].get("natural_hit")),
            "mean_score": _mean([r["variants"]["chai-joint"].get("score") for r in pair_recs if sel(r)]),
        }
        for kind, sel in (("related", related), ("unrelated", lambda r: not related(r)))
    }
    mask = {
        "stored_vs_generated_pixel_iou": _mean([r["mask_iou"]["stored_vs_generated_pixel"] for r in pair_recs]),
        "stored_vs_generated_token_iou": _mean([r["mask_iou"]["stored_vs_generated_token"] for r in pair_recs]),
        "teacher_forced_vs_ground_truth_pixel_iou": _mean([r["mask_iou"]["teacher_forced_pixel"] for r in pair_recs]),
        "token_resolution_upper_bound_pixel_iou": _mean([r["mask_iou"]["token_upper_bound"] for r in pair_recs]),
        "mask_fraction": _mean([r["mask_iou"]["mask_fraction"] for r in pair_recs]),
        "object_found_in_generated_a": _mean([float(r["mask_iou"]["object_found"]) for r in pair_recs]),
        "token_grid": list(b.grid),
        "token_pixels": b.token_px,
    }
    targets = _targets(by_kind)
    knobs = [
        {
            "name": name,
            "related": by_kind["related"].get("knob:" + name),
            "unrelated": by_kind["unrelated"].get("knob:" + name),
        }
        for name, _ in knob_specs
    ]
    if qcfg.knobs:
        knobs.append(
            {
                "name": "plain-10",
                "related": by_kind["related"].get("knob:plain-10"),
                "unrelated": by_kind["unrelated"].get("knob:plain-10"),
            }
        )
    intervals = paired_intervals(pair_recs, resamples=qcfg.resamples, seed=qcfg.seed)
    sweep = decision = None
    if biases:
        sweep = sweep_summary(pair_recs, biases, default_bias=default_bias, resamples=qcfg.resamples, seed=qcfg.seed)
        decision = decide(sweep, default_uncond=default_uncond, default_bias=default_bias)
    manifest = json.loads((Path(model_dir or _default_dir()) / "synthetic.json").read_text())
    report = {
        "schema": "chai.quality/2",
        "config": {**qcfg.to_dict(), "cfg_scale_used": b.cfg_scale, "frames": b.frames, "size": b.size},
        "model": {
            "step": mconfig.get("total_steps", mconfig.get("step")),
            "sha256": manifest["sha256"],
            "model_config": mconfig["model_config"],
        },
        "workload": {
            "pairs": len(pairs),
            "kinds": {
                k: sum(p.kind == k for p in pairs) for k in ("related-background", "related-motion", "unrelated")
            },
            "natural_related": None
            if natural is None
            else {
                "wanted": natural.wanted,
                "found": len(natural.pairs),
                "drawn": natural.drawn,
                "cap": natural.cap,
                "message": natural.message,
            },
        },
        "variants": {k: variants[k] for k in MAIN_VARIANTS},
        "variants_by_kind": {k: {n: v[n] for n in MAIN_VARIANTS} for k, v in by_kind.items()},
        "mask_iou": mask,
        "hits": hits,
        "targets": targets,
        "intervals": intervals,
        "sweep": sweep,
        "decision": decision,
        "knobs": knobs,
        "pairs": pair_recs,
        "summary": {},
    }
    report["summary"] = {
        "generator_adherence": _mean([r["generator_adherence"] for r in pair_recs]),
        **{f"{n}.adherence": variants[n]["adherence"] for n in MAIN_VARIANTS},
        **{f"{n}.psnr_db": variants[n]["psnr_db"] for n in MAIN_VARIANTS if n != "baseline-30"},
        "targets_met": {k: v["met"] for k, v in targets.items()},
        "decision": None
        if decision is None
        else [decision["uncond_uses_cache"]["statement"]]
        + [c["statement"] for c in decision["cache_bias"]["candidates"]],
        "estimated_s": round(est["seconds"], 1),
        "wall_s": round(time.perf_counter() - t_all, 1),
    }
    if report_path:
        Path(report_path).parent.mkdir(parents=True, exist_ok=True)
        Path(report_path).write_text(json.dumps(report, indent=1, default=_json_default) + "\n")
    if grid_path:
        _draw_grid(grid_path, pairs, videos, qcfg.grid_pairs)
    if sweep_plot_path and sweep is not None:
        draw_sweep(sweep_plot_path, sweep)
    if doc_path:
        write_doc_section(
            report, doc_path, report_path=report_path, grid_path=grid_path, sweep_plot_path=sweep_plot_path
        )
    return report


def _default_dir() -> Path:
    from chai.synthetic import MODEL_DIR

    return MODEL_DIR


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.bool_):
        return bool(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _mask_iou_pair(b: _Bench, p: Pair, cj: dict, an_a) -> dict[str, Any]:
    """Mask IoUs of pair ``p``; ``an_a`` is the analyzer's reading of A's generated clip."""
    from research.eval import synthetic as syn

    out = {
        "entity": None,
        "stored_vs_generated_pixel": None,
        "stored_vs_generated_token": None,
        "teacher_forced_pixel": None,
        "token_upper_bound": None,
        "mask_fraction": None,
        "object_found": False,
    }
    masks = cj.get("a_masks") or {}
    ent = next((e for e in masks if _entity_object(e, p.spec_a) is not None), None)
    if ent is None:
        return out
    out["entity"] = ent
    k = _entity_object(ent, p.spec_a)
    tm = masks[ent]
    out["mask_fraction"] = float(tm.float().mean())
    pred_px = _token_mask_to_pixels(tm, b.grid, b.token_px)
    obj = next((o for o in an_a.objects if o.colour == p.spec_a.objects[k].colour), None)
    if obj is not None:
        out["object_found"] = True
        out["stored_vs_generated_pixel"] = _iou(pred_px, obj.mask)
        out["stored_vs_generated_token"] = _iou(
            tm.reshape(-1, *b.grid).numpy(), _pixel_mask_to_tokens(obj.mask, b.token_px)
        )
    gt = syn.render(p.spec_a, frames=b.frames, size=b.size).masks[k]
    out["token_upper_bound"] = _iou(
        _pixel_mask_to_tokens(gt, b.token_px).repeat(b.token_px, 1).repeat(b.token_px, 2), gt
    )
    ti = (cj.get("teacher_iou") or {}).get(ent)
    out["teacher_forced_pixel"] = ti
    return out


def _targets(by_kind: dict[str, dict]) -> dict[str, dict[str, Any]]:
    rel, unrel_hit = by_kind["related"], by_kind["unrelated_natural_hits"]
    out = {}
    base, chai = rel["baseline-30"]["adherence"], rel["chai-joint"]["adherence"]
    gap = None if base is None or chai is None else 100.0 * (base - chai)
    out["adherence_within_2_points"] = {
        "baseline_30": base,
        "chai_joint": chai,
        "gap_points": gap,
        "met": gap is not None and gap <= 2.0,
        "scope": "related pairs",
    }
    pc, pp = rel["chai-joint"]["psnr_db"], rel["plain-8"]["psnr_db"]
    diff = None if pc is None or pp is None else pc - pp
    out["psnr_3db_over_plain_8"] = {
        "chai_joint_db": pc,
        "plain_8_db": pp,
        "difference_db": diff,
        "met": diff is not None and diff >= 3.0,
        "scope": "related pairs, PSNR vs baseline-30 of the same seed",
    }
    n = unrel_hit["chai-joint"]["n"]
    # every unrelated pair also runs as a *forced* hit (the cache is told to match): the worst case for
    # "no loss", used for the verdict when no unrelated pair reaches the threshold on its own
    unrel = by_kind["unrelated"]
    fb, fc = unrel["baseline-30"]["adherence"], unrel["chai-joint"]["adherence"]
    if n:
        bu, cu = unrel_hit["baseline-30"]["adherence"], unrel_hit["chai-joint"]["adherence"]
        met = cu >= bu - 0.02
    else:
        bu = cu = None
        met = fb is not None and fc is not None and fc >= fb - 0.02
    out["no_loss_on_unrelated_hits"] = {
        "pairs": n,
        "baseline_30": bu,
        "chai_joint": cu,
        "forced_pairs": unrel["chai-joint"]["n"],
        "forced_baseline_30": fb,
        "forced_chai_joint": fc,
        "met": met,
        "scope": (
            "unrelated pairs that hit under the default matcher (threshold 0.72, entity agreement); when none does, "
            "every unrelated pair forced to hit (CHAI adherence at least the 30-step baseline's minus 2 points)"
        ),
    }
    return out


def grid_caption(index: int, pair: Pair, *, chars: int) -> str:
    """The grid's caption of one pair, wrapped at ``chars`` characters a line: both prompts whole, never cut."""
    import textwrap

    lines = [f"pair {index} ({pair.kind})"]
    for side, prompt in (("A", pair.prompt_a), ("B", pair.prompt_b)):
        lines += textwrap.wrap(f"{side}: {prompt}", width=max(20, chars), subsequent_indent="   ")
    return "\n".join(lines)


def _draw_grid(path, pairs: list[Pair], videos: dict[str, dict[int, np.ndarray]], n_show: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    show: list[int] = []
    for kind in ("related-background", "related-motion", "unrelated"):
        show += [i for i, p in enumerate(pairs) if p.kind == kind][:1]
    show = show[: max(1, n_show)]
    rows = [("A: 30-step miss", "_a"), ("B: generator (truth)", "_truth")] + [(n, n) for n in MAIN_VARIANTS]
    T = next(iter(videos["baseline-30"].values())).shape[0]
    width = T * 0.9 + 2.2
    captions = [grid_caption(i, pairs[i], chars=int(width * 11)) for i in show]
    # one caption row per pair, tall enough for its wrapped lines (captions are never cut), then the video rows
    heights = [r for c in captions for r in [0.14 * len(c.splitlines())] + [0.95] * len(rows)]
    fig, axes = plt.subplots(
        len(heights), 1, figsize=(width, sum(heights)), dpi=110, squeeze=False,
        gridspec_kw={"height_ratios": heights},
    )
    per = len(rows) + 1
    for pi, i in enumerate(show):
        head = axes[pi * per, 0]
        head.axis("off")
        head.text(0.0, 0.5, captions[pi], fontsize=7, ha="left", va="center", transform=head.transAxes)
        for ri, (label, key) in enumerate(rows):
            ax = axes[pi * per + 1 + ri, 0]
            v = videos[key][i]
            strip = np.concatenate([np.pad(f, ((1, 1), (1, 1), (0, 0)), constant_values=1.0) for f in v], axis=1)
            ax.imshow(np.clip(strip, 0, 1), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def draw_sweep(path, sweep: dict[str, Any]) -> None:
    """PNG of mean adherence (y) against mean leakage, PSNR to A's clip (x), one panel per group, one line per CFG
    mode, each point labelled with its cache bias; bars are the 95 % intervals of both means."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(sweep["points"])
    fig, axes = plt.subplots(1, len(groups), figsize=(5.2 * len(groups), 4.2), dpi=110, squeeze=False)
    for ax, group in zip(axes[0], groups):
        for mode, colour in zip(CFG_MODES, ("tab:blue", "tab:orange")):
            pts = [q for q in sweep["points"][group][mode] if q["adherence"]["mean"] is not None]
            if not pts:
                continue
            x = np.array([q[LEAKAGE]["mean"] for q in pts])
            y = np.array([q["adherence"]["mean"] for q in pts])
            xerr = np.array(
                [[q[LEAKAGE]["mean"] - q[LEAKAGE]["low"], q[LEAKAGE]["high"] - q[LEAKAGE]["mean"]] for q in pts]
            ).T
            yerr = np.array(
                [
                    [q["adherence"]["mean"] - q["adherence"]["low"], q["adherence"]["high"] - q["adherence"]["mean"]]
                    for q in pts
                ]
            ).T
            label = f"{mode} (uncond_uses_cache={CFG_MODES[mode]})"
            ax.errorbar(x, y, xerr=xerr, yerr=yerr, marker="o", color=colour, capsize=2, lw=1.2, label=label)
            for q, xi, yi in zip(pts, x, y):
                ax.annotate(
                    f"{q['bias']:+g}", (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=7, color=colour
                )
        n = sweep["points"][group]["both"][0]["n"] if sweep["points"][group]["both"] else 0
        ax.set_title(f"{group} (n = {n})", fontsize=9)
        ax.set_xlabel("leakage: PSNR of B's hit to A's clip (dB)", fontsize=8)
        ax.set_ylabel("adherence to B's prompt", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("CHAI-joint cache_bias sweep: labels are biases; bars are 95 % paired-bootstrap intervals", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _fmt(v, digits=3):
    if v is None:
        return "n/a"
    return f"{v:.{digits}f}"


def _fmt_iv(iv: dict[str, Any] | None, digits: int = 3) -> str:
    """``mean [low, high]`` of an interval dict, or n/a."""
    if not iv or iv.get("mean") is None:
        return "n/a"
    return f"{iv['mean']:+.{digits}f} [{iv['low']:+.{digits}f}, {iv['high']:+.{digits}f}]"


def _yes_no(v) -> str:
    return "n/a" if v is None else ("**yes**" if v else "no")


def _interval_lines(report: dict[str, Any]) -> list[str]:
    """The doc's tables of paired intervals, the sweep and the decision."""
    lines = [
        (
            "**Paired differences** (mean [95 % paired bootstrap interval], pair by pair with the same seeds; "
            f"{report['config']['resamples']} resamples)"
        ),
        "",
        "| group | n | difference | metric | mean [95 % interval] | excludes 0 |",
        "|---|---|---|---|---|---|",
    ]
    iv = report["intervals"]
    for c in iv["comparisons"]:
        d = 2 if c["metric"] == "psnr_db" else 3
        lines.append(
            f"| {c['group']} | {iv['groups'][c['group']]} | {c['variant']} minus {c['minus']} | {c['metric']} | "
            f"{_fmt_iv(c, d)} | {_yes_no(c['excludes_zero'])} |"
        )
    lines.append("")
    sw = report.get("sweep")
    if sw:
        lines += [
            (
                "**CFG halves and cache bias** (CHAI-joint; leakage = PSNR of the hit to A's clip; plot: adherence "
                "against leakage)"
            ),
            "",
            "| group | CFG mode | bias | n | adherence | leakage dB | PSNR vs 30-step dB |",
            "|---|---|---|---|---|---|---|",
        ]
        for group, modes in sw["points"].items():
            for mode, pts in modes.items():
                for q in pts:
                    lines.append(
                        f"| {group} | {mode} | {q['bias']:+g} | {q['n']} | {_fmt_iv(q['adherence'])} | "
                        f"{_fmt_iv(q[LEAKAGE], 2)} | {_fmt_iv(q['psnr_db'], 2)} |"
                    )
        lines += [
            "",
            (
                "| group | both-halves bias | its leakage dB | cond-only bias at that leakage | adherence, cond-only minus "
                "both (matched leakage) | excludes 0 | adherence, cond-only minus both (same bias) |"
            ),
            "|---|---|---|---|---|---|---|",
        ]
        for group, matched in sw["matched"].items():
            same = {e["bias"]: e for e in sw["equal_bias"][group]}
            for m in matched["both"]:
                cb = "not reached" if m["other_bias"] is None else f"{m['other_bias']:+.2f}"
                lines.append(
                    f"| {group} | {m['bias']:+g} | {_fmt(m['leakage_db'], 2)} | {cb} | {_fmt_iv(m['adherence'])} | "
                    f"{_yes_no(m['adherence']['excludes_zero'])} | {_fmt_iv(same[m['bias']]['adherence'])} |"
                )
        lines.append("")
    dec = report.get("decision")
    if dec:
        u, cb = dec["uncond_uses_cache"], dec["cache_bias"]
        lines += [
            ("**Decision** (change a default only where an interval excludes zero in its favour and none against it)"),
            "",
        ]
        lines.append(f"- {u['statement']} Compared: {u['compared']}.")
        for group, g in u["by_group"].items():
            iv2 = g["adherence_at_matched_leakage"]
            lines.append(f"  - {group}: {_fmt_iv(iv2)}, excludes zero: {_yes_no(iv2['excludes_zero'])}")
        lines.append(f"- cache_bias (default {cb['default']:g}); compared: {cb['compared']}.")
        for c in cb["candidates"]:
            parts = "; ".join(
                f"{group} {k} {_fmt_iv(v, 2 if k == 'psnr_db' else 3)}"
                for group, g in c["by_group"].items()
                for k, v in g.items()
            )
            lines.append(f"  - {c['statement']} {parts}")
        lines.append("")
    return lines


def write_doc_section(
    report: dict[str, Any], doc_path, *, report_path=None, grid_path=None, sweep_plot_path=None
) -> None:
    """Replace (or append) the marked results section of ``doc_path`` with the report's tables."""
    lines = [DOC_BEGIN, "", "### Measured results (generated by `python -m research.eval quality --doc`)", ""]
    c = report["config"]
    lines.append(
        f"Model step {report['model']['step']} (sha256 `{report['model']['sha256'][:12]}…`), "
        f"{report['workload']['pairs']} pairs ({report['workload']['kinds']}), {c['frames']} frames of "
        f"{c['size']}x{c['size']}, cfg {c['cfg_scale_used']}, cache bias {c['cache_bias']}, full/hit steps "
        f"{c['full_steps']}/{c['hit_steps']}. Analyzer adherence on the generator's own clips of B: "
        f"{_fmt(report['summary']['generator_adherence'])}."
    )
    lines.append("")
    for kind in ("related", "unrelated"):
        vk = report["variants_by_kind"][kind]
        lines += [
            f"**{kind} pairs** (n = {vk['baseline-30']['n']})",
            "",
            (
                "| variant | steps | adherence | PSNR vs 30-step (dB) | SSIM vs 30-step | PSNR vs A (dB) "
                "| temporal consistency | wall s |"
            ),
            "|---|---|---|---|---|---|---|---|",
        ]
        for n in MAIN_VARIANTS:
            v = vk[n]
            psnr = "ref" if n == "baseline-30" else _fmt(v["psnr_db"], 2)
            ss = "ref" if n == "baseline-30" else _fmt(v["ssim"])
            lines.append(
                f"| {n} | {_fmt(v['steps'], 0)} | {_fmt(v['adherence'])} | {psnr} | {ss} | "
                f"{_fmt(v.get('psnr_vs_a_db'), 2)} | {_fmt(v['temporal_consistency'])} | {_fmt(v['wall_s'], 2)} |"
            )
        lines.append("")
    from research.eval.analyzer import ATTRIBUTES

    lines += [
        "**Adherence by attribute** (all pairs)",
        "",
        "| variant | " + " | ".join(ATTRIBUTES) + " |",
        "|---|" + "---|" * len(ATTRIBUTES),
    ]
    for n in MAIN_VARIANTS:
        by = report["variants"][n]["adherence_by_attribute"]
        lines.append(f"| {n} | " + " | ".join(_fmt(by.get(a), 2) for a in ATTRIBUTES) + " |")
    lines.append("")
    m = report["mask_iou"]
    h = report["hits"]
    lines += [
        (
            f"**Entity masks** (token grid {m['token_grid'][0]}x{m['token_grid'][1]}, "
            f"{m['token_pixels']}x{m['token_pixels']} pixels per token): stored mask vs the analyzer's segmentation "
            f"of A's generated clip, pixel IoU {_fmt(m['stored_vs_generated_pixel_iou'])} (token IoU "
            f"{_fmt(m['stored_vs_generated_token_iou'])}; A's object found by the analyzer in "
            f"{_fmt(m['object_found_in_generated_a'], 2)} of A clips); teacher-forced mask on the generator's clip "
            f"vs ground truth, pixel IoU {_fmt(m['teacher_forced_vs_ground_truth_pixel_iou'])}; for scale, the ground "
            f"truth's own token-resolution mask (tokens holding any object pixel) scores "
            f"{_fmt(m['token_resolution_upper_bound_pixel_iou'])} against it; mean fraction "
            f"of tokens selected {_fmt(m['mask_fraction'])}."
        ),
        "",
        (
            f"**Natural hits** under the default matcher (threshold 0.72, entity agreement): related {h['related']['natural_hits']}/"
            f"{h['related']['pairs']} (mean score {_fmt(h['related']['mean_score'])}), unrelated "
            f"{h['unrelated']['natural_hits']}/{h['unrelated']['pairs']} (mean score "
            f"{_fmt(h['unrelated']['mean_score'])})."
        ),
        "",
        "**Targets**",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    t = report["targets"]
    a = t["adherence_within_2_points"]
    lines.append(
        f"| CHAI adherence within 2 points of 30-step (related) | baseline {_fmt(a['baseline_30'])}, CHAI "
        f"{_fmt(a['chai_joint'])}, gap {_fmt(a['gap_points'], 1)} points | {'yes' if a['met'] else 'no'} |"
    )
    p = t["psnr_3db_over_plain_8"]
    lines.append(
        f"| CHAI >= 3 dB closer to 30-step than plain 8-step (related) | CHAI {_fmt(p['chai_joint_db'], 2)} dB, "
        f"plain {_fmt(p['plain_8_db'], 2)} dB, diff {_fmt(p['difference_db'], 2)} dB | "
        f"{'yes' if p['met'] else 'no'} |"
    )
    u = t["no_loss_on_unrelated_hits"]
    lines.append(
        f"| no adherence loss on unrelated pairs that hit | {u['pairs']} natural hits (baseline "
        f"{_fmt(u['baseline_30'])}, CHAI {_fmt(u['chai_joint'])}); all {u.get('forced_pairs', 'n/a')} forced to hit: "
        f"baseline {_fmt(u.get('forced_baseline_30'))}, CHAI {_fmt(u.get('forced_chai_joint'))} | "
        f"{'yes' if u['met'] else 'no'} |"
    )
    lines.append("")
    lines += _interval_lines(report)
    if report["knobs"]:
        lines += [
            "**Knobs** (related pairs: adherence, PSNR vs B's 30-step clip and vs A's clip; unrelated adherence)",
            "",
            "| setting | steps | adherence (related) | PSNR dB (related) | PSNR vs A dB (related) | adherence (unrelated) |",
            "|---|---|---|---|---|---|",
        ]
        for k in report["knobs"]:
            r, u2 = k["related"] or {}, k["unrelated"] or {}
            lines.append(
                f"| {k['name']} | {_fmt(r.get('steps'), 0)} | {_fmt(r.get('adherence'))} | "
                f"{_fmt(r.get('psnr_db'), 2)} | {_fmt(r.get('psnr_vs_a_db'), 2)} | {_fmt(u2.get('adherence'))} |"
            )
        lines.append("")
    if report_path or grid_path or sweep_plot_path:
        lines.append(f"Files: report `{report_path}`, grid `{grid_path}`, sweep plot `{sweep_plot_path}`.")
        lines.append("")
    lines.append(DOC_END)
    replace_doc_section(doc_path, DOC_BEGIN, DOC_END, "\n".join(lines))


def replace_doc_section(doc_path, begin: str, end: str, section: str) -> None:
    """Put ``section`` (which starts with ``begin`` and ends with ``end``) in place of the text between the first
    ``begin`` / ``end`` markers of ``doc_path``, or append it when the file lacks them."""
    path = Path(doc_path)
    text = path.read_text() if path.exists() else ""
    if begin in text and end in text:
        pre, rest = text.split(begin, 1)
        text = pre + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section + "\n"
    path.write_text(text)
