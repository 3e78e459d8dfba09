"""Invalidations reach every instance's L1 through Redis pub/sub, across threads and processes.

No test sleeps: each waits, with a timeout, on an event set by the subscriber's callback.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator

import pytest
import redis
from tests.cache.conftest import DIGEST, CacheFactory, make_request, value_for

from scenescout.cache import Invalidation, RecommendationCache
from scenescout.config import CacheConfig

pytestmark = pytest.mark.redis

WAIT_SECONDS = 10.0


class Heard:
    """Collects the invalidations an instance hears; :meth:`wait_for` blocks until one
    matching arrives."""

    def __init__(self) -> None:
        self.invalidations: list[Invalidation] = []
        self._arrived = threading.Condition()

    def __call__(self, invalidation: Invalidation) -> None:
        with self._arrived:
            self.invalidations.append(invalidation)
            self._arrived.notify_all()

    def wait_for(self, kind: str, target: str | None) -> Invalidation:
        def found() -> Invalidation | None:
            return next(
                (i for i in self.invalidations if (i.kind, i.target) == (kind, target)), None
            )

        with self._arrived:
            assert self._arrived.wait_for(lambda: found() is not None, WAIT_SECONDS)
            invalidation = found()
            assert invalidation is not None
            return invalidation


@pytest.fixture
def listener(
    redis_url: str, channel: str, open_caches: list[RecommendationCache]
) -> Iterator[tuple[RecommendationCache, Heard]]:
    heard = Heard()
    cache = RecommendationCache(
        CacheConfig(), redis_url=redis_url, channel=channel, on_remote_invalidation=heard
    )
    open_caches.append(cache)
    assert cache.wait_for_subscription(timeout=WAIT_SECONDS)
    yield cache, heard


def cached_in_l1(cache: RecommendationCache, user_id: str) -> Callable[[], str | None]:
    request = make_request(user_id)

    def level() -> str | None:
        hit = cache.get(user_id, request, DIGEST)
        return None if hit is None else hit.level

    return level


def test_a_user_invalidation_reaches_another_instance(
    listener: tuple[RecommendationCache, Heard], make_l2_cache: CacheFactory
) -> None:
    cache, heard = listener
    other = make_l2_cache()
    other.set("u1", make_request("u1"), DIGEST, value_for("u1", "e1"), ["e1"])
    other.flush()
    level = cached_in_l1(cache, "u1")
    assert (level(), level()) == ("l2", "l1")
    other.invalidate_user("u1")
    assert heard.wait_for("user", "u1").origin == other.instance_id
    assert level() is None


def test_a_batch_of_user_invalidations_reaches_another_instance(
    listener: tuple[RecommendationCache, Heard], make_l2_cache: CacheFactory
) -> None:
    cache, heard = listener
    other = make_l2_cache()
    for user in ("u1", "u2"):
        other.set(user, make_request(user), DIGEST, value_for(user, "e1"), ["e1"])
    other.flush()
    levels = {user: cached_in_l1(cache, user) for user in ("u1", "u2")}
    assert [(level(), level()) for level in levels.values()] == [("l2", "l1")] * 2
    assert other.invalidate_users(["u1", "u2"]) == 2
    heard.wait_for("user", "u2")
    assert [level() for level in levels.values()] == [None, None]


def test_an_event_invalidation_and_a_clear_reach_another_instance(
    listener: tuple[RecommendationCache, Heard], make_l2_cache: CacheFactory
) -> None:
    cache, heard = listener
    other = make_l2_cache()
    cache.set("u1", make_request("u1"), DIGEST, value_for("u1", "e1"), ["e1"])
    cache.set("u2", make_request("u2"), DIGEST, value_for("u2", "e2"), ["e2"])
    cache.flush()
    other.invalidate_event("e1")
    heard.wait_for("event", "e1")
    assert cached_in_l1(cache, "u1")() is None
    assert cached_in_l1(cache, "u2")() == "l1"
    other.clear()
    heard.wait_for("clear", None)
    assert cache.stats()["l1_entries"] == 0
    assert cache.stats()["invalidations"]["remote"] == {"user": 0, "event": 1, "clear": 1}


def test_an_instance_ignores_its_own_messages(
    listener: tuple[RecommendationCache, Heard], make_l2_cache: CacheFactory
) -> None:
    cache, heard = listener
    cache.invalidate_user("mine")
    make_l2_cache().invalidate_user("theirs")
    heard.wait_for("user", "theirs")  # one channel keeps order: "mine" came first
    assert [(i.kind, i.target) for i in heard.invalidations] == [("user", "theirs")]


def test_malformed_messages_are_counted_and_skipped(
    listener: tuple[RecommendationCache, Heard],
    make_l2_cache: CacheFactory,
    redis_url: str,
    channel: str,
) -> None:
    cache, heard = listener
    with redis.Redis.from_url(redis_url) as raw:
        raw.publish(channel, b"not json")
        raw.publish(channel, b'{"origin": "x", "kind": "user", "target": null}')
    make_l2_cache().invalidate_user("u1")
    heard.wait_for("user", "u1")
    assert cache.stats()["errors"]["subscribe"] == 2


CHILD = """
import sys
from scenescout.cache import RecommendationCache
from scenescout.config import CacheConfig

with RecommendationCache(CacheConfig(), redis_url=sys.argv[1], channel=sys.argv[2]) as cache:
    print(cache.invalidate_user(sys.argv[3]))
"""


def test_a_user_invalidation_reaches_another_process(
    listener: tuple[RecommendationCache, Heard], redis_url: str, channel: str
) -> None:
    cache, heard = listener
    cache.set("u1", make_request("u1"), DIGEST, value_for("u1", "e1"), ["e1"])
    assert cached_in_l1(cache, "u1")() == "l1"
    child = subprocess.run(
        [sys.executable, "-c", CHILD, redis_url, channel, "u1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "1"  # it deleted the L2 entry this process wrote
    heard.wait_for("user", "u1")
    assert cached_in_l1(cache, "u1")() is None
