"""One algorithm per module behind the :class:`~.base.Recommender` protocol."""

from scenescout.recommenders.base import (
    NotFittedError,
    Recommender,
    RecommenderConfig,
    ScoreArray,
    ScoringContext,
    TrainingData,
)
from scenescout.recommenders.collaborative import (
    CollaborativeRecommender,
    CollaborativeRecommenderConfig,
)
from scenescout.recommenders.content import ContentRecommender, ContentRecommenderConfig
from scenescout.recommenders.factorization import (
    FactorizationRecommender,
    FactorizationRecommenderConfig,
)
from scenescout.recommenders.hybrid import (
    COMPONENTS,
    Blend,
    HybridConfig,
    HybridRecommender,
    normalize_scores,
)
from scenescout.recommenders.item_knn import ItemKnnRecommender, ItemKnnRecommenderConfig
from scenescout.recommenders.location import (
    LocationRecommender,
    LocationRecommenderConfig,
    distance_decay,
)
from scenescout.recommenders.presets import DEFAULT_CONFIG, PRESETS, get_preset
from scenescout.recommenders.registry import RECOMMENDERS, create, recommender_class
from scenescout.recommenders.trending import TrendingRecommender, TrendingRecommenderConfig

__all__ = [
    "COMPONENTS",
    "DEFAULT_CONFIG",
    "PRESETS",
    "RECOMMENDERS",
    "Blend",
    "CollaborativeRecommender",
    "CollaborativeRecommenderConfig",
    "ContentRecommender",
    "ContentRecommenderConfig",
    "FactorizationRecommender",
    "FactorizationRecommenderConfig",
    "HybridConfig",
    "HybridRecommender",
    "ItemKnnRecommender",
    "ItemKnnRecommenderConfig",
    "LocationRecommender",
    "LocationRecommenderConfig",
    "NotFittedError",
    "Recommender",
    "RecommenderConfig",
    "ScoreArray",
    "ScoringContext",
    "TrainingData",
    "TrendingRecommender",
    "TrendingRecommenderConfig",
    "create",
    "distance_decay",
    "get_preset",
    "normalize_scores",
    "recommender_class",
]
