"""The API on PostgreSQL: user tokens read through row-level security; erasure is complete."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.api.api_world import Headers, active_user, make_settings

from scenescout.api import create_app
from scenescout.datasets import World, write_world
from scenescout.engine import PersonalizationEngine
from scenescout.storage import Database, Store, schema

pytestmark = [pytest.mark.postgres, pytest.mark.integration]


@pytest.fixture
def postgres_client(postgres_server_url: str, world: World) -> Iterator[TestClient]:
    database = Database.from_url(postgres_server_url)
    database.migrate()
    with database.transaction() as connection:
        for table in reversed(schema.metadata.sorted_tables):
            connection.execute(sa.delete(table))
    write_world(database, world)
    store = Store(database)
    engine = PersonalizationEngine.from_store(store, now=world.config.reference_time)
    app = create_app(make_settings(postgres_server_url), engine=engine, store=store)
    with TestClient(app) as client:
        yield client
    database.dispose()


def test_a_user_token_reads_its_rows_as_the_row_level_role(
    postgres_client: TestClient, user_headers: Callable[[str], Headers], world: World
) -> None:
    user_id = active_user(world)
    headers = user_headers(user_id)
    postgres_client.post(
        "/api/personalization/recommendations", json={"user_id": user_id}, headers=headers
    )

    profile = postgres_client.get(
        "/api/personalization/profile", params={"user_id": user_id}, headers=headers
    )
    user = postgres_client.get(f"/api/users/{user_id}", headers=headers)
    export = postgres_client.get(f"/api/users/{user_id}/export", headers=headers)

    assert profile.status_code == user.status_code == export.status_code == 200
    data = export.json()["data"]
    assert data["interactions"]
    assert {row["user_id"] for row in data["interactions"]} == {user_id}
    assert len(data["records"]["recommendation_logs"]) == 1


def test_erasure_on_postgres_leaves_nothing(
    postgres_client: TestClient, service: Headers, world: World
) -> None:
    user_id = active_user(world)

    deleted = postgres_client.delete(f"/api/users/{user_id}", headers=service)
    status = postgres_client.get(f"/api/users/{user_id}/erasure", headers=service)

    assert deleted.status_code == 200
    assert status.json()["data"]["erased"] is True
