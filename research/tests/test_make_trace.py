"""research.make_trace: the committed built-in trace is the generator's deterministic output."""

from __future__ import annotations

from chai.cli import read_prompts
from research.make_trace import make_trace


def test_committed_trace_is_the_generators_output():
    trace = read_prompts(None, builtin="trace_prompts.txt")
    assert make_trace(len(trace)) == trace
    assert make_trace(len(trace), seed=1) != trace  # the seed matters
