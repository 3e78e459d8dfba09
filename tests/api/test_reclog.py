"""The recommendation-log writer: batches, skips unknown users, counts what it drops."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from scenescout.api.reclog import RecommendationLogWriter
from scenescout.api.repository import RecommendationLogRow
from scenescout.domain import User, utc_now
from scenescout.storage import Database, Store, schema


def _row(user_id: str) -> RecommendationLogRow:
    return RecommendationLogRow(
        user_id=user_id,
        request={"user_id": user_id, "limit": 2},
        variant="default",
        items=["e1", "e2"],
        scores=[0.9, 0.5],
        timings={"total_time_ms": 1.0, "db_time_ms": 0.2, "ml_time_ms": 0.7},
        created_at=utc_now(),
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, database_url: str) -> Iterator[Store]:
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_server_url")
        database = Database.from_url(url)
        database.migrate()
        with database.transaction() as connection:
            connection.execute(sa.delete(schema.recommendation_logs))
    else:
        database = Database.from_url(database_url)
    store = Store(database)
    store.users.upsert([User(id="log-user")])
    yield store
    database.dispose()


def _logged_users(store: Store) -> list[str]:
    table = schema.recommendation_logs
    with store.db.engine.connect() as connection:
        return list(connection.scalars(sa.select(table.c.user_id).order_by(table.c.id)))


def test_flush_writes_the_queued_rows_of_known_users(store: Store) -> None:
    dropped: list[int] = []
    writer = RecommendationLogWriter(
        store.db, flush_interval_seconds=60.0, batch_size=2, queue_size=10, on_drop=dropped.append
    )
    for user_id in ("log-user", "unknown-user", "log-user", "log-user"):
        writer.submit(_row(user_id))

    writer.flush()

    assert _logged_users(store) == ["log-user"] * 3
    writer.submit(_row("log-user"))
    writer.close()
    assert _logged_users(store) == ["log-user"] * 4
    assert dropped == []


def test_rows_beyond_the_queue_are_dropped_and_counted(store: Store) -> None:
    dropped: list[int] = []
    writer = RecommendationLogWriter(
        store.db, flush_interval_seconds=60.0, batch_size=10, queue_size=2, on_drop=dropped.append
    )
    for _ in range(3):  # the thread is not started yet: nothing drains the queue
        writer.submit(_row("log-user"))

    writer.flush()
    writer.close()

    assert dropped == [1]
    assert _logged_users(store) == ["log-user"] * 2


def test_a_logged_row_keeps_every_field(store: Store) -> None:
    row = _row("log-user")
    writer = RecommendationLogWriter(
        store.db, flush_interval_seconds=60.0, batch_size=5, queue_size=10, on_drop=print
    )
    writer.submit(row)
    writer.close()  # never started: closing still writes what waits
    table = schema.recommendation_logs
    with store.db.engine.connect() as connection:
        (stored,) = connection.execute(sa.select(table)).mappings().all()
    assert {name: stored[name] for name in ("user_id", "request", "variant", "items")} == {
        "user_id": row.user_id,
        "request": row.request,
        "variant": row.variant,
        "items": row.items,
    }
    assert stored["scores"] == row.scores and stored["timings"] == row.timings
    assert stored["created_at"] == row.created_at
