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
