"""Tests for research.eval.analyzer: accuracy on generated clips, adherence, and the image metrics."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from research.eval import analyzer as an
from research.eval import synthetic as syn

# Measured on 500 clean clips of stream 1234 (docs/quality.md): every attribute 1.000 (0 errors in 703
# objects; an earlier version erred on 1). The tests use a different stream and fewer clips: a margin.
CLEAN_THRESHOLD = 0.95


@pytest.fixture(scope="module")
def report() -> dict:
    return an.validate(48, seed=99)


def test_validate_accuracy_per_attribute_on_clean_clips(report):
    assert set(report["accuracy"]) == set(an.ATTRIBUTES)
    assert report["n_clips"] == 48 and report["n_objects"] >= 48
    for attr, acc in report["accuracy"].items():
        assert acc >= CLEAN_THRESHOLD, (attr, acc, report)


def test_validate_on_mildly_noisy_clips():
    rep = an.validate(16, seed=5, noise=0.03)
    for attr, acc in rep["accuracy"].items():
        assert acc >= 0.9, (attr, acc)


def test_blurred_clips_estimate_blur_and_keep_attributes():
    clip = syn.generate(1, seed=31, n_objects=1)[0]
    assert an.analyze(clip).blur == 0.0  # sharp clips take the exact-template path
    soft = an.blur_video(clip.video, 1.0)
    res = an.analyze(soft)
    assert 0.6 <= res.blur <= 1.5, res.blur
    rep = an.validate(12, seed=8, blur=0.7)
    for attr in ("background_kind", "background_colour", "count", "colour", "motion"):
        assert rep["accuracy"][attr] >= 0.9, (attr, rep["accuracy"])
    assert rep["accuracy"]["shape"] >= 0.75, rep["accuracy"]


def test_blur_video():
    rng = np.random.default_rng(4)
    v = rng.random((2, 12, 12, 3))
    assert np.array_equal(an.blur_video(v, 0.0), v)
    const = np.full((1, 9, 9, 3), 0.3)
    np.testing.assert_allclose(an.blur_video(const, 1.2), const, atol=1e-12)
    b = an.blur_video(v, 1.0)
    assert b.shape == v.shape and b.std() < v.std()


@pytest.mark.parametrize("shape", syn.SHAPES)
def test_each_shape_is_recognised_at_every_size(shape):
    for size_name in syn.SIZES:
        obj = syn.ObjectSpec(shape, "orange", size_name, "static", 0.43, 0.57)
        clip = syn.render(syn.ClipSpec((obj,), syn.BackgroundSpec("checker", "blue")), frames=4)
        res = an.analyze(clip)
        assert res.count == 1
        o = res.objects[0]
        assert (o.shape, o.size, o.colour, o.motion) == (shape, size_name, "orange", "static"), o
        assert 0.0 <= o.shape_conf <= 1.0


@pytest.mark.parametrize("motion", syn.MOTIONS)
def test_each_motion_is_recognised(motion):
    off = {"left": (0.15, 0), "right": (-0.15, 0), "up": (0, 0.15), "down": (0, -0.15), "bouncing": (0, 0.2)}
    dx, dy = off.get(motion, (0.0, 0.0))
    obj = syn.ObjectSpec("square", "white", "small", motion, 0.5 + dx, 0.5 + dy)
    clip = syn.render(syn.ClipSpec((obj,), syn.BackgroundSpec("gradient", "purple", axis="y")), frames=12)
    res = an.analyze(clip)
    assert res.objects[0].motion == motion
    assert res.background_kind == "gradient" and res.background_axis == "y"


def test_background_kinds_and_axes():
    obj = syn.ObjectSpec("circle", "red", "medium", "static", 0.5, 0.5)
    for kind in syn.BACKGROUNDS:
        for axis in ("x", "y"):
            bg = syn.BackgroundSpec(kind, "cyan", axis=axis, phase=0.25)
            res = an.analyze(syn.render(syn.ClipSpec((obj,), bg), frames=4))
            assert (res.background_kind, res.background_colour) == (kind, "cyan")
            if kind in ("gradient", "stripes"):
                assert res.background_axis == axis


def test_two_objects_dominant_colour_and_masks():
    spec = syn.ClipSpec(
        (
            syn.ObjectSpec("star", "yellow", "large", "right", 0.3, 0.35),
            syn.ObjectSpec("cross", "green", "small", "down", 0.7, 0.3),
        ),
        syn.BackgroundSpec("stripes", "purple"),
    )
    clip = syn.render(spec)
    res = an.analyze(clip)
    assert res.count == 2 and res.dominant_colour == "yellow"
    by_colour = {o.colour: o for o in res.objects}
    for k, obj in enumerate(spec.objects):
        assert an.mask_iou(by_colour[obj.colour].mask, clip.masks[k]) == 1.0
    adh = an.adherence(clip, spec)
    assert adh.score == 1.0


def test_adherence_flags_wrong_attributes():
    clip = syn.generate(1, seed=21, n_objects=1)[0]
    o = clip.spec.objects[0]
    wrong_shape = next(s for s in syn.SHAPES if s != o.shape)
    wrong_motion = next(m for m in syn.MOTIONS if m != o.motion)
    other_kind = next(k for k in syn.BACKGROUNDS if k != clip.spec.background.kind)
    spec = syn.ClipSpec(
        (syn.ObjectSpec(wrong_shape, o.colour, o.size, wrong_motion, o.x0, o.y0),),
        syn.BackgroundSpec(other_kind, clip.spec.background.colour),
    )
    adh = an.adherence(clip, spec)
    assert adh.scores["shape"] == 0.0 and adh.scores["motion"] == 0.0 and adh.scores["background_kind"] == 0.0
    assert adh.scores["colour"] == 1.0 and adh.scores["background_colour"] == 1.0
    assert adh.score < 1.0
    # A caption works as the spec, and an empty frame scores no objects.
    assert an.adherence(clip, clip.caption).score == 1.0
    empty = syn.render_background(clip.spec.background, 32)[None].repeat(4, axis=0)
    adh_empty = an.adherence(empty, clip.spec)
    assert adh_empty.scores["count"] == 0.0 and adh_empty.scores["shape"] == 0.0


def test_value_range_and_torch_input():
    clip = syn.generate(1, seed=4)[0]
    base = an.adherence(clip, clip.spec).scores
    as_model = syn.to_model_range(clip.video)
    assert an.adherence(as_model, clip.spec, value_range=(-1.0, 1.0)).scores == base
    torch = pytest.importorskip("torch")
    assert an.adherence(torch.from_numpy(clip.video), clip.spec).scores == base


def test_analyzer_bad_inputs():
    with pytest.raises(ValueError, match="HINT"):
        an.analyze(np.random.default_rng(0).random((3, 16, 32, 32), dtype=np.float32))
    with pytest.raises(TypeError, match="HINT"):
        an.analyze(np.zeros((2, 32, 32, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="HINT"):
        an.analyze(np.full((2, 32, 32, 3), np.nan, dtype=np.float32))


# ----------------------------------------------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------------------------------------------


def _ssim_bruteforce(x: np.ndarray, y: np.ndarray, win: int = 11, sigma: float = 1.5) -> float:
    """Direct per-window SSIM of two 2-D images (float64), independent of the separable implementation."""
    g1 = np.exp(-0.5 * ((np.arange(win) - (win - 1) / 2) / sigma) ** 2)
    wgt = np.outer(g1, g1)
    wgt /= wgt.sum()
    c1, c2 = 0.01**2, 0.03**2
    vals = []
    for i in range(x.shape[0] - win + 1):
        for j in range(x.shape[1] - win + 1):
            a, b = x[i : i + win, j : j + win], y[i : i + win, j : j + win]
            ma, mb = (wgt * a).sum(), (wgt * b).sum()
            va, vb = (wgt * (a - ma) ** 2).sum(), (wgt * (b - mb) ** 2).sum()
            cov = (wgt * (a - ma) * (b - mb)).sum()
            vals.append(((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return float(np.mean(vals))


def test_ssim_matches_bruteforce_definition():
    rng = np.random.default_rng(7)
    x = rng.random((17, 14))
    y = np.clip(x + rng.normal(0, 0.2, x.shape), 0, 1)
    assert an.ssim(x, y) == pytest.approx(_ssim_bruteforce(x, y), abs=1e-10)


def test_ssim_properties():
    rng = np.random.default_rng(1)
    video = syn.generate(1, seed=8)[0].video
    assert an.ssim(video, video) == pytest.approx(1.0, abs=1e-12)
    noisy = [np.clip(video + rng.normal(0, s, video.shape), 0, 1) for s in (0.02, 0.05, 0.1, 0.2)]
    scores = [an.ssim(video, n) for n in noisy]
    assert all(a > b for a, b in itertools.pairwise(scores)), scores
    assert an.ssim(video, noisy[1]) == pytest.approx(an.ssim(noisy[1], video), abs=1e-12)
    # Per-frame averaging: the video score is the mean of its frames' scores.
    per_frame = np.mean([an.ssim(video[t], noisy[2][t]) for t in range(video.shape[0])])
    assert an.ssim(video, noisy[2]) == pytest.approx(per_frame, abs=1e-12)
    assert -1.0 <= an.ssim(video, 1.0 - video) < 0.5


def test_psnr_properties():
    rng = np.random.default_rng(2)
    a = rng.random((4, 16, 16, 3))
    assert math.isinf(an.psnr(a, a))
    assert an.psnr(np.zeros((8, 8)), np.full((8, 8), 0.1)) == pytest.approx(20.0, abs=1e-9)
    assert an.psnr(np.zeros((8, 8)), np.full((8, 8), 0.2), data_range=2.0) == pytest.approx(20.0, abs=1e-9)
    vals = [an.psnr(a, a + rng.normal(0, s, a.shape)) for s in (0.01, 0.03, 0.1)]
    assert vals[0] > vals[1] > vals[2]
    with pytest.raises(ValueError, match="HINT"):
        an.psnr(a, a[:2])


def test_temporal_consistency():
    clip = syn.generate(1, seed=2)[0]
    frozen = np.repeat(clip.video[:1], 8, axis=0)
    assert an.temporal_consistency(frozen) == pytest.approx(1.0, abs=1e-12)
    rng = np.random.default_rng(3)
    flicker = rng.random(clip.video.shape)
    tc_clip = an.temporal_consistency(clip)
    assert an.temporal_consistency(flicker) < tc_clip < 1.0 + 1e-12
    with pytest.raises(ValueError, match="HINT"):
        an.temporal_consistency(clip.video[:1])


def test_mask_iou():
    a = np.zeros((2, 4, 4), dtype=bool)
    b = np.zeros((2, 4, 4), dtype=bool)
    assert an.mask_iou(a, b) == 1.0
    a[0, :2] = True  # 8 pixels
    b[0, 1:3] = True  # 8 pixels, 4 shared
    assert an.mask_iou(a, b) == pytest.approx(4 / 12)
    assert an.mask_iou(a, a) == 1.0
    assert an.mask_iou(a, ~a) == 0.0
    with pytest.raises(ValueError, match="HINT"):
        an.mask_iou(a, b[0])
    with pytest.raises(TypeError, match="HINT"):
        an.mask_iou(a.astype(np.float32), b)


def test_token_pixel_mask_round_trip():
    clip = syn.generate(1, seed=12, n_objects=1)[0]
    tok = an.pixels_to_tokens(clip.masks[0], patch=(1, 2, 2))
    assert tok.shape == (16, 16, 16)
    back = an.tokens_to_pixels(tok.reshape(16, -1), patch=(1, 2, 2), grid=(16, 16))
    assert back.shape == clip.masks[0].shape
    iou = an.mask_iou(back, clip.masks[0])
    assert 0.7 < iou <= 1.0  # 2 x 2 tokens lose only the object's edge
    assert np.array_equal(an.pixels_to_tokens(an.tokens_to_pixels(tok)), tok)
    with pytest.raises(ValueError, match="HINT"):
        an.tokens_to_pixels(tok.reshape(16, -1))
    with pytest.raises(ValueError, match="HINT"):
        an.pixels_to_tokens(clip.masks[0][:, :31])


def test_generator_and_analyzer_import_without_torch():
    import pathlib
    import subprocess
    import sys

    code = "import sys, research.eval.synthetic, research.eval.analyzer; sys.exit('torch' in sys.modules)"
    root = pathlib.Path(__file__).resolve().parents[2]  # the checkout: research/ is not installed
    assert subprocess.run([sys.executable, "-c", code], check=False, cwd=root).returncode == 0
