"""The app factory: ``create_app(settings)`` wires store, engine, cache and routes.

Run it with ``uvicorn --factory scenescout.api:app_from_environment --no-access-log`` (our
own access log pseudonymizes user ids; uvicorn's would log raw paths).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI

from scenescout.api.auth import Authenticator
from scenescout.api.context import Coherence, EngineSlot, ServiceContext
from scenescout.api.errors import install_error_handlers
from scenescout.api.forget import forget_user
from scenescout.api.observability import Metrics, ObservabilityMiddleware, Pseudonymizer
from scenescout.api.ratelimit import RateLimiter
from scenescout.api.reclog import RecommendationLogWriter
from scenescout.api.routes import ROUTERS
from scenescout.api.services import Services
from scenescout.api.settings import ApiSettings
from scenescout.cache import CacheBackend, open_cache
from scenescout.cache.versions import VersionBoard
from scenescout.config import Settings
from scenescout.engine import PersonalizationEngine
from scenescout.engine.bundle import BundleError, load_bundle, newest_bundle
from scenescout.engine.sync import StoreFollower
from scenescout.storage import Database, Store

logger = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    engine: PersonalizationEngine | None = None,
    store: Store | None = None,
    cache: CacheBackend | None = None,
) -> FastAPI:
    """The SceneScout personalization HTTP service.

    Parameters
    ----------
    settings
        The settings tree; fields of :class:`~scenescout.api.settings.ApiSettings` it lacks
        (API keys, JWT secret, rate limits) are read from the environment.
    engine
        A trained engine that has learned everything ``store`` holds. When ``None``, one
        is loaded in the background at startup (``/ready`` and requests needing it answer
        503 until it is there): the newest bundle in ``settings.models_dir``
        (``scenescout train`` writes them) plus what was stored after it, or else one
        trained from the database.
    store
        The database's repositories; default a :class:`~scenescout.storage.Database` at
        ``settings.database_url`` (already migrated), disposed at shutdown.
    cache
        The recommendation cache; default the one ``settings`` describe
        (:func:`scenescout.cache.open_cache`: L1 in process, L2 on ``redis_url`` when set,
        none when ``personalization.cache.enabled`` is false), whose metrics ``/metrics``
        serves and which is closed at shutdown. A given cache is left open.

    Returns
    -------
    fastapi.FastAPI
        The app; its lifespan starts the recommendation-log writer (flushed at shutdown)
        and the engine's training when needed.
    """
    config = ApiSettings.from_settings(settings)
    owns_store = store is None
    store = store if store is not None else Store(Database.from_url(config.database_url))
    metrics = Metrics()
    owned_cache = None
    if cache is None:
        # With Redis, every event change moves the catalog counter in every cache digest
        # (VersionBoard), which makes each older entry unreachable: finding an event's
        # entries in L2 would cost every fill 2 commands per listed event for nothing.
        cache = owned_cache = open_cache(
            config.personalization.cache,
            config.redis_url,
            registry=metrics.registry,
            l2_event_invalidation=False,
        )
    jwt_secret = config.jwt_secret.get_secret_value() if config.jwt_secret else None
    pseudonym_secret = (
        config.pseudonym_secret.get_secret_value() if config.pseudonym_secret else None
    )
    limits = config.api
    write_lock = threading.Lock()
    context = ServiceContext(
        settings=config,
        store=store,
        engines=EngineSlot(engine),
        cache=cache,
        authenticator=Authenticator(config.api_keys, jwt_secret),
        limiter=RateLimiter(limits.rate_limit_per_second, limits.rate_limit_burst),
        metrics=metrics,
        logs=RecommendationLogWriter(
            store.db,
            flush_interval_seconds=limits.log_flush_interval_seconds,
            batch_size=limits.log_batch_size,
            queue_size=limits.log_queue_size,
            on_drop=metrics.dropped_logs.inc,
        ),
        write_lock=write_lock,
    )
    board = None
    if config.redis_url is not None:

        def on_erasure(user_id: str) -> None:
            if context.engines.loaded:
                with write_lock:
                    forget_user(context.engines.get(), user_id)
            if context.coherence.follower is not None:
                context.coherence.follower.forget(user_id)

        board = VersionBoard(config.redis_url, on_erasure=on_erasure)
    context.coherence = Coherence(board, write_lock)
    if engine is not None:
        if engine.learned_through_id == 0:
            engine.learned_through_id = store.interactions.max_id()
        context.coherence.follow(StoreFollower(engine, store))

    def load() -> PersonalizationEngine:
        loaded, events_as_of = _load_or_train(config, store)
        follower = StoreFollower(loaded, store, events_as_of=events_as_of)
        caught = follower.catch_up()
        logger.info(
            "engine ready: %d upcoming events, %d profiles; caught up on %d interactions "
            "and %d event changes stored since",
            len(loaded.catalog),
            len(loaded.profiles),
            caught.interactions,
            caught.events,
        )
        context.coherence.follow(follower)
        return loaded

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        context.logs.start()
        if not context.engines.loaded:
            threading.Thread(
                target=context.engines.load, args=(load,), name="scenescout-load", daemon=True
            ).start()
        try:
            yield
        finally:
            app.state.services.profiles.close()
            context.coherence.close()
            context.logs.close()
            if board is not None:
                board.close()
            if owned_cache is not None:
                owned_cache.close()
            if owns_store:
                store.db.dispose()

    app = FastAPI(
        title="SceneScout Personalization",
        version="0.1.0",
        summary="Real-time, explainable event recommendations.",
        lifespan=lifespan,
        # The service exports its own Prometheus metrics. With FastAPI's native OpenTelemetry
        # on (its default), every request first asks OpenTelemetry whether a provider is
        # configured, which reads environment variables each time.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.services = Services(context)
    install_error_handlers(app)
    app.add_middleware(
        ObservabilityMiddleware, metrics=metrics, pseudonymizer=Pseudonymizer(pseudonym_secret)
    )
    for router in ROUTERS:
        app.include_router(router)
    return app


def _load_or_train(config: ApiSettings, store: Store) -> tuple[PersonalizationEngine, datetime]:
    """The newest bundle in ``config.models_dir``, or an engine trained on ``store`` now;
    with the time its catalog was read."""
    path = newest_bundle(config.models_dir)
    if path is not None:
        try:
            engine, info = load_bundle(path)
        except BundleError as error:
            logger.warning("%s; training on the database instead", error)
        else:
            logger.info("loaded model bundle %s (trained as of %s)", path, info.trained_as_of)
            return engine, datetime.fromtimestamp(info.trained_as_of, tz=UTC)
    else:
        logger.info("no model bundle in %s: training on the database", config.models_dir)
    started = datetime.now(UTC)
    engine = PersonalizationEngine.from_store(store, config.personalization, now=started)
    # Compute every event's memoized values now rather than on their first requests.
    engine.hybrid.prepare_events(engine.catalog.frame)
    return engine, started


def app_from_environment() -> FastAPI:
    """``create_app`` with settings from the ``SCENESCOUT_*`` environment (for uvicorn)."""
    return create_app(ApiSettings())
