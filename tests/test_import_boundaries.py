"""Package boundaries: chai_kernels never imports chai; importing either touches no CUDA and needs no Triton.

Each check runs in a fresh interpreter (subprocess) so modules already imported by the test session
cannot hide a violation.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(code: str, env_extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env.pop("TRITON_INTERPRET", None)
    env.update(env_extra or {})
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=120)  # fmt: skip
    assert proc.returncode == 0, f"subprocess failed:\nSTDOUT:\n{proc.stdout}\nSTDERR:\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


# Meta-path finder that makes `import triton` fail as on macOS / Windows, where Triton has no wheels.
_HIDE_TRITON = """
import sys, importlib.abc
class _NoTriton(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "triton" or name.startswith("triton."):
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by test)", name=name)
        return None
sys.meta_path.insert(0, _NoTriton())
import importlib.util
_orig_find_spec = importlib.util.find_spec
def _find_spec(name, package=None):
    if name == "triton" or name.startswith("triton."):
        return None
    return _orig_find_spec(name, package)
importlib.util.find_spec = _find_spec
"""


def test_chai_kernels_never_imports_chai_statically():
    """No module under chai_kernels/ has an `import chai` / `from chai...` statement."""
    offenders = []
    for path in (ROOT / "chai_kernels").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno} imports {n}" for n in names
                          if n == "chai" or n.startswith("chai.")]  # fmt: skip
    assert not offenders, "\n".join(offenders)


def test_import_chai_kernels_touches_no_cuda_and_no_chai():
    out = _run(
        """
        import json, sys, torch
        import chai_kernels
        from chai_kernels import cache_attention, quantize_kv, QuantizedKV  # resolves the lazy exports
        import chai_kernels.ops.cache_attention, chai_kernels.reference.cache_attention, chai_kernels.testing
        print(json.dumps({
            "cuda_initialized": torch.cuda.is_initialized(),
            "chai_loaded": sorted(m for m in sys.modules if m == "chai" or m.startswith("chai.")),
            "triton_kernels_loaded": "chai_kernels.triton.cache_attention" in sys.modules,
        }))
        """
    )
    assert out == {"cuda_initialized": False, "chai_loaded": [], "triton_kernels_loaded": False}


def test_chai_kernels_works_without_triton():
    """With Triton hidden, the package imports and the torch backend serves; triton raises an actionable error."""
    out = _run(
        _HIDE_TRITON
        + """
import json, torch
import chai_kernels
from chai_kernels import cache_attention, _env
q = torch.randn(1, 5, 2, 16)
o = cache_attention(q, q, q, q[:, :3], q[:, :3], torch.tensor([[True, False, True]]))
err = ""
try:
    cache_attention(q, q, q, backend="triton")
except ValueError as e:
    err = str(e)
print(json.dumps({"has_triton": _env.has_triton(), "shape": list(o.shape), "finite": bool(torch.isfinite(o).all()),
                  "err": err, "triton_loaded": "triton" in sys.modules}))
"""
    )
    assert out["has_triton"] is False and out["triton_loaded"] is False
    assert out["shape"] == [1, 5, 2, 16] and out["finite"]
    assert "triton package is not installed" in out["err"] and "HINT:" in out["err"]


def test_import_chai_touches_no_cuda():
    if not (ROOT / "chai" / "__init__.py").exists():
        pytest.skip("chai package not present")
    out = _run(
        """
        import json, torch
        import chai
        print(json.dumps({"cuda_initialized": torch.cuda.is_initialized()}))
        """
    )
    assert out == {"cuda_initialized": False}
