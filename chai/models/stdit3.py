"""Clean-room STDiT3 (OpenSora 1.2's text-to-video DiT) with OpenSora's module tree and math.

``STDiT3Config.preset("XL/2")`` has exactly the state_dict keys and shapes of the OpenSora 1.2 checkpoint
(``hpcai-tech/OpenSora-STDiT-v3``: 973 entries, 1,207,643,972 parameters), so those weights load with
``model.load_state_dict(...)``. ``"tiny"`` is the test model and ``"mini"`` the CPU demo model.

Shape legend: B batch (2x under CFG), Cin latent channels (4), T/H/W latent frames/rows/columns,
T'/H'/W' patch grid, S = H'*W' tokens per frame, N = T'*S tokens, C hidden size, L text tokens,
Cy caption channels.

Forward contract (as OpenSora): ``forward(x, timestep, y, mask=None, x_mask=None, fps=None, height=None,
width=None, **kwargs)`` with x (B, Cin, T, H, W), timestep (B,), y (B, 1, L, Cy), mask (B', L) text
mask (B' = B, or B/2 under CFG: it is repeated to y's batch), x_mask bool (B, T), fps (B',) and
height/width (B',) in pixels. Returns fp32 (B, Cout, T, H, W), Cout = 2*Cin with ``pred_sigma``.
Blocks are called positionally as ``block(x, y, t_mlp, y_lens, x_mask, t0_mlp, T, S)``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from chai.models.layers import (
    Attention,
    CaptionEmbedder,
    DropPath,
    LlamaRMSNorm,
    Mlp,
    MultiHeadCrossAttention,
    PatchEmbed3D,
    PositionEmbedding2D,
    RotaryEmbedding,
    SizeEmbedder,
    T2IFinalLayer,
    TimestepEmbedder,
    approx_gelu,
    t2i_modulate,
    t_mask_select,
)

__all__ = ["STDiT3Config", "STDiT3Block", "STDiT3", "PRESETS"]


# Preset name -> field overrides of STDiT3Config. "mini": the CPU demo at OpenSora's default CHAI clip
# (240p 9:16, 68 frames -> latent 4x20x30x53, 20x15x27 patch grid, S = 405, N = 8100).
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(hidden_size=64, depth=2, num_heads=4, caption_channels=32, model_max_length=8),
    "tiny-hd72": dict(hidden_size=144, depth=2, num_heads=2, caption_channels=32, model_max_length=8),
    "mini": dict(hidden_size=144, depth=2, num_heads=2, caption_channels=384, model_max_length=48),
    "XL/2": dict(hidden_size=1152, depth=28, num_heads=16, caption_channels=4096, model_max_length=300),
    # The trained synthetic model (chai.synthetic): 32x32 RGB clips through its space-to-depth autoencoder at
    # factor 2 (12 x 16 x 16
    # per frame, 8 x 8 = 64 tokens of 4 x 4 pixels per frame), MiniLM captions (384-d, 32 tokens), no learned
    # sigma, head_dim 64 (the Cache Attention kernel wants a multiple of 8). hidden_size must exceed the 48
    # values of a (1, 2, 2) patch of 12 channels: the final Linear(hidden, 48) would otherwise leave part of
    # every token's initial noise untouched by sampling.
    "synthetic": dict(
        hidden_size=128, depth=3, num_heads=2, in_channels=12, pred_sigma=False, caption_channels=384,
        model_max_length=32,
    ),
}

#: Latent (C, T, H, W) the "mini" preset is sized and timed for: 240p 9:16, 68 frames.
MINI_LATENT_SHAPE = (4, 20, 30, 53)


@dataclass
class STDiT3Config:
    """OpenSora 1.2's STDiT3Config fields (same names and defaults = the XL/2 model)."""

    model_type: str = "STDiT3"
    input_size: tuple = (None, None, None)
    input_sq_size: int = 512
    in_channels: int = 4
    patch_size: tuple = (1, 2, 2)
    hidden_size: int = 1152
    depth: int = 28
    num_heads: int = 16
    mlp_ratio: float = 4.0
    class_dropout_prob: float = 0.1
    pred_sigma: bool = True
    drop_path: float = 0.0
    caption_channels: int = 4096
    model_max_length: int = 300
    qk_norm: bool = True
    enable_flash_attn: bool = False
    enable_layernorm_kernel: bool = False
    enable_sequence_parallelism: bool = False
    only_train_temporal: bool = False
    freeze_y_embedder: bool = False
    skip_y_embedder: bool = False

    def __post_init__(self) -> None:
        self.patch_size = tuple(int(p) for p in self.patch_size)
        self.input_size = tuple(self.input_size)
        if len(self.patch_size) != 3 or any(p < 1 for p in self.patch_size):
            raise ValueError(
                f"patch_size must be 3 positive ints, got {self.patch_size}. HINT: OpenSora uses (1, 2, 2)."
            )
        for name in ("hidden_size", "depth", "num_heads", "in_channels", "caption_channels", "model_max_length"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}.")
        if self.hidden_size % self.num_heads != 0:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}."
                " HINT: hidden_size = num_heads * head_dim (OpenSora: 16 * 72)."
            )
        if (self.hidden_size // self.num_heads) % 2 != 0:
            raise ValueError(f"head_dim {self.hidden_size // self.num_heads} must be even (RoPE rotates pairs).")
        if self.hidden_size % 4 != 0:
            raise ValueError(f"hidden_size {self.hidden_size} must be divisible by 4 (2-D sin-cos position table).")
        if self.enable_sequence_parallelism:
            raise ValueError(
                "enable_sequence_parallelism=True is not supported by chai's STDiT3 (single process)."
                " HINT: set it to False; sequence parallelism needs OpenSora's colossalai setup."
            )

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> "STDiT3Config":
        """Config for ``"tiny"``, ``"tiny-hd72"`` (head_dim 72), ``"mini"``, ``"XL/2"``, ``"synthetic"`` + overrides."""
        if name not in PRESETS:
            raise ValueError(f"unknown STDiT3 preset {name!r}. HINT: choose one of {sorted(PRESETS)}.")
        kw = dict(PRESETS[name])
        kw.update(overrides)
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "STDiT3Config":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class STDiT3Block(nn.Module):
    """One spatial (``temporal=False``) or temporal block: adaLN self-attention, cross-attention, MLP.

    forward(x (B, T*S, C), y (1, sumL, C), t (B, 6C) t_mlp, mask (y_lens list), x_mask (B, T) bool,
    t0 (B, 6C), T, S) -> (B, T*S, C). Spatial attention runs over rows (b, t) (index b*T + t), length S;
    temporal over rows (b, s) (index b*S + s), length T.
    """

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
        rope=None,
        qk_norm: bool = False,
        temporal: bool = False,
        enable_flash_attn: bool = False,
        enable_layernorm_kernel: bool = False,
        enable_sequence_parallelism: bool = False,
    ) -> None:
        super().__init__()
        self.temporal = temporal
        self.hidden_size = hidden_size
        self.enable_flash_attn = enable_flash_attn
        self.enable_sequence_parallelism = enable_sequence_parallelism
        self.norm1 = nn.LayerNorm(hidden_size, eps=1e-6, elementwise_affine=False)
        self.attn = Attention(
            hidden_size,
            num_heads=num_heads,
            qkv_bias=True,
            qk_norm=qk_norm,
            norm_layer=LlamaRMSNorm,
            rope=rope,
            enable_flash_attn=enable_flash_attn,
        )
        self.cross_attn = MultiHeadCrossAttention(hidden_size, num_heads)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = nn.LayerNorm(hidden_size, eps=1e-6, elementwise_affine=False)
        self.mlp = Mlp(hidden_size, hidden_features=int(hidden_size * mlp_ratio), act_layer=approx_gelu, drop=0.0)
        self.scale_shift_table = nn.Parameter(torch.randn(6, hidden_size) / hidden_size**0.5)

    def t_mask_select(self, x_mask, x, masked_x, T, S):
        return t_mask_select(x_mask, x, masked_x, T, S)

    def modulation(self, t: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """t (B, 6C) -> shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp, each (B, 1, C)."""
        B = t.shape[0]
        return (self.scale_shift_table[None] + t.reshape(B, 6, -1)).chunk(6, dim=1)

    def forward(self, x, y, t, mask=None, x_mask=None, t0=None, T=None, S=None):
        B, N, C = x.shape
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.modulation(t)
        if x_mask is not None:
            shift_msa0, scale_msa0, gate_msa0, shift_mlp0, scale_mlp0, gate_mlp0 = self.modulation(t0)

        # -- self-attention branch --
        h = self.norm1(x)
        x_m = t2i_modulate(h, shift_msa, scale_msa)
        if x_mask is not None:
            x_m = self.t_mask_select(x_mask, x_m, t2i_modulate(h, shift_msa0, scale_msa0), T, S)
        if self.temporal:
            x_m = x_m.reshape(B, T, S, C).transpose(1, 2).reshape(B * S, T, C)
            x_m = self.attn(x_m)
            x_m = x_m.reshape(B, S, T, C).transpose(1, 2).reshape(B, T * S, C)
        else:
            x_m = self.attn(x_m.reshape(B * T, S, C)).reshape(B, T * S, C)
        if x_mask is None and isinstance(self.drop_path, nn.Identity):
            x = torch.addcmul(x, gate_msa, x_m)
        else:
            x_m_s = gate_msa * x_m
            if x_mask is not None:
                x_m_s = self.t_mask_select(x_mask, x_m_s, gate_msa0 * x_m, T, S)
            x = x + self.drop_path(x_m_s)

        # -- cross-attention (no norm, no gate) --
        x = x + self.cross_attn(x, y, mask)

        # -- MLP branch --
        h = self.norm2(x)
        x_m = t2i_modulate(h, shift_mlp, scale_mlp)
        if x_mask is not None:
            x_m = self.t_mask_select(x_mask, x_m, t2i_modulate(h, shift_mlp0, scale_mlp0), T, S)
        x_m = self.mlp(x_m)
        if x_mask is None and isinstance(self.drop_path, nn.Identity):
            return torch.addcmul(x, gate_mlp, x_m)
        x_m_s = gate_mlp * x_m
        if x_mask is not None:
            x_m_s = self.t_mask_select(x_mask, x_m_s, gate_mlp0 * x_m, T, S)
        return x + self.drop_path(x_m_s)


class STDiT3(nn.Module):
    """OpenSora 1.2 STDiT3 (spatial-temporal DiT), clean-room; configuration at ``model.config``."""

    def __init__(self, config: STDiT3Config | None = None, **kwargs: Any) -> None:
        super().__init__()
        if config is None:
            config = STDiT3Config(**kwargs)
        elif kwargs:
            config = dataclasses.replace(config, **kwargs)
        self.config = config
        self.pred_sigma = config.pred_sigma
        self.in_channels = config.in_channels
        self.out_channels = config.in_channels * 2 if config.pred_sigma else config.in_channels
        self.depth = config.depth
        self.mlp_ratio = config.mlp_ratio
        self.hidden_size = config.hidden_size
        self.num_heads = config.num_heads
        self.drop_path = config.drop_path
        self.enable_flash_attn = config.enable_flash_attn
        self.enable_layernorm_kernel = config.enable_layernorm_kernel
        self.enable_sequence_parallelism = config.enable_sequence_parallelism
        self.patch_size = config.patch_size
        self.input_sq_size = config.input_sq_size

        self.pos_embed = PositionEmbedding2D(config.hidden_size)
        self.rope = RotaryEmbedding(dim=config.hidden_size // config.num_heads)
        self.x_embedder = PatchEmbed3D(config.patch_size, config.in_channels, config.hidden_size)
        self.t_embedder = TimestepEmbedder(config.hidden_size)
        self.fps_embedder = SizeEmbedder(config.hidden_size)
        self.t_block = nn.Sequential(nn.SiLU(), nn.Linear(config.hidden_size, 6 * config.hidden_size, bias=True))
        self.y_embedder = CaptionEmbedder(
            in_channels=config.caption_channels,
            hidden_size=config.hidden_size,
            uncond_prob=config.class_dropout_prob,
            act_layer=approx_gelu,
            token_num=config.model_max_length,
        )
        rates = [config.drop_path * i / (config.depth - 1) if config.depth > 1 else 0.0 for i in range(config.depth)]
        common = dict(
            hidden_size=config.hidden_size,
            num_heads=config.num_heads,
            mlp_ratio=config.mlp_ratio,
            qk_norm=config.qk_norm,
            enable_flash_attn=config.enable_flash_attn,
            enable_layernorm_kernel=config.enable_layernorm_kernel,
            enable_sequence_parallelism=config.enable_sequence_parallelism,
        )
        self.spatial_blocks = nn.ModuleList([STDiT3Block(drop_path=rates[i], **common) for i in range(config.depth)])
        self.temporal_blocks = nn.ModuleList(
            [
                STDiT3Block(drop_path=rates[i], temporal=True, rope=self.rope.rotate_queries_or_keys, **common)
                for i in range(config.depth)
            ]
        )
        self.final_layer = T2IFinalLayer(config.hidden_size, math.prod(config.patch_size), self.out_channels)
        self.initialize_weights()
        if config.only_train_temporal:
            for name, p in self.named_parameters():
                if "temporal_blocks" not in name:
                    p.requires_grad_(False)
        if config.freeze_y_embedder:
            for p in self.y_embedder.parameters():
                p.requires_grad_(False)

    # -- init --------------------------------------------------------------------------------------
    def initialize_weights(self) -> None:
        """OpenSora's init: xavier-uniform Linear weights, zero biases; fps MLP out zeroed; the temporal
        blocks' attn.proj, cross_attn.proj and mlp.fc2 weights zeroed (a fresh temporal branch is a no-op)."""

        def _basic_init(module: nn.Module) -> None:
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.constant_(module.bias, 0)

        self.apply(_basic_init)
        nn.init.normal_(self.fps_embedder.mlp[0].weight, std=0.02)
        nn.init.constant_(self.fps_embedder.mlp[0].bias, 0)
        nn.init.constant_(self.fps_embedder.mlp[2].weight, 0)
        nn.init.constant_(self.fps_embedder.mlp[2].bias, 0)
        for block in self.temporal_blocks:
            nn.init.constant_(block.attn.proj.weight, 0)
            nn.init.constant_(block.cross_attn.proj.weight, 0)
            nn.init.constant_(block.mlp.fc2.weight, 0)

    # -- helpers -----------------------------------------------------------------------------------
    @property
    def dtype(self) -> torch.dtype:
        return self.x_embedder.proj.weight.dtype

    def get_dynamic_size(self, x: torch.Tensor) -> tuple[int, int, int]:
        """Patch grid (T', H', W') of x (B, Cin, T, H, W) after padding to multiples of the patch."""
        _, _, T, H, W = x.shape
        pt, ph, pw = self.patch_size
        return (-(-T // pt), -(-H // ph), -(-W // pw))

    def encode_text(self, y: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, list[int]]:
        """y (B, 1, L, Cy), mask (B' , L) -> packed (1, sum y_lens, C) and y_lens (mask repeated to B)."""
        y = self.y_embedder(y, self.training)  # (B, 1, L, C)
        if mask is not None:
            if mask.shape[0] != y.shape[0]:
                if y.shape[0] % mask.shape[0] != 0:
                    raise ValueError(
                        f"text mask batch {mask.shape[0]} does not divide y batch {y.shape[0]}."
                        " HINT: pass one mask row per prompt (the model repeats it for CFG)."
                    )
                mask = mask.repeat(y.shape[0] // mask.shape[0], 1)
            mask = mask.reshape(mask.shape[0], -1)
            keep = mask != 0
            y = y.squeeze(1)[keep].reshape(1, -1, self.hidden_size)
            y_lens = keep.sum(dim=1).tolist()
        else:
            y_lens = [y.shape[2]] * y.shape[0]
            y = y.squeeze(1).reshape(1, -1, self.hidden_size)
        return y, y_lens

    def unpatchify(self, x, N_t, N_h, N_w, R_t, R_h, R_w):
        """(B, N, prod(patch)*Cout) -> (B, Cout, T, H, W) cropped to the unpadded size (R_t, R_h, R_w)."""
        T_p, H_p, W_p = self.patch_size
        B = x.shape[0]
        x = x.reshape(B, N_t, N_h, N_w, T_p, H_p, W_p, self.out_channels)
        x = x.permute(0, 7, 1, 4, 2, 5, 3, 6).reshape(B, self.out_channels, N_t * T_p, N_h * H_p, N_w * W_p)
        return x[:, :, :R_t, :R_h, :R_w]

    # -- forward -----------------------------------------------------------------------------------
    def forward(self, x, timestep, y, mask=None, x_mask=None, fps=None, height=None, width=None, **kwargs):
        dtype = self.x_embedder.proj.weight.dtype
        B = x.size(0)
        x = x.to(dtype)
        timestep = timestep.to(dtype)
        y = y.to(dtype)

        # -- sizes and position table --
        _, _, Tx, Hx, Wx = x.size()
        T, H, W = self.get_dynamic_size(x)
        S = H * W
        base_size = round(S**0.5)
        if height is None or width is None:
            raise ValueError(
                "height and width (pixels, tensors of shape (B,)) are required. HINT: pass the video size."
            )
        h0 = (
            height[0].item()
            if torch.is_tensor(height)
            else float(height[0] if isinstance(height, (list, tuple)) else height)
        )
        w0 = (
            width[0].item()
            if torch.is_tensor(width)
            else float(width[0] if isinstance(width, (list, tuple)) else width)
        )
        scale = (h0 * w0) ** 0.5 / self.input_sq_size
        pos_emb = self.pos_embed(x, H, W, scale=scale, base_size=base_size)

        # -- timestep (+ fps) embedding --
        if fps is None:
            raise ValueError("fps is required (tensor of shape (B,)). HINT: OpenSora uses 24.")
        if not torch.is_tensor(fps):
            fps = torch.tensor([float(fps)], device=x.device)
        t = self.t_embedder(timestep, dtype=x.dtype)
        fps_emb = self.fps_embedder(fps.unsqueeze(1), B)
        t = t + fps_emb
        t_mlp = self.t_block(t)
        t0 = t0_mlp = None
        if x_mask is not None:
            t0 = self.t_embedder(torch.zeros_like(timestep), dtype=x.dtype) + fps_emb
            t0_mlp = self.t_block(t0)

        # -- text --
        if self.config.skip_y_embedder:
            y_lens = mask.long().tolist() if isinstance(mask, torch.Tensor) else mask
        else:
            y, y_lens = self.encode_text(y, mask)

        # -- patch tokens --
        x = self.x_embedder(x)  # (B, N, C)
        x = (x.reshape(B, T, S, -1) + pos_emb).reshape(B, T * S, -1)

        # -- blocks: S0, T0, S1, T1, ... --
        for spatial_block, temporal_block in zip(self.spatial_blocks, self.temporal_blocks, strict=True):
            x = spatial_block(x, y, t_mlp, y_lens, x_mask, t0_mlp, T, S)
            x = temporal_block(x, y, t_mlp, y_lens, x_mask, t0_mlp, T, S)

        x = self.final_layer(x, t, x_mask, t0, T, S)
        x = self.unpatchify(x, T, H, W, Tx, Hx, Wx)
        return x.to(torch.float32)
