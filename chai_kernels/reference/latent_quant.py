"""Eager PyTorch latent (de)quantization: the math of record.

Serves three uses: the implementation of ``quantize_latent`` (quantization always runs in PyTorch, because
in-kernel fp32 -> fp8 encoding is unreliable, see platform notes section 3), the CPU backend of
``dequantize_latent``, and the test oracle / benchmark baseline for the Triton dequantize kernel.

Shapes: x (B, C, T, H, W) float; data (B, C, T, H, W) storage dtype; scale (B, C, T) float32.
No validation here: the public ops in ``chai_kernels.ops.latent_quant`` validate.
"""

from __future__ import annotations

import torch

from chai_kernels.reference.quant import absmax_quantize

__all__ = ["quantize_latent_reference", "dequantize_latent_reference"]


def quantize_latent_reference(x: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Absmax quantization with one scale per (b, c, t) (``chai_kernels.reference.quant.absmax_quantize``
    over H, W): returns (data, scale). Float storage dtypes (float32 / bfloat16 / float16) cast x and return
    scales of exactly 1.0. Latents are small (95,400 values at 240p 51 frames), so the float64 division of
    the quantizer costs nothing that matters even on a GPU.
    """
    B, C, T = x.shape[:3]
    if dtype not in (torch.int8, torch.float8_e4m3fn):
        # a copy even when x already has that dtype: the stored latent must not alias the caller's tensor
        return x.to(dtype, copy=True).contiguous(), torch.ones((B, C, T), dtype=torch.float32, device=x.device)
    return absmax_quantize(x, dtype, dims=(3, 4))


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
