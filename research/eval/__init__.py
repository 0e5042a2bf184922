"""research.eval: quality evidence without a GPU, on a model trained on CPU.

- ``research.eval.synthetic``: seeded generator of captioned clips with ground-truth attributes and masks.
- ``research.eval.analyzer``: deterministic classifier of such clips, prompt adherence, and the image metrics
  (PSNR, SSIM, temporal consistency, mask IoU) the quality benchmark reports.
- ``research.eval.train``, ``research.eval.quality``: training of the synthetic STDiT3 (its fixed autoencoder
  and loader are part of the package, in ``chai.synthetic``) and the CHAI quality benchmark (torch).

The first two are numpy-only; every submodule is imported on first attribute access, so
``import research.eval`` is cheap.
"""

from __future__ import annotations

import importlib

_SUBMODULES = ("synthetic", "analyzer", "train", "quality")

__all__ = list(_SUBMODULES)


def __getattr__(name: str):
    if name in _SUBMODULES:
        module = importlib.import_module(f"research.eval.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'research.eval' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES))
