"""Tenancy: entries are visible only inside their namespace, in memory and on disk."""

from __future__ import annotations

import shutil

import pytest
import torch

from chai.cache import BuiltinExtractor, HashingEmbedder, LatentCache

SHAPE = (1, 4, 3, 6, 7)
SECRET = "a tiger guarding the vault of Zorblax Industries"


def lats(seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(SHAPE, generator=g) + 0.1 for _ in range(3)]


def make(directory=None, namespace="default", **kw) -> LatentCache:
    return LatentCache(10_000_000, directory=directory, namespace=namespace, extractor=BuiltinExtractor(),
                       embedder=HashingEmbedder(64), **kw)


def test_in_memory_namespaces_are_separate():
    a, b = make(namespace="alice"), make(namespace="bob")
    a.insert(SECRET, lats(1))
    assert a.lookup("a tiger", shape=SHAPE).match is not None
    assert b.lookup("a tiger", shape=SHAPE).match is None and len(b) == 0
    assert a.stats()["namespace"] == "alice" and b.stats()["namespace"] == "bob"


def test_shared_directory_does_not_leak_prompts_or_latents(tmp_path):
    with make(tmp_path, "alice") as a, make(tmp_path, "bob") as b:
        eid = a.insert(SECRET, lats(1))
        b.insert("a tiger in a zoo", lats(2))
        mb = b.lookup("a tiger", shape=SHAPE).match
        assert mb.entry_id != eid and "Zorblax" not in mb.prompt
        assert b.lookup("zorblax industries", shape=SHAPE).match is None
        a_bytes = a.lookup("zorblax industries", shape=SHAPE).match.latents[0].to_bytes()
    # nothing of alice's is stored in bob's folder
    for p in (tmp_path / "bob").rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            assert b"Zorblax" not in data and a_bytes[56:200] not in data
    with make(tmp_path, "bob") as b2:
        assert len(b2) == 1 and b2.lookup("zorblax industries", shape=SHAPE).match is None


def test_planted_foreign_entry_is_dropped_not_served(tmp_path):
    with make(tmp_path, "alice") as a:
        eid = a.insert(SECRET, lats(1))
    with make(tmp_path, "bob"):
        pass
    # an attacker (or a bug) copies alice's entry file into bob's folder
    shutil.copy(tmp_path / "alice" / "entries" / f"{eid}.chce", tmp_path / "bob" / "entries" / f"{eid}.chce")
    with pytest.warns(RuntimeWarning, match="namespace 'alice'"):
        b = make(tmp_path, "bob")
    with b:
        assert len(b) == 0 and b.stats()["dropped"] == 1
        assert b.lookup("zorblax industries", shape=SHAPE).match is None
    with make(tmp_path, "alice") as a2:  # the owner's copy is untouched
        assert a2.lookup("zorblax industries", shape=SHAPE).match.entry_id == eid


@pytest.mark.parametrize("bad", ["", "..", "../bob", "a/b", ".hidden", "x" * 65, "sp ace"])
def test_namespace_names_cannot_escape(tmp_path, bad):
    with pytest.raises(ValueError, match="namespace"):
        make(tmp_path, bad)
