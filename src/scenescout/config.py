"""One settings tree: ``SCENESCOUT_*`` environment variables, algorithm config and presets.

Environment overrides use ``__`` between sections, e.g.
``SCENESCOUT_CACHE__TTL_SECONDS=600`` or ``SCENESCOUT_DATABASE_URL=postgresql+psycopg://...``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from scenescout.profiles.config import ProfileConfig

DEFAULT_DATABASE_URL = "sqlite:///data/scenescout.db"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CollaborativeFilteringConfig(_Section):
    enabled: bool = True
    weight: float = Field(default=0.3, ge=0.0)
    min_interactions: int = Field(default=5, ge=0)
    similarity_threshold: float = Field(default=0.2, ge=0.0, le=1.0)


class FeatureWeights(_Section):
    category: float = Field(default=0.4, ge=0.0)
    price: float = Field(default=0.3, ge=0.0)
    time: float = Field(default=0.2, ge=0.0)
    location: float = Field(default=0.1, ge=0.0)


class ContentBasedConfig(_Section):
    enabled: bool = True
    weight: float = Field(default=0.4, ge=0.0)
    feature_weights: FeatureWeights = Field(default_factory=FeatureWeights)


class LocationBasedConfig(_Section):
    """The seed's section plus the place density (not in the seed; see
    :mod:`scenescout.recommenders.location`). ``history_share = 0`` is the seed's
    behaviour: distance decay alone."""

    enabled: bool = True
    weight: float = Field(default=0.2, ge=0.0)
    max_distance_km: float = Field(default=50.0, gt=0.0)
    decay_function: Literal["exponential", "linear", "gaussian"] = "exponential"
    history_share: float = Field(default=0.5, ge=0.0, le=1.0)
    place_bandwidth_km: float = Field(default=0.1, gt=0.0)
    place_kernel: Literal["exponential", "linear", "gaussian"] = "exponential"
    density_exponent: float = Field(default=0.25, gt=0.0, le=1.0)
    max_places: int = Field(default=50, ge=1)


class TrendingConfig(_Section):
    enabled: bool = True
    weight: float = Field(default=0.1, ge=0.0)
    time_window_hours: float = Field(default=24.0, gt=0.0)
    min_interaction_count: int = Field(default=3, ge=0)


class MatrixFactorizationConfig(_Section):
    """Not in the seed's default config; off by default so the seed's defaults hold exactly."""

    enabled: bool = False
    weight: float = Field(default=0.0, ge=0.0)
    factors: int = Field(default=64, ge=1)
    regularization: float = Field(default=0.05, ge=0.0)
    alpha: float = Field(default=20.0, gt=0.0)
    iterations: int = Field(default=15, ge=1)


class ItemKnnConfig(_Section):
    """Item-kNN over BM25-weighted co-visits (see :mod:`scenescout.recommenders.item_knn`).
    Not in the seed's default config; off by default so the seed's defaults hold exactly."""

    enabled: bool = False
    weight: float = Field(default=0.0, ge=0.0)
    neighbours: int = Field(default=100, ge=1)
    bm25_k1: float = Field(default=1.2, gt=0.0)
    bm25_b: float = Field(default=0.75, ge=0.0, le=1.0)


class AlgorithmsConfig(_Section):
    collaborative_filtering: CollaborativeFilteringConfig = Field(
        default_factory=CollaborativeFilteringConfig
    )
    content_based: ContentBasedConfig = Field(default_factory=ContentBasedConfig)
    location_based: LocationBasedConfig = Field(default_factory=LocationBasedConfig)
    trending: TrendingConfig = Field(default_factory=TrendingConfig)
    matrix_factorization: MatrixFactorizationConfig = Field(
        default_factory=MatrixFactorizationConfig
    )
    item_knn: ItemKnnConfig = Field(default_factory=ItemKnnConfig)


class DiversityConfig(_Section):
    enable_diversity: bool = True
    diversity_lambda: float = Field(default=0.5, ge=0.0, le=1.0)
    max_same_category: int = Field(default=3, ge=1)
    max_same_venue: int = Field(default=2, ge=1)


class CacheConfig(_Section):
    enabled: bool = True
    ttl_seconds: int = Field(default=1800, ge=1)
    max_entries: int = Field(default=10_000, ge=1)
    invalidation_strategy: Literal["pattern", "tag", "hybrid"] = "hybrid"


class PersonalizationConfig(_Section):
    """The seed's ``personalizationConfig``; defaults are the seed's exact values."""

    algorithms: AlgorithmsConfig = Field(default_factory=AlgorithmsConfig)
    diversity: DiversityConfig = Field(default_factory=DiversityConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    profiles: ProfileConfig = Field(default_factory=ProfileConfig)


class Settings(BaseSettings):
    """Everything a SceneScout process needs to know, from the environment or arguments."""

    model_config = SettingsConfigDict(
        env_prefix="SCENESCOUT_", env_nested_delimiter="__", extra="ignore"
    )

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    models_dir: str = "data/models"
    personalization: PersonalizationConfig = Field(default_factory=PersonalizationConfig)
