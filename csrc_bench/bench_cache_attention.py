"""Cache Attention microbenchmarks.

Providers (one setup factory, ``make_provider``), all on the same inputs, timed in the same run:

- ``chai-triton``       the fused kernel on a prepared cache (``chai_kernels.prepare_cache``: mask and key-block
                        lists built once, as the model layer does per cache hit): one launch per call
                        (CUDA; on CPU only the interpreter smoke on the ``tiny`` shape)
- ``chai-triton-unprepared``  the same op given raw k_cache / v_cache / cache_mask (block lists built per call)
- ``chai-triton-int8``  the fused kernel with int8 cached K/V (``QuantizedKV``) on a prepared cache
- ``chai-torch``        the op's torch backend (SDPA with an additive mask; the CPU fallback)
- ``torch-eager``       explicit matmul / logsumexp / matmul (the reference's float64-oracle path in fp32)
- ``sdpa-concat``       SDPA over [current ; cached] keys, no mask: the dense baseline (ratio denominator)
- ``sdpa-boolmask``     SDPA over the concatenated keys with a boolean keep-mask
- ``flex``              FlexAttention with a block mask (compiled on CUDA, eager on CPU)
- ``xformers-concat``   xformers memory_efficient_attention over the concatenated keys, when installed (CUDA)

Work and traffic: ``tflops`` counts *useful* FLOPs, 4 * B * H * N * (N + frac * M) * D for joint mode
(keys actually attended), for every provider, so the column reads as effective throughput; dense
baselines that compute masked keys anyway show a lower effective rate. ``ratio_to_baseline`` is
time / time(sdpa-concat) at the same shape, dtype and fraction. The sweep covers selected-cached
fractions 100 / 50 / 25 / 0 % (contiguous, randomly rolled token runs per cache row: an entity region).

After a sweep ``summarize`` prints, per case and fraction, chai-triton's time as a ratio to every baseline of the
same run (sdpa-concat, sdpa-boolmask, flex, xformers-concat when present) and its % of the card's dense peak,
and ``check_targets`` prints each GPU target of docs/benchmarks.md as met / not met.

Run:  ``python -m csrc_bench.bench_cache_attention`` (prints a table, writes csrc_bench/results/<device>.csv)
or    ``pytest csrc_bench/bench_cache_attention.py [--bench-results]`` (pytest-benchmark).
"""

from __future__ import annotations

import argparse
import math
import warnings
from typing import Any, Callable

import pytest
import torch

from chai_kernels import _env
from chai_kernels.ops.cache_attention import cache_attention, prepare_cache
from chai_kernels.quant import quantize_kv
from chai_kernels.reference.cache_attention import cache_attention_reference
from csrc_bench import _harness as H
from csrc_bench.shapes import CPU_SHAPES, FRACTIONS, GPU_SHAPES, TINY_SHAPES, AttnShape, get_shape

__all__ = ["make_inputs", "make_provider", "PROVIDERS", "run_sweep", "main"]

PROVIDERS = (
    "sdpa-concat",
    "chai-triton",
    "chai-triton-unprepared",
    "chai-triton-int8",
    "chai-torch",
    "torch-eager",
    "sdpa-boolmask",
    "flex",
    "xformers-concat",
)
CACHE_BIAS = 0.0  # the SDPA dense baseline has no bias; a non-zero bias changes no kernel work


def selection_mask(shape: AttnShape, frac: float, device, seed: int = 0) -> torch.Tensor:
    """(Bc, M) keep-mask with round(frac * M) selected tokens per row in one contiguous, rolled run."""
    g = torch.Generator().manual_seed(seed)
    n_sel = int(round(frac * shape.M))
    mask = torch.zeros(shape.Bc, shape.M, dtype=torch.bool)
    mask[:, :n_sel] = True
    for r in range(shape.Bc):
        mask[r] = torch.roll(mask[r], int(torch.randint(0, shape.M, (1,), generator=g)))
    return mask.to(device)


def make_inputs(shape: AttnShape, frac: float, device, seed: int = 0) -> dict[str, Any]:
    g = torch.Generator().manual_seed(seed)

    def rnd(*s):
        return torch.randn(*s, generator=g).to(device=device, dtype=shape.dtype)

    return {
        "q": rnd(shape.B, shape.N, shape.H, shape.D),
        "k": rnd(shape.B, shape.N, shape.H, shape.D),
        "v": rnd(shape.B, shape.N, shape.H, shape.D),
        "k_cache": rnd(shape.Bc, shape.M, shape.H, shape.D),
        "v_cache": rnd(shape.Bc, shape.M, shape.H, shape.D),
        "cache_mask": selection_mask(shape, frac, device, seed),
    }


def _concat(x: dict[str, Any], shape: AttnShape):
    """(B, H, N + M, D) keys/values with cache row b % Bc, and the (B, 1, 1, N + M) bool mask (prebuilt)."""
    rows = torch.arange(shape.B, device=x["q"].device) % shape.Bc
    keys = torch.cat([x["k"], x["k_cache"][rows]], dim=1).transpose(1, 2).contiguous()
    vals = torch.cat([x["v"], x["v_cache"][rows]], dim=1).transpose(1, 2).contiguous()
    keep = torch.cat([torch.ones(shape.B, shape.N, dtype=torch.bool, device=keys.device), x["cache_mask"][rows]], 1)
    return keys, vals, keep[:, None, None, :]


def make_provider(provider: str, shape: AttnShape, frac: float, device, mode: str = "joint") -> Callable[[], Any]:
    """A zero-argument callable running ``provider`` on fresh inputs; raises RuntimeError('skip: ...')
    when the provider cannot run here."""
    device = torch.device(device)
    x = make_inputs(shape, frac, device)
    if provider.startswith("chai-triton"):
        if not _env.has_triton():
            raise RuntimeError("skip: triton not installed")
        if device.type != "cuda" and not (_env.interpret_mode() and shape.name in TINY_SHAPES):
            raise RuntimeError("skip: chai-triton needs CUDA (or the interpreter, on the tiny smoke shape only)")
        kc, vc = x["k_cache"], x["v_cache"]
        if provider == "chai-triton-int8":
            kc, vc = quantize_kv(kc), quantize_kv(vc)
        if provider == "chai-triton-unprepared":
            return lambda: cache_attention(x["q"], x["k"], x["v"], kc, vc, x["cache_mask"], mode=mode,
                                           cache_bias=CACHE_BIAS, backend="triton")  # fmt: skip
        prepared = prepare_cache(kc, vc, x["cache_mask"])  # once per hit in the model layer
        return lambda: cache_attention(x["q"], x["k"], x["v"], cache=prepared, mode=mode, cache_bias=CACHE_BIAS,
                                       backend="triton")  # fmt: skip
    if provider == "chai-torch":
        return lambda: cache_attention(**x, mode=mode, cache_bias=CACHE_BIAS, backend="torch")
    if provider == "torch-eager":
        return lambda: cache_attention_reference(**x, mode=mode, cache_bias=CACHE_BIAS, return_lse=True,
                                                 compute_dtype=torch.float32)  # fmt: skip
    if mode != "joint":
        raise RuntimeError(f"skip: {provider} has no replace-mode equivalent")
    q = x["q"].transpose(1, 2).contiguous()
    keys, vals, keep = _concat(x, shape)
    sdpa = torch.nn.functional.scaled_dot_product_attention
    if provider == "sdpa-concat":
        return lambda: sdpa(q, keys, vals)
    if provider == "sdpa-boolmask":
        return lambda: sdpa(q, keys, vals, attn_mask=keep)
    if provider == "flex":
        try:
            from torch.nn.attention.flex_attention import create_block_mask, flex_attention
        except ImportError as e:  # older torch
            raise RuntimeError(f"skip: flex_attention unavailable ({e})") from None
        keep_rows = keep[:, 0, 0, :]

        def mask_mod(b, h, q_idx, kv_idx):
            return keep_rows[b, kv_idx]

        block_mask = create_block_mask(mask_mod, shape.B, None, shape.N, shape.N + shape.M, device=str(device))
        if device.type == "cuda":
            fn = torch.compile(flex_attention, dynamic=False)
            return lambda: fn(q, keys, vals, block_mask=block_mask)

        def eager_flex():
            # on CPU the eager (unfused) flex is the baseline on purpose; its "use torch.compile" advice is noise
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="flex_attention called without torch.compile")
                return flex_attention(q, keys, vals, block_mask=block_mask)

        return eager_flex
    if provider == "xformers-concat":
        if device.type != "cuda":
            raise RuntimeError("skip: xformers has no CPU operator")
        try:
            import xformers.ops as xops  # optional baseline, never a dependency
        except Exception as e:
            raise RuntimeError(f"skip: xformers not installed ({type(e).__name__})") from None
        qx, kx, vx = q.transpose(1, 2), keys.transpose(1, 2), vals.transpose(1, 2)
        return lambda: xops.memory_efficient_attention(qx, kx, vx)
    raise ValueError(f"unknown provider {provider!r}.\nHINT: use one of {', '.join(PROVIDERS)}.")


def _row(shape: AttnShape, frac: float, mode: str, provider: str, timing, device, env, baseline_ms=None, skipped=""):
    extra = {"frac": frac, "mode": mode, "B": shape.B, "N": shape.N, "M": shape.M, "H": shape.H, "D": shape.D,
             "Bc": shape.Bc}  # fmt: skip
    if skipped:
        extra["skipped"] = skipped
    kv_bytes = 1 if provider.endswith("int8") else None
    return H.make_row(
        bench="cache_attention", case=shape.name, provider=provider, dtype=shape.dtype, timing=timing,
        flops=shape.flops(frac, mode), nbytes=shape.bytes_moved(frac, mode, kv_bytes=kv_bytes),
        baseline_ms=baseline_ms, baseline="sdpa-concat", device=device, extra=extra, env=env,
    )  # fmt: skip


def fill_ratios(rows: list[dict[str, Any]]) -> None:
    """ratio_to_baseline = median / median(sdpa-concat) for rows of the same case, dtype and frac."""
    import json

    base = {}
    for r in rows:
        if r["provider"] == "sdpa-concat" and r["median_ms"] != "":
            base[(r["case"], r["dtype"], json.loads(r["extra"])["frac"])] = float(r["median_ms"])
    for r in rows:
        b = base.get((r["case"], r["dtype"], json.loads(r["extra"])["frac"]))
        if b and r["median_ms"] != "":
            r["ratio_to_baseline"] = round(float(r["median_ms"]) / b, 4)


BASELINES = ("sdpa-concat", "sdpa-boolmask", "flex", "xformers-concat")


def _by_case(rows):
    import json

    table: dict[tuple, dict[str, dict]] = {}
    for r in rows:
        if r["median_ms"] == "":
            continue
        frac = json.loads(r["extra"])["frac"]
        table.setdefault((r["case"], r["dtype"], frac), {})[r["provider"]] = r
    return table


def summarize(rows: list[dict[str, Any]], provider: str = "chai-triton") -> str:
    """One line per (case, dtype, frac): ``provider``'s ms, its ratio to each baseline of the same run, % of peak."""
    lines = []
    for (case, dtype, frac), prov in sorted(_by_case(rows).items(), key=lambda kv: (kv[0][0], kv[0][1], -kv[0][2])):
        me = prov.get(provider)
        if me is None:
            continue
        t = float(me["median_ms"])
        parts = [f"{case} {dtype} frac={frac:g}: {provider} {t:.4g} ms"]
        for b in BASELINES:
            if b in prov:
                parts.append(f"{t / float(prov[b]['median_ms']):.2f}x {b}")
        if me.get("pct_peak_flops") not in (None, "", "unknown"):
            parts.append(f"{me['pct_peak_flops']}% of dense peak")
        lines.append(", ".join(parts))
    return "\n".join(lines)


def check_targets(rows: list[dict[str, Any]]) -> str:
    """The GPU targets of docs/benchmarks.md evaluated on rows of one run: one 'met' / 'NOT met' line each."""
    table = _by_case(rows)
    out = []

    def ms(case, dtype, frac, provider):
        r = table.get((case, dtype, frac), {}).get(provider)
        return None if r is None else float(r["median_ms"])

    cases = sorted({(c, d) for c, d, _ in table})
    for case, dtype in cases:
        fracs = sorted({f for c, d, f in table if (c, d) == (case, dtype)})
        dense = ms(case, dtype, 1.0, "chai-triton")
        if "temporal" in case:
            flex = ms(case, dtype, 1.0, "flex")
            if dense is not None and flex:
                ok = dense <= 1.2 * flex
                out.append(f"{case}: temporal {dense / flex:.2f}x flex (target <= 1.2x): {'met' if ok else 'NOT met'}")
            continue
        base = ms(case, dtype, 1.0, "sdpa-concat")
        if dense is not None and base:
            ok = dense <= base
            out.append(f"{case}: dense {dense / base:.2f}x sdpa-concat (target <= 1.0x): {'met' if ok else 'NOT met'}")
        quarter = ms(case, dtype, 0.25, "chai-triton")
        if dense and quarter is not None:
            ok = quarter <= 0.6 * dense
            out.append(f"{case}: 25 % at {quarter / dense:.2f}x dense (target <= 0.6x): {'met' if ok else 'NOT met'}")
        slower = [f for f in fracs if ms(case, dtype, f, "chai-triton") is not None
                  and ms(case, dtype, f, "sdpa-boolmask") is not None
                  and ms(case, dtype, f, "chai-triton") >= ms(case, dtype, f, "sdpa-boolmask")]  # fmt: skip
        if any(ms(case, dtype, f, "sdpa-boolmask") for f in fracs):
            out.append(f"{case}: faster than sdpa-boolmask at every fraction: "
                       f"{'met' if not slower else 'NOT met (slower at ' + str(slower) + ')'}")  # fmt: skip
        ratios = [ms(case, dtype, f, "chai-triton-int8") / ms(case, dtype, f, "chai-triton") for f in fracs
                  if ms(case, dtype, f, "chai-triton-int8") and ms(case, dtype, f, "chai-triton")]  # fmt: skip
        if ratios:
            ok = max(ratios) <= 1.05
            out.append(f"{case}: int8 / bf16 cached K/V {min(ratios):.2f}x..{max(ratios):.2f}x (target <= 1.05x): "
                       f"{'met' if ok else 'NOT met'}")  # fmt: skip
    return "\n".join(out)


def run_sweep(shape_names, fracs=FRACTIONS, providers=PROVIDERS, modes=("joint",), device=None,
              dtypes=None, verbose=True) -> list[dict[str, Any]]:  # fmt: skip
    device = torch.device(device) if device is not None else H.bench_device()
    env = H.env_info(device)
    rows = []
    for name in shape_names:
        for dtype in dtypes or (None,):
            shape = get_shape(name) if dtype is None else get_shape(name).with_dtype(dtype)
            for mode in modes:
                for frac in fracs:
                    for provider in providers:
                        try:
                            fn = make_provider(provider, shape, frac, device, mode)
                            timing = H.time_fn(fn, device=device, rep=None if device.type == "cuda" else 5)
                            rows.append(_row(shape, frac, mode, provider, timing, device, env))
                        except RuntimeError as e:
                            if not str(e).startswith("skip:"):
                                raise
                            rows.append(_row(shape, frac, mode, provider, None, device, env, skipped=str(e)[6:]))
                        if verbose and rows[-1]["median_ms"] != "":
                            print(f"  {shape.name} {shape.dtype} {mode} frac={frac} {provider}: "
                                  f"{rows[-1]['median_ms']} ms", flush=True)  # fmt: skip
    fill_ratios(rows)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    on_gpu = torch.cuda.is_available()
    ap.add_argument("--shapes", nargs="*", default=list(GPU_SHAPES if on_gpu else CPU_SHAPES))
    ap.add_argument("--fracs", nargs="*", type=float, default=list(FRACTIONS))
    ap.add_argument("--providers", nargs="*", default=list(PROVIDERS))
    ap.add_argument("--modes", nargs="*", default=["joint"])
    ap.add_argument("--no-write", action="store_true", help="print only; do not update csrc_bench/results/")
    args = ap.parse_args(argv)
    rows = run_sweep(args.shapes, args.fracs, args.providers, args.modes)
    if not on_gpu and _env.interpret_mode():
        rows += run_sweep(list(TINY_SHAPES), (1.0, 0.25), ("sdpa-concat", "chai-triton", "chai-triton-unprepared",
                                                "chai-triton-int8", "chai-torch"))  # fmt: skip
    measured = [r for r in rows if r["median_ms"] != ""]
    print(H.format_table(measured))
    print("\n== chai-triton against the baselines of this run")
    print(summarize(rows))
    print("\n== targets")
    print(check_targets(rows))
    if not args.no_write:
        print("wrote", H.write_rows(rows))
    return 0


# ------------------------------------------------------------------------------------------------------------
# pytest-benchmark entry points (collected from csrc_bench/ by the repo's pytest config)
# ------------------------------------------------------------------------------------------------------------

_ROWS: list[dict[str, Any]] = []


@pytest.fixture(scope="module", autouse=True)
def _collect_rows(request):
    yield
    fill_ratios(_ROWS)
    if _ROWS and request.config.getoption("--bench-results", default=False):
        H.write_rows(_ROWS)


def _bench(benchmark, shape: AttnShape, frac: float, provider: str, mode: str = "joint", rounds: int = 3):
    device = H.bench_device()
    try:
        fn = make_provider(provider, shape, frac, device, mode)
    except RuntimeError as e:
        if str(e).startswith("skip:"):
            pytest.skip(str(e)[6:])
        raise
    if device.type == "cuda":
        H.sync(device)
        benchmark.pedantic(lambda: (fn(), H.sync(device)), rounds=max(rounds, 20), iterations=1, warmup_rounds=3)
    else:
        benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1)
    data = [t * 1e3 for t in benchmark.stats.stats.data]
    timing = H._quantiles(data)
    benchmark.extra_info.update(frac=frac, mode=mode, case=shape.name, provider=provider)
    _ROWS.append(_row(shape, frac, mode, provider, timing, device, H.env_info(device)))
    assert math.isfinite(timing.median_ms)


def _cpu_or_gpu_cases():
    """On CUDA: the OpenSora shapes x fractions x providers; on CPU a reduced grid (< 1 min)."""
    if torch.cuda.is_available():
        return [(s, f, p) for s in ("240p-spatial", "480p-spatial") for f in FRACTIONS for p in PROVIDERS]
    cases = [("240p-spatial-cpu", f, p) for f in (1.0, 0.25) for p in ("sdpa-concat", "chai-torch", "sdpa-boolmask")]
    cases += [("240p-spatial-cpu", 1.0, "torch-eager"), ("240p-spatial-cpu", 0.25, "flex")]
    cases += [("240p-temporal-cpu", 1.0, p) for p in ("sdpa-concat", "chai-torch")]
    return cases


@pytest.mark.benchmark
@pytest.mark.parametrize("case,frac,provider", _cpu_or_gpu_cases())
def test_bench_cache_attention(benchmark, case, frac, provider):
    _bench(benchmark, get_shape(case), frac, provider)


@pytest.mark.benchmark
@pytest.mark.interpret
@pytest.mark.parametrize("provider", ["chai-triton", "chai-triton-int8", "chai-triton-unprepared"])
@pytest.mark.parametrize("case", TINY_SHAPES)
def test_bench_interpreter_smoke(benchmark, provider, case):
    """The real kernel on the tiny shapes (interpreter on CPU): a smoke run, not a performance number."""
    if not (torch.cuda.is_available() or _env.interpret_mode()):
        pytest.skip("needs CUDA or TRITON_INTERPRET=1")
    _bench(benchmark, get_shape(case), 0.5, provider, rounds=1)


def test_summary_and_targets_read_rows_of_one_run():
    """The report the GPU lease prints: ratios to every baseline and each target, met or not."""
    import json

    def row(case, provider, frac, ms, pct="unknown"):
        return {"case": case, "dtype": "bfloat16", "provider": provider, "median_ms": ms,
                "extra": json.dumps({"frac": frac}), "pct_peak_flops": pct}  # fmt: skip

    rows = [row("240p-spatial", "sdpa-concat", 1.0, 0.2), row("240p-spatial", "sdpa-boolmask", 1.0, 0.3),
            row("240p-spatial", "chai-triton", 1.0, 0.25, 20.5), row("240p-spatial", "chai-triton-int8", 1.0, 0.25),
            row("240p-spatial", "sdpa-boolmask", 0.25, 0.3), row("240p-spatial", "chai-triton", 0.25, 0.1),
            row("240p-temporal", "chai-triton", 1.0, 0.1), row("240p-temporal", "flex", 1.0, 0.1),
            row("240p-spatial", "flex", 1.0, "")]  # fmt: skip
    text = summarize(rows)
    assert "240p-spatial bfloat16 frac=1: chai-triton 0.25 ms, 1.25x sdpa-concat, 0.83x sdpa-boolmask" in text
    assert "20.5% of dense peak" in text and "flex" not in text.splitlines()[0]
    targets = check_targets(rows)
    assert "dense 1.25x sdpa-concat (target <= 1.0x): NOT met" in targets
    assert "25 % at 0.40x dense (target <= 0.6x): met" in targets
    assert "faster than sdpa-boolmask at every fraction: met" in targets
    assert "int8 / bf16 cached K/V 1.00x..1.00x (target <= 1.05x): met" in targets
    assert "240p-temporal: temporal 1.00x flex (target <= 1.2x): met" in targets


@pytest.mark.benchmark
@pytest.mark.gpu
@pytest.mark.parametrize("case", ["240p-spatial", "480p-spatial"])
@pytest.mark.parametrize("provider", ["chai-triton", "chai-triton-int8"])
@pytest.mark.parametrize("frac", [1.0, 0.25])
def test_bench_int8_vs_bf16_kv(benchmark, case, provider, frac):
    _bench(benchmark, get_shape(case), frac, provider)


@pytest.mark.benchmark
@pytest.mark.gpu
@pytest.mark.parametrize("case", ["240p-spatial", "480p-spatial"])
@pytest.mark.parametrize("frac", [1.0, 0.25, 0.0])
def test_bench_replace_mode(benchmark, case, frac):
    _bench(benchmark, get_shape(case), frac, "chai-triton", mode="replace")


if __name__ == "__main__":
    raise SystemExit(main())
