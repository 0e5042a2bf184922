"""chai.models.STDiT3 against an independent float64 re-implementation of OpenSora 1.2's forward.

``reference_forward`` below is written from the reference notes (opensora-1.2.md), not from
chai/models: explicit patch unfolding, the 2-D sin-cos table formula, interleaved RoPE, per-sample
cross-attention loops, the x_mask / t0 merge and the final layer's quirk. test_patching imports it
(with its ``cache=`` option) as the oracle for Cache Attention.
"""

from __future__ import annotations

import hashlib
import math

import pytest
import torch

from chai.models import MINI_LATENT_SHAPE, STDiT3, STDiT3Config

XL2_PARAMS = 1_207_643_972
XL2_KEYS = 973
# sha256 of "key:d0xd1x..." lines (state_dict order) of the OpenSora 1.2 STDiT3-XL/2 checkpoint's tensors,
# so the check runs without downloading the checkpoint.
XL2_LISTING_SHA256 = "2a6bb8090c450c8c63d750635ed9ce8128a3aba897264b3e7f6250094e1efd5a"


# -- helpers shared with test_patching ---------------------------------------------------------------


def make_model(preset: str = "tiny", seed: int = 0, **overrides) -> STDiT3:
    """A model whose zero-initialised weights are re-randomised (else the temporal branch is a no-op)."""
    torch.manual_seed(seed)
    model = STDiT3(STDiT3Config.preset(preset, **overrides)).eval()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "rope.freqs":
                continue
            if p.abs().sum() == 0 or name.endswith("bias") or "norm" in name:
                p.copy_(
                    torch.randn(p.shape, generator=g) * (0.1 if p.dim() > 1 else 0.3) + (1.0 if "norm" in name else 0.0)
                )
    return model


def make_inputs(model: STDiT3, *, B=2, T=3, H=8, W=7, seed=1, cfg=False, partial_mask=True):
    """x (B, 4, T, H, W), timestep (B,), y (B, 1, L, Cy), text mask (B or B/2, L), fps/height/width."""
    g = torch.Generator().manual_seed(seed)
    cfgc = model.config
    L = cfgc.model_max_length
    x = torch.randn(B, cfgc.in_channels, T, H, W, generator=g)
    t = torch.rand(B, generator=g) * 1000
    y = torch.randn(B, 1, L, cfgc.caption_channels, generator=g)
    nb = B // 2 if cfg else B
    mask = torch.ones(nb, L, dtype=torch.long)
    if partial_mask:
        for b in range(nb):
            mask[b, max(1, L - 2 - 2 * b) :] = 0
    if cfg:
        t = torch.cat([t[: B // 2], t[: B // 2]])
    kw = dict(
        mask=mask, fps=torch.full((nb,), 24.0), height=torch.full((nb,), 8.0 * H), width=torch.full((nb,), 8.0 * W)
    )
    return x, t, y, kw


def _ln(x):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + 1e-6)


def _gelu_tanh(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def _rms(x, w):
    return x / torch.sqrt((x**2).mean(-1, keepdim=True) + 1e-6) * w


def _lin(P, name, x):
    return x @ P[name + ".weight"].T + P[name + ".bias"]


def _sinusoid(t, dim=256):
    half = dim // 2
    f = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) / half)
    a = t.double()[:, None] * f[None]
    return torch.cat([torch.cos(a), torch.sin(a)], -1)


def _rope(x, pos):
    """x (..., n, D): pairs (2i, 2i+1) rotated by pos * 10000^(-2i/D)."""
    D = x.shape[-1]
    f = 10000.0 ** (-torch.arange(0, D, 2, dtype=torch.float64) / D)
    ang = pos.double()[:, None] * f[None]  # (n, D/2)
    c, s = torch.cos(ang), torch.sin(ang)
    a, b = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = a * c - b * s
    out[..., 1::2] = b * c + a * s
    return out


def _attend(q, k, v, scale, extra=None):
    """q (n, h, D), k/v (m, h, D) -> (n, h, D); extra = (kc, vc, keep (mc,), bias, replace)."""
    logits = torch.einsum("nhd,mhd->hnm", q, k) * scale
    vals = v
    if extra is not None:
        kc, vc, keep, bias, replace = extra
        lc = torch.einsum("nhd,mhd->hnm", q, kc) * scale + bias
        lc = lc.masked_fill(~keep[None, None, :], float("-inf"))
        if replace and bool(keep.any()):
            logits, vals = lc, vc
        elif not replace:
            logits = torch.cat([logits, lc], -1)
            vals = torch.cat([v, vc], 0)
    p = torch.softmax(logits, -1)
    return torch.einsum("hnm,mhd->nhd", p, vals)


def reference_forward(model, x, timestep, y, mask=None, x_mask=None, fps=None, height=None, width=None, cache=None):
    """Float64 OpenSora 1.2 STDiT3 forward from the notes. ``cache`` (Cache Attention in spatial block 0):
    dict(latent (C, T, H, W), token_mask (T, S) | None, mode, bias, rows (model rows using it))."""
    P = {k: v.detach().double() for k, v in model.state_dict().items()}
    cfg = model.config
    C, nh = cfg.hidden_size, cfg.num_heads
    D = C // nh
    pt, ph, pw = cfg.patch_size
    x = x.double()
    B, Cin, Tx, Hx, Wx = x.shape
    T, H, W = -(-Tx // pt), -(-Hx // ph), -(-Wx // pw)
    S = H * W

    def embed(lat):  # (b, Cin, Tx, Hx, Wx) -> (b, T*S, C) incl. position table
        b = lat.shape[0]
        xp = torch.zeros(b, Cin, T * pt, H * ph, W * pw, dtype=torch.float64)
        xp[:, :, :Tx, :Hx, :Wx] = lat.double()
        patches = xp.reshape(b, Cin, T, pt, H, ph, W, pw).permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(b, T * S, -1)
        tok = patches @ P["x_embedder.proj.weight"].reshape(C, -1).T + P["x_embedder.proj.bias"]
        return (tok.reshape(b, T, S, C) + pos[None, None]).reshape(b, T * S, C)

    # position table: column coordinate first, then row; coordinates i / scale * base / n
    scale = math.sqrt(float(height[0]) * float(width[0])) / 512
    base = round(math.sqrt(S))
    f = 10000.0 ** (-torch.arange(0, C // 2, 2, dtype=torch.float64) / (C // 2))
    rows = torch.arange(H, dtype=torch.float64) / scale * base / H
    cols = torch.arange(W, dtype=torch.float64) / scale * base / W
    r_of = rows[:, None].expand(H, W).reshape(-1)
    c_of = cols[None, :].expand(H, W).reshape(-1)
    sc = lambda c: torch.cat([torch.sin(c[:, None] * f), torch.cos(c[:, None] * f)], -1)  # noqa: E731
    pos = torch.cat([sc(c_of), sc(r_of)], -1)  # (S, C)

    def temb(prefix, t):
        h = _lin(P, prefix + ".mlp.0", _sinusoid(t))
        return _lin(P, prefix + ".mlp.2", h * torch.sigmoid(h))

    fps_b = fps.double().reshape(-1).repeat(B // fps.numel())
    t = temb("t_embedder", timestep) + temb("fps_embedder", fps_b)
    silu = lambda v: v * torch.sigmoid(v)  # noqa: E731
    t_mlp = _lin(P, "t_block.1", silu(t))
    if x_mask is not None:
        t0 = temb("t_embedder", torch.zeros_like(timestep)) + temb("fps_embedder", fps_b)
        t0_mlp = _lin(P, "t_block.1", silu(t0))

    # text: projection, then per-sample valid tokens (mask repeated for CFG)
    yp = _lin(P, "y_embedder.y_proj.fc2", _gelu_tanh(_lin(P, "y_embedder.y_proj.fc1", y.double()))).squeeze(1)
    if mask is None:
        mask = torch.ones(y.shape[0], y.shape[2], dtype=torch.long)
    mask = mask.repeat(y.shape[0] // mask.shape[0], 1)
    texts = [yp[b][mask[b] != 0] for b in range(B)]

    h = embed(x)

    def per_frame(tm, t0m):  # (B, 6, C) x2 -> (B, T*S, 6, C) per-token modulation
        out = tm[:, None].expand(B, T, 6, C).clone()
        if x_mask is not None:
            out[~x_mask] = t0m[:, None].expand(B, T, 6, C)[~x_mask]
        return out[:, :, None].expand(B, T, S, 6, C).reshape(B, T * S, 6, C)

    def self_attn(pre, a, temporal, extra_rows=None):
        qkv = _lin(P, pre + ".attn.qkv", a).reshape(B, T * S, 3, nh, D)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        q = _rms(q, P[pre + ".attn.q_norm.weight"])
        k = _rms(k, P[pre + ".attn.k_norm.weight"])
        out = torch.zeros_like(q)
        for b in range(B):
            if temporal:
                for s in range(S):
                    idx = torch.arange(T) * S + s
                    pos_t = torch.arange(T)
                    out[b, idx] = _attend(
                        _rope(q[b, idx].transpose(0, 1), pos_t).transpose(0, 1),
                        _rope(k[b, idx].transpose(0, 1), pos_t).transpose(0, 1),
                        v[b, idx],
                        D**-0.5,
                    )
            else:
                for tt in range(T):
                    idx = torch.arange(S) + tt * S
                    extra = extra_rows(b, tt) if extra_rows is not None else None
                    out[b, idx] = _attend(q[b, idx], k[b, idx], v[b, idx], D**-0.5, extra)
        return _lin(P, pre + ".attn.proj", out.reshape(B, T * S, C))

    for i in range(cfg.depth):
        for kind in ("spatial_blocks", "temporal_blocks"):
            pre = f"{kind}.{i}"
            tab = P[pre + ".scale_shift_table"]
            m = per_frame(
                tab[None] + t_mlp.reshape(B, 6, C), tab[None] + t0_mlp.reshape(B, 6, C) if x_mask is not None else None
            )
            extra_rows = None
            if cache is not None and kind == "spatial_blocks" and i == 0:
                mc = tab[None] + t_mlp.reshape(B, 6, C)  # current t only (x_mask ignored for the cache)
                hc = _ln(embed(cache["latent"][None])[0])  # (T*S, C)
                kcs, vcs = [], []
                for b in range(B):
                    ac = hc * (1 + mc[b, 1]) + mc[b, 0]
                    kv = _lin(P, pre + ".attn.qkv", ac).reshape(T * S, 3, nh, D)
                    kcs.append(_rms(kv[:, 1], P[pre + ".attn.k_norm.weight"]))
                    vcs.append(kv[:, 2])
                tmask = cache.get("token_mask")
                tmask = torch.ones(T, S, dtype=torch.bool) if tmask is None else tmask

                def extra_rows(b, tt, kcs=kcs, vcs=vcs, tmask=tmask):
                    if b * T + tt >= cache.get("rows", B * T):
                        return None
                    sl = slice(tt * S, (tt + 1) * S)
                    return (
                        kcs[b][sl],
                        vcs[b][sl],
                        tmask[tt],
                        cache.get("bias", 0.0),
                        cache.get("mode", "joint") == "replace",
                    )

            a = _ln(h) * (1 + m[:, :, 1]) + m[:, :, 0]
            h = h + m[:, :, 2] * self_attn(pre, a, kind == "temporal_blocks", extra_rows)
            # cross-attention: sample b sees only its own valid text tokens
            q = _lin(P, pre + ".cross_attn.q_linear", h).reshape(B, T * S, nh, D)
            ca = torch.zeros_like(q)
            for b in range(B):
                kv = _lin(P, pre + ".cross_attn.kv_linear", texts[b]).reshape(-1, 2, nh, D)
                ca[b] = _attend(q[b], kv[:, 0], kv[:, 1], D**-0.5)
            h = h + _lin(P, pre + ".cross_attn.proj", ca.reshape(B, T * S, C))
            a = _ln(h) * (1 + m[:, :, 4]) + m[:, :, 3]
            h = h + m[:, :, 5] * _lin(P, pre + ".mlp.fc2", _gelu_tanh(_lin(P, pre + ".mlp.fc1", a)))

    tab = P["final_layer.scale_shift_table"]
    shift, sc_ = (tab[None] + t[:, None]).unbind(1)
    out = _ln(h) * (1 + sc_[:, None]) + shift[:, None]
    if x_mask is not None:
        shift0, sc0 = (tab[None] + t0[:, None]).unbind(1)
        out0 = _ln(out) * (1 + sc0[:, None]) + shift0[:, None]  # upstream re-normalises the modulated tokens
        sel = x_mask[:, :, None, None].expand(B, T, S, 1).reshape(B, T * S, 1)
        out = torch.where(sel, out, out0)
    out = _lin(P, "final_layer.linear", out)
    Co = model.out_channels
    out = out.reshape(B, T, H, W, pt, ph, pw, Co).permute(0, 7, 1, 4, 2, 5, 3, 6)
    return out.reshape(B, Co, T * pt, H * ph, W * pw)[:, :, :Tx, :Hx, :Wx]


def _err(a, b):
    return (a.double() - b.double()).abs().max().item()


# -- tests -------------------------------------------------------------------------------------------


def test_xl2_state_dict_matches_opensora_checkpoint_on_meta():
    with torch.device("meta"):
        model = STDiT3(STDiT3Config.preset("XL/2"))
    sd = model.state_dict()
    assert len(sd) == XL2_KEYS
    assert sum(p.numel() for p in model.parameters()) == XL2_PARAMS
    listing = "\n".join(f"{k}:{'x'.join(str(s) for s in v.shape)}" for k, v in sd.items())
    assert hashlib.sha256(listing.encode()).hexdigest() == XL2_LISTING_SHA256
    # OpenSora attribute surface the patch relies on
    blk = model.spatial_blocks[0]
    assert blk.attn.head_dim == 72 and blk.attn.rope is False and model.temporal_blocks[0].attn.rope is True
    assert not hasattr(blk.attn, "qk_norm") and model.out_channels == 8 and model.config.model_max_length == 300


@pytest.mark.parametrize(
    "preset,B,T,H,W,use_x_mask,cfg",
    [
        ("tiny", 2, 3, 8, 7, False, False),  # odd W -> padding + crop
        ("tiny", 2, 3, 6, 8, True, True),  # x_mask + CFG mask repeat
        ("tiny", 3, 2, 5, 5, False, False),  # batch 3, odd H and W
        ("tiny-hd72", 2, 2, 4, 6, True, False),  # head_dim 72
    ],
)
def test_forward_matches_independent_reference(preset, B, T, H, W, use_x_mask, cfg):
    model = make_model(preset)
    x, t, y, kw = make_inputs(model, B=B, T=T, H=H, W=W, cfg=cfg)
    x_mask = None
    if use_x_mask:
        x_mask = torch.zeros(B, T, dtype=torch.bool)
        x_mask[:, 0] = True
        x_mask[0, -1] = True
    with torch.no_grad():
        out = model(x, t, y, x_mask=x_mask, **kw)
    ref = reference_forward(model, x, t, y, x_mask=x_mask, **kw)
    assert out.dtype == torch.float32 and out.shape == (B, 8, T, H, W)
    scale = ref.abs().max().item()
    assert _err(out, ref) <= 1e-5 * max(1.0, scale), _err(out, ref)


def test_x_mask_changes_only_through_t0():
    model = make_model("tiny")
    x, t, y, kw = make_inputs(model)
    with torch.no_grad():
        a = model(x, t, y, **kw)
        b = model(x, t, y, x_mask=torch.ones(2, 3, dtype=torch.bool), **kw)  # all frames "generated" == no x_mask
        c = model(x, t, y, x_mask=torch.tensor([[True, False, True], [True, True, True]]), **kw)
    assert torch.allclose(a, b, atol=1e-6)
    assert not torch.allclose(a[0], c[0], atol=1e-4)


def test_fresh_model_temporal_branch_is_zero_initialised():
    torch.manual_seed(0)
    model = STDiT3(STDiT3Config.preset("tiny"))
    for blk in model.temporal_blocks:
        assert blk.attn.proj.weight.abs().sum() == 0 and blk.mlp.fc2.weight.abs().sum() == 0
        assert blk.cross_attn.proj.weight.abs().sum() == 0
    assert model.spatial_blocks[0].attn.proj.weight.abs().sum() > 0


def test_rope_is_interleaved_pairs_over_all_dims():
    model = make_model("tiny-hd72")
    q = torch.randn(3, 2, 5, 72, dtype=torch.float64)
    rope = model.rope.double()
    got = model.temporal_blocks[0].attn.rotary_emb(q)
    assert torch.allclose(got, _rope(q, torch.arange(5)), atol=1e-12)
    assert isinstance(model.rope.freqs, torch.nn.Parameter) and model.rope.freqs.shape == (36,)
    assert rope is model.rope


def test_bf16_smoke():
    model = make_model("tiny")
    x, t, y, kw = make_inputs(model)
    with torch.no_grad():
        ref = model(x, t, y, **kw)
        out = model.to(torch.bfloat16)(x, t, y, **kw)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert _err(out, ref) < 0.1 * max(1.0, ref.abs().max().item())


def test_cross_attention_without_mask_sees_all_text():
    """Upstream semantics: y_lens = [L] * B, each sample only its own tokens; mask=None in the module
    itself means every query sees every packed token."""
    model = make_model("tiny")
    ca = model.spatial_blocks[0].cross_attn
    x = torch.randn(2, 5, 64)
    cond = torch.randn(1, 6, 64)
    with torch.no_grad():
        per_sample = ca(x, cond, [3, 3])
        together = ca(x, cond, None)
        uneven = ca(x, cond, [2, 4])
        empty = ca(x, cond[:, :4], [0, 4])
    assert not torch.allclose(per_sample, together, atol=1e-5)
    assert torch.allclose(ca(x[:1], cond[:, :3], [3]), per_sample[:1], atol=1e-6)
    assert torch.allclose(ca(x[1:], cond[:, 2:], [4]), uneven[1:], atol=1e-6)
    assert torch.allclose(empty[0], ca.proj.bias.expand(5, 64), atol=1e-6)
    with pytest.raises(ValueError, match="y_lens"):
        ca(x, cond, [3, 2])


def test_training_backward_and_caption_dropout():
    model = make_model("tiny").train()
    x, t, y, kw = make_inputs(model)
    out = model(x, t, y, **kw)
    out.square().mean().backward()
    assert model.temporal_blocks[-1].attn.qkv.weight.grad.abs().sum() > 0
    assert model.rope.freqs.grad is None


def test_presets_and_config_validation():
    mini = STDiT3Config.preset("mini")
    assert (mini.hidden_size, mini.num_heads, mini.head_dim, mini.caption_channels) == (144, 2, 72, 384)
    assert STDiT3Config.preset("XL/2") == STDiT3Config()
    assert STDiT3Config.from_dict(mini.to_dict()) == mini
    assert STDiT3Config.preset("tiny", depth=3).depth == 3
    with pytest.raises(ValueError, match="preset"):
        STDiT3Config.preset("huge")
    with pytest.raises(ValueError, match="num_heads"):
        STDiT3Config(hidden_size=100, num_heads=3)
    with pytest.raises(ValueError, match="sequence"):
        STDiT3Config(enable_sequence_parallelism=True)
    model = make_model("tiny")
    x, t, y, kw = make_inputs(model)
    kw.pop("fps")
    with pytest.raises(ValueError, match="fps"):
        model(x, t, y, **kw)


def test_mini_preset_runs_at_240p_68_frames():
    model = STDiT3(STDiT3Config.preset("mini")).eval()
    C, T, H, W = MINI_LATENT_SHAPE
    x = torch.randn(2, C, T, H, W)
    y = torch.randn(2, 1, 48, 384)
    with torch.no_grad():
        out = model(x, torch.full((2,), 900.0), y, mask=torch.ones(1, 48), fps=torch.tensor([24.0]),
                    height=torch.tensor([240.0]), width=torch.tensor([426.0]))  # fmt: skip
    assert out.shape == (2, 8, T, H, W) and torch.isfinite(out).all()
    assert model.get_dynamic_size(x) == (20, 15, 27)
