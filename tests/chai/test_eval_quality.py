"""``chai eval quality`` on CPU: tiny random STDiT3 and tiny diffusers pipelines, a handful of steps.

The numbers of the report are checked against metrics computed here from the clips, independently of
``chai.evaluation.quality``; the twins against what they claim to be (the pipeline's own no-cache run, and the
sampler run by hand); a pair's hit can only reuse its own miss; the pairs file's errors name their line; the
CLIP score never touches the network.
"""

from __future__ import annotations

import json
import math
import socket

import numpy as np
import pytest
import torch

pytest.importorskip("faiss")

from chai.cache import HashingEmbedder, LatentCache
from chai.cli import main
from chai.demo import build_model, load_checkpoint_model
from chai.evaluation import metrics
from chai.evaluation.pairs import Pair, PairsFileError, read_pairs
from chai.evaluation.quality import BootstrapSettings, evaluate, summarize
from chai.evaluation.runners import STDiT3Runner
from chai.evaluation.sheet import sheet_title
from chai.pipeline import PipelineConfig
from chai.text_encoder import HashTextEncoder

SIZE = {"num_frames": 17, "height": 32, "width": 48}  # latent (4, 5, 4, 6)
FULL, HIT = 6, 4
CONFIG = {"full_steps": FULL, "hit_steps": HIT, "cache_steps": (2, 3, 4)}


class WordExtractor:
    """Deterministic entity extractor: the vocabulary words present in the prompt."""

    name = "test-words"
    VOCAB = ("corgi", "tiger", "fox", "boat")

    def extract(self, prompt: str) -> list[str]:
        return [v for v in self.VOCAB if v in prompt.lower().split()]


def _psnr(a: np.ndarray, b: np.ndarray, data_range: float) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(data_range**2 / mse)


@pytest.fixture(scope="module")
def tiny():
    model = build_model("tiny", seed=0, device="cpu")
    enc = HashTextEncoder(model.config.caption_channels, model.config.model_max_length, seed=1)
    return model, enc


@pytest.fixture()
def runner(tiny):
    model, enc = tiny
    cache = LatentCache(4_000_000, extractor=WordExtractor(), embedder=HashingEmbedder(64))
    r = STDiT3Runner(model, enc, cache, config=PipelineConfig(**CONFIG), vae=None, device="cpu", size=SIZE)
    yield r
    r.close()
    cache.close()


def _cli(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# ----------------------------------------------------------------------------------------------- metrics


def test_psnr_and_ssim_of_identical_and_known_clips():
    rng = np.random.default_rng(0)
    a = rng.random((3, 16, 16, 3))
    assert math.isinf(metrics.psnr(a, a)) and metrics.capped_psnr(a, a) == metrics.PSNR_CAP_DB
    assert metrics.ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    assert metrics.psnr(np.zeros((8, 8)), np.full((8, 8), 0.1)) == pytest.approx(20.0, abs=1e-9)
    b = np.clip(a + rng.normal(0, 0.05, a.shape), 0, 1)
    assert metrics.psnr(a, b) == pytest.approx(_psnr(a, b, 1.0), abs=1e-9)
    assert metrics.ssim(a, b) < 1.0
    assert metrics.psnr(a, b, data_range=2.0) == pytest.approx(_psnr(a, b, 2.0), abs=1e-9)
    with pytest.raises(ValueError, match="same shape"):
        metrics.psnr(a, b[:2])


def test_research_analyzer_uses_the_product_metrics():
    analyzer = pytest.importorskip("research.eval.analyzer")
    assert analyzer.psnr is metrics.psnr and analyzer.ssim is metrics.ssim


def test_paired_bootstrap_interval():
    rng = np.random.default_rng(1)
    x = rng.normal(1.0, 0.5, 40)
    iv = metrics.paired_bootstrap(x, resamples=4000, seed=3)
    assert iv.mean == pytest.approx(float(x.mean()))
    assert iv.low < iv.mean < iv.high and iv.n == 40
    # deterministic given the seed; another seed moves the bounds, not the mean
    assert metrics.paired_bootstrap(x, resamples=4000, seed=3) == iv
    other = metrics.paired_bootstrap(x, resamples=4000, seed=4)
    assert other.mean == iv.mean and (other.low, other.high) != (iv.low, iv.high)
    # about the normal-theory interval of a mean (1.96 standard errors each side)
    se = x.std(ddof=1) / math.sqrt(x.size)
    assert iv.high - iv.low == pytest.approx(2 * 1.96 * se, rel=0.15)
    # paired: a shift common to both arms cancels; a clear gain excludes zero
    base = rng.normal(30.0, 3.0, 40)
    d = metrics.paired_bootstrap(base + 0.5 + rng.normal(0, 0.1, 40), base, resamples=4000)
    assert d.excludes_zero() and 0.4 < d.mean < 0.6
    assert metrics.paired_bootstrap([2.5], resamples=10).low == 2.5
    with pytest.raises(ValueError, match="finite"):
        metrics.paired_bootstrap([1.0, math.inf])
    with pytest.raises(ValueError, match="baseline"):
        metrics.paired_bootstrap([1.0, 2.0], [1.0])


# ----------------------------------------------------------------------------------------------- pairs file


def test_read_pairs(tmp_path):
    p = tmp_path / "pairs.jsonl"
    p.write_text(
        '# comment\n\n{"cached": "a corgi surfing", "request": "a corgi running"}\n'
        '{"cached": " a fox ", "request": "a fox asleep", "seed": 42}\n{"cached": "x y", "request": "z w"}\n',
        encoding="utf-8",
    )
    assert read_pairs(p, seed=10) == [
        Pair(3, "a corgi surfing", "a corgi running", 10),
        Pair(4, "a fox", "a fox asleep", 42),
        Pair(5, "x y", "z w", 12),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not JSON"),
        ('["a", "b"]', "a JSON list, not an object"),
        ('{"cached": "a"}', '"request" must be a non-empty string, got missing'),
        ('{"cached": "a", "request": "  "}', '"request" must be a non-empty string'),
        ('{"cached": "a", "request": "b", "prompt": "c"}', "unknown key 'prompt'"),
        ('{"cached": "a", "request": "b", "seed": -1}', '"seed" must be an integer >= 0'),
        ('{"cached": "a", "request": "b", "seed": "1"}', '"seed" must be an integer >= 0'),
    ],
)
def test_bad_pairs_line_names_its_number(tmp_path, line, message):
    p = tmp_path / "pairs.jsonl"
    p.write_text('{"cached": "a corgi", "request": "a corgi"}\n# fine\n' + line + "\n", encoding="utf-8")
    with pytest.raises(PairsFileError) as exc:
        read_pairs(p)
    assert f"{p}:3: " in str(exc.value) and message in str(exc.value) and "HINT" in str(exc.value)


def test_missing_and_empty_pairs_files(tmp_path):
    with pytest.raises(PairsFileError, match="does not exist"):
        read_pairs(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(PairsFileError, match="holds no pair"):
        read_pairs(tmp_path / "empty.jsonl")


def test_cli_bad_pairs_file_is_one_line_usage_error(capsys, tmp_path):
    p = tmp_path / "pairs.jsonl"
    p.write_text('{"cached": "a corgi", "request": "a corgi"}\n{"cached": "a fox",\n', encoding="utf-8")
    code, _out, err = _cli(capsys, ["eval", "quality", "--pairs", str(p), "--no-progress"])
    assert code == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("chai: error: ") and f"{p}:2: not JSON" in lines[0]


# ----------------------------------------------------------------------------------------------- runs


def test_pipeline_steps_override_is_refused_with_the_cache(runner):
    with pytest.raises(ValueError, match="use_cache=False"):
        runner.pipe.generate("a corgi", seed=0, num_steps=HIT, **SIZE)


def test_twins_are_the_no_cache_runs_they_claim(runner, tiny):
    model, enc = tiny
    full = runner.plain("a corgi running", 7, FULL)
    ref = runner.pipe.generate("a corgi running", seed=7, use_cache=False, **SIZE)
    assert ref.steps == FULL and not ref.hit
    assert torch.equal(torch.from_numpy(full.values), ref.latents[0].permute(1, 2, 3, 0).double())
    # the short twin: the pipeline's sampler run by hand for HIT steps from the same noise, no cache, no session
    short = runner.plain("a corgi running", 7, HIT)
    y, mask = enc.encode(["a corgi running"])
    z = torch.randn((1, 4, 5, 4, 6), generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        by_hand = runner.pipe.sampler.sample(model, z, y, mask=mask, fps=24, num_steps=HIT, **SIZE)
    assert torch.allclose(torch.from_numpy(short.values).float(), by_hand[0].permute(1, 2, 3, 0), atol=1e-6)
    assert not np.allclose(short.values, full.values)


def test_evaluate_scores_match_independent_metrics(runner):
    pairs = [
        Pair(1, "a corgi surfing a big wave", "a corgi running on the beach", 3),
        # Its request would hit pair 1's corgi if the cache were not emptied before each pair: it must miss.
        Pair(2, "a tiger in the jungle", "a corgi asleep on a boat", 4),
    ]
    records, rows = evaluate(runner, pairs, sheet_rows=1, frames_per_tile=2)
    first, second = records
    assert first["outcome"]["hit"] and first["outcome"]["steps"] == HIT
    assert first["outcome"]["cached_entity"] == "corgi" and first["outcome"]["cached_entities"] == ["corgi"]
    assert not second["outcome"]["hit"] and second["outcome"]["reason"] == "no_match"
    assert second["outcome"]["steps"] == FULL
    # a request that did not hit ran the full schedule from the same seed: it is its full twin
    assert second["hit"]["psnr_db"] == metrics.PSNR_CAP_DB and second["hit"]["ssim"] == pytest.approx(1.0)
    assert len(rows) == 1 and rows[0].tiles["hit"].shape[0] == 2

    # recompute pair 1 from fresh runs (CPU sampling is deterministic) with a hand-written PSNR
    _miss, hit, _outcome = runner.miss_and_hit(pairs[0].cached, pairs[0].request, 3)
    full = runner.plain(pairs[0].request, 3, FULL)
    short = runner.plain(pairs[0].request, 3, HIT)
    dr = float(full.values.max() - full.values.min())
    assert first["space"] == "latent" and first["data_range"] == pytest.approx(dr)
    assert first["hit"]["psnr_db"] == pytest.approx(_psnr(hit.values, full.values, dr), abs=1e-9)
    assert first["short"]["psnr_db"] == pytest.approx(_psnr(short.values, full.values, dr), abs=1e-9)
    assert first["hit"]["ssim"] == pytest.approx(metrics.ssim(hit.values, full.values, data_range=dr), abs=1e-12)
    # the hit is not the short twin (Cache Attention changed it) and not the full twin
    assert 0 < _psnr(hit.values, short.values, dr) < metrics.PSNR_CAP_DB
    assert first["hit"]["psnr_db"] < metrics.PSNR_CAP_DB

    summary = summarize(records, BootstrapSettings(resamples=500, seed=1))
    assert summary["pairs"] == 2 and summary["hits"] == 1
    assert summary["not_hit"] == [{"line": 2, "reason": "no_match"}]
    allp = summary["all_pairs"]
    diffs = [r["hit"]["psnr_db"] - r["short"]["psnr_db"] for r in records]
    assert allp["hit_minus_short"]["psnr_db"]["mean"] == pytest.approx(float(np.mean(diffs)))
    for arm in ("hit", "short", "hit_minus_short"):
        iv = allp[arm]["ssim"]
        assert iv["low"] <= iv["mean"] <= iv["high"]
    only = summary["hit_pairs"]["hit"]["psnr_db"]
    assert only["n"] == 1 and only["mean"] == only["low"] == only["high"] == first["hit"]["psnr_db"]
    assert summarize(records, BootstrapSettings(resamples=500, seed=1)) == summary


def test_sheet_title_counts_rows_left_out():
    t = sheet_title("t", shown=2, total_pairs=5, full_steps=30, hit_steps=8, latent=False)
    assert "30-step twin | 8-step twin" in t and "first 2 of 5 pairs: 3 left out" in t
    assert "left out" not in sheet_title("t", shown=5, total_pairs=5, full_steps=30, hit_steps=8, latent=False)


# ----------------------------------------------------------------------------------------------- checkpoints


def test_load_checkpoint_model(tmp_path, tiny):
    from safetensors.torch import save_file

    model, _ = tiny
    path = tmp_path / "stdit3.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    dm = load_checkpoint_model(path, "tiny", device="cpu", text_encoder="hash")
    assert dm.trained and dm.vae is None
    for (k, a), (_, b) in zip(model.state_dict().items(), dm.model.state_dict().items()):
        assert torch.equal(a, b), k
    with pytest.raises(ValueError, match="does not fit the mini STDiT3"):
        load_checkpoint_model(path, "mini", device="cpu")
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_checkpoint_model(tmp_path / "nope.safetensors", "tiny", device="cpu")


# ----------------------------------------------------------------------------------------------- CLI


@pytest.fixture()
def pairs_file(tmp_path):
    p = tmp_path / "pairs.jsonl"
    p.write_text(
        '{"cached": "a corgi surfing a big wave", "request": "a corgi running on the beach"}\n'
        '{"cached": "a red fox in the snow", "request": "a boat on a lake", "seed": 9}\n',
        encoding="utf-8",
    )
    return p


FAST = ["--embedder", "hash", "--steps-full", str(FULL), "--steps-hit", str(HIT), "--no-progress", "--threads", "1",
        "--bootstrap", "300"]  # fmt: skip


def test_cli_stdit3_weights_end_to_end(capsys, tmp_path, tiny, pairs_file):
    from safetensors.torch import save_file

    model, _ = tiny
    weights = tmp_path / "ckpt"
    weights.mkdir()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights / "model.safetensors"))
    t5 = _tiny_t5(tmp_path / "t5", model.config.caption_channels)
    rpt, sheet = tmp_path / "q.json", tmp_path / "q.png"
    argv = ["eval", "quality", "--pairs", str(pairs_file), "--weights", str(weights), "--preset", "tiny",
            "--t5", str(t5), "--resolution", "32x48", "--frames", "17", *FAST, "--report", str(rpt),
            "--sheet", str(sheet)]  # fmt: skip
    code, out, err = _cli(capsys, argv)
    assert code == 0, err
    assert "CHAI hit" in out and f"plain {HIT}-step" in out and "hits: 1 of 2 pairs" in out
    assert "line 2: not a hit (no_match)" in out
    doc = json.loads(rpt.read_text())
    assert doc["schema"] == "chai.eval.quality/1" and doc["setup"]["pipeline"] == "stdit3"
    assert doc["setup"]["model"].startswith("tiny from ") and "T5TextEncoder" in doc["setup"]["model"]
    assert doc["setup"]["full_steps"] == FULL and doc["setup"]["hit_steps"] == HIT
    assert [r["line"] for r in doc["pairs"]] == [1, 2] and doc["pairs"][1]["seed"] == 9
    for r in doc["pairs"]:
        assert set(r["hit"]) == {"psnr_db", "ssim"} and r["clip_score"] is None
    assert sheet.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _tiny_t5(path, d_model):
    """A random tiny T5 encoder with the word-level fast tokenizer of chai's tiny diffusers pipelines, saved."""
    transformers = pytest.importorskip("transformers")
    from chai.diffusers.tiny import TINY_VOCAB, tiny_tokenizer

    cfg = transformers.T5Config(vocab_size=len(TINY_VOCAB), d_model=d_model, d_kv=8, d_ff=32, num_layers=1, num_heads=2)
    torch.manual_seed(0)
    transformers.T5EncoderModel(cfg).save_pretrained(path)
    tiny_tokenizer().save_pretrained(path)
    return path


def test_t5_text_encoder_from_a_local_directory(tmp_path):
    from chai.text_encoder import T5TextEncoder

    enc = T5TextEncoder(_tiny_t5(tmp_path / "t5", 32), 8)
    y, mask = enc.encode(["a corgi running on the beach", "a cat"])
    assert y.shape == (2, 1, 8, 32) and enc.hidden_size == 32
    assert mask.tolist() == [[1] * 7 + [0], [1, 1, 1, 0, 0, 0, 0, 0]]  # words + </s>, padded to L
    assert torch.all(y[1, 0, 3:] == 0) and torch.any(y[1, 0, :3] != 0)
    assert enc.token_spans("a corgi running on the beach", "corgi") == [1]
    assert enc.token_spans("a corgi running", "tiger") is None
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        T5TextEncoder(tmp_path / "none", 8)


def test_cli_progress_bar_counts_runs_and_no_progress_hides_it(capsys, monkeypatch, tmp_path, pairs_file):
    from chai import report

    monkeypatch.setattr(report, "is_tty", lambda: True)
    base = ["eval", "quality", "--pairs", str(pairs_file), "--preset", "tiny", "--text-encoder", "hash",
            "--resolution", "32x48", "--frames", "17", "--no-sheet", "--report", str(tmp_path / "q.json")]  # fmt: skip
    fast = [a for a in FAST if a != "--no-progress"]
    code, _, err = _cli(capsys, [*base, *fast])
    assert code == 0, err
    assert "eval quality" in err and "0/8 " in err and "run/s" in err  # a bar of 2 pairs x 4 runs
    code, _, err = _cli(capsys, [*base, *fast, "--no-progress"])
    assert code == 0 and "eval quality" not in err


def test_cli_refuses_flags_of_the_other_pipeline(capsys, pairs_file):
    code, _, err = _cli(capsys, ["eval", "quality", "--pairs", str(pairs_file), "--model", "x", *FAST])
    assert code == 2 and "--model applies to diffusers pipelines only" in err
    code, _, err = _cli(capsys, ["eval", "quality", "--pairs", str(pairs_file), "--t5", "x", *FAST])
    assert code == 2 and "--t5 encodes the captions of a --weights checkpoint" in err
    argv = ["eval", "quality", "--pairs", str(pairs_file), "--pipeline", "wan", "--weights", "x", *FAST]
    code, _, err = _cli(capsys, argv)
    assert code == 2 and "--weights applies to --pipeline stdit3 only" in err


def test_cli_clip_path_missing_is_a_usage_error(capsys, pairs_file, tmp_path):
    argv = ["eval", "quality", "--pairs", str(pairs_file), "--clip", str(tmp_path / "no-clip"), *FAST]
    code, _, err = _cli(capsys, argv)
    assert code == 2 and "no such directory" in err and "never downloads" in err


# ----------------------------------------------------------------------------------------------- diffusers


def _tiny_clip(path):
    """A random tiny CLIP checkpoint directory (model, tokenizer, image processor), saved locally."""
    transformers = pytest.importorskip("transformers")
    words = ["a", "corgi", "fox", "boat", "on", "the", "beach", "running", "lake"]
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for w in words:
        vocab[w + "</w>"] = len(vocab)
    for c in "abcdefghijklmnopqrstuvwxyz":
        vocab.setdefault(c, len(vocab))
        vocab.setdefault(c + "</w>", len(vocab))
    path.mkdir()
    (path / "vocab.json").write_text(json.dumps(vocab))
    (path / "merges.txt").write_text("#version: 0.2\n")
    tok = transformers.CLIPTokenizer(str(path / "vocab.json"), str(path / "merges.txt"))
    img = transformers.CLIPImageProcessor(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16})
    small = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}
    cfg = transformers.CLIPConfig(
        text_config=dict(vocab_size=len(vocab), max_position_embeddings=32, bos_token_id=0, eos_token_id=1,
                         pad_token_id=1, **small),
        vision_config=dict(image_size=16, patch_size=8, **small),
        projection_dim=8,
    )  # fmt: skip
    torch.manual_seed(0)
    transformers.CLIPModel(cfg).save_pretrained(path)
    transformers.CLIPProcessor(image_processor=img, tokenizer=tok).save_pretrained(path)
    return path


@pytest.fixture()
def tiny_wan():
    pytest.importorskip("diffusers")
    pytest.importorskip("transformers")
    from chai.diffusers import cli_run

    loaded = cli_run.load_pipeline("wan", None, seed=0)
    return loaded.pipe, cli_run.call_arguments(loaded)


def _stock(pipe, call, prompt, seed, steps):
    gen = torch.Generator(device="cpu").manual_seed(seed)
    out = pipe(prompt=prompt, num_inference_steps=steps, generator=gen, output_type="np", **call)
    return np.asarray(out.frames[0], dtype=np.float64)


def test_diffusers_runner_twins_are_the_stock_pipeline(tiny_wan):
    from chai.diffusers import ChaiDiffusersConfig
    from chai.evaluation.runners import DiffusersRunner

    pipe, call = tiny_wan
    pair = Pair(1, "a corgi surfing a big wave", "a corgi running on the beach", 5)
    full = _stock(pipe, call, pair.request, 5, FULL)  # before CHAI is enabled: the stock pipeline's own runs
    short = _stock(pipe, call, pair.request, 5, HIT)
    cls = type(pipe)
    cache = LatentCache(64_000_000, extractor=WordExtractor(), embedder=HashingEmbedder(64))
    runner = DiffusersRunner(pipe, cache, config=ChaiDiffusersConfig(hit_steps=HIT), full_steps=FULL, call_kwargs=call)
    try:
        assert np.array_equal(runner.plain(pair.request, 5, FULL).values, np.clip(full, 0, 1))
        (rec,), _ = evaluate(runner, [pair])
    finally:
        runner.close()
        cache.close()
    assert type(pipe) is cls  # CHAI removed
    assert rec["outcome"]["hit"] and rec["outcome"]["steps"] == HIT and rec["space"] == "pixels"
    assert rec["data_range"] == 1.0
    assert rec["short"]["psnr_db"] == pytest.approx(_psnr(np.clip(short, 0, 1), np.clip(full, 0, 1), 1.0), abs=1e-9)
    assert rec["hit"]["psnr_db"] < metrics.PSNR_CAP_DB


def test_cli_clip_score_never_touches_the_network(capsys, monkeypatch, tmp_path, pairs_file):
    pytest.importorskip("diffusers")
    clip_dir = _tiny_clip(tmp_path / "clip")

    def no_network(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    rpt = tmp_path / "q.json"
    argv = ["eval", "quality", "--pairs", str(pairs_file), "--pipeline", "wan", "--clip", str(clip_dir), *FAST,
            "--report", str(rpt), "--no-sheet"]  # fmt: skip
    code, out, err = _cli(capsys, argv)
    assert code == 0, err
    assert "clip score" in out
    doc = json.loads(rpt.read_text())
    for r in doc["pairs"]:
        assert set(r["clip_score"]) == {"hit", "full", "short"}
        assert all(0.0 <= v <= 100.0 for v in r["clip_score"].values())
    assert set(doc["summary"]["all_pairs"]["clip_score"]) == {"hit", "full", "short"}
    # a model without a decoder has no pixels to score: refused before anything runs
    argv = ["eval", "quality", "--pairs", str(pairs_file), "--preset", "tiny", "--text-encoder", "hash",
            "--clip", str(clip_dir), *FAST]  # fmt: skip
    code, _out, err = _cli(capsys, argv)
    assert code == 2 and "--clip needs decoded pixels" in err
