"""L2 in a real Redis: TTLs, what each invalidation strategy finds, and the key encoding."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from tests.cache.conftest import DIGEST, CacheFactory, FakeClock, make_request, value_for

from scenescout.cache import RecommendationCache, entry_key
from scenescout.cache.keys import event_tag_key, user_tag_key

pytestmark = pytest.mark.redis

STRATEGIES = ["pattern", "tag", "hybrid"]


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_url) as client:
        yield client


def put(cache: RecommendationCache, user_id: str, *event_ids: str) -> str:
    request = make_request(user_id)
    cache.set(user_id, request, DIGEST, value_for(user_id, *event_ids), event_ids)
    cache.flush()  # L2 writes are queued: let this one land
    return entry_key(user_id, request, DIGEST)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_entries_and_tags_carry_the_ttl(
    strategy: str, make_l2_cache: CacheFactory, raw: redis.Redis
) -> None:
    cache = make_l2_cache(ttl_seconds=7, invalidation_strategy=strategy)
    key = put(cache, "u1", "e1")
    assert 6000 < raw.pttl(key) <= 7000
    tags = [user_tag_key("u1"), event_tag_key("e1")]
    if strategy == "pattern":
        assert raw.exists(*tags) == 0
    else:
        assert all(6000 < raw.pttl(tag) <= 7000 for tag in tags)
        assert all(raw.smembers(tag) == {key.encode()} for tag in tags)


def test_another_instance_reads_l2_with_its_remaining_ttl(
    make_l2_cache: CacheFactory, raw: redis.Redis
) -> None:
    writer = make_l2_cache(ttl_seconds=1800)
    key = put(writer, "u1", "e1")
    raw.pexpire(key, 20_000)  # as if written 1780 s ago
    reader_clock = FakeClock()
    reader = make_l2_cache(clock_=reader_clock, ttl_seconds=1800)
    request = make_request("u1")
    hit = reader.get("u1", request, DIGEST)
    assert hit is not None and (hit.level, hit.ttl_seconds) == ("l2", 20)
    assert hit.value == value_for("u1", "e1")
    hit = reader.get("u1", request, DIGEST)
    assert hit is not None and hit.level == "l1" and hit.ttl_seconds <= 20
    reader_clock.advance(20)  # L1's copy expires when L2's entry does, not 1800 s later
    hit = reader.get("u1", request, DIGEST)
    assert hit is not None and hit.level == "l2"


def test_l2_reads_survive_a_flushed_script_cache(
    make_l2_cache: CacheFactory, raw: redis.Redis
) -> None:
    # Reads are a script call: after Redis forgot its scripts (a restart, SCRIPT FLUSH),
    # the next read loads it again instead of failing.
    put(make_l2_cache(), "u1", "e1")
    reader = make_l2_cache()
    raw.script_flush()
    hit = reader.get("u1", make_request("u1"), DIGEST)
    assert hit is not None and hit.level == "l2" and hit.value == value_for("u1", "e1")
    assert reader.get("u2", make_request("u2"), DIGEST) is None


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_an_l1_copy_of_an_l2_entry_is_indexed_by_its_events(
    strategy: str, make_l2_cache: CacheFactory
) -> None:
    put(make_l2_cache(invalidation_strategy=strategy), "u1", "e1", "e2")
    reader = make_l2_cache(invalidation_strategy=strategy)
    request = make_request("u1")
    first, second = (reader.get("u1", request, DIGEST) for _ in range(2))
    assert first is not None and first.level == "l2"
    assert second is not None and second.level == "l1"
    assert reader.invalidate_event("e2") == 1
    assert reader.get("u1", request, DIGEST) is None


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize(("user_id", "neighbour"), [("a", "a:b"), ("a*", "ab"), ("[ab]", "a")])
def test_a_user_invalidation_spares_users_whose_ids_look_alike(
    strategy: str, user_id: str, neighbour: str, make_l2_cache: CacheFactory, raw: redis.Redis
) -> None:
    cache = make_l2_cache(invalidation_strategy=strategy)
    mine, theirs = put(cache, user_id, "e1"), put(cache, neighbour, "e1")
    assert cache.invalidate_user(user_id) == 1
    assert raw.exists(mine) == 0
    assert raw.exists(theirs) == 1


@pytest.mark.parametrize(("strategy", "found"), [("tag", 0), ("hybrid", 1), ("pattern", 1)])
def test_untagged_entries_are_found_by_pattern_only(
    strategy: str, found: int, make_l2_cache: CacheFactory, raw: redis.Redis
) -> None:
    untagged = put(make_l2_cache(invalidation_strategy="pattern"), "u1", "e1")
    other = make_l2_cache(invalidation_strategy=strategy)
    assert other.invalidate_user("u1") == found
    assert raw.exists(untagged) == 1 - found


@pytest.mark.parametrize("strategy", ["tag", "hybrid"])
def test_tag_sets_are_consumed_by_invalidation(
    strategy: str, make_l2_cache: CacheFactory, raw: redis.Redis
) -> None:
    cache = make_l2_cache(invalidation_strategy=strategy)
    put(cache, "u1", "e1")
    cache.invalidate_user("u1")
    assert raw.exists(user_tag_key("u1")) == 0
    put(cache, "u2", "e1")
    cache.invalidate_event("e1")
    assert raw.exists(event_tag_key("e1")) == 0


def test_pattern_finds_an_events_entries_without_tags(
    make_l2_cache: CacheFactory, raw: redis.Redis
) -> None:
    cache = make_l2_cache(invalidation_strategy="pattern")
    keys = [put(cache, f"u{i}", f"e{i % 3}", "shared" if i % 2 else "x") for i in range(30)]
    assert cache.invalidate_event("shared") == 15
    assert [raw.exists(key) for key in keys] == [i % 2 == 0 for i in range(30)]


def test_clear_leaves_other_keys_alone(make_l2_cache: CacheFactory, raw: redis.Redis) -> None:
    cache = make_l2_cache(invalidation_strategy="hybrid")
    put(cache, "u1", "e1")
    raw.set("someone:else", "1")
    cache.clear()
    assert raw.keys("ss:*") == []
    assert raw.get("someone:else") == b"1"


def test_a_new_digest_misses_l2_too(make_l2_cache: CacheFactory) -> None:
    put(make_l2_cache(), "u1", "e1")
    reader = make_l2_cache()
    assert reader.get("u1", make_request("u1"), "bundle-8:cfg-1a2b") is None
    assert reader.stats()["misses"] == {"l1": 1, "l2": 1}
    assert reader.get("u1", make_request("u1"), DIGEST) is not None


def test_fills_reach_a_redis_that_forgot_the_write_script(
    make_l2_cache: CacheFactory, raw: redis.Redis
) -> None:
    cache = make_l2_cache()
    first = put(cache, "u1", "e1")
    raw.script_flush()  # as after a Redis restart: the next batch answers NOSCRIPT
    second = put(cache, "u2", "e2")
    assert raw.exists(first, second) == 2
    assert cache.stats()["errors"]["set"] == 0


def test_without_l2_event_invalidation_fills_are_tagged_by_user_only(
    make_l2_cache: CacheFactory, raw: redis.Redis
) -> None:
    """For keys whose digest moves with every event change: no per-event tag sets, and an
    event change leaves L2 alone but still drops L1 copies."""
    cache = make_l2_cache(l2_event_invalidation=False, invalidation_strategy="hybrid")
    key = put(cache, "u1", "e1", "e2")
    assert raw.exists(event_tag_key("e1"), event_tag_key("e2")) == 0
    assert raw.smembers(user_tag_key("u1")) == {key.encode()}
    assert cache.invalidate_event("e1") == 1  # the L1 copy
    assert raw.exists(key) == 1
    assert level_of(cache, "u1") == "l2"
    assert cache.invalidate_user("u1") == 1
    assert raw.exists(key) == 0


def level_of(cache: RecommendationCache, user_id: str) -> str | None:
    hit = cache.get(user_id, make_request(user_id), DIGEST)
    return None if hit is None else hit.level
