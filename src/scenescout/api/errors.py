"""One error shape everywhere: ``{"success": false, "error": {"code", "message", "details"}}``.

Services raise :class:`ApiError`; :func:`install_error_handlers` turns it, FastAPI's request
validation errors, Starlette's HTTP errors (unknown route, wrong method), storage errors that
escape the services (a write racing another, 409) and values the database cannot hold (e.g. a
NUL character on PostgreSQL, 422) into that shape.
Unhandled exceptions become a 500 in the same shape in
:class:`~scenescout.api.observability.ObservabilityMiddleware`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, Literal

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from scenescout.storage import StorageError


class ErrorBody(BaseModel):
    """What went wrong: a stable ``code``, a ``message`` that says what to fix, ``details``."""

    code: str
    message: str
    details: Any = None


class ErrorEnvelope(BaseModel):
    """The body of every error response."""

    success: Literal[False] = False
    error: ErrorBody


class ApiError(Exception):
    """An error with its HTTP status, raised by services and dependencies.

    Parameters
    ----------
    status_code
        The HTTP status.
    code
        A stable, machine-readable name, e.g. ``not_found``.
    message
        What is wrong and what to do about it.
    details
        Anything JSON-able that helps (offending ids, field errors).
    headers
        Extra response headers (``WWW-Authenticate``, ``Retry-After``).
    """

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        details: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.details = details
        self.headers = dict(headers or {})


def not_found(kind: str, key: str, hint: str = "") -> ApiError:
    """The 404 for a missing resource, e.g. ``not_found("user", "u1")``."""
    return ApiError(404, "not_found", f"{kind} {key!r} does not exist{hint}")


def error_response(
    status_code: int,
    code: str,
    message: str,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A response in the error shape."""
    body = ErrorEnvelope(error=ErrorBody(code=code, message=message, details=details))
    return Response(
        content=body.model_dump_json(),
        status_code=status_code,
        media_type="application/json",
        headers=dict(headers or {}),
    )


def _field_errors(errors: Sequence[Any]) -> list[dict[str, str]]:
    """Pydantic errors as ``{"field": "body.context.location.lat", "message", "type"}``."""
    return [
        {
            "field": ".".join(str(part) for part in error["loc"]),
            "message": error["msg"],
            "type": error["type"],
        }
        for error in errors
    ]


def validation_error(errors: Sequence[Any]) -> ApiError:
    """The 422 (or 400 for a body that is not JSON at all) for pydantic errors."""
    details = _field_errors(errors)
    if any(error["type"] == "json_invalid" for error in errors):
        return ApiError(
            400,
            "invalid_json",
            "the request body is not valid JSON; send a JSON document with "
            "Content-Type: application/json",
            details,
        )
    first = details[0]
    more = f" (and {len(details) - 1} more problems, see details)" if len(details) > 1 else ""
    return ApiError(422, "validation_error", f"{first['field']}: {first['message']}{more}", details)


async def _api_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)
    return error_response(
        error.status_code, error.code, error.message, error.details, error.headers
    )


async def _request_validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    return await _api_error(request, validation_error(error.errors()))


async def _storage_error(request: Request, error: Exception) -> Response:
    # Services check references first; this is a write that raced with another one.
    return error_response(
        409,
        "conflict",
        f"{error}; the data changed while this request ran, check it and retry",
    )


async def _data_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, sa.exc.DataError)
    reason = str(error.orig).splitlines()[0] if error.orig is not None else "invalid value"
    return error_response(
        422,
        "invalid_value",
        f"the database cannot store a value of this request ({reason}); check the lengths, "
        "ranges and characters (no NUL) of its fields",
    )


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    status = HTTPStatus(error.status_code)
    code = status.phrase.lower().replace(" ", "_").replace("-", "_")
    if error.status_code == 404:
        message = f"no route {request.method} {request.url.path}; the API is described at /docs"
    elif error.status_code == 405:
        message = (
            f"{request.method} is not allowed on {request.url.path}; "
            f"use {(error.headers or {}).get('Allow') or 'another method'}"
        )
    else:
        message = str(error.detail) or status.description
    return error_response(error.status_code, code, message, headers=error.headers)


def install_error_handlers(app: FastAPI) -> None:
    """Route every handled error through the one error shape."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(StorageError, _storage_error)
    app.add_exception_handler(sa.exc.DataError, _data_error)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope, "description": HTTPStatus(status).phrase}
    for status in (400, 401, 403, 404, 409, 422, 429, 500, 503)
}
"""OpenAPI ``responses=`` entries documenting the error shape."""
