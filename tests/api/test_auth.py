"""Authentication, per-user isolation, rate limiting, row-level security, log privacy."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Connection
from tests.api.api_world import (
    JWT_SECRET,
    PSEUDONYM_SECRET,
    SERVICE_KEY,
    Headers,
    make_settings,
)

from scenescout.api import create_app, issue_user_token
from scenescout.api.observability import Pseudonymizer
from scenescout.datasets import World
from scenescout.engine import PersonalizationEngine
from scenescout.storage import Store

pytestmark = pytest.mark.integration

PROFILE = "/api/personalization/profile"
RECOMMENDATIONS = "/api/personalization/recommendations"


@pytest.fixture
def alice_and_bob(world: World) -> tuple[str, str]:
    first, second = world.users.ids.tolist()[:2]
    return str(first), str(second)


def _bearer(token: str) -> Headers:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        _bearer("not-a-key"),
        _bearer(issue_user_token("another-secret-that-is-long-enough-000", "u1")),
        _bearer(issue_user_token(JWT_SECRET, "u1", ttl_seconds=60, now=1_000_000)),
    ],
    ids=["missing", "basic", "unknown-key", "foreign-signature", "expired"],
)
def test_requests_without_valid_credentials_are_401_with_a_bearer_challenge(
    client: TestClient, headers: Headers
) -> None:
    response = client.get(PROFILE, params={"user_id": "u1"}, headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    error = response.json()["error"]
    assert error["code"] in {"unauthorized", "invalid_token", "token_expired"}
    assert error["message"]


def test_a_user_token_reaches_its_own_data(
    client: TestClient, user_headers: Callable[[str], Headers], alice_and_bob: tuple[str, str]
) -> None:
    alice, _ = alice_and_bob
    headers = user_headers(alice)

    assert client.get(PROFILE, params={"user_id": alice}, headers=headers).status_code == 200
    assert client.get(f"/api/users/{alice}", headers=headers).status_code == 200
    assert client.get(f"/api/users/{alice}/export", headers=headers).status_code == 200
    assert client.post(RECOMMENDATIONS, json={"user_id": alice}, headers=headers).status_code == 200


def test_a_user_token_cannot_reach_another_users_data(
    client: TestClient,
    user_headers: Callable[[str], Headers],
    alice_and_bob: tuple[str, str],
    engine: PersonalizationEngine,
    store: Store,
) -> None:
    alice, bob = alice_and_bob
    headers = user_headers(alice)
    event_id = engine.catalog.event_ids(engine.catalog.candidates())[0]
    bobs_interaction = {"user_id": bob, "event_id": event_id, "interaction_type": "save"}
    stored_before = store.interactions.count()

    responses = [
        client.get(PROFILE, params={"user_id": bob}, headers=headers),
        client.put(PROFILE, json={"user_id": bob, "preferences": {}}, headers=headers),
        client.post(PROFILE, json=bobs_interaction, headers=headers),
        client.post(PROFILE, json={"interactions": [bobs_interaction]}, headers=headers),
        client.post(RECOMMENDATIONS, json={"user_id": bob}, headers=headers),
        client.get(f"/api/users/{bob}", headers=headers),
        client.get(f"/api/users/{bob}/export", headers=headers),
        client.delete(f"/api/users/{bob}", headers=headers),
    ]

    for response in responses:
        assert response.status_code == 403, response.request.url
        message = response.json()["error"]["message"]
        assert alice in message and bob in message
    assert store.interactions.count() == stored_before
    assert store.users.get(bob) is not None


def test_only_service_keys_may_create_users_or_check_erasure(
    client: TestClient, user_headers: Callable[[str], Headers], alice_and_bob: tuple[str, str]
) -> None:
    alice, _ = alice_and_bob
    headers = user_headers(alice)

    created = client.post("/api/users", json={"id": "someone-else"}, headers=headers)
    erasure = client.get(f"/api/users/{alice}/erasure", headers=headers)

    assert created.status_code == erasure.status_code == 403


def test_over_the_rate_limit_is_429_with_retry_after(
    database_url: str,
    engine: PersonalizationEngine,
    store: Store,
    user_headers: Callable[[str], Headers],
    alice_and_bob: tuple[str, str],
) -> None:
    settings = make_settings(database_url, rate_limit_per_second=0.01, rate_limit_burst=2)
    app = create_app(settings, engine=engine, store=store)
    alice, bob = alice_and_bob
    with TestClient(app) as client:
        allowed = [
            client.get(PROFILE, params={"user_id": alice}, headers=user_headers(alice))
            for _ in range(2)
        ]
        refused = client.get(PROFILE, params={"user_id": alice}, headers=user_headers(alice))
        other_user = client.get(PROFILE, params={"user_id": bob}, headers=user_headers(bob))

    assert [response.status_code for response in allowed] == [200, 200]
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 100
    assert other_user.status_code == 200


def test_user_tokens_read_their_rows_under_row_level_security(
    client: TestClient,
    service: Headers,
    user_headers: Callable[[str], Headers],
    alice_and_bob: tuple[str, str],
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alice, _ = alice_and_bob
    acting_for: list[str] = []
    original = store.db.acting_for_user

    @contextmanager
    def recording(user_id: str) -> Iterator[Connection]:
        acting_for.append(user_id)
        with original(user_id) as connection:
            yield connection

    monkeypatch.setattr(store.db, "acting_for_user", recording)

    client.get(f"/api/users/{alice}/export", headers=service)
    client.get(PROFILE, params={"user_id": alice}, headers=service)
    assert acting_for == []
    client.get(f"/api/users/{alice}/export", headers=user_headers(alice))
    client.get(PROFILE, params={"user_id": alice}, headers=user_headers(alice))
    client.get(f"/api/users/{alice}", headers=user_headers(alice))
    assert acting_for == [alice, alice, alice]


def test_logs_name_users_by_pseudonym_only(
    client: TestClient,
    service: Headers,
    user_headers: Callable[[str], Headers],
    alice_and_bob: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    alice, bob = alice_and_bob
    with caplog.at_level(logging.INFO, logger="scenescout.api"):
        client.get(PROFILE, params={"user_id": alice}, headers=user_headers(alice))
        client.get(f"/api/users/{bob}/export", headers=service)
        client.get(f"/api/users/{bob}", headers=user_headers(alice))

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert len(caplog.records) == 3
    assert alice not in logged and bob not in logged
    assert SERVICE_KEY not in logged
    assert f"user:{Pseudonymizer(PSEUDONYM_SECRET)(alice)}" in logged
    assert "/api/users/{user_id}/export" in logged
