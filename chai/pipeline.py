"""CHAIPipeline: one call per prompt, full schedule on a cache miss, short schedule with Cache Attention on a hit.

Request flow (``generate``)::

    prompt --text encoder--> y (1, 1, L, C), mask (1, L)
           --cache.lookup(prompt, shape)--> Lookup (.match: Match | None)
    miss:  30-step rectified flow (stock model); capture z at the 30-step iterations nearest to hit
           steps 2, 3, 4 and block 0's cross-attention there; insert the three latents with one token
           mask per prompt entity.
    hit:   dequantize the entry's three latents; 8-step rectified flow with Cache Attention in
           spatial_blocks[0] at steps 2, 3, 4 fed with them, under the matched entity's token mask.

Schedule binding. Entries are stored and looked up under ``model=`` :meth:`CHAIPipeline.schedule_id`: the
sampler class, the hit step count, the cache steps and the hit schedule's timesteps at those steps (they
depend on resolution and frame count through OpenSora's timestep transform). A pipeline whose hit schedule
differs (another ``hit_steps``, ``cache_steps``, sampler or transform) never uses them: the cached latents
are only valid at the noise levels they were captured for.

Entity token masks (the "selective" part). For entity e with caption tokens I_e (from the text encoder's
``token_spans``), the score of latent token s in frame t is the block-0 cross-attention probability mass
that s puts on I_e (conditional CFG half, heads averaged), averaged over the capture steps. Rule
``"mean"`` (default) keeps, per frame, the tokens whose score is at least that frame's mean score;
rule ``"top"`` keeps the ``mask_top_fraction`` highest-scoring tokens of each frame. The arg-max token
of each frame is always kept. When the encoder cannot say which caption tokens are e's
(``token_spans`` returns None), the mask selects every token.

Timings (seconds, ``GenerationResult.timings``): ``lookup`` (entity extraction, embedding, index search),
``cache_load`` (dequantize the hit's latents onto the device), ``denoise`` (the sampler loop, patch
overhead included), ``capture`` (collect the captured latents and build the entity masks), ``insert``
(``cache.insert``), ``decode`` (optional VAE) and ``total`` (the whole ``generate`` call, text encoding
included), all wall clock; ``cpu_total`` is the process CPU time of the call (all threads), which is far
less sensitive than wall clock to other processes competing for the same cores.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from chai.text_encoder import TextEncoder, check_encoder_matches_model

__all__ = [
    "RESOLUTIONS",
    "CHAIPipeline",
    "GenerationResult",
    "PipelineConfig",
    "entity_token_mask",
    "image_size",
    "latent_shape",
]

# OpenSora 1.2 "9:16" image sizes (height, width) in pixels.
RESOLUTIONS: dict[str, tuple[int, int]] = {
    "144p": (144, 256),
    "240p": (240, 426),
    "360p": (360, 640),
    "480p": (480, 854),
    "720p": (720, 1280),
}


def image_size(resolution: str) -> tuple[int, int]:
    """Pixel (height, width) for ``"240p"``-style names (OpenSora's 9:16 sizes) or ``"HxW"`` (e.g. ``"64x96"``)."""
    key = str(resolution).strip().lower()
    if key in RESOLUTIONS:
        return RESOLUTIONS[key]
    m = re.fullmatch(r"(\d+)\s*x\s*(\d+)", key)
    if m:
        h, w = int(m.group(1)), int(m.group(2))
        if h >= 8 and w >= 8:
            return h, w
    raise ValueError(
        f"resolution={resolution!r} is not known. HINT: use one of {', '.join(RESOLUTIONS)} or HEIGHTxWIDTH in "
        "pixels (multiples of 8, e.g. 64x96)."
    )


def latent_shape(num_frames: int, height: int, width: int, *, in_channels: int = 4) -> tuple[int, int, int, int]:
    """The OpenSora 1.2 VAE latent (C, T, H, W) of a clip: 8x spatial; 17-frame chunks -> 5 latent frames.

    ``T = (F // 17) * 5 + ceil((F % 17) / 4)`` (51 -> 15, 68 -> 20, 1 -> 1), ``H = height // 8``,
    ``W = width // 8`` (240x426 -> 30x53).
    """
    for name, v in (("num_frames", num_frames), ("height", height), ("width", width)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}. HINT: e.g. num_frames=68, height=240.")
    if height < 8 or width < 8:
        raise ValueError(f"height and width must be >= 8 pixels, got {height}x{width}. HINT: the VAE downsamples 8x.")
    t = (num_frames // 17) * 5 + math.ceil((num_frames % 17) / 4)
    return in_channels, t, height // 8, width // 8


@dataclass
class PipelineConfig:
    """Knobs of :class:`CHAIPipeline` (defaults: the CHAI paper's schedule).

    full_steps / hit_steps: sampler steps on a miss (30) and on a hit (8).
    cache_steps: 1-based hit-schedule steps with Cache Attention (2, 3, 4); one cached latent each.
    mode: "joint" (current + masked cached keys) or "replace" (cached keys only); cache_bias: logit
    bias added to cached keys. blocks: spatial blocks patched (0,). uncond_uses_cache: the CFG
    unconditional half also attends to the cache.
    cfg_scale, fps, use_timestep_transform: sampler settings (OpenSora 1.2: 7.0, 24, True).
    insert_hits: also insert hit generations (captured at the hit steps). Default False (paper).
    use_token_masks: derive per-entity masks on a miss and apply the matched one on a hit.
    mask_rule: "mean" or "top" (see the module docstring); mask_top_fraction for "top".
    miss_cache: threshold of the first-block residual cache within a run (``chai.MissCacheConfig``), or None
    (off, the default). miss_cache_on_hits: also use it on hits (default: misses only). miss_cache_probe: what
    always runs and is compared, "pair" or "block" (``MissCacheConfig.probe``).
    """

    full_steps: int = 30
    hit_steps: int = 8
    cache_steps: tuple[int, ...] = (2, 3, 4)
    mode: str = "joint"
    cache_bias: float = 0.0
    cfg_scale: float = 7.0
    insert_hits: bool = False
    fps: int = 24
    blocks: tuple[int, ...] = (0,)
    uncond_uses_cache: bool = True
    use_timestep_transform: bool = True
    use_token_masks: bool = True
    mask_rule: str = "mean"
    mask_top_fraction: float = 0.25
    miss_cache: float | None = None
    miss_cache_on_hits: bool = False
    miss_cache_probe: str = "block"

    def __post_init__(self) -> None:
        for name in ("full_steps", "hit_steps", "fps"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"PipelineConfig.{name} must be a positive int, got {v!r}. HINT: e.g. {name}=8.")
        self.cache_steps = tuple(int(s) for s in self.cache_steps)
        self.blocks = tuple(int(b) for b in self.blocks)
        if not self.cache_steps or any(s < 1 or s > self.hit_steps for s in self.cache_steps):
            raise ValueError(
                f"PipelineConfig.cache_steps={self.cache_steps} must be non-empty 1-based steps within hit_steps="
                f"{self.hit_steps}. HINT: the paper uses cache_steps=(2, 3, 4) with hit_steps=8."
            )
        if len(set(self.cache_steps)) != len(self.cache_steps):
            raise ValueError(f"PipelineConfig.cache_steps={self.cache_steps} has duplicates. HINT: e.g. (2, 3, 4).")
        if self.hit_steps > self.full_steps:
            raise ValueError(
                f"PipelineConfig.hit_steps={self.hit_steps} exceeds full_steps={self.full_steps}. "
                "HINT: a hit must be cheaper than a miss (e.g. 8 and 30)."
            )
        if self.mode not in ("joint", "replace"):
            raise ValueError(f"PipelineConfig.mode={self.mode!r}. HINT: use 'joint' or 'replace'.")
        if self.mask_rule not in ("mean", "top"):
            raise ValueError(f"PipelineConfig.mask_rule={self.mask_rule!r}. HINT: use 'mean' or 'top'.")
        if not (0.0 < float(self.mask_top_fraction) <= 1.0):
            raise ValueError(
                f"PipelineConfig.mask_top_fraction={self.mask_top_fraction!r} must be in (0, 1]. HINT: e.g. 0.25."
            )
        if not isinstance(self.cfg_scale, (int, float)) or not math.isfinite(self.cfg_scale):
            raise ValueError(f"PipelineConfig.cfg_scale={self.cfg_scale!r} must be a finite number. HINT: 7.0.")
        if self.miss_cache_config() is None:  # validates the threshold, on_hits and the probe
            from chai.config import MissCacheConfig

            MissCacheConfig(0.0, probe=self.miss_cache_probe)  # a bad probe is an error even while it is off

    def miss_cache_config(self) -> Any:
        """The ``chai.MissCacheConfig`` these settings ask for (None when ``miss_cache`` is off)."""
        from chai.config import MissCacheConfig

        if self.miss_cache is None:
            return None
        return MissCacheConfig(self.miss_cache, on_hits=self.miss_cache_on_hits, probe=self.miss_cache_probe)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view (for reports)."""
        d = asdict(self)
        d["cache_steps"] = list(self.cache_steps)
        d["blocks"] = list(self.blocks)
        return d


@dataclass
class GenerationResult:
    """What one :meth:`CHAIPipeline.generate` call produced.

    latents: final latent (1, C, T, H, W) float32 (the sampler's output, before any VAE).
    video: the VAE's decode of ``latents`` when the pipeline has a VAE, else None.
    hit: whether the request was served from the cache (short schedule); steps: sampler steps run.
    entry_id / prompt_entity / cached_entity / score: the matched entry (hit) else None.
    inserted_entry: the id of the entry this request inserted (miss, or hit with insert_hits), else None.
    lookup_reason: why the lookup missed (the cache's ``Lookup.reason``: "no_entities", "no_match",
        "store_unavailable", "damaged"; "shape_mismatch": the match's latents do not fit this request), "" for a
        hit, None when nothing was looked up.
    entities: the prompt's entities as the cache's extractor saw them (when the cache exposes it).
    capture_steps: full-schedule steps whose latents were captured (miss), else ().
    entity_masks: the (T, S) bool masks inserted per entity (miss), else {}.
    timings: seconds; keys lookup, cache_load, denoise, capture, insert, decode, total (wall clock) and
        cpu_total (process CPU time of the call).
    block_evals / blocks_skipped: transformer blocks run / skipped by the first-block residual cache over
        the sampler loop (spatial and temporal blocks counted apart; one CFG model call counts once).
    """

    prompt: str
    latents: torch.Tensor
    hit: bool
    steps: int
    seed: int
    timings: dict[str, float]
    entry_id: Any = None
    prompt_entity: str | None = None
    cached_entity: str | None = None
    score: float | None = None
    inserted_entry: Any = None
    lookup_reason: str | None = None
    entities: list[str] = field(default_factory=list)
    capture_steps: tuple[int, ...] = ()
    entity_masks: dict[str, torch.Tensor] = field(default_factory=dict)
    video: torch.Tensor | None = None
    block_evals: int = 0
    blocks_skipped: int = 0

    def to_record(self, index: int | None = None) -> dict[str, Any]:
        """JSON-ready summary (no tensors) in the ``chai.run/1`` request schema."""
        rec = {
            "index": index,
            "prompt": self.prompt,
            "hit": bool(self.hit),
            "steps": int(self.steps),
            "seed": int(self.seed),
            "entry_id": _jsonable_id(self.entry_id),
            "prompt_entity": self.prompt_entity,
            "cached_entity": self.cached_entity,
            "score": None if self.score is None else float(self.score),
            "inserted_entry": _jsonable_id(self.inserted_entry),
            "lookup_reason": self.lookup_reason,
            "entities": list(self.entities),
            "capture_steps": list(self.capture_steps),
            "mask_fraction": {e: float(m.float().mean()) for e, m in self.entity_masks.items()},
            "block_evals": int(self.block_evals),
            "blocks_skipped": int(self.blocks_skipped),
            "timings": {k: float(v) for k, v in self.timings.items()},
        }
        return rec


def _jsonable_id(v: Any) -> Any:
    if v is None or isinstance(v, (int, str)):
        return v
    if hasattr(v, "item"):
        return v.item()
    return str(v)


def entity_token_mask(
    cross_attn: Sequence[torch.Tensor],
    token_idx: Sequence[int] | None,
    *,
    rule: str = "mean",
    top_fraction: float = 0.25,
    shape: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Per-frame latent-token mask of one entity from block-0 cross-attention.

    Args:
        cross_attn: one (T, S, L) probability tensor per capture step (cond half, heads averaged).
        token_idx: the entity's caption-token indices into L; None (or none inside L) -> every token selected.
        rule: "mean" keeps tokens scoring >= their frame's mean; "top" keeps the ``top_fraction``
            best tokens of each frame (at least one).
        shape: (T, S) of the result when ``cross_attn`` is empty (then everything is selected).

    Returns:
        (T, S) bool on CPU; every frame keeps at least its arg-max token.
    """
    if not cross_attn or token_idx is None or len(token_idx) == 0:
        if shape is None:
            if not cross_attn:
                raise ValueError("entity_token_mask: no cross-attention and no shape. HINT: pass shape=(T, S).")
            shape = tuple(cross_attn[0].shape[:2])
        return torch.ones(shape, dtype=torch.bool)
    idx = torch.as_tensor(list(token_idx), dtype=torch.long)
    if int(idx.min()) < 0:
        raise ValueError(
            f"entity_token_mask: negative token indices {idx.tolist()}. HINT: token_spans must index the caption."
        )
    # The captured maps cover the valid caption tokens only (L = the prompt's token count); indices past
    # it are padding and carry no attention.
    idx = idx[idx < cross_attn[0].shape[-1]]
    if idx.numel() == 0:
        return torch.ones(tuple(cross_attn[0].shape[:2]), dtype=torch.bool)
    score = torch.stack([a.detach().float().cpu()[..., idx].sum(-1) for a in cross_attn]).mean(0)  # (T, S)
    if rule == "mean":
        mask = score >= score.mean(dim=1, keepdim=True)
    elif rule == "top":
        k = max(1, int(math.ceil(top_fraction * score.shape[1])))
        thr = score.topk(k, dim=1).values[:, -1:]
        mask = score >= thr
    else:
        raise ValueError(f"entity_token_mask: rule={rule!r}. HINT: use 'mean' or 'top'.")
    mask[torch.arange(score.shape[0]), score.argmax(dim=1)] = True
    return mask


class CHAIPipeline:
    """Text-to-video latents with CHAI's cross-request latent cache.

    Args:
        model: an STDiT3-shaped model (``chai.models.STDiT3`` or OpenSora 1.2's own), already on its
            device and dtype; it is patched in place (``close()`` reverts it).
        text_encoder: a :class:`chai.text_encoder.TextEncoder` whose ``hidden_size`` equals
            ``model.config.caption_channels``.
        cache: a ``chai.cache.LatentCache`` or None (then every request is a miss and nothing is stored).
        sampler: a ``chai.sampling.RFlowSampler`` (default: built from ``config``).
        config: :class:`PipelineConfig`.
        vae: optional decoder with ``decode(latents)``; without one ``video`` is None.
        device: where sampling runs (default: the model's parameters' device).

    Use as a context manager or call ``close()`` to unpatch the model.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        text_encoder: TextEncoder,
        cache: Any = None,
        *,
        sampler: Any = None,
        config: PipelineConfig | None = None,
        vae: Any = None,
        device: str | torch.device | None = None,
    ):
        self.config = config if config is not None else PipelineConfig()
        if not isinstance(self.config, PipelineConfig):
            raise TypeError(
                f"config must be a chai.PipelineConfig, got {type(self.config).__name__}. HINT: chai.PipelineConfig()."
            )
        for name in ("encode", "token_spans"):
            if not callable(getattr(text_encoder, name, None)):
                raise TypeError(
                    f"text_encoder {type(text_encoder).__name__} has no {name}(). HINT: implement the "
                    "chai.text_encoder.TextEncoder protocol (encode, token_spans, hidden_size, model_max_length)."
                )
        check_encoder_matches_model(text_encoder, model)
        self.model = model
        self.text_encoder = text_encoder
        self.cache = cache
        self.vae = vae
        if device is None:
            try:
                device = next(model.parameters()).device
            except (StopIteration, AttributeError):
                device = "cpu"
        self.device = torch.device(device)
        if sampler is None:
            from chai.sampling import RFlowSampler

            sampler = RFlowSampler(
                num_sampling_steps=self.config.full_steps,
                cfg_scale=self.config.cfg_scale,
                use_timestep_transform=self.config.use_timestep_transform,
            )
        self.sampler = sampler
        import chai
        from chai.config import CacheAttentionConfig

        self._patch_config = CacheAttentionConfig(
            blocks=self.config.blocks,
            steps=self.config.cache_steps,
            mode=self.config.mode,
            cache_bias=self.config.cache_bias,
            uncond_uses_cache=self.config.uncond_uses_cache,
        )
        miss_cache = self.config.miss_cache_config()
        self.handle = chai.patch_opensora(model, config=self._patch_config, miss_cache=miss_cache)
        self._closed = False
        self._step_callback: Callable[[int, int], None] | None = None
        # Import the kernel entry points now, so their one-time import cost (Triton, op registration) lands
        # in set-up and not in the first hit's timings.
        import chai_kernels.ops.cache_attention
        import chai_kernels.ops.latent_quant  # noqa: F401

    # ---------------------------------------------------------------------------------- lifecycle
    def close(self) -> None:
        """Unpatch the model (idempotent). The cache stays open: it belongs to the caller."""
        if not self._closed:
            self._closed = True
            self.handle.remove()

    def __enter__(self) -> CHAIPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"CHAIPipeline(model={type(self.model).__name__}, encoder={self.text_encoder!r}, "
            f"cache={'None' if self.cache is None else type(self.cache).__name__}, device={self.device})"
        )

    # ---------------------------------------------------------------------------------- helpers
    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _latent_shape(self, num_frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        if self.vae is not None and hasattr(self.vae, "get_latent_size"):
            t, h, w = self.vae.get_latent_size([num_frames, height, width])
            c = int(getattr(self.vae, "out_channels", getattr(self.model.config, "in_channels", 4)))
            return c, int(t), int(h), int(w)
        cfg = getattr(self.model, "config", None)
        return latent_shape(num_frames, height, width, in_channels=int(getattr(cfg, "in_channels", 4)))

    def _capture_steps(self, num_frames: int, height: int, width: int) -> tuple[int, ...]:
        from chai.sampling import RFlowSampler, capture_steps_for

        steps = capture_steps_for(
            self.config.full_steps,
            self.config.hit_steps,
            self.config.cache_steps,
            height=height,
            width=width,
            num_frames=num_frames,
            sampler=self.sampler if isinstance(self.sampler, RFlowSampler) else None,
        )
        return tuple(int(s) for s in steps)

    def schedule_id(self, num_frames: int, height: int, width: int) -> str:
        """The cache identity (``model=``) of this pipeline's entries for a request: what makes an entry reusable.

        ``"<sampler class>/hit<steps>@<cache steps>/t=<hit timesteps at the cache steps>"``, e.g.
        ``RFlowSampler/hit8@2,3,4/t=951.34,893.38,823.16`` (240p, 68 frames); a sampler without ``timesteps()``
        gives no ``t=`` part.
        """
        cfg = self.config
        ident = f"{type(self.sampler).__name__}/hit{cfg.hit_steps}@{','.join(str(s) for s in cfg.cache_steps)}"
        timesteps = getattr(self.sampler, "timesteps", None)
        if callable(timesteps):
            ts = timesteps(cfg.hit_steps, height=height, width=width, num_frames=num_frames)
            ident += "/t=" + ",".join(f"{float(ts[s - 1]):.2f}" for s in cfg.cache_steps)
        return ident

    def _sample(self, z: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, steps: int, sess: Any, **kw):
        on_step = self._step_callback

        def callback(step: int, t: torch.Tensor, zt: torch.Tensor) -> None:
            sess.on_step(step, t, zt)
            if on_step is not None:
                on_step(step, steps)

        return self.sampler.sample(
            self.model, z, y, mask=mask, fps=self.config.fps, num_steps=steps, callback=callback, progress=False, **kw
        )

    def _entity_masks(
        self, prompt: str, entities: Sequence[str], cross_attn: Mapping[int, torch.Tensor], tshape: tuple[int, int]
    ) -> dict[str, torch.Tensor]:
        maps = [cross_attn[s][0] for s in sorted(cross_attn)] if cross_attn else []
        out = {}
        for ent in entities:
            idx = self.text_encoder.token_spans(prompt, ent) if self.config.use_token_masks else None
            out[ent] = entity_token_mask(
                maps, idx, rule=self.config.mask_rule, top_fraction=self.config.mask_top_fraction, shape=tshape
            )
        return out

    def _token_grid(self, shape: tuple[int, int, int, int]) -> tuple[int, int]:
        """(T, S) of the model's token grid for a latent (C, T, H, W) (patch (1, 2, 2) with padding)."""
        patch = getattr(getattr(self.model, "config", None), "patch_size", (1, 2, 2))
        pt, ph, pw = (int(p) for p in patch)
        _, t, h, w = shape
        return -(-t // pt), (-(-h // ph)) * (-(-w // pw))

    @torch.no_grad()
    def warm_up(self, *, num_frames: int, height: int, width: int) -> float:
        """Pay the first-request costs once, outside any request's timings; returns the seconds it took.

        Loads what loads lazily (the text encoder's weights, the cache's entity extractor and embedder), and
        runs one denoising step and the VAE decode at the request's clip size (allocator, kernel selection).
        Nothing is looked up or inserted (the cache's statistics are untouched) and no noise seed is used.
        """
        t0 = time.perf_counter()
        text = "a warm-up clip"
        y, ymask = self.text_encoder.encode([text])
        if self.cache is not None and hasattr(self.cache, "entities"):
            self.cache.entities(text)  # the entity extractor (spaCy) loads on first use
            embedder = getattr(self.cache, "embedder", None)
            if embedder is not None:
                embedder.embed([text])  # so does the embedder (MiniLM)
        shape = self._latent_shape(num_frames, height, width)
        z = torch.zeros((1, *shape), dtype=torch.float32, device=self.device)
        skw = {"height": height, "width": width, "num_frames": num_frames}
        self._step_callback = None
        with self.handle.session(
            cached_latents=None, token_mask=None, capture_steps=(), capture_cross_attn=False, miss_cache=False
        ) as s:
            z = self._sample(z, y.to(self.device), ymask.to(self.device), 1, s, **skw)
        if self.vae is not None:
            self.vae.decode(z)
        self._sync()
        return time.perf_counter() - t0

    # ---------------------------------------------------------------------------------- main entry
    @torch.no_grad()
    def generate(
        self,
        prompt: str,
        *,
        seed: int = 0,
        num_frames: int = 68,
        height: int = 240,
        width: int = 426,
        use_cache: bool = True,
        on_step: Callable[[int, int], None] | None = None,
        miss_cache: bool | None = None,
        num_steps: int | None = None,
    ) -> GenerationResult:
        """Generate the latent of one clip for ``prompt`` (see the module docstring for the flow).

        ``seed`` fixes the initial noise (drawn on CPU, so CPU and CUDA runs start from the same z).
        ``use_cache=False`` runs the full schedule without lookup or insert (the all-miss baseline).
        ``on_step(step, total)`` is called before each sampler step (progress bars).
        ``miss_cache``: None follows ``config.miss_cache`` (misses, and hits with ``miss_cache_on_hits``);
        False runs this request without the first-block residual cache (with ``use_cache=False``: the plain
        all-miss baseline); True needs ``config.miss_cache``.
        ``num_steps``: sampler steps of an uncached run instead of ``config.full_steps``, e.g.
        ``num_steps=config.hit_steps`` for the plain short-schedule twin of a hit (same noise, no Cache
        Attention). Only for runs that neither look up nor insert (``use_cache=False`` or no cache): a stored
        entry must come from the full schedule its capture steps were chosen on.
        """
        if self._closed:
            raise RuntimeError("CHAIPipeline is closed (the model was unpatched). HINT: build a new pipeline.")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f"prompt must be a non-empty string, got {prompt!r}. HINT: describe the clip to generate.")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}. HINT: seed=0.")
        cfg = self.config
        if miss_cache and cfg.miss_cache is None:
            raise ValueError("miss_cache=True but PipelineConfig.miss_cache is None. HINT: set a threshold there.")
        if num_steps is not None:
            if not isinstance(num_steps, int) or isinstance(num_steps, bool) or num_steps < 1:
                raise ValueError(
                    f"num_steps must be a positive int, got {num_steps!r}. HINT: e.g. "
                    f"num_steps={cfg.hit_steps} (the hit schedule's length) with use_cache=False."
                )
            if self.cache is not None and use_cache:
                raise ValueError(
                    f"num_steps={num_steps} with use_cache=True: a miss would insert latents captured on a "
                    f"{num_steps}-step schedule instead of the {cfg.full_steps}-step one entries are built from. "
                    "HINT: pass use_cache=False for an uncached run of another length."
                )
        full_steps = cfg.full_steps if num_steps is None else num_steps
        self._step_callback = on_step
        shape = self._latent_shape(num_frames, height, width)
        timings = dict.fromkeys(("lookup", "cache_load", "denoise", "capture", "insert", "decode"), 0.0)
        t_start = time.perf_counter()
        cpu_start = time.process_time()

        y, ymask = self.text_encoder.encode([prompt])
        y = y.to(self.device)
        ymask = ymask.to(self.device)
        gen = torch.Generator().manual_seed(seed)
        z = torch.randn((1, *shape), generator=gen, dtype=torch.float32).to(self.device)
        skw = {"height": height, "width": width, "num_frames": num_frames}

        match = looked = None
        schedule = None
        if self.cache is not None and use_cache:
            t0 = time.perf_counter()
            schedule = self.schedule_id(num_frames, height, width)
            # keys and vectors are reused by the insert
            looked = self.cache.lookup(prompt, shape=(1, *shape), model=schedule)
            match = looked.match
            timings["lookup"] = time.perf_counter() - t0
            if match is not None and any(tuple(q.shape) != (1, *shape) for q in match.latents):
                match = None  # shape mismatch counts as a miss (frame-aligned attention needs equal shapes)
            if match is not None and len(match.latents) != len(cfg.cache_steps):
                match = None

        result = GenerationResult(prompt=prompt, latents=z, hit=match is not None, steps=0, seed=seed, timings=timings)
        if looked is not None:
            result.lookup_reason = "" if match is not None else (looked.reason or "shape_mismatch")
        tshape = self._token_grid(shape)
        want_insert = self.cache is not None and use_cache and (match is None or cfg.insert_hits)

        if match is not None:
            from chai_kernels import dequantize_latent

            t0 = time.perf_counter()
            cached = {}
            for step, q in zip(cfg.cache_steps, match.latents):
                # Move the compact quantized form (int8 + scales), then dequantize on the device (Triton
                # kernel on CUDA, torch on CPU).
                q = q.to(self.device, non_blocking=True) if q.device != self.device else q
                cached[step] = dequantize_latent(q, dtype=torch.float32)
            token_mask = match.token_mask if cfg.use_token_masks else None
            if token_mask is not None:
                token_mask = token_mask.to(self.device, torch.bool)
            self._sync()
            timings["cache_load"] = time.perf_counter() - t0
            capture = cfg.cache_steps if want_insert else ()
            t0 = time.perf_counter()
            with self.handle.session(
                cached_latents=cached,
                token_mask=token_mask,
                capture_steps=capture,
                capture_cross_attn=bool(capture),
                miss_cache=miss_cache,
            ) as sess:
                z = self._sample(z, y, ymask, cfg.hit_steps, sess, **skw)
            self._sync()
            timings["denoise"] = time.perf_counter() - t0
            result.steps = cfg.hit_steps
            result.entry_id = match.entry_id
            result.prompt_entity = match.prompt_entity
            result.cached_entity = match.cached_entity
            result.score = float(match.score)
            steps_captured = tuple(capture)
        else:
            steps_captured = self._capture_steps(num_frames, height, width) if want_insert else ()
            t0 = time.perf_counter()
            with self.handle.session(
                cached_latents=None,
                token_mask=None,
                capture_steps=steps_captured,
                capture_cross_attn=bool(steps_captured),
                miss_cache=miss_cache,
            ) as sess:
                z = self._sample(z, y, ymask, full_steps, sess, **skw)
            self._sync()
            timings["denoise"] = time.perf_counter() - t0
            result.steps = full_steps
        result.block_evals, result.blocks_skipped = sess.block_evals, sess.blocks_skipped

        if want_insert:
            t0 = time.perf_counter()
            captured = [sess.captured[s].detach().float().cpu() for s in steps_captured]
            entities = list(looked.keys)
            cross = dict(getattr(sess, "cross_attn", {}) or {})
            masks = self._entity_masks(prompt, entities, cross, tshape) if entities else {}
            timings["capture"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            result.inserted_entry = self.cache.insert(
                prompt, captured, entity_masks=masks or None, model=schedule, lookup=looked
            )
            timings["insert"] = time.perf_counter() - t0
            result.entities = list(entities or [])
            result.entity_masks = masks
            result.capture_steps = steps_captured

        result.latents = z
        if self.vae is not None:
            t0 = time.perf_counter()
            result.video = self.vae.decode(z)
            self._sync()
            timings["decode"] = time.perf_counter() - t0
        timings["total"] = time.perf_counter() - t_start
        timings["cpu_total"] = time.process_time() - cpu_start
        return result
