"""The matcher of the latent cache: extract a prompt's keys, embed them, search a local vector index.

It owns the vector index *mirror* of one store namespace: one :class:`~chai.cache.index.VectorIndex` per
(model, latent shape) partition, so only entries made by the same model at the same latent shape can ever
match a request (Cache Attention aligns cached and current frames; a Wan latent must never serve a
CogVideoX request). The cache feeds the mirror from the store (:meth:`Matcher.add` / :meth:`Matcher.remove`);
the matcher knows nothing about bytes, budgets or files.

Search (:meth:`Matcher.search`): every key vector of the request against the eligible partitions; among
the candidates that pass the decision rule, the best wins, ties going to the most recently used entry.
The decision rule is a function ``decide(request_entity, cached_entity, score, threshold)`` returning an
object with ``kind`` and ``rank`` (higher rank preferred before score) or None to refuse; without one, a
candidate passes when its cosine reaches the threshold (the embedder-only rule). An optional ``sense_check
(request_prompt, request_entity, cached_prompt, cached_entity)`` may then veto an accepted pair by the whole
prompts (:meth:`chai.cache.senses.SenseReader.conflict`: `crane` lifting beams vs `crane` in a marsh), and an
optional ``context_check(request_entity, request, acts, cached, cached_entity, threshold)`` by what the request's
subject acts on and the scene both prompts name (:func:`chai.cache.agreement.context_conflict`; ``request`` and
``cached`` are (entity, vector) pairs of the two prompts, the cached entry's read back from its index, ``acts`` what
the subject acts on); the reasons for the last search are in :attr:`Matcher.last_vetoes`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from chai.cache.entities import acts_on, cap_prompt, narrowed, subject_count
from chai.cache.index import VectorIndex
from chai.cache.record import EntryHead

__all__ = ["MAX_VETOES", "Candidate", "Matcher", "Partition"]

_TIE_EPS = 1e-6

#: Sense-check refusals after which a lookup gives up and misses (it bounds the prompts embedded per lookup).
MAX_VETOES = 8

#: (model id, latent shape (B, C, T, H, W)): entries match only requests of their own partition.
Partition = tuple[str, tuple[int, ...]]


@dataclass(frozen=True)
class Candidate:
    """The entry a lookup chose: ``query_index`` is the request key that matched ``cached_entity``."""

    entry_id: str
    score: float
    query_index: int
    prompt_entity: str
    cached_entity: str
    kind: str


@dataclass(frozen=True)
class _EmbeddingOnly:
    kind: str = "embedding"
    rank: int = 0


_EMBEDDING_ONLY = _EmbeddingOnly()


class Matcher:
    """Extraction, embedding and the per-partition vector index mirror (not thread-safe: the cache locks)."""

    def __init__(self, *, extractor, embedder, matching: str, threshold: float, index_kind: str = "flat",
                 top_k: int = 4, max_entities: int = 8, max_prompt_chars: int | None = None,
                 decide: Callable | None = None, search_floor: float | None = None,
                 rule_keys: Callable[[str], frozenset] | None = None, request_key: Callable[[str], str] | None = None,
                 sense_check: Callable[[str, str, str, str], str] | None = None,
                 context_check: Callable[..., str] | None = None):
        self.extractor = extractor
        self.embedder = embedder
        self.matching = matching
        self.threshold = float(threshold)
        self.index_kind = index_kind
        self.top_k = int(top_k)
        self.max_entities = int(max_entities)
        self.max_prompt_chars = max_prompt_chars
        self.decide = decide
        # Candidates are fetched from this cosine on; the decision rule may accept some below the threshold.
        self.search_floor = self.threshold if search_floor is None else min(float(search_floor), self.threshold)
        self.dim = int(embedder.dim)
        # Probe the per-vector index cost once (also validates the index kind and faiss availability).
        self.vector_nbytes = VectorIndex(self.dim, kind=index_kind).vector_nbytes()
        self._indexes: dict[Partition, VectorIndex] = {}
        self._entries: dict[str, tuple[int, Partition, tuple[str, ...]]] = {}  # entry id -> (key, partition, keys)
        self._ids: dict[int, str] = {}
        self._recency: dict[str, int] = {}
        self._next_key = 0
        self._clock = 0
        # Rule candidates: cached entities filed under their head and its hypernyms (``rule_keys``), so a request
        # whose head (``request_key``) names them is judged by the rule whatever the cosine (e.g. `fish` -> `koi`).
        self.rule_keys, self.request_key = rule_keys, request_key
        self._by_head: dict[Partition, dict[str, dict[str, dict[str, np.ndarray]]]] = {}
        self._filed: dict[str, list[tuple[Partition, str, str]]] = {}
        # The whole prompts' word-sense veto, with each entry's prompt as extraction saw it.
        self.sense_check = sense_check
        # What the request's subject acts on, and the scene, checked against the cached prompt
        # (agreement.context_conflict).
        self.context_check = context_check
        self._prompts: dict[str, str] = {}
        self.last_vetoes: list[tuple[str, str, str, str]] = []  # (entry id, request entity, cached entity, reason)

    # -- keys and vectors ----------------------------------------------------------------------------------------
    def cap(self, prompt: str) -> tuple[str, bool]:
        """The prompt as extraction sees it: at most ``max_prompt_chars`` characters, cut at a word boundary
        (``chai.cache.entities.cap_prompt``), and whether it was cut."""
        if self.max_prompt_chars is None:
            return prompt, False
        return cap_prompt(prompt, self.max_prompt_chars)

    def keys(self, prompt: str) -> tuple[list[str], bool]:
        """The keys ``prompt`` is indexed / searched under, and whether the prompt was truncated first:
        its salient entities (``matching="entity"``) or the whitespace-normalised prompt (``"prompt"``)."""
        text, truncated = self.cap(prompt)
        if self.matching == "prompt":
            return [" ".join(text.split())], truncated
        found = self.extractor.extract(text)
        return narrowed(found, list(found)[: self.max_entities], subject_count(found)), truncated

    def embed(self, keys: Sequence[str]) -> np.ndarray:
        """(len(keys), dim) float32 unit vectors; ValueError when the embedder misbehaves."""
        keys = list(keys)
        vecs = np.asarray(self.embedder.embed(keys), dtype=np.float32)
        if vecs.shape != (len(keys), self.dim) or not np.isfinite(vecs).all():
            raise ValueError(
                f"LatentCache: embedder {self.embedder.name!r} returned {vecs.shape} "
                f"(finite={np.isfinite(vecs).all()}) for {len(keys)} texts; expected ({len(keys)}, {self.dim}) "
                "finite.\nHINT: check the Embedder."
            )
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return np.ascontiguousarray(vecs / np.maximum(norms, 1e-12), dtype=np.float32)

    def embed_keys(self, keys: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """:meth:`embed`, dropping keys the embedder maps to (near) zero: such a key has no direction, could
        never match anything meaningfully, and would not pass the store's unit-norm check."""
        vecs = self.embed(keys)
        keep = np.abs(np.linalg.norm(vecs, axis=1) - 1.0) < 1e-3
        subjects = subject_count(keys)
        if keep.all():
            return narrowed(keys, keys, subjects), vecs
        kept = narrowed(keys, [k for k, ok in zip(keys, keep) if ok], int(keep[:subjects].sum()))
        return kept, np.ascontiguousarray(vecs[keep])

    # -- the mirror ----------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, entry_id: str) -> bool:
        return entry_id in self._entries

    @property
    def vectors(self) -> int:
        return sum(len(ix) for ix in self._indexes.values())

    @property
    def kind(self) -> str:
        return self.index_kind if not self._indexes else next(iter(self._indexes.values())).kind

    def add(self, head: EntryHead) -> bool:
        """Index one stored entry (no-op when it is indexed already)."""
        if head.entry_id in self._entries:
            return False
        part: Partition = (head.model, tuple(head.latent_shape))
        ix = self._indexes.get(part)
        if ix is None:
            ix = self._indexes[part] = VectorIndex(self.dim, kind=self.index_kind)
        self._next_key += 1
        key = self._next_key
        ix.add(key, list(head.keys), head.vectors)
        self._entries[head.entry_id] = (key, part, tuple(head.keys))
        self._ids[key] = head.entry_id
        self._prompts[head.entry_id] = self.cap(head.prompt)[0]
        self._clock = max(self._clock + 1, int(head.last_used))
        self._recency[head.entry_id] = self._clock
        if self.rule_keys is not None:
            filed = self._filed[head.entry_id] = []
            by_head = self._by_head.setdefault(part, {})
            for entity, vec in zip(head.keys, head.vectors):
                for hk in self.rule_keys(entity):
                    by_head.setdefault(hk, {}).setdefault(head.entry_id, {})[entity] = vec
                    filed.append((part, hk, entity))
        return True

    def remove(self, entry_id: str) -> bool:
        """Forget one entry and all its vectors (no-op when it is not indexed)."""
        got = self._entries.pop(entry_id, None)
        if got is None:
            return False
        key, part, _ = got
        ix = self._indexes[part]
        ix.remove_entry(key)
        if ix.entries == 0:
            del self._indexes[part]
        del self._ids[key]
        self._recency.pop(entry_id, None)
        self._prompts.pop(entry_id, None)
        for fpart, hk, _ in self._filed.pop(entry_id, ()):
            owners = self._by_head.get(fpart, {}).get(hk)
            if owners is not None:
                owners.pop(entry_id, None)
                if not owners:
                    del self._by_head[fpart][hk]
                    if not self._by_head[fpart]:
                        del self._by_head[fpart]
        return True

    def clear(self) -> None:
        self._indexes.clear()
        self._entries.clear()
        self._ids.clear()
        self._recency.clear()
        self._by_head.clear()
        self._filed.clear()
        self._prompts.clear()

    def touch(self, entry_id: str) -> None:
        """Mark an entry most recently used for tie-breaking."""
        if entry_id in self._recency:
            self._clock += 1
            self._recency[entry_id] = self._clock

    def entry_ids(self) -> set[str]:
        return set(self._entries)

    def indexed(self) -> dict[str, tuple[Partition, int]]:
        """entry id -> (partition, number of vectors) as the indexes hold them (consistency checks)."""
        out = {}
        for part, ix in self._indexes.items():
            for k, vids in ix._by_entry.items():
                out[self._ids[k]] = (part, len(vids))
        return out

    # -- search --------------------------------------------------------------------------------------------------
    def eligible_partitions(self, shape: Sequence[int] | None, model: str) -> list[Partition]:
        """Partitions a request of latent ``shape`` ((B, C, T, H, W), (C, T, H, W) or None = any) by ``model``
        may match."""
        want = None if shape is None else tuple(int(s) for s in shape)
        return [(m, s) for (m, s) in self._indexes
                if m == model and (want is None or s == want or (len(want) == 4 and s[1:] == want))]

    def eligible(self, shape: Sequence[int] | None, model: str) -> list[VectorIndex]:
        return [self._indexes[p] for p in self.eligible_partitions(shape, model)]

    def _vetoed(self, prompt: str | None, key: str, entry_id: str, ent: str, request, acts) -> bool:
        """True when the context check or the sense check refuses an accepted pair (the reason goes to
        :attr:`last_vetoes`). ``request``: the request's (entity, vector) pairs; ``acts``: what ``key`` acts on."""
        why = ""
        if self.context_check is not None and len(request) > 1 and entry_id in self._entries:
            key_id, part, _ = self._entries[entry_id]
            cached = functools.partial(self._indexes[part].entry_vectors, key_id)  # read only when needed
            why = self.context_check(key, request, acts, cached, ent, self.threshold)
        if not why and self.sense_check is not None and prompt is not None and entry_id in self._prompts:
            why = self.sense_check(prompt, key, self._prompts[entry_id], ent)
        if why:
            self.last_vetoes.append((entry_id, key, ent, why))
        return bool(why)

    def search(self, keys: Sequence[str], vecs: np.ndarray, *, shape=None, model: str = "",
               prompt: str | None = None) -> Candidate | None:
        """The best acceptable (entry, key) pair for the request, or None (a miss).

        Only the request's main subjects are searched (``keys.subjects`` of :class:`~chai.cache.entities.Entities`;
        a plain sequence counts as all subjects): a hit on the basket a puppy sleeps in, or on the street behind a
        cyclist, would reuse the wrong thing. A cached entry is found through any of its entities. ``prompt``: the
        request as extraction saw it (:meth:`cap`), for the sense check; without it no pair is vetoed by sense.
        What each subject acts on (:attr:`~chai.cache.entities.Entities.acts_on`) is read from ``keys``."""
        self.last_vetoes = []
        n = subject_count(keys)
        request = list(zip(keys, vecs))
        acts = [acts_on(keys, k) for k in list(keys)[:n]]
        keys, vecs = list(keys)[:n], vecs[:n]
        parts = self.eligible_partitions(shape, model)
        indexes = [self._indexes[p] for p in parts]
        if not indexes or len(keys) == 0:
            return None
        cands = []
        seen: set[tuple[str, int, str]] = set()
        if self.rule_keys is not None and self.decide is not None:
            for qi, key in enumerate(keys):
                hk = self.request_key(key)
                if not hk:
                    continue
                for part in parts:
                    for entry_id, ents in self._by_head.get(part, {}).get(hk, {}).items():
                        for ent, vec in ents.items():
                            score = float(np.dot(vecs[qi], vec))
                            d = self.decide(key, ent, score, self.threshold)
                            seen.add((entry_id, qi, ent))
                            if d is not None:
                                cands.append((d.rank, score, entry_id, qi, ent, d.kind))
        for ix in indexes:
            # Fetch more than top_k rows: owners of one row (entries sharing an entity string) come back together,
            # and the decision rule may refuse the nearest rows; a (k+1)-th row below the tie cut proves no tie hides.
            # With the agreement rule every acceptable pair shares a head, and the head map above already holds
            # all of those; the index adds the nearest rows (a safety net), never a range scan down to the floor.
            k = min(self.top_k * (4 if self.decide is not None else 1) + 1, ix.rows)
            rows = ix.search(vecs, k)
            best = max((h.score for r in rows for h in r), default=-math.inf)
            if any(r and len({h.row_id for h in r}) == k and r[-1].score >= best - _TIE_EPS for r in rows) \
                    and k < ix.rows:
                rows = ix.search_at_least(vecs, best - _TIE_EPS)
            for qi, row in enumerate(rows):
                for h in row:
                    if h.score < self.search_floor:
                        continue
                    entry_id = self._ids[h.entry_key]
                    if (entry_id, qi, h.entity) in seen:
                        continue
                    if self.decide is None:
                        d = _EMBEDDING_ONLY if h.score >= self.threshold else None
                    else:
                        d = self.decide(keys[qi], h.entity, h.score, self.threshold)
                    if d is None:
                        continue
                    cands.append((d.rank, h.score, entry_id, qi, h.entity, d.kind))
        # The best candidate first; the sense check only runs on the one about to be chosen (each check may embed
        # a cached prompt), and after MAX_VETOES refusals the lookup is a miss: when in doubt, miss.
        vetoes = 0
        while cands:
            top_rank = max(c[0] for c in cands)
            best = max(c[1] for c in cands if c[0] == top_rank)
            tied = [c for c in cands if c[0] == top_rank and c[1] >= best - _TIE_EPS]
            tied.sort(key=lambda c: (self._recency.get(c[2], 0), c[1]), reverse=True)  # most recently used first
            _, score, entry_id, qi, ent, kind = tied[0]
            if not self._vetoed(prompt, keys[qi], entry_id, ent, request, acts[qi]):
                return Candidate(entry_id=entry_id, score=float(score), query_index=qi, prompt_entity=keys[qi],
                                 cached_entity=ent, kind=kind)
            vetoes += 1
            if vetoes >= MAX_VETOES:
                return None
            cands.remove(tied[0])
        return None
