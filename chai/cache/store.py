"""The store contract of the latent cache: bytes, LRU order and the byte budget of one namespace.

A store keeps entry *records* (``chai.cache.record``: latents, masks, vectors, prompt) in LRU order under
a byte budget and knows nothing about entities or vectors beyond storing them. Two implementations share
this contract and one test suite (``tests/chai/test_cache_store_contract.py``):

* :class:`~chai.cache.dir_store.DirectoryStore` (``"dir"``): files under ``<directory>/<namespace>/``,
  one process per namespace (an ``flock``), or RAM only when no directory is given (``"memory"``).
* :class:`~chai.cache.redis_store.RedisStore` (``"redis"``): one namespace shared by a fleet of worker
  processes through a Redis server; budget and LRU live in Redis and change in atomic server-side steps.

Locations (:func:`parse_location`): ``None`` (RAM), a directory path or ``dir:///abs/path``,
``redis://[user:pass@]host:port/db``, ``rediss://...`` (TLS) and ``unix:///path/to/redis.sock[?db=N]``.

Each stored entry has a *head* (the record without latents and masks) that a worker's vector index is
built from: :meth:`EntryStore.snapshot` returns every head in LRU order, :meth:`EntryStore.changes` the
inserts and removals made since (by this process or, for Redis, by any worker). A store raises
:class:`StoreUnavailable` when its backend cannot be reached; the cache then treats a lookup as a miss
and skips the insert (a generation never fails because of the cache).
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

__all__ = [
    "NAMESPACE_RE",
    "Change",
    "EntryHead",
    "EntryStore",
    "StoreUnavailable",
    "open_store",
    "parse_location",
]

#: Tenant names: 1-64 characters from [A-Za-z0-9._-], starting with a letter or digit (``fullmatch``: no
#: trailing newline sneaks through).
NAMESPACE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_namespace(namespace, where: str = "LatentCache") -> str:
    if not isinstance(namespace, str) or not NAMESPACE_RE.fullmatch(namespace):
        raise ValueError(
            f"{where}: namespace={namespace!r} is not a valid tenant name.\n"
            "HINT: use 1-64 characters from [A-Za-z0-9._-], starting with a letter or digit."
        )
    return namespace


class StoreUnavailable(RuntimeError):
    """The store's backend cannot be reached right now (the cache counts it and carries on)."""


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


@dataclass(frozen=True)
class Change:
    """One change of a namespace since the last snapshot: ``op`` is "add" (with ``head``) or "del"."""

    op: str
    entry_id: str
    head: EntryHead | None = None


#: Validates a decoded head record against the opening cache (namespace, embedder, dim); returns a problem
#: string, or None when the entry is acceptable. Entries with a problem are dropped by the store.
HeadCheck = Callable[["object"], "str | None"]


class EntryStore(ABC):
    """One namespace's entries in LRU order under ``budget_bytes`` (see the module docstring).

    Every method may raise :class:`StoreUnavailable` (Redis down). ``put`` is atomic: either the entry and
    every eviction it needed are visible together, or nothing changed. Entry ids are 32 lowercase hex
    digits (``chai.cache.record.valid_entry_id``); anything else is refused with ValueError.
    """

    backend: str
    namespace: str
    budget_bytes: int

    @abstractmethod
    def check_config(self, want: dict, compare: tuple[str, ...]) -> None:
        """Record the namespace's configuration (embedder, dim, matching, ...) on first use; raise ValueError
        with a HINT when an existing namespace was created with different values for the ``compare`` keys.
        Stores call it on open, before any stored entry is read."""

    @abstractmethod
    def snapshot(self) -> list[EntryHead]:
        """Every valid entry's head, least recently used first; resets :meth:`changes` to "after this"."""

    @abstractmethod
    def changes(self) -> list[Change] | None:
        """Inserts and removals since the last snapshot / changes call, oldest first; None when they cannot
        be known (the store was reset or restarted, or the change log was trimmed): call :meth:`snapshot`.
        An insert whose entry is gone again by the time of the call is reported by its "del" alone."""

    @abstractmethod
    def put(self, entry_id: str, record: bytes, head: bytes, nbytes: int) -> list[str]:
        """Store one entry as most recently used, evicting least-recently-used entries until it fits.
        Returns the evicted ids. ValueError (nothing changed) when ``nbytes`` exceeds the whole budget."""

    @abstractmethod
    def get(self, entry_id: str) -> bytes | None:
        """The entry's record bytes (its size checked before reading), or None when it is not stored."""

    @abstractmethod
    def touch(self, entry_id: str) -> None:
        """Make the entry the most recently used (for every worker sharing the store)."""

    @abstractmethod
    def remove(self, entry_id: str) -> bool:
        """Remove one entry; False when it was not stored."""

    @abstractmethod
    def clear(self) -> int:
        """Remove every entry of the namespace; returns how many were removed."""

    @abstractmethod
    def lru_ids(self) -> list[str]:
        """Entry ids, least recently used first."""

    @abstractmethod
    def bytes_used(self) -> int:
        """Bytes charged against the budget, summed over the stored entries."""

    @abstractmethod
    def entry_nbytes(self, entry_id: str) -> int | None:
        """Bytes one entry is charged, or None when it is not stored."""

    def __len__(self) -> int:
        return len(self.lru_ids())

    @abstractmethod
    def stats(self) -> dict:
        """Backend name, location and error counters of this store."""

    @abstractmethod
    def close(self) -> None:
        """Release what the store holds (lock, connections). Stored entries stay."""

    @property
    def location(self) -> str:
        return ""


@dataclass(frozen=True)
class Location:
    """A parsed store location: ``scheme`` is "memory", "dir" or "redis"; ``target`` the path or URL."""

    scheme: str
    target: str | None


def parse_location(location) -> Location:
    """Parse a cache location (see the module docstring); ValueError with a HINT for anything else."""
    if location is None:
        return Location("memory", None)
    if isinstance(location, os.PathLike):
        return Location("dir", os.fspath(location))
    if not isinstance(location, str) or not location.strip():
        raise ValueError(
            f"cache location {location!r} is not a path or URL.\n"
            "HINT: pass a directory, dir:///abs/path, redis://host:6379/0, rediss://... or unix:///path/redis.sock."
        )
    parts = urlsplit(location)
    scheme = parts.scheme.lower()
    if scheme in ("redis", "rediss", "unix"):
        return Location("redis", location)
    if scheme == "dir":
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise ValueError(
                f"cache location {location!r}: a dir:// location is dir:///absolute/path (three slashes).\n"
                "HINT: e.g. dir:///var/cache/chai, or pass the plain path."
            )
        return Location("dir", parts.path)
    if scheme and "://" in location:
        raise ValueError(
            f"cache location {location!r}: scheme {scheme!r} is not supported.\n"
            "HINT: use a directory path, dir:///path, redis://host:port/db, rediss://host:port/db or unix:///path."
        )
    return Location("dir", os.path.expanduser(location))


def open_store(location, *, namespace: str, budget_bytes: int, check_head: HeadCheck, vector_nbytes: int = 0,
               file_mode: int = 0o600, config: dict | None = None, config_keys: tuple[str, ...] = (),
               redis_options: dict | None = None) -> EntryStore:
    """Open the store of ``namespace`` at ``location`` (see :func:`parse_location`).

    ``check_head`` validates each stored entry against the opening cache (entries with a problem are
    dropped); ``vector_nbytes`` is what the cache's index charges per vector (an entry costs its record
    plus ``len(keys) * vector_nbytes``); ``file_mode`` the permissions of files a directory store creates;
    ``config`` the namespace configuration checked on open (:meth:`EntryStore.check_config`).
    """
    loc = parse_location(location)
    if loc.scheme == "redis":
        from chai.cache.redis_store import RedisStore

        return RedisStore(loc.target, namespace=namespace, budget_bytes=budget_bytes, check_head=check_head,
                          vector_nbytes=vector_nbytes, config=config, config_keys=config_keys,
                          **(redis_options or {}))
    from chai.cache.dir_store import DirectoryStore

    directory = None if loc.target is None else Path(loc.target)
    return DirectoryStore(directory, namespace=namespace, budget_bytes=budget_bytes, check_head=check_head,
                          vector_nbytes=vector_nbytes, file_mode=file_mode, config=config, config_keys=config_keys)
