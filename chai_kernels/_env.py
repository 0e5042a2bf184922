"""Lazy environment probes. Nothing here touches CUDA at import time.

Every environment variable the kernels honour is read in this module and nowhere else:

- ``TRITON_INTERPRET=1``: run the Triton kernels on CPU tensors through Triton's interpreter (tests).
- ``CHAI_KERNELS_BACKEND``: ``"triton"`` or ``"torch"``; overrides the automatic backend choice.
"""

from __future__ import annotations

import functools
import importlib.util
import os

__all__ = ["has_triton", "interpret_mode", "backend_override", "BACKENDS"]

BACKENDS = ("triton", "torch")


@functools.lru_cache(maxsize=None)
def has_triton() -> bool:
    """True when the ``triton`` package can be imported (it is not imported here)."""
    return importlib.util.find_spec("triton") is not None


def interpret_mode() -> bool:
    """True when Triton kernels run under the CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "yes", "on")


def backend_override() -> str | None:
    """The backend forced by ``CHAI_KERNELS_BACKEND``, or None. Raises on an unknown value."""
    value = os.environ.get("CHAI_KERNELS_BACKEND", "").strip().lower()
    if not value:
        return None
    if value not in BACKENDS:
        raise ValueError(
            f"CHAI_KERNELS_BACKEND={value!r} is not a known backend.\n"
            f"HINT: set it to one of {', '.join(BACKENDS)} or unset it for the automatic choice."
        )
    return value
