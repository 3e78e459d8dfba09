"""A Redis outage, for real: a test's own redis-server is killed and brought back.

During the outage every call succeeds from L1 within milliseconds, one warning is logged, and
errors are counted; afterwards L2 is used again and the invalidations it missed are replayed.
The cache's backoff runs on an injected clock, so recovery is reached without sleeping.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from tests.cache.conftest import DIGEST, FakeClock, make_request, value_for
from tests.cache.redis_server import RedisServer

from scenescout.cache import Invalidation, RecommendationCache, entry_key
from scenescout.cache.recommendation_cache import MAX_PENDING_INVALIDATIONS, RETRY_MAX_SECONDS
from scenescout.config import CacheConfig

pytestmark = pytest.mark.redis

WAIT_SECONDS = 10.0
CACHE_LOGGER = "scenescout.cache.recommendation_cache"


@pytest.fixture
def cache(own_redis: RedisServer, clock: FakeClock) -> Iterator[RecommendationCache]:
    with RecommendationCache(CacheConfig(), redis_url=own_redis.url, clock=clock) as cache:
        assert cache.wait_for_subscription(timeout=WAIT_SECONDS)
        yield cache


def put(cache: RecommendationCache, user_id: str, *event_ids: str) -> str:
    request = make_request(user_id)
    cache.set(user_id, request, DIGEST, value_for(user_id, *event_ids), event_ids)
    cache.flush()  # L2 writes are queued: let this one land
    return entry_key(user_id, request, DIGEST)


def level(cache: RecommendationCache, user_id: str) -> str | None:
    hit = cache.get(user_id, make_request(user_id), DIGEST)
    return None if hit is None else hit.level


def test_a_dead_redis_degrades_to_l1_and_recovers(
    cache: RecommendationCache,
    own_redis: RedisServer,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    put(cache, "u1", "e1")
    own_redis.kill()
    caplog.set_level(logging.WARNING, logger=CACHE_LOGGER)

    started = time.perf_counter()
    put(cache, "u2", "e2")
    assert level(cache, "u2") == "l1"
    assert level(cache, "nobody") is None
    assert cache.invalidate_user("u1") == 1
    assert cache.invalidate_event("e2") == 1
    put(cache, "u3", "e3")
    assert time.perf_counter() - started < 0.5, "a dead Redis must cost milliseconds"

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage().startswith("Redis L2 unavailable") for r in warnings] == [True]
    stats = cache.stats()
    assert stats["l2"] == "down"
    assert stats["errors"]["set"] == 1  # then L2 is skipped until a retry is due
    assert stats["pending_invalidations"] == 2

    clock.advance(RETRY_MAX_SECONDS)
    assert level(cache, "nobody") is None  # a miss asks L2; no server yet: retry fails quietly
    assert cache.stats()["errors"]["recover"] == 1
    assert len(caplog.records) == 1

    own_redis.start()
    clock.advance(RETRY_MAX_SECONDS)
    key = put(cache, "u4", "e4")
    with own_redis.client() as raw:
        assert raw.exists(key) == 1
    stats = cache.stats()
    assert (stats["l2"], stats["pending_invalidations"]) == ("up", 0)
    assert caplog.records[-1].getMessage().startswith("Redis L2 reachable again")


def _invalidate_one_by_one(cache: RecommendationCache) -> None:
    cache.invalidate_user("u1")
    cache.invalidate_event("e2")


def _invalidate_as_a_batch(cache: RecommendationCache) -> None:
    cache.invalidate_users(["u1", "u2"])


@pytest.mark.parametrize("invalidate", [_invalidate_one_by_one, _invalidate_as_a_batch])
def test_invalidations_missed_during_an_outage_are_replayed(
    cache: RecommendationCache,
    own_redis: RedisServer,
    clock: FakeClock,
    invalidate: Callable[[RecommendationCache], None],
) -> None:
    dismissed, changed, kept = put(cache, "u1", "e1"), put(cache, "u2", "e2"), put(cache, "u3")
    own_redis.shutdown_saving()  # the entries survive in the dump, as in a network partition
    invalidate(cache)
    own_redis.start()
    with own_redis.client() as raw:
        assert raw.exists(dismissed, changed, kept) == 3
        clock.advance(RETRY_MAX_SECONDS)
        assert level(cache, "nobody") is None  # the first call after the backoff recovers
        assert raw.exists(dismissed, changed, kept) == 1
        assert raw.exists(kept) == 1


def test_too_many_missed_invalidations_replay_as_one_clear(
    cache: RecommendationCache, own_redis: RedisServer, clock: FakeClock
) -> None:
    keys = [put(cache, f"u{i}") for i in range(3)]
    own_redis.shutdown_saving()
    for i in range(MAX_PENDING_INVALIDATIONS + 1):
        cache.invalidate_event(f"e{i}")
    assert cache.stats()["pending_invalidations"] == 1
    own_redis.start()
    clock.advance(RETRY_MAX_SECONDS)
    assert level(cache, "nobody") is None
    with own_redis.client() as raw:
        assert raw.exists(*keys) == 0


def test_the_subscription_comes_back_and_drops_l1(
    own_redis: RedisServer, open_caches: list[RecommendationCache]
) -> None:
    heard = threading.Event()

    def on_remote_invalidation(invalidation: Invalidation) -> None:
        heard.set()

    cache = RecommendationCache(
        CacheConfig(), redis_url=own_redis.url, on_remote_invalidation=on_remote_invalidation
    )
    open_caches.append(cache)
    assert cache.wait_for_subscription(timeout=WAIT_SECONDS)
    own_redis.kill()
    put(cache, "u1", "e1")  # L1 only: the outage hides whatever other workers invalidate
    assert level(cache, "u1") == "l1"
    own_redis.start()
    other = RecommendationCache(CacheConfig(), redis_url=own_redis.url)
    open_caches.append(other)
    # Messages published before the subscriber is back are lost by design: publish until heard.
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        other.invalidate_user("ping")
        if heard.wait(timeout=0.05):
            break
    assert heard.is_set(), "the subscriber did not reconnect"
    assert level(cache, "u1") is None  # dropped on resubscribing: it may have missed messages
