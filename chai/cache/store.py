"""The store factory of the latent cache: a location string in, the store of one namespace out.

A store keeps entry *records* (``chai.cache.record``: latents, masks, vectors, prompt) in LRU order under
a byte budget and knows nothing about entities or vectors beyond storing them. Two implementations share
this contract and one test suite (``tests/chai/test_cache_store_contract.py``):

* :class:`~chai.cache.dir_store.DirectoryStore` (``"dir"``): files under ``<directory>/<namespace>/``,
  one process per namespace (an ``flock``), or RAM only when no directory is given (``"memory"``).
* :class:`~chai.cache.redis_store.RedisStore` (``"redis"``): one namespace shared by a fleet of worker
  processes through a Redis server; budget and LRU live in Redis and change in atomic server-side steps.

Locations (:func:`parse_location`): ``None`` (RAM), a directory path or ``dir:///abs/path``,
``redis://[user:pass@]host:port/db``, ``rediss://...`` (TLS) and ``unix:///path/to/redis.sock[?db=N]``.

The contract every store implements (:class:`EntryStore`, :class:`EntryHead`, :class:`Change`,
:class:`StoreUnavailable`) lives in :mod:`chai.cache.contract`, below the stores; this factory sits above
them and imports a store only when it opens one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

# The contract lives below the stores; it is re-exported here for code that imports it from the factory.
from chai.cache.contract import (  # noqa: F401
    NAMESPACE_RE,
    Change,
    EntryHead,
    EntryStore,
    HeadCheck,
    OutcomeUnknown,
    StoreUnavailable,
    check_namespace,
)

# The factory's own names; the contract's names above stay importable from here for existing code.
__all__ = ["Location", "open_store", "parse_location", "store_class"]


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


def store_class(location) -> tuple[type[EntryStore], str]:
    """The store class of a persistent ``location`` and its target (path or URL), for the location tools
    (``list_namespaces``, ``namespace_stats``, ``clear_namespace``). ValueError for an in-memory location."""
    loc = parse_location(location)
    if loc.scheme == "memory":
        raise ValueError("LatentCache: an in-memory cache has no location to inspect.\n"
                         "HINT: pass a directory or a redis:// URL.")
    if loc.scheme == "redis":
        from chai.cache.redis_store import RedisStore

        return RedisStore, loc.target
    from chai.cache.dir_store import DirectoryStore

    return DirectoryStore, loc.target


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
