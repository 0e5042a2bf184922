"""Cache Attention for an OpenSora 1.2 spatial block: cached K/V from a cached latent, and the attention.

The patched ``spatial_blocks[i].attn.forward(x)`` keeps the module's own ``qkv``, ``q_norm``, ``k_norm``
and ``proj`` and replaces only the softmax(QK^T)V core with ``chai_kernels.cache_attention``.

Cached keys/values (CHAI, chai-method.md 4.2): the cached latent z_c (C, T, H, W) takes the model's own
input path and block i's modulation **for the current timestep**:

    h_c = x_embedder(z_c) + pos_embed                       (T, S, C)
    a_c = norm1(h_c) * (1 + scale_msa) + shift_msa          (R*T, S, C)   R = 1 if all rows share t
    K_c = k_norm(W_k a_c), V_c = W_v a_c                    (R*T, S, H, D)  (no RoPE in spatial blocks)

Query row (b, t) (index b*T + t) uses cache row t (R = 1) or b*T + t (R = B), so frame t of the current
clip attends to frame t of the cached clip; a per-frame token mask (T, S) selects the cached tokens.

Shape legend: B model batch, T frames, S tokens per frame, C hidden, H heads, D head dim.
"""

from __future__ import annotations

import torch
from torch import nn

import chai_kernels
from chai_kernels.reference.cache_attention import cache_attention_reference

__all__ = ["embed_cached_latent", "modulation_rows", "cached_kv", "spatial_cache_attention"]


def embed_cached_latent(model: nn.Module, latent: torch.Tensor, pos_emb: torch.Tensor, T: int, S: int) -> torch.Tensor:
    """latent (C, T, H, W) -> tokens (T, S, C) = x_embedder(latent) + pos_emb (1, S, C), in the model dtype."""
    dtype = model.x_embedder.proj.weight.dtype
    device = model.x_embedder.proj.weight.device
    tokens = model.x_embedder(latent.to(device=device, dtype=dtype)[None])  # (1, T*S, C)
    return tokens.reshape(T, S, -1) + pos_emb.reshape(1, S, -1)


def modulation_rows(block: nn.Module, t_mlp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Block's (shift_msa, scale_msa) for t_mlp (B, 6C): (R, 1, C) each; R = 1 when every row is equal."""
    B = t_mlp.shape[0]
    if B > 1 and torch.equal(t_mlp, t_mlp[:1].expand_as(t_mlp)):
        t_mlp = t_mlp[:1]
        B = 1
    mods = (block.scale_shift_table[None] + t_mlp.reshape(B, 6, -1)).chunk(6, dim=1)
    return mods[0], mods[1]


def cached_kv(
    block: nn.Module, tokens: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cached tokens (T, S, C) + modulation rows (R, 1, C) -> K_c, V_c (R*T, S, H, D)."""
    attn = block.attn
    T, S, C = tokens.shape
    R = shift.shape[0]
    h = block.norm1(tokens)
    a = h[None] * (1 + scale[:, None]) + shift[:, None]  # (R, T, S, C)
    a = a.reshape(R * T, S, C)
    qkv = attn.qkv(a).view(R * T, S, 3, attn.num_heads, attn.head_dim)
    _, k, v = qkv.unbind(2)
    return attn.k_norm(k), v


def spatial_cache_attention(
    attn: nn.Module,
    x: torch.Tensor,
    k_cache: torch.Tensor | None,
    v_cache: torch.Tensor | None,
    cache_mask: torch.Tensor | None,
    *,
    cache_rows: int,
    mode: str,
    cache_bias: float,
    cache: chai_kernels.PreparedCache | None = None,
) -> torch.Tensor:
    """Attention.forward replacement: x (B*T, S, C) -> (B*T, S, C) with the first ``cache_rows`` rows
    attending to the cache (rows after it get plain self-attention, e.g. the unconditional CFG half).

    k_cache/v_cache (Bc, S, H, D) with Bc dividing ``cache_rows``; cache_mask bool (Bc, S) or None. Or, instead
    of the three, ``cache``: a ``chai_kernels.PreparedCache`` whose mask was prepared once for the cache hit
    (the patch does this), so the fused op is one kernel launch per call.
    """
    Bn, N, C = x.shape
    H, D = attn.num_heads, attn.head_dim
    qkv = attn.qkv(x).view(Bn, N, 3, H, D)
    q, k, v = qkv.unbind(2)  # (Bn, N, H, D), last dim contiguous
    q, k = attn.q_norm(q), attn.k_norm(k)
    kw = dict(mode=mode, cache_bias=cache_bias, scale=float(attn.scale))
    if torch.is_grad_enabled() and q.requires_grad:
        # The fused op is forward-only; under autograd use its reference math (same semantics, differentiable).
        if cache is not None:
            k_cache, v_cache, cache_mask = cache.k_data, cache.v_data, cache.cache_mask
        op = cache_attention_reference
        cached = dict(k_cache=k_cache, v_cache=v_cache, cache_mask=cache_mask)
    else:
        op = chai_kernels.cache_attention
        cached = dict(cache=cache) if cache is not None else dict(k_cache=k_cache, v_cache=v_cache,
                                                                   cache_mask=cache_mask)  # fmt: skip
    if cache_rows >= Bn:
        out = op(q, k, v, **cached, **kw)
    else:
        r = cache_rows
        o_c = op(q[:r], k[:r], v[:r], **cached, **kw)
        o_p = op(q[r:], k[r:], v[r:], scale=float(attn.scale))
        out = torch.cat([o_c, o_p], dim=0)
    out = out.reshape(Bn, N, C)
    return attn.proj_drop(attn.proj(out))
