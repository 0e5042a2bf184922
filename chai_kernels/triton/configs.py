"""Launch configurations for the Triton kernels: one table, opt-in autotuning.

``CACHE_ATTN_CONFIGS`` maps (padded head dim, dtype name) to the default ``LaunchConfig``. These are
starting points chosen from FlashAttention-2 / Triton tutorial practice on Hopper (128-row query
tiles, 64-key tiles, fewer rows for fp32 and head dim 256 because of register pressure), except the
OpenSora case (bf16 / fp16, head dim 72 padded to 128), which comes from a sweep on an H200
(``python -m csrc_bench.tune_cache_attention``; see docs/benchmarks.md).

Autotuning is opt-in (``set_autotune(True)``) and always off under ``TRITON_INTERPRET=1``, where
Triton's benchmarker needs a GPU driver. The launcher then times ``autotune_candidates(...)`` once per
``autotune_key(...)`` (bucketed sequence lengths, so new lengths do not trigger a re-tune storm) and
caches the winner in ``_TUNED``.

Under the interpreter the cost is (programs x inner-loop steps) x a few ms of numpy work, so
``interpreter_config`` uses the largest blocks the problem can fill (up to 128).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = [
    "LaunchConfig",
    "CACHE_ATTN_CONFIGS",
    "cache_attention_config",
    "interpreter_config",
    "autotune_candidates",
    "autotune_key",
    "set_autotune",
    "autotune_enabled",
    "next_pow2",
]


@dataclass(frozen=True)
class LaunchConfig:
    BLOCK_M: int
    BLOCK_N: int
    num_warps: int
    num_stages: int


def next_pow2(x: int) -> int:
    return 1 << max(0, (int(x) - 1).bit_length())


_HALF = ("float16", "bfloat16")

# (padded head dim, dtype) -> default config.
CACHE_ATTN_CONFIGS: dict[tuple[int, str], LaunchConfig] = {}
for _dt in _HALF:
    CACHE_ATTN_CONFIGS[(16, _dt)] = LaunchConfig(128, 64, 4, 3)
    CACHE_ATTN_CONFIGS[(32, _dt)] = LaunchConfig(128, 64, 4, 3)
    CACHE_ATTN_CONFIGS[(64, _dt)] = LaunchConfig(128, 64, 4, 3)
    # head dim 72..128 (OpenSora: 72): measured on an H200 (csrc_bench/results/tune_nvidia-h200.log),
    # 480p-spatial: 3.85 ms vs 4.63 ms for the earlier (128, 64, 8, 3) guess
    CACHE_ATTN_CONFIGS[(128, _dt)] = LaunchConfig(128, 32, 4, 4)
    CACHE_ATTN_CONFIGS[(256, _dt)] = LaunchConfig(64, 32, 4, 2)
CACHE_ATTN_CONFIGS[(16, "float32")] = LaunchConfig(64, 32, 4, 2)
CACHE_ATTN_CONFIGS[(32, "float32")] = LaunchConfig(64, 32, 4, 2)
CACHE_ATTN_CONFIGS[(64, "float32")] = LaunchConfig(64, 32, 4, 2)
CACHE_ATTN_CONFIGS[(128, "float32")] = LaunchConfig(64, 32, 4, 2)
CACHE_ATTN_CONFIGS[(256, "float32")] = LaunchConfig(32, 32, 4, 1)

_AUTOTUNE = False
_TUNED: dict[tuple, LaunchConfig] = {}


def set_autotune(enabled: bool) -> None:
    """Switch launch-time autotuning on or off (process-wide). Off by default."""
    global _AUTOTUNE
    _AUTOTUNE = bool(enabled)


def autotune_enabled(interpret: bool) -> bool:
    return _AUTOTUNE and not interpret


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def cache_attention_config(head_dim_pad: int, dtype: torch.dtype) -> LaunchConfig:
    """Default GPU config for a padded head dim (16..256, power of two) and float dtype."""
    return CACHE_ATTN_CONFIGS[(max(16, head_dim_pad), _dtype_name(dtype))]


def interpreter_config(n_q: int, n_keys: int) -> LaunchConfig:
    """Interpreter config: as few programs and loop steps as possible (tiles >= 16 so GPUs also compile)."""
    bm = min(128, max(16, next_pow2(n_q)))
    bn = min(128, max(16, next_pow2(n_keys)))
    return LaunchConfig(bm, bn, 4, 1)


def autotune_candidates(head_dim_pad: int, dtype: torch.dtype) -> list[LaunchConfig]:
    """Search space for opt-in autotuning, pruned by head dim (register pressure)."""
    big = head_dim_pad >= 256 or dtype == torch.float32
    out = []
    for bm in (64, 128):
        for bn in (32, 64, 128):
            for warps in (4, 8):
                for stages in (2, 3, 4):
                    if big and (bm == 128 and bn >= 64):
                        continue
                    if bn == 128 and head_dim_pad > 64:
                        continue
                    out.append(LaunchConfig(bm, bn, warps, stages))
    return out


def autotune_key(head_dim_pad: int, dtype: torch.dtype, n_q: int, n_k: int, m_c: int, quant: str | None) -> tuple:
    """Bucketed specialisation key: lengths rounded up to powers of two."""
    return (head_dim_pad, _dtype_name(dtype), next_pow2(n_q), next_pow2(n_k), next_pow2(max(m_c, 1)), quant)
