"""What every request of one app shares: store, engine, cache, auth, limits, metrics, logs."""

from __future__ import annotations

import hashlib
import logging
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy.engine import Connection

from scenescout.api.auth import Authenticator, Principal
from scenescout.api.errors import ApiError
from scenescout.api.observability import Metrics
from scenescout.api.ratelimit import RateLimiter
from scenescout.api.reclog import RecommendationLogWriter
from scenescout.api.settings import ApiSettings
from scenescout.cache import CacheBackend
from scenescout.engine import PersonalizationEngine
from scenescout.storage import Store

logger = logging.getLogger(__name__)


class EngineSlot:
    """The engine, given at start or trained in the background; 503 until it is there,
    and the digest that cached recommendation lists are stamped with.

    Parameters
    ----------
    engine
        A ready engine, or ``None`` to :meth:`load` one.
    """

    def __init__(self, engine: PersonalizationEngine | None = None) -> None:
        self._engine = engine
        self._failure: str | None = None
        self._config_digest = "" if engine is None else config_digest(engine)
        self._catalog_generation = 0

    @property
    def digest(self) -> str:
        """The cache digest: the engine's config, and how often events were added or
        changed (a cached list cannot know of an event that arrived after it)."""
        return f"{self._config_digest}.{self._catalog_generation}"

    def catalog_changed(self) -> None:
        """Events were added or changed: lists cached before may miss them."""
        self._catalog_generation += 1

    @property
    def loaded(self) -> bool:
        """Whether requests can be answered."""
        return self._engine is not None

    def get(self) -> PersonalizationEngine:
        """The engine.

        Raises
        ------
        ApiError
            503 while it is loading, or when loading failed.
        """
        if self._engine is None:
            if self._failure is not None:
                raise ApiError(
                    503,
                    "not_ready",
                    f"the recommendation model failed to load ({self._failure}); see the "
                    "server log and restart the service",
                )
            raise ApiError(
                503, "not_ready", "the recommendation model is still loading; retry shortly"
            )
        return self._engine

    def load(self, build: Callable[[], PersonalizationEngine]) -> None:
        """Build the engine (e.g. train it from the database) and publish it."""
        try:
            engine = build()
        except Exception as error:
            self._failure = type(error).__name__
            logger.error(
                "loading the engine failed: %s\n%s",
                self._failure,
                "".join(traceback.format_tb(error.__traceback__)),
            )
            return
        self._config_digest = config_digest(engine)
        self._engine = engine


def config_digest(engine: PersonalizationEngine) -> str:
    """The cache digest of an engine: a hash of its personalization config."""
    return hashlib.sha256(engine.config.model_dump_json().encode()).hexdigest()[:16]


@dataclass
class ServiceContext:
    """The shared state of one app; services read everything from here.

    Attributes
    ----------
    write_lock
        Serializes changes to the engine's in-memory state (learning from interactions,
        preferences, erasure): the engine does not lock its own writes.
    """

    settings: ApiSettings
    store: Store
    engines: EngineSlot
    cache: CacheBackend
    authenticator: Authenticator
    limiter: RateLimiter
    metrics: Metrics
    logs: RecommendationLogWriter
    write_lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def reading_for(self, principal: Principal, user_id: str) -> Iterator[Connection]:
        """A connection to read ``user_id``'s own rows: under row-level security (PostgreSQL)
        when a user token acts, the service's own otherwise."""
        if principal.user_id is not None:
            with self.store.db.acting_for_user(user_id) as connection:
                yield connection
        else:
            with self.store.db.engine.connect() as connection:
                yield connection
