"""The README's Python snippet runs as written (a fresh interpreter, the device chosen by the snippet itself)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

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
