"""Re-ranking (diversity, caps, novelty injection) and explanations of recommendations."""

from scenescout.ranking.diversity import Selection, rerank, select, serendipity
from scenescout.ranking.explain import (
    COMPONENTS,
    NOVELTY,
    REASONS,
    Explanation,
    Reason,
    confidence,
    explain,
)

__all__ = [
    "COMPONENTS",
    "NOVELTY",
    "REASONS",
    "Explanation",
    "Reason",
    "Selection",
    "confidence",
    "explain",
    "rerank",
    "select",
    "serendipity",
]
