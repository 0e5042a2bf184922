"""Entry records, byte accounting, LRU order and crash-safe persistence for the latent cache.

An *entry* is one cached generation: its prompt, the keys it is indexed under (entities, or the whole
prompt), one L2-normalised vector per key, its latents (``QuantizedLatent`` byte blobs) and optional
per-key token masks (T, S). The entry is serialised into one self-checking *record*:

========  ==========  ====================================================================
offset    size        field (little-endian)
========  ==========  ====================================================================
0         4           magic ``b"CHCE"``
4         2           record format version (1)
6         2           flags (0)
8         4           meta_len: bytes of the JSON metadata
12        8           body_len: bytes of the binary body
20        4           CRC32 of bytes [0, 20)
24        meta_len    JSON (UTF-8): entry_id, namespace, prompt, keys, dim, embedder, matching,
                      latent_shape, latent_nbytes[], masks[{key, shape, nbytes}], created_ns
...       body_len    body: vectors (n_keys x dim float32) | latent blobs (``QuantizedLatent.to_bytes``,
                      each with its own header and CRC) | masks (``numpy.packbits`` of each (T, S) mask)
end - 4   4           CRC32 of meta + body
========  ==========  ====================================================================

A record that is short, long, has a bad magic, version, CRC or inconsistent lengths raises ValueError
in :func:`decode_record`; nothing partially decoded is ever returned.

Byte accounting: an entry costs ``len(record) + n_keys * index.vector_nbytes()``, i.e. everything in the
record (latent data, scales, latent headers, vectors, masks, prompt and entity strings, JSON, header,
CRC) plus the index's own copy of each vector and its id. :class:`LatentStore` keeps the sum
(``bytes_used``) and never lets it exceed ``budget_bytes``.

Persistence (``directory`` given): one file per entry, ``<directory>/<namespace>/entries/<entry_id>.chce``.
Writes are atomic: the record goes to ``tmp/`` first, is fsync'ed, then ``os.replace``d into
``entries/`` and the directory is fsync'ed. A crash leaves either the complete old state or the complete
new file; leftovers in ``tmp/`` are deleted on open. Recency (LRU order) is persisted as the file's
mtime (nanoseconds, strictly increasing per process), refreshed on every hit.
"""

from __future__ import annotations

import json
import os
import struct
import time
import uuid
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "RECORD_MAGIC",
    "RECORD_VERSION",
    "EntryRecord",
    "LatentStore",
    "StoredEntry",
    "atomic_write",
    "decode_record",
    "encode_record",
    "fsync_dir",
    "new_entry_id",
    "record_nbytes",
]

RECORD_MAGIC = b"CHCE"
RECORD_VERSION = 1
_HEAD = struct.Struct("<4sHHIQ")  # magic, version, flags, meta_len, body_len
_HEAD_SIZE = _HEAD.size + 4  # + header CRC32 = 24
_TRAILER = 4
ENTRY_SUFFIX = ".chce"


def new_entry_id() -> str:
    """A fresh entry id: 32 lowercase hex digits (also the entry's file name stem)."""
    return uuid.uuid4().hex


def _valid_entry_id(s: str) -> bool:
    return isinstance(s, str) and len(s) == 32 and all(c in "0123456789abcdef" for c in s)


@dataclass
class EntryRecord:
    """A decoded entry record.

    vectors:      (n_keys, dim) float32, row i embeds ``keys[i]``.
    latent_blobs: one ``QuantizedLatent.to_bytes()`` blob per latent (all of shape ``latent_shape``).
    masks:        key -> (T, S) bool numpy array, for the keys that have a token mask.
    """

    entry_id: str
    namespace: str
    prompt: str
    keys: list[str]
    vectors: np.ndarray
    latent_shape: tuple[int, ...]
    latent_blobs: list[bytes]
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    embedder: str = ""
    matching: str = "entity"
    created_ns: int = 0


def _pack_masks(masks: dict[str, np.ndarray]) -> tuple[list[dict], list[bytes]]:
    metas, blobs = [], []
    for key, m in masks.items():
        m = np.ascontiguousarray(m, dtype=bool)
        blob = np.packbits(m.reshape(-1)).tobytes()
        metas.append({"key": key, "shape": list(m.shape), "nbytes": len(blob)})
        blobs.append(blob)
    return metas, blobs


def encode_record(rec: EntryRecord) -> bytes:
    """Serialise ``rec`` (see the module docstring for the layout)."""
    vecs = np.ascontiguousarray(rec.vectors, dtype="<f4")
    if vecs.ndim != 2 or vecs.shape[0] != len(rec.keys):
        raise ValueError(f"encode_record: vectors shape {vecs.shape} does not match {len(rec.keys)} keys.")
    mask_meta, mask_blobs = _pack_masks(rec.masks)
    meta = {
        "entry_id": rec.entry_id,
        "namespace": rec.namespace,
        "prompt": rec.prompt,
        "keys": list(rec.keys),
        "dim": int(vecs.shape[1]),
        "embedder": rec.embedder,
        "matching": rec.matching,
        "latent_shape": [int(s) for s in rec.latent_shape],
        "latent_nbytes": [len(b) for b in rec.latent_blobs],
        "masks": mask_meta,
        "created_ns": int(rec.created_ns),
    }
    meta_b = json.dumps(meta, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    body = b"".join([vecs.tobytes(), *rec.latent_blobs, *mask_blobs])
    head = _HEAD.pack(RECORD_MAGIC, RECORD_VERSION, 0, len(meta_b), len(body))
    head += struct.pack("<I", zlib.crc32(head))
    crc = zlib.crc32(body, zlib.crc32(meta_b))
    return b"".join([head, meta_b, body, struct.pack("<I", crc)])


def record_nbytes(*, meta_json_nbytes: int, n_keys: int, dim: int, latent_nbytes: list[int],
                  mask_nbytes: list[int] = ()) -> int:
    """Length of a record with the given parts (used for size estimates without serialising)."""
    return _HEAD_SIZE + meta_json_nbytes + n_keys * dim * 4 + sum(latent_nbytes) + sum(mask_nbytes) + _TRAILER


def _corrupt(msg: str) -> ValueError:
    return ValueError(f"cache entry record: {msg}.\nHINT: the entry is damaged or foreign; it is dropped, not loaded.")


def decode_record(buf: bytes, *, with_payload: bool = True) -> EntryRecord:
    """Parse and verify a record. ``with_payload=False`` skips slicing latent blobs and masks (faster open).

    The whole-record CRC is always verified. Raises ValueError on any inconsistency.
    """
    n = len(buf)
    if n < _HEAD_SIZE + _TRAILER:
        raise _corrupt(f"{n} bytes is shorter than the {_HEAD_SIZE + _TRAILER}-byte minimum (truncated)")
    magic, version, _flags, meta_len, body_len = _HEAD.unpack_from(buf, 0)
    if magic != RECORD_MAGIC:
        raise _corrupt(f"wrong magic {magic!r} (expected {RECORD_MAGIC!r})")
    if version != RECORD_VERSION:
        raise _corrupt(f"format version {version} is not supported (this build reads {RECORD_VERSION})")
    (head_crc,) = struct.unpack_from("<I", buf, _HEAD.size)
    if zlib.crc32(buf[: _HEAD.size]) != head_crc:
        raise _corrupt("header CRC32 mismatch")
    expected = _HEAD_SIZE + meta_len + body_len + _TRAILER
    if n != expected:
        raise _corrupt(f"{n} bytes but the header announces {expected} ({'truncated' if n < expected else 'trailing data'})")
    mv = memoryview(buf)
    meta_b = mv[_HEAD_SIZE: _HEAD_SIZE + meta_len]
    body = mv[_HEAD_SIZE + meta_len: _HEAD_SIZE + meta_len + body_len]
    (crc,) = struct.unpack_from("<I", buf, n - _TRAILER)
    if zlib.crc32(body, zlib.crc32(meta_b)) != crc:
        raise _corrupt("payload CRC32 mismatch")
    try:
        meta = json.loads(bytes(meta_b).decode("utf-8"))
        keys = [str(k) for k in meta["keys"]]
        dim = int(meta["dim"])
        lat_n = [int(x) for x in meta["latent_nbytes"]]
        masks_meta = list(meta["masks"])
        entry_id = str(meta["entry_id"])
        latent_shape = tuple(int(s) for s in meta["latent_shape"])
    except (ValueError, KeyError, TypeError) as exc:
        raise _corrupt(f"bad metadata ({exc})") from None
    vec_n = len(keys) * dim * 4
    if vec_n + sum(lat_n) + sum(int(m["nbytes"]) for m in masks_meta) != body_len:
        raise _corrupt("body length does not match the metadata")
    if not _valid_entry_id(entry_id):
        raise _corrupt(f"bad entry id {entry_id!r}")
    vectors = np.frombuffer(body[:vec_n], dtype="<f4").astype(np.float32).reshape(len(keys), dim)
    blobs: list[bytes] = []
    masks: dict[str, np.ndarray] = {}
    if with_payload:
        off = vec_n
        for ln in lat_n:
            blobs.append(bytes(body[off: off + ln]))
            off += ln
        for m in masks_meta:
            shape = tuple(int(s) for s in m["shape"])
            ln = int(m["nbytes"])
            bits = np.unpackbits(np.frombuffer(body[off: off + ln], dtype=np.uint8), count=int(np.prod(shape)))
            masks[str(m["key"])] = bits.astype(bool).reshape(shape)
            off += ln
    return EntryRecord(
        entry_id=entry_id,
        namespace=str(meta.get("namespace", "")),
        prompt=str(meta.get("prompt", "")),
        keys=keys,
        vectors=vectors,
        latent_shape=latent_shape,
        latent_blobs=blobs,
        masks=masks,
        embedder=str(meta.get("embedder", "")),
        matching=str(meta.get("matching", "entity")),
        created_ns=int(meta.get("created_ns", 0)),
    )


# --------------------------------------------------------------------------------------------------
# Atomic file helpers
# --------------------------------------------------------------------------------------------------

def fsync_dir(path: Path) -> None:
    """fsync a directory so a rename inside it is durable (no-op where unsupported)."""
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_tmp(tmp_dir: Path, name: str, data: bytes) -> Path:
    """Write ``data`` to a fresh file in ``tmp_dir`` and fsync it; returns its path."""
    tmp = tmp_dir / f"{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    os.close(fd)
    return tmp


def atomic_write(final: Path, data: bytes, tmp_dir: Path | None = None) -> None:
    """Write ``final`` atomically: temporary file, fsync, ``os.replace``, fsync of the directory."""
    tmp_dir = tmp_dir or final.parent
    tmp = write_tmp(tmp_dir, final.name, data)
    try:
        os.replace(tmp, final)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    fsync_dir(final.parent)


# --------------------------------------------------------------------------------------------------
# In-memory bookkeeping + LRU
# --------------------------------------------------------------------------------------------------

@dataclass
class StoredEntry:
    """RAM bookkeeping of one entry (its vectors live in the index, its payload in ``record`` or on disk)."""

    key: int
    entry_id: str
    prompt: str
    keys: list[str]
    latent_shape: tuple[int, ...]
    n_latents: int
    record_nbytes: int
    index_nbytes: int
    last_used: int
    record: bytes | None = None  # memory mode: the full record
    path: Path | None = None  # directory mode: the entry file

    @property
    def nbytes(self) -> int:
        return self.record_nbytes + self.index_nbytes


class _Clock:
    """Strictly increasing nanosecond timestamps (wall-clock based, so they persist as file mtimes)."""

    def __init__(self):
        self._last = 0

    def __call__(self) -> int:
        self._last = max(time.time_ns(), self._last + 1)
        return self._last

    def observe(self, t: int) -> None:
        self._last = max(self._last, int(t))


class LatentStore:
    """Entries in LRU order (least recently used first) under a byte budget.

    Pure bookkeeping plus file I/O: no locking (the cache holds its lock around every call) and no
    index (the cache removes vectors in the same critical section as :meth:`remove`).
    """

    def __init__(self, budget_bytes: int, entries_dir: Path | None = None, tmp_dir: Path | None = None):
        self.budget_bytes = int(budget_bytes)
        self.entries_dir = entries_dir
        self.tmp_dir = tmp_dir
        self._entries: OrderedDict[int, StoredEntry] = OrderedDict()
        self._by_id: dict[str, int] = {}
        self.bytes_used = 0
        self.clock = _Clock()

    # -- queries -------------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: int) -> bool:
        return key in self._entries

    def get(self, key: int) -> StoredEntry:
        return self._entries[key]

    def key_of(self, entry_id: str) -> int | None:
        return self._by_id.get(entry_id)

    def lru_order(self) -> list[StoredEntry]:
        """Entries from least to most recently used."""
        return list(self._entries.values())

    def lru_key(self) -> int | None:
        return next(iter(self._entries), None)

    # -- mutation ------------------------------------------------------------------------------------------------
    def add(self, entry: StoredEntry) -> None:
        """Register ``entry`` as most recently used. The caller has made room (see ``bytes_used``)."""
        if self.bytes_used + entry.nbytes > self.budget_bytes:
            raise RuntimeError(  # internal invariant: the cache evicts before adding
                f"LatentStore.add would exceed the budget: {self.bytes_used} + {entry.nbytes} > {self.budget_bytes}"
            )
        self._entries[entry.key] = entry
        self._by_id[entry.entry_id] = entry.key
        self.bytes_used += entry.nbytes

    def touch(self, key: int) -> None:
        """Mark ``key`` most recently used (and persist the recency as the file mtime)."""
        e = self._entries[key]
        e.last_used = self.clock()
        self._entries.move_to_end(key)
        if e.path is not None:
            try:
                os.utime(e.path, ns=(e.last_used, e.last_used))
            except OSError:
                pass  # recency is advisory on disk; the entry stays valid

    def remove(self, key: int) -> StoredEntry:
        """Forget ``key`` and delete its file (if any)."""
        e = self._entries.pop(key)
        self._by_id.pop(e.entry_id, None)
        self.bytes_used -= e.nbytes
        if e.path is not None:
            try:
                e.path.unlink()
            except FileNotFoundError:
                pass
        return e

    def read_record(self, key: int) -> bytes:
        """The entry's record bytes (from RAM or from its file). OSError when the file vanished."""
        e = self._entries[key]
        if e.record is not None:
            return e.record
        if e.path is None:
            raise RuntimeError(f"LatentStore: entry {e.entry_id} has neither a record nor a file")
        return e.path.read_bytes()

    def entry_path(self, entry_id: str) -> Path:
        if self.entries_dir is None:
            raise RuntimeError("LatentStore.entry_path: this store has no directory")
        return self.entries_dir / f"{entry_id}{ENTRY_SUFFIX}"
