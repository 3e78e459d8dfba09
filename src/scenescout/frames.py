"""Columnar event and interaction data (numpy), shared by catalog, datasets and algorithms.

The request path never touches per-event Python objects: events live in an
:class:`EventFrame`, one numpy array per field, and interactions in an
:class:`InteractionLog`. Times are integer seconds since the Unix epoch (UTC).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from scenescout.domain import Event, EventStatus, Interaction, InteractionType

# A permanent place (no schedule) is open from the distant past to the distant future.
NO_START_TS = np.int64(-(2**62))
NO_END_TS = np.int64(2**62)

STATUS_CODES: dict[EventStatus, int] = {
    EventStatus.SCHEDULED: 0,
    EventStatus.CANCELLED: 1,
    EventStatus.SOLD_OUT: 2,
}
INTERACTION_CODES: dict[InteractionType, int] = {t: i for i, t in enumerate(InteractionType)}
INTERACTION_TYPES: tuple[InteractionType, ...] = tuple(InteractionType)


def to_epoch_seconds(value: datetime | None, default: np.int64) -> np.int64:
    """Seconds since the epoch for an aware datetime; ``default`` for ``None``."""
    if value is None:
        return default
    return np.int64(int(value.timestamp()))


def from_epoch_seconds(value: int) -> datetime | None:
    """The aware UTC datetime for epoch seconds; ``None`` for the open-ended sentinels."""
    if value <= NO_START_TS or value >= NO_END_TS:
        return None
    return datetime.fromtimestamp(int(value), tz=UTC)


class Vocabulary:
    """An append-only mapping between names and small integer codes (-1 means none)."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self.names: list[str] = []
        self._codes: dict[str, int] = {}
        for name in names:
            self.code(name)

    def code(self, name: str | None) -> int:
        """The code of ``name``, adding it when new; -1 for ``None``."""
        if name is None:
            return -1
        code = self._codes.get(name)
        if code is None:
            code = len(self.names)
            self._codes[name] = code
            self.names.append(name)
        return code

    def lookup(self, name: str) -> int:
        """The code of a known name, or -1 when unknown (never adds)."""
        return self._codes.get(name, -1)

    def name(self, code: int) -> str | None:
        return None if code < 0 else self.names[code]

    def __len__(self) -> int:
        return len(self.names)


@dataclass
class EventFrame:
    """Events as parallel numpy arrays; row ``i`` of every array is one event.

    ``category``, ``venue`` and ``organizer`` hold codes into the frame's vocabularies
    (-1 = none). ``start_ts``/``end_ts`` use :data:`NO_START_TS`/:data:`NO_END_TS` for
    permanent places. ``tags`` is an object array of tuples of strings.
    """

    ids: npt.NDArray[np.object_]
    lat: npt.NDArray[np.float64]
    lng: npt.NDArray[np.float64]
    start_ts: npt.NDArray[np.int64]
    end_ts: npt.NDArray[np.int64]
    published_ts: npt.NDArray[np.int64]
    category: npt.NDArray[np.int32]
    venue: npt.NDArray[np.int32]
    organizer: npt.NDArray[np.int32]
    price_min: npt.NDArray[np.float32]
    price_max: npt.NDArray[np.float32]
    status: npt.NDArray[np.int8]
    title: npt.NDArray[np.object_]
    description: npt.NDArray[np.object_]
    tags: npt.NDArray[np.object_]
    categories: Vocabulary
    venues: Vocabulary
    organizers: Vocabulary

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def array_fields(self) -> list[str]:
        return [f.name for f in fields(self) if isinstance(getattr(self, f.name), np.ndarray)]

    def take(self, rows: npt.ArrayLike) -> EventFrame:
        """A new frame with the given rows (indices or a boolean mask), sharing vocabularies."""
        index = np.asarray(rows)
        picked: dict[str, Any] = {name: getattr(self, name)[index] for name in self.array_fields()}
        return EventFrame(
            **picked, categories=self.categories, venues=self.venues, organizers=self.organizers
        )

    @classmethod
    def empty(
        cls,
        categories: Vocabulary | None = None,
        venues: Vocabulary | None = None,
        organizers: Vocabulary | None = None,
    ) -> EventFrame:
        return cls.from_events([], categories, venues, organizers)

    @classmethod
    def from_events(
        cls,
        events: Sequence[Event],
        categories: Vocabulary | None = None,
        venues: Vocabulary | None = None,
        organizers: Vocabulary | None = None,
    ) -> EventFrame:
        """Build a frame from domain events, extending the given vocabularies."""
        categories = categories if categories is not None else Vocabulary()
        venues = venues if venues is not None else Vocabulary()
        organizers = organizers if organizers is not None else Vocabulary()
        n = len(events)
        tags = np.empty(n, dtype=object)
        tags[:] = [tuple(e.tags) for e in events]
        return cls(
            ids=np.array([e.id for e in events], dtype=object),
            lat=np.array([e.lat for e in events], dtype=np.float64),
            lng=np.array([e.lng for e in events], dtype=np.float64),
            start_ts=np.array(
                [to_epoch_seconds(e.start_time, NO_START_TS) for e in events], dtype=np.int64
            ),
            end_ts=np.array(
                [to_epoch_seconds(e.end_time, NO_END_TS) for e in events], dtype=np.int64
            ),
            published_ts=np.array(
                [to_epoch_seconds(e.published_at, NO_START_TS) for e in events], dtype=np.int64
            ),
            category=np.array([categories.code(e.category) for e in events], dtype=np.int32),
            venue=np.array([venues.code(e.venue_id) for e in events], dtype=np.int32),
            organizer=np.array([organizers.code(e.organizer) for e in events], dtype=np.int32),
            price_min=np.array([e.price_min for e in events], dtype=np.float32),
            price_max=np.array([e.price_max for e in events], dtype=np.float32),
            status=np.array([STATUS_CODES[e.status] for e in events], dtype=np.int8),
            title=np.array([e.title for e in events], dtype=object),
            description=np.array([e.description for e in events], dtype=object),
            tags=tags,
            categories=categories,
            venues=venues,
            organizers=organizers,
        )


@dataclass
class InteractionLog:
    """Interactions as parallel arrays: ids as object arrays, type as codes into
    :data:`INTERACTION_TYPES`, ``weight`` NaN when not given."""

    user_ids: npt.NDArray[np.object_]
    event_ids: npt.NDArray[np.object_]
    type_code: npt.NDArray[np.int8]
    occurred_ts: npt.NDArray[np.int64]
    weight: npt.NDArray[np.float32]

    def __len__(self) -> int:
        return int(self.user_ids.shape[0])

    def take(self, rows: npt.ArrayLike) -> InteractionLog:
        index = np.asarray(rows)
        return InteractionLog(
            user_ids=self.user_ids[index],
            event_ids=self.event_ids[index],
            type_code=self.type_code[index],
            occurred_ts=self.occurred_ts[index],
            weight=self.weight[index],
        )

    @classmethod
    def from_interactions(cls, interactions: Sequence[Interaction]) -> InteractionLog:
        return cls(
            user_ids=np.array([i.user_id for i in interactions], dtype=object),
            event_ids=np.array([i.event_id for i in interactions], dtype=object),
            type_code=np.array(
                [INTERACTION_CODES[i.interaction_type] for i in interactions], dtype=np.int8
            ),
            occurred_ts=np.array(
                [int(i.occurred_at.timestamp()) for i in interactions], dtype=np.int64
            ),
            weight=np.array(
                [np.nan if i.weight is None else i.weight for i in interactions], dtype=np.float32
            ),
        )
