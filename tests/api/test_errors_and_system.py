"""The error shape everywhere, and /health, /ready, /metrics, /docs."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.api.api_world import Headers, make_settings
from threadpoolctl import ThreadpoolController

from scenescout.api import create_app
from scenescout.api.context import SERVING_BLAS_THREADS, SERVING_GC_THRESHOLDS, EngineSlot
from scenescout.api.services import ProfileService
from scenescout.config import PersonalizationConfig
from scenescout.datasets import World
from scenescout.engine import PersonalizationEngine
from scenescout.storage import StorageError, Store

pytestmark = pytest.mark.integration


def _assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status
    body = response.json()
    assert body.keys() == {"success", "error"}
    assert body["success"] is False
    assert body["error"].keys() == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


def test_an_unknown_route_is_404_in_the_error_shape(client: TestClient) -> None:
    error = _assert_error(client.get("/api/nowhere"), 404, "not_found")

    assert "/docs" in error["message"]


def test_a_wrong_method_is_405_naming_the_allowed_ones(client: TestClient) -> None:
    response = client.delete("/api/personalization/recommendations")

    error = _assert_error(response, 405, "method_not_allowed")
    assert "POST" in error["message"]


def test_a_body_that_is_not_json_is_400(client: TestClient, service: Headers) -> None:
    response = client.post(
        "/api/personalization/recommendations",
        content=b'{"user_id": ',
        headers={**service, "Content-Type": "application/json"},
    )

    _assert_error(response, 400, "invalid_json")


def test_an_unhandled_error_is_500_in_the_error_shape(
    client: TestClient, service: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("secret detail of user u-123")

    monkeypatch.setattr(ProfileService, "get", broken)

    response = client.get("/api/personalization/profile", params={"user_id": "u"}, headers=service)

    error = _assert_error(response, 500, "internal_error")
    assert "u-123" not in error["message"]


def test_a_write_that_races_another_is_409(
    client: TestClient,
    service: Headers,
    world: World,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def deleted_meanwhile(user_id: str, preferences: object) -> None:
        raise StorageError(f"user {user_id!r} does not exist")

    monkeypatch.setattr(store.users, "set_preferences", deleted_meanwhile)
    user_id = str(world.users.ids[0])

    response = client.put(
        "/api/personalization/profile",
        json={"user_id": user_id, "preferences": {}},
        headers=service,
    )

    error = _assert_error(response, 409, "conflict")
    assert "retry" in error["message"]


def test_health_ready_metrics_and_docs(client: TestClient, service: Headers) -> None:
    client.post("/api/personalization/recommendations", json={"user_id": "x"}, headers=service)

    health = client.get("/health")
    ready = client.get("/ready")
    metrics = client.get("/metrics")

    assert health.json() == {"success": True, "data": {"status": "ok"}}
    assert ready.json()["data"]["status"] == "ready"
    assert ready.json()["data"]["catalog_events"] > 0
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert (
        'scenescout_http_requests_total{method="POST",'
        'route="/api/personalization/recommendations",status="200"} 1.0'
    ) in text
    assert "scenescout_http_request_duration_seconds_bucket" in text
    assert 'scenescout_recommendation_duration_seconds_count{cache="miss"} 1.0' in text
    assert client.get("/docs").status_code == 200
    assert "/api/personalization/recommendations" in client.get("/openapi.json").json()["paths"]


@pytest.fixture
def blocked_training(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Training that starts and then waits; yields the event set once it started."""
    started, release = threading.Event(), threading.Event()

    def from_store(
        store: Store, config: PersonalizationConfig, now: object = None
    ) -> PersonalizationEngine:
        started.set()
        release.wait()
        raise RuntimeError("training was stopped by the test")

    monkeypatch.setattr(PersonalizationEngine, "from_store", from_store)
    yield started
    release.set()


def test_while_the_engine_trains_ready_and_recommendations_are_503(
    database_url: str, store: Store, blocked_training: threading.Event, service: Headers
) -> None:
    app = create_app(make_settings(database_url), store=store)
    with TestClient(app) as client:
        assert blocked_training.wait(timeout=30)
        ready = client.get("/ready")
        served = client.post(
            "/api/personalization/recommendations", json={"user_id": "u"}, headers=service
        )
        health = client.get("/health")

    error = _assert_error(ready, 503, "not_ready")
    assert error["details"] == {"database": True, "catalog_loaded": False}
    assert "still loading" in _assert_error(served, 503, "not_ready")["message"]
    assert health.status_code == 200


def test_a_model_that_failed_to_load_is_reported_by_ready_and_requests(
    database_url: str, store: Store, service: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    def from_store(
        store: Store, config: PersonalizationConfig, now: object = None
    ) -> PersonalizationEngine:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(PersonalizationEngine, "from_store", from_store)
    app = create_app(make_settings(database_url), store=store)
    with TestClient(app) as client:
        for thread in threading.enumerate():
            if thread.name == "scenescout-load":
                thread.join()
        ready = client.get("/ready")
        served = client.post(
            "/api/personalization/recommendations", json={"user_id": "u"}, headers=service
        )
    assert "failed to load (RuntimeError)" in _assert_error(ready, 503, "not_ready")["message"]
    assert "failed to load (RuntimeError)" in _assert_error(served, 503, "not_ready")["message"]


def test_a_loaded_engine_is_left_out_of_full_garbage_collections(
    engine: PersonalizationEngine,
) -> None:
    slot = EngineSlot()
    frozen_before = gc.get_freeze_count()
    thresholds_before = gc.get_threshold()
    try:
        slot.load(lambda: engine)
        assert slot.get() is engine
        # The engine's objects moved to the collector's permanent generation.
        assert gc.get_freeze_count() > frozen_before
        assert all(tracked is not engine for tracked in gc.get_objects(generation=2))
        # Young collections run less often than by default.
        assert gc.get_threshold() == SERVING_GC_THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds_before)


def test_a_serving_process_runs_blas_on_one_thread(engine: PersonalizationEngine) -> None:
    controller = ThreadpoolController()
    thresholds_before = gc.get_threshold()
    with controller.limit(limits=2, user_api="blas"):  # restored on the way out
        try:
            EngineSlot().load(lambda: engine)
            blas = [pool for pool in controller.info() if pool["user_api"] == "blas"]
            assert blas and {pool["num_threads"] for pool in blas} == {SERVING_BLAS_THREADS}
        finally:
            gc.unfreeze()
            gc.set_threshold(*thresholds_before)
