"""Dependencies of the routes, as ``Annotated`` aliases."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPBearer
from starlette.requests import HTTPConnection

from scenescout.api.auth import Principal
from scenescout.api.errors import ApiError
from scenescout.api.observability import Metrics
from scenescout.api.services import Services
from scenescout.domain.models import Identifier

UserIdQuery = Annotated[Identifier, Query(description="The user's id.")]
UserIdPath = Annotated[Identifier, Path(description="The user's id.")]
EventIdPath = Annotated[Identifier, Path(description="The event's id.")]

# The dependencies below do no I/O: async, so FastAPI runs them on the event loop rather
# than handing each to its thread pool (a thread hop and a GIL handoff per dependency).


async def get_services(request: Request) -> Services:
    """The services of the app serving ``request``."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_metrics(services: ServicesDep) -> Metrics:
    """The app's metrics."""
    return services.context.metrics


MetricsDep = Annotated[Metrics, Depends(get_metrics)]


class _Authenticate(HTTPBearer):
    """The ``Authorization: Bearer`` scheme (as OpenAPI documents it) that also
    authenticates the caller and takes a token from their rate-limit bucket.

    One dependency with no sub-dependencies: FastAPI resolves every dependency of every
    request anew, so the principal costs one resolution, not three (scheme, services,
    principal).
    """

    async def __call__(self, request: HTTPConnection) -> Principal:  # type: ignore[override]
        """The authenticated caller.

        Raises
        ------
        ApiError
            401 without valid credentials; 429 (with ``Retry-After``) over the rate limit.
        """
        credentials = await super().__call__(request)
        context = request.app.state.services.context
        principal: Principal = context.authenticator.authenticate(
            credentials.credentials if credentials else None
        )
        request.state.principal = principal
        retry_after_s = context.limiter.acquire(principal.rate_key)
        if retry_after_s is not None:
            seconds = max(1, math.ceil(retry_after_s))
            limits = context.settings.api
            raise ApiError(
                429,
                "rate_limited",
                f"too many requests: the limit is {limits.rate_limit_per_second:g} per second "
                f"(bursts of {limits.rate_limit_burst}); retry after {seconds} s",
                {"retry_after_seconds": seconds},
                headers={"Retry-After": str(seconds)},
            )
        return principal


get_principal = _Authenticate(
    scheme_name="HTTPBearer",
    auto_error=False,
    description="A service API key, or a signed user token (HS256 JWT, sub = user id).",
)
"""The authenticated caller (see :class:`_Authenticate`)."""

PrincipalDep = Annotated[Principal, Depends(get_principal)]
