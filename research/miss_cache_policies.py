"""Skip policies of the first-block residual cache beside the shipped one, on the tuning captions only.

The shipped cache (``chai.runtime.first_block.FirstBlockCache``) skips a model call when the probe's residual
moved less than the threshold since the last computed call, and then adds the rest's residual from that call as
it was. This study asks whether a published refinement moves the trade-off between skipped blocks and PSNR
against the plain miss, so that more steps can be skipped at the same quality:

- ``forecast:1``: a first-order forecast of the rest's residual from the last two computed calls, by call index
  (the TaylorSeer idea), ``rest + (rest - rest_prev) * k / d`` with k calls since the last computed one and d
  calls between the last two;
- ``forecast:0.5``: the same slope halved and capped at one interval (``0.5 * min(k, d) / d``);
- ``last:K``: the last K calls are always computed (final steps refine detail);
- ``run:M``: at most M calls in a row reuse (MagCache's cap on consecutive skips).

Every variant runs the trained synthetic STDiT3 on ``csrc_bench.bench_miss_cache.tuning_prompts`` (generator
captions, seed 123; none of the prompts the benchmark reports), with the block probe, at each threshold, against
the plain miss of the same seed. Numbers: block-evaluation reduction and PSNR / SSIM of the decoded video.

``--hits`` adds the shipped policy on the demo's hits (``miss_cache_on_hits``): blocks skipped per hit and PSNR
against the same hit without it (the demo prompts, not tuning ones: nothing is chosen on them).

Usage: ``python -m research.miss_cache_policies [--prompts 8] [--thresholds 0.1,0.15,0.2] [--hits] [--out FILE.md]``
(about 2.5 minutes per variant on 2 cores). Results of the run behind docs/pipeline.md:
``research/results/miss_cache_policies.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

import torch

from chai.runtime.first_block import FirstBlockCache

#: Variants measured by default (``"plain"`` is the shipped policy).
VARIANTS = ("plain", "forecast:1", "forecast:0.5", "last:3", "run:2")


def policy_class(variant: str, *, steps: int = 30) -> type[FirstBlockCache]:
    """A :class:`FirstBlockCache` subclass that applies ``variant`` (see the module docs)."""
    name, _, arg = variant.partition(":")
    if name == "plain":
        return FirstBlockCache
    if name not in ("forecast", "last", "run") or not arg:
        raise ValueError(f"unknown variant {variant!r}; HINT: one of {VARIANTS}")
    value = float(arg)

    class Policy(FirstBlockCache):
        def __init__(self, threshold: float) -> None:
            super().__init__(threshold)
            self.calls = 0  # model calls seen (one per step: both CFG halves share a call)
            self.in_a_row = 0  # calls reusing in a row
            self.last_at = self.prev_at = None  # call index of the last two computed calls
            self.rest_prev = None  # the rest's residual at the computed call before the last
            self._rest_now = None

        @property
        def rest(self):
            r = self._rest_now
            if name != "forecast" or r is None or self.rest_prev is None:
                return r
            k, d = self.calls - self.last_at, self.last_at - self.prev_at
            factor = k / d if value == 1 else value * min(k, d) / d
            return r + (r - self.rest_prev) * factor

        @rest.setter
        def rest(self, value_) -> None:
            self._rest_now = value_

        def reuse(self, r0: torch.Tensor) -> bool:
            self.calls += 1
            ok = super().reuse(r0)
            if name == "last" and self.calls > steps - value:
                ok = False
            if name == "run" and self.in_a_row >= value:
                ok = False
            self.in_a_row = self.in_a_row + 1 if ok else 0
            return ok

        def remember(self, r0: torch.Tensor, rest: torch.Tensor) -> None:
            self.rest_prev, self.prev_at = self._rest_now, self.last_at
            super().remember(r0, rest)
            self.last_at = self.calls

    Policy.__name__ = f"Policy[{variant}]"
    return Policy


@contextlib.contextmanager
def using(variant: str):
    """Sessions created inside the block use ``variant``'s cache (the runtime builds one per sampling run)."""
    import chai.runtime.context as ctx

    saved = ctx.FirstBlockCache
    ctx.FirstBlockCache = policy_class(variant)
    try:
        yield
    finally:
        ctx.FirstBlockCache = saved


def hit_skips(dm, prompts: list[str], thresholds: list[float], *, gen: dict) -> list[str]:
    """Markdown rows: the shipped policy on the *hits* of the demo prompts (``miss_cache_on_hits``) against the same
    hits without it, through a 64 MB MiniLM entity cache as ``chai demo`` runs it: blocks per hit, blocks skipped,
    PSNR of the decoded video against the plain hit."""
    import statistics

    from chai import demo
    from chai.cache import LatentCache
    from chai.pipeline import CHAIPipeline, PipelineConfig
    from csrc_bench.bench_miss_cache import _quality, _video01

    embedder = demo.build_embedder("minilm")
    rows = []
    for thr in thresholds:
        runs = {}
        for on_hits in (False, True):
            cfg = PipelineConfig(use_timestep_transform=dm.use_timestep_transform, miss_cache=thr,
                                 miss_cache_on_hits=on_hits)
            cache = LatentCache(64_000_000, embedder=embedder)
            with cache, CHAIPipeline(dm.model, dm.text_encoder, cache, config=cfg, vae=dm.vae) as pipe:
                runs[on_hits] = [pipe.generate(p, seed=i, **gen) for i, p in enumerate(prompts)]
        hits = [(a, b) for a, b in zip(runs[False], runs[True]) if a.hit and b.hit]
        if not hits:
            rows.append(f"| {thr} | 0 | - | - | - |")
            continue
        psnr = [_quality(_video01(b.video), _video01(a.video))[0] for a, b in hits]
        rows.append(f"| {thr} | {len(hits)} | {statistics.fmean(a.block_evals for a, _ in hits):.1f} | "
                    f"{statistics.fmean(b.blocks_skipped for _, b in hits):.1f} | "
                    f"{statistics.fmean(psnr):.1f} ({min(psnr):.1f}) |")
    return rows


def main(argv=None) -> int:
    from chai import demo
    from chai.cli import read_prompts
    from csrc_bench.bench_miss_cache import TUNE_SEED, _run_quality, tuning_prompts

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--thresholds", default="0.1,0.15,0.2")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--hits", action="store_true", help="also: the shipped policy on the demo's hits (on_hits)")
    ap.add_argument("--out", type=Path, default=None, help="write the markdown table here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    thresholds = [float(t) for t in args.thresholds.split(",")]
    torch.manual_seed(0)
    dm = demo.load_demo_model("synthetic", seed=0, device="cpu")
    gen = {"num_frames": dm.num_frames, "height": dm.height, "width": dm.width}
    prompts = tuning_prompts(args.prompts, dm.num_frames)
    how = (f"{time.strftime('%Y-%m-%d')}, `python -m research.miss_cache_policies --prompts {args.prompts} "
           f"--thresholds {args.thresholds}`: trained synthetic STDiT3, block probe, {args.prompts} generator "
           "captions (none of the benchmark's prompts), decoded video against the plain miss of the same seed.")
    lines = [f"# Skip policies of the first-block residual cache (tuning captions, seed {TUNE_SEED})", "", how, "",
             "| policy | threshold | fewer blocks | PSNR dB mean (min) | SSIM mean |", "|---|---|---|---|---|"]
    for variant in args.variants.split(","):
        print(f"{variant} ...", flush=True)
        with using(variant):
            res = _run_quality(dm, prompts, [("block", t) for t in thresholds], gen=gen, video=True)
        for r in res["thresholds"].values():
            lines.append(f"| {variant} | {r['threshold']} | {r['block_reduction']:.2f}x | "
                         f"{r['psnr_db_mean']:.1f} ({r['psnr_db_min']:.1f}) | {r['ssim_mean']:.3f} |")
    if args.hits:
        print("hits ...", flush=True)
        demo_prompts = read_prompts(None, builtin=demo.builtin_prompts("synthetic"))
        why = ("A hit runs 8 steps far apart in time; the block-0 residual moves more between them than between a "
               "miss's 30.")
        head = "| threshold | hits | blocks per plain hit | blocks skipped per hit | PSNR dB vs plain hit mean (min) |"
        lines += ["", "## On hits (`miss_cache_on_hits`), the demo's prompts through a 64 MB entity cache", "", why, "",
                  head, "|---|---|---|---|---|"]
        lines += hit_skips(dm, demo_prompts, thresholds, gen=gen)
    md = "\n".join(lines) + "\n"
    print(md)
    if args.out:
        args.out.write_text(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
