"""L2: cache entries in Redis, invalidated by key pattern, by tag sets, or both.

An entry is a hash ``{v: <orjson value>, e: <orjson list of event ids>}`` under its key
(:mod:`scenescout.cache.keys`) with the cache TTL. Invalidation strategies:

``pattern``
    No tag sets. A user's entries are found with ``SCAN MATCH ss:rec:{user}:*``; an event's by
    scanning every entry and reading its ``e`` field. Both are a pass over the keyspace in
    ``SCAN`` batches, so this suits small caches, or deployments that want no extra keys.
``tag``
    Every write also adds the key to ``ss:tag:user:{user}`` and to ``ss:tag:event:{event}`` for
    each listed event, and gives those sets the cache TTL (the newest write's, so a set outlives
    the entries in it when every writer uses the same TTL). Invalidation reads and deletes the
    set in one transaction, then deletes its members: cost proportional to the entries removed.
``hybrid``
    ``tag``, except that a user whose tag set is missing (expired early, evicted under memory
    pressure, or entries written by a ``pattern`` instance) is also looked up by pattern, on
    :meth:`RedisStore.invalidate_user` (preferences, erasure). The batched per-interaction path
    (:meth:`RedisStore.invalidate_users`) stays tag-only: most users have nothing cached, and a
    whole keyspace pass per interaction does not scale. Events have no pattern in the key, so
    event invalidation stays tag-only too.

Every method raises :class:`redis.RedisError` when Redis fails; the caller decides what an
outage means (see :class:`~scenescout.cache.RecommendationCache`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, cast

import orjson
import redis

from scenescout.cache.keys import (
    ENTRY_PREFIX,
    TAG_PREFIX,
    event_tag_key,
    user_entries_pattern,
    user_tag_key,
)
from scenescout.cache.scripts import run_in_pipeline
from scenescout.cache.write_behind import PendingPut

InvalidationStrategy = Literal["pattern", "tag", "hybrid"]

# KEYS[1]: the entry; KEYS[2..]: its tag sets. ARGV: payload, event ids (JSON), TTL seconds.
_GET = """
return {redis.call('HMGET', KEYS[1], 'v', 'e'), redis.call('PTTL', KEYS[1])}
"""
"""An entry's payload and events, and its remaining TTL in ms, read at one moment."""

_PUT = """
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'e', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
for i = 2, #KEYS do
    redis.call('SADD', KEYS[i], KEYS[1])
    redis.call('EXPIRE', KEYS[i], ARGV[3])
end
"""
DEFAULT_SCAN_COUNT = 1000


@dataclass(frozen=True, slots=True)
class RemoteEntry:
    """One entry read from Redis: the orjson payload, its events and its remaining TTL."""

    payload: bytes
    event_ids: tuple[str, ...]
    ttl_ms: int


class RedisStore:
    """Reads, writes and invalidates L2 entries on one Redis client.

    Parameters
    ----------
    client
        A redis-py client (``decode_responses=False``).
    strategy
        How invalidation finds entries; see the module docstring.
    ttl_seconds
        TTL of entries and tag sets.
    channel
        The pub/sub channel :meth:`publish` broadcasts on.
    scan_count
        ``COUNT`` hint of each ``SCAN`` call of the pattern path.
    event_tags
        Whether entries are tagged by event (``tag`` and ``hybrid``), so that
        :meth:`invalidate_event` finds them. Without, an entry is tagged by its user only and
        :meth:`invalidate_event` deletes nothing: for callers whose keys already change with
        every event change (see ``RecommendationCache``'s ``l2_event_invalidation``).
    """

    def __init__(
        self,
        client: redis.Redis,
        strategy: InvalidationStrategy,
        ttl_seconds: int,
        channel: str,
        scan_count: int = DEFAULT_SCAN_COUNT,
        *,
        event_tags: bool = True,
    ) -> None:
        self.client = client
        self.strategy = strategy
        self.event_tags = event_tags
        self.ttl_seconds = ttl_seconds
        self.channel = channel
        self.scan_count = scan_count
        self._put = client.register_script(_PUT)
        self._get = client.register_script(_GET)

    def ping(self) -> None:
        """Raise unless Redis answers."""
        self.client.ping()

    def get(self, key: str) -> RemoteEntry | None:
        """The entry under ``key`` with its remaining TTL, or ``None``."""
        # One script call (one command, atomic) rather than MULTI, HMGET, PTTL, EXEC.
        (payload, events), ttl_ms = self._get(keys=[key])
        if payload is None:
            return None
        # -1 (no expiry) only happens if someone persisted the key by hand.
        return RemoteEntry(
            payload=payload,
            event_ids=tuple(orjson.loads(events)) if events else (),
            ttl_ms=ttl_ms if ttl_ms > 0 else self.ttl_seconds * 1000,
        )

    def put_many(self, entries: Sequence[PendingPut]) -> None:
        """Write entries (each with its tags, unless the strategy is ``pattern``) in one
        pipeline; each entry is written atomically, by one script call however many events
        it lists."""
        run_in_pipeline(
            self.client,
            self._put,
            (
                (
                    [entry.key, *self._tags(entry.user_id, entry.event_ids)],
                    [entry.payload, orjson.dumps(list(entry.event_ids)), self.ttl_seconds],
                )
                for entry in entries
            ),
        )

    def _tags(self, user_id: str, event_ids: Sequence[str]) -> list[str]:
        if self.strategy == "pattern":
            return []
        if not self.event_tags:
            return [user_tag_key(user_id)]
        return [user_tag_key(user_id), *map(event_tag_key, event_ids)]

    def invalidate_user(self, user_id: str) -> set[str]:
        """Delete every entry of ``user_id``; the keys deleted."""
        if self.strategy == "pattern":
            return self._delete_matching(user_entries_pattern(user_id))
        deleted, tag_existed = self._delete_tagged(user_tag_key(user_id))
        if self.strategy == "hybrid" and not tag_existed:
            deleted |= self._delete_matching(user_entries_pattern(user_id))
        return deleted

    def invalidate_users(self, user_ids: Sequence[str]) -> set[str]:
        """Delete every entry of each of ``user_ids`` through their tag sets, in two round
        trips (``pattern``: by pattern, user by user); the keys deleted. ``hybrid`` does not
        fall back to a pattern sweep here (see ``RecommendationCache.invalidate_users``)."""
        if self.strategy == "pattern":
            deleted: set[str] = set()
            for user_id in user_ids:
                deleted |= self._delete_matching(user_entries_pattern(user_id))
            return deleted
        pipe = self.client.pipeline(transaction=True)
        for user_id in user_ids:
            pipe.smembers(user_tag_key(user_id))
            pipe.delete(user_tag_key(user_id))
        replies = pipe.execute()
        members = set().union(*replies[0::2]) if replies else set()
        return self._delete(members)

    def invalidate_event(self, event_id: str) -> set[str]:
        """Delete every entry listing ``event_id``; the keys deleted (none without
        ``event_tags``)."""
        if not self.event_tags:
            return set()
        if self.strategy == "pattern":
            return self._delete_listing(event_id)
        deleted, _ = self._delete_tagged(event_tag_key(event_id))
        return deleted

    def clear(self) -> set[str]:
        """Delete every entry and tag set; the entry keys deleted."""
        for keys in self._scan(f"{TAG_PREFIX}*"):
            self.client.delete(*keys)
        return self._delete_matching(f"{ENTRY_PREFIX}*")

    def publish(self, message: bytes) -> None:
        """Broadcast ``message`` on the invalidation channel."""
        self.client.publish(self.channel, message)

    def publish_many(self, messages: Sequence[bytes]) -> None:
        """Broadcast each of ``messages``, in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        for message in messages:
            pipe.publish(self.channel, message)
        pipe.execute()

    def _delete_tagged(self, tag: str) -> tuple[set[str], bool]:
        pipe = self.client.pipeline(transaction=True)
        pipe.smembers(tag)
        pipe.delete(tag)
        members, existed = pipe.execute()
        return self._delete(members), bool(existed)

    def _delete_matching(self, pattern: str) -> set[str]:
        deleted: set[str] = set()
        for keys in self._scan(pattern):
            deleted |= self._delete(keys)
        return deleted

    def _delete_listing(self, event_id: str) -> set[str]:
        deleted: set[str] = set()
        for keys in self._scan(f"{ENTRY_PREFIX}*"):
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.hget(key, "e")
            listing = [
                key
                for key, events in zip(keys, pipe.execute(), strict=True)
                if events is not None and event_id in orjson.loads(events)
            ]
            deleted |= self._delete(listing)
        return deleted

    def _delete(self, keys: Iterable[bytes]) -> set[str]:
        keys = list(keys)
        if not keys:
            return set()
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.delete(key)
        return {key.decode() for key, n in zip(keys, pipe.execute(), strict=True) if n}

    def _scan(self, pattern: str) -> Iterator[list[bytes]]:
        cursor = 0
        while True:
            cursor, keys = self.client.scan(cursor, match=pattern, count=self.scan_count)
            if keys:
                yield cast(list[bytes], keys)  # the client does not decode responses
            if cursor == 0:
                return
