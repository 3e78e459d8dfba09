"""Repositories: one small protocol per aggregate, one SQLAlchemy Core implementation.

The implementation runs unchanged on SQLite and PostgreSQL; only the radius query (PostGIS
``ST_DWithin`` on the generated ``geog`` column versus a bounding box on the indexed
lat/lng plus an exact haversine), upserts (each dialect's ``INSERT ... ON CONFLICT``) and
epoch conversion differ. :class:`Store` bundles them for a :class:`Database`.

Bulk reads (:meth:`SqlEventRepository.load_frame`, :meth:`SqlInteractionRepository.load_log`)
bypass pydantic and SQLAlchemy's type processing: the database converts times to epoch
seconds and rows stream in partitions straight into numpy arrays.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from scenescout.domain import (
    Event,
    EventStatus,
    Interaction,
    InteractionType,
    User,
    UserPreferences,
    Venue,
    utc_now,
)
from scenescout.frames import (
    INTERACTION_CODES,
    NO_END_TS,
    NO_START_TS,
    STATUS_CODES,
    EventFrame,
    InteractionLog,
    Vocabulary,
)
from scenescout.geo import bounding_box
from scenescout.storage import schema
from scenescout.storage.database import Database
from scenescout.storage.errors import StorageError, missing

_PARTITION_ROWS = 100_000  # rows per fetched partition in the columnar loads
_ID_CHUNK = 1_000  # ids per IN (...) when looking up which references exist

Reference = tuple[str, sa.Table, Collection[str]]  # (kind for the message, table, ids)


# --- protocols ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredInteraction:
    """An interaction with the id the store gave it (ids grow with insertion)."""

    id: int
    interaction: Interaction


@dataclass
class StoredUsers:
    """Homes and explicit preferences of the users a database holds.

    ``preferences`` only lists users whose preferences say something (categories or
    excluded categories).
    """

    homes: dict[str, tuple[float, float]]
    preferences: dict[str, UserPreferences]


class EventRepository(Protocol):
    """Events: the catalogue of things to recommend."""

    def upsert(self, events: Sequence[Event]) -> None: ...

    def get(self, event_id: str) -> Event | None: ...

    def set_status(self, event_id: str, status: EventStatus) -> bool: ...

    def within_radius(
        self,
        lat: float,
        lng: float,
        radius_km: float,
        *,
        starts_after: datetime | None = None,
        starts_before: datetime | None = None,
        limit: int | None = None,
    ) -> list[tuple[Event, float]]: ...

    def count(self) -> int: ...

    def count_upcoming(self, now: datetime) -> int: ...

    def load_frame(self, ending_after: datetime | None = None) -> EventFrame: ...

    def changed_since(self, since: datetime) -> list[Event]: ...


class VenueRepository(Protocol):
    """Venues: places events happen at."""

    def upsert(self, venues: Sequence[Venue]) -> None: ...

    def get(self, venue_id: str) -> Venue | None: ...


class UserRepository(Protocol):
    """Users and their explicit preferences."""

    def upsert(self, users: Sequence[User]) -> None: ...

    def get(self, user_id: str) -> User | None: ...

    def set_preferences(self, user_id: str, preferences: UserPreferences) -> None: ...

    def delete(self, user_id: str) -> bool: ...

    def count(self) -> int: ...

    def homes_and_preferences(self) -> StoredUsers: ...


class InteractionRepository(Protocol):
    """The interaction log: append-only, idempotent per ``(user_id, idempotency_key)``."""

    def add(self, interaction: Interaction) -> tuple[int, bool]: ...

    def add_many(self, interactions: Sequence[Interaction]) -> list[tuple[int, bool]]: ...

    def list_for_user(self, user_id: str, *, limit: int | None = None) -> list[Interaction]: ...

    def after(
        self, after_id: int, *, user_ids: Collection[str] | None = None
    ) -> list[StoredInteraction]: ...

    def max_id(self) -> int: ...

    def count(self) -> int: ...

    def count_by_type(self) -> dict[str, int]: ...

    def load_log(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        through_id: int | None = None,
    ) -> InteractionLog: ...


class GroundTruthRepository(Protocol):
    """The synthetic generator's hidden truth per user (offline evaluation only)."""

    def get(self, user_id: str) -> dict[str, Any] | None: ...

    def set(self, user_id: str, taste: Mapping[str, Any]) -> None: ...


class MetadataRepository(Protocol):
    """Key/value facts about the data set (generator seed and config, import provenance)."""

    def set(self, key: str, value: Any) -> None: ...

    def get(self, key: str) -> Any | None: ...


# --- SQL helpers -------------------------------------------------------------------------


class _EpochSeconds(FunctionElement[int]):
    """Whole seconds since the Unix epoch of a timestamp column, computed by the database."""

    type = sa.BigInteger()
    inherit_cache = True
    name = "epoch_seconds"


@compiles(_EpochSeconds, "postgresql")
def _epoch_seconds_postgresql(element: _EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    argument = compiler.process(element.clauses, **kw)
    return f"CAST(trunc(EXTRACT(EPOCH FROM {argument})) AS BIGINT)"


@compiles(_EpochSeconds, "sqlite")
def _epoch_seconds_sqlite(element: _EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    argument = compiler.process(element.clauses, **kw)
    return f"CAST(strftime('%s', {argument}) AS INTEGER)"


def _epoch_or(column: sa.ColumnElement[Any], default: np.int64) -> sa.ColumnElement[int]:
    return sa.func.coalesce(_EpochSeconds(column), sa.literal(int(default), sa.BigInteger()))


def _insert(connection: Connection, table: sa.Table) -> Any:
    dialect_insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    return dialect_insert(table)


def _upsert(
    connection: Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    keep: Collection[str] = (),
) -> None:
    """Insert rows, replacing existing ones with the same ``keys`` (except ``keep`` columns)."""
    if not rows:
        return
    statement = _insert(connection, table)
    replaced = {
        name: statement.excluded[name] for name in rows[0] if name not in keys and name not in keep
    }
    if replaced:
        statement = statement.on_conflict_do_update(index_elements=list(keys), set_=replaced)
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(keys))
    connection.execute(statement, list(rows))


def _driver_partitions(
    connection: Connection, statement: sa.Select[Any]
) -> Iterator[list[tuple[Any, ...]]]:
    """Stream a SELECT through the DB-API cursor, in partitions of plain tuples.

    Skips SQLAlchemy's per-row ``Row`` objects (half the cost of a million-row read). The
    statement's values are rendered inline (only numbers and datetimes occur, rendered
    by their column types), so no driver-level parameters are needed. PostgreSQL reads
    through a server-side cursor, so memory stays bounded.
    """
    sql = str(statement.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    driver_connection = connection.connection.driver_connection
    assert driver_connection is not None
    if connection.dialect.name == "postgresql":
        cursor = driver_connection.cursor(name="scenescout_columnar_read")
    else:
        cursor = driver_connection.cursor()
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(_PARTITION_ROWS):
            yield rows
    finally:
        cursor.close()


def _columns(rows: Sequence[Any], width: int) -> list[tuple[Any, ...]]:
    return list(zip(*rows, strict=True)) if rows else [() for _ in range(width)]


def _object_array(values: Sequence[Any]) -> npt.NDArray[np.object_]:
    return np.fromiter(values, dtype=object, count=len(values))


def _codes(values: Sequence[str | None], vocabulary: Vocabulary) -> npt.NDArray[np.int32]:
    lookup = {name: vocabulary.code(name) for name in dict.fromkeys(values)}
    return np.fromiter(map(lookup.__getitem__, values), dtype=np.int32, count=len(values))


def _json_lists_as_tuples(texts: Sequence[str]) -> list[tuple[Any, ...]]:
    # One parse of one big JSON array is several times faster than a parse per row.
    return list(map(tuple, orjson.loads("[" + ",".join(texts) + "]")))


def _mapped(values: Sequence[str], codes: Mapping[str, int], dtype: Any) -> npt.NDArray[Any]:
    return np.fromiter(map(codes.__getitem__, values), dtype=dtype, count=len(values))


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of row tuples are created.

    Each burst of allocations triggers collections that rescan every live object; for a
    million-row read that is ~40% of the time. Plain tuples and strings form no cycles,
    so nothing is lost by collecting later.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def _references_checked(
    db: Database, references: Callable[[], Sequence[Reference]]
) -> Iterator[None]:
    """Turn a foreign-key violation into ``StorageError("event 'x' does not exist")``."""
    try:
        yield
    except sa.exc.IntegrityError as error:
        raise _explain(db, references(), error) from error


def _explain(db: Database, references: Sequence[Reference], error: Exception) -> StorageError:
    with db.engine.connect() as connection:
        for kind, table, ids in references:
            wanted = sorted(set(ids))
            found: set[str] = set()
            for start in range(0, len(wanted), _ID_CHUNK):
                chunk = wanted[start : start + _ID_CHUNK]
                found.update(connection.scalars(sa.select(table.c.id).where(table.c.id.in_(chunk))))
            absent = next((key for key in wanted if key not in found), None)
            if absent is not None:
                return missing(kind, absent)
    detail = getattr(error, "orig", error)
    return StorageError(f"the database refused the write: {detail}")


# --- implementations ---------------------------------------------------------------------

_STATUS_BY_NAME = {status.value: code for status, code in STATUS_CODES.items()}
_TYPE_BY_NAME = {kind.value: code for kind, code in INTERACTION_CODES.items()}
_EVENT_KEEP_ON_UPDATE = ("created_at",)


class SqlEventRepository:
    """:class:`EventRepository` on SQLAlchemy Core (SQLite or PostgreSQL/PostGIS).

    Parameters
    ----------
    db
        The database to read and write.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def upsert(self, events: Sequence[Event]) -> None:
        """Insert events or replace them by id (``created_at`` of an existing one is kept).

        Raises
        ------
        StorageError
            When an event names a venue that does not exist.
        """
        rows = [{**event.model_dump(), "status": event.status.value} for event in events]
        venue_ids = {event.venue_id for event in events if event.venue_id is not None}
        with (
            _references_checked(self.db, lambda: [("venue", schema.venues, venue_ids)]),
            self.db.transaction() as connection,
        ):
            _upsert(connection, schema.events, rows, ["id"], keep=_EVENT_KEEP_ON_UPDATE)

    def get(self, event_id: str) -> Event | None:
        """The event with this id, or ``None``."""
        with self.db.engine.connect() as connection:
            row = connection.execute(
                sa.select(schema.events).where(schema.events.c.id == event_id)
            ).first()
        return None if row is None else Event.model_validate(row._asdict())

    def set_status(self, event_id: str, status: EventStatus) -> bool:
        """Change an event's status; ``False`` when there is no such event."""
        with self.db.transaction() as connection:
            result = connection.execute(
                sa.update(schema.events)
                .where(schema.events.c.id == event_id)
                .values(status=EventStatus(status).value, updated_at=utc_now())
            )
        return result.rowcount > 0

    def within_radius(
        self,
        lat: float,
        lng: float,
        radius_km: float,
        *,
        starts_after: datetime | None = None,
        starts_before: datetime | None = None,
        limit: int | None = None,
    ) -> list[tuple[Event, float]]:
        """Events within ``radius_km`` (great-circle) of a point, nearest first.

        Parameters
        ----------
        lat, lng
            The centre, in degrees.
        radius_km
            The radius in km (inclusive).
        starts_after, starts_before
            Keep events with ``starts_after <= start_time < starts_before``. A permanent
            place (no start time) counts as started in the distant past, as in
            :class:`~scenescout.frames.EventFrame`: ``starts_after`` excludes it,
            ``starts_before`` keeps it.
        limit
            At most this many events.

        Returns
        -------
        list[tuple[Event, float]]
            Each event with its distance in km, nearest first (ties by id). Every status is
            included; filter cancelled events yourself when needed.

        Notes
        -----
        PostgreSQL answers with ``ST_DWithin`` on the GiST-indexed ``geog`` column, SQLite
        with a bounding box on the indexed lat/lng then the exact haversine distance. Both
        use the sphere of mean Earth radius, so they agree with :mod:`scenescout.geo`.
        """
        if radius_km < 0:
            raise ValueError(f"radius_km must be >= 0, got {radius_km}")
        events = schema.events
        if self.db.dialect == "postgresql":
            geog: sa.ColumnElement[Any] = sa.literal_column("events.geog")
            centre = sa.func.geography(sa.func.ST_MakePoint(lng, lat))
            distance_km: sa.ColumnElement[Any] = sa.func.ST_Distance(geog, centre, False) / 1000.0
            near: sa.ColumnElement[bool] = sa.func.ST_DWithin(
                geog, centre, radius_km * 1000.0, False
            )
        else:
            min_lat, max_lat, min_lng, max_lng = bounding_box(lat, lng, radius_km)
            distance_km = sa.func.haversine_km(lat, lng, events.c.lat, events.c.lng)
            near = sa.and_(
                events.c.lat.between(min_lat, max_lat),
                events.c.lng.between(min_lng, max_lng),
                distance_km <= radius_km,
            )
        statement = sa.select(events, distance_km.label("distance_km")).where(near)
        if starts_after is not None:
            statement = statement.where(events.c.start_time >= starts_after)
        if starts_before is not None:
            statement = statement.where(
                sa.or_(events.c.start_time.is_(None), events.c.start_time < starts_before)
            )
        statement = statement.order_by(sa.literal_column("distance_km"), events.c.id)
        if limit is not None:
            statement = statement.limit(limit)
        with self.db.engine.connect() as connection:
            rows = connection.execute(statement).all()
        found = []
        for row in rows:
            fields = row._asdict()
            distance = float(fields.pop("distance_km"))
            found.append((Event.model_validate(fields), distance))
        return found

    def count(self) -> int:
        """The number of events."""
        return _count(self.db, schema.events)

    def count_upcoming(self, now: datetime) -> int:
        """Events not over at ``now`` and not cancelled (permanent places included)."""
        return _count(self.db, schema.events, _upcoming(now))

    def changed_since(self, since: datetime) -> list[Event]:
        """Events created, changed or given a new status at or after ``since``, oldest
        change first (an indexed read of ``updated_at``)."""
        events = schema.events
        statement = (
            sa.select(events)
            .where(events.c.updated_at >= since)
            .order_by(events.c.updated_at, events.c.id)
        )
        with self.db.engine.connect() as connection:
            rows = connection.execute(statement).all()
        return [Event.model_validate(row._asdict()) for row in rows]

    def load_frame(self, ending_after: datetime | None = None) -> EventFrame:
        """All events (or those not over at ``ending_after``) as an :class:`EventFrame`.

        Rows are ordered by id. Vocabularies are new and hold codes in order of first
        appearance. Permanent places (no end time) are always included.
        """
        events = schema.events
        statement = sa.select(
            events.c.id,
            events.c.lat,
            events.c.lng,
            _epoch_or(events.c.start_time, NO_START_TS),
            _epoch_or(events.c.end_time, NO_END_TS),
            _epoch_or(events.c.published_at, NO_START_TS),
            events.c.category,
            events.c.venue_id,
            events.c.organizer,
            events.c.price_min,
            events.c.price_max,
            events.c.status,
            events.c.title,
            events.c.description,
            sa.cast(events.c.tags, sa.Text),
        ).order_by(events.c.id)
        if ending_after is not None:
            statement = statement.where(
                sa.or_(events.c.end_time.is_(None), events.c.end_time >= ending_after)
            )
        with _gc_paused():
            with self.db.engine.connect() as connection:
                rows = [row for part in _driver_partitions(connection, statement) for row in part]
            return _frame_from_rows(rows)


def _frame_from_rows(rows: list[tuple[Any, ...]]) -> EventFrame:
    """The frame for rows of ``load_frame``'s SELECT (column order matters)."""
    (ids, lat, lng, start, end, published, category, venue, organizer, price_min,
     price_max, status, title, description, tags) = _columns(rows, 15)  # fmt: skip
    rows.clear()
    categories, venues, organizers = Vocabulary(), Vocabulary(), Vocabulary()
    return EventFrame(
        ids=_object_array(ids),
        lat=np.array(lat, dtype=np.float64),
        lng=np.array(lng, dtype=np.float64),
        start_ts=np.array(start, dtype=np.int64),
        end_ts=np.array(end, dtype=np.int64),
        published_ts=np.array(published, dtype=np.int64),
        category=_codes(category, categories),
        venue=_codes(venue, venues),
        organizer=_codes(organizer, organizers),
        price_min=np.array(price_min, dtype=np.float32),
        price_max=np.array(price_max, dtype=np.float32),
        status=_mapped(status, _STATUS_BY_NAME, np.int8),
        title=_object_array(title),
        description=_object_array(description),
        tags=_object_array(_json_lists_as_tuples(tags)),
        categories=categories,
        venues=venues,
        organizers=organizers,
    )


class SqlVenueRepository:
    """:class:`VenueRepository` on SQLAlchemy Core."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def upsert(self, venues: Sequence[Venue]) -> None:
        """Insert venues or replace them by id."""
        with self.db.transaction() as connection:
            _upsert(connection, schema.venues, [v.model_dump() for v in venues], ["id"])

    def get(self, venue_id: str) -> Venue | None:
        """The venue with this id, or ``None``."""
        with self.db.engine.connect() as connection:
            row = connection.execute(
                sa.select(schema.venues).where(schema.venues.c.id == venue_id)
            ).first()
        return None if row is None else Venue.model_validate(row._asdict())


class SqlUserRepository:
    """:class:`UserRepository` on SQLAlchemy Core."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def upsert(self, users: Sequence[User]) -> None:
        """Insert users or update them by id, with their preferences.

        ``created_at`` of an existing user is kept.
        """
        now = utc_now()
        user_rows = [user.model_dump(exclude={"preferences"}) for user in users]
        preference_rows = [
            {"user_id": user.id, "preferences": user.preferences.model_dump(), "updated_at": now}
            for user in users
        ]
        with self.db.transaction() as connection:
            _upsert(connection, schema.users, user_rows, ["id"], keep=("created_at",))
            _upsert(connection, schema.user_preferences, preference_rows, ["user_id"])

    def get(self, user_id: str) -> User | None:
        """The user with this id and their preferences, or ``None``."""
        users, preferences = schema.users, schema.user_preferences
        statement = (
            sa.select(users, preferences.c.preferences)
            .select_from(users.outerjoin(preferences, preferences.c.user_id == users.c.id))
            .where(users.c.id == user_id)
        )
        with self.db.engine.connect() as connection:
            row = connection.execute(statement).first()
        if row is None:
            return None
        fields = row._asdict()
        fields["preferences"] = fields["preferences"] or {}
        return User.model_validate(fields)

    def set_preferences(self, user_id: str, preferences: UserPreferences) -> None:
        """Replace a user's explicit preferences.

        Raises
        ------
        StorageError
            When the user does not exist.
        """
        row = {"user_id": user_id, "preferences": preferences.model_dump(), "updated_at": utc_now()}
        with (
            _references_checked(self.db, lambda: [("user", schema.users, [user_id])]),
            self.db.transaction() as connection,
        ):
            _upsert(connection, schema.user_preferences, [row], ["user_id"])

    def delete(self, user_id: str) -> bool:
        """Delete a user and every row of every user-owned table that belongs to them.

        Returns ``False`` when there was no such user (rows in other tables are still
        removed). Does not rely on ``ON DELETE CASCADE`` being enforced.
        """
        with self.db.transaction() as connection:
            for name in schema.USER_OWNED_TABLES:
                table = schema.metadata.tables[name]
                connection.execute(sa.delete(table).where(table.c.user_id == user_id))
            similarities = schema.user_similarities
            connection.execute(
                sa.delete(similarities).where(similarities.c.similar_user_id == user_id)
            )
            result = connection.execute(sa.delete(schema.users).where(schema.users.c.id == user_id))
        return result.rowcount > 0

    def count(self) -> int:
        """The number of users."""
        return _count(self.db, schema.users)

    def homes_and_preferences(self) -> StoredUsers:
        """Every user's home and meaningful explicit preferences, in one query."""
        users, preferences = schema.users, schema.user_preferences
        statement = sa.select(
            users.c.id, users.c.home_lat, users.c.home_lng, preferences.c.preferences
        ).select_from(users.outerjoin(preferences, preferences.c.user_id == users.c.id))
        homes: dict[str, tuple[float, float]] = {}
        wanted: dict[str, UserPreferences] = {}
        with self.db.engine.connect() as connection:
            for user_id, lat, lng, stored in connection.execute(statement):
                if lat is not None and lng is not None:
                    homes[user_id] = (float(lat), float(lng))
                if stored:
                    parsed = UserPreferences.model_validate(stored)
                    if parsed.categories or parsed.excluded_categories:
                        wanted[user_id] = parsed
        return StoredUsers(homes=homes, preferences=wanted)


_INTERACTION_FIELDS = (
    "user_id",
    "event_id",
    "interaction_type",
    "occurred_at",
    "weight",
    "metadata",
    "idempotency_key",
)


def _interaction_columns() -> list[sa.Column[Any]]:
    """The ``user_interactions`` columns an :class:`Interaction` is read from, in order."""
    return [schema.user_interactions.c[name] for name in _INTERACTION_FIELDS]


def _interaction(row: Sequence[Any]) -> Interaction:
    """An :class:`Interaction` from the values of :func:`_interaction_columns`."""
    fields = dict(zip(_INTERACTION_FIELDS, row, strict=True))
    fields["metadata"] = fields["metadata"] or {}
    return Interaction.model_validate(fields)


def _interaction_row(interaction: Interaction) -> dict[str, Any]:
    """The ``user_interactions`` values of one interaction."""
    return {
        "user_id": interaction.user_id,
        "event_id": interaction.event_id,
        "interaction_type": interaction.interaction_type.value,
        "weight": interaction.weight,
        "occurred_at": interaction.occurred_at,
        "metadata": interaction.metadata,
        "idempotency_key": interaction.idempotency_key,
    }


_PG_STORED_KEYS = (
    "SELECT user_id, idempotency_key, id FROM user_interactions "
    "WHERE (user_id, idempotency_key) IN "
    "(SELECT * FROM unnest(%(users)s::text[], %(keys)s::text[]))"
)
_PG_INSERT_INTERACTIONS = (
    "INSERT INTO user_interactions "
    "(user_id, event_id, interaction_type, weight, occurred_at, metadata, idempotency_key) "
    "SELECT u, e, t, w, o, m::jsonb, k FROM unnest(%(users)s::text[], %(events)s::text[], "
    "%(types)s::text[], %(weights)s::float8[], %(times)s::timestamptz[], %(metadata)s::text[], "
    "%(keys)s::text[]) WITH ORDINALITY AS v(u, e, t, w, o, m, k, n) ORDER BY n RETURNING id"
)
"""PostgreSQL: a batch as seven array parameters, one statement text whatever its size
(psycopg converts and caches it once; a ``VALUES`` list of 7 x n parameters is a new text
for each n). Rows are inserted, and their ids drawn, in the batch's order."""


def _stored_keys(
    connection: Connection, keys: Sequence[tuple[str, str]]
) -> Iterator[tuple[str, str, int]]:
    """``(user_id, idempotency_key, id)`` of the stored interactions among ``keys``."""
    if connection.dialect.name == "postgresql":
        users, idempotency_keys = zip(*keys, strict=True)
        rows = connection.exec_driver_sql(
            _PG_STORED_KEYS, {"users": list(users), "keys": list(idempotency_keys)}
        )
    else:
        table = schema.user_interactions
        rows = connection.execute(
            sa.select(table.c.user_id, table.c.idempotency_key, table.c.id).where(
                sa.tuple_(table.c.user_id, table.c.idempotency_key).in_(list(keys))
            )
        )
    for user_id, key, stored_id in rows:
        yield user_id, key, int(stored_id)


def _insert_interactions(connection: Connection, interactions: Sequence[Interaction]) -> list[int]:
    """Insert ``interactions`` in one statement; their new ids, in order."""
    if connection.dialect.name == "postgresql":
        ids = connection.exec_driver_sql(
            _PG_INSERT_INTERACTIONS,
            {
                "users": [i.user_id for i in interactions],
                "events": [i.event_id for i in interactions],
                "types": [i.interaction_type.value for i in interactions],
                "weights": [i.weight for i in interactions],
                "times": [i.occurred_at for i in interactions],
                "metadata": [orjson.dumps(i.metadata).decode() for i in interactions],
                "keys": [i.idempotency_key for i in interactions],
            },
        ).scalars()
        # Ids come from the sequence in insertion order, which is the batch's (ORDER BY n).
        return sorted(int(i) for i in ids)
    table = schema.user_interactions
    inserted = connection.execute(
        sa.insert(table).returning(table.c.id, sort_by_parameter_order=True),
        [_interaction_row(interaction) for interaction in interactions],
    ).scalars()
    return [int(i) for i in inserted]


class SqlInteractionRepository:
    """:class:`InteractionRepository` on SQLAlchemy Core."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, interaction: Interaction) -> tuple[int, bool]:
        """Store one interaction durably.

        Returns
        -------
        tuple[int, bool]
            The interaction's id and ``True``; or, when this user already stored an
            interaction with the same ``idempotency_key``, that one's id and ``False``.

        Raises
        ------
        StorageError
            When the user or the event does not exist.
        """
        return self.add_many([interaction])[0]

    def add_many(self, interactions: Sequence[Interaction]) -> list[tuple[int, bool]]:
        """Store several interactions in one transaction; see :meth:`add`."""

        def references() -> list[Reference]:
            return [
                ("user", schema.users, {i.user_id for i in interactions}),
                ("event", schema.events, {i.event_id for i in interactions}),
            ]

        with (
            _references_checked(self.db, references),
            self.db.transaction(immediate=True) as connection,
        ):
            if self.db.dialect == "postgresql":
                # One writer per user at a time, in id order: a user's interactions commit in
                # the order of their ids, so "every id above n" is a complete catch-up read
                # (see :meth:`after`). Sorted, so two batches never wait on each other in a
                # cycle. With the users locked no other writer can store one of their keys,
                # so the batch needs no fallback. SQLite serializes all writers anyway.
                connection.exec_driver_sql(
                    "SELECT id FROM users WHERE id = ANY(%(ids)s) ORDER BY id FOR UPDATE",
                    {"ids": sorted({i.user_id for i in interactions})},
                )
                return self._add_batch(connection, interactions)
            try:
                with connection.begin_nested():
                    return self._add_batch(connection, interactions)
            except sa.exc.IntegrityError:
                # Another writer stored one of these keys between our read and our insert
                # (SQLite; on PostgreSQL the user locks above rule it out): go row by row.
                return [self._add(connection, interaction) for interaction in interactions]

    def _add_batch(
        self, connection: Connection, interactions: Sequence[Interaction]
    ) -> list[tuple[int, bool]]:
        """:meth:`add_many` in two statements: one read of the keys already stored, one
        insert of the rest (on SQLite, ``IntegrityError`` when a key arrives in between)."""
        first_of: dict[tuple[str, str], int] = {}
        repeats: list[tuple[int, int]] = []
        fresh: dict[int, None] = {}
        for index, interaction in enumerate(interactions):
            key = interaction.idempotency_key
            if key is None:
                fresh[index] = None
            elif (interaction.user_id, key) in first_of:
                repeats.append((index, first_of[interaction.user_id, key]))
            else:
                first_of[interaction.user_id, key] = index
                fresh[index] = None
        results: dict[int, tuple[int, bool]] = {}
        if first_of:
            for user_id, key, stored_id in _stored_keys(connection, list(first_of)):
                index = first_of[user_id, key]
                results[index] = (int(stored_id), False)
                fresh.pop(index, None)
        if fresh:
            inserted = _insert_interactions(connection, [interactions[index] for index in fresh])
            for index, new_id in zip(fresh, inserted, strict=True):
                results[index] = (new_id, True)
        for index, first in repeats:
            results[index] = (results[first][0], False)
        return [results[index] for index in range(len(interactions))]

    def _add(self, connection: Connection, interaction: Interaction) -> tuple[int, bool]:
        table = schema.user_interactions
        statement = (
            _insert(connection, table)
            .values(**_interaction_row(interaction))
            .on_conflict_do_nothing(
                index_elements=["user_id", "idempotency_key"],
                index_where=sa.text(schema.IDEMPOTENCY_KEY_PRESENT),
            )
            .returning(table.c.id)
        )
        new_id = connection.execute(statement).scalar()
        if new_id is not None:
            return int(new_id), True
        first_id = connection.execute(
            sa.select(table.c.id).where(
                table.c.user_id == interaction.user_id,
                table.c.idempotency_key == interaction.idempotency_key,
            )
        ).scalar_one()
        return int(first_id), False

    def after(
        self, after_id: int, *, user_ids: Collection[str] | None = None
    ) -> list[StoredInteraction]:
        """Interactions stored with an id above ``after_id`` (of ``user_ids`` only, when
        given), in id order: what a process that learned everything up to ``after_id``
        has yet to learn.

        A user's interactions commit in id order, so for one user nothing can appear later
        below an id already read.
        """
        table = schema.user_interactions
        statement = (
            sa.select(table.c.id, *_interaction_columns())
            .where(table.c.id > after_id)
            .order_by(table.c.id)
        )
        if user_ids is not None:
            statement = statement.where(table.c.user_id.in_(sorted(user_ids)))
        with self.db.reading() as connection:
            rows = connection.execute(statement).all()
        return [StoredInteraction(int(row[0]), _interaction(row[1:])) for row in rows]

    def max_id(self) -> int:
        """The highest interaction id stored, 0 when there is none."""
        table = schema.user_interactions
        with self.db.engine.connect() as connection:
            return int(connection.scalar(sa.select(sa.func.max(table.c.id))) or 0)

    def list_for_user(self, user_id: str, *, limit: int | None = None) -> list[Interaction]:
        """A user's interactions, newest first."""
        table = schema.user_interactions
        statement = (
            sa.select(*_interaction_columns())
            .where(table.c.user_id == user_id)
            .order_by(table.c.occurred_at.desc(), table.c.id.desc())
            .limit(limit)
        )
        with self.db.engine.connect() as connection:
            rows = connection.execute(statement).all()
        return [_interaction(row) for row in rows]

    def count(self) -> int:
        """The number of interactions."""
        return _count(self.db, schema.user_interactions)

    def count_by_type(self) -> dict[str, int]:
        """Interactions per type, every type present (zero when none)."""
        table = schema.user_interactions
        statement = sa.select(table.c.interaction_type, sa.func.count()).group_by(
            table.c.interaction_type
        )
        counts = {kind.value: 0 for kind in InteractionType}
        with self.db.engine.connect() as connection:
            counts.update({name: int(n) for name, n in connection.execute(statement)})
        return counts

    def load_log(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        through_id: int | None = None,
    ) -> InteractionLog:
        """Interactions with ``since <= occurred_at < until`` (and an id of at most
        ``through_id``) as an :class:`InteractionLog`.

        Rows are ordered by ``occurred_ts`` (whole seconds), ties by insertion (id);
        ``weight`` is NaN where none was given. Rows are read in storage order and sorted
        in numpy, which avoids an index-order scan's random reads on a large log.
        """
        table = schema.user_interactions
        statement = sa.select(
            table.c.id,
            table.c.user_id,
            table.c.event_id,
            table.c.interaction_type,
            _EpochSeconds(table.c.occurred_at),
            table.c.weight,
        )
        if since is not None:
            statement = statement.where(table.c.occurred_at >= since)
        if until is not None:
            statement = statement.where(table.c.occurred_at < until)
        if through_id is not None:
            statement = statement.where(table.c.id <= through_id)
        parts: dict[str, list[npt.NDArray[Any]]] = {
            name: [] for name in ("id", "user", "event", "type", "ts", "weight")
        }
        with _gc_paused(), self.db.engine.connect() as connection:
            for rows in _driver_partitions(connection, statement):
                ids, users, events, kinds, occurred, weights = _columns(rows, 6)
                parts["id"].append(np.array(ids, dtype=np.int64))
                parts["user"].append(_object_array(users))
                parts["event"].append(_object_array(events))
                parts["type"].append(_mapped(kinds, _TYPE_BY_NAME, np.int8))
                parts["ts"].append(np.array(occurred, dtype=np.int64))
                parts["weight"].append(np.array(weights, dtype=np.float32))
        if not parts["id"]:
            return InteractionLog.from_interactions([])
        joined = {name: np.concatenate(arrays) for name, arrays in parts.items()}
        log = InteractionLog(
            user_ids=joined["user"],
            event_ids=joined["event"],
            type_code=joined["type"],
            occurred_ts=joined["ts"],
            weight=joined["weight"],
        )
        return log.take(np.lexsort((joined["id"], joined["ts"])))


class SqlGroundTruthRepository:
    """:class:`GroundTruthRepository` on SQLAlchemy Core."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, user_id: str) -> dict[str, Any] | None:
        """The user's hidden taste as stored by the generator, or ``None``."""
        table = schema.user_ground_truth
        with self.db.engine.connect() as connection:
            taste = connection.scalar(sa.select(table.c.taste).where(table.c.user_id == user_id))
        return None if taste is None else dict(taste)

    def set(self, user_id: str, taste: Mapping[str, Any]) -> None:
        """Store (or replace) a user's hidden taste.

        Raises
        ------
        StorageError
            When the user does not exist.
        """
        row = {"user_id": user_id, "taste": dict(taste)}
        with (
            _references_checked(self.db, lambda: [("user", schema.users, [user_id])]),
            self.db.transaction() as connection,
        ):
            _upsert(connection, schema.user_ground_truth, [row], ["user_id"])


class SqlMetadataRepository:
    """:class:`MetadataRepository` on SQLAlchemy Core."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def set(self, key: str, value: Any) -> None:
        """Store a JSON-able value under ``key``, replacing any previous one."""
        row = {"key": key, "value": value, "updated_at": utc_now()}
        with self.db.transaction() as connection:
            _upsert(connection, schema.dataset_metadata, [row], ["key"])

    def get(self, key: str) -> Any | None:
        """The value stored under ``key``, or ``None``."""
        table = schema.dataset_metadata
        with self.db.engine.connect() as connection:
            return connection.scalar(sa.select(table.c.value).where(table.c.key == key))


def _count(db: Database, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    with db.engine.connect() as connection:
        return connection.scalar(sa.select(sa.func.count()).select_from(table).where(*where)) or 0


def _upcoming(now: datetime) -> sa.ColumnElement[bool]:
    events = schema.events
    return sa.and_(
        sa.or_(events.c.end_time.is_(None), events.c.end_time >= now),
        events.c.status != EventStatus.CANCELLED.value,
    )


class Store:
    """Every repository of one database, plus cross-table statistics.

    Parameters
    ----------
    db
        A migrated :class:`Database`.

    Attributes
    ----------
    events, venues, users, interactions, ground_truth, metadata
        The repositories, all working on ``db``.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.events: EventRepository = SqlEventRepository(db)
        self.venues: VenueRepository = SqlVenueRepository(db)
        self.users: UserRepository = SqlUserRepository(db)
        self.interactions: InteractionRepository = SqlInteractionRepository(db)
        self.ground_truth: GroundTruthRepository = SqlGroundTruthRepository(db)
        self.metadata: MetadataRepository = SqlMetadataRepository(db)

    def stats(self, now: datetime) -> dict[str, Any]:
        """Row counts per table, upcoming events at ``now`` and interactions per type.

        Returns
        -------
        dict
            ``{"tables": {table: rows}, "upcoming_events": n,
            "interactions_by_type": {type: n}}``.
        """
        with self.db.engine.connect() as connection:
            tables = {
                name: connection.scalar(sa.select(sa.func.count()).select_from(table)) or 0
                for name, table in schema.metadata.tables.items()
            }
        return {
            "tables": tables,
            "upcoming_events": self.events.count_upcoming(now),
            "interactions_by_type": self.interactions.count_by_type(),
        }
