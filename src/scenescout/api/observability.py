"""Metrics, access logs with pseudonymized user ids, and the last-resort 500.

Logs never carry a raw user id: routes are logged by their template
(``/api/users/{user_id}``), query strings are left out, and the caller is named by
``user:<pseudonym>`` (HMAC-SHA256 of the id under ``pseudonym_secret``) or
``service:<key fingerprint>``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
import traceback
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scenescout.api.auth import Principal
from scenescout.api.errors import error_response

logger = logging.getLogger("scenescout.api")

UNMATCHED_ROUTE = "<unmatched>"
_LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Pseudonymizer:
    """Stable pseudonyms of user ids for logs: a keyed HMAC, so they cannot be reversed or
    recomputed without the key.

    Parameters
    ----------
    secret
        The HMAC key; a random one (pseudonyms valid for this process only) when ``None``.
    """

    def __init__(self, secret: str | None) -> None:
        self._key = secret.encode() if secret is not None else secrets.token_bytes(32)

    def __call__(self, user_id: str) -> str:
        """The pseudonym of ``user_id``: 16 hex digits."""
        return hmac.new(self._key, user_id.encode(), hashlib.sha256).hexdigest()[:16]

    def label(self, principal: Principal | None) -> str:
        """How logs name a caller."""
        if principal is None:
            return "anonymous"
        if principal.user_id is not None:
            return f"user:{self(principal.user_id)}"
        return f"service:{principal.subject}"


class Metrics:
    """The service's Prometheus metrics, in a registry of their own (which the app's
    recommendation cache registers its ``scenescout_cache_*`` metrics in too)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "scenescout_http_requests",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "scenescout_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.recommendation_seconds = Histogram(
            "scenescout_recommendation_duration_seconds",
            "Time to answer a recommendation request (cache lookup included).",
            ["cache"],
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.cache_lookups = Counter(
            "scenescout_recommendation_cache_lookups",
            "Recommendation cache lookups by result (hit or miss).",
            ["result"],
            registry=self.registry,
        )
        self.dropped_logs = Counter(
            "scenescout_recommendation_logs_dropped",
            "Recommendation log rows dropped (queue full or a failed write).",
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        """Every metric in the Prometheus text format."""
        return generate_latest(self.registry)


class ObservabilityMiddleware:
    """Counts and times every HTTP request, logs it, and answers unhandled errors.

    An exception that escapes the app becomes a 500 in the error shape (its traceback is
    logged without the exception's message, which may contain user ids).

    Parameters
    ----------
    app
        The wrapped ASGI app.
    metrics
        Where counts and latencies go.
    pseudonymizer
        Names callers in logs.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics, pseudonymizer: Pseudonymizer) -> None:
        self.app = app
        self.metrics = metrics
        self.pseudonymizer = pseudonymizer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_and_record(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        except Exception as error:
            if response_started:
                raise
            route = _route(scope)
            logger.error(
                "unhandled %s on %s %s\n%s",
                type(error).__name__,
                scope["method"],
                route,
                "".join(traceback.format_tb(error.__traceback__)),
            )
            response = error_response(
                500,
                "internal_error",
                "the server failed to answer this request; it has been logged, retry later",
            )
            await response(scope, receive, send_and_record)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, elapsed_s: float) -> None:
        method, route = scope["method"], _route(scope)
        self.metrics.requests.labels(method, route, str(status)).inc()
        self.metrics.request_seconds.labels(method, route).observe(elapsed_s)
        if logger.isEnabledFor(logging.INFO):  # the caller's pseudonym costs an HMAC
            logger.info(
                "%s %s %d %.1fms %s",
                method,
                route,
                status,
                elapsed_s * 1e3,
                self.pseudonymizer.label(_state(scope).get("principal")),
            )


def _route(scope: Scope) -> str:
    path: str = getattr(scope.get("route"), "path", UNMATCHED_ROUTE)
    return path


def _state(scope: Scope) -> dict[str, Any]:
    state: dict[str, Any] = scope.get("state", {})
    return state
