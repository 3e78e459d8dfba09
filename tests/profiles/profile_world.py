"""A tiny event world with known answers, and helpers shared by the profile tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from scenescout.domain import Event, Interaction, InteractionType
from scenescout.frames import EventFrame, InteractionLog
from scenescout.profiles import UserProfile, UserProfileBuilder

T0 = datetime(2025, 6, 1, tzinfo=UTC)
HOME = (40.0, -74.0)
DAY_SECONDS = 86_400


def _event(
    event_id: str,
    category: str,
    tags: list[str],
    venue_id: str | None,
    organizer: str | None,
    price_min: float,
    start: datetime | None,
    lat: float,
    lng: float,
) -> Event:
    return Event(
        id=event_id,
        category=category,
        tags=tags,
        venue_id=venue_id,
        organizer=organizer,
        price_min=price_min,
        price_max=max(price_min, 1.0),
        start_time=start,
        end_time=None if start is None else start + timedelta(hours=2),
        lat=lat,
        lng=lng,
    )


def small_world() -> EventFrame:
    """Five events over music, sports and arts; times are UTC.

    ``m1`` Friday 20:00 (cell ``5:2``) at the user's home; ``m2`` Saturday 22:00 (``6:3``);
    ``s1`` Sunday 14:00 (``7:1``); ``s2`` Monday 03:00 (``1:0``); ``a1`` a permanent place.
    """
    return EventFrame.from_events(
        [
            _event("m1", "music", ["rock", "live"], "v1", "o1", 20.0,
                   datetime(2025, 6, 6, 20, tzinfo=UTC), *HOME),
            _event("m2", "music", ["jazz"], "v2", "o2", 0.0,
                   datetime(2025, 6, 7, 22, tzinfo=UTC), 40.1, -74.0),
            _event("s1", "sports", ["football", "live"], "v3", "o3", 80.0,
                   datetime(2025, 6, 8, 14, tzinfo=UTC), 40.0, -74.2),
            _event("s2", "sports", ["tennis"], "v3", None, 30.0,
                   datetime(2025, 6, 9, 3, tzinfo=UTC), 40.2, -74.0),
            _event("a1", "arts", [], None, "o1", 300.0, None, 40.3, -74.3),
        ]
    )  # fmt: skip


def interaction(
    event_id: str,
    interaction_type: InteractionType = InteractionType.CLICK,
    *,
    days: float = 0.0,
    user_id: str = "u",
    weight: float | None = None,
) -> Interaction:
    """An interaction ``days`` after :data:`T0` (whole seconds)."""
    return Interaction(
        user_id=user_id,
        event_id=event_id,
        interaction_type=interaction_type,
        occurred_at=T0 + timedelta(seconds=round(days * DAY_SECONDS)),
        weight=weight,
    )


def ts(interaction_: Interaction) -> int:
    return int(interaction_.occurred_at.timestamp())


def trajectory(
    builder: UserProfileBuilder,
    interactions: Sequence[Interaction],
    events: EventFrame,
    *,
    home: tuple[float, float] | None = None,
) -> list[UserProfile]:
    """The profile after each of ``interactions``, folded with :meth:`UserProfileBuilder.update`
    from an empty profile."""
    profile = UserProfile(user_id=interactions[0].user_id, home=home)
    rows = {event_id: row for row, event_id in enumerate(events.ids.tolist())}
    profiles = []
    for item in interactions:
        row = rows.get(item.event_id)
        profile = builder.update(profile, item, None if row is None else events.take([row]))
        profiles.append(profile)
    return profiles


def replay(
    builder: UserProfileBuilder,
    interactions: Sequence[Interaction],
    events: EventFrame,
    *,
    home: tuple[float, float] | None = None,
) -> UserProfile:
    """The profile after all of ``interactions`` (see :func:`trajectory`)."""
    return trajectory(builder, interactions, events, home=home)[-1]


def log_of(interactions: Sequence[Interaction]) -> InteractionLog:
    return InteractionLog.from_interactions(list(interactions))


AFFINITY_FIELDS = (
    "categories",
    "learned_categories",
    "recent_categories",
    "tags",
    "venues",
    "organizers",
    "price_bands",
    "time_of_week",
)
FLOAT_FIELDS = ("positive_weight", "distance_weight", "strength")
EXACT_FIELDS = (
    "user_id",
    "interaction_count",
    "last_interaction_ts",
    "reference_ts",
    "preference_change_detected",
    "explicit_categories",
    "excluded_categories",
    "home",
)


def assert_profiles_close(actual: UserProfile, expected: UserProfile, rel: float = 1e-9) -> None:
    """Same keys and flags; decayed values equal within float tolerance."""
    for name in EXACT_FIELDS:
        assert getattr(actual, name) == getattr(expected, name), name
    for name in AFFINITY_FIELDS:
        got, want = getattr(actual, name), getattr(expected, name)
        assert got.keys() == want.keys(), name
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=rel, abs=1e-12), (name, key)
    for name in FLOAT_FIELDS:
        assert getattr(actual, name) == pytest.approx(getattr(expected, name), rel=rel, abs=1e-12)
    if expected.typical_distance_km is None:
        assert actual.typical_distance_km is None
    else:
        assert actual.typical_distance_km == pytest.approx(expected.typical_distance_km, rel=rel)
