"""CHAI inside diffusers video pipelines: Wan, CogVideoX and Latte.

One call on a loaded pipeline turns its ``pipe(prompt=...)`` calls into cache lookups::

    handle = chai.diffusers.enable_chai(pipe, cache=LatentCache(8 << 30))
    video = pipe(prompt="a corgi surfing a wave at sunset", num_inference_steps=30).frames[0]
    handle.last    # hit or miss, matched entity, steps run, timings
    handle.remove()

Importing this package does not import diffusers; :func:`enable_chai` does, and raises an ImportError
naming the ``chai-video[diffusers]`` extra when it is missing. See docs/diffusers.md.
"""

from chai.diffusers.config import ChaiDiffusersConfig

__all__ = [
    "SUPPORTED_PIPELINES",
    "CallInfo",
    "ChaiDiffusersConfig",
    "ChaiHandle",
    "enable_chai",
    "model_id_for",
]

#: Pipeline classes :func:`enable_chai` accepts (by class name), with their attention design.
SUPPORTED_PIPELINES: dict[str, str] = {
    "WanPipeline": "full 3D self-attention + separate text cross-attention",
    "CogVideoXPipeline": "joint text + video attention",
    "LattePipeline": "spatial / temporal blocks (spatial self-attention + text cross-attention)",
}

_LAZY = {"CallInfo", "ChaiHandle", "enable_chai", "model_id_for"}


def __getattr__(name: str):
    if name in _LAZY:
        from chai.diffusers import enable as _enable

        return getattr(_enable, name)
    raise AttributeError(f"module 'chai.diffusers' has no attribute {name!r}")
