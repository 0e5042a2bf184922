"""The optional CLIP score of ``chai eval quality --clip PATH``: local weights only, never a download.

``ClipScorer(path)`` loads a Hugging Face CLIP checkpoint directory (``CLIPModel`` and its processor) with
``local_files_only=True``. ``score(frames, prompt)`` is ``100 * max(0, cos(image, text))`` averaged over the
clip's frames (the usual CLIP-score scale: higher means the frames match the prompt better).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ClipScorer"]


class ClipScorer:
    """CLIP image-text similarity from a local checkpoint directory (see the module docstring).

    Raises:
        FileNotFoundError: ``path`` is not a directory.
        ImportError: the ``transformers`` package is missing.
        ValueError: the directory holds no loadable CLIP model and processor (the message names the cause).
    """

    def __init__(self, path: str | Path, *, device: str = "cpu"):
        p = Path(path).expanduser()
        if not p.is_dir():
            raise FileNotFoundError(
                f"--clip {str(path)!r}: no such directory. HINT: pass a local CLIP checkpoint directory (one with "
                "config.json, the weights and the tokenizer / preprocessor files), e.g. one saved by "
                "CLIPModel.save_pretrained; chai eval never downloads it."
            )
        try:
            from transformers import CLIPModel, CLIPProcessor
        except ImportError as exc:
            raise ImportError(
                f"--clip needs the 'transformers' package ({exc}). HINT: pip install transformers."
            ) from None
        try:
            self.model = CLIPModel.from_pretrained(str(p), local_files_only=True).to(device).eval()
            self.processor = CLIPProcessor.from_pretrained(str(p), local_files_only=True)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ValueError(
                f"--clip {str(p)!r}: cannot load a CLIP model and processor from it ({detail}). HINT: pass a "
                "directory holding a transformers CLIPModel with its processor files."
            ) from None
        self.path = str(p)
        self.device = device

    def score(self, frames: Any, prompt: str) -> float:
        """``100 * max(0, cos)`` between ``prompt`` and each (H, W, 3) uint8 frame of ``frames``, averaged."""
        import torch

        images = [np.asarray(f) for f in np.asarray(frames)]
        with torch.no_grad():
            inputs = self.processor(text=[prompt], images=images, return_tensors="pt", padding=True, truncation=True)
            inputs = {k: v.to(self.device) for k, v in inputs.items()}
            out = self.model(**inputs)
            img = torch.nn.functional.normalize(out.image_embeds.float(), dim=-1)
            txt = torch.nn.functional.normalize(out.text_embeds.float(), dim=-1)
            cos = (img @ txt.T).squeeze(-1)
        return float(100.0 * cos.clamp_min(0.0).mean())
