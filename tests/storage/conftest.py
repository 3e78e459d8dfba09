"""Storage fixtures: one migrated database per backend, and small domain-object factories.

``db`` is parametrized over SQLite (a file under ``tmp_path``) and PostgreSQL (the
worker's PostGIS database, migrated once, every table truncated before each test), so
every test that uses it is a contract test run on both backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from scenescout.storage import Database, Store, schema


@pytest.fixture(scope="session")
def migrated_postgres_url(postgres_server_url: str) -> str:
    database = Database.from_url(postgres_server_url)
    database.migrate()
    database.dispose()
    return postgres_server_url


def empty_all_tables(database: Database) -> None:
    # DELETE beats TRUNCATE on tiny tables (no new files to create and sync).
    with database.transaction() as connection:
        for table in reversed(schema.metadata.sorted_tables):
            connection.execute(sa.delete(table))


@pytest.fixture
def postgres_db(migrated_postgres_url: str) -> Iterator[Database]:
    database = Database.from_url(migrated_postgres_url)
    empty_all_tables(database)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied per test (cheaper than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "scenescout.db"
    database = Database.from_url(f"sqlite:///{path}")
    database.migrate()
    with database.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.dispose()
    return path


@pytest.fixture
def sqlite_db(sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    path = tmp_path / "scenescout.db"
    path.write_bytes(sqlite_template.read_bytes())
    database = Database.from_url(f"sqlite:///{path}")
    yield database
    database.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> Database:
    """A migrated, empty database on each backend."""
    fixture = "sqlite_db" if request.param == "sqlite" else "postgres_db"
    database: Database = request.getfixturevalue(fixture)
    return database


@pytest.fixture
def store(db: Database) -> Store:
    return Store(db)
