"""Helpers of the API tests: credentials, settings, cache probes, request bodies."""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI

from scenescout.api import ApiConfig, ApiSettings
from scenescout.datasets import World
from scenescout.domain.recommendation import RecommendationRequest
from scenescout.engine import PersonalizationEngine

SERVICE_KEY = "service-key-for-tests-0123456789"
JWT_SECRET = "jwt-secret-for-tests-0123456789abcdef"
PSEUDONYM_SECRET = "pseudonym-secret-for-tests-0123456789"

Headers = dict[str, str]


def is_cached(app: FastAPI, request: dict[str, Any]) -> bool:
    """Whether the app's cache holds an answer to this recommendation request body."""
    context = app.state.services.context
    parsed = RecommendationRequest.model_validate(request)
    return context.cache.get(parsed.user_id, parsed, context.engines.digest) is not None


def make_settings(database_url: str, **api: Any) -> ApiSettings:
    """Test settings; an empty models directory, so the service trains on the database."""
    return ApiSettings(
        database_url=database_url,
        models_dir=tempfile.mkdtemp(prefix="scenescout-models-"),
        api_keys=[SERVICE_KEY],
        jwt_secret=JWT_SECRET,
        pseudonym_secret=PSEUDONYM_SECRET,
        api=ApiConfig(**{"rate_limit_per_second": 0.0, **api}),
    )


def active_user(world: World) -> str:
    """The user with the most interactions (a warm profile in every component)."""
    return str(Counter(world.interactions.user_ids.tolist()).most_common(1)[0][0])


def upcoming_event_ids(engine: PersonalizationEngine) -> list[str]:
    return engine.catalog.event_ids(engine.catalog.candidates())


def new_event(event_id: str, lat: float, lng: float, **fields: Any) -> dict[str, Any]:
    """An event body starting tomorrow, for ``POST /api/events``."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    return {
        "id": event_id,
        "title": "Late night jazz quartet",
        "description": "Improvised jazz in a small club.",
        "category": "music",
        "tags": ["jazz", "live"],
        "lat": lat,
        "lng": lng,
        "start_time": start.isoformat(),
        "end_time": (start + timedelta(hours=3)).isoformat(),
        "price_min": 10.0,
        "price_max": 20.0,
        **fields,
    }
