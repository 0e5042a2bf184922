"""Deterministic analyzer of synthetic clips, prompt adherence, and the image metrics of the quality benchmark.

``analyze(video)`` reads a clip drawn in the vocabulary of ``research.eval.synthetic`` (from the generator, or
from a model trained on it) and predicts, from the pixels alone:

- the background colour (the palette colour whose tone segment ``[DARK_TONE * c, c]`` explains most pixels)
  and kind (solid / gradient / stripes / checker, from the per-pixel tone level of background pixels);
- the objects: foreground pixels (far from the background's tone segment) are labelled with their nearest
  palette colour and small pieces are dropped; every colour with enough core pixels is one object (the generator never
  repeats a colour in a clip), so the count is the number of such colours;
- per object: its colour, its shape (template matching: each candidate shape is fitted to the silhouette at
  its centroid, with the radius implied by its area and a small search over sub-pixel offsets and scale,
  scoring IoU outside pixels covered by other objects), its size (the fitted radius) and its motion (a
  linear fit of the centroid trajectory: net displacement gives left/right/up/down, a large vertical
  excursion without net displacement gives bouncing, otherwise static).

Degraded inputs (model samples): with estimated pixel noise the colours present are decided on a 3 x 3
median-filtered copy and small holes are filled; with blurred edges (``Analysis.blur``, estimated from the
band of blended pixels around objects) the shape templates are blurred and thresholded the same way.
Clean generator clips take neither path. Measured accuracies are in docs/quality.md.

Every prediction carries a heuristic confidence in [0, 1]. ``adherence(video, spec)`` scores each attribute
of a ``ClipSpec`` (or a generator caption) against the analysis; ``validate(n, seed)`` measures the
analyzer on the generator's own clips.

Metrics (numpy, float64 internally): ``psnr``, ``ssim`` (Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03,
valid region, per frame and channel, averaged), ``temporal_consistency`` (mean SSIM of consecutive frames)
and ``mask_iou``.

Shape legend: ``video (T, H, W, 3)`` float in ``value_range`` (default [0, 1]); masks ``(T, H, W)`` bool.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chai.evaluation.metrics import psnr, ssim  # the product's metrics: one implementation for both
from research.eval import synthetic as syn

__all__ = [
    "ATTRIBUTES",
    "Adherence",
    "Analysis",
    "ObjectPrediction",
    "adherence",
    "analyze",
    "blur_video",
    "mask_iou",
    "pixels_to_tokens",
    "psnr",
    "ssim",
    "temporal_consistency",
    "tokens_to_pixels",
    "validate",
]

#: Attributes scored by ``adherence`` and ``validate``.
ATTRIBUTES: tuple[str, ...] = (
    "background_kind",
    "background_colour",
    "count",
    "colour",
    "shape",
    "size",
    "motion",
)

_PALETTE = np.array([syn.PALETTE[c] for c in syn.COLOURS], dtype=np.float64)  # (P, 3)
_SEG_LO = syn.DARK_TONE - 0.05  # tone range of a background colour's segment (with a little slack)
_SEG_HI = 1.05
_BG_TOL = 0.12  # a pixel within this RGB distance of a segment is explained by that background colour
_CORE_TOL = 0.15  # a pixel this close to a palette colour is a core pixel of that colour
_FG_TOL = 0.15  # a pixel farther than this from the background segment is foreground
_BLUR_MAX_NOISE = 0.06  # above this estimated noise sigma, edges are not analysed for blur
_NOISE_FILTER = 0.025  # estimated pixel-noise sigma above which the clip is median filtered before analysis
_SIZE_EDGES = np.sqrt(np.array(list(syn.SIZES.values()))[:-1] * np.array(list(syn.SIZES.values()))[1:])


# ----------------------------------------------------------------------------------------------------------------
# Result containers
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class ObjectPrediction:
    """One detected object.

    Attributes:
        colour, shape, size, motion: predicted attributes (vocabulary of ``research.eval.synthetic``).
        *_conf: heuristic confidences in [0, 1].
        pixels: visible pixels summed over frames.
        mask: ``(T, H, W)`` bool, the pixels assigned to this object.
        centers: ``(T, 2)`` float64 centroid ``(x, y)`` in pixels, NaN where the object is not visible.
        radius: fitted nominal radius as a fraction of the frame side.
        shape_scores: mean template IoU of every candidate shape.
        displacement: ``(dx, dy)`` net displacement over the clip from the linear fit, in frame sides.
    """

    colour: str
    colour_conf: float
    shape: str
    shape_conf: float
    size: str
    size_conf: float
    motion: str
    motion_conf: float
    pixels: int
    radius: float
    displacement: tuple[float, float]
    shape_scores: dict[str, float] = field(repr=False)
    mask: np.ndarray = field(repr=False)
    centers: np.ndarray = field(repr=False)


@dataclass
class Analysis:
    """What ``analyze`` read from a clip. ``objects`` are sorted by visible pixels, largest first."""

    background_kind: str
    background_kind_conf: float
    background_colour: str
    background_colour_conf: float
    background_axis: str | None
    objects: list[ObjectPrediction]
    blur: float = 0.0
    foreground: np.ndarray = field(default=None, repr=False)
    background_level: np.ndarray = field(default=None, repr=False)

    @property
    def count(self) -> int:
        return len(self.objects)

    @property
    def dominant_colour(self) -> str | None:
        """Colour of the object with the most visible pixels (None when no object was found)."""
        return self.objects[0].colour if self.objects else None


@dataclass
class Adherence:
    """Per-attribute agreement of an analysis with a spec.

    ``scores[a]`` is in [0, 1]: 0/1 for clip-level attributes (background kind and colour, count), and the
    fraction of the spec's objects whose attribute matches for per-object attributes (objects are paired by
    the assignment that maximises the number of matching attributes). ``score`` is their mean.
    """

    scores: dict[str, float]
    assignment: tuple[int | None, ...]
    analysis: Analysis = field(repr=False)

    @property
    def score(self) -> float:
        return float(np.mean([self.scores[a] for a in ATTRIBUTES]))


# ----------------------------------------------------------------------------------------------------------------
# Input handling
# ----------------------------------------------------------------------------------------------------------------


def _to_numpy(x: Any, name: str) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, without importing torch
        return x.detach().cpu().float().numpy()
    try:
        return np.asarray(x)
    except Exception as exc:  # pragma: no cover - defensive
        raise TypeError(f"{name} of type {type(x).__name__} cannot be read as an array.") from exc


def _as_video(video: Any, value_range: tuple[float, float]) -> np.ndarray:
    """Validate and map a video to float64 ``(T, H, W, 3)`` in [0, 1]."""
    if isinstance(video, syn.Clip):
        video = video.video
    v = _to_numpy(video, "video")
    if v.ndim != 4 or v.shape[-1] != 3:
        raise ValueError(
            f"video must have shape (T, H, W, 3), got {tuple(v.shape)} ({v.dtype}).\n"
            "HINT: a model output in (C, T, H, W) layout needs .transpose(1, 2, 3, 0) (torch: .permute(1, 2, 3, 0))."
        )
    if v.shape[0] < 1 or v.shape[1] < 8 or v.shape[2] < 8:
        raise ValueError(f"video shape {tuple(v.shape)} is too small.\nHINT: frames >= 1 and H, W >= 8.")
    if not np.issubdtype(v.dtype, np.floating):
        raise TypeError(
            f"video must be floating point, got dtype {v.dtype}.\nHINT: convert uint8 frames with frames / 255.0."
        )
    lo, hi = float(value_range[0]), float(value_range[1])
    if not hi > lo:
        raise ValueError(f"value_range={value_range!r} must be (low, high) with high > low.\nHINT: (0, 1) or (-1, 1).")
    v = (v.astype(np.float64) - lo) / (hi - lo)
    if not np.isfinite(v).all():
        raise ValueError("video contains NaN or infinite values.\nHINT: check the sampler output before analysing it.")
    return np.clip(v, 0.0, 1.0)


# ----------------------------------------------------------------------------------------------------------------
# Background
# ----------------------------------------------------------------------------------------------------------------


def _segment_distance(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance of every pixel to every palette colour's tone segment, and the (unclipped) tone.

    v: (..., 3). Returns dist (..., P) and tone (..., P).
    """
    cc = (_PALETTE * _PALETTE).sum(axis=1)  # (P,)
    tone = v @ _PALETTE.T / cc  # (..., P)
    k = np.clip(tone, _SEG_LO, _SEG_HI)
    diff = v[..., None, :] - k[..., None] * _PALETTE  # (..., P, 3)
    return np.sqrt((diff * diff).sum(axis=-1)), tone


def _classify_background(level: np.ndarray) -> tuple[str, float, str | None]:
    """Kind, confidence and axis from the per-pixel tone map ``level (H, W)`` (NaN where never background)."""
    valid = np.isfinite(level)
    vals = level[valid]
    if vals.size < 16:
        return "solid", 0.0, None
    p5, p95 = np.percentile(vals, [5, 95])
    spread = float(p95 - p5)
    # Solid: one tone. The generator's patterns span 1 - DARK_TONE = 0.45.
    if spread < 0.15:
        return "solid", float(np.clip(1.0 - spread / 0.15, 0.0, 1.0)), None
    # How much of the tone variance a per-column profile (pattern along x) or a per-row profile (along y)
    # explains: ~1 for stripes and gradients along that axis, low for both axes on a checker board.
    var = float(np.var(vals))
    explained: dict[str, float] = {}
    profiles: dict[str, np.ndarray] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # columns without background pixels
        for ax_name, reduce_axis in (("x", 0), ("y", 1)):
            prof = np.nanmean(level, axis=reduce_axis)
            pred = prof[None, :] if ax_name == "x" else prof[:, None]
            resid = (level - pred)[valid]
            explained[ax_name] = 1.0 - float(np.nanvar(resid)) / var
            profiles[ax_name] = prof
    axis = "x" if explained["x"] >= explained["y"] else "y"
    best = explained[axis]
    if best < 0.6:
        return "checker", float(np.clip((0.6 - best) / 0.4, 0.0, 1.0)), None
    # Along the pattern axis: a gradient is a straight ramp, stripes oscillate around a flat line.
    prof = profiles[axis]
    ok = np.isfinite(prof)
    pos = np.nonzero(ok)[0].astype(np.float64)
    r2 = float(np.corrcoef(pos, prof[ok])[0, 1] ** 2) if ok.sum() >= 3 and np.std(prof[ok]) > 0 else 0.0
    r2 = 0.0 if not np.isfinite(r2) else r2
    pattern_conf = float(np.clip((best - 0.6) / 0.3, 0.0, 1.0))
    if r2 > 0.8:
        return "gradient", pattern_conf * float(np.clip((r2 - 0.8) / 0.15, 0.0, 1.0)), axis
    return "stripes", pattern_conf * float(np.clip((0.8 - r2) / 0.5, 0.0, 1.0)), axis


# ----------------------------------------------------------------------------------------------------------------
# Objects
# ----------------------------------------------------------------------------------------------------------------


def _shifts(x: np.ndarray, fill: Any) -> list[np.ndarray]:
    """The 9 views of ``x (T, H, W, ...)`` shifted by -1..1 in H and W (border padded with ``fill``)."""
    h, w = x.shape[1:3]
    pad = [(0, 0), (1, 1), (1, 1)] + [(0, 0)] * (x.ndim - 3)
    if fill == "edge":
        xp = np.pad(x, pad, mode="edge")
    else:
        xp = np.pad(x, pad, constant_values=fill)
    return [xp[:, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]


def _estimate_noise(v: np.ndarray) -> float:
    """Robust pixel-noise sigma: median absolute difference of horizontal neighbours (clean clips give ~0)."""
    d = np.abs(np.diff(v, axis=2))
    return float(np.median(d) / (0.6745 * math.sqrt(2.0)))


def _median3(v: np.ndarray) -> np.ndarray:
    """3 x 3 spatial median per frame and channel of ``v (T, H, W, C)``."""
    return np.median(np.stack(_shifts(v, "edge")), axis=0)


def _components(mask: np.ndarray, max_iter: int = 256) -> np.ndarray:
    """8-connected component labels of ``mask (T, H, W)`` (per frame); -1 outside the mask.

    Label propagation: every pixel takes the largest label in its 3 x 3 neighbourhood until nothing changes.
    """
    lab = np.where(mask, np.arange(mask.size).reshape(mask.shape), -1)
    for _ in range(max_iter):
        new = np.where(mask, np.max(np.stack(_shifts(lab, -1)), axis=0), -1)
        if np.array_equal(new, lab):
            break
        lab = new
    return lab


def _nearest_colour_labels(
    v: np.ndarray,
    foreground: np.ndarray | None,
    bg_idx: int,
    candidates: np.ndarray,
    bg_dist: np.ndarray | None = None,
) -> np.ndarray:
    """Palette index (from ``candidates``) nearest to each pixel, -1 for background.

    With ``foreground`` given, pixels outside it are background. With ``bg_dist`` instead, a pixel is
    background when the background segment is nearer than every candidate colour.
    """
    cand = np.asarray([c for c in candidates if c != bg_idx], dtype=np.int64)
    if cand.size == 0:
        return np.full(v.shape[:3], -1, dtype=np.int64)
    d = np.sqrt(((v[..., None, :] - _PALETTE[cand]) ** 2).sum(axis=-1))  # (T, H, W, K)
    best = cand[np.argmin(d, axis=-1)]
    if foreground is not None:
        return np.where(foreground, best, -1)
    return np.where(d.min(axis=-1) < bg_dist, best, -1)


def _drop_small_pieces(label: np.ndarray, min_pixels: float) -> np.ndarray:
    """Remove 8-connected same-colour pieces smaller than ``min_pixels`` (per frame)."""
    out = np.full_like(label, -1)
    for p in np.unique(label[label >= 0]):
        comp = _components(label == p)
        sizes = np.bincount(comp[comp >= 0].ravel())
        keep = (comp >= 0) & (sizes[np.maximum(comp, 0)] >= min_pixels)
        out[keep] = p
    return out


def _fill_holes(label: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Give a background pixel the colour of at least 5 of its 8 neighbours (fills noise holes, not corners)."""
    out = label.copy()
    for p in candidates:
        n = np.sum(np.stack(_shifts(label == p, False)), axis=0) - (label == p)
        out[(label < 0) & (n >= 5)] = p
    return out


def _blur_planes(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur (zero padded, same size) of ``x (K, h, w)`` along its last two axes."""
    rad = max(1, math.ceil(3 * sigma))
    g = np.exp(-0.5 * (np.arange(-rad, rad + 1) / sigma) ** 2)
    g /= g.sum()
    h, w = x.shape[1:]
    xp = np.pad(x, ((0, 0), (rad, rad), (0, 0)))
    x = sum(g[k] * xp[:, k : k + h, :] for k in range(2 * rad + 1))
    xp = np.pad(x, ((0, 0), (0, 0), (rad, rad)))
    return sum(g[k] * xp[:, :, k : k + w] for k in range(2 * rad + 1))


def _estimate_blur(v: np.ndarray, bg_dist: np.ndarray, foreground: np.ndarray) -> float:
    """Blur sigma (pixels) of the object edges, 0 for sharp clips.

    A blurred edge leaves a band of blended pixels, far both from the background's tone segment and from
    every palette colour, about 3 sigma pixels wide per pixel of object boundary (calibrated on generator
    clips blurred with sigma 0.5 to 1.4). Estimates below 0.35 px count as sharp.
    """
    if not foreground.any():
        return 0.0
    pal = np.sqrt(((v[..., None, :] - _PALETTE) ** 2).sum(axis=-1)).min(axis=-1)
    # Only blends within 2 px of an object count (stray noise far from objects says nothing about edges).
    near = foreground.copy()
    for _ in range(2):
        near = np.max(np.stack(_shifts(near, False)), axis=0)
    mixed = int(np.count_nonzero((bg_dist > 0.1) & (pal > 0.1) & near))
    p = np.pad(foreground, ((0, 0), (1, 1), (1, 1)))
    inner = p[:, 1:-1, 1:-1] & p[:, :-2, 1:-1] & p[:, 2:, 1:-1] & p[:, 1:-1, :-2] & p[:, 1:-1, 2:]
    boundary = int(np.count_nonzero(foreground & ~inner))
    sigma = mixed / max(boundary, 1) / 3.0
    return 0.0 if sigma < 0.35 else float(min(sigma, 2.0))


_TIE_BREAK = 0.05
_OFFS_CLEAR = np.array([-0.5, 0.0, 0.5])
_SCALES_CLEAR = np.array([0.9, 1.0, 1.1])
_OFFS_OCCLUDED = np.arange(-2.0, 2.01, 0.5)
_SCALES_OCCLUDED = np.array([0.95, 1.05, 1.15, 1.25, 1.35])


def _template_iou(
    shape: str,
    mask: np.ndarray,
    care: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    r: np.ndarray,
    blur: float = 0.0,
) -> np.ndarray:
    """Match score of ``mask (H, W)`` with K templates of ``shape`` (centres ``cx, cy``, radii ``r``: (K,) px).

    ``blur`` > 0 compares with blurred templates thresholded at 0.5. The score is the IoU over ``care`` pixels (pixels of other objects, which may hide this one, count
    neither for nor against a template) plus ``_TIE_BREAK`` times the plain IoU.
    """
    h, w = mask.shape
    # Work on a crop that holds the object and every candidate template (shapes reach 1.15 radii out);
    # pixels outside it are in neither the mask nor any template, so the IoUs are unchanged.
    half = 1.15 * float(r.max()) + 1.5
    x0, x1 = max(0, int(cx.min() - half)), min(w, math.ceil(cx.max() + half) + 1)
    y0, y1 = max(0, int(cy.min() - half)), min(h, math.ceil(cy.max() + half) + 1)
    ys, xs = np.nonzero(mask)
    x0, x1 = min(x0, int(xs.min())), max(x1, int(xs.max()) + 1)
    y0, y1 = min(y0, int(ys.min())), max(y1, int(ys.max()) + 1)
    mask, care = mask[y0:y1, x0:x1], care[y0:y1, x0:x1]
    dx = (np.arange(x0, x1, dtype=np.float64) + 0.5)[None, None, :] - cx[:, None, None]  # (K, 1, w)
    dy = (np.arange(y0, y1, dtype=np.float64) + 0.5)[None, :, None] - cy[:, None, None]  # (K, h, 1)
    full = syn.shape_mask(shape, dx, dy, r[:, None, None])  # (K, h, w)
    if blur > 0:
        # A blurred clip's silhouette is (about) the 50 % level set of the blurred shape: corners round
        # off and star notches fill in. Compare with templates that went through the same.
        full = _blur_planes(full.astype(np.float64), blur) >= 0.5
    tmpl = full & care
    m = mask & care
    iou = np.count_nonzero(tmpl & m, axis=(1, 2)) / np.maximum(np.count_nonzero(tmpl | m, axis=(1, 2)), 1)
    # Tie-break with the plain IoU: a template may only grow into another object's pixels when that
    # object really hides it, and then it scores (almost) the same as a tight fit with the plain IoU too.
    plain = np.count_nonzero(full & mask, axis=(1, 2)) / np.maximum(np.count_nonzero(full | mask, axis=(1, 2)), 1)
    return iou + _TIE_BREAK * plain


def _fit_shape(
    mask: np.ndarray, ignore: np.ndarray, occluded: bool, blur: float = 0.0
) -> tuple[dict[str, float], dict[str, float]]:
    """Best template IoU and fitted radius (pixels) of every shape for one frame's silhouette ``(H, W)``.

    The template starts at the silhouette's centroid with the radius its area implies; a small grid of
    offsets and scales refines it (a wider one, biased to larger radii, when another object may hide part).
    """
    ys, xs = np.nonzero(mask)
    area = float(len(xs))
    cx, cy = xs.mean() + 0.5, ys.mean() + 0.5
    offs, scales = (_OFFS_OCCLUDED, _SCALES_OCCLUDED) if occluded else (_OFFS_CLEAR, _SCALES_CLEAR)
    ocx, ocy, osc = (a.ravel() for a in np.meshgrid(offs, offs, scales, indexing="ij"))
    care = ~ignore
    scores: dict[str, float] = {}
    radii: dict[str, float] = {}
    for shape in syn.SHAPES:
        r = math.sqrt(area / syn.shape_area(shape)) * osc
        # The blur estimate is noisy (about +-25 %), so blurred templates try three sigmas around it.
        blurs = (blur,) if blur <= 0 else (0.75 * blur, blur, 1.25 * blur)
        best_iou, best_r = -1.0, 0.0
        for b in blurs:
            iou = _template_iou(shape, mask, care, cx + ocx, cy + ocy, r, b)
            k = int(np.argmax(iou))
            if iou[k] > best_iou:
                best_iou, best_r = float(iou[k]), float(r[k])
        scores[shape] = best_iou / (1.0 + _TIE_BREAK)
        radii[shape] = best_r
    return scores, radii


def _fit_center(
    mask: np.ndarray, ignore: np.ndarray, shape: str, radius_px: float, blur: float = 0.0
) -> tuple[float, float]:
    """Centre ``(x, y)`` of the best ``shape`` template of known radius for a partly hidden silhouette."""
    ys, xs = np.nonzero(mask)
    cx, cy = xs.mean() + 0.5, ys.mean() + 0.5
    offs = np.arange(-3.0, 3.01, 0.5)
    ocx, ocy = (a.ravel() for a in np.meshgrid(offs, offs, indexing="ij"))
    iou = _template_iou(shape, mask, ~ignore, cx + ocx, cy + ocy, np.full(ocx.shape, radius_px), blur)
    k = int(np.argmax(iou))
    return float(cx + ocx[k]), float(cy + ocy[k])


def _touching(mask: np.ndarray, other: np.ndarray) -> np.ndarray:
    """(T,) bool: the object's pixels touch (8-neighbourhood) another object's pixels in that frame."""
    h, w = mask.shape[1:]
    m = np.pad(mask, ((0, 0), (1, 1), (1, 1)))
    grown = np.zeros_like(mask)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            grown |= m[:, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
    return (grown & other).any(axis=(1, 2))


def _classify_motion(centers: np.ndarray, weights: np.ndarray, size: int) -> tuple[str, float, tuple[float, float]]:
    """Motion from the centroid trajectory ``centers (T, 2)`` (pixels, NaN where missing)."""
    t_count = len(centers)
    ok = np.isfinite(centers[:, 0]) & (weights > 0)
    if ok.sum() < 2:
        return "static", 0.0, (0.0, 0.0)
    t = np.arange(t_count, dtype=np.float64)[ok] / max(t_count - 1, 1)
    x = centers[ok, 0] / size
    y = centers[ok, 1] / size
    wts = weights[ok]
    design = np.stack([np.ones_like(t), t], axis=1) * np.sqrt(wts)[:, None]
    coef_x = np.linalg.lstsq(design, x * np.sqrt(wts), rcond=None)[0]
    coef_y = np.linalg.lstsq(design, y * np.sqrt(wts), rcond=None)[0]
    dx, dy = float(coef_x[1]), float(coef_y[1])  # net displacement over the clip, in frame sides
    disp = max(abs(dx), abs(dy))
    linear_thr = 0.4 * syn.MOTION_DISTANCE
    if disp > linear_thr:
        conf = float(np.clip((disp - linear_thr) / (syn.MOTION_DISTANCE - linear_thr), 0.0, 1.0))
        if abs(dx) >= abs(dy):
            return ("right" if dx > 0 else "left"), conf, (dx, dy)
        return ("down" if dy > 0 else "up"), conf, (dx, dy)
    resid = y - (coef_y[0] + coef_y[1] * t)
    excursion = float(resid.max() - resid.min())
    bounce_thr = 0.4 * syn.BOUNCE_HEIGHT
    if excursion > bounce_thr:
        conf = float(np.clip((excursion - bounce_thr) / (syn.BOUNCE_HEIGHT - bounce_thr), 0.0, 1.0))
        return "bouncing", conf, (dx, dy)
    conf = float(np.clip(1.0 - max(disp / linear_thr, excursion / bounce_thr), 0.0, 1.0))
    return "static", conf, (dx, dy)


def _size_label(radius: float) -> tuple[str, float]:
    names = list(syn.SIZES)
    idx = int(np.searchsorted(_SIZE_EDGES, radius))
    # Confidence: log-distance to the nearest decision edge relative to the half gap between sizes.
    logr = math.log(max(radius, 1e-6))
    gaps = np.abs(np.log(_SIZE_EDGES) - logr)
    half_gap = 0.5 * float(np.min(np.diff(np.log(np.array(list(syn.SIZES.values()))))))
    return names[idx], float(np.clip(gaps.min() / half_gap, 0.0, 1.0))


def analyze(video: Any, *, value_range: tuple[float, float] = (0.0, 1.0), max_shape_frames: int = 4) -> Analysis:
    """Read the background and objects of a clip.

    Args:
        video: ``(T, H, W, 3)`` float array (numpy or torch) or a ``Clip``; H and W as rendered (square).
        value_range: the range the video is in; ``(-1, 1)`` for raw model outputs.
        max_shape_frames: template matching runs on this many frames where the object is largest.

    Returns:
        ``Analysis`` with background kind/colour/axis, objects (largest first) and confidences.
    """
    v = _as_video(video, value_range)
    t_count, h, w, _ = v.shape
    size = int(min(h, w))
    # Noisy inputs (model samples): which colours are present is decided on a 3 x 3 median filtered copy,
    # while pixels are still labelled on the original (a median filter would round corners off shapes).
    noise_sigma = _estimate_noise(v)
    noisy = noise_sigma > _NOISE_FILTER
    vs = _median3(v) if noisy else v
    dist_s, tone_s = _segment_distance(vs)  # (T, H, W, P) each

    # -- background colour: the segment that explains the most pixels --
    explained = (dist_s < _BG_TOL).sum(axis=(0, 1, 2)).astype(np.float64)
    order = np.argsort(-explained, kind="stable")
    bg_idx = int(order[0])
    total = float(t_count * h * w)
    bg_colour_conf = float(np.clip((explained[order[0]] - explained[order[1]]) / (0.5 * total), 0.0, 1.0))

    # -- object colours: foreground pixels take their nearest palette colour (never the background's) --
    smallest = min(syn.shape_area(s) for s in syn.SHAPES) * (min(syn.SIZES.values()) * size) ** 2
    min_piece = max(2.0, 0.15 * smallest)
    label_s = _nearest_colour_labels(vs, dist_s[..., bg_idx] > _FG_TOL, bg_idx, np.arange(len(syn.COLOURS)))
    label_s = _drop_small_pieces(label_s, min_piece)
    # A colour is an object if its *core* pixels (close to the palette colour itself, so not blends at a
    # blurred edge) average at least 20 % of the smallest possible object's area per frame.
    pal_dist = np.sqrt(((vs[..., None, :] - _PALETTE) ** 2).sum(axis=-1)).min(axis=-1)
    core = label_s[(label_s >= 0) & (pal_dist < _CORE_TOL)]
    counts = np.bincount(core.ravel(), minlength=len(syn.COLOURS))
    obj_idx = [int(p) for p in np.argsort(-counts, kind="stable") if counts[p] >= 0.2 * smallest * t_count]

    # Label the original pixels: the background segment or the nearest detected colour, then clean up.
    dist, tone = _segment_distance(v) if noisy else (dist_s, tone_s)
    cand = np.asarray(obj_idx, dtype=np.int64)
    label = _nearest_colour_labels(v, None, bg_idx, cand, bg_dist=dist[..., bg_idx])
    label = _drop_small_pieces(label, min_piece)
    if noisy:  # noise punches holes into objects; clean clips keep their exact silhouettes (star notches)
        label = _fill_holes(label, cand)
    # Re-check the pixel count on the final labels (the noisy path may lose a colour's pixels).
    counts = np.bincount(label[label >= 0].ravel(), minlength=len(syn.COLOURS))
    obj_idx = [int(p) for p in np.argsort(-counts, kind="stable") if counts[p] >= 0.3 * smallest * t_count]
    label = np.where(np.isin(label, obj_idx), label, -1)
    fg_any = label >= 0

    # -- background kind from the median tone of each pixel over the frames where it is background --
    bg_tone = np.where(fg_any | (dist[..., bg_idx] > _FG_TOL), np.nan, tone[..., bg_idx])
    level = np.full((h, w), np.nan)
    seen = np.isfinite(bg_tone).any(axis=0)
    if seen.any():
        level[seen] = np.nanmedian(bg_tone[:, seen], axis=0)
    if noisy:  # a 3 x 3 median of the tone map: smooths residual noise, keeps stripe and checker edges
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN neighbourhoods stay NaN
            level = np.nanmedian(np.stack(_shifts(level[None], np.nan)), axis=0)[0]
    kind, kind_conf, axis = _classify_background(level)

    # Heavy noise also leaves pixels far from every colour; the blur estimate is only trusted below it.
    blur = _estimate_blur(vs, dist_s[..., bg_idx], fg_any) if noise_sigma < _BLUR_MAX_NOISE else 0.0

    objects: list[ObjectPrediction] = []
    for p in obj_idx:
        mask = label == p
        ignore = fg_any & ~mask  # other objects may hide this one: their pixels are not evidence
        areas = mask.sum(axis=(1, 2))
        # Colour confidence: how far the object's pixels are from their second-nearest colour, on average.
        pix = v[mask]
        d_all = np.sqrt(((pix[:, None, :] - _PALETTE) ** 2).sum(axis=-1))
        d_all[:, bg_idx] = np.inf
        d_sorted = np.sort(d_all, axis=1)
        colour_conf = float(np.clip(np.mean(d_sorted[:, 1] - d_sorted[:, 0]) / 0.3, 0.0, 1.0))
        touching = _touching(mask, ignore)
        # Shape: template IoU averaged over the largest frames, preferring frames no other object touches.
        visible = [int(t) for t in np.nonzero(areas >= 3)[0]]
        clear = [t for t in visible if not touching[t]]
        pool = clear if clear else visible
        shape_frames = sorted(pool, key=lambda t: (-int(areas[t]), t))[:max_shape_frames]
        shape_scores = {s: 0.0 for s in syn.SHAPES}
        radius_px: dict[str, list[float]] = {s: [] for s in syn.SHAPES}
        for t in shape_frames:
            sc, rad = _fit_shape(mask[t], ignore[t], occluded=bool(touching[t]), blur=blur)
            for s in syn.SHAPES:
                shape_scores[s] += sc[s] / len(shape_frames)
                radius_px[s].append(rad[s])
        ranked = sorted(syn.SHAPES, key=lambda s: -shape_scores[s])
        shape = ranked[0]
        shape_conf = float(np.clip((shape_scores[ranked[0]] - shape_scores[ranked[1]]) / 0.1, 0.0, 1.0))
        r_px = float(np.median(radius_px[shape])) if radius_px[shape] else 0.0
        radius = r_px / size
        # Centre trajectory: the centroid where the object is clear; where another object touches it, the
        # centre of the best-fitting template (a centroid would be pulled away from the hidden part).
        centers = np.full((t_count, 2), np.nan)
        for t in visible:
            if touching[t] and r_px > 0:
                centers[t] = _fit_center(mask[t], ignore[t], shape, r_px, blur)
            else:
                ys, xs = np.nonzero(mask[t])
                centers[t] = (xs.mean() + 0.5, ys.mean() + 0.5)
        weights = np.where(areas >= 3, 1.0, 0.0)
        motion, motion_conf, disp = _classify_motion(centers, weights, size)
        size_name, size_conf = _size_label(radius)
        objects.append(
            ObjectPrediction(
                colour=syn.COLOURS[p],
                colour_conf=colour_conf,
                shape=shape,
                shape_conf=shape_conf,
                size=size_name,
                size_conf=size_conf,
                motion=motion,
                motion_conf=motion_conf,
                pixels=int(areas.sum()),
                radius=radius,
                displacement=disp,
                shape_scores=shape_scores,
                mask=mask,
                centers=centers,
            )
        )
    return Analysis(
        background_kind=kind,
        background_kind_conf=kind_conf,
        background_colour=syn.COLOURS[bg_idx],
        background_colour_conf=bg_colour_conf,
        background_axis=axis,
        objects=objects,
        blur=blur,
        foreground=fg_any,
        background_level=level,
    )


# ----------------------------------------------------------------------------------------------------------------
# Adherence and validation
# ----------------------------------------------------------------------------------------------------------------

_OBJECT_ATTRS = ("colour", "shape", "size", "motion")


def adherence(
    clip_or_video: Any,
    spec: syn.ClipSpec | str,
    *,
    value_range: tuple[float, float] = (0.0, 1.0),
) -> Adherence:
    """Per-attribute agreement of a clip with ``spec``.

    Args:
        clip_or_video: a ``Clip``, a ``(T, H, W, 3)`` video, or an ``Analysis`` already computed.
        spec: the ``ClipSpec`` the clip should show, or a caption written by the generator (parsed with
            ``research.eval.synthetic.parse_caption``).
        value_range: the video's value range (ignored for an ``Analysis``).
    """
    if isinstance(spec, str):
        spec = syn.parse_caption(spec)
    if not isinstance(spec, syn.ClipSpec):
        raise TypeError(
            f"spec must be a ClipSpec or a caption string, got {type(spec).__name__}.\n"
            "HINT: pass clip.spec or clip.caption."
        )
    an = clip_or_video if isinstance(clip_or_video, Analysis) else analyze(clip_or_video, value_range=value_range)
    preds = an.objects[:4]  # bound the brute-force pairing; real clips hold one or two objects
    n_spec = len(spec.objects)
    best_total, best_assign = -1, tuple([None] * n_spec)
    for perm in itertools.permutations(list(range(len(preds))) + [None] * n_spec, n_spec):
        total = 0
        for so, pi in zip(spec.objects, perm):
            if pi is not None:
                total += sum(getattr(preds[pi], a) == getattr(so, a) for a in _OBJECT_ATTRS)
        if total > best_total:
            best_total, best_assign = total, perm
    scores: dict[str, float] = {
        "background_kind": float(an.background_kind == spec.background.kind),
        "background_colour": float(an.background_colour == spec.background.colour),
        "count": float(an.count == n_spec),
    }
    for a in _OBJECT_ATTRS:
        hits = [pi is not None and getattr(preds[pi], a) == getattr(so, a) for so, pi in zip(spec.objects, best_assign)]
        scores[a] = float(np.mean(hits))
    return Adherence(scores=scores, assignment=tuple(best_assign), analysis=an)


def blur_video(video: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of every frame of ``video (T, H, W, C)`` (edge padded), a stand-in for soft model samples."""
    v = np.asarray(video, dtype=np.float64)
    if sigma <= 0:
        return v.copy()
    rad = math.ceil(3 * sigma)
    g = np.exp(-0.5 * (np.arange(-rad, rad + 1) / sigma) ** 2)
    g /= g.sum()
    for ax in (1, 2):
        pad = [(0, 0)] * v.ndim
        pad[ax] = (rad, rad)
        vp = np.pad(v, pad, mode="edge")
        n_ax = v.shape[ax]
        v = sum(g[k] * np.take(vp, np.arange(k, k + n_ax), axis=ax) for k in range(2 * rad + 1))
    return v


def validate(
    n: int = 500,
    seed: int = 1234,
    *,
    frames: int = 16,
    size: int = 32,
    noise: float = 0.0,
    blur: float = 0.0,
) -> dict[str, Any]:
    """Accuracy of the analyzer on ``n`` generator clips of stream ``seed``.

    Degradations, applied to each rendered clip in this order before analysis: ``blur`` (Gaussian sigma in
    pixels, ``blur_video``), then ``noise`` (Gaussian pixel noise seeded by the clip's ``spec.seed``), then
    clipping to [0, 1].

    Returns a dict: ``accuracy`` (attribute -> fraction correct; per-object attributes are averaged over
    objects), ``n_clips``, ``n_objects``, ``shape_confusion`` / ``motion_confusion`` / ``background_confusion``
    (Counter of (true, predicted) over objects paired by the adherence assignment; unpaired objects count
    as predicted ``None``), and ``mean_score``.
    """
    correct = {a: 0.0 for a in ATTRIBUTES}
    weight = {a: 0 for a in ATTRIBUTES}
    confusion: dict[str, Counter] = {"shape": Counter(), "motion": Counter(), "background": Counter()}
    n_objects = 0
    for clip in syn.generate(n, seed, frames=frames, size=size):
        video = clip.video
        if blur > 0 or noise > 0:
            video = blur_video(video, blur)
            if noise > 0:
                rng = np.random.default_rng([int(clip.spec.seed) & 0xFFFFFFFF, 0x5EED])
                video = video + rng.normal(0.0, noise, video.shape)
            video = np.clip(video, 0.0, 1.0)
        adh = adherence(video, clip.spec)
        k = len(clip.spec.objects)
        n_objects += k
        for a in ATTRIBUTES:
            wgt = k if a in _OBJECT_ATTRS else 1
            correct[a] += adh.scores[a] * wgt
            weight[a] += wgt
        for so, pi in zip(clip.spec.objects, adh.assignment):
            pred = adh.analysis.objects[pi] if pi is not None else None
            confusion["shape"][(so.shape, pred.shape if pred else None)] += 1
            confusion["motion"][(so.motion, pred.motion if pred else None)] += 1
        confusion["background"][(clip.spec.background.kind, adh.analysis.background_kind)] += 1
    accuracy = {a: correct[a] / max(weight[a], 1) for a in ATTRIBUTES}
    return {
        "accuracy": accuracy,
        "mean_score": float(np.mean(list(accuracy.values()))),
        "n_clips": n,
        "n_objects": n_objects,
        "seed": seed,
        "frames": frames,
        "size": size,
        "noise": noise,
        "blur": blur,
        "shape_confusion": confusion["shape"],
        "motion_confusion": confusion["motion"],
        "background_confusion": confusion["background"],
    }


# ----------------------------------------------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------------------------------------------


def temporal_consistency(video: Any, *, data_range: float = 1.0) -> float:
    """Mean SSIM between consecutive frames of ``video (T, H, W, C)`` (T >= 2); 1 for a frozen clip.

    Moving content lowers it by design, so compare variants of the same prompt, not different prompts.
    """
    v = np.asarray(_to_numpy(video.video if isinstance(video, syn.Clip) else video, "video"), dtype=np.float64)
    if v.ndim != 4 or v.shape[0] < 2:
        raise ValueError(
            f"video must have shape (T, H, W, C) with T >= 2, got {tuple(v.shape)}.\nHINT: pass a whole clip."
        )
    return float(np.mean([ssim(v[t], v[t + 1], data_range=data_range) for t in range(v.shape[0] - 1)]))


def mask_iou(a: Any, b: Any) -> float:
    """Intersection over union of two boolean masks of the same shape; 1.0 when both are empty."""
    x = np.asarray(_to_numpy(a, "a"))
    y = np.asarray(_to_numpy(b, "b"))
    if x.shape != y.shape:
        raise ValueError(
            f"masks must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}.\n"
            "HINT: upsample a token mask to pixels (or pool the pixel mask to tokens) before comparing."
        )
    if x.dtype != np.bool_ or y.dtype != np.bool_:
        raise TypeError(
            f"masks must be bool, got {x.dtype} and {y.dtype}.\nHINT: threshold soft masks first, e.g. m > 0.5."
        )
    union = int((x | y).sum())
    if union == 0:
        return 1.0
    return float((x & y).sum() / union)


def _check_patch(patch: Sequence[int]) -> tuple[int, int, int]:
    p = tuple(int(x) for x in patch)
    if len(p) != 3 or min(p) < 1:
        raise ValueError(f"patch={patch!r} must be 3 positive ints (pt, ph, pw).\nHINT: STDiT3 uses (1, 2, 2).")
    return p  # type: ignore[return-value]


def tokens_to_pixels(
    token_mask: Any, *, patch: Sequence[int] = (1, 2, 2), grid: Sequence[int] | None = None
) -> np.ndarray:
    """Upsample a per-token mask to pixels, for ``mask_iou`` against the generator's masks.

    Args:
        token_mask: ``(T', H', W')`` or ``(T', S)`` bool (with ``grid=(H', W')``; ``S = H' * W'``, row-major
            as STDiT3 flattens patches), numpy or torch.
        patch: ``(pt, ph, pw)`` patch size in (latent = pixel, for the pixel-space model) frames/rows/columns.

    Returns ``(T' * pt, H' * ph, W' * pw)`` bool.
    """
    pt, ph, pw = _check_patch(patch)
    m = np.asarray(_to_numpy(token_mask, "token_mask")).astype(bool)
    if m.ndim == 2:
        if grid is None or len(grid) != 2 or int(grid[0]) * int(grid[1]) != m.shape[1]:
            raise ValueError(
                f"token_mask of shape {tuple(m.shape)} needs grid=(H', W') with H' * W' = {m.shape[1]}, got {grid!r}.\n"
                "HINT: for 32 x 32 frames and patch (1, 2, 2), grid=(16, 16)."
            )
        m = m.reshape(m.shape[0], int(grid[0]), int(grid[1]))
    if m.ndim != 3:
        raise ValueError(
            f"token_mask must be (T', H', W') or (T', S), got shape {tuple(m.shape)}.\nHINT: see docstring."
        )
    return m.repeat(pt, axis=0).repeat(ph, axis=1).repeat(pw, axis=2)


def pixels_to_tokens(mask: Any, *, patch: Sequence[int] = (1, 2, 2), threshold: float = 0.5) -> np.ndarray:
    """Pool a pixel mask ``(T, H, W)`` to tokens ``(T', H', W')``: a token is on when at least ``threshold``
    of its pixels are (sizes must divide by the patch)."""
    pt, ph, pw = _check_patch(patch)
    m = np.asarray(_to_numpy(mask, "mask")).astype(bool)
    if m.ndim != 3 or m.shape[0] % pt or m.shape[1] % ph or m.shape[2] % pw:
        raise ValueError(
            f"mask of shape {tuple(m.shape)} must be (T, H, W) with sizes divisible by patch {patch!r}.\n"
            "HINT: crop or pad the mask to a multiple of the patch first."
        )
    t, h, w = m.shape
    frac = m.reshape(t // pt, pt, h // ph, ph, w // pw, pw).mean(axis=(1, 3, 5))
    return frac >= threshold
