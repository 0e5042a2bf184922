"""The lexicon builder on a tiny WordNet written here, and the shipped lexicon against WordNet facts."""

from __future__ import annotations

import gzip
import json

import pytest

from research.lexicon import build_lexicon as bl


def _write_wordnet(root):
    """Five noun synsets (entity > animal > dog; entity > "dog" the andiron, an artifact > a corn dog), one adjective,
    CRLF line ends as in the sdist."""
    nouns = [
        "00000001 03 n 01 entity 0 000 | that which exists",
        "00000002 05 n 01 animal 0 001 @ 00000001 n 0000 | a living organism",
        "00000003 05 n 02 dog 0 domestic_dog 0 001 @ 00000002 n 0000 | a canine",
        "00000004 06 n 02 frank 0 dog 0 001 @ 00000001 n 0000 | an andiron; \"the dog by the fire\"",
        "00000005 06 n 02 corn_dog 0 corndog 0 001 @ 00000004 n 0000 | another artifact",
    ]
    index = [
        "entity n 1 0 1 0 00000001",
        "animal n 1 1 @ 1 0 00000002",
        "dog n 2 1 @ 2 0 00000004 00000003",  # WordNet order: the artifact first, neither tagged
        "domestic_dog n 1 1 @ 1 0 00000003",
        "frank n 1 1 @ 1 0 00000004",
        "corn_dog n 1 1 @ 1 0 00000005",
        "corndog n 1 1 @ 1 0 00000005",
    ]
    files = {
        "data.noun": nouns, "index.noun": index,
        "data.adj": ["00000010 00 a 01 canine 0 001 \\ 00000003 n 0101 | of dogs"],
        "index.adj": ["canine a 1 1 \\ 1 0 00000010"],
        "index.sense": ["dog%1:05:00:: 00000003 1 0", "dog%1:06:00:: 00000004 2 0"],
        "noun.exc": ["dogs dog"],
        "lexnames": ["03\tnoun.Tops\t1", "05\tnoun.animal\t1", "06\tnoun.artifact\t1"],
    }
    for name, lines in files.items():
        (root / name).write_bytes("\r\n".join(lines).encode() + b"\r\n")


def test_builder_reads_wordnet_files_and_orders_untagged_senses(tmp_path):
    pytest.importorskip("matplotlib")
    _write_wordnet(tmp_path)
    data = bl.build(tmp_path)
    names = {tuple(bl._parse_data(tmp_path / "data.noun")[o][1]): i
             for i, o in enumerate(sorted(bl._parse_data(tmp_path / "data.noun")))}
    dog_animal, frank = names[("dog", "domestic_dog")], names[("frank", "dog")]
    assert data["lemmas"]["dog"] == [dog_animal, frank]  # no frequency evidence: the animal before the artifact
    assert data["synsets"][dog_animal][1] == [names[("animal",)]]
    assert data["pertainyms"]["canine"] == ["dog"]  # pointer 0101: word 1 to word 1
    assert data["noun_exceptions"] == {"dogs": "dog"} and data["adjectives"] == {"canine": 1}
    assert data["frequency_ranked"] == []
    # "dog": an animal and an artifact, so its senses get texts (first hypernym, the definition without examples)
    assert data["sense_texts"] == {str(dog_animal): "an animal: a canine", str(frank): "an entity: an andiron"}
    path = bl.write(data, tmp_path / "out", tmp_path)
    assert json.loads(gzip.decompress(path.read_bytes())) == data


def test_colour_names_map_to_basic_terms():
    pytest.importorskip("matplotlib")
    table = bl.colour_table()
    assert {table[w] for w in ("red", "crimson", "scarlet")} == {"red"}
    assert table["navy"] == "blue" and table["mint"] == "green" and table["charcoal"] == "grey"
    assert set(table.values()) <= set(bl.BASIC_COLOURS)


def test_shipped_lexicon_knows_the_visual_vocabulary():
    from chai.cache.lexicon import lexicon

    lex = lexicon()
    dog, corn_dog = lex.first_sense("dog"), lex.first_sense("corn_dog")
    assert lex.lexname(dog) == "noun.animal" and dog not in lex.ancestors(corn_dog)
    assert lex.first_sense("golden_retriever") != dog and dog in lex.ancestors(lex.first_sense("golden_retriever"))
    assert lex.noun_lemma("mice") == "mouse" and lex.noun_lemma("geese") == "goose"
    assert lex.in_class("herd", "group") and lex.in_class("bowl", "container") and lex.in_class("silk", "material")
    assert not lex.can_be_subject("sunset") and not lex.can_be_subject("left") and lex.can_be_subject("ring")
    assert lex.colour("coral") == "red" and lex.colour("salmon") == "pink" and not lex.colour("tiger")
