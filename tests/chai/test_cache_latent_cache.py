"""LatentCache logic: matching rule, budget accounting, LRU eviction, bad input (tier 1, no models).

Uses the model-free BuiltinExtractor and HashingEmbedder so every test is fast and exact; the spaCy /
MiniLM paths are covered in test_cache_entities.py and test_cache_embedder.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from chai.cache import BuiltinExtractor, HashingEmbedder, LatentCache, Match, entry_nbytes_estimate
from chai_kernels import QuantizedLatent, dequantize_latent, quantize_latent

SHAPE = (1, 4, 3, 6, 7)
DOCUMENTED_KEYS = {"entries", "bytes_used", "budget_bytes", "hits", "misses", "inserts", "evictions", "dropped",
                   "extractor", "embedder"}


def lat(seed: int, shape=SHAPE) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g) + 0.1


def lats(seed: int, shape=SHAPE, n: int = 3) -> list[torch.Tensor]:
    return [lat(seed * 10 + i, shape) for i in range(n)]


def make(budget: int = 10_000_000, **kw) -> LatentCache:
    kw.setdefault("extractor", BuiltinExtractor())
    kw.setdefault("embedder", HashingEmbedder(64))
    return LatentCache(budget, **kw)


def check(cache: LatentCache) -> None:
    """Invariants after every operation: budget never exceeded, store and index agree."""
    s = cache.stats()
    assert s["bytes_used"] <= s["budget_bytes"]
    assert s["entries"] == len(cache)
    cache.check_consistency()


def one_entry_bytes(prompt: str, shape=SHAPE, n=3) -> int:
    c = make()
    eid = c.insert(prompt, lats(0, shape, n))
    return c.entry_nbytes(eid)


# ------------------------------------------------------------------------------------------------
# Round trip and matching
# ------------------------------------------------------------------------------------------------

def test_insert_lookup_roundtrip_latents_and_mask():
    c = make()
    xs = lats(1)
    mask = torch.rand(SHAPE[2], 21) > 0.5
    eid = c.insert("a tiger sitting in a cave", xs, entity_masks={"tiger": mask})
    check(c)
    m = c.lookup("a tiger running through a jungle", shape=SHAPE).match
    check(c)
    assert isinstance(m, Match)
    assert (m.entry_id, m.prompt_entity, m.cached_entity) == (eid, "tiger", "tiger")
    assert m.prompt == "a tiger sitting in a cave"
    assert math.isclose(m.score, 1.0, abs_tol=1e-5)
    assert m.latent_shape == SHAPE and len(m.latents) == 3
    assert torch.equal(m.token_mask, mask)
    for q, x in zip(m.latents, xs):
        assert isinstance(q, QuantizedLatent) and q.dtype == torch.int8 and q.device.type == "cpu"
        y = dequantize_latent(q, dtype=torch.float32)
        step = q.scale[..., None, None]  # int8: |error| <= scale / 2 per (b, c, t) slice
        assert bool(((y - x).abs() <= step / 2 + 1e-6).all())
    # the other entity matched: no mask stored for it
    m2 = c.lookup("the cave", shape=SHAPE).match
    assert m2.cached_entity == "cave" and m2.token_mask is None
    s = c.stats()
    assert (s["hits"], s["misses"], s["inserts"]) == (2, 0, 1)
    assert s["hit_entities"] == {"tiger": 1, "cave": 1}


def test_hit_does_not_insert_and_unrelated_is_miss():
    c = make()
    c.insert("a tiger sitting in a cave", lats(1))
    before = c.stats()["bytes_used"]
    assert c.lookup("a tiger", shape=SHAPE).match is not None
    assert c.lookup("a teapot on a table", shape=SHAPE).match is None
    s = c.stats()
    assert (s["entries"], s["inserts"], s["bytes_used"], s["hits"], s["misses"]) == (1, 1, before, 1, 1)


def test_a_lookup_is_true_exactly_when_it_hits():
    """`if cache.lookup(p):` is the natural test: a miss is falsy (it was always true), yet a miss's Lookup
    still serves its insert (no code may treat a falsy Lookup as "no lookup")."""
    c = make()
    miss = c.lookup("a tiger sitting in a cave", shape=SHAPE)
    assert not miss and miss.match is None and miss.keys
    eid = c.insert("a tiger sitting in a cave", lats(1), lookup=miss)  # the miss's keys, not a second extraction
    assert eid is not None and c.stats()["inserts"] == 1
    hit = c.lookup("a tiger", shape=SHAPE)
    assert hit and bool(hit) is True and hit.match.entry_id == eid
    assert not c.lookup("a teapot on a table", shape=SHAPE)
    assert not c.lookup("the and of", shape=SHAPE)  # no entity: a miss too
    hits = [p for p in ("a tiger at night", "a violin") if c.lookup(p, shape=SHAPE)]
    assert hits == ["a tiger at night"]


def test_best_score_wins_and_threshold():
    c = make(threshold=0.9)
    e_red = c.insert("a red car", lats(1))
    e_car = c.insert("a car", lats(2))
    c.lookup("a red car", shape=SHAPE).match  # make e_red the MRU: the exact match must still win below
    m = c.lookup("a car", shape=SHAPE).match
    assert m.entry_id == e_car and m.score == pytest.approx(1.0, abs=1e-5)
    # hashing: cos("red car", "car") = 1/sqrt(2) ~ 0.707, below 0.9: the embedder-only rule misses ...
    c2 = make(threshold=0.9, match_rule="embedding")
    c2.insert("a red car", lats(1))
    assert c2.lookup("a car", shape=SHAPE).match is None
    c3 = make(threshold=0.7, match_rule="embedding")
    e = c3.insert("a red car", lats(1))
    m3 = c3.lookup("a car", shape=SHAPE).match
    assert m3.entry_id == e and m3.score == pytest.approx(1 / math.sqrt(2), abs=1e-5) and m3.kind == "embedding"
    assert e_red != e_car
    # ... the agreement rule serves any car to a request for "a car" (less specific), but never the other way
    c4 = make(threshold=0.9)
    e4 = c4.insert("a red car", lats(1))
    m4 = c4.lookup("a car", shape=SHAPE).match
    assert m4.entry_id == e4 and m4.kind == "same_head" and m4.score == pytest.approx(1 / math.sqrt(2), abs=1e-5)
    c5 = make(threshold=0.5)
    c5.insert("a car", lats(1))
    assert c5.lookup("a red car", shape=SHAPE).match is None  # the cached car's colour is unknown
    assert c5.lookup("a blue bicycle", shape=SHAPE).match is None


@pytest.mark.parametrize("top_k", [1, 4])
def test_ties_go_to_most_recently_used(top_k):
    c = make(top_k=top_k)
    ids = [c.insert(f"a tiger and a {w}", lats(i)) for i, w in enumerate(["lamp", "boat", "kite", "drum", "vase", "sofa"])]
    check(c)
    assert c.lookup("tiger", shape=SHAPE).match.entry_id == ids[-1]  # newest insert is MRU
    assert c.lookup("a kite", shape=SHAPE).match.entry_id == ids[2]  # touch an old one
    m = c.lookup("a tiger", shape=SHAPE).match
    assert m.entry_id == ids[2] and m.cached_entity == "tiger"
    assert c.entry_ids()[-1] == ids[2]


def test_prompt_matching_mode_whole_prompt():
    c = make(matching="prompt", threshold=0.9)
    eid = c.insert("a tiger sitting in a cave", lats(1))
    assert c.entities("a  tiger sitting in a cave ") == ["a tiger sitting in a cave"]
    assert c.lookup("a tiger running in a jungle", shape=SHAPE).match is None  # entity hit, whole-prompt miss
    m = c.lookup("a tiger sitting in a cave", shape=SHAPE).match
    assert m.entry_id == eid and m.cached_entity == "a tiger sitting in a cave"
    assert c.stats()["extractor"].startswith("none")
    ce = make(threshold=0.9)
    ce.insert("a tiger sitting in a cave", lats(1))
    assert ce.lookup("a tiger running in a jungle", shape=SHAPE).match is not None


def test_shape_eligibility():
    c = make()
    small = c.insert("a tiger in a cave", lats(1, SHAPE))
    other = (1, 4, 5, 6, 7)
    big = c.insert("a tiger on a beach", lats(2, other))
    assert c.lookup("tiger", shape=SHAPE).match.entry_id == small
    assert c.lookup("tiger", shape=other).match.entry_id == big
    assert c.lookup("tiger", shape=SHAPE[1:]).match.entry_id == small  # (C, T, H, W) ignores the batch
    assert c.lookup("tiger", shape=(1, 4, 3, 6, 8)).match is None  # shape mismatch is a miss
    assert c.lookup("tiger", shape=(2, 4, 3, 6, 7)).match is None
    assert c.lookup("tiger").match.entry_id == small  # any shape: the MRU of the tie (touched just above)
    with pytest.raises(ValueError, match="shape"):
        c.lookup("tiger", shape=(4, 3)).match
    check(c)


# ------------------------------------------------------------------------------------------------
# Budget and LRU
# ------------------------------------------------------------------------------------------------

def test_budget_counts_every_byte_and_estimate_is_exact():
    prompt = "tiger, bison, camel"
    c = make()
    mask = torch.ones(SHAPE[2], 21, dtype=torch.bool)
    eid = c.insert(prompt, lats(1), entity_masks={"tiger": mask, "bison": mask, "camel": mask})
    rec_n = len(c.store.get(eid))
    n = c.entry_nbytes(eid)
    q = quantize_latent(lat(0))
    # the record holds three latent blobs (header + data + scales), three 64-d vectors, three packed masks
    assert rec_n > 3 * len(q.to_bytes()) + 3 * 64 * 4 + 3 * math.ceil(SHAPE[2] * 21 / 8) + len(prompt)
    assert n == rec_n + 3 * c._vec_nbytes
    assert c.stats()["bytes_used"] == n
    est = c.entry_nbytes_estimate(SHAPE, 3, n_entities=3, prompt_chars=len(prompt), entity_chars=5,
                                  mask_shape=(SHAPE[2], 21))
    assert abs(est - n) <= 2  # created_ns digit count is the only free part
    # module-level estimate with the defaults of a MiniLM flat cache
    e240 = entry_nbytes_estimate((1, 4, 20, 30, 53))
    assert 3 * 4 * 20 * 30 * 53 + 3 * 384 * 4 < e240 < 3 * 4 * 20 * 30 * 53 + 15_000


def test_lru_eviction_is_atomic_and_never_returns_evicted():
    per = one_entry_bytes("a tiger", n=3)
    c = make(budget=2 * per + per // 2, threshold=0.99)
    a = c.insert("a tiger", lats(1))
    b = c.insert("a zebra", lats(2))
    check(c)
    assert c.lookup("tiger", shape=SHAPE).match.entry_id == a  # a becomes MRU, b is now LRU
    cc = c.insert("a camel", lats(3))
    check(c)
    assert b not in c and a in c and cc in c
    assert c.lookup("a zebra", shape=SHAPE).match is None  # evicted: never returned
    assert c.stats()["evictions"] == 1 and c.stats()["vectors"] == 2
    assert b not in c.matcher and b not in c.matcher.indexed()
    d = c.insert("a horse", lats(4))
    check(c)
    assert a not in c and c.entry_ids() == [cc, d]


def test_many_inserts_budget_never_exceeded():
    per = one_entry_bytes("a tiger and a cat")
    c = make(budget=int(3.5 * per))
    words = ["tiger", "cat", "dog", "lamp", "boat", "kite", "drum", "vase", "sofa", "pear", "bear", "wolf"]
    for i, w in enumerate(words):
        c.insert(f"a {w} and a {words[i - 1]}", lats(i))
        check(c)
        c.lookup(f"a {words[(i * 7) % len(words)]}", shape=SHAPE).match
        check(c)
    assert len(c) == 3 and c.stats()["evictions"] == len(words) - 3


def test_entry_larger_than_budget_is_refused_and_nothing_evicted():
    per = one_entry_bytes("a tiger")
    c = make(budget=per + 10)
    eid = c.insert("a tiger", lats(1))
    before = c.stats()
    with pytest.raises(ValueError, match="whole budget"):
        c.insert("a tiger", lats(2, (1, 4, 9, 16, 16)))
    check(c)
    assert eid in c and c.stats()["bytes_used"] == before["bytes_used"] and c.stats()["evictions"] == 0


# ------------------------------------------------------------------------------------------------
# Bad input: a clear error or a defined outcome, and nothing stored is lost
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("budget,exc", [(0, ValueError), (-5, ValueError), (1.5e9, TypeError), (True, TypeError)])
def test_bad_budget(budget, exc):
    with pytest.raises(exc, match="budget_bytes"):
        make(budget=budget)


def test_bad_constructor_args():
    with pytest.raises(ValueError, match="matching"):
        make(matching="fuzzy")
    with pytest.raises(ValueError, match="threshold"):
        make(threshold=1.5)
    with pytest.raises(TypeError, match="quant_dtype"):
        make(quant_dtype=torch.int32)
    with pytest.raises(ValueError, match="namespace"):
        make(namespace="../escape")
    with pytest.raises(ValueError, match="index kind"):
        make(index="ivf")


def test_bad_prompts_and_no_entity_prompts():
    c = make()
    eid = c.insert("a tiger", lats(1))
    for bad in ("", "   \n"):
        with pytest.raises(ValueError, match="prompt is empty"):
            c.lookup(bad).match
        with pytest.raises(ValueError, match="prompt is empty"):
            c.insert(bad, lats(2))
    with pytest.raises(TypeError, match="prompt must be a str"):
        c.lookup(None).match
    # no salient entity: a miss / nothing stored, not an error
    assert c.lookup("cinematic shot, 4k, high quality", shape=SHAPE).match is None
    assert c.lookup("it is what it is", shape=SHAPE).match is None
    assert c.insert("in a still frame, 4k", lats(3)) is None
    s = c.stats()
    assert s["no_entity_lookups"] == 2 and s["skipped_inserts"] == 1 and s["misses"] == 2
    assert c.entry_ids() == [eid]
    check(c)


def test_bad_latents_lose_nothing():
    c = make()
    eid = c.insert("a tiger", lats(1))
    before = c.stats()["bytes_used"]
    nan = lats(2)
    nan[1][0, 2, 1, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        c.insert("a zebra", nan)
    inf = lats(3)
    inf[0][0, 0, 0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="NaN or Inf"):
        c.insert("a zebra", inf)
    with pytest.raises(ValueError, match="share one shape"):
        c.insert("a zebra", [lat(1), lat(2, (1, 4, 3, 6, 8))])
    with pytest.raises(ValueError, match="5-D"):
        c.insert("a zebra", [lat(1)[0]])
    with pytest.raises(ValueError, match="non-empty"):
        c.insert("a zebra", [])
    with pytest.raises(TypeError, match="latents\\[0\\]"):
        c.insert("a zebra", ["not a tensor"])
    with pytest.raises(ValueError, match="entity_masks has key"):
        c.insert("a zebra", lats(4), entity_masks={"horse": torch.ones(3, 5, dtype=torch.bool)})
    with pytest.raises(ValueError, match="bool tensor"):
        c.insert("a zebra", lats(4), entity_masks={"zebra": torch.ones(2, 5, dtype=torch.bool)})
    with pytest.raises(ValueError, match="bool tensor"):
        c.insert("a zebra", lats(4), entity_masks={"zebra": torch.ones(3, 5)})
    check(c)
    assert c.entry_ids() == [eid] and c.stats()["bytes_used"] == before and c.stats()["inserts"] == 1
    assert c.lookup("a zebra", shape=SHAPE).match is None and c.lookup("tiger", shape=SHAPE).match.entry_id == eid


# ------------------------------------------------------------------------------------------------
# Storage dtypes, API surface
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("qd", [torch.int8, torch.float8_e4m3fn, torch.float32, torch.bfloat16])
def test_quant_dtypes_and_prequantized_input(qd):
    c = make(quant_dtype=qd)
    xs = lats(5)
    c.insert("a tiger", xs)
    m = c.lookup("tiger", shape=SHAPE).match
    assert all(q.dtype == qd for q in m.latents)
    y = dequantize_latent(m.latents[0], dtype=torch.float32)
    tol = {torch.int8: 0.05, torch.float8_e4m3fn: 0.3, torch.float32: 0.0, torch.bfloat16: 0.02}[qd]
    assert float((y - xs[0]).abs().max()) <= tol
    q = quantize_latent(lat(9), dtype=torch.float8_e4m3fn)
    c.insert("a zebra", [q])
    m2 = c.lookup("zebra", shape=SHAPE).match
    assert m2.latents[0].dtype == torch.float8_e4m3fn and torch.equal(m2.latents[0].data.view(torch.uint8),
                                                                        q.data.view(torch.uint8))


def test_stats_keys_len_close_and_context_manager():
    with make() as c:
        c.insert("a tiger", lats(1))
        s = c.stats()
        assert DOCUMENTED_KEYS <= set(s)
        assert s["extractor"] == "builtin" and s["embedder"] == "hashing-64-s0" and s["index"] == "flat"
        assert len(c) == 1
    assert c.closed
    with pytest.raises(ValueError, match="closed"):
        c.lookup("a tiger").match
    with pytest.raises(ValueError, match="closed"):
        c.insert("a tiger", lats(1))


def test_remove_and_clear():
    c = make()
    a = c.insert("a tiger", lats(1))
    b = c.insert("a zebra", lats(2))
    assert c.remove(a) and not c.remove(a)
    assert c.lookup("tiger", shape=SHAPE).match is None and c.lookup("zebra", shape=SHAPE).match.entry_id == b
    c.clear()
    check(c)
    assert len(c) == 0 and c.stats()["bytes_used"] == 0 and c.stats()["vectors"] == 0


def test_numpy_and_hnsw_index_kinds_match_flat():
    for kind in ("numpy", "hnsw"):
        c = make(index=kind)
        ids = [c.insert(f"a {w}", lats(i)) for i, w in enumerate(["tiger", "zebra", "camel"])]
        assert c.lookup("zebra", shape=SHAPE).match.entry_id == ids[1]
        c.remove(ids[1])
        assert c.lookup("zebra", shape=SHAPE).match is None
        assert c.stats()["index"] == kind
        check(c)


@pytest.mark.parametrize("index", ["flat", "numpy", "hnsw"])
def test_many_tied_entries_still_pick_mru(index):
    c = make(top_k=2, index=index)
    ids = [c.insert(f"a tiger and a {w}{i}", lats(i)) for i, w in enumerate(["kite"] * 30)]
    assert c.lookup("tiger", shape=SHAPE).match.entry_id == ids[-1]
    assert c.lookup(f"kite{11}", shape=SHAPE).match.entry_id == ids[11]
    assert c.lookup("tiger", shape=SHAPE).match.entry_id == ids[11]
    check(c)


def test_long_prompts_are_capped_before_extraction_and_counted():
    from chai.cache.entities import MAX_PROMPT_CHARS

    c = make()
    long_prompt = "a tiger in a cave " + "and a very long description " * (MAX_PROMPT_CHARS // 10)
    res = c.lookup(long_prompt, shape=SHAPE)
    assert res.truncated and "tiger" in res.keys
    c.insert(long_prompt, lats(1), lookup=res)
    assert not c.lookup("a tiger", shape=SHAPE).truncated
    assert c.stats()["truncated_prompts"] == 1


class _PlannedEmbedder:
    """Fixed vectors: every filler is nearer "dog" than the golden retriever is, so the vector index's top rows
    never hold the retriever; "dog" / "golden retriever" sit at cosine 0.35 (above the embedder's veto floor)."""

    name, dim = "planned", 64

    def __init__(self, fillers):
        self.vec = {"dog": np.eye(64)[0], "golden retriever": 0.35 * np.eye(64)[0] + math.sqrt(1 - 0.35**2) * np.eye(64)[1]}
        for i, f in enumerate(fillers):
            self.vec[f] = 0.9 * np.eye(64)[0] + math.sqrt(1 - 0.81) * np.eye(64)[2 + i]

    def embed(self, texts):
        return np.stack([self.vec[t] for t in texts]).astype(np.float32)


def test_rule_candidates_are_found_beyond_the_index_rows():
    """A hypernym request is judged by the rule wherever its pair ranks in the vector index: the head map finds
    the entries the index's top rows leave out (the veto floor itself is tested in test_cache_agreement.py)."""
    fillers = [f"{w}" for w in ("zebra", "lamp", "kettle", "violin", "cactus", "tractor", "anchor", "helmet", "kayak",
                                "pillow", "ladder", "mirror", "bucket", "saddle", "trumpet", "wagon", "teapot",
                                "compass", "lantern", "rocket")]
    c = make(extractor=BuiltinExtractor(), embedder=_PlannedEmbedder(fillers))
    for i, f in enumerate(fillers):
        c.insert(f"a {f}", lats(10 + i))
    e = c.insert("a golden retriever", lats(1))
    assert c.matcher.top_k * 4 + 1 <= len(fillers)  # the index alone returns only fillers for "dog"
    m = c.lookup("a dog", shape=SHAPE).match
    assert m is not None and m.entry_id == e and m.cached_entity == "golden retriever" and m.kind == "synonym"
    assert abs(m.score - 0.35) < 1e-5
    assert c.lookup("a golden retriever", shape=SHAPE).match.kind == "exact"
    c.remove(e)
    assert c.lookup("a dog", shape=SHAPE).match is None
    assert not any("golden retriever" in ents for hk in c.matcher._by_head.values() for owners in hk.values()
                   for ents in owners.values())
