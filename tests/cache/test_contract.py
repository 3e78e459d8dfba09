"""The contract every cache backend keeps: L1 only, L1 + Redis (each strategy), and null.

:class:`BackendContract` holds for every backend (the engine can call any of them blindly);
:class:`CacheContract` adds what caching means and runs on the two real backends. Each
``Test*`` class only says how to build its backend and where an entry is found once it has
left L1 (nowhere, or in Redis).
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

import orjson
import pytest
from prometheus_client import CollectorRegistry
from tests.cache.conftest import DIGEST, CacheFactory, FakeClock, make_request, value_for

from scenescout.cache import (
    CacheBackend,
    CacheLevel,
    NullCache,
    RecommendationCache,
    open_cache,
)
from scenescout.config import CacheConfig
from scenescout.domain.recommendation import RecommendationRequest

SF = {"location": {"lat": 37.7749, "lng": -122.4194}}


class BackendContract:
    """What any backend accepts without error."""

    @pytest.fixture
    def make_cache(self, *args: Any) -> Any:
        raise NotImplementedError

    def test_every_call_is_accepted(self, make_cache: Any) -> None:
        cache: CacheBackend = make_cache()
        request = make_request("u1")
        cache.set("u1", request, DIGEST, value_for("u1", "e1"), ["e1"])
        hit = cache.get("u1", request, DIGEST)
        assert hit is None or hit.value == value_for("u1", "e1")
        assert cache.invalidate_user("u1") >= 0
        assert cache.invalidate_users(["u1", "u2"]) >= 0
        assert cache.invalidate_event("e1") >= 0
        cache.clear()
        assert cache.get("u1", request, DIGEST) is None
        assert cache.wait_for_subscription(timeout=5.0)
        assert isinstance(cache.stats()["enabled"], bool)
        cache.close()
        cache.close()


class CacheContract(BackendContract):
    """What caching means, whatever the levels."""

    beyond_l1: ClassVar[CacheLevel | None]
    """Where an entry that left L1 (evicted, expired there) is still found."""

    def put(
        self, cache: CacheBackend, user_id: str, *event_ids: str, **fields: Any
    ) -> RecommendationRequest:
        request = make_request(user_id, **fields)
        cache.set(user_id, request, DIGEST, value_for(user_id, *event_ids), event_ids)
        cache.flush()  # L2 writes are queued: let this one land
        return request

    def level(self, cache: CacheBackend, user_id: str, request: RecommendationRequest) -> Any:
        hit = cache.get(user_id, request, DIGEST)
        return None if hit is None else hit.level

    def test_a_stored_value_comes_back(self, make_cache: CacheFactory) -> None:
        cache = make_cache(ttl_seconds=600)
        request = self.put(cache, "u1", "e1", "e2")
        hit = cache.get("u1", request, DIGEST)
        assert hit is not None
        assert (hit.value, hit.level, hit.ttl_seconds) == (value_for("u1", "e1", "e2"), "l1", 600)
        assert hit.cache_info().model_dump() == {"hit": True, "ttl_seconds": 600}

    def test_a_value_given_as_json_bytes_comes_back_decoded(self, make_cache: CacheFactory) -> None:
        cache = make_cache()
        request = make_request("u1")
        cache.set("u1", request, DIGEST, orjson.dumps(value_for("u1", "e1")), ["e1"])
        cache.flush()
        hit = cache.get("u1", request, DIGEST)
        assert hit is not None and hit.value == value_for("u1", "e1")

    def test_the_value_is_a_copy(self, make_cache: CacheFactory) -> None:
        cache = make_cache()
        request = self.put(cache, "u1", "e1")
        hit = cache.get("u1", request, DIGEST)
        assert hit is not None
        hit.value["recommendations"].clear()
        again = cache.get("u1", request, DIGEST)
        assert again is not None and again.value == value_for("u1", "e1")

    def test_another_request_user_or_digest_misses(self, make_cache: CacheFactory) -> None:
        cache = make_cache()
        self.put(cache, "u1", "e1", limit=10)
        assert cache.get("u1", make_request("u1", limit=11), DIGEST) is None
        assert cache.get("u2", make_request("u2", limit=10), DIGEST) is None
        assert cache.get("u1", make_request("u1", limit=10), "bundle-8:cfg-1a2b") is None
        assert cache.get("u1", make_request("u1", limit=10), DIGEST) is not None

    def test_a_miss_then_a_fill_key_each_request_by_its_own_digest(
        self, make_cache: CacheFactory
    ) -> None:
        # A miss and the fill that follows it are keyed once (the same request object); any
        # other request, digest or user is keyed afresh.
        cache = make_cache()
        request = make_request("u1", limit=10)
        assert cache.get("u1", request, DIGEST) is None
        cache.set("u1", request, "bundle-8:cfg-1a2b", value_for("u1", "e8"), ["e8"])
        cache.set("u1", request, DIGEST, value_for("u1", "e1"), ["e1"])
        other = make_request("u1", limit=11)
        cache.set("u1", other, DIGEST, value_for("u1", "e2"), ["e2"])
        hit = cache.get("u1", request, DIGEST)
        assert hit is not None and hit.value == value_for("u1", "e1")
        newer = cache.get("u1", request, "bundle-8:cfg-1a2b")
        assert newer is not None and newer.value == value_for("u1", "e8")
        assert cache.get("u1", make_request("u1", limit=11), DIGEST).value == value_for("u1", "e2")

    def test_equivalent_requests_share_an_entry(self, make_cache: CacheFactory) -> None:
        cache = make_cache()
        self.put(cache, "u1", "e1", context=SF)
        nearby = {"location": {"lat": 37.77492, "lng": -122.41938, "radius_km": 25.0}}
        assert cache.get("u1", make_request("u1", context=nearby), DIGEST) is not None

    def test_remaining_ttl_counts_down(self, make_cache: CacheFactory, clock: FakeClock) -> None:
        cache = make_cache(ttl_seconds=1800)
        request = self.put(cache, "u1", "e1")
        clock.advance(1000.5)
        hit = cache.get("u1", request, DIGEST)
        assert hit is not None and (hit.level, hit.ttl_seconds) == ("l1", 800)

    def test_an_entry_leaves_l1_when_its_ttl_ends(
        self, make_cache: CacheFactory, clock: FakeClock
    ) -> None:
        cache = make_cache(ttl_seconds=60)
        request = self.put(cache, "u1", "e1")
        clock.advance(59.9)
        assert self.level(cache, "u1", request) == "l1"
        clock.advance(0.1)
        assert self.level(cache, "u1", request) == self.beyond_l1

    def test_the_least_recently_used_entry_leaves_l1(self, make_cache: CacheFactory) -> None:
        cache = make_cache(max_entries=3)
        first, second, third = (self.put(cache, user, "e1") for user in ("u1", "u2", "u3"))
        assert self.level(cache, "u1", first) == "l1"
        fourth = self.put(cache, "u4", "e1")
        assert self.level(cache, "u1", first) == "l1"
        assert self.level(cache, "u3", third) == "l1"
        assert self.level(cache, "u4", fourth) == "l1"
        assert self.level(cache, "u2", second) == self.beyond_l1
        assert cache.stats()["l1_entries"] == 3

    def test_invalidate_user_drops_all_their_entries_and_only_theirs(
        self, make_cache: CacheFactory
    ) -> None:
        cache = make_cache()
        first = self.put(cache, "u1", "e1", limit=5)
        second = self.put(cache, "u1", "e2", limit=6)
        other = self.put(cache, "u2", "e1", limit=5)
        assert cache.invalidate_user("u1") == 2
        assert cache.get("u1", first, DIGEST) is None
        assert cache.get("u1", second, DIGEST) is None
        assert self.level(cache, "u2", other) == "l1"
        assert cache.invalidate_user("u1") == 0

    def test_invalidate_users_drops_the_entries_of_each_and_only_theirs(
        self, make_cache: CacheFactory
    ) -> None:
        cache = make_cache()
        mine = [self.put(cache, "u1", "e1", limit=5), self.put(cache, "u1", "e2", limit=6)]
        theirs = self.put(cache, "u2", "e1", limit=5)
        other = self.put(cache, "u3", "e1", limit=5)
        assert cache.invalidate_users(["u1", "u2", "u1", "nobody"]) == 3
        for request in mine:
            assert cache.get("u1", request, DIGEST) is None
        assert cache.get("u2", theirs, DIGEST) is None
        assert self.level(cache, "u3", other) == "l1"
        assert cache.invalidate_users([]) == 0

    def test_invalidate_event_drops_the_entries_listing_it(self, make_cache: CacheFactory) -> None:
        cache = make_cache()
        first = self.put(cache, "u1", "e1", "e2")
        second = self.put(cache, "u2", "e2")
        third = self.put(cache, "u3", "e3")
        assert cache.invalidate_event("e2") == 2
        assert cache.get("u1", first, DIGEST) is None
        assert cache.get("u2", second, DIGEST) is None
        assert self.level(cache, "u3", third) == "l1"
        assert cache.invalidate_event("e2") == 0

    def test_clear_drops_everything(self, make_cache: CacheFactory) -> None:
        cache = make_cache()
        requests = {user: self.put(cache, user, "e1") for user in ("u1", "u2")}
        cache.clear()
        assert all(cache.get(user, request, DIGEST) is None for user, request in requests.items())
        assert cache.stats()["l1_entries"] == 0

    def test_warm_fills_the_cache_and_skips_failures(self, make_cache: CacheFactory) -> None:
        cache = make_cache()

        def compute(user_id: str) -> tuple[RecommendationRequest, dict[str, Any], list[str]]:
            if user_id == "u2":
                raise RuntimeError("no profile")
            return make_request(user_id), value_for(user_id, "e1"), ["e1"]

        assert cache.warm(["u1", "u2", "u3"], compute, digest=DIGEST) == 2
        assert self.level(cache, "u1", make_request("u1")) == "l1"
        assert self.level(cache, "u3", make_request("u3")) == "l1"
        assert cache.get("u2", make_request("u2"), DIGEST) is None
        assert cache.invalidate_event("e1") == 2
        assert cache.stats()["errors"]["warm"] == 1

    def test_stats_count_hits_misses_and_invalidations(self, make_cache: CacheFactory) -> None:
        cache = make_cache()
        request = self.put(cache, "u1", "e1")
        cache.get("u1", request, DIGEST)
        cache.get("u1", make_request("u1", limit=3), DIGEST)
        cache.invalidate_user("u1")
        cache.invalidate_event("e1")
        stats = cache.stats()
        assert stats["enabled"] is True
        assert (stats["hits"]["l1"], stats["misses"]["l1"], stats["sets"]) == (1, 1, 1)
        assert stats["invalidations"]["local"] == {"user": 1, "event": 1, "clear": 0}
        assert sum(stats["errors"].values()) == 0

    def test_bad_arguments_are_refused(self, make_cache: CacheFactory) -> None:
        cache = make_cache()
        request = make_request("u1")
        with pytest.raises(TypeError, match="not one string"):
            cache.set("u1", request, DIGEST, {}, "e1")
        with pytest.raises(TypeError):
            cache.set("u1", request, DIGEST, {"when": object()}, ["e1"])
        with pytest.raises(ValueError, match="differs"):
            cache.set("u2", request, DIGEST, {}, ["e1"])
        with pytest.raises(ValueError, match="digest"):
            cache.get("u1", request, "")

    def test_metrics_go_to_the_registry_given(self, make_cache: CacheFactory) -> None:
        registry = CollectorRegistry()
        cache = make_cache(registry=registry)
        request = self.put(cache, "u1", "e1")
        cache.get("u1", request, DIGEST)
        assert registry.get_sample_value("scenescout_cache_hits_total", {"level": "l1"}) == 1
        assert registry.get_sample_value("scenescout_cache_get_seconds_count", {"outcome": "l1"})
        assert registry.get_sample_value("scenescout_cache_set_seconds_count") == 1
        with pytest.raises(ValueError, match="Duplicated timeseries"):
            make_cache(registry=registry)


class TestLocalOnly(CacheContract):
    beyond_l1 = None

    @pytest.fixture
    def make_cache(self, clock: FakeClock, open_caches: list[RecommendationCache]) -> CacheFactory:
        def make(registry: CollectorRegistry | None = None, **config: Any) -> RecommendationCache:
            cache = RecommendationCache(CacheConfig(**config), registry=registry, clock=clock)
            open_caches.append(cache)
            return cache

        return make

    def test_open_cache_without_redis_is_l1_only(self) -> None:
        with open_cache(CacheConfig()) as cache:
            assert isinstance(cache, RecommendationCache)
            assert cache.stats()["l2"] == "disabled"


@pytest.mark.redis
class TestTwoLevel(CacheContract):
    beyond_l1 = "l2"

    @pytest.fixture(params=["pattern", "tag", "hybrid"])
    def make_cache(self, request: pytest.FixtureRequest, make_l2_cache: CacheFactory) -> Any:
        return functools.partial(make_l2_cache, invalidation_strategy=request.param)


class TestNullCache(BackendContract):
    @pytest.fixture
    def make_cache(self) -> Any:
        return NullCache

    def test_open_cache_when_disabled_is_null(self) -> None:
        assert isinstance(open_cache(CacheConfig(enabled=False), "redis://nowhere:1"), NullCache)

    def test_it_never_computes_nor_hits(self) -> None:
        cache = NullCache()

        def compute(user_id: str) -> Any:
            raise AssertionError("compute called")

        assert cache.warm(["u1"], compute, digest=DIGEST) == 0
        cache.set("u1", make_request("u1"), DIGEST, value_for("u1"), ["e1"])
        assert cache.get("u1", make_request("u1"), DIGEST) is None
        assert cache.stats() == {"enabled": False}
