"""Fused Cache Attention forward: one kernel, two key segments, one online softmax.

Device code plus one launcher; validation and dispatch live in ``chai_kernels.ops.cache_attention``.

Per program: one (batch row b, head h, block of BLOCK_M queries). Keys are visited in two segments
that share the running (acc, l_i, m_i) state of the online softmax:

1. the current keys k, v (B, N_k, H, D), all attended (in replace mode only when the cached row
   selects nothing: the self-attention fallback);
2. the cached keys of cache row ``b % Bc`` (Bc, M, H, D), plus ``cache_bias`` on their logits, under
   the keep-mask. The host summarises the mask per BLOCK_N keys (0 empty / 1 partial / 2 full) and
   compacts the non-empty block ids per row, so the loop never visits an empty block (no K/V loads, no
   math) and full blocks never load the mask (the mask load is predicated off).

Softmax runs in base 2: logits are multiplied once by ``scale * log2(e)`` (the cache bias is also
pre-multiplied by log2(e)) and ``exp2`` is used throughout; the lse is converted back to natural log.

Quantized cached K/V (``QUANT``): int8 or float8_e4m3fn tiles are loaded and converted in registers
to the dot dtype (exact: |int8| <= 127 and e4m3 values are representable in fp16 / bf16). The
per-(m, h) scales are applied to the result instead of the tile: K's scale multiplies the logit
columns, V's scale multiplies the probability columns before the PV product. No full-precision copy
of the cache exists anywhere.

Head dims that are not powers of two (OpenSora's 72) are padded inside the kernel to HEAD_DIM (the
next power of two, >= 16) with masked loads; the inputs are never copied. The real head dim is a
constexpr (so the ``d < D`` mask is provably constant in groups of 8 for D = 72) and the launcher passes
``STRIDE_ALIGN``, the rows' common alignment, asserted on the row-offset tensors with ``tl.multiple_of``:
without both, a head stride of 72 turns every row load into 2-byte scalar loads. Every load and store is
masked and every offset is int64. Plain pointer arithmetic only (no block pointers, no TMA
descriptors) so the kernel runs on Triton 3.6 to 3.9.
"""

from __future__ import annotations

import contextlib
import math

import torch
import triton
import triton.language as tl

from chai_kernels import _env
from chai_kernels.triton import configs as _configs

__all__ = ["cache_attention_fwd_triton", "block_summary", "BLOCK_EMPTY", "BLOCK_PARTIAL", "BLOCK_FULL"]

LOG2E = 1.4426950408889634
BLOCK_EMPTY, BLOCK_PARTIAL, BLOCK_FULL = 0, 1, 2


@triton.jit
def _cache_attn_fwd_inner(
    acc,
    l_i,
    m_i,
    q,
    K,
    k_off,
    stride_kn,
    V,
    v_off,
    stride_vn,
    KS,
    stride_ksn,
    VS,
    stride_vsn,
    Keep,
    stride_keepm,
    start_n,
    n_keys,
    offs_n,
    offs_d,
    d_ok,
    qk_scale,
    bias2,
    keep_partial,
    IS_CACHE: tl.constexpr,
    QUANT: tl.constexpr,
    DOT_FP32: tl.constexpr,
    ALIGN: tl.constexpr,
):
    """One BLOCK_N step of the online softmax; returns the updated (acc, l_i, m_i)."""
    n_idx = start_n + offs_n
    n_ok = n_idx < n_keys
    n64 = n_idx.to(tl.int64)
    # row starts, asserted ALIGN-element aligned (the hint must sit on a tensor: Triton drops it on scalars)
    k_rows = tl.multiple_of(k_off + n64 * stride_kn, ALIGN)
    v_rows = tl.multiple_of(v_off + n64 * stride_vn, ALIGN)
    # -- K^T tile (HEAD_DIM, BLOCK_N); padded channels read as 0 so they add nothing to q.k --
    kt = tl.load(K + offs_d[:, None] + k_rows[None, :], mask=d_ok[:, None] & n_ok[None, :], other=0.0)
    # -- scores --
    if DOT_FP32:
        # fp32 inputs, and bf16 under the interpreter (its bf16 dot multiplies raw bits): exact fp32 dot.
        qk = tl.dot(q.to(tl.float32), kt.to(tl.float32), input_precision="ieee")
    else:
        qk = tl.dot(q, kt.to(q.dtype))
    if QUANT:
        # dequantize K on the logits: (q . k_int) * scale_k == q . (k_int * scale_k)
        ks = tl.load(KS + n64 * stride_ksn, mask=n_ok, other=0.0)
        qk = qk * ks[None, :]
    s = qk * qk_scale
    if IS_CACHE:
        # full blocks never touch the mask: the load is predicated off and reads as "keep"
        keep = tl.load(Keep + n64 * stride_keepm, mask=n_ok & keep_partial, other=1)
        valid = n_ok & (keep != 0)
        s = s + bias2
    else:
        valid = n_ok
    s = tl.where(valid[None, :], s, float("-inf"))
    # -- online softmax update (base 2); every visited block has >= 1 valid key, so m_new is finite --
    m_new = tl.maximum(m_i, tl.max(s, 1))
    alpha = tl.math.exp2(m_i - m_new)
    p = tl.math.exp2(s - m_new[:, None])
    l_i = l_i * alpha + tl.sum(p, 1)
    acc = acc * alpha[:, None]
    # -- P @ V --
    # masked-out keys are never read: garbage (even NaN) in deselected cached slots cannot leak via 0 * NaN
    v = tl.load(V + v_rows[:, None] + offs_d[None, :], mask=valid[:, None] & d_ok[None, :], other=0.0)
    if QUANT:
        # dequantize V on the probabilities: sum_n p_n * (v_int_n * s_n) == sum_n (p_n * s_n) * v_int_n
        vs = tl.load(VS + n64 * stride_vsn, mask=n_ok, other=0.0)
        p = p * vs[None, :]
    if DOT_FP32:
        acc = tl.dot(p, v.to(tl.float32), acc=acc, input_precision="ieee")
    else:
        acc = tl.dot(p.to(q.dtype), v.to(q.dtype), acc=acc)
    return acc, l_i, m_new


@triton.jit(do_not_specialize=["n_q", "n_k", "m_c"])
def _cache_attn_fwd_kernel(
    Out,
    stride_ob,
    stride_on,
    stride_oh,
    Lse,
    stride_lb,
    stride_lh,
    Q,
    stride_qb,
    stride_qn,
    stride_qh,
    K,
    stride_kb,
    stride_kn,
    stride_kh,
    V,
    stride_vb,
    stride_vn,
    stride_vh,
    KC,
    stride_kcb,
    stride_kcn,
    stride_kch,
    VC,
    stride_vcb,
    stride_vcn,
    stride_vch,
    KS,
    stride_ksb,
    stride_ksn,
    stride_ksh,
    VS,
    stride_vsb,
    stride_vsn,
    stride_vsh,
    Keep,
    stride_keepb,
    stride_keepm,
    Blocks,
    stride_blkb,
    Counts,
    n_q,
    n_k,
    m_c,
    n_heads,
    n_cache_rows,
    qk_scale,
    bias2,
    HEAD_DIM_REAL: tl.constexpr,
    STRIDE_ALIGN: tl.constexpr,
    HEAD_DIM: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    HAS_CACHE: tl.constexpr,
    REPLACE: tl.constexpr,
    QUANT: tl.constexpr,
    STORE_LSE: tl.constexpr,
    DOT_FP32: tl.constexpr,
):
    # 1-D grid, query blocks fastest: neighbouring programs share (b, h) and hence K/V in L2.
    pid = tl.program_id(0).to(tl.int64)
    num_m = tl.cdiv(n_q, BLOCK_M)
    pid_m = pid % num_m
    pid_bh = pid // num_m
    b = pid_bh // n_heads
    h = pid_bh % n_heads

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M).to(tl.int64)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    d_ok = offs_d < HEAD_DIM_REAL  # a compile-time bound: the mask is constant in groups of 8 for D = 72
    m_ok = offs_m < n_q

    q_rows = tl.multiple_of(b * stride_qb + h * stride_qh + offs_m * stride_qn, STRIDE_ALIGN)
    q_ptrs = Q + q_rows[:, None] + offs_d[None, :]
    q = tl.load(q_ptrs, mask=m_ok[:, None] & d_ok[None, :], other=0.0)

    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)

    # -- segment 1: current keys (replace mode: only for rows whose keep-mask selects nothing) --
    cur_end = n_k
    if HAS_CACHE:
        bc = b % n_cache_rows
        n_sel = tl.load(Counts + bc)  # number of non-empty cached blocks of this cache row
        if REPLACE:
            cur_end = n_k * (n_sel == 0).to(tl.int32)
    k_off = b * stride_kb + h * stride_kh
    v_off = b * stride_vb + h * stride_vh
    for start_n in range(0, cur_end, BLOCK_N):
        acc, l_i, m_i = _cache_attn_fwd_inner(
            acc, l_i, m_i, q,
            K, k_off, stride_kn, V, v_off, stride_vn,
            K, 0, V, 0,  # no scales: unused (QUANT=False)
            K, 0,  # no keep-mask: unused (IS_CACHE=False)
            start_n, n_k, offs_n, offs_d, d_ok, qk_scale, bias2, False,
            IS_CACHE=False, QUANT=False, DOT_FP32=DOT_FP32, ALIGN=STRIDE_ALIGN,
        )  # fmt: skip

    # -- segment 2: non-empty cached blocks of cache row b % Bc, in the host-compacted order --
    if HAS_CACHE:
        kc_off = bc * stride_kcb + h * stride_kch
        vc_off = bc * stride_vcb + h * stride_vch
        KS_row = KS + bc * stride_ksb + h * stride_ksh
        VS_row = VS + bc * stride_vsb + h * stride_vsh
        Keep_row = Keep + bc * stride_keepb
        Blocks_row = Blocks + bc * stride_blkb
        for i in range(0, n_sel):
            entry = tl.load(Blocks_row + i)  # block id * 4 + state (1 partial, 2 full)
            # its own name: reusing segment 1's int32 loop variable makes it loop-carried int32 -> int64,
            # which the compiler rejects (the interpreter does not notice)
            start_c = (entry >> 2).to(tl.int64) * BLOCK_N
            partial = (entry & 3) == 1
            acc, l_i, m_i = _cache_attn_fwd_inner(
                acc, l_i, m_i, q,
                KC, kc_off, stride_kcn, VC, vc_off, stride_vcn,
                KS_row, stride_ksn, VS_row, stride_vsn,
                Keep_row, stride_keepm,
                start_c, m_c, offs_n, offs_d, d_ok, qk_scale, bias2, partial,
                IS_CACHE=True, QUANT=QUANT, DOT_FP32=DOT_FP32, ALIGN=STRIDE_ALIGN,
            )  # fmt: skip

    # -- epilogue: normalise, store O (and the natural-log lse) --
    # l_i >= 1 for every row: at least one key block is always visited and its max term is exp2(0).
    acc = acc / l_i[:, None]
    o_rows = tl.multiple_of(b * stride_ob + h * stride_oh + offs_m * stride_on, STRIDE_ALIGN)
    o_ptrs = Out + o_rows[:, None] + offs_d[None, :]
    tl.store(o_ptrs, acc.to(Out.dtype.element_ty), mask=m_ok[:, None] & d_ok[None, :])
    if STORE_LSE:
        lse = (m_i + tl.math.log2(l_i)) * 0.6931471805599453
        tl.store(Lse + b * stride_lb + h * stride_lh + offs_m, lse, mask=m_ok)


def block_summary(cache_mask: torch.Tensor | None, n_rows: int, m: int, block_n: int, device) -> tuple:
    """Per-row compacted list of non-empty key blocks.

    Returns ``blocks`` int32 (Bc, ceil(M / block_n)) holding ``block_id * 4 + state`` for the non-empty
    blocks first (state 1 = partial, 2 = full; the tail beyond ``counts`` is unused), and ``counts``
    int32 (Bc,) = number of non-empty blocks per cache row. Without a mask every block is full (the
    ragged last block is bounded by the key-range mask, not by the keep-mask).
    """
    nb = triton.cdiv(m, block_n)
    ids = torch.arange(nb, device=device, dtype=torch.int32)
    if cache_mask is None:
        blocks = (ids * 4 + BLOCK_FULL).expand(n_rows, nb).contiguous()
        counts = torch.full((n_rows,), nb, device=device, dtype=torch.int32)
        return blocks, counts
    padded = torch.zeros((n_rows, nb * block_n), device=device, dtype=torch.int32)
    padded[:, :m] = cache_mask
    sel = padded.view(n_rows, nb, block_n).sum(-1)
    state = torch.where(sel == 0, BLOCK_EMPTY, torch.where(sel == block_n, BLOCK_FULL, BLOCK_PARTIAL)).to(torch.int32)
    # stable order: non-empty blocks first, in increasing key order
    order = torch.argsort((state == BLOCK_EMPTY).to(torch.int32) * nb + ids, dim=-1)
    blocks = (order.to(torch.int32) * 4 + torch.gather(state, 1, order)).to(torch.int32).contiguous()
    counts = (state != BLOCK_EMPTY).sum(-1).to(torch.int32).contiguous()
    return blocks, counts


def _row_alignment(tensors) -> int:
    """Largest power of two <= 16 (elements) dividing every non-unit stride and every base address.

    The kernel asserts it to the compiler (``tl.multiple_of``) so row loads vectorise; computing it
    here from the real tensors keeps the hint true for any layout (a view with an odd stride gets 1).
    """
    align = 16
    for t in tensors:
        vals = [t.stride(0), t.stride(1), t.stride(2), t.data_ptr() // t.element_size()]
        if t.data_ptr() % t.element_size():
            return 1
        for val in vals:
            while align > 1 and val % align:
                align //= 2
    return align


def _strides3(x: torch.Tensor | None) -> tuple[int, int, int]:
    return (0, 0, 0) if x is None else (x.stride(0), x.stride(1), x.stride(2))


def _select_config(q, k, m_c, head_dim_pad, quant, run) -> _configs.LaunchConfig:
    interpret = _env.interpret_mode()
    n_q, n_k = q.shape[1], k.shape[1]
    if interpret:
        return _configs.interpreter_config(n_q, max(n_k, m_c))
    if not _configs.autotune_enabled(interpret):
        return _configs.cache_attention_config(head_dim_pad, q.dtype)
    key = _configs.autotune_key(head_dim_pad, q.dtype, n_q, n_k, m_c, quant)
    best = _configs._TUNED.get(key)
    if best is None:
        import triton.testing

        timings = {}
        for cfg in _configs.autotune_candidates(head_dim_pad, q.dtype):
            try:
                timings[cfg] = triton.testing.do_bench(lambda c=cfg: run(c), warmup=5, rep=20)
            except Exception:  # out of shared memory / registers for this config: prune it
                continue
        best = min(timings, key=timings.get) if timings else _configs.cache_attention_config(head_dim_pad, q.dtype)
        _configs._TUNED[key] = best
    return best


def cache_attention_fwd_triton(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    k_cache: torch.Tensor | None = None,
    v_cache: torch.Tensor | None = None,
    cache_mask: torch.Tensor | None = None,
    *,
    k_scale: torch.Tensor | None = None,
    v_scale: torch.Tensor | None = None,
    mode: str = "joint",
    cache_bias: float = 0.0,
    scale: float | None = None,
    return_lse: bool = False,
    out: torch.Tensor | None = None,
    lse: torch.Tensor | None = None,
    config: _configs.LaunchConfig | None = None,
    compile_target=None,
):
    """Launch the fused kernel on validated inputs (the public op validates; this does not).

    With ``compile_target`` (a Triton ``GPUTarget``) nothing is launched: the kernel is compiled for
    that target with these arguments' specialisation and the ``CompiledKernel`` is returned (no GPU
    needed; see ``chai_kernels.triton.aot``).

    q (B, N, H, D); k, v (B, N_k, H, D); k_cache, v_cache (Bc, M, H, D) float, or int8 / float8_e4m3fn
    data with float32 ``k_scale`` / ``v_scale`` (Bc, M, H); cache_mask bool (Bc, M) or None (all kept).
    Any strides with a unit last stride. ``out`` (B, N, H, D) in q's dtype and ``lse`` float32
    (B, H, N) may be preallocated (tests pass NaN-filled buffers). Returns ``out`` or ``(out, lse)``.
    """
    B, N, H, D = q.shape
    n_k = k.shape[1]
    has_cache = k_cache is not None
    quant = has_cache and k_scale is not None
    Bc, m_c = (k_cache.shape[0], k_cache.shape[1]) if has_cache else (1, 0)
    head_dim_pad = max(16, _configs.next_pow2(D))
    scale = 1.0 / math.sqrt(D) if scale is None else float(scale)
    dot_fp32 = q.dtype == torch.float32 or (_env.interpret_mode() and q.dtype == torch.bfloat16)
    if out is None:
        out = torch.empty((B, N, H, D), dtype=q.dtype, device=q.device)
    if return_lse and lse is None:
        lse = torch.empty((B, H, N), dtype=torch.float32, device=q.device)
    lse_arg = lse if return_lse else out  # dummy pointer when STORE_LSE is False
    lse_strides = (lse.stride(0), lse.stride(1)) if return_lse else (0, 0)
    if return_lse and lse.stride(2) != 1:
        raise ValueError(f"lse buffer must have a unit last stride; got stride {tuple(lse.stride())}.")
    keep = cache_mask.view(torch.uint8) if (has_cache and cache_mask is not None) else None
    dummy = q
    stride_align = _row_alignment([out, q, k, v] + ([k_cache, v_cache] if has_cache else []))

    def launch_args(cfg: _configs.LaunchConfig):
        if has_cache:
            blocks, counts = block_summary(cache_mask, Bc, m_c, cfg.BLOCK_N, q.device)
        else:
            blocks = counts = torch.zeros((1, 1), dtype=torch.int32, device=q.device)
        grid = (triton.cdiv(N, cfg.BLOCK_M) * B * H,)
        args = (
            out, *_strides3(out),
            lse_arg, *lse_strides,
            q, *_strides3(q),
            k, *_strides3(k),
            v, *_strides3(v),
            k_cache if has_cache else dummy, *_strides3(k_cache),
            v_cache if has_cache else dummy, *_strides3(v_cache),
            k_scale if quant else dummy, *_strides3(k_scale if quant else None),
            v_scale if quant else dummy, *_strides3(v_scale if quant else None),
            keep if keep is not None else counts, *((keep.stride(0), keep.stride(1)) if keep is not None else (0, 0)),
            blocks, blocks.stride(0),
            counts,
            N, n_k, m_c, H, Bc,
            scale * LOG2E, float(cache_bias) * LOG2E,
        )  # fmt: skip
        kwargs = dict(
            HEAD_DIM_REAL=D,
            STRIDE_ALIGN=stride_align,
            HEAD_DIM=head_dim_pad,
            BLOCK_M=cfg.BLOCK_M,
            BLOCK_N=cfg.BLOCK_N,
            HAS_CACHE=has_cache,
            REPLACE=(mode == "replace"),
            QUANT=quant,
            STORE_LSE=bool(return_lse),
            DOT_FP32=dot_fp32,
            num_warps=cfg.num_warps,
            num_stages=cfg.num_stages,
        )
        return grid, args, kwargs

    def run(cfg: _configs.LaunchConfig):
        grid, args, kwargs = launch_args(cfg)
        _cache_attn_fwd_kernel[grid](*args, **kwargs)

    if compile_target is not None:  # ahead-of-time compile only (no launch): chai_kernels.triton.aot
        from chai_kernels.triton import aot

        _, args, kwargs = launch_args(config or _configs.cache_attention_config(head_dim_pad, q.dtype))
        return aot.compile_for_target(_cache_attn_fwd_kernel, compile_target, args, kwargs)

    quant_name = str(k_cache.dtype) if quant else None
    # launch on q's GPU even when it is not the current device (no-op context on CPU / interpreter)
    guard = torch.cuda.device(q.device) if q.is_cuda else contextlib.nullcontext()
    with guard:
        cfg = config or _select_config(q, k, m_c, head_dim_pad, quant_name, run)
        run(cfg)
    return (out, lse) if return_lse else out
