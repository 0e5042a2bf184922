"""The diffusers path of ``chai run`` / ``chai demo`` (``--pipeline wan|cogvideox|latte``).

``chai.cli`` parses the flags and prints; this module loads the pipeline, turns CHAI on with
:func:`chai.diffusers.enable_chai` and runs the prompts through the user-facing ``pipe(prompt=...)``,
yielding one ``chai.run/1`` request record per prompt (built from ``handle.last``).

Two kinds of pipeline:

* no ``model``: a tiny random-initialised pipeline built in code (:mod:`chai.diffusers.tiny`): no weights,
  no downloads, seconds on a CPU. It exercises every code path; its videos are noise.
* ``model`` = a Hugging Face model id or a local directory: loaded with the pipeline class's own
  ``from_pretrained``, **from local files only** (a run never starts a multi-gigabyte download; the error
  says how to fetch the weights first).
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "PIPELINE_CLASSES",
    "LoadedPipeline",
    "PipelineUnavailableError",
    "call_arguments",
    "generate",
    "load_pipeline",
    "miss_cache_config",
    "request_shape",
    "resolve_dtype",
    "to_record",
    "warm_up",
]

#: ``--pipeline`` choice -> diffusers pipeline class name.
PIPELINE_CLASSES: dict[str, str] = {"wan": "WanPipeline", "cogvideox": "CogVideoXPipeline", "latte": "LattePipeline"}

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class PipelineUnavailableError(RuntimeError):
    """The requested pipeline cannot be loaded (weights not available locally, wrong checkpoint, no diffusers)."""


@dataclass
class LoadedPipeline:
    """A pipeline ready to run: what was loaded (``source``) and the call arguments that fit it."""

    pipe: Any
    kind: str
    source: str
    tiny: bool
    dtype: torch.dtype
    params: int
    call_kwargs: dict[str, Any] = field(default_factory=dict)


def resolve_dtype(name: str | None, *, model: str | None, device: str) -> torch.dtype:
    """``--dtype``: ``auto`` (None) is bfloat16 for real weights on CUDA, float32 otherwise."""
    if name in (None, "auto"):
        return torch.bfloat16 if (model is not None and str(device).startswith("cuda")) else torch.float32
    if name not in _DTYPES:
        raise ValueError(f"unknown dtype {name!r}. HINT: use auto, {', '.join(_DTYPES)}.")
    return _DTYPES[name]


def _looks_like_path(model: str) -> bool:
    # "owner/name" is a hub id; "./x", "../x", "/abs", "~/x" and anything that exists on disk is a path.
    return model.startswith((".", "/", "~")) or "\\" in model or Path(model).expanduser().exists()


def _pipeline_class(kind: str):
    try:
        import diffusers
    except ImportError as exc:
        raise PipelineUnavailableError(
            f"--pipeline {kind} needs the 'diffusers' package ({exc}). HINT: pip install -e '.[diffusers]' in the "
            "chai checkout."
        ) from None
    return getattr(diffusers, PIPELINE_CLASSES[kind])


def load_pipeline(
    kind: str, model: str | None = None, *, seed: int = 0, device: str = "cpu", dtype: torch.dtype | None = None
) -> LoadedPipeline:
    """The ``kind`` pipeline: tiny random (``model`` None) or ``model`` loaded from local files, on ``device``.

    Raises:
        ValueError: unknown ``kind``.
        FileNotFoundError: ``model`` names a local path that does not exist.
        PipelineUnavailableError: diffusers missing, weights not in the local Hugging Face cache, or a
            checkpoint that is not a ``kind`` pipeline (the message ends with a HINT).
    """
    kind = str(kind).lower()
    if kind not in PIPELINE_CLASSES:
        raise ValueError(f"unknown diffusers pipeline {kind!r}. HINT: use one of {', '.join(PIPELINE_CLASSES)}.")
    cls = _pipeline_class(kind)
    dtype = torch.float32 if dtype is None else dtype
    if model is None:
        from chai.diffusers.tiny import TINY_CALL_KWARGS, tiny_pipeline

        pipe = tiny_pipeline(kind, seed=seed)
        source, call = "tiny random config", dict(TINY_CALL_KWARGS[kind])
        if dtype != torch.float32:
            pipe.to(dtype=dtype)  # from_pretrained below gets torch_dtype instead
    else:
        pipe = _from_pretrained(cls, kind, model, dtype)
        source, call = model, {}
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)  # the CLI draws its own bars
    params = sum(p.numel() for p in pipe.transformer.parameters())
    return LoadedPipeline(pipe, kind, source, model is None, dtype, params, call)


def _from_pretrained(cls: type, kind: str, model: str, dtype: torch.dtype):
    name = cls.__name__
    kw: dict[str, Any] = {"dtype": dtype, "local_files_only": True}
    if _looks_like_path(model):
        path = Path(model).expanduser()
        if not path.exists():
            raise FileNotFoundError(
                f"--model {model!r}: no such directory. HINT: pass a local diffusers checkpoint directory (one "
                f"with model_index.json) or a Hugging Face model id of a {name}, e.g. "
                f"{_EXAMPLE_IDS[kind]}."
            )
        where, fetch = f"directory {str(path)!r}", f"point --model at a {name} checkpoint directory"
        model = str(path)
    else:
        where = "the local Hugging Face cache"
        fetch = f"download it first: hf download {model} (or pass a local directory)"
    found = _checkpoint_class(model)
    if found is not None and found != name:
        other = next((k for k, v in PIPELINE_CLASSES.items() if v == found), None)
        fix = f"use --pipeline {other}" if other else f"pass a {name} checkpoint ({found} is not supported)"
        raise PipelineUnavailableError(f"--model {model!r} holds a {found}, not a {name}. HINT: {fix}.")
    try:
        pipe = cls.from_pretrained(model, **kw)
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "low_cpu_mem_usage" in detail and importlib.util.find_spec("accelerate") is None:
            # diffusers loads models that keep some modules in float32 (Wan) only through accelerate
            raise PipelineUnavailableError(
                f"--pipeline {kind} --model {model!r}: diffusers needs the 'accelerate' package to load this "
                f"{name} ({detail}). HINT: pip install accelerate."
            ) from None
        raise PipelineUnavailableError(
            f"--pipeline {kind} --model {model!r}: cannot load a {name} from {where} ({detail}). "
            f"chai run loads weights from local files only. HINT: {fetch}."
        ) from None
    if getattr(pipe, "transformer", None) is None:
        raise PipelineUnavailableError(
            f"--model {model!r} loaded a {type(pipe).__name__} without a transformer. HINT: pass a full {name} "
            "checkpoint."
        )
    return pipe


def _checkpoint_class(model: str) -> str | None:
    """The pipeline class named by the checkpoint's model_index.json, from local files only (None: unknown)."""
    path = Path(model) / "model_index.json"
    if not path.is_file():
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            return None
        try:
            cached = try_to_load_from_cache(model, "model_index.json")
        except ValueError:  # not a valid repo id
            return None
        if not isinstance(cached, str):
            return None
        path = Path(cached)
    try:
        return str(json.loads(path.read_text(encoding="utf-8")).get("_class_name") or "") or None
    except (OSError, ValueError, AttributeError):
        return None


_EXAMPLE_IDS = {
    "wan": "Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
    "cogvideox": "THUDM/CogVideoX-2b",
    "latte": "maxin-cn/Latte-1",
}


def call_arguments(
    loaded: LoadedPipeline,
    *,
    height: int | None = None,
    width: int | None = None,
    frames: int | None = None,
    guidance_scale: float | None = None,
) -> dict[str, Any]:
    """Keyword arguments of every ``pipe(...)`` call: the tiny pipeline's sizes (or the pipeline's own defaults
    for real weights), overridden by the given height / width / frame count / guidance scale."""
    kw = dict(loaded.call_kwargs)
    if height is not None:
        kw["height"], kw["width"] = int(height), int(width)
    if frames is not None:
        kw["video_length" if loaded.kind == "latte" else "num_frames"] = int(frames)
    if guidance_scale is not None:
        kw["guidance_scale"] = float(guidance_scale)
    if loaded.kind == "latte" and any(importlib.util.find_spec(m) is None for m in ("bs4", "ftfy")):
        # Latte's caption cleaning needs both; without them the pipeline turns it off itself, warning every call
        kw.setdefault("clean_caption", False)
    return kw


def request_shape(pipe: Any, call_kwargs: dict[str, Any], steps: int) -> tuple[tuple[int, ...], tuple[int, int]]:
    """The latent shape (C, T, H, W) and token grid (T', S) of a ``pipe(prompt=..., **call_kwargs)`` request, worked
    out as ``enable_chai`` does at call time (so the CLI can check the cache budget before running anything)."""
    from chai.diffusers.enable import _family_of

    fam = _family_of(pipe)
    cls = getattr(type(pipe), "_chai_original_class", type(pipe))
    ba = inspect.signature(cls.__call__).bind(pipe, prompt="x", num_inference_steps=steps, **call_kwargs)
    ba.apply_defaults()
    shape = tuple(int(v) for v in fam.latent_shape(pipe, ba.arguments))
    return shape, tuple(int(v) for v in fam.grid(pipe.transformer, shape))


def warm_up(loaded: LoadedPipeline, call_kwargs: dict[str, Any]) -> float:
    """One 1-step call without CHAI (first-call costs: lazy imports, allocator, kernel selection) so that the
    first request's timing is not inflated; returns its seconds."""
    t0 = time.perf_counter()
    loaded.pipe(
        prompt="warm-up", num_inference_steps=1, generator=torch.Generator(device="cpu").manual_seed(0),
        output_type="latent", **call_kwargs,
    )  # fmt: skip
    _sync(loaded.pipe._execution_device)
    return time.perf_counter() - t0


def _frames_u8(frames: Any) -> torch.Tensor | None:
    """(T, H, W, 3) uint8 frames of the first video of an ``output_type="np"`` result (values in [0, 1])."""
    try:
        v = torch.as_tensor(frames[0], dtype=torch.float32)
    except (TypeError, ValueError, IndexError):
        return None
    if v.ndim != 4 or v.shape[-1] != 3:
        return None
    return (v.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)


def to_record(info: Any, *, index: int, prompt: str, seed: int, wall: dict[str, float], cpu_s: float) -> dict:
    """A ``chai.run/1`` request record from ``handle.last`` (a :class:`chai.diffusers.CallInfo`).

    ``wall`` holds the CLI's own clock readings: ``total`` (the ``pipe(...)`` call), ``denoise`` (call start
    to the end of its last step: text encoding, latent preparation and the steps) and ``decode`` (after the
    last step: VAE decode and post-processing, the insert excluded).
    """
    t = info.timings
    m = info.matches[0] if info.matches else None
    inserted = info.inserted[0] if info.inserted else None
    entities = list(info.entity_masks[0]) if info.entity_masks and inserted is not None else []
    masks = info.entity_masks[0] if info.entity_masks else {}
    timings = {
        "lookup": float(t.get("lookup", 0.0)),
        "cache_load": float(t.get("cache_load", 0.0)),
        "denoise": float(wall["denoise"]),
        "capture": float(t.get("capture", 0.0)),
        "insert": float(t.get("insert", 0.0)),
        "decode": float(wall["decode"]),
        "total": float(wall["total"]),
        "cpu_total": float(cpu_s),
        "pipeline": float(t.get("pipeline", 0.0)),
        "cache_kv": float(t.get("cache_kv", 0.0)),
        "cache_attention": float(t.get("cache_attention", 0.0)),
    }
    return {
        "index": index,
        "prompt": prompt,
        "hit": bool(info.hit),
        "steps": int(info.steps),
        "seed": int(seed),
        "entry_id": None if m is None else m["entry_id"],
        "prompt_entity": None if m is None else m["prompt_entity"],
        "cached_entity": None if m is None else m["cached_entity"],
        "score": None if m is None else float(m["score"]),
        "inserted_entry": inserted,
        "entities": entities,
        "capture_steps": list(info.capture_steps),
        "cache_steps": list(info.cache_steps),
        "mask_fraction": {e: float(v.float().mean()) for e, v in masks.items()},
        "requested_steps": int(info.requested_steps),
        "reason": info.reason,
        "latent_shape": list(info.latent_shape),
        "model_id": info.model_id,
        "cache_calls": int(info.cache_calls),
        "miss_cache": info.miss_cache,  # the diffusers step cache enabled for this call (--miss-cache), or None
        "transformer_calls": int(info.transformer_calls),
        "notes": list(info.notes),
        "timings": timings,
    }


def miss_cache_config(kind: str, threshold: float) -> Any:
    """The diffusers step cache ``--miss-cache THRESHOLD`` stands for on ``--pipeline kind``: diffusers' own
    ``FirstBlockCacheConfig(threshold=...)`` (the method chai's STDiT3 miss cache follows). Latte's transformer
    runs only ``PyramidAttentionBroadcastConfig``, which has no threshold: refused with the Python route."""
    if kind == "latte":
        raise ValueError(
            f"--miss-cache {threshold} has no meaning on --pipeline latte: diffusers runs only "
            "PyramidAttentionBroadcastConfig on Latte's transformer, a schedule of skipped attention, not a threshold. "
            "HINT: drop --miss-cache, or call chai.diffusers.enable_chai(pipe, cache=..., "
            "miss_cache=diffusers.PyramidAttentionBroadcastConfig(...)) from Python (docs/diffusers.md)."
        )
    from diffusers import FirstBlockCacheConfig

    return FirstBlockCacheConfig(threshold=float(threshold))


def _sync(device: Any) -> None:
    dev = torch.device(device)
    if dev.type == "cuda" and torch.cuda.is_available():
        torch.cuda.synchronize(dev)


def generate(
    handle: Any,
    prompts: Sequence[str],
    *,
    steps: int,
    seed: int,
    call_kwargs: dict[str, Any],
    keep_frames: bool = False,
    on_step: Callable[[int, int], None] | None = None,
) -> Iterator[tuple[dict, torch.Tensor | None]]:
    """Run every prompt through ``handle.pipe(prompt=..., num_inference_steps=steps, ...)``; request ``i`` uses a
    generator seeded ``seed + i``. Yields ``(record, frames)`` per prompt: the :func:`to_record` record and,
    with ``keep_frames``, the first video's (T, H, W, 3) uint8 frames (else None). ``on_step(step, total)``
    is called after every denoising step (``callback_on_step_end``)."""
    pipe = handle.pipe
    device = pipe._execution_device
    for i, prompt in enumerate(prompts):
        marks: dict[str, float] = {}

        def on_step_end(_pipe, step: int, _t, kwargs, _marks=marks):
            _marks["last_step"] = time.perf_counter()
            if on_step is not None:
                on_step(step + 1, int(getattr(_pipe, "_num_timesteps", 0) or steps))
            return {}

        gen = torch.Generator(device="cpu").manual_seed(seed + i)
        _sync(device)
        c0, w0 = time.process_time(), time.perf_counter()
        out = pipe(
            prompt=prompt, num_inference_steps=steps, generator=gen, output_type="np",
            callback_on_step_end=on_step_end, **call_kwargs,
        )  # fmt: skip
        _sync(device)
        w1, c1 = time.perf_counter(), time.process_time()
        info = handle.last
        last = marks.get("last_step", w1)
        insert = float(info.timings.get("insert", 0.0))
        wall = {"total": w1 - w0, "denoise": last - w0, "decode": max(0.0, w1 - last - insert)}
        rec = to_record(info, index=i, prompt=prompt, seed=seed + i, wall=wall, cpu_s=c1 - c0)
        yield rec, (_frames_u8(out.frames) if keep_frames else None)
