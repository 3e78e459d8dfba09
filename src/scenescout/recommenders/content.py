"""Content-based recommender: TF-IDF text similarity plus feature matching on the profile.

Two parts, blended per candidate over the parts available (``text_weight`` is the share of
the first when both are):

* **text**: a TF-IDF vectorizer fitted on title, description and tags. Each event keeps its
  ``terms_per_event`` heaviest terms (L2-normalized); a user's text profile is the
  decayed-weighted sum of the term vectors of the events they engaged with (weight =
  interaction confidence x ``0.5 ** (age / half_life_days)``, negative feedback subtracts),
  kept to its ``terms_per_user`` heaviest terms. Text score = cosine, clipped to [0, 1].
* **features**: the seed's ``feature_weights`` matching the candidate against the request's
  :class:`~scenescout.profiles.profile.UserProfile`: category affinity, price band affinity,
  time-of-week affinity (each divided by the profile's largest positive affinity of that kind
  and clipped to [0, 1]) and ``exp(-distance / typical_distance_km)`` from the request
  location. A feature the profile or the candidate cannot speak to (no price history, a
  permanent place without a time, no location) drops out and the others are renormalized.

Interest prediction: a category the user never touched gets
``interest_prediction_weight * sum_a aff(a) sim(a, c) / sum_a aff(a)``, a small positive
affinity, where ``sim`` blends category co-occurrence (users who like ``a`` also like ``c``,
cosine of the categories' user columns) with the cosine of the categories' TF-IDF
centroids, both learned in ``fit``. Excluded categories score 0.

The score is ``NaN`` when nothing is known about the user's taste: no text profile and no
(warm) profile in the request.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from pydantic import Field
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from scenescout.config import ContentBasedConfig
from scenescout.domain import Interaction
from scenescout.frames import EventFrame
from scenescout.profiles.event_keys import PRICE_BAND_NAMES, TIME_CELL_NAMES, time_cells
from scenescout.profiles.profile import UserProfile
from scenescout.recommenders._events import EventMemo, EventValues
from scenescout.recommenders._features import (
    InteractionMatrix,
    decay_factor,
    interaction_confidence,
    price_band_codes,
    single_confidence,
    top_k_per_row,
    vocabulary_lookup,
)
from scenescout.recommenders.base import (
    Recommender,
    RecommenderConfig,
    ScoreArray,
    ScoringContext,
    TrainingData,
)

_USER_CHUNK = 4096


class ContentRecommenderConfig(ContentBasedConfig, RecommenderConfig):
    """The seed's ``content_based`` section plus the text model and interest prediction."""

    text_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    half_life_days: float = Field(default=30.0, gt=0.0)
    terms_per_event: int = Field(default=32, ge=1)
    terms_per_user: int = Field(default=128, ge=1)
    max_vocabulary: int = Field(default=50_000, ge=1)
    interest_prediction_weight: float = Field(default=0.3, ge=0.0, le=1.0)
    cooccurrence_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    default_typical_distance_km: float = Field(default=10.0, gt=0.0)


@dataclass
class _TextProfile:
    """A user's decayed term weights as of ``reference_ts`` (sparse: terms, weights)."""

    terms: npt.NDArray[np.int64]
    weights: npt.NDArray[np.float64]
    reference_ts: int


_NO_TEXT_TOKEN = "scenescoutnotext"


def _event_texts(events: EventFrame) -> list[str]:
    return [
        f"{title} {description} {' '.join(tags)}"
        for title, description, tags in zip(
            events.title.tolist(), events.description.tolist(), events.tags.tolist(), strict=True
        )
    ]


def _weighted_mean(parts: list[tuple[float, ScoreArray]], n: int) -> ScoreArray:
    """Per candidate, the weighted mean of the parts that are not ``NaN`` there."""
    total = np.zeros(n)
    weight = np.zeros(n)
    for share, values in parts:
        available = ~np.isnan(values)
        total += np.where(available, share * values, 0.0)
        weight += np.where(available, share, 0.0)
    return np.divide(total, weight, out=np.full(n, np.nan), where=weight > 0.0)


def _row_cosines(rows: sp.csr_matrix) -> npt.NDArray[np.float64]:
    """Dense cosine similarity between the rows of a sparse matrix (0 for empty rows)."""
    if min(rows.shape) == 0:
        return np.zeros((rows.shape[0], rows.shape[0]))
    unit = normalize(rows)
    return np.asarray((unit @ unit.T).toarray(), dtype=np.float64)


def _relative(affinity: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Affinities divided by the largest positive one, clipped to [0, 1]."""
    top = affinity.max(initial=0.0)
    return np.clip(affinity / top, 0.0, 1.0) if top > 0.0 else np.zeros_like(affinity)


def _relative_affinities(affinities: dict[str, float]) -> dict[str, float]:
    """Each affinity divided by the largest positive one, clipped to [0, 1]."""
    top = max((v for v in affinities.values() if v > 0.0), default=1.0)
    return {name: min(max(v / top, 0.0), 1.0) for name, v in affinities.items()}


class ContentRecommender(Recommender):
    """TF-IDF text profile + feature matching against the user's profile.

    Attributes
    ----------
    vectorizer_ : sklearn.feature_extraction.text.TfidfVectorizer
        Fitted on the title, description and tags of the training events.
    text_profiles_ : dict
        Per user id, the decayed term weights (updated by ``partial_update``).
    category_index_, category_similarity_ : dict, numpy.ndarray
        Category names by row, and their blended co-occurrence/centroid similarity.
    terms_ : EventMemo
        Per event, its heaviest terms and their weights.
    """

    name = "content_based"
    config_class = ContentRecommenderConfig
    config: ContentRecommenderConfig

    def _fit(self, data: TrainingData) -> None:
        config = self.config
        texts = _event_texts(data.events)
        # Events with no text at all (imported places) leave the text part silent, not broken.
        if not any(text.strip() for text in texts):
            texts = [_NO_TEXT_TOKEN]
        self.vectorizer_ = TfidfVectorizer(
            stop_words="english",
            sublinear_tf=True,
            max_features=config.max_vocabulary,
            dtype=np.float32,
        ).fit(texts)
        self.n_terms_ = len(self.vectorizer_.vocabulary_)
        self.terms_ = EventMemo(self._event_terms)
        matrix = InteractionMatrix.from_log(data.interactions)
        positions = matrix.item_positions(data.events)
        self.text_profiles_ = self._text_profiles(data, matrix, positions)
        self._fit_category_similarity(data, matrix, positions)

    def _event_terms(self, events: EventFrame) -> EventValues:
        """Each event's heaviest TF-IDF terms, L2-normalized; padding is term ``n_terms_``."""
        k = self.config.terms_per_event
        if len(events) == 0:
            return np.zeros((0, k), dtype=np.int32), np.zeros((0, k), dtype=np.float32)
        tfidf = self.vectorizer_.transform(_event_texts(events))
        terms, weights = top_k_per_row(tfidf, k, 1e-12)
        weights = normalize(weights)
        padded = np.where(terms >= 0, terms, self.n_terms_).astype(np.int32)
        return padded, weights.astype(np.float32)

    def _prepare_events(self, events: EventFrame) -> None:
        self.terms_.get(events)

    def _term_matrix(self, events: EventFrame) -> sp.csr_matrix:
        terms, weights = self.terms_.get(events)
        n, k = terms.shape
        return sp.csr_matrix(
            (weights.ravel(), terms.ravel(), np.arange(0, n * k + 1, k)),
            shape=(n, self.n_terms_ + 1),
        )

    def _text_profiles(
        self, data: TrainingData, matrix: InteractionMatrix, positions: npt.NDArray[np.int64]
    ) -> dict[str, _TextProfile]:
        log = data.interactions
        age_seconds = (data.now_ts - log.occurred_ts).astype(np.float64)
        weight = interaction_confidence(log) * decay_factor(age_seconds, self.config.half_life_days)
        per_user = sp.csr_matrix(
            (weight, (matrix.user_of, matrix.item_of)),
            shape=(len(matrix.user_ids), positions.shape[0]),
        )
        event_terms = self._term_matrix(data.events.take(positions))
        profiles: dict[str, _TextProfile] = {}
        for start in range(0, len(matrix.user_ids), _USER_CHUNK):
            chunk = sp.csr_matrix(per_user[start : start + _USER_CHUNK] @ event_terms)
            terms, weights = top_k_per_row(
                chunk, self.config.terms_per_user, 1e-12, by_magnitude=True
            )
            for offset, user in enumerate(matrix.user_ids[start : start + _USER_CHUNK]):
                keep = terms[offset] >= 0
                profiles[user] = _TextProfile(
                    terms[offset][keep], weights[offset][keep].astype(np.float64), data.now_ts
                )
        return profiles

    def _fit_category_similarity(
        self, data: TrainingData, matrix: InteractionMatrix, positions: npt.NDArray[np.int64]
    ) -> None:
        names = sorted(set(data.events.categories.names))
        self.category_index_ = {name: i for i, name in enumerate(names)}
        columns = vocabulary_lookup(
            data.events.category, data.events.categories.names, self.category_index_
        )
        known = columns >= 0
        one_hot = sp.csr_matrix(
            (np.ones(int(known.sum())), (np.flatnonzero(known), columns[known])),
            shape=(len(data.events), len(names)),
        )
        cooccurrence = _row_cosines(sp.csr_matrix((matrix.positive @ one_hot[positions]).T))
        centroid_similarity = _row_cosines(one_hot.T @ self._term_matrix(data.events))
        share = self.config.cooccurrence_weight
        similarity = share * cooccurrence + (1.0 - share) * centroid_similarity
        np.fill_diagonal(similarity, 0.0)
        self.category_similarity_ = similarity

    def partial_update(self, interaction: Interaction, event: EventFrame | None = None) -> None:
        """Fold the interacted event's terms into the user's text profile at once.

        Needs ``event`` (its text); without it the interaction is skipped.
        """
        self._require_fitted()
        if event is None:
            return
        terms, weights = self.terms_.get(event)
        occurred_ts = int(interaction.occurred_at.timestamp())
        weight = single_confidence(interaction)
        half_life = self.config.half_life_days
        profile = self.text_profiles_.get(interaction.user_id)
        if profile is None:
            profile = _TextProfile(np.zeros(0, np.int64), np.zeros(0), occurred_ts)
        old_weights = profile.weights * decay_factor(occurred_ts - profile.reference_ts, half_life)
        weight *= float(decay_factor(profile.reference_ts - occurred_ts, half_life))
        keep = terms[0] < self.n_terms_
        merged, inverse = np.unique(
            np.concatenate([profile.terms, terms[0][keep]]), return_inverse=True
        )
        contributions = np.concatenate([old_weights, weight * weights[0][keep]])
        summed = np.bincount(inverse, weights=contributions).astype(np.float64, copy=False)
        top = np.argsort(-np.abs(summed), kind="stable")[: self.config.terms_per_user]
        self.text_profiles_[interaction.user_id] = _TextProfile(
            merged[top], summed[top], max(profile.reference_ts, occurred_ts)
        )

    def _text_scores(self, profile: _TextProfile, candidates: EventFrame) -> ScoreArray:
        norm = float(np.linalg.norm(profile.weights))
        dense = np.zeros(self.n_terms_ + 1)
        if norm > 0.0:
            dense[profile.terms] = profile.weights / norm
        terms, weights = self.terms_.get(candidates)
        return np.clip((weights * dense[terms]).sum(axis=1), 0.0, 1.0)

    def category_affinity(self, profile: UserProfile, categories: list[str]) -> ScoreArray:
        """The profile's relative affinity in [0, 1] to each category, predicted for those
        it never touched; ``NaN`` for all when the profile holds no category signal.

        A category's affinity is the larger of its long-term one (``categories``) and its
        short-term one (``recent_categories``, relative to the most recent favourite), so
        a taste the user just showed counts at once, not only after it outweighs years."""
        if not profile.categories:
            return np.full(len(categories), np.nan)
        relative = _relative_affinities(profile.categories)
        for name, value in _relative_affinities(profile.recent_categories).items():
            if value > relative.get(name, 0.0):
                relative[name] = value
        liked = [
            (self.category_index_[name], value)
            for name, value in relative.items()
            if value > 0.0 and name in self.category_index_
        ]
        predicted = np.zeros(len(self.category_index_))
        if liked:
            rows, weights = (np.array(column) for column in zip(*liked, strict=True))
            similarity = weights @ self.category_similarity_[rows] / weights.sum()
            predicted = self.config.interest_prediction_weight * similarity
        excluded = set(profile.excluded_categories)

        def affinity(name: str) -> float:
            if name in excluded:
                return 0.0
            if name in relative:
                return relative[name]
            column = self.category_index_.get(name)
            return 0.0 if column is None else float(predicted[column])

        return np.array([affinity(name) for name in categories], dtype=np.float64)

    def _feature_scores(self, context: ScoringContext, profile: UserProfile) -> ScoreArray:
        candidates = context.candidates
        n = len(candidates)
        present, inverse = np.unique(candidates.category, return_inverse=True)
        named = [candidates.categories.names[c] for c in present.tolist() if c >= 0]
        per_category = np.full(present.shape[0], np.nan)
        per_category[present >= 0] = self.category_affinity(profile, named)
        category = per_category[inverse.reshape(-1)]
        price = np.full(n, np.nan)
        if profile.price_bands:
            bands = np.array([profile.price_bands.get(b, 0.0) for b in PRICE_BAND_NAMES])
            price = _relative(bands)[price_band_codes(candidates.price_min)]
        time = np.full(n, np.nan)
        if profile.time_of_week:
            cells = np.array([profile.time_of_week.get(c, 0.0) for c in TIME_CELL_NAMES])
            time = np.append(_relative(cells), np.nan)[time_cells(candidates.start_ts)]
        location = np.full(n, np.nan)
        distance = context.distance_km
        if distance is not None:
            scale = profile.typical_distance_km or self.config.default_typical_distance_km
            location = np.exp(-distance / scale)
        weights = self.config.feature_weights
        return _weighted_mean(
            [
                (weights.category, category),
                (weights.price, price),
                (weights.time, time),
                (weights.location, location),
            ],
            n,
        )

    def _score(self, context: ScoringContext) -> ScoreArray:
        n = len(context.candidates)
        text_profile = self.text_profiles_.get(context.user_id)
        profile = context.profile
        warm = profile is not None and not profile.is_cold
        parts: list[tuple[float, ScoreArray]] = []
        if text_profile is not None:
            parts.append(
                (self.config.text_weight, self._text_scores(text_profile, context.candidates))
            )
        if warm and profile is not None:
            parts.append((1.0 - self.config.text_weight, self._feature_scores(context, profile)))
        return _weighted_mean(parts, n)

    def holds_user(self, user_id: str) -> list[str]:
        """``text_profiles_`` when the user has a text profile."""
        self._require_fitted()
        return ["text_profiles_"] if user_id in self.text_profiles_ else []

    def forget_user(self, user_id: str) -> list[str]:
        """Drop the user's text profile."""
        held = self.holds_user(user_id)
        self.text_profiles_.pop(user_id, None)
        return held

    def similar_events(
        self, query: int | str, events: EventFrame, k: int = 10
    ) -> tuple[npt.NDArray[np.int64], ScoreArray]:
        """The ``k`` events of ``events`` most similar in text to ``query``.

        Parameters
        ----------
        query
            A row of ``events`` (that event is left out of the answer) or free text.
        events
            The events to search, e.g. the upcoming catalog.
        k
            How many to return at most; events with no term in common are never returned.

        Returns
        -------
        rows, similarities
            Rows of ``events`` and their TF-IDF cosine with the query, best first.
        """
        self._require_fitted()
        terms, weights = self.terms_.get(events)
        dense = np.zeros(self.n_terms_ + 1)
        if isinstance(query, str):
            vector = sp.csr_matrix(self.vectorizer_.transform([query]))
            dense[vector.indices] = vector.data
        else:
            dense[terms[query]] = weights[query]
        similarity = (weights * dense[terms]).sum(axis=1, dtype=np.float64)
        if not isinstance(query, str):
            similarity[query] = 0.0
        candidates = np.flatnonzero(similarity > 1e-9)
        best = candidates[np.argsort(-similarity[candidates], kind="stable")[:k]]
        return best, similarity[best]
