"""VectorIndex: exact search against a brute-force reference, removal, HNSW tombstones, numpy fallback."""

from __future__ import annotations

import numpy as np
import pytest

from chai.cache.index import VectorIndex

DIM = 24


def unit(rng, n, dim=DIM):
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def build(kind, rng, n_entries=60, per=3):
    ix = VectorIndex(DIM, kind=kind)
    vecs = {}
    for e in range(n_entries):
        v = unit(rng, per)
        ids = ix.add(e, [f"ent{e}_{j}" for j in range(per)], v)
        for vid, row in zip(ids, v):
            vecs[vid] = (e, row)
    return ix, vecs


def brute(vecs, q, k):
    ids = np.array(list(vecs))
    mat = np.stack([vecs[i][1] for i in ids])
    s = mat @ q
    order = np.argsort(-s, kind="stable")[:k]
    return ids[order], s[order]


@pytest.mark.parametrize("kind", ["flat", "numpy"])
def test_exact_search_matches_bruteforce(kind):
    rng = np.random.default_rng(0)
    ix, vecs = build(kind, rng)
    qs = unit(rng, 7)
    res = ix.search(qs, 5)
    for q, row in zip(qs, res):
        ids, scores = brute(vecs, q, 5)
        assert [h.vector_id for h in row] == ids.tolist()
        np.testing.assert_allclose([h.score for h in row], scores, rtol=1e-5, atol=1e-6)
        for h in row:
            assert h.entry_key == vecs[h.vector_id][0] and h.entity.startswith(f"ent{h.entry_key}_")


@pytest.mark.parametrize("kind", ["flat", "numpy", "hnsw"])
def test_remove_entry_removes_every_vector(kind):
    rng = np.random.default_rng(1)
    ix, vecs = build(kind, rng, n_entries=40)
    removed = set(range(0, 40, 3))
    for e in removed:
        assert ix.remove_entry(e) == 3
    assert ix.remove_entry(0) == 0
    assert len(ix) == (40 - len(removed)) * 3 and ix.entries == 40 - len(removed)
    # querying with the removed vectors themselves never returns them
    qs = np.stack([row for vid, (e, row) in vecs.items() if e in removed])
    for row in ix.search(qs, 10):
        assert row and all(h.entry_key not in removed for h in row)
    live = {vid: v for vid, v in vecs.items() if v[0] not in removed}
    q = unit(rng, 1)[0]
    got = ix.search(q[None], 4)[0]
    ids, _ = brute(live, q, 4)
    if kind != "hnsw":
        assert [h.vector_id for h in got] == ids.tolist()
    else:
        assert len(set(h.vector_id for h in got) & set(ids.tolist())) >= 3


def test_hnsw_tombstones_trigger_rebuild_and_recall():
    rng = np.random.default_rng(2)
    ix, vecs = build("hnsw", rng, n_entries=200, per=2)
    for e in range(120):
        ix.remove_entry(e)
    assert ix.rebuilds >= 1 and ix.tombstones < 0.25 * (len(ix) + ix.tombstones) + 1
    live = {vid: v for vid, v in vecs.items() if v[0] >= 120}
    qs = unit(rng, 20)
    recall = 0
    for q, row in zip(qs, ix.search(qs, 5)):
        ids, _ = brute(live, q, 5)
        recall += len(set(ids.tolist()) & {h.vector_id for h in row})
    assert recall / (5 * len(qs)) >= 0.9


def test_add_validation_and_empty_search():
    ix = VectorIndex(DIM)
    assert ix.search(np.zeros((2, DIM), np.float32), 3) == [[], []]
    with pytest.raises(ValueError, match="one row per entity"):
        ix.add(1, ["a", "b"], np.zeros((3, DIM), np.float32))
    ix.add(1, ["a"], unit(np.random.default_rng(0), 1))
    with pytest.raises(ValueError, match="already indexed"):
        ix.add(1, ["a"], unit(np.random.default_rng(0), 1))
    with pytest.raises(ValueError, match="queries have shape"):
        ix.search(np.zeros((1, DIM + 1), np.float32), 1)
    with pytest.raises(ValueError, match="index kind"):
        VectorIndex(DIM, kind="ivf")


def test_faiss_missing_falls_back_to_numpy_with_warning(monkeypatch):
    import chai.cache.index as mod

    monkeypatch.setattr(mod, "faiss_available", lambda: False)
    with pytest.warns(RuntimeWarning, match="faiss is not installed"):
        ix = mod.VectorIndex(DIM, kind="flat")
    assert ix.kind == "numpy"


@pytest.mark.parametrize("kind", ["flat", "numpy", "hnsw"])
def test_search_at_least_returns_every_tied_vector(kind):
    rng = np.random.default_rng(4)
    ix = VectorIndex(DIM, kind=kind)
    v = unit(rng, 1)
    for e in range(40):  # 40 entries share one entity vector, plus noise entries
        ix.add(e, ["tiger"], v)
        ix.add(100 + e, ["noise"], unit(rng, 1))
    ix.remove_entry(7)
    rows = ix.search_at_least(v, 1.0 - 1e-5)
    assert sorted(h.entry_key for h in rows[0]) == [e for e in range(40) if e != 7]
    assert all(h.score >= 1.0 - 1e-5 for h in rows[0])


# ------------------------------------------------------------------------------------------------
# Shared rows: entries sharing an entity string (and vector) own one stored vector
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["flat", "numpy", "hnsw"])
def test_shared_entity_string_is_one_row_and_evicts_with_its_last_owner(kind):
    rng = np.random.default_rng(5)
    ix = VectorIndex(DIM, kind=kind)
    tiger = unit(rng, 1)
    noise = {}
    for e in range(12):
        ix.add(e, ["tiger", f"n{e}"], np.concatenate([tiger, noise.setdefault(e, unit(rng, 1))]))
    assert len(ix) == 24 and ix.rows == 13 and ix.entries == 12
    # same text, different vector bits -> its own row; different text, same vector -> its own row
    ix.add(50, ["tiger"], tiger + np.float32(1e-3))
    ix.add(51, ["tigre"], tiger)
    assert ix.rows == 15 and len(ix) == 26
    ix.remove_entry(50)
    ix.remove_entry(51)
    for e in range(11):  # owners leave one by one; the row stays while any owner is left
        assert ix.remove_entry(e) == 2
        assert len(ix) == 2 * (11 - e) and ix.rows == 1 + (11 - e) and ix.entries == 11 - e
        row = ix.search(tiger, 1)[0]
        assert sorted(h.entry_key for h in row) == list(range(e + 1, 12))
        assert len({h.row_id for h in row}) == 1 and row[0].score == pytest.approx(1.0, abs=1e-5)
    ix.remove_entry(11)
    assert len(ix) == 0 and ix.rows == 0 and ix.entries == 0
    assert ix.search(tiger, 3) == [[]]
    # re-adding after the last owner left makes a fresh row, found again
    ix.add(99, ["tiger"], tiger)
    assert [h.entry_key for h in ix.search(tiger, 2)[0]] == [99] and ix.rows == 1


@pytest.mark.parametrize("kind", ["flat", "numpy", "hnsw"])
def test_search_expands_rows_and_matches_bruteforce_over_owners(kind):
    rng = np.random.default_rng(6)
    ix = VectorIndex(DIM, kind=kind)
    vocab = unit(rng, 9)
    owners = {}  # entry -> set of vocab rows
    for e in range(70):
        picks = sorted(rng.choice(9, size=2, replace=False).tolist())
        ix.add(e, [f"w{p}" for p in picks], vocab[picks])
        owners[e] = set(picks)
    for e in range(0, 70, 4):
        ix.remove_entry(e)
        del owners[e]
    assert ix.rows == len(set().union(*owners.values())) and len(ix) == 2 * len(owners)
    q = unit(rng, 1)
    s = vocab @ q[0]
    top = [p for p in np.argsort(-s, kind="stable").tolist() if any(p in v for v in owners.values())][:3]
    row = ix.search(q, 3)[0]
    want = sorted((p, e) for p in top for e, v in owners.items() if p in v)
    assert sorted((int(h.entity[1:]), h.entry_key) for h in row) == want
    for h in row:
        assert h.score == pytest.approx(float(s[int(h.entity[1:])]), abs=1e-5)
    assert [h.score for h in row] == sorted((h.score for h in row), reverse=True)
    got = ix.search_at_least(q, float(s[top[1]]) - 1e-6)[0]
    assert sorted((int(h.entity[1:]), h.entry_key) for h in got) == sorted(
        (p, e) for p in top[:2] for e, v in owners.items() if p in v)


class _SynonymEmbedder:
    """HashingEmbedder, but ``tigre`` embeds exactly like ``tiger`` (distinct strings, bitwise equal vectors)."""

    def __init__(self):
        from chai.cache import HashingEmbedder

        self.inner = HashingEmbedder(4096)  # one-hot per word: wide enough that no test word shares a bucket
        self.name, self.dim = "synonym-" + self.inner.name, self.inner.dim

    def embed(self, texts):
        return self.inner.embed(["tiger" if t == "tigre" else t for t in texts])


@pytest.mark.parametrize("index", ["flat", "numpy"])
def test_cache_ties_resolve_to_mru_among_many_sharing_one_string(index):
    torch = pytest.importorskip("torch")
    from chai.cache import BuiltinExtractor, LatentCache

    shape = (1, 4, 2, 3, 5)

    def lat(seed):
        g = torch.Generator().manual_seed(seed)
        return [torch.randn(shape, generator=g) + 0.1]

    emb = _SynonymEmbedder()
    words = ["tiger"] + [f"thing{i}" for i in range(50)] + [f"lamp{i}" for i in range(20)]
    assert len({int(np.argmax(np.abs(v))) for v in emb.embed(words)}) == len(words)  # no hashing collision
    # the embedder-only rule: this test is about index ties, "tigre" is a stand-in string with tiger's vector
    c = LatentCache(50_000_000, extractor=BuiltinExtractor(), embedder=emb, index=index, top_k=1,
                    match_rule="embedding")
    ids = [c.insert(f"a tiger and a thing{i}", lat(i)) for i in range(50)]
    for i in range(20):
        c.insert(f"a lamp{i}", lat(100 + i))
    ix = next(iter(c.matcher._indexes.values()))
    assert ix.rows == 1 + 50 + 20 and len(ix) == 120 and c.stats()["vectors"] == 120
    c.check_consistency()
    assert c.lookup("tiger", shape=shape).match.entry_id == ids[-1]  # newest insert is MRU
    assert c.lookup("a thing17", shape=shape).match.entry_id == ids[17]  # touch an old one
    m = c.lookup("a tiger", shape=shape).match
    assert m.entry_id == ids[17] and m.cached_entity == "tiger"
    # a distinct string with a bitwise-equal vector ties across rows: the tie pass still finds the MRU
    t = c.insert("a tigre", lat(500))
    assert ix.rows == 72
    assert c.lookup("tiger", shape=shape).match.entry_id == t
    assert c.lookup("a thing3", shape=shape).match.entry_id == ids[3]
    assert c.lookup("tiger", shape=shape).match.entry_id == ids[3]
    # evict owners of the shared row one by one: it stays until the last owner goes
    for k, eid in enumerate(ids):
        c.remove(eid)
        c.check_consistency()
        assert ix.rows == 1 + 1 + (49 - k) + 20 - (1 if k == 49 else 0)
    assert c.lookup("tiger", shape=shape).match.entry_id == t


@pytest.mark.parametrize("kind", ["flat", "numpy", "hnsw"])
def test_entry_vectors_returns_each_entity_with_its_stored_vector(kind):
    rng = np.random.default_rng(7)
    ix = VectorIndex(DIM, kind=kind)
    a, b = unit(rng, 3), unit(rng, 2)
    ix.add(1, ["cat", "ball", "lawn"], a)
    ix.add(2, ["cat", "sofa"], np.stack([a[0], b[1]]))  # "cat" with the same vector shares entry 1's row
    got = ix.entry_vectors(2)
    assert [e for e, _ in got] == ["cat", "sofa"]
    np.testing.assert_array_equal(np.stack([v for _, v in got]), np.stack([a[0], b[1]]))
    ix.remove_entry(1)  # the shared row lives on for entry 2
    np.testing.assert_array_equal(ix.entry_vectors(2)[0][1], a[0])
    assert ix.entry_vectors(1) == [] and ix.entry_vectors(99) == []
