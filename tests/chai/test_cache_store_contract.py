"""One contract, every store: RAM, directory and a real redis-server pass the same suite.

The store level (put / get / touch / remove / clear / LRU / budget / change log) and the cache level
(hits, budget, eviction order, bad input, corruption, forged records) run against each backend.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from chai.cache import BuiltinExtractor, HashingEmbedder, LatentCache
from chai.cache.record import EntryRecord, encode_record, head_of, new_entry_id
from chai.cache.store import open_store, parse_location
from tests.redis_server import RedisServer, require_redis_server

BACKENDS = ["memory", "dir", "redis"]
SHAPE = (1, 4, 3, 6, 7)


@pytest.fixture(scope="module")
def redis_server():
    require_redis_server()
    with RedisServer() as srv:
        yield srv


@pytest.fixture(params=BACKENDS)
def location(request, tmp_path):
    return _fresh(request, tmp_path)


@pytest.fixture(params=["dir", "redis"])
def shared_location(request, tmp_path):
    """Backends whose entries outlive the process (and can be damaged from outside it)."""
    return _fresh(request, tmp_path)


def _fresh(request, tmp_path):
    """A fresh, empty location of each backend (Redis: a fresh namespace-free database, flushed)."""
    if request.param == "memory":
        return None
    if request.param == "dir":
        return tmp_path / "cache"
    srv = request.getfixturevalue("redis_server")
    srv.client().flushall()
    return srv.url


def head_check(rec):
    return None if rec.namespace == "default" else f"belongs to {rec.namespace!r}"


def make_record(keys=("tiger",), dim=8, seed=0, namespace="default", nbytes_latent=100):
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((len(keys), dim)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    rec = EntryRecord(entry_id=new_entry_id(), namespace=namespace, prompt=" ".join(keys), keys=list(keys), vectors=v,
                      latent_shape=SHAPE, latent_blobs=[rng.bytes(nbytes_latent)], embedder="e", created_ns=1)
    return rec, encode_record(rec), head_of(rec)


def open_(location, budget=10_000):
    return open_store(location, namespace="default", budget_bytes=budget, check_head=head_check, vector_nbytes=0,
                      config={"embedder": "e"}, config_keys=("embedder",))


# -- store level ---------------------------------------------------------------------------------------------------
def test_store_put_get_lru_budget_and_changes(location):
    s = open_(location, budget=1000)
    assert s.changes() is None  # a new store asks for a snapshot first
    assert s.snapshot() == [] and s.changes() == []
    recs = [make_record((f"k{i}",), seed=i) for i in range(6)]
    sizes = [len(buf) for _, buf, _ in recs]
    assert all(300 < n < 400 for n in sizes)
    assert s.put(recs[0][0].entry_id, recs[0][1], recs[0][2], sizes[0]) == []
    assert s.put(recs[1][0].entry_id, recs[1][1], recs[1][2], sizes[1]) == []
    s.touch(recs[0][0].entry_id)  # 1 is now the least recently used
    evicted = s.put(recs[2][0].entry_id, recs[2][1], recs[2][2], sizes[2])
    assert evicted == [recs[1][0].entry_id]
    assert s.lru_ids() == [recs[0][0].entry_id, recs[2][0].entry_id]
    assert s.bytes_used() == sizes[0] + sizes[2] <= 1000 and len(s) == 2
    assert s.get(recs[0][0].entry_id) == recs[0][1] and s.get(recs[1][0].entry_id) is None
    assert s.entry_nbytes(recs[2][0].entry_id) == sizes[2] and s.entry_nbytes(recs[1][0].entry_id) is None
    ch = s.changes()
    # every store reports the same changes in the same order: an insert already evicted again by its "del"
    # alone, an eviction before the insert that caused it
    assert [(c.op, c.entry_id) for c in ch] == [("add", recs[0][0].entry_id), ("del", recs[1][0].entry_id),
                                               ("add", recs[2][0].entry_id)]
    assert all(c.head is not None and c.head.keys for c in ch if c.op == "add")
    assert s.remove(recs[0][0].entry_id) and not s.remove(recs[0][0].entry_id)
    heads = s.snapshot()
    assert [h.entry_id for h in heads] == [recs[2][0].entry_id] and heads[0].keys == ("k2",)
    assert heads[0].nbytes == sizes[2] and np.allclose(np.linalg.norm(heads[0].vectors, axis=1), 1)
    assert s.clear() == 1 and len(s) == 0 and s.bytes_used() == 0
    s.close()


def test_store_refuses_oversize_and_bad_ids_losing_nothing(location):
    s = open_(location, budget=500)
    s.snapshot()
    rec, buf, head = make_record(("a",))
    s.put(rec.entry_id, buf, head, len(buf))
    big, bbuf, bhead = make_record(("b",), nbytes_latent=600)
    with pytest.raises(ValueError, match="whole budget"):
        s.put(big.entry_id, bbuf, bhead, len(bbuf))
    for bad in ("../../etc/passwd", "A" * 32, "x}:e:" + "0" * 27, ""):
        with pytest.raises(ValueError, match="32 lowercase hex"):
            s.put(bad, buf, head, len(buf))
        with pytest.raises(ValueError, match="32 lowercase hex"):
            s.get(bad)
    assert s.lru_ids() == [rec.entry_id] and s.get(rec.entry_id) == buf
    s.close()


def test_namespace_config_mismatch_is_refused(shared_location):
    location = shared_location
    open_(location).close()
    with pytest.raises(ValueError, match="HINT"):
        open_store(location, namespace="default", budget_bytes=10_000, check_head=head_check,
                   config={"embedder": "other"}, config_keys=("embedder",))
    open_(location).close()  # the original configuration still opens


# -- cache level -----------------------------------------------------------------------------------------------------
def lats(seed, n=3, shape=SHAPE):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g) + 0.1 for _ in range(n)]


def cache(location, budget=200_000, **kw):
    return LatentCache(budget, location, extractor=BuiltinExtractor(), embedder=HashingEmbedder(64), **kw)


def test_cache_hit_miss_model_and_reuse_of_lookup(location):
    with cache(location) as c:
        res = c.lookup("a tiger sitting in a cave", shape=SHAPE)
        assert not res.hit and res.reason == "no_match" and res.keys == ("tiger", "cave")
        mask = torch.rand(SHAPE[2], 42) > 0.5
        eid = c.insert("a tiger sitting in a cave", lats(1), entity_masks={"tiger": mask}, lookup=res)
        m = c.lookup("a tiger running through a jungle", shape=SHAPE).match
        assert m.entry_id == eid and m.cached_entity == "tiger" and torch.equal(m.token_mask, mask)
        assert c.lookup("a tiger", shape=SHAPE, model="wan").match is None  # another model never matches
        e2 = c.insert("a tiger", lats(2), model="wan")
        assert c.lookup("a tiger", shape=SHAPE, model="wan").match.entry_id == e2
        assert c.lookup("a teapot", shape=SHAPE).match is None
        with pytest.raises(ValueError, match="not 'a tiger'|is for prompt"):
            c.insert("a tiger", lats(3), lookup=res)
        st = c.stats()
        assert st["backend"] == ("memory" if location is None else parse_location(location).scheme)
        assert st["hits"] == 2 and st["inserts"] == 2 and st["store_errors"] == 0
        c.check_consistency()


def test_cache_budget_and_lru_eviction_order(location):
    with cache(location, budget=60_000) as c:
        per = c.entry_nbytes(c.insert("a seed", lats(0)))
        budget_entries = 60_000 // per
        ids = [c.insert(f"a thing{i} on a hill", lats(i)) for i in range(budget_entries + 3)]
        c.check_consistency()
        assert c.stats()["bytes_used"] <= 60_000
        kept = c.entry_ids()
        assert kept == ids[-len(kept):]  # least recently used went first
        c.lookup(f"a thing{len(ids) - len(kept)}", shape=SHAPE)  # refresh the oldest survivor
        c.insert("a final one", lats(99))
        assert ids[len(ids) - len(kept)] in c.entry_ids()


def test_cache_bad_input_loses_nothing(location):
    with cache(location) as c:
        eid = c.insert("a tiger", lats(1))
        for bad, exc in ((lats(2, shape=(4, 3, 6, 7)), ValueError), ([], ValueError),
                         ([torch.full(SHAPE, float("nan"))], ValueError),
                         ([torch.full(SHAPE, 1e300, dtype=torch.float64)], ValueError)):
            with pytest.raises(exc, match="HINT"):
                c.insert("a zebra", bad)
        with pytest.raises(ValueError, match="HINT"):
            c.insert("a zebra", lats(2), entity_masks={"zebra": torch.ones(5, 5, dtype=torch.bool)})
        assert c.entry_ids() == [eid] and c.lookup("a tiger", shape=SHAPE).match.entry_id == eid


def test_cache_float16_overflow_refused_at_insert(location):
    with cache(location, quant_dtype=torch.float16) as c:
        with pytest.raises(ValueError, match="does not fit the storage dtype"):
            c.insert("a tiger", [torch.full(SHAPE, 1e5)])
        assert len(c) == 0


def test_corrupted_and_forged_values_are_dropped_not_served(shared_location):
    location = shared_location
    with cache(location) as c:
        good = c.insert("a zebra", lats(2))
        victim = c.insert("a tiger", lats(1))
        # forge a record with a valid CRC: a planted vector of norm 10 for an unrelated key
        rec, _, _ = make_record(("teapot",), dim=64)
        rec.vectors = rec.vectors * 10
        forged = encode_record(rec)
        _overwrite(location, victim, forged)
        with pytest.warns(RuntimeWarning, match="dropping damaged entry"):
            assert c.lookup("a tiger", shape=SHAPE).match is None
        assert victim not in c.entry_ids() and c.stats()["dropped"] >= 1
        assert c.lookup("a zebra", shape=SHAPE).match.entry_id == good
        c.check_consistency()


def _overwrite(location, entry_id, data: bytes) -> None:
    loc = parse_location(location)
    if loc.scheme == "dir":
        (next(p for p in __import__("pathlib").Path(loc.target).rglob(f"{entry_id}.chce"))).write_bytes(data)
    else:
        import redis

        redis.Redis.from_url(loc.target).set(f"chai:{{default}}:e:{entry_id}", data)


# -- non-finite latents: refused on insert and on load, by every store ----------------------------------------------
def _bad_latent(case):
    """A QuantizedLatent that passes its own format checks but dequantizes to NaN or Inf."""
    from chai_kernels.quant import QuantizedLatent

    ones = torch.ones(SHAPE[:3])
    if case == "int8_scale_3e38":  # finite scale, finite data: 127 * 3e38 overflows float32
        return QuantizedLatent(torch.full(SHAPE, 127, dtype=torch.int8), torch.full(SHAPE[:3], 3e38))
    if case == "fp8_nan_bytes":  # 0x7f is NaN in float8_e4m3fn
        return QuantizedLatent(torch.full(SHAPE, 0x7F, dtype=torch.uint8).view(torch.float8_e4m3fn), ones)
    if case == "float16_nan":
        return QuantizedLatent(torch.full(SHAPE, float("nan"), dtype=torch.float16), ones)
    return QuantizedLatent(torch.full(SHAPE, float("inf"), dtype=torch.float32), ones)


NONFINITE = ["int8_scale_3e38", "fp8_nan_bytes", "float16_nan", "float32_inf"]


@pytest.mark.parametrize("case", NONFINITE)
def test_nonfinite_latents_are_refused_on_insert(location, case):
    with cache(location) as c:
        eid = c.insert("a zebra", lats(2))
        with pytest.raises(ValueError, match="(?s)NaN, Inf.*HINT"):
            c.insert("a tiger", [_bad_latent(case)])
        assert c.entry_ids() == [eid] and c.lookup("a tiger", shape=SHAPE).match is None


@pytest.mark.parametrize("case", NONFINITE)
def test_forged_nonfinite_latents_are_dropped_on_load(shared_location, case):
    from chai.cache.record import decode_record

    location = shared_location
    with cache(location) as c:
        victim = c.insert("a tiger", lats(1))
        stored = _read(location, victim)
        rec = decode_record(stored)
        rec.latent_blobs = [_bad_latent(case).to_bytes()]  # CRCs valid, every format check passes
        _overwrite(location, victim, encode_record(rec))
        with pytest.warns(RuntimeWarning, match="NaN or Inf"):
            assert c.lookup("a tiger", shape=SHAPE).match is None
        assert victim not in c.entry_ids() and c.stats()["dropped"] == 1


def _read(location, entry_id) -> bytes:
    loc = parse_location(location)
    if loc.scheme == "dir":
        return next(__import__("pathlib").Path(loc.target).rglob(f"{entry_id}.chce")).read_bytes()
    import redis

    return redis.Redis.from_url(loc.target).get(f"chai:{{default}}:e:{entry_id}")


def test_a_megabyte_prompt_is_capped_on_insert_as_on_lookup(location):
    from chai.cache import MAX_PROMPT_CHARS

    prompt = "a tiger sitting in a dark cave " + "and then it waits a while " * 80_000  # about 2 MiB
    with cache(location) as c:
        eid = c.insert(prompt, lats(1))
        m = c.lookup("a tiger", shape=SHAPE).match
        assert m is not None and m.entry_id == eid
        assert len(m.prompt) <= MAX_PROMPT_CHARS and prompt.startswith(m.prompt)
        c.check_consistency()
    if location is not None:  # every other worker (a fresh open) serves it too
        with cache(location) as c2:
            assert c2.lookup("a tiger", shape=SHAPE).match.entry_id == eid
