"""Shared input checks for the public ops.

Every check raises (never ``assert``): ``TypeError`` for a wrong type or dtype, ``ValueError`` for a
wrong shape, stride, device or value. Messages name the argument, list what was received (shape,
dtype, device, strides) on their own lines, and end with a ``HINT:`` that says how to fix it.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch

__all__ = [
    "FLOAT_DTYPES",
    "describe",
    "check_tensor",
    "check_float_dtype",
    "check_same_device",
    "check_last_dim_contiguous",
    "check_head_dim",
    "check_choice",
    "check_finite_float",
    "check_no_grad",
]

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


def describe(x: Any) -> str:
    """One-line description of a tensor-like argument: shape, dtype, device, strides."""
    if isinstance(x, torch.Tensor):
        return f"shape={tuple(x.shape)} dtype={x.dtype} device={x.device} stride={tuple(x.stride())}"
    data = getattr(x, "data", None)
    if isinstance(data, torch.Tensor):
        return f"{type(x).__name__}(data: {describe(data)})"
    return f"{type(x).__name__} {x!r}"[:200]


def check_tensor(name: str, x: Any, ndim: int, legend: str) -> None:
    """``x`` must be a tensor with ``ndim`` dimensions (``legend`` names them, e.g. '(B, N, H, D)')."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape {legend}; got {type(x).__name__}.\n"
            f"HINT: pass {name} as a tensor laid out {legend}."
        )
    if x.dim() != ndim:
        raise ValueError(
            f"{name} must have {ndim} dimensions {legend}; got shape {tuple(x.shape)}.\n"
            f"HINT: reshape {name} to {legend} (e.g. x.view(B, N, H, D) from (B, N, H*D))."
        )


def check_float_dtype(name: str, x: torch.Tensor, expected: torch.dtype | None = None) -> None:
    """``x`` must be float16/bfloat16/float32 and, when ``expected`` is given, exactly that dtype."""
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{name} has dtype {x.dtype}; supported dtypes are float16, bfloat16 and float32.\n"
            f"HINT: cast it with {name}.to(torch.bfloat16) (or float16 / float32)."
        )
    if expected is not None and x.dtype != expected:
        raise TypeError(
            f"{name} has dtype {x.dtype} but q has dtype {expected}; all float inputs must share one dtype.\n"
            f"HINT: cast with {name}.to({expected})."
        )


def check_same_device(named: Sequence[tuple[str, torch.Tensor]]) -> None:
    """All tensors must live on the first tensor's device."""
    ref_name, ref = named[0]
    for name, x in named[1:]:
        if x.device != ref.device:
            lines = "\n".join(f"  {n}: {describe(t)}" for n, t in named)
            raise ValueError(
                f"{name} is on {x.device} but {ref_name} is on {ref.device}; all inputs must share a device.\n"
                f"{lines}\nHINT: move them with .to({str(ref.device)!r})."
            )


def check_last_dim_contiguous(name: str, x: torch.Tensor) -> None:
    """The last dimension must have stride 1 (other strides are free, so permuted views work)."""
    if x.dim() and x.shape[-1] > 1 and x.stride(-1) != 1:
        raise ValueError(
            f"{name} must have a contiguous last dimension (stride 1); got {describe(x)}.\n"
            f"HINT: permute only the leading dimensions, or pass {name}.contiguous()."
        )


def check_head_dim(name: str, d: int, lo: int = 16, hi: int = 256, step: int = 8) -> None:
    """Head dim must be in [lo, hi] and a multiple of ``step``."""
    if d < lo or d > hi or d % step != 0:
        raise ValueError(
            f"{name} has head dim {d}; supported head dims are {lo} to {hi} in steps of {step} (72 included).\n"
            f"HINT: pad the head dim up to a multiple of {step} (zero channels do not change attention scores)."
        )


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    if value not in choices:
        raise ValueError(
            f"{name}={value!r} is not supported.\nHINT: use one of {', '.join(repr(c) for c in choices)}."
        )


def check_finite_float(name: str, value: Any, *, positive: bool = False) -> float:
    """A real, finite Python number (bools refused); positive when asked. Returns it as float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{name} must be a Python float; got {type(value).__name__} {value!r}.\n"
            f"HINT: pass a float such as {name}=0.0 (use float(t) for a 0-d tensor)."
        )
    value = float(value)
    if not math.isfinite(value) or (positive and value <= 0.0):
        need = "a finite, positive float" if positive else "a finite float"
        raise ValueError(f"{name}={value!r} is invalid; it must be {need}.\nHINT: pass {need} such as 1.0.")
    return value


def check_no_grad(op: str, named: Sequence[tuple[str, torch.Tensor]]) -> None:
    """Forward-only ops refuse inputs that require grad while autograd is recording."""
    if not torch.is_grad_enabled():
        return
    for name, x in named:
        if isinstance(x, torch.Tensor) and x.requires_grad:
            raise ValueError(
                f"{op} is forward-only, but {name} requires grad ({describe(x)}).\n"
                f"HINT: call it under torch.no_grad() / torch.inference_mode(), or pass {name}.detach()."
            )
