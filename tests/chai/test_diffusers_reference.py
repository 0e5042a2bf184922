"""Float64 references for chai.diffusers on the tiny Wan / CogVideoX / Latte pipelines.

* The patched video self-attention of block 0 at a hit step equals joint attention (the op's float64 oracle,
  ``cache_attention_reference``) over the current tokens plus the cached latent's tokens, re-embedded here in
  float64 by the model's own modules and block 0's modulation for the current timestep, restricted to the
  matched entity's token mask; at the step without Cache Attention it equals plain attention.
* The entity masks stored on a miss are the mask rule applied to block 0's text-attention probabilities on
  the entity's caption tokens at the capture steps, recomputed here in float64 from the recorded inputs.

Inputs are recorded with plain torch hooks on the real modules during real ``pipe(...)`` calls.
"""

from __future__ import annotations

import copy

import pytest
import torch

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from chai.cache import BuiltinExtractor, HashingEmbedder, LatentCache
from chai.diffusers import enable_chai
from chai.diffusers.tiny import TINY_CALL_KWARGS, tiny_pipeline
from chai.pipeline import entity_token_mask
from chai_kernels import dequantize_latent
from chai_kernels.reference.cache_attention import cache_attention_reference

KINDS = ("wan", "cogvideox", "latte")
PROMPT = "a corgi surfing a wave at sunset"
RELATED = "a corgi running on the beach"
STEPS = 8  # hit: 4 steps, Cache Attention at 2, 3, 4


def _run(pipe, kind, prompt, steps=STEPS, seed=0):
    return pipe(
        prompt=prompt, num_inference_steps=steps, generator=torch.Generator().manual_seed(seed), output_type="latent",
        **TINY_CALL_KWARGS[kind],
    ).frames  # fmt: skip


def _block0(kind, tr):
    return tr.blocks[0] if kind == "wan" else tr.transformer_blocks[0]


class _Recorder:
    """Records (args, kwargs[, output]) of every call of a module."""

    def __init__(self, module, outputs: bool):
        self.calls = []
        if outputs:
            self.h = module.register_forward_hook(self._post, with_kwargs=True)
        else:
            self.h = module.register_forward_pre_hook(self._pre, with_kwargs=True)

    def _pre(self, mod, args, kwargs):
        self.calls.append((args, dict(kwargs)))

    def _post(self, mod, args, kwargs, out):
        self.calls.append((args, dict(kwargs), out))

    def remove(self):
        self.h.remove()


def _arg(call, i, name):
    args, kwargs = call[0], call[1]
    return kwargs[name] if name in kwargs else args[i]


def _rope(x, cos, sin):
    """Wan's interleaved rotary embedding on (..., N, H, D), float64."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    c, s = cos[..., 0::2].to(x.dtype), sin[..., 1::2].to(x.dtype)
    out = torch.empty_like(x)
    out[..., 0::2] = x0 * c - x1 * s
    out[..., 1::2] = x0 * s + x1 * c
    return out


def _joint(q, k, v, kc, vc, keep, scale):
    """Float64 joint attention: q, k, v (B, N, H, D) over their own keys and the cached keys kc, vc (Bc, M, H, D)
    kept by ``keep`` (Bc, M); query row b uses cache row b % Bc."""
    return cache_attention_reference(q, k, v, kc, vc, keep, scale=scale, compute_dtype=torch.float64)


def _plain(q, k, v, scale):
    return cache_attention_reference(q, k, v, scale=scale, compute_dtype=torch.float64)


def _heads(x, h):
    return x.unflatten(-1, (h, -1))


def _reference_attention(kind, tr64, call, block_call, z, mask):
    """Float64 output of block 0's patched self-attention for one recorded call; also the plain output."""
    blk = _block0(kind, tr64)
    at = blk.attn1
    H = at.heads
    if kind == "wan":
        x = _arg(call, 0, "hidden_states").double()
        temb = _arg(block_call, 2, "temb").double()
        cos, sin = (t.double() for t in _arg(block_call, 3, "rotary_emb"))
        q = _rope(_heads(at.norm_q(at.to_q(x)), H), cos, sin)
        k = _rope(_heads(at.norm_k(at.to_k(x)), H), cos, sin)
        v = _heads(at.to_v(x), H)
        h = tr64.patch_embedding(z.double()).flatten(2).transpose(1, 2)
        shift, scale = (blk.scale_shift_table.double() + temb[:1]).chunk(6, dim=1)[:2]
        a = blk.norm1(h) * (1 + scale) + shift
        kc = _rope(_heads(at.norm_k(at.to_k(a)), H), cos, sin)
        vc = _heads(at.to_v(a), H)
        sc = q.shape[-1] ** -0.5
        proj = lambda o: at.to_out[0](o.flatten(2))
        return proj(_joint(q, k, v, kc, vc, mask.reshape(1, -1), sc)), proj(_plain(q, k, v, sc))
    if kind == "cogvideox":
        hid = _arg(call, 0, "hidden_states").double()
        enc = _arg(call, 1, "encoder_hidden_states").double()
        temb = _arg(block_call, 2, "temb").double()
        L = enc.shape[1]
        x = torch.cat([enc, hid], dim=1)
        q, k, v = (_heads(p(x), H) for p in (at.to_q, at.to_k, at.to_v))
        q, k = at.norm_q(q), at.norm_k(k)
        # The video half of the patch embedding does not depend on the text: zeros of the same length.
        emb = tr64.patch_embed(torch.zeros(1, L, tr64.config.text_embed_dim, dtype=torch.float64),
                               z.double().permute(0, 2, 1, 3, 4))  # fmt: skip
        a = blk.norm1(emb[:, L:], emb[:, :L], temb[:1])[0]
        kc = at.norm_k(_heads(at.to_k(a), H))
        vc = _heads(at.to_v(a), H)
        sc = q.shape[-1] ** -0.5

        def proj(o):
            o = at.to_out[0](o.flatten(2))
            return o[:, L:], o[:, :L]

        return proj(_joint(q, k, v, kc, vc, mask.reshape(1, -1), sc)), proj(_plain(q, k, v, sc))
    # latte: rows b*T + t (spatial attention), cached row t
    x = _arg(call, 0, "hidden_states").double()
    temb = _arg(block_call, 4, "timestep").double()
    T = z.shape[2]
    q, k, v = (_heads(p(x), H) for p in (at.to_q, at.to_k, at.to_v))
    frames = z.double()[0].permute(1, 0, 2, 3)  # (T, C, H, W)
    tok = tr64.pos_embed(frames)
    shift, scale = (blk.scale_shift_table.double()[None] + temb[:T].reshape(T, 6, -1)).chunk(6, dim=1)[:2]
    a = blk.norm1(tok) * (1 + scale) + shift
    kc, vc = _heads(at.to_k(a), H), _heads(at.to_v(a), H)  # (T, S, H, D): cache row t for query rows b*T + t
    sc = float(at.scale)
    proj = lambda o: at.to_out[0](o.flatten(2))
    return proj(_joint(q, k, v, kc, vc, mask, sc)), proj(_plain(q, k, v, sc))


@pytest.mark.parametrize("kind", KINDS)
def test_patched_attention_at_a_hit_step_matches_float64_joint_reference(kind):
    pipe = tiny_pipeline(kind)
    tr64 = copy.deepcopy(pipe.transformer).double()  # the float64 twin (same weights)
    cache = LatentCache(64_000_000, embedder=HashingEmbedder(), extractor=BuiltinExtractor())
    handle = enable_chai(pipe, cache=cache)
    _run(pipe, kind, PROMPT)
    tr = pipe.transformer
    blk = _block0(kind, tr)
    rec_attn, rec_block = _Recorder(blk.attn1, outputs=True), _Recorder(blk, outputs=False)
    _run(pipe, kind, RELATED, seed=3)
    rec_attn.remove()
    rec_block.remove()
    last = handle.last
    assert last.hit and last.steps == 4
    match = cache.lookup(RELATED, shape=(1, *last.latent_shape), model=last.model_id).match
    mask = match.token_mask
    assert mask is not None and not mask.all() and mask.any(dim=1).all()  # a real entity mask, not all-True

    calls_per_step = 2 if kind == "wan" else 1  # Wan runs cond / uncond as two transformer calls
    for step in (1, 2, 3, 4):
        # Steps 2-4 attend to cached latents 0-2. Step 1 runs the stock processor: its output must be plain
        # attention and differ from what the first cached latent would give (the roles of ref / plain swap).
        z = dequantize_latent(match.latents[max(step - 2, 0)], dtype=torch.float32)
        for c in range(calls_per_step):
            i = (step - 1) * calls_per_step + c
            call, block_call = rec_attn.calls[i], rec_block.calls[i]
            got = call[2]
            ref, plain = _reference_attention(kind, tr64, call, block_call, z, mask)
            if step == 1:
                ref, plain = plain, ref
            gots = got if isinstance(got, tuple) else (got,)
            refs = ref if isinstance(ref, tuple) else (ref,)
            plains = plain if isinstance(plain, tuple) else (plain,)
            for g, r, p in zip(gots, refs, plains):
                err = (g.double() - r).abs().max().item()
                assert err < 1e-4, (kind, step, err)
                assert (p - r).abs().max().item() > 100 * max(err, 1e-7)  # the cache changes the result
    handle.remove()


def _text_probs(kind, tr64, call, cond_rows, T, S):
    """Float64 head-averaged text-attention probabilities (rows, T, S, L) of block 0 for one recorded call."""
    blk = _block0(kind, tr64)
    if kind == "wan":
        at = blk.attn2
        x = _arg(call, 0, "hidden_states").double()[cond_rows]
        enc = _arg(call, 1, "encoder_hidden_states").double()[cond_rows]
        q, k = _heads(at.norm_q(at.to_q(x)), at.heads), _heads(at.norm_k(at.to_k(enc)), at.heads)
        p = (torch.einsum("bnhd,blhd->bhnl", q, k) * q.shape[-1] ** -0.5).softmax(-1).mean(1)
        return p.reshape(len(cond_rows), T, S, -1)
    if kind == "cogvideox":
        at = blk.attn1
        hid = _arg(call, 0, "hidden_states").double()[cond_rows]
        enc = _arg(call, 1, "encoder_hidden_states").double()[cond_rows]
        L = enc.shape[1]
        x = torch.cat([enc, hid], dim=1)
        q, k = at.norm_q(_heads(at.to_q(x), at.heads)), at.norm_k(_heads(at.to_k(x), at.heads))
        p = (torch.einsum("bnhd,blhd->bhnl", q[:, L:], k) * q.shape[-1] ** -0.5).softmax(-1).mean(1)
        return p[..., :L].reshape(len(cond_rows), T, S, L)
    at = blk.attn2
    rows = [b * T + t for b in cond_rows for t in range(T)]
    x = _arg(call, 0, "hidden_states").double()[rows]
    enc = _arg(call, 1, "encoder_hidden_states").double()[rows]
    q, k = _heads(at.to_q(x), at.heads), _heads(at.to_k(enc), at.heads)
    p = (torch.einsum("bnhd,blhd->bhnl", q, k) * float(at.scale)).softmax(-1).mean(1)
    return p.reshape(len(cond_rows), T, S, -1)


@pytest.mark.parametrize("kind", KINDS)
def test_entity_masks_are_the_rule_on_float64_text_attention(kind):
    pipe = tiny_pipeline(kind)
    tr64 = copy.deepcopy(pipe.transformer).double()  # the float64 twin (same weights)
    cache = LatentCache(64_000_000, embedder=HashingEmbedder(), extractor=BuiltinExtractor())
    handle = enable_chai(pipe, cache=cache)
    blk = _block0(kind, pipe.transformer)
    text_mod = blk.attn1 if kind == "cogvideox" else blk.attn2
    rec = _Recorder(text_mod, outputs=False)
    _run(pipe, kind, PROMPT)
    rec.remove()
    last = handle.last
    T, S = 3, 16
    maps = []
    for step in last.capture_steps:
        if kind == "wan":  # cond call first at each step, batch 1
            call, cond = rec.calls[2 * (step - 1)], [0]
        else:  # batched CFG: negative prompt first, the conditional row second
            call, cond = rec.calls[step - 1], [1]
        maps.append(_text_probs(kind, tr64, call, cond, T, S)[0])
    assert set(last.entity_masks[0]) == set(last.entity_tokens[0]) and last.entity_masks[0]
    for key, idx in last.entity_tokens[0].items():
        assert idx, key
        ref = entity_token_mask(maps, idx)
        got = last.entity_masks[0][key]
        assert torch.equal(got, ref), (kind, key, got.int(), ref.int())
        assert not ref.all()  # the mask really selects
    # Masks of different entities differ: they follow their own caption tokens.
    masks = list(last.entity_masks[0].values())
    assert len(masks) == 2 and not torch.equal(masks[0], masks[1])
    handle.remove()
