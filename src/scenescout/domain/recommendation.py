"""A recommendation request and its result, shaped exactly like the seed's HTTP contract."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from scenescout.domain.models import Identifier, Latitude, Longitude

PresetName = Literal["default", "conservative", "aggressive", "discovery"]


def _as_utc(value: object) -> object:
    """Dates mean midnight UTC; naive datetimes are taken as UTC."""
    if isinstance(value, str) and len(value) == 10:
        value = date.fromisoformat(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime.combine(value, time.min, tzinfo=UTC)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


UtcDatetime = Annotated[datetime, BeforeValidator(_as_utc)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LocationContext(_Model):
    lat: Latitude
    lng: Longitude
    radius_km: float = Field(default=25.0, gt=0.0, le=20_000.0)


class TimeRange(_Model):
    """An interval of event times. A bare date as ``end`` includes that whole day."""

    start: UtcDatetime | None = None
    end: UtcDatetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _whole_end_day(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("end"), str | date):
            end = data["end"]
            if (isinstance(end, str) and len(end) == 10) or (
                isinstance(end, date) and not isinstance(end, datetime)
            ):
                day = date.fromisoformat(end) if isinstance(end, str) else end
                data = {**data, "end": datetime.combine(day, time.max, tzinfo=UTC)}
        return data

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.start and self.end and self.end < self.start:
            raise ValueError("time_range.end is before time_range.start")
        return self


class RequestContext(_Model):
    location: LocationContext | None = None
    time_range: TimeRange | None = None


class PriceRange(_Model):
    min: float | None = Field(default=None, ge=0.0)
    max: float | None = Field(default=None, ge=0.0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min is not None and self.max is not None and self.max < self.min:
            raise ValueError(f"price_range.max {self.max} is below price_range.min {self.min}")
        return self


class Filters(_Model):
    categories: list[str] | None = Field(default=None, max_length=100)
    price_range: PriceRange | None = None


class AlgorithmOverrides(_Model):
    """Per-request tuning. ``diversity_factor`` d sets MMR's lambda to 1 - d."""

    diversity_factor: float | None = Field(default=None, ge=0.0, le=1.0)
    novelty_factor: float | None = Field(default=None, ge=0.0, le=1.0)


class RecommendationRequest(_Model):
    """The seed's ``POST /api/personalization/recommendations`` request body."""

    user_id: Identifier
    context: RequestContext = Field(default_factory=RequestContext)
    filters: Filters = Field(default_factory=Filters)
    algorithm_config: AlgorithmOverrides = Field(default_factory=AlgorithmOverrides)
    limit: int = Field(default=20, ge=1, le=200)
    preset: PresetName | None = None


class Explanation(_Model):
    primary_reason: str
    contributing_factors: list[str]


class Recommendation(_Model):
    event_id: str
    score: float
    confidence: float = Field(ge=0.0, le=1.0)
    explanation: Explanation


class CacheInfo(_Model):
    hit: bool
    ttl_seconds: int


class Performance(_Model):
    total_time_ms: float
    db_time_ms: float
    ml_time_ms: float


class RecommendationResult(_Model):
    """What the engine returns; ``data`` of the seed's response plus diagnostics."""

    recommendations: list[Recommendation]
    cache_info: CacheInfo
    performance: Performance
    skipped_components: dict[str, str] = Field(
        default_factory=dict, description="Components that were skipped, and why."
    )
    fallback: str | None = Field(
        default=None, description="Which fallback produced the list, when one was used."
    )
