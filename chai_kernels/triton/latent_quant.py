"""Triton kernel: dequantize a latent in one pass (narrow data + per-(b, c, t) scale -> float output).

Layout: data and out are C-contiguous (B, C, T, H, W), i.e. R = B*C*T rows of L = H*W contiguous elements,
row r scaled by scale[r]. The grid is 1-D over the flat tensor in BLOCK-element chunks, so every load and
store starts at a multiple of BLOCK from a 16-byte-aligned base and vectorises (a per-row grid would not:
240p rows are 1590 elements, not a multiple of 16). Every data byte and scale is read once and every
output byte written once. No validation or dispatch here; ``chai_kernels.ops.latent_quant`` does that.

Scale lookup: when L >= BLOCK a chunk touches at most two rows, so the program divides once (scalar) and
picks between two scalar scales; otherwise (tiny rows) it gathers scale[offs // L] per element.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

__all__ = ["dequantize_latent_triton"]


@triton.jit
def _dequant_latent_kernel(
    Out,
    Data,
    Scale,
    numel,
    L,
    R,
    BLOCK: tl.constexpr,
    TWO_ROWS: tl.constexpr,
):
    pid = tl.program_id(0).to(tl.int64)
    start = pid * BLOCK
    offs = start + tl.arange(0, BLOCK)
    mask = offs < numel
    # No `other=`: masked lanes are never stored, and an integer `other` on fp8 trips the interpreter.
    q = tl.load(Data + offs, mask=mask)
    if TWO_ROWS:
        # -- chunk spans rows r0 and (maybe) r0 + 1: one scalar division, two scalar loads --
        r0 = start // L
        s0 = tl.load(Scale + r0)
        s1 = tl.load(Scale + r0 + 1, mask=r0 + 1 < R, other=1.0)
        s = tl.where(offs < (r0 + 1) * L, s0, s1)
    else:
        # -- rows shorter than a chunk: gather the scale of each element (cached, R * 4 bytes in total) --
        s = tl.load(Scale + offs // L, mask=mask, other=1.0)
    x = q.to(tl.float32) * s
    tl.store(Out + offs, x.to(Out.dtype.element_ty), mask=mask)


def _launch_config(length: int) -> tuple[int, int]:
    """(BLOCK, num_warps): 16 elements per thread for long rows (16-byte int8 loads), smaller chunks for short ones."""
    if length >= 2048:
        return 2048, 4
    return 1024, 4


def _dequant_launch(data: torch.Tensor, scale: torch.Tensor, out: torch.Tensor):
    B, C, T, H, W = data.shape
    rows, length = B * C * T, H * W
    numel = rows * length
    block, warps = _launch_config(length)
    grid = (triton.cdiv(numel, block),)
    # torch.float8_e4m3fn maps to Triton's fp8e4nv pointer type; int8 and float storage load as themselves.
    args = (out, data, scale, numel, length, rows)
    kwargs = dict(BLOCK=block, TWO_ROWS=length >= block, num_warps=warps)
    return grid, args, kwargs


def dequantize_latent_triton(data: torch.Tensor, scale: torch.Tensor, out: torch.Tensor, *, compile_target=None):
    """Launch the kernel. data (B, C, T, H, W) contiguous, scale (B, C, T) float32 contiguous, out like data
    (float32 / bfloat16 / float16, contiguous). Returns ``out``.

    With ``compile_target`` (a Triton ``GPUTarget``) nothing is launched: the kernel is compiled for that target
    with these arguments' specialisation and the ``CompiledKernel`` is returned (the same ahead-of-time path as
    ``cache_attention_fwd_triton``; see ``chai_kernels.triton.aot``).
    """
    grid, args, kwargs = _dequant_launch(data, scale, out)
    if compile_target is not None:
        from chai_kernels.triton import aot

        return aot.compile_for_target(_dequant_latent_kernel, compile_target, args, kwargs)
    if data.numel() == 0:
        return out
    _dequant_latent_kernel[grid](*args, **kwargs)
    return out


def compile_quant_kernels_for_target(target) -> dict[str, int]:
    """Compile the dequant kernel for ``target`` (no GPU needed) for every storage / output dtype pair and both
    chunk layouts, through the launcher's own ``compile_target`` path; returns {variant: cubin bytes}."""
    out_sizes = {}
    for storage in (torch.int8, torch.float8_e4m3fn):
        for out_dtype in (torch.float32, torch.bfloat16, torch.float16):
            for hw in ((30, 40), (8, 8)):  # long rows (TWO_ROWS) and short rows (per-element scale)
                data = torch.ones((1, 4, 3, *hw)).to(storage)
                scale = torch.ones((1, 4, 3), dtype=torch.float32)
                out = torch.empty((1, 4, 3, *hw), dtype=out_dtype)
                ck = dequantize_latent_triton(data, scale, out, compile_target=target)
                name = f"{str(storage)[6:]}->{str(out_dtype)[6:]} {hw[0]}x{hw[1]}"
                out_sizes[name] = len(ck.asm["cubin"])
    return out_sizes
