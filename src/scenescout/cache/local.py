"""L1: the in-process, thread-safe LRU cache with per-entry expiry and user/event indexes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cachetools import TLRUCache


@dataclass(frozen=True, slots=True)
class LocalEntry:
    """One cached value as L1 holds it.

    Attributes
    ----------
    payload
        The value serialized with orjson (decoded afresh on every hit, so callers never share
        a mutable copy).
    user_id
        Whose entry it is.
    event_ids
        The events the value lists.
    expires_at
        Expiry on the store's clock.
    """

    payload: bytes
    user_id: str
    event_ids: tuple[str, ...]
    expires_at: float


class _NotifyingTLRU(TLRUCache):
    """A ``TLRUCache`` that reports the entries it drops on its own (expired or evicted)."""

    def __init__(
        self,
        maxsize: int,
        timer: Callable[[], float],
        on_drop: Callable[[str, LocalEntry], None],
    ) -> None:
        super().__init__(maxsize, ttu=_expires_at, timer=timer)
        self._on_drop = on_drop

    def expire(self, time: float | None = None) -> list[tuple[str, LocalEntry]]:
        expired: list[tuple[str, LocalEntry]] = super().expire(time)
        for key, entry in expired:
            self._on_drop(key, entry)
        return expired

    def popitem(self) -> tuple[str, LocalEntry]:
        key, entry = super().popitem()
        self._on_drop(key, entry)
        return key, entry


def _expires_at(_key: str, entry: LocalEntry, _now: float) -> float:
    return entry.expires_at


class LocalStore:
    """L1 entries with least-recently-used eviction at ``max_entries`` and per-entry expiry.

    Each entry expires at its own :attr:`LocalEntry.expires_at`, so an entry copied from L2
    keeps L2's remaining TTL (a ``TLRUCache``; a ``TTLCache`` would give every entry the full
    TTL). Indexes by user and by event make invalidation proportional to the entries removed;
    they drop an entry whenever the cache does (expiry, eviction, invalidation, replacement).

    Every invalidation and :meth:`clear` advances :attr:`generation`; :meth:`put` with
    ``if_generation`` skips the insert when an invalidation happened since that generation was
    read, so a value fetched from L2 just before an invalidation is not copied into L1 after it.

    All methods are thread-safe.

    Parameters
    ----------
    max_entries
        How many entries L1 holds before evicting the least recently used.
    clock
        Seconds on a monotonic clock; injected in tests.
    """

    def __init__(self, max_entries: int, clock: Callable[[], float]) -> None:
        self._max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._generation = 0
        self._reset()

    def _reset(self) -> None:
        self._entries = _NotifyingTLRU(self._max_entries, self._clock, self._unindex)
        self._indexed: dict[str, LocalEntry] = {}
        self._by_user: dict[str, set[str]] = {}
        self._by_event: dict[str, set[str]] = {}

    @property
    def generation(self) -> int:
        """How many invalidations and clears this store has seen."""
        return self._generation

    def __len__(self) -> int:
        with self._lock:
            return len(self._indexed)

    def get(self, key: str) -> LocalEntry | None:
        """The live entry under ``key``, marked most recently used; ``None`` when absent or
        expired."""
        with self._lock:
            entry: LocalEntry | None = self._entries.get(key)
            return entry

    def put(self, key: str, entry: LocalEntry, *, if_generation: int | None = None) -> bool:
        """Store ``entry`` under ``key``, replacing any entry there.

        Returns
        -------
        bool
            Whether it was stored: not when ``if_generation`` is given and an invalidation
            happened since, nor when ``entry`` has already expired.
        """
        with self._lock:
            if if_generation is not None and if_generation != self._generation:
                return False
            previous = self._indexed.get(key)
            if previous is not None:
                self._unindex(key, previous)
            self._entries[key] = entry
            if key not in self._entries:
                return False
            self._indexed[key] = entry
            self._by_user.setdefault(entry.user_id, set()).add(key)
            for event_id in entry.event_ids:
                self._by_event.setdefault(event_id, set()).add(key)
            return True

    def pop_user(self, user_id: str) -> set[str]:
        """Drop every entry of ``user_id``; the keys of the live entries dropped."""
        with self._lock:
            self._generation += 1
            return self._drop(self._by_user.get(user_id, ()))

    def pop_event(self, event_id: str) -> set[str]:
        """Drop every entry listing ``event_id``; the keys of the live entries dropped."""
        with self._lock:
            self._generation += 1
            return self._drop(self._by_event.get(event_id, ()))

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._generation += 1
            self._reset()

    def _drop(self, keys: Iterable[str]) -> set[str]:
        dropped: set[str] = set()
        for key in list(keys):
            self._unindex(key, self._indexed[key])
            try:
                del self._entries[key]
            except KeyError:
                continue  # it had expired: deleted, but not counted as dropped
            dropped.add(key)
        return dropped

    def _unindex(self, key: str, entry: LocalEntry) -> None:
        if self._indexed.get(key) is not entry:
            return
        del self._indexed[key]
        _discard(self._by_user, entry.user_id, key)
        for event_id in entry.event_ids:
            _discard(self._by_event, event_id, key)


def _discard(index: dict[str, set[str]], name: str, key: str) -> None:
    keys = index.get(name)
    if keys is not None:
        keys.discard(key)
        if not keys:
            del index[name]
