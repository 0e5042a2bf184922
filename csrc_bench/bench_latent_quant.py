"""Microbenchmark: dequantize_latent (fused Triton) vs eager PyTorch dequantize vs a plain copy, and bytes per entry.

Run: ``python -m csrc_bench.bench_latent_quant [--quick] [--write]`` (CUDA when present, else CPU).
Collected by pytest as a quick CPU smoke test (tiny shape, triton provider through the interpreter).

Providers, all writing the same (B, C, T, H, W) output of dtype ``out``:

- ``chai-triton``  ``dequantize_latent(qx, dtype=out, out=buf, backend="triton")``: reads data + scales once,
                   writes ``out`` once.
- ``torch-eager``  ``(data.float() * scale[..., None, None]).to(out)``: the reference path (float32 temporaries).
- ``copy``         ``buf.copy_(src)`` of the same output bytes: the bandwidth ceiling for a pass that writes them.

Bytes moved per call (used for GB/s):
  dequantize:  numel * itemsize(storage) + B*C*T * 4 (scales) + numel * itemsize(out)
  copy:        2 * numel * itemsize(out)                       (read + write)
GPU target: chai-triton GB/s >= 70 % of copy GB/s on the large shapes. The 240p latents are only
95,400 values (0.1 MB int8): they are launch-bound on any GPU, so the ratio is judged on ``*-x16`` batches.

Bytes per 240p cache entry (three latents, 4 x T x 30 x 53) are measured from ``QuantizedLatent.to_bytes()``
(56-byte header + data + float32 scales), see ``entry_bytes_table``.
"""

from __future__ import annotations

import argparse

import torch

from chai_kernels import _env, dequantize_latent, quantize_latent
from chai_kernels.quant import QuantizedLatent
from csrc_bench import _harness as H

# name -> (B, C, T, H, W). OpenSora 1.2 VAE latents (4 channels, 4x time, 8x space); "-x16" batches 16 entries
# so a GPU run measures bandwidth rather than launch latency.
LATENT_SHAPES: dict[str, tuple[int, int, int, int, int]] = {
    "240p-51f": (1, 4, 15, 30, 53),
    "240p-68f": (1, 4, 20, 30, 53),
    "480p-51f": (1, 4, 15, 60, 106),
    "720p-102f": (1, 4, 30, 90, 160),
    "240p-68f-x16": (16, 4, 20, 30, 53),
    "720p-102f-x16": (16, 4, 30, 90, 160),
    "tiny": (1, 4, 3, 30, 53),  # interpreter smoke shape (one 240p frame slab)
}
GPU_CASES = ("240p-51f", "240p-68f", "480p-51f", "720p-102f", "240p-68f-x16", "720p-102f-x16")
CPU_CASES = ("240p-51f", "240p-68f", "240p-68f-x16")
STORAGE = (torch.int8, torch.float8_e4m3fn)
OUT_DTYPES = (torch.bfloat16, torch.float32)
ENTRY_DTYPES = (torch.float32, torch.bfloat16, torch.int8, torch.float8_e4m3fn)
ENTRY_SHAPES = {"240p-51f (T=15)": (1, 4, 15, 30, 53), "240p-68f (T=20)": (1, 4, 20, 30, 53)}


def _itemsize(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


def dequant_bytes(shape, storage: torch.dtype, out: torch.dtype) -> int:
    numel = shape[0] * shape[1] * shape[2] * shape[3] * shape[4]
    return numel * _itemsize(storage) + shape[0] * shape[1] * shape[2] * 4 + numel * _itemsize(out)


def copy_bytes(shape, out: torch.dtype) -> int:
    numel = shape[0] * shape[1] * shape[2] * shape[3] * shape[4]
    return 2 * numel * _itemsize(out)


def eager_dequantize(qx: QuantizedLatent, out_dtype: torch.dtype) -> torch.Tensor:
    """The baseline a user would write without the kernel."""
    return (qx.data.float() * qx.scale[..., None, None]).to(out_dtype)


def make_case(shape, storage: torch.dtype, out_dtype: torch.dtype, device, seed: int = 0):
    """Random latent quantized on ``device`` plus the providers' callables (all writing ``out_dtype``)."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(shape, generator=g) * 2.5).to(device)
    qx = quantize_latent(x, dtype=storage)
    buf = torch.full(shape, float("nan"), dtype=out_dtype, device=device)
    src = x.to(out_dtype)
    dst = torch.empty_like(src)
    providers = {
        "chai-triton": lambda: dequantize_latent(qx, dtype=out_dtype, out=buf, backend="triton"),
        "torch-eager": lambda: eager_dequantize(qx, out_dtype),
        "copy": lambda: dst.copy_(src),
    }
    return qx, buf, providers


def run_case(name: str, storage: torch.dtype, out_dtype: torch.dtype, device, *, providers=None, env=None, **timing):
    """Time the providers on one case; returns result rows (GB/s, ratio to copy) and checks the triton output."""
    shape = LATENT_SHAPES[name]
    qx, buf, fns = make_case(shape, storage, out_dtype, device)
    wanted = providers or tuple(fns)
    can_triton = _env.has_triton() and (torch.device(device).type == "cuda" or _env.interpret_mode())
    timings = {}
    for prov in wanted:
        if prov == "chai-triton" and not can_triton:
            continue
        timings[prov] = H.time_fn(fns[prov], device=device, **timing)
    if "chai-triton" in timings:  # a benchmark of a wrong kernel is worthless: check the output it timed
        ref = eager_dequantize(qx, out_dtype).float()
        tol = 2.0**-7 * ref.abs() if out_dtype == torch.bfloat16 else 1e-6 * ref.abs()
        if not bool(((buf.float() - ref).abs() <= tol).all()):
            raise RuntimeError(f"chai-triton output differs from the eager dequantize on {name} {storage}->{out_dtype}")
    copy_ms = timings["copy"].median_ms if "copy" in timings else None
    copy_gbps = copy_bytes(shape, out_dtype) / copy_ms if copy_ms else None  # bytes per ms, unrounded
    rows = []
    for prov, t in timings.items():
        nbytes = copy_bytes(shape, out_dtype) if prov == "copy" else dequant_bytes(shape, storage, out_dtype)
        row = H.make_row(
            bench="latent_quant",
            case=name,
            provider=prov,
            dtype=out_dtype,
            timing=t,
            nbytes=nbytes,
            baseline_ms=copy_ms,
            baseline="copy",
            device=device,
            env=env,
            extra={"storage": str(storage).replace("torch.", ""), "interpret": _env.interpret_mode()},
        )
        # Fraction of the copy bandwidth (the GPU target: >= 0.70 for chai-triton, docs/kernels/quantization.md).
        # four significant digits (a fixed 4 decimals rounds the interpreter's ~1e-5 ratios to 0)
        row["bw_vs_copy"] = float(f"{nbytes / t.median_ms / copy_gbps:.4g}") if copy_gbps else ""
        rows.append(row)
    return rows


def entry_bytes_table() -> list[dict[str, object]]:
    """Bytes of one cache entry (three latents) per storage dtype, measured from the serialised format."""
    table = []
    for label, shape in ENTRY_SHAPES.items():
        x = torch.randn(shape)
        fp32 = None
        for dtype in ENTRY_DTYPES:
            qx = quantize_latent(x, dtype=dtype)
            serialised = 3 * len(qx.to_bytes())
            fp32 = fp32 or serialised
            table.append(
                {
                    "entry": label,
                    "storage": str(dtype).replace("torch.", ""),
                    "in_memory_bytes": 3 * qx.nbytes,
                    "serialised_bytes": serialised,
                    "MB": round(serialised / 1e6, 3),
                    "vs_float32": round(fp32 / serialised, 2),
                }
            )
    return table


def _format(table: list[dict[str, object]]) -> str:
    cols = list(table[0])
    cells = [[str(r[c]) for c in cols] for r in table]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    out = ["  ".join(c.ljust(w) for c, w in zip(cols, widths)), "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(out)


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="one storage dtype and the 240p cases only")
    p.add_argument("--write", action="store_true", help="upsert rows into csrc_bench/results/<device>.csv")
    args = p.parse_args(argv)
    device = H.bench_device()
    env = H.env_info(device)
    if device.type == "cuda":
        cases = GPU_CASES[:2] if args.quick else GPU_CASES
        providers = None
    else:
        # The interpreter runs the kernel in numpy: its timings say nothing about the kernel; CPU rows time
        # the torch providers only, plus the triton provider on the tiny shape when interpreting.
        cases = CPU_CASES[:1] if args.quick else CPU_CASES
        providers = ("torch-eager", "copy")
    rows = []
    for storage in STORAGE[:1] if args.quick else STORAGE:
        for out_dtype in OUT_DTYPES:
            for name in cases:
                rows += run_case(name, storage, out_dtype, device, providers=providers, env=env)
            if device.type == "cpu" and _env.interpret_mode():
                rows += run_case("tiny", storage, out_dtype, device, env=env, rep=3)
    print(f"device: {env['device']}  torch {env['torch']}  triton {env['triton']}")
    print(
        H.format_table(
            rows, ["case", "extra", "dtype", "provider", "median_ms", "gbps", "bw_vs_copy", "ratio_to_baseline"]
        )
    )
    print("\nbytes per cache entry (three latents, serialised with the 56-byte header):")
    print(_format(entry_bytes_table()))
    if args.write:
        for row in rows:
            row.pop("bw_vs_copy", None)
        print("wrote", H.write_rows(rows))
    return rows


# ---------------------------------------------------------------------------------------------------------------------
# pytest: quick CPU smoke (no timing asserts)
# ---------------------------------------------------------------------------------------------------------------------
def test_bench_latent_quant_smoke(bench_print):
    import pytest

    if not (_env.interpret_mode() or torch.cuda.is_available()):
        pytest.skip("needs TRITON_INTERPRET=1 or CUDA for the triton provider")
    rows = []
    for storage in STORAGE:
        rows += run_case("tiny", storage, torch.bfloat16, H.bench_device(), warmup=1, rep=2, max_seconds=0.5)
    provs = sorted({r["provider"] for r in rows})
    assert provs == ["chai-triton", "copy", "torch-eager"]
    for r in rows:
        assert r["median_ms"] > 0 and r["gbps"] > 0 and r["bw_vs_copy"] > 0
    where = "CPU interpreter: not kernel performance" if _env.interpret_mode() else H.device_name()
    bench_print(f"\n[bench_latent_quant, tiny shape, {where}]")
    bench_print(H.format_table(rows, ["case", "extra", "provider", "median_ms", "gbps", "bw_vs_copy"]))


def test_entry_bytes_table(bench_print):
    table = entry_bytes_table()
    by = {(r["entry"], r["storage"]): r for r in table}
    for label, (b, c, t, h, w) in ENTRY_SHAPES.items():
        numel, rows = b * c * t * h * w, b * c * t
        for dtype in ENTRY_DTYPES:
            r = by[(label, str(dtype).replace("torch.", ""))]
            assert r["serialised_bytes"] == 3 * (56 + numel * _itemsize(dtype) + rows * 4)
            assert r["in_memory_bytes"] == 3 * (numel * _itemsize(dtype) + rows * 4)
        assert 3.9 < by[(label, "int8")]["vs_float32"] < 4.0
    bench_print("\n" + _format(table))


if __name__ == "__main__":
    main()
