"""The service's own queries, each on a connection the caller chooses.

Reads of user-owned rows take the connection from
:meth:`~scenescout.storage.Database.acting_for_user` when a user token is acting, so that
PostgreSQL's row-level security confines them; the ``users`` table itself is not user-owned
(the row-level role cannot read it) and is read on the service's connection.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from scenescout.domain import UserPreferences
from scenescout.storage import schema

_ID_CHUNK = 1_000


@dataclass(frozen=True)
class RecommendationLogRow:
    """One served recommendation list, as ``recommendation_logs`` stores it."""

    user_id: str
    request: dict[str, Any]
    variant: str | None
    items: list[str]
    scores: list[float]
    timings: dict[str, float]
    created_at: datetime


def user_row(connection: Connection, user_id: str) -> dict[str, Any] | None:
    """The ``users`` row of ``user_id`` (without preferences), or ``None``."""
    users = schema.users
    row = connection.execute(sa.select(users).where(users.c.id == user_id)).first()
    return None if row is None else row._asdict()


def stored_preferences(connection: Connection, user_id: str) -> UserPreferences:
    """The user's explicit preferences; empty ones when none were stored."""
    table = schema.user_preferences
    stored = connection.scalar(sa.select(table.c.preferences).where(table.c.user_id == user_id))
    return UserPreferences.model_validate(stored or {})


def owned_rows(connection: Connection, user_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every user-owned table whose ``user_id`` is ``user_id``, by table."""
    found: dict[str, list[dict[str, Any]]] = {}
    for name in schema.USER_OWNED_TABLES:
        table = schema.metadata.tables[name]
        statement = sa.select(table).where(table.c.user_id == user_id)
        if "id" in table.c:
            statement = statement.order_by(table.c.id)
        found[name] = [row._asdict() for row in connection.execute(statement)]
    return found


def row_counts(connection: Connection, user_id: str) -> dict[str, int]:
    """How many rows of each user table still refer to ``user_id``.

    ``users`` counts the user's own row; ``user_similarities`` counts rows on either side
    of a similarity. Run it on the service's connection to see every row.
    """
    counts: dict[str, int] = {}
    references = [(schema.users, schema.users.c.id)]
    for name in schema.USER_OWNED_TABLES:
        table = schema.metadata.tables[name]
        references.append((table, table.c.user_id))
    for table, column in references:
        where = column == user_id
        if table is schema.user_similarities:
            where = sa.or_(where, table.c.similar_user_id == user_id)
        statement = sa.select(sa.func.count()).select_from(table).where(where)
        counts[table.name] = connection.scalar(statement) or 0
    return counts


def existing_ids(connection: Connection, table: sa.Table, ids: Collection[str]) -> set[str]:
    """Which of ``ids`` are ids of rows of ``table`` (``events`` or ``users``)."""
    wanted = sorted(set(ids))
    found: set[str] = set()
    for start in range(0, len(wanted), _ID_CHUNK):
        chunk = wanted[start : start + _ID_CHUNK]
        found.update(connection.scalars(sa.select(table.c.id).where(table.c.id.in_(chunk))))
    return found


_PG_INSERT_LOGS = (
    "INSERT INTO recommendation_logs "
    "(user_id, request, variant, items, scores, timings, created_at) "
    "SELECT r.user_id, r.request, r.variant, r.items, r.scores, r.timings, r.created_at "
    "FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(user_id text, request jsonb, variant text, "
    "items jsonb, scores jsonb, timings jsonb, created_at timestamptz) "
    "WHERE EXISTS (SELECT FROM users WHERE users.id = r.user_id)"
)
"""PostgreSQL: the whole batch as one JSON document (one orjson call), unknown users left out
by the statement itself."""


def insert_recommendation_logs(connection: Connection, rows: Sequence[RecommendationLogRow]) -> int:
    """Insert the rows of users that exist (others, e.g. anonymous or just deleted, are
    skipped); return how many were inserted."""
    if connection.dialect.name == "postgresql":
        document = orjson.dumps(rows, option=orjson.OPT_SERIALIZE_NUMPY).decode()
        return int(connection.exec_driver_sql(_PG_INSERT_LOGS, {"rows": document}).rowcount)
    known = existing_ids(connection, schema.users, {row.user_id for row in rows})
    values = [
        {
            "user_id": row.user_id,
            "request": row.request,
            "variant": row.variant,
            "items": row.items,
            "scores": row.scores,
            "timings": row.timings,
            "created_at": row.created_at,
        }
        for row in rows
        if row.user_id in known
    ]
    if values:
        connection.execute(sa.insert(schema.recommendation_logs), values)
    return len(values)
