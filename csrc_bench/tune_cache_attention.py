"""Launch-config sweep for the fused Cache Attention kernel (CUDA only).

For each shape and selected-cached fraction, times every config of the ``triton.autotune`` search space
that pruning keeps for the shape (``chai_kernels.triton.configs.autotune_candidates``) plus the table default,
on a prepared cache, beside SDPA over the concatenated keys (same inputs, same run), and prints the five
fastest with their ratio to SDPA, effective TFLOP/s and % of the card's dense peak; then what
``triton.autotune`` itself picks with autotuning switched on. Use it to update ``CACHE_ATTN_CONFIGS`` (the
autotuner's default); results are printed, not written.

    python -m csrc_bench.tune_cache_attention --shapes 240p-spatial 480p-spatial --fracs 1 0.25
"""

from __future__ import annotations

import argparse

import torch

from chai_kernels.ops.cache_attention import cache_attention, prepare_cache
from chai_kernels.triton import configs as C
from chai_kernels.triton.cache_attention import _cache_attn_fwd, cache_attention_fwd_triton, head_dim_chunks
from csrc_bench import _harness as H
from csrc_bench.bench_cache_attention import CACHE_BIAS, _concat, make_inputs
from csrc_bench.shapes import get_shape


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shapes", nargs="*", default=["240p-spatial", "480p-spatial"])
    ap.add_argument("--fracs", nargs="*", type=float, default=[1.0, 0.25])
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit("tune_cache_attention needs a CUDA device (launch configs are GPU-specific).")
    import triton.testing

    dev = torch.device("cuda")
    name = H.device_name(dev)
    peak = H.peak_tflops(name, torch.bfloat16)
    print(f"device: {name}  torch {torch.__version__}")
    for sname in args.shapes:
        shape = get_shape(sname)
        for frac in args.fracs:
            x = make_inputs(shape, frac, dev)
            q = x["q"].transpose(1, 2).contiguous()
            keys, vals, _ = _concat(x, shape)
            t_sdpa = triton.testing.do_bench(lambda: torch.nn.functional.scaled_dot_product_attention(q, keys, vals))
            sel = float(x["cache_mask"].float().mean())
            flops = 4 * shape.B * shape.H * shape.N * (shape.N + sel * shape.M) * shape.D
            width = sum(head_dim_chunks(shape.D))
            default = C.cache_attention_config(width, x["q"].dtype)
            prep = prepare_cache(x["k_cache"], x["v_cache"], x["cache_mask"])
            res = []
            for cfg in [default] + [c for c in C.autotune_candidates(width, x["q"].dtype, shape.N) if c != default]:

                def fn(c=cfg):
                    return cache_attention_fwd_triton(x["q"], x["k"], x["v"], prep.k_data, prep.v_data,
                                                      prep.cache_mask, blocks=prep.blocks, counts=prep.counts,
                                                      cache_bias=CACHE_BIAS, config=c)  # fmt: skip

                try:
                    t = triton.testing.do_bench(fn, warmup=10, rep=40)
                except Exception as e:  # out of shared memory / registers
                    print(f"  {cfg}: failed ({type(e).__name__})")
                    continue
                res.append((t, cfg))
            # the public op on the prepared cache (validation + one launch) with the default config
            t_op = triton.testing.do_bench(
                lambda: cache_attention(x["q"], x["k"], x["v"], cache=prep, cache_bias=CACHE_BIAS, backend="triton")
            )
            # what triton.autotune picks for this shape bucket when autotuning is on
            C.set_autotune(True)
            try:
                cache_attention(x["q"], x["k"], x["v"], cache=prep, cache_bias=CACHE_BIAS, backend="triton")
                picked = _cache_attn_fwd.best_config
            finally:
                C.set_autotune(False)
            res.sort(key=lambda r: r[0])
            t_def = next(t for t, c in res if c == default)
            print(
                f"{sname} frac={frac}: sdpa-concat {t_sdpa:.4f} ms ({flops / t_sdpa / 1e9:.0f} TFLOP/s eff.), "
                f"default {t_def:.4f} ms ({t_def / t_sdpa:.2f}x sdpa), public op {t_op:.4f} ms, "
                f"triton.autotune picks {picked}"
            )
            for t, cfg in res[:5]:
                tf = flops / t / 1e9
                frac_peak = f" {tf / peak:.1%} of peak" if peak else ""
                print(f"  {t:.4f} ms  {t / t_sdpa:.2f}x sdpa  {tf:.0f} TFLOP/s{frac_peak}  {cfg}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
