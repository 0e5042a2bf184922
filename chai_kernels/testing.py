"""Test and benchmark helpers shared by ``tests/`` and ``csrc_bench/`` (public, stable).

- ``make_mask`` / ``make_cache_attention_inputs``: fresh random inputs (never zeros), optional permuted
  (B, H, N, D) layouts so kernels see non-default strides.
- ``poison_like``: NaN-filled buffers for outputs, so an unwritten element cannot pass.
- ``assert_close_to_reference``: the FlashAttention-style rule ``err(kernel) <= 2 * err(torch at the
  same precision) + floor`` against a float64 truth; failures print the worst index and mismatch count.
- ``assert_close_verbose``: atol/rtol comparison with the same diagnostics.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = [
    "ERROR_FLOORS",
    "MASK_KINDS",
    "make_mask",
    "make_cache_attention_inputs",
    "poison_like",
    "max_abs_error",
    "relative_error",
    "assert_close_to_reference",
    "assert_close_verbose",
]

# Absolute floor added to the 2x-torch bound: covers fp32 summation-order noise and, for bf16, the
# Triton interpreter's truncating fp32 -> bf16 store (one bf16 ulp at |x| < 2 is 2^-7 ~ 7.8e-3).
ERROR_FLOORS = {torch.float32: 2e-5, torch.float16: 1e-3, torch.bfloat16: 1.6e-2, torch.float64: 1e-12}

MASK_KINDS = ("random", "none", "all", "blocks")


def make_mask(bc: int, m: int, kind: str, *, device="cpu", generator: torch.Generator | None = None,
              p: float = 0.5) -> torch.Tensor:  # fmt: skip
    """Keep-mask (Bc, M): ``random`` (Bernoulli p), ``none`` (all False), ``all`` (all True), ``blocks``
    (runs of 16 tokens kept or dropped together, so whole key blocks are empty or full)."""
    if kind == "none":
        return torch.zeros(bc, m, dtype=torch.bool, device=device)
    if kind == "all":
        return torch.ones(bc, m, dtype=torch.bool, device=device)
    if kind == "random":
        return (torch.rand(bc, m, generator=generator) < p).to(device)
    if kind == "blocks":
        runs = torch.rand(bc, (m + 15) // 16, generator=generator) < p
        return runs.repeat_interleave(16, dim=1)[:, :m].contiguous().to(device)
    raise ValueError(f"unknown mask kind {kind!r}.\nHINT: use one of {', '.join(MASK_KINDS)}.")


def _randn(shape, dtype, device, generator, permuted: bool) -> torch.Tensor:
    """(B, L, H, D) values; permuted=True returns a (B, H, L, D)-contiguous tensor viewed as (B, L, H, D)."""
    b, l_, h, d = shape
    if permuted:
        x = torch.randn(b, h, l_, d, generator=generator, dtype=torch.float32).transpose(1, 2)
    else:
        x = torch.randn(b, l_, h, d, generator=generator, dtype=torch.float32)
    return x.to(dtype=dtype, device=device)  # .to keeps the permuted strides


def make_cache_attention_inputs(
    B: int,
    N: int,
    H: int,
    D: int,
    M: int | None = None,
    Bc: int = 1,
    *,
    dtype: torch.dtype = torch.float32,
    device: Any = "cpu",
    mask: str | None = "random",
    permuted: bool = False,
    seed: int | None = None,
    n_k: int | None = None,
) -> dict[str, Any]:
    """Random q, k, v (B, N, H, D) and, when M is given, k_cache, v_cache (Bc, M, H, D) and a cache_mask.

    Returns a dict usable as ``cache_attention(**inputs)``. ``seed=None`` draws a fresh seed.
    """
    g = torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, (1,)).item()) if seed is None else seed)
    n_k = N if n_k is None else n_k
    out: dict[str, Any] = {
        "q": _randn((B, N, H, D), dtype, device, g, permuted),
        "k": _randn((B, n_k, H, D), dtype, device, g, permuted),
        "v": _randn((B, n_k, H, D), dtype, device, g, permuted),
    }
    if M is not None:
        out["k_cache"] = _randn((Bc, M, H, D), dtype, device, g, permuted)
        out["v_cache"] = _randn((Bc, M, H, D), dtype, device, g, permuted)
        out["cache_mask"] = None if mask is None else make_mask(Bc, M, mask, device=device, generator=g)
    return out


def poison_like(shape, dtype: torch.dtype, device: Any = "cpu") -> torch.Tensor:
    """A NaN-filled buffer: any element the kernel fails to write stays NaN."""
    return torch.full(tuple(shape), float("nan"), dtype=dtype, device=device)


def max_abs_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    diff = (actual.double() - expected.double()).abs()
    if torch.isnan(diff).any():
        return float("inf")
    return float(diff.max()) if diff.numel() else 0.0


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """||actual - expected||_F / ||expected||_F in float64."""
    a, e = actual.double(), expected.double()
    return float(torch.linalg.vector_norm(a - e) / torch.linalg.vector_norm(e).clamp_min(1e-300))


def _diagnose(actual: torch.Tensor, expected: torch.Tensor, bound: torch.Tensor | float, name: str) -> str:
    a, e = actual.double(), expected.double()
    diff = (a - e).abs()
    diff = torch.where(torch.isnan(diff), torch.full_like(diff, float("inf")), diff)
    bad = diff > bound
    flat = int(torch.argmax(diff).item()) if diff.numel() else 0
    idx = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), diff.shape)) if diff.numel() else ()
    if not diff.numel():
        return f"{name}: empty tensors"
    worst_a, worst_e, worst_d = a.flatten()[flat].item(), e.flatten()[flat].item(), diff.flatten()[flat].item()
    return (
        f"{name}: {int(bad.sum())} of {diff.numel()} elements out of tolerance; worst at index {idx}: "
        f"actual={worst_a!r} expected={worst_e!r} |diff|={worst_d:.3e}"
    )


def assert_close_to_reference(
    actual: torch.Tensor,
    truth: torch.Tensor,
    torch_same_precision: torch.Tensor,
    *,
    dtype: torch.dtype | None = None,
    factor: float = 2.0,
    floor: float | None = None,
    name: str = "output",
) -> None:
    """Assert ``max|actual - truth| <= factor * max|torch_same_precision - truth| + floor``.

    ``truth`` is the float64 reference; ``torch_same_precision`` is PyTorch run at the kernel's precision.
    NaN anywhere in ``actual`` fails. The message gives both errors, the worst index and the mismatch count.
    """
    if actual.shape != truth.shape:
        raise AssertionError(f"{name}: shape {tuple(actual.shape)} != expected {tuple(truth.shape)}")
    dtype = dtype or actual.dtype
    floor = ERROR_FLOORS.get(dtype, 1e-3) if floor is None else floor
    err_torch = max_abs_error(torch_same_precision, truth)
    bound = factor * err_torch + floor
    err = max_abs_error(actual, truth)
    if not err <= bound:
        raise AssertionError(
            f"{_diagnose(actual, truth, bound, name)}\n"
            f"  err(kernel)={err:.3e} > {factor} * err(torch {dtype})={err_torch:.3e} + floor {floor:.1e} = {bound:.3e}"
        )


def assert_close_verbose(actual: torch.Tensor, expected: torch.Tensor, *, atol: float, rtol: float = 0.0,
                         name: str = "output") -> None:  # fmt: skip
    """Elementwise ``|a - e| <= atol + rtol * |e|`` with worst-index diagnostics; NaN fails."""
    if actual.shape != expected.shape:
        raise AssertionError(f"{name}: shape {tuple(actual.shape)} != expected {tuple(expected.shape)}")
    bound = atol + rtol * expected.double().abs()
    diff = (actual.double() - expected.double()).abs()
    ok = (diff <= bound) & ~torch.isnan(diff)
    if not bool(ok.all()):
        raise AssertionError(_diagnose(actual, expected, bound, name) + f" (atol={atol:.1e}, rtol={rtol:.1e})")
