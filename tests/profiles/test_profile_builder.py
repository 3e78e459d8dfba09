"""Bulk builds: weights, negative feedback, decay, what each event contributes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tests.profiles.profile_world import (
    DAY_SECONDS,
    HOME,
    T0,
    assert_profiles_close,
    interaction,
    log_of,
    replay,
    ts,
)

from scenescout.domain import InteractionType, UserPreferences
from scenescout.frames import EventFrame
from scenescout.geo import haversine_km_scalar
from scenescout.profiles import InteractionWeights, ProfileConfig, UserProfileBuilder
from scenescout.profiles.event_keys import event_keys, one_event_keys

NOW = int(T0.timestamp())


def test_every_interaction_type_has_a_weight_and_overrides_keep_the_rest() -> None:
    weights = InteractionWeights(view=0.5)
    assert {t: weights.of(t) for t in InteractionType} == {
        InteractionType.VIEW: 0.5,
        InteractionType.CLICK: 2.0,
        InteractionType.SAVE: 4.0,
        InteractionType.SHARE: 5.0,
        InteractionType.RSVP: 6.0,
        InteractionType.PURCHASE: 8.0,
        InteractionType.DISMISS: -3.0,
        InteractionType.HIDE: -6.0,
    }


@pytest.mark.parametrize("interaction_type", list(InteractionType))
def test_one_interaction_adds_its_type_weight(
    builder: UserProfileBuilder, world: EventFrame, interaction_type: InteractionType
) -> None:
    log = log_of([interaction("m1", interaction_type)])
    profile = builder.build("u", log, world, now_ts=NOW)
    expected = builder.config.interaction_weights.of(interaction_type)
    assert profile.categories == {"music": expected}
    assert profile.tags == {"rock": expected, "live": expected}
    assert (expected < 0) == interaction_type.is_negative
    assert profile.positive_weight == max(expected, 0.0)
    assert profile.interaction_count == 1


def test_negative_feedback_lowers_affinity_but_not_strength(
    builder: UserProfileBuilder, world: EventFrame
) -> None:
    log = log_of([interaction("s1", InteractionType.SAVE), interaction("s2", InteractionType.HIDE)])
    profile = builder.build("u", log, world, now_ts=NOW)
    assert profile.categories == {"sports": 4.0 - 6.0}
    assert profile.venues == {"v3": -2.0}
    assert profile.strength == pytest.approx(1.0 - math.exp(-4.0 / 20.0))


def test_an_interaction_weight_multiplies_its_type_weight(
    builder: UserProfileBuilder, world: EventFrame
) -> None:
    log = log_of([interaction("m2", InteractionType.VIEW, weight=3.0)])
    assert builder.build("u", log, world, now_ts=NOW).categories == {"music": 3.0}


def test_configured_weights_are_used(world: EventFrame) -> None:
    builder = UserProfileBuilder(ProfileConfig(interaction_weights=InteractionWeights(click=7.0)))
    log = log_of([interaction("m1")])
    assert builder.build("u", log, world, now_ts=NOW).categories == {"music": 7.0}


def test_value_halves_at_each_half_life(builder: UserProfileBuilder, world: EventFrame) -> None:
    log = log_of([interaction("m1", InteractionType.PURCHASE)])
    half_life = round(builder.config.half_life_days * DAY_SECONDS)
    for half_lives in (0, 1, 2, 3):
        profile = builder.build("u", log, world, now_ts=NOW + half_lives * half_life)
        assert profile.learned_categories["music"] == pytest.approx(8.0 / 2**half_lives)
        assert profile.tags["rock"] == pytest.approx(8.0 / 2**half_lives)
        assert profile.reference_ts == NOW + half_lives * half_life


def test_recent_categories_halve_at_the_recent_window(
    builder: UserProfileBuilder, world: EventFrame
) -> None:
    log = log_of([interaction("m1", InteractionType.PURCHASE)])
    later = NOW + round(builder.config.recent_window_days * DAY_SECONDS)
    assert builder.build("u", log, world, now_ts=later).recent_categories == {
        "music": pytest.approx(4.0)
    }


def test_decay_to_moves_forward_only(builder: UserProfileBuilder, world: EventFrame) -> None:
    profile = builder.build(
        "u", log_of([interaction("m1", InteractionType.RSVP)]), world, now_ts=NOW
    )
    half_life = round(builder.config.half_life_days * DAY_SECONDS)
    later = builder.decay_to(profile, NOW + half_life)
    assert later.categories["music"] == pytest.approx(3.0)
    assert later.strength < profile.strength
    assert builder.decay_to(later, NOW) is later
    rebuilt = builder.build(
        "u", log_of([interaction("m1", InteractionType.RSVP)]), world, now_ts=NOW + half_life
    )
    assert_profiles_close(later, rebuilt)


def test_event_keys_venue_organizer_price_band_and_time_of_week_in_utc(
    builder: UserProfileBuilder, world: EventFrame
) -> None:
    log = log_of([interaction(e, InteractionType.VIEW) for e in ("m1", "m2", "s1", "s2", "a1")])
    profile = builder.build("u", log, world, now_ts=NOW)
    assert profile.categories == {"music": 2.0, "sports": 2.0, "arts": 1.0}
    assert profile.tags == {"rock": 1.0, "live": 2.0, "jazz": 1.0, "football": 1.0, "tennis": 1.0}
    assert profile.venues == {"v1": 1.0, "v2": 1.0, "v3": 2.0}
    assert profile.organizers == {"o1": 2.0, "o2": 1.0, "o3": 1.0}
    assert profile.price_bands == {
        "budget": 1.0,
        "free": 1.0,
        "premium": 1.0,
        "mid": 1.0,
        "luxury": 1.0,
    }
    # Friday evening, Saturday late, Sunday day, Monday night; the permanent place has none.
    assert profile.time_of_week == {"5:2": 1.0, "6:3": 1.0, "7:1": 1.0, "1:0": 1.0}


def test_one_event_keys_are_event_keys_of_that_row(world: EventFrame) -> None:
    keys = event_keys(world, np.arange(len(world)))
    for row in range(len(world)):
        one = one_event_keys(world, row)
        tags = keys.tag_codes[keys.tag_indptr[row] : keys.tag_indptr[row + 1]].tolist()
        assert one.tags == [keys.tag_names[code] for code in tags]
        assert (one.category, one.venue, one.organizer) == (
            keys.category[row],
            keys.venue[row],
            keys.organizer[row],
        )
        assert (one.price_band, one.time_cell) == (keys.price_band[row], keys.time_cell[row])
        assert (one.lat, one.lng) == (keys.lat[row], keys.lng[row])
    assert {one_event_keys(world, row).time_cell for row in range(len(world))} >= {-1}


def test_typical_distance_is_the_weighted_mean_over_positive_interactions(
    builder: UserProfileBuilder, world: EventFrame
) -> None:
    log = log_of(
        [
            interaction("m1", InteractionType.CLICK),
            interaction("s1", InteractionType.SAVE),
            interaction("s2", InteractionType.HIDE),
        ]
    )
    profile = builder.build("u", log, world, now_ts=NOW, home=HOME)
    to_s1 = haversine_km_scalar(*HOME, 40.0, -74.2)
    assert profile.typical_distance_km == pytest.approx((2.0 * 0.0 + 4.0 * to_s1) / 6.0)
    assert builder.build("u", log, world, now_ts=NOW).typical_distance_km is None


def test_events_missing_from_the_frame_count_in_no_affinity(
    builder: UserProfileBuilder, world: EventFrame
) -> None:
    known = interaction("m1", InteractionType.SAVE)
    unknown = interaction("gone", InteractionType.PURCHASE, days=2.0)
    profile = builder.build("u", log_of([known, unknown]), world, now_ts=NOW, home=HOME)
    assert profile.interaction_count == 2
    assert profile.last_interaction_ts == ts(unknown)
    assert profile.reference_ts == ts(unknown)
    assert profile.categories.keys() == {"music"}
    assert profile.positive_weight == pytest.approx(4.0 * 2 ** (-2.0 / 30.0))
    assert profile.typical_distance_km == pytest.approx(0.0)


def test_reference_time_is_never_before_the_last_interaction(
    builder: UserProfileBuilder, world: EventFrame
) -> None:
    log = log_of([interaction("m1", InteractionType.CLICK, days=10.0)])
    profile = builder.build("u", log, world, now_ts=NOW)
    assert profile.reference_ts == NOW + 10 * DAY_SECONDS
    assert profile.categories == {"music": 2.0}


def test_a_user_without_interactions_gets_an_empty_profile(
    builder: UserProfileBuilder, world: EventFrame
) -> None:
    profile = builder.build("u", log_of([]), world, now_ts=NOW, home=HOME)
    assert profile.is_cold
    assert profile.reference_ts == NOW
    assert profile.home == HOME
    assert profile.strength == 0.0


def test_build_rejects_interactions_of_other_users(
    builder: UserProfileBuilder, world: EventFrame
) -> None:
    log = log_of([interaction("m1"), interaction("m2", user_id="someone-else")])
    with pytest.raises(ValueError, match="someone-else"):
        builder.build("u", log, world, now_ts=NOW)


def test_update_rejects_another_users_interaction_and_a_wrong_event(
    builder: UserProfileBuilder, world: EventFrame
) -> None:
    profile = builder.build("u", log_of([]), world, now_ts=NOW)
    with pytest.raises(ValueError, match="someone-else"):
        builder.update(profile, interaction("m1", user_id="someone-else"), world.take([0]))
    with pytest.raises(ValueError, match="one-row frame of event 'm2'"):
        builder.update(profile, interaction("m2"), world.take([0]))


def test_update_matches_build_with_a_home(builder: UserProfileBuilder, world: EventFrame) -> None:
    interactions = [
        interaction("m1", InteractionType.SAVE),
        interaction("s1", InteractionType.CLICK, days=3.5),
        interaction("s2", InteractionType.DISMISS, days=4.0),
        interaction("m2", InteractionType.PURCHASE, days=9.25),
    ]
    incremental = replay(builder, interactions, world, home=HOME)
    bulk = builder.build("u", log_of(interactions), world, now_ts=NOW, home=HOME)
    assert_profiles_close(incremental, bulk)


def test_build_all_equals_build_per_user(builder: UserProfileBuilder, world: EventFrame) -> None:
    interactions = [
        interaction("m1", InteractionType.SAVE, user_id="ann", days=1.0),
        interaction("s1", InteractionType.CLICK, user_id="bob", days=2.0),
        interaction("m2", InteractionType.VIEW, user_id="ann", days=0.5),
        interaction("gone", InteractionType.VIEW, user_id="cy", days=3.0),
        interaction("s2", InteractionType.HIDE, user_id="bob", days=2.5),
        interaction("a1", InteractionType.RSVP, user_id="ann", days=4.0),
    ]
    homes = {"ann": HOME}
    preferences = {"bob": UserPreferences(categories=["arts"], excluded_categories=["music"])}
    everyone = builder.build_all(
        log_of(interactions), world, NOW, homes=homes, preferences=preferences
    )
    assert everyone.keys() == {"ann", "bob", "cy"}
    for user_id, profile in everyone.items():
        own = log_of([i for i in interactions if i.user_id == user_id])
        alone = builder.build(
            user_id,
            own,
            world,
            now_ts=NOW,
            home=homes.get(user_id),
            preferences=preferences.get(user_id),
        )
        assert_profiles_close(profile, alone)
