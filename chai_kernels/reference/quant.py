"""The one absmax quantizer of the package (eager PyTorch).

Both quantized containers use it: ``QuantizedKV`` (cached keys / values, one scale per (b, m, h) over the
head dim) and ``QuantizedLatent`` (latents, one scale per (b, c, t) over H x W). Quantization always runs in
PyTorch: in-kernel fp32 -> fp8 encoding is unreliable under the Triton interpreter (platform notes section 3).
"""

from __future__ import annotations

from typing import Sequence

import torch

__all__ = ["quant_max", "absmax_quantize"]


def quant_max(dtype: torch.dtype) -> float:
    """Absmax target of a quantized storage dtype: int8 127 (the -128 code is never used), float8_e4m3fn 448."""
    if dtype == torch.int8:
        return 127.0
    if dtype == torch.float8_e4m3fn:
        return float(torch.finfo(torch.float8_e4m3fn).max)
    raise TypeError(
        f"quantized dtype must be one of torch.int8, torch.float8_e4m3fn; got {dtype}.\n"
        "HINT: pass dtype=torch.int8 (default) or dtype=torch.float8_e4m3fn."
    )


def absmax_quantize(x: torch.Tensor, dtype: torch.dtype, dims: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Absmax quantization with one float32 scale per slice over ``dims``: returns (data, scale).

    scale = amax(|x|) / qmax over ``dims`` (1.0 for an all-zero slice, or when amax / qmax underflows);
    data = saturate(round_nearest(x / scale)). int8 rounds half to even (torch.round) and saturates to
    [-127, 127] (symmetric range); float8_e4m3fn clamps to +-448 before the round-to-nearest-even cast.
    The division runs in float64 so the int8 rounding is exact (|error| <= scale / 2 with no float32
    slack). ``scale`` has x's shape without ``dims``. x must be finite (the public ops check).
    """
    qmax = quant_max(dtype)
    xf = x.to(torch.float64)
    amax = xf.abs().amax(dim=tuple(dims))
    scale = (amax / qmax).to(torch.float32)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    s64 = scale.to(torch.float64)
    for d in sorted(int(d) % x.dim() for d in dims):
        s64 = s64.unsqueeze(d)
    y = xf / s64
    if dtype == torch.int8:
        data = torch.round(y).clamp_(-qmax, qmax).to(torch.int8)
    else:
        # torch's float64 -> fp8 cast goes through float32; the 2^-4 relative bound holds either way.
        data = y.clamp_(-qmax, qmax).to(dtype)
    return data.contiguous(), scale.contiguous()
