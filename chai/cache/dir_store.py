"""The embedded store: entries in RAM, or one file per entry under ``<directory>/<namespace>/``.

Layout: ``entries/<entry_id>.chce`` (one record each, ``chai.cache.record``), ``tmp/`` (writes in
flight), ``namespace.json`` (embedder, dim, matching of the namespace) and ``.lock``.

* One owner: the opening process holds an exclusive ``flock`` on ``.lock`` for as long as the store is
  open; a second open of the same namespace, in any process, gets RuntimeError. The lock file is never
  deleted (not even by :meth:`DirectoryStore.clear_directory`): deleting it would let two opens lock two
  different files. A store inherited through ``fork()`` refuses to work in the child (the child would
  share the parent's lock and write behind its back): open a new cache there.
* Crash safety: a record goes to ``tmp/`` first, is fsync'ed, then ``os.replace``d into ``entries/`` and
  the folder is fsync'ed. A crash leaves the complete old state or the complete new file; leftovers in
  ``tmp/`` are deleted on open. Recency (LRU order) is persisted as the file's mtime (nanoseconds,
  strictly increasing per process), refreshed on every hit.
* Every read is bounded (``chai.cache.record.read_regular``): only regular files are read (a symlink to
  ``/dev/zero``, a FIFO or a device is refused without blocking), each after checking its size against
  the budget (entries) or 64 KiB (``namespace.json``). Open validates every record
  (``decode_record`` plus the cache's own checks) and drops what fails, with a warning; it never fails
  because of a bad file.
* Files are created owner-only (``0600``, folders ``0700``) unless ``file_mode`` says otherwise: they hold
  prompts in plain text.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from chai.cache.record import (
    ENTRY_SUFFIX,
    MAX_RECORD_BYTES,
    atomic_write,
    decode_record,
    fsync_dir,
    read_regular,
    valid_entry_id,
    write_tmp,
)
from chai.cache.contract import NAMESPACE_RE, Change, EntryHead, EntryStore, check_namespace

__all__ = ["DirectoryStore"]

_NS_META = "namespace.json"
#: namespace.json holds a handful of short settings; anything larger is not ours and is never read.
_NS_META_LIMIT = 64 << 10
_LOCK_NAME = ".lock"


def _dir_mode(file_mode: int) -> int:
    """Folder permissions matching ``file_mode``: search permission wherever read permission is given."""
    return file_mode | ((file_mode & 0o444) >> 2)


class _Clock:
    """Strictly increasing nanosecond timestamps (wall-clock based, so they persist as file mtimes)."""

    def __init__(self):
        self._last = 0

    def __call__(self) -> int:
        self._last = max(time.time_ns(), self._last + 1)
        return self._last

    def observe(self, t: int) -> None:
        self._last = max(self._last, int(t))


@dataclass
class _Slot:
    nbytes: int
    last_used: int
    record: bytes | None = None  # RAM mode
    path: Path | None = None  # directory mode


def _check_id(entry_id) -> str:
    if not valid_entry_id(entry_id):
        raise ValueError(
            f"cache store: entry id {entry_id!r:.80} is not 32 lowercase hex digits.\n"
            "HINT: pass an id returned by LatentCache.insert."
        )
    return entry_id


class DirectoryStore(EntryStore):
    """Entries of one namespace in RAM (``directory=None``) or under ``directory/namespace/``.

    Not thread-safe by itself: the cache holds its lock around every call.
    """

    def __init__(self, directory: Path | None, *, namespace: str, budget_bytes: int, check_head,
                 vector_nbytes: int = 0, file_mode: int = 0o600, config: dict | None = None,
                 config_keys: tuple[str, ...] = ()):
        self.namespace = check_namespace(namespace)
        self.vector_nbytes = int(vector_nbytes)
        self.budget_bytes = int(budget_bytes)
        self.backend = "memory" if directory is None else "dir"
        self._check_head = check_head
        self._file_mode = int(file_mode)
        self._slots: OrderedDict[str, _Slot] = OrderedDict()  # least recently used first
        self._bytes = 0
        self._clock = _Clock()
        self._changes: list[Change] = []
        self._snapshotted = False  # changes() asks for a snapshot until the first one was taken
        self._opened: dict[str, object] = {}  # heads decoded by the open, served by the first snapshot
        self._pid = os.getpid()
        self._lock_fd: int | None = None
        self.dropped = 0
        self.partial_removed = 0
        self.evicted_on_open = 0
        self.directory = directory
        self.ns_dir = self.entries_dir = self.tmp_dir = None
        self._config, self._config_keys = dict(config or {}), tuple(config_keys)
        if directory is not None:
            self._open_directory(Path(directory))

    # -- directory: layout, lock, recovery ---------------------------------------------------------------------
    def _open_directory(self, directory: Path) -> None:
        if directory.exists() and not directory.is_dir():
            raise NotADirectoryError(
                f"LatentCache: cache directory {str(directory)!r} exists and is a file, not a folder.\n"
                "HINT: pass a folder path (it is created if missing), e.g. --cache ~/.cache/chai."
            )
        self.ns_dir = directory / self.namespace
        self.entries_dir, self.tmp_dir = self.ns_dir / "entries", self.ns_dir / "tmp"
        self._make_dirs(directory, self.ns_dir)
        self._lock_fd = self._acquire_lock(self.ns_dir, self._file_mode)
        try:
            # Under the lock: a clear that ran before we got it may have removed the subfolders.
            self._make_dirs(self.entries_dir, self.tmp_dir)
            # The namespace's configuration first: a cache with another embedder must be refused before any
            # entry is judged (and dropped) by that embedder's standards.
            self.check_config(self._config, self._config_keys)
            self._recover()
        except BaseException:
            self._release_lock()
            raise

    def _make_dirs(self, *dirs: Path) -> None:
        mode = _dir_mode(self._file_mode)
        for d in dirs:
            if d.is_dir():
                continue
            try:
                d.mkdir(parents=True)
            except FileExistsError:
                continue  # made by a concurrent open
            if d != self.directory:
                os.chmod(d, mode)

    @staticmethod
    def _acquire_lock(ns_dir: Path, file_mode: int = 0o600, *, what: str = "open") -> int:
        fd = os.open(str(ns_dir / _LOCK_NAME), os.O_RDWR | os.O_CREAT, file_mode)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise RuntimeError(
                f"LatentCache: cannot {what} {ns_dir}: the namespace is in use by another LatentCache (this or "
                "another process).\nHINT: close the other instance first, use another namespace, or share one "
                "cache between processes through Redis (location redis://host:port/db)."
            ) from None
        return fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None and os.getpid() == self._pid:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            finally:
                os.close(self._lock_fd)
        self._lock_fd = None

    def _check_process(self) -> None:
        if os.getpid() != self._pid:
            raise RuntimeError(
                f"LatentCache: this cache was opened in process {self._pid} and inherited through fork() by "
                f"process {os.getpid()}; a forked copy would write behind its owner's back.\n"
                "HINT: open a new LatentCache in the child process (or share one cache through Redis)."
            )

    def check_config(self, want: dict, compare: tuple[str, ...]) -> None:
        self._check_process()
        if self.ns_dir is None:
            return
        path = self.ns_dir / _NS_META
        have = None
        if path.is_dir() and not path.is_symlink():
            raise ValueError(
                f"LatentCache: {path} is a directory; this file holds the namespace's settings.\n"
                f"HINT: move that directory out of {self.ns_dir} (the cache never deletes what it did not write)."
            )
        if os.path.lexists(path):
            reason = "not valid JSON"
            try:
                have = json.loads(read_regular(path, _NS_META_LIMIT)[0].decode("utf-8"))
            except (OSError, ValueError, RecursionError) as exc:
                have, reason = None, str(exc).splitlines()[0]
            if not isinstance(have, dict):
                warnings.warn(f"LatentCache: {path} is unreadable ({reason}); rewriting it.", RuntimeWarning,
                              stacklevel=4)
                have = None
        if have is not None:
            diff = [k for k in compare if have.get(k) != want.get(k)]
            if diff:
                raise ValueError(
                    f"LatentCache: {self.ns_dir} was created with "
                    + ", ".join(f"{k}={have.get(k)!r}" for k in diff)
                    + " but this cache uses "
                    + ", ".join(f"{k}={want.get(k)!r}" for k in diff)
                    + "; vectors from different embedders or matching modes are not comparable.\n"
                    "HINT: open it with the same embedder and matching, use another namespace, or wipe it with "
                    "LatentCache.clear_location(location, namespace)."
                )
            return
        atomic_write(path, json.dumps(want, indent=1).encode(), self.tmp_dir, self._file_mode)

    def _recover(self) -> None:
        # 1. Leftovers of interrupted inserts: never completed, so never visible. Delete them.
        for tmp in self.tmp_dir.iterdir():
            try:
                tmp.unlink()
                self.partial_removed += 1
            except OSError:
                pass
        if self.partial_removed:
            warnings.warn(
                f"LatentCache: removed {self.partial_removed} partial write(s) left in {self.tmp_dir} by an "
                "interrupted insert.", RuntimeWarning, stacklevel=5,
            )
        # 2. Entry files: size-check, verify, then rebuild LRU order from the persisted recency (mtime).
        found = []
        limit = min(self.budget_bytes, MAX_RECORD_BYTES)
        for path in self.entries_dir.iterdir():
            if path.suffix != ENTRY_SUFFIX:
                continue
            try:
                # Never read a file that could not fit anyway (a 2 GiB file costs nothing), nor a link, FIFO or device.
                buf, st = read_regular(path, limit)
                rec = decode_record(buf, with_payload=False)
                problem = None if rec.entry_id == path.stem else f"entry id {rec.entry_id!r} != its file name"
                problem = problem or self._check_head(rec)
                if problem:
                    raise ValueError(problem)
            except (OSError, ValueError) as exc:
                self._drop_file(path, exc)
                continue
            # Charged as the cache charges an insert: the record plus the index's copy of each vector.
            found.append((st.st_mtime_ns, st.st_size + len(rec.keys) * self.vector_nbytes, path))
            self._opened[path.stem] = rec
        found.sort(key=lambda f: f[0])
        for mtime, nbytes, path in found:
            self._clock.observe(mtime)
            slot = _Slot(nbytes=nbytes, last_used=mtime, path=path)
            if slot.nbytes > self.budget_bytes:
                self._opened.pop(path.stem, None)
                self._unlink(path)
                self.evicted_on_open += 1
                continue
            self.evicted_on_open += len(self._evict_until(slot.nbytes))  # a smaller budget than last time
            self._slots[path.stem] = slot
            self._bytes += slot.nbytes
        self._changes.clear()

    def _drop_file(self, path: Path, exc: Exception) -> None:
        reason = str(exc).split("\n")[0]
        self.dropped += 1
        warnings.warn(f"LatentCache: dropping cache entry file {path.name}: {reason}", RuntimeWarning, stacklevel=5)
        self._unlink(path)

    @staticmethod
    def _unlink(path: Path) -> None:
        try:
            path.unlink()
        except OSError:
            pass

    # -- the contract --------------------------------------------------------------------------------------------
    def _read(self, entry_id: str, slot: _Slot) -> bytes:
        if slot.record is not None:
            return slot.record
        return read_regular(slot.path, min(self.budget_bytes, MAX_RECORD_BYTES))[0]

    def snapshot(self) -> list[EntryHead]:
        self._check_process()
        heads = []
        opened, self._opened = self._opened, {}  # the open already read and verified every file: not twice
        for entry_id, slot in list(self._slots.items()):
            try:
                rec = opened.get(entry_id) or decode_record(self._read(entry_id, slot), with_payload=False)
            except (OSError, ValueError) as exc:  # damaged since open
                self._remove(entry_id)
                self._changes.clear()
                self.dropped += 1
                warnings.warn(f"LatentCache: dropping damaged entry {entry_id}: {str(exc).splitlines()[0]}",
                              RuntimeWarning, stacklevel=4)
                continue
            heads.append(EntryHead.of(rec, slot.nbytes, slot.last_used))
        self._changes.clear()
        self._snapshotted = True
        return heads

    def changes(self) -> list[Change] | None:
        self._check_process()
        if not self._snapshotted:
            return None
        out, self._changes = self._changes, []
        # As in every store: an insert already gone again is reported by its "del" alone.
        return [c for c in out if c.op != "add" or c.entry_id in self._slots]

    def put(self, entry_id: str, record: bytes, head: bytes, nbytes: int) -> list[str]:
        self._check_process()
        _check_id(entry_id)
        nbytes = int(nbytes)
        if nbytes > self.budget_bytes:
            raise ValueError(
                f"LatentCache: the entry needs {nbytes} bytes but the whole budget is {self.budget_bytes} bytes.\n"
                "HINT: raise budget_bytes, or store fewer / smaller latents (quant_dtype=torch.int8)."
            )
        if entry_id in self._slots:
            raise ValueError(f"LatentCache: entry {entry_id} is already stored.\nHINT: use a fresh entry id.")
        head_rec = decode_record(head, with_payload=False)
        path = tmp = None
        if self.entries_dir is not None:
            tmp = write_tmp(self.tmp_dir, entry_id, record, self._file_mode)  # fsync'ed before it becomes visible
        try:
            evicted = self._evict_until(nbytes)
            now = self._clock()
            if tmp is not None:
                path = self.entries_dir / f"{entry_id}{ENTRY_SUFFIX}"
                os.replace(tmp, path)
                tmp = None
                fsync_dir(path.parent)
                try:
                    os.utime(path, ns=(now, now))
                except OSError:
                    pass
            self._slots[entry_id] = _Slot(nbytes=nbytes, last_used=now, record=None if path else bytes(record),
                                          path=path)
            self._bytes += nbytes
            self._changes.append(Change("add", entry_id, EntryHead.of(head_rec, nbytes, now)))
            return evicted
        finally:
            if tmp is not None:
                self._unlink(tmp)

    def _evict_until(self, incoming: int) -> list[str]:
        evicted = []
        while self._bytes + incoming > self.budget_bytes:
            if not self._slots:
                raise RuntimeError("LatentCache: budget accounting is inconsistent (empty store over budget)")
            entry_id = next(iter(self._slots))
            self._remove(entry_id)
            evicted.append(entry_id)
        return evicted

    def _remove(self, entry_id: str) -> None:
        slot = self._slots.pop(entry_id)
        self._bytes -= slot.nbytes
        if slot.path is not None:
            self._unlink(slot.path)
        self._changes.append(Change("del", entry_id))

    def get(self, entry_id: str) -> bytes | None:
        self._check_process()
        slot = self._slots.get(_check_id(entry_id))
        if slot is None:
            return None
        if slot.path is not None:
            try:
                return read_regular(slot.path, min(self.budget_bytes, MAX_RECORD_BYTES))[0]
            except OSError:
                return None
            except ValueError as exc:  # replaced since it was written: too large, a link, a FIFO, a device
                raise ValueError(f"cache entry record: {exc}") from None
        return slot.record

    def touch(self, entry_id: str) -> None:
        self._check_process()
        slot = self._slots.get(_check_id(entry_id))
        if slot is None:
            return
        slot.last_used = self._clock()
        self._slots.move_to_end(entry_id)
        if slot.path is not None:
            try:
                os.utime(slot.path, ns=(slot.last_used, slot.last_used))
            except OSError:
                pass  # recency is advisory on disk; the entry stays valid

    def remove(self, entry_id: str) -> bool:
        self._check_process()
        if _check_id(entry_id) not in self._slots:
            return False
        self._remove(entry_id)
        return True

    def clear(self) -> int:
        self._check_process()
        ids = list(self._slots)
        for entry_id in ids:
            self._remove(entry_id)
        return len(ids)

    def lru_ids(self) -> list[str]:
        return list(self._slots)

    def __len__(self) -> int:
        return len(self._slots)

    def bytes_used(self) -> int:
        return self._bytes

    def entry_nbytes(self, entry_id: str) -> int | None:
        slot = self._slots.get(entry_id)
        return None if slot is None else slot.nbytes

    def last_used(self, entry_id: str) -> int | None:
        slot = self._slots.get(entry_id)
        return None if slot is None else slot.last_used

    def entry_path(self, entry_id: str) -> Path:
        if self.entries_dir is None:
            raise RuntimeError("DirectoryStore.entry_path: this store has no directory")
        return self.entries_dir / f"{_check_id(entry_id)}{ENTRY_SUFFIX}"

    def files(self) -> set[str]:
        """Entry ids that have a file on disk (consistency checks)."""
        if self.entries_dir is None:
            return set(self._slots)
        return {p.stem for p in self.entries_dir.glob(f"*{ENTRY_SUFFIX}")}

    @property
    def location(self) -> str:
        return "" if self.directory is None else str(self.directory)

    def stats(self) -> dict:
        return {"backend": self.backend, "location": self.location or None, "errors": 0,
                "partial_removed": self.partial_removed, "store_dropped": self.dropped,
                "evicted_on_open": self.evicted_on_open}

    def close(self) -> None:
        self._release_lock()

    def __del__(self):
        try:
            self._release_lock()
        except Exception:
            pass

    # -- folder tools (``chai cache stats|clear``) -----------------------------------------------------------
    @staticmethod
    def list_namespaces(directory) -> list[str]:
        d = Path(directory)
        if not d.is_dir():
            return []
        return sorted(p.name for p in d.iterdir() if p.is_dir() and NAMESPACE_RE.fullmatch(p.name)
                      and ((p / "entries").is_dir() or (p / _NS_META).exists()))

    @staticmethod
    def namespace_stats(directory, ns: str) -> dict:
        ns_dir = Path(directory) / ns
        info = {"entries": 0, "bytes_used": 0, "record_bytes": 0, "corrupt": 0, "partial": 0,
                "embedder": None, "dim": None, "matching": None}
        try:
            meta = json.loads(read_regular(ns_dir / _NS_META, _NS_META_LIMIT)[0].decode("utf-8"))
            if isinstance(meta, dict):
                info.update(embedder=meta.get("embedder"), dim=meta.get("dim"), matching=meta.get("matching"))
        except (OSError, ValueError, RecursionError):
            pass
        if (ns_dir / "tmp").is_dir():
            info["partial"] = sum(1 for _ in (ns_dir / "tmp").iterdir())
        entries_dir = ns_dir / "entries"
        if entries_dir.is_dir():
            for path in entries_dir.glob(f"*{ENTRY_SUFFIX}"):
                try:
                    buf = read_regular(path, MAX_RECORD_BYTES)[0]
                    rec = decode_record(buf, with_payload=False)
                    if rec.namespace != ns or rec.entry_id != path.stem:
                        raise ValueError("foreign entry")
                except (OSError, ValueError):
                    info["corrupt"] += 1
                    continue
                info["entries"] += 1
                info["record_bytes"] += len(buf)
                info["bytes_used"] += len(buf) + len(rec.keys) * (4 * rec.vectors.shape[1] + 16)
        return info

    @staticmethod
    def clear_namespace(directory, ns: str) -> int:
        check_namespace(ns, "LatentCache.clear_location")
        ns_dir = Path(directory) / ns
        if not ns_dir.is_dir():
            return 0
        removed = 0
        fd = DirectoryStore._acquire_lock(ns_dir, what="clear")
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
            # The lock file stays: unlinking it while another open waits on it would give two owners.
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        return removed
