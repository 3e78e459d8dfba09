"""Fixtures of the cache tests: a hand-driven clock, requests, caches closed after each test,
and redis-servers of a test's own."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from tests.cache.redis_server import RedisServer, free_port
from tests.conftest import IN_CI

from scenescout.cache import RecommendationCache
from scenescout.config import CacheConfig
from scenescout.domain.recommendation import RecommendationRequest

DIGEST = "bundle-7:cfg-1a2b"


class FakeClock:
    """Monotonic seconds that move only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_request(user_id: str = "u1", **fields: Any) -> RecommendationRequest:
    return RecommendationRequest.model_validate({"user_id": user_id, **fields})


def value_for(user_id: str, *event_ids: str) -> dict[str, Any]:
    return {
        "recommendations": [{"event_id": event_id, "score": 1.0} for event_id in event_ids],
        "user": user_id,
    }


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


CacheFactory = Callable[..., RecommendationCache]


@pytest.fixture
def open_caches() -> Iterator[list[RecommendationCache]]:
    """Caches a test opened; closed when it ends."""
    caches: list[RecommendationCache] = []
    yield caches
    for cache in caches:
        cache.close()


@pytest.fixture
def channel() -> str:
    """An invalidation channel of this test's own: pub/sub ignores the database number, so
    caches of anything else using the same Redis server would be heard on the default one."""
    return f"ss:invalidate:test:{uuid.uuid4().hex}"


@pytest.fixture
def make_l2_cache(
    redis_url: str, channel: str, clock: FakeClock, open_caches: list[RecommendationCache]
) -> CacheFactory:
    """Caches on the shared test Redis and ``channel``, subscribed before they are handed
    out."""

    def make(
        *,
        clock_: Callable[[], float] = clock,
        registry: CollectorRegistry | None = None,
        l2_event_invalidation: bool = True,
        **config: Any,
    ) -> RecommendationCache:
        cache = RecommendationCache(
            CacheConfig(**config),
            redis_url=redis_url,
            registry=registry,
            clock=clock_,
            channel=channel,
            l2_event_invalidation=l2_event_invalidation,
        )
        open_caches.append(cache)
        assert cache.wait_for_subscription(timeout=5.0)
        return cache

    return make


@pytest.fixture
def redis_server_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not on PATH (package redis-server)"
        if IN_CI:
            pytest.fail(f"{message}; under CI=true this is a failure, not a skip", pytrace=False)
        pytest.skip(f"{message}; install it or set CI=true to make this a failure")
    return binary


@pytest.fixture
def own_redis(redis_server_binary: str, tmp_path: Path) -> Iterator[RedisServer]:
    """A started redis-server of this test's own on a free port; killed at the end."""
    server = RedisServer(redis_server_binary, free_port(), tmp_path)
    server.start()
    yield server
    server.kill()
