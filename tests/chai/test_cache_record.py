"""Entry record format: round trip and every corruption case; atomic writes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from chai.cache.record import EntryRecord, atomic_write, decode_record, encode_record, new_entry_id
from chai_kernels import quantize_latent


def record(n_keys=2, masks=True) -> EntryRecord:
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((n_keys, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    lat = [quantize_latent(torch.randn(1, 4, 3, 5, 7)).to_bytes() for _ in range(3)]
    keys = [f"kéy {i}" for i in range(n_keys)]
    m = {keys[0]: rng.random((3, 35)) > 0.5} if masks else {}
    return EntryRecord(entry_id=new_entry_id(), namespace="ns", prompt="a prompt, ünïcode ok", keys=keys, vectors=vecs,
                       latent_shape=(1, 4, 3, 5, 7), latent_blobs=lat, masks=m, embedder="hashing", created_ns=123)


def test_roundtrip():
    rec = record()
    buf = encode_record(rec)
    out = decode_record(buf)
    assert (out.entry_id, out.namespace, out.prompt, out.keys, out.latent_shape) == (
        rec.entry_id, rec.namespace, rec.prompt, rec.keys, rec.latent_shape)
    np.testing.assert_array_equal(out.vectors, rec.vectors)
    assert out.latent_blobs == rec.latent_blobs
    assert set(out.masks) == set(rec.masks) and all(np.array_equal(out.masks[k], rec.masks[k]) for k in rec.masks)
    light = decode_record(buf, with_payload=False)
    assert light.latent_blobs == [] and light.keys == rec.keys


def test_every_flipped_region_is_detected():
    buf = encode_record(record())
    rng = np.random.default_rng(3)
    positions = [0, 5, 9, 15, 21, 30, len(buf) // 3, len(buf) // 2, len(buf) - 5, len(buf) - 1]
    positions += rng.integers(0, len(buf), 40).tolist()
    for pos in positions:
        bad = bytearray(buf)
        bad[pos] ^= 1 << int(rng.integers(0, 8))
        with pytest.raises(ValueError, match="cache entry record"):
            decode_record(bytes(bad))


@pytest.mark.parametrize("cut", [0, 3, 23, 100, -1])
def test_truncated_and_trailing(cut):
    buf = encode_record(record())
    with pytest.raises(ValueError, match="cache entry record"):
        decode_record(buf[:cut])
    with pytest.raises(ValueError, match="trailing|announces"):
        decode_record(buf + b"\0")


def test_wrong_magic_and_version():
    buf = bytearray(encode_record(record(masks=False)))
    with pytest.raises(ValueError, match="magic"):
        decode_record(b"XXXX" + bytes(buf[4:]))
    buf[4] = 9
    with pytest.raises(ValueError, match="version"):
        decode_record(bytes(buf))


def test_atomic_write(tmp_path):
    final = tmp_path / "x.bin"
    atomic_write(final, b"one")
    atomic_write(final, b"two" * 1000)
    assert final.read_bytes() == b"two" * 1000
    assert [p.name for p in tmp_path.iterdir()] == ["x.bin"]
