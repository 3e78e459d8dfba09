"""/api/personalization/similar-events, by event or by text, POST and GET."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from tests.api.api_world import Headers, upcoming_event_ids

from scenescout.engine import PersonalizationEngine

pytestmark = pytest.mark.integration

URL = "/api/personalization/similar-events"


def test_post_by_event_returns_other_upcoming_events(
    client: TestClient, service: Headers, engine: PersonalizationEngine
) -> None:
    upcoming = upcoming_event_ids(engine)

    response = client.post(URL, json={"event_id": upcoming[0], "limit": 5}, headers=service)

    assert response.status_code == 200
    found = response.json()["data"]["similar_events"]
    assert 0 < len(found) <= 5
    assert upcoming[0] not in {item["event_id"] for item in found}
    assert set(item["event_id"] for item in found) <= set(upcoming)
    assert all(0.0 <= item["similarity"] <= 1.0 for item in found)


def test_get_by_text_matches_post_by_text(client: TestClient, service: Headers) -> None:
    query = {"text": "live music concert", "limit": 3}

    got = client.get(URL, params=query, headers=service)
    posted = client.post(URL, json=query, headers=service)

    assert got.status_code == posted.status_code == 200
    assert got.json() == posted.json()
    assert got.json()["data"]["similar_events"]


@pytest.mark.parametrize("query", [{}, {"event_id": "e", "text": "jazz"}])
def test_exactly_one_of_event_id_and_text_is_required(
    client: TestClient, service: Headers, query: dict[str, str]
) -> None:
    posted = client.post(URL, json=query, headers=service)
    got = client.get(URL, params=query, headers=service)

    for response in (posted, got):
        assert response.status_code == 422
        assert "exactly one of event_id or text" in response.json()["error"]["message"]


def test_an_unknown_event_is_404(client: TestClient, service: Headers) -> None:
    response = client.get(URL, params={"event_id": "no-such-event"}, headers=service)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
