"""Thread safety: 8 threads of concurrent lookups and inserts under a budget that forces evictions."""

from __future__ import annotations

import random
import threading

import pytest
import torch

from chai.cache import BuiltinExtractor, HashingEmbedder, LatentCache
from chai_kernels import dequantize_latent

SHAPE = (1, 4, 2, 5, 6)
WORDS = ["tiger", "zebra", "camel", "horse", "otter", "eagle", "shark", "panda", "koala", "llama", "bison", "moose"]


def latents_for(word: str) -> list[torch.Tensor]:
    """Latents derived from the word, so a served entry can be checked against what was inserted for it."""
    g = torch.Generator().manual_seed(WORDS.index(word) + 1)
    return [torch.randn(SHAPE, generator=g) + 0.1 for _ in range(3)]


@pytest.mark.parametrize("directory", [False, True])
def test_eight_threads_with_evictions(tmp_path, directory):
    probe = LatentCache(1 << 30, extractor=BuiltinExtractor(), embedder=HashingEmbedder(64))
    per = probe.entry_nbytes(probe.insert("a tiger", latents_for("tiger")))
    cache = LatentCache(int(4.5 * per), directory=tmp_path if directory else None, extractor=BuiltinExtractor(),
                        embedder=HashingEmbedder(64), threshold=0.99)
    errors: list[BaseException] = []
    served = []
    lookups = []
    barrier = threading.Barrier(8)

    def worker(tid: int) -> None:
        rng = random.Random(tid)
        try:
            barrier.wait()
            for _ in range(25):
                w = rng.choice(WORDS)
                if rng.random() < 0.4:
                    cache.insert(f"a {w}", latents_for(w))
                else:
                    m = cache.lookup(f"the {w}", shape=SHAPE).match
                    lookups.append(w)
                    if m is not None:
                        served.append((w, m))
                s = cache.stats()
                assert s["bytes_used"] <= s["budget_bytes"]
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    cache.check_consistency()
    s = cache.stats()
    assert s["evictions"] > 0 and s["entries"] <= 4 and s["inserts"] == s["entries"] + s["evictions"]
    assert s["hits"] + s["misses"] == len(lookups) and s["hits"] == len(served)
    assert served, "no lookup hit at all"
    for w, m in served:  # never a mixed-up entry: the latents are the ones inserted for that word
        assert m.cached_entity == w and m.prompt == f"a {w}"
        ref = latents_for(w)
        for q, x in zip(m.latents, ref):
            assert float((dequantize_latent(q, dtype=torch.float32) - x).abs().max()) < 0.05
    if directory:
        cache.close()
        with LatentCache(int(4.5 * per), directory=tmp_path, extractor=BuiltinExtractor(),
                         embedder=HashingEmbedder(64)) as again:
            again.check_consistency()
            assert again.stats()["dropped"] == 0 and len(again) == s["entries"]
