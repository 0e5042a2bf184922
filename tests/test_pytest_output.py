"""`pytest -q` (the README's test command, CI) prints dots and the summary, not benchmark tables: the
microbenchmarks in csrc_bench/ still run and assert, and show their tables only without -q."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _pytest(*args: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_benchmark_tables_only_without_dash_q():
    target = "csrc_bench/bench_latent_quant.py::test_entry_bytes_table"
    quiet = _pytest("-q", target)
    assert "serialised_bytes" not in quiet and "1 passed" in quiet, quiet
    assert "serialised_bytes" in _pytest(target)  # a benchmark run on its own still shows its table


def test_pytest_benchmark_prints_no_table_under_dash_q():
    pytest.importorskip("pytest_benchmark")
    one = "test_bench_cache_attention and temporal and chai-torch"
    out = _pytest("-q", "csrc_bench/bench_cache_attention.py", "-k", one)
    assert "1 passed" in out and "Name (time in" not in out, out
