"""An app over a small generated world in SQLite, with its settings' cache (L1 only).

Each test gets its own copy of the world's database and a freshly trained engine, so tests
may write freely. The world's "now" is the current hour, so its upcoming events are
upcoming for the app's real clock too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.api.api_world import JWT_SECRET, SERVICE_KEY, Headers, make_settings

from scenescout.api import create_app, issue_user_token
from scenescout.datasets import World, WorldConfig, generate_world, write_world
from scenescout.engine import PersonalizationEngine
from scenescout.storage import Database, Store


@pytest.fixture(scope="session")
def world() -> World:
    return generate_world(
        WorldConfig(
            seed=11,
            n_events=200,
            n_users=40,
            n_interactions=2_000,
            history_days=30,
            horizon_days=20,
        )
    )


@pytest.fixture(scope="session")
def world_db_file(world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("api-world") / "world.db"
    database = Database.from_url(f"sqlite:///{path}")
    database.migrate()
    write_world(database, world)
    with database.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.dispose()
    return path


@pytest.fixture
def database_url(world_db_file: Path, tmp_path: Path) -> str:
    path = tmp_path / "scenescout.db"
    path.write_bytes(world_db_file.read_bytes())
    return f"sqlite:///{path}"


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    database = Database.from_url(database_url)
    yield Store(database)
    database.dispose()


@pytest.fixture
def engine(store: Store, world: World) -> PersonalizationEngine:
    return PersonalizationEngine.from_store(store, now=world.config.reference_time)


@pytest.fixture
def app(database_url: str, engine: PersonalizationEngine, store: Store) -> FastAPI:
    return create_app(make_settings(database_url), engine=engine, store=store)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def service() -> Headers:
    return {"Authorization": f"Bearer {SERVICE_KEY}"}


@pytest.fixture
def user_headers() -> Callable[[str], Headers]:
    def headers(user_id: str) -> Headers:
        return {"Authorization": f"Bearer {issue_user_token(JWT_SECRET, user_id)}"}

    return headers
