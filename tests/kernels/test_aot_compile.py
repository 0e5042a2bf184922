"""Tier 2b: compile the real Triton kernels for sm_90 (H100 / H200) on a machine without a GPU.

The interpreter tier runs the kernels' arithmetic but never type-checks or lowers them; a kernel that
passed every interpreter test once failed to compile on an H200 (a loop variable reused as int32 and
int64). Here the full compiler pipeline (TTIR -> PTX -> cubin with Triton's bundled ptxas) runs on the
launcher's own arguments, specialised exactly as the runtime would, in a subprocess with
``TRITON_INTERPRET`` unset. The compiler's output is then checked for the structure that makes the
kernel do only useful work:

- head dim 72 costs the MMA work of 64 + 16 channels per key block, not 128 (Triton IR dot shapes, and the
  multiply-accumulates of the Hopper ``wgmma`` instructions in the PTX);
- the interior key loops (current keys, full cached blocks) hold no comparison, no select and no masked
  load other than the loop-invariant channel mask of the 16-wide chunk; only the peeled ragged block and
  the partial cached blocks pay for masks (checked in the Triton IR: in the PTX the software pipeliner
  adds its own iteration-bound predicates to every pipelined loop, which says nothing about our masks);
- rows move in 16-byte loads (no 2-byte scalar loads: OpenSora's head stride 72 made 192 of 241 loads
  2-byte scalars before the alignment hints);
- packed tiles for short sequences compile with the packed tile shape.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

triton = pytest.importorskip("triton")

from chai_kernels.triton import aot  # noqa: E402

REPO = Path(__file__).resolve().parents[2]

_SCRIPT = textwrap.dedent(
    """
    import json, sys, torch
    from chai_kernels.triton import configs as C
    from chai_kernels.triton.aot import hopper, ptx_load_widths, ptx_mma_macs, ttir_regions
    from chai_kernels.triton.cache_attention import cache_attention_fwd_triton, head_dim_chunks
    from chai_kernels.triton.latent_quant import compile_quant_kernels_for_target
    from chai_kernels.quant import quantize_kv

    cases = json.loads(sys.argv[1])
    out = []
    g = torch.Generator().manual_seed(0)
    for c in cases:
        dt = getattr(torch, c["dtype"])
        B, N, M, H, D, Bc = c["B"], c["N"], c["M"], c["H"], c["D"], c.get("Bc", 1)
        mk = lambda *s: torch.randn(*s, generator=g).to(dt)
        q, k, v = mk(B, N, H, D), mk(B, N, H, D), mk(B, N, H, D)
        kc, vc = mk(Bc, M, H, D), mk(Bc, M, H, D)
        mask = None if c.get("no_mask") else torch.rand(Bc, M, generator=g) < 0.5
        kw = dict(mode=c["mode"], compile_target=hopper())
        if c["quant"]:
            qdt = getattr(torch, c["quant"])
            kq, vq = quantize_kv(kc, dtype=qdt), quantize_kv(vc, dtype=qdt)
            ck = cache_attention_fwd_triton(q, k, v, kq.data, vq.data, mask, k_scale=kq.scale, v_scale=vq.scale, **kw)
        else:
            ck = cache_attention_fwd_triton(q, k, v, kc, vc, mask, **kw)
        ptx = ck.asm["ptx"]
        d_a, d_b = head_dim_chunks(D)
        pack, n_pad = C.pack_rows(N, N, M, B, d_a + d_b)
        cfg = C.packed_config(pack, n_pad) if pack > 1 else C.cache_attention_config(d_a + d_b, dt)
        b16 = sum(1 for l in ptx.splitlines() if "ld.global" in l and (".b16" in l or ".u16" in l))
        out.append(dict(case=c, loads=ptx_load_widths(ptx), b16=b16, cp16=ptx.count("cp.async.cg.shared.global"),
                        wgmma=ptx.count("wgmma.mma_async"), macs=ptx_mma_macs(ptx),
                        regions=ttir_regions(ck.asm["ttir"]),
                        chunks=[d_a, d_b], pack=pack, block=[cfg.BLOCK_M, cfg.BLOCK_N],
                        cubin=len(ck.asm["cubin"]), shared=ck.metadata.shared))
    quant = compile_quant_kernels_for_target(hopper())
    print("RESULT" + json.dumps(dict(cases=out, quant=quant)))
    """
)

CASES = [
    # OpenSora's case: bf16, head dim 72 (64 + 16 chunks), N and M not multiples of the block
    dict(dtype="bfloat16", mode="joint", quant=None, B=2, N=405, M=405, H=16, D=72),
    dict(dtype="bfloat16", mode="replace", quant=None, B=2, N=405, M=405, H=16, D=72),
    dict(dtype="bfloat16", mode="joint", quant="int8", B=2, N=405, M=405, H=16, D=72),
    dict(dtype="bfloat16", mode="joint", quant="float8_e4m3fn", B=2, N=405, M=405, H=16, D=72),
    dict(dtype="float16", mode="joint", quant=None, B=1, N=100, M=77, H=3, D=64),
    dict(dtype="bfloat16", mode="joint", quant=None, B=1, N=100, M=77, H=3, D=128, no_mask=True),
    dict(dtype="float32", mode="joint", quant=None, B=1, N=100, M=77, H=3, D=72),
    # the other chunk layouts: 16 + 16 (8 real), 128 + 16 (8 real), 128 + 128 (72 real), one 256 chunk
    dict(dtype="float16", mode="joint", quant=None, B=2, N=100, M=77, H=2, D=24),
    dict(dtype="bfloat16", mode="replace", quant=None, B=2, N=100, M=77, H=2, D=136),
    dict(dtype="float16", mode="joint", quant="int8", B=2, N=100, M=77, H=2, D=200),
    dict(dtype="bfloat16", mode="joint", quant=None, B=2, N=100, M=77, H=2, D=256),
    # OpenSora's temporal attention: N = M = 15, packed tiles (several batch rows per program)
    dict(dtype="bfloat16", mode="joint", quant=None, B=30, N=15, M=15, H=16, D=72, Bc=15),
    dict(dtype="bfloat16", mode="replace", quant="int8", B=30, N=15, M=15, H=16, D=72, Bc=15),
]


@pytest.fixture(scope="module")
def compiled():
    if not aot.supported():
        pytest.skip(f"Triton {triton.__version__} lacks the runtime internals the AOT helper uses")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["CUDA_VISIBLE_DEVICES"] = ""  # never touch a GPU, even where one exists
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps(CASES)], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, f"sm_90 compile failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT"))
    return json.loads(line[len("RESULT") :])


def _dot_regions(r):
    return [g for g in r["regions"] if g["dots"]]


def test_every_cache_attention_variant_compiles_to_a_cubin_for_sm90(compiled):
    assert len(compiled["cases"]) == len(CASES)
    for r in compiled["cases"]:
        assert r["cubin"] > 0, r["case"]
        assert r["shared"] > 0, r["case"]


def test_half_precision_variants_use_hopper_wgmma(compiled):
    for r in compiled["cases"]:
        if r["case"]["dtype"] in ("bfloat16", "float16"):
            assert r["wgmma"] > 0, f"no wgmma in {r['case']}: the dots fell back to older instructions"


def test_head_dim_72_costs_the_mma_work_of_80_channels_not_128(compiled):
    """Per key block the dots multiply 64 + 16 channels (QK^T: K = 64 and 16; PV: N = 64 and 16)."""
    for r in compiled["cases"]:
        c = r["case"]
        if c["D"] != 72 or r["pack"] > 1:
            continue
        assert r["chunks"] == [64, 16]
        bm, bn = r["block"]
        per_block = 2 * bm * bn * (64 + 16)
        regions = _dot_regions(r)
        assert len(regions) == 4, f"{c}: expected 4 key-block bodies, got {regions}"
        for g in regions:
            assert sum(m * n * k for m, n, k in g["dots"]) == per_block, f"{c}: {g['dots']}"
            assert max(k for _, _, k in g["dots"]) <= 64 and max(n for _, n, _ in g["dots"]) <= 64
        if c["dtype"] == "bfloat16":
            # the same in the instructions the GPU runs: every wgmma of the 4 bodies, 80 channels each
            assert r["macs"] == 4 * per_block, f"{c}: {r['macs']} MACs vs {4 * per_block}"
            assert r["macs"] < 4 * 2 * bm * bn * 128


def test_every_dot_tile_is_at_least_16_wide(compiled):
    """GPU MMA needs M, N, K >= 16 (the interpreter accepts less): the 8 real channels of 72's second chunk ride in
    a 16-wide tile, and packed tiles have >= 16 rows."""
    for r in compiled["cases"]:
        dots = [d for g in r["regions"] for d in g["dots"]]
        assert dots and min(min(d) for d in dots) >= 16, f"{r['case']}: {dots}"


def test_interior_key_loops_have_no_bounds_masks_and_no_select(compiled):
    for r in compiled["cases"]:
        c = r["case"]
        if r["pack"] > 1:
            continue
        regions = _dot_regions(r)
        loops = [g for g in regions if g["kind"] == "for"]
        interior = [g for g in loops if g["cmpi"] == 0 and g["select"] == 0]
        # current keys' loop and the full cached blocks' loop; the partial blocks' loop is the masked one
        assert len(loops) == 3 and len(interior) == 2, f"{c}: {regions}"
        for g in interior:
            # only the loop-invariant channel mask of chunk B (its K and V loads) may remain
            assert g["masked_loads"] == (2 if r["chunks"][1] else 0), f"{c}: {g}"
        masked = [g for g in regions if g not in interior]
        assert len(masked) == 2 and all(g["select"] >= 1 for g in masked), f"{c}: {masked}"


def test_rows_load_128_bits_at_a_time(compiled):
    """Q / K / V rows move in 16-byte pieces (ld.global.v4 or 16-byte cp.async), never as 2-byte scalars."""
    for r in compiled["cases"]:
        c = r["case"]
        if c["dtype"] != "bfloat16":
            continue
        wide = r["loads"]["v4"] + r["cp16"]
        assert wide > 0, f"no 128-bit loads for {c}: {r['loads']}"
        assert r["b16"] == 0, f"{c}: {r['b16']} two-byte row loads"


def test_short_sequences_compile_as_packed_tiles(compiled):
    packed = [r for r in compiled["cases"] if r["case"]["N"] == 15]
    assert packed and all(r["pack"] > 1 for r in packed)
    for r in packed:
        bm, bn = r["block"]
        assert bm == r["pack"] * 16 >= 32, r["case"]  # NP = 16 rows per packed batch row
        regions = _dot_regions(r)
        assert not [g for g in regions if g["kind"] == "for"], "packed tiles have no key loop"
        assert {m for g in regions for m, _, _ in g["dots"]} == {bm}


def test_latent_quant_kernels_compile_for_sm90(compiled):
    assert compiled["quant"], "no quant kernels compiled"
    for name, size in compiled["quant"].items():
        assert size > 0, name


def test_aot_refuses_to_run_under_the_interpreter(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET unset"):
        aot.compile_for_target(object(), None, (), {})


def test_ptx_load_widths_counts_vector_and_scalar_loads():
    ptx = "\n".join(
        [
            "@%p1 ld.global.v4.b32 { %r2, %r3, %r4, %r5 }, [ %rd1 + 0 ];",
            "ld.global.v2.b32 { %r1, %r2 }, [ %rd3 + 0 ];",
            "@%p2 ld.global.b16 { %rs1 }, [ %rd2 + 0 ];",
            "st.global.b16 [ %rd2 + 0 ], { %rs2 };",
            "wgmma.mma_async.sync.aligned.m64n16k16.f32.bf16.bf16 {...};",
        ]
    )
    assert aot.ptx_load_widths(ptx) == {"v4": 1, "v2": 1, "scalar": 1}
    assert aot.ptx_mma_macs(ptx) == 64 * 16 * 16


def test_ttir_regions_attribute_ops_to_the_innermost_loop_or_branch():
    ttir = "\n".join(
        [
            "tt.func public @k(%a: i32) {",
            "  %m = arith.cmpi slt, %a, %b : i32",
            "  %r:2 = scf.for %i = %c0 to %n step %c1 iter_args(%x = %y) -> (f32) : i32 {",
            "    %l = tt.load %p : tensor<64x32x!tt.ptr<bf16>>",
            "    %l2 = tt.load %p, %mask, %cst : tensor<16x32x!tt.ptr<bf16>>",
            "    %d = tt.dot %q, %l, %c, inputPrecision = tf32 : tensor<128x64xbf16> * tensor<64x32xbf16> -> tensor<128x32xf32>",  # noqa: E501
            '    %mx = "tt.reduce"(%d) <{axis = 1 : i32}> ({',
            "    ^bb0(%u: f32, %w: f32):",
            "      %z = arith.maxnumf %u, %w : f32",
            "      tt.reduce.return %z : f32",
            "    }) : (tensor<128x32xf32>) -> tensor<128xf32>",
            "    %s = arith.select %m2, %d, %cst : tensor<128x32xi1>, tensor<128x32xf32>",
            "    scf.yield %x : f32",
            "  } loc(#loc1)",
            "  %c = scf.if %m -> (f32) {",
            "    scf.yield %x : f32",
            "  } else {",
            "    %e = arith.cmpi eq, %a, %a : i32",
            "    scf.yield %x : f32",
            "  } loc(#loc2)",
            "} loc(#loc)",
        ]
    )
    func, loop, branch, other = aot.ttir_regions(ttir)
    assert func["cmpi"] == 1 and not func["dots"]
    assert loop == {"kind": "for", "dots": [(128, 32, 64)], "cmpi": 0, "select": 1, "loads": 2, "masked_loads": 1}
    assert branch["kind"] == "if" and other["kind"] == "else" and other["cmpi"] == 1


def test_row_alignment_hint_is_the_largest_power_of_two_dividing_every_row_start():
    """The launcher's STRIDE_ALIGN is asserted to the compiler: a value too large would make the GPU
    read misaligned rows silently (the interpreter ignores the hint), so it must shrink for odd layouts."""
    import torch

    from chai_kernels.triton.cache_attention import _row_alignment

    def t(*shape, dtype=torch.bfloat16):
        return torch.randn(*shape).to(dtype)

    assert _row_alignment([t(2, 405, 16, 72), t(1, 405, 16, 72)]) == 8  # OpenSora: head stride 72
    assert _row_alignment([t(2, 33, 4, 64)]) == 16
    assert _row_alignment([t(2, 33, 3, 36)]) == 4
    wide = t(2, 33, 4, 80)
    assert _row_alignment([wide[..., :72]]) == 16  # a view: strides 80-based, base aligned
    assert _row_alignment([wide[..., 1:73]]) == 1  # base pointer one element in
    assert _row_alignment([t(2, 33, 4, 64), t(2, 33, 3, 36)]) == 4  # the common value over all tensors
    assert _row_alignment([t(2, 33, 4, 72, dtype=torch.int8)]) == 8
