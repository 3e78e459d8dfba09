"""Liveness, readiness and Prometheus metrics (no authentication)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from scenescout.api.deps import MetricsDep, ServicesDep
from scenescout.api.errors import ERROR_RESPONSES
from scenescout.api.schemas import Envelope, HealthData, ReadyData

router = APIRouter(tags=["system"])


@router.get("/health")
def health() -> Envelope[HealthData]:
    """The process is up."""
    return Envelope(data=HealthData())


@router.get("/ready", responses={503: ERROR_RESPONSES[503]})
def ready(services: ServicesDep) -> Envelope[ReadyData]:
    """The database answers and the catalog is loaded; 503 otherwise."""
    return Envelope(data=services.health.ready())


@router.get("/metrics", response_class=Response)
def metrics(registry: MetricsDep) -> Response:
    """Prometheus text exposition of the service's metrics."""
    return Response(registry.exposition(), media_type=CONTENT_TYPE_LATEST)
