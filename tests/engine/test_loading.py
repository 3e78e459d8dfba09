"""Building an engine from a database: what is read, and that the result serves and learns."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from tests.engine.engine_world import REFERENCE

from scenescout.datasets import World, WorldConfig, generate_world, write_world
from scenescout.domain import Interaction, InteractionType, UserPreferences
from scenescout.domain.recommendation import RecommendationRequest
from scenescout.engine import PersonalizationEngine, load_training_data
from scenescout.storage import Database, Store

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, Store]:
    world = generate_world(
        WorldConfig(
            seed=7,
            n_events=600,
            n_users=120,
            n_interactions=4_000,
            reference_time=REFERENCE,
            history_days=30,
            horizon_days=30,
        )
    )
    db = Database.from_url(f"sqlite:///{tmp_path_factory.mktemp('loading') / 'world.db'}")
    db.migrate()
    write_world(db, world)
    store = Store(db)
    store.users.set_preferences(
        str(world.users.ids[0]), UserPreferences(excluded_categories=["music", "arts"])
    )
    return world, store


def test_users_come_with_their_homes_and_meaningful_preferences(
    stored: tuple[World, Store],
) -> None:
    world, store = stored
    users = store.users.homes_and_preferences()
    assert len(users.homes) == len(world.users)
    first = str(world.users.ids[0])
    assert users.homes[first] == pytest.approx((world.users.home_lat[0], world.users.home_lng[0]))
    assert set(users.preferences) == {first}
    assert users.preferences[first].excluded_categories == ["music", "arts"]


def test_training_data_stops_at_now(stored: tuple[World, Store]) -> None:
    world, store = stored
    cut = world.reference_ts - 5 * 86_400
    loaded = load_training_data(store, cut)
    assert loaded.data.now_ts == cut
    assert len(loaded.data.events) == len(world.events)
    assert loaded.data.interactions.occurred_ts.max() < cut
    assert len(loaded.data.interactions) == int(np.sum(world.interactions.occurred_ts < cut))


def test_an_engine_from_the_store_serves_honours_preferences_and_stores_what_it_learns(
    stored: tuple[World, Store],
) -> None:
    world, store = stored
    engine = PersonalizationEngine.from_store(store, now=REFERENCE)
    assert len(engine.catalog) == int(np.sum(world.events.end_ts >= world.reference_ts))
    picky = str(world.users.ids[0])
    assert engine.profiles[picky].excluded_categories == ("music", "arts")
    result = engine.get_recommendations(
        RecommendationRequest(user_id=picky, limit=30), now_ts=world.reference_ts
    )
    assert result.recommendations
    rows = {e: i for i, e in enumerate(world.events.ids.tolist())}
    categories = {
        world.events.categories.name(int(world.events.category[rows[r.event_id]]))
        for r in result.recommendations
    }
    assert not categories & {"music", "arts"}

    before = store.interactions.count()
    saved = Interaction(
        user_id=picky,
        event_id=result.recommendations[0].event_id,
        interaction_type=InteractionType.SAVE,
        occurred_at=REFERENCE + timedelta(minutes=1),
        idempotency_key="from-store-1",
    )
    assert engine.update_user_preferences(picky, saved).created
    assert not engine.update_user_preferences(picky, saved).created
    assert store.interactions.count() == before + 1
