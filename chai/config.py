"""Configuration of the Cache Attention patch (``chai.patch_opensora``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["CACHE_MODES", "MISS_CACHE_PROBES", "CacheAttentionConfig", "MissCacheConfig"]

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


#: What the first-block residual cache runs before it decides (``MissCacheConfig.probe``).
MISS_CACHE_PROBES = ("pair", "block")


@dataclass(frozen=True)
class MissCacheConfig:
    """First-block residual cache within one sampling run (step-level caching; used on misses by default).

    At every model call the probe runs: the first transformer block ``spatial_blocks[0]`` (``probe="block"``)
    or the first block pair, ``spatial_blocks[0]`` then ``temporal_blocks[0]`` (``probe="pair"``). Its output
    residual r = out0 - in0 is compared with r at the last fully computed call: when the relative L1 change
    ``mean|r - r_ref| / mean|r_ref|`` is below ``threshold``, the remaining blocks are not run and their residual
    from that computed call (output of the last block minus out0) is added to out0 instead. The decision is taken
    once per model call over the whole batch, so both CFG halves share it.

    Attributes:
        threshold: relative L1 change below which a call reuses the cached residual (0 never skips).
        on_hits: also skip on hits (the 8-step schedule with Cache Attention); default misses only.
        probe: "pair" or "block": what always runs and is compared. A skipping call costs the probe, so "block"
            halves that cost (1 of 2 x depth blocks instead of 2); the two read different residuals, so a
            threshold tuned for one is not the other's (docs/pipeline.md).
    """

    threshold: float
    on_hits: bool = False
    probe: str = "block"

    def __post_init__(self) -> None:
        t = self.threshold
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(float(t)) or t < 0:
            raise ValueError(
                f"MissCacheConfig.threshold must be a finite number >= 0, got {t!r}."
                " HINT: 0.05-0.2 skips a useful share of steps; 0 never skips."
            )
        object.__setattr__(self, "threshold", float(t))
        if not isinstance(self.on_hits, bool):
            raise TypeError(f"MissCacheConfig.on_hits must be a bool, got {self.on_hits!r}.")
        if self.probe not in MISS_CACHE_PROBES:
            raise ValueError(
                f"MissCacheConfig.probe must be one of {MISS_CACHE_PROBES}, got {self.probe!r}."
                " HINT: 'block' runs spatial_blocks[0] alone before deciding, 'pair' adds temporal_blocks[0]."
            )

    @property
    def probe_blocks(self) -> int:
        """Blocks the probe runs at every call (1 or 2)."""
        return 1 if self.probe == "block" else 2
