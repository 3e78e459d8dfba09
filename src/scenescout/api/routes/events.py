"""``/api/events``: event ingestion into the store and the live catalog."""

from __future__ import annotations

from fastapi import APIRouter

from scenescout.api.deps import EventIdPath, PrincipalDep, ServicesDep
from scenescout.api.errors import ERROR_RESPONSES
from scenescout.api.schemas import Envelope, EventBatch, EventBulkData, EventIn
from scenescout.domain import Event

router = APIRouter(prefix="/api/events", tags=["events"], responses=ERROR_RESPONSES)


@router.post("", status_code=201)
def create_event(event: EventIn, principal: PrincipalDep, services: ServicesDep) -> Envelope[Event]:
    """Create an event; it can be recommended at once."""
    return Envelope(data=services.events.create(principal, event))


@router.post("/bulk")
def bulk_events(
    batch: EventBatch, principal: PrincipalDep, services: ServicesDep
) -> Envelope[EventBulkData]:
    """Create or replace up to 1000 events."""
    return Envelope(data=services.events.bulk(principal, batch))


@router.put("/{event_id}")
def update_event(
    event_id: EventIdPath, event: EventIn, principal: PrincipalDep, services: ServicesDep
) -> Envelope[Event]:
    """Replace an event (the body's ``id`` must be the path's)."""
    return Envelope(data=services.events.update(principal, event_id, event))


@router.post("/{event_id}/cancel")
def cancel_event(
    event_id: EventIdPath, principal: PrincipalDep, services: ServicesDep
) -> Envelope[Event]:
    """Cancel an event; it is never recommended again."""
    return Envelope(data=services.events.cancel(principal, event_id))
