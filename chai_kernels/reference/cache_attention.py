"""Eager PyTorch reference for Cache Attention.

This is the single statement of the op's math. It serves three uses: the test oracle (run it in
float64), the CPU fallback backend, and the eager baseline in ``csrc_bench``.

Shapes: q, k, v (B, N, H, D); k_cache, v_cache (Bc, M, H, D); cache_mask bool (Bc, M); Bc divides B
and query row b uses cache row b % Bc.
"""

from __future__ import annotations

import math

import torch

__all__ = ["cache_attention_reference", "dequantize_kv_reference"]


def dequantize_kv_reference(x, dtype: torch.dtype) -> torch.Tensor:
    """Return a float tensor for a plain tensor or a ``QuantizedKV`` (data * scale per (b, m, h))."""
    if isinstance(x, torch.Tensor):
        return x.to(dtype)
    return x.data.to(dtype) * x.scale.to(dtype).unsqueeze(-1)


def cache_attention_reference(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    k_cache=None,
    v_cache=None,
    cache_mask: torch.Tensor | None = None,
    *,
    mode: str = "joint",
    cache_bias: float = 0.0,
    scale: float | None = None,
    return_lse: bool = False,
    compute_dtype: torch.dtype = torch.float32,
    batch_chunk: int | None = None,
):
    """Cache Attention in plain PyTorch; no validation (the public op validates).

    ``compute_dtype`` is float32 for the fallback and float64 for the test oracle. The output has
    q's dtype; the lse (B, H, N) is float32 (natural log of the softmax denominator over the scaled,
    biased logits of every attended key). ``batch_chunk`` bounds the score memory by processing
    that many query rows at a time.
    """
    B, N, H, D = q.shape
    if scale is None:
        scale = 1.0 / math.sqrt(D)
    if batch_chunk is None:
        # Keep the score tensor near 64M elements.
        m_len = 0 if k_cache is None else k_cache.shape[1]
        per_row = max(1, H * N * (k.shape[1] + m_len))
        batch_chunk = max(1, (64 * 1024 * 1024) // per_row)
    outs, lses = [], []
    has_cache = k_cache is not None
    if has_cache:
        kc_all = dequantize_kv_reference(k_cache, compute_dtype)
        vc_all = dequantize_kv_reference(v_cache, compute_dtype)
        Bc, M = kc_all.shape[0], kc_all.shape[1]
        if cache_mask is None:
            mask_all = torch.ones(Bc, M, dtype=torch.bool, device=q.device)
        else:
            mask_all = cache_mask.to(device=q.device, dtype=torch.bool)
    for b0 in range(0, B, batch_chunk):
        b1 = min(B, b0 + batch_chunk)
        qb = q[b0:b1].to(compute_dtype).transpose(1, 2)  # (b, H, N, D)
        kb = k[b0:b1].to(compute_dtype).transpose(1, 2)
        vb = v[b0:b1].to(compute_dtype).transpose(1, 2)
        s_cur = torch.matmul(qb, kb.transpose(-1, -2)) * scale  # (b, H, N, Nk)
        if not has_cache:
            logits, values = s_cur, vb
        else:
            rows = torch.arange(b0, b1, device=q.device) % Bc
            kc = kc_all[rows].transpose(1, 2)  # (b, H, M, D)
            vc = vc_all[rows].transpose(1, 2)
            keep = mask_all[rows]  # (b, M)
            s_cache = torch.matmul(qb, kc.transpose(-1, -2)) * scale + cache_bias
            s_cache = s_cache.masked_fill(~keep[:, None, None, :], float("-inf"))
            if mode == "joint":
                logits = torch.cat([s_cur, s_cache], dim=-1)
                values = torch.cat([vb, vc], dim=-2)
            elif mode == "replace":
                # Rows whose mask selects nothing fall back to plain self-attention.
                empty = ~keep.any(dim=-1)  # (b,)
                logits_cache = torch.cat([torch.full_like(s_cur, float("-inf")), s_cache], dim=-1)
                logits_self = torch.cat([s_cur, torch.full_like(s_cache, float("-inf"))], dim=-1)
                logits = torch.where(empty[:, None, None, None], logits_self, logits_cache)
                values = torch.cat([vb, vc], dim=-2)
            else:
                raise ValueError(f"mode must be 'joint' or 'replace', got {mode!r}")
        lse = torch.logsumexp(logits, dim=-1)  # (b, H, N)
        p = torch.exp(logits - lse.unsqueeze(-1))
        o = torch.matmul(p, values)  # (b, H, N, D)
        outs.append(o.transpose(1, 2).to(q.dtype))
        lses.append(lse.to(torch.float32))
    out = torch.cat(outs, dim=0)
    if return_lse:
        return out, torch.cat(lses, dim=0)
    return out
