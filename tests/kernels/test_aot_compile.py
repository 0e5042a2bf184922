"""Tier 2b: compile the real Triton kernels for sm_90 (H100 / H200) on a machine without a GPU.

The interpreter tier runs the kernels' arithmetic but never type-checks or lowers them; a kernel that
passed every interpreter test once failed to compile on an H200 (a loop variable reused as int32 and
int64). Here the full compiler pipeline (TTIR -> PTX -> cubin with Triton's bundled ptxas) runs on the
launcher's own arguments, specialised exactly as the runtime would, in a subprocess with
``TRITON_INTERPRET`` unset. The PTX is also checked for what makes the kernel fast on Hopper:
128-bit row loads (OpenSora's head stride 72 made them 2-byte scalar loads before the alignment
hints) and wgmma matrix instructions.
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
    from chai_kernels.triton.aot import hopper, ptx_load_widths
    from chai_kernels.triton.cache_attention import cache_attention_fwd_triton
    from chai_kernels.triton.latent_quant import compile_quant_kernels_for_target
    from chai_kernels.quant import quantize_kv

    cases = json.loads(sys.argv[1])
    out = []
    g = torch.Generator().manual_seed(0)
    for c in cases:
        dt = getattr(torch, c["dtype"])
        B, N, M, H, D = c["B"], c["N"], c["M"], c["H"], c["D"]
        mk = lambda *s: torch.randn(*s, generator=g).to(dt)
        q, k, v = mk(B, N, H, D), mk(B, N, H, D), mk(B, N, H, D)
        kc, vc = mk(1, M, H, D), mk(1, M, H, D)
        mask = torch.rand(1, M, generator=g) < 0.5
        kw = dict(mode=c["mode"], compile_target=hopper())
        if c["quant"]:
            kq, vq = quantize_kv(kc, dtype=getattr(torch, c["quant"])), quantize_kv(vc, dtype=getattr(torch, c["quant"]))
            ck = cache_attention_fwd_triton(q, k, v, kq.data, vq.data, mask, k_scale=kq.scale, v_scale=vq.scale, **kw)
        else:
            ck = cache_attention_fwd_triton(q, k, v, kc, vc, mask, **kw)
        ptx = ck.asm["ptx"]
        out.append(dict(case=c, loads=ptx_load_widths(ptx), cp16=ptx.count("cp.async.cg.shared.global"),
                        wgmma=ptx.count("wgmma.mma_async"), cubin=len(ck.asm["cubin"]), shared=ck.metadata.shared))
    quant = compile_quant_kernels_for_target(hopper())
    print("RESULT" + json.dumps(dict(cases=out, quant=quant)))
    """
)

CASES = [
    # OpenSora's case: bf16, head dim 72 (padded to 128 in the kernel), N not a multiple of the block
    dict(dtype="bfloat16", mode="joint", quant=None, B=2, N=405, M=405, H=16, D=72),
    dict(dtype="bfloat16", mode="replace", quant=None, B=2, N=405, M=405, H=16, D=72),
    dict(dtype="bfloat16", mode="joint", quant="int8", B=2, N=405, M=405, H=16, D=72),
    dict(dtype="bfloat16", mode="joint", quant="float8_e4m3fn", B=2, N=405, M=405, H=16, D=72),
    dict(dtype="float16", mode="joint", quant=None, B=1, N=100, M=77, H=3, D=64),
    dict(dtype="float32", mode="joint", quant=None, B=1, N=100, M=77, H=3, D=72),
]


@pytest.fixture(scope="module")
def compiled():
    if not aot.supported():
        pytest.skip(f"Triton {triton.__version__} lacks the runtime internals the AOT helper uses")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["CUDA_VISIBLE_DEVICES"] = ""  # never touch a GPU, even where one exists
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps(CASES)], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, f"sm_90 compile failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT"))
    return json.loads(line[len("RESULT") :])


def test_every_cache_attention_variant_compiles_to_a_cubin_for_sm90(compiled):
    assert len(compiled["cases"]) == len(CASES)
    for r in compiled["cases"]:
        assert r["cubin"] > 0, r["case"]
        assert r["shared"] > 0, r["case"]


def test_half_precision_variants_use_hopper_wgmma(compiled):
    for r in compiled["cases"]:
        if r["case"]["dtype"] in ("bfloat16", "float16"):
            assert r["wgmma"] > 0, f"no wgmma in {r['case']}: the dots fell back to older instructions"


def test_head_dim_72_rows_load_128_bits_at_a_time(compiled):
    """Q / K / V rows move in 16-byte pieces (ld.global.v4 or 16-byte cp.async), not 2-byte scalars."""
    for r in compiled["cases"]:
        c = r["case"]
        if c["dtype"] != "bfloat16":
            continue
        wide = r["loads"]["v4"] + r["cp16"]
        assert wide > 0, f"no 128-bit loads for {c}: {r['loads']}"
        # 2-byte scalar loads were 192 of 241 before the alignment hints; what is left is the mask,
        # block list and scale reads (1 to 4 bytes each)
        assert r["loads"]["scalar"] < 64, f"{c}: {r['loads']}"


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
        ]
    )
    assert aot.ptx_load_widths(ptx) == {"v4": 1, "v2": 1, "scalar": 1}


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
