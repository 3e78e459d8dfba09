"""RecommendationCache: L1 in-process LRU+TTL, L2 Redis, invalidation, warming, metrics."""

from scenescout.cache.keys import (
    INVALIDATION_CHANNEL,
    entry_key,
    normalized_request,
    request_hash,
)
from scenescout.cache.metrics import CacheMetrics
from scenescout.cache.recommendation_cache import (
    CacheBackend,
    CachedResult,
    CacheLevel,
    Invalidation,
    InvalidationKind,
    NullCache,
    RecommendationCache,
    WarmCompute,
    open_cache,
)
from scenescout.cache.redis_store import InvalidationStrategy

__all__ = [
    "INVALIDATION_CHANNEL",
    "CacheBackend",
    "CacheLevel",
    "CacheMetrics",
    "CachedResult",
    "Invalidation",
    "InvalidationKind",
    "InvalidationStrategy",
    "NullCache",
    "RecommendationCache",
    "WarmCompute",
    "entry_key",
    "normalized_request",
    "open_cache",
    "request_hash",
]
