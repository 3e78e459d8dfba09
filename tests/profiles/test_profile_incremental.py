"""Updating one interaction at a time equals a bulk build over the same interactions."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.profiles.profile_world import (
    HOME,
    T0,
    assert_profiles_close,
    log_of,
    replay,
    small_world,
    ts,
)

from scenescout.domain import Interaction, InteractionType
from scenescout.profiles import ProfileConfig, UserProfileBuilder

WORLD = small_world()
# A configuration that flags changes readily, so the adaptive clock is exercised often.
EAGER = ProfileConfig(change_threshold=0.05, change_min_recent_weight=0.0, adaptation_boost=4.0)

interactions_st = st.lists(
    st.builds(
        lambda event_id, kind, seconds, weight: Interaction(
            user_id="u",
            event_id=event_id,
            interaction_type=kind,
            occurred_at=T0 + timedelta(seconds=seconds),
            weight=weight,
        ),
        st.sampled_from(["m1", "m2", "s1", "s2", "a1", "gone"]),
        st.sampled_from(list(InteractionType)),
        # Whole hours keep ties (same time) likely; up to 200 days spans many half-lives.
        st.integers(0, 200 * 24).map(lambda hours: hours * 3600),
        # Values a float32 InteractionLog stores exactly.
        st.sampled_from([None, 0.5, 1.0, 3.0]),
    ),
    min_size=1,
    max_size=25,
)
configs_st = st.sampled_from([ProfileConfig(), EAGER])
homes_st = st.sampled_from([None, HOME])
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(interactions_st, configs_st, homes_st)
def test_updates_in_time_order_equal_a_bulk_build(
    interactions: list[Interaction], config: ProfileConfig, home: tuple[float, float] | None
) -> None:
    builder = UserProfileBuilder(config)
    in_order = sorted(interactions, key=ts)
    incremental = replay(builder, in_order, WORLD, home=home)
    bulk = builder.build("u", log_of(interactions), WORLD, now_ts=ts(in_order[0]), home=home)
    assert_profiles_close(incremental, bulk)


@SETTINGS
@given(interactions_st, homes_st, st.integers(0, 90 * 86_400))
def test_updates_in_any_order_equal_a_bulk_build_without_adaptation(
    interactions: list[Interaction], home: tuple[float, float] | None, later_seconds: int
) -> None:
    builder = UserProfileBuilder(ProfileConfig(adaptation_boost=1.0))
    incremental = replay(builder, interactions, WORLD, home=home)
    now_ts = max(map(ts, interactions)) + later_seconds
    bulk = builder.build("u", log_of(interactions), WORLD, now_ts=now_ts, home=home)
    assert_profiles_close(builder.decay_to(incremental, now_ts), bulk)


def test_the_eager_configuration_does_flag_changes() -> None:
    # Guards the property tests above: under EAGER the adaptive clock really runs.
    switch = [
        Interaction(
            user_id="u",
            event_id="m1" if day < 20 else "s1",
            interaction_type=InteractionType.CLICK,
            occurred_at=T0 + timedelta(days=day),
        )
        for day in range(30)
    ]
    assert replay(UserProfileBuilder(EAGER), switch, WORLD).preference_change_detected
