"""LatentCache persistence: restart, atomic writes, corruption recovery, SIGKILL mid-insert, directory tools."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest
import torch

from chai.cache import BuiltinExtractor, HashingEmbedder, LatentCache
from chai_kernels import dequantize_latent

SHAPE = (1, 4, 3, 6, 7)
REPO = Path(__file__).resolve().parents[2]


def lats(seed: int, shape=SHAPE, n: int = 3) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g) + 0.1 for _ in range(n)]


def make(directory, budget: int = 10_000_000, **kw) -> LatentCache:
    kw.setdefault("extractor", BuiltinExtractor())
    kw.setdefault("embedder", HashingEmbedder(64))
    return LatentCache(budget, directory=directory, **kw)


def check(c: LatentCache) -> None:
    assert c.stats()["bytes_used"] <= c.budget_bytes
    c.check_consistency()


def entry_files(d: Path, ns: str = "default") -> list[Path]:
    return sorted((d / ns / "entries").glob("*.chce"))


def test_survives_restart_with_lru_order(tmp_path):
    words = ["tiger", "zebra", "camel", "horse"]
    with make(tmp_path) as c:
        ids = [c.insert(f"a {w} on a hill", lats(i), entity_masks={w: torch.rand(3, 9) > 0.5}) for i, w in
               enumerate(words)]
        c.lookup("a zebra", shape=SHAPE).match  # zebra becomes MRU
        order, used = c.entry_ids(), c.stats()["bytes_used"]
        check(c)
        assert not any((tmp_path / "default" / "tmp").iterdir())  # atomic writes leave no temporaries
    assert order == [ids[0], ids[2], ids[3], ids[1]]
    with make(tmp_path) as c2:
        check(c2)
        assert c2.entry_ids() == order and c2.stats()["bytes_used"] == used and c2.stats()["dropped"] == 0
        m = c2.lookup("the camel", shape=SHAPE).match
        assert m.entry_id == ids[2] and m.prompt == "a camel on a hill" and m.token_mask.shape == (3, 9)
        ref = lats(2)
        assert float((dequantize_latent(m.latents[1], dtype=torch.float32) - ref[1]).abs().max()) < 0.05


def test_corrupt_and_partial_files_are_dropped_and_counted(tmp_path):
    with make(tmp_path) as c:
        ids = [c.insert(f"a {w}", lats(i)) for i, w in enumerate(["tiger", "zebra", "camel", "horse", "otter"])]
    files = {p.stem: p for p in entry_files(tmp_path)}
    # flipped byte in the latent payload, truncated file, empty file, garbage with the right suffix
    b = bytearray(files[ids[0]].read_bytes())
    b[len(b) // 2] ^= 0x40
    files[ids[0]].write_bytes(bytes(b))
    files[ids[1]].write_bytes(files[ids[1]].read_bytes()[:-100])
    files[ids[2]].write_bytes(b"")
    (tmp_path / "default" / "entries" / ("f" * 32 + ".chce")).write_bytes(b"not a cache entry at all" * 10)
    (tmp_path / "default" / "tmp" / f"{ids[3]}.123.abcd.tmp").write_bytes(b"half written")
    with pytest.warns(RuntimeWarning, match="dropping cache entry file"), \
            pytest.warns(RuntimeWarning, match="partial write"):
        c2 = make(tmp_path)
    with c2:
        check(c2)
        s = c2.stats()
        assert s["dropped"] == 4 and s["partial_removed"] == 1 and s["entries"] == 2
        assert sorted(c2.entry_ids()) == sorted(ids[3:])
        assert c2.lookup("tiger", shape=SHAPE).match is None and c2.lookup("otter", shape=SHAPE).match.entry_id == ids[4]
        assert len(entry_files(tmp_path)) == 2  # dropped files are removed, never loaded later
    with make(tmp_path) as c3:
        assert c3.stats()["dropped"] == 0 and len(c3) == 2


def test_file_damaged_after_open_is_dropped_on_lookup(tmp_path):
    with make(tmp_path) as c:
        a = c.insert("a tiger", lats(1))
        b = c.insert("a tiger and a kite", lats(2))
        p = c.store.entry_path(b)
        data = bytearray(p.read_bytes())
        data[-10] ^= 1
        p.write_bytes(bytes(data))
        with pytest.warns(RuntimeWarning, match="damaged"):
            m = c.lookup("tiger", shape=SHAPE).match
        assert m.entry_id == a  # falls back to the next valid entry
        assert c.stats()["dropped"] == 1 and b not in c
        check(c)


def test_smaller_budget_on_reopen_evicts_lru(tmp_path):
    with make(tmp_path) as c:
        ids = [c.insert(f"a {w}", lats(i)) for i, w in enumerate(["tiger", "zebra", "camel"])]
        per = c.entry_nbytes(ids[0])
        c.lookup("a tiger", shape=SHAPE).match
    with make(tmp_path, budget=2 * per + 50) as c2:
        check(c2)
        assert c2.entry_ids() == [ids[2], ids[0]] and c2.stats()["evictions"] == 1
    assert len(entry_files(tmp_path)) == 2


def test_embedder_mismatch_and_double_open(tmp_path):
    c = make(tmp_path)
    c.insert("a tiger", lats(1))
    with pytest.raises(RuntimeError, match="in use"):
        make(tmp_path)
    c.close()
    with pytest.raises(ValueError, match="embedder"):
        make(tmp_path, embedder=HashingEmbedder(32))
    with pytest.raises(ValueError, match="matching"):
        make(tmp_path, matching="prompt")
    with make(tmp_path) as c2:  # the failed opens released the lock and changed nothing
        assert len(c2) == 1


def test_open_stats_and_clear_directory(tmp_path):
    with make(tmp_path) as a, make(tmp_path, namespace="other") as b:
        a.insert("a tiger", lats(1))
        a.insert("a zebra", lats(2))
        b.insert("a camel", lats(3))
        used_a, used_b = a.stats()["bytes_used"], b.stats()["bytes_used"]
        with pytest.raises(RuntimeError, match="in use"):
            LatentCache.clear_directory(tmp_path, "default")
    (tmp_path / "keep.txt").write_text("user file")
    st = LatentCache.open_stats(tmp_path)
    assert set(st["namespaces"]) == {"default", "other"} and st["entries"] == 3
    assert st["namespaces"]["default"]["bytes_used"] == used_a and st["namespaces"]["other"]["bytes_used"] == used_b
    assert st["namespaces"]["default"]["embedder"] == "hashing-64-s0"
    one = LatentCache.open_stats(tmp_path, "other")
    assert one["entries"] == 1 and one["corrupt"] == 0
    assert LatentCache.clear_directory(tmp_path, "default") == 2
    assert LatentCache.list_namespaces(tmp_path) == ["other"]
    assert LatentCache.clear_directory(tmp_path) == 1
    assert LatentCache.list_namespaces(tmp_path) == [] and (tmp_path / "keep.txt").exists()


_CHILD = textwrap.dedent(
    """
    import sys, torch
    from chai.cache import BuiltinExtractor, HashingEmbedder, LatentCache
    c = LatentCache(1 << 40, directory=sys.argv[1], extractor=BuiltinExtractor(), embedder=HashingEmbedder(64),
                    quant_dtype=torch.float32)
    print("ready", flush=True)
    x = [torch.randn(1, 4, 16, 64, 64) for _ in range(3)]  # ~0.8 MB per latent: writes take a while
    i = 0
    while True:
        eid = c.insert(f"a tiger number {i} and a lamp", x)
        print(eid, flush=True)
        i += 1
    """
)


@pytest.mark.slow
def test_sigkill_mid_insert_leaves_a_clean_cache(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    completed: list[str] = []
    for round_ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                                env=env)
        try:
            assert proc.stdout.readline().strip() == "ready"
            for _ in range(2 + round_):
                completed.append(proc.stdout.readline().strip())
            time.sleep(0.01 * (round_ + 1))  # land somewhere inside the next insert
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        completed.extend(line.strip() for line in proc.stdout if line.strip())  # inserts that returned
        with warnings.catch_warnings(record=True) as seen:  # a kill inside the write leaves a partial file
            warnings.simplefilter("always")
            c = make(tmp_path, budget=1 << 40, quant_dtype=torch.float32)
        assert all("partial write" in str(w.message) for w in seen)
        with c:
            check(c)
            assert c.stats()["dropped"] == 0
            assert set(completed) <= set(c.entry_ids())
            assert c.lookup("a tiger number 0 and a lamp", shape=(1, 4, 16, 64, 64)).match is not None
    assert len(completed) >= 9


def test_open_reads_each_entry_file_once(tmp_path, monkeypatch):
    with make(tmp_path) as c:
        ids = [c.insert(f"a {w}", lats(i)) for i, w in enumerate(["tiger", "zebra", "camel"])]
    import chai.cache.dir_store as dir_store

    reads: list[str] = []
    real = dir_store.read_regular  # every file read of the directory store goes through it

    def counting(path, limit):
        reads.append(path.name)
        return real(path, limit)

    monkeypatch.setattr(dir_store, "read_regular", counting)
    with make(tmp_path) as c2:  # recovery verifies every file; the index is built from that same read
        assert sorted(reads) == sorted([*(f"{i}.chce" for i in ids), "namespace.json"])
        assert c2.lookup("a zebra", shape=SHAPE).match.entry_id == ids[1]
