"""The app factory: ``create_app(settings)`` wires store, engine, cache and routes.

Run it with ``uvicorn --factory scenescout.api:app_from_environment --no-access-log`` (our
own access log pseudonymizes user ids; uvicorn's would log raw paths).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from scenescout.api.auth import Authenticator
from scenescout.api.context import EngineSlot, ServiceContext
from scenescout.api.errors import install_error_handlers
from scenescout.api.observability import Metrics, ObservabilityMiddleware, Pseudonymizer
from scenescout.api.ratelimit import RateLimiter
from scenescout.api.reclog import RecommendationLogWriter
from scenescout.api.routes import ROUTERS
from scenescout.api.services import Services
from scenescout.api.settings import ApiSettings
from scenescout.cache import CacheBackend, open_cache
from scenescout.config import Settings
from scenescout.engine import PersonalizationEngine
from scenescout.storage import Database, Store


def _attach(
    engine: PersonalizationEngine, store: Store, cache: CacheBackend
) -> PersonalizationEngine:
    """Make the engine store interactions in ``store`` before learning from them, and
    invalidate the user's cache entries after each one (keeping any hook it had)."""
    if engine.interactions is None:
        engine.interactions = store.interactions
    previous = engine.on_user_change

    def on_user_change(user_id: str) -> None:
        if previous is not None:
            previous(user_id)
        cache.invalidate_user(user_id)

    engine.on_user_change = on_user_change
    return engine


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
        A trained engine; when ``None`` one is trained from the database in the background
        at startup (``/ready`` answers 503 and requests needing it 503 until it is done).
        Its interactions are stored in ``store`` before they are learned from.
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
        cache = owned_cache = open_cache(
            config.personalization.cache, config.redis_url, registry=metrics.registry
        )
    jwt_secret = config.jwt_secret.get_secret_value() if config.jwt_secret else None
    pseudonym_secret = (
        config.pseudonym_secret.get_secret_value() if config.pseudonym_secret else None
    )
    limits = config.api
    context = ServiceContext(
        settings=config,
        store=store,
        engines=EngineSlot(None if engine is None else _attach(engine, store, cache)),
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
    )

    def train() -> PersonalizationEngine:
        return _attach(
            PersonalizationEngine.from_store(store, config.personalization), store, cache
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        context.logs.start()
        if not context.engines.loaded:
            threading.Thread(
                target=context.engines.load, args=(train,), name="scenescout-train", daemon=True
            ).start()
        try:
            yield
        finally:
            context.logs.close()
            if owned_cache is not None:
                owned_cache.close()
            if owns_store:
                store.db.dispose()

    app = FastAPI(
        title="SceneScout Personalization",
        version="0.1.0",
        summary="Real-time, explainable event recommendations.",
        lifespan=lifespan,
    )
    app.state.services = Services(context)
    install_error_handlers(app)
    app.add_middleware(
        ObservabilityMiddleware, metrics=metrics, pseudonymizer=Pseudonymizer(pseudonym_secret)
    )
    for router in ROUTERS:
        app.include_router(router)
    return app


def app_from_environment() -> FastAPI:
    """``create_app`` with settings from the ``SCENESCOUT_*`` environment (for uvicorn)."""
    return create_app(ApiSettings())
