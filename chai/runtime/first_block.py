"""State of the first-block residual cache for one sampling run (see ``chai.config.MissCacheConfig``).

Shape legend: B model batch (both CFG halves), N tokens, C hidden size.

One object per generation session. Per model call the patch asks ``reuse(r0)`` with the probe's output
residual r0 = out0 - in0 (B, N, C): True means the remaining blocks are skipped and ``rest`` (the residual
they added at the last computed call) is added to out0. After a computed call the patch stores
``rest = out_last - out0`` with ``remember``. The reference r0 is only replaced on computed calls, so a run of
skipped calls is measured against the same reference and the drift cannot accumulate unseen.
"""

from __future__ import annotations

import torch

__all__ = ["FirstBlockCache"]


class FirstBlockCache:
    """Decides, per model call, whether the blocks after the probe (``MissCacheConfig.probe``) run; counts what it
    did."""

    def __init__(self, threshold: float) -> None:
        self.threshold = float(threshold)
        self._ref: torch.Tensor | None = None  # block-0 residual (B, N, C) at the last computed call
        self.rest: torch.Tensor | None = None  # out_last - out0 (B, N, C) at the last computed call
        self.last_change: float | None = None  # relative L1 change of the latest call (None on the first)
        self.calls_skipped = 0

    def reuse(self, r0: torch.Tensor) -> bool:
        """Whether this call may reuse ``rest`` (never on the first call, nor when the shape changed)."""
        ref = self._ref
        if ref is None or self.rest is None or ref.shape != r0.shape:
            self.last_change = None
            return False
        ref_f = ref.float()
        change = (r0.float() - ref_f).abs().mean() / ref_f.abs().mean().clamp_min(1e-12)
        self.last_change = float(change)
        return self.last_change < self.threshold

    def remember(self, r0: torch.Tensor, rest: torch.Tensor) -> None:
        """Record a computed call: its block-0 residual (the new reference) and the remaining blocks' residual."""
        self._ref = r0
        self.rest = rest
