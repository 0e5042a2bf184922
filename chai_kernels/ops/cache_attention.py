"""Public Cache Attention op: validate -> dispatch (triton | torch) -> launch, as a torch custom op.

Cache Attention lets the queries of the current video attend to the tokens of a cached latent
(CHAI, arXiv 2602.16132). Each query row ``b`` sees its own current keys and, under a keep-mask, the
cached keys of cache row ``b % Bc``::

    joint:    softmax over [ current keys (N_k) | selected cached keys (+ cache_bias) ]
    replace:  softmax over [                    | selected cached keys (+ cache_bias) ]
              (a row whose mask selects nothing falls back to softmax over the current keys)

    query rows b = 0 .. B-1           cache rows (Bc divides B)
      b = 0, Bc, 2Bc, ...      ---->    row 0   mask[0] = 1 1 0 0 1 ...
      b = 1, Bc+1, ...         ---->    row 1   mask[1] = 0 0 0 0 0 ...  (replace: self-attention)

The equivalent PyTorch is ``chai_kernels.reference.cache_attention.cache_attention_reference``.
"""

from __future__ import annotations

import math
from typing import Optional

import torch

from chai_kernels import _validate as V
from chai_kernels._dispatch import resolve_backend
from chai_kernels.blocks import block_lists
from chai_kernels.quant import QUANT_DTYPES, QuantizedKV
from chai_kernels.reference.cache_attention import cache_attention_reference

__all__ = ["cache_attention", "prepare_cache", "PreparedCache", "MODES"]

MODES = ("joint", "replace")
_OP = "cache_attention"


@torch.library.custom_op("chai_kernels::cache_attention", mutates_args=())
def _cache_attention_op(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    k_cache: Optional[torch.Tensor],
    v_cache: Optional[torch.Tensor],
    k_scale: Optional[torch.Tensor],
    v_scale: Optional[torch.Tensor],
    cache_mask: Optional[torch.Tensor],
    cache_blocks: Optional[torch.Tensor],
    cache_counts: Optional[torch.Tensor],
    mode: str,
    cache_bias: float,
    scale: float,
    return_lse: bool,
    backend: Optional[str],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validated inputs in, (out, lse) out; lse is an empty (0,) tensor when return_lse is False."""
    chosen = resolve_backend(_OP, backend, q.device)
    if chosen == "triton":
        from chai_kernels.triton.cache_attention import cache_attention_fwd_triton  # lazy: needs triton

        res = cache_attention_fwd_triton(
            q, k, v, k_cache, v_cache, cache_mask, k_scale=k_scale, v_scale=v_scale, blocks=cache_blocks,
            counts=cache_counts, mode=mode, cache_bias=cache_bias, scale=scale, return_lse=return_lse,
        )  # fmt: skip
    else:
        kc = k_cache if k_scale is None or k_cache is None else QuantizedKV(k_cache, k_scale)
        vc = v_cache if v_scale is None or v_cache is None else QuantizedKV(v_cache, v_scale)
        res = cache_attention_reference(
            q, k, v, kc, vc, cache_mask, mode=mode, cache_bias=cache_bias, scale=scale, return_lse=return_lse,
        )  # fmt: skip
    if return_lse:
        out, lse = res
        return out, lse
    return res, q.new_empty((0,), dtype=torch.float32)


@_cache_attention_op.register_fake
def _cache_attention_fake(q, k, v, k_cache, v_cache, k_scale, v_scale, cache_mask, cache_blocks, cache_counts, mode,
                          cache_bias, scale, return_lse, backend):  # fmt: skip
    B, N, H, D = q.shape
    out = q.new_empty((B, N, H, D))
    lse = q.new_empty((B, H, N) if return_lse else (0,), dtype=torch.float32)
    return out, lse


def _cache_parts(k_cache, v_cache):
    """Checks that need only the cache: returns (k_data, v_data, k_scale, v_scale)."""
    if (k_cache is None) != (v_cache is None):
        given, missing = ("k_cache", "v_cache") if v_cache is None else ("v_cache", "k_cache")
        raise ValueError(
            f"{given} was given but {missing} is None; cached keys and values come together.\n"
            f"HINT: pass both k_cache and v_cache (Bc, M, H, D), or neither for plain attention."
        )
    if k_cache is None:
        return None, None, None, None
    quantized = [isinstance(x, QuantizedKV) for x in (k_cache, v_cache)]
    for name, x in (("k_cache", k_cache), ("v_cache", v_cache)):
        if not isinstance(x, (torch.Tensor, QuantizedKV)):
            raise TypeError(
                f"{name} must be a torch.Tensor (Bc, M, H, D) or a chai_kernels.QuantizedKV; got {type(x).__name__}.\n"
                "HINT: pass the cached keys/values as a tensor, or quantize them with chai_kernels.quantize_kv(x)."
            )
    if quantized[0] != quantized[1]:
        raise TypeError(
            f"k_cache and v_cache must both be tensors or both QuantizedKV; got {type(k_cache).__name__} and "
            f"{type(v_cache).__name__}.\nHINT: quantize both with chai_kernels.quantize_kv(), or neither."
        )
    if quantized[0]:
        kd, vd, ks, vs = k_cache.data, v_cache.data, k_cache.scale, v_cache.scale
        if kd.dtype != vd.dtype or kd.dtype not in QUANT_DTYPES:
            raise TypeError(
                f"quantized k_cache has dtype {kd.dtype} and v_cache {vd.dtype}; both must be the same of "
                f"{', '.join(str(d) for d in QUANT_DTYPES)}.\nHINT: quantize both with the same dtype= argument."
            )
    else:
        kd, vd, ks, vs = k_cache, v_cache, None, None
        V.check_tensor("k_cache", kd, 4, "(Bc, M, H, D)")
        V.check_tensor("v_cache", vd, 4, "(Bc, M, H, D)")
        V.check_float_dtype("k_cache", kd)
        V.check_float_dtype("v_cache", vd, kd.dtype)
    if tuple(vd.shape) != tuple(kd.shape) or kd.shape[1] < 1 or kd.shape[0] < 1:
        raise ValueError(
            "k_cache and v_cache must both be (Bc, M, H, D) with M >= 1:\n"
            f"  k_cache: {V.describe(kd)}\n  v_cache: {V.describe(vd)}\n"
            "HINT: cached keys and values come from the same attention layer and tokens."
        )
    V.check_last_dim_contiguous("k_cache", kd)
    V.check_last_dim_contiguous("v_cache", vd)
    return kd, vd, ks, vs


def _check_cache_against_q(q: torch.Tensor, kd: torch.Tensor, vd: torch.Tensor, quantized: bool) -> None:
    B, _, H, D = q.shape
    if not quantized:
        V.check_float_dtype("k_cache", kd, q.dtype)
        V.check_float_dtype("v_cache", vd, q.dtype)
    if kd.shape[2] != H or kd.shape[3] != D:
        raise ValueError(
            "k_cache and v_cache must both be (Bc, M, H, D) with q's H and D:\n"
            f"  q:       {V.describe(q)}\n  k_cache: {V.describe(kd)}\n  v_cache: {V.describe(vd)}\n"
            f"HINT: cached tokens must come from the same attention layer (H={H}, D={D})."
        )
    Bc = kd.shape[0]
    if B % Bc != 0:
        raise ValueError(
            f"k_cache has Bc={Bc} rows, which does not divide q's batch B={B}; query row b uses cache row b % Bc.\n"
            f"  q: {V.describe(q)}\n  k_cache: {V.describe(kd)}\n"
            "HINT: give one cache row per query row (Bc=B), one shared row (Bc=1), or a divisor of B "
            "(e.g. Bc=T frames for a (2 T) CFG batch)."
        )


def _check_mask(cache_mask, kd) -> None:
    if cache_mask is None:
        return
    if kd is None:
        raise ValueError(
            f"cache_mask was given ({V.describe(cache_mask)}) but there is no k_cache/v_cache.\n"
            "HINT: pass k_cache and v_cache with it, or drop cache_mask."
        )
    if not isinstance(cache_mask, torch.Tensor):
        raise TypeError(
            f"cache_mask must be a bool torch.Tensor (Bc, M); got {type(cache_mask).__name__}.\n"
            "HINT: build it as a torch.bool tensor, True where a cached key may be attended."
        )
    if cache_mask.dtype != torch.bool:
        raise TypeError(
            f"cache_mask has dtype {cache_mask.dtype}; it must be torch.bool (True = keep).\n"
            "HINT: pass cache_mask.bool() (or cache_mask > 0.5 for a soft mask)."
        )
    if tuple(cache_mask.shape) != (kd.shape[0], kd.shape[1]):
        raise ValueError(
            f"cache_mask has shape {tuple(cache_mask.shape)}; expected (Bc, M) = {(kd.shape[0], kd.shape[1])} "
            f"from k_cache {tuple(kd.shape)}.\nHINT: one bool per cached token and cache row."
        )


class PreparedCache:
    """The cache side of Cache Attention, validated and summarised once: cached K/V (float tensors or their
    ``QuantizedKV`` form), the keep-mask and the mask's key-block lists (``chai_kernels.blocks``).

    A cache hit reuses one mask for every call; build the mask part once with ``prepare_cache`` and give
    each call's K/V with ``with_kv``, which re-validates shapes only (no torch ops). A call
    ``cache_attention(q, k, v, cache=prepared)`` then launches exactly one kernel on the triton backend.
    Build it with ``chai_kernels.prepare_cache``.
    """

    __slots__ = ("k_data", "v_data", "k_scale", "v_scale", "cache_mask", "blocks", "counts", "rows", "length")

    def __init__(self, k_data, v_data, k_scale, v_scale, cache_mask, blocks, counts, rows: int, length: int):
        self.k_data, self.v_data, self.k_scale, self.v_scale = k_data, v_data, k_scale, v_scale
        self.cache_mask, self.blocks, self.counts = cache_mask, blocks, counts
        self.rows, self.length = rows, length  # (Bc, M) the mask and block lists describe

    @property
    def has_kv(self) -> bool:
        return self.k_data is not None

    @property
    def quantized(self) -> bool:
        return self.k_scale is not None

    def with_kv(self, k_cache, v_cache) -> "PreparedCache":
        """The same mask and block lists with new cached K/V of the same (Bc, M) (e.g. per sampler step)."""
        kd, vd, ks, vs = _cache_parts(k_cache, v_cache)
        if kd is None:
            raise ValueError("with_kv needs k_cache and v_cache.\nHINT: pass both (Bc, M, H, D) tensors.")
        bc_m = (self.rows, self.length)
        if (kd.shape[0], kd.shape[1]) != bc_m:
            raise ValueError(
                f"with_kv: k_cache {V.describe(kd)} has (Bc, M) = {tuple(kd.shape[:2])}, but the prepared mask is "
                f"for (Bc, M) = {bc_m}.\nHINT: prepare a mask of the cache's (Bc, M) with chai_kernels.prepare_cache."
            )
        if self.blocks.device != kd.device:
            raise ValueError(
                f"with_kv: k_cache is on {kd.device} but the prepared mask is on {self.blocks.device}.\n"
                "HINT: prepare the mask on the device of the cached K/V."
            )
        return PreparedCache(kd, vd, ks, vs, self.cache_mask, self.blocks, self.counts, self.rows, self.length)

    def __repr__(self) -> str:
        kv = "no K/V" if self.k_data is None else f"K/V {tuple(self.k_data.shape)} {self.k_data.dtype}"
        mask = "no mask" if self.cache_mask is None else f"mask {tuple(self.cache_mask.shape)}"
        return f"PreparedCache({kv}, {mask})"


def _key_contiguous(scale: torch.Tensor) -> torch.Tensor:
    """(Bc, M, H) scales as a view of a (Bc, H, ceil(M / 16) * 16) buffer: unit stride along M, aligned rows."""
    bc, m, h = scale.shape
    buf = torch.ones((bc, h, -(-m // 16) * 16), dtype=scale.dtype, device=scale.device)
    buf[:, :, :m] = scale.transpose(1, 2)
    return buf[:, :, :m].transpose(1, 2)


def prepare_cache(
    k_cache: torch.Tensor | QuantizedKV | None,
    v_cache: torch.Tensor | QuantizedKV | None,
    cache_mask: torch.Tensor | None = None,
    *,
    shape: tuple[int, int] | None = None,
    device=None,
) -> PreparedCache:
    """Validate the cache side once and summarise the keep-mask into key-block lists.

    ``prepare_cache(k_cache, v_cache, cache_mask)``: cached K/V (Bc, M, H, D) as tensors or ``QuantizedKV``
    and a bool (Bc, M) mask or None. ``prepare_cache(None, None, cache_mask)`` prepares only the mask (give
    ``shape=(Bc, M)`` and ``device`` when the mask is None); attach K/V per call with ``.with_kv(kc, vc)``.
    The block lists cost a few small torch ops here, once, instead of on every call.
    """
    kd, vd, ks, vs = _cache_parts(k_cache, v_cache)
    if kd is not None:
        bc, m = kd.shape[0], kd.shape[1]
        dev = kd.device
        _check_mask(cache_mask, kd)
    elif cache_mask is not None:
        if not isinstance(cache_mask, torch.Tensor) or cache_mask.dtype != torch.bool or cache_mask.dim() != 2:
            raise TypeError(
                f"cache_mask must be a bool torch.Tensor (Bc, M); got {V.describe(cache_mask)}.\n"
                "HINT: build it as a torch.bool tensor, True where a cached key may be attended."
            )
        bc, m = cache_mask.shape
        dev = cache_mask.device
    else:
        if shape is None:
            raise ValueError(
                "prepare_cache needs cached K/V, a cache_mask or shape=(Bc, M).\n"
                "HINT: pass k_cache and v_cache, or the mask, or shape=(Bc, M) with device= for an all-kept mask."
            )
        bc, m = (int(x) for x in shape)
        dev = torch.device("cpu") if device is None else torch.device(device)
    if kd is not None and cache_mask is not None and cache_mask.device != kd.device:
        raise ValueError(
            f"cache_mask is on {cache_mask.device} but k_cache is on {kd.device}.\nHINT: move the mask with .to()."
        )
    if ks is not None:
        # int8 / fp8 K/V: lay the float32 scales out key-contiguous ((Bc, H, M) memory, rows padded to 16 keys,
        # still indexed (Bc, M, H)), so a key block's scales are one coalesced read instead of BLOCK_N reads
        # H * 4 bytes apart
        ks, vs = (_key_contiguous(s) for s in (ks, vs))
    blocks, counts = block_lists(cache_mask, bc, m, dev)
    return PreparedCache(kd, vd, ks, vs, cache_mask, blocks, counts, bc, m)


def cache_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    k_cache: torch.Tensor | QuantizedKV | None = None,
    v_cache: torch.Tensor | QuantizedKV | None = None,
    cache_mask: torch.Tensor | None = None,
    *,
    cache: PreparedCache | None = None,
    mode: str = "joint",
    cache_bias: float = 0.0,
    scale: float | None = None,
    return_lse: bool = False,
    backend: str | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Attention of the current tokens over their own keys and a masked set of cached keys. Forward only.

    Args:
        q: (B, N, H, D) queries of the current tokens.
        k, v: (B, N_k, H, D) current keys and values (normally N_k = N).
        k_cache, v_cache: (Bc, M, H, D) keys and values of a cached latent, as tensors of q's dtype or
            both as ``chai_kernels.QuantizedKV`` (int8 / float8_e4m3fn data, float32 scale (Bc, M, H);
            the Triton kernel dequantizes in registers). Bc must divide B: query row b uses cache row
            ``b % Bc`` (one cached clip of T frames serves both CFG halves of a (2 T) batch).
            Omit both for plain attention (equals SDPA).
        cache_mask: bool (Bc, M), True where a cached key may be attended; None keeps all.
        cache: a ``PreparedCache`` (``chai_kernels.prepare_cache``) instead of k_cache / v_cache / cache_mask:
            validated and summarised once, so the call is one kernel launch.
        mode: ``"joint"`` (one softmax over current + selected cached keys) or ``"replace"`` (selected
            cached keys only; a row whose mask selects nothing falls back to self-attention over (q, k, v)).
        cache_bias: float added to the scaled logits of cached keys (strength of reuse).
        scale: logit scale, default ``1 / sqrt(D)``.
        return_lse: also return the float32 log-sum-exp (B, H, N) (natural log, over every attended key).
        backend: ``"triton"`` (fused kernel; CUDA, or CPU under ``TRITON_INTERPRET=1``), ``"torch"``
            (eager reference), or None: triton on CUDA, torch on CPU; ``CHAI_KERNELS_BACKEND`` overrides None.

    Returns:
        out (B, N, H, D) contiguous, in q's dtype; with ``return_lse`` the tuple (out, lse).

    Supported: float16 / bfloat16 / float32 (accumulation in float32); head dims 16..256 in steps of 8
    (72 included); any N, N_k, M >= 1; any strides with a unit last stride, so permuted (B, H, N, D)
    views work without copies. Forward only: inputs requiring grad raise under autograd.

    Equivalent PyTorch (joint, no bias)::

        keys = cat([k, k_cache[b % Bc]]); vals = cat([v, v_cache[b % Bc]])
        sdpa(q, keys, vals, attn_mask=cat([ones(N_k), cache_mask[b % Bc]]))
    """
    # -- current tokens --
    V.check_tensor("q", q, 4, "(B, N, H, D)")
    V.check_tensor("k", k, 4, "(B, N_k, H, D)")
    V.check_tensor("v", v, 4, "(B, N_k, H, D)")
    V.check_float_dtype("q", q)
    V.check_float_dtype("k", k, q.dtype)
    V.check_float_dtype("v", v, q.dtype)
    B, N, H, D = q.shape
    if k.shape[0] != B or k.shape[2] != H or k.shape[3] != D or tuple(v.shape) != tuple(k.shape) or N < 1 \
            or k.shape[1] < 1:  # fmt: skip
        raise ValueError(
            "q must be (B, N, H, D) and k, v (B, N_k, H, D) with the same B, H, D and N, N_k >= 1:\n"
            f"  q: {V.describe(q)}\n  k: {V.describe(k)}\n  v: {V.describe(v)}\n"
            "HINT: split heads first, e.g. x.view(B, N, H, D) from (B, N, H*D)."
        )
    V.check_head_dim("q", D)
    for name, x in (("q", q), ("k", k), ("v", v)):
        V.check_last_dim_contiguous(name, x)
    # -- cache --
    blocks = counts = None
    if cache is not None:
        if not isinstance(cache, PreparedCache):
            raise TypeError(
                f"cache must be a chai_kernels.PreparedCache; got {type(cache).__name__}.\n"
                "HINT: build it with chai_kernels.prepare_cache(k_cache, v_cache, cache_mask)."
            )
        if k_cache is not None or v_cache is not None or cache_mask is not None:
            raise ValueError(
                "cache= was given together with k_cache / v_cache / cache_mask; the prepared cache holds them.\n"
                "HINT: pass either cache=prepare_cache(k_cache, v_cache, cache_mask) or the three arguments."
            )
        if not cache.has_kv:
            raise ValueError(
                f"{cache!r} holds a mask but no cached K/V.\nHINT: attach them with cache.with_kv(k_cache, v_cache)."
            )
        kd, vd, ks, vs, cache_mask = cache.k_data, cache.v_data, cache.k_scale, cache.v_scale, cache.cache_mask
        blocks, counts = cache.blocks, cache.counts
    else:
        kd, vd, ks, vs = _cache_parts(k_cache, v_cache)
        _check_mask(cache_mask, kd)
    if kd is not None:
        _check_cache_against_q(q, kd, vd, ks is not None)
    named = [("q", q), ("k", k), ("v", v)]
    if kd is not None:
        named += [("k_cache", kd), ("v_cache", vd)]
        if ks is not None:
            named += [("k_cache.scale", ks), ("v_cache.scale", vs)]
        if cache_mask is not None:
            named.append(("cache_mask", cache_mask))
        if blocks is not None:
            named.append(("cache block lists", blocks))
    V.check_same_device(named)
    V.check_no_grad(_OP, named)
    # -- options --
    V.check_choice("mode", mode, MODES)
    cache_bias = V.check_finite_float("cache_bias", cache_bias)
    scale = 1.0 / math.sqrt(D) if scale is None else V.check_finite_float("scale", scale, positive=True)
    if not isinstance(return_lse, bool):
        raise TypeError(f"return_lse must be a bool; got {return_lse!r}.\nHINT: pass return_lse=True or False.")
    V.check_choice("backend", backend, (None, "triton", "torch"))

    out, lse = torch.ops.chai_kernels.cache_attention(
        q, k, v, kd, vd, ks, vs, cache_mask, blocks, counts, mode, cache_bias, scale, return_lse, backend
    )
    return (out, lse) if return_lse else out
