"""Train the ``"synthetic"`` STDiT3 on :mod:`research.eval.synthetic` clips with rectified flow.

What is trained, exactly as OpenSora 1.2 trains STDiT3 (clean-room):

- data: clip ``i`` of the seeded stream ``research.eval.synthetic.generate(num_clips, data_seed, frames=8, size=32)``,
  mapped to [-1, 1] and encoded by the fixed :class:`chai.synthetic.SpaceToDepthAutoencoder`
  (factor 2: 12 x 16 x 16 per frame); captions through the pipeline's text encoder (MiniLM token features, 384-d,
  ``model_max_length`` tokens), computed once per distinct caption and cached;
- rectified flow: ``t ~ logit-normal`` (``sigmoid(N(0, 1))``, OpenSora's default) or uniform on (0, 1),
  ``x_t = (1 - t) x0 + t * noise``, model input timestep ``1000 t``; the model predicts the velocity
  ``v = x0 - noise``, the sign :class:`chai.sampling.RFlowSampler` integrates (``z <- z + v dt`` with t
  going down); loss = MSE(v_pred, v);
- classifier-free guidance dropout: the model's own caption dropout in train mode (probability
  ``class_dropout_prob`` = 0.1 replaces the caption by ``y_embedder.y_embedding``, the null caption the
  sampler uses for the unconditional half);
- AdamW, linear warm-up, constant learning rate, then a linear decay to 0 over the last ``cooldown``
  steps; gradient clipping; an EMA of the weights (exported);
- every step is a pure function of ``(seed, step)`` (batch indices, noise, t and caption dropout are drawn
  from generators seeded by them), so a resumed run continues exactly where the checkpoint left off.

Outputs in ``out_dir``: ``checkpoint.pt`` (model, EMA, optimizer, step; rewritten atomically every
``ckpt_every`` steps, at the time limit and on SIGINT/SIGTERM), ``train_log.jsonl`` (one JSON object per
``log_every`` steps: step, loss, loss_avg, lr, t_mean, elapsed_s, samples_per_s), ``loss_curve.png``,
``captions.pt`` (the caption feature cache) and, after :func:`export_model`, the committed artefacts
(``stdit3_synthetic.safetensors``, ``config.json``, ``synthetic.json`` with the weights' sha256).

CLI: ``python -m research.eval train --out runs/synthetic [--export DIR]``: the defaults are stage 1 of the shipped
weights' recipe (4500 steps from scratch, about 61 minutes on two cores); ``research/reproduce_synthetic.sh`` runs
both stages (stage 2 warm-starts from stage 1 with ``--init-from``). ``--minutes`` caps the wall time and a rerun of
the same command resumes. ``--export`` writes where it is told, never into the package by default; a new
model for ``chai demo`` is shipped by copying the three model files into ``chai/data/synthetic/`` of a
source checkout (see ``research/README.md``).
Shape legend: B batch, C = 12 latent channels, T frames, h = w = 16 latent rows/columns, L caption tokens.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

# The shipped model's file names and its loader live with the runtime, in chai.synthetic.
from chai.synthetic import CONFIG_NAME, MANIFEST_NAME, MODEL_DIR, WEIGHTS_NAME, file_sha256, load_synthetic_model

__all__ = [
    "CONFIG_NAME",
    "MANIFEST_NAME",
    "MODEL_DIR",
    "WEIGHTS_NAME",
    "CaptionBank",
    "TrainConfig",
    "build_caption_bank",
    "export_model",
    "load_synthetic_model",
    "plot_loss_curve",
    "train",
]

MAX_WEIGHTS_BYTES = 20 * 1024 * 1024


@dataclass
class TrainConfig:
    """Every knob of a training run (saved in the checkpoint and in the exported ``config.json``).

    preset / model_overrides: the STDiT3 preset ("synthetic") and field overrides (e.g. ``{"depth": 2}``).
    steps: the step budget; ``max_minutes`` stops earlier (wall clock) with a checkpoint.
    cooldown: the last ``cooldown`` steps of ``steps`` decay the learning rate linearly to 0 (0: constant).
    p_two: probability of a two-object clip in the training data (the generator's default is 0.4).
    ae_factor: space-to-depth factor of the fixed autoencoder (2: 32 x 32 RGB -> 12 x 16 x 16 per frame).
    encoder: "minilm" (the pipeline's MiniLM text encoder) or "hash" (word-hash features, tests only).
    t_sampling: "logit-normal" or "uniform".
    precision: "fp32", or "bf16" (autocast of the model's forward and backward; weights, optimizer, EMA and the
        loss stay fp32): 1.7x faster steps on a CPU with AVX512-BF16, and the usual mixed precision on a GPU.
    init_from: warm-start from a run's ``checkpoint.pt`` (its EMA) or from exported ``.safetensors`` weights.
    placement: where objects start (``research.eval.synthetic.PLACEMENTS``): "random", or "centred" (the motion
        decides the start; one object per clip, so ``p_two`` must be 0).
    object_weight: loss weight of the latent pixels an object covers (the background's weight is 1); > 1 spends
        more of the loss on the object's shape, size and colour.
    t_shift: mean of the logit-normal draw, ``t = sigmoid(N(t_shift, 1))``; > 0 trains more on noisy t, where the
        caption must decide what is drawn (0: OpenSora's default).
    image_fraction: share of steps that train on still frames: ``batch_size * frames`` first frames, one frame
        each, instead of ``batch_size`` clips (the same token count, ``frames`` times more shapes per step).
    """

    preset: str = "synthetic"
    model_overrides: dict[str, Any] = field(default_factory=dict)
    steps: int = 4500
    batch_size: int = 16
    lr: float = 8e-4
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.99)
    warmup: int = 200
    cooldown: int = 1200
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    frames: int = 8
    size: int = 32
    num_clips: int = 20000
    p_two: float = 0.25
    data_seed: int = 0
    seed: int = 0
    t_sampling: str = "logit-normal"
    encoder: str = "minilm"
    fps: int = 24
    ae_factor: int = 2
    ckpt_every: int = 200
    log_every: int = 10
    max_minutes: float | None = None
    init_from: str | None = None
    precision: str = "fp32"
    placement: str = "random"
    object_weight: float = 1.0
    t_shift: float = 0.0
    image_fraction: float = 0.0

    def __post_init__(self) -> None:
        self.betas = tuple(float(b) for b in self.betas)
        for name in ("steps", "batch_size", "frames", "size", "num_clips", "ckpt_every", "log_every", "ae_factor"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive int, got {v!r}. HINT: e.g. {name}=8.")
        if self.t_sampling not in ("logit-normal", "uniform"):
            raise ValueError(f"TrainConfig.t_sampling={self.t_sampling!r}. HINT: 'logit-normal' or 'uniform'.")
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"TrainConfig.precision={self.precision!r}. HINT: 'fp32' or 'bf16' (autocast).")
        if self.encoder not in ("minilm", "hash"):
            raise ValueError(f"TrainConfig.encoder={self.encoder!r}. HINT: 'minilm' (default) or 'hash' (tests).")
        if not (0.0 <= self.ema_decay < 1.0):
            raise ValueError(f"TrainConfig.ema_decay={self.ema_decay!r} must be in [0, 1). HINT: 0.999 (the recipe).")
        if isinstance(self.cooldown, bool) or not isinstance(self.cooldown, int) or self.cooldown < 0:
            raise ValueError(
                f"TrainConfig.cooldown={self.cooldown!r} must be an int >= 0. HINT: 0 keeps the lr constant."
            )
        if not (0.0 <= self.p_two <= 1.0):
            raise ValueError(
                f"TrainConfig.p_two={self.p_two!r} must be in [0, 1]. HINT: 0.25 (the recipe; the generator defaults to 0.4)."
            )
        if not self.lr > 0:
            raise ValueError(f"TrainConfig.lr={self.lr!r} must be > 0. HINT: 8e-4 (the recipe).")
        from research.eval.synthetic import PLACEMENTS

        if self.placement not in PLACEMENTS:
            raise ValueError(f"TrainConfig.placement={self.placement!r}. HINT: one of {list(PLACEMENTS)}.")
        if self.placement == "centred" and self.p_two != 0.0:
            raise ValueError(
                f"TrainConfig.placement='centred' holds one object per clip, but p_two={self.p_two!r}. HINT: p_two=0."
            )
        if not (math.isfinite(self.object_weight) and self.object_weight > 0):
            raise ValueError(f"TrainConfig.object_weight={self.object_weight!r} must be > 0. HINT: 1 (unweighted).")
        if not math.isfinite(self.t_shift):
            raise ValueError(f"TrainConfig.t_shift={self.t_shift!r} must be finite. HINT: 0 (OpenSora's).")
        if not (0.0 <= self.image_fraction < 1.0):
            raise ValueError(f"TrainConfig.image_fraction={self.image_fraction!r} must be in [0, 1). HINT: 0.5.")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def model_config(self):
        from chai.models.stdit3 import STDiT3Config

        return STDiT3Config.preset(self.preset, **self.model_overrides)


# ----------------------------------------------------------------------------------------------------------------
# text features
# ----------------------------------------------------------------------------------------------------------------


def make_text_encoder(kind: str, model_config: Any):
    """The text encoder a run (and the benchmark) uses: MiniLM (384-d) or the word-hash encoder (tests)."""
    from chai.text_encoder import HashTextEncoder, MiniLMTextEncoder

    if kind == "minilm":
        return MiniLMTextEncoder(model_max_length=int(model_config.model_max_length))
    if kind == "hash":
        return HashTextEncoder(int(model_config.caption_channels), int(model_config.model_max_length))
    raise ValueError(f"encoder={kind!r}. HINT: 'minilm' or 'hash'.")


@dataclass
class CaptionBank:
    """Caption features, one row per distinct caption: ``y`` (U, L, Cy) float16, ``mask`` (U, L) int8."""

    captions: list[str]
    y: torch.Tensor
    mask: torch.Tensor

    def __post_init__(self) -> None:
        self.index = {c: i for i, c in enumerate(self.captions)}

    def lookup(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """-> ``y`` (B, 1, L, Cy) float32 and ``mask`` (B, L) int64 for captions already in the bank."""
        idx = torch.tensor([self.index[c] for c in captions], dtype=torch.long)
        return self.y[idx].float()[:, None], self.mask[idx].long()


def build_caption_bank(captions: list[str], encoder: Any, *, chunk: int = 64, progress: bool = True) -> CaptionBank:
    """Encode each distinct caption once (in ``chunk``-sized batches)."""
    uniq = sorted(set(captions))
    ys, ms = [], []
    it = range(0, len(uniq), chunk)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="captions", file=sys.stderr, unit="chunk")
    with torch.no_grad():
        for s in it:
            y, m = encoder.encode(uniq[s : s + chunk])
            ys.append(y[:, 0].to(torch.float16))
            ms.append(m.to(torch.int8))
    return CaptionBank(uniq, torch.cat(ys), torch.cat(ms))


def _caption_cache_key(cfg: TrainConfig, mcfg: Any) -> str:
    key = json.dumps(
        [
            cfg.encoder,
            cfg.num_clips,
            cfg.data_seed,
            cfg.frames,
            cfg.size,
            cfg.p_two,
            cfg.placement,
            mcfg.model_max_length,
            mcfg.caption_channels,
        ]
    )
    return hashlib.sha256(key.encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------------------------------------------


def _set_threads(threads: int | None) -> None:
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive int, got {threads!r}. HINT: 1 on a shared 2-core machine.")
        torch.set_num_threads(threads)


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _lr_at(cfg: TrainConfig, step: int) -> float:
    """Linear warm-up over ``warmup`` steps, constant, then linear decay to 0 over the last ``cooldown``."""
    lr = cfg.lr
    if cfg.warmup > 0 and step < cfg.warmup:
        lr = cfg.lr * (step + 1) / cfg.warmup
    left = cfg.steps - step
    if cfg.cooldown > 0 and left <= cfg.cooldown:
        lr = min(lr, cfg.lr * max(left, 0) / cfg.cooldown)
    return lr


def _batch(cfg: TrainConfig, step: int, specs: list, bank: CaptionBank, ae: Any, C: int):
    """Everything step ``step`` consumes, a pure function of (cfg.seed, step): ``x0`` (B, C, T, h, w), caption
    features, noise, t, the caption-dropout seed and the loss weight (B, 1, T, h, w) or None (unweighted).

    A still-frame step (drawn with probability ``image_fraction``) trains on the first frame of
    ``batch_size * frames`` clips (T = 1) instead of ``batch_size`` whole clips."""
    from research.eval import synthetic

    g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
    still = cfg.image_fraction > 0 and float(torch.rand((1,), generator=g)) < cfg.image_fraction
    n = cfg.batch_size * cfg.frames if still else cfg.batch_size
    idx = torch.randint(len(specs), (n,), generator=g).tolist()
    clips = [synthetic.render(specs[i], frames=cfg.frames, size=cfg.size) for i in idx]
    video = torch.from_numpy(synthetic.stack_videos(clips, layout="NCTHW", model_range=True))
    if still:
        video = video[:, :, :1].contiguous()
    x0 = ae.encode(video)
    weight = None
    if cfg.object_weight != 1.0:
        # an object's pixels, pooled to the latent grid: a latent pixel is the object's if any of its pixels is
        covered = torch.from_numpy(np.stack([c.masks.any(axis=0) for c in clips]))[:, None, : x0.shape[2]].float()
        covered = torch.nn.functional.max_pool3d(covered, (1, cfg.ae_factor, cfg.ae_factor))
        weight = 1.0 + (cfg.object_weight - 1.0) * covered
    y, mask = bank.lookup([c.caption for c in clips])
    noise = torch.randn(x0.shape, generator=g)
    if cfg.t_sampling == "logit-normal":
        t = torch.sigmoid(torch.randn((n,), generator=g) + cfg.t_shift)
    else:
        t = torch.rand((n,), generator=g)
    t = t.clamp(1e-4, 1.0 - 1e-4)
    drop_seed = int(torch.randint(2**31 - 1, (1,), generator=g))
    return x0, y, mask, noise, t, drop_seed, weight


def _warm_start(model: torch.nn.Module, path: str) -> dict[str, Any]:
    """Copy every tensor of ``path`` whose name and shape match; the rest keep their fresh init (e.g. the
    per-head q/k norms after a change of num_heads). ``path`` is a run's ``checkpoint.pt`` (its EMA, else its
    model) or exported ``.safetensors`` weights (their step is read from the ``config.json`` beside them).
    Returns what was copied."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"init_from={str(path)!r} is not a file. HINT: a run's checkpoint.pt or an exported .safetensors."
        )
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        src = load_file(str(p))
        cfg_path = p.with_name(CONFIG_NAME)
        src_cfg = json.loads(cfg_path.read_text()) if cfg_path.exists() else {}
        from_step, from_train = int(src_cfg.get("total_steps", 0)), src_cfg.get("train_config")
        from_warm = src_cfg.get("warm_start")
    else:
        ck = torch.load(p, weights_only=False, map_location="cpu")
        src = ck.get("ema", ck.get("model", ck))
        from_step, from_train = int(ck.get("step", 0)), ck.get("train_config")
        from_warm = ck.get("warm_start")
        # a checkpoint counts its own run's steps only; its source's steps come on top
        from_step += int((from_warm or {}).get("from_step", 0))
    own = model.state_dict()
    copied = [k for k, v in src.items() if k in own and tuple(own[k].shape) == tuple(v.shape)]
    model.load_state_dict({**own, **{k: src[k] for k in copied}})
    # The source's training config says which captions the warm-started model has also seen (held-out evaluation
    # prompts must avoid those too); the source's own warm-start record chains back to the first stage.
    return {
        "from": str(path),
        "from_step": from_step,
        "from_train_config": from_train,
        "from_warm_start": from_warm,
        "copied": len(copied),
        "skipped": sorted(set(own) - set(copied)),
    }


def rflow_loss(
    model: torch.nn.Module,
    x0,
    y,
    mask,
    noise,
    t,
    *,
    fps: int,
    height: int,
    width: int,
    precision: str = "fp32",
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Rectified-flow MSE: x_t = (1 - t) x0 + t noise, target v = x0 - noise (the sampler's sign).
    ``precision="bf16"`` autocasts the model; the loss is always reduced in fp32. ``weight`` (B, 1, T, h, w)
    weighs each latent pixel (the loss is then the weighted mean over pixels and channels)."""
    tt = t[:, None, None, None, None]
    x_t = (1.0 - tt) * x0 + tt * noise
    B = x0.shape[0]
    kw = {
        "fps": torch.full((B,), float(fps), device=x0.device),
        "height": torch.full((B,), float(height), device=x0.device),
        "width": torch.full((B,), float(width), device=x0.device),
    }
    with torch.autocast(x0.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        pred = model(x_t, t * 1000.0, y, mask=mask, **kw)[:, : x0.shape[1]]
    if weight is None:
        return torch.nn.functional.mse_loss(pred.float(), x0 - noise)
    sq = (pred.float() - (x0 - noise)) ** 2
    return (sq * weight).sum() / (weight.sum() * x0.shape[1])


def _read_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by a kill: skip it
                continue
    return out


def plot_loss_curve(log_path: str | Path, png_path: str | Path, *, title: str = "synthetic STDiT3") -> None:
    """Loss (per logged step) and its running average against the step, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _read_log(Path(log_path))
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    if rows:
        steps = [r["step"] for r in rows]
        ax.plot(steps, [r["loss"] for r in rows], lw=0.6, alpha=0.5, label="loss (logged step)")
        ax.plot(steps, [r["loss_avg"] for r in rows], lw=1.5, label="running mean")
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("rectified-flow MSE")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_path)
    plt.close(fig)


def train(
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = True,
    threads: int | None = 1,
    progress: bool = True,
    encoder: Any = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Run (or resume) a training run in ``out_dir``; returns a summary (step, final loss, wall time).

    ``device`` ("cpu", "cuda", "cuda:1"): where the model trains; batches are still drawn on the CPU (every
    random draw comes from CPU generators), so a step is the same function of ``(seed, step)`` anywhere.

    ``resume=True`` continues from ``out_dir/checkpoint.pt`` when it exists (the saved TrainConfig must
    equal ``cfg`` apart from ``steps``, ``max_minutes``, ``ckpt_every`` and ``log_every``).
    """
    from chai.models.stdit3 import STDiT3
    from chai.report import environment
    from chai.synthetic import SpaceToDepthAutoencoder
    from research.eval import synthetic

    _set_threads(threads)
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but torch sees no CUDA device. HINT: --device cpu.")
    out = Path(out_dir)
    mcfg = cfg.model_config()
    ae = SpaceToDepthAutoencoder(cfg.ae_factor)
    if ae.out_channels != mcfg.in_channels:
        raise ValueError(
            f"model in_channels {mcfg.in_channels} != autoencoder channels {ae.out_channels} (factor {cfg.ae_factor})."
            " HINT: in_channels = 3 * ae_factor**2 (12 for factor 2, 48 for factor 4)."
        )
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path, log_path = out / "checkpoint.pt", out / "train_log.jsonl"

    # -- data --
    t_start = time.perf_counter()
    rngs = (synthetic._clip_rng(cfg.data_seed, i) for i in range(cfg.num_clips))
    specs = [
        synthetic.sample_spec(r, p_two=cfg.p_two, frames=cfg.frames, size=cfg.size, placement=cfg.placement)
        for r in rngs
    ]
    cap_path = out / f"captions_{_caption_cache_key(cfg, mcfg)}.pt"
    if cap_path.exists():
        d = torch.load(cap_path, weights_only=True)
        bank = CaptionBank(list(d["captions"]), d["y"], d["mask"])
    else:
        enc = encoder if encoder is not None else make_text_encoder(cfg.encoder, mcfg)
        bank = build_caption_bank([s.caption for s in specs], enc, progress=progress)
        _atomic_save({"captions": bank.captions, "y": bank.y, "mask": bank.mask}, cap_path)

    # -- model, optimizer, EMA --
    torch.manual_seed(cfg.seed)
    model = STDiT3(mcfg)
    warm = None
    if cfg.init_from and not (resume and ckpt_path.exists()):
        warm = _warm_start(model, cfg.init_from)
    model.to(dev)
    ema = STDiT3(mcfg).to(dev)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    step, elapsed_before = 0, 0.0
    if resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=False, map_location=dev)
        saved = TrainConfig.from_dict(ck["train_config"])
        mutable = {"steps", "cooldown", "max_minutes", "ckpt_every", "log_every", "init_from"}
        diff = [k for k in cfg.to_dict() if k not in mutable and cfg.to_dict()[k] != saved.to_dict()[k]]
        if diff:
            raise ValueError(
                f"cannot resume {ckpt_path}: TrainConfig fields {diff} differ from the checkpoint's."
                " HINT: use the same settings, another --out directory, or --no-resume."
            )
        model.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["optimizer"])
        step, elapsed_before = int(ck["step"]), float(ck.get("elapsed_s", 0.0))
        warm = ck.get("warm_start")  # the run's warm start is part of its record (the export reads it)
        # drop log lines past the checkpoint (written after it, before a kill)
        rows = [r for r in _read_log(log_path) if r["step"] <= step]
        log_path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif log_path.exists():
        log_path.unlink()
    setup_s = time.perf_counter() - t_start

    def save() -> None:
        _atomic_save(
            {
                "model": model.state_dict(),
                "ema": ema.state_dict(),
                "optimizer": opt.state_dict(),
                "step": step,
                "elapsed_s": elapsed_before + (time.perf_counter() - t_loop),
                "train_config": cfg.to_dict(),
                "model_config": mcfg.to_dict(),
                "autoencoder": ae.to_dict(),
                "warm_start": warm,
            },
            ckpt_path,
        )

    stop = {"flag": False}

    def _on_signal(signum, frame):
        stop["flag"] = True

    old_handlers = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            old_handlers[sig] = signal.signal(sig, _on_signal)
        except ValueError:  # not in the main thread
            pass

    model.train()
    ema.eval()
    C = mcfg.in_channels
    rows = _read_log(log_path)
    loss_avg = rows[-1]["loss_avg"] if rows else None
    last_loss = rows[-1]["loss"] if rows else float("nan")
    t_loop = time.perf_counter()
    t_window, n_window = time.perf_counter(), 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, initial=step, desc="train", file=sys.stderr, unit="step", dynamic_ncols=True)
    stopped_by = "steps"
    try:
        with log_path.open("a") as log:
            while step < cfg.steps:
                if stop["flag"]:
                    stopped_by = "signal"
                    break
                if cfg.max_minutes is not None and (time.perf_counter() - t_loop) > cfg.max_minutes * 60:
                    stopped_by = "time"
                    break
                x0, y, mask, noise, t, drop_seed, weight = _batch(cfg, step, specs, bank, ae, C)
                lr = _lr_at(cfg, step)
                for group in opt.param_groups:
                    group["lr"] = lr
                torch.manual_seed(drop_seed)  # caption dropout inside the model
                x0, y, mask, noise, t = (v.to(dev) for v in (x0, y, mask, noise, t))
                weight = weight.to(dev) if weight is not None else None
                loss = rflow_loss(
                    model,
                    x0,
                    y,
                    mask,
                    noise,
                    t,
                    fps=cfg.fps,
                    height=cfg.size,
                    width=cfg.size,
                    precision=cfg.precision,
                    weight=weight,
                )
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"non-finite loss {loss.item()} at step {step}. HINT: lower --lr or raise --warmup."
                    )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                opt.step()
                step += 1
                decay = min(cfg.ema_decay, (1.0 + step) / (10.0 + step))
                with torch.no_grad():
                    for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
                        pe.lerp_(pm, 1.0 - decay)
                last_loss = float(loss.item())
                loss_avg = last_loss if loss_avg is None else 0.98 * loss_avg + 0.02 * last_loss
                n_window += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss_avg:.4f}", refresh=False)
                if step % cfg.log_every == 0 or step == cfg.steps:
                    now = time.perf_counter()
                    rec = {
                        "step": step,
                        "loss": last_loss,
                        "loss_avg": loss_avg,
                        "lr": lr,
                        "t_mean": float(t.mean()),
                        "elapsed_s": round(elapsed_before + now - t_loop, 3),
                        "samples_per_s": round(n_window * cfg.batch_size / max(now - t_window, 1e-9), 3),
                    }
                    log.write(json.dumps(rec) + "\n")
                    log.flush()
                    t_window, n_window = now, 0
                if step % cfg.ckpt_every == 0:
                    save()
        save()
    finally:
        if bar is not None:
            bar.close()
        for sig, h in old_handlers.items():
            signal.signal(sig, h)
    plot_loss_curve(log_path, out / "loss_curve.png")
    summary = {
        "step": step,
        "stopped_by": stopped_by,
        "final_loss": last_loss,
        "final_loss_avg": loss_avg,
        "train_wall_s": round(elapsed_before + time.perf_counter() - t_loop, 2),
        "setup_s": round(setup_s, 2),
        "distinct_captions": len(bank.captions),
        "num_params": sum(p.numel() for p in model.parameters()),
        "environment": environment(dev),
    }
    if warm is not None:
        summary["warm_start"] = warm
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


# ----------------------------------------------------------------------------------------------------------------
# export / load
# ----------------------------------------------------------------------------------------------------------------


def export_model(run_dir: str | Path, dest_dir: str | Path, *, use_ema: bool = True) -> Path:
    """Write the shippable artefacts of a run to ``dest_dir``: weights (safetensors, EMA by default),
    ``config.json`` (model, autoencoder, text encoder, training config, summary), the log, the loss curve
    and ``synthetic.json`` (file name, byte size and sha256 of the weights). Returns the weights path."""
    from safetensors.torch import save_file

    run, dest = Path(run_dir), Path(dest_dir)
    ck_path = run / "checkpoint.pt"
    if not ck_path.exists():
        raise FileNotFoundError(
            f"{ck_path} does not exist. HINT: run `python -m research.eval train --out {run}` first."
        )
    ck = torch.load(ck_path, weights_only=False, map_location="cpu")
    state = ck["ema" if use_ema else "model"]
    state = {k: v.detach().to(torch.float32).contiguous() for k, v in state.items()}
    dest.mkdir(parents=True, exist_ok=True)
    wpath = dest / WEIGHTS_NAME
    save_file(state, str(wpath), metadata={"format": "pt", "model": "chai synthetic STDiT3"})
    size = wpath.stat().st_size
    if size > MAX_WEIGHTS_BYTES:
        raise ValueError(
            f"exported weights are {size} bytes, over the {MAX_WEIGHTS_BYTES}-byte limit."
            " HINT: train a smaller preset (model_overrides hidden_size/depth)."
        )
    summary = json.loads((run / "summary.json").read_text()) if (run / "summary.json").exists() else {}
    tcfg = TrainConfig.from_dict(ck["train_config"])
    warm = ck.get("warm_start")  # from the checkpoint: a run exported mid-way has no summary yet
    config = {
        "model_config": ck["model_config"],
        "autoencoder": ck["autoencoder"],
        "text_encoder": {"kind": tcfg.encoder, "model_max_length": ck["model_config"]["model_max_length"]},
        "sampling": {
            "use_timestep_transform": False,
            "fps": tcfg.fps,
            "num_frames": tcfg.frames,
            "height": tcfg.size,
            "width": tcfg.size,
        },
        "train_config": ck["train_config"],
        "weights": "ema" if use_ema else "model",
        "step": int(ck["step"]),
        "warm_start": warm,
        "total_steps": int(ck["step"]) + (int(warm.get("from_step", 0)) if warm else 0),
        "summary": summary,
    }
    (dest / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
    for name in ("train_log.jsonl", "loss_curve.png"):
        if (run / name).exists():
            shutil.copyfile(run / name, dest / name)
    manifest = {
        "weights": WEIGHTS_NAME,
        "sha256": file_sha256(wpath),
        "bytes": size,
        "config": CONFIG_NAME,
        "config_sha256": file_sha256(dest / CONFIG_NAME),
    }
    (dest / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    return wpath
