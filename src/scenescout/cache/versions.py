"""VersionBoard: change counters in Redis that keep several serving processes coherent.

Each serving process holds its own engine (profiles, model vectors, catalog snapshot) and
its own L1 cache. After a write is durably stored, the process that took it moves a
counter on here; every process reads the counters of the user it serves in one round trip
(``MGET``) per request, and catches up from the database when one moved:

- ``ss:v:catalog``: bumped on every event change (create, update, cancel);
- ``ss:v:u:<user>:i``: the highest interaction id stored for the user (only ever raised);
- ``ss:v:u:<user>:p``: bumped when the user's preferences, home or existence change.

The counters are also part of the cache digest, so no process serves a list cached
before a change it has not seen. Erasures are broadcast on ``ss:erasures:<db>`` too, so every
process drops a deleted user's in-memory state at once, not only when asked for them.

A Redis outage degrades to each process knowing only its own writes: reads return ``None``
(one warning per outage, then debug logs) and nothing raises.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from scenescout.cache.scripts import run_in_pipeline
from scenescout.cache.subscriber import InvalidationSubscriber

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

CATALOG_KEY = "ss:v:catalog"
ERASURE_CHANNEL = "ss:erasures"
"""Prefix of the erasure channel; the Redis database number is appended (``ss:erasures:0``):
pub/sub ignores databases, and an erasure must not reach a deployment sharing the server on
another database."""
SOCKET_TIMEOUT_SECONDS = 0.25

# SET the key to ARGV[1] unless it already holds a larger number.
_RAISE_TO = """
local held = tonumber(redis.call('GET', KEYS[1]) or '0')
local wanted = tonumber(ARGV[1])
if wanted > held then redis.call('SET', KEYS[1], ARGV[1]) return wanted end
return held
"""


def _interactions_key(user_id: str) -> str:
    return f"ss:v:u:{user_id}:i"


def _profile_key(user_id: str) -> str:
    return f"ss:v:u:{user_id}:p"


@dataclass(frozen=True)
class Versions:
    """The counters that concern one request: the catalog's and one user's."""

    catalog: int
    interactions_through: int
    profile: int

    @property
    def digest(self) -> str:
        """A short text to stamp cached entries with."""
        return f"{self.catalog}.{self.interactions_through}.{self.profile}"


class VersionBoard:
    """The counters of one Redis database; see the module docstring.

    Parameters
    ----------
    redis_url
        The Redis to keep them in (the cache's L2 Redis).
    on_erasure
        Called on a subscriber thread with the id of each user another process erased.
    socket_timeout_seconds
        Timeout of each Redis call; a dead Redis costs at most this per request.
    """

    def __init__(
        self,
        redis_url: str,
        *,
        on_erasure: Callable[[str], None] | None = None,
        socket_timeout_seconds: float = SOCKET_TIMEOUT_SECONDS,
    ) -> None:
        self._client = redis.Redis.from_url(
            redis_url,
            socket_timeout=socket_timeout_seconds,
            socket_connect_timeout=socket_timeout_seconds,
            retry=Retry(NoBackoff(), 0),
        )
        self._raise_to = self._client.register_script(_RAISE_TO)
        database = self._client.connection_pool.connection_kwargs.get("db", 0)
        self.erasure_channel = f"{ERASURE_CHANNEL}:{database}"
        self._down = threading.Event()
        self._subscriber: InvalidationSubscriber | None = None
        if on_erasure is not None:
            handler = on_erasure

            def on_message(data: bytes) -> None:
                try:
                    handler(data.decode())
                except Exception:  # the subscriber thread must survive a bad handler
                    logger.exception("applying an erasure broadcast failed")

            self._subscriber = InvalidationSubscriber(
                self._client,
                self.erasure_channel,
                on_message=on_message,
                on_subscribed=lambda: None,
                on_lost=lambda error: logger.warning("erasure subscription lost: %s", error),
            )
            self._subscriber.start()

    def read(self, user_id: str) -> Versions | None:
        """The catalog's and ``user_id``'s counters (0 for ones never set); ``None`` when
        Redis is unreachable."""
        keys = [CATALOG_KEY, _interactions_key(user_id), _profile_key(user_id)]
        values = self._call(lambda: self._client.mget(keys))
        if values is None:
            return None
        catalog, interactions, profile = (int(value or 0) for value in values)
        return Versions(catalog, interactions, profile)

    def interactions_stored(self, through: dict[str, int]) -> None:
        """Record, per user, the highest interaction id just stored."""

        calls = [([_interactions_key(u)], [i]) for u, i in through.items()]
        self._call(lambda: run_in_pipeline(self._client, self._raise_to, calls))

    def profile_changed(self, user_id: str) -> None:
        """A user's preferences, home or existence changed."""
        self._call(lambda: self._client.incr(_profile_key(user_id)))

    def catalog_changed(self) -> None:
        """An event was created, changed or cancelled."""
        self._call(lambda: self._client.incr(CATALOG_KEY))

    def user_erased(self, user_id: str) -> None:
        """Tell every process to drop ``user_id``'s in-memory state now."""

        def send() -> None:
            pipe = self._client.pipeline(transaction=False)
            pipe.incr(_profile_key(user_id))
            pipe.publish(self.erasure_channel, user_id.encode())
            pipe.execute()

        self._call(send)

    def wait_for_subscription(self, timeout: float | None = None) -> bool:
        """Block until erasure broadcasts are received (``True`` without a subscriber)."""
        return self._subscriber is None or self._subscriber.wait_until_subscribed(timeout)

    def close(self) -> None:
        """Stop the subscriber and close the connections."""
        if self._subscriber is not None:
            self._subscriber.stop()
        self._client.close()

    def _call(self, call: Callable[[], _T]) -> _T | None:
        try:
            result = call()
        except (redis.RedisError, OSError) as error:
            if not self._down.is_set():
                self._down.set()
                logger.warning(
                    "Redis is unreachable (%s): processes only know their own writes "
                    "until it is back",
                    error,
                )
            else:
                logger.debug("Redis still unreachable: %s", error)
            return None
        if self._down.is_set():
            self._down.clear()
            logger.warning("Redis is reachable again: processes share their writes again")
        return result
