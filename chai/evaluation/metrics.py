"""Image metrics and paired intervals of ``chai eval quality`` (numpy only, no torch import).

- :func:`psnr`: peak signal-to-noise ratio in dB over every element; ``inf`` for identical inputs.
- :func:`ssim`: mean structural similarity (Wang et al. 2004), Gaussian window, per frame and channel.
- :func:`paired_bootstrap`: the mean of per-pair values (or of per-pair differences) with a percentile
  bootstrap interval that resamples *pairs*, so both arms of a difference always move together.

Inputs are arrays or torch tensors of the same shape; videos are ``(T, H, W, C)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["PSNR_CAP_DB", "Interval", "capped_psnr", "paired_bootstrap", "psnr", "ssim"]

#: PSNR of identical clips is infinite; reports and means use this value instead (JSON has no infinity, and one
#: identical pair would otherwise make every mean infinite).
PSNR_CAP_DB = 100.0


def _as_float(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, without importing torch
        x = x.detach().cpu().double().numpy()
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} of type {type(x).__name__} cannot be read as a float array ({exc}).") from None


def _pair(a: Any, b: Any, name_a: str = "a", name_b: str = "b") -> tuple[np.ndarray, np.ndarray]:
    x, y = _as_float(a, name_a), _as_float(b, name_b)
    if x.shape != y.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}.\n"
            "HINT: compare videos of the same (T, H, W, 3) layout and resolution."
        )
    if x.size == 0:
        raise ValueError(f"{name_a} is empty (shape {tuple(x.shape)}).\nHINT: pass at least one pixel.")
    return x, y


def psnr(a: Any, b: Any, *, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB over all elements: ``10 log10(data_range^2 / MSE)``; inf if equal."""
    x, y = _pair(a, b)
    if not (data_range > 0 and math.isfinite(data_range)):
        raise ValueError(f"data_range={data_range!r} must be finite and > 0.\nHINT: 1.0 for pixels in [0, 1].")
    mse = float(np.mean((x - y) ** 2))
    if not math.isfinite(mse):
        raise ValueError("psnr: a or b holds NaN or inf.\nHINT: check the generation that produced them.")
    if mse == 0.0:
        return float("inf")
    return float(10.0 * math.log10(data_range**2 / mse))


def capped_psnr(a: Any, b: Any, *, data_range: float = 1.0) -> float:
    """:func:`psnr`, at most :data:`PSNR_CAP_DB` (identical clips give the cap, not inf)."""
    return min(psnr(a, b, data_range=data_range), PSNR_CAP_DB)


def _gaussian_window(win: int, sigma: float) -> np.ndarray:
    g = np.exp(-0.5 * ((np.arange(win) - (win - 1) / 2.0) / sigma) ** 2)
    return g / g.sum()


def _filter_valid(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 'valid' filtering of ``x (N, H, W)`` with the 1-D window ``g`` along H then W."""
    win = len(g)
    h, w = x.shape[1] - win + 1, x.shape[2] - win + 1
    rows = sum(g[k] * x[:, k : k + h, :] for k in range(win))
    return sum(g[k] * rows[:, :, k : k + w] for k in range(win))


def _as_planes(x: np.ndarray) -> np.ndarray:
    """(H, W) | (H, W, C) | (T, H, W, C) -> (N, H, W) planes."""
    if x.ndim == 2:
        return x[None]
    if x.ndim == 3:
        return np.moveaxis(x, -1, 0)
    if x.ndim == 4:
        return np.moveaxis(x, -1, 1).reshape(-1, x.shape[1], x.shape[2])
    raise ValueError(f"expected (H, W), (H, W, C) or (T, H, W, C), got shape {tuple(x.shape)}.\nHINT: see docstring.")


def ssim(
    a: Any,
    b: Any,
    *,
    data_range: float = 1.0,
    win_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> float:
    """Mean structural similarity (Wang et al. 2004) of ``a`` and ``b``.

    Inputs are ``(H, W)``, ``(H, W, C)`` or ``(T, H, W, C)``; SSIM is computed per frame and channel with a
    Gaussian window (``win_size``, ``sigma``) over the valid region (no padding) and averaged. The window
    shrinks to the frame (kept odd) for frames smaller than ``win_size``. Equal inputs give exactly 1.
    """
    x, y = _pair(a, b)
    px, py = _as_planes(x), _as_planes(y)
    win = min(win_size, px.shape[1], px.shape[2])
    win = win if win % 2 == 1 else win - 1
    if win < 1:
        raise ValueError(f"frames of shape {px.shape[1:]} are too small for SSIM.\nHINT: use frames >= 3 x 3.")
    g = _gaussian_window(win, sigma)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    mx, my = _filter_valid(px, g), _filter_valid(py, g)
    sxx = _filter_valid(px * px, g) - mx * mx
    syy = _filter_valid(py * py, g) - my * my
    sxy = _filter_valid(px * py, g) - mx * my
    num = (2 * mx * my + c1) * (2 * sxy + c2)
    den = (mx * mx + my * my + c1) * (sxx + syy + c2)
    return float(np.mean(num / den))


@dataclass(frozen=True)
class Interval:
    """A mean over ``n`` pairs with its percentile bootstrap interval [low, high] at ``confidence``."""

    mean: float
    low: float
    high: float
    n: int
    confidence: float
    resamples: int
    seed: int

    def excludes_zero(self) -> bool:
        """True when the whole interval lies on one side of zero (a difference that the data support)."""
        return self.low > 0.0 or self.high < 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def paired_bootstrap(
    values: Sequence[float],
    baseline: Sequence[float] | None = None,
    *,
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Mean of ``values`` (or of ``values - baseline``, pair by pair) with a percentile bootstrap interval.

    The ``n`` pairs are resampled with replacement ``resamples`` times (a ``numpy.random.default_rng(seed)``
    stream, so the interval is a function of the data and the seed); the interval holds the central
    ``confidence`` share of the resampled means. With ``baseline`` the differences are formed first, so a pair
    counts once with both of its arms. One pair gives a zero-width interval at its value.
    """
    x = np.asarray(values, dtype=np.float64)
    if baseline is not None:
        b = np.asarray(baseline, dtype=np.float64)
        if b.shape != x.shape:
            raise ValueError(
                f"paired_bootstrap: {x.shape[0] if x.ndim else 0} values but {b.shape[0] if b.ndim else 0} baseline "
                "values.\nHINT: pass one value per pair in both, in the same order."
            )
        x = x - b
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"paired_bootstrap: need a non-empty 1-D sequence, got shape {x.shape}.\nHINT: one per pair.")
    if not np.isfinite(x).all():
        raise ValueError(
            "paired_bootstrap: values must be finite (cap PSNR first: chai.evaluation.metrics.capped_psnr).\n"
            "HINT: identical clips have infinite PSNR."
        )
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"paired_bootstrap: confidence={confidence!r} must be in (0, 1).\nHINT: 0.95.")
    if int(resamples) < 1:
        raise ValueError(f"paired_bootstrap: resamples={resamples!r} must be >= 1.\nHINT: 10000.")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(int(resamples), x.size))
    means = x[idx].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    mean = float(x.mean())
    # the quantiles of a resampled mean can fall a rounding error outside [min, max]; never outside the mean
    return Interval(mean, float(min(low, mean)), float(max(high, mean)), int(x.size), float(confidence),
                    int(resamples), int(seed))  # fmt: skip
