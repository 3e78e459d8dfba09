"""Item-kNN: events like those the user engaged with, by BM25-weighted co-visits.

``fit`` takes the users x events matrix of summed positive confidence (view 1 ... purchase 8
times the interaction's own weight, e.g. a check-in count), weights it by BM25 over the
users (``bm25_k1``, ``bm25_b``: a visit by a user with many places, or to an event everyone
visits, says less) and keeps, per event, its ``neighbours`` most similar events by the dot
product of their weighted columns (``implicit``'s
:class:`~implicit.nearest_neighbours.BM25Recommender`). With ``c_j`` the user's confidence
in event ``j`` and ``s_ji`` the similarity kept from ``j`` to ``i``, the score of event ``i``
is::

    sum_j c_j s_ji        (>= 0, not bounded)

It is 0 for an event no engaged event is similar to (every event new since fit) and ``NaN``
for a user with no interaction, fitted or since. It is the score the ``item_knn_bm25`` peer
baseline of :mod:`scenescout.evaluation.baselines` ranks by.

``partial_update`` adds a positive interaction's confidence to the user's row at once; an
event unknown at fit time has no neighbours and adds nothing to the scores. Negative
feedback changes nothing.

The ``places`` preset blends it (:mod:`scenescout.recommenders.presets`): on Foursquare
Singapore it adds to matrix factorization what low-rank factors smooth away, the
neighbourhoods of individual places. Off by default.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
from implicit.nearest_neighbours import BM25Recommender
from implicit.utils import ParameterWarning

from scenescout.config import ItemKnnConfig
from scenescout.domain import Interaction
from scenescout.frames import EventFrame
from scenescout.recommenders._events import intern_event_ids
from scenescout.recommenders._features import InteractionMatrix, single_confidence
from scenescout.recommenders.base import (
    Recommender,
    RecommenderConfig,
    ScoreArray,
    ScoringContext,
    TrainingData,
    attributes_holding,
)
from scenescout.recommenders.collaborative import erase_user_row


class ItemKnnRecommenderConfig(ItemKnnConfig, RecommenderConfig):
    """The ``item_knn`` section: ``neighbours`` kept per event and the BM25 weighting."""


class ItemKnnRecommender(Recommender):
    """BM25 item-kNN with real-time user rows.

    Attributes
    ----------
    matrix_ : InteractionMatrix
        The fitted users x events confidence matrix (its ``positive`` part is read).
    similarity_ : scipy.sparse.csr_matrix
        Events x events: row ``j`` holds the kept similarities from event ``j``.
    recent_ : dict[str, dict[int, float]]
        Per user, positive confidence learned since fit, by interned event key.
    """

    name = "item_knn"
    config_class = ItemKnnRecommenderConfig
    config: ItemKnnRecommenderConfig

    def _fit(self, data: TrainingData) -> None:
        matrix = InteractionMatrix.from_log(data.interactions)
        n_items = matrix.positive.shape[1]
        similarity = sp.csr_matrix((n_items, n_items), dtype=np.float64)
        if matrix.positive.nnz:
            model = BM25Recommender(
                K=self.config.neighbours,
                K1=self.config.bm25_k1,
                B=self.config.bm25_b,
                num_threads=1,
            )
            with warnings.catch_warnings():
                # implicit's own weighting hands its kNN a COO matrix, then warns about it.
                warnings.simplefilter("ignore", ParameterWarning)
                model.fit(sp.csr_matrix(matrix.positive), show_progress=False)
            similarity = sp.csr_matrix(model.similarity, dtype=np.float64)
        self.matrix_ = matrix
        self.similarity_ = similarity
        self.recent_: dict[str, dict[int, float]] = {}

    def partial_update(self, interaction: Interaction, event: EventFrame | None = None) -> None:
        """Add a positive interaction's confidence to the user's row (negatives: nothing)."""
        self._require_fitted()
        confidence = single_confidence(interaction)
        if confidence <= 0.0:
            return
        key = int(intern_event_ids(np.array([interaction.event_id], dtype=object))[0])
        recent = dict(self.recent_.get(interaction.user_id, {}))
        recent[key] = recent.get(key, 0.0) + confidence
        # A new dict, published at once: a concurrent score() sees the old or the new row.
        self.recent_[interaction.user_id] = recent

    def _user_row(self, user_id: str) -> sp.csr_matrix | None:
        """The user's confidence over the fitted events; ``None`` for a stranger."""
        matrix = self.matrix_
        row = matrix.user_rows.get(user_id)
        recent = self.recent_.get(user_id)
        if row is None and recent is None:
            return None
        n_items = matrix.positive.shape[1]
        vector = (
            sp.csr_matrix(matrix.positive[row], dtype=np.float64)
            if row is not None
            else sp.csr_matrix((1, n_items), dtype=np.float64)
        )
        if recent:
            columns = matrix.items.lookup(np.fromiter(recent, dtype=np.int64, count=len(recent)))
            known = columns >= 0
            values = np.fromiter(recent.values(), dtype=np.float64, count=len(recent))
            vector = vector + sp.csr_matrix(
                (values[known], (np.zeros(int(known.sum()), dtype=np.int64), columns[known])),
                shape=(1, n_items),
            )
        return vector

    def _score(self, context: ScoringContext) -> ScoreArray:
        candidates = context.candidates
        vector = self._user_row(context.user_id)
        if vector is None:
            return np.full(len(candidates), np.nan)
        scores = np.zeros(len(candidates))
        columns = self.matrix_.items.lookup(intern_event_ids(candidates.ids))
        known = columns >= 0
        if known.any():
            reached = np.asarray((vector @ self.similarity_).toarray()).ravel()
            scores[known] = reached[columns[known]]
        return scores

    def holds_user(self, user_id: str) -> list[str]:
        """``matrix_`` for a fitted user, ``recent_`` for post-fit history."""
        self._require_fitted()
        return attributes_holding(
            user_id, {"matrix_": self.matrix_.user_rows, "recent_": self.recent_}
        )

    def forget_user(self, user_id: str) -> list[str]:
        """Empty the user's fitted row and drop their post-fit history (the similarities
        they contributed to stay: they are about events, not about the user)."""
        held = self.holds_user(user_id)
        erase_user_row(self.matrix_, user_id)
        self.recent_.pop(user_id, None)
        return held
