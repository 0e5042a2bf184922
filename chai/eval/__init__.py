"""chai.eval: quality evidence without a GPU (issue 7).

- ``chai.eval.synthetic``: seeded generator of captioned clips with ground-truth attributes and masks.
- ``chai.eval.analyzer``: deterministic classifier of such clips, prompt adherence, and the image metrics
  (PSNR, SSIM, temporal consistency, mask IoU) the quality benchmark reports.
- ``chai.eval.autoencoder``, ``chai.eval.train``, ``chai.eval.quality``: the synthetic model's fixed
  autoencoder, its training, and the CHAI quality benchmark (torch).

The first two are numpy-only; every submodule is imported on first attribute access, so ``import chai.eval``
is cheap.
"""

from __future__ import annotations

import importlib

_SUBMODULES = ("synthetic", "analyzer", "autoencoder", "train", "quality")

__all__ = list(_SUBMODULES)


def __getattr__(name: str):
    if name in _SUBMODULES:
        module = importlib.import_module(f"chai.eval.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'chai.eval' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES))
