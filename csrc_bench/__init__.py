"""CHAI kernel microbenchmarks (not packaged).

- ``_harness``: timing (``do_bench`` on CUDA, a perf_counter loop on CPU), device peaks, result rows.
- ``shapes``: the OpenSora 1.2 shape registry.
- ``bench_*.py``: one file per op, collected by pytest (pytest-benchmark) and runnable as
  ``python -m csrc_bench.bench_<op>``.
"""
