"""The read and write paths: :class:`PersonalizationEngine`."""

from scenescout.engine.engine import (
    COLD_START,
    DEFAULT_MAX_SCORED_CANDIDATES,
    EXCLUDING_TYPES,
    POPULAR_NEARBY,
    LearnResult,
    PersonalizationEngine,
    Ranking,
    SimilarEvent,
)
from scenescout.engine.loading import StoredTrainingData, load_training_data

__all__ = [
    "COLD_START",
    "DEFAULT_MAX_SCORED_CANDIDATES",
    "EXCLUDING_TYPES",
    "POPULAR_NEARBY",
    "LearnResult",
    "PersonalizationEngine",
    "Ranking",
    "SimilarEvent",
    "StoredTrainingData",
    "load_training_data",
]
