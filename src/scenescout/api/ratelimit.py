"""In-memory token buckets, one per API key or user (per process)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

_MAX_BUCKETS = 100_000  # beyond this many callers, buckets that have refilled are dropped


@dataclass
class _Bucket:
    tokens: float
    updated_s: float


class RateLimiter:
    """A token bucket per key: ``rate_per_second`` tokens refill up to ``burst``.

    Parameters
    ----------
    rate_per_second
        Sustained requests per second per key; ``0`` allows everything.
    burst
        Requests a key may make at once after being idle.
    clock
        Monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        rate_per_second: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate_per_second = rate_per_second
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float | None:
        """Take one token for ``key``.

        Returns
        -------
        float or None
            ``None`` when the request may proceed; otherwise the seconds until a token is
            available (the ``Retry-After``).
        """
        if self.rate_per_second <= 0.0:
            return None
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= _MAX_BUCKETS:
                    self._drop_refilled(now)
                bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            bucket.tokens = min(
                float(self.burst),
                bucket.tokens + (now - bucket.updated_s) * self.rate_per_second,
            )
            bucket.updated_s = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return None
            return (1.0 - bucket.tokens) / self.rate_per_second

    def _drop_refilled(self, now: float) -> None:
        refill_s = self.burst / self.rate_per_second
        self._buckets = {
            key: bucket
            for key, bucket in self._buckets.items()
            if now - bucket.updated_s < refill_s
        }
