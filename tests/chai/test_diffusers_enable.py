"""chai.diffusers.enable_chai on tiny random Wan / CogVideoX / Latte pipelines (real diffusers classes, CPU).

Behaviour through ``pipe(...)``: idle and miss runs are bit-identical to the stock pipeline, a miss then a
related prompt hits with the short schedule, ``remove()`` restores, refusals and misses are as documented.
The float64 checks of the patched attention and of the entity masks are in test_diffusers_reference.py.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from chai.cache import BuiltinExtractor, HashingEmbedder, LatentCache
from chai.diffusers import SUPPORTED_PIPELINES, ChaiDiffusersConfig, enable_chai
from chai.diffusers.tiny import TINY_CALL_KWARGS, tiny_pipeline, tiny_tokenizer

KINDS = ("wan", "cogvideox", "latte")
MISS_STEPS = 8  # hit: max(round(8 * 8 / 30), 4) = 4 steps, Cache Attention at 2, 3, 4
PROMPT = "a corgi surfing a wave at sunset"
RELATED = "a corgi running on the beach"


def _cache() -> LatentCache:
    return LatentCache(64_000_000, embedder=HashingEmbedder(), extractor=BuiltinExtractor())


def _run(pipe, kind, prompt=PROMPT, steps=MISS_STEPS, seed=0, **kw):
    args = dict(TINY_CALL_KWARGS[kind])
    args.update(kw)
    out = pipe(
        prompt=prompt, num_inference_steps=steps, generator=torch.Generator().manual_seed(seed), output_type="latent",
        **args,
    )  # fmt: skip
    return out.frames


def _processors(pipe):
    return {name: m.processor for name, m in pipe.transformer.named_modules() if hasattr(m, "processor")}


@pytest.mark.parametrize("kind", KINDS)
def test_idle_miss_and_removed_runs_are_bit_identical(kind):
    pipe = tiny_pipeline(kind)
    ref = _run(pipe, kind)
    procs = _processors(pipe)
    cls = type(pipe)

    handle = enable_chai(pipe, cache=None)  # installed, no cache: plain calls
    assert type(pipe) is not cls and isinstance(pipe, cls) and type(pipe).__name__ == cls.__name__
    assert torch.equal(_run(pipe, kind), ref)
    assert handle.last.reason == "no cache" and not handle.last.hit
    handle.remove()

    handle = enable_chai(pipe, cache=_cache())  # a miss: captures, never changes the numbers
    out = _run(pipe, kind)
    assert not handle.last.hit and handle.last.reason == "miss" and handle.last.steps == MISS_STEPS
    assert torch.equal(out, ref)
    assert handle.last.inserted[0] is not None and len(handle.last.capture_steps) == 3

    out_hit = _run(pipe, kind, prompt=RELATED)  # a hit changes the numbers and the steps
    assert handle.last.hit and handle.last.steps == 4
    handle.remove()
    handle.remove()  # idempotent
    assert type(pipe) is cls
    assert _processors(pipe) == procs
    for m in pipe.transformer.modules():
        reg = getattr(m, "_diffusers_hook", None)
        assert reg is None or not any(n.startswith("chai_") for n in reg.hooks)
    assert torch.equal(_run(pipe, kind), ref)
    assert not torch.equal(_run(pipe, kind, prompt=RELATED, steps=4), out_hit)  # the hit really used the cache


@pytest.mark.parametrize("kind", KINDS)
def test_miss_then_hit_through_pipe(kind):
    pipe = tiny_pipeline(kind)
    cache = _cache()
    handle = enable_chai(pipe, cache=cache)
    _run(pipe, kind)
    miss = handle.last
    assert not miss.hit and miss.steps == MISS_STEPS and len(cache) == 1
    assert set(miss.entity_masks[0]) == {"corgi", "sunset"}
    T, S = {"wan": (3, 16), "cogvideox": (3, 16), "latte": (3, 16)}[kind]
    for m in miss.entity_masks[0].values():
        assert m.shape == (T, S) and m.dtype == torch.bool and m.any(dim=1).all()

    seen = []

    def on_step(p, i, t, kwargs):
        seen.append(int(i))
        return {}

    out = _run(pipe, kind, prompt=RELATED, seed=1, callback_on_step_end=on_step)
    hit = handle.last
    assert hit.hit and hit.reason == "hit" and hit.steps == 4 and hit.requested_steps == MISS_STEPS
    assert hit.matched_entity == "corgi" and hit.matches[0]["entry_id"] == miss.inserted[0]
    assert hit.cache_steps == (2, 3, 4)
    # One patched call per cache step and CFG call: Wan runs cond and uncond separately, the others batch them.
    assert hit.cache_calls == (6 if kind == "wan" else 3)
    assert seen == [0, 1, 2, 3]  # the user's callback_on_step_end still runs every step
    assert torch.isfinite(out).all()
    assert set(hit.timings) >= {"lookup", "cache_load", "pipeline", "cache_kv", "cache_attention", "total"}
    assert len(cache) == 1  # hits are not inserted
    handle.remove()


@pytest.mark.parametrize("kind", KINDS)
def test_batch_of_two_prompts_hits_with_one_cache_row_each(kind):
    pipe = tiny_pipeline(kind)
    cache = _cache()
    handle = enable_chai(pipe, cache=cache)
    _run(pipe, kind, prompt=[PROMPT, "a tiger sitting in a dark cave"])
    assert not handle.last.hit and all(e is not None for e in handle.last.inserted) and len(cache) == 2
    out = _run(pipe, kind, prompt=["a tiger walking in the snow", RELATED])
    last = handle.last
    assert last.hit and [m["cached_entity"] for m in last.matches] == ["tiger", "corgi"]
    assert out.shape[0] == 2 and torch.isfinite(out).all()
    # A call where one prompt misses runs the full schedule and inserts only the new prompt.
    _run(pipe, kind, prompt=["a panda eating", RELATED])
    assert not handle.last.hit and handle.last.inserted[0] is not None and handle.last.inserted[1] is None
    assert len(cache) == 3
    handle.remove()


def test_videos_per_prompt_share_their_prompt_cache_row():
    pipe = tiny_pipeline("latte")
    handle = enable_chai(pipe, cache=_cache())
    _run(pipe, "latte", num_images_per_prompt=2)  # Latte names it "images"
    assert not handle.last.hit and handle.last.inserted[0] is not None
    out = _run(pipe, "latte", prompt=RELATED, num_images_per_prompt=2)
    assert handle.last.hit and handle.last.cache_calls == 3 and out.shape[0] == 2
    assert not torch.equal(out[0], out[1])  # two videos from different noise, both served by one entry
    handle.remove()


def test_other_resolution_or_frame_count_is_a_miss_not_an_error():
    pipe = tiny_pipeline("wan")
    cache = _cache()
    handle = enable_chai(pipe, cache=cache)
    _run(pipe, "wan")
    _run(pipe, "wan", prompt=RELATED, height=48)
    assert not handle.last.hit and handle.last.latent_shape == (16, 3, 6, 8)
    _run(pipe, "wan", prompt=RELATED, num_frames=5)
    assert not handle.last.hit and handle.last.latent_shape == (16, 2, 8, 8)
    assert len(cache) == 3
    _run(pipe, "wan", prompt=RELATED)
    assert handle.last.hit
    handle.remove()


def test_model_identity_keeps_models_apart_in_one_cache():
    cache = _cache()
    wan, cog = tiny_pipeline("wan"), tiny_pipeline("cogvideox")
    hw, hc = enable_chai(wan, cache=cache), enable_chai(cog, cache=cache)
    _run(wan, "wan")
    _run(cog, "cogvideox", prompt=RELATED)
    assert not hc.last.hit  # same prompt entity, same cache, another model: a miss
    assert hw.last.model_id != hc.last.model_id and hw.last.model_id.startswith("WanPipeline/")
    _run(wan, "wan", prompt=RELATED)
    assert hw.last.hit
    hw.remove()
    hc.remove()


def test_unsupported_pipeline_lists_the_supported_ones():
    class WanPipeline:  # right name, not diffusers' class
        transformer = None

    for obj in (object(), WanPipeline()):
        with pytest.raises(TypeError) as exc:
            enable_chai(obj, cache=None)
        msg = str(exc.value)
        assert all(name in msg for name in SUPPORTED_PIPELINES) and "HINT" in msg


def test_refuses_wan_per_token_time_embeddings():
    pipe = tiny_pipeline("wan")
    pipe.register_to_config(expand_timesteps=True)
    with pytest.raises(TypeError, match="(?s)expand_timesteps.*HINT"):
        enable_chai(pipe, cache=None)
    assert "_chai_handle" not in pipe.__dict__


def test_refuses_twice_and_other_diffusers_cache_hooks():
    from diffusers import FirstBlockCacheConfig

    pipe = tiny_pipeline("wan")
    handle = enable_chai(pipe, cache=_cache())
    with pytest.raises(RuntimeError, match="already enabled"):
        enable_chai(pipe, cache=None)
    pipe.transformer.enable_cache(FirstBlockCacheConfig(threshold=0.2))
    with pytest.raises(RuntimeError, match="(?s)another diffusers cache.*fbc.*HINT"):
        _run(pipe, "wan")
    handle.remove()
    with pytest.raises(RuntimeError, match="(?s)FirstBlockCacheConfig.*HINT.*disable_cache.*miss_cache="):
        enable_chai(pipe, cache=_cache())
    pipe.transformer.disable_cache()
    enable_chai(pipe, cache=_cache()).remove()


def test_prompt_embeds_and_custom_schedules_run_without_chai():
    pipe = tiny_pipeline("cogvideox")
    handle = enable_chai(pipe, cache=_cache())
    embeds, neg = pipe.encode_prompt(PROMPT, max_sequence_length=16, device="cpu")
    pipe(prompt_embeds=embeds, negative_prompt_embeds=neg, num_inference_steps=4, output_type="latent",
         **{k: v for k, v in TINY_CALL_KWARGS["cogvideox"].items() if k != "max_sequence_length"})  # fmt: skip
    assert not handle.last.hit and "prompt" in handle.last.reason
    _run(pipe, "cogvideox", steps=3)
    assert "shorter than the cache steps" in handle.last.reason
    handle.remove()


def test_config_steps_and_validation():
    cfg = ChaiDiffusersConfig()
    assert cfg.steps_for_hit(30) == 8 and cfg.steps_for_hit(50) == 13 and cfg.steps_for_hit(6) == 4
    assert ChaiDiffusersConfig(hit_steps=10).steps_for_hit(30) == 10
    assert ChaiDiffusersConfig(hit_steps=10).steps_for_hit(8) == 8
    for bad in ({"cache_steps": ()}, {"hit_steps": 3}, {"mode": "sum"}, {"hit_ratio": 0}, {"backend": "cuda"},
                {"mask_rule": "max"}, {"cache_steps": (2, 2)}):  # fmt: skip
        with pytest.raises(ValueError, match="HINT"):
            ChaiDiffusersConfig(**bad)
    with pytest.raises(TypeError, match="ChaiDiffusersConfig"):
        enable_chai(tiny_pipeline("latte"), cache=None, config={"hit_steps": 8})


def test_capture_steps_follow_the_pipeline_scheduler():
    pipe = tiny_pipeline("wan")
    handle = enable_chai(pipe, cache=None)
    steps = handle.capture_steps(30, 8)
    import copy

    full, short = copy.deepcopy(pipe.scheduler), copy.deepcopy(pipe.scheduler)
    full.set_timesteps(30)
    short.set_timesteps(8)
    for s, c in zip((2, 3, 4), steps):
        gap = (full.timesteps - short.timesteps[s - 1]).abs()
        assert gap[c - 1] == gap.min()
    assert len(set(steps)) == 3 and list(steps) == sorted(steps)
    handle.remove()


def test_entity_tokens_come_from_the_pipeline_tokenizer():
    pipe = tiny_pipeline("wan")
    handle = enable_chai(pipe, cache=_cache())
    prompt = "A golden corgi surfing a wave at sunset"
    _run(pipe, "wan", prompt=prompt)
    toks = handle.last.entity_tokens[0]
    ids = tiny_tokenizer()(prompt)["input_ids"]
    vocab = tiny_tokenizer().get_vocab()
    assert any("corgi" in key for key in toks) and any("sunset" in key for key in toks)
    for key, idx in toks.items():
        # The positions are those of the entity's words in the pipeline tokenizer's ids (</s> appended, 0-based).
        want = {vocab[w] for w in key.split()}
        assert idx == [i for i, t in enumerate(ids) if t in want], (key, idx)
    handle.remove()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_miss_then_hit(dtype):
    pipe = tiny_pipeline("cogvideox")
    if dtype == torch.bfloat16:  # pipe.to(...) before or after enable_chai
        pipe = pipe.to(dtype)
        handle = enable_chai(pipe, cache=_cache())
    else:
        handle = enable_chai(pipe, cache=_cache())
        pipe = pipe.to(dtype)
    _run(pipe, "cogvideox")
    out = _run(pipe, "cogvideox", prompt=RELATED)
    assert handle.last.hit and handle.last.cache_calls == 3
    assert out.dtype == dtype and torch.isfinite(out.float()).all()
    handle.remove()


def test_triton_backend_under_the_interpreter_matches_torch():
    outs = {}
    for backend in ("torch", "triton"):
        pipe = tiny_pipeline("latte")
        handle = enable_chai(pipe, cache=_cache(), config=ChaiDiffusersConfig(backend=backend))
        _run(pipe, "latte")
        outs[backend] = _run(pipe, "latte", prompt=RELATED)
        assert handle.last.hit
        handle.remove()
    torch.testing.assert_close(outs["triton"], outs["torch"], rtol=1e-4, atol=1e-4)


def test_import_chai_does_not_import_diffusers():
    code = (
        "import sys, chai, chai.diffusers\n"
        "assert 'diffusers' not in sys.modules, 'diffusers imported'\n"
        "chai.diffusers.ChaiDiffusersConfig()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------------ diffusers' step caches on misses
def _step_cache(kind, pipe):
    """A diffusers step cache each tiny pipeline runs, set to skip as much as it can (so its effect shows)."""
    from diffusers import FirstBlockCacheConfig, PyramidAttentionBroadcastConfig

    if kind == "latte":
        return PyramidAttentionBroadcastConfig(
            spatial_attention_block_skip_range=2, spatial_attention_timestep_skip_range=(0, 1000),
            current_timestep_callback=lambda: pipe.current_timestep,
        )  # fmt: skip
    return FirstBlockCacheConfig(threshold=10.0)  # every step after the first reuses the tail residual


def _no_step_cache_left(pipe):
    tr = pipe.transformer
    assert not tr.is_cache_enabled
    for m in tr.modules():
        reg = getattr(m, "_diffusers_hook", None)
        assert reg is None or not [n for n in reg.hooks if not n.startswith("chai_")]


@pytest.mark.parametrize("kind", KINDS)
def test_miss_cache_runs_on_misses_only_and_captures_what_ran(kind):
    pipe = tiny_pipeline(kind)
    ref = _run(pipe, kind)
    cache = _cache()
    handle = enable_chai(pipe, cache=cache, miss_cache=_step_cache(kind, pipe))
    out = _run(pipe, kind)
    miss = handle.last
    assert not miss.hit and miss.reason == "miss" and miss.miss_cache == type(_step_cache(kind, pipe)).__name__
    assert not torch.equal(out, ref)  # diffusers' hook really skipped work on the miss
    assert miss.transformer_calls == (2 * MISS_STEPS if kind == "wan" else MISS_STEPS)
    assert miss.inserted[0] is not None and len(miss.capture_steps) == 3
    _no_step_cache_left(pipe)  # enabled for the call only
    entry = cache.lookup(PROMPT, shape=(1, *miss.latent_shape), model=miss.model_id).match
    assert entry is not None and len(entry.latents) == 3

    # A hit on the skipping miss's latents works, without the hook by default ...
    hit_out = _run(pipe, kind, prompt=RELATED)
    hit = handle.last
    assert hit.hit and hit.miss_cache is None and hit.cache_calls >= 3
    assert hit.matches[0]["entry_id"] == miss.inserted[0]
    handle.remove()
    with enable_chai(pipe, cache=cache) as plain:  # ... so it equals a hit through a handle without miss_cache
        assert torch.equal(_run(pipe, kind, prompt=RELATED), hit_out) and plain.last.hit
    # ... and with it when asked.
    with enable_chai(pipe, cache=cache, miss_cache=_step_cache(kind, pipe), miss_cache_on_hits=True) as on_hits:
        on = _run(pipe, kind, prompt=RELATED)
        # PAB may also reuse block 0's attention output at a cache step, skipping Cache Attention there.
        assert on_hits.last.hit and on_hits.last.miss_cache is not None and on_hits.last.cache_calls >= 1
    assert not torch.equal(on, hit_out)
    _no_step_cache_left(pipe)
    assert torch.equal(_run(pipe, kind), ref)  # remove() left a stock pipeline


def test_miss_cache_is_off_when_the_call_raises_and_for_plain_calls():
    from diffusers import FirstBlockCacheConfig

    pipe = tiny_pipeline("wan")
    ref = _run(pipe, "wan")
    handle = enable_chai(pipe, cache=_cache(), miss_cache=FirstBlockCacheConfig(threshold=10.0))

    def boom(p, i, t, kwargs):
        raise KeyError("stop")

    with pytest.raises(KeyError):
        _run(pipe, "wan", callback_on_step_end=boom)
    assert handle.last.error is not None
    _no_step_cache_left(pipe)
    handle.cache = None  # calls without a cache run stock, without the step cache
    assert torch.equal(_run(pipe, "wan"), ref) and handle.last.miss_cache is None
    handle.remove()


def test_miss_cache_refusals_name_the_config():
    from diffusers import FirstBlockCacheConfig

    latte = tiny_pipeline("latte")
    with pytest.raises(ValueError, match="(?s)FirstBlockCacheConfig cannot run on LattePipeline.*HINT: use Pyramid"):
        enable_chai(latte, cache=_cache(), miss_cache=FirstBlockCacheConfig(threshold=0.1))
    assert "_chai_handle" not in latte.__dict__
    _no_step_cache_left(latte)
    wan = tiny_pipeline("wan")
    with pytest.raises(TypeError, match="(?s)miss_cache=0.1 is not a diffusers cache config.*HINT"):
        enable_chai(wan, cache=_cache(), miss_cache=0.1)
    with pytest.raises(ValueError, match="(?s)diffusers refused miss_cache=ChaiDiffusersConfig.*HINT"):
        enable_chai(wan, cache=_cache(), miss_cache=ChaiDiffusersConfig())
    with pytest.raises(ValueError, match="miss_cache_on_hits=True needs a miss_cache"):
        enable_chai(wan, cache=_cache(), miss_cache_on_hits=True)
    _no_step_cache_left(wan)
    assert "_chai_handle" not in wan.__dict__


def test_miss_cache_calls_on_a_shared_transformer_run_one_at_a_time():
    import threading

    from diffusers import FirstBlockCacheConfig

    pipe = tiny_pipeline("wan")
    cache = _cache()
    handle = enable_chai(pipe, cache=cache, miss_cache=FirstBlockCacheConfig(threshold=10.0))
    _run(pipe, "wan")  # the entry the hit will use
    expected = _run(pipe, "wan", prompt=RELATED)
    assert handle.last.hit
    results: dict[str, object] = {}

    def hit_call():
        try:
            results["out"] = _run(pipe, "wan", prompt=RELATED)
            results["last"] = handle.last
        except Exception as exc:  # noqa: BLE001 - reported by the assertions below
            results["error"] = exc

    started = []

    def during_miss(p, i, t, kwargs):  # start a hit while the miss holds diffusers' hook on the transformer
        if i == 1:
            worker = threading.Thread(target=hit_call)
            started.append(worker)
            worker.start()
            worker.join(timeout=2.0)  # with serialised calls it waits for this miss; without, it runs now
            results["ran_during_miss"] = not worker.is_alive()
        return {}

    _run(pipe, "wan", prompt="a tiger sitting in a dark cave", callback_on_step_end=during_miss)
    assert handle.last.miss_cache == "FirstBlockCacheConfig" and handle.last.inserted[0] is not None
    started[0].join()
    assert "error" not in results, results.get("error")
    assert results["ran_during_miss"] is False
    assert results["last"].hit and results["last"].miss_cache is None
    assert torch.equal(results["out"], expected)
    handle.remove()
