"""Cache Attention: reference, Triton kernel (interpreter / GPU), quantized K/V, validation, custom op.

Tiers: tier 1 (plain CPU, torch backend and host logic), tier 2 (``interpret``: the real Triton kernel
under TRITON_INTERPRET=1 on small shapes, or on CUDA when present), tier 3 (``gpu``: bigger shapes).
Every numerical check compares with the float64 reference using
``err(kernel) <= 2 * err(torch at the kernel's precision) + floor`` (chai_kernels.testing).
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from chai_kernels import _env, cache_attention, quantize_kv
from chai_kernels.quant import QuantizedKV
from chai_kernels.reference.cache_attention import cache_attention_reference
from chai_kernels.testing import (
    assert_close_to_reference,
    assert_close_verbose,
    make_cache_attention_inputs,
    make_mask,
    max_abs_error,
    poison_like,
    relative_error,
)

DTYPES = (torch.float32, torch.float16, torch.bfloat16)
MODES = ("joint", "replace")
MASKS = ("random", "none", "all")


# ----------------------------------------------------------------------------------------------------------
# fixtures and helpers
# ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kernel_device() -> str:
    """Where the Triton kernel can run: CUDA, or CPU under the interpreter; otherwise skip (tier 2)."""
    pytest.importorskip("triton")
    if torch.cuda.is_available():
        return "cuda"
    if _env.interpret_mode():
        return "cpu"
    pytest.skip("the Triton kernel needs CUDA or TRITON_INTERPRET=1")


def _ref(inputs, *, compute_dtype=torch.float64, **kw):
    return cache_attention_reference(
        inputs["q"], inputs["k"], inputs["v"], inputs.get("k_cache"), inputs.get("v_cache"),
        inputs.get("cache_mask"), compute_dtype=compute_dtype, **kw,
    )  # fmt: skip


def _check(out, inputs, dtype, *, name="output", **kw):
    """out vs float64 reference, bounded by 2x the error of torch at ``dtype``."""
    truth = _ref(inputs, **kw)
    lowp = _ref(inputs, compute_dtype=dtype, **kw)
    assert out.dtype == dtype and out.shape == inputs["q"].shape
    assert_close_to_reference(out, truth, lowp, dtype=dtype, name=name)


# A shape grid that puts every axis value in play: odd N / M (1, 37, 129), D in {16, 64, 72, 128},
# Bc in {1, B}, contiguous and permuted (B, H, N, D) views. (B, N, H, D, M, Bc, permuted)
SHAPES = [
    (2, 37, 2, 72, 129, 1, False),
    (2, 129, 2, 64, 37, 2, True),
    (3, 1, 2, 16, 37, 3, False),
    (2, 37, 1, 128, 1, 1, True),
    (2, 129, 2, 72, 129, 2, False),
    (1, 37, 3, 72, 1, 1, True),
]


# ----------------------------------------------------------------------------------------------------------
# tier 1: reference and torch backend
# ----------------------------------------------------------------------------------------------------------


def _dense_oracle(q, k, v, kc, vc, mask, mode, bias, scale):
    """Independent float64 oracle: one row at a time, explicit key lists (no batching tricks)."""
    B, N, H, D = q.shape
    out = torch.empty(B, N, H, D, dtype=torch.float64)
    Bc = 1 if kc is None else kc.shape[0]
    for b in range(B):
        for h in range(H):
            keys, vals, bias_vec = [k[b, :, h]], [v[b, :, h]], [torch.zeros(k.shape[1], dtype=torch.float64)]
            if kc is not None:
                sel = mask[b % Bc] if mask is not None else torch.ones(kc.shape[1], dtype=torch.bool)
                if mode == "replace" and bool(sel.any()):
                    keys, vals, bias_vec = [], [], []
                if mode == "joint" or bool(sel.any()):
                    keys.append(kc[b % Bc, sel, h])
                    vals.append(vc[b % Bc, sel, h])
                    bias_vec.append(torch.full((int(sel.sum()),), bias, dtype=torch.float64))
            K, Vv, bv = torch.cat(keys).double(), torch.cat(vals).double(), torch.cat(bias_vec)
            s = q[b, :, h].double() @ K.T * scale + bv
            out[b, :, h] = torch.softmax(s, -1) @ Vv
    return out


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("mask", ("random", "none", "all"))
def test_reference_matches_row_by_row_oracle(mode, mask):
    x = make_cache_attention_inputs(4, 9, 2, 16, 11, 2, dtype=torch.float64, mask=mask)
    got = _ref(x, mode=mode, cache_bias=0.7, scale=0.3)
    want = _dense_oracle(x["q"], x["k"], x["v"], x["k_cache"], x["v_cache"], x["cache_mask"], mode, 0.7, 0.3)
    assert_close_verbose(got, want, atol=1e-12, name=f"reference[{mode},{mask}]")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_torch_backend_matches_reference(mode, mask, dtype):
    """The CPU fallback (SDPA with an additive mask) against the float64 explicit path."""
    x = make_cache_attention_inputs(4, 37, 2, 72, 29, 2, dtype=dtype, mask=mask, permuted=True)
    out = cache_attention(**x, mode=mode, cache_bias=-0.4, backend="torch")
    _check(out, x, dtype, mode=mode, cache_bias=-0.4)


def test_torch_backend_lse():
    x = make_cache_attention_inputs(2, 37, 2, 64, 37, 1, mask="random")
    out, lse = cache_attention(**x, mode="replace", cache_bias=0.2, return_lse=True, backend="torch")
    _, lse64 = _ref(x, mode="replace", cache_bias=0.2, return_lse=True)
    assert lse.dtype == torch.float32 and lse.shape == (2, 2, 37)
    assert_close_verbose(lse, lse64, atol=1e-5, name="lse")


@pytest.mark.parametrize("backend", ["torch", "triton"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_no_cache_equals_sdpa(backend, dtype, request):
    if backend == "triton":
        request.getfixturevalue("kernel_device")
    x = make_cache_attention_inputs(2, 37, 3, 72, dtype=dtype, permuted=True)
    out = cache_attention(x["q"], x["k"], x["v"], backend=backend)
    q, k, v = (t.transpose(1, 2) for t in (x["q"], x["k"], x["v"]))
    want = torch.nn.functional.scaled_dot_product_attention(q.double(), k.double(), v.double()).transpose(1, 2)
    lowp = torch.nn.functional.scaled_dot_product_attention(q, k, v).transpose(1, 2)
    assert_close_to_reference(out, want, lowp, dtype=dtype, name=f"no-cache[{backend}]")


def test_all_false_mask_joint_equals_self_attention_and_replace_falls_back():
    x = make_cache_attention_inputs(2, 37, 2, 16, 37, 1, mask="none")
    joint = cache_attention(**x, mode="joint", cache_bias=3.0, backend="torch")
    replace = cache_attention(**x, mode="replace", cache_bias=3.0, backend="torch")
    plain = cache_attention(x["q"], x["k"], x["v"], backend="torch")
    assert_close_verbose(joint, plain, atol=1e-6, name="joint, empty mask")
    assert_close_verbose(replace, plain, atol=1e-6, name="replace, empty mask")


def test_cache_bias_changes_joint_output():
    """A non-zero bias must move mass toward the cached keys (guards against a dropped bias)."""
    x = make_cache_attention_inputs(1, 16, 1, 16, 16, 1, mask="all")
    a = cache_attention(**x, cache_bias=0.0, backend="torch")
    b = cache_attention(**x, cache_bias=2.0, backend="torch")
    assert max_abs_error(a, b) > 1e-2


def test_backend_dispatch_and_env_override(monkeypatch):
    pytest.importorskip("triton")
    import chai_kernels.triton.cache_attention as tk

    calls = []
    real = tk.cache_attention_fwd_triton

    def spy(*a, **kw):
        calls.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(tk, "cache_attention_fwd_triton", spy)
    x = make_cache_attention_inputs(1, 16, 1, 16, 16, 1)
    monkeypatch.delenv("CHAI_KERNELS_BACKEND", raising=False)
    cache_attention(**x)  # CPU tensors: automatic choice is the torch backend
    assert calls == []
    monkeypatch.setenv("CHAI_KERNELS_BACKEND", "triton")
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(ValueError, match="TRITON_INTERPRET"):
        cache_attention(**x)  # triton forced on CPU without the interpreter: actionable error
    monkeypatch.setenv("CHAI_KERNELS_BACKEND", "bogus")
    with pytest.raises(ValueError, match="CHAI_KERNELS_BACKEND"):
        cache_attention(**x)
    if _env.interpret_mode() or torch.cuda.is_available():
        return
    monkeypatch.setenv("CHAI_KERNELS_BACKEND", "torch")
    cache_attention(**x)
    assert calls == []


def test_backend_override_runs_triton_under_interpreter(monkeypatch, kernel_device):
    import chai_kernels.triton.cache_attention as tk

    calls = []
    real = tk.cache_attention_fwd_triton
    monkeypatch.setattr(tk, "cache_attention_fwd_triton", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    monkeypatch.setenv("CHAI_KERNELS_BACKEND", "triton")
    x = make_cache_attention_inputs(1, 16, 1, 16, 16, 1, device=kernel_device)
    cache_attention(**x)
    assert calls == [1]
    monkeypatch.setenv("CHAI_KERNELS_BACKEND", "torch")
    cache_attention(**x)
    assert calls == [1]


# ----------------------------------------------------------------------------------------------------------
# tier 1: validation errors
# ----------------------------------------------------------------------------------------------------------


def _base():
    return make_cache_attention_inputs(2, 8, 2, 16, 5, 1, mask="random", seed=0)


def _replace(**kw):
    x = _base()
    x.update(kw)
    return x


_T = torch.randn
VALIDATION_CASES = {
    "q not a tensor": (lambda: _replace(q=[[1.0]]), TypeError, "q must be a torch.Tensor"),
    "q 3-d": (lambda: _replace(q=_T(2, 8, 32)), ValueError, r"q must have 4 dimensions"),
    "q int dtype": (
        lambda: _replace(q=torch.ones(2, 8, 2, 16, dtype=torch.int32)),
        TypeError,
        "q has dtype torch.int32",
    ),
    "q float64": (lambda: _replace(q=_T(2, 8, 2, 16, dtype=torch.float64)), TypeError, "float64"),
    "k dtype differs": (lambda: _replace(k=_T(2, 8, 2, 16).half()), TypeError, "k has dtype torch.float16"),
    "k batch differs": (
        lambda: _replace(k=_T(3, 8, 2, 16), v=_T(3, 8, 2, 16)),
        ValueError,
        r"k: shape=\(3, 8, 2, 16\)",
    ),
    "v shape differs": (lambda: _replace(v=_T(2, 7, 2, 16)), ValueError, r"v: shape=\(2, 7, 2, 16\)"),
    "heads differ": (lambda: _replace(k=_T(2, 8, 3, 16), v=_T(2, 8, 3, 16)), ValueError, "same B, H, D"),
    "empty N": (lambda: _replace(q=_T(2, 0, 2, 16)), ValueError, "N, N_k >= 1"),
    "head dim 12": (lambda: make_cache_attention_inputs(1, 4, 1, 12), ValueError, "head dim 12"),
    "head dim 264": (lambda: make_cache_attention_inputs(1, 4, 1, 264), ValueError, "head dim 264"),
    "head dim 20 (not x8)": (lambda: make_cache_attention_inputs(1, 4, 1, 20), ValueError, "steps of 8"),
    "q last dim strided": (lambda: _replace(q=_T(2, 8, 2, 32)[..., ::2]), ValueError, "contiguous last dimension"),
    "only k_cache": (lambda: _replace(v_cache=None, cache_mask=None), ValueError, "k_cache was given but v_cache"),
    "only v_cache": (lambda: _replace(k_cache=None, cache_mask=None), ValueError, "v_cache was given but k_cache"),
    "cache wrong type": (lambda: _replace(k_cache=1.0, v_cache=2.0), TypeError, "k_cache must be a torch.Tensor"),
    "cache dtype differs": (
        lambda: _replace(k_cache=_T(1, 5, 2, 16).half(), v_cache=_T(1, 5, 2, 16).half()),
        TypeError,
        "k_cache has dtype torch.float16",
    ),
    "cache head dim differs": (
        lambda: _replace(k_cache=_T(1, 5, 2, 24), v_cache=_T(1, 5, 2, 24)),
        ValueError,
        r"k_cache: shape=\(1, 5, 2, 24\)",
    ),
    "cache k/v shapes differ": (lambda: _replace(v_cache=_T(1, 6, 2, 16)), ValueError, r"v_cache: shape=\(1, 6"),
    "Bc does not divide B": (lambda: make_cache_attention_inputs(4, 8, 2, 16, 5, 3), ValueError, "Bc=3"),
    "cache last dim strided": (lambda: _replace(k_cache=_T(1, 5, 2, 32)[..., ::2]), ValueError, "k_cache must have"),
    "mixed quantized": (lambda: _replace(k_cache=quantize_kv(_T(1, 5, 2, 16))), TypeError, "both QuantizedKV"),
    "mixed quant dtypes": (
        lambda: _replace(
            k_cache=quantize_kv(_T(1, 5, 2, 16)), v_cache=quantize_kv(_T(1, 5, 2, 16), dtype=torch.float8_e4m3fn)
        ),
        TypeError,
        "same of",
    ),
    "mask float": (lambda: _replace(cache_mask=torch.ones(1, 5)), TypeError, "cache_mask has dtype torch.float32"),
    "mask shape": (
        lambda: _replace(cache_mask=torch.ones(2, 5, dtype=torch.bool)),
        ValueError,
        r"\(Bc, M\) = \(1, 5\)",
    ),
    "mask not tensor": (lambda: _replace(cache_mask=[True] * 5), TypeError, "cache_mask must be a bool"),
    "mask without cache": (lambda: _replace(k_cache=None, v_cache=None), ValueError, "no k_cache/v_cache"),
    "device differs": (
        lambda: _replace(k=_T(2, 8, 2, 16, device="meta"), v=_T(2, 8, 2, 16, device="meta")),
        ValueError,
        "k is on meta but q is on cpu",
    ),
}

OPTION_CASES = {
    "bad mode": ({"mode": "concat"}, ValueError, "mode='concat'"),
    "bias nan": ({"cache_bias": float("nan")}, ValueError, "cache_bias=nan"),
    "bias tensor": ({"cache_bias": torch.tensor(1.0)}, TypeError, "cache_bias must be a Python float"),
    "scale zero": ({"scale": 0.0}, ValueError, "scale=0.0"),
    "bad backend": ({"backend": "cuda"}, ValueError, "backend='cuda'"),
    "return_lse int": ({"return_lse": 1}, TypeError, "return_lse must be a bool"),
}


@pytest.mark.parametrize("case", list(VALIDATION_CASES))
def test_validation_errors(case):
    build, exc, pattern = VALIDATION_CASES[case]
    with pytest.raises(exc, match=pattern) as info:
        cache_attention(**build(), backend="torch")
    assert "HINT:" in str(info.value)


@pytest.mark.parametrize("case", list(OPTION_CASES))
def test_option_errors(case):
    kw, exc, pattern = OPTION_CASES[case]
    with pytest.raises(exc, match=pattern) as info:
        cache_attention(**_base(), **kw)
    assert "HINT:" in str(info.value)


def test_requires_grad_is_refused_but_no_grad_works():
    x = _base()
    x["q"].requires_grad_(True)
    with pytest.raises(ValueError, match="forward-only"):
        cache_attention(**x, backend="torch")
    with torch.no_grad():
        cache_attention(**x, backend="torch")


# ----------------------------------------------------------------------------------------------------------
# tier 1: custom op / torch.compile
# ----------------------------------------------------------------------------------------------------------


def test_custom_op_opcheck():
    x = make_cache_attention_inputs(2, 9, 2, 16, 7, 1, mask="random")
    from chai_kernels.blocks import block_lists

    blocks, counts = block_lists(x["cache_mask"], 1, 7, "cpu")
    for blk, cnt in ((None, None), (blocks, counts)):
        args = (x["q"], x["k"], x["v"], x["k_cache"], x["v_cache"], None, None, x["cache_mask"], blk, cnt, "joint",
                0.5, 0.25, True, "torch")  # fmt: skip
        torch.library.opcheck(torch.ops.chai_kernels.cache_attention.default, args,
                              test_utils=("test_schema", "test_faketensor"))  # fmt: skip


@pytest.mark.parametrize("quantized", [False, True])
def test_torch_compile_fullgraph(quantized):
    torch._dynamo.reset()
    x = make_cache_attention_inputs(2, 9, 2, 16, 7, 1, mask="random")
    if quantized:
        x["k_cache"], x["v_cache"] = quantize_kv(x["k_cache"]), quantize_kv(x["v_cache"])

    def f(q, k, v, kc, vc, m):
        out, lse = cache_attention(q * 1.5, k, v, kc, vc, m, mode="joint", cache_bias=0.3, return_lse=True,
                                   backend="torch")  # fmt: skip
        return out.sum(-1), lse + 1

    compiled = torch.compile(f, fullgraph=True, backend="aot_eager")
    got = compiled(x["q"], x["k"], x["v"], x["k_cache"], x["v_cache"], x["cache_mask"])
    want = f(x["q"], x["k"], x["v"], x["k_cache"], x["v_cache"], x["cache_mask"])
    assert_close_verbose(got[0], want[0], atol=1e-5, name="compiled out")
    assert_close_verbose(got[1], want[1], atol=1e-5, name="compiled lse")


# ----------------------------------------------------------------------------------------------------------
# tier 1: host-side block summary
# ----------------------------------------------------------------------------------------------------------


def test_block_lists_put_full_blocks_first_then_partial():
    from chai_kernels.blocks import BLOCK_N_VARIANTS, block_lists

    mask = torch.zeros(3, 70, dtype=torch.bool)
    mask[0, 16:32] = True  # block 1 full
    mask[0, 65] = True  # block 4 partial (ragged tail)
    mask[1, :] = True  # all full except the ragged tail block 4 (6 of 16 slots): partial
    mask[1, 40] = False  # block 2 partial
    blocks, counts = block_lists(mask, 3, 70, "cpu")
    v16 = BLOCK_N_VARIANTS.index(16)
    assert blocks.shape == (len(BLOCK_N_VARIANTS), 3, 5) and blocks.dtype == torch.int32
    assert counts[v16].tolist() == [[1, 2], [3, 5], [0, 0]]
    assert blocks[v16, 0, :2].tolist() == [1, 4]
    assert blocks[v16, 1].tolist() == [0, 1, 3, 2, 4]
    v64 = BLOCK_N_VARIANTS.index(64)  # blocks 0..63 and the ragged 64..69
    assert counts[v64].tolist() == [[0, 2], [0, 2], [0, 0]]
    blocks, counts = block_lists(None, 2, 70, "cpu")
    assert counts[v16].tolist() == [[4, 5], [4, 5]] and blocks[v16, 0].tolist() == [0, 1, 2, 3, 4]
    blocks, counts = block_lists(None, 1, 64, "cpu")  # no ragged block: everything is interior
    assert counts[v64].tolist() == [[1, 1]] and counts[v16].tolist() == [[4, 4]]


@pytest.mark.parametrize(
    "d,chunks",
    [
        (16, (16, 0)),
        (24, (16, 16)),
        (64, (64, 0)),
        (72, (64, 16)),
        (80, (64, 16)),
        (96, (64, 32)),
        (120, (64, 64)),
        (136, (128, 16)),
        (256, (256, 0)),
    ],
)
def test_head_dim_chunks_cover_the_head_dim_without_padding_to_the_next_power_of_two(d, chunks):
    pytest.importorskip("triton")
    from chai_kernels.triton.cache_attention import head_dim_chunks

    a, b = head_dim_chunks(d)
    assert (a, b) == chunks
    assert (b == 0 and a == d) or a < d <= a + b  # chunk A fully real, chunk B holds the rest
    assert b == 0 or b >= 16  # dot tiles >= 16 on a GPU
    assert a + b <= max(16, 1 << (d - 1).bit_length())


# ----------------------------------------------------------------------------------------------------------
# tier 2: the Triton kernel
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.interpret
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "B{}N{}H{}D{}M{}Bc{}{}".format(*s[:6], "p" if s[6] else ""))
@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_kernel_matches_reference(dtype, mode, mask, shape, kernel_device):
    B, N, H, D, M, Bc, permuted = shape
    x = make_cache_attention_inputs(B, N, H, D, M, Bc, dtype=dtype, mask=mask, permuted=permuted, device=kernel_device)
    out = cache_attention(**x, mode=mode, cache_bias=0.37, backend="triton")
    _check(out.cpu(), {k: (t.cpu() if isinstance(t, torch.Tensor) else t) for k, t in x.items()}, dtype,
           mode=mode, cache_bias=0.37, name=f"{dtype} {mode} {mask} {shape}")  # fmt: skip


@pytest.mark.interpret
@pytest.mark.parametrize("D", [16, 64, 72, 128])
@pytest.mark.parametrize("mode", MODES)
def test_kernel_head_dims_blocky_mask_and_scale(D, mode, kernel_device):
    """Blocky masks create empty, partial and full key blocks in one row; custom scale; N_k != N."""
    x = make_cache_attention_inputs(2, 33, 2, D, 129, 2, dtype=torch.float16, mask="blocks", n_k=45,
                                    device=kernel_device)  # fmt: skip
    x["cache_mask"][1] = False  # one cache row selects nothing: replace falls back for b % 2 == 1
    out = cache_attention(**x, mode=mode, cache_bias=-0.8, scale=0.11, backend="triton")
    _check(out.cpu(), {k: t.cpu() for k, t in x.items()}, torch.float16, mode=mode, cache_bias=-0.8, scale=0.11)


@pytest.mark.interpret
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_kernel_lse_and_poisoned_buffers(dtype, mode, kernel_device):
    from chai_kernels.triton.cache_attention import cache_attention_fwd_triton

    B, N, H, D, M = 2, 37, 2, 72, 129
    x = make_cache_attention_inputs(B, N, H, D, M, 1, dtype=dtype, mask="random", device=kernel_device)
    # out is a strided view into a wider NaN buffer: the spare columns must stay NaN (no stray stores)
    wide = poison_like((B, N, H, D + 8), dtype, kernel_device)
    out = wide[..., :D]
    lse = poison_like((B, H, N), torch.float32, kernel_device)
    cache_attention_fwd_triton(x["q"], x["k"], x["v"], x["k_cache"], x["v_cache"], x["cache_mask"], mode=mode,
                               cache_bias=0.5, scale=1 / math.sqrt(D), return_lse=True, out=out, lse=lse)  # fmt: skip
    assert torch.isnan(wide[..., D:]).all(), "kernel wrote outside the output view"
    assert not torch.isnan(out).any() and not torch.isnan(lse).any(), "kernel left output elements unwritten"
    xc = {k: t.cpu() for k, t in x.items()}
    _check(out.cpu(), xc, dtype, mode=mode, cache_bias=0.5)
    _, lse64 = _ref(xc, mode=mode, cache_bias=0.5, return_lse=True)
    # logits come from an fp32 dot of the (exact) inputs, so the lse is fp32-accurate in every dtype
    assert_close_verbose(lse.cpu(), lse64, atol=2e-4, rtol=1e-5, name="lse")
    out2, lse2 = cache_attention(**x, mode=mode, cache_bias=0.5, return_lse=True, backend="triton")
    assert lse2.shape == (B, H, N) and lse2.dtype == torch.float32
    assert_close_verbose(lse2.cpu(), lse64, atol=2e-4, rtol=1e-5, name="lse (op)")


@pytest.mark.interpret
@pytest.mark.parametrize("mode", MODES)
def test_kernel_never_reads_masked_cached_tokens(mode, kernel_device):
    """NaN in every deselected cached slot: empty blocks are skipped and partial blocks mask their loads."""
    x = make_cache_attention_inputs(4, 37, 2, 72, 129, 2, dtype=torch.float32, mask="blocks", device=kernel_device)
    x["cache_mask"][1] = False
    clean = {k: t.clone() for k, t in x.items()}
    drop = ~x["cache_mask"][:, :, None, None].expand_as(x["k_cache"])
    x["k_cache"] = x["k_cache"].masked_fill(drop, float("nan"))
    x["v_cache"] = x["v_cache"].masked_fill(drop, float("nan"))
    out = cache_attention(**x, mode=mode, cache_bias=0.2, backend="triton")
    assert not torch.isnan(out).any()
    _check(out.cpu(), {k: t.cpu() for k, t in clean.items()}, torch.float32, mode=mode, cache_bias=0.2)


@pytest.mark.interpret
def test_kernel_large_logits_are_stable(kernel_device):
    """Large logits (|s| ~ 1e3) and a large bias: the online softmax must not overflow."""
    x = make_cache_attention_inputs(1, 37, 2, 64, 37, 1, mask="random", device=kernel_device)
    x["q"] = x["q"] * 30
    out = cache_attention(**x, mode="joint", cache_bias=50.0, backend="triton")
    assert torch.isfinite(out).all()
    _check(out.cpu(), {k: t.cpu() for k, t in x.items()}, torch.float32, mode="joint", cache_bias=50.0)


# ----------------------------------------------------------------------------------------------------------
# tier 2: head-dim chunks, peeled key blocks, packed tiles, prepared cache, autotune
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.interpret
@pytest.mark.parametrize("D", [16, 24, 40, 64, 72, 96, 120, 136, 200, 256])
def test_kernel_head_dim_chunks_16_to_256(D, kernel_device):
    """Every chunk layout (one power of two; 64 + 16 with 8 real channels; 64 + 64 with 56 real; ...)."""
    dtype = torch.float16
    x = make_cache_attention_inputs(2, 37, 1, D, 45, 2, dtype=dtype, mask="random", n_k=29, device=kernel_device)
    out = cache_attention(**x, mode="joint", cache_bias=0.2, backend="triton")
    _check(out.cpu(), {k: t.cpu() for k, t in x.items()}, dtype, mode="joint", cache_bias=0.2, name=f"D={D}")


@pytest.mark.interpret
@pytest.mark.parametrize("loops", ["for", "while"])
@pytest.mark.parametrize("n_k,M", [(37, 70), (32, 64), (16, 17), (5, 3)])
@pytest.mark.parametrize("mode", MODES)
def test_kernel_peeled_blocks_with_small_tiles(n_k, M, mode, loops, kernel_device, monkeypatch):
    """16-wide key blocks force several interior blocks, a peeled ragged block (when N_k % 16 != 0) and
    full / partial / empty cached blocks in one row; NaN in every deselected cached slot. Both forms of the
    key loops: ``for``, and the ``while`` form Triton 3.6's interpreter takes (forced here on every Triton)."""
    from chai_kernels.triton import cache_attention as tk
    from chai_kernels.triton.configs import LaunchConfig

    if loops == "while":
        if kernel_device != "cpu":
            pytest.skip("interpreter-only loop form")
        monkeypatch.setattr(tk, "_interpreter_needs_while_loops", lambda: True)
    x = make_cache_attention_inputs(4, 33, 2, 72, M, 2, dtype=torch.float32, mask="random", n_k=n_k,
                                    device=kernel_device)  # fmt: skip
    x["cache_mask"][0, :16] = True  # a full block
    x["cache_mask"][0, 16:32] = False  # an empty block (when M >= 32)
    x["cache_mask"][1] = False if mode == "replace" else x["cache_mask"][1]  # replace: row 1 falls back
    clean = {k: t.cpu().clone() for k, t in x.items()}
    drop = ~x["cache_mask"][:, :, None, None].expand_as(x["k_cache"])
    kc, vc = x["k_cache"].masked_fill(drop, float("nan")), x["v_cache"].masked_fill(drop, float("nan"))
    out = poison_like(x["q"].shape, torch.float32, kernel_device)
    tk.cache_attention_fwd_triton(x["q"], x["k"], x["v"], kc, vc, x["cache_mask"], mode=mode, cache_bias=0.3,
                                  out=out, config=LaunchConfig(16, 16, 4, 1))  # fmt: skip
    _check(out.cpu(), clean, torch.float32, mode=mode, cache_bias=0.3)


def test_compiled_kernels_never_take_the_while_loop_form(monkeypatch):
    """``while`` loops are not software-pipelined: outside the interpreter the key loops are always ``for``."""
    pytest.importorskip("triton")
    from chai_kernels.triton import cache_attention as tk

    monkeypatch.setattr(_env, "interpret_mode", lambda: False)
    assert tk._interpreter_needs_while_loops() is False


PACKED_SHAPES = [(6, 15, 15, 3, None), (5, 7, 9, 5, 11), (30, 15, 15, 15, None), (3, 1, 2, 1, 32)]


@pytest.mark.interpret
@pytest.mark.parametrize("shape", PACKED_SHAPES, ids=lambda s: "B{}N{}M{}Bc{}nk{}".format(*s))
@pytest.mark.parametrize("mask", ("random", "none", "all", None))
@pytest.mark.parametrize("mode", MODES)
def test_kernel_packed_tiles_for_short_sequences(shape, mask, mode, kernel_device):
    """Several batch rows per tile (OpenSora's temporal attention, N = 15): rows never see each other's keys."""
    from chai_kernels.triton import configs as C

    B, N, M, Bc, n_k = shape
    assert C.pack_rows(N, n_k or N, M, B, 80)[0] > 1  # the packed path is the one under test
    dtype = torch.float16
    x = make_cache_attention_inputs(B, N, 2, 72, M, Bc, dtype=dtype, mask=mask or "all", n_k=n_k,
                                    device=kernel_device)  # fmt: skip
    if mask is None:
        x["cache_mask"] = None
    lse = poison_like((B, 2, N), torch.float32, kernel_device)
    out, lse = cache_attention(**x, mode=mode, cache_bias=-0.3, return_lse=True, backend="triton")
    xc = {k: (t.cpu() if isinstance(t, torch.Tensor) else t) for k, t in x.items()}
    _check(out.cpu(), xc, dtype, mode=mode, cache_bias=-0.3)
    _, lse64 = _ref(xc, mode=mode, cache_bias=-0.3, return_lse=True)
    assert_close_verbose(lse.cpu(), lse64, atol=2e-3, rtol=1e-3, name="packed lse")


@pytest.mark.interpret
@pytest.mark.parametrize("qdtype", (torch.int8, torch.float8_e4m3fn), ids=str)
def test_kernel_packed_tiles_quantized_and_nan_in_deselected_slots(qdtype, kernel_device):
    x = make_cache_attention_inputs(8, 15, 2, 72, 15, 4, dtype=torch.bfloat16, mask="random", device=kernel_device)
    x["cache_mask"][2] = False
    kq, vq = quantize_kv(x["k_cache"], dtype=qdtype), quantize_kv(x["v_cache"], dtype=qdtype)
    # int8 has no NaN and the interpreter decodes fp8 NaN codes as finite: poison the float32 scales of the
    # deselected slots instead (a V scale read there turns the output NaN)
    vscale = vq.scale.masked_fill(~x["cache_mask"][:, :, None], float("nan"))
    vq_poisoned = QuantizedKV(vq.data, vscale)
    for mode in MODES:
        out = cache_attention(x["q"], x["k"], x["v"], kq, vq_poisoned, x["cache_mask"], mode=mode, backend="triton")
        assert torch.isfinite(out).all()
        deq = dict({k: t.cpu() for k, t in x.items()}, k_cache=kq.to("cpu"), v_cache=vq.to("cpu"))
        _check(out.cpu(), deq, torch.bfloat16, mode=mode)


def _count_launches_and_torch_ops(monkeypatch, fn):
    """Run ``fn``; return (kernel launches, torch ops run outside the kernel launch, ops inside)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    import chai_kernels.triton.cache_attention as tk

    state = {"launches": 0, "inside": False}
    outside, inside = [], []

    from chai_kernels.ops import cache_attention as ops_module

    class Count(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if "chai_kernels.cache_attention" in str(func):
                with self:  # look inside our own custom op: run its implementation under this mode
                    return ops_module._cache_attention_op._init_fn(*args, **(kwargs or {}))
            (inside if state["inside"] else outside).append(str(func))
            return func(*args, **(kwargs or {}))

    for kernel in (tk._cache_attn_fwd, tk._cache_attn_fwd_kernel):
        real = kernel.run

        def run(*a, _real=real, **kw):
            if not state["inside"]:
                state["launches"] += 1
            was, state["inside"] = state["inside"], True
            try:
                return _real(*a, **kw)
            finally:
                state["inside"] = was

        monkeypatch.setattr(kernel, "run", run)
    with Count():
        fn()
    return state["launches"], outside, inside


@pytest.mark.interpret
@pytest.mark.parametrize("quantized", [False, True])
def test_prepared_cache_call_is_one_kernel_launch(monkeypatch, kernel_device, quantized):
    from chai_kernels import prepare_cache

    x = make_cache_attention_inputs(4, 37, 2, 72, 45, 2, dtype=torch.float16, mask="blocks", device=kernel_device)
    kc, vc = x["k_cache"], x["v_cache"]
    if quantized:
        kc, vc = quantize_kv(kc), quantize_kv(vc)
    prepared = prepare_cache(kc, vc, x["cache_mask"])
    if quantized:  # scales laid out key-contiguous once, at prepare time (coalesced per key block)
        assert prepared.k_scale.stride(1) == 1 and prepared.v_scale.stride(1) == 1
        assert torch.equal(prepared.k_scale, kc.scale) and torch.equal(prepared.v_scale, vc.scale)
    launches, outside, _ = _count_launches_and_torch_ops(
        monkeypatch, lambda: cache_attention(x["q"], x["k"], x["v"], cache=prepared, backend="triton")
    )
    assert launches == 1
    # nothing but allocations and views (no kernels) run as torch ops around the launch: no block summary, no copies
    assert all("empty" in op or op.startswith("aten.view") for op in outside), outside
    # without a prepared cache the block lists cost several small torch ops on every call
    launches, outside, _ = _count_launches_and_torch_ops(
        monkeypatch, lambda: cache_attention(x["q"], x["k"], x["v"], kc, vc, x["cache_mask"], backend="triton")
    )
    assert launches == 1 and len([op for op in outside if "empty" not in op and "view" not in op]) > 5
    out = cache_attention(x["q"], x["k"], x["v"], cache=prepared, backend="triton")
    want = cache_attention(x["q"], x["k"], x["v"], kc, vc, x["cache_mask"], backend="triton")
    assert torch.equal(out, want)


@pytest.mark.interpret
def test_prepared_mask_with_per_call_kv(kernel_device):
    """A hit prepares its mask once and attaches each step's K/V: results equal the unprepared op."""
    from chai_kernels import prepare_cache

    x = make_cache_attention_inputs(4, 37, 2, 72, 45, 2, dtype=torch.float32, mask="random", device=kernel_device)
    mask_only = prepare_cache(None, None, x["cache_mask"])
    for step in range(2):
        kc, vc = x["k_cache"] * (step + 1), x["v_cache"] - step
        got = cache_attention(x["q"], x["k"], x["v"], cache=mask_only.with_kv(kc, vc), mode="replace", backend="triton")
        xs = dict({k: t.cpu() for k, t in x.items()}, k_cache=kc.cpu(), v_cache=vc.cpu())
        _check(got.cpu(), xs, torch.float32, mode="replace")
    all_kept = prepare_cache(None, None, shape=(2, 45), device=kernel_device).with_kv(x["k_cache"], x["v_cache"])
    got = cache_attention(x["q"], x["k"], x["v"], cache=all_kept, backend="triton")
    _check(got.cpu(), dict({k: t.cpu() for k, t in x.items()}, cache_mask=None), torch.float32, mode="joint")


def test_prepared_cache_torch_backend_and_errors():
    from chai_kernels import PreparedCache, prepare_cache

    x = make_cache_attention_inputs(4, 9, 2, 16, 11, 2, mask="random")
    prepared = prepare_cache(x["k_cache"], x["v_cache"], x["cache_mask"])
    assert isinstance(prepared, PreparedCache) and "mask (2, 11)" in repr(prepared)
    got = cache_attention(x["q"], x["k"], x["v"], cache=prepared, backend="torch")
    assert_close_verbose(got, cache_attention(**x, backend="torch"), atol=0, name="prepared vs plain")
    cases = [
        (lambda: cache_attention(**x, cache=prepared), ValueError, "together with k_cache"),
        (lambda: cache_attention(x["q"], x["k"], x["v"], cache="no"), TypeError, "PreparedCache"),
        (
            lambda: cache_attention(x["q"], x["k"], x["v"], cache=prepare_cache(None, None, x["cache_mask"])),
            ValueError,
            "no cached K/V",
        ),
        (lambda: prepared.with_kv(x["k_cache"][:, :5], x["v_cache"][:, :5]), ValueError, r"\(Bc, M\) = \(2, 5\)"),
        (lambda: prepare_cache(None, None), ValueError, "shape=\\(Bc, M\\)"),
        (lambda: prepare_cache(x["k_cache"], x["v_cache"], x["cache_mask"][:1]), ValueError, "cache_mask has shape"),
        (lambda: cache_attention(x["q"][:3], x["k"][:3], x["v"][:3], cache=prepared), ValueError, "Bc=2"),
    ]
    for build, exc, pattern in cases:
        with pytest.raises(exc, match=pattern) as info:
            build()
        assert "HINT:" in str(info.value)


def test_autotune_pruning_is_the_table_by_default_and_the_search_space_when_on(monkeypatch):
    pytest.importorskip("triton")
    from chai_kernels.triton import configs as C

    space = C.cache_attention_search_space()
    named = {"Q": torch.empty(1, dtype=torch.bfloat16), "n_q": 405, "n_k": 405, "m_c": 405}
    monkeypatch.setattr(_env, "interpret_mode", lambda: False)
    picked = C.prune_cache_attention_configs(space, named, D_A=64, D_B=16)
    assert len(picked) == 1 and C._as_launch(picked[0]) == C.CACHE_ATTN_CONFIGS[(128, "bfloat16")]
    monkeypatch.setattr(C, "_AUTOTUNE", True)
    tuned = [C._as_launch(c) for c in C.prune_cache_attention_configs(space, named, D_A=64, D_B=16)]
    assert len(tuned) > 8 and all(c.BLOCK_N <= 64 for c in tuned)  # BLOCK_N 128 pruned at 80 channels
    short = [C._as_launch(c) for c in C.prune_cache_attention_configs(space, dict(named, n_q=40), D_A=64, D_B=16)]
    assert short and all(c.BLOCK_M == 64 for c in short)  # no 128-row tiles for 40 queries
    monkeypatch.setattr(_env, "interpret_mode", lambda: True)
    interp = C.prune_cache_attention_configs(space, dict(named, n_q=37, n_k=45, m_c=45), D_A=64, D_B=16)
    assert [C._as_launch(c) for c in interp] == [C.interpreter_config(37, 45)]
    assert C.autotune_bench(lambda: None, quantiles=(0.5,)) == [0.0, 0.0, 0.0]  # never times under the interpreter


@pytest.mark.interpret
def test_autotune_switched_on_still_runs_under_the_interpreter(monkeypatch, kernel_device):
    from chai_kernels.triton import configs as C

    if kernel_device != "cpu":
        pytest.skip("interpreter behaviour")
    monkeypatch.setattr(C, "_AUTOTUNE", True)
    x = make_cache_attention_inputs(2, 37, 2, 72, 45, 1, dtype=torch.float32, mask="random")
    out = cache_attention(**x, backend="triton")
    _check(out, x, torch.float32, mode="joint")


# ----------------------------------------------------------------------------------------------------------
# tier 2: quantized cached K/V
# ----------------------------------------------------------------------------------------------------------

QUANT_DTYPES = (torch.int8, torch.float8_e4m3fn)
# Relative (Frobenius) error vs float64 on the ORIGINAL inputs. int8 meets a 2e-2 bound; float8_e4m3fn
# has 3 mantissa bits (up to 6.25 % per element), so on Gaussian data the format itself costs ~3.5 % and the
# float64 reference on the dequantized inputs errs as much: we bound fp8 by 5e-2 and by that format error.
QUANT_REL_BOUND = {torch.int8: 2e-2, torch.float8_e4m3fn: 5e-2}


@pytest.mark.interpret
@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("qdtype", QUANT_DTYPES, ids=str)
def test_kernel_quantized_kv(qdtype, dtype, mode, mask, kernel_device):
    B, N, H, D, M, Bc = 2, 37, 2, 72, 129, 2
    x = make_cache_attention_inputs(B, N, H, D, M, Bc, dtype=dtype, mask=mask, device=kernel_device)
    kq, vq = quantize_kv(x["k_cache"], dtype=qdtype), quantize_kv(x["v_cache"], dtype=qdtype)
    out = cache_attention(x["q"], x["k"], x["v"], kq, vq, x["cache_mask"], mode=mode, cache_bias=0.3,
                          backend="triton")  # fmt: skip
    xc = {k: t.cpu() for k, t in x.items()}
    out = out.cpu()
    # (a) against the float64 reference on the dequantized inputs: the kernel adds only rounding
    deq = dict(xc, k_cache=kq.to("cpu"), v_cache=vq.to("cpu"))
    _check(out, deq, dtype, mode=mode, cache_bias=0.3, name=f"quant {qdtype} vs dequantized reference")
    # (b) against the float64 reference on the original inputs
    truth = _ref(xc, mode=mode, cache_bias=0.3)
    format_err = relative_error(_ref(deq, mode=mode, cache_bias=0.3), truth)
    rel = relative_error(out, truth)
    assert rel <= QUANT_REL_BOUND[qdtype], f"relative error {rel:.3e} vs original inputs ({qdtype}, {dtype})"
    assert rel <= format_err + 1e-2, f"kernel error {rel:.3e} exceeds the format's own error {format_err:.3e}"


@pytest.mark.interpret
def test_kernel_quantized_strided_scales_and_permuted_data(kernel_device):
    """QuantizedKV with permuted (Bc, H, M, D) data and non-contiguous scales, Bc = 1 broadcast."""
    x = make_cache_attention_inputs(3, 37, 2, 72, 37, 1, dtype=torch.bfloat16, mask="random", device=kernel_device)
    kq = quantize_kv(x["k_cache"])
    vq = quantize_kv(x["v_cache"], dtype=torch.float8_e4m3fn)
    vq = QuantizedKV(vq.data, vq.scale)
    kq_perm = QuantizedKV(kq.data.transpose(1, 2).contiguous().transpose(1, 2),
                          kq.scale.transpose(1, 2).contiguous().transpose(1, 2))  # fmt: skip
    assert kq_perm.data.stride() != kq.data.stride() and not kq_perm.scale.is_contiguous()
    vq8 = QuantizedKV(quantize_kv(x["v_cache"]).data, quantize_kv(x["v_cache"]).scale)
    out = cache_attention(x["q"], x["k"], x["v"], kq_perm, vq8, x["cache_mask"], cache_bias=0.1, backend="triton")
    deq = dict({k: t.cpu() for k, t in x.items()}, k_cache=kq.to("cpu"), v_cache=vq8.to("cpu"))
    _check(out.cpu(), deq, torch.bfloat16, mode="joint", cache_bias=0.1)
    with pytest.raises(TypeError, match="same of"):
        cache_attention(x["q"], x["k"], x["v"], kq, vq, x["cache_mask"], backend="triton")


def test_torch_backend_quantized_kv():
    x = make_cache_attention_inputs(2, 37, 2, 72, 37, 1, mask="random")
    kq, vq = quantize_kv(x["k_cache"]), quantize_kv(x["v_cache"])
    out = cache_attention(x["q"], x["k"], x["v"], kq, vq, x["cache_mask"], mode="replace", backend="torch")
    _check(out, dict(x, k_cache=kq, v_cache=vq), torch.float32, mode="replace")
    assert relative_error(out, _ref(x, mode="replace")) <= 2e-2


# ----------------------------------------------------------------------------------------------------------
# tier 2: property test over random small shapes
# ----------------------------------------------------------------------------------------------------------

try:
    import hypothesis
    from hypothesis import strategies as st
except ImportError:  # optional (dev extra): skip only this test, not the file
    hypothesis = None


@pytest.mark.interpret
@pytest.mark.skipif(hypothesis is None, reason="hypothesis is not installed")
def test_kernel_property_random_shapes(kernel_device):
    _property_test()


def _property_test():  # replaced below when hypothesis is available
    pytest.skip("hypothesis is not installed (pip install -e '.[dev]' in the checkout)")


if hypothesis is not None:

    @hypothesis.settings(max_examples=8, deadline=None, derandomize=True)
    @hypothesis.given(
        B_rep=st.integers(1, 2), Bc=st.integers(1, 2), N=st.integers(1, 70), M=st.integers(1, 70),
        H=st.integers(1, 2), D=st.sampled_from([16, 24, 40, 72]), mode=st.sampled_from(MODES),
        dtype=st.sampled_from(DTYPES), p=st.floats(0.0, 1.0), permuted=st.booleans(),
        bias=st.floats(-2.0, 2.0), seed=st.integers(0, 2**30),
    )  # fmt: skip
    def _property_test(B_rep, Bc, N, M, H, D, mode, dtype, p, permuted, bias, seed):
        device = "cuda" if torch.cuda.is_available() else "cpu"
        x = make_cache_attention_inputs(B_rep * Bc, N, H, D, M, Bc, dtype=dtype, permuted=permuted, seed=seed,
                                        mask=None, device=device)  # fmt: skip
        x["cache_mask"] = make_mask(Bc, M, "random", p=p, generator=torch.Generator().manual_seed(seed)).to(device)
        out = cache_attention(**x, mode=mode, cache_bias=bias, backend="triton")
        _check(out.cpu(), {k: t.cpu() for k, t in x.items()}, dtype, mode=mode, cache_bias=bias)


# ----------------------------------------------------------------------------------------------------------
# tier 3: GPU, OpenSora-sized shapes
# ----------------------------------------------------------------------------------------------------------

GPU_CASES = list(itertools.product([(30, 405, 16, 72, 405, 15), (6, 1590, 16, 72, 1590, 3)], MODES,
                                   ["random", "blocks"], [torch.bfloat16, torch.float16]))  # fmt: skip


@pytest.mark.gpu
@pytest.mark.parametrize("shape,mode,mask,dtype", GPU_CASES)
def test_gpu_opensora_shapes(shape, mode, mask, dtype):
    B, N, H, D, M, Bc = shape
    x = make_cache_attention_inputs(B, N, H, D, M, Bc, dtype=dtype, mask=mask, device="cuda")
    out = cache_attention(**x, mode=mode, cache_bias=0.25)  # backend=None -> triton on CUDA
    truth = _ref(x, compute_dtype=torch.float32, mode=mode, cache_bias=0.25)  # fp32 truth (memory)
    lowp = _ref(x, compute_dtype=dtype, mode=mode, cache_bias=0.25)
    assert_close_to_reference(out, truth, lowp, dtype=dtype, floor=2e-3)


@pytest.mark.gpu
@pytest.mark.parametrize("qdtype", QUANT_DTYPES, ids=str)
@pytest.mark.parametrize("mode", MODES)
def test_gpu_quantized_240p(qdtype, mode):
    x = make_cache_attention_inputs(30, 405, 16, 72, 405, 15, dtype=torch.bfloat16, mask="random", device="cuda")
    kq, vq = quantize_kv(x["k_cache"], dtype=qdtype), quantize_kv(x["v_cache"], dtype=qdtype)
    out = cache_attention(x["q"], x["k"], x["v"], kq, vq, x["cache_mask"], mode=mode)
    deq = dict(x, k_cache=kq, v_cache=vq)
    truth = _ref(deq, compute_dtype=torch.float32, mode=mode)
    lowp = _ref(deq, compute_dtype=torch.bfloat16, mode=mode)
    assert_close_to_reference(out, truth, lowp, dtype=torch.bfloat16, floor=2e-3)
    assert relative_error(out, _ref(x, compute_dtype=torch.float32, mode=mode)) <= QUANT_REL_BOUND[qdtype]


@pytest.mark.gpu
def test_gpu_fp8_special_codes_do_not_leak_when_masked():
    """GPU only (the interpreter decodes fp8 NaN codes as finite): NaN codes in deselected slots."""
    x = make_cache_attention_inputs(2, 64, 2, 72, 64, 1, dtype=torch.bfloat16, mask="blocks", device="cuda")
    vq = quantize_kv(x["v_cache"], dtype=torch.float8_e4m3fn)
    data = vq.data.clone()
    codes = data.view(torch.uint8)  # fp8 has no masked_fill on CUDA: write the NaN code through a byte view
    codes[~x["cache_mask"]] = 0x7F  # e4m3fn NaN
    assert torch.isnan(data.float()).any()
    out = cache_attention(x["q"], x["k"], x["v"], quantize_kv(x["k_cache"], dtype=torch.float8_e4m3fn),
                          QuantizedKV(data, vq.scale), x["cache_mask"])  # fmt: skip
    assert torch.isfinite(out).all()
