"""What a fault and attack run on the embedded store found, fixed and pinned down.

Forged records carry a *valid* CRC (anyone who can write the directory or the Redis server can make one), so
every field must be validated; a bad record is dropped, never fatal, and never served.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import stat
import struct
import threading
import time
import zlib

import numpy as np
import pytest
import torch

from chai.cache import BuiltinExtractor, HashingEmbedder, LatentCache
from chai.cache.record import RECORD_MAGIC, RECORD_VERSION, decode_record
from chai_kernels import quantize_latent

SHAPE = (1, 4, 3, 6, 7)


def lats(seed, shape=SHAPE):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g) + 0.1 for _ in range(3)]


def make(directory, budget=10_000_000, **kw):
    return LatentCache(budget, directory, extractor=BuiltinExtractor(), embedder=HashingEmbedder(64), **kw)


def forge(meta: dict, body: bytes) -> bytes:
    """A record with arbitrary metadata and body and valid CRCs."""
    meta_b = json.dumps(meta).encode() if not isinstance(meta, bytes) else meta
    head = struct.pack("<4sHHIQ", RECORD_MAGIC, RECORD_VERSION, 0, len(meta_b), len(body))
    head += struct.pack("<I", zlib.crc32(head))
    return head + meta_b + body + struct.pack("<I", zlib.crc32(body, zlib.crc32(meta_b)))


def base_meta(entry_id="a" * 32, keys=("tiger",), dim=64, lat_n=(), masks=(), shape=SHAPE):
    return {"entry_id": entry_id, "namespace": "default", "prompt": "a tiger", "keys": list(keys), "dim": dim,
            "embedder": "hashing-64-s0", "matching": "entity", "latent_shape": list(shape),
            "latent_nbytes": list(lat_n), "masks": list(masks), "created_ns": 1}


def unit(n, dim=64, scale=1.0):
    v = np.random.default_rng(0).standard_normal((n, dim)).astype("<f4")
    return (v / np.linalg.norm(v, axis=1, keepdims=True) * scale).astype("<f4").tobytes()


@pytest.mark.parametrize("case", ["masks_not_objects", "deep_json", "json_list", "huge_mask", "mask_wrong_frames",
                                  "norm_10_vector", "nan_vector", "keys_not_strings", "bad_id", "shape_4d"])
def test_forged_records_with_valid_crc_are_refused(case):
    blob = quantize_latent(torch.randn(SHAPE)).to_bytes()
    meta, body = base_meta(lat_n=[len(blob)]), unit(1) + blob
    if case == "masks_not_objects":
        meta["masks"] = [1]
    elif case == "deep_json":
        meta = b"[" * 100_000 + b"]" * 100_000
    elif case == "json_list":
        meta = b"[]"
    elif case == "huge_mask":  # would ask for a 1 TiB mask
        meta["masks"] = [{"key": "tiger", "shape": [3, 1 << 40], "nbytes": 1}]
        body += b"\0"
    elif case == "mask_wrong_frames":
        meta["masks"] = [{"key": "tiger", "shape": [5, 8], "nbytes": 5}]
        body += b"\0" * 5
    elif case == "norm_10_vector":
        body = unit(1, scale=10.0) + blob
    elif case == "nan_vector":
        body = np.full(64, np.nan, dtype="<f4").tobytes() + blob
    elif case == "keys_not_strings":
        meta["keys"] = [{"a": 1}]
    elif case == "bad_id":
        meta["entry_id"] = "../../../etc/passwd"
    elif case == "shape_4d":
        meta["latent_shape"] = [4, 3, 6, 7]
    with pytest.raises(ValueError, match="HINT"):
        decode_record(forge(meta, body))


def test_forged_files_never_crash_the_open_nor_win_lookups(tmp_path):
    with make(tmp_path) as c:
        good = c.insert("a zebra on a hill", lats(1))
    entries = tmp_path / "default" / "entries"
    blob = quantize_latent(torch.randn(SHAPE)).to_bytes()
    # a planted vector of norm 10 under an unrelated key would win every lookup if it were accepted
    (entries / ("b" * 32 + ".chce")).write_bytes(forge(base_meta("b" * 32, lat_n=[len(blob)]),
                                                       unit(1, scale=10.0) + blob))
    (entries / ("c" * 32 + ".chce")).write_bytes(forge({**base_meta("c" * 32), "masks": [1]}, unit(1)))
    (entries / ("d" * 32 + ".chce")).write_bytes(forge(b"[" * 50_000 + b"]" * 50_000, b""))
    # a latent blob that does not match the declared shape (valid CRCs everywhere)
    small = quantize_latent(torch.randn(1, 4, 3, 2, 2)).to_bytes()
    falcon = np.asarray(HashingEmbedder(64).embed(["falcon"]), dtype="<f4")
    falcon = (falcon / np.linalg.norm(falcon, axis=1, keepdims=True)).astype("<f4").tobytes()
    (entries / ("e" * 32 + ".chce")).write_bytes(forge(base_meta("e" * 32, keys=("falcon",), lat_n=[len(small)]),
                                                       falcon + small))
    with pytest.warns(RuntimeWarning, match="dropping"):
        c = make(tmp_path)
    with c:
        assert sorted(c.entry_ids()) == sorted([good, "e" * 32])  # e's head is valid; its payload is not
        for p in ("a teapot", "a violin", "a tiger", "the ocean"):
            assert c.lookup(p, shape=SHAPE).match is None
        with pytest.warns(RuntimeWarning, match="dropping damaged entry"):
            assert c.lookup("a falcon", shape=SHAPE).match is None
        assert c.entry_ids() == [good] and c.lookup("a zebra", shape=SHAPE).match.entry_id == good


def test_open_never_reads_a_file_larger_than_the_budget(tmp_path):
    with make(tmp_path, budget=1_000_000) as c:
        c.insert("a tiger", lats(1))
    huge = tmp_path / "default" / "entries" / ("f" * 32 + ".chce")
    with open(huge, "wb") as f:  # sparse 2 GiB: costs nothing on disk; reading it would cost 2 GB of RAM
        f.truncate(2 << 30)
    with pytest.warns(RuntimeWarning, match="exceed the budget"):
        c = make(tmp_path, budget=1_000_000)
    with c:
        assert len(c) == 1 and not huge.exists()


@pytest.mark.parametrize("bad", ["tenant\n", "a/b", "..", "", "x" * 65, "-lead"])
def test_namespace_names_are_fully_matched(tmp_path, bad):
    with pytest.raises(ValueError, match="HINT"):
        make(tmp_path, namespace=bad)


@pytest.mark.parametrize("content", ["[]", "not json", '{"namespace": 3'])
def test_unreadable_namespace_json_is_rewritten(tmp_path, content):
    make(tmp_path).close()
    (tmp_path / "default" / "namespace.json").write_text(content)
    with pytest.warns(RuntimeWarning, match="rewriting"):
        make(tmp_path).close()
    assert isinstance(json.loads((tmp_path / "default" / "namespace.json").read_text()), dict)


def test_files_and_folders_are_owner_only_by_default(tmp_path):
    with make(tmp_path) as c:
        eid = c.insert("a tiger", lats(1))
    ns = tmp_path / "default"
    for d in (ns, ns / "entries", ns / "tmp"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    for f in (ns / "entries" / f"{eid}.chce", ns / "namespace.json", ns / ".lock"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    shared = tmp_path / "shared"
    with make(shared, file_mode=0o640) as c:
        eid = c.insert("a tiger", lats(1))
    assert stat.S_IMODE((shared / "default" / "entries" / f"{eid}.chce").stat().st_mode) == 0o640
    assert stat.S_IMODE((shared / "default").stat().st_mode) == 0o750


def test_hit_counters_are_bounded(tmp_path):
    from chai.cache.latent_cache import MAX_HIT_COUNTERS

    c = make(None)
    words = [f"thing{i}" for i in range(3 * MAX_HIT_COUNTERS)]
    for w in words:
        c.insert(f"a {w}", lats(1)[:1])
        c.lookup(f"a {w}", shape=SHAPE)
    c.lookup("a thing0", shape=SHAPE)
    st = c.stats()
    assert len(st["hit_entities"]) <= MAX_HIT_COUNTERS and len(st["hit_pairs"]) <= MAX_HIT_COUNTERS
    assert len(c._hit_entities) <= 2 * MAX_HIT_COUNTERS and st["hits"] == len(words) + 1


def _fork_child_insert(cache, q):
    try:
        cache.insert("a child entry", lats(5))
        q.put("inserted")
    except RuntimeError as exc:
        q.put(str(exc))


def test_a_cache_inherited_through_fork_refuses_to_write(tmp_path):
    c = make(tmp_path)
    c.insert("a tiger", lats(1))
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_fork_child_insert, args=(c, q))
    p.start()
    msg = q.get(timeout=60)
    p.join(timeout=60)
    assert "inherited through fork()" in msg and "HINT" in msg
    assert len(c) == 1 and c.lookup("a tiger", shape=SHAPE).match is not None  # the parent is untouched
    c.close()


def test_racing_opens_and_clears_never_give_two_owners(tmp_path):
    """clear must not delete the lock file: an open waiting on it would lock a file nobody else sees."""
    owners, errors, stop = [], [], threading.Event()
    active = threading.Lock()
    count = [0]

    def opener():
        while not stop.is_set():
            try:
                c = make(tmp_path)
            except RuntimeError:
                continue
            with active:
                count[0] += 1
                owners.append(count[0])
            time.sleep(0.002)  # own it for a moment
            with active:
                count[0] -= 1
            c.close()

    def clearer():
        while not stop.is_set():
            try:
                LatentCache.clear_location(tmp_path, "default")
            except RuntimeError:
                pass
            except Exception as exc:  # anything else is a bug
                errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(2)] + [threading.Thread(target=clearer)]
    for t in threads:
        t.start()
    time.sleep(3.0)
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    assert owners and max(owners) == 1  # never two open owners at once
    assert (tmp_path / "default" / ".lock").exists()


# -- every read of the directory store is bounded ---------------------------------------------------------------
def test_a_2gib_namespace_json_is_never_read(tmp_path):
    import tracemalloc

    make(tmp_path).close()
    meta = tmp_path / "default" / "namespace.json"
    with open(meta, "r+b") as f:  # sparse: costs nothing on disk; reading it would cost 2 GiB (4 as text)
        f.truncate(2 << 30)
    tracemalloc.start()
    try:
        with pytest.warns(RuntimeWarning, match="(?s)namespace.json is unreadable.*limit"):
            c = make(tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    with c:
        assert peak < 64 << 20, f"opening allocated {peak >> 20} MiB"
        eid = c.insert("a tiger", lats(1))
        assert c.lookup("a tiger", shape=SHAPE).match.entry_id == eid
    assert meta.stat().st_size < 4096  # rewritten


def test_namespace_json_that_is_a_directory_is_a_clear_error(tmp_path):
    make(tmp_path).close()
    meta = tmp_path / "default" / "namespace.json"
    meta.unlink()
    meta.mkdir()
    with pytest.raises(ValueError, match="(?s)namespace.json is a directory.*HINT"):
        make(tmp_path)
    assert meta.is_dir()  # not ours to delete
    meta.rmdir()
    make(tmp_path).close()  # and the lock was released


def _open_in_thread(tmp_path, **kw):
    """Open the cache in a thread; returns (thread, result list) after waiting up to 20 s."""
    out = []

    def run():
        try:
            out.append(make(tmp_path, **kw))
        except BaseException as exc:  # pragma: no cover - reported by the assertion
            out.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(20)
    return t, out


@pytest.mark.parametrize("kind", ["fifo", "dev_zero_symlink", "directory"])
def test_entry_that_is_not_a_regular_file_is_refused_without_reading(tmp_path, kind):
    import os

    with make(tmp_path) as c:
        good = c.insert("a zebra", lats(1))
    bad = tmp_path / "default" / "entries" / ("b" * 32 + ".chce")
    if kind == "fifo":
        os.mkfifo(bad)  # reading it would block until a writer comes: forever
    elif kind == "dev_zero_symlink":
        bad.symlink_to("/dev/zero")  # reading it would never end
    else:
        bad.mkdir()
    with pytest.warns(RuntimeWarning, match="dropping cache entry file"):
        t, out = _open_in_thread(tmp_path)
    try:
        assert not t.is_alive(), f"opening hangs on a {kind} entry"
        c = out[0]
        assert isinstance(c, LatentCache), c
        with c:
            assert c.entry_ids() == [good] and c.lookup("a zebra", shape=SHAPE).match.entry_id == good
    finally:
        if t.is_alive() and kind == "fifo":  # release the blocked reader of the old code
            os.close(os.open(bad, os.O_WRONLY | os.O_NONBLOCK))


def test_entry_replaced_by_a_symlink_after_open_is_dropped_not_read(tmp_path):
    with make(tmp_path) as c:
        eid = c.insert("a tiger", lats(1))
        path = tmp_path / "default" / "entries" / f"{eid}.chce"
        path.unlink()
        path.symlink_to("/dev/zero")
        with pytest.warns(RuntimeWarning, match="symbolic link"):
            assert c.lookup("a tiger", shape=SHAPE).match is None
        assert c.entry_ids() == []
