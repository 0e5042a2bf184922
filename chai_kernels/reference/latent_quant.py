"""Eager PyTorch latent (de)quantization: the math of record.

Serves three uses: the implementation of ``quantize_latent`` (quantization always runs in PyTorch, because
in-kernel fp32 -> fp8 encoding is unreliable, see platform notes section 3), the CPU backend of
``dequantize_latent``, and the test oracle / benchmark baseline for the Triton dequantize kernel.

Shapes: x (B, C, T, H, W) float; data (B, C, T, H, W) storage dtype; scale (B, C, T) float32.
No validation here: the public ops in ``chai_kernels.ops.latent_quant`` validate.
"""

from __future__ import annotations

import torch

__all__ = ["quantize_latent_reference", "dequantize_latent_reference", "latent_quant_max"]


def latent_quant_max(dtype: torch.dtype) -> float | None:
    """Absmax target of a quantized storage dtype (int8 127, float8_e4m3fn 448); None for float storage."""
    if dtype == torch.int8:
        return 127.0
    if dtype == torch.float8_e4m3fn:
        return float(torch.finfo(torch.float8_e4m3fn).max)
    return None


def quantize_latent_reference(x: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Absmax quantization with one scale per (b, c, t): returns (data, scale).

    scale = amax(|x[b, c, t]|) / qmax (1.0 for an all-zero slice); data = saturate(round_nearest(x / scale)).
    int8 rounds half to even (torch.round) and saturates to [-127, 127] (the -128 code is never used, so the
    range is symmetric); float8_e4m3fn clamps to +-448 before the round-to-nearest-even cast. Float storage
    dtypes (float32 / bfloat16 / float16) cast x and return scales of exactly 1.0.
    x must be finite (the public op checks). The division x / scale runs in float64 so the int8 rounding is
    exact (|error| <= scale / 2 with no float32 slack); latents are small (95,400 values at 240p 51 frames),
    so this costs nothing that matters even on a GPU.
    """
    B, C, T = x.shape[:3]
    qmax = latent_quant_max(dtype)
    if qmax is None:
        return x.to(dtype).contiguous(), torch.ones((B, C, T), dtype=torch.float32, device=x.device)
    xf = x.to(torch.float64)
    amax = xf.abs().amax(dim=(3, 4))
    scale = (amax / qmax).to(torch.float32)
    # All-zero slices and amax so small that amax / qmax underflows get scale 1 (their data rounds to 0).
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    y = xf / scale.to(torch.float64)[..., None, None]
    if dtype == torch.int8:
        data = torch.round(y).clamp_(-127.0, 127.0).to(torch.int8)
    else:
        # torch's float64 -> fp8 cast goes through float32; the 2^-4 relative bound holds either way.
        data = y.clamp_(-qmax, qmax).to(dtype)
    return data.contiguous(), scale.contiguous()


def dequantize_latent_reference(
    data: torch.Tensor, scale: torch.Tensor, dtype: torch.dtype, out: torch.Tensor | None = None
) -> torch.Tensor:
    """x = data * scale[..., None, None], computed in float32 (float64 when dtype is float64), cast to ``dtype``.

    Writes into ``out`` when given (shape of data, dtype ``dtype``) and returns it. This eager version makes
    float32 temporaries; the Triton kernel does the same math in one pass.
    """
    work = torch.float64 if dtype == torch.float64 else torch.float32
    res = data.to(work) * scale.to(work)[..., None, None]
    if out is None:
        return res.to(dtype)
    out.copy_(res)
    return out
