"""Profiles as JSON and as rows of the user tables."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.profiles.profile_world import HOME, T0, interaction, log_of

from scenescout.domain import InteractionType, UserPreferences
from scenescout.frames import EventFrame
from scenescout.profiles import (
    UserProfile,
    UserProfileBuilder,
    behavior_row,
    computed_interest_rows,
    profile_from_json,
    profile_to_json,
    similarity_rows,
)
from scenescout.profiles.persistence import (
    BEHAVIOR_COLUMNS,
    COMPUTED_INTEREST_COLUMNS,
    SIMILARITY_COLUMNS,
)
from scenescout.storage import schema

NOW = datetime(2025, 7, 1, tzinfo=UTC)


@pytest.fixture
def profile(builder: UserProfileBuilder, world: EventFrame) -> UserProfile:
    log = log_of(
        [
            interaction("m1", InteractionType.SAVE),
            interaction("s1", InteractionType.CLICK, days=1.0),
            interaction("s2", InteractionType.HIDE, days=2.0),
            interaction("a1", InteractionType.VIEW, days=3.0),
        ]
    )
    preferences = UserPreferences(categories=["arts"], excluded_categories=["sports"])
    return builder.build(
        "u", log, world, now_ts=int(T0.timestamp()), preferences=preferences, home=HOME
    )


def test_json_round_trip_of_a_built_profile(profile: UserProfile) -> None:
    text = json.dumps(profile_to_json(profile))
    assert profile_from_json(json.loads(text)) == profile


keys = st.text(min_size=1, max_size=8)
scores = st.floats(allow_nan=False, allow_infinity=False)


@given(
    st.builds(
        UserProfile,
        user_id=keys,
        categories=st.dictionaries(keys, scores),
        tags=st.dictionaries(keys, scores),
        time_of_week=st.dictionaries(keys, scores),
        typical_distance_km=st.none() | st.floats(0.0, 20_000.0),
        interaction_count=st.integers(0, 10**6),
        last_interaction_ts=st.none() | st.integers(0, 2**40),
        reference_ts=st.none() | st.integers(0, 2**40),
        strength=st.floats(0.0, 1.0),
        preference_change_detected=st.booleans(),
        explicit_categories=st.lists(keys).map(tuple),
        home=st.none() | st.tuples(st.floats(-90.0, 90.0), st.floats(-180.0, 180.0)),
        recent_categories=st.dictionaries(keys, scores),
    )
)
def test_json_round_trip_of_any_profile(profile: UserProfile) -> None:
    assert profile_from_json(json.loads(json.dumps(profile_to_json(profile)))) == profile


def test_json_of_another_version_is_refused(profile: UserProfile) -> None:
    data = profile_to_json(profile) | {"version": 99}
    with pytest.raises(ValueError, match="version 99"):
        profile_from_json(data)


def test_row_columns_match_the_schema() -> None:
    assert tuple(schema.user_behavior.c.keys()) == BEHAVIOR_COLUMNS
    assert tuple(schema.user_computed_interests.c.keys()) == COMPUTED_INTEREST_COLUMNS
    assert tuple(schema.user_similarities.c.keys()) == SIMILARITY_COLUMNS


def test_behavior_row(profile: UserProfile) -> None:
    row = dict(zip(BEHAVIOR_COLUMNS, behavior_row(profile, NOW), strict=True))
    assert row["user_id"] == "u"
    assert profile_from_json(row["profile"]) == profile
    assert row["interaction_count"] == 4
    assert row["last_interaction_at"] == datetime(2025, 6, 4, tzinfo=UTC)
    assert row["preference_change_detected"] is profile.preference_change_detected
    assert row["updated_at"] == NOW


def test_computed_interest_rows(profile: UserProfile) -> None:
    rows = computed_interest_rows(profile, NOW)
    by_type: dict[str, dict[str, float]] = {}
    for user_id, interest_type, key, score, updated_at in rows:
        assert (user_id, updated_at) == ("u", NOW)
        by_type.setdefault(interest_type, {})[key] = score
    assert by_type == {
        "category": profile.categories,
        "tag": profile.tags,
        "venue": profile.venues,
        "organizer": profile.organizers,
        "price_band": profile.price_bands,
        "time_of_week": profile.time_of_week,
    }
    top = computed_interest_rows(profile, NOW, top_n=1)
    assert [(t, k) for _, t, k, _, _ in top if t == "category"] == [
        ("category", max(profile.categories, key=lambda name: profile.categories[name]))
    ]
    assert len({t for _, t, _, _, _ in top}) == len(top)


def test_similarity_rows() -> None:
    neighbours = {"ann": [("bob", 0.9), ("cy", 0.4)], "bob": [("ann", 0.9)], "dee": []}
    assert similarity_rows(neighbours, NOW) == [
        ("ann", "bob", 0.9, NOW),
        ("ann", "cy", 0.4, NOW),
        ("bob", "ann", 0.9, NOW),
    ]


def test_rows_need_an_aware_time(profile: UserProfile) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        behavior_row(profile, datetime(2025, 7, 1))
