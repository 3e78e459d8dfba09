"""Cache keys: who asked, what they asked for (normalized), and which model answered.

Key layout
----------
``ss:rec:{user}:{digest}:{request_sha1}``

* ``user``: the user id, percent-encoded with no character kept safe, so it never contains
  ``:`` or a glob metacharacter (``*?[]\\``). ``SCAN MATCH ss:rec:{user}:*`` therefore matches
  exactly that user's entries: user ``a`` does not match ``a:b`` (encoded ``a%3Ab``), and user
  ``a*`` does not match ``ab``.
* ``digest``: the caller's model/config digest (e.g. model bundle version + config hash),
  percent-encoded the same way. A new digest makes every old entry unreachable; they expire on
  their TTL.
* ``request_sha1``: SHA-1 of :func:`normalized_request`, i.e. the request without its user id,
  defaults filled, serialized with sorted keys.

Tag sets (``tag`` and ``hybrid`` invalidation) are ``ss:tag:user:{user}`` and
``ss:tag:event:{event}`` with the same encoding. Invalidations are broadcast on
:data:`INVALIDATION_CHANNEL` by default. Redis pub/sub ignores the database number, so
deployments that share a Redis server on different databases should use different channels.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

import orjson

from scenescout.domain.recommendation import RecommendationRequest

ENTRY_PREFIX: Final = "ss:rec:"
TAG_PREFIX: Final = "ss:tag:"
INVALIDATION_CHANNEL: Final = "ss:invalidate"

FLOAT_DECIMALS: Final[dict[str, int]] = {
    "lat": 4,
    "lng": 4,
    "radius_km": 2,
    "min": 2,
    "max": 2,
}
"""Decimals kept per float field: 4 for coordinates (about 11 m), 2 for kilometres and prices."""
DEFAULT_FLOAT_DECIMALS: Final = 6
"""Decimals kept for any float field not in :data:`FLOAT_DECIMALS`."""
SET_FIELDS: Final = frozenset({"categories"})
"""List fields that are filters over a set: sorted and de-duplicated."""


def _encode(part: str) -> str:
    return quote(part, safe="")


def normalized_request(request: RecommendationRequest) -> dict[str, Any]:
    """The request as the cache sees it: equal for requests that must share an entry.

    Parameters
    ----------
    request
        The recommendation request.

    Returns
    -------
    dict
        The request dumped with defaults filled and without ``user_id``; floats rounded per
        :data:`FLOAT_DECIMALS` (``-0.0`` becomes ``0.0``), datetimes converted to UTC ISO
        strings, and the set-like lists of :data:`SET_FIELDS` sorted and de-duplicated.
    """
    return {
        name: _normalize(name, value)
        for name, value in request.model_dump(exclude={"user_id"}).items()
    }


def _normalize(field: str, value: Any) -> Any:
    if isinstance(value, dict):
        return {name: _normalize(name, item) for name, item in value.items()}
    if isinstance(value, list):
        items = [_normalize(field, item) for item in value]
        return sorted(set(items)) if field in SET_FIELDS else items
    if isinstance(value, float):
        return round(value, FLOAT_DECIMALS.get(field, DEFAULT_FLOAT_DECIMALS)) + 0.0
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def request_hash(request: RecommendationRequest) -> str:
    """SHA-1 (hex) of :func:`normalized_request`, serialized with sorted keys."""
    body = orjson.dumps(normalized_request(request), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha1(body, usedforsecurity=False).hexdigest()


def entry_key(user_id: str, request: RecommendationRequest, digest: str) -> str:
    """The cache key of one request, laid out as described in the module docstring.

    Parameters
    ----------
    user_id
        Whose recommendations these are; must equal ``request.user_id``.
    request
        The recommendation request.
    digest
        The model/config digest, non-empty.

    Raises
    ------
    ValueError
        If ``digest`` is empty or ``user_id`` differs from ``request.user_id``.
    """
    if not digest:
        raise ValueError("digest must be a non-empty model/config digest")
    if user_id != request.user_id:
        raise ValueError(f"user_id {user_id!r} differs from request.user_id {request.user_id!r}")
    return f"{ENTRY_PREFIX}{_encode(user_id)}:{_encode(digest)}:{request_hash(request)}"


def user_entries_pattern(user_id: str) -> str:
    """``SCAN MATCH`` pattern of every entry of ``user_id``, whatever the digest."""
    return f"{ENTRY_PREFIX}{_encode(user_id)}:*"


def user_tag_key(user_id: str) -> str:
    """The Redis set holding the entry keys of ``user_id``."""
    return f"{TAG_PREFIX}user:{_encode(user_id)}"


def event_tag_key(event_id: str) -> str:
    """The Redis set holding the keys of the entries that list ``event_id``."""
    return f"{TAG_PREFIX}event:{_encode(event_id)}"
