"""What a profile learns from an event, as integer codes computed for many events at once.

Bulk builds and incremental updates both read events through :func:`event_keys`, so they
agree on every key by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from scenescout.frames import NO_START_TS, EventFrame, Vocabulary
from scenescout.profiles.profile import PRICE_BANDS, price_band, time_of_week_key

IntArray = npt.NDArray[np.int64]

SECONDS_PER_DAY = 86_400
PRICE_BAND_NAMES: tuple[str, ...] = tuple(name for name, _, _ in PRICE_BANDS)
_PRICE_BAND_CODES = {name: code for code, name in enumerate(PRICE_BAND_NAMES)}
# 1970-01-01, day 0 of the epoch, was a Thursday: ISO weekday 4, i.e. 3 days after Monday.
_EPOCH_DAYS_AFTER_MONDAY = 3


def _time_cells() -> tuple[tuple[str, ...], IntArray]:
    cells = Vocabulary()
    cell_of_hour = [
        cells.code(time_of_week_key(day, hour)) for day in range(1, 8) for hour in range(24)
    ]
    return tuple(cells.names), np.array(cell_of_hour, dtype=np.int64)


TIME_CELL_NAMES, _CELL_OF_HOUR_OF_WEEK = _time_cells()
"""Names of the time-of-week cells (``time_of_week_key`` format), in code order."""


def time_cells(start_ts: npt.NDArray[np.int64]) -> IntArray:
    """Time-of-week cell codes (into :data:`TIME_CELL_NAMES`) of start times, in UTC.

    Parameters
    ----------
    start_ts
        Event start times, epoch seconds; :data:`~scenescout.frames.NO_START_TS` marks a
        permanent place, which has no cell (code -1).
    """
    start = np.asarray(start_ts, dtype=np.int64)
    weekday = (start // SECONDS_PER_DAY + _EPOCH_DAYS_AFTER_MONDAY) % 7
    hour = (start // 3600) % 24
    return np.where(start <= NO_START_TS, -1, _CELL_OF_HOUR_OF_WEEK[weekday * 24 + hour])


@dataclass(frozen=True)
class EventKeys:
    """Profile keys of selected event rows; code -1 means the event has none.

    ``category``, ``venue`` and ``organizer`` are codes into the frame's vocabularies,
    ``price_band`` into :data:`PRICE_BAND_NAMES`, ``time_cell`` into
    :data:`TIME_CELL_NAMES`. Tags are ragged: the tags of event ``i`` are
    ``tag_names[c]`` for ``c`` in ``tag_codes[tag_indptr[i]:tag_indptr[i + 1]]``.
    """

    category: IntArray
    venue: IntArray
    organizer: IntArray
    price_band: IntArray
    time_cell: IntArray
    tag_indptr: IntArray
    tag_codes: IntArray
    tag_names: list[str]
    lat: npt.NDArray[np.float64]
    lng: npt.NDArray[np.float64]


def event_keys(events: EventFrame, rows: IntArray) -> EventKeys:
    """The profile keys of ``events`` rows ``rows``."""
    tags = Vocabulary()
    tag_lists = events.tags[rows].tolist()
    tag_codes = np.array(
        [tags.code(tag) for event_tags in tag_lists for tag in event_tags], dtype=np.int64
    )
    tag_counts = np.array([len(event_tags) for event_tags in tag_lists], dtype=np.int64)
    tag_indptr = np.concatenate(([0], np.cumsum(tag_counts)))
    bands = [_PRICE_BAND_CODES[price_band(price)] for price in events.price_min[rows].tolist()]
    return EventKeys(
        category=events.category[rows].astype(np.int64),
        venue=events.venue[rows].astype(np.int64),
        organizer=events.organizer[rows].astype(np.int64),
        price_band=np.array(bands, dtype=np.int64),
        time_cell=time_cells(events.start_ts[rows]),
        tag_indptr=tag_indptr,
        tag_codes=tag_codes,
        tag_names=tags.names,
        lat=events.lat[rows].astype(np.float64),
        lng=events.lng[rows].astype(np.float64),
    )


class OneEventKeys(NamedTuple):
    """:class:`EventKeys` of one event as Python values (code -1: none)."""

    category: int
    venue: int
    organizer: int
    price_band: int
    time_cell: int
    tags: list[str]
    lat: float
    lng: float


def one_event_keys(events: EventFrame, row: int) -> OneEventKeys:
    """The profile keys of one row of ``events``: what :func:`event_keys` gives for it,
    without building arrays (an incremental update reads one event at a time)."""
    return OneEventKeys(
        category=int(events.category[row]),
        venue=int(events.venue[row]),
        organizer=int(events.organizer[row]),
        price_band=_PRICE_BAND_CODES[price_band(float(events.price_min[row]))],
        time_cell=int(time_cells(events.start_ts[row : row + 1])[0]),
        tags=list(events.tags[row]),
        lat=float(events.lat[row]),
        lng=float(events.lng[row]),
    )
