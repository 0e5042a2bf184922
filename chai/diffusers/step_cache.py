"""diffusers' own step caches (``FirstBlockCacheConfig``, ``PyramidAttentionBroadcastConfig``, ...) on CHAI's
misses: ``enable_chai(pipe, cache, miss_cache=<config>)``.

Nothing of the caches is re-implemented here. A call that should skip steps enables the config on the
transformer with diffusers' ``ModelMixin.enable_cache`` for the length of that call and disables it with
``disable_cache`` afterwards (also when the call raises), so every call starts from fresh cache state and the
pipeline is stock between calls. Which configs a transformer accepts is diffusers' decision; it is checked
once, at ``enable_chai``, by enabling and disabling the config.

Imported only by ``enable_chai`` (it imports diffusers).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import torch

__all__ = ["check_miss_cache", "step_cache"]

_HINT_CONFIGS = (
    "a config from diffusers.hooks that pipe.transformer.enable_cache accepts, e.g. "
    "diffusers.FirstBlockCacheConfig(threshold=0.1) or diffusers.PyramidAttentionBroadcastConfig(...)"
)


def _name(config: Any) -> str:
    return type(config).__name__


def check_miss_cache(transformer: torch.nn.Module, config: Any, family: Any) -> None:
    """Refuse a ``miss_cache`` the pipeline cannot run, naming the config; leaves the transformer as it was."""
    if config is None or isinstance(config, (bool, int, float, str)) or not hasattr(config, "__dataclass_fields__"):
        raise TypeError(f"enable_chai: miss_cache={config!r} is not a diffusers cache config.\nHINT: {_HINT_CONFIGS}.")
    if family.step_caches is not None and _name(config) not in family.step_caches:
        raise ValueError(
            f"enable_chai: miss_cache={_name(config)} cannot run on {family.pipeline_class}: "
            f"{family.step_caches_why}.\nHINT: use {' or '.join(family.step_caches)} on this pipeline, or "
            "miss_cache=None."
        )
    try:
        transformer.enable_cache(config)
    except Exception as exc:  # diffusers decides what it supports; say which config it refused
        raise ValueError(
            f"enable_chai: diffusers refused miss_cache={_name(config)} on {type(transformer).__name__}: "
            f"{type(exc).__name__}: {exc}\nHINT: {_HINT_CONFIGS}; FasterCacheConfig and PyramidAttentionBroadcastConfig "
            "need a current_timestep_callback (e.g. lambda: pipe.current_timestep)."
        ) from exc
    transformer.disable_cache()


@contextmanager
def step_cache(transformer: torch.nn.Module, config: Any):
    """``config`` enabled on ``transformer`` for the body, disabled after it (fresh state on every entry)."""
    transformer.enable_cache(config)
    try:
        yield
    finally:
        transformer.disable_cache()
