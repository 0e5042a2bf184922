"""QuantizedLatent byte format (to_bytes / from_bytes) and quantize_kv round-trip bounds (tier 1).

Every corruption case must raise ValueError (TypeError for a non-bytes argument) and never return a latent.
The header offsets asserted here are the ones documented in docs/kernels/quantization.md.
"""

from __future__ import annotations

import struct
import zlib

import pytest
import torch

from chai_kernels import QuantizedKV, QuantizedLatent, quantize_kv, quantize_latent
from chai_kernels.quant import LATENT_FORMAT_VERSION, LATENT_HEADER_SIZE

STORAGE = [torch.int8, torch.float8_e4m3fn, torch.float32, torch.bfloat16, torch.float16]


def _latent(shape, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    x = x * (10.0 ** (torch.rand(shape[:3], generator=g, dtype=torch.float64) * 4 - 2))[..., None, None]
    return x.to(dtype)


def _raw(t: torch.Tensor) -> torch.Tensor:
    """Bit pattern of a tensor (fp8 has no torch.equal)."""
    return t.contiguous().view({1: torch.uint8, 2: torch.int16, 4: torch.int32}[t.element_size()])


def _same(a: QuantizedLatent, b: QuantizedLatent) -> bool:
    return (
        a.shape == b.shape
        and a.dtype == b.dtype
        and a.orig_dtype == b.orig_dtype
        and torch.equal(_raw(a.data), _raw(b.data))
        and torch.equal(a.scale, b.scale)
    )


def _reseal(buf: bytes) -> bytes:
    """Recompute the header CRC after a deliberate header edit (so later checks, not the CRC, must catch it)."""
    return buf[:52] + struct.pack("<I", zlib.crc32(buf[:52])) + buf[56:]


@pytest.fixture(scope="module")
def blob() -> bytes:
    return quantize_latent(_latent((1, 4, 3, 5, 7), seed=1)).to_bytes()


# ---------------------------------------------------------------------------------------------------------------------
# Round trip
# ---------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1, 4, 15, 30, 53), (2, 4, 15, 30, 53), (1, 3, 5, 7, 9), (3, 1, 1, 1, 1)])
@pytest.mark.parametrize("storage", STORAGE)
def test_round_trip_is_bit_exact(storage, shape):
    qx = quantize_latent(_latent(shape, seed=2), dtype=storage)
    b = qx.to_bytes()
    assert isinstance(b, bytes) and len(b) == qx.serialized_nbytes == LATENT_HEADER_SIZE + qx.nbytes
    back = QuantizedLatent.from_bytes(b)
    assert _same(back, qx)
    assert back.data.is_contiguous() and back.scale.is_contiguous()
    assert back.to_bytes() == b  # deterministic, canonical
    assert _same(QuantizedLatent.from_bytes(bytearray(b)), qx)
    assert _same(QuantizedLatent.from_bytes(memoryview(b)), qx)


@pytest.mark.parametrize("src", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
def test_orig_dtype_survives(src):
    qx = quantize_latent(_latent((1, 2, 2, 3, 3), seed=3, dtype=src), dtype=torch.float8_e4m3fn)
    assert QuantizedLatent.from_bytes(qx.to_bytes()).orig_dtype == src


def test_decoded_tensors_own_their_memory():
    b = bytearray(quantize_latent(_latent((1, 2, 2, 3, 3), seed=4)).to_bytes())
    back = QuantizedLatent.from_bytes(b)
    keep = back.data.clone()
    b[LATENT_HEADER_SIZE:] = bytes(len(b) - LATENT_HEADER_SIZE)  # scribble over the source buffer
    assert torch.equal(back.data, keep)
    back.data.add_(1)  # writable, no warning about non-writable buffers


def test_header_layout_matches_the_documented_offsets():
    x = _latent((2, 4, 3, 5, 7), seed=5, dtype=torch.bfloat16)
    qx = quantize_latent(x, dtype=torch.float8_e4m3fn)
    b = qx.to_bytes()
    assert b[0:4] == b"CHQL"
    assert struct.unpack_from("<H", b, 4)[0] == LATENT_FORMAT_VERSION == 1
    assert b[6] == 2 and b[7] == 4  # storage float8_e4m3fn, original bfloat16
    assert b[8] == 5 and b[9] == 1  # ndim, scale layout per (b, c, t)
    assert struct.unpack_from("<H", b, 10)[0] == 0
    assert struct.unpack_from("<5I", b, 12) == (2, 4, 3, 5, 7)
    data_n, scale_n = struct.unpack_from("<QQ", b, 32)
    assert data_n == 2 * 4 * 3 * 5 * 7 and scale_n == 2 * 4 * 3 * 4
    payload = b[56:]
    assert struct.unpack_from("<I", b, 48)[0] == zlib.crc32(payload)
    assert struct.unpack_from("<I", b, 52)[0] == zlib.crc32(b[:52])
    assert payload[:data_n] == qx.data.view(torch.uint8).numpy().tobytes()
    assert payload[data_n:] == qx.scale.numpy().astype("<f4").tobytes()


# ---------------------------------------------------------------------------------------------------------------------
# Corruption: every case is a ValueError
# ---------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("pos", range(LATENT_HEADER_SIZE))
def test_every_flipped_header_byte_is_refused(blob, pos):
    bad = bytearray(blob)
    bad[pos] ^= 0x01
    with pytest.raises(ValueError):
        QuantizedLatent.from_bytes(bytes(bad))
    bad[pos] ^= 0xFF  # a different pattern at the same place
    with pytest.raises(ValueError):
        QuantizedLatent.from_bytes(bytes(bad))


def test_every_flipped_payload_byte_is_refused(blob):
    for pos in range(LATENT_HEADER_SIZE, len(blob)):
        bad = bytearray(blob)
        bad[pos] ^= 0x80
        with pytest.raises(ValueError, match="payload CRC32"):
            QuantizedLatent.from_bytes(bytes(bad))


def test_truncated_and_padded_buffers_are_refused(blob):
    for n in (0, 1, 4, 55):
        with pytest.raises(ValueError, match="shorter than the 56-byte header"):
            QuantizedLatent.from_bytes(blob[:n])
    for n in (56, 57, len(blob) // 2, len(blob) - 1):
        with pytest.raises(ValueError, match="truncated"):
            QuantizedLatent.from_bytes(blob[:n])
    with pytest.raises(ValueError, match="trailing bytes"):
        QuantizedLatent.from_bytes(blob + b"\x00")


def test_wrong_magic_and_foreign_bytes(blob):
    with pytest.raises(ValueError, match="wrong magic"):
        QuantizedLatent.from_bytes(b"PK\x03\x04" + blob[4:])
    with pytest.raises(ValueError, match="wrong magic"):
        QuantizedLatent.from_bytes(_reseal(b"CHQX" + blob[4:]))
    with pytest.raises(ValueError, match="not a serialised QuantizedLatent"):
        QuantizedLatent.from_bytes(torch.randn(100).numpy().tobytes())
    with pytest.raises(ValueError):
        QuantizedLatent.from_bytes(b"\x00" * len(blob))


@pytest.mark.parametrize("version", [0, 2, 255, 65535])
def test_wrong_version_is_refused_even_with_a_valid_header_crc(blob, version):
    bad = _reseal(blob[:4] + struct.pack("<H", version) + blob[6:])
    with pytest.raises(ValueError, match=f"format version {version} is not supported"):
        QuantizedLatent.from_bytes(bad)


@pytest.mark.parametrize(
    "offset, fmt, value, needle",
    [
        (6, "<B", 9, "unknown storage dtype code 9"),
        (6, "<B", 6, "unknown storage dtype code 6"),  # float64 is an original dtype, never a storage dtype
        (7, "<B", 1, "unknown original dtype code 1"),
        (8, "<B", 4, "ndim 4"),
        (9, "<B", 2, "unknown scale layout code 2"),
        (10, "<H", 7, "reserved field 7"),
        (12, "<I", 0, "empty shape"),
        (20, "<I", 4, "data size"),
        (32, "<Q", 1, "data size 1"),
        (40, "<Q", 8, "scale size 8"),
    ],
)
def test_forged_but_crc_valid_headers_are_refused(blob, offset, fmt, value, needle):
    bad = bytearray(blob)
    struct.pack_into(fmt, bad, offset, value)
    with pytest.raises(ValueError, match="inconsistent header") as info:
        QuantizedLatent.from_bytes(_reseal(bytes(bad)))
    assert needle in str(info.value)


def test_invalid_scales_with_valid_crcs_are_refused():
    qx = quantize_latent(_latent((1, 2, 2, 3, 3), seed=6))
    for bad_scale in (0.0, -1.0, float("nan"), float("inf")):
        scale = qx.scale.clone()
        scale[0, 1, 1] = bad_scale
        data_b = qx.data.numpy().tobytes()
        scale_b = scale.numpy().astype("<f4").tobytes()
        head = bytearray(qx.to_bytes()[:56])
        struct.pack_into("<I", head, 48, zlib.crc32(data_b + scale_b))
        buf = _reseal(bytes(head) + data_b + scale_b)
        with pytest.raises(ValueError, match="scales must be finite and > 0"):
            QuantizedLatent.from_bytes(buf)


@pytest.mark.parametrize("bad", ["CHQL", None, 3, [1, 2, 3], torch.zeros(60, dtype=torch.uint8)])
def test_non_bytes_is_a_type_error(bad):
    with pytest.raises(TypeError, match="expects bytes"):
        QuantizedLatent.from_bytes(bad)


# ---------------------------------------------------------------------------------------------------------------------
# quantize_kv round-trip bounds (the lead's container; tested here, not changed)
# ---------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(2, 77, 16, 72), (1, 5, 3, 16), (3, 1, 2, 64)])
def test_quantize_kv_int8_half_step(shape):
    g = torch.Generator().manual_seed(7)
    x = torch.randn(shape, generator=g) * (10.0 ** (torch.rand(shape[:3], generator=g) * 4 - 2))[..., None]
    q = quantize_kv(x)
    assert isinstance(q, QuantizedKV) and q.dtype == torch.int8 and q.scale.shape == shape[:3]
    err = (x.double() - q.data.double() * q.scale.double()[..., None]).abs()
    # quantize_kv divides in float32: allow the float32 rounding of x / scale (|x / scale| <= 127, ulp 2^-17).
    assert bool((err <= q.scale.double()[..., None] * (0.5 + 2.0**-16)).all())
    assert torch.allclose(q.scale.double(), x.double().abs().amax(-1) / 127, rtol=1e-6)


@pytest.mark.parametrize("shape", [(2, 77, 16, 72), (1, 5, 3, 16)])
def test_quantize_kv_fp8_relative(shape):
    g = torch.Generator().manual_seed(8)
    x = torch.randn(shape, generator=g) * 3
    q = quantize_kv(x, dtype=torch.float8_e4m3fn)
    scale = q.scale.double()[..., None]
    err = (x.double() - q.data.double() * scale).abs()
    normal = (x.double() / scale).abs() >= 2.0**-6
    assert float((err[normal] / x.double().abs()[normal]).max()) <= 2.0**-4 * (1 + 1e-5)
    assert bool((err[~normal] <= scale.expand_as(err)[~normal] * 2.0**-10 * (1 + 1e-5)).all())
