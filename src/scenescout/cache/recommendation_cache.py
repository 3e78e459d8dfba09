"""RecommendationCache: L1 in process, L2 in Redis, invalidation broadcast to every worker.

Read: L1, then L2 (an L2 hit is copied into L1 with L2's remaining TTL), else a miss.
Write: L1 at once, L2 from a background thread in pipelined batches
(:mod:`scenescout.cache.write_behind`), so a cache fill costs the caller no Redis round trip;
:meth:`RecommendationCache.flush` waits for the queued fills. Invalidate (a user's
interaction, an event's change): first let the queued fills land, then L1 through its user and
event indexes, L2 by the configured strategy (:mod:`scenescout.cache.redis_store`), then a
message on the invalidation channel (``ss:invalidate`` by default) so every other instance
drops its L1 entries too. Each instance runs a subscriber thread and ignores its own messages.

A fill computed before another instance's invalidation may still land after it (before, the
window was the computation; now it also spans the queue). Keys that carry change counters in
their digest, as the HTTP service's do, make such a late fill unreachable.

Redis outages
-------------
Every Redis call runs with short socket timeouts and no client-side retries, so a dead Redis
costs a failed connect (about a millisecond when refused, at most ``socket_timeout_seconds``
when unanswered). The first failure starts an outage: one warning is logged, errors are
counted, and L2 is skipped entirely (the cache serves L1 alone) until a retry is due, with
backoff doubling from ``RETRY_INITIAL_SECONDS`` to ``RETRY_MAX_SECONDS`` on the cache clock. The
next call after that tries to recover: it pings Redis and replays the invalidations made during
the outage (over ``MAX_PENDING_INVALIDATIONS`` of them, or a :meth:`~RecommendationCache.clear`,
replays as one L2 clear), so entries that survived in Redis cannot be served stale afterwards.

Invalidations published while an instance's subscription was down are lost to it, so an
instance drops its whole L1 whenever its subscription is (re)established.
"""

from __future__ import annotations

import builtins
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Literal, Protocol, Self

import orjson
import redis
from prometheus_client import CollectorRegistry
from redis.backoff import NoBackoff
from redis.retry import Retry

from scenescout.cache.keys import INVALIDATION_CHANNEL, entry_key
from scenescout.cache.local import LocalEntry, LocalStore
from scenescout.cache.metrics import CacheMetrics
from scenescout.cache.redis_store import RedisStore
from scenescout.cache.subscriber import InvalidationSubscriber
from scenescout.cache.write_behind import PendingPut, WriteBehind
from scenescout.config import CacheConfig
from scenescout.domain.recommendation import CacheInfo, RecommendationRequest

logger = logging.getLogger(__name__)

EntityKind = Literal["user", "event"]
InvalidationKind = Literal["user", "event", "clear"]
_CLEAR: Final = "clear"
_Missed = tuple[EntityKind, str] | Literal["clear"]
"""An invalidation L2 did not get: of a user or an event, or a clear."""
CacheLevel = Literal["l1", "l2"]
WarmCompute = Callable[[str], tuple[RecommendationRequest, dict[str, Any], Sequence[str]]]
"""Given a user id: the request to cache under, its JSON-able value and the events it lists."""

SOCKET_TIMEOUT_SECONDS: Final = 0.1
RETRY_INITIAL_SECONDS: Final = 0.5
RETRY_MAX_SECONDS: Final = 30.0
MAX_PENDING_INVALIDATIONS: Final = 10_000
CLOSE_TIMEOUT_SECONDS: Final = 5.0
"""How long :meth:`RecommendationCache.close` waits for queued L2 writes."""


@dataclass(frozen=True, slots=True)
class CachedResult:
    """A cache hit.

    Attributes
    ----------
    value
        The stored value, decoded afresh from JSON (the caller may mutate it).
    ttl_seconds
        Whole seconds the entry has left (rounded up, at least 1).
    level
        Where it was found: ``"l1"`` (this process) or ``"l2"`` (Redis).
    """

    value: dict[str, Any]
    ttl_seconds: int
    level: CacheLevel

    def cache_info(self) -> CacheInfo:
        """The response's ``cache_info``: ``{"hit": true, "ttl_seconds": N}``."""
        return CacheInfo(hit=True, ttl_seconds=self.ttl_seconds)


@dataclass(frozen=True, slots=True)
class Invalidation:
    """An invalidation heard from another instance: ``target`` is ``None`` for ``clear``."""

    kind: InvalidationKind
    target: str | None
    origin: str


class CacheBackend(Protocol):
    """What the engine and the API call; :class:`RecommendationCache` and :class:`NullCache`."""

    def get(
        self, user_id: str, request: RecommendationRequest, digest: str
    ) -> CachedResult | None: ...

    def set(
        self,
        user_id: str,
        request: RecommendationRequest,
        digest: str,
        value: dict[str, Any] | bytes,
        event_ids: Sequence[str],
    ) -> None: ...

    def invalidate_user(self, user_id: str) -> int: ...

    def invalidate_users(self, user_ids: Collection[str]) -> int: ...

    def invalidate_event(self, event_id: str) -> int: ...

    def clear(self) -> None: ...

    def warm(self, user_ids: Iterable[str], compute: WarmCompute, *, digest: str) -> int: ...

    def stats(self) -> dict[str, Any]: ...

    def wait_for_subscription(self, timeout: float | None = None) -> bool: ...

    def flush(self, timeout: float | None = None) -> bool: ...

    def close(self) -> None: ...


class _Outage:
    """Whether L2 is out, and when to try it again; not thread-safe (the cache locks)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.active = False
        self.since = 0.0
        self._retry_at = 0.0
        self._backoff = RETRY_INITIAL_SECONDS

    def begin(self) -> bool:
        """Start an outage; ``False`` if one is already on."""
        if self.active:
            return False
        self.active = True
        self.since = self._clock()
        self._backoff = RETRY_INITIAL_SECONDS
        self._retry_at = self.since + self._backoff
        return True

    def retry_due(self) -> bool:
        return self._clock() >= self._retry_at

    def retry_failed(self) -> None:
        self._backoff = min(2 * self._backoff, RETRY_MAX_SECONDS)
        self._retry_at = self._clock() + self._backoff

    def end(self) -> float:
        """End the outage; how long it lasted, in seconds."""
        self.active = False
        return self._clock() - self.since


class _ClosedOnExit:
    """``with cache: ...`` closes the cache at the end."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        raise NotImplementedError


class RecommendationCache(_ClosedOnExit):
    """Two-level cache of recommendation results; see the module docstring.

    Thread-safe and synchronous (FastAPI calls it from threadpool routes). Caches whatever
    ``config.enabled`` says; :func:`open_cache` returns a :class:`NullCache` when it is off.

    Parameters
    ----------
    config
        TTL, L1 size and L2 invalidation strategy.
    redis_url
        L2's Redis; ``None`` for L1 only (then invalidations stay in this process).
    registry
        Where the Prometheus metrics (:class:`~scenescout.cache.metrics.CacheMetrics`) are
        registered; default a fresh registry per cache, so caches never collide. Pass the
        registry the app serves on ``/metrics`` (at most one cache per registry).
    clock
        Monotonic seconds, for L1 expiry and the outage backoff; injected in tests.
    socket_timeout_seconds
        Connect and read timeout of every Redis call.
    channel
        The pub/sub channel of invalidations, shared by every instance that shares entries.
    on_remote_invalidation
        Called on the subscriber thread after an invalidation from another instance was
        applied to L1 (observability, tests); exceptions are logged and swallowed.
    l2_event_invalidation
        Whether :meth:`invalidate_event` also deletes the event's entries from L2, which
        costs every fill two Redis commands per listed event (its tag sets) or, with the
        ``pattern`` strategy, a keyspace pass per event change. Turn it off only when every
        event change also changes the digest that keys the entries, so older entries are
        unreachable anyway (the HTTP service's digests carry the catalog's change counter).
        L1 entries and other instances' L1 are invalidated either way.
    """

    def __init__(
        self,
        config: CacheConfig | None = None,
        *,
        redis_url: str | None = None,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
        socket_timeout_seconds: float = SOCKET_TIMEOUT_SECONDS,
        channel: str = INVALIDATION_CHANNEL,
        on_remote_invalidation: Callable[[Invalidation], None] | None = None,
        l2_event_invalidation: bool = True,
    ) -> None:
        self.config = config if config is not None else CacheConfig()
        self.registry = registry if registry is not None else CollectorRegistry()
        self.instance_id = uuid.uuid4().hex
        self._clock = clock
        self._on_remote_invalidation = on_remote_invalidation
        self._metrics = CacheMetrics(self.registry)
        self._local = LocalStore(self.config.max_entries, clock)
        self._lock = threading.Lock()
        self._outage = _Outage(clock)
        self._recovering = False
        self._pending: set[tuple[EntityKind, str]] = set()
        self._pending_clear = False
        self._closed = False
        self._store: RedisStore | None = None
        self._subscriber: InvalidationSubscriber | None = None
        self._writer: WriteBehind | None = None
        self._last_key: tuple[RecommendationRequest, str, str, str] | None = None
        if redis_url is not None:
            client = redis.Redis.from_url(
                redis_url,
                socket_timeout=socket_timeout_seconds,
                socket_connect_timeout=socket_timeout_seconds,
                retry=Retry(NoBackoff(), 0),
            )
            self._store = RedisStore(
                client,
                self.config.invalidation_strategy,
                self.config.ttl_seconds,
                channel,
                event_tags=l2_event_invalidation,
            )
            self._subscriber = InvalidationSubscriber(
                client,
                channel,
                on_message=self._on_message,
                on_subscribed=self._on_subscribed,
                on_lost=self._on_subscription_lost,
            )
            self._subscriber.start()
            self._writer = WriteBehind(
                self._write_fills, on_error=self._fill_failed, on_drop=self._fill_dropped
            )

    def get(self, user_id: str, request: RecommendationRequest, digest: str) -> CachedResult | None:
        """The cached value of ``request`` under ``digest``, from L1 or else L2.

        Parameters
        ----------
        user_id
            Whose request it is; must equal ``request.user_id``.
        request
            The recommendation request; normalized into the key (see
            :mod:`scenescout.cache.keys`).
        digest
            The model/config digest the value must have been computed with.

        Returns
        -------
        CachedResult or None
            The value, its remaining TTL and the level it came from; ``None`` on a miss.
        """
        started = time.perf_counter()
        result = self._lookup(user_id, self._key(user_id, request, digest))
        outcome = result.level if result is not None else "miss"
        self._metrics.get_seconds.labels(outcome).observe(time.perf_counter() - started)
        return result

    def set(
        self,
        user_id: str,
        request: RecommendationRequest,
        digest: str,
        value: dict[str, Any] | bytes,
        event_ids: Sequence[str],
    ) -> None:
        """Cache ``value`` for ``request`` under ``digest``, in L1 and L2, for the config TTL.

        L1 holds it on return; the L2 write is queued for the writer thread (see
        :meth:`flush`). The key a :meth:`get` just computed for the same request object is
        reused: do not change a request between its ``get`` and its ``set``.

        Parameters
        ----------
        user_id, request, digest
            As for :meth:`get`.
        value
            JSON-able (serialized with orjson; it comes back as JSON types), or JSON text
            already serialized, as bytes (stored as is, not checked).
        event_ids
            The events ``value`` lists: a change to any of them invalidates the entry.

        Raises
        ------
        TypeError
            If ``value`` is not JSON-able or ``event_ids`` is a single string.
        """
        started = time.perf_counter()
        if isinstance(event_ids, str):
            raise TypeError("event_ids must be a sequence of event ids, not one string")
        key = self._key(user_id, request, digest)
        payload = value if isinstance(value, bytes) else orjson.dumps(value)
        events = tuple(dict.fromkeys(event_ids))
        expires_at = self._clock() + self.config.ttl_seconds
        self._local.put(key, LocalEntry(payload, user_id, events, expires_at))
        if self._writer is not None and self._l2_store() is not None:
            self._writer.submit(PendingPut(key, user_id, payload, events))
        self._metrics.sets.inc()
        self._metrics.set_seconds.observe(time.perf_counter() - started)

    def invalidate_user(self, user_id: str) -> int:
        """Drop every entry of ``user_id`` (call on each of their interactions).

        Returns
        -------
        int
            How many distinct live entries were dropped here, from L1 and L2 together (other
            instances drop their L1 copies on the broadcast).
        """
        return self._invalidate("user", user_id)

    def invalidate_users(self, user_ids: Collection[str]) -> int:
        """Drop every entry of each of ``user_ids`` (call after a batch of interactions),
        with a fixed number of L2 round trips for the whole batch.

        Unlike :meth:`invalidate_user`, the ``hybrid`` strategy does not sweep the keyspace
        by pattern for a user whose tag set is missing: that is the common case (a user
        with nothing cached), and a pass over every key per interaction does not scale.
        Entries that lost their tag set are left to expire; a service that stamps entries
        with per-user change counters (as the HTTP service does) never reads them.

        Returns
        -------
        int
            As for :meth:`invalidate_user`.
        """
        users = list(dict.fromkeys(user_ids))
        self._flush_fills()
        removed: builtins.set[str] = builtins.set()
        for user_id in users:
            removed |= self._drop_local("user", user_id)
        missed: list[_Missed] = [("user", user_id) for user_id in users]
        store = self._l2_store(missed_many=missed)
        if store is not None and users:
            try:
                removed |= store.invalidate_users(users)
                store.publish_many([self._message("user", user_id) for user_id in users])
            except redis.RedisError as error:
                self._l2_failed("invalidate", error)
                with self._lock:
                    for invalidation in missed:
                        self._keep(invalidation)
        self._metrics.invalidations.labels("user", "local").inc(len(users))
        return len(removed)

    def invalidate_event(self, event_id: str) -> int:
        """Drop every entry listing ``event_id`` (call on each change to the event).

        Returns
        -------
        int
            As for :meth:`invalidate_user`.
        """
        return self._invalidate("event", event_id)

    def clear(self) -> None:
        """Drop every entry, in L1, in L2 and in every other instance's L1."""
        self._flush_fills()
        self._local.clear()
        store = self._l2_store(missed=_CLEAR)
        if store is not None:
            try:
                self._clear_shared(store)
            except redis.RedisError as error:
                self._l2_failed("invalidate", error, missed=_CLEAR)
        self._metrics.invalidations.labels("clear", "local").inc()

    def warm(self, user_ids: Iterable[str], compute: WarmCompute, *, digest: str) -> int:
        """Fill the cache for ``user_ids`` (e.g. the active users, after training).

        Parameters
        ----------
        user_ids
            Whom to warm.
        compute
            Called with each user id; returns the request, its value and its event ids, which
            are stored as by :meth:`set`.
        digest
            The digest of the model ``compute`` uses.

        Returns
        -------
        int
            How many users were warmed. A user whose ``compute`` raises is logged, counted
            under ``errors["warm"]`` and skipped.
        """
        warmed = 0
        for user_id in user_ids:
            try:
                request, value, event_ids = compute(user_id)
            except Exception:
                logger.warning("Cache warm-up failed for user %r", user_id, exc_info=True)
                self._metrics.errors.labels("warm").inc()
                continue
            self.set(user_id, request, digest, value, event_ids)
            warmed += 1
        self.flush()
        return warmed

    def stats(self) -> dict[str, Any]:
        """Counters and state for dashboards and health checks.

        Returns
        -------
        dict
            ``enabled`` (True); ``l2``: ``"disabled"``, ``"up"`` or ``"down"``;
            ``subscribed``; ``l1_entries``; ``pending_invalidations`` (made during an
            outage, not yet replayed); and the counters of
            :meth:`scenescout.cache.metrics.CacheMetrics.snapshot`: ``hits`` and ``misses``
            by level, ``sets``, ``invalidations`` by origin and kind, ``errors`` by
            operation.
        """
        with self._lock:
            l2_down = self._outage.active
            pending = len(self._pending) + int(self._pending_clear)
        l2 = "down" if l2_down else "up"
        if self._store is None or self._closed:
            l2 = "disabled"
        return {
            "enabled": True,
            "l2": l2,
            "subscribed": self._subscriber is not None and self._subscriber.is_subscribed,
            "l1_entries": len(self._local),
            "pending_invalidations": pending,
            **self._metrics.snapshot(),
        }

    def wait_for_subscription(self, timeout: float | None = None) -> bool:
        """Block until this instance hears other instances' invalidations.

        Returns
        -------
        bool
            ``True`` once the subscription is live (at once when there is no L2);
            ``False`` if ``timeout`` seconds pass first.
        """
        if self._subscriber is None:
            return True
        return self._subscriber.wait_until_subscribed(timeout)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every L2 write queued by :meth:`set` so far is done (written, or
        failed and counted under ``errors["set"]``).

        Returns
        -------
        bool
            ``False`` if ``timeout`` seconds passed first; ``True`` at once without L2.
        """
        return self._writer is None or self._writer.flush(timeout)

    def close(self) -> None:
        """Write the queued L2 entries, stop the subscriber and close Redis connections; the
        cache serves L1 only after."""
        if self._closed:
            return
        if self._writer is not None:
            self._writer.close(timeout=CLOSE_TIMEOUT_SECONDS)
        self._closed = True
        if self._subscriber is not None:
            self._subscriber.stop()
        if self._store is not None:
            self._store.client.close()

    def _key(self, user_id: str, request: RecommendationRequest, digest: str) -> str:
        """:func:`~scenescout.cache.keys.entry_key`, computed once for a miss's ``get`` and
        the ``set`` that follows it with the same request object (hashing the normalized
        request is most of a key's cost). The request must not change in between."""
        last = self._last_key
        if last is not None and last[0] is request and last[1] == digest and last[2] == user_id:
            return last[3]
        key = entry_key(user_id, request, digest)
        self._last_key = (request, digest, user_id, key)
        return key

    def _lookup(self, user_id: str, key: str) -> CachedResult | None:
        local = self._local.get(key)
        if local is not None:
            self._metrics.hits.labels("l1").inc()
            remaining = local.expires_at - self._clock()
            return CachedResult(orjson.loads(local.payload), _whole_seconds(remaining), "l1")
        self._metrics.misses.labels("l1").inc()
        store = self._l2_store()
        if store is None:
            return None
        generation = self._local.generation
        try:
            remote = store.get(key)
        except redis.RedisError as error:
            self._l2_failed("get", error)
            return None
        if remote is None:
            self._metrics.misses.labels("l2").inc()
            return None
        self._metrics.hits.labels("l2").inc()
        remaining = remote.ttl_ms / 1000
        entry = LocalEntry(remote.payload, user_id, remote.event_ids, self._clock() + remaining)
        self._local.put(key, entry, if_generation=generation)
        return CachedResult(orjson.loads(remote.payload), _whole_seconds(remaining), "l2")

    def _invalidate(self, kind: EntityKind, target: str) -> int:
        self._flush_fills()
        removed = self._drop_local(kind, target)
        store = self._l2_store(missed=(kind, target))
        if store is not None:
            try:
                removed |= self._invalidate_shared(store, kind, target)
            except redis.RedisError as error:
                self._l2_failed("invalidate", error, missed=(kind, target))
        self._metrics.invalidations.labels(kind, "local").inc()
        return len(removed)

    def _drop_local(self, kind: EntityKind, target: str) -> builtins.set[str]:
        return self._local.pop_user(target) if kind == "user" else self._local.pop_event(target)

    def _invalidate_shared(
        self, store: RedisStore, kind: EntityKind, target: str
    ) -> builtins.set[str]:
        if kind == "user":
            removed = store.invalidate_user(target)
        else:
            removed = store.invalidate_event(target)
        self._publish(store, kind, target)
        return removed

    def _clear_shared(self, store: RedisStore) -> None:
        store.clear()
        self._publish(store, "clear", None)

    def _flush_fills(self) -> None:
        """Let the queued L2 writes land before an invalidation, which must remove them."""
        if self._writer is not None:
            self._writer.flush()

    def _write_fills(self, entries: Sequence[PendingPut]) -> None:
        if self._store is not None:
            self._store.put_many(entries)

    def _fill_failed(self, error: Exception, count: int) -> None:
        if not isinstance(error, redis.RedisError):
            logger.error("Writing %d entries to the Redis L2 failed", count, exc_info=error)
            self._metrics.errors.labels("set").inc()
            return
        self._l2_failed("set", error)

    def _fill_dropped(self, count: int) -> None:
        self._metrics.errors.labels("set").inc(count)

    def _publish(self, store: RedisStore, kind: InvalidationKind, target: str | None) -> None:
        store.publish(self._message(kind, target))

    def _message(self, kind: InvalidationKind, target: str | None) -> bytes:
        return orjson.dumps({"origin": self.instance_id, "kind": kind, "target": target})

    def _l2_store(
        self, missed: _Missed | None = None, *, missed_many: Sequence[_Missed] = ()
    ) -> RedisStore | None:
        """L2 if it may be used now, recovered first when an outage's retry is due.

        When L2 is out, ``missed`` and ``missed_many`` (invalidations the caller would have
        sent) are kept for replay, in the same critical section that saw the outage, so a
        recovery ending concurrently cannot leave them behind.
        """
        store = self._store
        if store is None or self._closed:
            return None
        kept = [missed, *missed_many]
        with self._lock:
            if not self._outage.active:
                return store
            if self._recovering or not self._outage.retry_due():
                for invalidation in kept:
                    self._keep(invalidation)
                return None
            self._recovering = True
        recovered = False
        try:
            recovered = self._recover(store)
        finally:
            with self._lock:
                self._recovering = False
                if not recovered:
                    for invalidation in kept:
                        self._keep(invalidation)
        return store if recovered else None

    def _recover(self, store: RedisStore) -> bool:
        """Ping, replay the missed invalidations until none are left, and end the outage."""
        replayed = 0
        try:
            store.ping()
            while True:
                with self._lock:
                    pending, pending_clear = self._pending, self._pending_clear
                    self._pending, self._pending_clear = set(), False
                    if not pending and not pending_clear:
                        lasted = self._outage.end()
                        break
                try:
                    if pending_clear:
                        self._clear_shared(store)
                    else:
                        for kind, target in pending:
                            self._invalidate_shared(store, kind, target)
                except redis.RedisError:
                    with self._lock:
                        if pending_clear:
                            self._keep(_CLEAR)
                        for invalidation in pending:
                            self._keep(invalidation)
                    raise
                replayed += 1 if pending_clear else len(pending)
        except redis.RedisError as error:
            self._metrics.errors.labels("recover").inc()
            logger.debug("Redis L2 still unavailable (%s)", error)
            with self._lock:
                self._outage.retry_failed()
            return False
        logger.warning(
            "Redis L2 reachable again after %.1f s; replayed %d missed invalidations",
            lasted,
            replayed,
        )
        return True

    def _keep(self, missed: _Missed | None) -> None:
        """Keep an invalidation L2 missed, for replay; call with the lock held. Past
        ``MAX_PENDING_INVALIDATIONS``, or after a clear, one L2 clear replaces them all."""
        if missed is None or self._pending_clear:
            return
        if missed == _CLEAR or len(self._pending) >= MAX_PENDING_INVALIDATIONS:
            self._pending_clear = True
            self._pending = set()
        else:
            self._pending.add(missed)

    def _l2_failed(
        self, operation: str, error: redis.RedisError, missed: _Missed | None = None
    ) -> None:
        self._metrics.errors.labels(operation).inc()
        with self._lock:
            began = self._outage.begin()
            self._keep(missed)
        if began:
            logger.warning(
                "Redis L2 unavailable (%s: %s); serving from L1 only until it recovers",
                type(error).__name__,
                error,
            )

    def _on_message(self, data: bytes) -> None:
        try:
            message = orjson.loads(data)
            origin, kind, target = message["origin"], message["kind"], message["target"]
            valid = (kind == "clear" and target is None) or (
                kind in ("user", "event") and isinstance(target, str)
            )
            if not valid:
                raise ValueError(f"unknown invalidation {kind!r} of {target!r}")
        except (KeyError, TypeError, ValueError) as error:  # JSONDecodeError is a ValueError
            self._metrics.errors.labels("subscribe").inc()
            logger.warning("Ignoring malformed invalidation message %r (%s)", data[:200], error)
            return
        if origin == self.instance_id:
            return
        if kind == "clear":
            self._local.clear()
        else:
            self._drop_local(kind, target)
        self._metrics.invalidations.labels(kind, "remote").inc()
        if self._on_remote_invalidation is not None:
            try:
                self._on_remote_invalidation(Invalidation(kind, target, origin))
            except Exception:
                logger.exception("on_remote_invalidation callback failed")

    def _on_subscribed(self) -> None:
        self._local.clear()

    def _on_subscription_lost(self, error: Exception) -> None:
        self._metrics.errors.labels("subscribe").inc()


def _whole_seconds(seconds: float) -> int:
    return max(1, math.ceil(seconds))


class NullCache(_ClosedOnExit):
    """The cache when ``CacheConfig.enabled`` is false: stores nothing, every get misses."""

    def get(self, user_id: str, request: RecommendationRequest, digest: str) -> CachedResult | None:
        """Always a miss."""
        return None

    def set(
        self,
        user_id: str,
        request: RecommendationRequest,
        digest: str,
        value: dict[str, Any] | bytes,
        event_ids: Sequence[str],
    ) -> None:
        """Store nothing."""

    def invalidate_user(self, user_id: str) -> int:
        """Nothing to drop: 0."""
        return 0

    def invalidate_users(self, user_ids: Collection[str]) -> int:
        """Nothing to drop: 0."""
        return 0

    def invalidate_event(self, event_id: str) -> int:
        """Nothing to drop: 0."""
        return 0

    def clear(self) -> None:
        """Nothing to drop."""

    def warm(self, user_ids: Iterable[str], compute: WarmCompute, *, digest: str) -> int:
        """Warm nobody (``compute`` is never called): 0."""
        return 0

    def stats(self) -> dict[str, Any]:
        """``{"enabled": False}``."""
        return {"enabled": False}

    def wait_for_subscription(self, timeout: float | None = None) -> bool:
        """Nothing to wait for: ``True``."""
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Nothing queued: ``True``."""
        return True

    def close(self) -> None:
        """Nothing to close."""


def open_cache(
    config: CacheConfig,
    redis_url: str | None = None,
    *,
    registry: CollectorRegistry | None = None,
    l2_event_invalidation: bool = True,
) -> RecommendationCache | NullCache:
    """The cache ``config`` asks for: a :class:`NullCache` when disabled, else a
    :class:`RecommendationCache` with L2 on ``redis_url`` (``Settings.redis_url``) if given
    (``l2_event_invalidation`` as there)."""
    if not config.enabled:
        return NullCache()
    return RecommendationCache(
        config,
        redis_url=redis_url,
        registry=registry,
        l2_event_invalidation=l2_event_invalidation,
    )
