"""POST /api/personalization/recommendations: the seed's contract, cache, logs, metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.api.api_world import Headers, active_user, is_cached

from scenescout.datasets import World
from scenescout.storage import Store, schema

pytestmark = pytest.mark.integration

URL = "/api/personalization/recommendations"

SEED = Path(__file__).resolve().parents[3] / "shared" / "seed" / "personalization-system-summary.md"


def _seed_example(label: str) -> str:
    """The JSON block after ``**Request:**`` or ``**Response:**`` in the seed, verbatim."""
    text = SEED.read_text(encoding="utf-8")
    block = re.search(rf"\*\*{label}:\*\*\s*```json\n(.*?)```", text, re.DOTALL)
    assert block is not None, f"the seed has no {label} example"
    return block.group(1)


def _shape(value: Any) -> Any:
    """Keys all the way down (the first item standing for a list)."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__ if isinstance(value, bool | str) else "number"


def _assert_seed_shape(body: dict[str, Any]) -> None:
    assert body.keys() == {"success", "data"}
    assert body["success"] is True
    data = body["data"]
    assert data.keys() == {"recommendations", "cache_info", "performance"}
    assert data["cache_info"].keys() == {"hit", "ttl_seconds"}
    assert data["performance"].keys() == {"total_time_ms", "db_time_ms", "ml_time_ms"}
    for item in data["recommendations"]:
        assert item.keys() == {"event_id", "score", "confidence", "explanation"}
        assert item["explanation"].keys() == {"primary_reason", "contributing_factors"}
        assert 0.0 <= item["confidence"] <= 1.0


def _log_rows(store: Store) -> list[dict[str, Any]]:
    with store.db.engine.connect() as connection:
        rows = connection.execute(sa.select(schema.recommendation_logs)).all()
    return [row._asdict() for row in rows]


def test_the_seeds_example_request_sent_verbatim_gets_the_seeds_response_shape(
    client: TestClient, service: Headers
) -> None:
    request = _seed_example("Request")

    response = client.post(
        URL, content=request.encode(), headers={**service, "Content-Type": "application/json"}
    )

    assert response.status_code == 200
    _assert_seed_shape(response.json())
    # January 2024 is over: nothing can be recommended in it.
    assert response.json()["data"]["recommendations"] == []


def test_a_served_response_has_exactly_the_shape_of_the_seeds_example(
    client: TestClient, service: Headers, world: World
) -> None:
    expected = _shape(json.loads(_seed_example("Response")))

    response = client.post(URL, json={"user_id": active_user(world), "limit": 3}, headers=service)

    served = response.json()
    served["data"]["recommendations"] = served["data"]["recommendations"][:1]
    assert _shape(served) == expected


def test_a_known_user_gets_ranked_upcoming_events(
    client: TestClient, service: Headers, world: World
) -> None:
    response = client.post(URL, json={"user_id": active_user(world), "limit": 5}, headers=service)

    assert response.status_code == 200
    body = response.json()
    _assert_seed_shape(body)
    items = body["data"]["recommendations"]
    assert 0 < len(items) <= 5
    assert len({item["event_id"] for item in items}) == len(items)
    assert body["data"]["cache_info"] == {"hit": False, "ttl_seconds": 1800}


def test_a_repeated_request_is_a_cache_hit_with_the_same_items(
    app: FastAPI, client: TestClient, service: Headers, world: World
) -> None:
    request = {"user_id": active_user(world), "limit": 5}
    first = client.post(URL, json=request, headers=service).json()["data"]
    second = client.post(URL, json=request, headers=service).json()["data"]

    assert second["cache_info"]["hit"] is True
    assert 0 < second["cache_info"]["ttl_seconds"] <= 1800
    assert second["recommendations"] == first["recommendations"]
    metrics = client.get("/metrics").text
    assert 'scenescout_recommendation_cache_lookups_total{result="hit"} 1.0' in metrics
    assert 'scenescout_recommendation_cache_lookups_total{result="miss"} 1.0' in metrics
    assert 'scenescout_cache_hits_total{level="l1"} 1.0' in metrics
    assert is_cached(app, request)


def test_each_request_writes_a_recommendation_log_row_off_the_request_path(
    app: FastAPI, client: TestClient, service: Headers, world: World, store: Store
) -> None:
    user_id = active_user(world)
    served = client.post(URL, json={"user_id": user_id, "limit": 4}, headers=service).json()
    client.post(URL, json={"user_id": "nobody-knows-me", "limit": 4}, headers=service)

    app.state.services.context.logs.flush()

    rows = _log_rows(store)
    assert len(rows) == 1  # the unknown user has no row to own a log
    row = rows[0]
    items = served["data"]["recommendations"]
    assert row["user_id"] == user_id
    assert row["request"]["limit"] == 4
    assert row["variant"] == "default"
    assert row["items"] == [item["event_id"] for item in items]
    assert row["scores"] == [item["score"] for item in items]
    assert row["timings"].keys() == {"total_time_ms", "db_time_ms", "ml_time_ms"}


def test_an_unknown_user_is_served_cold_start_recommendations(
    client: TestClient, service: Headers, world: World
) -> None:
    home = world.users
    request = {
        "user_id": "brand-new-user",
        "context": {"location": {"lat": float(home.home_lat[0]), "lng": float(home.home_lng[0])}},
    }

    response = client.post(URL, json=request, headers=service)

    assert response.status_code == 200
    assert response.json()["data"]["recommendations"]


def test_invalid_requests_are_422_with_the_paths_of_the_bad_fields(
    client: TestClient, service: Headers
) -> None:
    request = {
        "user_id": "u1",
        "context": {"location": {"lat": 123, "lng": 0}},
        "limit": 0,
        "surprise": True,
    }

    response = client.post(URL, json=request, headers=service)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    fields = {detail["field"] for detail in error["details"]}
    assert fields == {"body.context.location.lat", "body.limit", "body.surprise"}
    assert error["message"].startswith("body.")
