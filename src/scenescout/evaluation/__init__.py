"""Offline evaluation: train/test splits, relevance labels and ranking metrics."""

from scenescout.evaluation.metrics import (
    ItemCategory,
    average_precision_at_k,
    catalog_coverage,
    evaluate_rankings,
    hit_rate_at_k,
    intra_list_diversity,
    ndcg_at_k,
    novelty,
    precision_at_k,
    recall_at_k,
)
from scenescout.evaluation.splits import (
    UpcomingSplit,
    drift_split,
    random_split,
    relevant_items,
    temporal_cut,
    temporal_split,
    upcoming_only_split,
)

__all__ = [
    "ItemCategory",
    "UpcomingSplit",
    "average_precision_at_k",
    "catalog_coverage",
    "drift_split",
    "evaluate_rankings",
    "hit_rate_at_k",
    "intra_list_diversity",
    "ndcg_at_k",
    "novelty",
    "precision_at_k",
    "random_split",
    "recall_at_k",
    "relevant_items",
    "temporal_cut",
    "temporal_split",
    "upcoming_only_split",
]
