"""chai: the CHAI model layer (OpenSora 1.2 patching, STDiT3, sampler) and the cross-inference cache.

``chai`` depends on ``chai_kernels``, never the reverse. Public names resolve lazily so that
``import chai`` is cheap and never needs faiss, spaCy or the embedder.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "CacheAttentionConfig": "chai.config",
    "MissCacheConfig": "chai.config",
    "patch_opensora": "chai.patching",
    "unpatch": "chai.patching",
    "patched": "chai.patching",
    "PatchHandle": "chai.patching",
    "CHAIPipeline": "chai.pipeline",
    "PipelineConfig": "chai.pipeline",
    "GenerationResult": "chai.pipeline",
    "LatentCache": "chai.cache",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'chai' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
