"""/api/users: creation, reads, and the GDPR export and erasure."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.api.api_world import Headers, active_user, is_cached, upcoming_event_ids

from scenescout.datasets import World
from scenescout.engine import PersonalizationEngine
from scenescout.storage import Store, schema

pytestmark = pytest.mark.integration

USERS = "/api/users"
RECOMMENDATIONS = "/api/personalization/recommendations"
PROFILE = "/api/personalization/profile"


def _rows_referring_to(store: Store, user_id: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    with store.db.engine.connect() as connection:
        for table in schema.metadata.sorted_tables:
            columns = [c for c in ("user_id", "similar_user_id") if c in table.c]
            if table is schema.users:
                columns = ["id"]
            if columns:
                where = sa.or_(*(table.c[c] == user_id for c in columns))
                statement = sa.select(sa.func.count()).select_from(table).where(where)
                counts[table.name] = connection.scalar(statement) or 0
    return counts


def _model_state(engine: PersonalizationEngine, user_id: str) -> dict[str, bool]:
    """Where each recommender keeps per-user state, read from its learned attributes."""
    parts = engine.hybrid.components_
    collaborative, factorization = parts["collaborative_filtering"], parts["matrix_factorization"]
    return {
        "collaborative matrix row": user_id in collaborative.matrix_.user_rows,  # type: ignore[attr-defined]
        "collaborative recent": user_id in collaborative.recent_,  # type: ignore[attr-defined]
        "content text profile": user_id in parts["content_based"].text_profiles_,  # type: ignore[attr-defined]
        "location places": user_id in parts["location_based"].places_,  # type: ignore[attr-defined]
        "factorization vector": user_id in factorization.user_rows_,  # type: ignore[attr-defined]
        "factorization matrix row": user_id in factorization.matrix_.user_rows,  # type: ignore[attr-defined]
        "factorization recent": user_id in factorization.recent_,  # type: ignore[attr-defined]
    }


def test_create_then_get_a_user(client: TestClient, service: Headers) -> None:
    user = {"id": "new-user", "home_lat": 52.52, "home_lng": 13.405}
    user["preferences"] = {"categories": ["tech"]}

    created = client.post(USERS, json=user, headers=service)
    fetched = client.get(f"{USERS}/new-user", headers=service)
    again = client.post(USERS, json=user, headers=service)

    assert created.status_code == 201
    assert fetched.status_code == 200
    assert fetched.json()["data"]["preferences"]["categories"] == ["tech"]
    assert fetched.json()["data"]["home_lat"] == 52.52
    assert again.status_code == 409


def test_a_new_users_home_and_preferences_reach_the_engine(
    client: TestClient, service: Headers, engine: PersonalizationEngine
) -> None:
    user = {"id": "new-user", "home_lat": 52.52, "home_lng": 13.405}
    user["preferences"] = {"categories": ["tech"], "excluded_categories": ["music"]}

    client.post(USERS, json=user, headers=service)

    profile = engine.profiles["new-user"]
    assert profile.home == (52.52, 13.405)
    assert profile.explicit_categories == ("tech",)
    assert profile.excluded_categories == ("music",)


def test_get_an_unknown_user_is_404(client: TestClient, service: Headers) -> None:
    assert client.get(f"{USERS}/ghost", headers=service).status_code == 404


def test_export_holds_every_stored_fact_about_the_user(
    client: TestClient, service: Headers, world: World, store: Store
) -> None:
    user_id = active_user(world)
    client.post(RECOMMENDATIONS, json={"user_id": user_id}, headers=service)

    response = client.get(f"{USERS}/{user_id}/export", headers=service)

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["user"]["id"] == user_id
    stored = [
        (i.event_id, i.interaction_type.value) for i in store.interactions.list_for_user(user_id)
    ]
    exported = [(row["event_id"], row["interaction_type"]) for row in data["interactions"]]
    assert sorted(exported) == sorted(stored)
    assert all(row["user_id"] == user_id for row in data["interactions"])
    assert data["profile"]["user_id"] == user_id
    assert len(data["records"]["recommendation_logs"]) == 1
    assert data["records"]["user_ground_truth"][0]["user_id"] == user_id
    assert set(data["records"]) == set(schema.USER_OWNED_TABLES) - {"user_interactions"}


def test_delete_erases_the_user_everywhere(
    app: FastAPI,
    client: TestClient,
    service: Headers,
    world: World,
    store: Store,
    engine: PersonalizationEngine,
) -> None:
    user_id = active_user(world)
    saved, hidden = upcoming_event_ids(engine)[:2]
    batch = {
        "interactions": [
            {"user_id": user_id, "event_id": saved, "interaction_type": "save"},
            {"user_id": user_id, "event_id": hidden, "interaction_type": "hide"},
        ]
    }
    client.post(PROFILE, json=batch, headers=service)
    client.post(RECOMMENDATIONS, json={"user_id": user_id}, headers=service)
    client.put(
        PROFILE, json={"user_id": user_id, "preferences": {"categories": ["arts"]}}, headers=service
    )
    client.post(RECOMMENDATIONS, json={"user_id": user_id}, headers=service)
    factors = engine.hybrid.components_["matrix_factorization"]
    vector_row = factors.user_rows_[user_id]  # type: ignore[attr-defined]
    app.state.services.context.logs.flush()
    before = _rows_referring_to(store, user_id)
    assert all(
        before[table] > 0
        for table in ("users", "user_preferences", "user_interactions", "user_ground_truth")
    )
    assert all(_model_state(engine, user_id).values())
    assert user_id in engine.profiles and user_id in engine.exclusions
    assert is_cached(app, {"user_id": user_id})

    response = client.delete(f"{USERS}/{user_id}", headers=service)

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["deleted_from_database"] is True
    assert "profile" in data["model_state"]
    assert set(_rows_referring_to(store, user_id).values()) == {0}
    assert not is_cached(app, {"user_id": user_id})
    assert user_id not in engine.profiles and user_id not in engine.exclusions
    assert not any(_model_state(engine, user_id).values())
    assert not np.any(factors.user_factors_[vector_row])  # type: ignore[attr-defined]
    status = client.get(f"{USERS}/{user_id}/erasure", headers=service).json()["data"]
    assert status["erased"] is True
    assert status["model_state"] == []
    assert set(status["database_rows"]) == {"users", *schema.USER_OWNED_TABLES}


def test_recommendations_still_work_for_others_after_an_erasure(
    client: TestClient, service: Headers, world: World
) -> None:
    user_id = active_user(world)
    client.delete(f"{USERS}/{user_id}", headers=service)

    for other in world.users.ids.tolist()[:10]:
        response = client.post(RECOMMENDATIONS, json={"user_id": other}, headers=service)
        assert response.status_code == 200


def test_deleting_an_unknown_user_is_404(client: TestClient, service: Headers) -> None:
    assert client.delete(f"{USERS}/ghost", headers=service).status_code == 404


def test_a_user_may_export_and_erase_themselves(
    client: TestClient, user_headers: Callable[[str], Headers], world: World, store: Store
) -> None:
    user_id = active_user(world)
    headers = user_headers(user_id)

    exported = client.get(f"{USERS}/{user_id}/export", headers=headers)
    deleted = client.delete(f"{USERS}/{user_id}", headers=headers)

    assert exported.status_code == 200
    assert deleted.status_code == 200
    assert store.users.get(user_id) is None
