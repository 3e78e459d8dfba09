"""Schema fuzzing: Hypothesis cases from the OpenAPI schema never get a 5xx.

Every operation gets up to 30 generated requests, valid and invalid ones (schemathesis
strategies run by Hypothesis), sent with a service key so they reach the services; every
answer must be in the success or error shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from tests.api.api_world import SERVICE_KEY, make_settings

from scenescout.api import create_app
from scenescout.api.routes import ROUTERS
from scenescout.datasets import World
from scenescout.engine import PersonalizationEngine
from scenescout.storage import Database, Store

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module")
def fuzzed_app(
    world: World, world_db_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FastAPI]:
    path = tmp_path_factory.mktemp("fuzz") / "scenescout.db"
    path.write_bytes(world_db_file.read_bytes())
    url = f"sqlite:///{path}"
    database = Database.from_url(url)
    store = Store(database)
    engine = PersonalizationEngine.from_store(store, now=world.config.reference_time)
    app = create_app(make_settings(url), engine=engine, store=store)
    with TestClient(app):
        yield app
    database.dispose()


@pytest.fixture(scope="module")
def fuzzed_schema(fuzzed_app: FastAPI) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app)


OPERATIONS = sorted(
    (method, route.path)
    for router in ROUTERS
    for route in router.routes
    if isinstance(route, APIRoute)
    for method in route.methods or ()
)


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_no_generated_request_gets_a_server_error(
    fuzzed_schema: schemathesis.BaseSchema, method: str, path: str
) -> None:
    operation = fuzzed_schema[path][method]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @given(case=cases)
    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    def answers_without_a_server_error(case: schemathesis.Case) -> None:
        response = case.call(headers={"Authorization": f"Bearer {SERVICE_KEY}"})

        assert response.status_code < 500, response.text
        if path != "/metrics":
            body = response.json()
            assert body["success"] is (response.status_code < 400)
            assert ("data" in body) is body["success"]

    answers_without_a_server_error()
