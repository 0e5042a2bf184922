"""pytest options for the microbenchmarks (csrc_bench/ is collected by the repo's pytest config)."""


def pytest_addoption(parser):
    parser.addoption(
        "--bench-results",
        action="store_true",
        default=False,
        help="write benchmark rows to csrc_bench/results/<device>.csv (off by default so CI leaves them alone)",
    )
