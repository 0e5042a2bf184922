"""Public latent quantization ops: ``quantize_latent`` (PyTorch) and ``dequantize_latent`` (fused Triton).

Shape legend: B batch, C latent channels (4 for OpenSora 1.2), T latent frames, H, W latent height and width.

- ``quantize_latent(x (B, C, T, H, W) float, *, dtype=torch.int8) -> QuantizedLatent``
  one float32 absmax scale per (b, c, t); int8 or float8_e4m3fn data; or float storage (float32 / bfloat16 /
  float16, scales 1.0) when the cache should keep full precision. Runs in PyTorch on x's device.
- ``dequantize_latent(qx, *, dtype=torch.bfloat16, out=None, backend=None) -> (B, C, T, H, W) dtype``
  on CUDA a Triton kernel reads data and scales once and writes ``dtype`` straight into ``out``.

Same pattern as ``cache_attention``: validate here, then a registered torch custom op with a fake (meta)
implementation (``chai_kernels::quantize_latent``, ``chai_kernels::dequantize_latent``; both work under
``torch.compile(fullgraph=True)``), and the backend resolved by ``chai_kernels._dispatch.resolve_backend``:
``backend=None`` takes ``CHAI_KERNELS_BACKEND`` when set, else "triton" for CUDA tensors and "torch" (the eager
reference) for CPU tensors. ``backend="triton"`` on CPU tensors runs the real kernel under ``TRITON_INTERPRET=1``
(tests). Quantization is the package's one absmax quantizer (``chai_kernels.reference.quant``). Forward only.
"""

from __future__ import annotations

from typing import Optional

import torch

from chai_kernels._dispatch import resolve_backend
from chai_kernels._validate import check_choice
from chai_kernels.quant import (
    LATENT_ORIG_DTYPES,
    LATENT_STORAGE_DTYPES,
    QuantizedLatent,
)
from chai_kernels.reference.latent_quant import dequantize_latent_reference, quantize_latent_reference

__all__ = ["quantize_latent", "dequantize_latent", "DEQUANT_OUT_DTYPES"]

#: Dtypes ``dequantize_latent`` can write.
DEQUANT_OUT_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def _names(dtypes) -> str:
    return ", ".join(str(d) for d in dtypes)


@torch.library.custom_op("chai_kernels::quantize_latent", mutates_args=())
def _quantize_latent_op(x: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Validated, finite latent in; (data, scale) out. Always PyTorch (see the module docstring)."""
    return quantize_latent_reference(x, dtype)


@_quantize_latent_op.register_fake
def _quantize_latent_fake(x, dtype):
    B, C, T = x.shape[:3]
    return x.new_empty(x.shape, dtype=dtype), x.new_empty((B, C, T), dtype=torch.float32)


@torch.library.custom_op("chai_kernels::dequantize_latent", mutates_args=("out",))
def _dequantize_latent_op(data: torch.Tensor, scale: torch.Tensor, out: torch.Tensor, backend: Optional[str]) -> None:
    """Validated data (B, C, T, H, W), scale (B, C, T) float32 and a contiguous ``out``; writes out in place."""
    chosen = resolve_backend("dequantize_latent", backend, data.device)
    if chosen == "triton":
        from chai_kernels.triton import latent_quant as tq  # lazy: needs triton

        tq.dequantize_latent_triton(data, scale, out)
    else:
        dequantize_latent_reference(data, scale, out.dtype, out)


@_dequantize_latent_op.register_fake
def _dequantize_latent_fake(data, scale, out, backend):
    return None


def quantize_latent(x: torch.Tensor, *, dtype: torch.dtype = torch.int8) -> QuantizedLatent:
    """Quantize a latent (B, C, T, H, W) with one float32 absmax scale per (b, c, t).

    dtype: torch.int8 (default; |error| <= scale / 2 elementwise, scale = amax / 127) or torch.float8_e4m3fn
    (relative error <= 2^-4 for |x| / scale in e4m3's normal range [2^-6, 448], scale = amax / 448).
    torch.float32 / bfloat16 / float16 store the latent cast to that dtype with scales of 1.0 (no quantization;
    useful to compare against full precision under the same container and byte format).
    Round to nearest, saturating. A latent holding NaN or Inf raises ValueError naming the first bad
    (b, c, t) slice. x is not modified.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"quantize_latent: x must be a torch.Tensor; got {type(x).__name__}.\n"
            "HINT: pass the latent tensor (B, C, T, H, W)."
        )
    if x.dtype not in LATENT_ORIG_DTYPES:
        raise TypeError(
            f"quantize_latent: x has dtype {x.dtype}; expected one of {_names(LATENT_ORIG_DTYPES)}.\n"
            "HINT: pass the float latent, e.g. x.float()."
        )
    if not isinstance(dtype, torch.dtype) or dtype not in LATENT_STORAGE_DTYPES:
        raise TypeError(
            f"quantize_latent: dtype={dtype!r} is not supported; expected one of {_names(LATENT_STORAGE_DTYPES)}.\n"
            "HINT: use dtype=torch.int8 (default) or torch.float8_e4m3fn; a float dtype stores without quantizing."
        )
    if x.dim() != 5:
        raise ValueError(
            f"quantize_latent: x must be 5-D (B, C, T, H, W); got shape {tuple(x.shape)}.\n"
            "HINT: OpenSora 1.2 latents at 240p 51 frames are (B, 4, 15, 30, 53); add a batch dim with x[None]."
        )
    if x.numel() == 0:
        raise ValueError(
            f"quantize_latent: x has an empty dimension, shape {tuple(x.shape)}.\nHINT: pass a non-empty latent."
        )
    x = x.detach()
    finite = torch.isfinite(x).flatten(3).all(dim=3)  # (B, C, T)
    if not bool(finite.all()):
        bad = (~finite).nonzero()
        b, c, t = (int(v) for v in bad[0])
        raise ValueError(
            f"quantize_latent: x (shape {tuple(x.shape)}, {x.dtype}) has NaN or Inf in slice (b, c, t) = "
            f"({b}, {c}, {t}); {bad.shape[0]} slice(s) affected.\n"
            "HINT: a diverged latent must not be cached; check the sampler output before inserting it."
        )
    data, scale = torch.ops.chai_kernels.quantize_latent(x, dtype)
    return QuantizedLatent(data, scale, x.dtype)


def dequantize_latent(
    qx: QuantizedLatent,
    *,
    dtype: torch.dtype | None = torch.bfloat16,
    out: torch.Tensor | None = None,
    backend: str | None = None,
) -> torch.Tensor:
    """Dequantize ``qx`` to a float latent (B, C, T, H, W): x = data * scale[b, c, t].

    dtype:   output dtype, float32 / bfloat16 (default) / float16. ``None`` means "out's dtype" (bfloat16
             when out is also None). When both dtype and out are given, they must agree.
    out:     optional preallocated contiguous tensor of shape ``qx.shape`` on qx's device; it is written in
             place and returned (no temporaries on the triton backend).
    backend: None (automatic), "triton" or "torch"; see the module docstring.
    Math is float32 (data * scale), then one rounding to ``dtype``.
    """
    if not isinstance(qx, QuantizedLatent):
        raise TypeError(
            f"dequantize_latent: qx must be a QuantizedLatent; got {type(qx).__name__}.\n"
            "HINT: build it with chai_kernels.quantize_latent(x) or QuantizedLatent.from_bytes(b)."
        )
    if dtype is None:
        dtype = out.dtype if isinstance(out, torch.Tensor) else torch.bfloat16
    if not isinstance(dtype, torch.dtype) or dtype not in DEQUANT_OUT_DTYPES:
        raise TypeError(
            f"dequantize_latent: dtype={dtype!r} is not supported; expected one of {_names(DEQUANT_OUT_DTYPES)}.\n"
            "HINT: use dtype=torch.bfloat16 for the model input or torch.float32 for comparisons."
        )
    if out is not None:
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"dequantize_latent: out must be a torch.Tensor or None; got {type(out).__name__}.")
        problems = []
        if tuple(out.shape) != tuple(qx.shape):
            problems.append(f"shape {tuple(out.shape)} (expected {tuple(qx.shape)})")
        if out.dtype != dtype:
            problems.append(f"dtype {out.dtype} (expected {dtype})")
        if out.device != qx.device:
            problems.append(f"device {out.device} (expected {qx.device})")
        if not out.is_contiguous():
            problems.append(f"strides {out.stride()} (expected contiguous)")
        if problems:
            raise ValueError(
                "dequantize_latent: out does not fit: " + "; ".join(problems) + ".\n"
                f"HINT: allocate it with torch.empty({tuple(qx.shape)}, dtype={dtype}, device='{qx.device}')."
            )
    check_choice("backend", backend, (None, "triton", "torch"))
    resolve_backend("dequantize_latent", backend, qx.device)  # errors before allocating anything
    if out is None:
        out = torch.empty(qx.shape, dtype=dtype, device=qx.device)
    if qx.numel():
        torch.ops.chai_kernels.dequantize_latent(qx.data, qx.scale, out, backend)
    return out
