"""Capture during a patched generation: noisy latents at chosen steps and block-0 cross-attention maps.

On a cache miss CHAI records the latent z_t entering the model at the full-schedule steps nearest to the
hit schedule's Cache Attention steps (``chai.sampling.capture_steps_for``: 5, 8, 12 at 240p), and the
cross-attention probabilities of ``spatial_blocks[0]`` that later turn into per-entity token masks.

Shape legend: B conditional batch, C latent channels, T frames, S patch tokens per frame, N = T*S,
H heads, D head dim, L text tokens.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

__all__ = ["capture_latent", "cross_attention_probs"]


def capture_latent(x: torch.Tensor, n_cond: int) -> torch.Tensor:
    """(B_model, C, T, H, W) model input -> float32 clone of the conditional rows (n_cond, C, T, H, W)."""
    return x[:n_cond].detach().to(torch.float32).clone()


@torch.no_grad()
def cross_attention_probs(
    cross_attn: nn.Module,
    x: torch.Tensor,
    cond: torch.Tensor,
    y_lens: Sequence[int] | None,
    n_cond: int,
    T: int,
    S: int,
) -> torch.Tensor:
    """Head-averaged cross-attention probabilities of the first ``n_cond`` samples, (n_cond, T, S, L) fp32.

    Recomputed from the module's own ``q_linear`` / ``kv_linear`` (works for OpenSora's xformers module
    and ours): query sample b attends to its own ``y_lens[b]`` packed text tokens with scale
    1/sqrt(head_dim), as in OpenSora. ``y_lens=None`` means every query sees all packed tokens. L is the
    largest text length among the captured samples; shorter rows are zero-padded.

    x: (B, N, C) block input; cond: (1, sum(y_lens), C) packed text.
    """
    B, N, C = x.shape
    H = int(cross_attn.num_heads)
    D = int(getattr(cross_attn, "head_dim", C // H))
    q = cross_attn.q_linear(x[:n_cond]).to(torch.float32).reshape(n_cond, N, H, D)
    kv = cross_attn.kv_linear(cond).to(torch.float32).reshape(-1, 2, H, D)
    k = kv[:, 0]  # (sumL, H, D)
    total = k.shape[0]
    if y_lens is None:
        spans = [(0, total)] * n_cond
    else:
        lens = [int(n) for n in y_lens]
        offsets = [0]
        for n in lens:
            offsets.append(offsets[-1] + n)
        spans = [(offsets[b], offsets[b] + lens[b]) for b in range(n_cond)]
    L = max((e - s for s, e in spans), default=0)
    out = torch.zeros(n_cond, N, L, dtype=torch.float32, device=x.device)
    scale = D**-0.5
    for b, (s0, s1) in enumerate(spans):
        if s1 == s0:
            continue
        logits = torch.einsum("nhd,lhd->hnl", q[b], k[s0:s1]) * scale
        out[b, :, : s1 - s0] = logits.softmax(dim=-1).mean(dim=0)
    return out.reshape(n_cond, T, S, L)
