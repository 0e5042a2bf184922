"""Procedurally generated captioned clips with known ground truth (quality evidence without a GPU).

Every clip is a few frames of small RGB video showing one or two coloured shapes moving over a patterned
background. The caption is written from the attributes, and each clip carries its ground truth: the
attributes of every object and of the background, the per-frame visible mask of every object, and every
object's centre trajectory. Nothing is downloaded: the clips are drawn with numpy only.

Vocabulary (see the module constants):

- ``SHAPES``: circle, square, triangle, star, cross, diamond (fixed orientation, no rotation);
- ``PALETTE``: eight named, well separated RGB colours (red, orange, yellow, green, cyan, blue, purple,
  white); every pair of colours is at least 0.36 apart in RGB (range [0, 1]);
- ``SIZES``: small / medium / large, the shape's nominal radius as a fraction of the frame side;
- ``BACKGROUNDS``: solid, gradient, stripes, checker. A background has one palette colour ``c``; its
  patterns use ``c`` and the darker tone ``DARK_TONE * c`` (gradients blend between the two);
- ``MOTIONS``: static, left, right, up, down, bouncing (two vertical bounces per clip).

Conventions:

- ``video`` is ``(T, H, W, 3)`` float32 in **[0, 1]** (``to_model_range`` maps it to [-1, 1], the range a
  pixel-space diffusion model is trained in). ``H == W == size``.
- ``masks`` is ``(n_obj, T, H, W)`` bool: the *visible* pixels of each object. Objects are drawn in order,
  a later object on top of an earlier one, so an occluded pixel belongs only to the top object.
- ``centers`` is ``(n_obj, T, 2)`` float32 ``(x, y)`` in pixels (x to the right, y down): the true
  geometric centre, also where it is occluded.
- Pixel ``(row i, column j)`` has its centre at ``((j + 0.5) / size, (i + 0.5) / size)`` in the
  normalised coordinates used by ``ObjectSpec``; a pixel belongs to a shape when its centre lies inside.
  Rendering is aliased on purpose, so every mask pixel has exactly the object's palette colour.
- Motion is defined in normalised time ``u = t / (T - 1)``: linear motions travel ``MOTION_DISTANCE`` of
  the frame side over the clip; bouncing lifts the object by up to ``BOUNCE_HEIGHT`` and lands it at
  ``u = 0, 0.5, 1``. Objects always stay fully inside the frame.

Determinism: ``sample_spec(rng)`` consumes only ``rng``; ``render(spec)`` is a pure function of the spec
(plus the optional noise, seeded from ``spec.seed``); clip ``i`` of ``generate(n, seed)`` is drawn from
``numpy.random.default_rng([seed, i])``, so it is bitwise identical whatever ``n`` is, and differs
across seeds.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "BACKGROUNDS",
    "BOUNCE_HEIGHT",
    "COLOURS",
    "DARK_TONE",
    "MOTIONS",
    "MOTION_DISTANCE",
    "PALETTE",
    "PLACEMENTS",
    "SHAPES",
    "SIZES",
    "BackgroundSpec",
    "Clip",
    "ClipSpec",
    "ObjectSpec",
    "caption_for",
    "dataset_stats",
    "from_model_range",
    "generate",
    "iter_clips",
    "object_center",
    "parse_caption",
    "render",
    "render_background",
    "sample_object",
    "sample_spec",
    "shape_area",
    "shape_extent",
    "shape_mask",
    "stack_videos",
    "to_model_range",
]

# ----------------------------------------------------------------------------------------------------------------
# Vocabulary
# ----------------------------------------------------------------------------------------------------------------

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "diamond")

#: Named colours, RGB in [0, 1]. Chosen so that any object colour is >= 0.29 away (RGB distance) from any
#: *other* colour's background tones (the segment from DARK_TONE * c to c); tests check this margin.
PALETTE: dict[str, tuple[float, float, float]] = {
    "red": (0.90, 0.12, 0.12),
    "orange": (1.00, 0.55, 0.05),
    "yellow": (0.95, 0.90, 0.15),
    "green": (0.15, 0.72, 0.20),
    "cyan": (0.10, 0.80, 0.90),
    "blue": (0.15, 0.25, 0.95),
    "purple": (0.60, 0.18, 0.82),
    "white": (0.95, 0.95, 0.95),
}
COLOURS: tuple[str, ...] = tuple(PALETTE)

#: Nominal radius of a shape as a fraction of the frame side (8 px wide small, 16 px large at 32 x 32).
SIZES: dict[str, float] = {"small": 0.15, "medium": 0.20, "large": 0.26}

BACKGROUNDS: tuple[str, ...] = ("solid", "gradient", "stripes", "checker")
MOTIONS: tuple[str, ...] = ("static", "left", "right", "up", "down", "bouncing")

#: Where an object starts. ``"random"``: anywhere its whole path stays inside the frame (the shipped model up to
#: December 2026 was trained on these). ``"centred"``: the motion decides the start, so that the path is centred
#: in the frame (a static object sits in the middle; ``left`` starts right of the middle and ends as far left of
#: it); the caption then says everything about the clip, and the model's loss is spent on shape, size and colour
#: rather than on guessing an unstated position. One object per clip only (two would collide).
PLACEMENTS: tuple[str, ...] = ("random", "centred")

#: The second tone of a patterned background is DARK_TONE times its colour.
DARK_TONE: float = 0.55
#: Distance travelled by a linear motion over the whole clip, as a fraction of the frame side.
MOTION_DISTANCE: float = 0.30
#: Peak height of a bounce, as a fraction of the frame side.
BOUNCE_HEIGHT: float = 0.22
#: Stripe width and checker cell, as fractions of the frame side (4 px and 6 px at 32 x 32).
STRIPE_WIDTH: float = 0.125
CHECKER_CELL: float = 0.1875

_MOTION_PHRASE = {
    "static": "standing still",
    "left": "moving left",
    "right": "moving right",
    "up": "moving up",
    "down": "moving down",
    "bouncing": "bouncing",
}
_BACKGROUND_PHRASE = {
    "solid": "plain",
    "gradient": "gradient",
    "stripes": "striped",
    "checker": "checkered",
}


def _polygon(radii: Sequence[float], start_deg: float) -> np.ndarray:
    """Vertices (n, 2) of a polygon with vertices at equal angular steps; y points down, -90 deg is up."""
    n = len(radii)
    ang = np.deg2rad(start_deg + 360.0 * np.arange(n) / n)
    r = np.asarray(radii, dtype=np.float64)
    return np.stack([r * np.cos(ang), r * np.sin(ang)], axis=1)


# Polygons in units of the nominal radius, centred on their area centroid (all are symmetric about it).
_POLYGONS: dict[str, np.ndarray] = {
    "square": np.array([[-0.8, -0.8], [0.8, -0.8], [0.8, 0.8], [-0.8, 0.8]]),
    "diamond": _polygon([1.0] * 4, -90.0),
    "triangle": _polygon([1.15] * 3, -90.0),  # equilateral, point up, circumcentre == centroid
    "star": _polygon([1.15, 0.55] * 5, -90.0),  # five points, fat enough to survive 5 px radii
}
_CROSS_HALF_WIDTH = 0.36  # half width of each bar of the plus sign, in nominal radii


def _polygon_area(v: np.ndarray) -> float:
    x, y = v[:, 0], v[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def shape_area(shape: str) -> float:
    """Continuous area of ``shape`` with nominal radius 1 (multiply by r**2)."""
    _check_choice("shape", shape, SHAPES)
    if shape == "circle":
        return math.pi
    if shape == "cross":
        w = 2 * _CROSS_HALF_WIDTH
        return 2 * (w * 2.0) - w * w
    return _polygon_area(_POLYGONS[shape])


def shape_extent(shape: str) -> tuple[float, float]:
    """Half extents ``(ex, ey)`` of ``shape`` with nominal radius 1: the shape fits in [-ex, ex] x [-ey, ey]."""
    _check_choice("shape", shape, SHAPES)
    if shape in ("circle", "cross"):
        return 1.0, 1.0
    v = _POLYGONS[shape]
    return float(np.abs(v[:, 0]).max()), float(np.abs(v[:, 1]).max())


def shape_mask(shape: str, dx: np.ndarray, dy: np.ndarray, radius: float | np.ndarray) -> np.ndarray:
    """Inside test of ``shape`` for offsets ``(dx, dy)`` from its centre (any broadcastable shapes).

    ``radius`` is the nominal radius in the same unit as the offsets (may broadcast too). Returns bool.
    """
    _check_choice("shape", shape, SHAPES)
    x = np.asarray(dx, dtype=np.float64) / radius
    y = np.asarray(dy, dtype=np.float64) / radius
    if shape == "circle":
        return x * x + y * y <= 1.0
    if shape == "cross":
        w = _CROSS_HALF_WIDTH
        ax, ay = np.abs(x), np.abs(y)
        return ((ax <= w) & (ay <= 1.0)) | ((ay <= w) & (ax <= 1.0))
    if shape == "square":
        return (np.abs(x) <= 0.8) & (np.abs(y) <= 0.8)
    if shape == "diamond":
        return np.abs(x) + np.abs(y) <= 1.0
    # Even-odd crossing test against each polygon edge (works for the non-convex star as well).
    v = _POLYGONS[shape]
    inside = np.zeros(np.broadcast(x, y).shape, dtype=bool)
    n = len(v)
    for k in range(n):
        x1, y1 = v[k]
        x2, y2 = v[(k + 1) % n]
        if y1 == y2:
            continue
        crosses = (y1 > y) != (y2 > y)
        x_at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < x_at)
    return inside


# ----------------------------------------------------------------------------------------------------------------
# Specs
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectSpec:
    """One object: its attributes and its centre at ``u = 0`` in normalised frame coordinates.

    ``x0, y0`` are in [0, 1] (x right, y down). For ``bouncing`` the centre at ``u = 0`` is the ground
    level the object rises from and returns to.
    """

    shape: str
    colour: str
    size: str
    motion: str
    x0: float = 0.5
    y0: float = 0.5

    def __post_init__(self) -> None:
        _check_choice("shape", self.shape, SHAPES)
        _check_choice("colour", self.colour, COLOURS)
        _check_choice("size", self.size, tuple(SIZES))
        _check_choice("motion", self.motion, MOTIONS)

    @property
    def radius(self) -> float:
        """Nominal radius as a fraction of the frame side."""
        return SIZES[self.size]

    @property
    def entity(self) -> str:
        """The noun phrase of the object without motion, e.g. ``"small red star"``."""
        return f"{self.size} {self.colour} {self.shape}"

    def phrase(self) -> str:
        """e.g. ``"a small red star moving left"``."""
        return f"a {self.entity} {_MOTION_PHRASE[self.motion]}"


@dataclass(frozen=True)
class BackgroundSpec:
    """The background: ``kind`` in ``BACKGROUNDS``, a palette ``colour``, and pattern details.

    ``axis`` is the axis the pattern varies along (``"x"``: vertical stripes / left-right gradient;
    ``"y"``: horizontal stripes / top-bottom gradient; ignored for solid and checker). ``reverse`` flips
    a gradient (dark tone first). ``phase`` in [0, 1) shifts stripes and checker cells by a fraction of
    their period.
    """

    kind: str
    colour: str
    axis: str = "x"
    reverse: bool = False
    phase: float = 0.0

    def __post_init__(self) -> None:
        _check_choice("kind", self.kind, BACKGROUNDS)
        _check_choice("colour", self.colour, COLOURS)
        _check_choice("axis", self.axis, ("x", "y"))

    def phrase(self) -> str:
        """e.g. ``"a blue striped background"``."""
        return f"a {self.colour} {_BACKGROUND_PHRASE[self.kind]} background"


@dataclass(frozen=True)
class ClipSpec:
    """Everything needed to render a clip: objects (drawn in order, later on top), background, noise seed."""

    objects: tuple[ObjectSpec, ...]
    background: BackgroundSpec
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.objects, tuple):
            object.__setattr__(self, "objects", tuple(self.objects))
        if not 1 <= len(self.objects) <= 2:
            raise ValueError(
                f"ClipSpec.objects must hold 1 or 2 objects, got {len(self.objects)}.\n"
                "HINT: the generator and the analyzer support one or two objects per clip."
            )
        colours = [o.colour for o in self.objects]
        if len(set(colours)) != len(colours) or self.background.colour in colours:
            raise ValueError(
                f"ClipSpec colours must all differ: objects={colours}, background={self.background.colour!r}.\n"
                "HINT: an object with the background's colour (or two objects of one colour) cannot be told apart."
            )

    @property
    def caption(self) -> str:
        return caption_for(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClipSpec:
        return cls(
            objects=tuple(ObjectSpec(**o) for o in d["objects"]),
            background=BackgroundSpec(**d["background"]),
            seed=int(d.get("seed", 0)),
        )


def caption_for(spec: ClipSpec) -> str:
    """Caption written from the attributes.

    ``"a small red star moving left over a blue striped background"``; two objects are joined with
    ``"and"``: ``"a small red star moving left and a large green circle bouncing over a ..."``.
    """
    objects = " and ".join(o.phrase() for o in spec.objects)
    return f"{objects} over {spec.background.phrase()}"


@dataclass
class Clip:
    """A rendered clip with its ground truth.

    Attributes:
        video: ``(T, H, W, 3)`` float32 in [0, 1].
        masks: ``(n_obj, T, H, W)`` bool, visible pixels of each object (later objects on top).
        caption: the caption written from ``spec``.
        spec: the ``ClipSpec`` it was rendered from.
        centers: ``(n_obj, T, 2)`` float32, true ``(x, y)`` centre of each object in pixels.
    """

    video: np.ndarray
    masks: np.ndarray
    caption: str
    spec: ClipSpec
    centers: np.ndarray = field(repr=False)

    @property
    def frames(self) -> int:
        return int(self.video.shape[0])

    @property
    def size(self) -> int:
        return int(self.video.shape[1])


# ----------------------------------------------------------------------------------------------------------------
# Geometry and rendering
# ----------------------------------------------------------------------------------------------------------------


def _check_choice(name: str, value: Any, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not supported.\nHINT: use one of {list(choices)}.")


def _check_frames_size(frames: int, size: int) -> None:
    if not isinstance(frames, (int, np.integer)) or isinstance(frames, bool) or frames < 2:
        raise ValueError(f"frames={frames!r} must be an int >= 2.\nHINT: motions need at least two frames; try 16.")
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 16:
        raise ValueError(f"size={size!r} must be an int >= 16.\nHINT: shapes are unreadable below 16 px; try 32.")


def _motion_offset(motion: str, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised centre offset ``(dx, dy)`` at normalised times ``u`` (array in [0, 1])."""
    zero = np.zeros_like(u)
    d = MOTION_DISTANCE * u
    if motion == "static":
        return zero, zero
    if motion == "left":
        return -d, zero
    if motion == "right":
        return d, zero
    if motion == "up":
        return zero, -d
    if motion == "down":
        return zero, d
    # Two bounces: |sin| has period pi, so u in [0, 1] -> 2 arcs landing at u = 0, 0.5, 1.
    return zero, -BOUNCE_HEIGHT * np.abs(np.sin(2.0 * np.pi * u))


def _motion_bounds(motion: str) -> tuple[float, float, float, float]:
    """(min dx, max dx, min dy, max dy) of the motion's normalised offsets over the clip."""
    if motion == "left":
        return -MOTION_DISTANCE, 0.0, 0.0, 0.0
    if motion == "right":
        return 0.0, MOTION_DISTANCE, 0.0, 0.0
    if motion == "up":
        return 0.0, 0.0, -MOTION_DISTANCE, 0.0
    if motion == "down":
        return 0.0, 0.0, 0.0, MOTION_DISTANCE
    if motion == "bouncing":
        return 0.0, 0.0, -BOUNCE_HEIGHT, 0.0
    return 0.0, 0.0, 0.0, 0.0


def object_center(obj: ObjectSpec, frames: int) -> np.ndarray:
    """``(T, 2)`` float64 normalised ``(x, y)`` centre of ``obj`` at each of ``frames`` frames."""
    u = np.arange(frames, dtype=np.float64) / (frames - 1)
    dx, dy = _motion_offset(obj.motion, u)
    return np.stack([obj.x0 + dx, obj.y0 + dy], axis=1)


def _pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    c = (np.arange(size, dtype=np.float64) + 0.5) / size
    return c[None, :], c[:, None]  # xs (1, W), ys (H, 1)


def _object_inside(obj: ObjectSpec, frames: int, size: int) -> np.ndarray:
    """``(T, H, W)`` bool: pixel centres inside the object (ignoring occlusion)."""
    xs, ys = _pixel_grid(size)
    cen = object_center(obj, frames)
    dx = xs[None] - cen[:, 0, None, None]
    dy = ys[None] - cen[:, 1, None, None]
    return shape_mask(obj.shape, dx, dy, obj.radius)


def _visible_masks(objects: Sequence[ObjectSpec], frames: int, size: int) -> np.ndarray:
    inside = np.stack([_object_inside(o, frames, size) for o in objects])  # (n, T, H, W)
    visible = inside.copy()
    for k in range(len(objects) - 1):
        # Everything drawn later covers object k.
        visible[k] &= ~inside[k + 1 :].any(axis=0)
    return visible


def render_background(bg: BackgroundSpec, size: int) -> np.ndarray:
    """``(H, W, 3)`` float32 background image in [0, 1]."""
    xs, ys = _pixel_grid(size)
    coord = np.broadcast_to(xs if bg.axis == "x" else ys, (size, size))
    if bg.kind == "solid":
        level = np.ones((size, size))
    elif bg.kind == "gradient":
        p = coord if not bg.reverse else 1.0 - coord
        level = 1.0 - (1.0 - DARK_TONE) * p
    elif bg.kind == "stripes":
        band = np.floor(coord / STRIPE_WIDTH + 2.0 * bg.phase).astype(np.int64)
        level = np.where(band % 2 == 0, 1.0, DARK_TONE)
    else:  # checker
        cx = np.floor(np.broadcast_to(xs, (size, size)) / CHECKER_CELL + 2.0 * bg.phase).astype(np.int64)
        cy = np.floor(np.broadcast_to(ys, (size, size)) / CHECKER_CELL + 2.0 * bg.phase).astype(np.int64)
        level = np.where((cx + cy) % 2 == 0, 1.0, DARK_TONE)
    rgb = np.asarray(PALETTE[bg.colour], dtype=np.float64)
    return (level[..., None] * rgb).astype(np.float32)


def render(spec: ClipSpec, *, frames: int = 16, size: int = 32, noise: float = 0.0) -> Clip:
    """Draw ``spec`` as a clip of ``frames`` frames of ``size x size`` pixels.

    Args:
        spec: what to draw.
        frames: T (>= 2).
        size: H == W (>= 16).
        noise: standard deviation of optional Gaussian pixel noise (seeded by ``spec.seed``); the result is
            clipped to [0, 1]. The masks stay the noise-free ground truth.

    Returns:
        ``Clip`` with ``video (T, H, W, 3)`` float32 in [0, 1] and ``masks (n_obj, T, H, W)`` bool.
    """
    if not isinstance(spec, ClipSpec):
        raise TypeError(f"spec must be a ClipSpec, got {type(spec).__name__}.\nHINT: build one with sample_spec(rng).")
    _check_frames_size(frames, size)
    if not (isinstance(noise, (int, float)) and noise >= 0.0 and math.isfinite(noise)):
        raise ValueError(f"noise={noise!r} must be a finite float >= 0.\nHINT: use 0.0 for clean clips.")
    bg = render_background(spec.background, size)
    video = np.broadcast_to(bg, (frames, size, size, 3)).copy()
    masks = _visible_masks(spec.objects, frames, size)
    for k, obj in enumerate(spec.objects):
        video[masks[k]] = np.asarray(PALETTE[obj.colour], dtype=np.float32)
    if noise > 0.0:
        rng = np.random.default_rng([int(spec.seed) & 0xFFFFFFFF, 0x5EED])
        video = np.clip(video + rng.normal(0.0, noise, video.shape).astype(np.float32), 0.0, 1.0)
    centers = np.stack([object_center(o, frames) * size for o in spec.objects]).astype(np.float32)
    return Clip(video=video.astype(np.float32), masks=masks, caption=caption_for(spec), spec=spec, centers=centers)


# ----------------------------------------------------------------------------------------------------------------
# Sampling
# ----------------------------------------------------------------------------------------------------------------


def sample_object(rng: np.random.Generator, colour: str) -> ObjectSpec:
    """Draw one object of ``colour`` (shape, size, motion, start) that stays inside the frame all clip."""
    _check_choice("colour", colour, COLOURS)
    return _sample_object(rng, colour)


def _sample_object(rng: np.random.Generator, colour: str, placement: str = "random") -> ObjectSpec:
    shape = SHAPES[rng.integers(len(SHAPES))]
    size = tuple(SIZES)[rng.integers(len(SIZES))]
    motion = MOTIONS[rng.integers(len(MOTIONS))]
    r = SIZES[size]
    ex, ey = shape_extent(shape)
    mdx0, mdx1, mdy0, mdy1 = _motion_bounds(motion)
    if placement == "centred":
        # the middle of the path's extent at the frame centre; every path fits (largest extent 0.30 + 0.30 / 2)
        return ObjectSpec(
            shape=shape, colour=colour, size=size, motion=motion, x0=0.5 - (mdx0 + mdx1) / 2, y0=0.5 - (mdy0 + mdy1) / 2
        )
    # Keep the whole shape (plus half a pixel at 32 px) inside the frame for the whole clip.
    pad = 0.016
    x_lo, x_hi = ex * r + pad - mdx0, 1.0 - ex * r - pad - mdx1
    y_lo, y_hi = ey * r + pad - mdy0, 1.0 - ey * r - pad - mdy1
    x0 = float(rng.uniform(x_lo, x_hi))
    y0 = float(rng.uniform(y_lo, y_hi))
    return ObjectSpec(shape=shape, colour=colour, size=size, motion=motion, x0=x0, y0=y0)


def sample_spec(
    rng: np.random.Generator,
    *,
    n_objects: int | None = None,
    p_two: float = 0.4,
    frames: int = 16,
    size: int = 32,
    min_visible: float = 0.6,
    max_tries: int = 64,
    placement: str = "random",
) -> ClipSpec:
    """Draw a random ``ClipSpec`` from ``rng``.

    Args:
        rng: a ``numpy.random.Generator``; the only source of randomness.
        n_objects: 1 or 2; ``None`` draws 2 with probability ``p_two``.
        frames, size: the resolution the occlusion check runs at (``render`` may use another one).
        min_visible: with two objects, the lower one keeps at least this fraction of its area visible in
            every frame (placements are redrawn up to ``max_tries`` times, then the least occluded one wins).
        placement: ``"random"`` or ``"centred"`` (see :data:`PLACEMENTS`; centred clips hold one object).

    All colours in a clip differ (objects from each other and from the background).
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator, got {type(rng).__name__}.\nHINT: numpy.random.default_rng(seed)."
        )
    _check_frames_size(frames, size)
    if n_objects is None:
        n_objects = 2 if rng.random() < p_two else 1
    if n_objects not in (1, 2):
        raise ValueError(f"n_objects={n_objects!r} must be 1 or 2.\nHINT: pass None to draw it at random.")
    _check_choice("placement", placement, PLACEMENTS)
    if placement == "centred" and n_objects != 1:
        raise ValueError(
            f"placement='centred' places one object per clip, got n_objects={n_objects} (p_two={p_two}).\n"
            "HINT: pass n_objects=1 or p_two=0.0, or placement='random' for two-object clips."
        )
    colour_idx = rng.permutation(len(COLOURS))[: n_objects + 1]
    bg_colour = COLOURS[colour_idx[0]]
    obj_colours = [COLOURS[i] for i in colour_idx[1:]]
    kind = BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
    background = BackgroundSpec(
        kind=kind,
        colour=bg_colour,
        axis=("x", "y")[rng.integers(2)],
        reverse=bool(rng.integers(2)),
        phase=float(rng.integers(4)) / 4.0,
    )
    seed = int(rng.integers(2**31 - 1))
    first = _sample_object(rng, obj_colours[0], placement)
    if n_objects == 1:
        return ClipSpec(objects=(first,), background=background, seed=seed)
    # The second object's shape and motion are redrawn until the first one stays visible enough.
    best, best_vis = None, -1.0
    for _ in range(max_tries):
        second = _sample_object(rng, obj_colours[1])
        inside = _object_inside(first, frames, size)
        other = _object_inside(second, frames, size)
        area = np.maximum(inside.sum(axis=(1, 2)), 1)
        vis = float(((inside & ~other).sum(axis=(1, 2)) / area).min())
        if vis > best_vis:
            best, best_vis = second, vis
        if vis >= min_visible:
            break
    return ClipSpec(objects=(first, best), background=background, seed=seed)


def _clip_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(index)])


def iter_clips(
    seed: int, *, frames: int = 16, size: int = 32, start: int = 0, noise: float = 0.0, **sample_kwargs: Any
) -> Iterator[Clip]:
    """Endless iterator of clips ``start, start + 1, ...`` of the stream ``seed`` (same clips as ``generate``)."""
    i = start
    while True:
        spec = sample_spec(_clip_rng(seed, i), frames=frames, size=size, **sample_kwargs)
        yield render(spec, frames=frames, size=size, noise=noise)
        i += 1


def generate(
    n: int, seed: int = 0, *, frames: int = 16, size: int = 32, noise: float = 0.0, **sample_kwargs: Any
) -> list[Clip]:
    """The first ``n`` clips of the stream ``seed``. Clip ``i`` does not depend on ``n``."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n={n!r} must be an int >= 0.\nHINT: the number of clips to generate.")
    it = iter_clips(seed, frames=frames, size=size, noise=noise, **sample_kwargs)
    return [next(it) for _ in range(n)]


# ----------------------------------------------------------------------------------------------------------------
# Helpers for training and reporting
# ----------------------------------------------------------------------------------------------------------------


def dataset_stats(items: Iterable[Clip | ClipSpec]) -> dict[str, Any]:
    """Attribute histograms of a set of clips or specs.

    Returns a dict with ``n_clips``, ``n_objects`` (Counter of 1/2), per-object Counters ``shape``,
    ``colour``, ``size``, ``motion``, background Counters ``background_kind`` and ``background_colour``,
    ``unique_captions`` and ``mean_caption_words``.
    """
    out: dict[str, Any] = {
        "n_clips": 0,
        "n_objects": Counter(),
        "shape": Counter(),
        "colour": Counter(),
        "size": Counter(),
        "motion": Counter(),
        "background_kind": Counter(),
        "background_colour": Counter(),
    }
    captions: list[str] = []
    for item in items:
        spec = item.spec if isinstance(item, Clip) else item
        if not isinstance(spec, ClipSpec):
            raise TypeError(f"dataset_stats expects Clip or ClipSpec items, got {type(item).__name__}.")
        out["n_clips"] += 1
        out["n_objects"][len(spec.objects)] += 1
        for o in spec.objects:
            for key in ("shape", "colour", "size", "motion"):
                out[key][getattr(o, key)] += 1
        out["background_kind"][spec.background.kind] += 1
        out["background_colour"][spec.background.colour] += 1
        captions.append(spec.caption)
    out["unique_captions"] = len(set(captions))
    out["mean_caption_words"] = float(np.mean([len(c.split()) for c in captions])) if captions else 0.0
    return out


def stack_videos(clips: Sequence[Clip], *, layout: str = "NCTHW", model_range: bool = True) -> np.ndarray:
    """Stack clip videos into one float32 array.

    ``layout="NCTHW"`` gives ``(N, 3, T, H, W)`` (the layout STDiT3 latents use); ``"NTHWC"`` keeps
    ``(N, T, H, W, 3)``. ``model_range=True`` maps [0, 1] to [-1, 1].
    """
    _check_choice("layout", layout, ("NCTHW", "NTHWC"))
    if not clips:
        raise ValueError("clips is empty.\nHINT: pass at least one Clip.")
    v = np.stack([c.video for c in clips])
    if model_range:
        v = to_model_range(v)
    if layout == "NCTHW":
        v = np.ascontiguousarray(v.transpose(0, 4, 1, 2, 3))
    return v.astype(np.float32, copy=False)


def to_model_range(video: np.ndarray) -> np.ndarray:
    """[0, 1] -> [-1, 1]."""
    return (np.asarray(video, dtype=np.float32) * 2.0 - 1.0).astype(np.float32)


def from_model_range(video: np.ndarray) -> np.ndarray:
    """[-1, 1] -> [0, 1], clipped."""
    return np.clip((np.asarray(video, dtype=np.float32) + 1.0) * 0.5, 0.0, 1.0).astype(np.float32)


_OBJECT_RE = re.compile(
    r"a (?P<size>\w+) (?P<colour>\w+) (?P<shape>\w+) (?P<motion>standing still|moving left|moving right|"
    r"moving up|moving down|bouncing)"
)
_CAPTION_RE = re.compile(r"^(?P<objects>.+) over a (?P<colour>\w+) (?P<kind>\w+) background$")


def parse_caption(caption: str) -> ClipSpec:
    """Inverse of ``caption_for`` for the attributes (positions and pattern details take defaults).

    Raises ValueError for text the generator would not write.
    """
    if not isinstance(caption, str):
        raise TypeError(f"caption must be a str, got {type(caption).__name__}.")
    text = " ".join(caption.strip().lower().rstrip(".").split())
    m = _CAPTION_RE.match(text)
    parts = text and m and m.group("objects").split(" and ")
    phrase_to_motion = {v: k for k, v in _MOTION_PHRASE.items()}
    phrase_to_kind = {v: k for k, v in _BACKGROUND_PHRASE.items()}
    try:
        if not m or not parts:
            raise ValueError("no '<objects> over a <colour> <pattern> background' structure")
        objects = []
        for part in parts:
            om = _OBJECT_RE.fullmatch(part)
            if om is None:
                raise ValueError(f"cannot read object phrase {part!r}")
            objects.append(
                ObjectSpec(
                    shape=om.group("shape"),
                    colour=om.group("colour"),
                    size=om.group("size"),
                    motion=phrase_to_motion[om.group("motion")],
                )
            )
        kind = phrase_to_kind.get(m.group("kind"))
        if kind is None:
            raise ValueError(f"unknown background pattern {m.group('kind')!r}")
        return ClipSpec(objects=tuple(objects), background=BackgroundSpec(kind=kind, colour=m.group("colour")))
    except ValueError as exc:
        raise ValueError(
            f"caption {caption!r} is not in the generator's grammar ({exc}).\n"
            "HINT: expected e.g. 'a small red star moving left over a blue striped background'."
        ) from None
