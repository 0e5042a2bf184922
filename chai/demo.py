"""The models, encoders and picture of ``chai demo`` and ``chai run``.

Two kinds of model:

- ``"synthetic"`` (the demo's default): the trained synthetic STDiT3 shipped with the package
  (:mod:`chai.synthetic`): 32 x 32 pixel clips of 4 frames of a coloured shape, MiniLM captions, a fixed
  space-to-depth autoencoder as its VAE. Its pixels mean something, so the demo's picture shows what a
  hit reused from a miss.
- The other :data:`chai.models.PRESETS` (``tiny``, ``tiny-hd72``, ``mini``, ``XL/2``) with **fixed random
  weights**: OpenSora-shaped timings and real cache behaviour, meaningless pixels (the picture then
  shows three latent channels as colour).

Beside each hit the demo shows its two **twins**, generated after the timed run (they count in no timing):
the full-schedule twin (same prompt, same seed, no cache: what the hit stands in for) and the plain
short-schedule twin (the hit's step count without Cache Attention: what the hit would be without CHAI), with
the PSNR of the hit and of the short twin to the full one.

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
    "build_picture",
    "build_text_encoder",
    "builtin_prompts",
    "clip_frames",
    "load_checkpoint_model",
    "load_demo_model",
    "make_twins",
    "preset_names",
    "twin_record",
    "view_of",
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
    otherwise; the synthetic model to the 32 x 32 x 4 clips it was trained on.
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


# --------------------------------------------------------------------------------------------- twins


def make_twins(pipe: Any, prompt: str, seed: int, *, num_frames: int, height: int, width: int) -> tuple[Any, Any]:
    """The twins of a hit of ``pipe`` (a :class:`chai.CHAIPipeline`): ``(full, short)`` generation results.

    ``full``: ``pipe.config.full_steps`` steps, ``short``: ``pipe.config.hit_steps`` steps; both from ``prompt``
    and the hit's noise ``seed``, with no lookup, no insert and no step cache (the plain schedules).
    """
    kw = {"seed": seed, "num_frames": num_frames, "height": height, "width": width}
    full = pipe.generate(prompt, use_cache=False, miss_cache=False, **kw)
    short = pipe.generate(prompt, use_cache=False, miss_cache=False, num_steps=pipe.config.hit_steps, **kw)
    return full, short


def view_of(result: Any) -> tuple[str, torch.Tensor]:
    """What a hit and its twins are compared on: ``("pixels", video clamped to [-1, 1])`` when the pipeline
    decodes (a VAE), else ``("latents", final latents)``; on the CPU in float32, so it can be kept."""
    if getattr(result, "video", None) is not None:
        return "pixels", result.video.detach().float().clamp(-1.0, 1.0).cpu()
    return "latents", result.latents.detach().float().cpu()


def twin_record(hit: Mapping[str, Any], hit_view: tuple[str, torch.Tensor], full: Any, short: Any) -> dict[str, Any]:
    """The ``twins`` record of one hit (report schema in docs/cli.md): PSNR to the full twin of the hit
    (``psnr_hit_db``) and of the short twin (``psnr_short_db``), None where the clips are identical.

    Pixels are compared over the video's range [-1, 1] (``data_range`` 2); latents over the full twin's
    own range (max - min), since latents have no fixed range.
    """
    from chai.evaluation.metrics import psnr

    kind, x = hit_view
    ref, y = view_of(full)[1], view_of(short)[1]
    data_range = 2.0 if kind == "pixels" else max(float(ref.max() - ref.min()), 1e-12)

    def db(a: torch.Tensor) -> float | None:
        v = psnr(a, ref, data_range=data_range)
        return v if v != float("inf") else None

    return {
        "index": int(hit["index"]),
        "seed": int(hit["seed"]),
        "prompt": hit["prompt"],
        "match": f"{hit.get('prompt_entity')} -> {hit.get('cached_entity')}",
        "full_steps": int(full.steps),
        "short_steps": int(short.steps),
        "compared_on": kind,
        "data_range": data_range,
        "psnr_hit_db": db(x),
        "psnr_short_db": db(y),
        "seconds": float(full.timings["total"] + short.timings["total"]),
    }


# --------------------------------------------------------------------------------------------- picture

#: Rows of the picture at most (one per hit); past it the picture says how many rows it leaves out and which.
MAX_PICTURE_ROWS = 24
# Layout in inches and points. Captions are set in a monospaced font, so a caption wrapped at
# _caption_chars() characters is known to fit its tile's width without measuring rendered text.
_TILE_W, _GAP, _MARGIN, _IMAGE_PAD, _ROW_PAD = 3.2, 0.2, 0.2, 0.06, 0.22
_CAPTION_PT, _HEAD_PT, _LINE_SPACING = 7.0, 8.5, 1.25
_MONO_ADVANCE = 0.61  # DejaVu Sans Mono's advance width in ems (0.602), rounded up


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


def _chars(width_in: float, points: float) -> int:
    return max(8, int(width_in * 72.0 / (points * _MONO_ADVANCE)))


def _wrap(text: str, width: int) -> list[str]:
    """Every line of ``text`` wrapped at ``width`` characters; nothing is dropped (over-long words are split)."""
    lines: list[str] = []
    for para in text.split("\n"):
        lines += textwrap.wrap(para, width, break_long_words=True, break_on_hyphens=False) or [""]
    return lines


@dataclass
class _Tile:
    """One tile of the picture: a caption (wrapped to the tile) over a strip of frames (None: nothing to show)."""

    label: str
    caption: str
    image: Any  # (H, W, 3) uint8 array from _strip(), or None

    @classmethod
    def of(cls, label: str, caption: str, frames: torch.Tensor | None) -> _Tile:
        return cls(label, caption, None if frames is None else _strip(frames))

    def lines(self) -> list[str]:
        return _wrap(self.caption, _chars(_TILE_W - _GAP / 2, _CAPTION_PT))


def _hit_rows(
    records: Sequence[Mapping[str, Any]],
    frames: Mapping[int, torch.Tensor],
    twins: Mapping[int, Mapping[str, Any]],
    twin_frames: Mapping[int, tuple[torch.Tensor, torch.Tensor]],
) -> list[tuple[int, list[_Tile]]]:
    """(request index, tiles): one row per hit with frames, in request order: the miss it reused, the hit, then
    its twins when given."""
    by_entry = {r["inserted_entry"]: r for r in records if r.get("inserted_entry") is not None}
    rows = []
    for r in records:
        i = r["index"]
        if not r["hit"] or i not in frames:
            continue
        miss = by_entry.get(r.get("entry_id"))
        if miss is not None and miss["index"] in frames:
            j = miss["index"]
            caption = f"#{j + 1} MISS, {miss['steps']} steps, reused by #{i + 1}\n{miss['prompt']}"
            row = [_Tile.of(f"miss #{j + 1}", caption, frames[j])]
        else:
            row = [_Tile.of("miss", f"entry {r.get('entry_id')}: stored before this run, not shown", None)]
        tw, tf = twins.get(i), twin_frames.get(i)
        psnr = "" if tw is None else f"\nPSNR {_db(tw['psnr_hit_db'])} to the {tw['full_steps']}-step twin"
        match = f"{r.get('prompt_entity')} -> {r.get('cached_entity')} ({float(r.get('score') or 0.0):.2f})"
        row.append(
            _Tile.of(f"hit #{i + 1}", f"#{i + 1} HIT, {r['steps']} steps: {match}{psnr}\n{r['prompt']}", frames[i])
        )
        if tw is not None and tf is not None:
            same = "same prompt and seed, no cache"
            row.append(_Tile.of(f"full twin #{i + 1}", f"#{i + 1} {tw['full_steps']}-step twin: {same}", tf[0]))
            row.append(
                _Tile.of(
                    f"short twin #{i + 1}",
                    f"#{i + 1} plain {tw['short_steps']}-step twin: {same}\n"
                    f"PSNR {_db(tw['psnr_short_db'])} to the {tw['full_steps']}-step twin",
                    tf[1],
                )
            )
        rows.append((i, row))
    return rows


def _miss_tile(r: Mapping[str, Any], frames: Mapping[int, torch.Tensor]) -> _Tile:
    i = r["index"]
    return _Tile.of(f"miss #{i + 1}", f"#{i + 1} MISS, {r['steps']} steps\n{r['prompt']}", frames[i])


def _db(v: float | None) -> str:
    return "inf dB (identical)" if v is None else f"{v:.1f} dB"


def build_picture(
    records: Sequence[Mapping[str, Any]],
    frames: Mapping[int, torch.Tensor],
    *,
    title: str,
    latent_note: bool = False,
    twins: Sequence[Mapping[str, Any]] = (),
    twin_frames: Mapping[int, tuple[torch.Tensor, torch.Tensor]] | None = None,
    max_rows: int = MAX_PICTURE_ROWS,
):
    """The matplotlib ``Figure`` of :func:`write_picture` (None: nothing to show).

    Each image is an ``Axes`` labelled ``"<kind> #<request>"`` (kinds: miss, hit, full twin, short twin) and
    each caption a figure text; tests read both.
    """
    if not isinstance(max_rows, int) or isinstance(max_rows, bool) or max_rows < 1:
        raise ValueError(f"max_rows must be a positive int, got {max_rows!r}. HINT: e.g. max_rows={MAX_PICTURE_ROWS}.")
    by_index = {int(t["index"]): t for t in twins}
    rows = _hit_rows(records, frames, by_index, twin_frames or {})
    if rows:
        head = f"{title}: one row per hit: the miss whose latents it reused, then the hit"
        if any(len(row) > 2 for _, row in rows):
            t = next(iter(by_index.values()))
            head += (
                f", its {t['full_steps']}-step twin and its plain {t['short_steps']}-step twin (same prompt and seed, "
                f"no cache; generated after the timed run and not counted in its timings). PSNR is to the "
                f"{t['full_steps']}-step twin, on {'decoded pixels' if t['compared_on'] == 'pixels' else 'latents'}"
            )
        one, many = "hit", "hits"
    else:
        rows = [(r["index"], [_miss_tile(r, frames)]) for r in records if not r["hit"] and r["index"] in frames]
        head, one, many = f"{title}: no request hit; one row per miss", "miss", "misses"
    if not rows:
        return None
    if len(rows) > max_rows:
        left = [i for i, _ in rows[max_rows:]]
        named = ", ".join(f"#{i + 1}" for i in left[:12]) + (", ..." if len(left) > 12 else "")
        head += f". {len(left)} of {len(rows)} rows left out ({many} {named}): the first {max_rows} are shown"
        rows = rows[:max_rows]
    else:
        head += f". All {len(rows)} {many} shown" if len(rows) > 1 else f". The one {one} shown"
    if latent_note:
        head += "; latent channels 0-2 shown as colour (random weights, no VAE)"

    rows = [row for _, row in rows]
    ncols = max(len(row) for row in rows)
    fig_w = 2 * _MARGIN + ncols * _TILE_W + (ncols - 1) * _GAP
    head_lines = _wrap(head, _chars(fig_w - 2 * _MARGIN, _HEAD_PT))

    def text_h(n: int, points: float) -> float:
        return n * points * _LINE_SPACING / 72.0

    def image_h(row: list[_Tile]) -> float:
        return max((_TILE_W * t.image.shape[0] / t.image.shape[1] for t in row if t.image is not None), default=0.5)

    heights = [
        text_h(max(len(t.lines()) for t in row), _CAPTION_PT) + _IMAGE_PAD + image_h(row) + _ROW_PAD for row in rows
    ]
    head_h = text_h(len(head_lines), _HEAD_PT) + _ROW_PAD
    fig_h = 2 * _MARGIN + head_h + sum(heights)
    from chai.report import new_figure

    fig = new_figure(figsize=(fig_w, fig_h), dpi=110)
    text_kw = {"va": "top", "ha": "left", "family": "monospace", "linespacing": _LINE_SPACING}
    y = fig_h - _MARGIN
    fig.text(_MARGIN / fig_w, y / fig_h, "\n".join(head_lines), fontsize=_HEAD_PT, **text_kw)
    y -= head_h
    for row, row_h in zip(rows, heights):
        img_h = image_h(row)
        cap_h = text_h(max(len(t.lines()) for t in row), _CAPTION_PT)
        for j, tile in enumerate(row):
            x = _MARGIN + j * (_TILE_W + _GAP)
            fig.text(x / fig_w, y / fig_h, "\n".join(tile.lines()), fontsize=_CAPTION_PT, **text_kw)
            bottom = y - cap_h - _IMAGE_PAD - img_h
            ax = fig.add_axes((x / fig_w, bottom / fig_h, _TILE_W / fig_w, img_h / fig_h), label=tile.label)
            ax.set_xticks([])
            ax.set_yticks([])
            if tile.image is not None:
                ax.imshow(tile.image, interpolation="nearest", aspect="auto")
                ax.axis("off")
            else:
                ax.set_facecolor("0.92")
        y -= row_h
    return fig


def write_picture(
    path: str | Path,
    records: Sequence[Mapping[str, Any]],
    frames: Mapping[int, torch.Tensor],
    *,
    title: str,
    **options: Any,
) -> Path | None:
    """A PNG of every hit beside the miss whose latents it reused and, when given, its twins; returns its
    absolute path (None: nothing to show).

    ``records`` are ``chai.run/1`` request records and ``frames`` maps a record's ``index`` to its
    :func:`clip_frames`; ``options`` are :func:`build_picture`'s: ``twins`` (:func:`twin_record` records),
    ``twin_frames`` (a hit's index -> the frames of its (full, short) twins), ``latent_note``, ``max_rows``.
    One row per hit, in request order: the miss (4 frames, evenly spaced), the hit, the full-schedule twin and
    the plain short twin, each captioned whole (wrapped, never cut) with its request number, steps, match and
    PSNR to the full twin. At most ``max_rows`` rows; the picture's heading says how many it leaves out and
    which. When no request hit, one row per miss.
    """
    fig = build_picture(records, frames, title=title, **options)
    if fig is None:
        return None
    path = Path(path).resolve()  # the CLI prints it: an absolute path says where the picture went
    fig.savefig(path)
    return path
