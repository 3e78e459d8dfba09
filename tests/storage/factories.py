"""Small domain objects with sensible defaults for the storage tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from scenescout.domain import Event, Interaction, InteractionType, User, Venue

T0 = datetime(2026, 6, 1, 18, 0, tzinfo=UTC)
BERLIN_SUMMER = timezone(timedelta(hours=2))


def make_event(event_id: str, **fields: Any) -> Event:
    values: dict[str, Any] = {
        "title": f"Event {event_id}",
        "category": "music",
        "tags": ["live", "jazz"],
        "lat": 52.52,
        "lng": 13.405,
        "start_time": T0,
        "end_time": T0 + timedelta(hours=3),
        "price_min": 10.0,
        "price_max": 25.0,
        "created_at": T0 - timedelta(days=30),
        "updated_at": T0 - timedelta(days=1),
    }
    values.update(fields)
    return Event(id=event_id, **values)


def make_venue(venue_id: str, **fields: Any) -> Venue:
    values: dict[str, Any] = {
        "name": f"Venue {venue_id}",
        "city": "Berlin",
        "lat": 52.5,
        "lng": 13.4,
    }
    values.update(fields)
    return Venue(id=venue_id, **values)


def make_user(user_id: str, **fields: Any) -> User:
    values: dict[str, Any] = {"home_lat": 52.5, "home_lng": 13.4, "created_at": T0}
    values.update(fields)
    return User(id=user_id, **values)


def make_interaction(user_id: str, event_id: str, **fields: Any) -> Interaction:
    values: dict[str, Any] = {"interaction_type": InteractionType.VIEW, "occurred_at": T0}
    values.update(fields)
    return Interaction(user_id=user_id, event_id=event_id, **values)
