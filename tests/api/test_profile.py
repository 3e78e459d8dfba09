"""/api/personalization/profile: preferences (GET, PUT) and interactions (POST)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.api.api_world import Headers, active_user, is_cached, upcoming_event_ids

from scenescout.api.errors import ApiError
from scenescout.api.group_commit import Pending
from scenescout.datasets import World
from scenescout.domain import Interaction
from scenescout.engine import PersonalizationEngine
from scenescout.storage import Store

pytestmark = pytest.mark.integration

PROFILE = "/api/personalization/profile"
RECOMMENDATIONS = "/api/personalization/recommendations"


def _interaction(user_id: str, event_id: str, kind: str = "save", **fields: Any) -> dict[str, Any]:
    return {"user_id": user_id, "event_id": event_id, "interaction_type": kind, **fields}


def _category(engine: PersonalizationEngine, event_id: str) -> str | None:
    index = engine.catalog.index_of(event_id)
    assert index is not None
    row = engine.catalog.take([index])
    code = int(row.category[0])
    return row.categories.names[code] if code >= 0 else None


def test_get_profile_returns_stored_preferences_and_the_learned_profile(
    client: TestClient, service: Headers, world: World
) -> None:
    user_id = active_user(world)

    response = client.get(PROFILE, params={"user_id": user_id}, headers=service)

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["user_id"] == user_id
    assert data["preferences"]["categories"] == []
    assert data["profile"]["interaction_count"] > 0
    assert data["profile"]["categories"]


def test_get_profile_of_an_unknown_user_is_404(client: TestClient, service: Headers) -> None:
    response = client.get(PROFILE, params={"user_id": "ghost"}, headers=service)

    assert response.status_code == 404
    assert "POST /api/users" in response.json()["error"]["message"]


def test_put_profile_stores_preferences_and_applies_them_at_once(
    app: FastAPI,
    client: TestClient,
    service: Headers,
    world: World,
    store: Store,
    engine: PersonalizationEngine,
) -> None:
    user_id = active_user(world)
    client.post(RECOMMENDATIONS, json={"user_id": user_id}, headers=service)
    assert is_cached(app, {"user_id": user_id})
    preferences = {"categories": ["comedy"], "excluded_categories": ["music"], "price_max": 40}

    response = client.put(
        PROFILE, json={"user_id": user_id, "preferences": preferences}, headers=service
    )

    assert response.status_code == 200
    assert response.json()["data"]["profile"]["excluded_categories"] == ["music"]
    stored = store.users.get(user_id)
    assert stored is not None and stored.preferences.excluded_categories == ["music"]
    assert engine.profiles[user_id].excluded_categories == ("music",)
    assert not is_cached(app, {"user_id": user_id})
    served = client.post(RECOMMENDATIONS, json={"user_id": user_id}, headers=service).json()
    items = served["data"]["recommendations"]
    assert items
    assert "music" not in {_category(engine, item["event_id"]) for item in items}


def test_an_interaction_is_stored_before_it_is_acknowledged_and_learned_soon_after(
    app: FastAPI,
    client: TestClient,
    service: Headers,
    world: World,
    store: Store,
    engine: PersonalizationEngine,
) -> None:
    user_id = active_user(world)
    event_id = upcoming_event_ids(engine)[0]
    count_before = engine.profiles[user_id].interaction_count
    client.post(RECOMMENDATIONS, json={"user_id": user_id}, headers=service)
    assert is_cached(app, {"user_id": user_id})

    response = client.post(PROFILE, json=_interaction(user_id, event_id), headers=service)

    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["created"], data["duplicates"]) == (1, 0)
    assert data["results"][0]["status"] == "created"
    assert store.interactions.list_for_user(user_id, limit=1)[0].event_id == event_id
    assert not is_cached(app, {"user_id": user_id})
    assert app.state.services.context.coherence.learned(timeout=30)
    assert engine.profiles[user_id].interaction_count == count_before + 1


def test_the_answer_does_not_wait_for_learning_and_the_next_read_learns_first(
    app: FastAPI,
    client: TestClient,
    service: Headers,
    world: World,
    engine: PersonalizationEngine,
) -> None:
    context = app.state.services.context
    user_id = active_user(world)
    event_id = upcoming_event_ids(engine)[1]
    count_before = engine.profiles[user_id].interaction_count

    # Learning takes the engine's write lock: held here, the learner thread cannot learn.
    with context.write_lock:
        response = client.post(PROFILE, json=_interaction(user_id, event_id), headers=service)
        assert response.status_code == 200
        assert engine.profiles[user_id].interaction_count == count_before
        assert not context.coherence.learned(timeout=0.05)

    # The read learns what is stored and not learned yet, whether or not the learner did.
    profile = client.get(PROFILE, params={"user_id": user_id}, headers=service).json()["data"]

    assert profile["profile"]["interaction_count"] == count_before + 1
    assert context.coherence.learned(timeout=30)
    assert engine.profiles[user_id].interaction_count == count_before + 1


def test_when_learning_fails_the_interaction_stays_pending_for_the_next_read(
    app: FastAPI,
    client: TestClient,
    service: Headers,
    world: World,
    engine: PersonalizationEngine,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    coherence = app.state.services.context.coherence
    follower = coherence.follower
    real_learn_read = follower.learn_read
    calls: list[int] = []

    def learn_read_failing_once(rows: Any) -> dict[str, int]:
        calls.append(len(rows))
        if len(calls) == 1:
            raise RuntimeError("the learner broke")
        return real_learn_read(rows)

    monkeypatch.setattr(follower, "learn_read", learn_read_failing_once)
    user_id = active_user(world)
    count_before = engine.profiles[user_id].interaction_count

    response = client.post(
        PROFILE, json=_interaction(user_id, upcoming_event_ids(engine)[2]), headers=service
    )

    assert response.status_code == 200
    assert coherence.learned(timeout=30)
    assert "the learner broke" in caplog.text
    assert engine.profiles[user_id].interaction_count == count_before
    profile = client.get(PROFILE, params={"user_id": user_id}, headers=service).json()["data"]
    assert profile["profile"]["interaction_count"] == count_before + 1
    assert len(calls) == 2


def test_a_batch_is_idempotent_by_key(
    client: TestClient, service: Headers, world: World, store: Store, engine: PersonalizationEngine
) -> None:
    user_id = active_user(world)
    first, second = upcoming_event_ids(engine)[:2]
    batch = {
        "interactions": [
            _interaction(user_id, first, "view", idempotency_key="k-1"),
            _interaction(user_id, second, "click", idempotency_key="k-2"),
            _interaction(user_id, first, "view", idempotency_key="k-1"),
        ]
    }
    stored_before = store.interactions.count()

    once = client.post(PROFILE, json=batch, headers=service).json()["data"]
    again = client.post(PROFILE, json=batch, headers=service).json()["data"]

    assert [r["status"] for r in once["results"]] == ["created", "created", "duplicate"]
    assert once["results"][2]["interaction_id"] == once["results"][0]["interaction_id"]
    assert [r["status"] for r in again["results"]] == ["duplicate"] * 3
    assert [r["interaction_id"] for r in again["results"]] == [
        r["interaction_id"] for r in once["results"]
    ]
    assert store.interactions.count() == stored_before + 2


def test_a_dismissed_event_is_never_recommended_again(
    client: TestClient, service: Headers, world: World
) -> None:
    user_id = active_user(world)
    served = client.post(RECOMMENDATIONS, json={"user_id": user_id}, headers=service).json()
    top = served["data"]["recommendations"][0]["event_id"]

    client.post(PROFILE, json=_interaction(user_id, top, "dismiss"), headers=service)

    again = client.post(RECOMMENDATIONS, json={"user_id": user_id}, headers=service).json()
    assert top not in {item["event_id"] for item in again["data"]["recommendations"]}


def test_a_batch_with_an_unknown_event_stores_nothing(
    client: TestClient, service: Headers, world: World, store: Store, engine: PersonalizationEngine
) -> None:
    user_id = active_user(world)
    batch = {
        "interactions": [
            _interaction(user_id, upcoming_event_ids(engine)[0]),
            _interaction(user_id, "no-such-event"),
        ]
    }
    stored_before = store.interactions.count()

    response = client.post(PROFILE, json=batch, headers=service)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "unknown_reference"
    assert error["details"] == {"missing_events": ["no-such-event"]}
    assert store.interactions.count() == stored_before


def test_an_interaction_of_an_unknown_user_is_404(
    client: TestClient, service: Headers, engine: PersonalizationEngine
) -> None:
    body = _interaction("ghost", upcoming_event_ids(engine)[0])

    response = client.post(PROFILE, json=body, headers=service)

    assert response.status_code == 404
    assert response.json()["error"]["details"] == {"missing_users": ["ghost"]}


def test_an_interaction_with_a_past_event_is_accepted(
    client: TestClient, service: Headers, world: World, engine: PersonalizationEngine
) -> None:
    upcoming = set(upcoming_event_ids(engine))
    past = next(str(e) for e in world.events.ids.tolist() if e not in upcoming)

    response = client.post(PROFILE, json=_interaction(active_user(world), past), headers=service)

    assert response.status_code == 200
    assert response.json()["data"]["created"] == 1


def test_requests_written_together_keep_their_own_outcomes(
    app: FastAPI, world: World, store: Store, engine: PersonalizationEngine
) -> None:
    """One batch of the group commit (as concurrent requests form it): one request with an
    unknown event fails alone, a key repeated across requests is a duplicate of the first,
    and the others are stored before any of them is answered, then learned."""
    profiles = app.state.services.profiles
    first_user = active_user(world)
    second_user = next(u for u in engine.profiles if u != first_user)
    e0, e1, e2 = upcoming_event_ids(engine)[:3]

    def request(*bodies: dict[str, Any]) -> Pending[list[Interaction], list[tuple[int, bool]]]:
        return Pending([Interaction.model_validate(body) for body in bodies])

    first = request(_interaction(first_user, e0, idempotency_key="gc-1"))
    unknown = request(_interaction(first_user, e1), _interaction(first_user, "no-such-event"))
    second = request(
        _interaction(second_user, e2, idempotency_key="gc-2"),
        _interaction(first_user, e0, idempotency_key="gc-1"),
    )
    counts_before = {u: engine.profiles[u].interaction_count for u in (first_user, second_user)}
    stored_before = store.interactions.count()

    profiles._record_batch([first, unknown, second])

    assert first.result is not None and first.result[0][1] is True
    assert isinstance(unknown.error, ApiError) and unknown.error.status_code == 422
    assert unknown.error.details == {"missing_events": ["no-such-event"]}
    assert second.result is not None
    assert second.result[0][1] is True
    assert second.result[1] == (first.result[0][0], False)  # the first request's row
    assert store.interactions.count() == stored_before + 2
    assert app.state.services.context.coherence.learned(timeout=30)
    assert engine.profiles[first_user].interaction_count == counts_before[first_user] + 1
    assert engine.profiles[second_user].interaction_count == counts_before[second_user] + 1


def test_when_a_batch_write_fails_each_request_is_written_alone(
    app: FastAPI,
    world: World,
    store: Store,
    engine: PersonalizationEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    profiles = app.state.services.profiles
    user_id = active_user(world)
    good_event, poisoned_event = upcoming_event_ids(engine)[:2]
    real_add_many = store.interactions.add_many

    def add_many(interactions: list[Interaction]) -> list[tuple[int, bool]]:
        if any(i.event_id == poisoned_event for i in interactions):
            raise RuntimeError("the database refused the write")
        return real_add_many(interactions)

    monkeypatch.setattr(store.interactions, "add_many", add_many)
    good = Pending([Interaction.model_validate(_interaction(user_id, good_event))])
    bad = Pending([Interaction.model_validate(_interaction(user_id, poisoned_event))])
    count_before = engine.profiles[user_id].interaction_count

    profiles._record_batch([good, bad])

    assert good.result is not None and good.result[0][1] is True
    assert isinstance(bad.error, RuntimeError)
    assert app.state.services.context.coherence.learned(timeout=30)
    assert engine.profiles[user_id].interaction_count == count_before + 1
