"""OpenSora 1.2 shape registry for the microbenchmarks.

STDiT3-XL/2: 16 heads x head_dim 72, bfloat16, classifier-free guidance doubles the batch (B = 2).
Spatial attention runs over (2T, S) rows: batch 2T, sequence S tokens per frame; temporal attention
over (2S, T). A cached clip has the same T, so one cached row serves both CFG halves: Bc = B / 2.

| name           | B    | N = M | H  | D  | Bc   | source                                   |
|----------------|------|-------|----|----|------|------------------------------------------|
| 240p-spatial   | 30   | 405   | 16 | 72 | 15   | 240p 51 f: T 15, S 15x27                 |
| 360p-spatial   | 30   | 920   | 16 | 72 | 15   | 360p 51 f: T 15, S 23x40                 |
| 480p-spatial   | 30   | 1590  | 16 | 72 | 15   | 480p 51 f: T 15, S 30x53                 |
| 720p-spatial   | 30   | 3600  | 16 | 72 | 15   | 720p 51 f: T 15, S 45x80                 |
| 240p-temporal  | 810  | 15    | 16 | 72 | 405  | 240p 51 f: 2S rows of T 15               |
| 480p-temporal  | 3180 | 15    | 16 | 72 | 1590 | 480p 51 f: 2S rows of T 15               |

CPU-sized cases (``cpu=True``) keep N, H and D of 240p but shrink the batch; ``tiny`` is the interpreter
smoke shape (``tiny-temporal``: the packed short-sequence tiles).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

__all__ = ["AttnShape", "SHAPES", "GPU_SHAPES", "CPU_SHAPES", "TINY", "TINY_SHAPES", "get_shape", "FRACTIONS"]

# Fraction of cached keys selected by the keep-mask in the sweeps.
FRACTIONS = (1.0, 0.5, 0.25, 0.0)


@dataclass(frozen=True)
class AttnShape:
    """One Cache Attention problem: q/k/v (B, N, H, D), cached K/V (Bc, M, H, D)."""

    name: str
    B: int
    N: int
    M: int
    H: int
    D: int
    Bc: int
    dtype: torch.dtype = torch.bfloat16
    kind: str = "spatial"
    cpu: bool = False

    def with_dtype(self, dtype: torch.dtype) -> "AttnShape":
        return replace(self, dtype=dtype)

    def keys_attended(self, frac: float, mode: str = "joint") -> float:
        """Keys per query row actually attended at a given selected-cached fraction."""
        cached = frac * self.M
        if mode == "joint":
            return self.N + cached
        return cached if cached > 0 else self.N  # replace: empty rows fall back to self-attention

    def flops(self, frac: float = 1.0, mode: str = "joint") -> float:
        """Useful forward FLOPs: QK^T and PV, 2 * 2 * B * H * N * keys * D."""
        return 4.0 * self.B * self.H * self.N * self.keys_attended(frac, mode) * self.D

    def bytes_moved(self, frac: float = 1.0, mode: str = "joint", kv_bytes: int | None = None) -> float:
        """Minimum HBM traffic: q, k, v, out once, plus the selected cached K/V (once per cache row)."""
        e = torch.empty((), dtype=self.dtype).element_size()
        kv_e = e if kv_bytes is None else kv_bytes
        cur = self.B * self.N * self.H * self.D * e * (4 if mode == "joint" else 2)
        cached = 2 * self.Bc * frac * self.M * self.H * self.D * kv_e
        return float(cur + cached)


SHAPES: dict[str, AttnShape] = {
    s.name: s
    for s in [
        AttnShape("240p-spatial", B=30, N=405, M=405, H=16, D=72, Bc=15),
        AttnShape("360p-spatial", B=30, N=920, M=920, H=16, D=72, Bc=15),
        AttnShape("480p-spatial", B=30, N=1590, M=1590, H=16, D=72, Bc=15),
        AttnShape("720p-spatial", B=30, N=3600, M=3600, H=16, D=72, Bc=15),
        AttnShape("240p-temporal", B=810, N=15, M=15, H=16, D=72, Bc=405, kind="temporal"),
        AttnShape("480p-temporal", B=3180, N=15, M=15, H=16, D=72, Bc=1590, kind="temporal"),
        # CPU: the 240p token count and head layout with a 2-row batch (one frame, both CFG halves).
        AttnShape("240p-spatial-cpu", B=2, N=405, M=405, H=16, D=72, Bc=1, dtype=torch.float32, cpu=True),
        AttnShape(
            "240p-temporal-cpu", B=54, N=15, M=15, H=16, D=72, Bc=27, dtype=torch.float32, kind="temporal", cpu=True
        ),
        # Interpreter smoke: one 128-wide query block, odd M.
        AttnShape("tiny", B=2, N=64, M=77, H=2, D=72, Bc=1, dtype=torch.float32, cpu=True),
        # Interpreter smoke of the packed short-sequence tiles (temporal attention, N = M = 15).
        AttnShape("tiny-temporal", B=6, N=15, M=15, H=2, D=72, Bc=3, dtype=torch.float32, kind="temporal", cpu=True),
    ]
}

GPU_SHAPES = ("240p-spatial", "360p-spatial", "480p-spatial", "240p-temporal", "480p-temporal")
CPU_SHAPES = ("240p-spatial-cpu", "240p-temporal-cpu")
TINY = "tiny"
TINY_SHAPES = ("tiny", "tiny-temporal")


def get_shape(name: str) -> AttnShape:
    """Look a shape up by name with an actionable error."""
    try:
        return SHAPES[name]
    except KeyError:
        raise ValueError(f"unknown shape {name!r}.\nHINT: use one of {', '.join(SHAPES)}.") from None
