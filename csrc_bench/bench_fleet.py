"""CPU benchmark of the shared cache: Redis (localhost) against the embedded store, and the index lag.

Run::

    python -m csrc_bench.bench_fleet                      # 10k entries, starts its own redis-server
    python -m csrc_bench.bench_fleet --entries 2000 --queries 50 --no-write
    python -m csrc_bench.bench_fleet --redis redis://host:6379/0   # an existing server (a scratch database!)

Measured in one run, on the same machine, with the same fill and the same query prompts:

* lookup latency, p50 / p95 / p99, at ``--entries`` entries: the embedded directory store and the Redis store
  filled alike and queried with the same prompts, interleaved so both see the same machine load (each lookup
  of the Redis store also reads the change log: one round trip); total and store side (search + load);
* insert latency of real 240p 68-frame entries (three (1, 4, 20, 30, 53) latents -> int8), p50 / p99,
  interleaved between the stores;
* index lag: worker A inserts an entry, worker B (another process, polling lookups for that entity) hits it;
  the lag is B's first hit time minus A's insert return time, p50 / p99 over ``--lag-trials`` inserts.

Targets (issue: one cache for a GPU fleet): Redis lookup p50 at most 1.5x the embedded one; index lag p99
under 100 ms. The trace hit rates (one shared cache vs private caches) come from ``chai trace --workers``.
Results: ``csrc_bench/results/fleet_<cpu>.json`` and ``.md``. pytest collects the smoke test at the bottom.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

import torch

from chai.cache import BuiltinExtractor, HashingEmbedder, LatentCache
from csrc_bench.bench_lookup import RESULTS_DIR, _cpu_name, _pct

SHAPE = (1, 4, 1, 4, 4)


def _lag_reader(url: str, ready, go, out, trials: int) -> None:
    torch.set_num_threads(1)
    c = LatentCache(1 << 30, url, namespace="lag", extractor=BuiltinExtractor(), embedder=HashingEmbedder(64))
    ready.set()
    for k in range(trials):
        go.wait()
        while True:
            res = c.lookup(f"a lagword{k}", shape=SHAPE)
            if res.match is not None:
                out.put((k, time.time()))
                break
    c.close()


def index_lag(url: str, trials: int = 100) -> dict:
    """Insert-to-hit lag between two worker processes sharing ``url`` (HashingEmbedder: lookups take ~1 ms,
    so the number is the store's propagation, not the embedder's cost)."""
    from chai_kernels import quantize_latent

    ctx = mp.get_context("spawn")
    ready, go, out = ctx.Event(), ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=_lag_reader, args=(url, ready, go, out, trials))
    proc.start()
    ready.wait(60)
    c = LatentCache(1 << 30, url, namespace="lag", extractor=BuiltinExtractor(), embedder=HashingEmbedder(64))
    q = quantize_latent(torch.randn(SHAPE) + 0.1)
    lags = []
    for k in range(trials):
        go.set()
        time.sleep(0.01)  # the reader is polling a miss
        c.insert(f"a lagword{k}", [q])
        t_ack = time.time()
        go.clear()
        _, t_hit = out.get(timeout=30)
        lags.append(max(0.0, t_hit - t_ack))
    proc.join(30)
    LatentCache.clear_location(url, "lag")
    c.close()
    ms = [x * 1e3 for x in lags]
    return {
        "trials": trials,
        "p50_ms": round(_pct(ms, 50), 3),
        "p99_ms": round(_pct(ms, 99), 3),
        "max_ms": round(max(ms), 3),
    }


def paired_lookups(locations: dict, entries: int, queries: int, *, extractor, embedder, seed: int = 0) -> dict:
    """Fill one cache per location with the same ``entries`` (entities and vectors served from tables, as in
    bench_lookup), then time the same fresh query prompts on every cache, interleaved (the order rotates per
    query) so that every store sees the same machine load. Returns per location the total and the
    store-side (search + load) latency summaries."""
    import random

    from chai_kernels import quantize_latent
    from csrc_bench.bench_lookup import TableEmbedder, TableExtractor, _summary, random_prompt, vocabulary

    rng = random.Random(seed)
    vocab = vocabulary()
    fills = [
        (f"entry {i}: " + " and ".join(ents), ents) for i, ents in ((i, rng.sample(vocab, 2)) for i in range(entries))
    ]
    qlat = quantize_latent(torch.randn(SHAPE) + 0.1)
    table: dict = {}
    caches = {}
    for name, loc in locations.items():
        fill_ex, fill_emb = TableExtractor(extractor), TableEmbedder(embedder, table)
        c = LatentCache(1 << 40, loc, extractor=fill_ex, embedder=fill_emb)
        t0 = time.perf_counter()
        for prompt, ents in fills:
            fill_ex.table[prompt] = ents
            c.insert(prompt, [qlat])
        print(f"  [{name}] filled {entries} entries in {time.perf_counter() - t0:.1f} s", flush=True)
        c.matcher.extractor, c.matcher.embedder = extractor, embedder  # queries use the real components
        caches[name] = c
    qrng = random.Random(seed + 1)
    prompts = [random_prompt(qrng) for _ in range(queries)]
    names = list(caches)
    for p in prompts[:5]:
        for n in names:
            caches[n].lookup(p + " warm-up", shape=SHAPE)
    total = {n: [] for n in names}
    store = {n: [] for n in names}
    hits = {n: 0 for n in names}
    for qi, p in enumerate(prompts):
        for n in names[qi % len(names) :] + names[: qi % len(names)]:
            t = time.perf_counter()
            res = caches[n].lookup(p, shape=SHAPE)
            total[n].append(time.perf_counter() - t)
            store[n].append(res.timings.get("search_s", 0.0) + res.timings.get("load_s", 0.0))
            hits[n] += res.match is not None
    out = {}
    for n in names:
        out[n] = {"total": _summary(total[n]), "search_load": _summary(store[n]), "hit_rate": hits[n] / queries}
        caches[n].close()
    return out


def paired_inserts(locations: dict, n: int = 40, seed: int = 0) -> dict:
    """Insert latency of real 240p 68-frame entries (three (1, 4, 20, 30, 53) float32 latents, int8 storage)
    into every location, interleaved (the order rotates per insert) so that every store sees the same load."""
    import random

    from csrc_bench.bench_lookup import _summary, random_prompt

    rng = random.Random(seed)
    xs = [torch.randn(1, 4, 20, 30, 53) for _ in range(3)]
    caches = {
        k: LatentCache(1 << 34, loc, namespace="inserts", extractor=BuiltinExtractor(), embedder=HashingEmbedder(384))
        for k, loc in locations.items()
    }
    names = list(caches)
    for c in caches.values():
        c.insert("a warm up entry", xs)
    times = {k: [] for k in names}
    for i in range(n):
        prompt = random_prompt(rng)
        for k in names[i % len(names) :] + names[: i % len(names)]:
            t = time.perf_counter()
            caches[k].insert(prompt, xs)
            times[k].append(time.perf_counter() - t)
    out = {}
    for k, c in caches.items():
        out[f"insert_{k}"] = {
            "mode": c.backend,
            "entry_bytes": int(c.stats()["bytes_used"] / len(c)),
            **_summary(times[k]),
        }
        c.close()
    return out


def run(
    entries: int = 10_000, queries: int = 200, lag_trials: int = 100, redis_url: str | None = None, write: bool = True
) -> dict:
    from chai.cache import MiniLMEmbedder, default_extractor

    server = None
    if redis_url is None:
        from tests.redis_server import RedisServer

        server = RedisServer()
        redis_url = server.url
    try:
        extractor = default_extractor()
        embedder = MiniLMEmbedder(memo_size=0)
        out: dict = {
            "cpu": _cpu_name(),
            "torch_threads": torch.get_num_threads(),
            "entries": entries,
            "queries": queries,
            "extractor": extractor.name,
            "embedder": embedder.name,
        }
        with tempfile.TemporaryDirectory() as d:
            print(f"[lookup] filling {entries} entries per store, then {queries} lookups interleaved ...", flush=True)
            out["lookup"] = paired_lookups(
                {"directory": Path(d) / "cache", "redis": redis_url},
                entries,
                queries,
                extractor=extractor,
                embedder=embedder,
            )
            LatentCache.clear_location(redis_url)
        print("[insert] 240p entries, interleaved ...", flush=True)
        with tempfile.TemporaryDirectory() as d:
            out.update(paired_inserts({"directory": str(Path(d) / "c"), "redis": redis_url}, n=40))
        LatentCache.clear_location(redis_url)
        print("[lag] insert on one worker -> hit on another ...", flush=True)
        out["index_lag"] = index_lag(redis_url, lag_trials)
        emb_p50 = out["lookup"]["directory"]["total"]["p50_ms"]
        red_p50 = out["lookup"]["redis"]["total"]["p50_ms"]
        out["targets"] = {
            "redis_lookup_p50_over_embedded": round(red_p50 / emb_p50, 3),
            "redis_lookup_p50_target_met": red_p50 <= 1.5 * emb_p50,
            "index_lag_p99_target_met": out["index_lag"]["p99_ms"] < 100.0,
        }
    finally:
        if server is not None:
            server.close()
    if write:
        write_results(out)
    return out


def write_results(res: dict) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    slug = "".join(ch if ch.isalnum() else "-" for ch in res["cpu"].lower()).strip("-")[:40]
    js = RESULTS_DIR / f"fleet_{slug}.json"
    js.write_text(json.dumps(res, indent=1))
    rows = [
        "| store | lookup p50 ms | p95 | p99 | store side (search + load) p50 | p99 | insert p50 ms | insert p99 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in ("directory", "redis"):
        lk, ins = res["lookup"][name], res[f"insert_{name}"]
        rows.append(
            f"| {name} | {lk['total']['p50_ms']:.2f} | {lk['total']['p95_ms']:.2f} | {lk['total']['p99_ms']:.2f} "
            f"| {lk['search_load']['p50_ms']:.2f} | {lk['search_load']['p99_ms']:.2f} "
            f"| {ins['p50_ms']:.2f} | {ins['p99_ms']:.2f} |"
        )
    t, lag = res["targets"], res["index_lag"]
    md = "\n".join(
        [
            f"# Shared cache latency: {res['cpu']} ({res['entries']} entries, {res['queries']} queries)",
            "",
            *rows,
            "",
            f"Redis lookup p50 / embedded: {t['redis_lookup_p50_over_embedded']:.2f}x (target <= 1.5x: "
            f"{'met' if t['redis_lookup_p50_target_met'] else 'NOT met'}).",
            f"Index lag (insert on one worker to a hit on another): p50 {lag['p50_ms']:.2f} ms, p99 "
            f"{lag['p99_ms']:.2f} ms, max {lag['max_ms']:.2f} ms over {lag['trials']} inserts (target p99 < "
            f"100 ms: {'met' if t['index_lag_p99_target_met'] else 'NOT met'}).",
            "",
        ]
    )
    (RESULTS_DIR / f"fleet_{slug}.md").write_text(md)
    print(md)
    return js


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Shared (Redis) vs embedded cache latency and index lag.")
    ap.add_argument("--entries", type=int, default=10_000, help="entries in each cache (default 10000)")
    ap.add_argument("--queries", type=int, default=200, help="timed lookups per store (default 200)")
    ap.add_argument("--lag-trials", type=int, default=100, help="inserts timed for the index lag (default 100)")
    ap.add_argument("--redis", default=None, help="use this server (a scratch database) instead of starting one")
    ap.add_argument("--no-write", action="store_true", help="do not write csrc_bench/results/fleet_*")
    a = ap.parse_args(argv)
    run(a.entries, a.queries, a.lag_trials, a.redis, write=not a.no_write)
    return 0


# --------------------------------------------------------------------------------------------------
# pytest smoke version (model-free, small): both stores answer, the lag is measured
# --------------------------------------------------------------------------------------------------
def test_bench_fleet_smoke(tmp_path):
    from tests.redis_server import RedisServer, require_redis_server

    require_redis_server()
    with RedisServer() as srv:
        ex, emb = BuiltinExtractor(), HashingEmbedder(384)
        r = paired_lookups({"directory": tmp_path / "c", "redis": srv.url}, 200, 10, extractor=ex, embedder=emb)
        for name in ("directory", "redis"):
            assert r[name]["total"]["p50_ms"] > 0 and r[name]["total"]["n"] == 10
        assert r["directory"]["hit_rate"] == r["redis"]["hit_rate"] > 0  # same fill, same queries, same answers
        lag = index_lag(srv.url, trials=3)
        assert lag["trials"] == 3 and 0 <= lag["p50_ms"] <= lag["max_ms"]
        ins = paired_inserts({"directory": str(tmp_path / "i"), "redis": srv.url}, n=2)
        assert ins["insert_redis"]["mode"] == "redis" and ins["insert_directory"]["entry_bytes"] > 3 * 4 * 20 * 30 * 53


if __name__ == "__main__":
    sys.exit(main())
