"""StoreFollower: one process learns, from the database, what another process stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from tests.engine.engine_world import REFERENCE

from scenescout.datasets import World, WorldConfig, generate_world, write_world
from scenescout.domain import Event, EventStatus, Interaction, InteractionType, UserPreferences
from scenescout.domain.recommendation import RecommendationRequest
from scenescout.engine import PersonalizationEngine
from scenescout.engine.sync import StoreFollower
from scenescout.storage import Database, Store

pytestmark = pytest.mark.integration
NOW_TS = int(REFERENCE.timestamp())


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(
        WorldConfig(
            seed=5,
            n_events=400,
            n_users=60,
            n_interactions=3_000,
            reference_time=REFERENCE,
            history_days=30,
            horizon_days=30,
        )
    )


@pytest.fixture(scope="module")
def world_file(world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sync") / "world.db"
    db = Database.from_url(f"sqlite:///{path}")
    db.migrate()
    write_world(db, world)
    db.dispose()
    return path


@pytest.fixture
def store(world_file: Path, tmp_path: Path) -> Store:
    path = tmp_path / "world.db"
    path.write_bytes(world_file.read_bytes())
    return Store(Database.from_url(f"sqlite:///{path}"))


def _top(engine: PersonalizationEngine, user: str, limit: int = 10) -> list[str]:
    request = RecommendationRequest(user_id=user, limit=limit)
    return [r.event_id for r in engine.get_recommendations(request, now_ts=NOW_TS).recommendations]


def _dismiss(user: str, event_id: str, key: str) -> Interaction:
    return Interaction(
        user_id=user,
        event_id=event_id,
        interaction_type=InteractionType.DISMISS,
        occurred_at=REFERENCE + timedelta(minutes=1),
        idempotency_key=key,
    )


def test_a_user_catch_up_learns_another_process_interactions_once(
    store: Store, world: World
) -> None:
    writer = PersonalizationEngine.from_store(store, now=REFERENCE)
    reader = PersonalizationEngine.from_store(store, now=REFERENCE)
    follower = StoreFollower(reader, store)
    user = str(world.users.ids[3])
    dismissed = _top(reader, user)[0]

    writer.update_user_preferences(user, _dismiss(user, dismissed, "k1"))
    assert dismissed in _top(reader, user)  # not learned yet

    through = follower.catch_up_users([user])
    assert through == {user: store.interactions.max_id()}
    assert dismissed not in _top(reader, user)
    assert reader.exclusions[user] == writer.exclusions[user]
    assert reader.profiles[user] == writer.profiles[user]
    assert follower.catch_up_users([user]) == {}  # nothing learned twice
    assert follower.learned_through(user) == through[user]
    other = str(world.users.ids[4])
    assert follower.learned_through(other) == reader.learned_through_id


def test_a_start_up_catch_up_learns_everything_stored_since_training(
    store: Store, world: World
) -> None:
    trained = PersonalizationEngine.from_store(store, now=REFERENCE)
    watermark = trained.learned_through_id
    assert watermark == store.interactions.max_id()
    users = [str(u) for u in world.users.ids[:3]]
    tops = {user: _top(trained, user)[0] for user in users}
    store.interactions.add_many([_dismiss(user, tops[user], f"start-{user}") for user in users])
    new_event = Event(
        id="brand-new",
        title="Brand new jazz night",
        category="music",
        lat=float(world.events.lat[0]),
        lng=float(world.events.lng[0]),
        start_time=REFERENCE + timedelta(days=2),
        end_time=REFERENCE + timedelta(days=2, hours=3),
        created_at=datetime.now(UTC),
        updated_at=datetime.now(UTC),
    )
    store.events.upsert([new_event])
    upcoming = [str(e) for e in trained.catalog.frame.ids[:1]]
    store.events.set_status(upcoming[0], EventStatus.CANCELLED)

    follower = StoreFollower(trained, store, events_as_of=datetime.now(UTC) - timedelta(minutes=1))
    caught = follower.catch_up()
    assert caught.interactions == len(users)
    assert caught.events >= 2
    assert trained.learned_through_id == store.interactions.max_id()
    for user in users:
        assert tops[user] not in _top(trained, user, 30)
    held = trained.catalog.index_of("brand-new")
    assert held is not None
    cancelled = trained.catalog.candidates(now=NOW_TS)
    ids = trained.catalog.take(cancelled).ids.tolist()
    assert "brand-new" in ids and upcoming[0] not in ids
    assert follower.catch_up().interactions == 0


def test_reload_user_applies_stored_preferences_and_forgets_the_deleted(
    store: Store, world: World
) -> None:
    engine = PersonalizationEngine.from_store(store, now=REFERENCE)
    follower = StoreFollower(engine, store)
    user = str(world.users.ids[7])
    store.users.set_preferences(user, UserPreferences(excluded_categories=["music"]))
    assert "music" not in engine.profiles[user].excluded_categories
    reloaded = follower.reload_user(user)
    assert reloaded is not None and reloaded.preferences.excluded_categories == ["music"]
    assert engine.profiles[user].excluded_categories == ("music",)
    categories = engine.catalog.frame.categories
    music = categories.lookup("music")
    top = _top(engine, user, 30)
    rows = [engine.catalog.index_of(e) for e in top]
    codes = engine.catalog.take([r for r in rows if r is not None]).category
    assert not np.any(codes == music)

    store.users.delete(user)
    assert follower.reload_user(user) is None
