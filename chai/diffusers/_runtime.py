"""Per-call state, diffusers hooks and attention processors behind :func:`chai.diffusers.enable_chai`.

Imported only by ``enable_chai`` (it imports diffusers). Everything is installed on the pipeline's
instances through diffusers' own mechanisms:

* a stateful ``ModelHook`` on ``pipe.transformer`` (HookRegistry) reads each call's step (the call's
  timestep located in the scheduler's ``timesteps``), the CFG branch (the pipeline's ``cache_context``
  name, or the batch layout) and captures the latent entering the model on a miss;
* a ``ModelHook`` on the first transformer block records its time embedding (and rotary table), which
  the cached tokens need to be modulated for the *current* timestep;
* attention processors (``set_processor``) on the first block's video self-attention (Cache Attention
  at hit steps) and text attention (entity scores at capture steps). They delegate to the processor they
  replaced whenever they have nothing to do, so an idle installation computes exactly what diffusers does.

Per-call state lives in a context variable (:data:`CURRENT_CALL`), set by ``ChaiHandle`` for the length of one
``pipe(...)`` call in the calling thread. Hooks and processors hold no per-call or per-handle state: a call made
by another thread, or through another pipeline object sharing the transformer, sees its own state or none
(then everything delegates to the stock processors). One installation per transformer (:class:`Installation`)
is shared by every handle enabled on a pipeline that uses that transformer.

Shape legend: n rows per CFG branch (prompts x videos per prompt), B transformer batch, C latent channels,
T/H/W latent frames/rows/columns, T'/S token frames/tokens per frame, N = T'*S, L text tokens, H heads,
D head dim, M cached tokens per cache row.
"""

from __future__ import annotations

import threading
import time
import weakref
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import torch
from diffusers.hooks import HookRegistry, ModelHook
from diffusers.hooks.hooks import BaseState, StateManager

import chai_kernels
from chai_kernels.reference.cache_attention import cache_attention_reference

HOOK_TRANSFORMER = "chai_transformer"
HOOK_BLOCK = "chai_block0"


# --------------------------------------------------------------------------------------------- state
@dataclass
class ForwardInfo:
    """What the transformer hook learned about the current transformer call."""

    step: int  # 1-based index of the call's timestep in the scheduler's timesteps
    cond: tuple[int, int] | None  # [start, end) rows of the conditional branch in this call; None: none
    grid: tuple[int, int]  # (T', S)
    text: torch.Tensor | None  # the call's encoder_hidden_states (CogVideoX re-embeds cached latents with it)
    temb: torch.Tensor | None = None  # block 0's time embedding argument
    rotary: Any = None  # block 0's rotary table argument (Wan, CogVideoX 1.5)


@dataclass
class CallState:
    """One ``pipe(...)`` call: what the hooks and processors must do, and what they recorded."""

    rt: Runtime  # the handle's family, pipeline and config
    mode: str  # "hit", "miss" or "plain"
    rows: int = 0  # n: rows per CFG branch
    shape: tuple[int, ...] = ()  # expected (C, T, H, W)
    scheduler: Any = None  # this call's own copy of the pipeline's scheduler (``pipe.scheduler`` during the call)
    cached: dict[int, torch.Tensor] = field(default_factory=dict)  # hit: step -> (n, C, T, H, W) float32
    masks: torch.Tensor | None = None  # hit: (n, T', S) bool, None = every cached token
    capture_steps: frozenset = frozenset()  # miss: steps whose latents / text attention are recorded
    capture_rows: tuple[int, ...] = ()  # miss: cond rows to record (first video of each prompt)
    token_idx: dict[int, list[int]] = field(default_factory=dict)  # row -> caption tokens to score
    captured: dict[int, torch.Tensor] = field(default_factory=dict)  # step -> (len(capture_rows), C, T, H, W)
    text_scores: dict[int, torch.Tensor] = field(default_factory=dict)  # step -> (rows, T', S, K) float32
    fwd: ForwardInfo | None = None
    branch: str | None = None  # the pipeline's diffusers cache_context name ("cond" / "uncond"), if any
    kv_memo: dict = field(default_factory=dict)
    timesteps: torch.Tensor | None = None
    cache_calls: int = 0
    transformer_calls: int = 0  # transformer forwards of a hit or miss
    step_cache: str | None = None  # class name of the diffusers step cache enabled for this call
    notes: list[str] = field(default_factory=list)
    t_cache_kv: float = 0.0
    t_cache_attn: float = 0.0
    t_capture: float = 0.0


class Runtime:
    """What a handle's calls share (never per-call state): the family, the pipeline and the config."""

    def __init__(self, family: Family, pipe: Any, config: Any) -> None:
        self.family = family
        self.pipe = pipe
        self.config = config

    def sync(self, device: torch.device) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)


#: The CHAI call running in this thread (or asyncio task); None: every hook and processor acts stock.
CURRENT_CALL: ContextVar[CallState | None] = ContextVar("chai_diffusers_call", default=None)


class _NoState(BaseState):
    def reset(self, *args, **kwargs) -> None:
        pass


class _BranchOfCall(StateManager):
    """Receives diffusers' ``cache_context(name)`` and stores the name on the calling thread's CHAI call.

    diffusers keeps a stateful hook's context on the hook itself, which every thread calling the shared
    transformer would overwrite; the call state is the calling thread's own.
    """

    def __init__(self) -> None:
        super().__init__(_NoState)

    def set_context(self, context) -> None:
        call = CURRENT_CALL.get()
        if call is not None:
            call.branch = None if context is None else context.name


# --------------------------------------------------------------------------------------------- hooks
class TransformerHook(ModelHook):
    """Reads step / CFG branch / grid of each transformer call; captures latents at capture steps."""

    # Stateful only so that diffusers' ``cache_context(name)`` reaches ``self.state`` (the CFG branch name,
    # stored on the calling thread's call).
    _is_stateful = True

    def __init__(self) -> None:
        super().__init__()
        self.state = _BranchOfCall()

    def reset_state(self, module: torch.nn.Module) -> torch.nn.Module:
        return module

    def pre_forward(self, module, *args, **kwargs):
        call = CURRENT_CALL.get()
        if call is None or call.mode == "plain":
            return args, kwargs
        rt = call.rt
        fam = rt.family
        bound = fam.bind_transformer(module, args, kwargs)
        x = fam.latent_bcthw(bound["hidden_states"])
        timestep = bound["timestep"]
        B = int(x.shape[0])
        if call.timesteps is None:
            call.timesteps = rt.pipe.scheduler.timesteps.detach().to("cpu", torch.float64)
        t = torch.as_tensor(timestep).detach().to("cpu", torch.float64).flatten()
        t = float(t.max()) if t.numel() else 0.0
        step = int(torch.argmin((call.timesteps - t).abs())) + 1
        name = call.branch
        n = call.rows
        shape = tuple(int(s) for s in x.shape[1:])
        problem = None
        if shape != tuple(call.shape):
            problem = f"latent {shape} differs from the expected {tuple(call.shape)}"
        elif B not in (n, 2 * n):
            problem = f"transformer batch {B} is neither {n} (prompts x videos) nor {2 * n} (with CFG)"
        if problem is not None:
            # Not the rows or latent the call was looked up (or captured) for: never guess, run as a plain call.
            call.notes.append(f"{problem}; ran without CHAI")
            call.mode = "plain"
            call.fwd = None
            return args, kwargs
        if name == "uncond":
            cond = None
        elif name == "cond" or B == n:
            cond = (0, B)
        else:
            cond = fam.cond_half(n)
        call.transformer_calls += 1
        call.fwd = ForwardInfo(step, cond, fam.grid(module, shape), bound.get("encoder_hidden_states"))
        if call.mode == "miss" and step in call.capture_steps and cond is not None and step not in call.captured:
            t0 = time.perf_counter()
            rows = [cond[0] + r for r in call.capture_rows]
            call.captured[step] = x[rows].detach().to(torch.float32).cpu().clone()
            call.t_capture += time.perf_counter() - t0
        return args, kwargs

    def post_forward(self, module, output):
        call = CURRENT_CALL.get()
        if call is not None:
            call.fwd = None
        return output


class BlockHook(ModelHook):
    """Records block 0's time embedding and rotary table for the attention processors."""

    def pre_forward(self, module, *args, **kwargs):
        call = CURRENT_CALL.get()
        if call is not None and call.fwd is not None:
            temb, rotary = call.rt.family.block_inputs(module, args, kwargs)
            call.fwd.temb = temb
            call.fwd.rotary = rotary
        return args, kwargs


def install_hook(module: torch.nn.Module, hook: ModelHook, name: str) -> None:
    registry = HookRegistry.check_if_exists_or_initialize(module)
    registry.register_hook(hook, name)


def remove_hook(module: torch.nn.Module, name: str) -> None:
    registry = getattr(module, "_diffusers_hook", None)
    if registry is not None and name in registry.hooks:
        registry.remove_hook(name, recurse=False)


# --------------------------------------------------------------------------------------------- installation
class Installation:
    """CHAI's processors and hooks on one transformer, shared by every handle whose pipeline uses it.

    Created by the first :func:`acquire` on a transformer and undone by the last :func:`release`, so two
    pipeline objects built from the same components (``from_pipe``) can each have their own handle.
    """

    def __init__(self, family: Family, transformer: torch.nn.Module) -> None:
        block = family.block0(transformer)
        processors = family.make_processors(block)
        bad = [
            f"{name}: {type(m.processor).__name__}"
            for name, m in block.named_children()
            if m in processors and type(m.processor).__name__ not in family.processor_classes
        ]
        if bad:
            raise TypeError(
                f"enable_chai: block 0 of {type(transformer).__name__} uses attention processors it cannot wrap: "
                f"{', '.join(bad)} (expected {', '.join(family.processor_classes)}).\nHINT: restore the default "
                "processors (e.g. pipe.transformer.unfuse_qkv_projections() / set_default_attn_processor()) first."
            )
        self.family = family
        self.transformer = transformer
        self.block = block
        self.originals = {m: m.processor for m in processors}
        self.users = 0
        self.step_cached_users = 0  # handles with a miss_cache: their calls enable diffusers' hooks on this model
        self._step_lock = threading.RLock()
        for m, proc in processors.items():
            m.set_processor(proc)
        install_hook(transformer, TransformerHook(), HOOK_TRANSFORMER)
        install_hook(block, BlockHook(), HOOK_BLOCK)

    @contextmanager
    def serialised(self):
        """One CHAI call at a time on this transformer while a handle on it may enable a diffusers step cache
        (the cache's hooks live on the shared transformer for the length of a call); no lock otherwise."""
        if self.step_cached_users <= 0:
            yield
            return
        with self._step_lock:
            yield

    def uninstall(self) -> None:
        for m, proc in self.originals.items():
            m.set_processor(proc)
        remove_hook(self.block, HOOK_BLOCK)
        remove_hook(self.transformer, HOOK_TRANSFORMER)

    def stock_view(self) -> torch.nn.Module:
        """A shallow copy of the transformer without CHAI, sharing every parameter, buffer and untouched module.

        Only the modules CHAI changed (the transformer, block 0, its patched attention modules and the containers
        on the way) are new objects, with the stock processors and without CHAI's hooks. For pickling and
        deep-copying a pipeline while other threads keep using the installed one.
        """
        changed = {self.block: HOOK_BLOCK, self.transformer: HOOK_TRANSFORMER}
        wanted = set(changed) | set(self.originals)
        paths = [name.split(".") if name else [] for name, m in self.transformer.named_modules() if m in wanted]
        views: dict[int, torch.nn.Module] = {}

        def view_of(m: torch.nn.Module) -> torch.nn.Module:
            v = views.get(id(m))
            if v is None:
                v = object.__new__(type(m))
                v.__dict__.update(m.__dict__)
                v.__dict__["_modules"] = dict(m._modules)
                if m in self.originals:
                    v.__dict__["processor"] = self.originals[m]
                reg = m.__dict__.get("_diffusers_hook")
                if m in changed and reg is not None and set(reg.hooks) <= {changed[m]}:
                    v.__dict__.pop("_diffusers_hook")  # only CHAI's hook: the module's own forward
                    v.__dict__.pop("forward", None)
                views[id(m)] = v
            return v

        root = view_of(self.transformer)
        for path in paths:
            parent, mod = root, self.transformer
            for part in path:
                mod = mod._modules[part]
                child = view_of(mod)
                parent._modules[part] = child
                parent = child
        return root


_INSTALLED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # transformer -> Installation
_INSTALL_LOCK = threading.Lock()


def acquire(family: Family, transformer: torch.nn.Module, *, step_cached: bool = False) -> Installation:
    """The transformer's installation (created on first use), with one more user (``step_cached``: one whose
    calls may enable a diffusers step cache)."""
    with _INSTALL_LOCK:
        inst = _INSTALLED.get(transformer)
        if inst is None:
            inst = Installation(family, transformer)
            _INSTALLED[transformer] = inst
        inst.users += 1
        inst.step_cached_users += int(step_cached)
        return inst


def release(inst: Installation, *, step_cached: bool = False) -> None:
    """One user fewer; the last one restores the transformer exactly."""
    with _INSTALL_LOCK:
        inst.users -= 1
        inst.step_cached_users -= int(step_cached)
        if inst.users <= 0 and _INSTALLED.get(inst.transformer) is inst:
            del _INSTALLED[inst.transformer]
            inst.uninstall()


def installation_of(transformer: torch.nn.Module) -> Installation | None:
    return _INSTALLED.get(transformer)


# --------------------------------------------------------------------------------------------- math
def text_probs_columns(
    q: torch.Tensor, k: torch.Tensor, cols: list[int], *, scale: float, chunk: int = 2048
) -> torch.Tensor:
    """Head-averaged softmax(q k^T * scale) restricted to key columns ``cols``: q (N, H, D), k (L, H, D) -> (N, K).

    The softmax runs over every key; only the requested columns are kept, in float32, ``chunk`` queries at a
    time so the (N, L) score matrix never materialises for long videos.
    """
    N, H, _ = q.shape
    idx = torch.as_tensor(cols, dtype=torch.long, device=q.device)
    out = torch.zeros(N, len(cols), dtype=torch.float32, device=q.device)
    kf = k.to(torch.float32)
    for h in range(H):
        kh = kf[:, h]  # (L, D)
        for s in range(0, N, chunk):
            logits = (q[s : s + chunk, h].to(torch.float32) @ kh.T) * scale
            out[s : s + chunk] += logits.softmax(dim=-1).index_select(1, idx)
    return out / H


def run_cache_attention(rt: Runtime, q, k, v, kc, vc, mask, cond_rows: tuple[int, int] | None, scale=None):
    """``chai_kernels.cache_attention`` on (B, N, H, D); rows outside the conditional branch skip the cache when
    ``uncond_uses_cache`` is False."""
    cfg = rt.config
    grad = torch.is_grad_enabled() and q.requires_grad
    op = cache_attention_reference if grad else chai_kernels.cache_attention
    kw: dict[str, Any] = {"mode": cfg.mode, "cache_bias": float(cfg.cache_bias), "scale": scale}
    if not grad:
        kw["backend"] = cfg.backend
    B = q.shape[0]
    if cfg.uncond_uses_cache or cond_rows == (0, B):
        return op(q, k, v, kc, vc, mask, **kw)
    plain = {k_: w for k_, w in kw.items() if k_ in ("scale", "backend")}
    if cond_rows is None:
        return op(q, k, v, **plain)
    a, b = cond_rows
    parts = []
    Bc = kc.shape[0]
    for lo, hi, use in ((0, a, False), (a, b, True), (b, B, False)):
        if hi <= lo:
            continue
        if use:
            # Cache rows are aligned with query rows modulo Bc; re-base them to this slice.
            sel = [(r % Bc) for r in range(lo, hi)]
            parts.append(op(q[lo:hi], k[lo:hi], v[lo:hi], kc[sel], vc[sel], None if mask is None else mask[sel], **kw))
        else:
            parts.append(op(q[lo:hi], k[lo:hi], v[lo:hi], **plain))
    return torch.cat(parts, dim=0)


def rows_for_cache(temb: torch.Tensor, n: int, per_row: int = 1) -> tuple[torch.Tensor, list[int] | None]:
    """Modulation rows for the cached tokens: (temb[:per_row] and None) when every CFG row shares the time
    embedding (then cache row r serves query rows r mod n*per_row), else (temb, cache-row -> latent-row list)."""
    B = temb.shape[0]
    if B == per_row or torch.equal(temb, temb[:per_row].repeat(B // per_row, *([1] * (temb.ndim - 1)))):
        return temb[:per_row], None
    return temb, [(r // per_row) % n for r in range(B)]


# --------------------------------------------------------------------------------------------- families
def _bind(names: tuple[str, ...], args: tuple, kwargs: dict) -> dict:
    """{parameter name: value} of a forward call from its positional and keyword arguments."""
    out = dict(zip(names, args))
    out.update(kwargs)
    return out


class Family:
    """One supported pipeline design. Subclasses fill in the model-specific parts."""

    name = ""
    pipeline_class = ""
    processor_classes: tuple[str, ...] = ()
    max_sequence_length_default = 512
    # diffusers step-cache configs this pipeline can run (None: whichever the transformer's enable_cache accepts).
    step_caches: tuple[str, ...] | None = None
    step_caches_why = ""

    # -- structure --
    def block0(self, transformer):
        raise NotImplementedError

    def cond_half(self, n: int) -> tuple[int, int]:
        """Rows of the conditional branch in a batched-CFG call (negative prompts first in all three)."""
        return (n, 2 * n)

    def unsupported(self, pipe) -> list[str]:
        """Reasons this pipeline instance cannot run CHAI (empty: supported)."""
        return []

    def head_dim(self, transformer) -> int:
        """Head dim of block 0's video self-attention (where Cache Attention runs)."""
        return int(transformer.config.attention_head_dim)

    # -- call arguments --
    def latent_shape(self, pipe, args: dict) -> tuple[int, int, int, int]:
        """(C, T, H, W) of the call's latent as the pipeline derives it from sizes and frame counts."""
        raise NotImplementedError

    def given_latent_shape(self, latents: torch.Tensor) -> tuple[int, ...]:
        """(C, T, H, W) of a user's ``latents=`` (the pipelines use them as given, whatever height and width say)."""
        return tuple(int(s) for s in latents.shape[1:])

    def videos_per_prompt(self, args: dict) -> int:
        """Videos the pipeline really makes per prompt for this call."""
        return int(args.get("num_videos_per_prompt") or 1)

    def max_text_tokens(self, pipe, args: dict) -> int:
        return int(args.get("max_sequence_length") or self.max_sequence_length_default)

    def clean_prompt(self, pipe, prompt: str, args: dict) -> str:
        return prompt

    # -- transformer inputs --
    _forward_params: tuple[str, ...] = ()  # the transformer's forward parameters, in order
    _block_params: tuple[str, ...] = ()  # block 0's forward parameters, in order
    _block_temb = "temb"  # block 0's time-embedding parameter
    _block_rotary: str | None = None  # block 0's rotary-table parameter (None: the block takes none)

    def bind_transformer(self, module, args, kwargs) -> dict:
        return _bind(self._forward_params, args, kwargs)

    def latent_bcthw(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def grid(self, transformer, shape) -> tuple[int, int]:
        raise NotImplementedError

    def block_inputs(self, block, args, kwargs):
        """(time embedding, rotary table or None) of a block-0 call."""
        d = _bind(self._block_params, args, kwargs)
        return d.get(self._block_temb), None if self._block_rotary is None else d.get(self._block_rotary)

    # -- cached keys / values --
    def cached_kv(self, call: CallState, attn, z: torch.Tensor, fwd: ForwardInfo):
        raise NotImplementedError

    def make_processors(self, block) -> dict:
        """{attention module: new processor} for block 0."""
        raise NotImplementedError


class _Delegating:
    """Base of our processors: unknown attributes resolve on the processor we replaced. They hold nothing else:
    what to do comes from the calling thread's :data:`CURRENT_CALL`."""

    def __init__(self, original: Any) -> None:
        self.original = original

    def __getattr__(self, name: str):
        if name == "original":
            raise AttributeError(name)
        return getattr(self.original, name)

    def hit_active(self) -> tuple[CallState, ForwardInfo] | None:
        call = CURRENT_CALL.get()
        if call is None or call.mode != "hit" or call.fwd is None or call.fwd.step not in call.cached:
            return None
        return call, call.fwd

    def capture_active(self) -> tuple[CallState, ForwardInfo] | None:
        call = CURRENT_CALL.get()
        if (
            call is None
            or call.mode != "miss"
            or call.fwd is None
            or call.fwd.cond is None
            or call.fwd.step not in call.capture_steps
            or call.fwd.step in call.text_scores
            or not call.token_idx
        ):
            return None
        return call, call.fwd

    @staticmethod
    def cache_kv(call: CallState, attn) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(K_c, V_c, mask) for the current step, computed once per step and time embedding."""
        fwd = call.fwd
        memo = call.kv_memo.get(fwd.step)
        if memo is not None and torch.equal(memo[0], fwd.temb):
            return memo[1]
        device = next(attn.parameters()).device
        t0 = time.perf_counter()
        res = call.rt.family.cached_kv(call, attn, call.cached[fwd.step], fwd)
        call.rt.sync(device)
        call.t_cache_kv += time.perf_counter() - t0
        call.kv_memo[fwd.step] = (fwd.temb, res)
        return res

    def record_scores(self, call: CallState, fwd: ForwardInfo, probs_fn) -> None:
        """probs_fn(row_in_batch, cols) -> (T'*S, K) probabilities; stores (rows, T', S, K) per step."""
        t0 = time.perf_counter()
        T, S = fwd.grid
        per_row = []
        width = max((len(v) for v in call.token_idx.values()), default=0)
        for j, r in enumerate(call.capture_rows):
            cols = call.token_idx.get(j, [])
            out = torch.zeros(T * S, width, dtype=torch.float32)
            if cols:
                out[:, : len(cols)] = probs_fn(fwd.cond[0] + r, cols).cpu()
            per_row.append(out.reshape(T, S, width))
        call.text_scores[fwd.step] = torch.stack(per_row)
        call.t_capture += time.perf_counter() - t0


def _norm_qk(attn, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """q, k through the module's norm_q / norm_k where it has them (diffusers leaves them None without qk norm)."""
    return (q if attn.norm_q is None else attn.norm_q(q)), (k if attn.norm_k is None else attn.norm_k(k))


def _flat_masks(call: CallState, rows_map: list[int] | None, per_frame_rows: bool) -> torch.Tensor | None:
    """Token masks for the cache rows: (n, T'*S) or, for per-frame rows (Latte), (n*T', S)."""
    if call.masks is None:
        return None
    m = call.masks  # (n, T', S)
    m = m.reshape(m.shape[0] * m.shape[1], m.shape[2]) if per_frame_rows else m.reshape(m.shape[0], -1)
    if rows_map is not None:
        m = m[rows_map]
    return m


# ----------------------------------------------------------------------------------------------- Wan
def _wan_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Wan's rotary embedding on (B, N, H, D) with interleaved pairs (the math of diffusers' Wan processor)."""
    x1, x2 = x.unflatten(-1, (-1, 2)).unbind(-1)
    c, s = cos[..., 0::2], sin[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = x1 * c - x2 * s
    out[..., 1::2] = x1 * s + x2 * c
    return out.type_as(x)


def _wan_qkv(attn, x: torch.Tensor, enc: torch.Tensor | None = None):
    if enc is None:
        if getattr(attn, "fused_projections", False):
            return attn.to_qkv(x).chunk(3, dim=-1)
        return attn.to_q(x), attn.to_k(x), attn.to_v(x)
    if getattr(attn, "fused_projections", False):
        k, v = attn.to_kv(enc).chunk(2, dim=-1)
        return attn.to_q(x), k, v
    return attn.to_q(x), attn.to_k(enc), attn.to_v(enc)


class WanSelfProcessor(_Delegating):
    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        active = self.hit_active()
        if active is None or attention_mask is not None:
            return self.original(attn, hidden_states, encoder_hidden_states, attention_mask, rotary_emb)
        call, fwd = active
        kc, vc, mask = self.cache_kv(call, attn)
        t0 = time.perf_counter()
        q, k, v = _wan_qkv(attn, hidden_states)
        q, k = attn.norm_q(q), attn.norm_k(k)
        q, k, v = (t.unflatten(2, (attn.heads, -1)) for t in (q, k, v))
        if rotary_emb is not None:
            q, k = _wan_rope(q, *rotary_emb), _wan_rope(k, *rotary_emb)
        out = run_cache_attention(call.rt, q, k, v.contiguous(), kc, vc, mask, fwd.cond)
        out = out.flatten(2, 3).type_as(q)
        out = attn.to_out[1](attn.to_out[0](out))
        call.cache_calls += 1
        call.t_cache_attn += time.perf_counter() - t0
        return out


class WanTextProcessor(_Delegating):
    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        active = self.capture_active()
        if active is not None and encoder_hidden_states is not None:
            call, fwd = active
            enc = encoder_hidden_states
            if attn.add_k_proj is not None:  # image-to-video: the text is the last 512 tokens
                enc = enc[:, enc.shape[1] - 512 :]
            q, k, _ = _wan_qkv(attn, hidden_states, enc)
            q = attn.norm_q(q).unflatten(2, (attn.heads, -1))
            k = attn.norm_k(k).unflatten(2, (attn.heads, -1))
            scale = q.shape[-1] ** -0.5
            self.record_scores(call, fwd, lambda r, cols: text_probs_columns(q[r], k[r], cols, scale=scale))
        return self.original(attn, hidden_states, encoder_hidden_states, attention_mask, rotary_emb)


class WanFamily(Family):
    name = "wan"
    pipeline_class = "WanPipeline"
    processor_classes = ("WanAttnProcessor",)
    max_sequence_length_default = 512
    _forward_params = ("hidden_states", "timestep", "encoder_hidden_states")
    _block_params = ("hidden_states", "encoder_hidden_states", "temb", "rotary_emb")
    _block_rotary = "rotary_emb"

    def unsupported(self, pipe):
        if getattr(pipe.config, "expand_timesteps", False):
            return ["expand_timesteps=True (Wan 2.2 TI2V: per-token time embeddings)"]
        return []

    def block0(self, transformer):
        return transformer.blocks[0]

    def latent_shape(self, pipe, args):
        vt, vs = int(pipe.vae_scale_factor_temporal), int(pipe.vae_scale_factor_spatial)
        f = int(args.get("num_frames") or 81)
        if f % vt != 1:  # the pipeline rounds the same way (with a warning)
            f = f // vt * vt + 1
        f = max(f, 1)
        p = pipe.transformer.config.patch_size
        h, w = int(args.get("height") or 480), int(args.get("width") or 832)
        h, w = h // (vs * p[1]) * (vs * p[1]), w // (vs * p[2]) * (vs * p[2])
        c = int(pipe.transformer.config.in_channels)
        return c, (f - 1) // vt + 1, h // vs, w // vs

    def clean_prompt(self, pipe, prompt, args):
        from diffusers.pipelines.wan.pipeline_wan import prompt_clean

        return prompt_clean(prompt)

    def grid(self, transformer, shape):
        p = transformer.config.patch_size
        _, t, h, w = shape
        return t // p[0], (h // p[1]) * (w // p[2])

    def cached_kv(self, call, attn, z, fwd):
        tr = call.rt.pipe.transformer
        block = self.block0(tr)
        n = z.shape[0]
        temb, rows = rows_for_cache(fwd.temb, n)
        if temb.ndim != 3:
            raise NotImplementedError("per-token time embeddings (Wan 2.2 TI2V) are not supported by Cache Attention")
        w = tr.patch_embedding.weight
        zz = z if rows is None else z[rows]
        h = tr.patch_embedding(zz.to(w.device, w.dtype)).flatten(2).transpose(1, 2).contiguous()  # (Bc, N, C)
        shift, scale = (block.scale_shift_table + temb.float()).chunk(6, dim=1)[:2]
        a = (block.norm1(h.float()) * (1 + scale) + shift).type_as(h)
        _, k, v = _wan_qkv(attn, a)
        k = attn.norm_k(k).unflatten(2, (attn.heads, -1))
        v = v.unflatten(2, (attn.heads, -1))
        if fwd.rotary is not None:
            k = _wan_rope(k, *fwd.rotary)
        mask = _flat_masks(call, rows, per_frame_rows=False)
        return k.contiguous(), v.contiguous(), None if mask is None else mask.to(k.device)

    def make_processors(self, block):
        return {
            block.attn1: WanSelfProcessor(block.attn1.processor),
            block.attn2: WanTextProcessor(block.attn2.processor),
        }


# ------------------------------------------------------------------------------------------ CogVideoX
def _cog_rope(x_bnhd: torch.Tensor, freqs) -> torch.Tensor:
    from diffusers.models.embeddings import apply_rotary_emb

    return apply_rotary_emb(x_bnhd.transpose(1, 2), freqs).transpose(1, 2)


class CogVideoXJointProcessor(_Delegating):
    """Joint text + video attention: Cache Attention at hit steps, text-column scores at capture steps."""

    def __call__(self, attn, hidden_states, encoder_hidden_states, attention_mask=None, image_rotary_emb=None):
        hit = self.hit_active()
        cap = self.capture_active()
        if (hit is None and cap is None) or attention_mask is not None:
            return self.original(attn, hidden_states, encoder_hidden_states, attention_mask, image_rotary_emb)
        L = encoder_hidden_states.size(1)
        x = torch.cat([encoder_hidden_states, hidden_states], dim=1)
        B, N, _ = x.shape
        q, k, v = (proj(x).view(B, N, attn.heads, -1) for proj in (attn.to_q, attn.to_k, attn.to_v))
        q, k = _norm_qk(attn, q, k)
        if image_rotary_emb is not None:
            q = torch.cat([q[:, :L], _cog_rope(q[:, L:], image_rotary_emb)], dim=1)
            if not attn.is_cross_attention:
                k = torch.cat([k[:, :L], _cog_rope(k[:, L:], image_rotary_emb)], dim=1)
        if cap is not None:
            call, fwd = cap
            scale = q.shape[-1] ** -0.5
            self.record_scores(call, fwd, lambda r, cols: text_probs_columns(q[r, L:], k[r], cols, scale=scale))
            if hit is None:
                return self.original(attn, hidden_states, encoder_hidden_states, attention_mask, image_rotary_emb)
        call, fwd = hit
        kc, vc, mask = self.cache_kv(call, attn)
        t0 = time.perf_counter()
        out = run_cache_attention(call.rt, q.contiguous(), k.contiguous(), v, kc, vc, mask, fwd.cond)
        out = out.reshape(B, N, -1)
        out = attn.to_out[1](attn.to_out[0](out))
        call.cache_calls += 1
        call.t_cache_attn += time.perf_counter() - t0
        enc_out, out = out.split([L, N - L], dim=1)
        return out, enc_out


class CogVideoXFamily(Family):
    name = "cogvideox"
    pipeline_class = "CogVideoXPipeline"
    processor_classes = ("CogVideoXAttnProcessor2_0",)
    max_sequence_length_default = 226
    _forward_params = ("hidden_states", "encoder_hidden_states", "timestep")
    _block_params = ("hidden_states", "encoder_hidden_states", "temb", "image_rotary_emb")
    _block_rotary = "image_rotary_emb"

    def block0(self, transformer):
        return transformer.transformer_blocks[0]

    def latent_shape(self, pipe, args):
        cfg = pipe.transformer.config
        vt, vs = int(pipe.vae_scale_factor_temporal), int(pipe.vae_scale_factor_spatial)
        h = int(args.get("height") or cfg.sample_height * vs)
        w = int(args.get("width") or cfg.sample_width * vs)
        f = int(args.get("num_frames") or cfg.sample_frames)
        t = (f - 1) // vt + 1
        pt = cfg.patch_size_t
        if pt is not None and t % pt != 0:  # the pipeline pads the latent frames to a multiple of patch_size_t
            t += pt - t % pt
        return int(cfg.in_channels), t, h // vs, w // vs

    def latent_bcthw(self, x):
        return x.permute(0, 2, 1, 3, 4)  # the transformer takes (B, F, C, H, W)

    def given_latent_shape(self, latents):
        _, f, c, h, w = (int(s) for s in latents.shape)  # CogVideoX latents are (B, F, C, H, W)
        return c, f, h, w

    def videos_per_prompt(self, args):
        return 1  # CogVideoXPipeline.__call__ sets num_videos_per_prompt = 1 whatever the argument says

    def grid(self, transformer, shape):
        cfg = transformer.config
        _, t, h, w = shape
        pt = cfg.patch_size_t or 1
        return t // pt, (h // cfg.patch_size) * (w // cfg.patch_size)

    def cached_kv(self, call, attn, z, fwd):
        tr = call.rt.pipe.transformer
        block = self.block0(tr)
        n = z.shape[0]
        temb, rows = rows_for_cache(fwd.temb, n)
        zz = z if rows is None else z[rows]
        Bc = zz.shape[0]
        text = fwd.text[:1].expand(Bc, -1, -1)
        L = text.shape[1]
        w = tr.patch_embed.proj.weight
        # The transformer's own input path: patch + text projection (+ positional table), then block 0's
        # modulation for the current timestep. The video half does not depend on the text values.
        emb = tr.embedding_dropout(tr.patch_embed(text, zz.permute(0, 2, 1, 3, 4).to(w.device, w.dtype)))
        h, enc = emb[:, L:], emb[:, :L]
        tb = temb.expand(Bc, -1) if temb.shape[0] == 1 else temb
        a, _, _, _ = block.norm1(h, enc, tb)
        k = attn.to_k(a).view(Bc, a.shape[1], attn.heads, -1)
        v = attn.to_v(a).view(Bc, a.shape[1], attn.heads, -1)
        if attn.norm_k is not None:
            k = attn.norm_k(k)
        if fwd.rotary is not None and not attn.is_cross_attention:
            k = _cog_rope(k, fwd.rotary)
        mask = _flat_masks(call, rows, per_frame_rows=False)
        return k.contiguous(), v.contiguous(), None if mask is None else mask.to(k.device)

    def make_processors(self, block):
        return {block.attn1: CogVideoXJointProcessor(block.attn1.processor)}


# ---------------------------------------------------------------------------------------------- Latte
def _latte_heads(attn, x: torch.Tensor) -> torch.Tensor:
    B, N, C = x.shape
    return x.view(B, N, attn.heads, C // attn.heads)


class LatteSelfProcessor(_Delegating):
    """Spatial self-attention of the first spatial block: rows b*T' + t attend to frame t of the cached clip."""

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *a, **kw):
        active = self.hit_active()
        if active is None or attention_mask is not None or encoder_hidden_states is not None or hidden_states.ndim != 3:
            return self.original(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *a, **kw)
        call, fwd = active
        kc, vc, mask = self.cache_kv(call, attn)
        t0 = time.perf_counter()
        residual = hidden_states
        q = _latte_heads(attn, attn.to_q(hidden_states))
        k = _latte_heads(attn, attn.to_k(hidden_states))
        v = _latte_heads(attn, attn.to_v(hidden_states))
        q, k = _norm_qk(attn, q, k)
        T = fwd.grid[0]
        cond = None if fwd.cond is None else (fwd.cond[0] * T, fwd.cond[1] * T)
        out = run_cache_attention(call.rt, q, k, v, kc, vc, mask, cond, scale=float(attn.scale))
        out = out.flatten(2, 3).to(q.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        if attn.residual_connection:
            out = out + residual
        out = out / attn.rescale_output_factor
        call.cache_calls += 1
        call.t_cache_attn += time.perf_counter() - t0
        return out


class LatteTextProcessor(_Delegating):
    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *a, **kw):
        active = self.capture_active()
        if active is not None and encoder_hidden_states is not None and attention_mask is None:
            call, fwd = active
            T = fwd.grid[0]
            q = _latte_heads(attn, attn.to_q(hidden_states))
            k = _latte_heads(attn, attn.to_k(encoder_hidden_states))
            q, k = _norm_qk(attn, q, k)
            scale = float(attn.scale)

            def probs(r, cols):  # rows r*T' .. r*T'+T'-1 are the frames of batch row r
                return torch.cat(
                    [text_probs_columns(q[r * T + t], k[r * T + t], cols, scale=scale) for t in range(T)], dim=0
                )

            self.record_scores(call, fwd, probs)
        return self.original(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *a, **kw)


class LatteFamily(Family):
    name = "latte"
    pipeline_class = "LattePipeline"
    processor_classes = ("AttnProcessor2_0", "AttnProcessor")
    step_caches = ("PyramidAttentionBroadcastConfig",)
    step_caches_why = (
        "LattePipeline names no denoiser call (no cache_context), which the stateful caches (FirstBlockCache, "
        "MagCache, FasterCache, SeaCache, TaylorSeer, TextKVCache) need, and its spatial and temporal blocks sit "
        "in two lists that FirstBlockCache would chain as one"
    )
    max_sequence_length_default = 120  # LattePipeline.encode_prompt always tokenizes to 120 tokens (no argument)
    _forward_params = ("hidden_states", "timestep", "encoder_hidden_states")
    _block_params = (
        "hidden_states", "attention_mask", "encoder_hidden_states", "encoder_attention_mask", "timestep",
    )  # fmt: skip
    _block_temb = "timestep"

    def block0(self, transformer):
        return transformer.transformer_blocks[0]

    def latent_shape(self, pipe, args):
        cfg = pipe.transformer.config
        vs = int(pipe.vae_scale_factor)
        h = int(args.get("height") or cfg.sample_size * vs)
        w = int(args.get("width") or cfg.sample_size * vs)
        return int(cfg.in_channels), int(args.get("video_length") or 16), h // vs, w // vs

    def videos_per_prompt(self, args):
        return int(args.get("num_images_per_prompt") or 1)  # Latte names it "images"

    def clean_prompt(self, pipe, prompt, args):
        return pipe._text_preprocessing(prompt, clean_caption=bool(args.get("clean_caption", False)))[0]

    def grid(self, transformer, shape):
        p = transformer.config.patch_size
        _, t, h, w = shape
        return t, (h // p) * (w // p)

    def cached_kv(self, call, attn, z, fwd):
        tr = call.rt.pipe.transformer
        block = self.block0(tr)
        n, C, T, H, W = z.shape
        temb, rows = rows_for_cache(fwd.temb, n, per_row=T)  # block rows are (b, t) pairs
        w = tr.pos_embed.proj.weight
        frames = z.permute(0, 2, 1, 3, 4).reshape(n * T, C, H, W).to(w.device, w.dtype)
        tok = tr.pos_embed(frames)  # (n*T, S, C): patch embedding + the 2-D position table
        if rows is not None:
            tok = tok[[(r % (n * T)) for r in range(temb.shape[0])]]
        Bc = tok.shape[0]
        tb = temb.expand(Bc // temb.shape[0], -1, -1).reshape(Bc, -1) if temb.shape[0] != Bc else temb
        shift, scale = (block.scale_shift_table[None] + tb.reshape(Bc, 6, -1)).chunk(6, dim=1)[:2]
        a = block.norm1(tok) * (1 + scale) + shift
        k = _latte_heads(attn, attn.to_k(a))
        v = _latte_heads(attn, attn.to_v(a))
        if attn.norm_k is not None:
            k = attn.norm_k(k)
        mask = _flat_masks(call, None, per_frame_rows=True)
        if mask is not None and rows is not None:
            mask = mask[[(r % (n * T)) for r in range(Bc)]]
        return k.contiguous(), v.contiguous(), None if mask is None else mask.to(k.device)

    def make_processors(self, block):
        return {
            block.attn1: LatteSelfProcessor(block.attn1.processor),
            block.attn2: LatteTextProcessor(block.attn2.processor),
        }


FAMILIES: dict[str, Family] = {f.pipeline_class: f for f in (WanFamily(), CogVideoXFamily(), LatteFamily())}


__all__ = [
    "CURRENT_CALL",
    "FAMILIES",
    "HOOK_BLOCK",
    "HOOK_TRANSFORMER",
    "BlockHook",
    "CallState",
    "Family",
    "Installation",
    "Runtime",
    "TransformerHook",
    "acquire",
    "install_hook",
    "installation_of",
    "release",
    "remove_hook",
    "text_probs_columns",
]
