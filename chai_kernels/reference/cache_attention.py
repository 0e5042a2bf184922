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


def _sdpa_with_cache(q, k, v, kc_all, vc_all, mask_all, rows, *, mode: str, cache_bias: float, scale: float,
                     sanitize: bool, dtype: torch.dtype) -> torch.Tensor:  # fmt: skip
    """SDPA over [current ; cached] keys with an additive mask (b, 1, 1, N_k + M): 0 for attended current
    keys, ``cache_bias`` for kept cached keys, -inf elsewhere. q, k, v are (b, L, H, D) slices; the
    concatenation is built in that layout (contiguous copies), then viewed as (b, H, L, D). Returns (b, H, N, D)."""
    b, n_k, H, D = k.shape
    M = kc_all.shape[1]
    device = q.device
    keys = torch.empty((b, n_k + M, H, D), dtype=dtype, device=device)
    vals = torch.empty_like(keys)
    keys[:, :n_k] = k
    vals[:, :n_k] = v
    keys[:, n_k:] = kc_all[rows]
    vals[:, n_k:] = vc_all[rows]
    keep = mask_all[rows]  # (b, M)
    if sanitize:  # deselected cached tokens never leak, even as NaN (0 * NaN)
        drop = ~keep[:, :, None, None]
        keys[:, n_k:].masked_fill_(drop, 0.0)
        vals[:, n_k:].masked_fill_(drop, 0.0)
    neg_inf = torch.tensor(float("-inf"), dtype=dtype, device=device)
    cached = torch.where(keep, torch.tensor(float(cache_bias), dtype=dtype, device=device), neg_inf)  # (b, M)
    current = torch.zeros((b, n_k), dtype=dtype, device=device)
    if mode == "replace":
        empty = ~keep.any(dim=-1, keepdim=True)  # (b, 1): these rows fall back to self-attention
        current = torch.where(empty, current, neg_inf)
        cached = torch.where(empty, neg_inf, cached)
    elif mode != "joint":
        raise ValueError(f"mode must be 'joint' or 'replace', got {mode!r}")
    bias = torch.cat([current, cached], dim=-1)[:, None, None, :]
    return torch.nn.functional.scaled_dot_product_attention(
        q.to(dtype).transpose(1, 2), keys.transpose(1, 2), vals.transpose(1, 2), attn_mask=bias, scale=scale
    )


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
    # Fallback path: fused SDPA with an additive mask when no lse is needed (memory-sane at 240p/480p).
    # The float64 oracle and return_lse use the explicit matmul/logsumexp path below.
    use_sdpa = not return_lse and compute_dtype != torch.float64
    if has_cache:
        kc_all = dequantize_kv_reference(k_cache, compute_dtype)
        vc_all = dequantize_kv_reference(v_cache, compute_dtype)
        Bc, M = kc_all.shape[0], kc_all.shape[1]
        if cache_mask is None:
            mask_all = torch.ones(Bc, M, dtype=torch.bool, device=q.device)
        else:
            mask_all = cache_mask.to(device=q.device, dtype=torch.bool)
    sanitize = has_cache and cache_mask is not None

    def gather(rows):
        """Cache rows b % Bc as (b, H, M, D) fresh copies; deselected tokens zeroed in place, so garbage
        (even NaN) in deselected slots never leaks through 0 * NaN (the kernel never loads them)."""
        kc, vc, keep = kc_all[rows], vc_all[rows], mask_all[rows]
        if sanitize:
            drop = ~keep[:, :, None, None]
            kc.masked_fill_(drop, 0.0)
            vc.masked_fill_(drop, 0.0)
        return kc.transpose(1, 2), vc.transpose(1, 2), keep

    for b0 in range(0, B, batch_chunk):
        b1 = min(B, b0 + batch_chunk)
        qb = q[b0:b1].to(compute_dtype).transpose(1, 2)  # (b, H, N, D)
        kb = k[b0:b1].to(compute_dtype).transpose(1, 2)
        vb = v[b0:b1].to(compute_dtype).transpose(1, 2)
        if use_sdpa:
            if has_cache:
                o = _sdpa_with_cache(
                    q[b0:b1], k[b0:b1], v[b0:b1], kc_all, vc_all, mask_all, torch.arange(b0, b1, device=q.device) % Bc,
                    mode=mode, cache_bias=cache_bias, scale=scale, sanitize=sanitize, dtype=compute_dtype,
                )  # fmt: skip
            else:
                o = torch.nn.functional.scaled_dot_product_attention(qb, kb, vb, scale=scale)
            outs.append(o.transpose(1, 2).to(q.dtype))
            continue
        s_cur = torch.matmul(qb, kb.transpose(-1, -2)) * scale  # (b, H, N, Nk)
        if not has_cache:
            logits, values = s_cur, vb
        else:
            kc, vc, keep = gather(torch.arange(b0, b1, device=q.device) % Bc)  # (b, H, M, D), keep (b, M)
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
    out = torch.cat(outs, dim=0).contiguous()
    if return_lse:
        return out, torch.cat(lses, dim=0)
    return out
