"""Latent quantization: quantize_latent bounds, dequantize_latent on both backends, out= buffers, errors.

Tier 1 (always): the torch backend and the quantization math against float64.
Tier 2 (``interpret``): the real Triton kernel under TRITON_INTERPRET=1 on CPU tensors.
Tier 3 (``gpu``): the compiled kernel on CUDA.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import chai_kernels
from chai_kernels import _env
from chai_kernels import QuantizedLatent, dequantize_latent, quantize_latent

SHAPES_240P = [(1, 4, 15, 30, 53), (2, 4, 15, 30, 53)]
ODD_SHAPES = [(1, 3, 5, 7, 9), (3, 1, 2, 1, 1), (2, 4, 3, 17, 61), (1, 2, 1, 33, 41)]
QUANT = [torch.int8, torch.float8_e4m3fn]
FLOAT_STORAGE = [torch.float32, torch.bfloat16, torch.float16]
OUT_DTYPES = [torch.float32, torch.bfloat16, torch.float16]
FP8_MIN_NORMAL = 2.0**-6
FP8_SUBNORMAL_STEP = 2.0**-9


def _latent(shape, seed=0, dtype=torch.float32, spread=True):
    """Random latent whose (b, c, t) slices span six decades of magnitude, plus one all-zero slice."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    if spread:
        mag = 10.0 ** (torch.rand(shape[:3], generator=g, dtype=torch.float64) * 6 - 3)
        x = x * mag[..., None, None]
        if x.shape[0] * x.shape[1] * x.shape[2] > 1:
            x[0, 0, 0] = 0.0
    return x.to(dtype)


def _bits_off(a: torch.Tensor, e: torch.Tensor) -> int:
    """Largest distance, in units in the last place, between two same-dtype 16/32-bit float tensors."""
    view = torch.int16 if a.element_size() == 2 else torch.int32
    return int((a.view(view).long() - e.view(view).long()).abs().max())


def _oracle(qx: QuantizedLatent) -> torch.Tensor:
    """data * scale in float64 (exact for int8 / fp8 / 16-bit data times a float32 scale)."""
    return qx.data.to(torch.float64) * qx.scale.to(torch.float64)[..., None, None]


# ---------------------------------------------------------------------------------------------------------------------
# quantize_latent: error bounds (tier 1)
# ---------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES_240P + ODD_SHAPES)
def test_int8_error_at_most_half_step(shape):
    x = _latent(shape, seed=1)
    qx = quantize_latent(x)
    assert qx.dtype == torch.int8 and qx.scale.dtype == torch.float32
    assert tuple(qx.shape) == shape and tuple(qx.scale.shape) == shape[:3]
    err = (x.double() - _oracle(qx)).abs()
    half_step = 0.5 * qx.scale.double()[..., None, None]
    # The division runs in float64: only float64 rounding slack.
    assert bool((err <= half_step * (1 + 1e-12)).all()), float((err / half_step).max())
    # Absmax scaling: every non-zero slice uses the full code range, codes stay within +-127.
    amax = x.double().abs().amax(dim=(3, 4))
    nz = amax > 0
    assert torch.allclose(qx.scale.double()[nz], amax[nz] / 127, rtol=1e-6)
    codes = qx.data.flatten(3).abs().amax(dim=3)
    assert bool((codes[nz] == 127).all()) and int(qx.data.min()) >= -127
    if not bool(nz.all()):
        assert bool((qx.scale[~nz] == 1.0).all()) and bool((qx.data[~nz] == 0).all())


@pytest.mark.parametrize("shape", SHAPES_240P + ODD_SHAPES)
def test_fp8_relative_error_in_normal_range(shape):
    x = _latent(shape, seed=2)
    qx = quantize_latent(x, dtype=torch.float8_e4m3fn)
    assert qx.dtype == torch.float8_e4m3fn
    scale = qx.scale.double()[..., None, None]
    y = x.double() / scale
    err = (x.double() - _oracle(qx)).abs()
    normal = y.abs() >= FP8_MIN_NORMAL
    assert int(normal.sum()) >= 0.5 * x.numel()
    rel = err[normal] / x.double().abs()[normal]
    assert float(rel.max()) <= 2.0**-4 * (1 + 1e-6), float(rel.max())
    # Below the normal range e4m3fn is uniform with step 2^-9: half a step of absolute error, in code units.
    assert bool((err[~normal] <= 0.5 * FP8_SUBNORMAL_STEP * scale.expand_as(err)[~normal] * (1 + 1e-6)).all())
    amax = x.double().abs().amax(dim=(3, 4))
    nz = amax > 0
    assert torch.allclose(qx.scale.double()[nz], amax[nz] / 448, rtol=1e-6)
    assert float(qx.data.float().abs().max()) <= 448


def test_fp8_relative_bound_is_tight_enough_to_catch_int8_like_errors():
    # A bound that any sloppy encoding passes would be worthless: the worst case must come close to 2^-4.
    x = _latent((1, 4, 15, 30, 53), seed=3)
    qx = quantize_latent(x, dtype=torch.float8_e4m3fn)
    y = (x.double() / qx.scale.double()[..., None, None]).abs()
    normal = y >= FP8_MIN_NORMAL
    rel = ((x.double() - _oracle(qx)).abs()[normal] / x.double().abs()[normal]).max()
    assert 2.0**-5 < float(rel) <= 2.0**-4 * (1 + 1e-6)


@pytest.mark.parametrize("src", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
@pytest.mark.parametrize("qdtype", QUANT)
def test_orig_dtype_recorded_and_input_untouched(src, qdtype):
    x = _latent((1, 2, 3, 5, 7), seed=4, dtype=src, spread=False)
    before = x.clone()
    qx = quantize_latent(x, dtype=qdtype)
    assert torch.equal(x, before)
    assert qx.orig_dtype == src
    want = torch.float32 if src == torch.float64 else src
    back = dequantize_latent(qx, dtype=want)
    assert back.dtype == want
    step = qx.scale.double()[..., None, None]
    tol = 0.5 * step if qdtype == torch.int8 else x.double().abs() * 2.0**-4 + step * 2.0**-9
    # Plus the output rounding of a 16-bit float.
    tol = tol + back.double().abs() * (torch.finfo(back.dtype).eps if back.dtype != torch.float64 else 0)
    assert bool(((back.double() - x.double()).abs() <= tol * 1.0001).all())


@pytest.mark.parametrize("storage", FLOAT_STORAGE)
def test_float_storage_keeps_the_cast_latent(storage):
    x = _latent((2, 4, 3, 6, 11), seed=5)
    qx = quantize_latent(x, dtype=storage)
    assert qx.dtype == storage and not qx.is_quantized
    assert bool((qx.scale == 1.0).all())
    assert torch.equal(qx.data, x.to(storage))
    out = dequantize_latent(qx, dtype=torch.float32, backend="torch")
    assert torch.equal(out, x.to(storage).float())


def test_nbytes_and_descriptors():
    x = _latent((1, 4, 15, 30, 53), seed=6)
    for qd, item in [(torch.int8, 1), (torch.float8_e4m3fn, 1), (torch.bfloat16, 2), (torch.float32, 4)]:
        qx = quantize_latent(x, dtype=qd)
        assert qx.nbytes == x.numel() * item + 4 * 15 * 4
        assert qx.serialized_nbytes == len(qx.to_bytes()) == qx.nbytes + 56
        assert qx.shape == torch.Size((1, 4, 15, 30, 53)) and qx.dtype == qd and qx.device.type == "cpu"
        assert qx.to("cpu") is qx
        assert qx.numel() == x.numel() and qx.dim() == 5
        assert "QuantizedLatent(shape=(1, 4, 15, 30, 53)" in repr(qx)


# ---------------------------------------------------------------------------------------------------------------------
# dequantize_latent, torch backend and shared behaviour (tier 1)
# ---------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("out_dtype", OUT_DTYPES)
@pytest.mark.parametrize("qdtype", QUANT + [torch.bfloat16])
def test_torch_backend_matches_float64_oracle(qdtype, out_dtype):
    qx = quantize_latent(_latent((2, 4, 15, 30, 53), seed=7), dtype=qdtype)
    got = dequantize_latent(qx, dtype=out_dtype, backend="torch")
    # The float32 product is exact rounding of the float64 one; then one rounding to out_dtype.
    expect = _oracle(qx).float().to(out_dtype)
    assert got.dtype == out_dtype and got.shape == qx.shape
    assert _bits_off(got, expect) == 0


@pytest.mark.parametrize("backend", ["torch", pytest.param("triton", marks=pytest.mark.interpret)])
@pytest.mark.parametrize("out_dtype", OUT_DTYPES)
def test_out_buffer_is_written_in_place(backend, out_dtype):
    qx = quantize_latent(_latent((1, 3, 5, 7, 9), seed=8))
    out = torch.full(qx.shape, float("nan"), dtype=out_dtype)
    ptr = out.data_ptr()
    got = dequantize_latent(qx, dtype=out_dtype, out=out, backend=backend)
    assert got is out and out.data_ptr() == ptr
    assert not bool(torch.isnan(out).any())
    expect = _oracle(qx).float().to(out_dtype)
    limit = 1 if (backend == "triton" and out_dtype == torch.bfloat16 and _env.interpret_mode()) else 0
    assert _bits_off(out, expect) <= limit


@pytest.mark.parametrize("backend", ["torch", pytest.param("triton", marks=pytest.mark.interpret)])
def test_out_dtype_defaults_to_out(backend):
    qx = quantize_latent(_latent((1, 2, 3, 4, 5), seed=9))
    out = torch.full(qx.shape, float("nan"), dtype=torch.float32)
    got = dequantize_latent(qx, dtype=None, out=out, backend=backend)
    assert got is out and _bits_off(out, _oracle(qx).float()) == 0
    assert dequantize_latent(qx, dtype=None, backend=backend).dtype == torch.bfloat16
    assert dequantize_latent(qx, backend=backend).dtype == torch.bfloat16


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_out_validation(backend):
    qx = quantize_latent(_latent((1, 2, 3, 4, 5), seed=10))
    nan = float("nan")
    cases = [
        (torch.full((1, 2, 3, 4, 6), nan, dtype=torch.bfloat16), torch.bfloat16, "shape (1, 2, 3, 4, 6)"),
        (torch.full((1, 2, 3, 4, 5), nan, dtype=torch.float32), torch.bfloat16, "dtype torch.float32"),
        (torch.full((1, 2, 3, 5, 4), nan, dtype=torch.bfloat16).transpose(3, 4), torch.bfloat16, "contiguous"),
        (torch.empty((1, 2, 3, 4, 5), dtype=torch.bfloat16, device="meta"), torch.bfloat16, "device meta"),
    ]
    for out, dt, needle in cases:
        with pytest.raises(ValueError, match="HINT") as info:
            dequantize_latent(qx, dtype=dt, out=out, backend=backend)
        assert needle in str(info.value)
        if out.device.type == "cpu":  # nothing was written into the refused buffer
            assert bool(torch.isnan(out).all())
    with pytest.raises(TypeError, match="out must be a torch.Tensor"):
        dequantize_latent(qx, out=[1, 2, 3], backend=backend)


def test_dequantize_argument_errors():
    qx = quantize_latent(_latent((1, 2, 3, 4, 5), seed=11))
    with pytest.raises(TypeError, match="QuantizedLatent"):
        dequantize_latent(torch.zeros(1, 2, 3, 4, 5))
    with pytest.raises(TypeError, match="HINT"):
        dequantize_latent(qx.data)
    for bad in (torch.int8, torch.float64, "bfloat16"):
        with pytest.raises(TypeError, match="dtype="):
            dequantize_latent(qx, dtype=bad)
    with pytest.raises(ValueError, match="backend='cuda'"):
        dequantize_latent(qx, backend="cuda")


def test_backend_env_override_and_interpreter_requirement(monkeypatch):
    import chai_kernels.triton.latent_quant as tmod

    qx = quantize_latent(_latent((1, 2, 3, 4, 5), seed=12))
    calls = []
    real = tmod.dequantize_latent_triton

    def spy(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(tmod, "dequantize_latent_triton", spy)
    monkeypatch.delenv("CHAI_KERNELS_BACKEND", raising=False)
    dequantize_latent(qx)  # CPU tensors -> torch
    assert calls == []
    monkeypatch.setenv("CHAI_KERNELS_BACKEND", "triton")
    monkeypatch.setattr(_env, "interpret_mode", lambda: True)
    dequantize_latent(qx, dtype=torch.float32)
    assert calls == [1]
    dequantize_latent(qx, backend="torch")  # an explicit backend beats the environment
    assert calls == [1]
    monkeypatch.setenv("CHAI_KERNELS_BACKEND", "cudnn")
    with pytest.raises(ValueError, match="CHAI_KERNELS_BACKEND"):
        dequantize_latent(qx)
    monkeypatch.delenv("CHAI_KERNELS_BACKEND")
    monkeypatch.setattr(_env, "interpret_mode", lambda: False)
    with pytest.raises(ValueError, match="TRITON_INTERPRET=1"):
        dequantize_latent(qx, backend="triton")


def test_importing_the_op_does_not_import_triton():
    # Importing must not import triton. Calling a torch custom op imports torch._dynamo, which imports triton
    # when it is installed (torch's doing); our Triton modules must still stay unimported on the torch path.
    code = (
        "import sys, torch\n"
        "from chai_kernels import quantize_latent, dequantize_latent\n"
        "print('triton' in sys.modules)\n"
        "q = quantize_latent(torch.randn(1, 2, 3, 4, 5))\n"
        "dequantize_latent(q, backend='torch')\n"
        "print(any(m.startswith('chai_kernels.triton') for m in sys.modules))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["False", "False"]


def test_latent_custom_ops_opcheck():
    """Both ops are registered custom ops with fake implementations, like cache_attention."""
    x = _latent((1, 2, 3, 5, 7), seed=20)
    for dt in (torch.int8, torch.float8_e4m3fn, torch.bfloat16):
        torch.library.opcheck(torch.ops.chai_kernels.quantize_latent.default, (x, dt),
                              test_utils=("test_schema", "test_faketensor"))  # fmt: skip
    qx = quantize_latent(x)
    out = torch.empty(qx.shape, dtype=torch.bfloat16)
    torch.library.opcheck(torch.ops.chai_kernels.dequantize_latent.default, (qx.data, qx.scale, out, "torch"),
                          test_utils=("test_schema", "test_faketensor"))  # fmt: skip


def test_latent_ops_torch_compile_fullgraph():
    torch._dynamo.reset()
    x = _latent((1, 2, 3, 5, 7), seed=21, spread=False)

    def f(x):
        data, scale = torch.ops.chai_kernels.quantize_latent(x * 2, torch.int8)
        out = torch.empty(x.shape, dtype=torch.float32)
        torch.ops.chai_kernels.dequantize_latent(data, scale, out, "torch")
        return out + 1

    got = torch.compile(f, fullgraph=True, backend="aot_eager")(x)
    assert torch.equal(got, f(x))
    assert float((got - 1 - 2 * x).abs().max()) <= float(2 * x.abs().max()) / 127


# ---------------------------------------------------------------------------------------------------------------------
# quantize_latent / QuantizedLatent input errors
# ---------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad_val", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_latent_is_refused_naming_the_slice(bad_val):
    x = _latent((2, 4, 5, 6, 7), seed=13)
    x[1, 2, 3, 4, 5] = bad_val
    x[1, 3, 0, 0, 0] = bad_val
    with pytest.raises(ValueError, match=r"\(b, c, t\) = \(1, 2, 3\); 2 slice\(s\)") as info:
        quantize_latent(x, dtype=torch.float8_e4m3fn)
    assert "HINT" in str(info.value)


def test_quantize_argument_errors():
    x = _latent((1, 2, 3, 4, 5), seed=14)
    with pytest.raises(TypeError, match="torch.Tensor"):
        quantize_latent(x.numpy())
    with pytest.raises(TypeError, match="torch.int32"):
        quantize_latent(x.to(torch.int32))
    for bad in (torch.int16, torch.float8_e5m2, "int8", None):
        with pytest.raises(TypeError, match="dtype="):
            quantize_latent(x, dtype=bad)
    with pytest.raises(ValueError, match=r"5-D \(B, C, T, H, W\); got shape \(2, 3, 4, 5\)"):
        quantize_latent(x[0])
    with pytest.raises(ValueError, match="empty"):
        quantize_latent(x[:, :0])


def test_container_validation():
    data = torch.zeros((1, 2, 3, 4, 5), dtype=torch.int8)
    scale = torch.ones((1, 2, 3))
    QuantizedLatent(data, scale)
    with pytest.raises(TypeError, match="torch.int16"):
        QuantizedLatent(data.to(torch.int16), scale)
    with pytest.raises(ValueError, match="5-D"):
        QuantizedLatent(data[0], scale[0])
    with pytest.raises(ValueError, match=r"float32 of shape \(1, 2, 3\)"):
        QuantizedLatent(data, scale[..., :2])
    with pytest.raises(ValueError, match=r"float32 of shape"):
        QuantizedLatent(data, scale.double())
    with pytest.raises(ValueError, match="meta"):
        QuantizedLatent(data, scale.to("meta"))
    with pytest.raises(TypeError, match="orig_dtype"):
        QuantizedLatent(data, scale, torch.int8)
    with pytest.raises(TypeError, match="tensors"):
        QuantizedLatent(data.numpy(), scale)
    # Non-contiguous inputs are stored contiguous (kernels and to_bytes index rows of H*W elements).
    nc = torch.zeros((1, 2, 3, 5, 4), dtype=torch.int8).transpose(3, 4)
    assert QuantizedLatent(nc, scale).data.is_contiguous()
    assert chai_kernels.QuantizedLatent is QuantizedLatent


# ---------------------------------------------------------------------------------------------------------------------
# Triton kernel vs torch reference (tier 2, interpreter)
# ---------------------------------------------------------------------------------------------------------------------
@pytest.mark.interpret
@pytest.mark.parametrize("out_dtype", OUT_DTYPES)
@pytest.mark.parametrize("qdtype", QUANT + FLOAT_STORAGE)
def test_triton_matches_reference_240p(qdtype, out_dtype):
    qx = quantize_latent(_latent((1, 4, 15, 30, 53), seed=15), dtype=qdtype)
    got = dequantize_latent(qx, dtype=out_dtype, backend="triton")
    ref = dequantize_latent(qx, dtype=out_dtype, backend="torch")
    assert got.dtype == out_dtype and got.shape == qx.shape
    # fp32/fp16 outputs are exact; the interpreter truncates fp32 -> bf16 (platform notes 3.2): one ulp at most.
    limit = 1 if (out_dtype == torch.bfloat16 and _env.interpret_mode()) else 0
    assert _bits_off(got, ref) <= limit


@pytest.mark.interpret
@pytest.mark.parametrize(
    "shape",
    [(2, 4, 15, 30, 53)]
    + ODD_SHAPES
    # Kernel paths: rows shorter than a chunk (gather), exactly one chunk, chunks straddling two rows.
    + [(1, 1, 1, 32, 64), (1, 2, 3, 41, 50), (2, 3, 2, 25, 41), (2, 2, 2, 32, 32), (1, 1, 2, 31, 33)],
)
@pytest.mark.parametrize("qdtype", QUANT)
def test_triton_odd_shapes_into_poisoned_out(shape, qdtype):
    qx = quantize_latent(_latent(shape, seed=16), dtype=qdtype)
    # Poisoned buffer one element longer than needed: the kernel must fill exactly the view, nothing past it.
    backing = torch.full((qx.numel() + 1,), float("nan"), dtype=torch.float32)
    out = backing[: qx.numel()].view(shape)
    dequantize_latent(qx, dtype=torch.float32, out=out, backend="triton")
    assert _bits_off(out, _oracle(qx).float()) == 0
    assert bool(torch.isnan(backing[-1]))


# ---------------------------------------------------------------------------------------------------------------------
# CUDA (tier 3)
# ---------------------------------------------------------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.parametrize("out_dtype", OUT_DTYPES)
@pytest.mark.parametrize("qdtype", QUANT)
def test_cuda_triton_matches_reference(qdtype, out_dtype):
    x = _latent((2, 4, 20, 30, 53), seed=17).cuda()
    qx = quantize_latent(x, dtype=qdtype)
    assert qx.device.type == "cuda"
    got = dequantize_latent(qx, dtype=out_dtype)  # automatic: triton on CUDA
    ref = dequantize_latent(qx, dtype=out_dtype, backend="torch")
    assert _bits_off(got.cpu(), ref.cpu()) == 0
    host = qx.cpu().pin_memory()
    assert host.is_pinned()
    back = host.to("cuda", non_blocking=True)
    torch.cuda.synchronize()
    assert torch.equal(back.scale, qx.scale) and torch.equal(back.data.view(torch.uint8), qx.data.view(torch.uint8))
    with pytest.raises(ValueError, match="HINT"):
        qx.pin_memory()
    same = QuantizedLatent.from_bytes(qx.to_bytes(), device="cuda")
    assert same.device.type == "cuda" and torch.equal(same.scale, qx.scale)
