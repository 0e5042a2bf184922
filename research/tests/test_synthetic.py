"""Tests for research.eval.synthetic: determinism, ground truth (masks, colours, motion), captions, validation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from research.eval import synthetic as syn


@pytest.fixture(scope="module")
def clips() -> list[syn.Clip]:
    return syn.generate(60, seed=3)


def test_generate_is_bitwise_deterministic_and_seed_dependent():
    a = syn.generate(8, seed=11)
    b = syn.generate(8, seed=11)
    c = syn.generate(8, seed=12)
    for x, y in zip(a, b):
        assert x.spec == y.spec and x.caption == y.caption
        assert x.video.tobytes() == y.video.tobytes()
        assert x.masks.tobytes() == y.masks.tobytes()
    assert [x.caption for x in a] != [x.caption for x in c]
    assert any(x.video.shape != z.video.shape or not np.array_equal(x.video, z.video) for x, z in zip(a, c))


def test_clip_i_does_not_depend_on_n_and_iterator_matches():
    few = syn.generate(3, seed=5)
    many = syn.generate(7, seed=5)
    it = syn.iter_clips(5, start=2)
    assert all(np.array_equal(f.video, m.video) for f, m in zip(few, many))
    assert np.array_equal(next(it).video, many[2].video)


def test_shapes_ranges_and_dtypes(clips):
    for c in clips:
        n = len(c.spec.objects)
        assert c.video.shape == (16, 32, 32, 3) and c.video.dtype == np.float32
        assert c.masks.shape == (n, 16, 32, 32) and c.masks.dtype == np.bool_
        assert c.centers.shape == (n, 16, 2)
        assert 0.0 <= c.video.min() and c.video.max() <= 1.0
    other = syn.render(clips[0].spec, frames=8, size=48)
    assert other.video.shape == (8, 48, 48, 3) and other.masks.shape[1:] == (8, 48, 48)


def test_mask_pixels_have_the_object_colour_and_the_rest_is_background(clips):
    for c in clips:
        covered = np.zeros(c.masks.shape[1:], dtype=bool)
        for k, obj in enumerate(c.spec.objects):
            m = c.masks[k]
            assert m.any(axis=(1, 2)).all(), "every object is visible in every frame"
            assert np.allclose(c.video[m], np.asarray(syn.PALETTE[obj.colour], np.float32), atol=1e-6)
            assert not (covered & m).any(), "visible masks are disjoint"
            covered |= m
        bg = syn.render_background(c.spec.background, c.size)
        assert np.array_equal(c.video[~covered], np.broadcast_to(bg, c.video.shape)[~covered])


def test_occlusion_later_object_on_top():
    below = syn.ObjectSpec("square", "red", "large", "static", 0.5, 0.5)
    above = syn.ObjectSpec("circle", "blue", "small", "static", 0.5, 0.5)
    spec = syn.ClipSpec((below, above), syn.BackgroundSpec("solid", "white"))
    c = syn.render(spec, frames=4)
    full_below = syn.render(syn.ClipSpec((below,), spec.background), frames=4).masks[0]
    assert (c.masks[0] | c.masks[1]).sum() == (full_below | c.masks[1]).sum()
    assert not (c.masks[0] & c.masks[1]).any()
    assert c.masks[1].sum() > 0 and (full_below & c.masks[1]).sum() == c.masks[1].sum()
    assert np.allclose(c.video[0, 16, 16], syn.PALETTE["blue"])  # the centre shows the top object


def test_two_object_clips_keep_the_lower_object_visible(clips):
    two = [c for c in clips if len(c.spec.objects) == 2]
    assert two, "the fixture should contain two-object clips"
    for c in two:
        full = syn.render(syn.ClipSpec(c.spec.objects[:1], c.spec.background), frames=c.frames).masks[0]
        frac = c.masks[0].sum(axis=(1, 2)) / full.sum(axis=(1, 2))
        assert frac.min() >= 0.6 - 1e-9


@pytest.mark.parametrize("motion", syn.MOTIONS)
def test_motion_matches_centroid_displacement(motion):
    travel = syn.MOTION_DISTANCE * 32
    expected = {"static": (0, 0), "left": (-travel, 0), "right": (travel, 0), "up": (0, -travel), "down": (0, travel)}
    ex, ey = expected.get(motion, (0.0, 0.0))
    # Start so that the path is centred in the frame (bouncing rises from 0.7), keeping the shape inside.
    x0, y0 = 0.5 - ex / 64, (0.7 if motion == "bouncing" else 0.5 - ey / 64)
    obj = syn.ObjectSpec("circle", "red", "medium", motion, x0, y0)
    c = syn.render(syn.ClipSpec((obj,), syn.BackgroundSpec("solid", "blue")), frames=16)
    full_area = syn.shape_area("circle") * (obj.radius * 32) ** 2
    assert np.all(np.abs(c.masks[0].sum(axis=(1, 2)) - full_area) < 0.1 * full_area)
    ys, xs = np.nonzero(c.masks[0, 0])
    ye, xe = np.nonzero(c.masks[0, -1])
    dx, dy = xe.mean() - xs.mean(), ye.mean() - ys.mean()
    if motion == "bouncing":
        assert abs(dx) < 0.5 and abs(dy) < 0.5  # lands where it started
        mid_y = [np.nonzero(c.masks[0, t])[0].mean() for t in range(16)]
        assert min(mid_y) < ys.mean() - 0.8 * syn.BOUNCE_HEIGHT * 32  # and rose in between
    else:
        assert abs(dx - ex) < 1.0 and abs(dy - ey) < 1.0
    # The stored centre trajectory agrees with the mask centroid of this symmetric shape.
    cen = np.array([[np.nonzero(m)[1].mean() + 0.5, np.nonzero(m)[0].mean() + 0.5] for m in c.masks[0]])
    assert np.abs(cen - c.centers[0]).max() < 0.6


def test_objects_stay_inside_the_frame(clips):
    for c in clips:
        for k, obj in enumerate(c.spec.objects):
            full = syn.render(syn.ClipSpec((obj,), c.spec.background), frames=c.frames).masks[0]
            area = full.sum(axis=(1, 2))
            expected = syn.shape_area(obj.shape) * (obj.radius * c.size) ** 2
            assert np.all(np.abs(area - expected) < 0.25 * expected + 6), (obj, area, expected)


def test_caption_mentions_every_attribute_and_parses_back(clips):
    for c in clips:
        for obj in c.spec.objects:
            for word in (obj.shape, obj.colour, obj.size):
                assert word in c.caption
        assert c.spec.background.colour in c.caption
        parsed = syn.parse_caption(c.caption)
        assert [(o.shape, o.colour, o.size, o.motion) for o in parsed.objects] == [
            (o.shape, o.colour, o.size, o.motion) for o in c.spec.objects
        ]
        assert (parsed.background.kind, parsed.background.colour) == (c.spec.background.kind, c.spec.background.colour)
    two = syn.ClipSpec(
        (
            syn.ObjectSpec("star", "red", "small", "left"),
            syn.ObjectSpec("circle", "green", "large", "bouncing"),
        ),
        syn.BackgroundSpec("stripes", "blue"),
    )
    assert (
        two.caption == "a small red star moving left and a large green circle bouncing over a blue striped background"
    )


def test_colours_in_a_clip_differ_and_palette_is_separated(clips):
    for c in clips:
        cols = [o.colour for o in c.spec.objects] + [c.spec.background.colour]
        assert len(set(cols)) == len(cols)
    ks = np.linspace(syn.DARK_TONE, 1.0, 101)
    for a, b in itertools.permutations(syn.COLOURS, 2):
        seg = ks[:, None] * np.asarray(syn.PALETTE[b])
        assert np.linalg.norm(seg - np.asarray(syn.PALETTE[a]), axis=1).min() > 0.28, (a, b)


def test_background_patterns():
    size = 32
    solid = syn.render_background(syn.BackgroundSpec("solid", "red"), size)
    assert np.ptp(solid, axis=(0, 1)).max() == 0
    grad = syn.render_background(syn.BackgroundSpec("gradient", "red", axis="x"), size)[..., 0]
    assert np.all(np.diff(grad, axis=1) < 0) and np.all(np.diff(grad, axis=0) == 0)
    stripes = syn.render_background(syn.BackgroundSpec("stripes", "red", axis="y"), size)[..., 0]
    assert np.all(np.diff(stripes, axis=1) == 0) and len(np.unique(stripes)) == 2
    checker = syn.render_background(syn.BackgroundSpec("checker", "red"), size)[..., 0]
    assert len(np.unique(checker)) == 2 and np.diff(checker, axis=0).any() and np.diff(checker, axis=1).any()


def test_dataset_stats_covers_the_vocabulary():
    stats = syn.dataset_stats(syn.generate(300, seed=0))
    assert stats["n_clips"] == 300
    assert set(stats["shape"]) == set(syn.SHAPES)
    assert set(stats["motion"]) == set(syn.MOTIONS)
    assert set(stats["background_kind"]) == set(syn.BACKGROUNDS)
    assert set(stats["colour"]) == set(syn.COLOURS)
    assert set(stats["n_objects"]) == {1, 2}
    assert stats["unique_captions"] > 250


def test_noise_is_seeded_and_masks_unchanged(clips):
    spec = clips[0].spec
    a = syn.render(spec, noise=0.05)
    b = syn.render(spec, noise=0.05)
    assert np.array_equal(a.video, b.video) and not np.array_equal(a.video, clips[0].video)
    assert np.array_equal(a.masks, clips[0].masks)


def test_stack_videos_layout_and_range(clips):
    v = syn.stack_videos(clips[:3])
    assert v.shape == (3, 3, 16, 32, 32) and v.dtype == np.float32
    assert v.min() >= -1.0 and v.max() <= 1.0
    np.testing.assert_allclose(syn.from_model_range(v[0].transpose(1, 2, 3, 0)), clips[0].video, atol=1e-6)


def test_bad_inputs_raise_with_hint():
    with pytest.raises(ValueError, match="HINT"):
        syn.ObjectSpec("hexagon", "red", "small", "left")
    with pytest.raises(ValueError, match="HINT"):
        syn.ClipSpec((syn.ObjectSpec("star", "red", "small", "left"),), syn.BackgroundSpec("solid", "red"))
    with pytest.raises(ValueError, match="frames"):
        syn.generate(1, 0, frames=1)
    with pytest.raises(TypeError, match="HINT"):
        syn.sample_spec(0)
    with pytest.raises(ValueError, match="HINT"):
        syn.parse_caption("a photo of a cat")


@pytest.mark.parametrize("motion", syn.MOTIONS)
def test_centred_placement_centres_every_path_inside_the_frame(motion):
    """placement='centred': the motion decides the start, the path's extent is centred on the frame's middle, and
    the drawn object stays inside the frame; the same motion always starts at the same place."""
    starts = set()
    for i in range(40):
        spec = syn.sample_spec(np.random.default_rng([3, i]), n_objects=1, placement="centred")
        o = spec.objects[0]
        if o.motion != motion:
            continue
        starts.add((o.x0, o.y0))
        path = syn.object_center(o, 16)
        mid = (path.min(axis=0) + path.max(axis=0)) / 2
        # (a bounce's sampled frames may miss its peak by a little)
        np.testing.assert_allclose(mid, [0.5, 0.5], atol=1e-12 if motion != "bouncing" else 2e-3)
        clip = syn.render(spec, frames=16, size=32)
        m = clip.masks[0]
        assert m.any(axis=(1, 2)).all()  # visible in every frame
        # no object pixel on the border: the whole shape is inside
        assert not (m[:, 0].any() or m[:, -1].any() or m[:, :, 0].any() or m[:, :, -1].any())
    assert len(starts) == 1


def test_centred_placement_refuses_two_objects_and_random_stays_the_default():
    with pytest.raises(ValueError, match="one object per clip"):
        syn.sample_spec(np.random.default_rng(0), n_objects=2, placement="centred")
    with pytest.raises(ValueError, match="placement"):
        syn.sample_spec(np.random.default_rng(0), placement="middle")
    # the default world is unchanged: random starts differ between clips of one motion
    xs = {syn.sample_spec(np.random.default_rng([5, i]), n_objects=1).objects[0].x0 for i in range(10)}
    assert len(xs) == 10
