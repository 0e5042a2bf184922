"""Entity agreement: may a cached entity serve a requested one? A rule on the phrases, checked by their vectors.

A hit reuses a stored latent, so a wrong hit puts the wrong subject or the wrong colour into a video; a miss only
costs the full run. The embedder alone cannot tell `purple car` from `purple bicycle` (cosine 0.76) or a `dog`
from a `corn dog`, and it misses right matches such as `car` -> `red vintage car` (0.56). :func:`decide` judges
one (request entity, cached entity) pair from the phrases, precision first, on general resources
(:mod:`chai.cache.lexicon`: WordNet 3.0's nouns and the colour survey's names), never on lists grown from one
data set. The matcher calls it for every candidate it fetches (the vector index from :data:`SEARCH_FLOOR` on, and
the entities filed under the request's WordNet sense by :func:`index_keys`).

Each entity is read as modifiers + **kind** (:func:`analyse`): the longest WordNet lemma at its end (`corn dog`,
`rocking chair` stay whole; not a time such as WordNet's `full moon` where the last word is a thing), "X of Y"
read as a collective, container or portion of Y, attachments ("with a beard", "in a yellow jersey", "at night")
as parts and attributes. Then, in order:

1. **Valid**: a head that can be a subject (not a time of day, not a relative place, a visible thing in one of
   its first senses), no symbol-only or over-long word.
2. **Same kind**: the same lemma; synonyms (each first sense is a sense of the other: `aubergine` / `eggplant`;
   or an untagged second sense at :data:`SENSE_FLOOR`: `bike` / `bicycle`); or the request's first sense above
   one of the cached head's first two, a figurative person sense aside (`dog` > `golden retriever`; not `person` >
   `bear`, the investor). A cached head more general than the request's
   is refused. An unknown noun modifier makes another kind, except a more specific cached compound of the head's
   own category for a general request (`steak` -> `ribeye steak`, not `umbrella` -> `cocktail umbrella`); a colour
   or weather noun that is never an adjective is also such a modifier (`wine glasses`, `snow globe`).
3. **Same representation**: `toy`, `statue`, a material on an animal, a portion must be equal on both sides.
4. **No conflict** per attribute class: colour (basic terms), material, number, age, setting, weather, time of day,
   container, size, shade, mood.
5. **Direction**: a request less specific than the cached entity is served; one that states what the cached entity
   does not (a hard class, a container, a part, any unclassified word) is refused; size and mood may be extra from
   the threshold on; each side adding its own words is refused.
6. **The embedder's veto**: where the heads differ, the phrases' cosine must reach :data:`VETO_FLOOR`.

:func:`context_conflict` checks an accepted pair by the two prompts (the matcher calls it): what the request's
subject acts on must be in the cached prompt too (:func:`action_conflict`: "a girl brushing a horse" is not "a girl
feeding a goat"), and the natural scene both prompts name must not differ (:func:`scene_conflict`: a river at the
bottom of a desert canyon is not one at the bottom of an alpine canyon).

:func:`decide` returns a :class:`Decision` (``kind`` exact / same_head / synonym, ``rank`` higher is better, and
``reason``) or None; :func:`explain` returns the reason either way. Pure Python over memoised parses:
deterministic, no network. docs/matching.md has the measurements (labelled prompt pairs, dev / test split).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np

from chai.cache.entities import MAX_WORD_CHARS, NON_SUBJECT_HEADS, SCENE_LEXNAMES, is_subject
from chai.cache.entities import _singular as _singular_word
from chai.cache.lexicon import CONCRETE_LEXNAMES, NON_VISUAL_LEXNAMES

__all__ = [
    "ACTION_FLOOR",
    "KINDS",
    "MAX_WORD_CHARS",
    "REFUSALS",
    "SEARCH_FLOOR",
    "SENSE_FLOOR",
    "UNSTATED_REFUSED",
    "VETO_FLOOR",
    "Decision",
    "Phrase",
    "Verdict",
    "action_conflict",
    "analyse",
    "context_conflict",
    "decide",
    "explain",
    "head_key",
    "index_keys",
    "scene_conflict",
]

#: The lowest cosine at which the matcher must still fetch candidates: a request less specific than a cached
#: entity, or a hypernym of its head, is accepted by rule at any cosine, and such pairs score low with MiniLM
#: (`car` / `classic vintage car` 0.51, `person` / `old man` 0.40, `house` / `wooden cabin` 0.36). Below the floor a
#: pair is a miss (`fish` / `koi` 0.27, `ship` / `galleon` 0.21 in the labelled set); a matcher that also looks
#: rule candidates up by :func:`index_keys` finds those too.
SEARCH_FLOOR: float = 0.30

#: The embedder's veto where the heads differ: a synonym or a more general kind ("dog" -> cached "golden
#: retriever", "insect" -> "cockroach") is accepted only when the two full phrases reach this cosine. WordNet says
#: what a thing *is* in one of its senses; the cosine says whether the two phrases still describe a similar picture
#: ("turtle" shares a sense with "turtleneck"). Chosen on the dev split of the labelled prompts (docs/matching.md).
VETO_FLOOR: float = 0.30

#: A synonym through a word's second sense, where WordNet has no corpus evidence for its sense order ("bike" is
#: listed first as a motorcycle, then as a bicycle; "toilet", whose first sense is attested, is not a bathroom):
#: accepted from this cosine on, where the two words are used alike (chosen on the dev split).
SENSE_FLOOR: float = 0.60

#: What the request's subject acts on ("a girl brushing a chestnut horse") must be in the cached prompt too
#: (:func:`action_conflict`): a cached entity of the same kind with no conflict, a synonym or hypernym the rule
#: accepts, or, for another head, a phrase from this cosine on ("bags" / "packs" 0.64, "exam" / "test" 0.67; a
#: goat is not a horse at 0.44). Chosen on the dev split of the labelled prompts (docs/matching.md).
ACTION_FLOOR: float = 0.50

#: Attribute classes of the request that the cached entity must state too: a request `red car` is not served by a
#: cached `car` (its colour is unknown and shows in the latent). All hard classes: colour, number, material,
#: pattern, age (and era), setting, weather (and season, time of day), and what the request says is absent ("a
#: street with no cars" is not served by a busy street). See docs/matching.md for the trade-off.
UNSTATED_REFUSED: frozenset[str] = frozenset({"colour", "number", "material", "pattern", "age", "setting", "weather",
                                              "absent"})

#: Decision kinds, best first, with their rank (higher preferred by the matcher before the score).
KINDS: dict[str, int] = {"exact": 3, "same_head": 2, "synonym": 1}

#: Refusal reason codes of :func:`explain`.
REFUSALS: tuple[str, ...] = (
    "invalid",  # no letters, an over-long word, or a non-subject head (framing, time, layout)
    "head_mismatch",  # heads neither equal, synonyms, nor request-hypernym-of-cached
    "cached_more_general",  # the cached head is a hypernym of the request's ("retriever" -> cached "dog")
    "kind_mismatch",  # toy / robot / statue / material-on-animal markers differ
    "conflict",  # an attribute class stated on both sides with different values
    "unverified",  # the request states a colour / material / ... the cached entity does not
    "diverging",  # each side has modifiers the other lacks
    "below_threshold",  # request more specific than the cached entity and the cosine is below the threshold
    "vetoed",  # a hypernym or less specific request whose phrases' cosine is below its floor (the embedder's veto)
)


@dataclass(frozen=True)
class Decision:
    """An accepted pair. ``kind``: "exact" (same normalised string), "same_head" (same head lemma) or "synonym"
    (synonym or hypernym head); ``rank``: :data:`KINDS` value (higher preferred before ``score``);
    ``reason``: a short audit text (e.g. "request less specific", "hypernym dog > retriever")."""

    kind: str
    rank: int
    score: float
    reason: str


@dataclass(frozen=True)
class Verdict:
    """:func:`explain`'s answer: ``decision`` (None when refused), ``code`` (the kind, or a :data:`REFUSALS`
    code) and ``detail`` (human-readable, names the words involved)."""

    decision: Decision | None
    code: str
    detail: str

    @property
    def accepted(self) -> bool:
        return self.decision is not None


# --------------------------------------------------------------------------------------------------
# Closed classes (general lists of a scale: numbers, patterns, age, settings, size, shade, mood, and the
# markers of a representation rather than the thing). Open classes come from the lexicon.
# --------------------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


def _groups(spec: dict[str, str]) -> dict[str, str]:
    """{"value": "word word ..."} -> {word: value}."""
    return {w: value for value, words in spec.items() for w in words.split()}


_NUMBER = _groups({
    "one": "lone single solitary one alone",
    "two": "two twin twins pair double couple",
    "few": "three four five few several handful",
    "many": "many multiple numerous dozen dozens hundred hundreds thousand thousands countless",
})
_PATTERN = _groups({
    "striped": "striped stripy stripes pinstriped zebra-striped",
    "spotted": "spotted spotty dotted polka-dot polka-dotted speckled dappled",
    "checked": "checkered chequered checked plaid tartan gingham",
    "floral": "floral flowery",
    "camouflage": "camouflage camo",
    "paisley": "paisley",
})
_AGE = _groups({
    "young": "young baby newborn juvenile teenage teen youthful infant toddler child kid",
    "old": "old elderly aged senior ancient antique vintage classic retro historic historical medieval victorian "
           "old-fashioned",
    "new": "new modern futuristic contemporary sci-fi high-tech brand-new space-age",
    "adult": "adult grown-up mature",
})
_SETTING = _groups({
    "forest": "forest woodland", "jungle": "jungle rainforest", "city": "city urban downtown metropolitan",
    "rural": "rural countryside country", "mountain": "mountain alpine highland", "desert": "desert",
    "beach": "beach seaside coastal", "sea": "sea ocean marine", "river": "river", "lake": "lake",
    "island": "island tropical", "arctic": "arctic antarctic", "space": "space outer-space galactic",
    "underwater": "underwater undersea", "underground": "underground subterranean", "farm": "farm",
    "village": "village", "garden": "garden", "street": "street", "rooftop": "rooftop", "swamp": "swamp",
    "savanna": "savanna savannah", "indoor": "indoor indoors", "outdoor": "outdoor outdoors", "sky": "sky",
    "park": "park", "cave": "cave", "volcanic": "volcanic",
})
_WEATHER = _groups({
    "snowy": "snowy snow snow-covered snow-capped snowcapped snowbound",
    "frozen": "frozen icy frosty frosted ice-covered",
    "rainy": "rainy rain rain-soaked drizzly wet",
    "foggy": "foggy fog misty mist hazy",
    "sunny": "sunny sunlit sun-drenched sun-kissed",
    "stormy": "stormy storm thunderous",
    "windy": "windy windswept",
    "cloudy": "cloudy overcast",
    "night": "night nighttime nocturnal moonlit midnight",
    "dusk": "dusk twilight evening",
    "dawn": "dawn sunrise morning",
    "sunset": "sunset",
    "winter": "winter wintry wintery",
    "summer": "summer",
    "autumn": "autumn autumnal",
    "spring": "springtime",
    "dry": "dry arid parched",
})
# SOFT classes: conflicts refuse, but a request may state them when the cached entity does not.
_SIZE = _groups({
    "big": "big large huge giant gigantic enormous massive colossal towering oversized fat plump chubby stout bulky",
    "small": "small little tiny mini petite thin skinny slim slender lean",
    "medium": "medium medium-sized mid-sized midsize",
})
_SHADE = _groups({"dark": "dark dim shadowy", "bright": "bright brightly-lit illuminated glowing"})
_MOOD = _groups({
    "happy": "happy joyful cheerful smiling excited jolly",
    "sad": "sad crying gloomy sorrowful",
    "angry": "angry furious grumpy",
    "calm": "calm peaceful quiet serene sleepy lazy",
    "busy": "busy bustling crowded",
    "neutral": "hungry curious playful cute adorable fluffy furry shaggy fierce friendly brave proud lonely "
               "mysterious majestic graceful elegant wild lush dense",
})
_MOOD_CONFLICTS = frozenset({frozenset({"happy", "sad"}), frozenset({"happy", "angry"}), frozenset({"calm", "angry"}),
                             frozenset({"calm", "busy"})})

#: Modifiers that make a different kind of thing on any head: a `toy car` is not a car, a `robot dog` not a dog.
_KIND_WORDS = frozenset(_words(
    "toy toys teddy stuffed plush plushie origami lego legos papier-mache paper-mache plasticine claymation "
    "gingerbread chocolate candy gummy marzipan balloon inflatable robot robotic mechanical clockwork wind-up "
    "animatronic cyborg android statue sculpture sculpted carved figurine miniature model cartoon cartoonish "
    "animated pixel pixelated voxel hologram holographic ghost ghostly skeleton skeletal zombie undead fake "
    "artificial carousel puppet doll drawing painted stained-glass mannequin"
))

_SOFT_CLASSES: dict[str, dict[str, str]] = {"size": _SIZE, "shade": _SHADE, "mood": _MOOD}
#: Words for many colours at once (the colour survey names single colours).
_MULTICOLOUR = frozenset(_words("colorful colourful multicolored multicoloured multi-colored multi-coloured rainbow "
                                "rainbow-colored rainbow-coloured iridescent kaleidoscopic"))
#: Closed classes read from the word itself (colour, material, weather / time of day and containers come from the
#: lexicon: :func:`_classify`).
_CLOSED_HARD: dict[str, dict[str, str]] = {"number": _NUMBER, "pattern": _PATTERN, "age": _AGE, "setting": _SETTING}

_PREPOSITIONS = frozenset(_words("of in on at with from under near by for inside beside above over behind"))
_DROP = frozenset(_words("a an the and or its their his her"))
_WORD_RE = re.compile(r"[^\s,;:!?()\[\]{}\"]+")
_SPELLING = {"colour": "color", "grey": "gray", "aeroplane": "airplane", "jewellery": "jewelry", "tyre": "tire",
             "theatre": "theater", "centre": "center", "harbour": "harbor", "armour": "armor"}


def _lex():
    from chai.cache.lexicon import lexicon

    return lexicon()


def _lemma(word: str) -> str:
    """WordNet base form of a noun ("geese" -> "goose"), else the extractors' singulariser."""
    lex = _lex()
    base = lex.noun_lemma(word)
    return base if base != word or lex.is_noun(word) else _singular_word(word)


# --------------------------------------------------------------------------------------------------
# Phrase analysis (memoised)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phrase:
    """One entity read as modifiers + kind. ``invalid`` is a reason string when the phrase can never match.

    ``head`` is the kind's lemma (a WordNet lemma when there is one: "corn_dog", "rocking_chair", else the last
    word); ``sense`` its first WordNet sense (-1 when unknown); ``nouns`` the noun modifiers that make an unknown
    compound ("piano" in "piano keyboard"), which must be equal on both sides.
    """

    text: str  # normalised (lower-case, single spaces)
    head: str  # the kind's lemma ("_" joins compounds)
    raw_head: str  # head as written (singular)
    hard: frozenset  # (class, value) of hard attribute classes
    soft: frozenset  # (class, value) of soft attribute classes
    other: frozenset  # unclassified modifier words
    kind: frozenset  # kind-changing markers (toy / robot / portion / material on an animal)
    invalid: str = ""
    sense: int = -1
    nouns: frozenset = frozenset()
    parts: frozenset = frozenset()  # things attached by a preposition ("with a beard", "in a red jersey")
    implied: frozenset = frozenset()  # (class, value) the kind's own words carry ("blue jean": colour blue)


def _word_ok(w: str) -> str:
    """'' when ``w`` is a usable word, else the reason."""
    if not any(c.isalpha() for c in w):
        return "no letters"
    if any(len(part) > MAX_WORD_CHARS for part in re.split(r"[-']", w)):
        return f"word over {MAX_WORD_CHARS} characters"
    return ""


def _descends(sense: int, anchors: tuple[tuple[str, int], ...]) -> bool:
    lex = _lex()
    if sense < 0:
        return False
    up = lex.ancestors(sense) | {sense}
    return any(lex._sense(lemma, n) in up for lemma, n in anchors)


_ANIMATE = (("organism", 1), ("person", 1), ("animal", 1))
_VEHICLE = (("conveyance", 3), ("vehicle", 1), ("craft", 2), ("vessel", 2))
_REAL_VEHICLE_MATERIAL = (("metal", 1), ("alloy", 1), ("wood", 1))


def _material_noun(word: str) -> str:
    """The material a modifier names ("silk", "wooden" -> "wood", "woollen" -> "wool"), or ''."""
    lex = _lex()
    cands = [word] if lex.mostly_noun(word) else []  # "fat" is first an adjective: a fat cat is no fat statue
    if word.endswith("en") and len(word) > 4:
        cands += [word[:-2], word[:-3]]  # wooden, woolen / woollen, silken, golden (a colour: checked first)
    cands += [n for n in lex.pertainym_nouns(word) if n != word]
    for w in cands:
        senses = 2 if w == word else 1  # an adjective's noun must be first a material ("colourful" is no dye)
        if lex.is_noun(w) and lex.in_class(w, "material", senses=senses):
            return w  # a building or fabric material: "oil" in "oil drum" is a substance, not what it is made of
    return ""


def _weather_noun(word: str) -> str:
    """The weather, season or time of day a modifier names ("snowy" -> "snow", "night", "winter"), or ''."""
    lex = _lex()
    parts = word.split("-")
    cands = [word, parts[0]] if len(parts) > 1 else [word]  # "snow-covered", "sun-drenched"
    pert = [n for c in cands for n in lex.pertainym_nouns(c) if n != c]
    cands = [c for c in cands if not lex.is_adjective(c)] + pert  # "deep" is an adjective, not "the deep (of night)"
    for w in cands:
        s = lex.first_sense(w)
        if s >= 0 and (lex.lexname(s) == "noun.time" or lex.in_class(w, "weather")):
            return w
    got = _WEATHER.get(word)
    return got or ""


def _classify(word: str):
    """(class, value, hard?) for a modifier word, or ("noun", lemma, True) for a noun modifier that makes an
    unknown compound, or None when unclassified."""
    lex = _lex()
    w = _SPELLING.get(word, word)
    last = w.split("-")[-1]
    if w in _MULTICOLOUR:
        return "colour", "multi", True
    for name, table in _CLOSED_HARD.items():
        v = table.get(w)
        if v is not None:
            return name, v, True
    for name, table in _SOFT_CLASSES.items():
        v = table.get(w)
        if v is not None:
            return name, v, False
    colour = lex.colour(w) or (lex.colour(last) if last != w and last in lex.basic_colours else "")
    # A colour name that is also a material ("stone", "ivory", "charcoal") reads as the material: a "stone lion"
    # is a statue, and either reading refuses "ivory dress" / "red dress".
    colour_sense = any(lex.lexname(x) == "noun.attribute" for x in lex.senses(w)[:3])
    if colour and (w in lex.basic_colours or not _material_noun(w)) and (
            lex.is_adjective(w) or not lex.is_noun(w) or w in lex.basic_colours
            or colour_sense):  # "navy", "coral" dresses; a "salmon" is a fish, "snow" weather
        return "colour", colour, True
    weather = _weather_noun(w)
    if weather:
        # A time of day or season may be stated by the request alone (the cached prompt's may sit elsewhere in it);
        # stated on both sides it must agree ("at night" / "at noon"). Weather itself must be shown.
        timely = lex.first_sense(weather) >= 0 and lex.lexname(lex.first_sense(weather)) == "noun.time"
        return ("time", weather, False) if timely else ("weather", weather, True)
    material = _material_noun(w)
    if material:
        return "material", material, True
    if lex.mostly_noun(w) or lex.mostly_noun(_lemma(w)):
        return "noun", _lemma(w), True
    if not lex.is_adjective(w) and not lex.is_noun(w) and w.isalpha() and not w.endswith(("ed", "ing", "ly")):
        return "noun", w, True  # a name WordNet lacks ("volkswagen beetle", "manhattan avenue"): another kind
    return None


def _thing_first(word: str) -> bool:
    """A colour or weather word that is first a noun naming a thing, never an adjective in WordNet ("wine", "navy",
    "snow", "rain"; not "salmon", "coral" or "red"): before a head it may name what the thing is for or made with
    (a "wine glass", a "snow globe") as well as its colour or weather, so it also counts as a noun modifier."""
    lex = _lex()
    s = lex.first_sense(word)
    return (s >= 0 and not lex.is_adjective(word) and lex.mostly_noun(word)
            and lex.lexname(s) not in ("noun.attribute", "noun.time"))


def _kind_head(words: list[str]) -> tuple[list[str], str]:
    """(modifier words, head lemma): the longest WordNet lemma at the end of ``words`` ("hot air balloon",
    "corn dog"), else the last word. A lemma that names no visible thing where its last word does is not taken:
    WordNet's "full moon" is a phase of the moon (a time), the prompt's is the moon."""
    lex = _lex()
    last = _lemma(words[-1])
    for n in (4, 3, 2):
        if len(words) >= n:
            tail = words[-n:-1] + [last]
            for joined in ("_".join(tail), "-".join(tail)):  # not "".join: "leather jacket" is no "leatherjacket"
                if lex.compound_kind(joined, last) and not (n == 2 and _closed_modifier(words[-n])):
                    return words[:-n], joined
    return words[:-1], last


def _modifier_units(words: list[str]) -> list[str]:
    """Modifier words with WordNet compounds joined ("golden retriever puppy": "golden_retriever" modifies
    "puppy"; it is a breed, not a golden colour)."""
    lex = _lex()
    out, i = [], 0
    while i < len(words):
        for n in (3, 2):
            if i + n <= len(words) and not _closed_modifier(words[i]) and lex.is_noun("_".join(words[i:i + n])):
                out.append("_".join(words[i:i + n]))
                i += n
                break
        else:
            out.append(words[i])
            i += 1
    return out


def _closed_modifier(word: str) -> bool:
    """A size / number / age / mood word is a modifier even where WordNet lists the pair ("big cat", "old man"
    stay a cat and a man: the rules compare the modifier instead)."""
    return any(word in t for t in (_NUMBER, _AGE, *_SOFT_CLASSES.values()))


@functools.lru_cache(maxsize=65536)
def analyse(entity: str) -> Phrase:
    """Read ``entity`` as modifiers + kind (memoised; see the module docs). Never raises on any string."""
    lex = _lex()
    text = " ".join(str(entity).lower().split())
    words = []
    bad = ""
    for w in _WORD_RE.findall(text.replace("’", "'")):
        w = w.strip("-'.")
        w = w.removesuffix("'s")
        if not w or w in _DROP:
            continue
        why = _word_ok(w)
        if why == "no letters":
            continue  # emoji and numbers inside a phrase carry nothing the rules can use
        if why:
            bad = why
        words.append(_SPELLING.get(w, w))
    invalid = Phrase(text, "", "", frozenset(), frozenset(), frozenset(), frozenset(), bad or "no content word")
    if bad or not words:
        return invalid
    written = " ".join(words)
    tail: list[str] = []
    # "X of Y": a collective, container or portion X shapes the thing Y; a relative place X ("left of") is none.
    # Any other preposition starts an attachment: "cyclist in a yellow jersey", "man with a beard", "at night".
    i = 1
    while i < len(words) - 1:  # "bird of paradise", "man of war": a concrete WordNet lemma, not X of Y
        if words[i] in _PREPOSITIONS:
            for j in range(min(len(words), i + 3), i + 1, -1):
                lemma = "_".join(words[i - 1:j])
                if lex.is_noun(lemma) and lex.lexname(lex.first_sense(lemma)) in CONCRETE_LEXNAMES:
                    words = words[:i - 1] + [lemma] + words[j:]
                    break
        i += 1
    hard, soft, kind = set(), set(), set()
    if "without" in words[1:]:  # "street without car": what the video must not show, a hard class of its own
        kept, i = [], 0
        while i < len(words):
            j = i + 1
            if words[i] != "without" or i == 0:
                kept.append(words[i])
                i = j
                continue
            while j < len(words) and words[j] not in _PREPOSITIONS and words[j] != "without":
                j += 1
            if j > i + 1:  # "windows" is a WordNet lemma of its own (the software): the singular first
                single = _singular_word(words[j - 1])
                hard.add(("absent", single if lex.is_noun(single) else _lemma(words[j - 1])))
            i = j
        words = kept
    preps = [i for i, w in enumerate(words) if w in _PREPOSITIONS and 0 < i < len(words) - 1]
    words_all = list(words)
    if preps and words[preps[0]] == "of":
        i = preps[0]
        j = next((k for k in preps[1:] if words[k] != "of"), len(words))
        front, back = words[:i], [x for x in words[i + 1:j] if x not in _PREPOSITIONS]
        tail = [x for x in words[j + 1:] if x not in _PREPOSITIONS]
        x = _lemma(front[-1])
        if front[-1] in _NUMBER or x in _NUMBER:
            hard.add(("number", _NUMBER.get(front[-1], _NUMBER.get(x, "many"))))  # "hundreds of fireflies"
        elif lex.in_class(x, "group", senses=2):
            hard.add(("number", "many"))
        elif lex.in_class(x, "container", senses=2):
            hard.add(("container", x))
        elif lex.in_class(x, "portion", senses=3) or lex.in_class(x, "measure", senses=3):
            kind.add(f"portion:{x}")
        elif not (lex.is_place_word(x) or not lex.is_visual(x) or _is_act(x) or not lex.mostly_noun(x)):
            back, front = front, back  # "statue of a lion": the statue, with the lion as an attachment
            tail = front + tail
            front = []
        words = back or front
        tail = front[:-1] + tail
    elif preps:
        i = preps[0]
        tail, words = [x for x in words[i + 1:] if x not in _PREPOSITIONS], words[:i]
        held = [x for x in tail if lex.in_class(_lemma(x), "container", senses=2)]
        if held and words_all[i] in ("in", "inside"):
            hard.add(("container", _lemma(held[-1])))  # "latte in a tall glass": what it is served in
            tail = [x for x in tail if x not in held]
    if not is_subject(written) or not is_subject(" ".join(words)):
        return Phrase(text, "", "", frozenset(), frozenset(), frozenset(), frozenset(), f"'{text}' is not a subject")
    last = words[-1]
    if _lemma(last) != last and not lex.is_noun(last) and last.endswith("s"):
        soft.add(("number", "plural"))  # a plural head: "tents" conflicts with "a single tent", adds nothing else
    mods, head = _kind_head(words)
    sense = _visible_sense(head)
    # A trailing hypernym is redundant: "golden retriever dog" -> "golden retriever", "oak tree" -> "oak".
    while mods and sense >= 0:
        m2, h2 = _kind_head(mods)
        s2 = _visible_sense(h2)
        if s2 >= 0 and sense in lex.ancestors(s2):
            mods, head, sense = m2, h2, s2
        else:
            break
    if head in NON_SUBJECT_HEADS or not lex.can_be_subject(head):
        return Phrase(text, "", "", frozenset(), frozenset(), frozenset(), frozenset(), f"'{head}' is no subject")
    other, nouns, parts, implied = set(), set(), set(), set()
    animate = _descends(sense, _ANIMATE)
    vehicle = _descends(sense, _VEHICLE)
    if "_" in head:  # a compound's own words still carry attributes: "blue jeans" are not black jeans
        for w in head.split("_")[:-1]:
            c = _classify(w)
            if c is not None and c[0] in ("colour", "material", "age"):
                implied.add(c[:2])
    n_mods = len(_modifier_units(mods))
    for idx, w in enumerate(_modifier_units(mods) + _modifier_units(tail)):
        if w in _KIND_WORDS:
            kind.add(w)
            continue
        c = _classify(w)
        if c is None:
            other.add(w)
            continue
        name, value, is_hard = c
        if name in ("colour", "weather") and idx < n_mods and _thing_first(w):
            nouns.add(_lemma(w))  # "wine glasses", "snow globe": the thing's name may make a compound; when in doubt
        if name == "noun" and idx >= n_mods:
            parts.add(value)  # attached things: the cached side may have more, never fewer
        elif name == "noun":
            nouns.add(value)
        elif name == "material" and idx < n_mods and (animate or (vehicle and not _descends(
                lex.first_sense(value), _REAL_VEHICLE_MATERIAL))):
            kind.add(f"material:{value}")  # a wooden horse or a paper boat is a model, not the thing; a bride in a
            # lace gown is a bride (the lace is her gown's: a hard material below)
        elif name == "number" and value == "one":
            soft.add((name, value))  # singular is the default: "lone wolf" may be served by "wolf"
        elif is_hard:
            hard.add((name, value))
        else:
            soft.add((name, value))
    return Phrase(text, head, head, frozenset(hard), frozenset(soft), frozenset(other), frozenset(kind),
                  sense=sense, nouns=frozenset(nouns), parts=frozenset(parts), implied=frozenset(implied))


def _key(p: Phrase, sense: int) -> str:
    return f"s{sense}" if sense >= 0 else f"w:{p.head}"


def head_key(entity: str) -> str:
    """The key a request ``entity`` is looked up under ('' when it can never match): its kind's first visible
    WordNet sense ("s<id>"), or "w:<lemma>" for a word WordNet lacks."""
    p = analyse(entity)
    return "" if p.invalid else _key(p, p.sense)


def index_keys(entity: str) -> frozenset[str]:
    """Keys under which a cached ``entity`` can be found by rule: its kind's key, its readings (:func:`_readings`)
    and every hypernym of those. A request whose :func:`head_key` is in this set may agree with ``entity`` whatever the
    cosine, so a matcher that keeps a ``key -> cached entities`` map can fetch rule candidates without the
    vector index.
    """
    p = analyse(entity)
    if p.invalid:
        return frozenset()
    if p.sense < 0:
        return frozenset({_key(p, -1)})
    lex = _lex()
    senses = _readings(p.head)
    up = {f"s{a}" for s in senses for a in lex.ancestors(s)}
    return frozenset({_key(p, p.sense)} | {f"s{s}" for s in senses} | up)


# --------------------------------------------------------------------------------------------------
# Decision
# --------------------------------------------------------------------------------------------------


def _by_class(pairs) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for name, value in pairs:
        out.setdefault(name, set()).add(value)
    return out


def _visible_sense(word: str) -> int:
    """The first sense of ``word`` that is a visible thing ("table" the furniture, not the table of data that
    WordNet lists first): a prompt to a video model names what is shown. The first sense when none is."""
    lex = _lex()
    senses = lex.senses(word)
    return next((s for s in senses[:3] if lex.lexname(s) not in NON_VISUAL_LEXNAMES and not _figurative(s, senses)),
                senses[0] if senses else -1)


def _figurative(sense: int, senses: tuple[int, ...]) -> bool:
    """A person sense that is not its word's first: WordNet lists a word's person meaning first when that is what
    the word names ("cook", "pilot"); behind a thing or an idea it is a figure of speech ("a bear" the pessimistic
    investor, "nature's beauty" read as a beautiful woman, a "fan" as an enthusiast)."""
    return sense != senses[0] and _lex().lexname(sense) == "noun.person"


def _readings(word: str) -> list[int]:
    """The senses of ``word`` a cached entity may be read in: its first two, figurative person senses aside (the
    cached side only has to be *a* reading of its word: "cherry tomatoes" the fruit, WordNet's second sense)."""
    senses = _lex().senses(word)
    return [s for s in senses[:2] if not _figurative(s, senses)]


def _numbers(p: Phrase) -> set[str]:
    """The counts ``p`` states (one, two, few, many), plural aside."""
    return {v for n, v in p.hard | p.soft if n == "number" and v != "plural"}


def _numbers_agree(q: Phrase, c: Phrase) -> bool:
    """Stated counts must be equal; a plural is any count but one."""
    qn, cn = _numbers(q), _numbers(c)
    if qn and cn:
        return qn == cn
    plural_q, plural_c = ("number", "plural") in q.soft, ("number", "plural") in c.soft
    return not ((qn == {"one"} and plural_c) or (cn == {"one"} and plural_q))


def _is_act(word: str) -> bool:
    """An action or event noun ("pour of wine", "flight over"): in "X of Y" it names no thing."""
    lex = _lex()
    s = lex.first_sense(word)
    return s >= 0 and lex.lexname(s) in ("noun.act", "noun.event", "noun.process")


def _subkind(noun: str, p: Phrase) -> bool:
    """A noun modifier that narrows the kind rather than naming another thing: one of the same WordNet category as
    the head ("ribeye steak", "chicken noodle soup", "holstein cow", "desk lamp": food of food, animal of animal,
    artifact of artifact), so a request for the bare head may take it. Across categories the compound is named
    after something else and is another kind ("corn dog", "tree house", "cocktail umbrella", "snow globe")."""
    lex = _lex()
    s = lex.first_sense(noun)
    return s >= 0 and p.sense >= 0 and lex.lexname(s) == lex.lexname(p.sense)


def _head_relation(q: Phrase, c: Phrase) -> tuple[str, str]:
    """(code, detail): same_head / synonym / hypernym, or a refusal code."""
    lex = _lex()
    if q.head == c.head or _singular_word(q.head) == _singular_word(c.head):  # "boxers": shorts, or boxers
        return "same_head", f"same head {q.head}"
    if q.sense >= 0 and (q.sense == c.sense or (q.sense in lex.senses(c.head) and c.sense in lex.senses(q.head))):
        return "synonym", f"synonyms {q.head} = {c.head}"  # each word's first sense is a sense of the other
    second = (q.sense in lex.senses(c.head)[:2] and not lex.first_sense_attested(c.head)) or (
        c.sense in lex.senses(q.head)[:2] and not lex.first_sense_attested(q.head))
    if q.sense >= 0 and c.sense >= 0 and second and lex.lexname(q.sense) == lex.lexname(c.sense) \
            and "_" not in q.head + c.head:  # single words: a "panda" is not a "red panda"
        return "sense_synonym", f"synonyms {q.head} = {c.head} (second sense)"  # "bike" = "bicycle"
    if q.sense >= 0 and c.sense >= 0:
        # The request's first sense above one of the cached head's readings ("tomato" above "cherry tomato", whose
        # first WordNet sense is the plant); the cached side only has to be *a* reading of its word, but not a
        # figurative person ("person" is not above the bear of "an elephant and a bear", a pessimistic investor).
        if any(q.sense in lex.ancestors(s) for s in _readings(c.head)):
            return "hypernym", f"hypernym {q.head} > {c.head}"
        if any(c.sense in lex.ancestors(s) for s in lex.senses(q.head)[:2]):
            return "cached_more_general", f"cached {c.head!r} is more general than {q.head!r}"
    return "head_mismatch", f"heads {q.head!r} and {c.head!r} differ"


@functools.lru_cache(maxsize=65536)
def _relation(request: str, cached: str, unstated: frozenset[str]) -> tuple[str, str, str, float]:
    """Score-independent part of :func:`explain`: (code, kind or '', detail, cosine floor the pair needs)."""
    q, c = analyse(request), analyse(cached)
    if q.invalid:
        return "invalid", "", f"request entity {request!r}: {q.invalid}", 0.0
    if c.invalid:
        return "invalid", "", f"cached entity {cached!r}: {c.invalid}", 0.0
    if q.text == c.text:
        return "exact", "exact", "same entity", 0.0
    code, rel = _head_relation(q, c)
    if code not in ("same_head", "synonym", "hypernym", "sense_synonym"):
        return code, "", rel, 0.0
    kind = "same_head" if code == "same_head" else "synonym"
    toy = _descends(c.sense, (("plaything", 1),))  # "stuffed teddy bear" is still a teddy bear
    if q.kind != c.kind and not toy:
        return "kind_mismatch", "", f"kind markers {sorted(q.kind)} vs {sorted(c.kind)}", 0.0
    qa, ca = _by_class(q.hard | q.implied), _by_class(c.hard | c.implied)
    for name in sorted(qa.keys() & ca.keys()):
        if not qa[name] & ca[name]:
            return "conflict", "", f"{name} {sorted(qa[name])} vs {sorted(ca[name])}", 0.0
    if q.nouns != c.nouns and not (q.nouns < c.nouns and all(_subkind(n, c) for n in c.nouns - q.nouns)):
        return "kind_mismatch", "", f"compound {sorted(q.nouns)} {q.head} vs {sorted(c.nouns)} {c.head}", 0.0
    if not q.parts <= c.parts:
        return "unverified", "", f"request has {sorted(q.parts - c.parts)} the cached entity does not", 0.0
    if not _numbers_agree(q, c):  # "lone elephant" / "herd of elephants": a soft "one" still conflicts with many
        return "conflict", "", f"number {_numbers(q) or ['plural']} vs {_numbers(c) or ['plural']}", 0.0
    qh, ch = _by_class(q.hard), _by_class(c.hard)
    for name in sorted(qh.keys() & ch.keys()):
        if qh[name] != ch[name]:
            return "conflict", "", f"{name} {sorted(qh[name])} vs {sorted(ch[name])}", 0.0
    qs, cs = _by_class(q.soft), _by_class(c.soft)
    for name in sorted(qs.keys() & cs.keys()):
        a, b = qs[name] - cs[name], cs[name] - qs[name]
        if name == "mood":
            if any(frozenset({x, y}) in _MOOD_CONFLICTS for x in a for y in b):
                return "conflict", "", f"mood {sorted(qs[name])} vs {sorted(cs[name])}", 0.0
        elif a and b:
            return "conflict", "", f"{name} {sorted(qs[name])} vs {sorted(cs[name])}", 0.0
    # A stated count the cached entity does not state; its plural serves a request for many ("a herd of elephants"
    # <- "elephants").
    extra_hard = sorted(n for n in qh if n not in ch and not (n == "number" and qh[n] <= {"many", "few"}
                                                              and ("number", "plural") in c.soft))
    refused = [n for n in extra_hard if n in unstated or n == "container"]
    if refused:
        stated = ", ".join(f"{n} {sorted(qh[n])}" for n in refused)
        return "unverified", "", f"request states {stated} the cached entity does not", 0.0
    q_only = (q.other - c.other) | set(extra_hard)
    c_only = (c.other - q.other) | (ch.keys() - qh.keys())
    if q_only and c_only:
        return "diverging", "", f"request adds {sorted(q_only)}, cached adds {sorted(c_only)}", 0.0
    if q.other - c.other:  # when in doubt, miss: "unlit candle", "dormant volcano" may look unlike the cached one
        return "unverified", "", f"request states {sorted(q.other - c.other)} the cached entity does not", 0.0
    floor = SENSE_FLOOR if code == "sense_synonym" else VETO_FLOOR if q.head != c.head else SEARCH_FLOOR
    if q_only or not q.soft <= c.soft:
        return kind, kind, f"{rel}; request more specific", -1.0  # -1: the cache's threshold
    return kind, kind, f"{rel}; request less specific" if (c.hard or c.other or c.soft) else rel, floor


def explain(request_entity: str, cached_entity: str, score: float, threshold: float, *,
            unstated: frozenset[str] = UNSTATED_REFUSED) -> Verdict:
    """The decision for one (request entity, cached entity, cosine) with its reason (see the module docs).

    ``unstated``: the attribute classes a request may not state when the cached entity does not (default
    :data:`UNSTATED_REFUSED`); a class left out is treated like an unclassified extra word (cosine >= threshold).
    """
    for name, value in (("request_entity", request_entity), ("cached_entity", cached_entity)):
        if not isinstance(value, str):
            raise TypeError(f"agreement.explain: {name} must be a str, got {type(value).__name__} ({value!r:.80}).\n"
                            "HINT: pass the entity strings the extractor returned.")
    code, kind, detail, floor = _relation(request_entity, cached_entity, frozenset(unstated))
    if not kind:
        return Verdict(None, code, detail)
    need = threshold if floor < 0 else floor
    if not score >= need:  # a NaN cosine never passes
        code = "below_threshold" if floor < 0 else "vetoed"
        return Verdict(None, code, f"{detail}, cosine {score:.3f} < {need:.3f}")
    return Verdict(Decision(kind=kind, rank=KINDS[kind], score=float(score), reason=detail), kind, detail)


def decide(request_entity: str, cached_entity: str, score: float, threshold: float, *,
           unstated: frozenset[str] = UNSTATED_REFUSED) -> Decision | None:
    """A :class:`Decision` when ``cached_entity`` may serve ``request_entity``, None to refuse.

    ``score`` is their cosine, ``threshold`` the cache's hit threshold (it gates requests more specific than the
    cached entity; :data:`VETO_FLOOR` gates a hypernym, the embedder's veto). Deterministic and memoised;
    :func:`explain` gives the refusal reason.
    """
    return explain(request_entity, cached_entity, score, threshold, unstated=unstated).decision


def _either_way(a: str, b: str, score: float, threshold: float) -> bool:
    """Whether the rule accepts ``b`` serving ``a`` or ``a`` serving ``b`` (one is the other or a kind of it)."""
    return decide(a, b, score, threshold) is not None or decide(b, a, score, threshold) is not None


def action_conflict(subject: str, objects, cached, matched: str, threshold: float) -> str:
    """Why the cached prompt cannot show what the request's ``subject`` does ('' when it can).

    ``objects``: (entity, unit vector) pairs, what the subject acts on in the request (the direct objects of its
    verbs and the living beings they reach through a preposition, :attr:`chai.cache.entities.Entities.acts_on`:
    "a girl brushing a chestnut horse", "a surgeon operating on a horse"); ``cached``: the
    cached prompt's entities as (entity, unit vector) pairs; ``matched``: the cached entity that serves the
    subject (never its own counterpart). The pair stands when any object has a counterpart among the others: an
    entity the rule accepts either way, one of the same kind without a conflict ("log" / "thick log", not "green
    tractor" / "red tractor"), or another phrase at :data:`ACTION_FLOOR` or more. The same girl feeding a goat,
    the same snake lying on a rock, do not serve her brushing a horse or it shedding its skin: the video is of
    the act. A request that states no act is served by any cached one (it is less specific).
    """
    objects = [(o, v) for o, v in objects if o != subject]
    if not objects:
        return ""
    nearest, clash = (-2.0, ""), ""
    for obj, ov in objects:
        q = analyse(obj)
        for ent, cv in cached:
            if ent == matched:
                continue
            score = float(np.dot(ov, cv))
            if _either_way(obj, ent, score, threshold):
                return ""
            if not q.invalid and q.head == analyse(ent).head:
                verdict = explain(obj, ent, score, threshold)
                if verdict.code not in ("conflict", "kind_mismatch", "invalid"):
                    return ""
                clash = clash or f"{ent!r}: {verdict.detail}"
            elif score >= ACTION_FLOOR:
                return ""
            else:
                nearest = max(nearest, (score, ent))
    said = ", ".join(repr(o) for o, _ in objects)
    why = [f"nearest {nearest[1]!r} at cosine {nearest[0]:.2f} < {ACTION_FLOOR:.2f}"] if nearest[1] else []
    why += [clash] if clash else []
    return (f"act: the request's {subject!r} acts on {said}; the cached prompt shows nothing like it"
            + (f" ({'; '.join(why)})" if why else ""))


def scene_conflict(subject: str, request, cached, matched: str, threshold: float) -> str:
    """Why the scene of the cached prompt contradicts the request's ('' when it does not).

    ``request`` and ``cached``: the two prompts' entities as (entity, unit vector) pairs; ``subject`` and
    ``matched``: the accepted pair, left out. A natural thing or place (WordNet's ``noun.object`` and
    ``noun.location``: a canyon, a beach, a mountain) named on both sides by the same head must not be described
    in ways that conflict or diverge (each side adding its own words): "a river glinting at the bottom of a deep
    red desert canyon" is not served by "a frozen river at the bottom of a snow-covered alpine canyon", whatever
    the rivers say. A scene one side states and the other does not is no conflict (the request may be less
    specific, and a background the request leaves open is free).
    """
    scenes = [(e, v, analyse(e)) for e, v in cached if e != matched]
    for ent, vec in request:
        if ent == subject or not _scene(ent):
            continue
        q = analyse(ent)
        for other, ov, c in scenes:
            if c.invalid or c.head != q.head:
                continue
            score = float(np.dot(vec, ov))
            if _either_way(ent, other, score, threshold):
                continue
            verdict = explain(ent, other, score, threshold)
            if verdict.code in ("conflict", "diverging"):
                return f"scene: the request's {ent!r} is not the cached prompt's {other!r} ({verdict.detail})"
    if _scene(subject):  # a natural subject's named place is its look: a glacier in Greenland, not in Patagonia
        here = [(e, v) for e, v in request if e != subject and _location(e)]
        there = [(e, v) for e, v, c in scenes if _location(e)]
        if here and there and not any(analyse(e).head == analyse(o).head or _either_way(e, o, float(np.dot(v, ov)),
                                                                                       threshold)
                                      for e, v in here for o, ov in there):
            return (f"scene: the request's {subject!r} is in {', '.join(repr(e) for e, _ in here)}, the cached "
                    f"prompt's in {', '.join(repr(o) for o, _ in there)}")
    return ""


def _filed_as(entity: str) -> str:
    """The lexicographer file of the entity's kind ('' for an invalid entity or an unknown word)."""
    p = analyse(entity)
    return _lex().lexname(p.sense) if not p.invalid and p.sense >= 0 else ""


def _location(entity: str) -> bool:
    """A place WordNet files as one (``noun.location``: a country, a region, a city: "greenland", "patagonia")."""
    return _filed_as(entity) == "noun.location"


def _scene(entity: str) -> bool:
    """A natural thing or place (:data:`~chai.cache.entities.SCENE_LEXNAMES`), the kind :func:`scene_conflict`
    compares."""
    return _filed_as(entity) in SCENE_LEXNAMES


def context_conflict(subject: str, request, acts, cached, matched: str, threshold: float) -> str:
    """:func:`action_conflict` on what ``subject`` acts on (``acts``: entity strings of ``request``), then
    :func:`scene_conflict`; the first reason found, or ''. ``request`` and ``cached`` are (entity, unit vector)
    pairs of the two prompts; ``cached`` may be a callable returning them, called only when there is something to
    check (a matcher reads them back from its index)."""
    wanted = set(acts)
    objects = [(e, v) for e, v in request if e in wanted]
    if not objects and not any(e != subject and _scene(e) for e, _ in request):
        return ""
    cached = list(cached() if callable(cached) else cached)
    return (action_conflict(subject, objects, cached, matched, threshold)
            or scene_conflict(subject, request, cached, matched, threshold))
