"""``--miss-cache`` on ``chai run`` and ``chai trace``: counters in the report, a plain all-miss baseline, the
trace's miss latency from the skip fraction (given or measured), and usage errors."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("faiss")

from tests.chai.test_cli import FAST, prompt_file, run_cli  # noqa: F401  (prompt_file is a fixture)


def test_run_reports_blocks_and_measures_a_plain_baseline(capsys, prompt_file, tmp_path):  # noqa: F811
    rpt = tmp_path / "run.json"
    argv = ["run", "--prompts", str(prompt_file), *FAST, "--miss-cache", "1e9", "--report", str(rpt), "--quiet"]
    code, out, err = run_cli(capsys, argv)
    assert code == 0, err
    doc = json.loads(rpt.read_text())
    misses = [r for r in doc["requests"] if not r["hit"]]
    assert misses and all(r["blocks_skipped"] == 9 * 3 for r in misses)  # tiny: 10 steps, all but the first skip
    assert all(r["blocks_skipped"] == 0 for r in doc["requests"] if r["hit"])
    assert doc["config"]["pipeline"]["miss_cache"] == 1e9
    assert doc["config"]["all_miss_baseline"].startswith(f"{min(3, len(misses))} plain misses")
    s = doc["summary"]
    assert s["miss_block_reduction"] == pytest.approx(40 / 13)  # 10 x 4 blocks; a skipping step runs 1 of 4
    assert s["all_miss_mean_s"] != s["mean_miss_s"]
    assert "blocks run / skipped" in out and "all-miss baseline: " in out


def test_run_with_the_pair_probe_runs_block_pair_0(capsys, prompt_file, tmp_path):  # noqa: F811
    rpt = tmp_path / "run.json"
    argv = ["run", "--prompts", str(prompt_file), *FAST, "--miss-cache", "1e9", "--miss-cache-probe", "pair",
            "--report", str(rpt), "--quiet"]  # fmt: skip
    code, _, err = run_cli(capsys, argv)
    assert code == 0, err
    doc = json.loads(rpt.read_text())
    assert all(r["blocks_skipped"] == 9 * 2 for r in doc["requests"] if not r["hit"])
    assert doc["config"]["pipeline"]["miss_cache_probe"] == "pair"
    assert doc["summary"]["miss_block_reduction"] == pytest.approx(40 / 22)


def test_run_without_miss_cache_skips_nothing(capsys, prompt_file, tmp_path):  # noqa: F811
    rpt = tmp_path / "run.json"
    code, _, err = run_cli(capsys, ["run", "--prompts", str(prompt_file), *FAST, "--report", str(rpt), "--quiet"])
    assert code == 0, err
    doc = json.loads(rpt.read_text())
    assert all(r["blocks_skipped"] == 0 for r in doc["requests"])
    assert doc["summary"]["all_miss_mean_s"] == doc["summary"]["mean_miss_s"]
    assert doc["config"]["all_miss_baseline"] == "the run's misses"


def _trace(capsys, tmp_path, *extra):
    prompts = tmp_path / "t.txt"
    prompts.write_text("a tiger\na tiger in a cave\na red fox\n", encoding="utf-8")
    argv = [
        "trace", "--prompts", str(prompts), "--budgets", "8MB", "--matching", "entity", "--embedder", "hash",
        "--preset", "tiny", "--resolution", "32x48", "--frames", "17", "--no-progress", "--step-cost", "1.0",
        "--report", str(tmp_path / "r.json"), *extra,
    ]  # fmt: skip
    code, out, err = run_cli(capsys, argv)
    return code, out, err, (json.loads((tmp_path / "r.json").read_text()) if code == 0 else None)


def test_trace_projects_misses_with_a_given_skip_fraction(capsys, tmp_path):
    code, out, err, doc = _trace(capsys, tmp_path, "--miss-cache", "0.1", "--miss-skip-fraction", "0.5")
    assert code == 0, err
    setup, res = doc["setup"], doc["results"][0]
    assert setup["miss_skip_fraction"] == 0.5 and setup["miss_skip_fraction_source"] == "given"
    skip = setup["skip_step_cost_s"]
    assert 0 < skip < 1.0  # a skipping call runs the probe only
    assert setup["miss_latency_s"] == pytest.approx(30 * (0.5 * 1.0 + 0.5 * skip))
    assert res["all_miss_latency_s"] == pytest.approx(30.0)  # the baseline stays the plain miss
    assert "(given)" in out
    code, _, err, plain = _trace(capsys, tmp_path)
    assert code == 0, err
    assert res["speedup"] > plain["results"][0]["speedup"]


def test_trace_measures_the_skip_fraction_on_the_synthetic_model(capsys, tmp_path):
    code, out, err, doc = _trace(capsys, tmp_path, "--miss-cache", "1e9")
    assert code == 0, err
    setup = doc["setup"]
    assert setup["miss_skip_fraction_source"].startswith("measured on 3 plain misses")
    assert setup["miss_skip_fraction"] == pytest.approx(29 / 30)  # every step but the first
    assert "measured on 3 plain misses" in out


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["trace", "--miss-skip-fraction", "0.3"], "needs --miss-cache"),
        (["trace", "--miss-cache", "0.1", "--miss-skip-fraction", "1.5"], "[0, 1]"),
        (["trace", "--miss-cache-probe", "pair"], "needs --miss-cache"),
        (["run", "--prompts", "x.txt", "--miss-cache-probe", "block"], "needs --miss-cache"),
        (["run", "--prompts", "x.txt", "--pipeline", "wan", "--miss-cache", "0.1", "--miss-cache-probe", "pair"],
         "diffusers' cache"),
        (["run", "--prompts", "x.txt", "--pipeline", "latte", "--miss-cache", "0.1"],
         "PyramidAttentionBroadcastConfig"),
    ],
)
def test_usage_errors(capsys, tmp_path, argv, needle):
    (tmp_path / "x.txt").write_text("a tiger\n", encoding="utf-8")
    argv = [a if a != "x.txt" else str(tmp_path / "x.txt") for a in argv]
    code, _, err = run_cli(capsys, argv)
    assert code == 2 and needle in err and "Traceback" not in err
