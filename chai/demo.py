"""The models, encoders and picture of ``chai demo`` and ``chai run``.

Two kinds of model:

- ``"synthetic"`` (the demo's default): the trained synthetic STDiT3 shipped with the package
  (:mod:`chai.synthetic`): 32 x 32 pixel clips of 8 frames of coloured shapes, MiniLM captions, a fixed
  space-to-depth autoencoder as its VAE. Its pixels mean something, so the demo's picture shows what a
  hit reused from a miss.
- The other :data:`chai.models.PRESETS` (``tiny``, ``tiny-hd72``, ``mini``, ``XL/2``) with **fixed random
  weights**: OpenSora-shaped timings and real cache behaviour, meaningless pixels (the picture then
  shows three latent channels as colour).

Failures raise ``ValueError`` / ``ImportError`` whose message ends with a ``HINT:``; the CLI prints them.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "TRAINED",
    "DemoModel",
    "build_embedder",
    "build_model",
    "build_text_encoder",
    "builtin_prompts",
    "clip_frames",
    "load_checkpoint_model",
    "load_demo_model",
    "preset_names",
    "write_picture",
]

#: The preset name of the trained synthetic model (the others are random-weight STDiT3 presets).
TRAINED = "synthetic"


def preset_names() -> list[str]:
    """Every ``--preset``: the trained synthetic model first, then the random-weight presets."""
    from chai.models import PRESETS

    return [TRAINED, *(p for p in PRESETS if p != TRAINED)]


def builtin_prompts(preset: str) -> str:
    """The built-in prompt file (under ``chai/data``) of ``chai demo`` with ``preset``: prompts in the
    synthetic model's caption vocabulary for it, everyday scenes for the random-weight presets."""
    return "synthetic_prompts.txt" if preset == TRAINED else "demo_prompts.txt"


def build_text_encoder(kind: str, *, hidden_size: int, model_max_length: int, device: str, path: str | None = None):
    """A caption encoder: ``"minilm"`` (all-MiniLM-L6-v2, offline), ``"hash"`` (word hashing, no weights) or
    ``"t5"`` (the T5 checkpoint directory ``path``, local files only)."""
    from chai.text_encoder import HashTextEncoder, MiniLMTextEncoder, T5TextEncoder

    if kind == "hash":
        return HashTextEncoder(hidden_size, model_max_length, device=device)
    if kind == "t5":
        return T5TextEncoder(path, model_max_length, device=device)
    try:
        return MiniLMTextEncoder(model_max_length, device=device)
    except ImportError as exc:
        raise ImportError(f"{exc} (or run with --text-encoder hash)") from None


def build_embedder(kind: str):
    """The cache embedder: ``"minilm"`` (checked now, loaded on first use) or ``"hash"`` (256-d hashing)."""
    from chai.cache.embedder import HashingEmbedder, MiniLMEmbedder

    if kind == "hash":
        return HashingEmbedder(256)
    emb = MiniLMEmbedder()
    try:
        emb.check_available()
    except ImportError as exc:
        raise ImportError(f"{exc} (or run with --embedder hash)") from None
    return emb


def build_model(preset: str, *, seed: int, device: str, caption_channels: int | None = None) -> torch.nn.Module:
    """STDiT3 ``preset`` with fixed random weights from ``seed`` (zero-initialised projections re-drawn).

    OpenSora zero-initialises the temporal blocks' output projections and the fps embedder's last
    layer, which would make them no-ops; the random model re-draws those with std 0.02 so every branch
    takes part. ``caption_channels`` overrides the preset's width to match the text encoder.
    """
    from chai.models import PRESETS, STDiT3, STDiT3Config

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}. HINT: choose one of {', '.join(preset_names())}.")
    overrides = {}
    if caption_channels is not None and PRESETS[preset].get("caption_channels") != caption_channels:
        overrides["caption_channels"] = caption_channels
    cfg = STDiT3Config.preset(preset, **overrides)
    torch.manual_seed(seed)
    model = STDiT3(cfg)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for block in model.temporal_blocks:
            for lin in (block.attn.proj, block.cross_attn.proj, block.mlp.fc2):
                lin.weight.copy_(torch.randn(lin.weight.shape, generator=gen) * 0.02)
        last = model.fps_embedder.mlp[2]
        last.weight.copy_(torch.randn(last.weight.shape, generator=gen) * 0.02)
    return model.to(device).eval()


@dataclass
class DemoModel:
    """A model ready for :class:`chai.CHAIPipeline`, with the clip size and sampler settings it expects.

    preset: ``--preset`` name; trained: True for the synthetic model; model / text_encoder / vae: the
    pipeline's parts (vae None for random presets); height / width / num_frames: the default clip;
    use_timestep_transform: sampler setting the model was trained with; prompts: built-in prompt file.
    """

    preset: str
    trained: bool
    model: torch.nn.Module
    text_encoder: Any
    vae: Any
    height: int
    width: int
    num_frames: int
    use_timestep_transform: bool
    prompts: str

    def latent_shape(self, num_frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        """Latent (C, T, H, W) of a ``num_frames`` x ``height`` x ``width`` clip (what the cache stores)."""
        from chai.pipeline import latent_shape

        if self.vae is not None:
            t, h, w = self.vae.get_latent_size([num_frames, height, width])
            return int(self.vae.out_channels), int(t), int(h), int(w)
        return latent_shape(num_frames, height, width, in_channels=int(self.model.config.in_channels))


def load_demo_model(
    preset: str, *, seed: int, device: str, text_encoder: str = "minilm", command: str = "demo"
) -> DemoModel:
    """The model of ``--preset``: the trained synthetic STDiT3 or a random-weight preset.

    Random presets default to 144p x 51 frames for ``command="demo"`` and 240p x 68 frames (CHAI's clip)
    otherwise; the synthetic model to the 32 x 32 x 8 clips it was trained on.
    """
    from chai.models import PRESETS
    from chai.pipeline import image_size

    if preset not in preset_names():
        raise ValueError(f"unknown preset {preset!r}. HINT: choose one of {', '.join(preset_names())}.")
    if preset == TRAINED:
        from chai.synthetic import load_synthetic_model

        model, ae, cfg = load_synthetic_model(device=device)
        c, s = model.config, cfg["sampling"]
        enc = build_text_encoder(
            text_encoder, hidden_size=int(c.caption_channels), model_max_length=int(c.model_max_length), device=device
        )
        return DemoModel(
            preset, True, model, enc, ae, int(s["height"]), int(s["width"]), int(s["num_frames"]),
            bool(s["use_timestep_transform"]), builtin_prompts(preset),
        )  # fmt: skip
    max_len = int(PRESETS[preset].get("model_max_length", 300))
    channels = int(PRESETS[preset].get("caption_channels", 4096)) if text_encoder == "hash" else 384
    enc = build_text_encoder(text_encoder, hidden_size=channels, model_max_length=max_len, device=device)
    model = build_model(preset, seed=seed, device=device, caption_channels=enc.hidden_size)
    (h, w), frames = (image_size("144p"), 51) if command == "demo" else (image_size("240p"), 68)
    return DemoModel(preset, False, model, enc, None, h, w, frames, True, builtin_prompts(preset))


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file (``.safetensors``, or a torch ``.pt`` / ``.pth`` / ``.bin`` state dict, read
    with ``weights_only=True``) or of the one ``*.safetensors`` file of a directory (``model.safetensors`` first)."""
    if path.is_dir():
        found = sorted(path.glob("*.safetensors"))
        named = path / "model.safetensors"
        if named.is_file():
            found = [named]
        if len(found) != 1:
            raise ValueError(
                f"--weights {str(path)!r}: expected one .safetensors file in the directory, found {len(found)}. "
                "HINT: pass the checkpoint file itself."
            )
        path = found[0]
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "ema"):  # training checkpoints wrap the weights
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise TypeError(
            f"--weights {str(path)!r} holds a {type(state).__name__}, not a state dict. HINT: see docs/eval.md."
        )
    return state


def load_checkpoint_model(
    path: str | Path, preset: str = "XL/2", *, device: str, text_encoder: str = "hash", t5: str | None = None
) -> DemoModel:
    """STDiT3 ``preset`` with the weights of ``path`` (OpenSora 1.2's ``hpcai-tech/OpenSora-STDiT-v3`` for
    ``XL/2``: a directory with ``model.safetensors``, or the file), loaded strictly; 240p x 68 frames by default.

    ``text_encoder``: ``"t5"`` with ``t5`` a local T5 directory (OpenSora 1.2: ``DeepFloyd/t5-v1_1-xxl``) gives the
    captions the checkpoint was trained on; ``"hash"`` fits any caption width but means nothing to real weights.
    chai ships no OpenSora VAE: the pipeline works on latents.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: unknown preset, or keys / shapes that do not fit the preset.
        TypeError: the file holds no state dict.
    """
    from chai.models import PRESETS, STDiT3, STDiT3Config
    from chai.pipeline import image_size

    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(
            f"--weights {str(path)!r}: no such file or directory. HINT: pass an STDiT3 checkpoint, e.g. the "
            "directory of hpcai-tech/OpenSora-STDiT-v3 holding model.safetensors."
        )
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}. HINT: choose one of {', '.join(PRESETS)}.")
    state = _read_state_dict(p)
    model = STDiT3(STDiT3Config.preset(preset))  # not on "meta": a non-persistent buffer (RoPE) is not in `state`
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ValueError(
            f"--weights {str(p)!r} does not fit the {preset} STDiT3 ({len(state)} tensors; {first}). HINT: pass "
            "--preset with the checkpoint's size (OpenSora 1.2: XL/2)."
        ) from None
    model = model.to(device).eval()
    c = model.config
    enc = build_text_encoder(
        text_encoder, hidden_size=int(c.caption_channels), model_max_length=int(c.model_max_length), device=device,
        path=t5,
    )  # fmt: skip
    (h, w), frames = image_size("240p"), 68
    return DemoModel(preset, True, model, enc, None, h, w, frames, True, builtin_prompts(preset))


# --------------------------------------------------------------------------------------------- picture


def clip_frames(result: Any) -> torch.Tensor:
    """(T, H, W, 3) uint8 frames of a :class:`chai.pipeline.GenerationResult` for the picture.

    With a VAE the decoded video ([-1, 1]) is shown; without one, latent channels 0-2 as colour, each
    stretched to its own 1st-99th percentile range (random weights: the colours only show structure).
    """
    if getattr(result, "video", None) is not None:
        v = result.video[0].detach().float().cpu()  # (3, T, H, W)
        v = (v.clamp(-1.0, 1.0) + 1.0) * 0.5
    else:
        z = result.latents[0].detach().float().cpu()  # (C, T, H, W)
        z = z[:3] if z.shape[0] >= 3 else z[:1].expand(3, *z.shape[1:])
        flat = z.reshape(3, -1)
        lo = flat.quantile(0.01, dim=1).view(3, 1, 1, 1)
        hi = flat.quantile(0.99, dim=1).view(3, 1, 1, 1)
        v = ((z - lo) / (hi - lo).clamp_min(1e-6)).clamp(0.0, 1.0)
    return (v.permute(1, 2, 3, 0) * 255.0).round().to(torch.uint8)


def _strip(frames: torch.Tensor, n: int = 4) -> Any:
    """``n`` evenly spaced frames of a (T, H, W, 3) clip side by side with a 1-pixel white gap."""
    import numpy as np

    t = frames.shape[0]
    idx = sorted({round(i * (t - 1) / max(1, n - 1)) for i in range(n)})
    h = frames.shape[1]
    gap = np.full((h, 1, 3), 255, dtype=np.uint8)
    parts = []
    for i in idx:
        parts += [frames[i].numpy(), gap]
    return np.concatenate(parts[:-1], axis=1)


def write_picture(
    path: str | Path,
    records: Sequence[Mapping[str, Any]],
    frames: Mapping[int, torch.Tensor],
    *,
    title: str,
    latent_note: bool = False,
    max_rows: int = 4,
    max_hits: int = 3,
) -> Path | None:
    """A PNG of misses and the hits that reused them, side by side; returns its absolute path (None: nothing to show).

    ``records`` are ``chai.run/1`` request records and ``frames`` maps a record's ``index`` to its
    :func:`clip_frames`. One row per reused miss (most reused first, at most ``max_rows``): the miss's
    frames, then up to ``max_hits`` hits that reused its entry, each labelled with its prompt and the
    entity match. When no request hit, the first misses are shown alone.
    """
    by_entry = {r["inserted_entry"]: r for r in records if r.get("inserted_entry") is not None}
    reused: dict[Any, list[Mapping[str, Any]]] = {}
    for r in records:
        if r["hit"] and r.get("entry_id") in by_entry and r["index"] in frames:
            reused.setdefault(r["entry_id"], []).append(r)
    rows = sorted(reused.items(), key=lambda kv: (-len(kv[1]), by_entry[kv[0]]["index"]))[:max_rows]
    grid = [[by_entry[e], *hits[:max_hits]] for e, hits in rows if by_entry[e]["index"] in frames]
    if not grid:
        grid = [[r] for r in records if not r["hit"] and r["index"] in frames][:max_rows]
    if not grid:
        return None
    ncols = max(len(row) for row in grid)
    width = max(6.4, 3.2 * ncols)
    from chai.report import new_figure

    fig = new_figure(figsize=(width, 1.9 * len(grid) + 0.8), dpi=110)
    axes = fig.subplots(len(grid), ncols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, row in enumerate(grid):
        for j, r in enumerate(row):
            ax = axes[i][j]
            ax.imshow(_strip(frames[r["index"]]), interpolation="nearest")
            if r["hit"]:
                head = f"#{r['index'] + 1} HIT {r['prompt_entity']} -> {r['cached_entity']} ({r['score']:.2f})"
            else:
                head = f"#{r['index'] + 1} MISS ({r['steps']} steps)"
            body = textwrap.shorten(r["prompt"], 70, placeholder="...")
            ax.set_title(head + "\n" + "\n".join(textwrap.wrap(body, 36)[:2]), fontsize=7, loc="left")
    note = "; latent channels 0-2 shown as colour (random weights, no VAE)" if latent_note else ""
    head = f"{title}: each row is a miss, then the hits that reused its latents{note}"
    fig.suptitle(textwrap.fill(head, int(width * 14)), fontsize=9)
    fig.tight_layout()
    path = Path(path).resolve()  # the CLI prints it: an absolute path says where the picture went
    fig.savefig(path)
    return path
