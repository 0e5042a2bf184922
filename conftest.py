"""Root pytest configuration: chooses the test tier before any kernel module is imported.

``TRITON_INTERPRET`` is read when ``@triton.jit`` decorates a function, so it must be set before
``chai_kernels.triton`` is imported. Without CUDA we switch the interpreter on (only if the user has
not set the variable), so the real Triton kernels run on CPU tensors (tier 2).
"""

import os


def _cuda_available() -> bool:
    try:
        import torch
    except Exception:  # a broken torch install must not break collection
        return False
    try:
        return torch.cuda.is_available()
    except Exception:
        return False


if "TRITON_INTERPRET" not in os.environ and not _cuda_available():
    os.environ["TRITON_INTERPRET"] = "1"

import pytest  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--quick", action="store_true", default=False, help="shrink parameter grids")


def pytest_collection_modifyitems(config, items):
    if _cuda_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device (tier 3)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
