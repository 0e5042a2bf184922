"""CPU benchmark of the latent cache: lookup latency by phase, insert latency, and the threshold study.

Run::

    python -m csrc_bench.bench_lookup                 # sizes 1k, 10k, 100k, inserts, threshold study; writes results
    python -m csrc_bench.bench_lookup --sizes 1000 --queries 50 --no-write
    python -m csrc_bench.bench_lookup --threshold     # only the labelled same/different-entity study

Lookup phases (``LatentCache.lookup`` reports them in ``Match.timings`` / ``cache.last_timings``):
extraction (spaCy), embedding (MiniLM, memo disabled so every query entity is encoded), search (faiss flat
IP over all entity vectors, including tie resolution) and load (record read, CRC checks, QuantizedLatent
parsing). Total is the wall time of one ``lookup`` call.

Cache contents at 1k / 10k / 100k entries: every entry has two entities drawn from a vocabulary of real
entity phrases (adjective + noun), whose vectors are the real 384-d MiniLM embeddings of those phrases
(the vocabulary is embedded once, then served from a table during the fill so the fill takes seconds, not
the ~25 minutes MiniLM would need for 200k texts on 2 cores). Latents are small (one (1, 4, 1, 4, 4) int8
latent per entry) to keep memory sane at 100k; the vectors, index and search are full size. Queries are
fresh prompts run through the real spaCy extractor and the real MiniLM encoder.

Insert latency is measured with real 240p 68-frame entries: three (1, 4, 20, 30, 53) float32 latents
quantized to int8, in memory and in a directory (tmp write + fsync + rename + directory fsync).

Results: ``csrc_bench/results/lookup_<cpu>.json`` and ``.md``. The file is also collected by pytest: the
``test_*`` functions below are a quick smoke version at small size (model-free components).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from chai.cache import BuiltinExtractor, HashingEmbedder, LatentCache
from chai.cache.latent_cache import DEFAULT_THRESHOLD

RESULTS_DIR = Path(__file__).resolve().parent / "results"

# --------------------------------------------------------------------------------------------------
# Labelled entity pairs for the threshold study (entity strings as the extractor produces them).
# Positive: the same subject or scene, reworded (synonym, added modifier, plural/abbreviation).
# Negative: different subjects or scenes, including hard ones from the same category (tiger / lion).
# --------------------------------------------------------------------------------------------------

POSITIVE_PAIRS: list[tuple[str, str]] = [
    ("tiger", "bengal tiger"), ("tiger", "large tiger"), ("small robot", "little robot"), ("robot", "humanoid robot"),
    ("golden retriever", "retriever"), ("dog", "puppy"), ("red sports car", "red car"), ("car", "automobile"),
    ("old man", "elderly man"), ("beach", "sandy beach"), ("sea", "ocean"), ("city street", "street in the city"),
    ("forest", "dense forest"), ("cat", "kitten"), ("astronaut", "astronaut in a spacesuit"),
    ("waterfall", "tall waterfall"), ("horse", "white horse"), ("snowy mountain", "snow-capped mountain"),
    ("eiffel tower", "eiffel tower in paris"), ("new york city", "nyc"), ("sunset", "setting sun"),
    ("jellyfish", "glowing jellyfish"), ("panda", "giant panda"), ("train", "steam train"),
    ("woman", "young woman"), ("guitar", "acoustic guitar"), ("butterfly", "colorful butterfly"),
    ("spaceship", "spacecraft"), ("cave", "dark cave"), ("ship", "sailing ship"),
    ("lighthouse", "old lighthouse"), ("coffee cup", "cup of coffee"), ("bicycle", "bike"),
    ("skyscraper", "tall skyscraper"), ("rainforest", "tropical rainforest"), ("castle", "medieval castle"),
    ("airplane", "plane"), ("wolf", "grey wolf"), ("child", "little kid"), ("river", "flowing river"),
    ("desert", "sand desert"), ("dragon", "fire-breathing dragon"), ("teddy bear", "stuffed teddy bear"),
    ("street market", "busy market street"), ("snowman", "snowman in the snow"), ("rabbit", "bunny"),
    ("motorcycle", "motorbike"), ("kitchen", "modern kitchen"), ("fireworks", "fireworks display"),
    ("owl", "snowy owl"),
]

NEGATIVE_PAIRS: list[tuple[str, str]] = [
    ("tiger", "lion"), ("tiger", "bicycle"), ("dog", "cat"), ("car", "bus"), ("beach", "desert"), ("city", "forest"),
    ("man", "woman"), ("robot", "teddy bear"), ("horse", "cow"), ("guitar", "piano"), ("sea", "mountain"),
    ("panda", "koala"), ("train", "airplane"), ("cave", "castle"), ("astronaut", "chef"), ("waterfall", "volcano"),
    ("butterfly", "bee"), ("ship", "submarine"), ("sunset", "thunderstorm"), ("kitchen", "garden"),
    ("jellyfish", "octopus"), ("eiffel tower", "statue of liberty"), ("new york city", "tokyo"),
    ("snowy mountain", "tropical island"), ("old man", "little girl"), ("red car", "blue bicycle"),
    ("spaceship", "castle"), ("tiger", "cave"), ("dog", "beach"), ("robot", "city"),
    ("wolf", "fox"), ("owl", "eagle"), ("rabbit", "squirrel"), ("motorcycle", "bicycle"), ("lighthouse", "windmill"),
    ("coffee cup", "wine glass"), ("skyscraper", "cottage"), ("river", "lake"), ("dragon", "dinosaur"),
    ("child", "grandmother"), ("fireworks", "candles"), ("snowman", "scarecrow"), ("street market", "shopping mall"),
    ("rainforest", "savanna"), ("desert", "glacier"), ("airplane", "helicopter"), ("castle", "temple"),
    ("teddy bear", "doll"), ("cat", "lion"), ("ocean", "swimming pool"),
]


def _pct(xs, q):
    return float(np.percentile(np.asarray(xs, dtype=np.float64), q))


def threshold_study(embedder=None) -> dict:
    """Cosine scores of the labelled pairs and TPR / FPR per candidate threshold."""
    if embedder is None:
        from chai.cache import MiniLMEmbedder

        embedder = MiniLMEmbedder(memo_size=0)

    def scores(pairs):
        a = embedder.embed([p[0] for p in pairs])
        b = embedder.embed([p[1] for p in pairs])
        return (a * b).sum(axis=1)

    pos, neg = scores(POSITIVE_PAIRS), scores(NEGATIVE_PAIRS)
    table = []
    for tau in sorted(set(np.round(np.arange(0.55, 0.951, 0.05), 2).tolist()) | {round(DEFAULT_THRESHOLD, 2)}):
        table.append({"tau": float(tau), "tpr": float((pos >= tau).mean()), "fpr": float((neg >= tau).mean())})
    q = [0, 10, 25, 50, 75, 90, 100]
    return {
        "embedder": embedder.name,
        "n_pos": len(pos),
        "n_neg": len(neg),
        "pos_percentiles": {p: round(_pct(pos, p), 3) for p in q},
        "neg_percentiles": {p: round(_pct(neg, p), 3) for p in q},
        "max_neg": round(float(neg.max()), 3),
        "hardest_neg": sorted(((round(float(s), 3), a, b) for s, (a, b) in zip(neg, NEGATIVE_PAIRS)), reverse=True)[:5],
        "weakest_pos": sorted((round(float(s), 3), a, b) for s, (a, b) in zip(pos, POSITIVE_PAIRS))[:5],
        "table": table,
        "default_threshold": DEFAULT_THRESHOLD,
        "tpr_at_default": float((pos >= DEFAULT_THRESHOLD).mean()),
        "fpr_at_default": float((neg >= DEFAULT_THRESHOLD).mean()),
    }


# --------------------------------------------------------------------------------------------------
# Synthetic workload
# --------------------------------------------------------------------------------------------------

NOUNS = ["tiger", "lion", "zebra", "horse", "dog", "cat", "rabbit", "fox", "wolf", "bear", "panda", "koala", "owl", "eagle", "parrot", "penguin", "dolphin", "whale", "shark", "jellyfish", "octopus", "turtle", "frog", "butterfly", "bee", "dragon", "unicorn", "robot", "astronaut", "knight", "wizard", "chef", "dancer", "musician", "child", "woman", "man", "girl", "boy", "grandmother", "soldier", "pirate", "samurai", "ninja", "car", "bus", "train", "bicycle", "motorcycle", "airplane", "helicopter", "spaceship", "ship", "boat", "submarine", "tractor", "truck", "castle", "temple", "cottage", "skyscraper", "lighthouse", "windmill", "bridge", "tower", "church", "beach", "desert", "forest", "jungle", "mountain", "volcano", "glacier", "river", "lake", "waterfall", "ocean", "island", "cave", "canyon", "meadow", "garden", "city", "street", "market", "village", "harbor", "station", "kitchen", "library", "classroom", "bedroom", "office", "museum", "stadium", "restaurant", "cafe", "guitar", "piano", "violin", "drum", "teapot", "lamp", "clock", "mirror", "candle", "book", "umbrella", "balloon", "kite", "flower", "tree", "sunflower", "rose", "cactus", "mushroom", "snowman", "scarecrow", "fireworks", "rainbow", "storm", "tornado", "sunset", "sunrise", "moon", "galaxy", "planet", "comet"]
ADJS = ["red", "blue", "green", "golden", "silver", "black", "white", "old", "young", "tiny", "giant", "small", "large", "ancient", "modern", "futuristic", "wooden", "glass", "snowy", "rainy", "foggy", "sunny", "dark", "bright", "glowing", "neon", "rusty", "abandoned", "busy", "quiet", "colorful", "wild", "cute", "fluffy", "metallic", "crystal", "frozen", "burning", "floating", "tropical", "medieval", "victorian", "cyberpunk", "steampunk"]
VERBS = ["walking through", "sitting in", "running across", "flying over", "standing near", "dancing in",
         "exploring", "resting beside", "swimming in", "looking at"]
FRAMES = ["", "cinematic shot, ", "A tranquil tableau of ", "In a still frame, ", "oil painting of ", ""]


def vocabulary() -> list[str]:
    return NOUNS + [f"{a} {n}" for a in ADJS for n in NOUNS]


def random_prompt(rng: random.Random) -> str:
    a, b = rng.choice(NOUNS), rng.choice(NOUNS)
    return (f"{rng.choice(FRAMES)}a {rng.choice(ADJS)} {a} {rng.choice(VERBS)} a {rng.choice(ADJS)} {b}"
            f"{rng.choice(['', ', 4k', ', high quality', ' at night', ' at sunset'])}")


class TableEmbedder:
    """Serves precomputed vectors for known texts, delegates the rest (benchmark fill only)."""

    def __init__(self, inner, table: dict[str, np.ndarray]):
        self.inner, self.table = inner, table
        self.name, self.dim = inner.name, inner.dim

    def embed(self, texts):
        miss = [t for t in texts if t not in self.table]
        if miss:
            for t, v in zip(miss, self.inner.embed(miss)):
                self.table[t] = v
        return np.stack([self.table[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


class TableExtractor:
    """Known prompts map to preset entities (fill); anything else goes to the real extractor."""

    def __init__(self, inner):
        self.inner, self.table, self.name = inner, {}, inner.name

    def extract(self, prompt):
        got = self.table.get(prompt)
        return list(got) if got is not None else self.inner.extract(prompt)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _summary(xs_s: list[float]) -> dict:
    ms = [x * 1e3 for x in xs_s]
    return {"p50_ms": round(_pct(ms, 50), 3), "p95_ms": round(_pct(ms, 95), 3), "p99_ms": round(_pct(ms, 99), 3),
            "mean_ms": round(statistics.mean(ms), 3), "n": len(ms)}


def bench_lookup_size(n_entries: int, *, extractor, embedder, table: dict, queries: int = 200, seed: int = 0,
                      index: str = "flat", ents_per_entry: int = 2, memo_embedder=None, location=None) -> dict:
    """Fill a cache (in memory, or at ``location``: a directory or a Redis URL) with ``n_entries`` and time
    ``queries`` fresh lookups by phase."""
    from chai_kernels import quantize_latent

    rng = random.Random(seed)
    vocab = vocabulary()
    fill_ex = TableExtractor(extractor)
    fill_emb = TableEmbedder(embedder, table)
    qlat = quantize_latent(torch.randn(1, 4, 1, 4, 4) + 0.1)
    cache = LatentCache(1 << 40, location, extractor=fill_ex, embedder=fill_emb, index=index)
    # Fill through the public insert path, with entities and vectors served from tables (seconds, not minutes).
    t0 = time.perf_counter()
    for i in range(n_entries):
        ents = rng.sample(vocab, ents_per_entry)
        prompt = f"entry {i}: " + " and ".join(ents)
        fill_ex.table[prompt] = ents
        cache.insert(prompt, [qlat])
        fill_ex.table.pop(prompt)
    fill_s = time.perf_counter() - t0
    cache.matcher.extractor, cache.matcher.embedder = extractor, embedder  # queries go through the real components
    qrng = random.Random(seed + 1)
    prompts = [random_prompt(qrng) for _ in range(queries)]
    for p in prompts[:5]:  # warm-up (first spaCy / faiss calls)
        cache.lookup(p + " warm-up", shape=(1, 4, 1, 4, 4))
    st = cache.stats()
    out = {"entries": n_entries, "vectors": st["vectors"], "index": st["index"], "fill_s": round(fill_s, 2),
           "budget_bytes_used": st["bytes_used"]}
    # cold: the embedder's memo is off, every query entity is encoded. memo: the same prompts again with the
    # default memo filled by the cold pass (entities seen before cost a dict lookup).
    for label, emb in (("cold", embedder), ("memo", memo_embedder)):
        if emb is None:
            continue
        cache.matcher.embedder = emb
        phases = {k: [] for k in ("extract_s", "embed_s", "search_s", "load_s", "total_s", "cpu_s")}
        hits = 0
        for p in prompts:
            t, c = time.perf_counter(), time.thread_time()
            m = cache.lookup(p, shape=(1, 4, 1, 4, 4))
            phases["cpu_s"].append(time.thread_time() - c)
            phases["total_s"].append(time.perf_counter() - t)
            tm = cache.last_timings
            for k in ("extract_s", "embed_s", "search_s", "load_s"):
                phases[k].append(tm.get(k, 0.0))
            hits += m.match is not None
        out[label] = {"hit_rate": round(hits / queries, 3), **{k[:-2]: _summary(v) for k, v in phases.items()}}
        if memo_embedder is not None and label == "cold":
            memo_embedder.embed([e for p in prompts for e in cache.entities(p)])  # fill the memo
    cache.close()
    return out


def bench_insert(*, extractor, embedder, n: int = 20, directory: bool = False, seed: int = 0, location=None) -> dict:
    """Insert latency of real 240p 68-frame entries (three (1, 4, 20, 30, 53) latents -> int8), in memory, in a
    temporary directory (``directory=True``) or at ``location`` (e.g. a Redis URL)."""
    rng = random.Random(seed)
    xs = [torch.randn(1, 4, 20, 30, 53) for _ in range(3)]
    with tempfile.TemporaryDirectory() as d:
        where = location if location is not None else (d if directory else None)
        cache = LatentCache(1 << 34, where, extractor=extractor, embedder=embedder)
        cache.insert(random_prompt(rng), xs)  # warm-up
        times = []
        for _ in range(n):
            t = time.perf_counter()
            cache.insert(random_prompt(rng), xs)
            times.append(time.perf_counter() - t)
        nbytes = cache.stats()["bytes_used"] / len(cache)
        cache.close()
    mode = cache.backend if location is not None else ("directory" if directory else "memory")
    return {"mode": mode, "entry_bytes": int(nbytes), **_summary(times)}


def run(sizes=(1000, 10_000, 100_000), *, queries: int = 200, write: bool = True, index: str = "flat") -> dict:
    from chai.cache import MiniLMEmbedder, default_extractor

    # MiniLM on 2-4 short phrases: one thread is as fast as two on an idle machine and 10x faster on a busy one.
    torch.set_num_threads(1)
    extractor = default_extractor()
    embedder = MiniLMEmbedder(memo_size=0)  # every query entity really encoded
    t0 = time.perf_counter()
    vocab = vocabulary()
    table = dict(zip(vocab, embedder.embed(vocab)))
    embed_vocab_s = time.perf_counter() - t0
    res = {
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "loadavg_before": list(os.getloadavg()),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "extractor": extractor.name,
        "embedder": embedder.name,
        "vocabulary": len(vocab),
        "vocab_embed_s": round(embed_vocab_s, 2),
        "lookup": [],
        "insert": [],
    }
    try:
        import faiss

        res["faiss"] = faiss.__version__
    except ImportError:
        res["faiss"] = None
    for n in sizes:
        r = bench_lookup_size(n, extractor=extractor, embedder=embedder, table=table, queries=queries, index=index,
                              memo_embedder=MiniLMEmbedder())
        res["lookup"].append(r)
        print(json.dumps(r), flush=True)
    for directory in (False, True):
        r = bench_insert(extractor=extractor, embedder=embedder, directory=directory)
        res["insert"].append(r)
        print(json.dumps(r), flush=True)
    res["loadavg_after"] = list(os.getloadavg())
    res["threshold"] = threshold_study(embedder)
    if write:
        write_results(res)
    return res


def write_results(res: dict) -> Path:
    from csrc_bench import _harness as H

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    slug = H.device_slug(f"{res['cpu']} {res['cores']} cores")
    path = RESULTS_DIR / f"lookup_{slug}.json"
    path.write_text(json.dumps(res, indent=1, default=str))
    lines = [f"# Latent cache lookup benchmark: {res['cpu']} ({res['cores']} cores, torch threads {res['torch_threads']})",
             "", f"extractor {res['extractor']}, embedder {res['embedder']}, faiss {res.get('faiss')}", "",
             "Wall-clock ms per lookup phase (p50; p95 for search and total) and the calling thread's CPU time "
             f"(load average {res['loadavg_before'][0]:.1f} -> {res['loadavg_after'][0]:.1f} on {res['cores']} cores "
             "while measuring: other jobs shared the CPU).", "",
             "| entries | vectors | pass | extract | embed | search p50 / p95 | load | total p50 / p95 | CPU p50 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in res["lookup"]:
        for label in ("cold", "memo"):
            x = r.get(label)
            if x is None:
                continue
            lines.append(f"| {r['entries']:,} | {r['vectors']:,} | {label} | {x['extract']['p50_ms']:.2f} | "
                         f"{x['embed']['p50_ms']:.2f} | {x['search']['p50_ms']:.2f} / {x['search']['p95_ms']:.2f} | "
                         f"{x['load']['p50_ms']:.2f} | {x['total']['p50_ms']:.2f} / {x['total']['p95_ms']:.2f} | "
                         f"{x['cpu']['p50_ms']:.2f} |")
    lines += ["", "| insert (240p 68f, 3 latents int8) | entry bytes | p50 | p95 |", "|---|---|---|---|"]
    for r in res["insert"]:
        lines.append(f"| {r['mode']} | {r['entry_bytes']:,} | {r['p50_ms']:.2f} ms | {r['p95_ms']:.2f} ms |")
    (RESULTS_DIR / f"lookup_{slug}.md").write_text("\n".join(lines) + "\n")
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--index", default="flat", choices=["flat", "hnsw", "numpy"])
    ap.add_argument("--threshold", action="store_true", help="only run the threshold study")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    if args.threshold:
        print(json.dumps(threshold_study(), indent=1, default=str))
        return 0
    run(tuple(args.sizes), queries=args.queries, write=not args.no_write, index=args.index)
    return 0


# --------------------------------------------------------------------------------------------------
# pytest smoke version (model-free: builtin extractor + hashing embedder, small sizes)
# --------------------------------------------------------------------------------------------------

def test_bench_lookup_smoke():
    ex, emb = BuiltinExtractor(), HashingEmbedder(384)
    table: dict = {}
    r = bench_lookup_size(300, extractor=ex, embedder=emb, table=table, queries=20)
    # two entities per entry; the hashing embedder maps a rare phrase to a zero vector, which is not indexed
    assert r["entries"] == 300 and 590 <= r["vectors"] <= 600 and r["index"] == "flat"
    c = r["cold"]
    assert 0 < c["total"]["p50_ms"] <= c["total"]["p95_ms"]
    assert c["search"]["n"] == 20 and c["hit_rate"] > 0  # fresh prompts share vocabulary nouns with the cache
    ins = bench_insert(extractor=ex, embedder=emb, n=2)
    assert ins["entry_bytes"] > 3 * 4 * 20 * 30 * 53 and ins["p50_ms"] > 0


def test_threshold_study_shape():
    r = threshold_study(HashingEmbedder(384))
    assert r["n_pos"] == len(POSITIVE_PAIRS) >= 50 and r["n_neg"] == len(NEGATIVE_PAIRS) >= 50
    fprs = [row["fpr"] for row in r["table"]]
    assert fprs == sorted(fprs, reverse=True)  # monotone in tau


if __name__ == "__main__":
    sys.exit(main())
