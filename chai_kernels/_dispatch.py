"""Backend choice: ``"triton"`` (fused kernels) or ``"torch"`` (eager reference).

``resolve_backend(requested, device)``:

- an explicit ``backend=`` wins;
- else ``CHAI_KERNELS_BACKEND`` (read by ``chai_kernels._env``) wins;
- else triton on CUDA (when Triton is installed), torch otherwise.

The triton backend is eligible when ``triton_unsupported_reasons(device)`` is empty: Triton is
installed and the tensors are on CUDA, or ``TRITON_INTERPRET=1`` is set and they are on CPU.
"""

from __future__ import annotations

import torch

from chai_kernels import _env

__all__ = ["resolve_backend", "triton_unsupported_reasons"]


def triton_unsupported_reasons(device: torch.device) -> list[str]:
    """Why the triton backend cannot run on ``device`` (empty list: it can)."""
    reasons = []
    if not _env.has_triton():
        reasons.append("the triton package is not installed (it has wheels for Linux only)")
    if device.type == "cuda":
        pass
    elif device.type == "cpu":
        if not _env.interpret_mode():
            reasons.append("tensors are on CPU and TRITON_INTERPRET=1 is not set")
    else:
        reasons.append(f"device type {device.type!r} is not supported by the Triton kernels")
    return reasons


def resolve_backend(op: str, requested: str | None, device: torch.device) -> str:
    """The backend that will run ``op`` for tensors on ``device``; raises ValueError with every reason."""
    source = "backend="
    if requested is None:
        requested = _env.backend_override()
        source = "CHAI_KERNELS_BACKEND="
    if requested is None:
        if device.type == "cuda" and _env.has_triton():
            return "triton"
        return "torch"
    if requested not in _env.BACKENDS:
        raise ValueError(
            f"{op}: backend={requested!r} is not a known backend.\n"
            f"HINT: use one of {', '.join(repr(b) for b in _env.BACKENDS)} or None for the automatic choice."
        )
    if requested == "triton":
        reasons = triton_unsupported_reasons(device)
        if reasons:
            lines = "\n".join(f"  - {r}" for r in reasons)
            raise ValueError(
                f"{op}: {source}'triton' cannot run here:\n{lines}\n"
                "HINT: use backend='torch' (the reference), move the tensors to CUDA, or set "
                "TRITON_INTERPRET=1 before importing chai_kernels to run the kernel on CPU (slow; tests)."
            )
    return requested
