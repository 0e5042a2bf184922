"""``enable_chai(pipe, cache=..., config=...)``: CHAI's latent cache inside a loaded diffusers video pipeline.

Per ``pipe(...)`` call (prompt given as text):

1. The request's latent shape (C, T, H, W) is worked out from the call's arguments the way the pipeline does
   (frame rounding, resolution multiples, CogVideoX 1.5 frame padding) and each prompt is looked up in the
   cache with ``model=`` the pipeline's identity (:func:`model_id_for`).
2. **Hit** (every prompt of the call matched an entry of that shape): the call runs with the hit step count
   (``config.steps_for_hit``: 30 -> 8) on the pipeline's own scheduler; at ``cache_steps`` the first
   transformer block's video self-attention runs ``chai_kernels.cache_attention`` over the current tokens
   plus the cached latent's tokens (computed by that block, modulated for the current timestep), restricted
   to the matched entity's token mask.
3. **Miss**: the call runs with the user's steps; the conditional latents entering the transformer are
   captured at the steps whose timesteps are nearest to the hit schedule's cache steps, together with the
   first block's text attention on each entity's caption tokens (positions from the pipeline's own
   tokenizer). Each missed prompt is inserted with its three latents and one token mask per entity.

The pipeline stays a diffusers pipeline: block 0's processors are swapped with ``set_processor``, the
transformer and block 0 get diffusers ``ModelHook``s (one installation per transformer, shared by every handle
on a pipeline built from it), and the instance's class is replaced by a thin subclass (same name, created once
per pipeline class) whose ``__call__`` does steps 1-3 around the original ``__call__``. No existing class is
modified; ``handle.remove()`` restores every object. Copies (``copy.copy``, ``copy.deepcopy``, ``pickle``) of
a CHAI'd pipeline are stock pipelines of the original class.

With ``miss_cache=<a diffusers cache config>`` (``FirstBlockCacheConfig``, ...), diffusers' own step cache is
enabled on the transformer for the length of each miss (and of each hit with ``miss_cache_on_hits=True``) and
disabled after it (:mod:`chai.diffusers.step_cache`); the latents captured are the sampler's, as the call ran.

Entries are bound to the schedule they serve: the cache identity (``model=``) ends with the scheduler's
class and configuration digest, the hit step count and the cache steps (:meth:`ChaiHandle.schedule_id`).

Per-call state belongs to the call (a context variable), so threads may share one CHAI'd pipeline as far as
the stock pipeline allows; ``handle.last`` is the calling thread's latest call.
"""

from __future__ import annotations

import copy
import copyreg
import hashlib
import inspect
import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from chai.diffusers.config import ChaiDiffusersConfig

__all__ = ["CallInfo", "ChaiHandle", "enable_chai", "model_id_for"]

_EXTRA_HINT = (
    "HINT: pip install -e '.[diffusers]' in the chai checkout (or: pip install 'diffusers>=0.42' transformers)."
)
_SUBCLASSES: dict[type, type] = {}
# diffusers' cache hooks are registered under names containing one of these (FirstBlockCache: "fbc_*",
# PyramidAttentionBroadcast, FasterCache, MagCache, SeaCache, TaylorSeer, TextKVCache: "*cache*").
_CACHE_HOOK_TAGS = ("cache", "fbc_", "pyramid_attention_broadcast", "taylorseer")


def _require_diffusers():
    try:
        from diffusers.hooks import HookRegistry  # noqa: F401
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(f"chai.diffusers needs the 'diffusers' package (>= 0.42): {exc}.\n{_EXTRA_HINT}") from exc
    import diffusers

    major, minor = (int(x) for x in diffusers.__version__.split(".")[:2])
    if (major, minor) < (0, 42):
        raise ImportError(f"chai.diffusers needs diffusers >= 0.42, found {diffusers.__version__}.\n{_EXTRA_HINT}")


@dataclass
class CallInfo:
    """What one ``pipe(...)`` call did (``handle.last``).

    hit: served from the cache (short schedule with Cache Attention). reason: why it was a hit, miss or plain
    call ("hit", "miss", "no cache", "prompt_embeds given", ...). requested_steps / steps: the call's
    ``num_inference_steps`` and the steps that ran. cache_steps: hit steps that ran Cache Attention;
    capture_steps: miss steps whose latents were captured. matches: per prompt, the matched entry
    (entry_id, prompt_entity, cached_entity, score) or None. inserted: per prompt, the inserted entry id or
    None. entity_tokens: per prompt, {entity key: caption-token positions} (None = not found: all-True
    mask). entity_masks: per prompt, {entity key: (T', S) bool}. cache_calls: patched attention calls that
    used the cache. miss_cache: the class of the diffusers step cache (``enable_chai(miss_cache=...)``) that was
    enabled for this call, None when the call ran without one. transformer_calls: denoiser (transformer) calls
    of a hit or miss; diffusers' step caches report no count of the blocks they skip, so none is given here.
    timings (s): lookup, cache_load, pipeline (the diffusers call), cache_kv (cached K/V),
    cache_attention (the patched attention calls, projections included), capture, insert, total.
    notes: anything that made the call fall back. schedule: the hit schedule entries are bound to
    (:meth:`ChaiHandle.schedule_id`). lookup_reasons: per prompt, the cache lookup's reason for a miss
    ("no_entities", "no_match", "store_unavailable", "damaged"; "" for a match), empty when nothing was looked
    up. error: ``"Type: message"`` when the call raised (then hit is False and
    the reason says so), else None.
    """

    prompts: list[str]
    hit: bool = False
    reason: str = ""
    model_id: str = ""
    requested_steps: int = 0
    steps: int = 0
    latent_shape: tuple[int, ...] = ()
    cache_steps: tuple[int, ...] = ()
    capture_steps: tuple[int, ...] = ()
    matches: list[dict | None] = field(default_factory=list)
    inserted: list[str | None] = field(default_factory=list)
    entity_tokens: list[dict[str, list[int] | None]] = field(default_factory=list)
    entity_masks: list[dict[str, torch.Tensor]] = field(default_factory=list)
    cache_calls: int = 0
    miss_cache: str | None = None
    transformer_calls: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    schedule: str = ""
    lookup_reasons: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def matched_entity(self) -> str | None:
        """The cached entity of the first prompt's match (None on a miss)."""
        m = self.matches[0] if self.matches else None
        return None if m is None else m["cached_entity"]


def _config_digest(config: Any, n: int = 12) -> str:
    body = {k: v for k, v in dict(config).items() if not str(k).startswith("_")}
    return hashlib.sha1(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:n]


def model_id_for(pipe: Any, latent_shape: tuple[int, ...] | None = None) -> str:
    """Cache identity of a pipeline: pipeline class / transformer class / its ``_name_or_path`` / a hash of its
    config, plus the latent shape when given. Entries inserted under one identity never serve another, so a
    Wan latent cannot answer a CogVideoX request, nor one resolution another. (A handle appends the schedule,
    :meth:`ChaiHandle.schedule_id`.)"""
    tr = pipe.transformer
    name = str(dict(tr.config).get("_name_or_path", "") or "")
    ident = f"{_original_class(pipe).__name__}/{type(tr).__name__}/{name}/{_config_digest(tr.config)}"
    if latent_shape is not None:
        ident += "/" + "x".join(str(int(s)) for s in latent_shape)
    return ident


def _original_class(pipe: Any) -> type:
    return getattr(type(pipe), "_chai_original_class", type(pipe))


def _family_of(pipe: Any):
    from chai.diffusers import SUPPORTED_PIPELINES
    from chai.diffusers._runtime import FAMILIES

    cls = _original_class(pipe)
    fam = FAMILIES.get(cls.__name__)
    if fam is None or cls.__module__.split(".")[0] != "diffusers":
        supported = ", ".join(f"{k} ({v})" for k, v in SUPPORTED_PIPELINES.items())
        raise TypeError(
            f"enable_chai does not support {cls.__module__}.{cls.__name__}.\n"
            f"Supported pipelines: {supported}.\n"
            "HINT: load one of these text-to-video pipelines (e.g. diffusers.WanPipeline.from_pretrained(...)); "
            "image-to-video and video-to-video variants are not supported."
        )
    return fam


def _cache_hooks(transformer: torch.nn.Module) -> list[str]:
    """Names of diffusers cache hooks (FirstBlockCache, PAB, FasterCache, MagCache, ...) under ``transformer``."""
    found = []
    for mod_name, mod in transformer.named_modules():
        reg = getattr(mod, "_diffusers_hook", None)
        if reg is None:
            continue
        for hook_name in reg.hooks:
            if hook_name.startswith("chai_"):
                continue
            if any(tag in hook_name for tag in _CACHE_HOOK_TAGS):
                found.append(f"{mod_name or '<transformer>'}:{hook_name}")
    return found


def _refuse_other_caches(pipe: Any) -> None:
    """A step cache the user enabled on the transformer is refused: it would run on hits and misses alike and
    CHAI could neither turn it off on hits nor restore it. CHAI runs it on misses when given as ``miss_cache``."""
    tr = pipe.transformer
    hooks = _cache_hooks(tr)
    if getattr(tr, "is_cache_enabled", False) or hooks:
        cfg = getattr(tr, "_cache_config", None)
        name = "its config" if cfg is None else type(cfg).__name__
        raise RuntimeError(
            f"another diffusers cache ({'' if cfg is None else name + ': '}{', '.join(hooks) or 'enabled'}) is"
            " active on the transformer blocks CHAI patches; it would also skip steps on cache hits, which CHAI"
            f" keeps off unless asked.\nHINT: call pipe.transformer.disable_cache() first and pass {name} to"
            " enable_chai(pipe, cache, miss_cache=...) to run it on misses (miss_cache_on_hits=True: on hits too),"
            " or use one of the two caches."
        )


def _chai_call(self, *args, **kwargs):
    handle = self.__dict__.get("_chai_handle")
    cls = type(self)._chai_original_class
    if handle is None:
        return cls.__call__(self, *args, **kwargs)
    return handle._call(cls, args, kwargs)


def _get_scheduler(self):
    from chai.diffusers._runtime import CURRENT_CALL

    call = CURRENT_CALL.get()
    if call is not None and call.scheduler is not None and call.rt.pipe is self:
        return call.scheduler  # inside this pipeline's call: the call's own copy
    return self.__dict__.get("scheduler")


def _set_scheduler(self, value):
    self.__dict__["scheduler"] = value


#: ``pipe.scheduler`` of a CHAI'd pipeline: during one of its calls (in the calling thread) the call's own copy,
#: so concurrent calls with different step counts (a hit and a miss) never share a schedule; else the attribute.
_SCHEDULER = property(_get_scheduler, _set_scheduler, doc="The pipeline's scheduler (a per-call copy in a call).")


def _stock_object(pipe: Any, transformer: Any = None) -> Any:
    """A new object of the pipeline's original class sharing ``pipe``'s attributes, without the handle (and
    with ``transformer`` in place of the installed one when given)."""
    cls = _original_class(pipe)
    new = cls.__new__(cls)
    new.__dict__.update(pipe.__dict__)
    new.__dict__.pop("_chai_handle", None)
    if transformer is not None:
        new.__dict__["transformer"] = transformer
    return new


def _stock_view(pipe: Any) -> Any:
    """The pipeline as it is without CHAI, sharing every tensor: what pickles and deep copies are made from."""
    from chai.diffusers._runtime import installation_of

    tr = pipe.__dict__.get("transformer")
    inst = installation_of(tr) if tr is not None else None
    return _stock_object(pipe, None if inst is None else inst.stock_view())


def _chai_copy(self):
    """``copy.copy``: a stock pipeline object sharing the components (its calls run stock)."""
    return _stock_object(self)


def _chai_deepcopy(self, memo):
    """``copy.deepcopy``: an independent stock pipeline (the cache is a shared resource and is not copied)."""
    new = copy.deepcopy(_stock_view(self), memo)
    memo[id(self)] = new
    return new


def _chai_reduce_ex(self, protocol):
    """``pickle``: pickled as the stock pipeline of the original class (load it, then enable CHAI again). The
    pickle names only the stock class and the standard library's reconstructor, so loading it needs no CHAI."""
    view = _stock_view(self)
    rv = view.__reduce_ex__(protocol)
    if rv[0] is copyreg.__newobj__:  # pickle requires __newobj__'s class to be the pickled object's own class
        rv = (copyreg._reconstructor, (type(view), object, None), *rv[2:])
    return rv


def _subclass_for(cls: type) -> type:
    sub = _SUBCLASSES.get(cls)
    if sub is None:
        sub = type(
            cls.__name__,
            (cls,),
            {
                "__call__": _chai_call,
                "__copy__": _chai_copy,
                "__deepcopy__": _chai_deepcopy,
                "__reduce_ex__": _chai_reduce_ex,
                "scheduler": _SCHEDULER,
                "__module__": cls.__module__,
                "__qualname__": cls.__qualname__,
                "__doc__": cls.__doc__,
                "_chai_original_class": cls,
            },
        )
        _SUBCLASSES[cls] = sub
    return sub


def _check_cache(cache: Any) -> None:
    if cache is None:
        return
    if isinstance(cache, (str, bytes, os.PathLike)):
        raise TypeError(
            f"enable_chai: cache={cache!r} is a location, not a cache.\n"
            f"HINT: open it first: cache=chai.cache.LatentCache(8 << 30, {os.fsdecode(cache)!r}) "
            "(a directory or a redis:// URL; the first argument is the byte budget)."
        )
    if isinstance(cache, (int, float)):
        raise TypeError(
            f"enable_chai: cache={cache!r} is a number, not a cache.\n"
            f"HINT: for a byte budget pass cache=chai.cache.LatentCache({cache!r}) "
            "(add a directory or redis:// URL as the second argument to keep entries)."
        )
    missing = [name for name in ("lookup", "insert") if not callable(getattr(cache, name, None))]
    if missing:
        raise TypeError(
            f"enable_chai: cache must be a chai.cache.LatentCache or None, got {type(cache).__name__} "
            f"(no {' / '.join(missing)}()).\nHINT: cache=chai.cache.LatentCache(8 << 30, '/path/to/cache'), "
            "or cache=None to run every call unchanged."
        )


def _check_head_dim(fam: Any, pipe: Any) -> None:
    from chai_kernels._validate import check_head_dim

    tr = pipe.transformer
    d = fam.head_dim(tr)
    try:
        check_head_dim("attention_head_dim", d)
    except ValueError as exc:
        rule = str(exc).splitlines()[0]
        raise ValueError(
            f"enable_chai: {type(tr).__name__} has attention_head_dim={d}, which chai_kernels.cache_attention "
            f"refuses ({rule}).\nHINT: use a checkpoint whose attention head dim is 16 to 256 in steps of 8 (the "
            "released Wan, CogVideoX and Latte models use 64 to 128); CHAI cannot change a model's head dim."
        ) from None


def enable_chai(
    pipe: Any,
    cache: Any = None,
    config: ChaiDiffusersConfig | None = None,
    *,
    miss_cache: Any = None,
    miss_cache_on_hits: bool = False,
) -> ChaiHandle:
    """Turn ``pipe(prompt=...)`` calls into CHAI cache lookups (see the module docstring); returns the handle.

    Args:
        pipe: a loaded ``WanPipeline``, ``CogVideoXPipeline`` or ``LattePipeline`` (any device / dtype; call
            ``pipe.to(...)`` before or after).
        cache: a ``chai.cache.LatentCache`` (local or redis-backed); None runs every call unchanged.
        config: :class:`ChaiDiffusersConfig`.
        miss_cache: a diffusers step-cache config (``diffusers.FirstBlockCacheConfig(threshold=0.1)``, ...)
            enabled on the transformer with diffusers' ``enable_cache`` for the length of each miss, and disabled
            after it. None (default): no step caching. Calls that run without CHAI (no cache, ``prompt_embeds``,
            ...) run stock, without it.
        miss_cache_on_hits: also enable ``miss_cache`` on hits (a hit's short schedule then skips too).

    Raises:
        ImportError: diffusers is missing or too old (names the ``chai-video[diffusers]`` extra).
        TypeError: unsupported pipeline class (the message lists the supported ones), an attention processor
            CHAI cannot wrap on block 0, or ``cache`` that is not a cache (a path, a number, ...).
        ValueError: the transformer's attention head dim is one ``chai_kernels.cache_attention`` refuses, or
            diffusers refuses ``miss_cache`` on this transformer (the message names the config).
        RuntimeError: CHAI is already enabled on ``pipe``, or a diffusers cache the user enabled is active on the
            transformer (pass it as ``miss_cache`` instead).
    """
    _require_diffusers()
    _check_cache(cache)
    config = ChaiDiffusersConfig() if config is None else config
    if not isinstance(config, ChaiDiffusersConfig):
        raise TypeError(
            f"config must be a chai.diffusers.ChaiDiffusersConfig, got {type(config).__name__}. "
            "HINT: chai.diffusers.ChaiDiffusersConfig(hit_steps=8)."
        )
    if "_chai_handle" in getattr(pipe, "__dict__", {}):
        raise RuntimeError("CHAI is already enabled on this pipeline. HINT: call handle.remove() first.")
    fam = _family_of(pipe)
    if getattr(pipe, "transformer", None) is None:
        raise TypeError(
            f"{type(pipe).__name__} has no transformer loaded. HINT: load the pipeline with its transformer."
        )
    reasons = fam.unsupported(pipe)
    if reasons:
        raise TypeError(
            f"enable_chai cannot run on this {fam.pipeline_class}: {'; '.join(reasons)}.\n"
            "HINT: use a text-to-video checkpoint with one time embedding per sample (e.g. Wan 2.1 T2V, Wan 2.2 A14B)."
        )
    _check_head_dim(fam, pipe)
    _refuse_other_caches(pipe)
    if not isinstance(miss_cache_on_hits, bool):
        raise TypeError(f"enable_chai: miss_cache_on_hits={miss_cache_on_hits!r} must be a bool. HINT: True or False.")
    if miss_cache is not None:
        from chai.diffusers.step_cache import check_miss_cache

        check_miss_cache(pipe.transformer, miss_cache, fam)
    elif miss_cache_on_hits:
        raise ValueError("enable_chai: miss_cache_on_hits=True needs a miss_cache config. HINT: pass miss_cache=...")
    return ChaiHandle(pipe, fam, cache, config, miss_cache=miss_cache, miss_cache_on_hits=miss_cache_on_hits)


class ChaiHandle:
    """An installation of CHAI on one pipeline instance. ``last`` describes the calling thread's latest call;
    ``remove()`` undoes it.

    Also a context manager (``with enable_chai(pipe, cache) as handle: ...`` removes on exit).
    """

    def __init__(
        self,
        pipe: Any,
        family: Any,
        cache: Any,
        config: ChaiDiffusersConfig,
        *,
        miss_cache: Any = None,
        miss_cache_on_hits: bool = False,
    ) -> None:
        from chai.diffusers._runtime import Runtime, acquire

        self.pipe = pipe
        self.family = family
        self.cache = cache
        self.config = config
        self.miss_cache = miss_cache
        self.miss_cache_on_hits = miss_cache_on_hits
        self.removed = False
        self._local = threading.local()
        self._runtime = Runtime(family, pipe, config)
        self._install = acquire(family, pipe.transformer, step_cached=miss_cache is not None)
        self._cls = type(pipe)
        pipe.__dict__["_chai_handle"] = self
        pipe.__class__ = _subclass_for(self._cls)
        self._call_sig = inspect.signature(self._cls.__call__)

    @property
    def last(self) -> CallInfo | None:
        """The latest call made by the calling thread through this handle (None before its first call)."""
        return getattr(self._local, "last", None)

    # ------------------------------------------------------------------------------------------ lifecycle
    def remove(self) -> None:
        """Restore the pipeline exactly (processors, hooks, class); idempotent. Call it when no call is running;
        other handles on pipelines sharing the transformer keep the installation until the last one is removed."""
        if self.removed:
            return
        from chai.diffusers._runtime import release

        self.removed = True
        release(self._install, step_cached=self.miss_cache is not None)
        self.pipe.__dict__.pop("_chai_handle", None)
        if type(self.pipe) is _SUBCLASSES.get(self._cls):
            self.pipe.__class__ = self._cls

    def __enter__(self):  # -> ChaiHandle
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def __repr__(self) -> str:
        state = "removed" if self.removed else "active"
        return (
            f"ChaiHandle({self._cls.__name__}, family={self.family.name}, cache={type(self.cache).__name__}, {state})"
        )

    # ------------------------------------------------------------------------------------------ helpers
    def model_id(self, shape: tuple[int, ...], schedule: str) -> str:
        """The cache identity of a call: model / latent shape / hit schedule (:meth:`schedule_id`)."""
        if self.config.model_id is not None:
            ident = f"{self.config.model_id}/" + "x".join(str(int(s)) for s in shape)
        else:
            ident = model_id_for(self.pipe, shape)
        return f"{ident}/{schedule}"

    def schedule_id(self, hit_steps: int) -> str:
        """What makes an entry reusable: the hit schedule its latents were captured for. The pipeline scheduler's
        class and a digest of its configuration (shift, beta schedule, prediction type, ...), the hit step count
        and the cache steps, e.g. ``FlowMatchEulerDiscreteScheduler-1a2b3c4d5e/hit8@2,3,4``. A call whose hit
        schedule differs (other step count, shift or scheduler) never uses the entry."""
        sch = self.pipe.scheduler
        steps = ",".join(str(s) for s in self.config.cache_steps)
        return f"{type(sch).__name__}-{_config_digest(sch.config, 10)}/hit{int(hit_steps)}@{steps}"

    def _schedule(self, steps: int) -> torch.Tensor | None:
        """The pipeline scheduler's timesteps for ``steps`` steps, from a copy (the pipeline's is untouched)."""
        try:
            sch = copy.deepcopy(self.pipe.scheduler)
            sch.set_timesteps(steps, device="cpu")
            return sch.timesteps.detach().to("cpu", torch.float64)
        except Exception:  # noqa: BLE001 - schedulers needing extra arguments: fall back to proportional steps
            return None

    def capture_steps(self, full: int, hit: int) -> tuple[int, ...]:
        """Miss-schedule steps (1-based) whose timesteps are nearest to the hit schedule's at ``cache_steps``."""
        fs, hs = self._schedule(full), self._schedule(hit)
        out = []
        for s in self.config.cache_steps:
            if fs is not None and hs is not None and len(fs) == full and len(hs) == hit:
                i = int(torch.argmin((fs - hs[s - 1]).abs())) + 1
            else:
                i = max(1, min(full, round((s - 1) * full / hit) + 1))
            while i in out and i < full:
                i += 1
            out.append(i)
        return tuple(out)

    def _entity_tokens(self, prompt: str, key: str, args: dict) -> list[int] | None:
        from chai.text_encoder import locate_substring, spans_from_offsets

        tok = getattr(self.pipe, "tokenizer", None)
        if tok is None:
            return None
        text = self.family.clean_prompt(self.pipe, prompt, args)
        ranges = locate_substring(text, key)
        if not ranges:
            return None
        L = self.family.max_text_tokens(self.pipe, args)
        try:
            enc = tok(text, padding="max_length", max_length=L, truncation=True, add_special_tokens=True,
                      return_offsets_mapping=True)  # fmt: skip
        except (NotImplementedError, TypeError, ValueError):  # slow tokenizers have no offsets
            return None
        offsets = [tuple(int(v) for v in pair) for pair in enc["offset_mapping"]]
        idx = [i for i in spans_from_offsets(offsets, ranges) if i < L]
        return idx or None

    # ------------------------------------------------------------------------------------------ the call
    def _call(self, cls: type, args: tuple, kwargs: dict):
        """One ``pipe(...)`` call: the decision, the diffusers call and the insert. ``handle.last`` (this
        thread's) describes it, including a failure: then ``error`` is set and the exception propagates."""
        t_start = time.perf_counter()
        info = CallInfo(prompts=[])
        self._local.last = info
        try:
            with self._install.serialised():
                return self._run(cls, args, kwargs, info, t_start)
        except BaseException as exc:
            info.error = f"{type(exc).__name__}: {exc}"
            decided = "hit" if info.hit else info.reason or "before the decision"
            info.reason = f"the call raised {type(exc).__name__} (decided: {decided})"
            info.hit = False
            info.timings["total"] = time.perf_counter() - t_start
            raise

    def _run(self, cls: type, args: tuple, kwargs: dict, info: CallInfo, t_start: float):
        from chai.diffusers._runtime import CallState

        cfg = self.config
        ba = self._call_sig.bind(self.pipe, *args, **kwargs)
        ba.apply_defaults()
        a = ba.arguments
        prompt = a.get("prompt")
        prompts = [prompt] if isinstance(prompt, str) else list(prompt) if isinstance(prompt, (list, tuple)) else []
        info.prompts = prompts
        requested = int(a.get("num_inference_steps") or 0)
        info.requested_steps = info.steps = requested

        def plain(reason: str):
            info.reason = reason
            t0 = time.perf_counter()
            out = self._invoke(cls, ba, CallState(rt=self._runtime, mode="plain"))
            info.timings = {"pipeline": time.perf_counter() - t0, "total": time.perf_counter() - t_start}
            return out

        if self.cache is None:
            return plain("no cache")
        if not prompts or not all(isinstance(p, str) and p.strip() for p in prompts):
            return plain("no text prompt (prompt_embeds or empty prompt): ran without CHAI")
        if a.get("prompt_embeds") is not None:
            return plain("prompt_embeds given: ran without CHAI")
        if a.get("timesteps") is not None or a.get("sigmas") is not None:
            return plain("custom timesteps/sigmas: ran without CHAI (the step count cannot be scaled)")
        if requested < max(cfg.cache_steps):
            return plain(f"num_inference_steps={requested} is shorter than the cache steps: ran without CHAI")
        _refuse_other_caches(self.pipe)

        fam = self.family
        n = len(prompts) * fam.videos_per_prompt(a)  # rows per CFG branch, as the pipeline really makes them
        nv = n // len(prompts)
        given = a.get("latents")
        if given is not None:
            if not isinstance(given, torch.Tensor) or given.ndim != 5:
                return plain("latents= is not a 5-D tensor: ran without CHAI")
            if int(given.shape[0]) != n:
                return plain(f"latents= has {int(given.shape[0])} rows, the call makes {n}: ran without CHAI")
            shape = fam.given_latent_shape(given)  # the pipelines use given latents whatever height/width say
        else:
            shape = tuple(int(s) for s in fam.latent_shape(self.pipe, a))
        info.latent_shape = shape
        hit_steps = cfg.steps_for_hit(requested)
        info.schedule = self.schedule_id(hit_steps)
        model_id = self.model_id(shape, info.schedule)
        info.model_id = model_id
        t0 = time.perf_counter()
        results = [self.cache.lookup(p, shape=(1, *shape), model=model_id) for p in prompts]
        info.lookup_reasons = [r.reason for r in results]
        timings = {"lookup": time.perf_counter() - t0}
        grid = fam.grid(self.pipe.transformer, shape)

        def usable(m) -> bool:
            if m is None or len(m.latents) != len(cfg.cache_steps):
                return False
            if any(tuple(q.shape) != (1, *shape) for q in m.latents):
                return False  # shape mismatch: a miss, never an error
            tm = m.token_mask
            return tm is None or tuple(tm.shape) == tuple(grid)

        matches = [r.match for r in results]
        insertable = [not usable(m) for m in matches]
        shape_miss = any(m is not None and not usable(m) for m in matches)
        hit = bool(matches) and all(usable(m) for m in matches)
        device = self.pipe._execution_device
        if hit:
            from chai_kernels import dequantize_latent

            t0 = time.perf_counter()
            cached = {}
            for i, s in enumerate(cfg.cache_steps):
                rows = [dequantize_latent(m.latents[i].to(device), dtype=torch.float32) for m in matches]
                cached[s] = torch.cat([r for r in rows for _ in range(nv)], dim=0)  # (n, C, T, H, W)
            masks = None
            if cfg.use_token_masks and any(m.token_mask is not None for m in matches):
                per = [torch.ones(grid, dtype=torch.bool) if m.token_mask is None else m.token_mask.bool().cpu()
                       for m in matches]  # fmt: skip
                masks = torch.stack([p for p in per for _ in range(nv)]).to(device)
            self._runtime.sync(torch.device(device))
            timings["cache_load"] = time.perf_counter() - t0
            call = CallState(rt=self._runtime, mode="hit", rows=n, shape=shape, cached=cached, masks=masks)
            info.hit, info.reason, info.steps = True, "hit", hit_steps
            info.cache_steps = cfg.cache_steps
            ba.arguments["num_inference_steps"] = hit_steps
        else:
            capture = self.capture_steps(requested, hit_steps)
            call = CallState(
                rt=self._runtime, mode="miss", rows=n, shape=shape, capture_steps=frozenset(capture),
                capture_rows=tuple(p * nv for p in range(len(prompts))),
            )  # fmt: skip
            info.reason = "miss (cached latent shape differs)" if shape_miss else "miss"
            info.capture_steps = capture
            for j, (p, res) in enumerate(zip(prompts, results)):
                toks = {key: self._entity_tokens(p, key, a) if cfg.use_token_masks else None for key in res.keys}
                info.entity_tokens.append(toks)
                union = sorted({i for v in toks.values() if v for i in v})
                if union:
                    call.token_idx[j] = union
        info.matches = [
            None if not (hit and m is not None) else
            {"entry_id": m.entry_id, "prompt_entity": m.prompt_entity, "cached_entity": m.cached_entity,
             "score": float(m.score)}
            for m in matches
        ]  # fmt: skip

        t0 = time.perf_counter()
        try:
            out = self._invoke(cls, ba, call)
        finally:
            info.notes.extend(call.notes)
            info.cache_calls = call.cache_calls
            info.transformer_calls = call.transformer_calls
            info.miss_cache = call.step_cache
        self._runtime.sync(torch.device(device))
        timings["pipeline"] = time.perf_counter() - t0
        timings["cache_kv"] = call.t_cache_kv
        timings["cache_attention"] = call.t_cache_attn
        timings["capture"] = call.t_capture
        if hit and call.cache_calls == 0:
            # Nothing was served from the cache: say so instead of reporting a hit.
            why = "; ".join(call.notes) or "no transformer call ran Cache Attention"
            info.hit = False
            info.reason = f"ran the hit schedule without Cache Attention ({why})"
        if not hit:
            self._insert(info, call, prompts, results, insertable, timings, model_id, grid)
        timings["total"] = time.perf_counter() - t_start
        info.timings = timings
        return out

    def _invoke(self, cls: type, ba: inspect.BoundArguments, call: Any):
        """The stock ``__call__`` with ``call`` as this thread's CHAI call and a private copy of the scheduler."""
        from chai.diffusers._runtime import CURRENT_CALL

        sch = self.pipe.__dict__.get("scheduler")
        call.scheduler = None if sch is None else copy.deepcopy(sch)
        wanted = call.mode == "miss" or (call.mode == "hit" and self.miss_cache_on_hits)
        step_cached = self.miss_cache is not None and wanted
        token = CURRENT_CALL.set(call)
        try:
            if not step_cached:
                return cls.__call__(*ba.args, **ba.kwargs)
            from chai.diffusers.step_cache import step_cache

            call.step_cache = type(self.miss_cache).__name__
            with step_cache(self.pipe.transformer, self.miss_cache):
                return cls.__call__(*ba.args, **ba.kwargs)
        finally:
            CURRENT_CALL.reset(token)

    def _insert(self, info, call, prompts, results, insertable, timings, model_id, grid) -> None:
        from chai.pipeline import entity_token_mask

        cfg = self.config
        steps = sorted(call.capture_steps)
        info.inserted = [None] * len(prompts)
        info.entity_masks = [{} for _ in prompts]
        if call.mode != "miss" or any(s not in call.captured for s in steps):
            info.notes.append("capture incomplete (interrupted or plain call): nothing inserted")
            return
        ordered = list(info.capture_steps)
        scored = all(s in call.text_scores for s in steps)  # else every mask is all-True
        t0 = time.perf_counter()
        for j, (p, res) in enumerate(zip(prompts, results)):
            if not insertable[j]:
                continue  # already cached for this model and shape
            latents = [call.captured[s][j : j + 1] for s in ordered]
            toks = info.entity_tokens[j] if j < len(info.entity_tokens) else {}
            union = call.token_idx.get(j, [])
            # text_scores[s][j] holds the columns of ``union``; an entity's tokens are its positions in it.
            maps = [call.text_scores[s][j] for s in ordered] if scored else []
            masks = {}
            for key in res.keys:
                idx = toks.get(key)
                cols = [union.index(i) for i in idx] if idx else None
                masks[key] = entity_token_mask(
                    maps, cols, rule=cfg.mask_rule, top_fraction=cfg.mask_top_fraction, shape=grid
                )
            info.entity_masks[j] = masks
            info.inserted[j] = self.cache.insert(p, latents, entity_masks=masks or None, model=model_id, lookup=res)
        timings["insert"] = time.perf_counter() - t0
