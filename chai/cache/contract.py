"""The store contract of the latent cache: what every store (directory, RAM, Redis) promises.

This module sits below the stores and the factory (:mod:`chai.cache.store`): both stores implement
:class:`EntryStore` from here, and the factory imports the stores, never the other way round.

Each stored entry has a *head* (the record without latents and masks) that a worker's vector index is
built from: :meth:`EntryStore.snapshot` returns every head in LRU order, :meth:`EntryStore.changes` the
inserts and removals made since (by this process or, for Redis, by any worker). A store raises
:class:`StoreUnavailable` when its backend cannot be reached or refuses to serve; the cache then treats a
lookup as a miss and skips the insert (a generation never fails because of the cache).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from chai.cache.record import EntryHead

__all__ = [
    "NAMESPACE_RE",
    "Change",
    "EntryHead",
    "EntryStore",
    "HeadCheck",
    "OutcomeUnknown",
    "StoreUnavailable",
    "check_namespace",
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
    """The store's backend cannot be reached or refuses to serve right now (unreachable, busy, out of memory,
    a conflicting namespace configuration): the cache counts it and carries on (a miss, a skipped insert)."""


class OutcomeUnknown(StoreUnavailable):
    """A write may or may not have reached the store (a timeout after the request was sent): the next sync
    settles it (the cache counts such an insert as unknown until then)."""


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

    Every method may raise :class:`StoreUnavailable` (Redis down, busy, out of memory, ...). ``put`` is atomic:
    either the entry and every eviction it needed are visible together, or nothing changed; it raises
    :class:`OutcomeUnknown` when it cannot tell which (sent, never answered). Entry ids are 32 lowercase hex
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
