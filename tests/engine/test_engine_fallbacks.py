"""The fallback chain (cold start, failing or slow components) and similar events."""

from __future__ import annotations

import numpy as np
import pytest
from tests.catalog.test_catalog_properties import great_circle_km
from tests.engine.engine_world import NEWCOMER, homes, users_by_activity

from scenescout.config import AlgorithmsConfig
from scenescout.datasets import CITIES, World
from scenescout.domain import EventStatus
from scenescout.domain.recommendation import (
    LocationContext,
    RecommendationRequest,
    RequestContext,
)
from scenescout.engine import COLD_START, POPULAR_NEARBY, PersonalizationEngine
from scenescout.frames import STATUS_CODES
from scenescout.ranking import REASONS
from scenescout.recommenders import HybridConfig, ScoringContext, get_preset

DEFAULT_COMPONENTS = set(HybridConfig.from_algorithms(AlgorithmsConfig()).blend_weights())
"""What the seed's config blends: collaborative, content, location and trending."""
LONDON = next(city for city in CITIES if city.name == "London")


def near_london(user_id: str, radius_km: float = 20.0) -> RecommendationRequest:
    location = LocationContext(lat=LONDON.lat, lng=LONDON.lng, radius_km=radius_km)
    return RecommendationRequest(user_id=user_id, context=RequestContext(location=location))


def test_a_cold_user_gets_trending_and_popular_events_near_the_location(
    world: World, engine: PersonalizationEngine
) -> None:
    result = engine.get_recommendations(near_london(NEWCOMER), now_ts=world.reference_ts)
    assert result.fallback == COLD_START
    assert result.recommendations
    rows = {e: i for i, e in enumerate(world.events.ids.tolist())}
    for recommendation in result.recommendations:
        row = rows[recommendation.event_id]
        lat, lng = float(world.events.lat[row]), float(world.events.lng[row])
        assert great_circle_km(LONDON.lat, LONDON.lng, lat, lng) <= 20.0 + 1e-6
        assert recommendation.explanation.primary_reason in {
            REASONS["trending"].reason,
            REASONS["location_based"].reason,
            POPULAR_NEARBY,
        }
    caps = get_preset("discovery").diversity
    categories = [int(world.events.category[rows[r.event_id]]) for r in result.recommendations]
    assert max(np.bincount(categories)) <= caps.max_same_category


def test_a_cold_user_with_a_home_is_served_around_it(
    world: World, engine: PersonalizationEngine
) -> None:
    homebody = sorted(set(world.users.ids.tolist()) - set(users_by_activity(world)))[0]
    result = engine.get_recommendations(
        RecommendationRequest(user_id=homebody), now_ts=world.reference_ts
    )
    assert result.fallback == COLD_START
    assert result.recommendations
    home = homes(world)[homebody]
    radius_km = get_preset("discovery").algorithms.location_based.max_distance_km
    rows = {e: i for i, e in enumerate(world.events.ids.tolist())}
    for recommendation in result.recommendations:
        row = rows[recommendation.event_id]
        lat, lng = float(world.events.lat[row]), float(world.events.lng[row])
        assert great_circle_km(*home, lat, lng) <= radius_km + 1e-6


def raise_boom(context: ScoringContext) -> np.ndarray:
    raise RuntimeError("boom")


def test_a_component_that_raises_is_skipped_and_reported(
    world: World, engine: PersonalizationEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = users_by_activity(world)[0]
    content = engine.hybrid.components_["content_based"]
    monkeypatch.setattr(content, "score", raise_boom)
    result = engine.get_recommendations(near_london(user), now_ts=world.reference_ts)
    assert result.skipped_components == {"content_based": "raised RuntimeError: boom"}
    assert result.recommendations
    content_factors = set(REASONS["content_based"].factors)
    for recommendation in result.recommendations:
        assert not content_factors & set(recommendation.explanation.contributing_factors)


def test_when_every_component_fails_popular_events_nearby_fill_the_list(
    world: World, engine: PersonalizationEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = users_by_activity(world)[0]
    for component in engine.hybrid.components_.values():
        monkeypatch.setattr(component, "score", raise_boom)
    result = engine.get_recommendations(near_london(user), now_ts=world.reference_ts)
    assert set(result.skipped_components) == DEFAULT_COMPONENTS
    assert result.fallback == POPULAR_NEARBY
    assert result.recommendations
    for recommendation in result.recommendations:
        assert recommendation.explanation.primary_reason == POPULAR_NEARBY
        assert recommendation.explanation.contributing_factors == []
        assert recommendation.confidence == 0.0


def test_a_budget_of_zero_ms_skips_every_component(
    world: World, engine: PersonalizationEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = users_by_activity(world)[0]
    monkeypatch.setattr(engine, "component_budget_ms", 0.0)
    result = engine.get_recommendations(near_london(user), now_ts=world.reference_ts)
    assert set(result.skipped_components) == DEFAULT_COMPONENTS
    assert all("over its time budget" in why for why in result.skipped_components.values())
    assert result.fallback == POPULAR_NEARBY
    assert result.recommendations


def test_timings_are_reported_per_stage(world: World, engine: PersonalizationEngine) -> None:
    user = users_by_activity(world)[0]
    performance = engine.get_recommendations(near_london(user), now_ts=world.reference_ts)
    timings = performance.performance
    assert timings.db_time_ms > 0.0 and timings.ml_time_ms > 0.0
    assert timings.total_time_ms >= timings.db_time_ms + timings.ml_time_ms


def assert_bookable(world: World, event_ids: list[str]) -> None:
    rows = {e: i for i, e in enumerate(world.events.ids.tolist())}
    for event_id in event_ids:
        row = rows[event_id]
        assert world.events.end_ts[row] >= world.reference_ts
        assert world.events.status[row] == STATUS_CODES[EventStatus.SCHEDULED]


def test_similar_events_of_an_event_are_upcoming_and_exclude_it(
    world: World, engine: PersonalizationEngine
) -> None:
    upcoming = engine.catalog.candidates(now=world.reference_ts)
    query = str(engine.catalog.event_ids(upcoming[:1])[0])
    similar = engine.similar_events(event_id=query, k=8, now_ts=world.reference_ts)
    assert 0 < len(similar) <= 8
    ids = [s.event_id for s in similar]
    assert query not in ids
    assert len(set(ids)) == len(ids)
    assert_bookable(world, ids)
    similarity = [s.similarity for s in similar]
    assert similarity == sorted(similarity, reverse=True)
    assert all(0.0 < s <= 1.0 + 1e-9 for s in similarity)


def test_similar_events_of_free_text_are_upcoming(
    world: World, engine: PersonalizationEngine
) -> None:
    similar = engine.similar_events(text="live jazz concert", k=5, now_ts=world.reference_ts)
    assert len(similar) == 5
    assert_bookable(world, [s.event_id for s in similar])


def test_similar_events_need_exactly_one_known_query(
    world: World, engine: PersonalizationEngine
) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        engine.similar_events()
    with pytest.raises(ValueError, match="exactly one"):
        engine.similar_events(event_id="evt-0001", text="jazz")
    with pytest.raises(KeyError, match="no-such-event"):
        engine.similar_events(event_id="no-such-event", now_ts=world.reference_ts)
