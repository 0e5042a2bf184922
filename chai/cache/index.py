"""Vector index of the latent cache: entity vectors -> (entry, entity), with removal.

Every indexed vector has an int64 id; the index maps the id to ``(entry_key, entity)``, so one cache
entry may own several vectors (one per entity) and :meth:`VectorIndex.remove_entry` drops all of them
at once (atomic eviction is the caller's lock plus this single call).

Kinds (``VectorIndex(dim, kind=...)``):

* ``"flat"`` (default): ``faiss.IndexIDMap2(faiss.IndexFlatIP)``. Exact inner product (= cosine on
  L2-normalised vectors), true removal with ``remove_ids``. 100k x 384 vectors: about 15 ms per query on
  2 cores (platform notes), well inside the lookup budget.
* ``"hnsw"``: ``faiss.IndexIDMap2(faiss.IndexHNSWFlat(dim, M, METRIC_INNER_PRODUCT))``. Approximate
  (recall ~0.99 at efSearch 64 on clustered data). HNSW graphs cannot delete, so removal is a *tombstone*:
  the id leaves the id map at once (a lookup can never return it) and is filtered from results; when
  tombstones exceed ``rebuild_fraction`` of the stored vectors the graph is rebuilt from the live
  vectors. Searches ask faiss for ``k + tombstones`` candidates (capped) to keep k live answers.
* ``"numpy"``: exact matmul search without faiss, used automatically when faiss is not installed (with a
  warning; ``kind`` then reports ``"numpy"``).

Shapes: vectors ``(N, dim)`` float32, L2-normalised by the caller; scores are inner products.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["INDEX_KINDS", "IndexHit", "VectorIndex", "faiss_available"]

INDEX_KINDS = ("flat", "hnsw", "numpy")


def faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class IndexHit:
    """One search result: cosine ``score`` of the query against vector ``vector_id`` of ``entry_key``."""

    score: float
    vector_id: int
    entry_key: int
    entity: str


class VectorIndex:
    """Inner-product index over L2-normalised vectors, id-mapped to (entry_key, entity).

    Not thread-safe by itself: :class:`~chai.cache.latent_cache.LatentCache` serialises access.
    """

    def __init__(self, dim: int, *, kind: str = "flat", hnsw_m: int = 32, ef_search: int = 64,
                 ef_construction: int = 80, rebuild_fraction: float = 0.25, single_thread_work: int = 1_000_000):
        if kind not in INDEX_KINDS:
            raise ValueError(f"index kind={kind!r} is not known.\nHINT: use one of {INDEX_KINDS}.")
        if kind != "numpy" and not faiss_available():
            warnings.warn(
                f"faiss is not installed; the latent cache index falls back to exact numpy search "
                f"(requested kind={kind!r}). HINT: pip install faiss-cpu.",
                RuntimeWarning,
                stacklevel=2,
            )
            kind = "numpy"
        self.dim = int(dim)
        self.kind = kind
        self.hnsw_m = int(hnsw_m)
        self.ef_search = int(ef_search)
        self.ef_construction = int(ef_construction)
        self.rebuild_fraction = float(rebuild_fraction)
        self.single_thread_work = int(single_thread_work)  # queries x vectors below which faiss runs 1 thread
        self._meta: dict[int, tuple[int, str]] = {}  # vector id -> (entry_key, entity)
        self._by_entry: dict[int, list[int]] = {}  # entry_key -> vector ids
        self._next_id = 0
        self._tombstones: set[int] = set()  # hnsw only
        self.rebuilds = 0
        if kind == "numpy":
            self._vecs = np.zeros((0, self.dim), dtype=np.float32)
            self._ids = np.zeros((0,), dtype=np.int64)
            self._n = 0
            self._pos: dict[int, int] = {}
        else:
            self._faiss = self._new_faiss()

    # -- construction --------------------------------------------------------------------------------------------
    def _new_faiss(self):
        import faiss

        if self.kind == "flat":
            base = faiss.IndexFlatIP(self.dim)
        else:
            base = faiss.IndexHNSWFlat(self.dim, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            base.hnsw.efConstruction = self.ef_construction
            base.hnsw.efSearch = self.ef_search
        return faiss.IndexIDMap2(base)

    # -- size ----------------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        """Live vectors (tombstoned ones excluded)."""
        return len(self._meta)

    @property
    def entries(self) -> int:
        return len(self._by_entry)

    def vector_nbytes(self) -> int:
        """Bytes the index holds per live vector, as counted by the cache budget.

        flat / numpy: the float32 vector and its int64 id (plus, for faiss, the id-map's reverse entry: 8 more).
        hnsw: additionally ~2*M int32 level-0 links and the level list (faiss stores 2*M neighbours at level 0).
        """
        base = 4 * self.dim + 8
        if self.kind == "flat":
            return base + 8
        if self.kind == "hnsw":
            return base + 8 + 4 * 2 * self.hnsw_m + 8
        return base

    @property
    def tombstones(self) -> int:
        return len(self._tombstones)

    # -- mutation ------------------------------------------------------------------------------------------------
    def add(self, entry_key: int, entities: list[str], vectors: np.ndarray) -> list[int]:
        """Index ``vectors`` (len(entities), dim) for ``entry_key``; returns the new vector ids."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape != (len(entities), self.dim):
            raise ValueError(
                f"VectorIndex.add: vectors have shape {tuple(vectors.shape)}; expected ({len(entities)}, {self.dim}) "
                "(one row per entity).\nHINT: embed exactly the entities passed."
            )
        if entry_key in self._by_entry:
            raise ValueError(f"VectorIndex.add: entry {entry_key} is already indexed.")
        ids = np.arange(self._next_id, self._next_id + len(entities), dtype=np.int64)
        self._next_id += len(entities)
        if self.kind == "numpy":
            self._np_add(ids, vectors)
        elif len(ids):
            self._faiss.add_with_ids(vectors, ids)
        for vid, ent in zip(ids.tolist(), entities):
            self._meta[vid] = (entry_key, ent)
        self._by_entry[entry_key] = ids.tolist()
        return ids.tolist()

    def remove_entry(self, entry_key: int) -> int:
        """Remove every vector of ``entry_key`` (no-op when absent); returns how many were removed."""
        ids = self._by_entry.pop(entry_key, None)
        if not ids:
            return 0
        for vid in ids:
            del self._meta[vid]
        if self.kind == "numpy":
            self._np_remove(ids)
        elif self.kind == "flat":
            self._faiss.remove_ids(np.asarray(ids, dtype=np.int64))
        else:
            self._tombstones.update(ids)
            stored = len(self._meta) + len(self._tombstones)
            if len(self._tombstones) > self.rebuild_fraction * max(stored, 1):
                self._rebuild()
        return len(ids)

    def _rebuild(self) -> None:
        """HNSW: rebuild the graph from live vectors (drops tombstones)."""
        live = np.fromiter(self._meta.keys(), dtype=np.int64, count=len(self._meta))
        vecs = np.zeros((len(live), self.dim), dtype=np.float32)
        for row, vid in enumerate(live.tolist()):
            vecs[row] = self._faiss.reconstruct(vid)
        self._faiss = self._new_faiss()
        if len(live):
            self._faiss.add_with_ids(vecs, live)
        self._tombstones.clear()
        self.rebuilds += 1

    def clear(self) -> None:
        self._meta.clear()
        self._by_entry.clear()
        self._tombstones.clear()
        if self.kind == "numpy":
            self._n = 0
            self._pos.clear()
        else:
            self._faiss = self._new_faiss()

    # -- numpy backend ---------------------------------------------------------------------------------------------
    def _np_add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        need = self._n + len(ids)
        if need > len(self._vecs):
            cap = max(need, 2 * len(self._vecs), 64)
            vecs = np.zeros((cap, self.dim), dtype=np.float32)
            vecs[: self._n] = self._vecs[: self._n]
            idv = np.zeros((cap,), dtype=np.int64)
            idv[: self._n] = self._ids[: self._n]
            self._vecs, self._ids = vecs, idv
        self._vecs[self._n:need] = vectors
        self._ids[self._n:need] = ids
        for j, vid in enumerate(ids.tolist()):
            self._pos[vid] = self._n + j
        self._n = need

    def _np_remove(self, ids: list[int]) -> None:
        for vid in ids:
            p = self._pos.pop(vid)
            last = self._n - 1
            if p != last:  # swap the last row into the hole
                self._vecs[p] = self._vecs[last]
                moved = int(self._ids[last])
                self._ids[p] = moved
                self._pos[moved] = p
            self._n = last

    # -- search --------------------------------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int) -> list[list[IndexHit]]:
        """Top-``k`` live hits per query row, best first. ``queries``: (Q, dim) float32, L2-normalised."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise ValueError(
                f"VectorIndex.search: queries have shape {tuple(queries.shape)}; expected (Q, {self.dim}).\n"
                "HINT: the embedder's dim must equal the index dim."
            )
        nq = queries.shape[0]
        if nq == 0 or not self._meta or k <= 0:
            return [[] for _ in range(nq)]
        k = min(int(k), len(self._meta))
        if self.kind == "numpy":
            scores, ids = self._np_search(queries, k)
        else:
            kk = k
            if self.kind == "hnsw" and self._tombstones:
                kk = min(k + len(self._tombstones), len(self._meta) + len(self._tombstones))
            scores, ids = self._faiss_search(queries, kk)
        out: list[list[IndexHit]] = []
        for qi in range(nq):
            row = []
            for s, vid in zip(scores[qi].tolist(), ids[qi].tolist()):
                if vid < 0:
                    continue
                meta = self._meta.get(vid)
                if meta is None:  # tombstoned (hnsw)
                    continue
                row.append(IndexHit(float(s), int(vid), meta[0], meta[1]))
                if len(row) >= k:
                    break
            out.append(row)
        return out

    def search_at_least(self, queries: np.ndarray, min_score: float) -> list[list[IndexHit]]:
        """Every live hit with ``score >= min_score`` per query row, best first (one pass over the vectors).

        Used to resolve ties exactly: when many entries share an entity string their vectors tie, and the
        most recently used of them must win however many there are.
        """
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        nq = queries.shape[0]
        if nq == 0 or not self._meta:
            return [[] for _ in range(nq)]
        if self.kind == "numpy":
            sims = queries @ self._vecs[: self._n].T
            per = [np.nonzero(sims[qi] >= min_score)[0] for qi in range(nq)]
            raw = [(sims[qi][p], self._ids[: self._n][p]) for qi, p in enumerate(per)]
        elif self.kind == "flat":
            # faiss range search keeps scores > radius for inner product; step just below min_score.
            lims, dist, ids = self._faiss.range_search(queries, float(np.nextafter(np.float32(min_score), -1)))
            raw = [(dist[lims[q]: lims[q + 1]], ids[lims[q]: lims[q + 1]]) for q in range(nq)]
        else:  # hnsw: approximate anyway; widen k until the tail drops below min_score
            k = min(64, len(self._meta))
            while True:
                rows = self.search(queries, k)
                if k >= len(self._meta) or all(len(r) < k or r[-1].score < min_score for r in rows):
                    return [[h for h in r if h.score >= min_score] for r in rows]
                k = min(8 * k, len(self._meta))
        out = []
        for scores, ids in raw:
            order = np.argsort(-scores, kind="stable")
            row = []
            for j in order.tolist():
                vid = int(ids[j])
                meta = self._meta.get(vid)
                if meta is not None and scores[j] >= min_score:
                    row.append(IndexHit(float(scores[j]), vid, meta[0], meta[1]))
            out.append(row)
        return out

    def _faiss_search(self, queries: np.ndarray, k: int):
        import faiss

        # One lookup searches a handful of entity vectors. OpenMP's thread team costs more than it saves on
        # such small searches and collapses under CPU contention (measured: 40 ms with 2 threads vs 8 ms with
        # 1 for 3 queries over 20k vectors on 2 busy cores), so small searches run single-threaded.
        work = queries.shape[0] * (len(self._meta) + len(self._tombstones))
        if work > self.single_thread_work:
            return self._faiss.search(queries, k)
        prev = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return self._faiss.search(queries, k)
        finally:
            faiss.omp_set_num_threads(prev)

    def _np_search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        sims = queries @ self._vecs[: self._n].T  # (Q, n)
        if k < self._n:
            part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        else:
            part = np.tile(np.arange(self._n), (queries.shape[0], 1))
        top = np.take_along_axis(sims, part, axis=1)
        order = np.argsort(-top, axis=1, kind="stable")
        idx = np.take_along_axis(part, order, axis=1)
        return np.take_along_axis(top, order, axis=1), self._ids[: self._n][idx]
