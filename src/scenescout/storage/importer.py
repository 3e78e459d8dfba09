"""Import of real data files into the database, idempotent per file.

Events already in the database are kept as they are; users are created for every user id
seen; interactions get the idempotency key ``import:<file digest>:<row>``, so importing
the same file twice is refused instead of doubling the data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Protocol

import numpy as np
import sqlalchemy as sa

from scenescout.frames import INTERACTION_TYPES, InteractionLog
from scenescout.storage import schema
from scenescout.storage.database import Database
from scenescout.storage.errors import StorageError

Progress = Callable[[str, int, int], None]
_ID_CHUNK = 5_000


class EventRow(Protocol):
    """What the importer needs of an event record (see ``datasets.loaders.EventRecord``)."""

    @property
    def event_id(self) -> str: ...
    @property
    def lat(self) -> float: ...
    @property
    def lng(self) -> float: ...
    @property
    def category(self) -> str | None: ...
    @property
    def title(self) -> str: ...
    @property
    def start_time(self) -> datetime | None: ...
    @property
    def end_time(self) -> datetime | None: ...


def _existing_ids(db: Database, table: sa.Table, ids: Iterable[str]) -> set[str]:
    wanted = list(dict.fromkeys(ids))
    found: set[str] = set()
    with db.engine.connect() as conn:
        for start in range(0, len(wanted), _ID_CHUNK):
            chunk = wanted[start : start + _ID_CHUNK]
            found.update(conn.scalars(sa.select(table.c.id).where(table.c.id.in_(chunk))))
    return found


def _report(progress: Progress | None, stage: str, total: int) -> Callable[[int], None]:
    done = 0

    def on_batch(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(stage, done, total)

    return on_batch


def import_dataset(
    db: Database,
    *,
    events: Sequence[EventRow],
    interactions: InteractionLog | None,
    source: str,
    digest: str,
    progress: Progress | None = None,
) -> str:
    """Insert new events, the users they need and the interactions; return a summary line.

    Raises
    ------
    StorageError
        When interactions refer to events that are neither in the database nor in
        ``events``, or when the file with this ``digest`` was imported before.
    """
    now = datetime.now(UTC)
    present_events = _existing_ids(db, schema.events, (e.event_id for e in events))
    new_events = [e for e in events if e.event_id not in present_events]
    if new_events:
        db.bulk_insert(
            "events",
            (
                "id",
                "title",
                "description",
                "category",
                "tags",
                "lat",
                "lng",
                "start_time",
                "end_time",
                "created_at",
                "updated_at",
            ),
            (
                (
                    e.event_id,
                    e.title,
                    "",
                    e.category,
                    [],
                    e.lat,
                    e.lng,
                    e.start_time,
                    e.end_time,
                    now,
                    now,
                )
                for e in new_events
            ),
            on_batch=_report(progress, "events", len(new_events)),
        )
    parts = [f"{len(new_events):,} new events ({len(present_events):,} already present)"]
    if interactions is not None and len(interactions):
        parts.append(_import_interactions(db, interactions, source, digest, now, progress))
    return "; ".join(parts)


def _import_interactions(
    db: Database,
    log: InteractionLog,
    source: str,
    digest: str,
    now: datetime,
    progress: Progress | None,
) -> str:
    key_prefix = f"import:{digest}:"
    with db.engine.connect() as conn:
        already = conn.scalar(
            sa.select(schema.user_interactions.c.id).where(
                schema.user_interactions.c.user_id == str(log.user_ids[0]),
                schema.user_interactions.c.idempotency_key == f"{key_prefix}0",
            )
        )
    if already is not None:
        raise StorageError(f"{source} was already imported (same content); nothing to do")

    referenced = np.unique(log.event_ids.astype(str))
    known = _existing_ids(db, schema.events, referenced)
    missing = [e for e in referenced if e not in known]
    if missing:
        examples = ", ".join(missing[:5])
        raise StorageError(
            f"{len(missing):,} event id(s) in {source} are not in the database (e.g. {examples}); "
            "import their event file with --events first or together"
        )

    user_ids = np.unique(log.user_ids.astype(str))
    present_users = _existing_ids(db, schema.users, user_ids)
    new_users = [u for u in user_ids if u not in present_users]
    if new_users:
        db.bulk_insert(
            "users",
            ("id", "created_at"),
            ((u, now) for u in new_users),
            on_batch=_report(progress, "users", len(new_users)),
        )

    def rows() -> Iterator[tuple[object, ...]]:
        for row in range(len(log)):
            weight = float(log.weight[row])
            yield (
                str(log.user_ids[row]),
                str(log.event_ids[row]),
                INTERACTION_TYPES[int(log.type_code[row])].value,
                None if np.isnan(weight) else weight,
                datetime.fromtimestamp(int(log.occurred_ts[row]), tz=UTC),
                f"{key_prefix}{row}",
            )

    db.bulk_insert(
        "user_interactions",
        ("user_id", "event_id", "interaction_type", "weight", "occurred_at", "idempotency_key"),
        rows(),
        on_batch=_report(progress, "interactions", len(log)),
    )
    with db.engine.begin() as conn:
        conn.execute(
            schema.dataset_metadata.insert().values(
                key=f"import:{digest}",
                value={"source": source, "interactions": len(log), "imported_at": now.isoformat()},
                updated_at=now,
            )
        )
    return f"{len(new_users):,} new users; {len(log):,} interactions"
