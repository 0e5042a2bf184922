"""Quantized containers.

``QuantizedKV``: cached keys or values (B, M, H, D) stored as int8 or float8_e4m3fn with one float32
scale per (b, m, h): ``x ~= data.float() * scale[..., None]``. The Triton Cache Attention kernel
loads ``data`` and ``scale`` directly and dequantizes in registers.

(``QuantizedLatent``, the latent container with its byte format, lives here too; see issue 3.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["QuantizedKV", "quantize_kv", "QUANT_DTYPES", "quant_max"]

QUANT_DTYPES = (torch.int8, torch.float8_e4m3fn)


def quant_max(dtype: torch.dtype) -> float:
    """Largest representable magnitude used for absmax scaling."""
    if dtype == torch.int8:
        return 127.0
    if dtype == torch.float8_e4m3fn:
        return float(torch.finfo(torch.float8_e4m3fn).max)  # 448
    raise TypeError(
        f"quantized dtype must be one of torch.int8, torch.float8_e4m3fn; got {dtype}.\n"
        "HINT: pass dtype=torch.int8 (default) or dtype=torch.float8_e4m3fn."
    )


@dataclass(frozen=True)
class QuantizedKV:
    """Quantized cached keys or values.

    data:  (B, M, H, D) int8 or float8_e4m3fn, last dimension contiguous.
    scale: (B, M, H) float32, same device; dequantized value = data * scale[..., None].
    """

    data: torch.Tensor
    scale: torch.Tensor

    def __post_init__(self):
        if self.data.dtype not in QUANT_DTYPES:
            raise TypeError(
                f"QuantizedKV.data has dtype {self.data.dtype}; expected torch.int8 or torch.float8_e4m3fn.\n"
                "HINT: build it with chai_kernels.quantize_kv(x)."
            )
        if self.data.dim() != 4:
            raise ValueError(f"QuantizedKV.data must be (B, M, H, D); got shape {tuple(self.data.shape)}.")
        if self.scale.dtype != torch.float32 or tuple(self.scale.shape) != tuple(self.data.shape[:3]):
            raise ValueError(
                f"QuantizedKV.scale must be float32 of shape {tuple(self.data.shape[:3])} (B, M, H); "
                f"got {self.scale.dtype} {tuple(self.scale.shape)}.\nHINT: build it with chai_kernels.quantize_kv(x)."
            )
        if self.data.device != self.scale.device:
            raise ValueError(f"QuantizedKV.data is on {self.data.device} but scale is on {self.scale.device}.")

    @property
    def shape(self) -> torch.Size:
        return self.data.shape

    @property
    def dtype(self) -> torch.dtype:
        return self.data.dtype

    @property
    def device(self) -> torch.device:
        return self.data.device

    @property
    def nbytes(self) -> int:
        return self.data.numel() * self.data.element_size() + self.scale.numel() * 4

    def dim(self) -> int:
        return 4

    def to(self, device, non_blocking: bool = False) -> "QuantizedKV":
        return QuantizedKV(self.data.to(device, non_blocking=non_blocking), self.scale.to(device, non_blocking=non_blocking))

    def dequantize(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return self.data.to(dtype) * self.scale.to(dtype).unsqueeze(-1)


def quantize_kv(x: torch.Tensor, *, dtype: torch.dtype = torch.int8) -> QuantizedKV:
    """Absmax-quantize (B, M, H, D) keys or values with a float32 scale per (b, m, h).

    Round to nearest, saturating. Quantization runs in PyTorch (in-kernel fp8 encoding is unreliable
    under the Triton interpreter; see the platform notes).
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"quantize_kv expects a floating-point tensor, got {type(x).__name__} "
                        f"{getattr(x, 'dtype', '')}.\nHINT: pass the float K or V tensor (B, M, H, D).")
    if x.dim() != 4:
        raise ValueError(f"quantize_kv expects x of shape (B, M, H, D); got {tuple(x.shape)}.")
    qmax = quant_max(dtype)
    xf = x.float()
    if not torch.isfinite(xf).all():
        bad = (~torch.isfinite(xf)).nonzero()[0].tolist()
        raise ValueError(f"quantize_kv: x has a NaN or Inf at index {bad} (shape {tuple(x.shape)}).")
    amax = xf.abs().amax(dim=-1)
    scale = torch.where(amax > 0, amax / qmax, torch.ones_like(amax))
    y = xf / scale.unsqueeze(-1)
    if dtype == torch.int8:
        data = torch.round(y).clamp_(-127, 127).to(torch.int8)
    else:
        data = y.clamp_(-qmax, qmax).to(dtype)
    return QuantizedKV(data.contiguous(), scale.contiguous())
