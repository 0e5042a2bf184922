"""The trained synthetic STDiT3 that ``chai demo`` runs by default: its fixed autoencoder and its loader.

The model was trained on CPU on small procedural clips (one coloured shape moving over a patterned
background from a start that its motion decides, 32 x 32 pixels, 4 frames, mixed with still frames) with
captions such as "a small red star moving left over a blue striped background"; its weights (7.5 MB),
``config.json`` and a sha256 manifest ship in ``chai/data/synthetic/``. How it was trained and what it scores
is the business of the research harness (``research/`` in the source tree, not installed); this module holds
only what running it needs.

The synthetic STDiT3 does not run on pixels directly: a 32 x 32 frame would be 256 tokens with OpenSora's
(1, 2, 2) patch. Every frame instead goes through a deterministic space-to-depth ("pixel unshuffle") by
``factor`` (2 for the shipped model)::

    video (B, 3, T, H, W) in [-1, 1]  --encode-->  latent (B, 3 * factor**2, T, H / factor, W / factor)
    32 x 32 RGB, factor 2               ->           12 x 16 x 16 per frame (64 tokens per frame at patch 1x2x2)

Channel ``c * factor**2 + i * factor + j`` of latent pixel ``(h, w)`` holds colour ``c`` of image pixel
``(h * factor + i, w * factor + j)`` (torch's ``pixel_unshuffle`` order), multiplied by ``scale``.
There is no learned part and no projection: a fixed orthogonal projection of the channels would not
change anything a diffusion model with a linear patch embedding can learn, nor the MSE it is trained
with, so it is left out. ``decode`` is the exact inverse (bit-exact for ``scale`` a power of two).

:class:`SpaceToDepthAutoencoder` speaks the two methods :class:`chai.CHAIPipeline` asks of an optional
VAE: ``decode(latents)`` and ``get_latent_size([T, H, W])`` (plus ``out_channels``), so it is handed to
the pipeline as ``vae=``. Shape legend: B clips, T frames, H/W pixels, C = 3 * factor**2 latent channels.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

__all__ = [
    "CONFIG_NAME",
    "MANIFEST_NAME",
    "MODEL_DIR",
    "WEIGHTS_NAME",
    "SpaceToDepthAutoencoder",
    "file_sha256",
    "load_synthetic_model",
]

#: Where the shipped synthetic model lives (package data, read-only once installed).
MODEL_DIR = Path(__file__).resolve().parent / "data" / "synthetic"
WEIGHTS_NAME = "stdit3_synthetic.safetensors"
CONFIG_NAME = "config.json"
MANIFEST_NAME = "synthetic.json"


class SpaceToDepthAutoencoder:
    """Deterministic pixel-unshuffle autoencoder: ``(B, 3, T, H, W)`` <-> ``(B, 3 f^2, T, H/f, W/f)``.

    Args:
        factor: spatial downsampling factor f (4: 32 x 32 -> 8 x 8).
        scale: latent = scale * pixels (pixels in [-1, 1]); 1.0 keeps the data at roughly unit scale, the
            scale of the rectified-flow noise.
        in_channels: colour channels of the video (3).
    """

    def __init__(self, factor: int = 4, *, scale: float = 1.0, in_channels: int = 3) -> None:
        if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
            raise ValueError(f"factor must be a positive int, got {factor!r}. HINT: 4 maps 32x32 to 8x8.")
        if not isinstance(scale, (int, float)) or not scale > 0:
            raise ValueError(f"scale must be a positive number, got {scale!r}. HINT: 1.0.")
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"in_channels must be a positive int, got {in_channels!r}. HINT: 3 for RGB.")
        self.factor = factor
        self.scale = float(scale)
        self.in_channels = in_channels
        self.out_channels = in_channels * factor * factor

    def __repr__(self) -> str:
        return f"SpaceToDepthAutoencoder(factor={self.factor}, scale={self.scale}, channels={self.out_channels})"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "space_to_depth", "factor": self.factor, "scale": self.scale, "in_channels": self.in_channels}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SpaceToDepthAutoencoder:
        if d.get("kind", "space_to_depth") != "space_to_depth":
            raise ValueError(f"autoencoder kind {d.get('kind')!r} is not 'space_to_depth'. HINT: check the config.")
        return cls(int(d["factor"]), scale=float(d["scale"]), in_channels=int(d.get("in_channels", 3)))

    # -- sizes -------------------------------------------------------------------------------------
    def get_latent_size(self, input_size: Sequence[int]) -> list[int]:
        """``[T, H, W]`` (frames, pixels) -> latent ``[T, H / f, W / f]``; H and W must be multiples of f."""
        if len(input_size) != 3:
            raise ValueError(f"input_size must be [T, H, W], got {list(input_size)!r}. HINT: e.g. [8, 32, 32].")
        t, h, w = (int(v) for v in input_size)
        if h % self.factor or w % self.factor:
            raise ValueError(f"height x width {h}x{w} is not a multiple of factor {self.factor}. HINT: use e.g. 32x32.")
        return [t, h // self.factor, w // self.factor]

    # -- transforms --------------------------------------------------------------------------------
    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """video (B, 3, T, H, W) in [-1, 1] -> latent (B, 3 f^2, T, H/f, W/f) (same dtype and device)."""
        if not torch.is_tensor(video) or video.ndim != 5 or video.shape[1] != self.in_channels:
            shape = tuple(video.shape) if torch.is_tensor(video) else type(video).__name__
            raise ValueError(
                f"video must be a (B, {self.in_channels}, T, H, W) tensor, got {shape}."
                " HINT: permute (B, T, H, W, 3) clips with .permute(0, 4, 1, 2, 3)."
            )
        B, C, T, H, W = video.shape
        if H % self.factor or W % self.factor:
            raise ValueError(f"video frames {H}x{W} are not multiples of factor {self.factor}. HINT: use 32x32.")
        frames = video.permute(0, 2, 1, 3, 4).reshape(B * T, C, H, W)
        lat = F.pixel_unshuffle(frames, self.factor) * self.scale
        lat = lat.reshape(B, T, self.out_channels, H // self.factor, W // self.factor)
        return lat.permute(0, 2, 1, 3, 4).contiguous()

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """latent (B, 3 f^2, T, h, w) -> video (B, 3, T, h f, w f), the exact inverse of ``encode`` (unclipped)."""
        if not torch.is_tensor(latents) or latents.ndim != 5 or latents.shape[1] != self.out_channels:
            shape = tuple(latents.shape) if torch.is_tensor(latents) else type(latents).__name__
            raise ValueError(
                f"latents must be a (B, {self.out_channels}, T, h, w) tensor, got {shape}."
                f" HINT: this autoencoder has factor {self.factor}; the model's in_channels must be"
                f" {self.out_channels}."
            )
        B, C, T, h, w = latents.shape
        frames = latents.permute(0, 2, 1, 3, 4).reshape(B * T, C, h, w) / self.scale
        vid = F.pixel_shuffle(frames, self.factor)
        vid = vid.reshape(B, T, self.in_channels, h * self.factor, w * self.factor)
        return vid.permute(0, 2, 1, 3, 4).contiguous()

    def decode_to_frames(self, latents: torch.Tensor) -> torch.Tensor:
        """latent (B, C, T, h, w) -> float32 frames (B, T, H, W, 3) in [0, 1] (clipped), the analyzer's layout."""
        vid = self.decode(latents.float())
        return ((vid.clamp(-1.0, 1.0) + 1.0) * 0.5).permute(0, 2, 3, 4, 1).contiguous()


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_synthetic_model(model_dir: str | Path | None = None, *, device: str | torch.device = "cpu"):
    """Load the synthetic STDiT3 of ``model_dir`` (default: the shipped one) after checking the sha256
    recorded in its ``synthetic.json``.

    Returns ``(model, autoencoder, config)``: the ``STDiT3`` in eval mode on ``device``, the
    :class:`SpaceToDepthAutoencoder` it was trained with and the ``config.json`` dict (``sampling`` holds
    the clip size it was trained on and its sampler settings).
    Raises ``FileNotFoundError`` when a file is missing and ``ValueError`` when a hash does not match.
    """
    from safetensors.torch import load_file

    from chai.models.stdit3 import STDiT3, STDiT3Config

    d = Path(model_dir) if model_dir is not None else MODEL_DIR
    mpath = d / MANIFEST_NAME
    if not mpath.exists():
        raise FileNotFoundError(
            f"{mpath} does not exist. HINT: pass the directory a training run exported its model to "
            "(it holds synthetic.json, config.json and the weights)."
        )
    manifest = json.loads(mpath.read_text())
    wpath, cpath = d / manifest["weights"], d / manifest.get("config", CONFIG_NAME)
    for p in (wpath, cpath):
        if not p.exists():
            raise FileNotFoundError(f"{p} is listed in {mpath} but missing. HINT: reinstall chai-video or re-export.")
    got = file_sha256(wpath)
    if got != manifest["sha256"]:
        raise ValueError(
            f"sha256 of {wpath} is {got}, but {mpath} records {manifest['sha256']}: the weights were changed or"
            " corrupted. HINT: reinstall chai-video (or re-export the training run)."
        )
    if "config_sha256" in manifest and file_sha256(cpath) != manifest["config_sha256"]:
        raise ValueError(f"sha256 of {cpath} does not match {mpath}. HINT: reinstall chai-video or re-export the run.")
    config = json.loads(cpath.read_text())
    model = STDiT3(STDiT3Config.from_dict(config["model_config"]))
    model.load_state_dict(load_file(str(wpath)))
    model.to(device).eval()
    ae = SpaceToDepthAutoencoder.from_dict(config["autoencoder"])
    return model, ae, config
