"""pytest options for the microbenchmarks (csrc_bench/ is collected by the repo's pytest config)."""

import pytest


def pytest_addoption(parser):
    parser.addoption(
        "--bench-results",
        action="store_true",
        default=False,
        help="write benchmark rows to csrc_bench/results/<device>.csv (off by default so CI leaves them alone)",
    )


def pytest_configure(config):
    # `pytest -q` (the test suite, CI) runs the benchmarks as smoke tests and prints no timing table; without
    # -q (e.g. `pytest csrc_bench/bench_cache_attention.py`) pytest-benchmark reports as usual.
    if config.pluginmanager.hasplugin("benchmark") and config.get_verbosity() < 0:
        config.option.benchmark_quiet = True


@pytest.fixture()
def bench_print(request, capsys):
    """``bench_print(text)``: show a benchmark's own table on the terminal, as pytest-benchmark does, except
    under ``pytest -q`` (the test suite, CI), where tables among the dots would bury the results. The benchmark
    still runs and asserts either way (pytest-benchmark's ``--benchmark-disable`` is no option: the benches read
    ``benchmark.stats``, which a disabled run leaves empty)."""

    def show(text: str) -> None:
        if request.config.get_verbosity() >= 0:
            with capsys.disabled():
                print(text)

    return show
