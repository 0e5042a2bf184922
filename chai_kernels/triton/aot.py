"""Compile a Triton kernel for a GPU target on a machine without a GPU.

The interpreter (``TRITON_INTERPRET=1``) runs kernels as numpy code: it never type-checks loop-carried
variables, never lays out registers and never emits PTX, so a kernel that is correct under the
interpreter can still fail to compile on a real card (this happened: a loop variable reused as int32
and int64 compiled under the interpreter and broke on an H200). ``compile_for_target`` closes that
gap: it specialises the kernel on the *same* launch arguments the launcher would pass (CPU tensors
stand in for device tensors: only dtypes, shapes, strides and 16-byte alignment matter) exactly as
Triton's runtime does, then runs the full compiler pipeline (TTIR -> TTGIR -> LLVM IR -> PTX -> cubin,
with the ptxas Triton ships) for, by default, sm_90 (H100 / H200).

It leans on Triton runtime internals (``create_function_from_signature``, ``JITFunction._pack_args``)
that exist in Triton 3.6 to 3.9; ``supported()`` says whether this Triton has them. It must run with
``TRITON_INTERPRET`` unset (under the interpreter ``@triton.jit`` builds interpreter objects that
cannot be compiled); ``tests/kernels/test_aot_compile.py`` runs it in a subprocess for that reason.

Structural checks read the compiler's own output: ``ttir_regions`` summarises the Triton IR per loop /
branch body (dots with their shapes, comparisons, selects, masked loads), ``ptx_mma_macs`` adds up the
multiply-accumulates of the Hopper ``wgmma`` instructions, ``ptx_load_widths`` counts load widths.

Usage::

    from chai_kernels.triton.aot import compile_for_target, hopper
    ck = compile_for_target(kernel, hopper(), args, kwargs)   # kwargs: constexprs + num_warps/num_stages
    ck.asm["ptx"], ck.metadata.shared, ck.n_regs (None before a driver loads it)
"""

from __future__ import annotations

import os
import re
from typing import Any, Sequence

__all__ = ["compile_for_target", "hopper", "supported", "ptx_load_widths", "ttir_regions", "ptx_mma_macs"]


def hopper(capability: int = 90, warp_size: int = 32):
    """The GPUTarget of an H100 / H200 (compute capability 9.0)."""
    from triton.backends.compiler import GPUTarget

    return GPUTarget("cuda", capability, warp_size)


def supported() -> bool:
    """True when this Triton exposes the runtime pieces ``compile_for_target`` needs."""
    try:
        from triton.compiler import ASTSource, compile, make_backend  # noqa: F401
        from triton.runtime.jit import JITFunction, create_function_from_signature  # noqa: F401
    except ImportError:
        return False
    return hasattr(JITFunction, "_pack_args")


def compile_for_target(kernel: Any, target: Any, args: Sequence[Any], kwargs: dict[str, Any]):
    """Compile ``kernel`` as ``kernel[grid](*args, **kwargs)`` would, for ``target``; returns the CompiledKernel.

    Raises the compiler's own error (``triton.compiler.errors.CompilationError`` and friends) when the
    kernel does not compile: that is the point.
    """
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        raise RuntimeError(
            "compile_for_target needs TRITON_INTERPRET unset: under the interpreter @triton.jit builds "
            "interpreter objects that cannot be compiled.\nHINT: run it in a subprocess with "
            "TRITON_INTERPRET removed from the environment."
        )
    if not supported():
        import triton

        raise RuntimeError(
            f"Triton {triton.__version__} lacks the runtime internals compile_for_target uses "
            "(create_function_from_signature, JITFunction._pack_args).\nHINT: use a Triton from 3.6 to 3.9."
        )
    from triton.compiler import ASTSource, compile, make_backend
    from triton.runtime.jit import JITFunction, create_function_from_signature

    if not isinstance(kernel, JITFunction):
        raise TypeError(f"kernel must be a triton.jit function, got {type(kernel).__name__}.")
    backend = make_backend(target)
    binder = create_function_from_signature(kernel.signature, kernel.params, backend)
    bound_args, specialization, options = binder(*args, **kwargs)
    options, signature, constexprs, attrs = kernel._pack_args(backend, kwargs, bound_args, specialization, options)
    src = ASTSource(kernel, signature, constexprs, attrs)
    return compile(src, target=target, options=options.__dict__)


def ptx_load_widths(ptx: str) -> dict[str, int]:
    """Count the global loads in ``ptx`` by vector width: {"v4": n, "v2": n, "scalar": n}.

    A 128-bit load of bf16 is ``ld.global[...].v4.b32`` (8 elements); a load the compiler could not
    prove aligned or unmasked in groups falls back to ``.v2`` or scalar instructions.
    """
    out = {"v4": 0, "v2": 0, "scalar": 0}
    for line in ptx.splitlines():
        s = line.strip()
        if not s.startswith("ld.global") and " ld.global" not in s:
            continue
        if ".v4." in s:
            out["v4"] += 1
        elif ".v2." in s:
            out["v2"] += 1
        else:
            out["scalar"] += 1
    return out


_DOT = re.compile(r"tt\.dot .*: tensor<(\d+)x(\d+)x\w+> \* tensor<(\d+)x(\d+)x\w+>")
_WGMMA = re.compile(r"wgmma\.mma_async\.sync\.aligned\.m(\d+)n(\d+)k(\d+)")


def ttir_regions(ttir: str) -> list[dict]:
    """Summarise Triton IR by region: the function body and every ``scf.for`` / ``scf.if`` / ``else`` body.

    Each region: ``kind`` ("func", "for", "if", "else"), ``dots`` [(M, N, K), ...] of the ``tt.dot`` ops
    directly in it (not in nested regions), and counts of ``cmpi`` (comparisons), ``select`` (``tl.where``),
    ``loads`` and ``masked_loads`` (``tt.load`` with a mask operand). Returned in order of opening.
    """
    regions: list[dict] = []
    stack: list[dict] = []

    def open_region(kind: str) -> None:
        r = {"kind": kind, "dots": [], "cmpi": 0, "select": 0, "loads": 0, "masked_loads": 0}
        regions.append(r)
        stack.append(r)

    for line in ttir.splitlines():
        s = line.strip()
        if s.startswith("tt.func"):
            open_region("func")
            continue
        if s.startswith("}"):
            if stack:
                stack.pop()
            if s.startswith("} else {"):
                open_region("else")
            continue
        if not stack:
            continue
        # statistics go to the innermost loop / branch body; reduction bodies ("({ ... })") are not regions
        cur = next(r for r in reversed(stack) if r["kind"] != "other")
        m = _DOT.search(s)
        if m:
            M, K, _, N = (int(g) for g in m.groups())
            cur["dots"].append((M, N, K))
        if "arith.cmpi" in s:
            cur["cmpi"] += 1
        if "arith.select" in s:
            cur["select"] += 1
        if " tt.load " in f" {s} ":
            cur["loads"] += 1
            operands = s.split("tt.load", 1)[1].split(":", 1)[0]
            if "," in operands:
                cur["masked_loads"] += 1
        if s.endswith("{"):
            open_region("for" if "scf.for" in s else "if" if "scf.if" in s else "other")
    return [r for r in regions if r["kind"] != "other"]


def ptx_mma_macs(ptx: str) -> int:
    """Multiply-accumulates of every Hopper ``wgmma.mma_async`` instruction in ``ptx`` (m * n * k each)."""
    return sum(int(m) * int(n) * int(k) for m, n, k in _WGMMA.findall(ptx))
