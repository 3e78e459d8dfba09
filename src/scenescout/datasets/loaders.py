"""Loaders for real data: CSV/TSV (or whitespace-separated) interaction and event files.

Interaction files have the columns ``user_id, event_id`` and optionally ``timestamp``,
``type`` and ``weight``; event files have ``event_id, lat, lng`` and optionally
``category``, ``title``, ``start_time`` and ``end_time``. A header row names the columns in
any order; without one, columns are taken in the order listed above (or as given by
``columns=``). The delimiter (comma, tab, semicolon, whitespace) is detected. Every bad
line raises :class:`DataFileError` naming the file, the line and what to fix.
"""

from __future__ import annotations

import csv
import hashlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from scenescout.domain import Event, InteractionType
from scenescout.frames import INTERACTION_CODES, InteractionLog

INTERACTION_COLUMNS: tuple[str, ...] = ("user_id", "event_id", "weight", "timestamp", "type")
INTERACTION_REQUIRED: tuple[str, ...] = ("user_id", "event_id")
EVENT_COLUMNS: tuple[str, ...] = (
    "event_id",
    "lat",
    "lng",
    "category",
    "title",
    "start_time",
    "end_time",
)
EVENT_REQUIRED: tuple[str, ...] = ("event_id", "lat", "lng")
_COLUMN_ALIASES = {
    "user": "user_id",
    "userid": "user_id",
    "event": "event_id",
    "eventid": "event_id",
    "item_id": "event_id",
    "item": "event_id",
    "latitude": "lat",
    "longitude": "lng",
    "lon": "lng",
    "long": "lng",
    "interaction_type": "type",
    "occurred_at": "timestamp",
    "time": "timestamp",
    "start": "start_time",
    "end": "end_time",
}


class DataFileError(ValueError):
    """A data file that cannot be read as asked; the message says where and what to fix."""


@dataclass(frozen=True)
class EventRecord:
    """One row of an event file, validated."""

    event_id: str
    lat: float
    lng: float
    category: str | None
    title: str
    start_time: datetime | None
    end_time: datetime | None

    def to_event(self) -> Event:
        """The domain event this row describes (a permanent place when it has no times)."""
        return Event(
            id=self.event_id,
            lat=self.lat,
            lng=self.lng,
            category=self.category,
            title=self.title,
            start_time=self.start_time,
            end_time=self.end_time,
        )


def file_digest(path: Path) -> str:
    """A short content digest of a file, used to make re-imports idempotent."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def parse_timestamp(text: str) -> datetime:
    """ISO 8601 (a naive value is taken as UTC) or seconds since the Unix epoch."""
    try:
        return datetime.fromtimestamp(float(text), tz=UTC)
    except ValueError:
        pass
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _canonical(name: str) -> str:
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    return _COLUMN_ALIASES.get(key, key)


def _rows(path: Path, delimiter: str | None) -> Iterator[tuple[int, list[str]]]:
    """Non-empty rows with their 1-based line numbers; whitespace-split when needed."""
    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        sample = handle.read(64 * 1024)
        handle.seek(0)
        if delimiter is None:
            try:
                delimiter = csv.Sniffer().sniff(sample, delimiters=",\t;").delimiter
            except csv.Error:
                delimiter = " "
        if delimiter in (" ", "whitespace"):
            for number, line in enumerate(handle, start=1):
                fields = line.split()
                if fields:
                    yield number, fields
            return
        for number, fields in enumerate(csv.reader(handle, delimiter=delimiter), start=1):
            if any(field.strip() for field in fields):
                yield number, [field.strip() for field in fields]


def _layout(
    path: Path,
    first: list[str],
    known: Sequence[str],
    required: Sequence[str],
    columns: Sequence[str] | None,
) -> tuple[dict[str, int], bool]:
    """Column positions and whether the first row is a header."""
    if columns is not None:
        names = [_canonical(c) for c in columns]
        has_header = False
    else:
        header = [_canonical(c) for c in first]
        has_header = any(name in known for name in header)
        names = header if has_header else list(known[: len(first)])
    unknown = [n for n in names if n not in known]
    if unknown:
        raise DataFileError(
            f"{path}: unknown column(s) {', '.join(unknown)}; known columns are {', '.join(known)}"
        )
    missing = [r for r in required if r not in names]
    if missing:
        raise DataFileError(
            f"{path}: missing required column(s) {', '.join(missing)}; give a header row or "
            f"--columns, e.g. {','.join(known[: len(required) + 1])}"
        )
    return {name: i for i, name in enumerate(names)}, has_header


def _field(fields: list[str], positions: dict[str, int], name: str) -> str:
    position = positions.get(name)
    if position is None or position >= len(fields):
        return ""
    return fields[position]


def read_interactions(
    path: Path | str,
    *,
    delimiter: str | None = None,
    columns: Sequence[str] | None = None,
    default_type: InteractionType = InteractionType.CLICK,
    default_time: datetime | None = None,
) -> InteractionLog:
    """Read an interaction file into an :class:`InteractionLog`.

    Rows without a ``type`` get ``default_type``; rows without a ``timestamp`` get
    ``default_time`` (default: now); ``weight`` is NaN when absent.
    """
    path = Path(path)
    rows = _rows(path, delimiter)
    first = next(rows, None)
    if first is None:
        raise DataFileError(f"{path}: the file is empty")
    positions, has_header = _layout(
        path, first[1], INTERACTION_COLUMNS, INTERACTION_REQUIRED, columns
    )
    fallback_ts = int((default_time or datetime.now(UTC)).timestamp())
    users: list[str] = []
    events: list[str] = []
    types: list[int] = []
    times: list[int] = []
    weights: list[float] = []
    body = rows if has_header else _chain_first(first, rows)
    for number, fields in body:
        user_id = _field(fields, positions, "user_id")
        event_id = _field(fields, positions, "event_id")
        if not user_id or not event_id:
            raise DataFileError(f"{path}, line {number}: user_id and event_id must not be empty")
        type_text = _field(fields, positions, "type")
        try:
            kind = InteractionType(type_text.lower()) if type_text else default_type
        except ValueError:
            valid = ", ".join(t.value for t in InteractionType)
            raise DataFileError(
                f"{path}, line {number}: unknown interaction type {type_text!r}; use one of {valid}"
            ) from None
        time_text = _field(fields, positions, "timestamp")
        try:
            occurred = int(parse_timestamp(time_text).timestamp()) if time_text else fallback_ts
        except ValueError:
            raise DataFileError(
                f"{path}, line {number}: timestamp {time_text!r} is neither ISO 8601 "
                "(2024-05-01T20:00:00Z) nor epoch seconds"
            ) from None
        weight_text = _field(fields, positions, "weight")
        try:
            weight = float(weight_text) if weight_text else math.nan
        except ValueError:
            weight = -1.0
        if weight < 0 or math.isinf(weight):
            raise DataFileError(
                f"{path}, line {number}: weight {weight_text!r} must be a number >= 0"
            )
        users.append(user_id)
        events.append(event_id)
        types.append(INTERACTION_CODES[kind])
        times.append(occurred)
        weights.append(weight)
    if not users:
        raise DataFileError(f"{path}: no interactions after the header")
    return InteractionLog(
        user_ids=np.array(users, dtype=object),
        event_ids=np.array(events, dtype=object),
        type_code=np.array(types, dtype=np.int8),
        occurred_ts=np.array(times, dtype=np.int64),
        weight=np.array(weights, dtype=np.float32),
    )


def read_events(
    path: Path | str, *, delimiter: str | None = None, columns: Sequence[str] | None = None
) -> list[EventRecord]:
    """Read an event file; each row is validated (coordinates in range, end >= start)."""
    path = Path(path)
    rows = _rows(path, delimiter)
    first = next(rows, None)
    if first is None:
        raise DataFileError(f"{path}: the file is empty")
    positions, has_header = _layout(path, first[1], EVENT_COLUMNS, EVENT_REQUIRED, columns)
    records: list[EventRecord] = []
    seen: set[str] = set()
    body = rows if has_header else _chain_first(first, rows)
    for number, fields in body:
        event_id = _field(fields, positions, "event_id")
        if not event_id:
            raise DataFileError(f"{path}, line {number}: event_id must not be empty")
        if event_id in seen:
            raise DataFileError(f"{path}, line {number}: event_id {event_id!r} appears twice")
        seen.add(event_id)
        lat_text = _field(fields, positions, "lat")
        lng_text = _field(fields, positions, "lng")
        try:
            lat, lng = float(lat_text), float(lng_text)
        except ValueError:
            raise DataFileError(
                f"{path}, line {number}: lat/lng {lat_text!r}, {lng_text!r} must be numbers"
            ) from None
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0):
            raise DataFileError(
                f"{path}, line {number}: lat {lat} must be in [-90, 90] "
                f"and lng {lng} in [-180, 180]"
            )
        start_text = _field(fields, positions, "start_time")
        end_text = _field(fields, positions, "end_time")
        try:
            start = parse_timestamp(start_text) if start_text else None
            end = parse_timestamp(end_text) if end_text else None
        except ValueError:
            raise DataFileError(
                f"{path}, line {number}: start/end times must be ISO 8601 or epoch seconds"
            ) from None
        if start is not None and end is None:
            end = start
        if start is None and end is not None:
            raise DataFileError(f"{path}, line {number}: end_time given without start_time")
        if start is not None and end is not None and end < start:
            raise DataFileError(f"{path}, line {number}: end_time is before start_time")
        records.append(
            EventRecord(
                event_id=event_id,
                lat=lat,
                lng=lng,
                category=_field(fields, positions, "category") or None,
                title=_field(fields, positions, "title"),
                start_time=start,
                end_time=end,
            )
        )
    if not records:
        raise DataFileError(f"{path}: no events after the header")
    return records


def _chain_first(
    first: tuple[int, list[str]], rest: Iterator[tuple[int, list[str]]]
) -> Iterator[tuple[int, list[str]]]:
    yield first
    yield from rest
