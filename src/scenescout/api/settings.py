"""Settings of the HTTP service: credentials, rate limits and recommendation logging.

:class:`ApiSettings` extends the project's :class:`~scenescout.config.Settings` with what only
the service needs, read from the same ``SCENESCOUT_*`` environment, e.g.
``SCENESCOUT_API_KEYS=key-one,key-two`` (or a JSON list), ``SCENESCOUT_JWT_SECRET=...``,
``SCENESCOUT_API__RATE_LIMIT_PER_SECOND=20``.
"""

from __future__ import annotations

import json
from typing import Annotated, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import NoDecode

from scenescout.config import Settings

MIN_SECRET_BYTES = 32
"""HS256 keys and the pseudonym key must be at least this long (RFC 7518, section 3.2)."""


def _split_keys(value: object) -> object:
    """``"a,b"`` or ``'["a", "b"]'`` (as environment variables give them) as a list."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        return json.loads(text)
    return [part.strip() for part in text.split(",") if part.strip()]


class ApiConfig(BaseModel):
    """Tuning of the HTTP layer (``SCENESCOUT_API__*``).

    Attributes
    ----------
    rate_limit_per_second, rate_limit_burst
        Token bucket per API key or user: tokens refill at ``rate_limit_per_second`` up to
        ``rate_limit_burst``; a request takes one. ``rate_limit_per_second = 0`` turns
        rate limiting off.
    log_flush_interval_seconds, log_batch_size, log_queue_size
        Recommendation logs are written off the request path in batches of up to
        ``log_batch_size`` rows, at least every ``log_flush_interval_seconds``; beyond
        ``log_queue_size`` waiting rows, new ones are dropped (and counted in ``/metrics``).
    """

    model_config = ConfigDict(extra="forbid")

    rate_limit_per_second: float = Field(default=50.0, ge=0.0)
    rate_limit_burst: int = Field(default=100, ge=1)
    log_flush_interval_seconds: float = Field(default=1.0, gt=0.0)
    log_batch_size: int = Field(default=500, ge=1)
    log_queue_size: int = Field(default=100_000, ge=1)


class ApiSettings(Settings):
    """:class:`~scenescout.config.Settings` plus the service's credentials and tuning.

    Attributes
    ----------
    api_keys
        Service API keys (``Authorization: Bearer <key>``) with full access.
    jwt_secret
        HS256 key of signed user tokens (``sub`` = user id, ``exp`` required); user tokens
        are refused when unset.
    pseudonym_secret
        HMAC key that turns user ids into the pseudonyms written to logs; a random key per
        process when unset (pseudonyms then differ between processes and restarts).
    api
        Rate limiting and recommendation-log batching.
    """

    api_keys: Annotated[list[str], NoDecode, BeforeValidator(_split_keys)] = Field(
        default_factory=list
    )
    jwt_secret: SecretStr | None = None
    pseudonym_secret: SecretStr | None = None
    api: ApiConfig = Field(default_factory=ApiConfig)

    @model_validator(mode="after")
    def _check_secrets(self) -> Self:
        for name in ("jwt_secret", "pseudonym_secret"):
            secret: SecretStr | None = getattr(self, name)
            if secret is not None and len(secret.get_secret_value().encode()) < MIN_SECRET_BYTES:
                raise ValueError(
                    f"{name} must be at least {MIN_SECRET_BYTES} bytes long; generate one with "
                    "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
                )
        if any(not key.strip() for key in self.api_keys):
            raise ValueError("api_keys must not contain empty keys")
        return self

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiSettings:
        """``settings`` as :class:`ApiSettings`; fields it lacks come from the environment."""
        if isinstance(settings, ApiSettings):
            return settings
        return cls(**settings.model_dump())
