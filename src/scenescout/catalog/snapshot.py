"""The in-memory catalog snapshot: upcoming events as numpy columns, indexed by geo cell.

Layout
------
A snapshot has two blocks of rows, both :class:`~scenescout.frames.EventFrame` columns:

* the **main block**, sorted by :class:`~scenescout.catalog.grid.CellGrid` key, with the sorted
  keys beside it; a radius query reads one ``np.searchsorted`` slice per latitude band of the
  circle's bounding box;
* a small unsorted **delta block** of events added or changed since the last compaction,
  scanned linearly by every query.

Row ``i`` of the snapshot's index space is main row ``i`` for ``i < len(main)`` and delta row
``i - len(main)`` after that; :attr:`CatalogSnapshot.frame` is that combined view. A replaced or
removed main row stays in place, hidden by a tombstone mask, until compaction rebuilds the main
block (automatically once delta rows plus tombstones pass ``max_delta_rows``). Status changes
(cancel, sold out) rewrite one ``int8`` column and are filtered at query time.

Index contract and threads
--------------------------
All data of one state lives in an immutable ``_Blocks``; every change builds a new one
(copy-on-write: the main block's columns are shared, only the small delta block, the tombstone
mask or the status column are copied) and publishes it with one attribute assignment. Writers
serialize on a lock; readers take no lock. Each read method reads the current state once, so a
query never sees half an update. Indices returned by :meth:`CatalogSnapshot.candidates` index the
state that produced them: read them through the same snapshot before its next change (its
:attr:`~CatalogSnapshot.version` tells), or pin a :meth:`CatalogSnapshot.view`, whose indices stay
valid for as long as it is held, whatever writers do.
"""

from __future__ import annotations

import abc
import threading
import time
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from scenescout.catalog.grid import CellGrid
from scenescout.domain import Event, EventStatus, GeoPoint
from scenescout.frames import NO_START_TS, STATUS_CODES, EventFrame, Vocabulary, to_epoch_seconds
from scenescout.geo import (
    UnitVectors,
    bounding_box,
    chord_squared,
    chord_squared_limit,
    haversine_km,
    unit_vectors,
)

# Measured with benchmarks/catalog_candidates.py on 1M city-clustered events: 0.1 degree
# (~11 km) is within ~10% of the best size for 25-100 km radii and ~20% faster than 0.25 at 5 km.
# Finer cells cost a slice per extra latitude band; coarser ones read more rows outside the circle.
DEFAULT_CELL_DEG = 0.1
DEFAULT_MAX_DELTA_ROWS = 1024

_CANCELLED = STATUS_CODES[EventStatus.CANCELLED]
_SCHEDULED = STATUS_CODES[EventStatus.SCHEDULED]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
_NO_ROWS: IntArray = np.zeros(0, dtype=np.int64)
_NO_ROWS.flags.writeable = False
Instant = datetime | int
Center = GeoPoint | tuple[float, float]


def _epoch_s(value: Instant) -> int:
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError(f"datetime must be timezone-aware, got {value.isoformat()}")
        return int(to_epoch_seconds(value, NO_START_TS))
    return int(value)


def _lat_lng(center: Center) -> tuple[float, float]:
    if isinstance(center, GeoPoint):
        return center.lat, center.lng
    lat, lng = float(center[0]), float(center[1])
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0):
        raise ValueError(f"center ({lat}, {lng}) is not a latitude/longitude pair")
    return lat, lng


def _whole(block: EventFrame) -> list[tuple[int, int]]:
    return [(0, len(block))] if len(block) else []


def _concat(first: EventFrame, second: EventFrame) -> EventFrame:
    arrays: dict[str, Any] = {
        name: np.concatenate([getattr(first, name), getattr(second, name)])
        for name in first.array_fields()
    }
    return EventFrame(
        **arrays,
        categories=first.categories,
        venues=first.venues,
        organizers=first.organizers,
    )


def _recode(
    codes: npt.NDArray[np.int32], source: Vocabulary, target: Vocabulary
) -> npt.NDArray[np.int32]:
    if source is target:
        return codes
    # The trailing slot maps code -1 (none) to -1.
    mapping = np.full(len(source) + 1, -1, dtype=np.int32)
    for code in np.unique(codes[codes >= 0]).tolist():
        mapping[code] = target.code(source.names[code])
    return mapping[codes]


def _adopt(rows: EventFrame, like: EventFrame) -> EventFrame:
    """``rows`` with category/venue/organizer codes of ``like``'s vocabularies."""
    return replace(
        rows,
        category=_recode(rows.category, rows.categories, like.categories),
        venue=_recode(rows.venue, rows.venues, like.venues),
        organizer=_recode(rows.organizer, rows.organizers, like.organizers),
        categories=like.categories,
        venues=like.venues,
        organizers=like.organizers,
    )


@dataclass(frozen=True, eq=False)
class _Blocks:
    """One immutable state of the catalog; see the module docstring.

    Event ids map to stable slots through ``slots``, a dict shared by every state of one
    build and only ever extended (by compaction, under the writer lock), so compaction, which
    moves rows, rebuilds a numpy slot-to-row array rather than a dict of every id.
    """

    grid: CellGrid
    cutoff_ts: int  # events ending before this are not kept
    version: int
    slots: dict[str, int]  # event id -> slot; shared, append-only
    main: EventFrame
    main_keys: IntArray  # cell key of each main row, ascending
    main_slots: IntArray  # slot of each main row
    main_row_of_slot: IntArray  # main row of each slot known at creation, -1 for none
    main_live: BoolArray  # False for tombstoned (replaced or removed) main rows
    main_unit: UnitVectors  # each main row's position as a 3-D unit vector (radius tests)
    delta: EventFrame
    delta_rows: dict[str, int]  # event id -> delta row; every delta row is live

    @classmethod
    def sorted_main(
        cls,
        grid: CellGrid,
        cutoff_ts: int,
        version: int,
        slots: dict[str, int],
        main: EventFrame,
        main_keys: IntArray,
        main_slots: IntArray,
    ) -> _Blocks:
        """A state made of a sorted main block only."""
        main_row_of_slot = np.full(len(slots), -1, dtype=np.int64)
        main_row_of_slot[main_slots] = np.arange(len(main), dtype=np.int64)
        return cls(
            grid=grid,
            cutoff_ts=cutoff_ts,
            version=version,
            slots=slots,
            main=main,
            main_keys=main_keys,
            main_slots=main_slots,
            main_row_of_slot=main_row_of_slot,
            main_live=np.ones(len(main), dtype=np.bool_),
            main_unit=unit_vectors(main.lat, main.lng),
            delta=main.take(_NO_ROWS),
            delta_rows={},
        )

    def with_delta(self, delta: EventFrame, **changes: Any) -> _Blocks:
        delta_rows = {event_id: row for row, event_id in enumerate(delta.ids.tolist())}
        return replace(
            self, version=self.version + 1, delta=delta, delta_rows=delta_rows, **changes
        )

    @cached_property
    def delta_unit(self) -> UnitVectors:
        return unit_vectors(self.delta.lat, self.delta.lng)

    @cached_property
    def live_count(self) -> int:
        return int(np.count_nonzero(self.main_live)) + len(self.delta)

    @property
    def pending_rows(self) -> int:
        return len(self.delta) + len(self.main) - int(np.count_nonzero(self.main_live))

    @cached_property
    def combined(self) -> EventFrame:
        return _concat(self.main, self.delta) if len(self.delta) else self.main

    def main_row(self, event_id: str) -> int | None:
        slot = self.slots.get(event_id)
        if slot is None or slot >= len(self.main_row_of_slot):
            return None
        row = int(self.main_row_of_slot[slot])
        return row if row >= 0 and self.main_live[row] else None

    def row_of(self, event_id: str) -> int | None:
        delta_row = self.delta_rows.get(event_id)
        if delta_row is not None:
            return len(self.main) + delta_row
        return self.main_row(event_id)

    def column(self, name: str, rows: IntArray) -> Any:
        main_column = getattr(self.main, name)
        if not len(self.delta):
            return main_column[rows]
        n_main = len(self.main)
        in_main = rows < n_main
        out = np.empty(rows.shape, dtype=main_column.dtype)
        out[in_main] = main_column[rows[in_main]]
        out[~in_main] = getattr(self.delta, name)[rows[~in_main] - n_main]
        return out

    def gather(self, rows: IntArray) -> EventFrame:
        arrays = {name: self.column(name, rows) for name in self.main.array_fields()}
        return EventFrame(
            **arrays,
            categories=self.main.categories,
            venues=self.main.venues,
            organizers=self.main.organizers,
        )

    def without(self, event_ids: Collection[str]) -> tuple[BoolArray, EventFrame]:
        """Tombstone mask and delta block with the given events taken out."""
        main_live = self.main_live
        dead = [row for row in map(self.main_row, event_ids) if row is not None]
        if dead:
            main_live = main_live.copy()
            main_live[dead] = False
        delta = self.delta
        if any(event_id in self.delta_rows for event_id in event_ids):
            keep = [event_id not in event_ids for event_id in delta.ids.tolist()]
            delta = delta.take(np.array(keep, dtype=np.bool_))
        return main_live, delta

    def compacted(self, now_ts: int | None) -> _Blocks:
        """The live rows (those ending at or after ``now_ts`` when given) as one sorted main
        block. Extends the shared ``slots``: call under the writer lock."""
        main_keep = self.main_live
        delta_keep = np.ones(len(self.delta), dtype=np.bool_)
        cutoff_ts = self.cutoff_ts
        if now_ts is not None:
            main_keep = main_keep & (self.main.end_ts >= now_ts)
            delta_keep = self.delta.end_ts >= now_ts
            cutoff_ts = max(cutoff_ts, now_ts)
        kept_main, kept_delta = np.flatnonzero(main_keep), np.flatnonzero(delta_keep)
        delta_ids = self.delta.ids[kept_delta].tolist()
        delta_slots = [self.slots.setdefault(event_id, len(self.slots)) for event_id in delta_ids]
        slots = np.concatenate([self.main_slots[kept_main], np.array(delta_slots, dtype=np.int64)])
        keys = np.concatenate(
            [
                self.main_keys[kept_main],
                self.grid.cell_keys(self.delta.lat[kept_delta], self.delta.lng[kept_delta]),
            ]
        )
        rows = np.concatenate([kept_main, len(self.main) + kept_delta])
        # Timsort: the main keys are one sorted run, so this is a cheap merge.
        order = np.argsort(keys, kind="stable")
        return _Blocks.sorted_main(
            self.grid,
            cutoff_ts,
            self.version + 1,
            self.slots,
            self.gather(rows[order]),
            keys[order],
            slots[order],
        )


@dataclass(frozen=True)
class _Query:
    earliest_end_ts: int
    latest_start_ts: int | None
    include_sold_out: bool
    category_allowed: BoolArray | None  # by category code; the last slot (code -1) is False
    price_min: float | None
    price_max: float | None
    center: tuple[float, float] | None
    radius_km: float | None

    def select(
        self,
        block: EventFrame,
        unit: UnitVectors,
        spans: Sequence[tuple[int, int]],
        live: BoolArray | None,
    ) -> IntArray:
        """Ascending rows of ``block`` inside the ``(start, stop)`` spans that match."""
        if not spans:
            return _NO_ROWS
        # The time test runs on contiguous slices (no gather); it is cheap and usually the
        # most selective. Later tests gather only the rows that survived.
        parts = [_NO_ROWS]
        for start, stop in spans:
            keep = block.end_ts[start:stop] >= self.earliest_end_ts
            if self.latest_start_ts is not None:
                keep &= block.start_ts[start:stop] <= self.latest_start_ts
            parts.append(np.flatnonzero(keep) + start)
        found = np.concatenate(parts)
        if live is not None:
            found = found[live[found]]
        status = block.status[found]
        found = found[status != _CANCELLED if self.include_sold_out else status == _SCHEDULED]
        if self.category_allowed is not None:
            found = found[self.category_allowed[block.category[found]]]
        if self.price_min is not None:
            found = found[block.price_max[found] >= self.price_min]
        if self.price_max is not None:
            found = found[block.price_min[found] <= self.price_max]
        if self.center is not None and self.radius_km is not None:
            # The chord to the center, from precomputed unit vectors: the great-circle test
            # without trigonometry per row (a haversine cost ~5x as much).
            gathered = (unit[0][found], unit[1][found], unit[2][found])
            chord = chord_squared(gathered, *self.center)
            found = found[chord <= chord_squared_limit(self.radius_km)]
        return found


class _CatalogReads(abc.ABC):
    """Read methods shared by the live snapshot and pinned views; each call reads one state."""

    @abc.abstractmethod
    def _blocks(self) -> _Blocks: ...

    @property
    def version(self) -> int:
        """Incremented by every change; indices are valid while it stays the same."""
        return self._blocks().version

    @property
    def cell_deg(self) -> float:
        """Edge of the geo index's cells in degrees."""
        return self._blocks().grid.cell_deg

    def __len__(self) -> int:
        """Number of events held (cancelled and sold-out included, removed ones not)."""
        return self._blocks().live_count

    @property
    def frame(self) -> EventFrame:
        """Every row of the index space: the main block then the delta block.

        Replaced and removed rows are still present (never returned by :meth:`candidates`),
        so ``len(frame)`` may exceed ``len(self)``. With a non-empty delta block the combined
        frame is materialized once per state; prefer :meth:`take` on the request path.
        """
        return self._blocks().combined

    def take(self, indices: npt.ArrayLike) -> EventFrame:
        """The rows at ``indices`` as a new frame (sharing vocabularies), without building
        the combined :attr:`frame`."""
        return self._blocks().gather(np.asarray(indices, dtype=np.int64))

    def columns(self, indices: npt.ArrayLike, names: Sequence[str]) -> dict[str, Any]:
        """Only the named :class:`~scenescout.frames.EventFrame` columns of the rows at
        ``indices``: cheaper than :meth:`take` when a few columns decide which rows to take."""
        blocks, rows = self._blocks(), np.asarray(indices, dtype=np.int64)
        return {name: blocks.column(name, rows) for name in names}

    @property
    def categories(self) -> Vocabulary:
        """The category vocabulary of every row's ``category`` code."""
        return self._blocks().main.categories

    def event_ids(self, indices: npt.ArrayLike) -> list[str]:
        """The event ids of the rows at ``indices``, in the same order."""
        ids: list[str] = self._blocks().column("ids", np.asarray(indices, dtype=np.int64)).tolist()
        return ids

    def index_of(self, event_id: str) -> int | None:
        """The row of a held event, or ``None`` when it is not (or no longer) held."""
        return self._blocks().row_of(event_id)

    def distances_km(self, indices: npt.ArrayLike, center: Center) -> FloatArray:
        """Great-circle distance in km from ``center`` to each row at ``indices``."""
        blocks = self._blocks()
        rows = np.asarray(indices, dtype=np.int64)
        lat, lng = _lat_lng(center)
        return haversine_km(blocks.column("lat", rows), blocks.column("lng", rows), lat, lng)

    def candidates(
        self,
        center: Center | None = None,
        radius_km: float | None = None,
        time_range: tuple[Instant, Instant] | None = None,
        categories: Sequence[str] | None = None,
        price_range: tuple[float | None, float | None] | None = None,
        *,
        now: Instant | None = None,
        include_sold_out: bool = False,
        exclude_ids: Collection[str] | None = None,
    ) -> IntArray:
        """Rows of events that match every given filter, in ascending row order.

        Parameters
        ----------
        center, radius_km
            Keep events within ``radius_km`` (great-circle, inclusive) of ``center``, a
            :class:`~scenescout.domain.GeoPoint` or ``(lat, lng)``. No geo filter when
            ``center`` is None; a center without a radius bounds nothing.
        time_range
            ``(start, end)``, aware datetimes or epoch seconds: keep events whose
            ``[start_time, end_time]`` overlaps it (whole seconds). Permanent places always do.
        categories
            Keep events in one of these categories. Unknown names match nothing, so does an
            empty sequence; events without a category never match.
        price_range
            ``(min, max)``, either bound may be None: keep events whose
            ``[price_min, price_max]`` intersects it (compared in float32, as stored).
        now
            Events that ended before ``now`` are excluded; default the current time.
        include_sold_out
            Also return sold-out events. Cancelled events are never returned.
        exclude_ids
            Event ids to leave out (e.g. dismissed or hidden by the user).

        Returns
        -------
        numpy.ndarray of int64
            Indices into :attr:`frame` (read them with :meth:`take`, :meth:`event_ids`,
            :meth:`distances_km`), valid until the next change of this state (see
            :attr:`version` and :meth:`CatalogSnapshot.view`).
        """
        blocks = self._blocks()
        if center is None and radius_km is not None:
            raise ValueError("radius_km needs a center")
        if radius_km is not None and not radius_km >= 0.0:
            raise ValueError(f"radius_km must be >= 0, got {radius_km}")
        now_ts = int(time.time()) if now is None else _epoch_s(now)
        earliest_end_ts, latest_start_ts = now_ts, None
        if time_range is not None:
            start_ts, end_ts = _epoch_s(time_range[0]), _epoch_s(time_range[1])
            if end_ts < start_ts:
                raise ValueError(f"time_range ends ({end_ts}) before it starts ({start_ts})")
            earliest_end_ts, latest_start_ts = max(now_ts, start_ts), end_ts
        price_min, price_max = price_range if price_range is not None else (None, None)
        if price_min is not None and price_max is not None and price_max < price_min:
            raise ValueError(f"price_range max {price_max} is below min {price_min}")
        category_allowed = None
        if categories is not None:
            # Sized after the state was pinned (the vocabulary only grows, so every code in the
            # pinned rows fits) and after the lookups (a writer may be adding a name), with a
            # final False slot that code -1 (no category) reads.
            vocabulary = blocks.main.categories
            codes = [code for code in map(vocabulary.lookup, categories) if code >= 0]
            category_allowed = np.zeros(max([len(vocabulary), *codes]) + 2, dtype=np.bool_)
            category_allowed[codes] = True
        query = _Query(
            earliest_end_ts=earliest_end_ts,
            latest_start_ts=latest_start_ts,
            include_sold_out=include_sold_out,
            category_allowed=category_allowed,
            price_min=price_min,
            price_max=price_max,
            center=None if center is None else _lat_lng(center),
            radius_km=radius_km,
        )
        main_spans = _whole(blocks.main)
        if query.center is not None and radius_km is not None:
            box = bounding_box(query.center[0], query.center[1], radius_km)
            main_spans = blocks.grid.spans_in_box(blocks.main_keys, box)
        found = np.concatenate(
            [
                query.select(blocks.main, blocks.main_unit, main_spans, blocks.main_live),
                len(blocks.main)
                + query.select(blocks.delta, blocks.delta_unit, _whole(blocks.delta), None),
            ]
        )
        if exclude_ids:
            excluded = [row for row in map(blocks.row_of, exclude_ids) if row is not None]
            if excluded:
                found = found[~np.isin(found, excluded)]
        return found


class CatalogView(_CatalogReads):
    """A pinned, immutable state of a :class:`CatalogSnapshot`, from
    :meth:`CatalogSnapshot.view`; its indices stay valid while it is held."""

    def __init__(self, blocks: _Blocks) -> None:
        self._pinned = blocks

    def _blocks(self) -> _Blocks:
        return self._pinned


class CatalogSnapshot(_CatalogReads):
    """Upcoming events in memory, sorted by geo cell, for candidate selection in microseconds.

    Build with :meth:`build`; refresh incrementally with :meth:`upsert`, :meth:`cancel`,
    :meth:`set_status` and :meth:`remove`. See the module docstring for the layout, the
    index contract and thread safety.
    """

    def __init__(self, blocks: _Blocks, max_delta_rows: int = DEFAULT_MAX_DELTA_ROWS) -> None:
        if max_delta_rows < 0:
            raise ValueError(f"max_delta_rows must be >= 0, got {max_delta_rows}")
        self._state = blocks
        self.max_delta_rows = max_delta_rows
        self._write_lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"state": self._state, "max_delta_rows": self.max_delta_rows}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["state"], state["max_delta_rows"])  # type: ignore[misc]

    @classmethod
    def build(
        cls,
        frame: EventFrame,
        now: Instant,
        *,
        cell_deg: float = DEFAULT_CELL_DEG,
        max_delta_rows: int = DEFAULT_MAX_DELTA_ROWS,
    ) -> CatalogSnapshot:
        """A snapshot of the events in ``frame`` that end at or after ``now``.

        Parameters
        ----------
        frame
            The events; ids must be unique. The snapshot shares its vocabularies, which
            later upserts may extend (vocabularies are append-only).
        now
            Aware datetime or epoch seconds. Events ending earlier are dropped, here and
            when upserted later; all statuses are kept.
        cell_deg
            Edge of the geo index's cells in degrees.
        max_delta_rows
            Compact automatically once delta rows plus tombstoned rows exceed this.

        Raises
        ------
        ValueError
            On duplicate event ids or an invalid ``cell_deg``.
        """
        grid = CellGrid(cell_deg)
        cutoff_ts = _epoch_s(now)
        upcoming = np.flatnonzero(frame.end_ts >= cutoff_ts)
        order, keys = grid.sort_order(frame.lat[upcoming], frame.lng[upcoming])
        main = frame.take(upcoming[order])
        ids = main.ids.tolist()
        slots = dict(zip(ids, range(len(ids)), strict=True))
        if len(slots) != len(ids):
            duplicate = next(i for i, count in Counter(ids).items() if count > 1)
            raise ValueError(f"event id {duplicate!r} occurs more than once")
        main_slots = np.arange(len(ids), dtype=np.int64)
        blocks = _Blocks.sorted_main(grid, cutoff_ts, 0, slots, main, keys, main_slots)
        return cls(blocks, max_delta_rows)

    def _blocks(self) -> _Blocks:
        return self._state

    def view(self) -> CatalogView:
        """The current state, pinned: unaffected by later changes to this snapshot."""
        return CatalogView(self._state)

    def _publish(self, blocks: _Blocks) -> None:
        if blocks.pending_rows > self.max_delta_rows:
            blocks = blocks.compacted(None)
        self._state = blocks

    def upsert(self, events: Event | Sequence[Event] | EventFrame) -> None:
        """Add new events or replace held ones with the same id (the last one of a batch wins).

        A changed event is found at its new place and time, never at its old one. An event
        ending before the snapshot's build time is removed instead of stored. Frame rows
        with other vocabularies are recoded into the snapshot's.
        """
        with self._write_lock:
            blocks = self._state
            if isinstance(events, EventFrame):
                rows = _adopt(events, blocks.main)
            else:
                batch = [events] if isinstance(events, Event) else list(events)
                main = blocks.main
                rows = EventFrame.from_events(batch, main.categories, main.venues, main.organizers)
            last_row = {event_id: row for row, event_id in enumerate(rows.ids.tolist())}
            if not last_row:
                return
            if len(last_row) < len(rows):
                rows = rows.take(np.array(sorted(last_row.values()), dtype=np.int64))
            main_live, delta = blocks.without(last_row.keys())
            upcoming = rows.take(rows.end_ts >= blocks.cutoff_ts)
            self._publish(blocks.with_delta(_concat(delta, upcoming), main_live=main_live))

    def remove(self, event_id: str) -> bool:
        """Forget an event; ``False`` (and no change) when it is not held."""
        with self._write_lock:
            blocks = self._state
            if blocks.row_of(event_id) is None:
                return False
            main_live, delta = blocks.without({event_id})
            self._publish(blocks.with_delta(delta, main_live=main_live))
            return True

    def set_status(self, event_id: str, status: EventStatus | str) -> bool:
        """Change an event's status in place; ``False`` (and no change) when it is not held.

        Raises
        ------
        ValueError
            When ``status`` is not an :class:`~scenescout.domain.EventStatus` value.
        """
        code = STATUS_CODES[EventStatus(status)]
        with self._write_lock:
            blocks = self._state
            delta_row = blocks.delta_rows.get(event_id)
            main_row = None if delta_row is not None else blocks.main_row(event_id)
            if delta_row is None and main_row is None:
                return False
            block, row = (blocks.delta, delta_row) if main_row is None else (blocks.main, main_row)
            if block.status[row] != code:
                statuses = block.status.copy()
                statuses[row] = code
                changed = replace(block, status=statuses)
                if main_row is None:
                    self._state = blocks.with_delta(changed)
                else:
                    self._state = blocks.with_delta(blocks.delta, main=changed)
            return True

    def cancel(self, event_id: str) -> bool:
        """Mark an event cancelled (never returned again); see :meth:`set_status`."""
        return self.set_status(event_id, EventStatus.CANCELLED)

    def compact(self, now: Instant | None = None) -> None:
        """Merge the delta block into the sorted main block and drop tombstoned rows.

        Parameters
        ----------
        now
            When given, also drop events that ended before it, and ignore such events in
            later upserts.
        """
        with self._write_lock:
            self._state = self._state.compacted(None if now is None else _epoch_s(now))
