"""Settings of :func:`chai.diffusers.enable_chai` (no diffusers import here)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["ChaiDiffusersConfig"]


@dataclass
class ChaiDiffusersConfig:
    """How CHAI runs inside a diffusers pipeline (defaults: the CHAI paper's 30 -> 8 schedule).

    hit_steps: steps of a cache hit. None (default) scales the call's ``num_inference_steps`` by
        ``hit_ratio`` (30 -> 8, 50 -> 13), never below ``max(cache_steps)`` and never above the call's steps.
    hit_ratio: the scale used when ``hit_steps`` is None (8 / 30).
    cache_steps: 1-based steps of the hit schedule that run Cache Attention, one cached latent each. On a
        miss, the latents entering the transformer are captured at the miss-schedule steps whose timesteps are
        nearest to the hit schedule's timesteps at these steps (the pipeline's own scheduler decides both).
    mode: ``"joint"`` (one softmax over current + selected cached keys) or ``"replace"``.
    cache_bias: logit bias added to cached keys.
    uncond_uses_cache: the unconditional CFG branch also attends to the cache (as in the paper's OpenSora runs).
    use_token_masks: capture per-entity token masks on a miss and restrict a hit to the matched entity's tokens.
    mask_rule / mask_top_fraction: ``"mean"`` (tokens scoring at least their frame's mean) or ``"top"`` (the
        best ``mask_top_fraction`` of each frame); see docs/pipeline.md, "Entity token masks".
    model_id: the cache's model identity; None derives it from the pipeline class, the transformer class,
        its ``_name_or_path`` and a hash of its config (see ``chai.diffusers.model_id_for``).
    backend: ``chai_kernels.cache_attention`` backend: None (Triton on CUDA, torch on CPU), "triton", "torch".
    """

    hit_steps: int | None = None
    hit_ratio: float = 8 / 30
    cache_steps: tuple[int, ...] = (2, 3, 4)
    mode: str = "joint"
    cache_bias: float = 0.0
    uncond_uses_cache: bool = True
    use_token_masks: bool = True
    mask_rule: str = "mean"
    mask_top_fraction: float = 0.25
    model_id: str | None = None
    backend: str | None = None

    def __post_init__(self) -> None:
        self.cache_steps = tuple(int(s) for s in self.cache_steps)
        if (
            not self.cache_steps
            or any(s < 1 for s in self.cache_steps)
            or len(set(self.cache_steps)) != len(self.cache_steps)
        ):
            raise ValueError(
                f"ChaiDiffusersConfig.cache_steps={self.cache_steps} must be distinct 1-based steps. "
                "HINT: the paper uses cache_steps=(2, 3, 4)."
            )
        if self.hit_steps is not None:
            if not isinstance(self.hit_steps, int) or isinstance(self.hit_steps, bool):
                raise TypeError(f"ChaiDiffusersConfig.hit_steps must be an int or None, got {self.hit_steps!r}.")
            if self.hit_steps < max(self.cache_steps):
                raise ValueError(
                    f"ChaiDiffusersConfig.hit_steps={self.hit_steps} is shorter than the last cache step "
                    f"{max(self.cache_steps)}. HINT: hit_steps >= max(cache_steps), e.g. 8 with (2, 3, 4)."
                )
        r = self.hit_ratio
        if not isinstance(r, (int, float)) or isinstance(r, bool) or not math.isfinite(r) or not 0 < r <= 1:
            raise ValueError(f"ChaiDiffusersConfig.hit_ratio={r!r} must be in (0, 1]. HINT: 8 / 30.")
        if self.mode not in ("joint", "replace"):
            raise ValueError(f"ChaiDiffusersConfig.mode={self.mode!r}. HINT: use 'joint' or 'replace'.")
        if self.mask_rule not in ("mean", "top"):
            raise ValueError(f"ChaiDiffusersConfig.mask_rule={self.mask_rule!r}. HINT: use 'mean' or 'top'.")
        if not 0.0 < float(self.mask_top_fraction) <= 1.0:
            raise ValueError(
                f"ChaiDiffusersConfig.mask_top_fraction={self.mask_top_fraction!r} must be in (0, 1]. HINT: 0.25."
            )
        if not isinstance(self.cache_bias, (int, float)) or not math.isfinite(self.cache_bias):
            raise ValueError(f"ChaiDiffusersConfig.cache_bias={self.cache_bias!r} must be finite. HINT: 0.0.")
        if self.backend not in (None, "triton", "torch"):
            raise ValueError(f"ChaiDiffusersConfig.backend={self.backend!r}. HINT: None, 'triton' or 'torch'.")
        if self.model_id is not None and (not isinstance(self.model_id, str) or not self.model_id):
            raise ValueError(f"ChaiDiffusersConfig.model_id={self.model_id!r} must be a non-empty string or None.")

    def steps_for_hit(self, requested: int) -> int:
        """Hit-schedule length for a call that asked for ``requested`` steps."""
        if self.hit_steps is not None:
            n = self.hit_steps
        else:
            n = round(requested * self.hit_ratio)
        return max(max(self.cache_steps), min(n, requested))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cache_steps"] = list(self.cache_steps)
        return d
