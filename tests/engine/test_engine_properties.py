"""Property tests: whatever the request, the engine's list honours every filter and cap.

Requests are drawn at random (user, place near a city centre, radius, time range, categories,
price range, limit, diversity and novelty factors, preset). Every returned event is checked
against the generated world's own arrays, with distances measured by the chord formula of the
catalog tests, not by the engine's haversine; explanations are checked against the
contributions the engine ranked with.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from tests.catalog.test_catalog_properties import destination, great_circle_km
from tests.engine.engine_world import (
    NEWCOMER,
    REFERENCE,
    Served,
    homes,
    picky_user,
    users_by_activity,
)

from scenescout.datasets import CITIES, World
from scenescout.domain import EventStatus, GeoPoint, InteractionType
from scenescout.domain.recommendation import (
    AlgorithmOverrides,
    Filters,
    LocationContext,
    PriceRange,
    RecommendationRequest,
    RequestContext,
    TimeRange,
)
from scenescout.engine import (
    COLD_START,
    POPULAR_NEARBY,
    PersonalizationEngine,
    Ranking,
)
from scenescout.engine.engine import (
    ANCHOR_CELL_DEG,
    MAX_RETRIEVAL_ANCHORS,
    _nearest_squared_degrees,
    _packed_order,
    _retrieval_anchors,
)
from scenescout.frames import INTERACTION_CODES, STATUS_CODES, EventFrame
from scenescout.ranking import NOVELTY, REASONS
from scenescout.recommenders import get_preset

BOUNDARY_KM = 1e-6
CATEGORY_NAMES = ["music", "arts", "food_drink", "sports", "nightlife", "film", "no-such-category"]
PRESET_NAMES = [None, "default", "conservative", "aggressive", "discovery"]
PRICES = [None, 0.0, 10.0, 25.0, 60.0, 150.0]
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def user_pool(world: World) -> list[str]:
    """Warm users of every activity level, the picky one, a user with a home but no
    interactions, and a stranger."""
    active = users_by_activity(world)
    inactive = sorted(set(world.users.ids.tolist()) - set(active))
    return [*active[:: len(active) // 6], picky_user(world)[0], inactive[0], NEWCOMER]


@st.composite
def requests(draw: st.DrawFn, users: list[str]) -> RecommendationRequest:
    location = None
    if draw(st.booleans()):
        city = draw(st.sampled_from(CITIES))
        lat, lng = destination(
            city.lat, city.lng, draw(st.floats(0.0, 2 * math.pi)), draw(st.floats(0.0, 20.0))
        )
        location = LocationContext(
            lat=lat, lng=lng, radius_km=draw(st.sampled_from([1.0, 5.0, 10.0, 25.0, 60.0]))
        )
    time_range = None
    if draw(st.booleans()):
        start_day, end_day = sorted(draw(st.lists(st.integers(-3, 70), min_size=2, max_size=2)))
        time_range = TimeRange(
            start=draw(st.none() | st.just(REFERENCE + timedelta(days=start_day, hours=5))),
            end=draw(st.none() | st.just(REFERENCE + timedelta(days=end_day, hours=22))),
        )
    categories = draw(st.none() | st.lists(st.sampled_from(CATEGORY_NAMES), max_size=3))
    price_range = None
    if draw(st.booleans()):
        low, high = draw(st.sampled_from(PRICES)), draw(st.sampled_from(PRICES))
        if low is not None and high is not None and high < low:
            low, high = high, low
        price_range = PriceRange(min=low, max=high)
    return RecommendationRequest(
        user_id=draw(st.sampled_from(users)),
        context=RequestContext(location=location, time_range=time_range),
        filters=Filters(categories=categories, price_range=price_range),
        algorithm_config=AlgorithmOverrides(
            diversity_factor=draw(st.none() | st.floats(0.0, 1.0)),
            novelty_factor=draw(st.none() | st.floats(0.0, 1.0)),
        ),
        limit=draw(st.integers(1, 40)),
        preset=draw(st.sampled_from(PRESET_NAMES)),
    )


def excluded_events(world: World, user_id: str) -> set[str]:
    kinds = (InteractionType.DISMISS, InteractionType.HIDE, InteractionType.PURCHASE)
    codes = [INTERACTION_CODES[kind] for kind in kinds]
    log = world.interactions
    mine = (log.user_ids == user_id) & np.isin(log.type_code, codes)
    return set(log.event_ids[mine].tolist())


def epoch(moment: datetime | None, default: float) -> float:
    return default if moment is None else moment.timestamp()


def assert_filters_hold(
    world: World, engine: PersonalizationEngine, request: RecommendationRequest, ids: list[str]
) -> None:
    events = world.events
    row_of = {event_id: row for row, event_id in enumerate(events.ids.tolist())}
    now = world.reference_ts
    profile = engine.profiles.get(request.user_id)
    cold = profile is None or profile.is_cold
    config = get_preset(request.preset or ("discovery" if cold else "default"))
    excluded = excluded_events(world, request.user_id)
    excluded_categories = set(profile.excluded_categories) if profile is not None else set()
    center, radius_km = None, None
    if request.context.location is not None:
        location = request.context.location
        center, radius_km = (location.lat, location.lng), location.radius_km
    elif request.user_id in homes(world):
        center = homes(world)[request.user_id]
        radius_km = config.algorithms.location_based.max_distance_km

    assert len(ids) <= request.limit
    assert len(set(ids)) == len(ids), "duplicates"
    for event_id in ids:
        row = row_of[event_id]
        assert events.end_ts[row] >= now, "over"
        assert events.status[row] == STATUS_CODES[EventStatus.SCHEDULED], "cancelled or sold out"
        assert event_id not in excluded, "dismissed, hidden or bought"
        category = events.categories.name(int(events.category[row]))
        assert category not in excluded_categories
        if request.filters.categories is not None:
            assert category in request.filters.categories
        price = request.filters.price_range
        if price is not None and price.min is not None:
            assert events.price_max[row] >= np.float32(price.min)
        if price is not None and price.max is not None:
            assert events.price_min[row] <= np.float32(price.max)
        window = request.context.time_range
        if window is not None:
            assert events.end_ts[row] >= epoch(window.start, now)
            assert events.start_ts[row] <= epoch(window.end, math.inf)
        if center is not None and radius_km is not None:
            distance = great_circle_km(*center, float(events.lat[row]), float(events.lng[row]))
            assert distance <= radius_km + BOUNDARY_KM

    diversity = config.diversity
    venues = [int(events.venue[row_of[e]]) for e in ids]
    categories = [int(events.category[row_of[e]]) for e in ids]
    assert max(Counter(categories).values(), default=0) <= diversity.max_same_category
    assert max(Counter(venues).values(), default=0) <= diversity.max_same_venue


def assert_explanations_name_contributors(ranking: Ranking) -> None:
    for item, position in enumerate(ranking.positions.tolist()):
        shares = {name: float(share[position]) for name, share in ranking.contributions.items()}
        contributed = {name: share for name, share in shares.items() if share > 0.0}
        why = ranking.explanations[item]
        factors = {f for name in contributed for f in REASONS[name].factors}
        if ranking.injected[item]:
            assert why.primary_reason == REASONS[NOVELTY].reason
            factors |= set(REASONS[NOVELTY].factors)
        elif contributed:
            top = max(contributed.values())
            leaders = {REASONS[n].reason for n, share in contributed.items() if share == top}
            assert why.primary_reason in leaders
        else:
            assert ranking.backfilled[position]
            assert why.primary_reason == POPULAR_NEARBY
        assert set(why.contributing_factors) <= factors
        assert set(why.components) == set(contributed)


@SETTINGS
@given(data=st.data())
def test_every_item_honours_every_filter_and_cap(served: Served, data: st.DataObject) -> None:
    world, engine = served.world, served.engine
    request = data.draw(requests(user_pool(world)))
    result = engine.get_recommendations(request, now_ts=world.reference_ts)
    ids = [r.event_id for r in result.recommendations]
    event("some items" if ids else "no items")
    event(f"fallback: {result.fallback}")
    assert_filters_hold(world, engine, request, ids)
    profile = engine.profiles.get(request.user_id)
    assert (result.fallback == COLD_START) == (profile is None or profile.is_cold)
    assert result.skipped_components == {}
    assert all(0.0 <= r.confidence <= 1.0 for r in result.recommendations)


@SETTINGS
@given(data=st.data())
def test_explanations_name_only_contributing_components(
    served: Served, data: st.DataObject
) -> None:
    world, engine = served.world, served.engine
    request = data.draw(requests(user_pool(world)))
    ranking = engine.rank(request, now_ts=world.reference_ts)
    result = engine.get_recommendations(request, now_ts=world.reference_ts)
    assert [r.event_id for r in result.recommendations] == ranking.candidates.ids[
        ranking.positions
    ].tolist()
    assert_explanations_name_contributors(ranking)
    for recommendation, why in zip(result.recommendations, ranking.explanations, strict=True):
        assert recommendation.explanation.primary_reason == why.primary_reason
        assert recommendation.explanation.contributing_factors == list(why.contributing_factors)


def capped_and_full(
    engine: PersonalizationEngine,
    request: RecommendationRequest,
    now_ts: int,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[EventFrame, EventFrame]:
    """The candidates scored under a cap of a third of them, and all of them."""
    monkeypatch.setattr(engine, "max_scored_candidates", None)
    everything = engine.rank(request, now_ts=now_ts).candidates
    monkeypatch.setattr(engine, "max_scored_candidates", len(everything) // 3)
    return engine.rank(request, now_ts=now_ts).candidates, everything


def assert_nearest_first(
    capped: EventFrame, everything: EventFrame, *anchors: tuple[float, float]
) -> None:
    """Within each category, the kept candidates are the nearest to any of ``anchors``."""
    kept = set(capped.ids.tolist())
    for category in set(everything.category.tolist()):
        mine = everything.take(everything.category == category)
        distance = [
            min(great_circle_km(*anchor, lat, lng) for anchor in anchors)
            for lat, lng in zip(mine.lat.tolist(), mine.lng.tolist(), strict=True)
        ]
        inside = [d for d, e in zip(distance, mine.ids, strict=True) if e in kept]
        outside = [d for d, e in zip(distance, mine.ids, strict=True) if e not in kept]
        assert inside, "every category keeps candidates"
        assert not outside or max(inside) <= min(outside) + 1e-3


def test_the_pool_cap_keeps_an_equal_share_of_each_category_for_a_cold_user(
    world: World, engine: PersonalizationEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    city = next(c for c in CITIES if c.name == "New York")
    request = RecommendationRequest(
        user_id=NEWCOMER,
        context=RequestContext(location=LocationContext(lat=city.lat, lng=city.lng, radius_km=60)),
    )
    capped, everything = capped_and_full(engine, request, world.reference_ts, monkeypatch)
    cap = len(everything) // 3
    before = Counter(everything.category.tolist())
    after = Counter(capped.category.tolist())
    assert cap <= len(capped) < cap + len(before)
    (share,) = {after[c] for c in before if after[c] < before[c]}
    assert all(after[c] <= share for c in before)
    assert_nearest_first(capped, everything, (city.lat, city.lng))


def test_the_pool_cap_gives_the_categories_a_user_likes_a_larger_share(
    world: World, engine: PersonalizationEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = users_by_activity(world)[0]
    home = homes(world)[user]
    request = RecommendationRequest(
        user_id=user,
        context=RequestContext(location=LocationContext(lat=home[0], lng=home[1], radius_km=60)),
    )
    capped, everything = capped_and_full(engine, request, world.reference_ts, monkeypatch)
    before = Counter(everything.category.tolist())
    after = Counter(capped.category.tolist())
    affinity = engine.profiles[user].categories
    truncated = sorted(
        (affinity.get(everything.categories.names[c], 0.0), after[c])
        for c in before
        if after[c] < before[c]
    )
    kept_counts = [count for _, count in truncated]
    assert kept_counts == sorted(kept_counts), "more affinity, never a smaller share"
    assert kept_counts[-1] > kept_counts[0]
    places = engine.hybrid.components_["location_based"].places_[user]
    assert places.lat.size, "the pool also admits candidates near the user's own places"
    anchor_lat, anchor_lng = _retrieval_anchors(
        engine.hybrid, GeoPoint(lat=home[0], lng=home[1]), engine.profiles[user]
    )
    assert (anchor_lat[0], anchor_lng[0]) == home
    assert_nearest_first(capped, everything, *zip(anchor_lat, anchor_lng, strict=True))


def test_retrieval_anchors_merge_a_users_places_into_their_densest_cells(
    world: World, engine: PersonalizationEngine
) -> None:
    location = engine.hybrid.components_["location_based"]
    user = max(location.places_, key=lambda u: location.places_[u].lat.size)
    places = location.places_[user]
    anchor_lat, anchor_lng = _retrieval_anchors(engine.hybrid, None, engine.profiles[user])
    cells = {
        (round(lat / ANCHOR_CELL_DEG), round(lng / ANCHOR_CELL_DEG))
        for lat, lng in zip(places.lat.tolist(), places.lng.tolist(), strict=True)
    }
    assert len(anchor_lat) == min(len(cells), MAX_RETRIEVAL_ANCHORS)
    for lat, lng in zip(anchor_lat.tolist(), anchor_lng.tolist(), strict=True):
        # every anchor is the centre of a cell holding one of the user's places
        assert (round(lat / ANCHOR_CELL_DEG), round(lng / ANCHOR_CELL_DEG)) in cells
    assert _retrieval_anchors(engine.hybrid, None, None)[0].size == 0


def test_the_seeds_example_request_validates_and_runs(
    world: World, engine: PersonalizationEngine
) -> None:
    seed_json = """{
      "user_id": "uuid",
      "context": {
        "location": { "lat": 37.7749, "lng": -122.4194, "radius_km": 25 },
        "time_range": { "start": "2024-01-01", "end": "2024-01-31" }
      },
      "filters": {
        "categories": ["music", "arts"],
        "price_range": { "min": 0, "max": 100 }
      },
      "algorithm_config": {
        "diversity_factor": 0.5,
        "novelty_factor": 0.3
      },
      "limit": 20
    }"""
    request = RecommendationRequest.model_validate_json(seed_json)
    in_january_2024 = int(datetime.fromisoformat("2024-01-10T00:00:00+00:00").timestamp())
    result = engine.get_recommendations(request, now_ts=in_january_2024)
    assert result.recommendations == [], "the generated world has no events in January 2024"
    assert result.fallback == COLD_START
    moved = request.model_copy(
        update={"context": request.context.model_copy(update={"time_range": None})}
    )
    served = engine.get_recommendations(moved, now_ts=world.reference_ts)
    assert served.recommendations, "San Francisco has music and arts events in the world"
    assert_filters_hold(world, engine, moved, [r.event_id for r in served.recommendations])


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("centre_lng", [13.4, 179.7, 179.95, -179.95])
def test_nearest_anchor_distances_skip_no_anchor_that_matters(seed: int, centre_lng: float) -> None:
    rng = np.random.default_rng(seed)
    lat = 52.5 + rng.normal(0.0, 0.1, 500)
    lng = (centre_lng + rng.normal(0.0, 0.1, 500) + 180.0) % 360.0 - 180.0
    # The request location, places in this city (some inside the points' box) and in others
    # anywhere on the globe (across the antimeridian too).
    near = 5
    anchor_lat = np.concatenate([[52.5], 52.5 + rng.normal(0, 0.2, near), rng.uniform(-60, 60, 6)])
    anchor_lng = np.concatenate(
        [[centre_lng], centre_lng + rng.normal(0, 0.2, near), rng.uniform(-180, 180, 6)]
    )
    anchor_lng = (anchor_lng + 180.0) % 360.0 - 180.0
    order = rng.permutation(len(anchor_lat) - 1) + 1
    anchor_lat, anchor_lng = anchor_lat[[0, *order]], anchor_lng[[0, *order]]

    found = _nearest_squared_degrees(lat, lng, anchor_lat, anchor_lng)

    scale = math.cos(math.radians(float(anchor_lat.mean())))
    east = lng[:, None] - anchor_lng
    spans = max(lng.max(), anchor_lng.max()) - min(lng.min(), anchor_lng.min())
    if spans > 180.0:
        east = (east + 180.0) % 360.0 - 180.0
    every = (lat[:, None] - anchor_lat) ** 2 + (east * scale) ** 2
    np.testing.assert_allclose(found, every.min(axis=1), rtol=1e-12)


@settings(max_examples=200, deadline=None)
@given(
    groups=st.lists(st.integers(0, 40), min_size=1, max_size=300),
    keys=st.data(),
    start_ts=st.booleans(),
)
def test_packed_order_sorts_by_group_then_key_then_position(
    groups: list[int], keys: st.DataObject, start_ts: bool
) -> None:
    n = len(groups)
    # Squared distances (ties included), or start times that may hold the "no start" sentinel.
    values = keys.draw(
        st.lists(
            st.sampled_from([-(2.0**62), 1.7e9, 1.7e9 + 60.0, 1.8e9])
            if start_ts
            else st.sampled_from([0.0, 1e-9, 2.5e-4, 2.5e-4, 0.01, 3.0, 400.0]),
            min_size=n,
            max_size=n,
        )
    )
    group = np.array(groups, dtype=np.int64)
    order_key = np.array(values)

    packed = _packed_order(group, int(group.max()) + 1, order_key)

    positions = packed & ((1 << max(n - 1, 1).bit_length()) - 1)
    expected = np.lexsort((np.arange(n), order_key, group))
    assert positions.tolist() == expected.tolist()
