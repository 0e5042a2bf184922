"""``chai eval quality``: what a cache hit costs in quality, measured on any supported pipeline.

- :mod:`chai.evaluation.metrics`: PSNR, SSIM and paired bootstrap intervals (numpy only).
- :mod:`chai.evaluation.pairs`: the pairs file (JSON lines of ``{"cached": ..., "request": ...}``).
- :mod:`chai.evaluation.runners`: one runner per pipeline kind (CHAI's STDiT3 pipeline, diffusers + CHAI) that
  produces, for a pair, the miss, the hit and the two no-cache twins.
- :mod:`chai.evaluation.quality`: runs the pairs, scores every clip once and builds the JSON report.
- :mod:`chai.evaluation.sheet`: the contact sheet PNG; :mod:`chai.evaluation.clip`: the optional CLIP score.

Submodules load on first use, so ``import chai.evaluation`` imports neither torch nor matplotlib.
"""

from __future__ import annotations

import importlib

_SUBMODULES = ("metrics", "pairs", "runners", "quality", "sheet", "clip")

__all__ = list(_SUBMODULES)


def __getattr__(name: str):
    if name in _SUBMODULES:
        module = importlib.import_module(f"chai.evaluation.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'chai.evaluation' has no attribute {name!r}")
