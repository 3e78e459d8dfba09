"""Database: URLs, migrations, bulk loading (contract tests run on both backends)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from tests.storage.factories import BERLIN_SUMMER, T0, make_event, make_interaction, make_user

from scenescout.domain import InteractionType
from scenescout.storage import Database, StorageError, Store, schema
from scenescout.storage.migrations import include_object

INTERACTION_COLUMNS = (
    "user_id",
    "event_id",
    "interaction_type",
    "weight",
    "occurred_at",
    "metadata",
    "idempotency_key",
)


class TestFromUrl:
    @pytest.mark.parametrize(
        "url",
        [
            "postgresql://u:secret@db.example:5432/scenescout",
            "postgresql+psycopg://u:secret@db.example:5432/scenescout",
            "postgres://u:secret@db.example:5432/scenescout",
        ],
    )
    def test_postgres_urls_use_psycopg_3(self, url: str) -> None:
        db = Database.from_url(url)  # no connection is opened
        assert db.dialect == "postgresql"
        assert db.engine.url.drivername == "postgresql+psycopg"
        assert "secret" not in db.url

    @pytest.mark.parametrize("url", ["mysql://u@h/db", "oracle://x", "not a url"])
    def test_unsupported_urls_name_the_supported_schemes(self, url: str) -> None:
        with pytest.raises(StorageError, match=r"sqlite:///.*postgresql://.*postgresql\+psycopg"):
            Database.from_url(url)

    def test_sqlite_file_gets_its_parent_directory(self, tmp_path: Path) -> None:
        path = tmp_path / "nested" / "deeper" / "scenescout.db"
        db = Database.from_url(f"sqlite:///{path}")
        db.migrate()
        db.dispose()
        assert path.exists()
        assert db.dialect == "sqlite"

    def test_in_memory_sqlite(self) -> None:
        db = Database.from_url("sqlite://")
        db.migrate()
        assert Store(db).events.count() == 0
        db.dispose()

    def test_sqlite_connections_are_configured(self, sqlite_db: Database) -> None:
        with sqlite_db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            distance = connection.exec_driver_sql(
                "SELECT haversine_km(51.5074, -0.1278, 48.8566, 2.3522)"
            ).scalar()
        assert distance == pytest.approx(343.5, abs=1.0)


class TestMigrations:
    @pytest.mark.filterwarnings("ignore:Did not recognize type 'geography'")
    def test_migrated_schema_matches_schema_py(self, db: Database) -> None:
        with db.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"include_object": include_object, "compare_type": True}
            )
            assert compare_metadata(context, schema.metadata) == []

    def test_downgrade_then_upgrade(self, db: Database) -> None:
        try:
            db.downgrade()
            with db.engine.connect() as connection:
                left = set(sa.inspect(connection).get_table_names())
            assert left.isdisjoint(schema.metadata.tables)
        finally:
            db.migrate()
        with db.engine.connect() as connection:
            tables = set(sa.inspect(connection).get_table_names())
            revision = MigrationContext.configure(connection).get_current_revision()
        assert set(schema.metadata.tables) <= tables
        assert revision == "0003"


class TestBulkInsert:
    @pytest.fixture(autouse=True)
    def _parents(self, db: Database) -> None:
        db.bulk_insert("users", ["id", "created_at"], [(f"u{i}", T0) for i in range(5)])
        Store(db).events.upsert([make_event(f"e{i}") for i in range(3)])

    def test_counts_and_reports_batches(self, db: Database) -> None:
        rows = (
            (f"u{i % 5}", f"e{i % 3}", "view", None, T0 + timedelta(seconds=i), None, None)
            for i in range(1_234)
        )
        batches: list[int] = []
        written = db.bulk_insert(
            "user_interactions", INTERACTION_COLUMNS, rows, batch_size=500, on_batch=batches.append
        )
        assert written == 1_234
        assert batches == [500, 500, 234]
        assert Store(db).interactions.count() == 1_234

    def test_into_a_table_with_rows_already(self, db: Database) -> None:
        store = Store(db)
        for start in (0, 10):
            rows = [
                (f"u{i % 5}", "e0", "click", 1.0, T0 + timedelta(seconds=i), None, f"k{i}")
                for i in range(start, start + 10)
            ]
            assert db.bulk_insert("user_interactions", INTERACTION_COLUMNS, rows) == 10
        assert store.interactions.count() == 20
        log = store.interactions.load_log()
        assert log.occurred_ts.tolist() == [int(T0.timestamp()) + i for i in range(20)]

    def test_json_and_datetime_round_trip(self, db: Database) -> None:
        local = datetime(2026, 7, 1, 21, 30, 15, 123456, tzinfo=BERLIN_SUMMER)
        metadata = {"source": "bulk", "nested": {"list": [1, 2.5, None, "x"]}, "ok": True}
        db.bulk_insert(
            "user_interactions",
            INTERACTION_COLUMNS,
            [("u1", "e1", InteractionType.SAVE, 0.25, local, metadata, "key")],
        )
        db.bulk_insert(
            "events",
            ["id", "title", "tags", "lat", "lng", "start_time", "end_time", "created_at",
             "updated_at"],
            [("b1", "Bulk", ["a", "b"], 1.0, 2.0, local, local, T0, T0)],
        )  # fmt: skip
        store = Store(db)
        (stored,) = store.interactions.list_for_user("u1")
        assert stored.metadata == metadata
        assert stored.occurred_at == local
        assert stored.interaction_type is InteractionType.SAVE
        assert stored.idempotency_key == "key"
        event = store.events.get("b1")
        assert event is not None
        assert event.tags == ["a", "b"] and event.start_time == local
        # Rows written by bulk_insert and by SQLAlchemy compare alike in SQL.
        with db.engine.connect() as connection:
            later = connection.scalar(
                sa.select(sa.func.count())
                .select_from(schema.user_interactions)
                .where(schema.user_interactions.c.occurred_at >= local)
            )
        assert later == 1

    def test_rejected_rows_insert_nothing(self, db: Database) -> None:
        rows = [
            ("u1", "e1", "view", None, T0, None, None),
            ("ghost", "e1", "view", None, T0, None, None),
        ]
        with pytest.raises(StorageError, match="ghost"):
            db.bulk_insert("user_interactions", INTERACTION_COLUMNS, rows)
        assert Store(db).interactions.count() == 0
        # The connection pool is left healthy: foreign keys are enforced again.
        with pytest.raises(StorageError, match="user 'ghost' does not exist"):
            Store(db).interactions.add(make_interaction("ghost", "e1"))

    def test_duplicate_idempotency_keys_are_refused(self, db: Database) -> None:
        rows = [("u1", "e1", "view", None, T0, None, "same")] * 2
        with pytest.raises(StorageError, match="user_interactions"):
            db.bulk_insert("user_interactions", INTERACTION_COLUMNS, rows)
        assert Store(db).interactions.count() == 0

    @pytest.mark.parametrize(
        ("table", "columns", "rows", "message"),
        [
            ("nope", ["id"], [], "unknown table 'nope'"),
            ("users", ["id", "shoe_size"], [], "no column"),
            ("users", ["id", "created_at"], [("u9", datetime(2026, 1, 1))], "naive datetime"),
        ],
    )
    def test_bad_input_is_a_storage_error(
        self, db: Database, table: str, columns: list[str], rows: list[Any], message: str
    ) -> None:
        with pytest.raises(StorageError, match=message):
            db.bulk_insert(table, columns, rows)
        assert Store(db).users.count() == 5

    def test_generated_rows_read_back_as_users(self, db: Database) -> None:
        db.bulk_insert(
            "users", ["id", "home_lat", "home_lng", "created_at"], [("h1", 1.5, 2.5, T0)]
        )
        assert Store(db).users.get("h1") == make_user("h1", home_lat=1.5, home_lng=2.5)


class TestReading:
    """``Database.reading``: reads without a transaction of their own, on a pooled
    connection that transactions reuse afterwards."""

    @staticmethod
    def _one_connection(db: Database) -> Database:
        """The same database behind a pool of exactly one connection."""
        return Database.from_url(
            db.engine.url.render_as_string(hide_password=False), pool_size=1, max_overflow=0
        )

    @pytest.mark.postgres
    def test_postgres_reads_see_what_was_committed_before_each_statement(
        self, postgres_db: Database
    ) -> None:
        db = postgres_db
        store = Store(db)
        store.users.upsert([make_user("alice")])
        with db.reading() as reader:
            first = reader.scalars(sa.select(schema.users.c.id)).all()
            store.users.upsert([make_user("bob")])  # committed by another connection
            second = reader.scalars(sa.select(schema.users.c.id).order_by("id")).all()

        assert first == ["alice"]
        assert second == ["alice", "bob"]

    def test_a_transaction_on_the_same_connection_afterwards_still_rolls_back(
        self, db: Database
    ) -> None:
        single = self._one_connection(db)
        try:
            with single.reading() as reader:
                reader.scalars(sa.select(schema.users.c.id)).all()
            with pytest.raises(RuntimeError), single.transaction() as connection:
                connection.execute(sa.insert(schema.users).values(id="carol", created_at=T0))
                raise RuntimeError("abandon the transaction")
            with single.reading() as reader:
                left = reader.scalars(sa.select(schema.users.c.id)).all()
        finally:
            single.dispose()

        assert left == []

    @pytest.mark.postgres
    def test_postgres_reads_run_in_autocommit(self, postgres_db: Database) -> None:
        with postgres_db.reading() as reader:
            reader.scalars(sa.select(schema.users.c.id)).all()
            dbapi = reader.connection.dbapi_connection
            assert dbapi is not None and dbapi.autocommit is True
            # No transaction is left open on the server between statements.
            assert dbapi.info.transaction_status.name == "IDLE"
        with postgres_db.transaction() as connection:
            dbapi = connection.connection.dbapi_connection
            assert dbapi is not None and dbapi.autocommit is False
