"""First-block residual cache on the miss path (``MissCacheConfig``): bit-identical when off or at threshold 0,
an explicit hook-based oracle when it skips, exact revert, counters, and capture + hit after a skipping miss."""

from __future__ import annotations

import pytest
import torch

import chai
from chai import MissCacheConfig
from chai.patching import get_patch_handle
from tests.chai.test_stdit3 import make_inputs, make_model

pytest.importorskip("faiss")

from tests.chai.test_pipeline import FRAMES, GEN, HEIGHT, WIDTH, make_cache

PROMPT = "a tiger resting in a cave"
STEPS = 30
BLOCKS_PER_CALL = 4  # tiny preset: depth 2 -> 2 spatial + 2 temporal blocks
SKIPPED = BLOCKS_PER_CALL - 1  # blocks a skipping call leaves out with the default probe (spatial_blocks[0])


def _blocks(model):
    return [*model.spatial_blocks, *model.temporal_blocks]


def _calls(model, handle, inputs, **session):
    """One model call per (x, t) with an explicit step each; returns the outputs and the session."""
    _, _, y, kw = inputs[0]
    outs = []
    with handle.session(**session) as sess, torch.no_grad():
        for step, (x, t, _, _) in enumerate(inputs, start=1):
            sess.on_step(step, t[: x.shape[0] // 2], x[: x.shape[0] // 2])
            outs.append(model(x, t, y, **kw))
    return outs, sess


def _steps(model, n=3):
    """n CFG model inputs along a short trajectory (same captions, decreasing t, perturbed x)."""
    x, t, y, kw = make_inputs(model, B=2, cfg=True)
    out = []
    for i in range(n):
        g = torch.Generator().manual_seed(10 + i)
        out.append((x + 0.05 * i * torch.randn(x.shape, generator=g), t - 100.0 * i, y, kw))
    return out


@pytest.fixture()
def pipeline_model():
    from chai.demo import build_model

    return build_model("tiny", seed=0, device="cpu")


@pytest.fixture()
def encoder(pipeline_model):
    from chai.text_encoder import HashTextEncoder

    return HashTextEncoder(pipeline_model.config.caption_channels, pipeline_model.config.model_max_length, seed=1)


# -- the patch ---------------------------------------------------------------------------------------


def test_off_session_and_threshold_zero_are_bit_identical():
    model = make_model("tiny")
    inputs = _steps(model)
    with torch.no_grad():
        plain = [model(x, t, y, **kw) for x, t, y, kw in inputs]
    with chai.patched(model, miss_cache=MissCacheConfig(0.0)) as handle:
        zero, sess = _calls(model, handle, inputs)
        assert sess.first_block is not None and sess.blocks_skipped == 0
        assert sess.block_evals == len(inputs) * BLOCKS_PER_CALL
        off, sess_off = _calls(model, handle, inputs, miss_cache=False)
        assert sess_off.first_block is None and sess_off.blocks_skipped == 0
    for a, b, c in zip(plain, zero, off):
        assert torch.equal(a, b) and torch.equal(a, c)


@pytest.mark.parametrize("probe", ["block", "pair"])
def test_skipping_matches_a_hook_oracle_and_counts(probe):
    """Threshold so large that every call after the first reuses the first call's residual; the oracle is the
    unpatched model with torch forward hooks doing the same thing (blocks run in the order spatial 0, temporal 0,
    spatial 1, temporal 1; the probe is the first one or two)."""
    model = make_model("tiny")
    inputs = _steps(model)
    n_probe = {"block": 1, "pair": 2}[probe]
    with chai.patched(model, miss_cache=MissCacheConfig(1e9, probe=probe)) as handle:
        got, sess = _calls(model, handle, inputs)
    assert sess.first_block.calls_skipped == len(inputs) - 1
    assert sess.blocks_skipped == (len(inputs) - 1) * (BLOCKS_PER_CALL - n_probe)
    assert sess.block_evals + sess.blocks_skipped == len(inputs) * BLOCKS_PER_CALL

    seen: dict[str, torch.Tensor] = {}
    mode = {"skip": False}

    def pair0_in(mod, args):
        seen["in0"] = args[0]

    def pair0_out(mod, args, out):
        seen.setdefault("r0", []).append(out - seen["in0"])
        if mode["skip"]:
            return out + seen["rest"]
        seen["out0"] = out
        return None

    def later(mod, args, out):
        return args[0] if mode["skip"] else None

    def last(mod, args, out):
        if mode["skip"]:
            return args[0]
        seen["rest"] = out - seen["out0"]
        return None

    order = [model.spatial_blocks[0], model.temporal_blocks[0], model.spatial_blocks[1], model.temporal_blocks[1]]
    hooks = [order[0].register_forward_pre_hook(pair0_in), order[n_probe - 1].register_forward_hook(pair0_out)]
    hooks += [b.register_forward_hook(later) for b in order[n_probe:-1]]
    hooks.append(order[-1].register_forward_hook(last))
    try:
        want = []
        with torch.no_grad():
            for i, (x, t, y, kw) in enumerate(inputs):
                mode["skip"] = i > 0
                want.append(model(x, t, y, **kw))
    finally:
        for h in hooks:
            h.remove()
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    # the last call was measured against the first (last computed) call's block-0 residual, not the skipped one's
    r0 = seen["r0"]
    change = float((r0[-1] - r0[0]).abs().mean() / r0[0].abs().mean())
    assert sess.first_block.last_change == pytest.approx(change, rel=1e-5)
    with torch.no_grad():
        plain = model(*inputs[-1][:3], **inputs[-1][3])
    assert (got[-1] - plain).abs().max() > 1e-4  # the skip really changed the output


def test_threshold_is_the_decision_boundary():
    model = make_model("tiny")
    inputs = _steps(model, 2)
    with chai.patched(model, miss_cache=MissCacheConfig(1e9)) as handle:
        _, probe = _calls(model, handle, inputs)
    change = probe.first_block.last_change
    assert change > 0
    for factor, skips in ((0.999, 0), (1.001, 1)):
        with chai.patched(model, miss_cache=MissCacheConfig(change * factor)) as handle:
            _, sess = _calls(model, handle, inputs)
        assert sess.first_block.calls_skipped == skips, factor


def test_remove_restores_every_block_exactly():
    model = make_model("tiny")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    inputs = _steps(model, 2)
    with torch.no_grad():
        plain = [model(x, t, y, **kw) for x, t, y, kw in inputs]
    owners = [model, *_blocks(model), model.spatial_blocks[0].attn, model.spatial_blocks[0].cross_attn]
    handle = chai.patch_opensora(model, miss_cache=MissCacheConfig(1e9))
    assert handle.miss_cache == MissCacheConfig(1e9)
    assert all("forward" in b.__dict__ for b in _blocks(model))
    skipped, _ = _calls(model, handle, inputs)
    assert not torch.equal(skipped[1], plain[1])
    handle.remove()
    assert all("forward" not in o.__dict__ for o in owners) and get_patch_handle(model) is None
    sd = model.state_dict()
    assert list(sd) == list(before) and all(torch.equal(sd[k], before[k]) for k in before)
    with torch.no_grad():
        assert all(torch.equal(model(x, t, y, **kw), p) for (x, t, y, kw), p in zip(inputs, plain))
    # without miss_cache the patch leaves the later blocks alone (nothing to undo there)
    with chai.patched(model):
        assert all("forward" not in b.__dict__ for b in [*model.spatial_blocks[1:], *model.temporal_blocks])


def test_the_block_probe_works_on_a_single_block_pair():
    model = make_model("tiny", depth=1)
    inputs = _steps(model)
    with chai.patched(model, miss_cache=MissCacheConfig(1e9)) as handle:
        got, sess = _calls(model, handle, inputs)
    assert sess.blocks_skipped == len(inputs) - 1 and sess.block_evals == len(inputs) + 1  # temporal 0 skipped
    with torch.no_grad():
        plain = model(*inputs[-1][:3], **inputs[-1][3])
    assert torch.isfinite(got[-1]).all() and (got[-1] - plain).abs().max() > 1e-4


def test_validation_has_hints():
    with pytest.raises(ValueError, match="HINT"):
        MissCacheConfig(-0.1)
    with pytest.raises(ValueError, match="HINT"):
        MissCacheConfig(float("nan"))
    with pytest.raises(TypeError, match="HINT"):
        chai.patch_opensora(make_model("tiny"), miss_cache=0.1)
    with pytest.raises(ValueError, match="more than 2 block.*HINT"):
        chai.patch_opensora(make_model("tiny", depth=1), miss_cache=MissCacheConfig(0.1, probe="pair"))
    with pytest.raises(ValueError, match="probe.*'column'.*HINT"):
        MissCacheConfig(0.1, probe="column")
    with pytest.raises(ValueError, match="probe.*HINT"):
        chai.PipelineConfig(miss_cache_probe="first")  # an error even while the step cache is off
    model = make_model("tiny")
    with chai.patched(model) as handle, pytest.raises(ValueError, match="no MissCacheConfig.*HINT"):
        handle.session(miss_cache=True)
    with pytest.raises(ValueError, match="HINT"):
        chai.PipelineConfig(miss_cache=-1.0)


# -- the pipeline ------------------------------------------------------------------------------------


def test_pipeline_disabled_and_threshold_zero_equal_plain_sampling(pipeline_model, encoder):
    from chai.pipeline import CHAIPipeline, PipelineConfig, latent_shape

    y, ymask = encoder.encode([PROMPT])
    z = torch.randn((1, *latent_shape(FRAMES, HEIGHT, WIDTH)), generator=torch.Generator().manual_seed(0))
    with CHAIPipeline(pipeline_model, encoder, None) as pipe:
        sampler = pipe.sampler
        off = pipe.generate(PROMPT, seed=0, **GEN)
    want = sampler.sample(pipeline_model, z, y, mask=ymask, fps=24, num_steps=STEPS, **GEN)  # unpatched
    assert torch.equal(off.latents, want)
    assert (off.block_evals, off.blocks_skipped) == (STEPS * BLOCKS_PER_CALL, 0)
    with CHAIPipeline(pipeline_model, encoder, None, config=PipelineConfig(miss_cache=0.0)) as pipe:
        zero = pipe.generate(PROMPT, seed=0, **GEN)
    assert torch.equal(zero.latents, want) and zero.blocks_skipped == 0


def test_pipeline_large_threshold_skips_and_reports(pipeline_model, encoder):
    from chai.pipeline import CHAIPipeline, PipelineConfig

    with CHAIPipeline(pipeline_model, encoder, None) as pipe:
        plain = pipe.generate(PROMPT, seed=0, **GEN)
    with CHAIPipeline(pipeline_model, encoder, None, config=PipelineConfig(miss_cache=0.6)) as pipe:
        fast = pipe.generate(PROMPT, seed=0, **GEN)
    assert fast.blocks_skipped > 0 and fast.blocks_skipped % SKIPPED == 0
    assert fast.block_evals + fast.blocks_skipped == STEPS * BLOCKS_PER_CALL
    assert fast.block_evals >= STEPS  # the probe, spatial_blocks[0], always runs
    rec = fast.to_record()
    assert (rec["block_evals"], rec["blocks_skipped"]) == (fast.block_evals, fast.blocks_skipped)
    assert not torch.equal(fast.latents, plain.latents) and torch.isfinite(fast.latents).all()


def test_skipping_miss_captures_the_run_as_executed_and_a_hit_uses_it(pipeline_model, encoder):
    from chai.pipeline import CHAIPipeline, PipelineConfig
    from tests.chai.test_pipeline import plain_sample

    cache = make_cache()
    config = PipelineConfig(miss_cache=1e9)
    with CHAIPipeline(pipeline_model, encoder, cache, config=config) as pipe:
        miss = pipe.generate(PROMPT, seed=0, **GEN)
        assert not miss.hit and len(miss.capture_steps) == 3 and len(cache) == 1
        assert miss.blocks_skipped == (STEPS - 1) * SKIPPED
        # the same skipping run driven by hand: its captures are what was stored
        ref, sess = plain_sample(pipe, PROMPT, seed=0, steps=STEPS, capture=miss.capture_steps)
        assert sess.first_block is not None and torch.equal(ref, miss.latents)
        match = cache.lookup(PROMPT, shape=(1, *miss.latents.shape[1:]), model=pipe.schedule_id(**GEN)).match
        from chai_kernels import dequantize_latent

        for step, q in zip(miss.capture_steps, match.latents):
            cap = sess.captured[step]
            step_size = cap.abs().amax(dim=(3, 4), keepdim=True) / 127
            assert bool(((dequantize_latent(q, dtype=torch.float32) - cap).abs() <= step_size * 0.5 + 1e-6).all())

        hit = pipe.generate("a tiger running through the jungle", seed=1, **GEN)
        assert hit.hit and hit.steps == 8 and hit.entry_id == miss.inserted_entry
        assert hit.blocks_skipped == 0 and hit.block_evals == 8 * BLOCKS_PER_CALL  # off on hits by default
        no_cache, _ = plain_sample(pipe, "a tiger running through the jungle", seed=1, steps=8)
        assert (hit.latents - no_cache).abs().max() > 1e-4  # Cache Attention read the stored latents
    with CHAIPipeline(pipeline_model, encoder, None) as pipe:
        _, unskipped_sess = plain_sample(pipe, PROMPT, seed=0, steps=STEPS, capture=miss.capture_steps)
    late = max(miss.capture_steps)
    assert not torch.equal(unskipped_sess.captured[late], sess.captured[late])  # captures are the skipping run's
    cache.close()


def test_on_hits_keeps_skipping_on_the_hit(pipeline_model, encoder):
    from chai.pipeline import CHAIPipeline, PipelineConfig

    cache = make_cache()
    config = PipelineConfig(miss_cache=1e9, miss_cache_on_hits=True)
    with CHAIPipeline(pipeline_model, encoder, cache, config=config) as pipe:
        pipe.generate(PROMPT, seed=0, **GEN)
        hit = pipe.generate("a tiger running through the jungle", seed=1, **GEN)
    assert hit.hit and hit.blocks_skipped == 7 * SKIPPED
    cache.close()
