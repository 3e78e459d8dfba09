"""Preference-change detection and the faster adaptation it triggers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from tests.profiles.profile_world import interaction, log_of, replay, trajectory

from scenescout.domain import Interaction, InteractionType
from scenescout.frames import EventFrame
from scenescout.profiles import ProfileConfig, UserProfileBuilder
from scenescout.profiles.divergence import jensen_shannon, jensen_shannon_rows


def _daily_clicks(events_by_day: list[str]) -> list[Interaction]:
    return [
        interaction(event_id, InteractionType.CLICK, days=day)
        for day, event_id in enumerate(events_by_day)
    ]


def _music_then_sports(days_each: int) -> list[Interaction]:
    music = ["m1" if day % 2 else "m2" for day in range(days_each)]
    sports = ["s1" if day % 2 else "s2" for day in range(days_each)]
    return _daily_clicks(music + sports)


def _days_until_sports_overtakes(
    builder: UserProfileBuilder, interactions: list[Interaction], world: EventFrame
) -> tuple[int, list[int]]:
    """Day sports first beats music, and the days on which a change was flagged."""
    profiles = trajectory(builder, interactions, world)
    flagged = [day for day, p in enumerate(profiles) if p.preference_change_detected]
    overtaken = [
        day
        for day, p in enumerate(profiles)
        if p.categories.get("sports", 0.0) > p.categories["music"]
    ]
    return overtaken[0], flagged


def test_a_switch_from_music_to_sports_is_flagged_and_adopted_sooner(world: EventFrame) -> None:
    interactions = _music_then_sports(days_each=60)
    adaptive = UserProfileBuilder()
    without_boost = UserProfileBuilder(ProfileConfig(adaptation_boost=1.0))

    adaptive_day, flagged = _days_until_sports_overtakes(adaptive, interactions, world)
    plain_day, _ = _days_until_sports_overtakes(without_boost, interactions, world)

    assert flagged, "the switch was never flagged"
    assert min(flagged) >= 60, "flagged before the switch"
    assert adaptive_day < plain_day


def test_bulk_builds_flag_the_switch_on_the_same_days(
    builder: UserProfileBuilder, world: EventFrame
) -> None:
    interactions = _music_then_sports(days_each=60)
    incremental = trajectory(builder, interactions, world)
    for day, profile in enumerate(incremental):
        now = int(interactions[day].occurred_at.timestamp())
        bulk = builder.build("u", log_of(interactions[: day + 1]), world, now_ts=now)
        assert bulk.preference_change_detected == profile.preference_change_detected, day
    assert any(p.preference_change_detected for p in incremental)


def test_a_steady_mixed_taste_is_never_flagged(
    builder: UserProfileBuilder, world: EventFrame
) -> None:
    interactions = _daily_clicks(["m1", "s1", "m2", "s2"] * 30)
    profiles = trajectory(builder, interactions, world)
    assert not any(p.preference_change_detected for p in profiles)


def test_a_sparse_user_needs_enough_recent_evidence(
    builder: UserProfileBuilder, world: EventFrame
) -> None:
    # One view of sports after weeks of music: a very different recent mix, too little weight.
    interactions = [
        *(interaction("m1", InteractionType.SAVE, days=day) for day in range(0, 40, 4)),
        interaction("s1", InteractionType.VIEW, days=50),
    ]
    assert not replay(builder, interactions, world).preference_change_detected
    eager = UserProfileBuilder(ProfileConfig(change_min_recent_weight=0.0))
    assert replay(eager, interactions, world).preference_change_detected


distributions = arrays(
    np.float64, st.tuples(st.integers(1, 4), st.integers(1, 6)), elements=st.floats(-5.0, 50.0)
)


@given(distributions, st.data())
def test_jensen_shannon_is_a_bounded_symmetric_divergence(
    a: np.ndarray, data: st.DataObject
) -> None:
    b = data.draw(arrays(np.float64, a.shape, elements=st.floats(-5.0, 50.0)))
    forward = jensen_shannon_rows(a, b)
    assert np.all((forward >= 0.0) & (forward <= 1.0))
    np.testing.assert_allclose(forward, jensen_shannon_rows(b, a), atol=1e-12)
    np.testing.assert_allclose(jensen_shannon_rows(a, 3.0 * a), 0.0, atol=1e-12)


@given(distributions, st.data())
def test_the_one_pair_divergence_is_the_row_divergence(a: np.ndarray, data: st.DataObject) -> None:
    b = data.draw(arrays(np.float64, a.shape, elements=st.floats(-5.0, 50.0)))
    rows = jensen_shannon_rows(a, b)
    for row in range(a.shape[0]):
        one = jensen_shannon(a[row].tolist(), b[row].tolist())
        assert one == pytest.approx(float(rows[row]), abs=1e-12)


def test_jensen_shannon_known_values() -> None:
    disjoint = jensen_shannon_rows(np.array([[1.0, 0.0]]), np.array([[0.0, 2.0]]))
    nothing_to_compare = jensen_shannon_rows(np.array([[0.0, -1.0]]), np.array([[1.0, 0.0]]))
    np.testing.assert_allclose(disjoint, [1.0])
    np.testing.assert_allclose(nothing_to_compare, [0.0])


@given(distributions, st.data(), st.floats(0.0, 0.5), st.floats(0.0, 30.0))
def test_one_updates_change_test_is_the_batch_one(
    a: np.ndarray, data: st.DataObject, threshold: float, min_recent: float
) -> None:
    b = data.draw(arrays(np.float64, a.shape, elements=st.floats(-5.0, 50.0)))
    builder = UserProfileBuilder(
        ProfileConfig(change_threshold=threshold, change_min_recent_weight=min_recent)
    )
    rows = builder._changed(a, b)
    for row in range(a.shape[0]):
        divergence = float(jensen_shannon_rows(a[row : row + 1], b[row : row + 1])[0])
        if abs(divergence - threshold) > 1e-9:  # the two sums round differently at the edge
            assert builder._changed_one(a[row].tolist(), b[row].tolist()) == bool(rows[row])
