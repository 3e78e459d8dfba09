"""``/api/personalization``: recommendations, profiles and interactions, similar events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from scenescout.api.deps import PrincipalDep, ServicesDep, UserIdQuery
from scenescout.api.errors import ERROR_RESPONSES
from scenescout.api.schemas import (
    Envelope,
    InteractionsBody,
    InteractionsData,
    PreferencesUpdate,
    ProfileData,
    RecommendationData,
    SimilarEventsData,
    SimilarEventsQuery,
)
from scenescout.api.services import Services
from scenescout.domain.recommendation import RecommendationRequest

router = APIRouter(
    prefix="/api/personalization", tags=["personalization"], responses=ERROR_RESPONSES
)


@router.post("/recommendations", response_model=Envelope[RecommendationData])
async def recommendations(
    request: RecommendationRequest, principal: PrincipalDep, http_request: Request
) -> Response:
    """Ranked, explained recommendations for one user (the seed's contract)."""
    services: Services = http_request.app.state.services  # not a dependency: one fewer to solve
    # Run on the event loop: the request is CPU-bound for a few milliseconds and its I/O is
    # sub-millisecond Redis calls; a thread-pool hop would cost more than it frees.
    data = services.recommendations.recommend(principal, request)
    # Built from validated parts: serialized once, without FastAPI validating it again.
    return Response(Envelope(data=data).model_dump_json(), media_type="application/json")


@router.get("/profile")
def get_profile(
    user_id: UserIdQuery, principal: PrincipalDep, services: ServicesDep
) -> Envelope[ProfileData]:
    """A user's explicit preferences and learned profile."""
    return Envelope(data=services.profiles.get(principal, user_id))


@router.put("/profile")
def put_profile(
    update: PreferencesUpdate, principal: PrincipalDep, services: ServicesDep
) -> Envelope[ProfileData]:
    """Replace a user's explicit preferences; they apply to the next recommendations."""
    return Envelope(data=services.profiles.set_preferences(principal, update))


@router.post("/profile", response_model=Envelope[InteractionsData])
async def record_interactions(
    body: InteractionsBody, principal: PrincipalDep, http_request: Request
) -> Response:
    """Record interactions (one, or ``{"interactions": [...]}``), idempotent by
    ``idempotency_key``; each is stored durably before this answers."""
    services: Services = http_request.app.state.services  # as in recommendations()
    # On the event loop: the write itself runs on the service's writer thread, batched
    # with the requests that arrive meanwhile (see ProfileService.record).
    data = await services.profiles.record(principal, body)
    return Response(Envelope(data=data).model_dump_json(), media_type="application/json")


@router.post("/similar-events")
def post_similar_events(
    query: SimilarEventsQuery, principal: PrincipalDep, services: ServicesDep
) -> Envelope[SimilarEventsData]:
    """Upcoming events similar in content to an event or to free text."""
    return Envelope(data=services.recommendations.similar_events(query))


@router.get("/similar-events")
def get_similar_events(
    query: Annotated[SimilarEventsQuery, Query()], principal: PrincipalDep, services: ServicesDep
) -> Envelope[SimilarEventsData]:
    """Upcoming events similar in content (``?event_id=`` or ``?text=``, ``&limit=``)."""
    return Envelope(data=services.recommendations.similar_events(query))
