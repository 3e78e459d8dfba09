"""Who is calling: service API keys (full access) and signed user tokens (own data only).

Both arrive as ``Authorization: Bearer <token>``. A service key is compared in constant time
with each configured key. Anything else must be an HS256 JWT signed with ``jwt_secret``
whose ``sub`` claim is the user id and whose ``exp`` has not passed.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import jwt

from scenescout.api.errors import ApiError

JWT_ALGORITHM = "HS256"
_BEARER = {"WWW-Authenticate": "Bearer"}
_INVALID_BEARER = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


def _fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    Attributes
    ----------
    kind
        ``"service"`` (an API key) or ``"user"`` (a user token).
    subject
        The user id of a user token; a short fingerprint of a service key (never the key).
    """

    kind: Literal["service", "user"]
    subject: str

    @property
    def user_id(self) -> str | None:
        """The user a user token acts for; ``None`` for a service key."""
        return self.subject if self.kind == "user" else None

    @property
    def rate_key(self) -> str:
        """The rate-limit bucket: one per service key, one per user."""
        return f"{self.kind}:{self.subject}"

    def require_service(self, action: str) -> None:
        """Refuse user tokens.

        Raises
        ------
        ApiError
            403 for a user token.
        """
        if self.kind != "service":
            raise ApiError(
                403,
                "forbidden",
                f"{action} needs a service API key; a user token may only read and write "
                "its own profile, interactions and data",
            )

    def require_user(self, user_id: str) -> None:
        """Refuse a user token acting on another user's data.

        Raises
        ------
        ApiError
            403 when this is a user token for someone other than ``user_id``.
        """
        if self.kind == "user" and self.subject != user_id:
            raise ApiError(
                403,
                "forbidden",
                f"this token belongs to user {self.subject!r} and may not access user "
                f"{user_id!r}; use a token of that user or a service API key",
            )


class Authenticator:
    """Turns a bearer token into a :class:`Principal`.

    Parameters
    ----------
    api_keys
        Service API keys.
    jwt_secret
        The HS256 key user tokens are signed with; ``None`` refuses every user token.
    """

    def __init__(self, api_keys: Sequence[str], jwt_secret: str | None) -> None:
        self._key_fingerprints = [_fingerprint(key) for key in api_keys]
        self._jwt_secret = jwt_secret

    def authenticate(self, token: str | None) -> Principal:
        """The caller a bearer token stands for.

        Raises
        ------
        ApiError
            401 (with ``WWW-Authenticate: Bearer``) when the token is missing, unknown,
            badly signed or expired.
        """
        if not token:
            raise ApiError(
                401,
                "unauthorized",
                "authentication required: send 'Authorization: Bearer <token>' with a service "
                "API key or a signed user token",
                headers=_BEARER,
            )
        fingerprint = _fingerprint(token)
        # Compare with every key, so timing does not tell which prefix matched.
        matches = [hmac.compare_digest(fingerprint, known) for known in self._key_fingerprints]
        if any(matches):
            return Principal("service", fingerprint[:12])
        return Principal("user", self._user_id(token))

    def _user_id(self, token: str) -> str:
        if self._jwt_secret is None:
            raise ApiError(
                401,
                "invalid_token",
                "the bearer token is not a known API key (and user tokens are not enabled on "
                "this server)",
                headers=_INVALID_BEARER,
            )
        try:
            claims = jwt.decode(
                token,
                self._jwt_secret,
                algorithms=[JWT_ALGORITHM],
                options={"require": ["sub", "exp"]},
            )
        except jwt.ExpiredSignatureError:
            raise ApiError(
                401,
                "token_expired",
                "the user token has expired; obtain a new one",
                headers=_INVALID_BEARER,
            ) from None
        except jwt.InvalidTokenError as error:
            raise ApiError(
                401,
                "invalid_token",
                f"the bearer token is neither a known API key nor a valid user token ({error})",
                headers=_INVALID_BEARER,
            ) from None
        subject = claims["sub"]
        if not subject or any(c.isspace() for c in subject):
            raise ApiError(
                401,
                "invalid_token",
                "the user token's 'sub' claim must be a user id (non-empty, no spaces)",
                headers=_INVALID_BEARER,
            )
        return str(subject)


def issue_user_token(
    secret: str, user_id: str, ttl_seconds: int = 3600, *, now: float | None = None
) -> str:
    """A signed user token for ``user_id`` that expires after ``ttl_seconds``.

    Parameters
    ----------
    secret
        The server's ``jwt_secret``.
    user_id
        The ``sub`` claim.
    ttl_seconds
        Lifetime; the ``exp`` claim is ``now + ttl_seconds``.
    now
        Epoch seconds of issue; default the current time.
    """
    issued = int(time.time() if now is None else now)
    claims = {"sub": user_id, "iat": issued, "exp": issued + ttl_seconds}
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)
