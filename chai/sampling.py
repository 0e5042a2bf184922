"""OpenSora 1.2 rectified-flow sampling (RFLOW) with batched classifier-free guidance and step callbacks.

Reproduces ``opensora/schedulers/rf`` of OpenSora 1.2 (clean-room):

- timesteps ``t_i = (1 - i/n) * 1000`` for i = 0..n-1, then (by default) the resolution- and
  length-dependent transform ``t' = r t / (1 + (r - 1) t)`` on t/1000, with
  ``r = sqrt(H*W / 512**2) * sqrt(floor(F/17) * 5)`` (H, W pixels, F frames; the time factor is 1 for
  a single image);
- CFG batched into one model call: ``z_in = [z; z]``, ``y = [y; y_null]``, text mask of the
  conditional half only (the model repeats it), ``v = v_u + s (v_c - v_u)`` on output channels 0..3;
- Euler update ``z <- z + v * dt`` with ``dt = (t_i - t_{i+1}) / 1000`` (``t_last / 1000`` at the end);
- OpenSora's frame-conditioning mask (``x_mask`` here, ``mask`` upstream): per-frame values in [0, 1],
  a frame is generated at step t when ``mask * 1000 >= t`` and kept clean otherwise.

Shape legend: B prompts, C latent channels (4), T/H/W latent frames/rows/columns, L text tokens,
Cy caption channels.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch

__all__ = ["RFlowSampler", "timestep_transform_ratio", "capture_steps_for", "StepCallback"]

#: ``callback(step, t, z)``: 1-based step, timestep tensor (B,), latent (B, C, T, H, W) entering the model.
StepCallback = Callable[[int, torch.Tensor, torch.Tensor], None]


def timestep_transform_ratio(
    height: float, width: float, num_frames: int, *, base_resolution: float = 512 * 512
) -> float:
    """OpenSora's shift ratio r = sqrt(H*W / 512^2) * sqrt(floor(F/17) * 5); F == 1 (image) gives time factor 1."""
    ratio_space = math.sqrt(float(height) * float(width) / base_resolution)
    frames = 1 if int(num_frames) == 1 else (int(num_frames) // 17) * 5
    return ratio_space * math.sqrt(frames)


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}. HINT: e.g. 30 for a full run, 8 for a hit.")
    return value


class RFlowSampler:
    """OpenSora 1.2 RFLOW sampler: ``RFlowSampler(30, 7.0, True, 1000)`` is the v1.2 inference default."""

    def __init__(
        self,
        num_sampling_steps: int = 30,
        cfg_scale: float = 7.0,
        use_timestep_transform: bool = True,
        num_timesteps: int = 1000,
        use_discrete_timesteps: bool = False,
    ) -> None:
        self.num_sampling_steps = _check_positive_int("num_sampling_steps", num_sampling_steps)
        self.num_timesteps = _check_positive_int("num_timesteps", num_timesteps)
        self.cfg_scale = float(cfg_scale)
        self.use_timestep_transform = bool(use_timestep_transform)
        self.use_discrete_timesteps = bool(use_discrete_timesteps)

    def __repr__(self) -> str:
        return (
            f"RFlowSampler(num_sampling_steps={self.num_sampling_steps}, cfg_scale={self.cfg_scale}, "
            f"use_timestep_transform={self.use_timestep_transform}, num_timesteps={self.num_timesteps})"
        )

    # -- schedule ----------------------------------------------------------------------------------
    def timesteps(
        self,
        num_steps: int | None = None,
        *,
        height: float,
        width: float,
        num_frames: int,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """Float32 tensor (num_steps,) of the (transformed) timesteps, from 1000 down (computed in float64).

        ``height``/``width`` are in pixels and ``num_frames`` in video frames (51 -> 15 latent frames).
        """
        n = _check_positive_int("num_steps", self.num_sampling_steps if num_steps is None else num_steps)
        ts = [(1.0 - i / n) * self.num_timesteps for i in range(n)]
        if self.use_discrete_timesteps:
            ts = [float(int(round(t))) for t in ts]
        if self.use_timestep_transform:
            if int(num_frames) != 1 and int(num_frames) < 17:
                raise ValueError(
                    f"num_frames={num_frames}: OpenSora's timestep transform uses floor(num_frames/17)*5, which is 0"
                    " for 2..16 frames and would collapse every timestep to 0."
                    " HINT: pass the video frame count (>= 17, or 1 for an image), or use_timestep_transform=False."
                )
            r = timestep_transform_ratio(height, width, num_frames)
            ts = [
                self.num_timesteps * (r * (t / self.num_timesteps)) / (1 + (r - 1) * (t / self.num_timesteps))
                for t in ts
            ]
        return torch.tensor(ts, dtype=torch.float64, device=device).to(torch.float32)

    # -- sampling ----------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        model: torch.nn.Module,
        z: torch.Tensor,
        y: torch.Tensor,
        *,
        mask: torch.Tensor | None = None,
        y_null: torch.Tensor | None = None,
        fps: float | torch.Tensor = 24,
        height: float,
        width: float,
        num_frames: int,
        num_steps: int | None = None,
        callback: StepCallback | None = None,
        progress: bool = False,
        x_mask: torch.Tensor | None = None,
        cfg_scale: float | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Denoise ``z`` (B, C, T, H, W) from t = 1000 to 0 and return the final latent.

        Args:
            model: an STDiT3-like callable ``model(x, timestep, y, mask=, x_mask=, fps=, height=, width=)``.
            z: initial noise (B, C, T, H, W).
            y: conditional caption features (B, 1, L, Cy).
            mask: text mask (B, L) of the conditional captions, or None (all tokens valid).
            y_null: unconditional captions (B, 1, L, Cy); default the model's ``y_embedder.y_embedding``.
            fps, height, width, num_frames: video fps, size in pixels and frame count (conditioning and
                the timestep transform).
            num_steps: override ``num_sampling_steps`` (8 for a CHAI hit).
            callback: ``callback(step, t, z)`` before each model call, step 1-based, t (B,), z (B, C, T, H, W).
            x_mask: OpenSora frame-conditioning mask (B, T) in [0, 1] (bool allowed): 1 = generate,
                0 = keep the frame of ``z`` clean (image-to-video / extension). None for text-to-video.
            cfg_scale: override the guidance scale.
            generator: RNG for the noise re-added to conditioning frames (``x_mask`` only).
        """
        if z.ndim != 5:
            raise ValueError(f"z must be (B, C, T, H, W), got shape {tuple(z.shape)}. HINT: add the batch dim.")
        B = z.shape[0]
        if y.ndim != 4 or y.shape[0] != B:
            raise ValueError(
                f"y must be (B, 1, L, Cy) with B = {B} (z's batch), got shape {tuple(y.shape)}."
                " HINT: one caption per latent; the sampler appends the null captions itself."
            )
        if y_null is None:
            emb = getattr(getattr(model, "y_embedder", None), "y_embedding", None)
            if emb is None:
                raise ValueError("y_null is required for a model without y_embedder.y_embedding. HINT: pass y_null.")
            y_null = emb[None].repeat(B, 1, 1)[:, None]
        if tuple(y_null.shape) != tuple(y.shape):
            raise ValueError(
                f"y_null shape {tuple(y_null.shape)} must equal y's {tuple(y.shape)}."
                " HINT: pad both to model_max_length."
            )
        guidance = self.cfg_scale if cfg_scale is None else float(cfg_scale)
        device = z.device
        ts = self.timesteps(num_steps, height=height, width=width, num_frames=num_frames, device=device)
        n = ts.shape[0]

        model_args = dict(
            y=torch.cat([y, y_null.to(device=y.device, dtype=y.dtype)], 0),
            mask=mask,
            fps=fps.to(device) if torch.is_tensor(fps) else torch.full((B,), float(fps), device=device),
            height=torch.full((B,), float(height), device=device),
            width=torch.full((B,), float(width), device=device),
            num_frames=torch.full((B,), float(num_frames), device=device),
        )
        frame_mask = None
        if x_mask is not None:
            if x_mask.shape != (B, z.shape[2]):
                raise ValueError(
                    f"x_mask must be (B, T) = {(B, z.shape[2])}, got {tuple(x_mask.shape)}."
                    " HINT: one value per latent frame."
                )
            frame_mask = x_mask.to(device=device, dtype=torch.float32)
            noise_added = frame_mask == 1

        steps = range(n)
        if progress:
            try:
                from tqdm.auto import tqdm

                steps = tqdm(steps, total=n, desc="rflow")
            except ImportError:  # tqdm is an optional extra
                pass
        for i in steps:
            t = ts[i].expand(B).clone()
            if frame_mask is not None:
                x0 = z.clone()
                noise = torch.randn(x0.shape, generator=generator, device=device, dtype=x0.dtype)
                tt = (t / self.num_timesteps)[:, None, None, None, None]
                x_noise = (1 - tt) * x0 + tt * noise
                upper = frame_mask * self.num_timesteps >= t[:, None]  # (B, T)
                model_args["x_mask"] = upper.repeat(2, 1)
                add = upper & ~noise_added
                z = torch.where(add[:, None, :, None, None], x_noise, x0)
                noise_added = upper
            if callback is not None:
                callback(i + 1, t, z)
            z_in = torch.cat([z, z], 0)
            t_in = torch.cat([t, t], 0)
            pred = model(z_in, t_in, **model_args)[:, : z.shape[1]]
            pred_cond, pred_uncond = pred.chunk(2, dim=0)
            v = pred_uncond + guidance * (pred_cond - pred_uncond)
            dt = (ts[i] - ts[i + 1]) if i < n - 1 else ts[i]
            dt = dt / self.num_timesteps
            z = z + v * dt
            if frame_mask is not None:
                z = torch.where(upper[:, None, :, None, None], z, x0)
        return z


def capture_steps_for(
    full_steps: int,
    hit_steps: int,
    cache_steps: Sequence[int],
    *,
    height: float,
    width: float,
    num_frames: int,
    sampler: RFlowSampler | None = None,
) -> tuple[int, ...]:
    """1-based steps of the ``full_steps`` schedule whose timesteps are nearest to ``cache_steps`` of the
    ``hit_steps`` schedule (ties go to the earlier step). 240p 9:16, 51-72 frames, 30 vs 8 steps,
    cache steps (2, 3, 4) -> (5, 8, 12)."""
    sampler = sampler or RFlowSampler()
    full = sampler.timesteps(full_steps, height=height, width=width, num_frames=num_frames).double()
    hit = sampler.timesteps(hit_steps, height=height, width=width, num_frames=num_frames).double()
    out = []
    for k in cache_steps:
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= hit_steps:
            raise ValueError(f"cache step {k!r} is outside 1..{hit_steps}. HINT: steps are 1-based, e.g. (2, 3, 4).")
        out.append(int(torch.argmin((full - hit[k - 1]).abs()).item()) + 1)
    return tuple(out)
