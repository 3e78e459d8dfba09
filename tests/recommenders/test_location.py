from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest
from tests.recommenders.recommender_world import CANDIDATES, PLACE_A, World

from scenescout.domain import Event, GeoPoint, Interaction, InteractionType
from scenescout.frames import EventFrame, InteractionLog
from scenescout.geo import KM_PER_DEGREE_LAT, haversine_km
from scenescout.profiles.profile import UserProfile
from scenescout.recommenders import (
    LocationRecommender,
    ScoringContext,
    TrainingData,
    distance_decay,
)
from scenescout.recommenders.location import DecayFunction

MAX_KM = 50.0
DISTANCES = np.linspace(0.0, 80.0, 161)


@pytest.mark.parametrize("decay", ["exponential", "linear", "gaussian"])
def test_decay_is_one_at_zero_falls_with_distance_and_stops_at_the_maximum(
    decay: DecayFunction,
) -> None:
    scores = distance_decay(DISTANCES, MAX_KM, decay, MAX_KM / 3.0)
    assert scores[0] == 1.0
    assert np.all(np.diff(scores) <= 0.0)
    assert np.all((scores >= 0.0) & (scores <= 1.0))
    assert np.all(scores[DISTANCES > MAX_KM] == 0.0)


def test_decay_values_at_the_documented_points() -> None:
    scale = MAX_KM / 3.0
    at = np.array([scale, MAX_KM / 2.0, MAX_KM])
    exponential = distance_decay(at, MAX_KM, "exponential", scale)
    linear = distance_decay(at, MAX_KM, "linear", scale)
    gaussian = distance_decay(at, MAX_KM, "gaussian", scale)
    np.testing.assert_allclose(exponential, [math.exp(-1), math.exp(-1.5), math.exp(-3)])
    np.testing.assert_allclose(linear, [2 / 3, 0.5, 0.0], atol=1e-12)
    np.testing.assert_allclose(gaussian, [math.exp(-0.5), math.exp(-1.125), math.exp(-4.5)])


def test_gaussian_is_flatter_near_and_steeper_far_than_exponential() -> None:
    scale = MAX_KM / 3.0
    near, far = np.array([2.0]), np.array([40.0])
    assert distance_decay(near, MAX_KM, "gaussian", scale) > distance_decay(
        near, MAX_KM, "exponential", scale
    )
    assert distance_decay(far, MAX_KM, "gaussian", scale) < distance_decay(
        far, MAX_KM, "exponential", scale
    )


def test_scale_follows_the_users_typical_distance(world: World) -> None:
    location = LocationRecommender().fit(world.data)
    homebody = UserProfile(user_id="alice", typical_distance_km=6.0)
    traveller = UserProfile(user_id="alice", typical_distance_km=500.0)
    assert location.scale_km(world.context("alice", profile=homebody)) == 6.0
    assert location.scale_km(world.context("alice", profile=traveller)) == MAX_KM / 3.0
    near_home = location.score(
        world.context("alice", *CANDIDATES, location=PLACE_A, profile=homebody)
    )
    default = location.score(world.context("alice", *CANDIDATES, location=PLACE_A))
    far = CANDIDATES.index("music-cold")
    assert near_home[far] < default[far]
    fixed = LocationRecommender(adapt_to_profile=False).fit(world.data)
    np.testing.assert_array_equal(
        fixed.score(world.context("alice", *CANDIDATES, location=PLACE_A, profile=homebody)),
        default,
    )


def test_events_beyond_the_maximum_score_zero(world: World) -> None:
    location = LocationRecommender(max_distance_km=10.0).fit(world.data)
    for user in ("zed", "alice"):
        scores = location.score(world.context(user, *CANDIDATES, location=PLACE_A))
        assert scores[CANDIDATES.index("music-cold")] == 0.0
    newcomer = location.score(world.context("zed", *CANDIDATES, location=PLACE_A))
    assert newcomer[CANDIDATES.index("music-warm")] == 1.0


# A street grid for the place density: the user's places sit around the origin.
ORIGIN = (1.3000, 103.8500)
KM_LNG = KM_PER_DEGREE_LAT * math.cos(math.radians(ORIGIN[0]))


def _east(km: float, north_km: float = 0.0) -> tuple[float, float]:
    return ORIGIN[0] + north_km / KM_PER_DEGREE_LAT, ORIGIN[1] + km / KM_LNG


PLACES = {
    "cafe": _east(0.0),
    "gym": _east(0.2, 0.1),
    "office": _east(-0.1, -0.2),
    "near": _east(0.4),
    "far": _east(6.0),
    "farther": _east(6.3),
}
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def _visit(
    user: str, place: str, kind: InteractionType = InteractionType.CLICK, weight: float = 1.0
) -> Interaction:
    return Interaction(
        user_id=user, event_id=place, interaction_type=kind, occurred_at=NOW, weight=weight
    )


@pytest.fixture()
def places() -> EventFrame:
    return EventFrame.from_events(
        [Event(id=name, lat=lat, lng=lng) for name, (lat, lng) in PLACES.items()]
    )


def _data(places: EventFrame, *visits: Interaction) -> TrainingData:
    return TrainingData(
        InteractionLog.from_interactions(list(visits)), places, int(NOW.timestamp())
    )


def _context(places: EventFrame, user: str, location: GeoPoint | None = None) -> ScoringContext:
    return ScoringContext(user, places, int(NOW.timestamp()), location=location)


def _by_place(scores: np.ndarray) -> dict[str, float]:
    return dict(zip(PLACES, scores.tolist(), strict=True))


def test_a_place_near_the_users_places_outranks_a_far_one(places: EventFrame) -> None:
    visits = [_visit("u", p) for p in ("cafe", "gym", "office")]
    location = LocationRecommender().fit(_data(places, *visits))
    scores = _by_place(location.score(_context(places, "u")))
    assert scores["near"] > scores["far"] > 0.0
    assert scores["cafe"] > scores["near"]
    assert all(0.0 <= s <= 1.0 for s in scores.values())


def test_density_follows_the_documented_formula(places: EventFrame) -> None:
    location = LocationRecommender(
        place_bandwidth_km=0.5, density_exponent=0.5, history_share=1.0
    ).fit(_data(places, _visit("u", "cafe", weight=3.0), _visit("u", "far")))
    distance = {
        name: haversine_km(
            lat,
            lng,
            np.array([PLACES["cafe"][0], PLACES["far"][0]]),
            np.array([PLACES["cafe"][1], PLACES["far"][1]]),
        )
        for name, (lat, lng) in PLACES.items()
    }
    expected = {
        name: float((np.array([0.75, 0.25]) @ np.exp(-d / 0.5)) ** 0.5)
        for name, d in distance.items()
    }
    scores = _by_place(location.score(_context(places, "u", GeoPoint(lat=0.0, lng=0.0))))
    assert scores == pytest.approx({name: 0.0 for name in PLACES})
    scores = _by_place(location.score(_context(places, "u")))
    assert scores == pytest.approx(expected, rel=1e-3)


def test_places_weigh_by_interaction_confidence(places: EventFrame) -> None:
    visits = [
        _visit("u", "cafe", InteractionType.VIEW),
        _visit("u", "far", InteractionType.PURCHASE, weight=2.0),
    ]
    scores = _by_place(
        LocationRecommender().fit(_data(places, *visits)).score(_context(places, "u"))
    )
    assert scores["farther"] > scores["near"]


def test_the_score_mixes_decay_and_density_by_history_share(places: EventFrame) -> None:
    here = GeoPoint(lat=PLACES["far"][0], lng=PLACES["far"][1])
    data = _data(places, _visit("u", "cafe"))
    decay_only = LocationRecommender(history_share=0.0).fit(data)
    density_only = LocationRecommender(history_share=1.0).fit(data)
    mixed = LocationRecommender(history_share=0.25).fit(data)
    decay = decay_only.score(_context(places, "u", here))
    density = density_only.score(_context(places, "u", here))
    np.testing.assert_allclose(
        mixed.score(_context(places, "u", here)), 0.75 * decay + 0.25 * density
    )
    np.testing.assert_allclose(density, density_only.score(_context(places, "u")))
    newcomer = mixed.score(_context(places, "new", here))
    np.testing.assert_allclose(newcomer, decay)


def test_partial_update_moves_the_density(places: EventFrame) -> None:
    location = LocationRecommender().fit(_data(places, _visit("u", "cafe")))
    before = _by_place(location.score(_context(places, "u")))
    assert before["near"] > before["farther"]
    location.partial_update(_visit("u", "far", InteractionType.DISMISS))
    assert _by_place(location.score(_context(places, "u"))) == before
    location.partial_update(_visit("u", "far", InteractionType.PURCHASE))
    location.partial_update(_visit("u", "far", InteractionType.PURCHASE))
    after = _by_place(location.score(_context(places, "u")))
    assert after["farther"] > after["near"]
    assert after["farther"] > before["farther"]


def test_partial_update_places_new_users_and_new_events(places: EventFrame) -> None:
    location = LocationRecommender().fit(_data(places, _visit("u", "cafe")))
    assert np.isnan(location.score(_context(places, "v"))).all()
    location.partial_update(_visit("v", "far"))
    scores = _by_place(location.score(_context(places, "v")))
    assert scores["farther"] > scores["near"]
    pop_up = EventFrame.from_events(
        [Event(id="pop-up", lat=PLACES["near"][0], lng=PLACES["near"][1])]
    )
    location.partial_update(_visit("w", "pop-up"), pop_up)
    scores = _by_place(location.score(_context(places, "w")))
    assert max(scores, key=scores.__getitem__) == "near"
    location.partial_update(_visit("x", "unknown-event"))
    assert "x" not in location.places_


def test_only_the_heaviest_places_are_kept(places: EventFrame) -> None:
    visits = [_visit("u", "cafe", weight=1.0), _visit("u", "far", weight=5.0)]
    location = LocationRecommender(max_places=1).fit(_data(places, *visits))
    assert location.places_["u"].keys.shape == (1,)
    scores = _by_place(location.score(_context(places, "u")))
    assert scores["far"] == pytest.approx(1.0)
    location.partial_update(_visit("u", "cafe", weight=10.0))
    scores = _by_place(location.score(_context(places, "u")))
    assert scores["cafe"] == pytest.approx(1.0)
