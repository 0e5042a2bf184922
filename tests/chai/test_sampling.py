"""chai.sampling.RFlowSampler: OpenSora 1.2 schedule values, CFG batching, Euler update, callbacks."""

from __future__ import annotations

import math

import pytest
import torch

from chai.sampling import RFlowSampler, capture_steps_for, timestep_transform_ratio

# Reference values (OpenSora 1.2's published rectified-flow schedule with its timestep transform), 240p 9:16.
REF_30_51_FIRST = [1000, 985.9, 971.3, 956.1, 940.2]
REF_30_51_LAST = [326.0, 271.2, 211.8, 147.3, 77.0]
REF_8_51 = [1000, 944.2, 878.9, 801.2, 707.5, 592.0, 446.4, 256.8]
REF_8_68 = [1000, 951.3, 893.4, 823.2, 736.3, 626.3, 482.1, 285.2]
SIZE = dict(height=240, width=426)


def _close(got, ref, tol=0.051):
    return all(abs(float(g) - r) <= tol for g, r in zip(got, ref, strict=False)) and len(got) == len(ref)


def test_timesteps_match_reference_notes():
    s = RFlowSampler()
    t30 = s.timesteps(30, num_frames=51, **SIZE)
    assert t30.dtype == torch.float32 and t30.shape == (30,)
    assert _close(t30[:5].tolist(), REF_30_51_FIRST) and _close(t30[-5:].tolist(), REF_30_51_LAST)
    assert _close(s.timesteps(8, num_frames=51, **SIZE).tolist(), REF_8_51)
    assert _close(s.timesteps(8, num_frames=68, **SIZE).tolist(), REF_8_68)
    assert _close(s.timesteps(8, num_frames=72, **SIZE).tolist(), REF_8_68)  # floor(72/17) == 4
    assert abs(timestep_transform_ratio(240, 426, 51) - 2.419) < 1e-3
    assert abs(timestep_transform_ratio(240, 426, 68) - 2.793) < 1e-3


def test_timesteps_image_case_and_no_transform():
    s = RFlowSampler()
    r = math.sqrt(240 * 426) / 512
    t = s.timesteps(4, num_frames=1, **SIZE).double()
    lin = torch.tensor([1.0, 0.75, 0.5, 0.25], dtype=torch.float64)
    assert torch.allclose(t, 1000 * r * lin / (1 + (r - 1) * lin), atol=1e-3)
    plain = RFlowSampler(use_timestep_transform=False).timesteps(4, num_frames=51, **SIZE)
    assert torch.allclose(plain, 1000 * lin.float())
    with pytest.raises(ValueError, match="num_frames"):
        s.timesteps(8, num_frames=16, **SIZE)
    with pytest.raises(ValueError, match="num_steps"):
        s.timesteps(0, num_frames=51, **SIZE)


def test_capture_steps_for_240p():
    for frames in (51, 68, 72):
        assert capture_steps_for(30, 8, (2, 3, 4), num_frames=frames, **SIZE) == (5, 8, 12)
    with pytest.raises(ValueError, match="cache step"):
        capture_steps_for(30, 8, (0, 9), num_frames=51, **SIZE)


class _RecordingModel(torch.nn.Module):
    """Velocity = a*x + b*(t/1000) + mean of y (per sample), 8 output channels; records every call."""

    def __init__(self, L=5, Cy=3):
        super().__init__()
        self.calls = []
        self.y_embedder = torch.nn.Module()
        self.y_embedder.register_buffer("y_embedding", torch.randn(L, Cy))

    def forward(self, x, timestep, y, mask=None, x_mask=None, fps=None, height=None, width=None, **kw):
        self.calls.append(dict(x=x.clone(), t=timestep.clone(), y=y.clone(), mask=mask, x_mask=x_mask, fps=fps,
                               height=height, width=width))  # fmt: skip
        ym = y.mean(dim=(1, 2, 3))[:, None, None, None, None]
        v = 0.3 * x + (timestep / 1000)[:, None, None, None, None] + ym
        return torch.cat([v, torch.full_like(v, 99.0)], 1).float()


def test_sample_cfg_batching_update_and_callbacks():
    torch.manual_seed(0)
    model = _RecordingModel()
    z0 = torch.randn(2, 4, 3, 4, 4)
    y = torch.randn(2, 1, 5, 3)
    mask = torch.ones(2, 5, dtype=torch.long)
    seen = []
    s = RFlowSampler(cfg_scale=5.0)
    out = s.sample(model, z0, y, mask=mask, num_frames=51, num_steps=4, fps=24,
                   callback=lambda i, t, z: seen.append((i, t.clone(), z.clone())), **SIZE)  # fmt: skip
    ts = s.timesteps(4, num_frames=51, **SIZE)
    # explicit loop
    y_null = model.y_embedder.y_embedding[None].repeat(2, 1, 1)[:, None]
    z = z0.clone()
    for i in range(4):

        def vel(yy, zz=z, t=ts[i]):
            return 0.3 * zz + t / 1000 + yy.mean(dim=(1, 2, 3))[:, None, None, None, None]

        v = vel(y_null) + 5.0 * (vel(y) - vel(y_null))
        dt = (ts[i] - (ts[i + 1] if i < 3 else 0)) / 1000
        assert seen[i][0] == i + 1 and torch.equal(seen[i][1], ts[i].expand(2)) and torch.allclose(seen[i][2], z)
        z = z + v * dt
    assert torch.allclose(out, z, atol=1e-5)
    assert len(model.calls) == 4
    c = model.calls[0]
    assert c["x"].shape[0] == 4 and torch.equal(c["x"][:2], c["x"][2:])
    assert torch.equal(c["y"][:2], y) and torch.equal(c["y"][2:], y_null)
    assert c["mask"] is mask and c["x_mask"] is None  # the model repeats the conditional mask itself
    assert c["height"].tolist() == [240.0, 240.0] and c["fps"].tolist() == [24.0, 24.0]


def test_sample_x_mask_keeps_conditioning_frames():
    torch.manual_seed(1)
    model = _RecordingModel()
    z0 = torch.randn(1, 4, 3, 4, 4)
    x_mask = torch.tensor([[False, True, True]])
    out = RFlowSampler().sample(model, z0, torch.randn(1, 1, 5, 3), num_frames=51, num_steps=3, x_mask=x_mask,
                                generator=torch.Generator().manual_seed(0), **SIZE)  # fmt: skip
    assert torch.equal(out[:, :, 0], z0[:, :, 0])  # clean conditioning frame
    assert not torch.allclose(out[:, :, 1:], z0[:, :, 1:])
    assert model.calls[0]["x_mask"].tolist() == [[False, True, True]] * 2


def test_sample_validation():
    model = _RecordingModel()
    with pytest.raises(ValueError, match="y must be"):
        RFlowSampler().sample(model, torch.randn(2, 4, 3, 4, 4), torch.randn(1, 1, 5, 3), num_frames=51, **SIZE)
    with pytest.raises(ValueError, match="z must be"):
        RFlowSampler().sample(model, torch.randn(4, 3, 4, 4), torch.randn(1, 1, 5, 3), num_frames=51, **SIZE)


def test_sample_tiny_stdit3_smoke():
    from tests.chai.test_stdit3 import make_model

    model = make_model("tiny")
    z = torch.randn(1, 4, 3, 8, 8)
    y = torch.randn(1, 1, 8, 32)
    out = RFlowSampler().sample(model, z, y, mask=torch.ones(1, 8), num_frames=17, num_steps=3, height=64, width=64)
    assert out.shape == z.shape and out.dtype == torch.float32 and torch.isfinite(out).all()
