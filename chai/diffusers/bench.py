"""Hit / miss wall time of CHAI in a diffusers pipeline on random weights: ``python -m chai.diffusers.bench``.

For each pipeline family a random-initialised "small" model (no downloads) generates latents
(``output_type="latent"``: no VAE decode) three ways from the same seed:

* **miss**: ``--steps`` (30) steps through ``enable_chai`` on an empty cache: capture + insert included;
* **hit**: a related prompt, the scaled hit schedule (30 -> 8) with Cache Attention at steps 2, 3, 4;
* **plain short**: the same short schedule without CHAI (the pipeline with the handle removed),
  so ``hit / plain short - 1`` is the Cache Attention overhead at the hit steps.

Wall clock and process CPU time are both reported (the CPU time is less sensitive to other processes on
a shared machine). Prints one JSON line per family.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

SMALL = {
    # kind: (transformer sizes, call arguments): about 2k video tokens per call, 4 layers, hidden 128-256.
    "wan": ({"num_layers": 4, "heads": 4, "head_dim": 32}, {"num_frames": 17, "height": 256, "width": 256}),
    "cogvideox": ({"num_layers": 4, "heads": 8, "head_dim": 32}, {"num_frames": 29, "height": 256, "width": 256}),
    "latte": (
        {"num_layers": 4, "heads": 8, "head_dim": 32, "video_length": 8},
        {"video_length": 8, "height": 32, "width": 32, "clean_caption": False},
    ),
}


def _timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def bench(kind: str, steps: int = 30, seed: int = 0) -> dict:
    from chai.cache import BuiltinExtractor, HashingEmbedder, LatentCache
    from chai.diffusers import enable_chai
    from chai.diffusers.tiny import tiny_pipeline

    sizes, call = SMALL[kind]
    pipe = tiny_pipeline(kind, seed=seed, **sizes)
    extra = {"max_sequence_length": 16} if kind != "latte" else {}

    def run(prompt, n):
        g = torch.Generator().manual_seed(seed)
        pipe(prompt=prompt, num_inference_steps=n, generator=g, output_type="latent", **call, **extra)

    run("a dog", 2)  # warm-up: first-call costs (imports, allocator) out of the timings
    cache = LatentCache(1 << 30, embedder=HashingEmbedder(), extractor=BuiltinExtractor())
    handle = enable_chai(pipe, cache=cache)
    miss = _timed(lambda: run("a corgi surfing a wave at sunset", steps))
    miss_info = handle.last
    hit = _timed(lambda: run("a corgi running on the beach", steps))
    hit_info = handle.last
    handle.remove()
    plain = _timed(lambda: run("a corgi running on the beach", hit_info.steps))
    return {
        "kind": kind,
        "model": sizes,
        "call": call,
        "latent": list(miss_info.latent_shape),
        "miss_steps": miss_info.steps,
        "hit_steps": hit_info.steps,
        "hit": hit_info.hit,
        "miss_wall_s": round(miss[0], 3),
        "hit_wall_s": round(hit[0], 3),
        "plain_short_wall_s": round(plain[0], 3),
        "hit_over_miss_wall": round(hit[0] / miss[0], 3),
        "hit_over_miss_cpu": round(hit[1] / miss[1], 3),
        "cache_attention_overhead_wall": round(hit[0] / plain[0] - 1, 3),
        "cache_attention_overhead_cpu": round(hit[1] / plain[1] - 1, 3),
        "hit_timings": {k: round(v, 4) for k, v in hit_info.timings.items()},
        "miss_timings": {k: round(v, 4) for k, v in miss_info.timings.items()},
        "threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m chai.diffusers.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--kind", action="append", choices=sorted(SMALL), help="pipeline family (repeatable)")
    ap.add_argument("--steps", type=int, default=30, help="miss steps (default 30; hit = 8)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    for kind in args.kind or sorted(SMALL):
        print(json.dumps(bench(kind, args.steps)), flush=True)


if __name__ == "__main__":
    main()
