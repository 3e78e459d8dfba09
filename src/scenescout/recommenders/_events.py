"""Per-event bookkeeping shared by the recommenders: interned ids, row maps, memos.

Requests carry event ids as strings; every recommender needs rows of its own arrays for
them. Ids are interned once per candidate frame into process-wide integer keys, and each
recommender maps keys to its rows with one vectorized gather, so no recommender loops over
candidates in Python on the request path.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from operator import itemgetter
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from scenescout.frames import EventFrame

IntArray = npt.NDArray[np.int64]
ScalarT = TypeVar("ScalarT", bound=np.generic)


class _EventIdInterner:
    """Process-wide, append-only interning of event ids into integer keys."""

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}
        self._lock = threading.Lock()
        self._last: tuple[weakref.ref[npt.NDArray[np.object_]], IntArray] | None = None

    def __call__(self, ids: npt.NDArray[np.object_]) -> IntArray:
        last = self._last
        if last is not None and last[0]() is ids:
            return last[1]
        names = ids.tolist()
        try:
            # One C-level pass when every id is known, the common case on the request path.
            found = itemgetter(*names)(self._codes) if len(names) > 1 else self._add(names)
        except KeyError:
            found = self._add(names)
        keys = np.array(found, dtype=np.int64).reshape(-1)
        # The hybrid scores one candidate frame with every component: intern it once.
        self._last = (weakref.ref(ids), keys)
        return keys

    def _add(self, names: list[str]) -> list[int]:
        with self._lock:
            codes = self._codes
            return [codes.setdefault(name, len(codes)) for name in names]


intern_event_ids = _EventIdInterner()
"""Intern an object array of event ids into int64 keys (stable for the process)."""


def grow_rows(
    array: npt.NDArray[ScalarT], n_rows: int, fill: float | int = 0
) -> npt.NDArray[ScalarT]:
    """``array`` with at least ``n_rows`` rows, growing by doubling; new rows hold ``fill``."""
    if array.shape[0] >= n_rows:
        return array
    capacity = max(n_rows, 2 * array.shape[0], 16)
    grown = np.full((capacity, *array.shape[1:]), fill, dtype=array.dtype)
    grown[: array.shape[0]] = array
    return grown


class KeyedRows:
    """Append-only map from interned event keys to dense rows ``0..n-1``."""

    def __init__(self) -> None:
        self._row_by_key = np.full(0, -1, dtype=np.int64)
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def lookup(self, keys: IntArray) -> IntArray:
        """The row of each key, -1 for keys without one."""
        rows = np.full(keys.shape[0], -1, dtype=np.int64)
        inside = keys < self._row_by_key.shape[0]
        rows[inside] = self._row_by_key[keys[inside]]
        return rows

    def add(self, keys: IntArray) -> IntArray:
        """Give every key without a row the next free row; return the rows of all keys."""
        rows = self.lookup(keys)
        missing = rows < 0
        if missing.any():
            new_keys, first = np.unique(keys[missing], return_index=True)
            new_keys = new_keys[np.argsort(first)]
            self._row_by_key = grow_rows(self._row_by_key, int(new_keys.max()) + 1, fill=-1)
            self._row_by_key[new_keys] = np.arange(self.size, self.size + new_keys.shape[0])
            self.size += int(new_keys.shape[0])
            rows = self.lookup(keys)
        return rows


EventValues = tuple[npt.NDArray[Any], ...]


class EventMemo:
    """Per-event values computed once per event id and gathered on every request.

    ``compute(events)`` returns a tuple of arrays with one row per event (e.g. content
    neighbours, predicted factors). Values are assumed not to change while the model is
    fitted: an event edited after its first scoring keeps its first values until the next
    fit. When more than ``max_events`` events are held, the memo starts afresh. Safe to
    share between threads: lookups and fills hold a lock (misses compute under it).
    """

    def __init__(
        self, compute: Callable[[EventFrame], EventValues], max_events: int = 1_000_000
    ) -> None:
        self._compute = compute
        self._max_events = max_events
        self._rows = KeyedRows()
        self._values: EventValues = ()
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        # Rows are keyed by this process's interned ids: another process starts empty.
        return {"compute": self._compute, "max_events": self._max_events}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["compute"], state["max_events"])  # type: ignore[misc]

    def get(self, events: EventFrame) -> EventValues:
        """The memoized values of every event of ``events``, computing the missing ones."""
        keys = intern_event_ids(events.ids)
        with self._lock:
            rows = self._rows.lookup(keys)
            missing = rows < 0
            if missing.any() or not self._values:
                self._fill(events, keys, missing)
                rows = self._rows.lookup(keys)
            return tuple(stored[rows] for stored in self._values)

    def _fill(self, events: EventFrame, keys: IntArray, missing: npt.NDArray[np.bool_]) -> None:
        if len(self._rows) + int(missing.sum()) > self._max_events:
            self._rows, self._values = KeyedRows(), ()
            missing = np.ones_like(missing)
        _, first = np.unique(keys[missing], return_index=True)
        new_positions = np.flatnonzero(missing)[np.sort(first)]
        computed = self._compute(events.take(new_positions))
        if not self._values:
            self._values = tuple(np.empty((0, *v.shape[1:]), v.dtype) for v in computed)
        start = len(self._rows)
        stop = start + new_positions.shape[0]
        self._values = tuple(
            _store(stored, value, start, stop)
            for stored, value in zip(self._values, computed, strict=True)
        )
        self._rows.add(keys[new_positions])


def _store(
    stored: npt.NDArray[np.generic], value: npt.NDArray[np.generic], start: int, stop: int
) -> npt.NDArray[np.generic]:
    grown = grow_rows(stored, stop)
    grown[start:stop] = value
    return grown
