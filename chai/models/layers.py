"""Building blocks of the clean-room STDiT3 (OpenSora 1.2), with OpenSora's attribute names and math.

Written from the published description of OpenSora 1.2 (its technical report and model card), not
copied: the module names, parameter names, shapes and numerics match so that OpenSora checkpoints load
and the Cache Attention patch finds the same attributes on either model.

Shape legend: B batch, N tokens, C hidden size, H heads, D head dim, T latent frames, S tokens per
frame (H' * W' patches), L text tokens.

Differences from upstream (all numerically equivalent in fp32):
- cross-attention uses ``torch.nn.functional.scaled_dot_product_attention`` with per-sample text
  lengths (a key-padding mask) instead of xformers' block-diagonal bias, so it runs on CPU;
- the "flash" self-attention path (``enable_flash_attn`` and N > B) uses SDPA instead of flash-attn;
- LayerNorm is always ``torch.nn.LayerNorm`` (no apex kernel).
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "t2i_modulate",
    "t_mask_select",
    "approx_gelu",
    "LlamaRMSNorm",
    "Mlp",
    "DropPath",
    "PatchEmbed3D",
    "TimestepEmbedder",
    "SizeEmbedder",
    "CaptionEmbedder",
    "PositionEmbedding2D",
    "RotaryEmbedding",
    "Attention",
    "MultiHeadCrossAttention",
    "T2IFinalLayer",
]


def t2i_modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN-single modulation: ``x * (1 + scale) + shift`` (shift/scale broadcast as (B, 1, C))."""
    return torch.addcmul(shift, x, 1 + scale)


def t_mask_select(x_mask: torch.Tensor, x: torch.Tensor, masked_x: torch.Tensor, T: int, S: int) -> torch.Tensor:
    """Per-frame merge: frames where ``x_mask`` (B, T) is True take ``x``, the others ``masked_x``.

    x, masked_x: (B, T*S, C), token index t*S + s.
    """
    B = x.shape[0]
    xv = x.reshape(B, T, S, -1)
    mv = masked_x.reshape(B, T, S, -1)
    out = torch.where(x_mask[:, :, None, None], xv, mv)
    return out.reshape(B, T * S, -1)


def approx_gelu() -> nn.Module:
    """tanh-approximated GELU, OpenSora's ``approx_gelu``."""
    return nn.GELU(approximate="tanh")


class LlamaRMSNorm(nn.Module):
    """RMSNorm over the last dim, computed in fp32 and cast back before the weight (LLaMA style).

    ``weight`` (D,) starts at ones; ``variance_epsilon`` is the eps (1e-6 in OpenSora).
    """

    def __init__(self, hidden_size: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        input_dtype = hidden_states.dtype
        h = hidden_states.to(torch.float32)
        variance = h.pow(2).mean(-1, keepdim=True)
        h = h * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * h.to(input_dtype)


class Mlp(nn.Module):
    """timm-style two-layer MLP: ``fc1`` -> ``act`` -> ``fc2`` (dropouts are identity at p=0)."""

    def __init__(
        self,
        in_features: int,
        hidden_features: int | None = None,
        out_features: int | None = None,
        act_layer: Callable[[], nn.Module] = approx_gelu,
        drop: float = 0.0,
    ) -> None:
        super().__init__()
        hidden_features = hidden_features or in_features
        out_features = out_features or in_features
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = act_layer()
        self.drop1 = nn.Dropout(drop)
        self.norm = nn.Identity()
        self.fc2 = nn.Linear(hidden_features, out_features)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop1(self.act(self.fc1(x)))
        x = self.fc2(self.norm(x))
        return self.drop2(x)


class DropPath(nn.Module):
    """Stochastic depth per sample (identity in eval mode or at p=0)."""

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = float(drop_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        noise = x.new_empty(shape).bernoulli_(keep)
        return x * noise / keep


class PatchEmbed3D(nn.Module):
    """Video to patch tokens: Conv3d with kernel = stride = ``patch_size``.

    Input (B, Cin, T, H, W) is zero-padded at the end of W, H, T up to multiples of the patch, then
    projected and flattened to (B, T'*H'*W', C) with token index t*S + h*W' + w.
    """

    def __init__(
        self,
        patch_size: Sequence[int] = (1, 2, 2),
        in_chans: int = 4,
        embed_dim: int = 1152,
        norm_layer: Callable[[int], nn.Module] | None = None,
        flatten: bool = True,
    ) -> None:
        super().__init__()
        self.patch_size = tuple(int(p) for p in patch_size)
        self.flatten = flatten
        self.in_chans = in_chans
        self.embed_dim = embed_dim
        self.proj = nn.Conv3d(in_chans, embed_dim, kernel_size=self.patch_size, stride=self.patch_size)
        self.norm = norm_layer(embed_dim) if norm_layer is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pt, ph, pw = self.patch_size
        _, _, Tn, Hn, Wn = x.shape
        pad_w = (pw - Wn % pw) % pw
        pad_h = (ph - Hn % ph) % ph
        pad_t = (pt - Tn % pt) % pt
        if pad_w or pad_h or pad_t:
            x = F.pad(x, (0, pad_w, 0, pad_h, 0, pad_t))
        x = self.proj(x)  # (B, C, T', H', W')
        if self.norm is not None:
            Tp, Hp, Wp = x.shape[2:]
            x = self.norm(x.flatten(2).transpose(1, 2)).transpose(1, 2).reshape(-1, self.embed_dim, Tp, Hp, Wp)
        if self.flatten:
            x = x.flatten(2).transpose(1, 2)  # (B, N, C)
        return x


class TimestepEmbedder(nn.Module):
    """Scalar timestep -> 256-d sinusoid ([cos, sin], max period 10000) -> MLP (Linear, SiLU, Linear)."""

    def __init__(self, hidden_size: int, frequency_embedding_size: int = 256) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(frequency_embedding_size, hidden_size, bias=True),
            nn.SiLU(),
            nn.Linear(hidden_size, hidden_size, bias=True),
        )
        self.frequency_embedding_size = frequency_embedding_size

    @staticmethod
    def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000) -> torch.Tensor:
        """t (B,) -> (B, dim) float32 sinusoid: cos of the first half-frequencies, then sin."""
        half = dim // 2
        freqs = torch.exp(-math.log(max_period) * torch.arange(0, half, dtype=torch.float32, device=t.device) / half)
        args = t[:, None].float() * freqs[None]
        emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
        if dim % 2:
            emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
        return emb

    def forward(self, t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        t_freq = self.timestep_embedding(t, self.frequency_embedding_size)
        if t_freq.dtype != dtype:
            t_freq = t_freq.to(dtype)
        return self.mlp(t_freq)


class SizeEmbedder(TimestepEmbedder):
    """Embeds per-sample scalars (fps) like timesteps; repeats the batch up to ``bs`` (CFG)."""

    def __init__(self, hidden_size: int, frequency_embedding_size: int = 256) -> None:
        super().__init__(hidden_size=hidden_size, frequency_embedding_size=frequency_embedding_size)
        self.outdim = hidden_size

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def forward(self, s: torch.Tensor, bs: int) -> torch.Tensor:  # type: ignore[override]
        if s.ndim == 1:
            s = s[:, None]
        if s.ndim != 2:
            raise ValueError(f"fps must be (B,) or (B, 1), got shape {tuple(s.shape)}. HINT: pass a 1-D tensor.")
        if s.shape[0] != bs:
            if bs % s.shape[0] != 0:
                raise ValueError(
                    f"fps batch {s.shape[0]} does not divide the model batch {bs}. HINT: pass one fps per sample."
                )
            s = s.repeat(bs // s.shape[0], 1)
        b, dims = s.shape
        emb = self.timestep_embedding(s.reshape(-1), self.frequency_embedding_size).to(self.dtype)
        emb = self.mlp(emb)
        return emb.reshape(b, dims * self.outdim)


class CaptionEmbedder(nn.Module):
    """Projects text-encoder features (B, 1, L, Cy) to (B, 1, L, C) with an MLP; holds the null caption.

    ``y_embedding`` (L, Cy) is a buffer: the unconditional caption used for classifier-free guidance
    (and for caption dropout in training with probability ``uncond_prob``).
    """

    def __init__(
        self,
        in_channels: int,
        hidden_size: int,
        uncond_prob: float,
        act_layer: Callable[[], nn.Module] = approx_gelu,
        token_num: int = 120,
    ) -> None:
        super().__init__()
        self.y_proj = Mlp(in_channels, hidden_features=hidden_size, out_features=hidden_size, act_layer=act_layer)
        self.register_buffer("y_embedding", torch.randn(token_num, in_channels) / in_channels**0.5)
        self.uncond_prob = uncond_prob

    def token_drop(self, caption: torch.Tensor, force_drop_ids: torch.Tensor | None = None) -> torch.Tensor:
        if force_drop_ids is None:
            drop_ids = torch.rand(caption.shape[0], device=caption.device) < self.uncond_prob
        else:
            drop_ids = force_drop_ids == 1
        return torch.where(drop_ids[:, None, None, None], self.y_embedding.to(caption.dtype), caption)

    def forward(self, caption: torch.Tensor, train: bool, force_drop_ids: torch.Tensor | None = None) -> torch.Tensor:
        if train and tuple(caption.shape[2:]) != tuple(self.y_embedding.shape):
            raise ValueError(
                f"caption shape {tuple(caption.shape)} does not end with y_embedding's {tuple(self.y_embedding.shape)}."
                " HINT: pad text features to model_max_length tokens of caption_channels."
            )
        if (train and self.uncond_prob > 0) or force_drop_ids is not None:
            caption = self.token_drop(caption, force_drop_ids)
        return self.y_proj(caption)


class PositionEmbedding2D(nn.Module):
    """2-D sin-cos table for an (h, w) patch grid, (1, h*w, dim); first half encodes the column.

    Grid coordinates are ``arange(n) / scale * base_size / n`` per axis; each coordinate contributes
    ``[sin(c * f), cos(c * f)]`` with ``dim / 4`` frequencies ``f = 10000 ** (-2k / (dim / 2))``.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        if dim % 4 != 0:
            raise ValueError(
                f"PositionEmbedding2D dim must be divisible by 4, got {dim}. HINT: pick hidden_size % 4 == 0."
            )
        self.dim = dim
        half_dim = dim // 2
        inv_freq = 1.0 / (10000 ** (torch.arange(0, half_dim, 2).float() / half_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self._cache: dict = {}

    def _get_sin_cos_emb(self, t: torch.Tensor) -> torch.Tensor:
        out = t[:, None] * self.inv_freq.float()[None, :]
        return torch.cat((torch.sin(out), torch.cos(out)), dim=-1)

    def _build(self, device, dtype, h: int, w: int, scale: float, base_size: int | None) -> torch.Tensor:
        rows = torch.arange(h, device=device, dtype=torch.float32) / scale
        cols = torch.arange(w, device=device, dtype=torch.float32) / scale
        if base_size is not None:
            rows = rows * (base_size / h)
            cols = cols * (base_size / w)
        row_of = rows[:, None].expand(h, w).reshape(-1)  # token index r*w + c
        col_of = cols[None, :].expand(h, w).reshape(-1)
        emb = torch.cat([self._get_sin_cos_emb(col_of), self._get_sin_cos_emb(row_of)], dim=-1)
        return emb.unsqueeze(0).to(dtype)

    def forward(
        self, x: torch.Tensor, h: int, w: int, scale: float = 1.0, base_size: int | None = None
    ) -> torch.Tensor:
        key = (x.device, x.dtype, int(h), int(w), float(scale), base_size, self.inv_freq.device)
        emb = self._cache.get(key)
        if emb is None:
            if len(self._cache) > 64:
                self._cache.clear()
            emb = self._build(x.device, x.dtype, int(h), int(w), float(scale), base_size)
            self._cache[key] = emb
        return emb


class RotaryEmbedding(nn.Module):
    """Rotary position embedding with rotary-embedding-torch 0.5.3 math ("lang" frequencies).

    ``freqs`` (dim/2,) = 1 / theta ** (2i / dim) is an ``nn.Parameter`` (not trained), so a bf16
    model computes the angles in bf16 as upstream does. Rotation acts on **interleaved** adjacent
    channel pairs (2i, 2i+1) over all ``dim`` channels; positions are 0..n-1 along ``seq_dim``.
    """

    def __init__(self, dim: int, theta: float = 10000.0) -> None:
        super().__init__()
        self.dim = dim
        freqs = 1.0 / (theta ** (torch.arange(0, dim, 2)[: dim // 2].float() / dim))
        self.freqs = nn.Parameter(freqs, requires_grad=False)
        self.default_seq_dim = -2
        self._cs_cache: dict = {}

    @staticmethod
    def rotate_half(x: torch.Tensor) -> torch.Tensor:
        """(..., 2n) -> pairs (a, b) become (-b, a)."""
        pairs = x.unflatten(-1, (-1, 2))
        a, b = pairs.unbind(-1)
        return torch.stack((-b, a), dim=-1).flatten(-2)

    def angles(self, seq_len: int, device, dtype: torch.dtype, offset: int = 0) -> torch.Tensor:
        """(seq_len, dim) angles, each frequency repeated twice (adjacent pairs)."""
        pos = torch.arange(seq_len, device=device, dtype=dtype) + offset
        ang = pos.to(self.freqs.dtype)[:, None] * self.freqs[None, :]
        return ang.repeat_interleave(2, dim=-1)

    def _cos_sin(self, seq_len: int, device, dtype: torch.dtype, offset: int) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.freqs
        key = (seq_len, offset, str(device), dtype, f.dtype, f.device, f.data_ptr(), f._version)
        hit = self._cs_cache.get(key)
        if hit is None:
            ang = self.angles(seq_len, device, dtype, offset)
            hit = (ang.cos(), ang.sin())
            if len(self._cs_cache) > 32:
                self._cs_cache.clear()
            self._cs_cache[key] = hit
        return hit

    def rotate_queries_or_keys(self, t: torch.Tensor, seq_dim: int | None = None, offset: int = 0) -> torch.Tensor:
        """Rotate ``t`` (..., N, dim) (sequence at ``seq_dim``, default -2)."""
        seq_dim = self.default_seq_dim if seq_dim is None else seq_dim
        if torch.is_grad_enabled() and self.freqs.requires_grad:
            ang = self.angles(t.shape[seq_dim], t.device, t.dtype, offset)
            cos, sin = ang.cos(), ang.sin()
        else:
            cos, sin = self._cos_sin(t.shape[seq_dim], t.device, t.dtype, offset)
        if seq_dim == -3:
            cos, sin = cos[:, None, :], sin[:, None, :]
        rot = cos.shape[-1]
        t_rot, t_rest = t[..., :rot], t[..., rot:]
        out = t_rot * cos + self.rotate_half(t_rot) * sin
        return torch.cat((out, t_rest), dim=-1) if t_rest.shape[-1] else out


class Attention(nn.Module):
    """Multi-head self-attention with optional RMS q/k norms and RoPE; ``forward(x)`` only.

    x (B, N, C) -> qkv (B, N, 3, H, D): Q channels 0..C-1, K next C, V last C; head h at h*D..h*D+D-1.
    Math path: q*scale in model dtype, scores to fp32 for the softmax, back to dtype, times V.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        qkv_bias: bool = False,
        qk_norm: bool = False,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        norm_layer: Callable[[int], nn.Module] = LlamaRMSNorm,
        enable_flash_attn: bool = False,
        rope: Callable[[torch.Tensor], torch.Tensor] | None = None,
        qk_norm_legacy: bool = False,
    ) -> None:
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(
                f"dim {dim} must be divisible by num_heads {num_heads}. HINT: pick hidden_size = heads * head_dim."
            )
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.enable_flash_attn = enable_flash_attn
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.q_norm = norm_layer(self.head_dim) if qk_norm else nn.Identity()
        self.k_norm = norm_layer(self.head_dim) if qk_norm else nn.Identity()
        self.qk_norm_legacy = qk_norm_legacy
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.rope = False
        if rope is not None:
            self.rope = True
            self.rotary_emb = rope
        self.is_causal = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        use_sdpa = self.enable_flash_attn and N > B
        qkv = self.qkv(x).view(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # (B, H, N, D)
        if self.qk_norm_legacy and self.rope:
            q, k = self.rotary_emb(q), self.rotary_emb(k)
            q, k = self.q_norm(q), self.k_norm(k)
        else:
            q, k = self.q_norm(q), self.k_norm(k)
            if self.rope:
                q, k = self.rotary_emb(q), self.rotary_emb(k)
        if use_sdpa:
            out = F.scaled_dot_product_attention(
                q,
                k,
                v,
                dropout_p=self.attn_drop.p if self.training else 0.0,
                is_causal=self.is_causal,
                scale=self.scale,
            )
        else:
            dtype = q.dtype
            scores = (q * self.scale) @ k.transpose(-2, -1)
            scores = scores.to(torch.float32)
            if self.is_causal:
                causal = torch.ones(N, N, dtype=torch.bool, device=x.device).tril()
                scores = scores.masked_fill(~causal, float("-inf"))
            attn = scores.softmax(dim=-1).to(dtype)
            attn = self.attn_drop(attn)
            out = attn @ v
        out = out.transpose(1, 2).reshape(B, N, C)
        return self.proj_drop(self.proj(out))


class MultiHeadCrossAttention(nn.Module):
    """Image tokens attend to packed text tokens; ``forward(x, cond, mask=None)``.

    x (B, N, C); cond (1, sum(L_b), C) packed text; ``mask`` is the y_lens list [L_0, ..., L_{B-1}]:
    query sample b attends only to its own L_b text tokens (OpenSora's block-diagonal bias). With
    ``mask=None`` every query attends to every packed text token (upstream behaviour).
    """

    def __init__(self, d_model: int, num_heads: int, attn_drop: float = 0.0, proj_drop: float = 0.0) -> None:
        super().__init__()
        if d_model % num_heads != 0:
            raise ValueError(f"d_model {d_model} must be divisible by num_heads {num_heads}.")
        self.d_model = d_model
        self.num_heads = num_heads
        self.head_dim = d_model // num_heads
        self.q_linear = nn.Linear(d_model, d_model)
        self.kv_linear = nn.Linear(d_model, d_model * 2)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(d_model, d_model)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, mask: Sequence[int] | None = None) -> torch.Tensor:
        B, N, C = x.shape
        H, D = self.num_heads, self.head_dim
        q = self.q_linear(x).view(B, N, H, D).transpose(1, 2)  # (B, H, N, D)
        kv = self.kv_linear(cond).view(-1, 2, H, D)  # (sumL, 2, H, D)
        k, v = kv.unbind(1)
        p = self.attn_drop.p
        if mask is None:
            kk = k.transpose(0, 1)[None]  # (1, H, sumL, D)
            vv = v.transpose(0, 1)[None]
            out = F.scaled_dot_product_attention(q.transpose(0, 1).reshape(1, H, B * N, D), kk, vv, dropout_p=p)
            out = out.reshape(H, B, N, D).transpose(0, 1)  # (B, H, N, D)
        else:
            lens = [int(n) for n in mask]
            if len(lens) != B or sum(lens) != k.shape[0]:
                raise ValueError(
                    f"y_lens {lens} (sum {sum(lens)}) does not match batch {B} and {k.shape[0]} packed text tokens."
                    " HINT: y_lens must list the valid text tokens of each sample."
                )
            Lmax = max(lens) if lens else 0
            if Lmax == 0:
                out = q.new_zeros(B, H, N, D)
            elif all(n == Lmax for n in lens):
                kk = k.view(B, Lmax, H, D).transpose(1, 2)
                vv = v.view(B, Lmax, H, D).transpose(1, 2)
                out = F.scaled_dot_product_attention(q, kk, vv, dropout_p=p)
            else:
                lens_t = torch.tensor(lens, device=x.device)
                keep = torch.arange(Lmax, device=x.device)[None, :] < lens_t[:, None]  # (B, Lmax)
                kk = k.new_zeros(B, Lmax, H, D)
                vv = v.new_zeros(B, Lmax, H, D)
                kk[keep] = k
                vv[keep] = v
                out = F.scaled_dot_product_attention(
                    q, kk.transpose(1, 2), vv.transpose(1, 2), attn_mask=keep[:, None, None, :], dropout_p=p
                )
                empty = lens_t == 0
                if bool(empty.any()):
                    out = out.masked_fill(empty[:, None, None, None], 0.0)
        out = out.transpose(1, 2).reshape(B, N, C)
        return self.proj_drop(self.proj(out))


class T2IFinalLayer(nn.Module):
    """Final adaLN layer: LayerNorm (no affine), modulate with ``t`` and its own table, Linear to patches.

    x (B, N, C) -> (B, N, prod(patch) * out_channels). With ``x_mask`` the frames where it is False are
    modulated from ``t0``; like upstream, that branch re-normalises the already modulated tokens.
    """

    def __init__(
        self, hidden_size: int, num_patch: int, out_channels: int, d_t: int | None = None, d_s: int | None = None
    ) -> None:
        super().__init__()
        self.norm_final = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(hidden_size, num_patch * out_channels, bias=True)
        self.scale_shift_table = nn.Parameter(torch.randn(2, hidden_size) / hidden_size**0.5)
        self.out_channels = out_channels
        self.d_t = d_t
        self.d_s = d_s

    def t_mask_select(self, x_mask, x, masked_x, T, S):
        return t_mask_select(x_mask, x, masked_x, T, S)

    def forward(self, x, t, x_mask=None, t0=None, T=None, S=None):
        T = self.d_t if T is None else T
        S = self.d_s if S is None else S
        shift, scale = (self.scale_shift_table[None] + t[:, None]).chunk(2, dim=1)
        x = t2i_modulate(self.norm_final(x), shift, scale)
        if x_mask is not None:
            shift0, scale0 = (self.scale_shift_table[None] + t0[:, None]).chunk(2, dim=1)
            x_zero = t2i_modulate(self.norm_final(x), shift0, scale0)  # upstream quirk: x is already modulated
            x = self.t_mask_select(x_mask, x, x_zero, T, S)
        return self.linear(x)
