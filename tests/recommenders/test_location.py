from __future__ import annotations

import math

import numpy as np
import pytest
from tests.recommenders.recommender_world import CANDIDATES, PLACE_A, World

from scenescout.profiles.profile import UserProfile
from scenescout.recommenders import LocationRecommender, distance_decay
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
    scores = location.score(world.context("alice", *CANDIDATES, location=PLACE_A))
    assert scores[CANDIDATES.index("music-cold")] == 0.0
    assert scores[CANDIDATES.index("music-warm")] == 1.0
