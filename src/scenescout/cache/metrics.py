"""Prometheus metrics of one cache, and the ``stats()`` numbers read back from them."""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram

LEVELS: Final = ("l1", "l2")
INVALIDATION_KINDS: Final = ("user", "event", "clear")
ORIGINS: Final = ("local", "remote")
OPERATIONS: Final = ("get", "set", "invalidate", "recover", "subscribe", "warm")
LATENCY_BUCKETS_SECONDS: Final = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    1.0,
)
"""From 50 µs (an L1 hit) to 1 s; prometheus-client's default buckets start at 5 ms."""


class CacheMetrics:
    """Counters and histograms of one cache, registered in ``registry``.

    A registry holds one cache's metrics: registering a second cache in the same registry
    raises ``ValueError`` (duplicated timeseries).

    Attributes
    ----------
    hits, misses
        Lookups by ``level``. A get that misses L1 and hits L2 counts one L1 miss and one L2 hit;
        L2 misses count only lookups that reached Redis.
    sets
        Values stored.
    invalidations
        By ``kind`` (user, event, clear) and ``origin`` (``local`` call or ``remote`` message).
    errors
        Failed Redis operations, malformed messages and failed warm-ups, by ``operation``.
    get_seconds
        Latency of ``get`` by ``outcome`` (``l1``, ``l2``, ``miss``).
    set_seconds
        Latency of ``set``.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.hits = Counter(
            "scenescout_cache_hits", "Cache hits by level.", ["level"], registry=registry
        )
        self.misses = Counter(
            "scenescout_cache_misses", "Cache misses by level.", ["level"], registry=registry
        )
        self.sets = Counter("scenescout_cache_sets", "Values stored.", registry=registry)
        self.invalidations = Counter(
            "scenescout_cache_invalidations",
            "Invalidations by kind and origin.",
            ["kind", "origin"],
            registry=registry,
        )
        self.errors = Counter(
            "scenescout_cache_errors",
            "Failed Redis operations by operation.",
            ["operation"],
            registry=registry,
        )
        self.get_seconds = Histogram(
            "scenescout_cache_get_seconds",
            "Latency of get by outcome.",
            ["outcome"],
            buckets=LATENCY_BUCKETS_SECONDS,
            registry=registry,
        )
        self.set_seconds = Histogram(
            "scenescout_cache_set_seconds",
            "Latency of set.",
            buckets=LATENCY_BUCKETS_SECONDS,
            registry=registry,
        )
        for level in LEVELS:
            self.hits.labels(level)
            self.misses.labels(level)
        for kind in INVALIDATION_KINDS:
            for origin in ORIGINS:
                self.invalidations.labels(kind, origin)
        for operation in OPERATIONS:
            self.errors.labels(operation)

    def snapshot(self) -> dict[str, object]:
        """Counter totals as plain ints: ``hits`` and ``misses`` by level, ``sets``,
        ``invalidations`` by origin then kind, ``errors`` by operation."""
        invalidations: dict[str, dict[str, int]] = {origin: {} for origin in ORIGINS}
        for labels, value in _totals(self.invalidations):
            invalidations[labels["origin"]][labels["kind"]] = value
        return {
            "hits": {labels["level"]: value for labels, value in _totals(self.hits)},
            "misses": {labels["level"]: value for labels, value in _totals(self.misses)},
            "sets": sum(value for _, value in _totals(self.sets)),
            "invalidations": invalidations,
            "errors": {labels["operation"]: value for labels, value in _totals(self.errors)},
        }


def _totals(counter: Counter) -> list[tuple[dict[str, str], int]]:
    return [
        (sample.labels, int(sample.value))
        for metric in counter.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    ]
