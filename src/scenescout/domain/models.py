"""Plain typed data of the domain: events, venues, users, interactions.

Every model validates at construction and raises :class:`pydantic.ValidationError` with a
message that says which field is wrong and why.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

Latitude = Annotated[float, Field(ge=-90.0, le=90.0, description="Degrees north, in [-90, 90].")]
Longitude = Annotated[
    float, Field(ge=-180.0, le=180.0, description="Degrees east, in [-180, 180].")
]
Identifier = Annotated[
    str,
    Field(
        min_length=1, max_length=128, pattern=r"^[^\s]+$", description="A non-empty id, no spaces."
    ),
]


def _require_timezone(value: datetime) -> datetime:
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError("must be timezone-aware, e.g. 2025-06-01T20:00:00+00:00")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_require_timezone)]


def utc_now() -> datetime:
    """The current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


MAX_PRICE = 1e9
"""Highest ticket price accepted (any currency): prices are held as float32 in the catalog,
where larger values lose whole units and past about 3.4e38 become infinite."""


class InteractionType(enum.StrEnum):
    """What a user did with an event. ``dismiss`` and ``hide`` are negative feedback."""

    VIEW = "view"
    CLICK = "click"
    SAVE = "save"
    SHARE = "share"
    RSVP = "rsvp"
    PURCHASE = "purchase"
    DISMISS = "dismiss"
    HIDE = "hide"

    @property
    def is_negative(self) -> bool:
        return self in (InteractionType.DISMISS, InteractionType.HIDE)


class EventStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    SOLD_OUT = "sold_out"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class GeoPoint(_Model):
    lat: Latitude
    lng: Longitude


class Venue(_Model):
    id: Identifier
    name: str = Field(min_length=1, max_length=300)
    city: str | None = None
    lat: Latitude
    lng: Longitude
    capacity: int | None = Field(default=None, ge=0)


class Event(_Model):
    """An event: something that happens at a place and a time, and then expires.

    ``start_time``/``end_time`` may both be ``None`` for a permanent place (imported
    points of interest); when given they must be timezone-aware and ``end_time >= start_time``.
    """

    id: Identifier
    title: str = Field(default="", max_length=500)
    description: str = Field(default="", max_length=20_000)
    category: str | None = Field(default=None, max_length=64)
    tags: list[str] = Field(default_factory=list)
    venue_id: str | None = None
    organizer: str | None = Field(default=None, max_length=300)
    lat: Latitude
    lng: Longitude
    start_time: AwareDatetime | None = None
    end_time: AwareDatetime | None = None
    price_min: float = Field(default=0.0, ge=0.0, le=MAX_PRICE)
    price_max: float = Field(default=0.0, ge=0.0, le=MAX_PRICE)
    currency: str = Field(default="USD", min_length=3, max_length=3)
    capacity: int | None = Field(default=None, ge=0)
    status: EventStatus = EventStatus.SCHEDULED
    published_at: AwareDatetime | None = None
    created_at: AwareDatetime = Field(default_factory=utc_now)
    updated_at: AwareDatetime = Field(default_factory=utc_now)

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        if (self.start_time is None) != (self.end_time is None):
            raise ValueError("start_time and end_time must be given together (or both omitted)")
        if self.start_time and self.end_time and self.end_time < self.start_time:
            raise ValueError(
                f"end_time {self.end_time.isoformat()} is before start_time "
                f"{self.start_time.isoformat()}"
            )
        if self.price_max < self.price_min:
            raise ValueError(f"price_max {self.price_max} is below price_min {self.price_min}")
        return self


class UserPreferences(_Model):
    """What a user told us explicitly; blended with what is learned from behaviour."""

    categories: list[str] = Field(default_factory=list)
    excluded_categories: list[str] = Field(default_factory=list)
    price_max: float | None = Field(default=None, ge=0.0)
    max_distance_km: float | None = Field(default=None, gt=0.0)
    preferred_days: list[int] = Field(
        default_factory=list, description="ISO weekdays, 1 = Monday ... 7 = Sunday."
    )

    @model_validator(mode="after")
    def _check_days(self) -> Self:
        bad = [d for d in self.preferred_days if not 1 <= d <= 7]
        if bad:
            raise ValueError(f"preferred_days must be ISO weekdays 1..7, got {bad}")
        return self


class User(_Model):
    id: Identifier
    home_lat: Latitude | None = None
    home_lng: Longitude | None = None
    preferences: UserPreferences = Field(default_factory=UserPreferences)
    created_at: AwareDatetime = Field(default_factory=utc_now)

    @model_validator(mode="after")
    def _check_home(self) -> Self:
        if (self.home_lat is None) != (self.home_lng is None):
            raise ValueError("home_lat and home_lng must be given together")
        return self

    @property
    def home(self) -> GeoPoint | None:
        if self.home_lat is None or self.home_lng is None:
            return None
        return GeoPoint(lat=self.home_lat, lng=self.home_lng)


class Interaction(_Model):
    """One thing one user did with one event, at one time.

    ``idempotency_key`` makes a retried submission a no-op: storing the same key twice
    keeps the first interaction.
    """

    user_id: Identifier
    event_id: Identifier
    interaction_type: InteractionType
    occurred_at: AwareDatetime = Field(default_factory=utc_now)
    weight: float | None = Field(
        default=None, ge=0.0, description="Optional strength, e.g. counts."
    )
    metadata: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)
