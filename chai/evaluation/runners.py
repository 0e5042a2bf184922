"""The four runs of a pair, for each kind of pipeline ``chai eval quality`` supports.

A runner answers two questions with the same seed:

- ``miss_and_hit(cached, request, seed)``: empty the cache, generate ``cached`` (a miss: the full schedule,
  inserted) and then ``request`` (a lookup: the hit, or a miss whose reason is reported);
- ``plain(prompt, seed, steps)``: ``prompt`` without the cache, ``steps`` steps (the twins: full and hit
  length).

Two runners: :class:`STDiT3Runner` (``chai.CHAIPipeline``: the trained synthetic STDiT3, random-weight presets,
OpenSora 1.2 weights with their T5 captions) and :class:`DiffusersRunner` (a diffusers Wan / CogVideoX / Latte pipeline with
``chai.diffusers.enable_chai``). They load nothing: the CLI builds the models with the loaders ``chai run``
uses and hands them in.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

__all__ = ["Clip", "DiffusersRunner", "Outcome", "STDiT3Runner"]


@dataclass
class Clip:
    """One generated clip: ``values`` (T, H, W, C) float64 for the metrics, ``display`` (T, H, W, 3) uint8 for the
    contact sheet. ``space`` is "pixels" (values in [0, 1]) or "latent" (no decoder: the latent's channels)."""

    values: np.ndarray
    display: torch.Tensor
    space: str


@dataclass
class Outcome:
    """What the request's lookup did. ``hit``: served from the miss's entry; ``steps``: steps it ran;
    ``reason``: "" for a hit, else why not (the matcher's reason, or "the miss was not cached"); the matched
    entities and cosine on a hit; ``cached_entities``: the keys the miss was stored under."""

    hit: bool
    steps: int
    reason: str
    prompt_entity: str | None = None
    cached_entity: str | None = None
    score: float | None = None
    cached_entities: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "hit": self.hit,
            "steps": self.steps,
            "reason": self.reason,
            "prompt_entity": self.prompt_entity,
            "cached_entity": self.cached_entity,
            "score": self.score,
            "cached_entities": list(self.cached_entities),
        }


def _pixel_clip(video: torch.Tensor) -> Clip:
    """A clip from (T, H, W, 3) float frames in [0, 1]."""
    v = video.detach().float().cpu().clamp(0.0, 1.0)
    return Clip(v.double().numpy(), (v * 255.0).round().to(torch.uint8), "pixels")


def _miss_reason(lookup_reason: str | None, miss_cached: bool) -> str:
    if not miss_cached:
        return "the miss was not cached (its prompt has no entity to store it under)"
    return lookup_reason or "no_match"


class STDiT3Runner:
    """Pairs through :class:`chai.CHAIPipeline` (which it builds, patching ``model``, and closes).

    ``size`` is the clip: ``{"num_frames", "height", "width"}``. The cache must be empty-able
    (``cache.clear()``): every pair starts from an empty cache, so a hit can only reuse its own miss.
    """

    kind = "stdit3"

    def __init__(self, model: Any, text_encoder: Any, cache: Any, *, config: Any, vae: Any, device: str, size: dict):
        from chai.pipeline import CHAIPipeline

        self.pipe = CHAIPipeline(model, text_encoder, cache, config=config, vae=vae, device=device)
        self.cache = cache
        self.size = dict(size)
        self.space = "latent" if vae is None else "pixels"
        self.full_steps, self.hit_steps = config.full_steps, config.hit_steps

    def close(self) -> None:
        self.pipe.close()

    def _clip(self, result: Any) -> Clip:
        if result.video is not None:  # the decoder's [-1, 1] video
            return _pixel_clip((result.video[0].permute(1, 2, 3, 0) + 1.0) * 0.5)
        from chai.demo import clip_frames  # channels 0-2, stretched per clip (what the demo's picture shows)

        z = result.latents[0].detach().float().cpu().permute(1, 2, 3, 0)  # (T, H, W, C)
        return Clip(z.double().numpy(), clip_frames(result), "latent")

    def plain(self, prompt: str, seed: int, steps: int) -> Clip:
        res = self.pipe.generate(prompt, seed=seed, use_cache=False, num_steps=steps, miss_cache=False, **self.size)
        return self._clip(res)

    def miss_and_hit(self, cached: str, request: str, seed: int) -> tuple[Clip, Clip, Outcome]:
        self.cache.clear()
        miss = self.pipe.generate(cached, seed=seed, **self.size)
        hit = self.pipe.generate(request, seed=seed, **self.size)
        outcome = Outcome(
            hit=bool(hit.hit),
            steps=int(hit.steps),
            reason="" if hit.hit else _miss_reason(hit.lookup_reason, miss.inserted_entry is not None),
            prompt_entity=hit.prompt_entity,
            cached_entity=hit.cached_entity,
            score=hit.score,
            cached_entities=list(miss.entities),
        )
        return self._clip(miss), self._clip(hit), outcome

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "config": self.pipe.config.to_dict(), **self.size}


class DiffusersRunner:
    """Pairs through a diffusers pipeline with CHAI enabled on it (``enable_chai``; removed by ``close()``).

    ``call_kwargs`` are the size arguments of every call (``chai.diffusers.cli_run.call_arguments``). The
    twins run on ``copy.copy`` of the CHAI'd pipeline: a stock pipeline object sharing its components, whose
    calls run without CHAI. The hit length is ``config.steps_for_hit(full_steps)``.
    """

    kind = "diffusers"

    def __init__(self, pipe: Any, cache: Any, *, config: Any, full_steps: int, call_kwargs: dict):
        from chai.diffusers import enable_chai

        self.handle = enable_chai(pipe, cache=cache, config=config)
        self.stock = copy.copy(pipe)
        self.space = "pixels"
        self.cache = cache
        self.call_kwargs = dict(call_kwargs)
        self.full_steps = int(full_steps)
        self.hit_steps = int(config.steps_for_hit(self.full_steps))

    def close(self) -> None:
        self.handle.remove()

    def _call(self, pipe: Any, prompt: str, seed: int, steps: int) -> Clip:
        gen = torch.Generator(device="cpu").manual_seed(seed)
        out = pipe(prompt=prompt, num_inference_steps=steps, generator=gen, output_type="np", **self.call_kwargs)
        return _pixel_clip(torch.as_tensor(np.asarray(out.frames[0]), dtype=torch.float32))

    def plain(self, prompt: str, seed: int, steps: int) -> Clip:
        return self._call(self.stock, prompt, seed, steps)

    def miss_and_hit(self, cached: str, request: str, seed: int) -> tuple[Clip, Clip, Outcome]:
        self.cache.clear()
        miss = self._call(self.handle.pipe, cached, seed, self.full_steps)
        m = self.handle.last
        hit = self._call(self.handle.pipe, request, seed, self.full_steps)
        h = self.handle.last
        match = h.matches[0] if h.hit and h.matches else None
        miss_cached = bool(m.inserted and m.inserted[0] is not None)
        reason = ""
        if not h.hit:
            looked = h.lookup_reasons[0] if h.lookup_reasons else ""
            reason = _miss_reason(looked or h.reason, miss_cached)
        outcome = Outcome(
            hit=bool(h.hit),
            steps=int(h.steps),
            reason=reason,
            prompt_entity=None if match is None else match["prompt_entity"],
            cached_entity=None if match is None else match["cached_entity"],
            score=None if match is None else float(match["score"]),
            cached_entities=sorted(m.entity_masks[0]) if miss_cached and m.entity_masks else [],
        )
        return miss, hit, outcome

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "class": type(self.stock).__name__,
            "config": self.handle.config.to_dict(),
            "full_steps": self.full_steps,
            "hit_steps": self.hit_steps,
            "call": {k: v for k, v in self.call_kwargs.items() if isinstance(v, (int, float, str, bool))},
        }
