"""Request and response bodies of the HTTP API.

Every successful response is ``{"success": true, "data": ...}`` (:class:`Envelope`). Domain
models are used as they are where they already are the contract (the seed's recommendation
request and items, events, users, interactions, preferences); the classes here add what the
service itself needs.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from scenescout.domain import Event, GeoPoint, Interaction, User, UserPreferences
from scenescout.domain.models import Identifier
from scenescout.domain.recommendation import CacheInfo, Performance, Recommendation
from scenescout.frames import from_epoch_seconds
from scenescout.profiles import UserProfile

DataT = TypeVar("DataT")

MAX_INTERACTIONS_PER_REQUEST = 500
MAX_EVENTS_PER_REQUEST = 1_000
MAX_SIMILAR_EVENTS = 100
MAX_CAPACITY = 2**31 - 1


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Envelope(_Schema, Generic[DataT]):
    """A successful response."""

    success: Literal[True] = True
    data: DataT


class RecommendationData(_Schema):
    """``data`` of the seed's recommendations response, exactly."""

    recommendations: list[Recommendation]
    cache_info: CacheInfo
    performance: Performance


class ProfileView(_Schema):
    """What the engine has learned about a user (decayed affinities per key)."""

    categories: dict[str, float]
    tags: dict[str, float]
    venues: dict[str, float]
    organizers: dict[str, float]
    price_bands: dict[str, float]
    time_of_week: dict[str, float]
    typical_distance_km: float | None
    interaction_count: int
    last_interaction_at: datetime | None
    strength: float
    preference_change_detected: bool
    explicit_categories: list[str]
    excluded_categories: list[str]
    home: GeoPoint | None

    @classmethod
    def from_profile(cls, profile: UserProfile) -> Self:
        """The public view of an engine profile."""
        last = profile.last_interaction_ts
        return cls(
            categories=profile.categories,
            tags=profile.tags,
            venues=profile.venues,
            organizers=profile.organizers,
            price_bands=profile.price_bands,
            time_of_week=profile.time_of_week,
            typical_distance_km=profile.typical_distance_km,
            interaction_count=profile.interaction_count,
            last_interaction_at=None if last is None else from_epoch_seconds(last),
            strength=profile.strength,
            preference_change_detected=profile.preference_change_detected,
            explicit_categories=list(profile.explicit_categories),
            excluded_categories=list(profile.excluded_categories),
            home=None
            if profile.home is None
            else GeoPoint(lat=profile.home[0], lng=profile.home[1]),
        )


class ProfileData(_Schema):
    """A user's explicit preferences and learned profile."""

    user_id: str
    preferences: UserPreferences
    profile: ProfileView


class PreferencesUpdate(_Schema):
    """``PUT /api/personalization/profile``: replace a user's explicit preferences."""

    user_id: Identifier
    preferences: UserPreferences


class InteractionBatch(_Schema):
    """Several interactions in one request, each acknowledged separately."""

    interactions: list[Interaction] = Field(min_length=1, max_length=MAX_INTERACTIONS_PER_REQUEST)


def _interaction_body_kind(body: Any) -> str:
    if isinstance(body, InteractionBatch) or (isinstance(body, dict) and "interactions" in body):
        return "batch"
    return "single"


InteractionsBody = Annotated[
    Annotated[Interaction, Tag("single")] | Annotated[InteractionBatch, Tag("batch")],
    Discriminator(_interaction_body_kind),
]
"""``POST /api/personalization/profile``: one interaction, or ``{"interactions": [...]}``."""


class InteractionOutcome(_Schema):
    """What became of one submitted interaction (``index`` is its place in the request)."""

    index: int
    interaction_id: int | None
    idempotency_key: str | None
    status: Literal["created", "duplicate"]


class InteractionsData(_Schema):
    """Every submitted interaction's outcome; ``duplicate`` means its idempotency key was
    already stored, so nothing was stored or learned again."""

    results: list[InteractionOutcome]
    created: int
    duplicates: int


class SimilarEventsQuery(_Schema):
    """Events similar in content to an event (``event_id``) or to free ``text``."""

    event_id: Identifier | None = None
    text: str | None = Field(default=None, min_length=1, max_length=2_000)
    limit: int = Field(default=10, ge=1, le=MAX_SIMILAR_EVENTS)

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.event_id is None) == (self.text is None):
            raise ValueError("give exactly one of event_id or text")
        return self


class SimilarEventView(_Schema):
    """One similar upcoming event and its content similarity in [0, 1]."""

    event_id: str
    similarity: float


class SimilarEventsData(_Schema):
    """The most similar upcoming events, most similar first."""

    similar_events: list[SimilarEventView]


class EventIn(Event):
    """An event as clients send it: a :class:`~scenescout.domain.Event` whose ``capacity``
    fits the database column (a 32-bit integer on PostgreSQL)."""

    capacity: int | None = Field(default=None, ge=0, le=MAX_CAPACITY)


class EventBatch(_Schema):
    """``POST /api/events/bulk``: events to create or replace, ids unique."""

    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS_PER_REQUEST)

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        counts = Counter(event.id for event in self.events)
        repeated = sorted(event_id for event_id, n in counts.items() if n > 1)
        if repeated:
            raise ValueError(f"event ids must be unique within a batch; repeated: {repeated}")
        return self


class EventBulkData(_Schema):
    """Which events of a bulk request were new and which replaced stored ones."""

    created: list[str]
    updated: list[str]


class UserExport(_Schema):
    """Everything stored about one user (GDPR access request).

    ``interactions`` and each list of ``records`` are rows of the user-owned tables as
    stored; ``profile`` is the engine's learned profile in full, ``None`` when it has none.
    """

    user: User
    preferences: UserPreferences
    interactions: list[dict[str, Any]]
    profile: dict[str, Any] | None
    records: dict[str, list[dict[str, Any]]]


class ErasureData(_Schema):
    """The outcome of ``DELETE /api/users/{user_id}``.

    ``model_state`` lists where the engine's memory held the user before erasure (see
    ``GET /api/users/{user_id}/erasure`` for what is left now: nothing).
    """

    user_id: str
    deleted_from_database: bool
    model_state: list[str]
    cache_invalidated: bool


class ErasureStatus(_Schema):
    """Whether anything about a user is left: rows per user table, engine memory."""

    user_id: str
    erased: bool
    database_rows: dict[str, int]
    model_state: list[str]


class HealthData(_Schema):
    """The process is up."""

    status: Literal["ok"] = "ok"


class ReadyData(_Schema):
    """The service can answer: database reachable, catalog loaded."""

    status: Literal["ready"] = "ready"
    database: bool
    catalog_events: int
