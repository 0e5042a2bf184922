"""Per-model, per-generation runtime state of the Cache Attention patch.

OpenSora's ``Attention.forward(x)`` sees only ``x``: it cannot know the sampler step, the timestep, the
frame count T, the tokens per frame S or the CFG layout. The patch publishes them here:

- ``PatchContext`` (one per patched model instance) holds the config, the active ``GenerationSession``
  and, during a model forward, a ``ForwardState`` set by the model-forward wrapper; block-forward
  wrappers add the block's ``t_mlp`` so the patched attention can modulate cached tokens with the
  current timestep's shift/scale.
- ``GenerationSession`` is what a caller opens around one sampling run: the cached latents per step,
  the per-frame token mask, the steps to capture, and the captured results.

Shape legend: B model batch (2x prompts under CFG), C latent channels, T/H/W latent frames/rows/
columns, S patch tokens per frame, L text tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from chai.runtime.first_block import FirstBlockCache

if TYPE_CHECKING:  # pragma: no cover
    from chai.config import CacheAttentionConfig, MissCacheConfig

__all__ = ["ForwardState", "GenerationSession", "PatchContext"]


@dataclass
class ForwardState:
    """What the model-forward wrapper publishes for one model call."""

    step: int | None
    latent_shape: tuple[int, ...]  # (C, T, H, W) of the model input
    grid: tuple[int, int, int]  # patch grid (T', H', W')
    T: int
    S: int
    batch: int  # model batch (rows of x)
    n_cond: int  # leading rows that are the conditional CFG half (== batch without CFG)
    timestep: torch.Tensor | None
    x_mask: torch.Tensor | None
    height: Any
    width: Any
    block_t: dict[int, torch.Tensor] = field(default_factory=dict)  # spatial block index -> its t_mlp (B, 6C)
    cache_tokens: torch.Tensor | None = None  # embedded cached latent (T, S, C), memoised per call
    # first-block residual cache (MissCacheConfig), per call: the probe's input, output and residual
    block0_in: torch.Tensor | None = None
    block0_out: torch.Tensor | None = None
    block0_residual: torch.Tensor | None = None
    skip_rest: bool = False  # this call reuses the cached residual of the blocks after the probe
    blocks_skipped: int = 0  # blocks (spatial and temporal counted apart) this call did not run


class GenerationSession:
    """One generation's Cache Attention inputs and capture outputs; use as a context manager.

    Create it with ``handle.session(...)``. Pass ``sess.on_step`` as the sampler callback
    (``RFlowSampler.sample(..., callback=sess.on_step)``). If ``on_step`` is never called (e.g. with
    OpenSora's own sampler), every model call advances the step by one, starting at 1, and the
    conditional half is the first half of the batch when ``cfg`` is True.

    Attributes:
        captured: {step: (B, C, T, H, W) float32 clone of the conditional latent entering the model}.
        cross_attn: {step: (B, T, S, L) float32 block-0 cross-attention probabilities of the
            conditional half, averaged over heads; L = max valid text tokens (shorter rows zero-padded)}.
        step: the current 1-based step (0 before the first).
        block_evals / blocks_skipped: transformer blocks run / not run (a spatial and a temporal block count
            as two; one model call over both CFG halves counts once).
        first_block: the run's ``FirstBlockCache`` when step-level caching is on for this session, else None.
    """

    def __init__(
        self,
        context: PatchContext,
        *,
        cached_latents: Mapping[int, torch.Tensor] | None = None,
        token_mask: torch.Tensor | None = None,
        capture_steps: Sequence[int] = (),
        capture_cross_attn: bool = False,
        cfg: bool = True,
        miss_cache: bool | None = None,
    ) -> None:
        self._context = context
        config = context.config
        self.cached_latents: dict[int, torch.Tensor] | None = None
        if cached_latents is not None:
            if not isinstance(cached_latents, Mapping):
                raise TypeError(
                    f"cached_latents must be a dict {{step: latent}}, got {type(cached_latents).__name__}."
                    " HINT: e.g. {2: z2, 3: z3, 4: z4}."
                )
            keys = set(cached_latents)
            if keys != set(config.steps):
                raise ValueError(
                    f"cached_latents has steps {sorted(keys)} but the patch config uses steps {list(config.steps)}."
                    " HINT: pass one cached latent per configured step, or patch with CacheAttentionConfig(steps=...)."
                )
            self.cached_latents = {}
            for k, z in cached_latents.items():
                if not isinstance(z, torch.Tensor) or not z.is_floating_point():
                    raise TypeError(
                        f"cached_latents[{k}] must be a float tensor, got {type(z).__name__}"
                        f"{' ' + str(z.dtype) if isinstance(z, torch.Tensor) else ''}. HINT: dequantize it first."
                    )
                if z.ndim == 5 and z.shape[0] == 1:
                    z = z[0]
                if z.ndim != 4:
                    raise ValueError(
                        f"cached_latents[{k}] must be (C, T, H, W) or (1, C, T, H, W), got {tuple(z.shape)}."
                        " HINT: one cached clip serves every batch row."
                    )
                self.cached_latents[int(k)] = z
        if token_mask is not None:
            if not isinstance(token_mask, torch.Tensor) or token_mask.dtype != torch.bool or token_mask.ndim != 2:
                desc = (
                    f"{tuple(token_mask.shape)} {token_mask.dtype}"
                    if isinstance(token_mask, torch.Tensor)
                    else type(token_mask).__name__
                )
                raise TypeError(
                    f"token_mask must be a bool tensor (T, S), got {desc}."
                    " HINT: True marks cached tokens that may be attended; S = patch tokens per frame."
                )
            if token_mask is not None and cached_latents is None:
                raise ValueError("token_mask was given without cached_latents. HINT: pass both, or neither.")
        self.token_mask = token_mask
        steps = tuple(int(s) for s in capture_steps)
        if any(s < 1 for s in steps):
            raise ValueError(f"capture_steps must be 1-based, got {steps}. HINT: e.g. (5, 8, 12).")
        self.capture_steps = frozenset(steps)
        self.capture_cross_attn = bool(capture_cross_attn)
        self.cfg = bool(cfg)
        self.step = 0
        self.n_cond: int | None = None
        self._explicit = False
        self.captured: dict[int, torch.Tensor] = {}
        self.cross_attn: dict[int, torch.Tensor] = {}
        self.cache_calls = 0  # number of patched-attention calls that used the cache
        self.mask_preparations = 0  # keep-masks prepared (once per cache-row count and device)
        self._prepared: dict[tuple[int, str], Any] = {}
        self.block_evals = 0
        self.blocks_skipped = 0
        self.first_block = self._first_block(context.miss_cache, miss_cache)

    def _first_block(self, config: MissCacheConfig | None, wanted: bool | None) -> FirstBlockCache | None:
        """None -> on when the patch has a miss cache and this run is a miss (or ``on_hits``); True/False force it."""
        if wanted is None:
            on = config is not None and (self.cached_latents is None or config.on_hits)
        elif wanted and config is None:
            raise ValueError(
                "miss_cache=True but the patch has no MissCacheConfig."
                " HINT: patch with chai.patch_opensora(model, config, miss_cache=chai.MissCacheConfig(0.1))."
            )
        else:
            on = bool(wanted)
        return FirstBlockCache(config.threshold) if on else None

    # -- sampler hook ------------------------------------------------------------------------------
    def on_step(self, step: int, t: torch.Tensor | None = None, z: torch.Tensor | None = None) -> None:
        """Sampler callback: ``step`` (1-based) is about to run on latent ``z`` (B, C, T, H, W)."""
        self._explicit = True
        self.step = int(step)
        if z is not None:
            self.n_cond = int(z.shape[0])

    # -- queried by the wrappers -------------------------------------------------------------------
    def begin_forward(self, batch: int) -> tuple[int, int]:
        """Called by the model-forward wrapper: returns (step, n_cond) for this model call."""
        if not self._explicit:
            self.step += 1
            n_cond = batch // 2 if (self.cfg and batch % 2 == 0) else batch
        else:
            n = self.n_cond or batch
            n_cond = n if batch == 2 * n or batch == n else batch
        return self.step, n_cond

    def cache_active(self, step: int | None) -> bool:
        return self.cached_latents is not None and step is not None and step in self.cached_latents

    def capture_active(self, step: int | None) -> bool:
        return step is not None and step in self.capture_steps

    def prepared_mask(self, rows: int, T: int, S: int, device: torch.device):
        """The hit's keep-mask for ``rows`` cache rows (a multiple of T: R copies of the (T, S) token mask) as a
        ``chai_kernels.PreparedCache`` without K/V, built once per (rows, device) for the whole session: the
        mask and its key-block lists are fixed for a hit, only the cached K/V change with the step."""
        from chai_kernels import prepare_cache

        key = (int(rows), str(device))
        prepared = self._prepared.get(key)
        if prepared is None:
            mask = self.token_mask
            if mask is None:
                prepared = prepare_cache(None, None, shape=(rows, S), device=device)
            else:
                mask = mask.to(device)
                if rows != T:
                    mask = mask.repeat(rows // T, 1)
                prepared = prepare_cache(None, None, mask.contiguous())
            self._prepared[key] = prepared
            self.mask_preparations += 1
        return prepared

    # -- context manager ---------------------------------------------------------------------------
    def __enter__(self) -> GenerationSession:
        self._context.open_session(self)
        return self

    def __exit__(self, *exc) -> None:
        self._context.close_session(self)

    def __repr__(self) -> str:
        cached = sorted(self.cached_latents) if self.cached_latents else []
        return (
            f"GenerationSession(step={self.step}, cached_steps={cached}, capture_steps={sorted(self.capture_steps)}, "
            f"captured={sorted(self.captured)}, cross_attn={sorted(self.cross_attn)})"
        )


class PatchContext:
    """Per-model-instance state shared by the wrappers of one patch."""

    def __init__(self, config: CacheAttentionConfig, miss_cache: MissCacheConfig | None = None) -> None:
        self.config = config
        self.miss_cache = miss_cache
        self.session: GenerationSession | None = None
        self.state: ForwardState | None = None

    def open_session(self, session: GenerationSession) -> None:
        if self.session is not None:
            raise RuntimeError(
                "a Cache Attention session is already active on this model."
                " HINT: finish the running generation (exit its `with handle.session(...)`) first."
            )
        self.session = session

    def close_session(self, session: GenerationSession) -> None:
        if self.session is session:
            self.session = None
        self.state = None
