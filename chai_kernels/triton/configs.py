"""Launch configurations for the Triton kernels: one table, one ``triton.autotune`` search space.

The Cache Attention kernel is wrapped in ``triton.autotune`` over ``cache_attention_search_space()``,
keyed on the shape buckets (query, key and cached lengths rounded up to powers of two, the head count,
the dtypes) so new sequence lengths inside a bucket never re-tune. ``prune_cache_attention_configs``
decides what is timed:

- under ``TRITON_INTERPRET=1``: one config, the largest blocks the problem fills (<= 128; the
  interpreter's cost is programs x loop steps x a few ms of numpy, and Triton's benchmarker needs a GPU
  driver);
- with autotuning off (the default): one config, the tuned table ``CACHE_ATTN_CONFIGS`` below, so the
  first call costs no timing runs;
- with ``set_autotune(True)``: every config of the search space that fits the head dim, dtype and
  lengths (register and shared-memory pressure), timed once per bucket; the winner is cached.

``CACHE_ATTN_CONFIGS`` maps (total chunk width D_A + D_B, dtype name) to the default ``LaunchConfig``.
Starting points from FlashAttention-2 / Triton tutorial practice on Hopper, except the OpenSora case
(bf16 / fp16, head dim 72), which comes from a sweep on an H200 (``python -m csrc_bench.tune_cache_attention``)
made while 72 was still padded to 128; it has not been re-tuned for the 64 + 16 layout.

Short sequences (N, N_k, M <= 32) use packed tiles (``pack_rows``): several batch rows per program.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

__all__ = [
    "LaunchConfig",
    "CACHE_ATTN_CONFIGS",
    "cache_attention_config",
    "interpreter_config",
    "cache_attention_search_space",
    "prune_cache_attention_configs",
    "autotune_bench",
    "autotune_candidates",
    "length_bucket",
    "pack_rows",
    "packed_config",
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

    def kwargs(self) -> dict:
        """Keyword arguments of a kernel launch: the two block constexprs plus num_warps / num_stages."""
        return asdict(self)


def next_pow2(x: int) -> int:
    return 1 << max(0, (int(x) - 1).bit_length())


def length_bucket(n: int) -> int:
    """Autotune key of a sequence length: rounded up to a power of two (>= 16)."""
    return max(16, next_pow2(max(1, n)))


_HALF = ("float16", "bfloat16")

# (D_A + D_B, dtype) -> default config. Widths are chunk sums: 72 -> 64 + 16 = 80.
CACHE_ATTN_CONFIGS: dict[tuple[int, str], LaunchConfig] = {}
for _dt in _HALF:
    CACHE_ATTN_CONFIGS[(16, _dt)] = LaunchConfig(128, 64, 4, 3)
    CACHE_ATTN_CONFIGS[(32, _dt)] = LaunchConfig(128, 64, 4, 3)
    CACHE_ATTN_CONFIGS[(64, _dt)] = LaunchConfig(128, 64, 4, 3)
    # head dims 72..128 (OpenSora: 72): H200 sweep (csrc_bench/results/tune_nvidia-h200.log), 480p-spatial:
    # 3.85 ms vs 4.63 ms for the earlier (128, 64, 8, 3) guess (measured with 72 padded to 128)
    CACHE_ATTN_CONFIGS[(128, _dt)] = LaunchConfig(128, 32, 4, 4)
    CACHE_ATTN_CONFIGS[(256, _dt)] = LaunchConfig(64, 32, 4, 2)
CACHE_ATTN_CONFIGS[(16, "float32")] = LaunchConfig(64, 32, 4, 2)
CACHE_ATTN_CONFIGS[(32, "float32")] = LaunchConfig(64, 32, 4, 2)
CACHE_ATTN_CONFIGS[(64, "float32")] = LaunchConfig(64, 32, 4, 2)
CACHE_ATTN_CONFIGS[(128, "float32")] = LaunchConfig(64, 32, 4, 2)
CACHE_ATTN_CONFIGS[(256, "float32")] = LaunchConfig(32, 32, 4, 1)

_AUTOTUNE = False


def set_autotune(enabled: bool) -> None:
    """Switch launch-time autotuning on or off (process-wide). Off by default: the table is used."""
    global _AUTOTUNE
    _AUTOTUNE = bool(enabled)


def autotune_enabled(interpret: bool | None = None) -> bool:
    if interpret is None:
        from chai_kernels import _env

        interpret = _env.interpret_mode()
    return _AUTOTUNE and not interpret


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def cache_attention_config(width: int, dtype: torch.dtype) -> LaunchConfig:
    """Default GPU config for a chunk width D_A + D_B (16..256) and a float dtype (the tuned table)."""
    return CACHE_ATTN_CONFIGS[(min(256, max(16, next_pow2(width))), _dtype_name(dtype))]


def interpreter_config(n_q: int, n_keys: int) -> LaunchConfig:
    """Interpreter config: as few programs and loop steps as possible (tiles >= 16 so GPUs also compile)."""
    bm = min(128, max(16, next_pow2(n_q)))
    bn = min(128, max(16, next_pow2(n_keys)))
    return LaunchConfig(bm, bn, 4, 1)


def autotune_candidates(width: int, dtype: torch.dtype, n_q: int | None = None) -> list[LaunchConfig]:
    """The search space pruned by chunk width / dtype (register pressure) and query length."""
    big = width > 128 or dtype == torch.float32
    out = []
    for bm in (64, 128):
        if n_q is not None and bm > max(64, next_pow2(n_q)):
            continue
        for bn in (32, 64, 128):
            for warps in (4, 8):
                for stages in (2, 3, 4):
                    if big and bm == 128 and bn >= 64:
                        continue
                    if bn == 128 and width > 64:
                        continue
                    out.append(LaunchConfig(bm, bn, warps, stages))
    return out


def cache_attention_search_space():
    """Every config ``triton.autotune`` may consider (a list of ``triton.Config``)."""
    import triton

    seen, out = set(), []
    for width in (16, 128, 256):
        for dt in (torch.bfloat16, torch.float32):
            for c in autotune_candidates(width, dt) + [cache_attention_config(width, dt)]:
                if c not in seen:
                    seen.add(c)
                    out.append(c)
    for c in (interpreter_config(a, b) for a in (16, 32, 64, 128) for b in (16, 32, 64, 128)):
        if c not in seen:
            seen.add(c)
            out.append(c)
    return [triton.Config({"BLOCK_M": c.BLOCK_M, "BLOCK_N": c.BLOCK_N}, num_warps=c.num_warps,
                          num_stages=c.num_stages) for c in out]  # fmt: skip


def _as_launch(cfg) -> LaunchConfig:
    return LaunchConfig(cfg.kwargs["BLOCK_M"], cfg.kwargs["BLOCK_N"], cfg.num_warps, cfg.num_stages)


def prune_cache_attention_configs(configs, named_args, **kwargs):
    """``early_config_prune`` of the Cache Attention autotuner: see the module docstring."""
    width = kwargs["D_A"] + kwargs["D_B"]
    dtype = named_args["Q"].dtype
    n_q = int(named_args["n_q"])
    keys = max(int(named_args["n_k"]), int(named_args["m_c"]))
    from chai_kernels import _env

    if _env.interpret_mode():
        want = [interpreter_config(n_q, keys)]
    elif not autotune_enabled(False):
        want = [cache_attention_config(width, dtype)]
    else:
        want = autotune_candidates(width, dtype, n_q)
    keep = [c for c in configs if _as_launch(c) in want]
    return keep or configs[:1]


def autotune_bench(fn, quantiles=None, **kwargs):
    """Timing function of the autotuner. A single pruned config is never timed (Triton 3.7 would still
    time it, which needs a GPU driver; 3.9 skips it), so the interpreter never reaches the benchmarker."""
    if not autotune_enabled():
        return [0.0, 0.0, 0.0] if quantiles else 0.0
    import triton.testing

    return triton.testing.do_bench(fn, quantiles=quantiles, warmup=5, rep=20)


def pack_rows(n_q: int, n_k: int, m_c: int, batch: int, width: int) -> tuple[int, int]:
    """(PACK, NP) for short sequences: PACK batch rows of NP = next_pow2(max length) rows per tile.

    Packing applies when every length is <= 32 and it puts at least two batch rows in a tile; the tile
    has PACK * NP rows (16..64 on a GPU, up to 128 under the interpreter, where fewer programs are faster).
    Returns (1, 1) otherwise.
    """
    from chai_kernels import _env

    longest = max(n_q, n_k, m_c)
    if longest > 32 or batch < 2:
        return 1, 1
    n_pad = next_pow2(longest)
    cap = 128 if _env.interpret_mode() else (64 if width <= 128 else 32)
    tile = min(cap, max(16, n_pad * next_pow2(batch)))
    pack = tile // n_pad
    if pack < 2:
        return 1, 1
    return pack, n_pad


def packed_config(pack: int, n_pad: int) -> LaunchConfig:
    """Launch config of a packed tile: PACK * NP query rows and key columns."""
    tile = pack * n_pad
    return LaunchConfig(tile, tile, 4, 1)
