"""The pairs file of ``chai eval quality``: one JSON object per line.

```
{"cached": "a red circle moving left on a blue background", "request": "a red circle moving right on a blue background"}
{"cached": "a corgi surfing a big wave", "request": "a corgi running on the beach", "seed": 7}
```

- ``cached``: the prompt generated first, as a miss, into an empty cache (its latents are what the hit reuses);
- ``request``: the prompt looked up next (the hit) and generated again without the cache (the twins);
- ``seed`` (optional, an int): the noise seed of all four runs of this pair (default: ``--seed`` + line index).

Blank lines and lines starting with ``#`` are skipped. Any other line that is not such an object is an error
naming its line number (:class:`PairsFileError`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Pair", "PairsFileError", "read_pairs"]

_KEYS = ("cached", "request", "seed")
_EXAMPLE = '{"cached": "a corgi surfing a wave", "request": "a corgi running on a beach"}'


class PairsFileError(ValueError):
    """The pairs file is missing, unreadable or has a bad line (the message names the line)."""


@dataclass(frozen=True)
class Pair:
    """One line of the pairs file: its 1-based ``line``, the two prompts and the seed of its four runs."""

    line: int
    cached: str
    request: str
    seed: int


def _line_error(path: str, line: int, what: str) -> PairsFileError:
    return PairsFileError(f"{path}:{line}: {what}. HINT: each line is a JSON object like {_EXAMPLE}")


def _parse_line(text: str, path: str, line: int, default_seed: int) -> Pair:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _line_error(path, line, f"not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise _line_error(path, line, f"a JSON {type(obj).__name__}, not an object")
    unknown = sorted(set(obj) - set(_KEYS))
    if unknown:
        raise _line_error(path, line, f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}")
    prompts = []
    for key in ("cached", "request"):
        v = obj.get(key)
        if not isinstance(v, str) or not v.strip():
            got = "missing" if key not in obj else f"{v!r}"
            raise _line_error(path, line, f'"{key}" must be a non-empty string, got {got}')
        prompts.append(v.strip())
    seed = obj.get("seed", default_seed)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise _line_error(path, line, f'"seed" must be an integer >= 0, got {seed!r}')
    return Pair(line, prompts[0], prompts[1], int(seed))


def read_pairs(path: str | os.PathLike, *, seed: int = 0) -> list[Pair]:
    """The pairs of ``path``; pair ``i`` (0-based, in file order) without its own ``seed`` gets ``seed + i``.

    Raises:
        PairsFileError: missing / unreadable / non-UTF-8 file, a bad line (named by its number), or no pair.
    """
    p = Path(path)
    shown = str(p)
    if not p.is_file():
        why = "is a directory" if p.is_dir() else "does not exist"
        raise PairsFileError(
            f"pairs file {shown!r} {why}. HINT: pass --pairs FILE, one JSON object per line: {_EXAMPLE}"
        )
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PairsFileError(
            f"pairs file {shown!r} is not UTF-8 text ({exc.reason}). HINT: save it as UTF-8."
        ) from None
    except OSError as exc:
        raise PairsFileError(f"cannot read pairs file {shown!r}: {exc.strerror}.") from None
    pairs: list[Pair] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        body = raw.strip()
        if not body or body.startswith("#"):
            continue
        pairs.append(_parse_line(body, shown, number, seed + len(pairs)))
    if not pairs:
        raise PairsFileError(f"pairs file {shown!r} holds no pair. HINT: one JSON object per line: {_EXAMPLE}")
    return pairs
