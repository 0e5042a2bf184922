"""Reversible, instance-level Cache Attention patch for OpenSora 1.2 STDiT3 models (duck-typed).

``patch_opensora(model, config)`` rebinds, on this model instance only:

- ``model.forward``: publishes the step, T, S, timestep, CFG layout and x_mask of each call to the
  patch's ``PatchContext``, and captures latents at the session's capture steps;
- ``spatial_blocks[i].forward`` for the configured blocks: publishes the block's ``t_mlp`` (the
  modulation of the current timestep);
- ``spatial_blocks[i].attn.forward``: Cache Attention (``chai_kernels.cache_attention``) while a session
  with a cached latent is active at a configured step, otherwise the original forward (bit-identical);
- ``spatial_blocks[0].cross_attn.forward``: records head-averaged cross-attention probabilities at the
  capture steps when the session asks for them, otherwise the original forward;
- with ``miss_cache=MissCacheConfig(...)`` only, every ``spatial_blocks[i].forward`` and
  ``temporal_blocks[i].forward``: the first-block residual cache (``chai.runtime.first_block``). The probe
  (``spatial_blocks[0]``, or block pair 0: ``MissCacheConfig.probe``) always runs; when the session's cache says
  so the later blocks return their input unchanged and the probe's last block adds the cached residual of the
  skipped blocks. Without a session that enables it,
  every wrapper calls the original forward.

No parameter, buffer or class is touched: ``state_dict()`` is unchanged, other instances are unaffected,
and ``handle.remove()`` / ``unpatch(model)`` put the exact original forward objects back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from chai.config import CacheAttentionConfig, MissCacheConfig
from chai.modules.cache_attention import cached_kv, embed_cached_latent, modulation_rows, spatial_cache_attention
from chai.patching._bind import BoundRecord, bind_forward
from chai.runtime.capture import capture_latent, cross_attention_probs
from chai.runtime.context import ForwardState, GenerationSession, PatchContext

__all__ = ["PatchHandle", "check_opensora_model", "get_patch_handle", "patch_opensora", "patched", "unpatch"]

_HANDLE_ATTR = "_chai_patch_handle"

# Positional layout of STDiT3.forward(x, timestep, y, mask, x_mask, fps, height, width)
_FORWARD_ARGS = ("x", "timestep", "y", "mask", "x_mask", "fps", "height", "width")
# Positional layout of STDiT3Block.forward(x, y, t, mask, x_mask, t0, T, S)
_BLOCK_ARGS = ("x", "y", "t", "mask", "x_mask", "t0", "T", "S")


def _arg(args: tuple, kwargs: Mapping[str, Any], names: Sequence[str], name: str, default: Any = None) -> Any:
    i = names.index(name)
    if len(args) > i:
        return args[i]
    return kwargs.get(name, default)


# -- validation ------------------------------------------------------------------------------------


def _missing_attrs(obj: Any, prefix: str, names: Sequence[str]) -> list[str]:
    missing = []
    for dotted in names:
        cur, ok = obj, True
        for part in dotted.split("."):
            if not hasattr(cur, part):
                ok = False
                break
            cur = getattr(cur, part)
        if not ok:
            missing.append(f"{prefix}.{dotted}" if prefix else dotted)
    return missing


def check_opensora_model(model: nn.Module, config: CacheAttentionConfig) -> None:
    """Raise TypeError listing everything that makes ``model`` unpatchable as an OpenSora 1.2 STDiT3."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module (an OpenSora 1.2 STDiT3), got {type(model).__name__}.")
    problems = _missing_attrs(
        model,
        "",
        ["spatial_blocks", "temporal_blocks", "x_embedder.proj.weight", "pos_embed", "patch_size", "input_sq_size"],
    )
    blocks = getattr(model, "spatial_blocks", None)
    n_blocks = len(blocks) if blocks is not None and hasattr(blocks, "__len__") else 0
    if blocks is not None and n_blocks:
        bad = [i for i in config.blocks if i >= n_blocks]
        if bad:
            raise ValueError(
                f"config.blocks {config.blocks} names blocks {bad}, but the model has {n_blocks} spatial blocks."
                " HINT: CHAI patches spatial_blocks[0]; use blocks=(0,)."
            )
        block_attrs = [
            "norm1", "scale_shift_table", "attn.qkv", "attn.q_norm", "attn.k_norm", "attn.proj", "attn.proj_drop",
            "attn.num_heads", "attn.head_dim", "attn.scale",
        ]  # fmt: skip
        for i in sorted(set(config.blocks)):
            problems += _missing_attrs(blocks[i], f"spatial_blocks[{i}]", block_attrs)
        problems += _missing_attrs(
            blocks[0], "spatial_blocks[0]", ["cross_attn.q_linear", "cross_attn.kv_linear", "cross_attn.num_heads"]
        )
    elif blocks is not None:
        problems.append("spatial_blocks (empty)")
    refusals = []
    if getattr(model, "enable_sequence_parallelism", False):
        refusals.append("model.enable_sequence_parallelism is True (sequence-parallel attention is not supported)")
    for kind in ("spatial_blocks", "temporal_blocks"):
        for i, blk in enumerate(getattr(model, kind, None) or []):
            attn = getattr(blk, "attn", None)
            if attn is not None and hasattr(attn, "kernel_size"):
                refusals.append(f"{kind}[{i}].attn.kernel_size exists (Open-Sora 1.3 shifted-window attention)")
                break
            if getattr(blk, "enable_sequence_parallelism", False) or "SeqParallel" in type(attn).__name__:
                refusals.append(f"{kind}[{i}] uses sequence-parallel attention ({type(attn).__name__})")
                break
    if blocks is not None and n_blocks and not problems:
        for i in config.blocks:
            if getattr(blocks[i].attn, "rope", False) is True:
                refusals.append(f"spatial_blocks[{i}].attn.rope is True (OpenSora 1.2 spatial attention has no RoPE)")
    if problems or refusals:
        lines = [f"cannot patch {type(model).__name__}: it is not an OpenSora 1.2 STDiT3 this patch supports."]
        if problems:
            lines.append("  missing: " + ", ".join(problems))
        for r in refusals:
            lines.append("  refused: " + r)
        lines.append(
            "HINT: pass an OpenSora 1.2 STDiT3 (opensora.models.stdit.stdit3.STDiT3 or chai.models.STDiT3) built with"
            " enable_sequence_parallelism=False; Open-Sora 1.3 / 2.0 models are not supported."
        )
        raise TypeError("\n".join(lines))


# -- the handle ------------------------------------------------------------------------------------


class PatchHandle:
    """A live patch on one model instance. ``remove()`` undoes it; ``session(...)`` runs a generation."""

    def __init__(self, model: nn.Module, config: CacheAttentionConfig, context: PatchContext) -> None:
        self.model = model
        self.config = config
        self.context = context
        self._records: list[BoundRecord] = []
        self._removed = False

    @property
    def active(self) -> bool:
        """True until ``remove()``."""
        return not self._removed

    @property
    def miss_cache(self) -> MissCacheConfig | None:
        """The first-block residual cache this patch carries (``patch_opensora(..., miss_cache=)``), or None."""
        return self.context.miss_cache

    @property
    def patched_modules(self) -> list[str]:
        """Qualified names of the modules whose forward is rebound, e.g. ``spatial_blocks.0.attn``."""
        names = {id(m): n for n, m in self.model.named_modules()}
        return [names.get(id(r.module), type(r.module).__name__) or "<model>" for r in self._records]

    def session(
        self,
        *,
        cached_latents: Mapping[int, torch.Tensor] | None = None,
        token_mask: torch.Tensor | None = None,
        capture_steps: Sequence[int] = (),
        capture_cross_attn: bool = False,
        cfg: bool = True,
        miss_cache: bool | None = None,
    ) -> GenerationSession:
        """Open a generation: ``with handle.session(...) as sess: sampler.sample(..., callback=sess.on_step)``.

        Args:
            cached_latents: {step: cached latent (C, T, H, W) or (1, C, T, H, W)} for every configured
                step (hit run), or None (no Cache Attention: miss run / plain sampling).
            token_mask: bool (T, S), True = cached token may be attended (S = patch tokens per frame);
                None keeps all cached tokens.
            capture_steps: 1-based steps whose input latent is recorded in ``sess.captured``.
            capture_cross_attn: also record block-0 cross-attention maps at the capture steps.
            cfg: without ``on_step`` calls, treat the model batch as [cond; uncond] halves.
            miss_cache: run the first-block residual cache in this session. None (default): on when the
                patch has a ``MissCacheConfig`` and this is a miss (no ``cached_latents``) or its ``on_hits``
                is set; True / False force it (True needs a ``MissCacheConfig``).
        """
        if self._removed:
            raise RuntimeError("this patch was removed. HINT: patch the model again with chai.patch_opensora(model).")
        return GenerationSession(
            self.context,
            cached_latents=cached_latents,
            token_mask=token_mask,
            capture_steps=capture_steps,
            capture_cross_attn=capture_cross_attn,
            cfg=cfg,
            miss_cache=miss_cache,
        )

    def remove(self) -> None:
        """Restore the exact original forward objects; idempotent."""
        if self._removed:
            return
        latest = {(id(rec.module), rec.name): rec for rec in self._records}  # a module may be wrapped twice
        for rec in latest.values():
            if rec.module.__dict__.get(rec.name) is not rec.replacement:
                raise RuntimeError(
                    f"{type(rec.module).__name__}.forward was replaced after chai patched it; not restoring."
                    " HINT: remove the later patch first."
                )
        for rec in reversed(self._records):
            rec.restore()
        self._records.clear()
        self.model.__dict__.pop(_HANDLE_ATTR, None)
        self.context.session = None
        self.context.state = None
        self._removed = True

    def __enter__(self) -> PatchHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def __repr__(self) -> str:
        state = "removed" if self._removed else "active"
        return f"PatchHandle({type(self.model).__name__}, {self.config}, {state})"


# -- wrappers --------------------------------------------------------------------------------------


def _make_model_forward(model: nn.Module, orig, ctx: PatchContext):
    pt, ph, pw = (int(p) for p in model.patch_size)
    n_blocks = len(model.spatial_blocks) + len(model.temporal_blocks)

    def forward(*args, **kwargs):
        sess = ctx.session
        if sess is None:
            ctx.state = None
            return orig(*args, **kwargs)
        x = _arg(args, kwargs, _FORWARD_ARGS, "x")
        B, _, Tx, Hx, Wx = x.shape
        step, n_cond = sess.begin_forward(B)
        T, Hp, Wp = -(-Tx // pt), -(-Hx // ph), -(-Wx // pw)
        state = ForwardState(
            step=step,
            latent_shape=tuple(x.shape[1:]),
            grid=(T, Hp, Wp),
            T=T,
            S=Hp * Wp,
            batch=B,
            n_cond=n_cond,
            timestep=_arg(args, kwargs, _FORWARD_ARGS, "timestep"),
            x_mask=_arg(args, kwargs, _FORWARD_ARGS, "x_mask"),
            height=_arg(args, kwargs, _FORWARD_ARGS, "height"),
            width=_arg(args, kwargs, _FORWARD_ARGS, "width"),
        )
        if sess.cache_active(step):
            _check_cached_latent(sess, state)
        if sess.capture_active(step):
            sess.captured[step] = capture_latent(x, n_cond)
        ctx.state = state
        try:
            out = orig(*args, **kwargs)
        finally:
            ctx.state = None
        sess.block_evals += n_blocks - state.blocks_skipped
        sess.blocks_skipped += state.blocks_skipped
        return out

    return forward


def _check_cached_latent(sess: GenerationSession, state: ForwardState) -> None:
    z = sess.cached_latents[state.step]
    if tuple(z.shape) != state.latent_shape:
        raise ValueError(
            f"cached latent for step {state.step} has shape {tuple(z.shape)}, the request's latent is "
            f"{state.latent_shape} (C, T, H, W). HINT: Cache Attention is frame-aligned; only an entry of the"
            " same latent shape can be used (treat a shape mismatch as a cache miss)."
        )
    m = sess.token_mask
    if m is not None and tuple(m.shape) != (state.T, state.S):
        raise ValueError(
            f"token_mask has shape {tuple(m.shape)}, expected (T, S) = {(state.T, state.S)} for latent "
            f"{state.latent_shape}. HINT: S counts patch tokens per frame (H' * W' after padding)."
        )


def _make_block_forward(idx: int, orig, ctx: PatchContext):
    def forward(*args, **kwargs):
        state = ctx.state
        if state is None:
            return orig(*args, **kwargs)
        state.block_t[idx] = _arg(args, kwargs, _BLOCK_ARGS, "t")
        try:
            return orig(*args, **kwargs)
        finally:
            state.block_t.pop(idx, None)

    return forward


def _pos_emb(model: nn.Module, like: torch.Tensor, state: ForwardState) -> torch.Tensor:
    _, Hp, Wp = state.grid
    S = state.S

    def first(v):
        if torch.is_tensor(v):
            return v.reshape(-1)[0].item()
        if isinstance(v, (list, tuple)):
            return float(v[0])
        return float(v)

    scale = (first(state.height) * first(state.width)) ** 0.5 / model.input_sq_size
    return model.pos_embed(like, Hp, Wp, scale=scale, base_size=round(S**0.5))


def _make_attn_forward(model: nn.Module, block: nn.Module, idx: int, orig, ctx: PatchContext):
    attn = block.attn

    def forward(*args, **kwargs):
        sess, state = ctx.session, ctx.state
        if sess is None or state is None or not sess.cache_active(state.step) or idx not in state.block_t:
            return orig(*args, **kwargs)
        x = args[0] if args else kwargs["x"]
        cfg = ctx.config
        T, S = state.T, state.S
        if state.cache_tokens is None:
            z = sess.cached_latents[state.step]
            dtype = model.x_embedder.proj.weight.dtype
            pos = _pos_emb(model, x.to(dtype), state)
            state.cache_tokens = embed_cached_latent(model, z, pos, T, S)
        t_mlp = state.block_t[idx]
        shift, scale = modulation_rows(block, t_mlp)
        kc, vc = cached_kv(block, state.cache_tokens, shift, scale)  # (R*T, S, H, D)
        rows = x.shape[0]  # B_model * T
        cache_rows = rows if cfg.uncond_uses_cache else state.n_cond * T
        if kc.shape[0] != T:  # per-row modulation: keep the cache rows of the queries that use it
            kc, vc = kc[:cache_rows], vc[:cache_rows]
        # the hit's mask (and its key-block lists) is prepared once per session; each call only attaches K/V
        prepared = sess.prepared_mask(kc.shape[0], T, S, x.device)
        sess.cache_calls += 1
        return spatial_cache_attention(
            attn,
            x,
            None,
            None,
            None,
            cache_rows=cache_rows,
            mode=cfg.mode,
            cache_bias=cfg.cache_bias,
            cache=prepared.with_kv(kc, vc),
        )

    return forward


def _make_first_block_forwards(model: nn.Module, ctx: PatchContext) -> list[tuple[nn.Module, Any]]:
    """(module, new forward) for every block: the first-block residual cache (see the module docstring). The
    probe (``spatial_blocks[0]``, or block pair 0) always runs; its last block decides."""
    depth = len(model.spatial_blocks)
    blocks = [b for i in range(depth) for b in (model.spatial_blocks[i], model.temporal_blocks[i])]
    n_probe = ctx.miss_cache.probe_blocks
    skipped = len(blocks) - n_probe

    def active(state: ForwardState | None) -> bool:
        sess = ctx.session
        return state is not None and sess is not None and sess.first_block is not None

    def entry(orig):  # the probe's first block: remember its input
        def forward(*args, **kwargs):
            state = ctx.state
            if active(state):
                state.block0_in = _arg(args, kwargs, _BLOCK_ARGS, "x")
            return orig(*args, **kwargs)

        return forward

    def probe_out(orig):  # the probe's last block: decide; on reuse add the cached residual of the rest
        def forward(*args, **kwargs):
            out = orig(*args, **kwargs)
            state = ctx.state
            if not active(state) or state.block0_in is None:
                return out
            fb = ctx.session.first_block
            r0 = out - state.block0_in
            state.block0_in = None
            if fb.reuse(r0):
                state.skip_rest = True
                state.blocks_skipped = skipped
                fb.calls_skipped += 1
                return out + fb.rest
            state.block0_out, state.block0_residual = out, r0
            return out

        return forward

    def later(orig, last: bool):  # blocks after the probe: identity on reuse; the last one records the residual
        def forward(*args, **kwargs):
            state = ctx.state
            if not active(state):
                return orig(*args, **kwargs)
            if state.skip_rest:
                return _arg(args, kwargs, _BLOCK_ARGS, "x")
            out = orig(*args, **kwargs)
            if last and state.block0_out is not None:
                ctx.session.first_block.remember(state.block0_residual, out - state.block0_out)
                state.block0_out = state.block0_residual = None
            return out

        return forward

    first = entry(blocks[0].forward)
    if n_probe == 1:  # one block is the probe: it remembers its input, runs, then decides
        out = [(blocks[0], probe_out(first))]
    else:
        out = [(blocks[0], first), (blocks[1], probe_out(blocks[1].forward))]
    for i in range(n_probe, len(blocks)):
        out.append((blocks[i], later(blocks[i].forward, i == len(blocks) - 1)))
    return out


def _make_cross_attn_forward(cross_attn: nn.Module, orig, ctx: PatchContext):
    def forward(*args, **kwargs):
        sess, state = ctx.session, ctx.state
        if sess is not None and state is not None and sess.capture_cross_attn and sess.capture_active(state.step):
            x = args[0] if args else kwargs["x"]
            cond = args[1] if len(args) > 1 else kwargs["cond"]
            y_lens = args[2] if len(args) > 2 else kwargs.get("mask")
            sess.cross_attn[state.step] = cross_attention_probs(
                cross_attn, x, cond, y_lens, state.n_cond, state.T, state.S
            )
        return orig(*args, **kwargs)

    return forward


# -- public API ------------------------------------------------------------------------------------


def get_patch_handle(model: nn.Module) -> PatchHandle | None:
    """The live ``PatchHandle`` of ``model``, or None."""
    return model.__dict__.get(_HANDLE_ATTR) if isinstance(model, nn.Module) else None


def patch_opensora(
    model: nn.Module, config: CacheAttentionConfig | None = None, *, miss_cache: MissCacheConfig | None = None
) -> PatchHandle:
    """Patch an OpenSora 1.2 STDiT3 instance (OpenSora's class or ``chai.models.STDiT3``) for Cache Attention.

    Returns a ``PatchHandle``; the model behaves exactly as before until a session with cached latents
    reaches a configured step (or, with ``miss_cache``, a session that enables the first-block residual
    cache). Raises TypeError for models of another shape (listing what is missing or refused) and
    RuntimeError when the model is already patched.
    """
    config = CacheAttentionConfig() if config is None else config
    if not isinstance(config, CacheAttentionConfig):
        raise TypeError(f"config must be a chai.CacheAttentionConfig, got {type(config).__name__}.")
    if miss_cache is not None and not isinstance(miss_cache, MissCacheConfig):
        raise TypeError(
            f"miss_cache must be a chai.MissCacheConfig or None, got {type(miss_cache).__name__}."
            " HINT: miss_cache=chai.MissCacheConfig(threshold=0.1)."
        )
    if get_patch_handle(model) is not None:
        raise RuntimeError(
            f"this {type(model).__name__} instance is already patched by chai."
            " HINT: call handle.remove() or chai.unpatch(model) first, or use `with chai.patched(model, config):`."
        )
    check_opensora_model(model, config)
    if miss_cache is not None and 2 * len(model.spatial_blocks) <= miss_cache.probe_blocks:
        raise ValueError(
            f"miss_cache with probe={miss_cache.probe!r} needs a model with more than {miss_cache.probe_blocks}"
            f" block(s), this one has {2 * len(model.spatial_blocks)}: the probe always runs, so there is nothing"
            " to skip. HINT: patch without miss_cache, or use probe='block'."
        )
    ctx = PatchContext(config, miss_cache)
    handle = PatchHandle(model, config, ctx)
    recs = handle._records
    recs.append(bind_forward(model, _make_model_forward(model, model.forward, ctx)))
    for i in config.blocks:
        block = model.spatial_blocks[i]
        recs.append(bind_forward(block, _make_block_forward(i, block.forward, ctx)))
        recs.append(bind_forward(block.attn, _make_attn_forward(model, block, i, block.attn.forward, ctx)))
    cross = model.spatial_blocks[0].cross_attn
    recs.append(bind_forward(cross, _make_cross_attn_forward(cross, cross.forward, ctx)))
    if miss_cache is not None:
        for module, fn in _make_first_block_forwards(model, ctx):
            recs.append(bind_forward(module, fn))
    model.__dict__[_HANDLE_ATTR] = handle
    return handle


def unpatch(model: nn.Module) -> None:
    """Remove chai's patch from ``model`` (restores the original forwards)."""
    handle = get_patch_handle(model)
    if handle is None:
        raise ValueError(
            f"this {type(model).__name__} instance is not patched by chai."
            " HINT: nothing to undo; patch it with chai.patch_opensora(model)."
        )
    handle.remove()


@contextlib.contextmanager
def patched(
    model: nn.Module, config: CacheAttentionConfig | None = None, *, miss_cache: MissCacheConfig | None = None
) -> Iterator[PatchHandle]:
    """``with patched(model, config) as handle:`` patch on entry, restore on exit (also on error)."""
    handle = patch_opensora(model, config, miss_cache=miss_cache)
    try:
        yield handle
    finally:
        handle.remove()
