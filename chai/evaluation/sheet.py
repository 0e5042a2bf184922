"""The contact sheet of ``chai eval quality``: one row per pair, four clips side by side.

Columns: the cached miss | the hit | the full-schedule twin | the short twin, each a strip of a few evenly spaced
frames. Captions are wrapped, never cut; when the sheet shows fewer rows than there are pairs, its title says
how many are left out.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["sheet_title", "write_sheet"]

_COLUMNS = ("miss", "hit", "full", "short")
_WRAP = 44  # caption characters per line at the sheet's column width


def _strip(frames: np.ndarray) -> np.ndarray:
    """(n, H, W, 3) uint8 frames side by side with a 1-pixel white gap."""
    gap = np.full((frames.shape[1], 1, 3), 255, dtype=np.uint8)
    parts: list[np.ndarray] = []
    for f in frames:
        parts += [f, gap]
    return np.concatenate(parts[:-1], axis=1)


def _captions(rec: dict[str, Any], full_steps: int, hit_steps: int) -> dict[str, str]:
    o = rec["outcome"]
    if o["hit"]:
        head = f"HIT {o['prompt_entity']} -> {o['cached_entity']} ({o['score']:.2f}), {o['steps']} steps"
    else:
        head = f"NOT A HIT ({o['reason']}), {o['steps']} steps"
    vs = f"vs the {full_steps}-step twin"
    hit, short = rec["hit"], rec["short"]
    return {
        "miss": f"line {rec['line']}, seed {rec['seed']}: cached prompt, MISS, {full_steps} steps\n{rec['cached']}",
        "hit": f"{head}\nPSNR {hit['psnr_db']:.2f} dB, SSIM {hit['ssim']:.3f} {vs}\n{rec['request']}",
        "full": f"{full_steps}-step twin: request prompt, same seed, no cache (the reference)",
        "short": f"{hit_steps}-step twin: same seed, no cache\nPSNR {short['psnr_db']:.2f} dB, SSIM {short['ssim']:.3f} {vs}",
    }


def _wrap(text: str) -> str:
    return "\n".join(line for para in text.split("\n") for line in (textwrap.wrap(para, _WRAP) or [""]))


def sheet_title(title: str, *, shown: int, total_pairs: int, full_steps: int, hit_steps: int, latent: bool) -> str:
    """The sheet's heading: what the columns are, and how many pairs are left out when not all are shown."""
    head = (
        f"{title}. Rows are pairs: cached miss | hit | {full_steps}-step twin | {hit_steps}-step twin "
        "(same seed per row)"
    )
    if latent:
        head += "; no decoder: latent channels 0-2 shown as colour, metrics on the latent"
    if shown < total_pairs:
        head += f". Showing the first {shown} of {total_pairs} pairs: {total_pairs - shown} left out (all are in the report)"
    return head


def write_sheet(
    path: str | Path,
    rows: Sequence[Any],
    *,
    total_pairs: int,
    full_steps: int,
    hit_steps: int,
    title: str,
    latent: bool = False,
) -> Path:
    """Draw ``rows`` (:class:`chai.evaluation.quality.SheetRow`) to the PNG ``path``; returns its absolute path."""
    from chai.report import new_figure

    if not rows:
        raise ValueError("write_sheet: no row to draw. HINT: evaluate at least one pair with sheet_rows >= 1.")
    captions = [{k: _wrap(v) for k, v in _captions(r.record, full_steps, hit_steps).items()} for r in rows]
    lines = [max(c.count("\n") + 1 for c in cap.values()) for cap in captions]
    strips = [{k: _strip(r.tiles[k]) for k in _COLUMNS} for r in rows]
    col_w = 3.4
    img_h = [col_w * s["miss"].shape[0] / s["miss"].shape[1] for s in strips]
    text_h = [0.13 * n + 0.1 for n in lines]
    heights = [a + b for a, b in zip(img_h, text_h)]
    fig = new_figure(figsize=(col_w * len(_COLUMNS), sum(heights) + 0.9), dpi=110)
    axes = fig.subplots(len(rows), len(_COLUMNS), squeeze=False, gridspec_kw={"height_ratios": heights})
    for i, (cap, strip) in enumerate(zip(captions, strips)):
        for j, key in enumerate(_COLUMNS):
            ax = axes[i][j]
            ax.axis("off")
            ax.imshow(strip[key], interpolation="nearest")
            ax.set_title(cap[key], fontsize=6.5, loc="left")
    head = sheet_title(
        title, shown=len(rows), total_pairs=total_pairs, full_steps=full_steps, hit_steps=hit_steps, latent=latent
    )
    fig.suptitle("\n".join(textwrap.wrap(head, 150)), fontsize=8)
    fig.tight_layout()
    out = Path(path).resolve()
    fig.savefig(out)
    return out
