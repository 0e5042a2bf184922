"""Tiny random-initialised diffusers video pipelines built in code (no downloads): tests and CPU smoke runs.

``tiny_pipeline("wan" | "cogvideox" | "latte", seed=0)`` wires a few-thousand-parameter transformer,
VAE and T5/UMT5 text encoder, a word-level tokenizer built from a fixed vocabulary and the family's
usual scheduler into the real diffusers pipeline class. Outputs are noise-like (random weights); the
point is that every code path of the real pipeline runs. Sizes follow diffusers' own unit tests, with
head_dim 16 so the Triton interpreter stays fast.

``TINY_CALL_KWARGS[kind]`` holds the call arguments that fit each tiny model (frame count, size,
text length).
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["TINY_CALL_KWARGS", "TINY_VOCAB", "tiny_pipeline", "tiny_tokenizer"]

# Word-level vocabulary of the tiny tokenizer; other words map to [UNK]. Indices 0..2 are special.
TINY_VOCAB: tuple[str, ...] = tuple(
    """<pad> </s> [UNK] a an the of in on at with and by to from under over near through into its his her
    their is are running walking sitting standing jumping flying swimming surfing sleeping playing dancing
    riding eating red blue green yellow white black golden small big old young dark bright sunny snowy rainy
    cat cats dog dogs corgi tiger tigers horse horses bird birds fish car cars boat train robot man woman
    child people astronaut panda fox bear lion elephant dragon wave waves beach sea ocean river lake
    mountain mountains forest jungle city street park garden field desert snow sky cloud clouds moon sun
    sunset sunrise night day cave room kitchen house castle bridge road tree trees flower flowers grass
    rock water fire light rain space ball guitar piano book hat umbrella""".split()  # noqa: SIM905
)

# Call arguments that fit the tiny configs (latent T x H x W: wan 3x8x8, cogvideox 3x8x8, latte 3x8x8).
TINY_CALL_KWARGS: dict[str, dict[str, Any]] = {
    "wan": {"num_frames": 9, "height": 64, "width": 64, "max_sequence_length": 16},
    "cogvideox": {"num_frames": 9, "height": 64, "width": 64, "max_sequence_length": 16},
    "latte": {"video_length": 3, "height": 8, "width": 8, "clean_caption": False},
}


def tiny_tokenizer(model_max_length: int = 16):
    """A fast word-level tokenizer (``PreTrainedTokenizerFast``) over :data:`TINY_VOCAB`, T5-style: lower-cased
    words split on whitespace and punctuation, ``</s>`` appended, ``<pad>`` id 0. Offsets are available, so
    token positions of a word can be found as with the real T5 tokenizers."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(TINY_VOCAB)}
    tok = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", vocab["</s>"])])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="[UNK]",
        model_max_length=model_max_length,
    )


def _t5(kind: str, d_model: int):
    if kind == "umt5":
        from transformers import UMT5Config, UMT5EncoderModel

        cfg = UMT5Config(vocab_size=len(TINY_VOCAB), d_model=d_model, d_kv=8, d_ff=32, num_layers=1, num_heads=2)
        return UMT5EncoderModel(cfg).eval()
    from transformers import T5Config, T5EncoderModel

    cfg = T5Config(vocab_size=len(TINY_VOCAB), d_model=d_model, d_kv=8, d_ff=32, num_layers=1, num_heads=2)
    return T5EncoderModel(cfg).eval()


def tiny_pipeline(
    kind: str, *, seed: int = 0, num_layers: int = 2, heads: int = 2, head_dim: int = 16, video_length: int = 3
):
    """A tiny random ``WanPipeline`` / ``CogVideoXPipeline`` / ``LattePipeline`` on CPU in float32.

    Every module is seeded from ``seed``, so two calls with the same seed build identical pipelines.
    Call it with :data:`TINY_CALL_KWARGS` ``[kind]`` (plus ``prompt``, ``num_inference_steps``, ``generator``,
    ``output_type="latent"`` to skip the VAE decode). ``num_layers``, ``heads`` and ``head_dim`` size the
    transformer (benchmarks use larger values and larger frame counts / resolutions); ``video_length`` is
    Latte's fixed frame count (its temporal position table).
    """
    kind = str(kind).lower()
    if kind not in TINY_CALL_KWARGS:
        raise ValueError(f"tiny_pipeline: kind={kind!r}. HINT: use one of {', '.join(TINY_CALL_KWARGS)}.")
    import diffusers

    torch.manual_seed(seed)
    if kind == "wan":
        transformer = diffusers.WanTransformer3DModel(
            patch_size=(1, 2, 2), num_attention_heads=heads, attention_head_dim=head_dim, in_channels=16,
            out_channels=16, text_dim=32, freq_dim=32, ffn_dim=2 * heads * head_dim, num_layers=num_layers, cross_attn_norm=True,
            qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
        )  # fmt: skip
        vae = diffusers.AutoencoderKLWan(
            base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True]
        )
        scheduler = diffusers.FlowMatchEulerDiscreteScheduler(shift=7.0)
        pipe = diffusers.WanPipeline(
            tokenizer=tiny_tokenizer(), text_encoder=_t5("umt5", 32), vae=vae, scheduler=scheduler,
            transformer=transformer,
        )  # fmt: skip
    elif kind == "cogvideox":
        transformer = diffusers.CogVideoXTransformer3DModel(
            num_attention_heads=heads, attention_head_dim=head_dim, in_channels=4, out_channels=4, time_embed_dim=8,
            text_embed_dim=32, num_layers=num_layers, sample_width=8, sample_height=8, sample_frames=9,
            patch_size=2, temporal_compression_ratio=4, max_text_seq_length=16,
        )  # fmt: skip
        vae = diffusers.AutoencoderKLCogVideoX(
            in_channels=3, out_channels=3, down_block_types=("CogVideoXDownBlock3D",) * 4,
            up_block_types=("CogVideoXUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8), latent_channels=4,
            layers_per_block=1, norm_num_groups=2, temporal_compression_ratio=4,
        )  # fmt: skip
        scheduler = diffusers.CogVideoXDDIMScheduler()
        pipe = diffusers.CogVideoXPipeline(
            tokenizer=tiny_tokenizer(), text_encoder=_t5("t5", 32), vae=vae, transformer=transformer,
            scheduler=scheduler,
        )  # fmt: skip
    else:
        transformer = diffusers.LatteTransformer3DModel(
            num_attention_heads=heads, attention_head_dim=head_dim, in_channels=4, out_channels=8, num_layers=num_layers,
            cross_attention_dim=heads * head_dim, sample_size=8, patch_size=2, norm_type="ada_norm_single",
            num_embeds_ada_norm=1000, caption_channels=32, video_length=video_length,
        )  # fmt: skip
        vae = diffusers.AutoencoderKL(block_out_channels=(8,), norm_num_groups=2, latent_channels=4)
        scheduler = diffusers.DDIMScheduler()
        pipe = diffusers.LattePipeline(
            tokenizer=tiny_tokenizer(), text_encoder=_t5("t5", 32), vae=vae, transformer=transformer,
            scheduler=scheduler,
        )  # fmt: skip
    for m in (pipe.transformer, pipe.vae, pipe.text_encoder):
        m.eval()
    pipe.set_progress_bar_config(disable=True)
    return pipe
