"""Key-block lists of a Cache Attention keep-mask (pure PyTorch; no Triton needed).

The fused kernel walks the cached keys of a cache row block by block. ``block_lists`` turns the keep-mask
(Bc, M) into, per cache row, the ids of the *full* key blocks (every key inside M and kept: the kernel's
interior form, no mask load, no bounds check, no select) followed by the *partial* ones (at least one key
kept; the ragged last block is always partial), plus the two counts. Empty blocks are absent, so the kernel
never visits them. One list is built for every BLOCK_N the kernel may be launched with, so the autotuner's
choice never needs a new list: a prepared cache (``chai_kernels.prepare_cache``) builds them once per mask.
"""

from __future__ import annotations

import torch

__all__ = ["BLOCK_N_VARIANTS", "block_lists"]

#: BLOCK_N values a block list is built for (index v of ``block_lists``' first dimension).
BLOCK_N_VARIANTS = (16, 32, 64, 128)


def block_lists(cache_mask: torch.Tensor | None, n_rows: int, m: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row key-block lists of a keep-mask, for every BLOCK_N in ``BLOCK_N_VARIANTS``.

    Returns ``blocks`` int32 (V, Bc, ceil(M / 16)) and ``counts`` int32 (V, Bc, 2), both contiguous. For
    variant v (BLOCK_N = BLOCK_N_VARIANTS[v]) and cache row r, ``blocks[v, r]`` lists the ids of the full
    blocks in increasing order, then the partial ones, then unused entries; ``counts[v, r]`` is
    (number of full blocks, number of full + partial blocks). ``cache_mask`` None keeps every key.
    """
    nv = len(BLOCK_N_VARIANTS)
    width = -(-m // BLOCK_N_VARIANTS[0])
    blocks = torch.zeros((nv, n_rows, width), dtype=torch.int32, device=device)
    counts = torch.zeros((nv, n_rows, 2), dtype=torch.int32, device=device)
    if cache_mask is None:
        keep = torch.ones((n_rows, m), dtype=torch.int32, device=device)
    else:
        keep = cache_mask.to(device=device, dtype=torch.int32)
    for v, bn in enumerate(BLOCK_N_VARIANTS):
        nb = -(-m // bn)
        padded = torch.zeros((n_rows, nb * bn), dtype=torch.int32, device=device)
        padded[:, :m] = keep
        sel = padded.view(n_rows, nb, bn).sum(-1)  # kept keys per block
        full = sel == bn  # the ragged last block has fewer than bn slots inside M: never full
        part = (sel > 0) & ~full
        ids = torch.arange(nb, device=device, dtype=torch.int64)
        # stable order: full blocks, then partial, then empty, each in increasing key order
        rank = torch.where(full, 0, torch.where(part, 1, 2)) * nb + ids
        blocks[v, :, :nb] = torch.argsort(rank, dim=-1).to(torch.int32)
        counts[v, :, 0] = full.sum(-1).to(torch.int32)
        counts[v, :, 1] = (full | part).sum(-1).to(torch.int32)
    return blocks, counts
