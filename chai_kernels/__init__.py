"""chai_kernels: fused Triton kernels for CHAI, with eager PyTorch references.

Importing this package never touches CUDA and never requires Triton: the Triton modules are
imported lazily, on the first call that uses the triton backend.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Public name -> module that defines it. Resolved lazily so importing the package stays cheap.
_EXPORTS = {
    "cache_attention": "chai_kernels.ops.cache_attention",
    "prepare_cache": "chai_kernels.ops.cache_attention",
    "PreparedCache": "chai_kernels.ops.cache_attention",
    "quantize_latent": "chai_kernels.ops.latent_quant",
    "dequantize_latent": "chai_kernels.ops.latent_quant",
    "QuantizedLatent": "chai_kernels.quant",
    "QuantizedKV": "chai_kernels.quant",
    "quantize_kv": "chai_kernels.quant",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'chai_kernels' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
