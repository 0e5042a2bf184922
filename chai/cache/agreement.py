"""Entity agreement: may a cached entity serve a requested one? A rule on the phrases, not only their vectors.

A hit reuses a stored latent, so a wrong hit puts the wrong subject or the wrong colour into a video. The
embedder alone cannot tell `purple car` from `purple bicycle` (cosine 0.76), `sunrise` from `sunset` (0.73) or
two emoji (1.0: MiniLM maps every unknown symbol to one token), and it misses right matches such as `car` ->
`red vintage car` (0.56). :func:`decide` judges one (request entity, cached entity) pair from the phrases
themselves; the cosine only gates the riskier direction. The matcher calls it for every candidate the vector
index returns at or above :data:`SEARCH_FLOOR`.

Each entity is read as modifiers + head noun (the extractors put the head last and lemmatise it; a
prepositional tail, "cup of coffee", is read as modifiers of the word before it). Then, in order:

1. **Valid phrases.** Both entities need a word with a letter, no word over :data:`MAX_WORD_CHARS`, and a head
   that is a subject (not a framing, time or layout word such as `time`, `backdrop`, `corner`, `reflection`).
2. **Heads agree**: the same lemma (plural, British spelling and a trailing hypernym folded: `golden retriever
   dog` is read as `golden retriever`), a synonym (`bike` / `bicycle`) or a hypernym of the cached head
   (`dog` -> `golden retriever`: any retriever serves a request for a dog). The other way (`golden retriever`
   -> cached `dog`) is refused: the cached dog may be any breed. Synonyms and hypernyms come from the curated
   tables below, not from WordNet (see docs/matching.md): WordNet's first senses are often not the visual
   ones (`crane`, `bat`, `mouse`), its hypernym chains put `sunrise` and `sunset` under one parent, and its only
   pip-packaged copies are third-party re-uploads; a table of a few hundred words is auditable and exact.
   Lexicalised compounds are one head: `teddy bear`, `sea lion`, `red panda`, `iron man`, `cable car` never
   agree with `bear`, `lion`, `panda`, `man`, `car`. Parts, containers and scenes have their own heads
   (`toilet` / `bathroom`, `ski` / `ski slope`, `forest` / `forest road`, `fire` / `firework`), so they
   never agree with the object.
3. **Same kind of thing**: markers that make a different kind of object (`toy`, `robot`, `origami`, `statue`,
   `lego`; any material on an animal or person: `wooden horse`, `rubber duck`; unreal materials on a vehicle:
   `paper boat`) must be equal on both sides.
4. **No conflict**: per attribute class (colour, number, material, pattern, age / era, setting, weather /
   season, size, shade), values stated on both sides must be equal (`pink chair` / `purple chair` refuse).
5. **Direction.** A request *less specific* than the cached entity hits it at any cosine the index returns
   (`car` -> `red vintage car`). A request *more specific* than the cached entity (`bengal tiger` -> `tiger`)
   hits only when the cosine reaches the threshold and the extra words are not in a class a latent must show
   concretely: a colour, material, pattern, number, age / era, setting or weather the cached string does not
   state is refused (`red car` -> `car`: the cached car has some colour, and nothing says it is red). Mood and
   size words (`hungry`, `large`) and unclassified words (`bengal`) may be extra. Requests and cached
   entities that each add something the other lacks (`vintage red car` / `classic vintage car`,
   `electric guitar` / `acoustic guitar`) are refused.

:func:`decide` returns a :class:`Decision` (``kind`` exact / same_head / synonym, ``rank`` higher is better) or
None; :func:`explain` returns the reason either way. Everything is pure Python over memoised phrase parses:
deterministic, no model, no network.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from chai.cache.entities import MAX_WORD_CHARS, is_subject
from chai.cache.entities import _singular as _singular_word

__all__ = [
    "KINDS",
    "MAX_WORD_CHARS",
    "REFUSALS",
    "SEARCH_FLOOR",
    "UNSTATED_REFUSED",
    "Decision",
    "Phrase",
    "Verdict",
    "analyse",
    "decide",
    "explain",
    "head_key",
    "index_keys",
]

#: The lowest cosine at which the matcher must still fetch candidates: a request less specific than a cached
#: entity, or a hypernym of its head, is accepted by rule at any cosine, and such pairs score low with MiniLM
#: (`car` / `classic vintage car` 0.51, `person` / `old man` 0.40, `house` / `wooden cabin` 0.36). Below the floor a
#: pair is a miss (`fish` / `koi` 0.27, `ship` / `galleon` 0.21 in the labelled set); a matcher that also looks
#: rule candidates up by :func:`index_keys` finds those too.
SEARCH_FLOOR: float = 0.30

#: Attribute classes of the request that the cached entity must state too: a request `red car` is not served by a
#: cached `car` (its colour is unknown and shows in the latent). All hard classes: colour, number, material,
#: pattern, age (and era), setting, weather (and season, time of day). See docs/matching.md for the trade-off.
UNSTATED_REFUSED: frozenset[str] = frozenset({"colour", "number", "material", "pattern", "age", "setting", "weather"})

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
# Lexicon (curated; see docs/matching.md for the sources and the reasons)
# --------------------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


def _groups(spec: dict[str, str]) -> dict[str, str]:
    """{"value": "word word ..."} -> {word: value}."""
    return {w: value for value, words in spec.items() for w in words.split()}


# Attribute classes. HARD classes must be shown concretely by a latent: stated by the request only -> refused.
_COLOUR = _groups({
    "red": "red crimson scarlet maroon auburn burgundy ruby-red cherry-red",
    "orange": "orange amber ginger tangerine",
    "yellow": "yellow lemon-yellow mustard",
    "green": "green emerald lime-green olive-green",
    "blue": "blue navy azure cobalt indigo sky-blue royal-blue",
    "teal": "teal turquoise cyan aqua",
    "purple": "purple violet lilac mauve lavender-colored plum",
    "pink": "pink magenta fuchsia rose-colored",
    "brown": "brown chocolate-brown chestnut bronze-colored",
    "black": "black jet-black ebony",
    "white": "white snow-white ivory cream-colored",
    "gray": "gray grey silvery ash-gray",
    "silver": "silver",
    "gold": "gold golden gilded",
    "beige": "beige tan khaki",
    "blond": "blond blonde",
    "multi": "colorful colourful multicolored multicoloured multi-colored rainbow rainbow-colored",
})
_NUMBER = _groups({
    "one": "lone single solitary one alone",
    "two": "two twin twins pair double couple",
    "few": "three four five few several handful",
    "many": "many multiple numerous dozen dozens hundred hundreds thousand thousands countless",
})
_MATERIAL = _groups({
    "wood": "wooden wood timber oak-wood bamboo",
    "stone": "stone rock granite",
    "marble": "marble",
    "metal": "metal metallic steel iron aluminum aluminium tin chrome",
    "bronze": "bronze brass copper",
    "glass": "glass",
    "crystal": "crystal",
    "plastic": "plastic",
    "paper": "paper cardboard",
    "ceramic": "ceramic porcelain clay terracotta",
    "leather": "leather",
    "fabric": "wool woolen woollen knitted knit cotton silk velvet denim felt",
    "rubber": "rubber",
    "brick": "brick",
    "concrete": "concrete",
    "straw": "straw wicker",
    "wax": "wax",
    "sand": "sand",
    "ice": "ice",
})
#: Materials a real vehicle is never made of: on a vehicle they make a model or a toy (`paper boat`).
_UNREAL_FOR_VEHICLE = frozenset({"stone", "marble", "glass", "crystal", "paper", "ceramic", "fabric", "wax",
                                 "straw", "brick", "concrete", "plastic", "rubber", "sand", "ice"})
_PATTERN = _groups({
    "striped": "striped stripy stripes pinstriped zebra-striped",
    "spotted": "spotted spotty dotted polka-dot polka-dotted speckled dappled",
    "checked": "checkered chequered checked plaid tartan gingham",
    "floral": "floral flowery",
    "camouflage": "camouflage camo",
    "paisley": "paisley",
})
_AGE = _groups({
    "young": "young baby newborn juvenile teenage teen youthful infant",
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
    "big": "big large huge giant gigantic enormous massive colossal towering oversized",
    "small": "small little tiny mini petite",
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

_HARD_CLASSES: dict[str, dict[str, str]] = {"colour": _COLOUR, "number": _NUMBER, "material": _MATERIAL,
                                             "pattern": _PATTERN, "age": _AGE, "setting": _SETTING,
                                             "weather": _WEATHER}
_SOFT_CLASSES: dict[str, dict[str, str]] = {"size": _SIZE, "shade": _SHADE, "mood": _MOOD}

#: Modifiers that make a different kind of thing on any head: a `toy car` is not a car, a `robot dog` not a dog.
_KIND_WORDS = frozenset(_words(
    "toy toys teddy stuffed plush plushie origami lego legos papier-mache paper-mache plasticine claymation "
    "gingerbread chocolate candy gummy marzipan balloon inflatable robot robotic mechanical clockwork wind-up "
    "animatronic cyborg android statue sculpture sculpted carved figurine miniature model cartoon cartoonish "
    "animated pixel pixelated voxel hologram holographic ghost ghostly skeleton skeletal zombie undead fake "
    "artificial carousel puppet doll drawing painted stained-glass mannequin"
))

# Synonym groups: every word maps to the group's first word (the canonical head).
_SYNONYM_GROUPS = [
    "car automobile auto motorcar", "bicycle bike pushbike", "motorcycle motorbike", "airplane plane aeroplane",
    "sea ocean", "spaceship spacecraft starship", "airship zeppelin blimp dirigible", "rabbit bunny",
    "child kid", "puppy pup", "kitten kitty", "astronaut cosmonaut spaceman", "firefighter fireman",
    "police_officer policeman policewoman cop", "chef cook", "woman lady", "man guy gentleman",
    "person human individual", "grandmother grandma granny", "grandfather grandpa granddad",
    "mother mom mum", "father dad", "television tv", "sofa couch settee", "forest woods woodland",
    "jungle rainforest", "creek brook stream", "sunset sundown setting_sun", "sunrise daybreak rising_sun", "dusk twilight",
    "night nighttime", "path pathway footpath trail", "truck lorry", "taxi cab taxicab", "hamburger burger",
    "french_fries fries", "phone telephone", "smartphone cellphone", "elevator lift",
    "railway railroad", "subway metro", "autumn fall", "fortress citadel stronghold",
    "seashore shore shoreline", "kangaroo roo", "hippopotamus hippo", "rhinoceros rhino",
    "orca killer_whale", "spider_man spiderman", "skyscraper high-rise", "lamp lampshade",
    "new_york_city nyc new_york", "los_angeles la", "san_francisco sf", "firework firework_display fireworks_display",
]
# Hypernyms: child -> parent. A request naming the parent may hit a cached child, never the reverse.
_HYPERNYMS_SPEC: dict[str, str] = {
    "animal": "dog cat horse cattle cow pig sheep goat bird fish bear tiger lion leopard cheetah jaguar wolf fox "
              "deer rabbit squirrel mouse rat hamster monkey ape elephant giraffe zebra hippopotamus rhinoceros "
              "camel llama alpaca kangaroo koala panda red_panda sloth hedgehog meerkat quokka otter beaver raccoon "
              "bat whale dolphin seal sea_lion walrus turtle tortoise snake lizard crocodile alligator frog toad "
              "insect spider scorpion crab lobster octopus squid jellyfish snail dinosaur dragon unicorn reptile",
    "dog": "puppy retriever labrador poodle corgi husky beagle dachshund bulldog terrier german_shepherd chihuahua "
           "dalmatian spaniel pug collie greyhound rottweiler pitbull doberman shiba_inu samoyed schnauzer mastiff "
           "hound sheepdog malamute",
    "cat": "kitten tabby tomcat",
    "bird": "pigeon dove sparrow eagle hawk falcon owl parrot hummingbird crow raven robin seagull gull swan duck "
            "goose chicken hen rooster turkey flamingo penguin peacock toucan pelican heron stork ostrich emu "
            "kingfisher woodpecker finch canary magpie vulture condor albatross puffin macaw cockatoo parakeet",
    "parrot": "macaw cockatoo parakeet budgie",
    "fish": "goldfish koi salmon trout tuna clownfish carp catfish swordfish pufferfish angelfish piranha",
    "horse": "pony stallion mare foal colt",
    "cattle": "cow bull ox calf",
    "pig": "piglet hog",
    "sheep": "lamb",
    "bear": "grizzly polar_bear",
    "ape": "gorilla chimpanzee chimp orangutan bonobo",
    "monkey": "macaque baboon capuchin",
    "deer": "stag fawn reindeer",
    "whale": "orca humpback beluga narwhal",
    "snake": "cobra python viper rattlesnake anaconda boa",
    "lizard": "gecko iguana chameleon",
    "insect": "butterfly moth bee bumblebee honeybee wasp ant beetle ladybug ladybird dragonfly firefly "
              "grasshopper mosquito caterpillar mantis cicada",
    "bee": "bumblebee honeybee",
    "spider": "tarantula",
    "dinosaur": "t-rex tyrannosaurus triceratops stegosaurus velociraptor brontosaurus diplodocus pterodactyl",
    "person": "man woman child teenager adult",
    "child": "boy girl toddler",
    "warrior": "samurai knight viking gladiator ninja",
    "musician": "guitarist violinist pianist drummer cellist singer",
    "dancer": "ballerina",
    "vehicle": "car truck bus van motorcycle bicycle tram train tractor scooter",
    "car": "sedan convertible coupe hatchback suv limousine limo taxi roadster racecar supercar jeep",
    "truck": "pickup",
    "boat": "sailboat canoe kayak yacht rowboat speedboat houseboat tugboat lifeboat dinghy catamaran",
    "ship": "steamship battleship warship galleon frigate",
    "aircraft": "airplane helicopter glider airship",
    "airplane": "jet airliner biplane seaplane",
    "building": "house skyscraper cathedral church temple castle palace mansion cottage cabin barn warehouse "
                "factory mosque pagoda hut",
    "house": "cottage cabin bungalow mansion villa farmhouse chalet hut townhouse",
    "church": "cathedral chapel basilica",
    "road": "highway freeway motorway",
    "field": "meadow pasture",
    "flower": "rose tulip daisy sunflower lily orchid lotus poppy dandelion peony hibiscus daffodil marigold "
              "blossom",
    "tree": "oak pine palm willow birch maple redwood sequoia baobab bonsai fir spruce cedar cypress elm banyan "
            "acacia eucalyptus aspen",
    "instrument": "guitar piano violin cello drum flute saxophone trumpet harp accordion mandolin banjo ukulele "
                  "organ harmonica",
    "computer": "laptop",
    "phone": "smartphone",
    "robot": "droid android",
    "toy": "teddy_bear doll puppet",
}
# Lexicalised compounds (one head): "modifier + head" names a different thing than the head alone.
# Value: the compound's parent in the hypernym table, or "" for none.
_COMPOUNDS: dict[str, str] = {
    "teddy bear": "", "polar bear": "bear", "water bear": "", "gummy bear": "", "red panda": "", "sea lion": "",
    "mountain lion": "", "sea horse": "", "seahorse": "", "snow leopard": "", "killer whale": "whale",
    "hot dog": "", "guinea pig": "", "iron man": "", "tin man": "", "spider man": "", "bat man": "",
    "snow man": "", "sand man": "", "pac man": "", "straw man": "", "gingerbread man": "", "black widow": "",
    "hot air balloon": "aircraft", "weather balloon": "", "ferris wheel": "", "roller coaster": "",
    "cable car": "", "subway car": "", "train car": "", "tram car": "", "railway car": "", "rail car": "",
    "street car": "", "traffic light": "", "street light": "", "christmas tree": "", "family tree": "",
    "komodo dragon": "lizard", "bearded dragon": "lizard", "sea star": "", "rock star": "", "movie star": "",
    "pop star": "", "film star": "", "shooting star": "", "baseball bat": "", "cricket bat": "",
    "computer mouse": "", "construction crane": "", "tower crane": "", "glass harmonica": "",
    "german shepherd": "dog", "shiba inu": "dog", "french fries": "", "ice cream": "", "hot chocolate": "",
    "dune buggy": "car", "dirt bike": "motorcycle", "fire truck": "truck", "fire engine": "truck",
    "police officer": "person", "space shuttle": "aircraft", "space station": "", "trojan horse": "",
    "rocking horse": "", "hobby horse": "", "dark horse": "", "horse fly": "insect", "fire ant": "insect",
    "dragon fruit": "", "star fruit": "", "sea urchin": "", "sea turtle": "turtle", "sea cucumber": "",
    "jelly fish": "", "cuttle fish": "", "new york city": "city", "new york": "city", "los angeles": "city",
    "san francisco": "city", "killer bee": "bee", "setting sun": "", "rising sun": "", "firework display": "",
    "fireworks display": "", "sand castle": "", "ice castle": "", "snow castle": "", "ice sculpture": "",
    "sand sculpture": "",
}

_PREPOSITIONS = frozenset(_words("of in on at with from under near by for inside beside above over behind"))
_DROP = frozenset(_words("a an the and or its their his her"))
_WORD_RE = re.compile(r"[^\s,;:!?()\[\]{}\"]+")
_SPELLING = {"colour": "color", "grey": "gray", "aeroplane": "airplane", "jewellery": "jewelry", "tyre": "tire",
             "theatre": "theater", "centre": "center", "harbour": "harbor", "armour": "armor"}


def _build_tables():
    canon: dict[str, str] = {}
    for group in _SYNONYM_GROUPS:
        words = group.split()
        for w in words:
            canon[w] = words[0]
    parents: dict[str, set[str]] = {}
    for parent, children in _HYPERNYMS_SPEC.items():
        p = canon.get(parent, parent)
        for c in children.split():
            parents.setdefault(canon.get(c, c), set()).add(p)
    for compound, parent in _COMPOUNDS.items():
        key = canon.get(compound.replace(" ", "_"), compound.replace(" ", "_"))
        if parent:
            parents.setdefault(key, set()).add(canon.get(parent, parent))
    # Transitive closure (the table is small and acyclic).
    closure: dict[str, frozenset[str]] = {}

    def up(w: str, seen: frozenset[str] = frozenset()) -> frozenset[str]:
        if w in closure:
            return closure[w]
        out: set[str] = set()
        for p in parents.get(w, ()):
            if p not in seen:
                out.add(p)
                out |= up(p, seen | {w})
        closure[w] = frozenset(out)
        return closure[w]

    for w in list(parents):
        up(w)
    return canon, closure


_CANON, _ANCESTORS = _build_tables()
_ANIMATE = frozenset(w for w, anc in _ANCESTORS.items() if anc & {"animal", "person"}) | {"animal", "person"} | \
    frozenset(_words("surfer skateboarder snowboarder astronaut chef firefighter police_officer farmer dancer ballerina "
              "musician warrior samurai knight robot_pilot pilot sailor soldier doctor nurse teacher student artist "
              "painter sculptor magician juggler clown mime puppeteer beekeeper blacksmith lumberjack gondolier "
              "falconer wrestler boxer athlete runner swimmer climber hiker skier diver fisherman hunter monk "
              "priest king queen prince princess wizard witch fairy mermaid elf vampire"))
_VEHICLES = frozenset(w for w, anc in _ANCESTORS.items() if anc & {"vehicle", "boat", "ship", "aircraft"}) | \
    {"vehicle", "boat", "ship", "aircraft", "spaceship", "submarine", "rocket", "hovercraft", "rickshaw"}


def _singular(word: str) -> str:
    """The extractors' own singulariser, except for words the tables list as written ("woods" is not "wood")."""
    return word if word in _CANON or word in _ANCESTORS else _singular_word(word)


# --------------------------------------------------------------------------------------------------
# Phrase analysis (memoised)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phrase:
    """One entity read as modifiers + head. ``invalid`` is a reason string when the phrase can never match."""

    text: str  # normalised (lower-case, single spaces)
    head: str  # canonical head (synonyms folded; compounds joined with "_")
    raw_head: str  # head as written (singular), before synonym folding
    hard: frozenset  # (class, value) of hard attribute classes
    soft: frozenset  # (class, value) of soft attribute classes
    other: frozenset  # unclassified modifier words
    kind: frozenset  # kind-changing markers (see module docs, rule 3)
    invalid: str = ""


def _word_ok(w: str) -> str:
    """'' when ``w`` is a usable word, else the reason."""
    if not any(c.isalpha() for c in w):
        return "no letters"
    if any(len(part) > MAX_WORD_CHARS for part in re.split(r"[-']", w)):
        return f"word over {MAX_WORD_CHARS} characters"
    return ""


def _classify(word: str):
    """(class, value, hard?) for a modifier word, or None when unclassified."""
    for name, table in _HARD_CLASSES.items():
        v = table.get(word)
        if v is not None:
            return name, v, True
    for name, table in _SOFT_CLASSES.items():
        v = table.get(word)
        if v is not None:
            return name, v, False
    return None


@functools.lru_cache(maxsize=65536)
def analyse(entity: str) -> Phrase:
    """Read ``entity`` as modifiers + head (memoised; see the module docs). Never raises on any string."""
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
    if bad or not words:
        return Phrase(text, "", "", frozenset(), frozenset(), frozenset(), frozenset(), bad or "no content word")
    written = " ".join(words)
    tail: list[str] = []
    for i, w in enumerate(words):
        if w in _PREPOSITIONS and 0 < i < len(words) - 1:  # "cup of coffee": head "cup", tail modifies it
            tail = [_singular(x) for x in words[i + 1:] if x not in _PREPOSITIONS]
            words = words[:i]
            break
    words = words[:-1] + [_singular(words[-1])]
    # The whole phrase ("golden hour" and "afternoon light" are framing, "northern lights" is not) and the part
    # before a preposition ("corner of a room") must pass the extractors' salience rules.
    if not is_subject(written) or (tail and not is_subject(" ".join(words))):
        return Phrase(text, "", "", frozenset(), frozenset(), frozenset(), frozenset(),
                      f"'{text}' is not a subject")
    # Lexicalised compounds at the end ("teddy bear", "hot air balloon") become one head.
    for n in (3, 2):
        if len(words) >= n and " ".join(words[-n:]) in _COMPOUNDS:
            words = words[:-n] + ["_".join(words[-n:])]
            break
    # A trailing hypernym is redundant: "golden retriever dog" -> "golden retriever", "oak tree" -> "oak".
    while len(words) >= 2:
        prev = _CANON.get(_singular(words[-2]), _singular(words[-2]))
        if _CANON.get(words[-1], words[-1]) in _ANCESTORS.get(prev, ()):
            words = words[:-2] + [_singular(words[-2])]
        else:
            break
    raw_head = words[-1]
    head = _CANON.get(raw_head, raw_head)
    hard, soft, other, kind = set(), set(), set(), set()
    animate, vehicle = head in _ANIMATE, head in _VEHICLES
    for w in words[:-1] + tail:
        if w in _KIND_WORDS:
            kind.add(w)
            continue
        c = _classify(w)
        if c is None:
            other.add(w)
            continue
        name, value, is_hard = c
        if name == "material" and (animate or (vehicle and value in _UNREAL_FOR_VEHICLE)):
            kind.add(f"material:{value}")  # a wooden horse or a paper boat is a model, not the thing
        elif name == "number" and value == "one":
            soft.add((name, value))  # singular is the default: "lone wolf" may be served by "wolf"
        elif is_hard:
            hard.add((name, value))
        else:
            soft.add((name, value))
    return Phrase(text, head, raw_head, frozenset(hard), frozenset(soft), frozenset(other), frozenset(kind))


def head_key(entity: str) -> str:
    """The canonical head of ``entity`` ('' when it can never match): a matcher may keep a head -> entities map."""
    p = analyse(entity)
    return "" if p.invalid else p.head


def index_keys(entity: str) -> frozenset[str]:
    """Heads under which a cached ``entity`` can be found by rule: its canonical head and every hypernym of it.

    A request whose :func:`head_key` is in this set may agree with ``entity`` whatever the cosine, so a matcher
    that keeps a ``key -> cached entities`` map can fetch rule candidates without the vector index.
    """
    p = analyse(entity)
    return frozenset() if p.invalid else frozenset({p.head}) | _ANCESTORS.get(p.head, frozenset())


# --------------------------------------------------------------------------------------------------
# Decision
# --------------------------------------------------------------------------------------------------


def _by_class(pairs) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for name, value in pairs:
        out.setdefault(name, set()).add(value)
    return out


@functools.lru_cache(maxsize=65536)
def _relation(request: str, cached: str, unstated: frozenset[str]) -> tuple[str, str, str, bool]:
    """Score-independent part of :func:`explain`: (code, kind or '', detail, needs_threshold)."""
    q, c = analyse(request), analyse(cached)
    if q.invalid:
        return "invalid", "", f"request entity {request!r}: {q.invalid}", False
    if c.invalid:
        return "invalid", "", f"cached entity {cached!r}: {c.invalid}", False
    if q.text == c.text:
        return "exact", "exact", "same entity", False
    if q.head == c.head:
        kind = "same_head" if q.raw_head == c.raw_head or _SPELLING.get(q.raw_head) == c.raw_head else "synonym"
        rel = f"same head {q.head}" if kind == "same_head" else f"synonyms {q.raw_head} = {c.raw_head}"
    elif q.head in _ANCESTORS.get(c.head, ()):
        kind, rel = "synonym", f"hypernym {q.raw_head} > {c.raw_head}"
    elif c.head in _ANCESTORS.get(q.head, ()):
        return "cached_more_general", "", f"cached {c.raw_head!r} is more general than {q.raw_head!r}", False
    else:
        return "head_mismatch", "", f"heads {q.raw_head!r} and {c.raw_head!r} differ", False
    toy = "toy" in _ANCESTORS.get(c.head, ()) or c.head == "toy"  # "stuffed teddy bear" is still a teddy bear
    if q.kind != c.kind and not toy:
        return "kind_mismatch", "", f"kind markers {sorted(q.kind)} vs {sorted(c.kind)}", False
    qh, ch = _by_class(q.hard), _by_class(c.hard)
    for name in sorted(qh.keys() & ch.keys()):
        if qh[name] != ch[name]:
            return "conflict", "", f"{name} {sorted(qh[name])} vs {sorted(ch[name])}", False
    qs, cs = _by_class(q.soft), _by_class(c.soft)
    for name in sorted(qs.keys() & cs.keys()):
        a, b = qs[name] - cs[name], cs[name] - qs[name]
        if name == "mood":
            if any(frozenset({x, y}) in _MOOD_CONFLICTS for x in a for y in b):
                return "conflict", "", f"mood {sorted(qs[name])} vs {sorted(cs[name])}", False
        elif a and b:
            return "conflict", "", f"{name} {sorted(qs[name])} vs {sorted(cs[name])}", False
    extra_hard = sorted(n for n in qh if n not in ch)
    refused = [n for n in extra_hard if n in unstated]
    if refused:
        return "unverified", "", f"request states {', '.join(refused)} the cached entity does not", False
    q_only = (q.other - c.other) | set(extra_hard)
    c_only = (c.other - q.other) | (ch.keys() - qh.keys())
    if q_only and c_only:
        return "diverging", "", f"request adds {sorted(q_only)}, cached adds {sorted(c_only)}", False
    if q_only or not q.soft <= c.soft:
        return kind, kind, f"{rel}; request more specific", True
    return kind, kind, f"{rel}; request less specific" if (c.hard or c.other or c.soft) else rel, False


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
    code, kind, detail, needs_threshold = _relation(request_entity, cached_entity, frozenset(unstated))
    if not kind:
        return Verdict(None, code, detail)
    if needs_threshold and not score >= threshold:  # a NaN cosine never passes
        return Verdict(None, "below_threshold", f"{detail}, cosine {score:.3f} < {threshold:.3f}")
    return Verdict(Decision(kind=kind, rank=KINDS[kind], score=float(score), reason=detail), kind, detail)


def decide(request_entity: str, cached_entity: str, score: float, threshold: float, *,
           unstated: frozenset[str] = UNSTATED_REFUSED) -> Decision | None:
    """A :class:`Decision` when ``cached_entity`` may serve ``request_entity``, None to refuse.

    ``score`` is their cosine, ``threshold`` the cache's hit threshold (it gates only requests more specific than
    the cached entity). Deterministic and memoised; :func:`explain` gives the refusal reason.
    """
    return explain(request_entity, cached_entity, score, threshold, unstated=unstated).decision
