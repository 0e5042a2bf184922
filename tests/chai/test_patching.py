"""Cache Attention patch: equivalence when inactive, an explicit oracle when active, exact revert,
refusals, sessions, capture of latents and cross-attention maps."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import chai
from chai import CacheAttentionConfig
from chai.models import STDiT3Block
from chai.patching import capture_steps_for, get_patch_handle
from chai.sampling import RFlowSampler
from tests.chai.test_stdit3 import _err, make_inputs, make_model, reference_forward


def _owners(model):
    b = model.spatial_blocks[0]
    return [model, b, b.attn, b.cross_attn]


def _patched_call(model, handle, x, t, y, kw, *, step=2, x_mask=None, **session):
    n_cond = x.shape[0] // 2 if session.pop("_cfg", False) else x.shape[0]
    with handle.session(**session) as sess:
        sess.on_step(step, t[:n_cond], x[:n_cond])
        with torch.no_grad():
            out = model(x, t, y, x_mask=x_mask, **kw)
    return out, sess


# -- inactive patch == unpatched ---------------------------------------------------------------------


@pytest.mark.parametrize("use_x_mask", [False, True])
@pytest.mark.parametrize("B,cfg", [(1, False), (3, False), (4, True)])
def test_patched_without_cache_is_identical(B, cfg, use_x_mask):
    model = make_model("tiny")
    x, t, y, kw = make_inputs(model, B=B, cfg=cfg)
    x_mask = torch.tensor([[True, False, True]] * B) if use_x_mask else None
    with torch.no_grad():
        ref = model(x, t, y, x_mask=x_mask, **kw)
    handle = chai.patch_opensora(model)
    with torch.no_grad():
        out_nosession = model(x, t, y, x_mask=x_mask, **kw)
    # a session with a cache, but at a step outside config.steps, and a session without a cache
    cached = {k: torch.randn(4, 3, 8, 7) for k in (2, 3, 4)}
    out_other_step, sess = _patched_call(model, handle, x, t, y, kw, step=5, x_mask=x_mask, cached_latents=cached)
    out_nocache, _ = _patched_call(model, handle, x, t, y, kw, step=2, x_mask=x_mask)
    handle.remove()
    assert torch.equal(out_nosession, ref) and torch.equal(out_other_step, ref) and torch.equal(out_nocache, ref)
    assert sess.cache_calls == 0


# -- active patch == explicit oracle -----------------------------------------------------------------


CASES = [
    # preset, B, cfg, mode, bias, token mask, uncond_uses_cache, x_mask
    ("tiny", 1, False, "joint", 0.0, False, True, False),
    ("tiny", 2, True, "joint", 0.5, True, True, False),  # CFG batch: one cached clip serves both halves
    ("tiny", 2, True, "joint", 0.0, True, False, False),  # cond-only
    ("tiny", 3, False, "replace", -0.3, True, True, True),  # replace + x_mask, batch 3
    ("tiny-hd72", 4, True, "replace", 0.0, False, False, True),  # head_dim 72, CFG of 2 prompts, cond-only
]


@pytest.mark.parametrize("preset,B,cfg,mode,bias,use_mask,uncond,use_x_mask", CASES)
def test_patched_with_cache_matches_explicit_oracle(preset, B, cfg, mode, bias, use_mask, uncond, use_x_mask):
    model = make_model(preset)
    T, H, W = 3, 6, 7
    x, t, y, kw = make_inputs(model, B=B, T=T, H=H, W=W, cfg=cfg)
    S = (H // 2) * ((W + 1) // 2)
    g = torch.Generator().manual_seed(5)
    latent = torch.randn(4, T, H, W, generator=g)
    token_mask = torch.rand(T, S, generator=g) > 0.5 if use_mask else None
    if token_mask is not None:
        token_mask[1] = False  # a frame with nothing selected (replace -> self-attention fallback)
    x_mask = torch.tensor([[True, False, True]] * B) if use_x_mask else None
    cfg_obj = CacheAttentionConfig(mode=mode, cache_bias=bias, uncond_uses_cache=uncond)
    handle = chai.patch_opensora(model, cfg_obj)
    cached = {2: latent[None], 3: torch.randn(4, T, H, W), 4: torch.randn(4, T, H, W)}
    out, sess = _patched_call(model, handle, x, t, y, kw, step=2, x_mask=x_mask, cached_latents=cached,
                              token_mask=token_mask, _cfg=cfg)  # fmt: skip
    handle.remove()
    rows = B * T if uncond else (B // 2 if cfg else B) * T
    cache = dict(latent=latent, token_mask=token_mask, mode=mode, bias=bias, rows=rows)
    ref = reference_forward(model, x, t, y, x_mask=x_mask, **kw, cache=cache)
    plain = reference_forward(model, x, t, y, x_mask=x_mask, **kw)
    assert sess.cache_calls == 1
    assert _err(out, ref) <= 1e-5 * max(1.0, ref.abs().max().item()), _err(out, ref)
    assert _err(ref, plain) > 1e-3  # the cache really changes the output


def test_per_row_timesteps_use_per_row_modulation():
    """Rows with different timesteps modulate the cached tokens with their own shift/scale."""
    model = make_model("tiny")
    x, t, y, kw = make_inputs(model, B=2)  # two different timesteps
    latent = torch.randn(4, 3, 8, 7)
    handle = chai.patch_opensora(model, CacheAttentionConfig(steps=(3,)))
    out, _ = _patched_call(model, handle, x, t, y, kw, step=3, cached_latents={3: latent})
    handle.remove()
    ref = reference_forward(model, x, t, y, **kw, cache=dict(latent=latent))
    assert _err(out, ref) <= 1e-5 * max(1.0, ref.abs().max().item())


def test_patched_cache_run_under_autograd():
    model = make_model("tiny")
    x, t, y, kw = make_inputs(model, B=1)
    with (
        chai.patched(model) as handle,
        handle.session(cached_latents={k: torch.randn(4, 3, 8, 7) for k in (2, 3, 4)}) as sess,
    ):
        sess.on_step(3, t, x)
        out = model(x, t, y, **kw)
        out.sum().backward()
    assert sess.cache_calls == 1 and model.spatial_blocks[0].attn.qkv.weight.grad is not None


def test_bf16_smoke_with_cache():
    model = make_model("tiny")
    x, t, y, kw = make_inputs(model, B=2, cfg=True)
    cached = {k: torch.randn(4, 3, 8, 7) for k in (2, 3, 4)}
    with chai.patched(model) as handle:
        ref, _ = _patched_call(model, handle, x, t, y, kw, cached_latents=cached, _cfg=True)
        model.to(torch.bfloat16)
        out, sess = _patched_call(model, handle, x, t, y, kw, cached_latents=cached, _cfg=True)
    assert sess.cache_calls == 1 and out.dtype == torch.float32 and torch.isfinite(out).all()
    assert _err(out, ref) < 0.1 * max(1.0, ref.abs().max().item())


# -- reversibility and isolation ---------------------------------------------------------------------


def test_remove_restores_exact_forwards_and_state_dict_untouched():
    model = make_model("tiny")
    other = make_model("tiny", seed=3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, t, y, kw = make_inputs(model, B=1)
    with torch.no_grad():
        out_before = model(x, t, y, **kw)
    owners = _owners(model)
    assert all("forward" not in o.__dict__ for o in owners)
    handle = chai.patch_opensora(model)
    assert all("forward" in o.__dict__ for o in owners)
    assert all("forward" not in o.__dict__ for o in _owners(other))  # other instance untouched
    assert type(model.spatial_blocks[0]).forward is STDiT3Block.forward  # class untouched
    sd = model.state_dict()
    assert list(sd) == list(before) and all(torch.equal(sd[k], before[k]) for k in before)
    assert get_patch_handle(model) is handle and "_chai" not in "".join(sd)
    out_cache, _ = _patched_call(
        model, handle, x, t, y, kw, cached_latents={k: torch.randn(4, 3, 8, 7) for k in (2, 3, 4)}
    )
    handle.remove()
    assert all("forward" not in o.__dict__ for o in owners)
    assert get_patch_handle(model) is None
    with torch.no_grad():
        assert torch.equal(model(x, t, y, **kw), out_before) and not torch.allclose(out_cache, out_before)
    handle.remove()  # idempotent
    # a pre-existing instance-level forward is put back as the very same object
    sentinel = model.spatial_blocks[0].attn.forward
    model.spatial_blocks[0].attn.__dict__["forward"] = sentinel
    with chai.patched(model):
        assert model.spatial_blocks[0].attn.__dict__["forward"] is not sentinel
    assert model.spatial_blocks[0].attn.__dict__["forward"] is sentinel


def test_patched_context_restores_on_error_and_unpatch():
    model = make_model("tiny")
    with pytest.raises(KeyError):
        with chai.patched(model):
            raise KeyError("boom")
    assert all("forward" not in o.__dict__ for o in _owners(model))
    chai.patch_opensora(model)
    chai.unpatch(model)
    assert all("forward" not in o.__dict__ for o in _owners(model))
    with pytest.raises(ValueError, match="not patched.*HINT"):
        chai.unpatch(model)


def test_patching_twice_is_an_error_with_hint():
    model = make_model("tiny")
    with chai.patched(model):
        with pytest.raises(RuntimeError, match="already patched.*HINT"):
            chai.patch_opensora(model)


# -- refusals ----------------------------------------------------------------------------------------


def test_refuses_non_opensora_models_listing_everything_missing():
    class Fake(nn.Module):
        def __init__(self):
            super().__init__()
            blk = nn.Module()
            blk.attn = nn.Module()
            blk.attn.qkv = nn.Linear(4, 12)
            self.spatial_blocks = nn.ModuleList([blk])

    with pytest.raises(TypeError) as ei:
        chai.patch_opensora(Fake())
    msg = str(ei.value)
    expected = ["temporal_blocks", "x_embedder.proj.weight", "spatial_blocks[0].attn.q_norm"]
    expected += ["spatial_blocks[0].attn.k_norm", "spatial_blocks[0].norm1", "spatial_blocks[0].cross_attn.q_linear"]
    for name in expected:
        assert name in msg, name
    assert "HINT" in msg
    with pytest.raises(TypeError, match="Module"):
        chai.patch_opensora(object())


def test_refuses_v13_kernel_size_and_sequence_parallel():
    model = make_model("tiny")
    model.temporal_blocks[1].attn.kernel_size = (8, 8, -1)
    with pytest.raises(TypeError, match="kernel_size.*1.3"):
        chai.patch_opensora(model)
    model = make_model("tiny")
    model.enable_sequence_parallelism = True
    with pytest.raises(TypeError, match="sequence"):
        chai.patch_opensora(model)
    model = make_model("tiny")
    with pytest.raises(ValueError, match="spatial blocks"):
        chai.patch_opensora(model, CacheAttentionConfig(blocks=(5,)))
    assert all("forward" not in o.__dict__ for o in _owners(model))  # nothing half-patched


def test_config_validation():
    assert CacheAttentionConfig(steps=[4, 2, 3]).steps == (2, 3, 4)
    with pytest.raises(ValueError, match="mode"):
        CacheAttentionConfig(mode="blend")
    with pytest.raises(ValueError, match="1-based"):
        CacheAttentionConfig(steps=(0, 1))
    with pytest.raises(ValueError, match="duplicates"):
        CacheAttentionConfig(blocks=(0, 0))
    with pytest.raises(TypeError, match="cache_bias"):
        CacheAttentionConfig(cache_bias="1")
    with pytest.raises(ValueError, match="finite"):
        CacheAttentionConfig(cache_bias=float("inf"))


def test_session_validation():
    model = make_model("tiny")
    x, t, y, kw = make_inputs(model, B=1)
    with chai.patched(model) as handle:
        with pytest.raises(ValueError, match="steps"):
            handle.session(cached_latents={2: torch.randn(4, 3, 8, 7)})
        with pytest.raises(TypeError, match="token_mask"):
            handle.session(cached_latents={k: torch.randn(4, 3, 8, 7) for k in (2, 3, 4)}, token_mask=torch.ones(3, 16))
        with pytest.raises(TypeError, match="float"):
            handle.session(cached_latents={k: torch.ones(4, 3, 8, 7, dtype=torch.int8) for k in (2, 3, 4)})
        bad = {k: torch.randn(4, 3, 8, 8) for k in (2, 3, 4)}
        with pytest.raises(ValueError, match="shape.*miss"):
            _patched_call(model, handle, x, t, y, kw, cached_latents=bad)
        good = {k: torch.randn(4, 3, 8, 7) for k in (2, 3, 4)}
        with pytest.raises(ValueError, match="token_mask"):
            _patched_call(
                model, handle, x, t, y, kw, cached_latents=good, token_mask=torch.ones(3, 5, dtype=torch.bool)
            )
        with handle.session():
            with pytest.raises(RuntimeError, match="already active"):
                with handle.session():
                    pass
    with pytest.raises(RuntimeError, match="removed"):
        handle.session()


# -- sampler integration and capture -----------------------------------------------------------------


def test_sampler_hit_run_uses_cache_only_at_configured_steps_and_auto_steps_agree():
    model = make_model("tiny")
    z = torch.randn(1, 4, 3, 8, 8)
    y = torch.randn(1, 1, 8, 32)
    args = dict(mask=torch.ones(1, 8), num_frames=17, num_steps=8, height=64, width=64)
    cached = {k: torch.randn(4, 3, 8, 8) for k in (2, 3, 4)}
    sampler = RFlowSampler()
    with chai.patched(model) as handle:
        with handle.session(cached_latents=cached) as sess:
            out = sampler.sample(model, z, y, callback=sess.on_step, **args)
        with handle.session(cached_latents=cached) as auto:  # no callback: each model call is a step
            out_auto = sampler.sample(model, z, y, **args)
    plain = sampler.sample(model, z, y, **args)
    assert sess.cache_calls == 3 and auto.cache_calls == 3 and sess.step == 8 and auto.step == 8
    assert sess.mask_preparations == 1 and auto.mask_preparations == 1  # the hit's mask is prepared once
    assert torch.equal(out, out_auto) and not torch.allclose(out, plain, atol=1e-4)


def test_capture_latents_and_cross_attention():
    model = make_model("tiny")
    z = torch.randn(2, 4, 3, 8, 7)
    y = torch.randn(2, 1, 8, 32)
    mask = torch.ones(2, 8, dtype=torch.long)
    mask[1, 5:] = 0  # second prompt has 5 valid tokens
    size = dict(height=240, width=426, num_frames=51)
    steps = capture_steps_for(30, 8, (2, 3, 4), **size)
    assert steps == (5, 8, 12)
    seen = {}
    with chai.patched(model) as handle:
        with handle.session(capture_steps=steps, capture_cross_attn=True) as sess:

            def cb(i, t, zz):
                sess.on_step(i, t, zz)
                seen[i] = zz.clone()

            RFlowSampler().sample(model, z, y, mask=mask, callback=cb, **size)
    assert sorted(sess.captured) == [5, 8, 12] and sorted(sess.cross_attn) == [5, 8, 12]
    for k in steps:
        assert sess.captured[k].dtype == torch.float32 and torch.equal(sess.captured[k], seen[k])
        p = sess.cross_attn[k]
        assert p.shape == (2, 3, 16, 8) and p.dtype == torch.float32  # (B, T, S, L), S = 4 * 4 patches
        assert torch.allclose(p[0].sum(-1), torch.ones(3, 16), atol=1e-5)
        assert torch.allclose(p[1, ..., :5].sum(-1), torch.ones(3, 16), atol=1e-5)
        assert torch.equal(p[1, ..., 5:], torch.zeros(3, 16, 3))
    # explicit check of one map: block-0 cross-attention of sample 0, from the block input at step 5
    blk = model.spatial_blocks[0]
    probe = {}
    with chai.patched(model) as handle, handle.session(capture_steps=(1,), capture_cross_attn=True) as sess:
        orig = blk.cross_attn.forward
        blk.cross_attn.__dict__["forward"] = lambda x, c, m=None: probe.update(x=x, c=c, m=m) or orig(x, c, m)
        x_in = torch.cat([seen[5], seen[5]])
        t_in = torch.full((4,), 940.0)
        sess.on_step(1, t_in[:2], seen[5])
        with torch.no_grad():
            model(x_in, t_in, torch.cat([y, y]), mask=mask, fps=torch.full((2,), 24.0),
                  height=torch.full((2,), 240.0), width=torch.full((2,), 426.0))  # fmt: skip
        blk.cross_attn.__dict__["forward"] = orig
    ca = blk.cross_attn
    q = ca.q_linear(probe["x"][0]).reshape(48, 4, 16)
    k = ca.kv_linear(probe["c"][0, :8]).reshape(8, 2, 4, 16)[:, 0]
    expect = torch.softmax(torch.einsum("nhd,lhd->hnl", q, k) / 4.0, -1).mean(0).reshape(3, 16, 8)
    assert probe["m"] == [8, 5, 8, 5]
    assert torch.allclose(sess.cross_attn[1][0], expect, atol=1e-6)
