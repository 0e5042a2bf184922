"""Entry records: the one byte format of a cache entry, shared by every store.

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
24        meta_len    JSON (UTF-8): entry_id, namespace, prompt, keys, dim, embedder, matching, model,
                      latent_shape, latent_nbytes[], masks[{key, shape, nbytes}], created_ns
...       body_len    body: vectors (n_keys x dim float32) | latent blobs (``QuantizedLatent.to_bytes``,
                      each with its own header and CRC) | masks (``numpy.packbits`` of each (T, S) mask)
end - 4   4           CRC32 of meta + body
========  ==========  ====================================================================

The *head* of an entry is the same format without latents and masks (``head_of``): what a worker needs
to index the entry (keys, vectors, shape, model) without fetching megabytes of latents. The Redis store
keeps it beside the record; the directory store reads it out of the record.

A CRC only proves that nobody changed the bytes by accident. Anyone who can write the store (a local
user with access to the directory, any client with write access to the Redis server) can forge a record
with a valid CRC, so :func:`decode_record` validates every field before anything is allocated or used:
sizes against the buffer and against hard limits, types of every metadata field (JSON nesting is bounded),
mask shapes against the latent frame count, vectors finite and unit-norm. Anything else raises ValueError;
callers drop such an entry, it is never fatal. ``QuantizedLatent.from_bytes`` checks the latent blobs.

Byte accounting: an entry costs ``len(record) + n_keys * index.vector_nbytes()``, i.e. everything in the
record (latent data, scales, latent headers, vectors, masks, prompt and entity strings, JSON, header,
CRC) plus the index's own copy of each vector and its id.
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
import struct
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "MAX_HEAD_BYTES",
    "MAX_RECORD_BYTES",
    "RECORD_MAGIC",
    "RECORD_VERSION",
    "EntryHead",
    "EntryRecord",
    "atomic_write",
    "decode_record",
    "encode_record",
    "fsync_dir",
    "head_of",
    "new_entry_id",
    "read_regular",
    "record_nbytes",
    "valid_entry_id",
]

RECORD_MAGIC = b"CHCE"
RECORD_VERSION = 1
_HEAD = struct.Struct("<4sHHIQ")  # magic, version, flags, meta_len, body_len
_HEAD_SIZE = _HEAD.size + 4  # + header CRC32 = 24
_TRAILER = 4
ENTRY_SUFFIX = ".chce"

#: Hard limits a record must respect before anything it declares is allocated. Generous for real entries
#: (a 720p 102-frame fp32 entry is ~60 MB) and small enough that a forged header cannot ask for a terabyte.
MAX_RECORD_BYTES = 1 << 30
MAX_META_BYTES = 1 << 20
MAX_KEYS = 64
MAX_KEY_CHARS = 8192
MAX_DIM = 8192
MAX_LATENTS = 16
MAX_MASK_ELEMENTS = 1 << 26
#: The largest head record (no latents, no masks) these limits allow: a Redis store refuses larger head values on
#: the server, before they are sent.
MAX_HEAD_BYTES = 24 + MAX_META_BYTES + MAX_KEYS * MAX_DIM * 4 + 4
#: A stored vector must be unit-norm to this tolerance: a planted vector of norm 10 would win every lookup.
UNIT_NORM_TOL = 1e-3
MATCHING_KINDS = ("entity", "prompt")


def new_entry_id() -> str:
    """A fresh entry id: 32 lowercase hex digits (also the entry's file name stem and Redis key suffix)."""
    return uuid.uuid4().hex


def valid_entry_id(s) -> bool:
    """True for 32 lowercase hex digits, the only entry ids any store accepts (no path or key injection)."""
    return isinstance(s, str) and len(s) == 32 and all(c in "0123456789abcdef" for c in s)


@dataclass
class EntryRecord:
    """A decoded entry record.

    vectors:      (n_keys, dim) float32, row i embeds ``keys[i]``, unit-norm.
    latent_blobs: one ``QuantizedLatent.to_bytes()`` blob per latent (all of shape ``latent_shape``).
    masks:        key -> (T, S) bool numpy array, for the keys that have a token mask.
    model:        identity of the model that made the latents ("" = unspecified); only requests for the
                  same model can match the entry.
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
    model: str = ""


@dataclass(frozen=True)
class EntryHead:
    """What an index needs of one stored entry (decoded and validated from its head record)."""

    entry_id: str
    prompt: str
    keys: tuple[str, ...]
    vectors: np.ndarray  # (len(keys), dim) float32, unit-norm
    latent_shape: tuple[int, ...]
    model: str
    nbytes: int  # what the entry costs against the budget
    last_used: int  # recency at snapshot time (larger = more recent; comparable within one store)

    @classmethod
    def of(cls, rec: EntryRecord, nbytes: int, last_used: int) -> EntryHead:
        """The head of a decoded record, charged ``nbytes`` and last used at ``last_used``."""
        return cls(entry_id=rec.entry_id, prompt=rec.prompt, keys=tuple(rec.keys), vectors=rec.vectors,
                   latent_shape=tuple(rec.latent_shape), model=rec.model, nbytes=int(nbytes),
                   last_used=int(last_used))


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
        "model": rec.model,
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


def head_of(rec: EntryRecord) -> bytes:
    """The entry's *head* record: ``rec`` without latents and masks (what an index needs)."""
    return encode_record(
        EntryRecord(
            entry_id=rec.entry_id, namespace=rec.namespace, prompt=rec.prompt, keys=list(rec.keys),
            vectors=rec.vectors, latent_shape=tuple(rec.latent_shape), latent_blobs=[], masks={},
            embedder=rec.embedder, matching=rec.matching, created_ns=rec.created_ns, model=rec.model,
        )
    )


def record_nbytes(*, meta_json_nbytes: int, n_keys: int, dim: int, latent_nbytes: list[int],
                  mask_nbytes: list[int] = ()) -> int:
    """Length of a record with the given parts (used for size estimates without serialising)."""
    return _HEAD_SIZE + meta_json_nbytes + n_keys * dim * 4 + sum(latent_nbytes) + sum(mask_nbytes) + _TRAILER


def _corrupt(msg: str) -> ValueError:
    return ValueError(f"cache entry record: {msg}.\nHINT: the entry is damaged or forged; it is dropped, not loaded.")


def record_length(prefix: bytes) -> int:
    """Total record length announced by the first 24 bytes of a record (header CRC checked), so a reader can
    refuse an oversized record before reading or allocating it. ValueError when the header is bad."""
    if len(prefix) < _HEAD_SIZE:
        raise _corrupt(f"{len(prefix)} bytes is shorter than the {_HEAD_SIZE}-byte header (truncated)")
    magic, version, _flags, meta_len, body_len = _HEAD.unpack_from(prefix, 0)
    if magic != RECORD_MAGIC:
        raise _corrupt(f"wrong magic {magic!r} (expected {RECORD_MAGIC!r})")
    if version != RECORD_VERSION:
        raise _corrupt(f"format version {version} is not supported (this build reads {RECORD_VERSION})")
    (head_crc,) = struct.unpack_from("<I", prefix, _HEAD.size)
    if zlib.crc32(bytes(prefix[: _HEAD.size])) != head_crc:
        raise _corrupt("header CRC32 mismatch")
    if meta_len > MAX_META_BYTES:
        raise _corrupt(f"metadata of {meta_len} bytes exceeds the {MAX_META_BYTES}-byte limit")
    total = _HEAD_SIZE + meta_len + body_len + _TRAILER
    if total > MAX_RECORD_BYTES:
        raise _corrupt(f"record of {total} bytes exceeds the {MAX_RECORD_BYTES}-byte limit")
    return total


def _int(v, what: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise _corrupt(f"{what} must be an int in [{lo}, {hi}]; got {v!r:.60}")
    return v


def _str(v, what: str, max_chars: int) -> str:
    if not isinstance(v, str) or len(v) > max_chars:
        raise _corrupt(f"{what} must be a string of at most {max_chars} characters; got {type(v).__name__}")
    return v


def _list(v, what: str, max_len: int) -> list:
    if not isinstance(v, list) or len(v) > max_len:
        raise _corrupt(f"{what} must be a list of at most {max_len} items; got {type(v).__name__}")
    return v


def _parse_meta(meta_b) -> dict:
    try:
        meta = json.loads(bytes(meta_b).decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # RecursionError: deeply nested JSON
        raise _corrupt(f"metadata is not valid JSON ({type(exc).__name__})") from None
    if not isinstance(meta, dict):
        raise _corrupt(f"metadata must be a JSON object; got {type(meta).__name__}")
    return meta


def decode_record(buf: bytes, *, with_payload: bool = True) -> EntryRecord:
    """Parse and verify a record. ``with_payload=False`` skips slicing latent blobs and masks (faster open).

    The whole-record CRC is always verified and every metadata field validated (module docstring).
    Raises ValueError on any inconsistency; nothing partially decoded is ever returned.
    """
    n = len(buf)
    if n < _HEAD_SIZE + _TRAILER:
        raise _corrupt(f"{n} bytes is shorter than the {_HEAD_SIZE + _TRAILER}-byte minimum (truncated)")
    expected = record_length(buf[:_HEAD_SIZE])
    _, _, _, meta_len, body_len = _HEAD.unpack_from(buf, 0)
    if n != expected:
        raise _corrupt(f"{n} bytes but the header announces {expected} ({'truncated' if n < expected else 'trailing data'})")
    mv = memoryview(buf)
    meta_b = mv[_HEAD_SIZE: _HEAD_SIZE + meta_len]
    body = mv[_HEAD_SIZE + meta_len: _HEAD_SIZE + meta_len + body_len]
    (crc,) = struct.unpack_from("<I", buf, n - _TRAILER)
    if zlib.crc32(body, zlib.crc32(meta_b)) != crc:
        raise _corrupt("payload CRC32 mismatch")
    meta = _parse_meta(meta_b)
    try:
        entry_id = meta["entry_id"]
        keys = _list(meta["keys"], "keys", MAX_KEYS)
        dim = _int(meta["dim"], "dim", 1, MAX_DIM)
        lat_n = _list(meta["latent_nbytes"], "latent_nbytes", MAX_LATENTS)
        masks_meta = _list(meta["masks"], "masks", MAX_KEYS)
        shape_l = _list(meta["latent_shape"], "latent_shape", 5)
    except KeyError as exc:
        raise _corrupt(f"metadata lacks the field {exc}") from None
    if not valid_entry_id(entry_id):
        raise _corrupt(f"bad entry id {entry_id!r:.80}")
    if not keys:
        raise _corrupt("the entry has no keys")
    keys = [_str(k, "each key", MAX_KEY_CHARS) for k in keys]
    if len(shape_l) != 5:
        raise _corrupt(f"latent_shape must have 5 sizes (B, C, T, H, W); got {len(shape_l)}")
    latent_shape = tuple(_int(s, "latent_shape[i]", 1, 1 << 20) for s in shape_l)
    if math.prod(latent_shape) > 1 << 34:
        raise _corrupt(f"latent_shape {latent_shape} is absurdly large")
    lat_n = [_int(x, "latent_nbytes[i]", 1, MAX_RECORD_BYTES) for x in lat_n]
    t_frames = latent_shape[2]
    mask_specs = []
    for m in masks_meta:
        if not isinstance(m, dict):
            raise _corrupt(f"each mask description must be an object; got {type(m).__name__}")
        key = _str(m.get("key"), "mask key", MAX_KEY_CHARS)
        if key not in keys:
            raise _corrupt(f"mask for {key!r:.60}, which is not one of the entry's keys")
        shp = _list(m.get("shape"), "mask shape", 2)
        if len(shp) != 2:
            raise _corrupt(f"mask shape must be (T, S); got {shp!r:.60}")
        t, s_tok = (_int(x, "mask shape[i]", 1, MAX_MASK_ELEMENTS) for x in shp)
        if t != t_frames or t * s_tok > MAX_MASK_ELEMENTS:
            raise _corrupt(f"mask shape ({t}, {s_tok}) does not fit the latent's {t_frames} frames")
        nb = _int(m.get("nbytes"), "mask nbytes", 1, MAX_MASK_ELEMENTS)
        if nb != (t * s_tok + 7) // 8:
            raise _corrupt(f"mask nbytes {nb} != ceil({t} * {s_tok} / 8)")
        mask_specs.append((key, (t, s_tok), nb))
    vec_n = len(keys) * dim * 4
    if vec_n + sum(lat_n) + sum(nb for *_, nb in mask_specs) != body_len:
        raise _corrupt("body length does not match the metadata")
    matching = meta.get("matching", "entity")
    if matching not in MATCHING_KINDS:
        raise _corrupt(f"matching {matching!r:.40} is not one of {MATCHING_KINDS}")
    namespace = _str(meta.get("namespace", ""), "namespace", 64)
    prompt = _str(meta.get("prompt", ""), "prompt", 1 << 20)
    embedder = _str(meta.get("embedder", ""), "embedder", 256)
    model = _str(meta.get("model", ""), "model", 1024)
    created_ns = _int(meta.get("created_ns", 0), "created_ns", 0, 1 << 63)
    vectors = np.frombuffer(body[:vec_n], dtype="<f4").astype(np.float32).reshape(len(keys), dim)
    if not np.isfinite(vectors).all():
        raise _corrupt("a vector holds NaN or Inf")
    norms = np.linalg.norm(vectors, axis=1)
    if np.abs(norms - 1.0).max() > UNIT_NORM_TOL:
        raise _corrupt(f"vectors must be unit-norm; got norms {np.round(norms, 4).tolist()[:4]}")
    blobs: list[bytes] = []
    masks: dict[str, np.ndarray] = {}
    if with_payload:
        off = vec_n
        for ln in lat_n:
            blobs.append(bytes(body[off: off + ln]))
            off += ln
        for key, shape, ln in mask_specs:
            bits = np.unpackbits(np.frombuffer(body[off: off + ln], dtype=np.uint8), count=shape[0] * shape[1])
            masks[key] = bits.astype(bool).reshape(shape)
            off += ln
    return EntryRecord(
        entry_id=entry_id, namespace=namespace, prompt=prompt, keys=keys, vectors=vectors,
        latent_shape=latent_shape, latent_blobs=blobs, masks=masks, embedder=embedder, matching=matching,
        created_ns=created_ns, model=model,
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


def read_regular(path: Path, limit: int) -> tuple[bytes, os.stat_result]:
    """Read a regular file of at most ``limit`` bytes; returns its bytes and its ``fstat``.

    Every read of a store's files goes through here, so no file can make a reader hang or allocate without
    bound: a symbolic link (an entry pointing at ``/dev/zero``) is refused by ``O_NOFOLLOW``, a FIFO opens
    without blocking (``O_NONBLOCK``) and, like a device or a directory, is refused by its ``fstat``; a file
    larger than ``limit`` is refused before reading, and at most ``limit + 1`` bytes are ever read (a file
    growing meanwhile is refused too). Raises ValueError for all of these, OSError when the file cannot be
    opened at all (missing, no permission).
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(str(path), flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValueError(f"{path} is a symbolic link; only regular files are read") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = ("a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                    else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "not a file")
            raise ValueError(f"{path} is {kind}; only regular files are read")
        if st.st_size > limit:
            raise ValueError(f"{path} holds {st.st_size} bytes, which exceed the budget or size limit of {limit} "
                             "bytes (not read)")
        chunks, n = [], 0
        while n <= limit:
            chunk = os.read(fd, min(limit + 1 - n, 1 << 24))
            if not chunk:
                break
            chunks.append(chunk)
            n += len(chunk)
        if n > limit:
            raise ValueError(f"{path} grew past the {limit}-byte limit while it was read")
        return b"".join(chunks), st
    finally:
        os.close(fd)


def write_tmp(tmp_dir: Path, name: str, data: bytes, mode: int = 0o600) -> Path:
    """Write ``data`` to a fresh file (permissions ``mode``) in ``tmp_dir`` and fsync it; returns its path."""
    tmp = tmp_dir / f"{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
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


def atomic_write(final: Path, data: bytes, tmp_dir: Path | None = None, mode: int = 0o600) -> None:
    """Write ``final`` atomically: temporary file, fsync, ``os.replace``, fsync of the directory."""
    tmp_dir = tmp_dir or final.parent
    tmp = write_tmp(tmp_dir, final.name, data, mode)
    try:
        os.replace(tmp, final)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    fsync_dir(final.parent)
