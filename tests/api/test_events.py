"""/api/events: ingestion reaches the store, the live catalog and the cache at once."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.api.api_world import Headers, active_user, is_cached, new_event

from scenescout.datasets import World
from scenescout.domain import EventStatus
from scenescout.engine import PersonalizationEngine
from scenescout.storage import Store

pytestmark = pytest.mark.integration

EVENTS = "/api/events"
RECOMMENDATIONS = "/api/personalization/recommendations"
FAR_AWAY = (-45.0, 170.0)  # the southern Pacific: no generated event is within 25 km


def _nearby_request(user_id: str) -> dict[str, object]:
    lat, lng = FAR_AWAY
    return {"user_id": user_id, "context": {"location": {"lat": lat, "lng": lng}}}


def _recommended(client: TestClient, headers: Headers, user_id: str) -> list[str]:
    body = client.post(RECOMMENDATIONS, json=_nearby_request(user_id), headers=headers).json()
    return [item["event_id"] for item in body["data"]["recommendations"]]


def test_a_created_event_is_stored_and_recommended_at_once(
    client: TestClient,
    service: Headers,
    world: World,
    store: Store,
    engine: PersonalizationEngine,
) -> None:
    user_id = active_user(world)
    assert _recommended(client, service, user_id) == []

    response = client.post(EVENTS, json=new_event("evt-new", *FAR_AWAY), headers=service)

    assert response.status_code == 201
    assert response.json()["data"]["id"] == "evt-new"
    assert store.events.get("evt-new") is not None
    assert engine.catalog.index_of("evt-new") is not None
    assert _recommended(client, service, user_id) == ["evt-new"]


def test_creating_an_existing_event_is_409(client: TestClient, service: Headers) -> None:
    body = new_event("evt-new", *FAR_AWAY)
    client.post(EVENTS, json=body, headers=service)

    response = client.post(EVENTS, json=body, headers=service)

    assert response.status_code == 409
    assert "PUT /api/events/evt-new" in response.json()["error"]["message"]


def test_a_cancelled_event_disappears_from_recommendations_and_the_cache(
    app: FastAPI, client: TestClient, service: Headers, world: World, store: Store
) -> None:
    user_id = active_user(world)
    client.post(EVENTS, json=new_event("evt-new", *FAR_AWAY), headers=service)
    assert _recommended(client, service, user_id) == ["evt-new"]
    assert is_cached(app, _nearby_request(user_id))

    response = client.post(f"{EVENTS}/evt-new/cancel", headers=service)

    assert response.status_code == 200
    assert response.json()["data"]["status"] == "cancelled"
    stored = store.events.get("evt-new")
    assert stored is not None and stored.status is EventStatus.CANCELLED
    assert not is_cached(app, _nearby_request(user_id))
    assert _recommended(client, service, user_id) == []


def test_an_updated_event_is_found_at_its_new_place(
    client: TestClient, service: Headers, world: World, engine: PersonalizationEngine
) -> None:
    user_id = active_user(world)
    client.post(EVENTS, json=new_event("evt-new", *FAR_AWAY), headers=service)
    moved = new_event("evt-new", 0.0, 0.0, title="Moved to the Gulf of Guinea")

    response = client.put(f"{EVENTS}/evt-new", json=moved, headers=service)

    assert response.status_code == 200
    assert response.json()["data"]["title"] == "Moved to the Gulf of Guinea"
    assert _recommended(client, service, user_id) == []


def test_updating_needs_the_same_id_and_an_existing_event(
    client: TestClient, service: Headers
) -> None:
    mismatch = client.put(f"{EVENTS}/evt-a", json=new_event("evt-b", 0, 0), headers=service)
    missing = client.put(f"{EVENTS}/evt-a", json=new_event("evt-a", 0, 0), headers=service)
    cancel_missing = client.post(f"{EVENTS}/evt-a/cancel", headers=service)

    assert (mismatch.status_code, mismatch.json()["error"]["code"]) == (400, "id_mismatch")
    assert missing.status_code == 404
    assert cancel_missing.status_code == 404


def test_bulk_reports_created_and_updated_events(
    client: TestClient, service: Headers, store: Store, engine: PersonalizationEngine
) -> None:
    client.post(EVENTS, json=new_event("evt-a", *FAR_AWAY), headers=service)
    batch = {"events": [new_event("evt-a", *FAR_AWAY), new_event("evt-b", *FAR_AWAY)]}

    response = client.post(f"{EVENTS}/bulk", json=batch, headers=service)

    assert response.status_code == 200
    assert response.json()["data"] == {"created": ["evt-b"], "updated": ["evt-a"]}
    assert store.events.get("evt-b") is not None
    assert engine.catalog.index_of("evt-b") is not None


def test_bulk_refuses_repeated_ids(client: TestClient, service: Headers) -> None:
    batch = {"events": [new_event("evt-a", 0, 0), new_event("evt-a", 1, 1)]}

    response = client.post(f"{EVENTS}/bulk", json=batch, headers=service)

    assert response.status_code == 422
    assert "repeated: ['evt-a']" in response.json()["error"]["message"]


def test_an_event_at_an_unknown_venue_is_422(client: TestClient, service: Headers) -> None:
    body = new_event("evt-a", 0, 0, venue_id="no-such-venue")

    response = client.post(EVENTS, json=body, headers=service)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_reference"


def test_user_tokens_may_not_change_events(
    client: TestClient, user_headers: Callable[[str], Headers], world: World
) -> None:
    headers = user_headers(active_user(world))

    response = client.post(EVENTS, json=new_event("evt-a", 0, 0), headers=headers)

    assert response.status_code == 403
    assert "service API key" in response.json()["error"]["message"]


def test_a_price_beyond_the_catalogs_range_is_422(client: TestClient, service: Headers) -> None:
    body = new_event("evt-a", 0, 0, price_min=1.0, price_max=1e39)

    response = client.post(EVENTS, json=body, headers=service)

    assert response.status_code == 422
    assert "price_max" in response.text and "1000000000" in response.text
