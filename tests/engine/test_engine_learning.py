"""The write path: interactions are stored first, learned at once, and never twice."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from tests.engine.engine_world import REFERENCE, category_of, homes, users_by_activity

from scenescout.datasets import World
from scenescout.domain import Event, Interaction, InteractionType, User
from scenescout.domain.recommendation import RecommendationRequest
from scenescout.engine import PersonalizationEngine
from scenescout.frames import from_epoch_seconds
from scenescout.geo import haversine_km
from scenescout.profiles import profile_to_json
from scenescout.recommenders import (
    ContentRecommender,
    FactorizationRecommender,
    TrendingRecommender,
)
from scenescout.storage import Database, StorageError, Store

LATER = 600
"""Seconds after the reference time at which requests after learning are asked."""


def interaction(
    user: str, event_id: str, kind: InteractionType, minutes: int = 0, key: str | None = None
) -> Interaction:
    return Interaction(
        user_id=user,
        event_id=event_id,
        interaction_type=kind,
        occurred_at=REFERENCE + timedelta(minutes=minutes),
        idempotency_key=key,
    )


def text_profiles(engine: PersonalizationEngine) -> Mapping[str, object]:
    content = engine.hybrid.components_["content_based"]
    assert isinstance(content, ContentRecommender)
    return content.text_profiles_


def category_counts(
    world: World, engine: PersonalizationEngine, request: RecommendationRequest, now_ts: int
) -> Counter[str]:
    result = engine.get_recommendations(request, now_ts=now_ts)
    return Counter(category_of(world, r.event_id) for r in result.recommendations)


SAMPLE_USERS = 30
"""Users of the share survey: the first this many, from the middle of the activity ranking
down, that have a category to learn."""
MIN_RISE_RATE = 0.9


def learn_a_new_category(
    world: World, engine: PersonalizationEngine, user: str
) -> tuple[str, int, int] | None:
    """Save the three nearest candidates of the user's most offered category that they never
    touched and that is missing from their default top 20; the category and its count in
    the top 20 before and after. ``None`` when the user has no such category."""
    now = world.reference_ts
    log = world.interactions
    request = RecommendationRequest(user_id=user, limit=20)
    touched = {category_of(world, e) for e in log.event_ids[log.user_ids == user].tolist()}
    before = category_counts(world, engine, request, now)
    candidates = engine.rank(request, now_ts=now).candidates
    names = np.array([candidates.categories.name(int(c)) for c in candidates.category])
    fresh = [
        name
        for name, count in Counter(names.tolist()).most_common()
        if name not in touched and before[name] == 0 and count >= 3
    ]
    if not fresh:
        return None
    category = fresh[0]
    mine = np.flatnonzero(names == category)
    distance = haversine_km(candidates.lat[mine], candidates.lng[mine], *homes(world)[user])
    saved = candidates.ids[mine[np.argsort(distance)[:3]]].tolist()
    for minutes, event_id in enumerate(saved):
        learned = engine.update_user_preferences(
            user, interaction(user, event_id, InteractionType.SAVE, minutes)
        )
        assert learned.created
    assert engine.profiles[user].categories[category] > 0.0
    after = category_counts(world, engine, request, now + LATER)
    return category, before[category], after[category]


def test_three_saves_in_a_new_category_raise_its_share_of_the_next_top_20(
    world: World, engine: PersonalizationEngine
) -> None:
    """The acceptance point of real-time learning, at the default request settings.

    Over the first :data:`SAMPLE_USERS` warm users from the middle of the activity ranking
    down that have a category they never touched, missing from their list, with three
    candidates to save: the first of them must see it rise, and nearly all of them too.
    """
    outcomes: dict[str, tuple[str, int, int]] = {}
    for user in users_by_activity(world)[100:]:
        learned = learn_a_new_category(world, engine, user)
        if learned is not None:
            outcomes[user] = learned
        if len(outcomes) == SAMPLE_USERS:
            break
    assert len(outcomes) == SAMPLE_USERS, "too few warm users have an untouched category"
    first = next(iter(outcomes.values()))
    assert first[2] > first[1] == 0
    stuck = {user: o for user, o in outcomes.items() if not o[2] > o[1]}
    assert SAMPLE_USERS - len(stuck) >= MIN_RISE_RATE * SAMPLE_USERS, stuck


@pytest.mark.parametrize(
    ("kind", "activity_rank"),
    [(InteractionType.DISMISS, 20), (InteractionType.HIDE, 21), (InteractionType.PURCHASE, 22)],
)
def test_dismiss_hide_and_purchase_remove_the_event_from_the_next_list(
    world: World, engine: PersonalizationEngine, kind: InteractionType, activity_rank: int
) -> None:
    user = users_by_activity(world)[activity_rank]
    request = RecommendationRequest(user_id=user, limit=10)
    first = engine.get_recommendations(request, now_ts=world.reference_ts).recommendations
    top = first[0].event_id
    changes: list[str] = []
    engine.on_user_change = changes.append
    try:
        engine.update_user_preferences(user, interaction(user, top, kind))
    finally:
        engine.on_user_change = None
    assert changes == [user]
    later = engine.get_recommendations(request, now_ts=world.reference_ts + LATER)
    assert top not in {r.event_id for r in later.recommendations}
    assert later.recommendations, "only the one event is gone"


def store_with(world: World, tmp_path: Path, user: str, event_id: str) -> Store:
    """A real SQLite store holding the user and the event the interactions refer to."""
    db = Database.from_url(f"sqlite:///{tmp_path / 'engine.db'}")
    db.migrate()
    store = Store(db)
    row = int(np.flatnonzero(world.events.ids == event_id)[0])
    events = world.events
    store.users.upsert([User(id=user, created_at=REFERENCE)])
    store.events.upsert(
        [
            Event(
                id=event_id,
                category=events.categories.name(int(events.category[row])),
                lat=float(events.lat[row]),
                lng=float(events.lng[row]),
                start_time=from_epoch_seconds(int(events.start_ts[row])),
                end_time=from_epoch_seconds(int(events.end_ts[row])),
                price_min=float(events.price_min[row]),
                price_max=float(events.price_max[row]),
                created_at=REFERENCE,
                updated_at=REFERENCE,
            )
        ]
    )
    return store


def test_a_repeated_idempotency_key_is_stored_and_learned_once(
    world: World, engine: PersonalizationEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = users_by_activity(world)[30]
    request = RecommendationRequest(user_id=user, limit=5)
    event_id = (
        engine.get_recommendations(request, now_ts=world.reference_ts).recommendations[0].event_id
    )
    store = store_with(world, tmp_path, user, event_id)
    monkeypatch.setattr(engine, "interactions", store.interactions)
    count = engine.profiles[user].interaction_count
    saved = interaction(user, event_id, InteractionType.SAVE, key="tap-1")

    first = engine.update_user_preferences(user, saved)
    assert first.created and first.interaction_id is not None
    profile = engine.profiles[user]
    assert profile.interaction_count == count + 1
    text_profile = text_profiles(engine)[user]

    again = engine.update_user_preferences(user, saved)
    assert not again.created
    assert again.interaction_id == first.interaction_id
    assert engine.profiles[user] is profile, "nothing learned the second time"
    assert engine.hybrid.components_["content_based"].text_profiles_[user] is text_profile  # type: ignore[attr-defined]
    assert store.interactions.count() == 1


class BrokenStore:
    def add(self, interaction: Interaction) -> tuple[int, bool]:
        raise StorageError("the database is down")


def test_an_interaction_that_cannot_be_stored_is_not_learned(
    world: World, engine: PersonalizationEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = users_by_activity(world)[40]
    request = RecommendationRequest(user_id=user, limit=5)
    event_id = (
        engine.get_recommendations(request, now_ts=world.reference_ts).recommendations[0].event_id
    )
    monkeypatch.setattr(engine, "interactions", BrokenStore())
    changes: list[str] = []
    monkeypatch.setattr(engine, "on_user_change", changes.append)
    profile = engine.profiles[user]
    text_profile = text_profiles(engine)[user]

    with pytest.raises(StorageError, match="down"):
        engine.update_user_preferences(user, interaction(user, event_id, InteractionType.HIDE))
    assert engine.profiles[user] is profile
    assert engine.hybrid.components_["content_based"].text_profiles_[user] is text_profile  # type: ignore[attr-defined]
    assert event_id not in engine.exclusions.get(user, set())
    assert changes == []


def test_an_interaction_of_another_user_is_refused(
    world: World, engine: PersonalizationEngine
) -> None:
    user, other = users_by_activity(world)[:2]
    with pytest.raises(ValueError, match="belongs to user"):
        engine.update_user_preferences(
            user, interaction(other, str(world.events.ids[0]), InteractionType.VIEW)
        )


def test_a_batch_is_learned_into_the_same_state_as_its_interactions_one_by_one(
    world: World, engine: PersonalizationEngine
) -> None:
    one_by_one, at_once = copy.deepcopy(engine), copy.deepcopy(engine)
    trending = trending_of(engine)
    n_slots, bucket = trending.slot_bucket_.shape[0], trending.bucket_seconds
    users = [*users_by_activity(world)[100:104], "newcomer"]
    events = one_by_one.catalog.frame.ids[:: max(1, len(one_by_one.catalog) // 40)].tolist()
    kinds = [InteractionType.VIEW, InteractionType.SAVE, InteractionType.DISMISS]
    # Buckets that share a trending slot, newer before older too; users that come back.
    offsets = [0, 1, n_slots + 1, 1, 2, n_slots, 0, 3]
    batch = [
        Interaction(
            user_id=users[i % len(users)],
            event_id=str(events[(7 * i) % len(events)]),
            interaction_type=kinds[i % len(kinds)],
            occurred_at=REFERENCE + timedelta(seconds=offsets[i % len(offsets)] * bucket + i),
        )
        for i in range(40)
    ]
    for item in batch:
        one_by_one.learn(item, notify=False)
    at_once.learn_many(batch, notify=False)

    for user in users:
        assert profile_to_json(at_once.profiles[user]) == profile_to_json(one_by_one.profiles[user])
        assert at_once.exclusions.get(user) == one_by_one.exclusions.get(user)
        for name in ("matrix_factorization", "content_based", "location_based"):
            assert at_once.hybrid.components_[name].holds_user(user) == (
                one_by_one.hybrid.components_[name].holds_user(user)
            )
        factors = at_once.hybrid.components_["matrix_factorization"]
        reference = one_by_one.hybrid.components_["matrix_factorization"]
        assert isinstance(factors, FactorizationRecommender)
        assert isinstance(reference, FactorizationRecommender)
        np.testing.assert_allclose(
            factors.user_vector(user), reference.user_vector(user), rtol=1e-5, atol=1e-6
        )
        request = RecommendationRequest(user_id=user, limit=20)
        now = world.reference_ts + LATER
        assert [
            r.event_id for r in at_once.get_recommendations(request, now_ts=now).recommendations
        ] == [
            r.event_id for r in one_by_one.get_recommendations(request, now_ts=now).recommendations
        ]
    counted = trending_of(at_once)
    np.testing.assert_array_equal(counted.slot_bucket_, trending_of(one_by_one).slot_bucket_)
    np.testing.assert_allclose(counted.weighted_, trending_of(one_by_one).weighted_)
    np.testing.assert_array_equal(counted.counts_, trending_of(one_by_one).counts_)
    assert not np.array_equal(counted.counts_, trending.counts_)  # the batch counted


def trending_of(engine: PersonalizationEngine) -> TrendingRecommender:
    component = engine.hybrid.components_["trending"]
    assert isinstance(component, TrendingRecommender)
    return component
