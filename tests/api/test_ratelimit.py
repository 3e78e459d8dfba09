"""The token bucket, on a clock the test moves."""

from __future__ import annotations

import pytest

from scenescout.api.ratelimit import RateLimiter


class _Clock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def test_a_burst_is_allowed_then_requests_wait_for_refill() -> None:
    clock = _Clock()
    limiter = RateLimiter(rate_per_second=2.0, burst=3, clock=clock)

    assert [limiter.acquire("k") for _ in range(3)] == [None, None, None]
    assert limiter.acquire("k") == pytest.approx(0.5)
    clock.now_s += 0.5
    assert limiter.acquire("k") is None
    assert limiter.acquire("k") == pytest.approx(0.5)


def test_keys_have_their_own_buckets_and_never_exceed_the_burst() -> None:
    clock = _Clock()
    limiter = RateLimiter(rate_per_second=1.0, burst=2, clock=clock)
    limiter.acquire("a")
    limiter.acquire("a")

    assert limiter.acquire("b") is None
    clock.now_s += 1_000.0
    assert [limiter.acquire("a") for _ in range(3)][-1] == pytest.approx(1.0)


def test_a_zero_rate_allows_everything() -> None:
    limiter = RateLimiter(rate_per_second=0.0, burst=1)

    assert all(limiter.acquire("k") is None for _ in range(100))
