"""Configuration of the Cache Attention patch (``chai.patch_opensora``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["CacheAttentionConfig", "CACHE_MODES"]

CACHE_MODES = ("joint", "replace")


@dataclass(frozen=True)
class CacheAttentionConfig:
    """Where and how Cache Attention runs; validated on construction.

    Attributes:
        blocks: indices of ``spatial_blocks`` whose self-attention is patched (CHAI: block 0 only).
        steps: 1-based sampler steps of the hit schedule at which the cache is used (CHAI: 2, 3, 4).
        mode: ``"joint"`` (current + selected cached keys, one softmax) or ``"replace"`` (cached keys
            only; a frame whose token mask selects nothing falls back to plain self-attention).
        cache_bias: float added to the logits of cached keys (reuse strength; 0 = plain softmax).
        uncond_uses_cache: whether the unconditional CFG half also attends to the cache (default yes).
    """

    blocks: tuple[int, ...] = (0,)
    steps: tuple[int, ...] = (2, 3, 4)
    mode: str = "joint"
    cache_bias: float = 0.0
    uncond_uses_cache: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "blocks", self._int_tuple("blocks", self.blocks, minimum=0))
        object.__setattr__(self, "steps", self._int_tuple("steps", self.steps, minimum=1))
        if not self.blocks:
            raise ValueError("blocks must name at least one spatial block, got (). HINT: CHAI uses blocks=(0,).")
        if self.mode not in CACHE_MODES:
            raise ValueError(f"mode must be one of {CACHE_MODES}, got {self.mode!r}. HINT: 'joint' is the default.")
        if isinstance(self.cache_bias, bool) or not isinstance(self.cache_bias, (int, float)):
            raise TypeError(f"cache_bias must be a float, got {type(self.cache_bias).__name__} {self.cache_bias!r}.")
        if not math.isfinite(float(self.cache_bias)):
            raise ValueError(f"cache_bias must be finite, got {self.cache_bias!r}. HINT: use e.g. 0.0 or 1.0.")
        object.__setattr__(self, "cache_bias", float(self.cache_bias))
        if not isinstance(self.uncond_uses_cache, bool):
            raise TypeError(f"uncond_uses_cache must be a bool, got {self.uncond_uses_cache!r}.")

    @staticmethod
    def _int_tuple(name: str, value, *, minimum: int) -> tuple[int, ...]:
        if isinstance(value, int) and not isinstance(value, bool):
            value = (value,)
        try:
            items = tuple(value)
        except TypeError:
            raise TypeError(f"{name} must be a tuple of ints, got {value!r}. HINT: e.g. {name}=(0,).") from None
        for v in items:
            if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
                raise ValueError(
                    f"{name} must hold ints >= {minimum}, got {items!r}."
                    f" HINT: {'steps are 1-based, e.g. (2, 3, 4)' if name == 'steps' else 'block indices start at 0'}."
                )
        if len(set(items)) != len(items):
            raise ValueError(f"{name} has duplicates: {items!r}. HINT: list each value once.")
        return tuple(sorted(items))
