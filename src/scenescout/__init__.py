"""SceneScout Personalization: real-time, explainable event recommendations."""

from scenescout.domain import (
    Event,
    EventStatus,
    GeoPoint,
    Interaction,
    InteractionType,
    User,
    UserPreferences,
    Venue,
)

__version__ = "0.1.0"

__all__ = [
    "Event",
    "EventStatus",
    "GeoPoint",
    "Interaction",
    "InteractionType",
    "User",
    "UserPreferences",
    "Venue",
    "__version__",
]
