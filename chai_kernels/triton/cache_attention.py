"""Fused Cache Attention forward: one kernel, two key segments, one online softmax.

Device code plus one launcher; validation and dispatch live in ``chai_kernels.ops.cache_attention``.

Per program: one (batch row b, head h, block of BLOCK_M queries). Keys are visited in two segments
that share the running (acc, l_i, m_i) state of the online softmax:

1. the current keys k, v (B, N_k, H, D), all attended (in replace mode only when the cached row
   selects nothing: the self-attention fallback);
2. the cached keys of cache row ``b % Bc`` (Bc, M, H, D), plus ``cache_bias`` on their logits, under
   the keep-mask. ``chai_kernels.blocks.block_lists`` summarises the mask per BLOCK_N keys, once per mask (a prepared
   cache keeps it for a whole cache hit): per cache row, the ids of the *full* blocks (every key kept
   and inside M) first, then the *partial* ones (some keys kept, or the ragged last block), and the two
   counts. Empty blocks are never visited (no K/V loads, no math).

Do only useful work:

- **Peeled key loops.** Every key block is either interior (no bounds check, no keep-mask load, no
  ``tl.where``: plain loads and the online-softmax update) or masked (the ragged last block of the
  current keys, the partial cached blocks). The interior loops contain no comparison and no select;
  ``tests/kernels/test_aot_compile.py`` checks that in the sm_90 compile.
- **Head dim in power-of-two chunks.** ``tl.arange`` needs powers of two. Instead of padding D = 72 to
  128 (44 % of every product multiplying zeros), the head dim is split into D_A = the largest power of
  two <= D and a second chunk D_B >= 16 (dot tiles must be >= 16 on a GPU) masked down to its D - D_A real
  channels: 72 = 64 + 16 (8 real), 80 / 16 % waste instead of 128 / 44 %. The chunk-B mask depends only on
  the channel, so it is loop invariant; chunk A is always fully real and never masked.
- **Packed temporal tiles.** For short sequences (OpenSora's temporal attention: N = 15) a 128-row tile
  per (batch row, head) would hold 15 useful rows. With ``PACK`` > 1 one program takes PACK consecutive
  batch rows of one head; rows of different batch rows never see each other's keys (a block-diagonal
  mask on the packed (PACK * NP) x (PACK * NP) tile, NP = N rounded up to a power of two).

Softmax runs in base 2: logits are multiplied once by ``scale * log2(e)`` (the cache bias is also
pre-multiplied by log2(e)) and ``exp2`` is used throughout; the lse is converted back to natural log.

Quantized cached K/V (``QUANT``): int8 or float8_e4m3fn tiles are loaded and converted in registers
to the dot dtype (exact: |int8| <= 127 and e4m3 values are representable in fp16 / bf16). The
per-(m, h) scales are applied to the result instead of the tile: K's scale multiplies the logit
columns, V's scale multiplies the probability columns before the PV product. The int8 tile is converted
once per block, like the bf16 one, so it reads half the bytes for the same math.

Row loads vectorise: the launcher passes ``STRIDE_ALIGN``, the rows' common alignment, asserted on the
row-offset tensors with ``tl.multiple_of`` (a head stride of 72 otherwise turns every row load into 2-byte
scalar loads). Offsets are int64. Plain pointer arithmetic only (no block pointers, no TMA descriptors)
so the kernel runs on every Triton the package declares. Every mask is a boolean comparison (Triton 3.9's
interpreter refuses integer masks). The key loops with runtime bounds live in ``_key_loop``, which under
Triton 3.6's interpreter only runs them as ``while`` loops (its ``range`` cannot take a runtime bound).
"""

from __future__ import annotations

import contextlib
import math

import torch
import triton
import triton.language as tl

from chai_kernels import _env
from chai_kernels.blocks import BLOCK_N_VARIANTS, block_lists
from chai_kernels.triton import configs as _configs

__all__ = ["cache_attention_fwd_triton", "head_dim_chunks"]

LOG2E = 1.4426950408889634


@triton.jit
def _cache_attn_fwd_inner(
    acc_a,
    acc_b,
    l_i,
    m_i,
    qa,
    qb,
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
    row_of_q,
    qk_scale,
    bias2,
    MASKED: tl.constexpr,
    IS_CACHE: tl.constexpr,
    HAS_MASK: tl.constexpr,
    QUANT: tl.constexpr,
    DOT_FP32: tl.constexpr,
    ALIGN: tl.constexpr,
    D_A: tl.constexpr,
    D_B: tl.constexpr,
    D_B_REAL: tl.constexpr,
    BLOCK_N: tl.constexpr,
    PACK: tl.constexpr,
    NP: tl.constexpr,
):
    """One BLOCK_N step of the online softmax; returns the updated (acc_a, acc_b, l_i, m_i).

    Interior steps (MASKED=False) use no comparison at all: the block is known to be inside the key
    range and fully kept. Packed tiles (PACK > 1) always take the masked form (block-diagonal mask).
    """
    offs_n = tl.arange(0, BLOCK_N)
    if PACK > 1:
        # packed tile: key column j belongs to packed row j // NP, at key index j % NP of that row;
        # K/V offsets (k_off / v_off) are per column here
        n_idx = start_n + offs_n % NP
    else:
        n_idx = start_n + offs_n
    n64 = n_idx.to(tl.int64)
    offs_a = tl.arange(0, D_A)
    k_rows = tl.multiple_of(k_off + n64 * stride_kn, ALIGN)
    v_rows = tl.multiple_of(v_off + n64 * stride_vn, ALIGN)
    if MASKED:
        n_ok = n_idx < n_keys
        if HAS_MASK:
            keep = tl.load(Keep + n64 * stride_keepm, mask=n_ok, other=0)
            valid = n_ok & (keep != 0)
        else:
            valid = n_ok
        if PACK > 1:
            valid = valid[None, :] & (row_of_q[:, None] == (offs_n // NP)[None, :])
            valid_n = tl.max(valid.to(tl.int32), 0) > 0  # key column used by some row of the tile
        else:
            valid_n = valid
        # masked-out keys are never read: garbage (even NaN) in deselected cached slots cannot leak
        kta = tl.load(K + offs_a[:, None] + k_rows[None, :], mask=valid_n[None, :], other=0.0)
    else:
        kta = tl.load(K + offs_a[:, None] + k_rows[None, :])
    # -- scores: chunk A, then chunk B accumulated onto them --
    if DOT_FP32:
        # fp32 inputs, and bf16 under the interpreter (its bf16 dot multiplies raw bits): exact fp32 dot.
        qk = tl.dot(qa.to(tl.float32), kta.to(tl.float32), input_precision="ieee")
    else:
        qk = tl.dot(qa, kta.to(qa.dtype))
    if D_B > 0:
        offs_b = tl.arange(0, D_B)
        b_ok = offs_b < D_B_REAL  # channel-only: loop invariant, constant in groups of 8
        if MASKED:
            ktb = tl.load(K + (D_A + offs_b)[:, None] + k_rows[None, :], mask=b_ok[:, None] & valid_n[None, :],
                          other=0.0)  # fmt: skip
        else:
            ktb = tl.load(K + (D_A + offs_b)[:, None] + k_rows[None, :], mask=b_ok[:, None], other=0.0)
        if DOT_FP32:
            qk = tl.dot(qb.to(tl.float32), ktb.to(tl.float32), acc=qk, input_precision="ieee")
        else:
            qk = tl.dot(qb, ktb.to(qb.dtype), acc=qk)
    if QUANT:
        # dequantize K on the logits: (q . k_int) * scale_k == q . (k_int * scale_k)
        if MASKED:
            ks = tl.load(KS + n64 * stride_ksn, mask=valid_n, other=0.0)
        else:
            ks = tl.load(KS + n64 * stride_ksn)
        qk = qk * ks[None, :]
    s = qk * qk_scale
    if IS_CACHE:
        s = s + bias2
    if MASKED:
        if PACK > 1:
            s = tl.where(valid, s, float("-inf"))
        else:
            s = tl.where(valid[None, :], s, float("-inf"))
    # -- online softmax update (base 2); every visited block has >= 1 valid key per row, so m_new is finite --
    m_new = tl.maximum(m_i, tl.max(s, 1))
    if PACK > 1:
        # a packed row may have no valid key in this segment (replace mode): keep it at l = 0, acc = 0
        m_use = tl.where(m_new == float("-inf"), 0.0, m_new)
    else:
        m_use = m_new
    alpha = tl.math.exp2(m_i - m_use)
    p = tl.math.exp2(s - m_use[:, None])
    l_i = l_i * alpha + tl.sum(p, 1)
    # -- P @ V --
    if MASKED:
        va = tl.load(V + v_rows[:, None] + offs_a[None, :], mask=valid_n[:, None], other=0.0)
    else:
        va = tl.load(V + v_rows[:, None] + offs_a[None, :])
    if QUANT:
        # dequantize V on the probabilities: sum_n p_n * (v_int_n * s_n) == sum_n (p_n * s_n) * v_int_n
        if MASKED:
            vs = tl.load(VS + n64 * stride_vsn, mask=valid_n, other=0.0)
        else:
            vs = tl.load(VS + n64 * stride_vsn)
        p = p * vs[None, :]
    acc_a = acc_a * alpha[:, None]
    if DOT_FP32:
        acc_a = tl.dot(p, va.to(tl.float32), acc=acc_a, input_precision="ieee")
    else:
        acc_a = tl.dot(p.to(qa.dtype), va.to(qa.dtype), acc=acc_a)
    if D_B > 0:
        acc_b = acc_b * alpha[:, None]
        if MASKED:
            vb = tl.load(V + v_rows[:, None] + (D_A + offs_b)[None, :], mask=valid_n[:, None] & b_ok[None, :],
                         other=0.0)  # fmt: skip
        else:
            vb = tl.load(V + v_rows[:, None] + (D_A + offs_b)[None, :], mask=b_ok[None, :], other=0.0)
        if DOT_FP32:
            acc_b = tl.dot(p, vb.to(tl.float32), acc=acc_b, input_precision="ieee")
        else:
            acc_b = tl.dot(p.to(qa.dtype), vb.to(qa.dtype), acc=acc_b)
    return acc_a, acc_b, l_i, m_new


@triton.jit
def _key_loop(
    acc_a,
    acc_b,
    l_i,
    m_i,
    qa,
    qb,
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
    blk_row,
    lo,
    hi,
    n_keys,
    row_of_q,
    qk_scale,
    bias2,
    STEP: tl.constexpr,
    LISTED: tl.constexpr,
    WHILE_LOOPS: tl.constexpr,
    MASKED: tl.constexpr,
    IS_CACHE: tl.constexpr,
    HAS_MASK: tl.constexpr,
    QUANT: tl.constexpr,
    DOT_FP32: tl.constexpr,
    ALIGN: tl.constexpr,
    D_A: tl.constexpr,
    D_B: tl.constexpr,
    D_B_REAL: tl.constexpr,
    BLOCK_N: tl.constexpr,
    PACK: tl.constexpr,
    NP: tl.constexpr,
):
    """Run ``_cache_attn_fwd_inner`` over positions lo, lo + STEP, ... < hi (runtime bounds).

    A position is the block's first key (LISTED=False) or an index into the block list ``blk_row`` (LISTED=True;
    the list holds block ids). ``WHILE_LOOPS`` is for Triton 3.6's interpreter only: it turns a runtime ``range``
    bound into an index with ``int()`` on a one-element array, which numpy >= 2.4 refuses, while a ``while``
    condition goes through ``bool()``, which works. Compiled code always takes the ``for`` form (a ``while``
    loop would not be software-pipelined).
    """
    if WHILE_LOOPS:
        pos = lo
        while pos < hi:
            if LISTED:
                start = tl.load(blk_row + pos).to(tl.int64) * BLOCK_N
            else:
                start = pos
            acc_a, acc_b, l_i, m_i = _cache_attn_fwd_inner(
                acc_a, acc_b, l_i, m_i, qa, qb,
                K, k_off, stride_kn, V, v_off, stride_vn,
                KS, stride_ksn, VS, stride_vsn, Keep, stride_keepm,
                start, n_keys, row_of_q, qk_scale, bias2,
                MASKED=MASKED, IS_CACHE=IS_CACHE, HAS_MASK=HAS_MASK, QUANT=QUANT, DOT_FP32=DOT_FP32, ALIGN=ALIGN,
                D_A=D_A, D_B=D_B, D_B_REAL=D_B_REAL, BLOCK_N=BLOCK_N, PACK=PACK, NP=NP,
            )  # fmt: skip
            pos += STEP
    else:
        for pos in range(lo, hi, STEP):
            if LISTED:
                # int64 under its own name: the loop variable stays int32 (a loop-carried int32 -> int64
                # change is rejected by the compiler; the interpreter does not notice)
                start = tl.load(blk_row + pos).to(tl.int64) * BLOCK_N
            else:
                start = pos
            acc_a, acc_b, l_i, m_i = _cache_attn_fwd_inner(
                acc_a, acc_b, l_i, m_i, qa, qb,
                K, k_off, stride_kn, V, v_off, stride_vn,
                KS, stride_ksn, VS, stride_vsn, Keep, stride_keepm,
                start, n_keys, row_of_q, qk_scale, bias2,
                MASKED=MASKED, IS_CACHE=IS_CACHE, HAS_MASK=HAS_MASK, QUANT=QUANT, DOT_FP32=DOT_FP32, ALIGN=ALIGN,
                D_A=D_A, D_B=D_B, D_B_REAL=D_B_REAL, BLOCK_N=BLOCK_N, PACK=PACK, NP=NP,
            )  # fmt: skip
    return acc_a, acc_b, l_i, m_i


# sizes and bucket keys are not specialised (a new batch or length must not recompile)
@triton.jit(
    do_not_specialize=["n_b", "n_q", "n_k", "m_c", "n_heads", "n_cache_rows", "key_nq", "key_nk", "key_mc", "key_tune"]
)
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
    stride_blkv,
    stride_blkb,
    Counts,
    stride_cntv,
    stride_cntb,
    n_b,
    n_q,
    n_k,
    m_c,
    n_heads,
    n_cache_rows,
    qk_scale,
    bias2,
    key_nq,
    key_nk,
    key_mc,
    key_tune,
    STRIDE_ALIGN: tl.constexpr,
    D_A: tl.constexpr,
    D_B: tl.constexpr,
    D_B_REAL: tl.constexpr,
    HAS_CACHE: tl.constexpr,
    HAS_MASK: tl.constexpr,
    REPLACE: tl.constexpr,
    QUANT: tl.constexpr,
    STORE_LSE: tl.constexpr,
    DOT_FP32: tl.constexpr,
    PACK: tl.constexpr,
    NP: tl.constexpr,
    WHILE_LOOPS: tl.constexpr,
    BLK_VAR: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    # 1-D grid, query blocks fastest: neighbouring programs share (b, h) and hence K/V in L2.
    pid = tl.program_id(0).to(tl.int64)
    if PACK > 1:
        # a program = PACK consecutive batch rows of one head; packed row r holds query rows r*NP .. r*NP+NP-1
        n_groups = tl.cdiv(n_b, PACK)
        h = pid // n_groups
        b0 = (pid % n_groups) * PACK
        rows = tl.arange(0, BLOCK_M)
        row_of_q = rows // NP
        b_q = b0 + row_of_q  # batch row of each query row
        offs_m = (rows % NP).to(tl.int64)
        m_ok = (offs_m < n_q) & (b_q < n_b)
        b_q64 = b_q.to(tl.int64)
        q_rows = b_q64 * stride_qb + h * stride_qh + offs_m * stride_qn
        o_rows = b_q64 * stride_ob + h * stride_oh + offs_m * stride_on
        # key column j of a packed block belongs to batch row b0 + j // NP (clamped inside the batch), so the
        # K/V and cache offsets below are per key column
        b_k = tl.minimum(b0 + tl.arange(0, BLOCK_N) // NP, n_b - 1).to(tl.int64)
    else:
        num_m = tl.cdiv(n_q, BLOCK_M)
        pid_m = pid % num_m
        pid_bh = pid // num_m
        b = pid_bh // n_heads
        h = pid_bh % n_heads
        row_of_q = tl.zeros([BLOCK_M], dtype=tl.int32)  # unused (one batch row per tile)
        offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M).to(tl.int64)
        m_ok = offs_m < n_q
        q_rows = b * stride_qb + h * stride_qh + offs_m * stride_qn
        o_rows = b * stride_ob + h * stride_oh + offs_m * stride_on
        b_k = b  # one batch row per tile: scalar offsets
    k_off = b_k * stride_kb + h * stride_kh
    v_off = b_k * stride_vb + h * stride_vh
    bc = b_k % n_cache_rows  # cache row b % Bc
    kc_off = bc * stride_kcb + h * stride_kch
    vc_off = bc * stride_vcb + h * stride_vch
    ks_row = KS + bc * stride_ksb + h * stride_ksh
    vs_row = VS + bc * stride_vsb + h * stride_vsh
    keep_row = Keep + bc * stride_keepb

    q_rows = tl.multiple_of(q_rows, STRIDE_ALIGN)
    offs_a = tl.arange(0, D_A)
    qa = tl.load(Q + q_rows[:, None] + offs_a[None, :], mask=m_ok[:, None], other=0.0)
    if D_B > 0:
        offs_b = tl.arange(0, D_B)
        b_ok = offs_b < D_B_REAL
        qb = tl.load(Q + q_rows[:, None] + (D_A + offs_b)[None, :], mask=m_ok[:, None] & b_ok[None, :], other=0.0)
        acc_b = tl.zeros([BLOCK_M, D_B], dtype=tl.float32)
    else:
        qb = qa  # unused
        acc_b = tl.zeros([BLOCK_M, 1], dtype=tl.float32)  # unused; one register, never stored
    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc_a = tl.zeros([BLOCK_M, D_A], dtype=tl.float32)

    if PACK > 1:
        # -- packed short sequences: one masked block per segment (n_k, m_c <= NP) --
        row_c = row_of_q
        row_cur = row_of_q
        if HAS_CACHE:
            if REPLACE:
                # replace: a packed row attends to its cached keys if its cache row keeps any, else to its
                # current keys; the other segment sees the row as packed row -1, which no key column has
                cols = tl.arange(0, BLOCK_N)
                if HAS_MASK:
                    sel = tl.load(keep_row + (cols % NP) * stride_keepm, mask=(cols % NP) < m_c, other=0) != 0
                else:
                    sel = (cols % NP) < m_c
                same = row_of_q[:, None] == (cols // NP)[None, :]
                row_has = tl.sum((same & sel[None, :]).to(tl.int32), 1) > 0
                row_c = tl.where(row_has, row_of_q, -1)
                row_cur = tl.where(row_has, -1, row_of_q)
        # current keys first: in joint mode every row then has a finite running max
        acc_a, acc_b, l_i, m_i = _cache_attn_fwd_inner(
            acc_a, acc_b, l_i, m_i, qa, qb,
            K, k_off, stride_kn, V, v_off, stride_vn,
            K, 0, V, 0, K, 0,
            0, n_k, row_cur, qk_scale, bias2,
            MASKED=True, IS_CACHE=False, HAS_MASK=False, QUANT=False, DOT_FP32=DOT_FP32, ALIGN=STRIDE_ALIGN,
            D_A=D_A, D_B=D_B, D_B_REAL=D_B_REAL, BLOCK_N=BLOCK_N, PACK=PACK, NP=NP,
        )  # fmt: skip
        if HAS_CACHE:
            acc_a, acc_b, l_i, m_i = _cache_attn_fwd_inner(
                acc_a, acc_b, l_i, m_i, qa, qb,
                KC, kc_off, stride_kcn, VC, vc_off, stride_vcn,
                ks_row, stride_ksn, vs_row, stride_vsn, keep_row, stride_keepm,
                0, m_c, row_c, qk_scale, bias2,
                MASKED=True, IS_CACHE=True, HAS_MASK=HAS_MASK, QUANT=QUANT, DOT_FP32=DOT_FP32, ALIGN=STRIDE_ALIGN,
                D_A=D_A, D_B=D_B, D_B_REAL=D_B_REAL, BLOCK_N=BLOCK_N, PACK=PACK, NP=NP,
            )  # fmt: skip
    else:
        # -- segment 1: current keys (replace mode: only for rows whose keep-mask selects nothing) --
        cur_end = n_k
        if HAS_CACHE:
            cnt = Counts + BLK_VAR * stride_cntv + bc * stride_cntb
            n_full = tl.load(cnt)  # full cached blocks of this cache row (listed first)
            n_sel = tl.load(cnt + 1)  # full + partial
            if REPLACE:
                cur_end = n_k * (n_sel == 0).to(tl.int32)
        cur_full = (cur_end // BLOCK_N) * BLOCK_N
        acc_a, acc_b, l_i, m_i = _key_loop(
            acc_a, acc_b, l_i, m_i, qa, qb,
            K, k_off, stride_kn, V, v_off, stride_vn,
            K, 0, V, 0, K, 0,  # no scales, no keep-mask (QUANT=False, IS_CACHE=False)
            K, 0, cur_full, n_k, row_of_q, qk_scale, bias2,  # no block list: positions are key offsets
            STEP=BLOCK_N, LISTED=False, WHILE_LOOPS=WHILE_LOOPS,
            MASKED=False, IS_CACHE=False, HAS_MASK=False, QUANT=False, DOT_FP32=DOT_FP32, ALIGN=STRIDE_ALIGN,
            D_A=D_A, D_B=D_B, D_B_REAL=D_B_REAL, BLOCK_N=BLOCK_N, PACK=PACK, NP=NP,
        )  # fmt: skip
        if cur_full < cur_end:  # the ragged last block, peeled
            acc_a, acc_b, l_i, m_i = _cache_attn_fwd_inner(
                acc_a, acc_b, l_i, m_i, qa, qb,
                K, k_off, stride_kn, V, v_off, stride_vn,
                K, 0, V, 0, K, 0,
                cur_full, n_k, row_of_q, qk_scale, bias2,
                MASKED=True, IS_CACHE=False, HAS_MASK=False, QUANT=False, DOT_FP32=DOT_FP32, ALIGN=STRIDE_ALIGN,
                D_A=D_A, D_B=D_B, D_B_REAL=D_B_REAL, BLOCK_N=BLOCK_N, PACK=PACK, NP=NP,
            )  # fmt: skip

        # -- segment 2: cached blocks of cache row b % Bc: full ones (interior form), then partial ones --
        if HAS_CACHE:
            blk_row = Blocks + BLK_VAR * stride_blkv + bc * stride_blkb
            acc_a, acc_b, l_i, m_i = _key_loop(
                acc_a, acc_b, l_i, m_i, qa, qb,
                KC, kc_off, stride_kcn, VC, vc_off, stride_vcn,
                ks_row, stride_ksn, vs_row, stride_vsn, keep_row, stride_keepm,
                blk_row, 0, n_full, m_c, row_of_q, qk_scale, bias2,
                STEP=1, LISTED=True, WHILE_LOOPS=WHILE_LOOPS,
                MASKED=False, IS_CACHE=True, HAS_MASK=HAS_MASK, QUANT=QUANT, DOT_FP32=DOT_FP32, ALIGN=STRIDE_ALIGN,
                D_A=D_A, D_B=D_B, D_B_REAL=D_B_REAL, BLOCK_N=BLOCK_N, PACK=PACK, NP=NP,
            )  # fmt: skip
            acc_a, acc_b, l_i, m_i = _key_loop(
                acc_a, acc_b, l_i, m_i, qa, qb,
                KC, kc_off, stride_kcn, VC, vc_off, stride_vcn,
                ks_row, stride_ksn, vs_row, stride_vsn, keep_row, stride_keepm,
                blk_row, n_full, n_sel, m_c, row_of_q, qk_scale, bias2,
                STEP=1, LISTED=True, WHILE_LOOPS=WHILE_LOOPS,
                MASKED=True, IS_CACHE=True, HAS_MASK=HAS_MASK, QUANT=QUANT, DOT_FP32=DOT_FP32, ALIGN=STRIDE_ALIGN,
                D_A=D_A, D_B=D_B, D_B_REAL=D_B_REAL, BLOCK_N=BLOCK_N, PACK=PACK, NP=NP,
            )  # fmt: skip

    # -- epilogue: normalise, store O (and the natural-log lse) --
    # l_i >= 1 for every row: at least one key block is always visited and its max term is exp2(0).
    o_rows = tl.multiple_of(o_rows, STRIDE_ALIGN)
    tl.store(Out + o_rows[:, None] + offs_a[None, :], (acc_a / l_i[:, None]).to(Out.dtype.element_ty),
             mask=m_ok[:, None])  # fmt: skip
    if D_B > 0:
        tl.store(Out + o_rows[:, None] + (D_A + offs_b)[None, :], (acc_b / l_i[:, None]).to(Out.dtype.element_ty),
                 mask=m_ok[:, None] & b_ok[None, :])  # fmt: skip
    if STORE_LSE:
        lse = (m_i + tl.math.log2(l_i)) * 0.6931471805599453
        if PACK > 1:
            tl.store(Lse + b_q64 * stride_lb + h * stride_lh + offs_m, lse, mask=m_ok)
        else:
            tl.store(Lse + b * stride_lb + h * stride_lh + offs_m, lse, mask=m_ok)


def _interpreter_needs_while_loops() -> bool:
    """True under Triton 3.6's interpreter, whose ``range`` cannot take a runtime bound (see ``_key_loop``).

    Triton 3.7 converts the bound correctly, so its interpreter runs the same ``for`` loops a GPU compiles.
    """
    if not _env.interpret_mode():
        return False
    major, minor = (int(x) for x in triton.__version__.split(".")[:2])
    return (major, minor) < (3, 7)


def _blk_var(block_n: int) -> int:
    return BLOCK_N_VARIANTS.index(block_n)


# The autotuned entry point: configs and pruning live in chai_kernels.triton.configs. Under the
# interpreter and with autotuning off, pruning leaves one config (the tuned table's), so nothing is timed.
_cache_attn_fwd = triton.autotune(
    configs=_configs.cache_attention_search_space(),
    key=["key_nq", "key_nk", "key_mc", "key_tune", "n_heads", "D_A", "D_B", "HAS_CACHE", "REPLACE"],
    prune_configs_by={"early_config_prune": _configs.prune_cache_attention_configs},
    do_bench=_configs.autotune_bench,
)(triton.heuristics({"BLK_VAR": lambda a: _blk_var(a["BLOCK_N"])})(_cache_attn_fwd_kernel))


def head_dim_chunks(d: int) -> tuple[int, int]:
    """(D_A, D_B): the head dim as its largest power-of-two part plus a second chunk >= 16 (0: none).

    72 -> (64, 16), 80 -> (64, 16), 96 -> (64, 32), 64 -> (64, 0), 24 -> (16, 16), 120 -> (64, 64). Chunk A
    is always fully real (its loads need no channel mask); chunk B is masked to its d - D_A real channels.
    The sum is never wider than padding to the next power of two, and narrower whenever d - D_A <= D_A / 4.
    """
    a = 1 << (int(d).bit_length() - 1)
    rem = d - a
    if rem == 0:
        return a, 0
    return a, max(16, _configs.next_pow2(rem))


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
    blocks: torch.Tensor | None = None,
    counts: torch.Tensor | None = None,
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

    q (B, N, H, D); k, v (B, N_k, H, D); k_cache, v_cache (Bc, M, H, D) float, or int8 / float8_e4m3fn
    data with float32 ``k_scale`` / ``v_scale`` (Bc, M, H); cache_mask bool (Bc, M) or None (all kept).
    ``blocks`` / ``counts``: the mask's ``block_lists`` (a prepared cache passes them; otherwise they are
    built here, a few small torch ops). Any strides with a unit last stride. ``out`` (B, N, H, D) in q's
    dtype and ``lse`` float32 (B, H, N) may be preallocated (tests pass NaN-filled buffers). ``config``
    forces a launch configuration (the tuner; tests); otherwise ``triton.autotune`` picks one (the tuned
    table unless autotuning is on). Returns ``out`` or ``(out, lse)``.

    With ``compile_target`` (a Triton ``GPUTarget``) nothing is launched: the kernel is compiled for that
    target with these arguments' specialisation and the ``CompiledKernel`` is returned (no GPU needed;
    see ``chai_kernels.triton.aot``).
    """
    B, N, H, D = q.shape
    n_k = k.shape[1]
    has_cache = k_cache is not None
    quant = has_cache and k_scale is not None
    Bc, m_c = (k_cache.shape[0], k_cache.shape[1]) if has_cache else (1, 0)
    d_a, d_b = head_dim_chunks(D)
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
    pack, n_pad = _configs.pack_rows(N, n_k, m_c, B, d_a + d_b)
    if has_cache and pack == 1 and blocks is None:
        blocks, counts = block_lists(cache_mask, Bc, m_c, q.device)
    if blocks is None:  # never read (no cache, or packed tiles): any tensor serves as the pointer
        blocks = counts = q
        blk_strides = cnt_strides = (0, 0)
    else:
        blk_strides = (blocks.stride(0), blocks.stride(1))
        cnt_strides = (counts.stride(0), counts.stride(1))
    stride_align = _row_alignment([out, q, k, v] + ([k_cache, v_cache] if has_cache else []))
    args = (
        out, *_strides3(out),
        lse_arg, *lse_strides,
        q, *_strides3(q),
        k, *_strides3(k),
        v, *_strides3(v),
        k_cache if has_cache else q, *_strides3(k_cache),
        v_cache if has_cache else q, *_strides3(v_cache),
        k_scale if quant else q, *_strides3(k_scale if quant else None),
        v_scale if quant else q, *_strides3(v_scale if quant else None),
        keep if keep is not None else q, *((keep.stride(0), keep.stride(1)) if keep is not None else (0, 0)),
        blocks, *blk_strides,
        counts, *cnt_strides,
        B, N, n_k, m_c, H, Bc,
        scale * LOG2E, float(cache_bias) * LOG2E,
        _configs.length_bucket(N), _configs.length_bucket(n_k), _configs.length_bucket(m_c),
        int(_configs.autotune_enabled()),
    )  # fmt: skip
    consts = dict(
        STRIDE_ALIGN=stride_align,
        D_A=d_a,
        D_B=d_b,
        D_B_REAL=D - d_a,
        HAS_CACHE=has_cache,
        HAS_MASK=keep is not None,
        REPLACE=(mode == "replace"),
        QUANT=quant,
        STORE_LSE=bool(return_lse),
        DOT_FP32=dot_fp32,
        PACK=pack,
        NP=n_pad,
        WHILE_LOOPS=_interpreter_needs_while_loops(),
    )
    if pack > 1:
        config = _configs.packed_config(pack, n_pad)

    def grid(meta):
        if meta["PACK"] > 1:
            return (triton.cdiv(B, meta["PACK"]) * H,)
        return (triton.cdiv(N, meta["BLOCK_M"]) * B * H,)

    if compile_target is not None:  # ahead-of-time compile only (no launch): chai_kernels.triton.aot
        from chai_kernels.triton import aot

        cfg = config or _configs.cache_attention_config(d_a + d_b, q.dtype)
        kwargs = dict(consts, **cfg.kwargs(), BLK_VAR=_blk_var(cfg.BLOCK_N))
        return aot.compile_for_target(_cache_attn_fwd_kernel, compile_target, args, kwargs)

    # launch on q's GPU even when it is not the current device (no-op context on CPU / interpreter)
    guard = torch.cuda.device(q.device) if q.is_cuda else contextlib.nullcontext()
    with guard:
        if config is not None:
            kernel = _cache_attn_fwd_kernel
            kernel[grid](*args, **consts, **config.kwargs(), BLK_VAR=_blk_var(config.BLOCK_N))
        else:
            _cache_attn_fwd[grid](*args, **consts)
    return (out, lse) if return_lse else out
