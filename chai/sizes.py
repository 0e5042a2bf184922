"""Human-readable byte sizes: ``"64MB"``, ``"1GiB"``, ``"512KB"``, ``"4096"``.

Decimal units (kB/KB, MB, GB, TB) are powers of 1000; binary units (KiB, MiB, GiB, TiB) are powers
of 1024. Units are case-insensitive except that the ``i`` of a binary unit is what makes it binary
(``"1gib"`` is still 1024**3). A bare number is bytes. Fractions are allowed (``"1.5GB"``) and the
result is rounded down to whole bytes.
"""

from __future__ import annotations

import re

__all__ = ["format_size", "parse_size", "parse_size_list"]

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}

_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str | int, *, name: str = "size") -> int:
    """Parse a byte size such as ``"64MB"``, ``"1GiB"``, ``"512KB"`` or ``"4096"`` into bytes.

    Raises:
        ValueError: for anything that is not a non-negative number with a known unit; the message
            names ``name`` and the offending value and ends with a HINT.
    """
    if isinstance(text, bool):
        raise TypeError(f"{name} must be a size string or an int, got bool {text!r}. HINT: pass e.g. '64MB'.")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"{name} must be >= 0 bytes, got {text}. HINT: pass e.g. '64MB' or 67108864.")
        return text
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a size string or an int, got {type(text).__name__}. HINT: pass e.g. '64MB'.")
    m = _SIZE_RE.match(text)
    if m is None:
        raise ValueError(
            f"{name}: cannot parse {text!r} as a byte size. "
            "HINT: use a number with an optional unit, e.g. 512KB, 64MB, 1.5GB, 1GiB or 4096 (bytes)."
        )
    number, unit = m.group(1), m.group(2).lower()
    if unit not in _UNITS:
        raise ValueError(
            f"{name}: unknown unit {m.group(2)!r} in {text!r}. "
            "HINT: units are B, KB, MB, GB, TB (powers of 1000) and KiB, MiB, GiB, TiB (powers of 1024)."
        )
    return int(float(number) * _UNITS[unit])


def parse_size_list(text: str, *, name: str = "sizes") -> list[int]:
    """Parse a comma-separated list of sizes (``"16MB,64MB,1GB"``) into bytes, keeping the order."""
    parts = [p.strip() for p in str(text).split(",")]
    if not parts or any(p == "" for p in parts):
        raise ValueError(f"{name}: empty item in {text!r}. HINT: pass a comma-separated list such as 16MB,64MB,1GB.")
    return [parse_size(p, name=name) for p in parts]


def format_size(num_bytes: float) -> str:
    """Format bytes with decimal units for tables (``67108864 -> '67.1MB'``, ``1000**3 -> '1GB'``)."""
    n = float(num_bytes)
    for unit, factor in (("TB", 1000**4), ("GB", 1000**3), ("MB", 1000**2), ("KB", 1000)):
        if abs(n) >= factor:
            v = n / factor
            return f"{v:.0f}{unit}" if abs(v - round(v)) < 1e-9 else f"{v:.1f}{unit}"
    return f"{int(n)}B"
