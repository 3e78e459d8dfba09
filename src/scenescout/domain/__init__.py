"""Plain typed data of the domain (stdlib and pydantic only)."""

from scenescout.domain.models import (
    Event,
    EventStatus,
    GeoPoint,
    Interaction,
    InteractionType,
    User,
    UserPreferences,
    Venue,
    utc_now,
)

__all__ = [
    "Event",
    "EventStatus",
    "GeoPoint",
    "Interaction",
    "InteractionType",
    "User",
    "UserPreferences",
    "Venue",
    "utc_now",
]
