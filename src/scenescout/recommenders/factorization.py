"""Matrix factorization: implicit-feedback ALS (``implicit``, CPU) with content cold start.

``fit`` factorizes the signed confidence matrix (summed interaction weights per user and
event, view 1 ... purchase 8; negative feedback as a negative value, which ``implicit``
reads as "disliked") with ``implicit``'s :class:`~implicit.cpu.als.AlternatingLeastSquares`,
confidence scaled by ``alpha``. The score is the dot product of the user's and the event's
factors (about 1 for a predicted like, about 0 for no interest; not clipped).

Events are always new, so a ridge regression (scikit-learn) from content features
(category, tags, venue, place, price band) to item factors, weighted by the events'
audience size, gives every event that was not trained a vector from its content.

``partial_update`` recomputes the user's vector at once by the closed-form least squares of
ALS over the user's whole history, with the fitted item factors and their Gramian. It is
written out here instead of calling ``recalculate_user`` because ``implicit`` only knows the
items it was fitted on, while the history of an event app's user is full of events newer
than the model: their content-predicted vectors take part too. For a history of trained
events only it equals ``recalculate_user`` (tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from implicit.cpu.als import AlternatingLeastSquares
from pydantic import Field
from sklearn.linear_model import Ridge
from threadpoolctl import threadpool_limits

from scenescout.config import MatrixFactorizationConfig
from scenescout.domain import Interaction
from scenescout.frames import EventFrame
from scenescout.recommenders._events import EventMemo, EventValues, grow_rows, intern_event_ids
from scenescout.recommenders._features import (
    EventFeaturizer,
    InteractionMatrix,
    single_confidence,
)
from scenescout.recommenders.base import (
    Recommender,
    RecommenderConfig,
    ScoreArray,
    ScoringContext,
    TrainingData,
    attributes_holding,
)
from scenescout.recommenders.collaborative import erase_user_row

Vector = npt.NDArray[np.float32]


class FactorizationRecommenderConfig(MatrixFactorizationConfig, RecommenderConfig):
    """The ``matrix_factorization`` section plus reproducibility and the content ridge."""

    random_state: int = 42
    num_threads: int = Field(default=1, ge=0)
    content_ridge_alpha: float = Field(default=1.0, gt=0.0)


@dataclass
class _Engagement:
    """A user's post-fit feedback on one event, with the event's item vector."""

    positive: float
    negative: float
    vector: Vector
    trained: bool

    @property
    def signed(self) -> float:
        return self.negative if self.negative < 0.0 else self.positive


class FactorizationRecommender(Recommender):
    """Implicit ALS with real-time user vectors and content-predicted vectors for new events.

    Attributes
    ----------
    model_ : implicit.cpu.als.AlternatingLeastSquares
        The fitted ``implicit`` model (its user factors are those of fit time).
    item_ids_ : numpy.ndarray
        Ids of the trained events, in the order of ``item_factors_``.
    item_factors_, user_factors_ : numpy.ndarray
        Factors of the trained events, and of the users (kept current by
        ``partial_update``; rows by ``user_rows_``, ``n_user_rows_`` of them ever used).
    content_model_ : sklearn.linear_model.Ridge or None
        Content features -> item factors; ``None`` when nothing was trained.
    """

    name = "matrix_factorization"
    config_class = FactorizationRecommenderConfig
    config: FactorizationRecommenderConfig

    def _fit(self, data: TrainingData) -> None:
        config = self.config
        matrix = InteractionMatrix.from_log(data.interactions)
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=config.factors,
                regularization=config.regularization,
                alpha=config.alpha,
                iterations=config.iterations,
                num_threads=config.num_threads,
                random_state=config.random_state,
            )
            model.fit(matrix.signed, show_progress=False)
        self.model_ = model
        self.matrix_ = matrix
        self.item_factors_: Vector = np.asarray(model.item_factors)
        self.gramian_ = self.item_factors_.T.astype(np.float64) @ self.item_factors_
        self.user_rows_ = dict(matrix.user_rows)
        self.n_user_rows_ = len(self.user_rows_)
        self.user_factors_: Vector = np.array(model.user_factors)
        self.featurizer_ = EventFeaturizer().fit(data.events)
        trained = data.events.take(matrix.item_positions(data.events))
        self.item_ids_ = trained.ids
        audience = np.diff(matrix.signed.tocsc().indptr)
        self.content_model_: Ridge | None = None
        if len(trained):
            self.content_model_ = Ridge(alpha=config.content_ridge_alpha).fit(
                self.featurizer_.transform(trained),
                self.item_factors_,
                sample_weight=np.log1p(audience),
            )
        self.vectors_ = EventMemo(self._event_vectors)
        self.recent_: dict[str, dict[int, _Engagement]] = {}

    def _event_vectors(self, events: EventFrame) -> EventValues:
        """Trained events keep their factors; the others get content-predicted ones (zero
        when nothing was trained)."""
        columns = self.matrix_.items.lookup(intern_event_ids(events.ids))
        vectors = np.zeros((len(events), self.config.factors), dtype=np.float32)
        trained = columns >= 0
        vectors[trained] = self.item_factors_[columns[trained]]
        cold = np.flatnonzero(~trained)
        if cold.size and self.content_model_ is not None:
            features = self.featurizer_.transform(events.take(cold))
            vectors[cold] = self.content_model_.predict(features)
        return (vectors,)

    def _prepare_events(self, events: EventFrame) -> None:
        self.vectors_.get(events)

    def item_vectors(self, events: EventFrame) -> Vector:
        """The factor vector of every event: trained, or predicted from its content."""
        self._require_fitted()
        return self.vectors_.get(events)[0]

    def user_vector(self, user_id: str) -> Vector | None:
        """The user's current factor vector, ``None`` for a user never seen."""
        self._require_fitted()
        row = self.user_rows_.get(user_id)
        return None if row is None else self.user_factors_[row]

    def partial_update(self, interaction: Interaction, event: EventFrame | None = None) -> None:
        """Recompute the user's vector at once with this interaction added.

        A new event takes part with its content-predicted vector, which needs ``event``
        the first time the recommender sees it; without it the interaction is skipped.
        """
        self.partial_update_many([interaction], [event])

    def partial_update_many(
        self, interactions: Sequence[Interaction], events: Sequence[EventFrame | None]
    ) -> None:
        """Add every interaction to its user's feedback, then solve each user's vector once."""
        self._require_fitted()
        keys = intern_event_ids(np.array([i.event_id for i in interactions], dtype=object))
        columns = self.matrix_.items.lookup(keys).tolist()
        changed: dict[str, None] = {}
        for interaction, event, key, column in zip(
            interactions, events, keys.tolist(), columns, strict=True
        ):
            recent = self.recent_.setdefault(interaction.user_id, {})
            engagement = recent.get(key)
            if engagement is None:
                if column >= 0:
                    engagement = _Engagement(0.0, 0.0, self.item_factors_[column], trained=True)
                elif event is not None:
                    engagement = _Engagement(0.0, 0.0, self.item_vectors(event)[0], trained=False)
                else:
                    continue
                recent[key] = engagement
            confidence = single_confidence(interaction)
            if confidence > 0.0:
                engagement.positive += confidence
            else:
                engagement.negative += confidence
            changed[interaction.user_id] = None
        if changed:
            for user_id, vector in zip(changed, self._solve_users(list(changed)), strict=True):
                self._publish(user_id, vector)

    def _publish(self, user_id: str, vector: Vector) -> None:
        row = self.user_rows_.get(user_id)
        if row is None:
            row = self.n_user_rows_
            self.n_user_rows_ += 1
        self.user_factors_ = grow_rows(self.user_factors_, row + 1)
        self.user_factors_[row] = vector
        # Published last, so a concurrent score() never sees a row without its vector.
        self.user_rows_[user_id] = row

    def _history(self, user_id: str) -> list[_Engagement]:
        """Fitted and post-fit feedback of the user, one entry per event."""
        history: dict[int, _Engagement] = {}
        row = self.matrix_.user_rows.get(user_id)
        if row is not None:
            signed = self.matrix_.signed
            start, stop = signed.indptr[row : row + 2]
            for column, value in zip(
                signed.indices[start:stop].tolist(), signed.data[start:stop].tolist(), strict=True
            ):
                history[int(self.matrix_.item_keys[column])] = _Engagement(
                    max(value, 0.0), min(value, 0.0), self.item_factors_[column], trained=True
                )
        for key, recent in self.recent_.get(user_id, {}).items():
            fitted = history.get(key)
            if fitted is None:
                history[key] = recent
            else:
                fitted.positive += recent.positive
                fitted.negative += recent.negative
        return list(history.values())

    def _solve_users(self, user_ids: list[str]) -> Vector:
        """The ALS user step for each user: ``(YtY + sum (c - 1) y y' + reg I) x = sum c p y``.

        ``c = alpha * |value|`` and ``p = 1`` for liked events. Events outside the fitted
        Gramian (new events) add ``c y y'`` in full, as they are not in ``YtY``. The
        systems are solved together (one row of the result per user).
        """
        k = self.config.factors
        lhs = np.empty((len(user_ids), k, k))
        rhs = np.empty((len(user_ids), k, 1))
        base = self.gramian_ + self.config.regularization * np.eye(k)
        for index, user_id in enumerate(user_ids):
            history = self._history(user_id)
            vectors = np.array([h.vector for h in history], dtype=np.float64)
            signed = np.array([h.signed for h in history])
            trained = np.array([h.trained for h in history], dtype=np.float64)
            confidence = self.config.alpha * np.abs(signed)
            lhs[index] = base + (vectors.T * (confidence - trained)) @ vectors
            rhs[index, :, 0] = vectors.T @ np.where(signed > 0.0, confidence, 0.0)
        return np.linalg.solve(lhs, rhs)[:, :, 0].astype(np.float32)

    def _score(self, context: ScoringContext) -> ScoreArray:
        user = self.user_rows_.get(context.user_id)
        if user is None:
            return np.full(len(context.candidates), np.nan)
        vectors = self.vectors_.get(context.candidates)[0]
        return np.asarray(vectors @ self.user_factors_[user], dtype=np.float64)

    def holds_user(self, user_id: str) -> list[str]:
        """``matrix_`` (the fitted row), ``user_factors_`` (the vector, fitted or learned
        since) and ``recent_`` (post-fit history), those that hold the user."""
        self._require_fitted()
        return attributes_holding(
            user_id,
            {
                "matrix_": self.matrix_.user_rows,
                "user_factors_": self.user_rows_,
                "recent_": self.recent_,
            },
        )

    def forget_user(self, user_id: str) -> list[str]:
        """Empty the user's fitted row, zero their vector (and the ``implicit`` model's
        copy) and drop their post-fit history; the vector's row is never reused."""
        held = self.holds_user(user_id)
        erase_user_row(self.matrix_, user_id)
        self.recent_.pop(user_id, None)
        row = self.user_rows_.pop(user_id, None)
        if row is not None:
            self.user_factors_[row] = 0.0
            fitted = getattr(self.model_, "user_factors", None)
            if isinstance(fitted, np.ndarray) and row < fitted.shape[0]:
                fitted[row] = 0.0
        return held
