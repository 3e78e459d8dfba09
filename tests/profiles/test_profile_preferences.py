"""Explicit preferences: a prior that fades as evidence grows; exclusions kept for filters."""

from __future__ import annotations

import pytest
from tests.profiles.profile_world import T0, interaction, log_of

from scenescout.domain import InteractionType, UserPreferences
from scenescout.frames import EventFrame
from scenescout.profiles import ProfileConfig, UserProfileBuilder

NOW = int(T0.timestamp())
LIKES_ARTS = UserPreferences(categories=["arts"], excluded_categories=["sports"])


def test_a_new_user_gets_the_full_prior_for_explicit_categories(
    builder: UserProfileBuilder, world: EventFrame
) -> None:
    profile = builder.build("u", log_of([]), world, now_ts=NOW, preferences=LIKES_ARTS)
    assert profile.categories == {"arts": builder.config.explicit_weight}
    assert profile.learned_categories == {}
    assert profile.explicit_categories == ("arts",)
    assert profile.excluded_categories == ("sports",)
    assert not profile.is_cold


def test_the_prior_dominates_a_weak_profile_and_fades_in_a_strong_one(
    builder: UserProfileBuilder, world: EventFrame
) -> None:
    weak = builder.build(
        "u",
        log_of([interaction("m1", InteractionType.VIEW)]),
        world,
        now_ts=NOW,
        preferences=LIKES_ARTS,
    )
    assert weak.categories["arts"] > weak.categories["music"]

    purchases = [interaction("m1", InteractionType.PURCHASE, days=d / 10) for d in range(40)]
    now = NOW + 4 * 86_400
    strong = builder.build("u", log_of(purchases), world, now_ts=now, preferences=LIKES_ARTS)
    prior = strong.categories["arts"]
    assert prior == pytest.approx(builder.config.explicit_weight * (1.0 - strong.strength))
    assert prior < 0.01 * builder.config.explicit_weight
    assert strong.categories["music"] > 100 * prior


def test_the_prior_shrinks_with_every_positive_update(
    builder: UserProfileBuilder, world: EventFrame
) -> None:
    profile = builder.build("u", log_of([]), world, now_ts=NOW, preferences=LIKES_ARTS)
    priors = [profile.categories["arts"]]
    for day in range(5):
        profile = builder.update(profile, interaction("m2", days=day), world.take([1]))
        assert profile.explicit_categories == ("arts",)
        priors.append(profile.categories["arts"])
    assert priors == sorted(priors, reverse=True)
    assert len(set(priors)) == len(priors)


def test_explicit_weight_is_configurable(world: EventFrame) -> None:
    builder = UserProfileBuilder(ProfileConfig(explicit_weight=2.5))
    profile = builder.build("u", log_of([]), world, now_ts=NOW, preferences=LIKES_ARTS)
    assert profile.categories == {"arts": 2.5}


def test_excluded_categories_keep_their_learned_affinity_for_the_filters_to_act_on(
    builder: UserProfileBuilder, world: EventFrame
) -> None:
    log = log_of([interaction("s1", InteractionType.SAVE)])
    profile = builder.build("u", log, world, now_ts=NOW, preferences=LIKES_ARTS)
    assert profile.excluded_categories == ("sports",)
    assert profile.categories["sports"] == 4.0


def test_with_preferences_replaces_them_and_updates_keep_them(
    builder: UserProfileBuilder, world: EventFrame
) -> None:
    profile = builder.build("u", log_of([]), world, now_ts=NOW, preferences=LIKES_ARTS)
    changed = builder.with_preferences(profile, UserPreferences(categories=["music"]))
    assert changed.categories == {"music": builder.config.explicit_weight}
    assert changed.excluded_categories == ()
    updated = builder.update(changed, interaction("s1"), world.take([2]))
    assert updated.explicit_categories == ("music",)
    assert set(updated.categories) == {"music", "sports"}
    replaced = builder.update(changed, interaction("s1"), world.take([2]), preferences=LIKES_ARTS)
    assert replaced.explicit_categories == ("arts",)
    assert replaced.categories.keys() == {"arts", "sports"}
