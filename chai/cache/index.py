"""Vector index of the latent cache: entity vectors -> (entry, entity), with removal.

Each distinct (entity string, vector) is stored once, as one *row* with an int64 row id; the row records
every *owner* ``(entry_key, entity)`` that uses it (owner ids are what :class:`IndexHit.vector_id` reports).
One cache entry owns several vectors (one per entity); many entries sharing an entity string (bitwise-equal
vector) share one row, so a search hit on that row returns all of them at one score in one pass, which is
what tie-to-MRU resolution needs. :meth:`VectorIndex.remove_entry` drops all owners of an entry at once
(atomic eviction is the caller's lock plus this single call) and deletes a row only with its last owner.
``len(index)`` counts owners; :attr:`VectorIndex.rows` counts stored vectors.

Kinds (``VectorIndex(dim, kind=...)``):

* ``"flat"`` (default): ``faiss.IndexIDMap2(faiss.IndexFlatIP)``. Exact inner product (= cosine on
  L2-normalised vectors), true removal with ``remove_ids``. 100k x 384 vectors: about 15 ms per query on
  2 cores (platform notes), well inside the lookup budget.
* ``"hnsw"``: ``faiss.IndexIDMap2(faiss.IndexHNSWFlat(dim, M, METRIC_INNER_PRODUCT))``. Approximate
  (recall ~0.99 at efSearch 64 on clustered data). HNSW graphs cannot delete, so removal is a *tombstone*:
  the id leaves the id map at once (a lookup can never return it) and is filtered from results; when
  tombstones exceed ``rebuild_fraction`` of the stored rows the graph is rebuilt from the live
  rows. Searches ask faiss for ``k + tombstones`` candidates (capped) to keep k live rows.
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
    """One search result: cosine ``score`` of the query against owner ``vector_id`` of ``entry_key``.

    ``vector_id`` identifies the (entry, entity) owner; ``row_id`` the stored vector, shared by every owner whose
    entity string and vector are identical.
    """

    score: float
    vector_id: int
    entry_key: int
    entity: str
    row_id: int = -1


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
        self.single_thread_work = int(single_thread_work)  # queries x rows below which faiss runs 1 thread
        self._meta: dict[int, tuple[int, str]] = {}  # owner id -> (entry_key, entity)
        self._by_entry: dict[int, list[int]] = {}  # entry_key -> owner ids
        self._owner_row: dict[int, int] = {}  # owner id -> row id (the faiss / numpy id of the stored vector)
        self._rows: dict[int, dict[int, None]] = {}  # live row id -> its owner ids (insertion ordered)
        self._row_key: dict[tuple[str, int], int] = {}  # (entity, hash of vector bytes) -> row id
        self._key_of_row: dict[int, tuple[str, int]] = {}
        self._next_id = 0  # owner ids
        self._next_row = 0  # row ids
        self._tombstones: set[int] = set()  # hnsw only: dead row ids still in the graph
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
        """Live (entry, entity) owners, i.e. the hits a search can return (tombstoned ones excluded)."""
        return len(self._meta)

    @property
    def rows(self) -> int:
        """Distinct live vectors stored (owners sharing an entity string and vector share one row)."""
        return len(self._rows)

    @property
    def entries(self) -> int:
        return len(self._by_entry)

    def vector_nbytes(self) -> int:
        """Bytes the index holds per live vector, as counted by the cache budget.

        flat / numpy: the float32 vector and its int64 id (plus, for faiss, the id-map's reverse entry: 8 more).
        hnsw: additionally ~2*M int32 level-0 links and the level list (faiss stores 2*M neighbours at level 0).
        The cache charges this per (entry, entity) owner, an upper bound now that owners sharing an entity
        string share one stored row.
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
    def _stored_vector(self, row: int) -> np.ndarray:
        if self.kind == "numpy":
            return self._vecs[self._pos[row]]
        return self._faiss.reconstruct(int(row))

    def entry_vectors(self, entry_key: int) -> list[tuple[str, np.ndarray]]:
        """(entity, stored unit vector) for each entity of ``entry_key``, in insertion order ([] when absent)."""
        return [(self._meta[oid][1], np.asarray(self._stored_vector(self._owner_row[oid]), dtype=np.float32))
                for oid in self._by_entry.get(entry_key, ())]

    def add(self, entry_key: int, entities: list[str], vectors: np.ndarray) -> list[int]:
        """Index ``vectors`` (len(entities), dim) for ``entry_key``; returns the new owner ids (one per entity).

        An entity whose text and vector (bitwise) are already stored reuses that row: the new owner is recorded
        on it and no vector is added, so a search hit on the row returns every owner at the same score.
        """
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape != (len(entities), self.dim):
            raise ValueError(
                f"VectorIndex.add: vectors have shape {tuple(vectors.shape)}; expected ({len(entities)}, {self.dim}) "
                "(one row per entity).\nHINT: embed exactly the entities passed."
            )
        if entry_key in self._by_entry:
            raise ValueError(f"VectorIndex.add: entry {entry_key} is already indexed.")
        owners = list(range(self._next_id, self._next_id + len(entities)))
        self._next_id += len(entities)
        new_rows: list[int] = []
        new_vecs: list[np.ndarray] = []
        pending: dict[int, bytes] = {}  # rows created by this call (not yet stored) -> vector bytes
        row_of: list[int] = []
        for ent, vec in zip(entities, vectors):
            raw = vec.tobytes()
            key = (ent, hash(raw))
            row = self._row_key.get(key)
            if row is not None:
                stored = pending.get(row)
                if stored is None:
                    stored = self._stored_vector(row).tobytes()
                if stored != raw:  # hash collision: keep the vectors apart
                    row = None
            if row is None:
                row = self._next_row
                self._next_row += 1
                new_rows.append(row)
                new_vecs.append(vec)
                pending[row] = raw
                self._row_key.setdefault(key, row)
                self._key_of_row[row] = key
                self._rows[row] = {}
            row_of.append(row)
        if new_rows:
            ids = np.asarray(new_rows, dtype=np.int64)
            mat = np.ascontiguousarray(np.stack(new_vecs), dtype=np.float32)
            if self.kind == "numpy":
                self._np_add(ids, mat)
            else:
                self._faiss.add_with_ids(mat, ids)
        for oid, ent, row in zip(owners, entities, row_of):
            self._meta[oid] = (entry_key, ent)
            self._owner_row[oid] = row
            self._rows[row][oid] = None
        self._by_entry[entry_key] = owners
        return owners

    def remove_entry(self, entry_key: int) -> int:
        """Remove every owner of ``entry_key`` (no-op when absent); returns how many were removed.

        A stored row is deleted only when its last owner goes.
        """
        ids = self._by_entry.pop(entry_key, None)
        if not ids:
            return 0
        dead: list[int] = []
        for oid in ids:
            del self._meta[oid]
            row = self._owner_row.pop(oid)
            owners = self._rows[row]
            del owners[oid]
            if not owners:
                del self._rows[row]
                key = self._key_of_row.pop(row)
                if self._row_key.get(key) == row:
                    del self._row_key[key]
                dead.append(row)
        if not dead:
            return len(ids)
        if self.kind == "numpy":
            self._np_remove(dead)
        elif self.kind == "flat":
            self._faiss.remove_ids(np.asarray(dead, dtype=np.int64))
        else:
            self._tombstones.update(dead)
            stored = len(self._rows) + len(self._tombstones)
            if len(self._tombstones) > self.rebuild_fraction * max(stored, 1):
                self._rebuild()
        return len(ids)

    def _rebuild(self) -> None:
        """HNSW: rebuild the graph from live rows (drops tombstones)."""
        live = np.fromiter(self._rows.keys(), dtype=np.int64, count=len(self._rows))
        vecs = np.zeros((len(live), self.dim), dtype=np.float32)
        for r, vid in enumerate(live.tolist()):
            vecs[r] = self._faiss.reconstruct(vid)
        self._faiss = self._new_faiss()
        if len(live):
            self._faiss.add_with_ids(vecs, live)
        self._tombstones.clear()
        self.rebuilds += 1

    def clear(self) -> None:
        self._meta.clear()
        self._by_entry.clear()
        self._owner_row.clear()
        self._rows.clear()
        self._row_key.clear()
        self._key_of_row.clear()
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
    def _expand(self, scores, row_ids, k: int | None) -> list[IndexHit]:
        """Hits of one query: each live row (best first) expanded to all its owners; at most ``k`` rows."""
        out: list[IndexHit] = []
        taken = 0
        for s, rid in zip(scores, row_ids):
            owners = self._rows.get(rid) if rid >= 0 else None
            if owners is None:  # padding or tombstoned (hnsw)
                continue
            sc = float(s)
            for oid in owners:
                meta = self._meta[oid]
                out.append(IndexHit(sc, oid, meta[0], meta[1], rid))
            taken += 1
            if k is not None and taken >= k:
                break
        return out

    def search(self, queries: np.ndarray, k: int) -> list[list[IndexHit]]:
        """Top-``k`` live rows per query, best first, each expanded to every owner (same score).

        ``queries``: (Q, dim) float32, L2-normalised. A row is one distinct stored vector, so a query returns
        at least ``min(k, rows)`` hits and all owners of a returned row (``IndexHit.row_id`` tells them apart).
        """
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise ValueError(
                f"VectorIndex.search: queries have shape {tuple(queries.shape)}; expected (Q, {self.dim}).\n"
                "HINT: the embedder's dim must equal the index dim."
            )
        nq = queries.shape[0]
        if nq == 0 or not self._rows or k <= 0:
            return [[] for _ in range(nq)]
        k = min(int(k), len(self._rows))
        if self.kind == "numpy":
            scores, ids = self._np_search(queries, k)
        else:
            kk = k
            if self.kind == "hnsw" and self._tombstones:
                kk = min(k + len(self._tombstones), len(self._rows) + len(self._tombstones))
            scores, ids = self._faiss_search(queries, kk)
        return [self._expand(scores[qi].tolist(), ids[qi].tolist(), k) for qi in range(nq)]

    def search_at_least(self, queries: np.ndarray, min_score: float) -> list[list[IndexHit]]:
        """Every live hit with ``score >= min_score`` per query row, best first (one pass over the rows).

        Used to resolve ties exactly between *distinct* rows with equal scores (owners of one row already come
        out of :meth:`search` together).
        """
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        nq = queries.shape[0]
        if nq == 0 or not self._rows:
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
            k = min(64, len(self._rows))
            while True:
                rows = self.search(queries, k)
                if k >= len(self._rows) or all(len({h.row_id for h in r}) < k or r[-1].score < min_score
                                               for r in rows):
                    return [[h for h in r if h.score >= min_score] for r in rows]
                k = min(8 * k, len(self._rows))
        out = []
        for scores, ids in raw:
            order = np.argsort(-scores, kind="stable")
            keep = [j for j in order.tolist() if scores[j] >= min_score]
            out.append(self._expand([scores[j] for j in keep], [int(ids[j]) for j in keep], None))
        return out

    def _faiss_search(self, queries: np.ndarray, k: int):
        import faiss

        # One lookup searches a handful of entity vectors. OpenMP's thread team costs more than it saves on
        # such small searches and collapses under CPU contention (measured: 40 ms with 2 threads vs 8 ms with
        # 1 for 3 queries over 20k vectors on 2 busy cores), so small searches run single-threaded.
        work = queries.shape[0] * (len(self._rows) + len(self._tombstones))
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
