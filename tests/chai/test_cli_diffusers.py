"""``chai run`` / ``chai demo --pipeline wan|cogvideox|latte``: tiny random diffusers pipelines end to end (CPU).

A miss then a related prompt that hits, the per-request lines, summary and JSON report built from
``handle.last``; a checkpoint directory loaded with ``from_pretrained``; the errors for weights that are not
available locally, a checkpoint of another pipeline, and flags that belong to the other pipeline.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

pytest.importorskip("diffusers")
pytest.importorskip("transformers")
pytest.importorskip("faiss")

from chai import report
from chai.cli import PIPELINE_NAMES, main
from tests.chai.test_cli import run_cli

KINDS = ("wan", "cogvideox", "latte")
FAST = ["--embedder", "hash", "--steps-full", "8", "--steps-hit", "4", "--no-progress", "--threads", "1"]


@pytest.fixture()
def prompt_file(tmp_path):
    p = tmp_path / "prompts.txt"
    p.write_text(
        "# a miss, a related prompt that hits it, an unrelated miss\n"
        "a corgi surfing a big wave\na corgi running on the beach\na red fox in the snow\n",
        encoding="utf-8",
    )
    return p


def test_pipeline_names_match_the_diffusers_module():
    from chai.diffusers.cli_run import PIPELINE_CLASSES

    assert PIPELINE_NAMES == ("stdit3", *PIPELINE_CLASSES)


@pytest.mark.parametrize("kind", KINDS)
def test_run_miss_then_hit_with_report(capsys, prompt_file, tmp_path, kind):
    rpt = tmp_path / "run.json"
    argv = ["run", "--prompts", str(prompt_file), "--pipeline", kind, *FAST, "--report", str(rpt)]
    code, out, err = run_cli(capsys, argv)
    assert code == 0, err
    assert "Traceback" not in err
    cls = {"wan": "WanPipeline", "cogvideox": "CogVideoXPipeline", "latte": "LattePipeline"}[kind]
    assert f"{cls} (tiny random config" in out.splitlines()[0]
    lines = [ln for ln in out.splitlines() if ln.startswith("[")]
    assert len(lines) == 3
    assert "MISS  cached as" in lines[0] and "corgi" in lines[0] and " 8 steps" in lines[0]
    assert "HIT   corgi -> corgi" in lines[1] and " 4 steps" in lines[1]
    assert "MISS" in lines[2]
    assert "hit / miss time" in out and "hits landed on" in out and f"report: {rpt}" in out

    doc = json.loads(rpt.read_text())
    assert doc["schema"] == report.RUN_SCHEMA and doc["command"] == "run"
    assert doc["config"]["pipeline"]["kind"] == kind and doc["config"]["pipeline"]["class"] == cls
    assert doc["config"]["pipeline"]["tiny"] is True and doc["config"]["pipeline"]["hit_steps"] == 4
    recs = doc["requests"]
    for rec in recs:
        assert set(rec) >= set(report.RUN_REQUEST_KEYS)
        assert set(rec["timings"]) >= set(report.TIMING_KEYS)
        assert rec["model_id"].startswith(f"{cls}/") and rec["requested_steps"] == 8
        assert rec["timings"]["total"] >= rec["timings"]["denoise"] > 0
    assert [r["hit"] for r in recs] == [False, True, False]
    assert [r["steps"] for r in recs] == [8, 4, 8]
    assert [r["seed"] for r in recs] == [0, 1, 2]
    miss, hit = recs[0], recs[1]
    assert miss["reason"] == "miss" and len(miss["capture_steps"]) == 3 and "corgi" in miss["entities"]
    assert set(miss["mask_fraction"]) == set(miss["entities"])
    assert hit["reason"] == "hit" and hit["cache_steps"] == [2, 3, 4] and hit["cache_calls"] >= 3
    assert hit["entry_id"] == miss["inserted_entry"] and hit["cached_entity"] == "corgi"
    assert hit["inserted_entry"] is None and hit["timings"]["cache_attention"] > 0
    s = doc["summary"]
    assert s["hits"] == 1 and s["misses"] == 2 and s["hit_entities"] == {"corgi": 1}
    assert doc["cache"]["entries"] == 2


def test_cache_dir_persists_and_outputs(capsys, prompt_file, tmp_path):
    """--cache DIR, --namespace, --plot and --picture on the diffusers path; a second run starts warm."""
    cache_dir, png, pic, rpt = tmp_path / "cache", tmp_path / "lat.png", tmp_path / "pic.png", tmp_path / "r.json"
    base = ["run", "--prompts", str(prompt_file), "--pipeline", "wan", *FAST, "--cache", str(cache_dir)]
    base += ["--namespace", "wan-tiny", "--budget", "16MB"]
    code, out, err = run_cli(capsys, [*base, "--plot", str(png), "--picture", str(pic), "--quiet"])
    assert code == 0, err
    assert not [ln for ln in out.splitlines() if ln.startswith("[")]  # --quiet
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and pic.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, err = run_cli(capsys, [*base, "--report", str(rpt)])
    assert code == 0, err
    recs = json.loads(rpt.read_text())["requests"]
    assert [r["hit"] for r in recs] == [True, True, True]  # every prompt was cached by the first run
    code, out, _ = run_cli(capsys, ["cache", "stats", str(cache_dir), "--json"])
    assert code == 0 and json.loads(out)["namespaces"]["wan-tiny"]["entries"] == 2


def test_demo_with_a_diffusers_pipeline(capsys, tmp_path):
    code, out, err = run_cli(
        capsys, ["demo", "--pipeline", "latte", *FAST, "--limit", "2", "--picture", str(tmp_path / "d.png")]
    )
    assert code == 0, err
    assert out.startswith("chai demo: 2 prompts, LattePipeline (tiny random config")
    assert len([ln for ln in out.splitlines() if ln.startswith("[")]) == 2 and "picture: " in out
    assert "twins: not generated for --pipeline latte (stdit3 only)" in out  # says so rather than staying silent


def test_checkpoint_directory_is_loaded_with_from_pretrained(capsys, prompt_file, tmp_path):
    from chai.diffusers.tiny import tiny_pipeline

    ckpt = tmp_path / "latte-ckpt"
    tiny_pipeline("latte", seed=3).save_pretrained(str(ckpt))
    rpt = tmp_path / "r.json"
    argv = ["run", "--prompts", str(prompt_file), "--pipeline", "latte", "--model", str(ckpt), *FAST]
    code, out, err = run_cli(capsys, [*argv, "--resolution", "8x8", "--frames", "3", "--report", str(rpt)])
    assert code == 0, err
    assert f"LattePipeline ({ckpt}," in out.splitlines()[0]
    doc = json.loads(rpt.read_text())
    assert doc["config"]["pipeline"]["model"] == str(ckpt) and doc["config"]["pipeline"]["tiny"] is False
    assert [r["hit"] for r in doc["requests"]] == [False, True, False]
    assert doc["config"]["height"] == 8 and doc["config"]["num_frames"] == 3

    # the same directory named as another pipeline: refused before loading, naming the right flag
    code, _, err = run_cli(capsys, ["run", "--prompts", str(prompt_file), "--pipeline", "wan", "--model", str(ckpt)])
    assert code == 1 and "holds a LattePipeline, not a WanPipeline" in err and "HINT: use --pipeline latte" in err


def test_wan_checkpoint_directory_needs_accelerate_or_loads(capsys, prompt_file, tmp_path):
    """diffusers loads Wan (float32-kept modules) only through accelerate: a clear hint without it, a run with it."""
    from chai.diffusers.tiny import tiny_pipeline

    ckpt = tmp_path / "wan-ckpt"
    tiny_pipeline("wan").save_pretrained(str(ckpt))
    argv = ["run", "--prompts", str(prompt_file), "--pipeline", "wan", "--model", str(ckpt), *FAST, "--limit", "1"]
    code, out, err = run_cli(capsys, [*argv, "--resolution", "64x64", "--frames", "9"])
    if importlib.util.find_spec("accelerate") is None:
        assert code == 1 and "needs the 'accelerate' package" in err and "HINT: pip install accelerate" in err
    else:
        assert code == 0, err
        assert "MISS" in out


def test_model_not_available_offline_is_a_clear_error(capsys, prompt_file):
    argv = ["run", "--prompts", str(prompt_file), "--pipeline", "cogvideox", "--model", "chai-tests/no-such-model"]
    code, out, err = run_cli(capsys, argv)
    assert code == 1 and "Traceback" not in err
    assert "cannot load a CogVideoXPipeline from the local Hugging Face cache" in err
    # huggingface_hub 1.x installs `hf`, no longer `huggingface-cli`
    assert "local files only" in err and "HINT: download it first: hf download chai-tests/no-such-model" in err
    assert "huggingface-cli" not in err
    assert "chai run:" not in out  # nothing ran


def test_missing_or_empty_local_directory(capsys, prompt_file, tmp_path):
    argv = ["run", "--prompts", str(prompt_file), "--pipeline", "wan", "--model"]
    code, _, err = run_cli(capsys, [*argv, str(tmp_path / "nowhere")])
    assert code == 2 and "no such directory" in err and "HINT:" in err
    code, _, err = run_cli(capsys, [*argv, str(tmp_path)])
    assert code == 1 and "model_index.json" in err and "HINT: point --model at a WanPipeline" in err


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--model", "x/y"], "--model 'x/y' needs a diffusers pipeline"),
        (["--dtype", "bfloat16"], "--dtype bfloat16 applies to diffusers pipelines only"),
        (["--pipeline", "wan", "--preset", "mini"], "--preset mini chooses an STDiT3 model"),
        (["--pipeline", "wan", "--steps-hit", "3"], "--steps-hit 3 is below 4"),
        (["--pipeline", "wan", "--steps-full", "6", "--steps-hit", "8"], "exceeds --steps-full 6"),
        (["--pipeline", "wan", "--twins"], "--twins applies to --pipeline stdit3 only, not wan. HINT: drop --twins"),
    ],
)
def test_flag_combinations_are_usage_errors(capsys, prompt_file, extra, needle):
    code, _, err = run_cli(capsys, ["run", "--prompts", str(prompt_file), *extra])
    assert code == 2 and needle in err and "Traceback" not in err


@pytest.mark.parametrize("kind", KINDS)
def test_budget_smaller_than_one_entry_is_refused_before_running(capsys, prompt_file, tmp_path, kind):
    cache_dir = tmp_path / "cache"
    argv = ["run", "--prompts", str(prompt_file), "--pipeline", kind, *FAST, "--budget", "1KB"]
    code, out, err = run_cli(capsys, [*argv, "--cache", str(cache_dir)])
    assert code == 2 and "--budget 1KB is smaller than one cache entry" in err and "HINT:" in err
    assert "latent (" in err and not cache_dir.exists()  # refused before the cache was opened or a request ran
    assert not [ln for ln in out.splitlines() if ln.startswith("[")]


def test_unknown_pipeline_is_rejected_by_the_parser(capsys, prompt_file):
    with pytest.raises(SystemExit) as exc:
        main(["run", "--prompts", str(prompt_file), "--pipeline", "sdxl"])
    assert exc.value.code == 2 and "invalid choice: 'sdxl'" in capsys.readouterr().err


def test_cli_help_does_not_import_diffusers():
    code = (
        "import json, sys, chai.cli; chai.cli.build_parser().format_help(); "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('diffusers', 'transformers'))))"
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize("kind", ("wan", "cogvideox"))
def test_miss_cache_runs_diffusers_first_block_cache_on_misses_only(capsys, prompt_file, tmp_path, kind):
    """--miss-cache T on a diffusers pipeline enables diffusers' FirstBlockCacheConfig(threshold=T) on each miss
    (recorded per request), never on the hit, and the run still captures, hits and reports as without it."""
    rpt = tmp_path / "run.json"
    argv = ["run", "--prompts", str(prompt_file), "--pipeline", kind, *FAST, "--report", str(rpt)]
    code, _, err = run_cli(capsys, [*argv, "--miss-cache", "0.2"])
    assert code == 0, err
    doc = json.loads(rpt.read_text())
    assert doc["config"]["pipeline"]["miss_cache"] == {"config": "FirstBlockCacheConfig", "threshold": 0.2}
    recs = doc["requests"]
    assert [r["hit"] for r in recs] == [False, True, False]
    assert [r["miss_cache"] for r in recs] == ["FirstBlockCacheConfig", None, "FirstBlockCacheConfig"]
    assert recs[1]["entry_id"] == recs[0]["inserted_entry"] and len(recs[0]["capture_steps"]) == 3
    assert all(r["transformer_calls"] >= r["steps"] for r in recs)
    # without the flag no call enables a step cache
    code, _, err = run_cli(capsys, [*argv[:-1], str(tmp_path / "plain.json")])
    assert code == 0, err
    assert {r["miss_cache"] for r in json.loads((tmp_path / "plain.json").read_text())["requests"]} == {None}


def test_miss_cache_on_latte_is_a_usage_error_naming_the_python_route(capsys, prompt_file):
    code, out, err = run_cli(capsys, ["run", "--prompts", str(prompt_file), "--pipeline", "latte", *FAST,
                                      "--miss-cache", "0.1"])  # fmt: skip
    assert code == 2 and "Traceback" not in err
    assert "PyramidAttentionBroadcastConfig" in err and "HINT" in err and "enable_chai" in err
    assert not [ln for ln in out.splitlines() if ln.startswith("[")]
