"""Collaborative filtering: user-user and item-item neighbourhoods over implicit feedback.

Learned in ``fit`` from the positive confidence matrix ``R`` (users x events, summed
interaction weights, view 1 ... purchase 8; pairs with negative feedback are left out):

* item-item: cosine similarity of the events' user columns, the ``neighbors_per_item``
  best at or above ``similarity_threshold`` per event;
* user-user: cosine similarity of the users' rows, the ``neighbors_per_user`` best at or
  above ``similarity_threshold`` per user.

For a user ``u`` with history weights ``w`` (their confidences, summing to 1) the score of a
trained event ``j`` is ``b * uu(j) + (1 - b) * ii(j)`` with ``b = user_user_weight``:

* ``ii(j) = sum_i w_i * sim(i, j)``: how similar ``j`` is to what ``u`` engaged with;
* ``uu(j) = sum_v s_uv * R[v, j] / max(R[v]) / sum_v s_uv``: how strongly ``u``'s
  neighbours engaged with ``j``.

Both are in [0, 1]; when ``u`` has no neighbour, the score is ``ii`` alone. Events are
always new, so a candidate without interactions is mapped to its ``content_neighbors``
nearest trained events of its category by content (category, tags, venue, place, price;
cosine at least ``content_similarity_threshold``) and scores the similarity-weighted mean
of theirs. Neighbours are computed once per event and kept (``prepare_events`` warms them).

The score is ``NaN`` when the user has fewer than ``min_interactions`` distinct positively
engaged events, or when nothing reaches the candidate (all its events score 0).
``partial_update`` adds a new positive interaction to the user's history at once (through
the event's content neighbours when the event is new); neighbourhoods change at refit.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from pydantic import Field
from sklearn.preprocessing import normalize

from scenescout.config import CollaborativeFilteringConfig
from scenescout.domain import Interaction
from scenescout.frames import EventFrame
from scenescout.recommenders._events import EventMemo, EventValues, intern_event_ids
from scenescout.recommenders._features import (
    EventFeaturizer,
    InteractionMatrix,
    single_confidence,
    top_k_per_row,
)
from scenescout.recommenders.base import (
    Recommender,
    RecommenderConfig,
    ScoreArray,
    ScoringContext,
    TrainingData,
    attributes_holding,
)

_SIMILARITY_CHUNK_CELLS = 4_000_000
"""Rows of a similarity product are computed in chunks of about this many dense cells."""


class CollaborativeRecommenderConfig(CollaborativeFilteringConfig, RecommenderConfig):
    """The seed's ``collaborative_filtering`` section plus neighbourhood sizes."""

    user_user_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    neighbors_per_user: int = Field(default=50, ge=1)
    neighbors_per_item: int = Field(default=50, ge=1)
    content_neighbors: int = Field(default=10, ge=1)
    content_similarity_threshold: float = Field(default=0.5, ge=0.0, le=1.0)


def nearest_rows(
    queries: sp.csr_matrix, base_t: sp.csr_matrix, k: int, min_similarity: float
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
    """For each row of ``queries``, the ``k`` columns of ``base_t`` with the largest dot
    product at or above ``min_similarity``, best first.

    Returns padded ``(columns, values)`` arrays of shape ``(n_queries, k)`` (padding:
    column -1, value 0). Content vectors share broad features (a category), so similarity
    rows are dense: they are ranked dense, in chunks that keep memory bounded.
    """
    n_queries, n_base = queries.shape[0], base_t.shape[1]
    columns = np.full((n_queries, k), -1, dtype=np.int32)
    values = np.zeros((n_queries, k), dtype=np.float32)
    kept = min(k, n_base)
    chunk = max(1, _SIMILARITY_CHUNK_CELLS // max(n_base, 1))
    for start in range(0, n_queries if kept else 0, chunk):
        similarity = sp.csr_matrix(queries[start : start + chunk] @ base_t).toarray()
        top = np.argpartition(-similarity, kept - 1, axis=1)[:, :kept]
        top_values = np.take_along_axis(similarity, top, axis=1)
        order = np.argsort(-top_values, axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        top_values = np.take_along_axis(top_values, order, axis=1)
        keep = top_values >= min_similarity
        stop = start + top.shape[0]
        columns[start:stop, :kept] = np.where(keep, top, -1)
        values[start:stop, :kept] = np.where(keep, top_values, 0.0)
    return columns, values


def _neighbourhood(
    vectors: sp.csr_matrix, k: int, threshold: float
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Top-k cosine neighbours of every row among the others (itself excluded).

    Interaction rows are sparse, so the similarity rows are too: ranked sparse, in chunks.
    """
    unit = sp.csr_matrix(normalize(vectors) if vectors.shape[0] else vectors)
    unit_t = sp.csr_matrix(unit.T)
    chunk = max(1, _SIMILARITY_CHUNK_CELLS // max(unit.shape[0], 1))
    parts = [
        top_k_per_row(unit[start : start + chunk] @ unit_t, k + 1, max(threshold, 1e-9))
        for start in range(0, unit.shape[0], chunk)
    ]
    columns = np.vstack([p[0] for p in parts]) if parts else np.zeros((0, k + 1), np.int64)
    values = np.vstack([p[1] for p in parts]) if parts else np.zeros((0, k + 1), np.float32)
    self_match = columns == np.arange(columns.shape[0])[:, None]
    values[self_match] = 0.0
    columns[self_match] = -1
    order = np.argsort(-values, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(columns, order, 1), np.take_along_axis(values, order, 1)


def _weighted_rows(
    matrix: sp.csr_matrix, rows: npt.NDArray[np.int64], weights: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The entries of ``sum_r weights[r] * matrix[rows[r]]`` as (columns, values) pairs,
    columns repeated where rows overlap."""
    starts = matrix.indptr[rows]
    lengths = matrix.indptr[rows + 1] - starts
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    positions = offsets + np.arange(offsets.shape[0])
    return matrix.indices[positions], matrix.data[positions] * np.repeat(weights, lengths)


class CollaborativeRecommender(Recommender):
    """User-user and item-item collaborative filtering, reaching new events via content.

    Attributes
    ----------
    matrix_ : InteractionMatrix
        The training interactions (users x trained events).
    item_ids_ : numpy.ndarray
        Ids of the trained events, in column order.
    item_similarity_ : scipy.sparse.csr_matrix
        Trained events x trained events, each row its best neighbours.
    user_neighbors_, user_similarity_ : numpy.ndarray
        Per user row, neighbour rows (-1 padded) and their cosine similarity.
    neighbors_ : EventMemo
        Per event, the trained columns that stand for it and their weights.
    """

    name = "collaborative_filtering"
    config_class = CollaborativeRecommenderConfig
    config: CollaborativeRecommenderConfig

    def _fit(self, data: TrainingData) -> None:
        config = self.config
        matrix = InteractionMatrix.from_log(data.interactions)
        self.matrix_ = matrix
        positive = matrix.positive
        self.item_similarity_ = self._item_similarity(positive)
        self.user_neighbors_, self.user_similarity_ = _neighbourhood(
            positive, config.neighbors_per_user, config.similarity_threshold
        )
        row_max = positive.max(axis=1).toarray().ravel() if positive.shape[0] else np.zeros(0)
        scale = np.divide(1.0, row_max, out=np.zeros_like(row_max), where=row_max > 0)
        self.engagement_ = sp.csr_matrix(positive.multiply(scale[:, None]), dtype=np.float32)
        self.featurizer_ = EventFeaturizer().fit(data.events)
        trained = data.events.take(matrix.item_positions(data.events))
        self.item_ids_ = trained.ids
        features_t = sp.csr_matrix(self.featurizer_.transform(trained).T)
        categories = self.featurizer_.category_columns(trained)
        # Content neighbours are searched among the events of the same category.
        self.items_by_category_ = {-1: (np.arange(len(trained)), features_t)}
        for category in np.unique(categories[categories >= 0]).tolist():
            items = np.flatnonzero(categories == category)
            self.items_by_category_[category] = (items, sp.csr_matrix(features_t[:, items]))
        self.neighbors_ = EventMemo(self._event_neighbors)
        self.recent_: dict[str, dict[int, float]] = defaultdict(dict)

    def _item_similarity(self, positive: sp.csr_matrix) -> sp.csr_matrix:
        columns, values = _neighbourhood(
            sp.csr_matrix(positive.T),
            self.config.neighbors_per_item,
            self.config.similarity_threshold,
        )
        n_items = positive.shape[1]
        rows = np.repeat(np.arange(n_items), columns.shape[1])
        keep = columns.ravel() >= 0
        return sp.csr_matrix(
            (values.ravel()[keep], (rows[keep], columns.ravel()[keep])), shape=(n_items, n_items)
        )

    def _event_neighbors(self, events: EventFrame) -> EventValues:
        """Trained events stand for themselves; new ones for their content neighbours among
        the trained events of their category (of all trained events when it has none)."""
        k = self.config.content_neighbors
        columns = np.full((len(events), k), -1, dtype=np.int32)
        weights = np.zeros((len(events), k), dtype=np.float32)
        own = self.matrix_.items.lookup(intern_event_ids(events.ids))
        trained = own >= 0
        columns[trained, 0] = own[trained]
        weights[trained, 0] = 1.0
        cold = np.flatnonzero(~trained)
        if cold.size == 0:
            return columns, weights
        cold_events = events.take(cold)
        features = self.featurizer_.transform(cold_events)
        categories = self.featurizer_.category_columns(cold_events)
        for category in np.unique(categories).tolist():
            queries = np.flatnonzero(categories == category)
            items, items_t = self.items_by_category_.get(category, self.items_by_category_[-1])
            found, similarity = nearest_rows(
                features[queries], items_t, k, self.config.content_similarity_threshold
            )
            # Padding column -1 reads the appended -1.
            columns[cold[queries]] = np.append(items, -1)[found]
            weights[cold[queries]] = similarity
        return columns, weights

    def _prepare_events(self, events: EventFrame) -> None:
        self.neighbors_.get(events)

    def partial_update(self, interaction: Interaction, event: EventFrame | None = None) -> None:
        """Add a positive interaction to the user's history (negatives change nothing).

        A new event enters through its content neighbours, which needs ``event`` the first
        time the recommender sees it; without it the interaction is skipped.
        """
        self._require_fitted()
        confidence = single_confidence(interaction)
        if confidence <= 0.0:
            return
        if event is None:
            key = intern_event_ids(np.array([interaction.event_id], dtype=object))
            column = self.matrix_.items.lookup(key)
            if column[0] < 0:
                return
            columns, weights = column[:, None], np.ones((1, 1), dtype=np.float32)
        else:
            columns, weights = self.neighbors_.get(event)
        total = float(weights[0].sum())
        recent = self.recent_[interaction.user_id]
        for column, weight in zip(columns[0].tolist(), weights[0].tolist(), strict=True):
            if column >= 0 and weight > 0.0:
                recent[column] = recent.get(column, 0.0) + confidence * weight / total

    def _history(self, user_id: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """The user's positively engaged trained events and their summed confidence."""
        row = self.matrix_.user_rows.get(user_id)
        columns: list[int] = []
        values: list[float] = []
        if row is not None:
            start, stop = self.matrix_.positive.indptr[row : row + 2]
            columns = self.matrix_.positive.indices[start:stop].tolist()
            values = self.matrix_.positive.data[start:stop].tolist()
        recent = list(self.recent_.get(user_id, {}).items())
        all_columns = np.array(columns + [column for column, _ in recent], dtype=np.int64)
        all_values = np.array(values + [value for _, value in recent], dtype=np.float64)
        unique, inverse = np.unique(all_columns, return_inverse=True)
        summed = np.bincount(inverse, weights=all_values, minlength=unique.shape[0])
        return unique, summed.astype(np.float64, copy=False)

    def _item_scores(self, user_id: str) -> ScoreArray | None:
        """The blended user-user/item-item score of every trained event for ``user_id``,
        plus a trailing 0 that padding column -1 reads; ``None`` below ``min_interactions``."""
        columns, confidence = self._history(user_id)
        if columns.shape[0] < max(self.config.min_interactions, 1):
            return None
        row = self.matrix_.user_rows.get(user_id)
        neighbors = self.user_neighbors_[row] if row is not None else np.zeros(0, np.int64)
        valid = neighbors >= 0
        share = self.config.user_user_weight if valid.any() else 0.0
        entries = [
            _weighted_rows(
                self.item_similarity_, columns, (1.0 - share) * confidence / confidence.sum()
            )
        ]
        if share > 0.0 and row is not None:
            similarity = self.user_similarity_[row][valid].astype(np.float64)
            entries.append(
                _weighted_rows(
                    self.engagement_, neighbors[valid], share * similarity / similarity.sum()
                )
            )
        items = np.concatenate([e[0] for e in entries])
        values = np.concatenate([e[1] for e in entries])
        scores = np.bincount(items, weights=values, minlength=self.item_similarity_.shape[0] + 1)
        return scores.astype(np.float64, copy=False)

    def _score(self, context: ScoringContext) -> ScoreArray:
        n = len(context.candidates)
        items = self._item_scores(context.user_id)
        if items is None:
            return np.full(n, np.nan)
        columns, weights = self.neighbors_.get(context.candidates)
        reached = (items[columns] * weights).sum(axis=1)
        total = weights.sum(axis=1, dtype=np.float64)
        scores = np.divide(reached, total, out=np.zeros(n), where=total > 0)
        return np.where(scores > 0.0, scores, np.nan)

    def holds_user(self, user_id: str) -> list[str]:
        """``matrix_`` for a trained user (their row, engagement and neighbourhood links),
        ``recent_`` for post-fit history."""
        self._require_fitted()
        return attributes_holding(
            user_id, {"matrix_": self.matrix_.user_rows, "recent_": self.recent_}
        )

    def forget_user(self, user_id: str) -> list[str]:
        """Empty the user's rows of the matrix and of ``engagement_`` (which neighbours
        read), drop their neighbourhood and their place in other users' neighbourhoods, and
        their post-fit history."""
        held = self.holds_user(user_id)
        self.recent_.pop(user_id, None)
        row = erase_user_row(self.matrix_, user_id)
        if row is not None:
            self.engagement_ = _without_row(self.engagement_, row)
            neighbors = self.user_neighbors_.copy()
            similarity = self.user_similarity_.copy()
            linked = neighbors == row
            linked[row] = True
            neighbors[linked] = -1
            similarity[linked] = 0.0
            self.user_neighbors_, self.user_similarity_ = neighbors, similarity
        return held


def _without_row(matrix: sp.csr_matrix, row: int) -> sp.csr_matrix:
    """A copy of ``matrix`` with row ``row`` empty (values and structure)."""
    copy = sp.csr_matrix(matrix, copy=True)
    start, stop = copy.indptr[row : row + 2]
    copy.data[start:stop] = 0
    copy.eliminate_zeros()
    return copy


def erase_user_row(matrix: InteractionMatrix, user_id: str) -> int | None:
    """Empty the user's row of a fitted interaction matrix (copy on write, so a concurrent
    reader keeps a consistent matrix) and unmap it; the row, or ``None`` for a stranger."""
    row = matrix.user_rows.pop(user_id, None)
    if row is None:
        return None
    matrix.signed = _without_row(matrix.signed, row)
    matrix.positive = _without_row(matrix.positive, row)
    matrix.user_ids[row] = ""
    return row
