"""The matcher's lexicon: WordNet 3.0's nouns and the colour-survey names, read from a file in the wheel.

The agreement rule (:mod:`chai.cache.agreement`) and the extractor ask general questions of words instead of
consulting lists grown from one data set: is ``corn dog`` one lexicalised kind (a WordNet lemma) or a dog with a
modifier; is a ``dog`` (its first, most frequent sense) an ancestor of a ``golden retriever``; is ``herd`` a
collective, ``bowl`` a container, ``slice`` a portion, ``left`` a place word; is ``coral`` a colour and which basic
colour it is; is ``silk`` a material distinct from ``wool``; which visible senses of ``crane`` a prompt must choose
between, and what each one is (its hypernym and definition, :meth:`Lexicon.sense_text`).

Data: ``chai/data/lexicon/lexicon.json.gz`` (1.5 MB), built by ``research/lexicon/build_lexicon.py`` from
Princeton WordNet 3.0 (its licence beside it) and the xkcd / CSS4 colour names. Loaded once, lazily, on first
use (about 0.3 s); nothing is downloaded, ever.

Senses are WordNet's, in its frequency order; a word's *first* sense is the one a prompt most likely means, and
the rules use it where a choice must be made (``dog`` the animal, not the sausage ``frank``: so ``dog`` is not an
ancestor of ``corn dog``, whose parent is that sausage).
"""

from __future__ import annotations

import functools
import gzip
import json
import threading
from importlib import resources

__all__ = [
    "RELATIONAL_PLACES",
    "Lexicon",
    "lexicon",
]

_LOCK = threading.Lock()
_LEXICON: Lexicon | None = None

# Anchors in WordNet 3.0 (lemma, sense number): the classes the rules ask about are "has one of these among the
# ancestors of its first sense" (or, for the phrase readers, of one of its first two senses).
_ANCHORS = {
    "group": [("group", 1), ("gathering", 1), ("collection", 1), ("social_group", 1), ("biological_group", 1),
              ("animal_group", 1), ("arrangement", 2), ("line", 1), ("crowd", 1)],
    "container": [("container", 1), ("vessel", 3), ("tableware", 1), ("receptacle", 1)],
    "portion": [("portion", 1), ("piece", 1), ("helping", 1), ("slice", 2)],
    "material": [("material", 1), ("fabric", 1), ("metallic_element", 1), ("rock", 1), ("alloy", 1)],
    "clothing": [("clothing", 1), ("garment", 1), ("headdress", 1), ("footwear", 2), ("accessory", 1)],
    "geographic": [("geographical_area", 1), ("geological_formation", 1), ("district", 1), ("land", 1),
                   ("structure", 1), ("way", 6)],
    "measure": [("measure", 2), ("definite_quantity", 1), ("indefinite_quantity", 1), ("unit_of_measurement", 1),
                ("containerful", 1)],
    "weather": [("atmospheric_phenomenon", 1), ("weather", 1), ("precipitation", 3), ("cloud", 2)],
    "time_of_day": [("time_of_day", 1), ("time_period", 1), ("season", 2), ("calendar_day", 1), ("hour", 1)],
}
#: Spatial relational nouns: a closed grammatical class, like the prepositions they pair with ("at the edge of").
RELATIONAL_PLACES = frozenset({"left", "right", "top", "bottom", "middle", "center", "centre", "side", "front",
                               "back", "rear", "edge", "corner", "end", "tip", "inside", "interior", "outside",
                               "exterior", "outskirts", "surface", "heart", "midst", "periphery", "foreground",
                               "background", "backdrop", "distance", "vicinity", "near", "far"})

#: Lexicographer files of things one can hold, eat or meet: a word first of these is a subject whatever else it means.
CONCRETE_LEXNAMES = frozenset({"noun.animal", "noun.plant", "noun.food", "noun.artifact", "noun.object", "noun.body",
                               "noun.substance", "noun.person"})

#: Lexicographer files whose nouns are no visible thing: a head whose first sense lies here is no subject.
NON_VISUAL_LEXNAMES = frozenset({"noun.time", "noun.attribute", "noun.cognition",
                                 "noun.relation", "noun.state", "noun.feeling", "noun.motive", "noun.quantity",
                                 "noun.possession", "noun.shape"})


class Lexicon:
    """Read-only queries over the shipped lexicon (see the module docs). Thread-safe after construction."""

    def __init__(self, data: dict):
        if data.get("format") != 2:
            raise ValueError(f"chai lexicon: unknown format {data.get('format')!r}.\n"
                             "HINT: reinstall chai-video; the lexicon file does not match this version.")
        self._lexnames: list[str] = data["lexnames"]
        self._synsets: list[list] = data["synsets"]
        self._lemmas: dict[str, list[int]] = data["lemmas"]
        self._adjectives: dict[str, int] = data["adjectives"]  # adjective -> number of adjective senses
        self._pertainyms: dict[str, list[str]] = data["pertainyms"]
        self._exceptions: dict[str, str] = data["noun_exceptions"]
        self._ranked = frozenset(data["frequency_ranked"])
        self._sense_texts: dict[str, str] = data["sense_texts"]
        self.colours: dict[str, str] = data["colours"]
        self.basic_colours: tuple[str, ...] = tuple(data["basic_colours"])
        self.source: str = data["source"]
        self._anchors = {name: frozenset(self._sense(lemma, n) for lemma, n in pairs if self._sense(lemma, n) >= 0)
                         for name, pairs in _ANCHORS.items()}

    def _sense(self, lemma: str, n: int) -> int:
        senses = self._lemmas.get(lemma, [])
        return senses[n - 1] if len(senses) >= n else -1

    # -- words -------------------------------------------------------------------------------------------------
    def is_noun(self, word: str) -> bool:
        return word.replace(" ", "_") in self._lemmas

    def is_adjective(self, word: str) -> bool:
        return word in self._adjectives

    def mostly_noun(self, word: str) -> bool:
        """A noun with at least as many noun senses as adjective senses ("piano", "chocolate", "stone"; not
        "dark", "wild", "cold"): as a modifier it names a thing, making a compound."""
        n = len(self._lemmas.get(word, ()))
        return n > 0 and n >= self._adjectives.get(word, 0)

    def senses(self, lemma: str) -> tuple[int, ...]:
        """Noun senses of ``lemma`` (spaces or underscores), most frequent first; () when not a noun."""
        return tuple(self._lemmas.get(lemma.replace(" ", "_"), ()))

    def first_sense(self, lemma: str) -> int:
        s = self.senses(lemma)
        return s[0] if s else -1

    def lexname(self, synset: int) -> str:
        return self._lexnames[self._synsets[synset][0]]

    def sense_choices(self, lemma: str) -> tuple[int, ...]:
        """The senses of ``lemma`` a prompt's context must choose between: its first four senses of a visible kind
        (:data:`CONCRETE_LEXNAMES`) when they lie in two or more lexicographer files (``crane`` the wading bird and
        the lifting device, ``ruler`` the person and the measuring stick); () when they are all one kind of thing."""
        key = lemma.replace(" ", "_")
        seen = tuple(s for s in self._lemmas.get(key, ())[:4] if self.lexname(s) in CONCRETE_LEXNAMES)
        if len({self.lexname(s) for s in seen}) < 2 or not all(str(s) in self._sense_texts for s in seen):
            return ()
        return seen

    def sense_text(self, synset: int) -> str:
        """"a lifting device: lifts and moves heavy objects": the first hypernym and the definition of a sense
        :meth:`sense_choices` may return ('' for other senses)."""
        return self._sense_texts.get(str(synset), "")

    def first_sense_attested(self, lemma: str) -> bool:
        """True when WordNet ranks ``lemma``'s first sense by corpus frequency (SemCor tags); False when its sense
        order carries no such evidence ("bike": motorcycle first, bicycle second, neither tagged)."""
        return lemma.replace(" ", "_") in self._ranked

    @functools.lru_cache(maxsize=65536)  # noqa: B019 (one process-wide instance)
    def noun_lemma(self, word: str) -> str:
        """The WordNet base form of a noun ("mice" -> "mouse", "geese" -> "goose", "cats" -> "cat"); the word
        itself when it is a lemma already or unknown. A plural WordNet lists as a lemma of its own only for what
        cannot be shown reads as its singular where that is a visible thing: "shoes" (WordNet: a predicament, "in
        his shoes") is a shoe, "eyes" (an opinion) an eye, "legs" (staying power) a leg, "barrels" (a quantity)
        a barrel, "children" (WordNet's first: offspring of any age, a relation) a child."""
        if word in self._lemmas:
            own = self._lemmas[word][:3]
            if all(self.lexname(s) in NON_VISUAL_LEXNAMES for s in own):
                base = self._exceptions.get(word) or self._detach(word)
                if base and any(self.lexname(s) not in NON_VISUAL_LEXNAMES for s in self._lemmas[base][:3]):
                    return base
            return word
        return self._exceptions.get(word) or self._detach(word) or word

    def _detach(self, word: str) -> str:
        """The WordNet lemma a regular plural ending detaches to ("cats" -> "cat", "boxes" -> "box"), or ''."""
        for suffix, repl in (("ies", "y"), ("ves", "f"), ("ves", "fe"), ("ches", "ch"), ("shes", "sh"), ("xes", "x"),
                             ("ses", "s"), ("zes", "z"), ("oes", "o"), ("s", "")):
            if word.endswith(suffix) and len(word) > len(suffix) + 1:
                base = word[: -len(suffix)] + repl
                if base in self._lemmas and base != word:
                    return base
        return ""

    def pertainym_nouns(self, adjective: str) -> tuple[str, ...]:
        """Nouns an adjective pertains to or derives from ("wooden" -> wood..., "snowy" -> snow)."""
        return tuple(self._pertainyms.get(adjective, ()))

    # -- hierarchy ---------------------------------------------------------------------------------------------
    @functools.lru_cache(maxsize=65536)  # noqa: B019 (one process-wide instance)
    def ancestors(self, synset: int) -> frozenset[int]:
        """Every hypernym of ``synset`` (instance hypernyms included), transitively; not the synset itself."""
        out: set[int] = set()
        stack = list(self._synsets[synset][1])
        while stack:
            s = stack.pop()
            if s not in out:
                out.add(s)
                stack.extend(self._synsets[s][1])
        return frozenset(out)

    def in_class(self, word: str, name: str, *, senses: int = 1) -> bool:
        """True when one of the first ``senses`` senses of noun ``word`` is, or descends from, an anchor of class
        ``name`` (group, container, portion, material, clothing, geographic, measure, weather, time_of_day)."""
        anchors = self._anchors[name]
        for s in self.senses(word)[:senses]:
            if s in anchors or self.ancestors(s) & anchors:
                return True
        return False

    def is_visual(self, word: str) -> bool:
        """False when the first sense of noun ``word`` is no visible thing (a time, act, attribute, idea,
        quantity, ...): such a word never becomes a subject. Unknown words count as visual (names, coinages)."""
        s = self.first_sense(word)
        return s < 0 or self.lexname(s) not in NON_VISUAL_LEXNAMES

    def can_be_subject(self, word: str) -> bool:
        """Whether noun ``word`` can name what a video shows: not a time of day or season ("sunset", "night",
        "winter": lighting, not a subject), not a relative place ("left", "top"), and one of its first three senses
        a visible thing ("ring" the jewel, though its first sense is a sound). Unknown words can."""
        senses = self.senses(word)
        if not senses:
            return True
        concrete = self.lexname(senses[0]) in CONCRETE_LEXNAMES  # "watch" the timepiece, though also a shift
        if (self.in_class(word, "time_of_day", senses=3) and not concrete) or self.is_place_word(word):
            return False
        return any(self.lexname(s) not in NON_VISUAL_LEXNAMES for s in senses[:3])

    def compound_kind(self, compound: str, last: str) -> bool:
        """Whether the WordNet lemma ``compound`` ("paper_clip", "full_moon") is the kind of a phrase that ends in
        the noun ``last``: a lemma, and a possible subject wherever ``last`` is one. WordNet's only "full moon" is a
        phase of the moon, a time: the prompt's full moon is a moon, with "full" as its modifier."""
        return self.is_noun(compound) and (self.can_be_subject(compound) or not self.can_be_subject(last))

    def is_place_word(self, word: str) -> bool:
        """True when ``word`` names a place *in relation to* something ("the left of", "the middle of", "the edge
        of"): one of English's spatial relational nouns, a closed class (:data:`RELATIONAL_PLACES`). Places of
        their own ("city", "park", "playground", "skyline", a town "square") stay subjects."""
        return word in RELATIONAL_PLACES

    def colour(self, word: str) -> str:
        """The basic colour term of a colour name ("coral" -> "pink", "navy" -> "blue"), or ''."""
        return self.colours.get(word, "")


def lexicon() -> Lexicon:
    """The process-wide :class:`Lexicon` (loaded on first call)."""
    global _LEXICON
    if _LEXICON is None:
        with _LOCK:
            if _LEXICON is None:
                raw = resources.files("chai.data").joinpath("lexicon/lexicon.json.gz").read_bytes()
                _LEXICON = Lexicon(json.loads(gzip.decompress(raw)))
    return _LEXICON
