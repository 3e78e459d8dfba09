"""Trending recommender: time-weighted popularity with velocity, counted in real time.

Each event keeps a ring of time buckets (``buckets_per_window`` per window of
``time_window_hours``, two windows deep) holding confidence-weighted interaction sums
(negative feedback is not popularity) and raw counts. At scoring time ``now``:

* ``popularity`` = sum over the current window of ``confidence * (1 - age / window)``,
  so the newest interactions weigh most;
* ``growth`` = ``(current - previous) / (current + previous)`` in [-1, 1], from the
  unweighted sums of the current and the previous window (the velocity);
* ``score = p / (p + scale) * (1 - v + v * (growth + 1) / 2)`` with ``v`` the
  ``velocity_weight`` and ``scale`` the median popularity of trending events at fit time,
  so a typical trending event scores about 0.5 and a rising one more than a fading one.

Scores are in [0, 1) and depend only on the event, never on the other candidates. An event
with fewer than ``min_interaction_count`` interactions in the current window, or unknown,
scores 0, not ``NaN``: "not trending" is an answer, so trending never abstains.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from pydantic import Field

from scenescout.config import TrendingConfig
from scenescout.domain import Interaction
from scenescout.frames import EventFrame, InteractionLog
from scenescout.recommenders._events import IntArray, KeyedRows, grow_rows, intern_event_ids
from scenescout.recommenders._features import interaction_confidence
from scenescout.recommenders.base import (
    Recommender,
    RecommenderConfig,
    ScoreArray,
    ScoringContext,
    TrainingData,
)


class TrendingRecommenderConfig(TrendingConfig, RecommenderConfig):
    """The seed's ``trending`` section plus the bucket resolution and the velocity share."""

    buckets_per_window: int = Field(default=24, ge=1)
    velocity_weight: float = Field(default=0.3, ge=0.0, le=1.0)


class TrendingRecommender(Recommender):
    """Time-weighted popularity over a sliding window, updated per interaction.

    Attributes
    ----------
    weighted_, counts_ : numpy.ndarray
        Per event row (``events_``) and ring slot, confidence sums and raw counts.
    slot_bucket_ : numpy.ndarray
        The absolute time bucket each ring slot currently holds.
    popularity_scale_ : float
        The median popularity of trending events at fit time (the 0.5 point).
    """

    name = "trending"
    config_class = TrendingRecommenderConfig
    config: TrendingRecommenderConfig

    @property
    def bucket_seconds(self) -> int:
        window = self.config.time_window_hours * 3600.0
        return max(1, round(window / self.config.buckets_per_window))

    def _fit(self, data: TrainingData) -> None:
        n_slots = 2 * self.config.buckets_per_window
        now_bucket = data.now_ts // self.bucket_seconds
        self.events_ = KeyedRows()
        self.weighted_: npt.NDArray[np.float32] = np.zeros((0, n_slots), dtype=np.float32)
        self.counts_: npt.NDArray[np.float32] = np.zeros((0, n_slots), dtype=np.float32)
        self.slot_bucket_ = np.full(n_slots, np.iinfo(np.int64).min, dtype=np.int64)
        ring = np.arange(now_bucket - n_slots + 1, now_bucket + 1)
        self.slot_bucket_[ring % n_slots] = ring
        self._add(data.interactions)
        popularity, _, count = self._window_sums(np.arange(len(self.events_)), data.now_ts)
        trending = popularity[(count >= max(self.config.min_interaction_count, 1))]
        self.popularity_scale_ = float(np.median(trending)) if trending.size else 1.0

    def partial_update(self, interaction: Interaction, event: EventFrame | None = None) -> None:
        """Count one interaction at once (negative feedback and too-old ones are ignored)."""
        self.partial_update_many([interaction], [event])

    def partial_update_many(
        self, interactions: Sequence[Interaction], events: Sequence[EventFrame | None]
    ) -> None:
        """Count several interactions at once (as one by one: a slot keeps the newest
        bucket it was given, and counts only interactions of that bucket)."""
        self._require_fitted()
        if not interactions:
            return
        log = InteractionLog.from_interactions(interactions)
        n_slots = self.slot_bucket_.shape[0]
        for bucket in np.unique(log.occurred_ts // self.bucket_seconds).tolist():
            slot = bucket % n_slots
            if self.slot_bucket_[slot] < bucket:
                # The slot held an older bucket: it now starts counting this one.
                self.weighted_[:, slot] = 0.0
                self.counts_[:, slot] = 0.0
                self.slot_bucket_[slot] = bucket
        self._add(log)

    def _add(self, log: InteractionLog) -> None:
        confidence = interaction_confidence(log)
        buckets = log.occurred_ts // self.bucket_seconds
        slots = buckets % self.slot_bucket_.shape[0]
        keep = (confidence > 0.0) & (self.slot_bucket_[slots] == buckets)
        if not keep.any():
            return
        keys = intern_event_ids(log.event_ids[keep])
        new_events = np.unique(keys[self.events_.lookup(keys) < 0]).shape[0]
        # Rows exist before they are published, so a concurrent score() never overruns.
        self.weighted_ = grow_rows(self.weighted_, len(self.events_) + new_events)
        self.counts_ = grow_rows(self.counts_, len(self.events_) + new_events)
        rows = self.events_.add(keys)
        np.add.at(self.weighted_, (rows, slots[keep]), confidence[keep])
        np.add.at(self.counts_, (rows, slots[keep]), 1.0)

    def _window_sums(
        self, rows: IntArray, now_ts: int
    ) -> tuple[ScoreArray, ScoreArray, ScoreArray]:
        """Recency-weighted popularity, growth in [-1, 1] and the current window's raw
        interaction count, per row."""
        per_window = self.config.buckets_per_window
        age = now_ts // self.bucket_seconds - self.slot_bucket_
        current = (age >= 0) & (age < per_window)
        previous = (age >= per_window) & (age < 2 * per_window)
        recency = np.where(current, 1.0 - (age + 0.5) / per_window, 0.0)
        weights = np.stack([recency, current, previous], axis=1).astype(np.float32)
        sums = self.weighted_[rows] @ weights
        counts = (self.counts_[rows] @ current.astype(np.float32)).astype(np.float64)
        total = sums[:, 1] + sums[:, 2]
        growth = np.divide(
            sums[:, 1] - sums[:, 2], total, out=np.zeros_like(total), where=total > 0
        )
        return sums[:, 0].astype(np.float64), growth.astype(np.float64), counts

    def _score(self, context: ScoringContext) -> ScoreArray:
        rows = self.events_.lookup(intern_event_ids(context.candidates.ids))
        scores = np.zeros(rows.shape[0])
        known = np.flatnonzero(rows >= 0)
        popularity, growth, count = self._window_sums(rows[known], context.now_ts)
        velocity = self.config.velocity_weight
        trend = popularity / (popularity + self.popularity_scale_)
        trend *= 1.0 - velocity + velocity * (growth + 1.0) / 2.0
        eligible = count >= self.config.min_interaction_count
        scores[known] = np.where(eligible & (popularity > 0.0), trend, 0.0)
        return scores

    def holds_user(self, user_id: str) -> list[str]:
        """Nothing: trending counts interactions per event, never per user."""
        self._require_fitted()
        return []

    def forget_user(self, user_id: str) -> list[str]:
        """Nothing to erase (see :meth:`holds_user`)."""
        return self.holds_user(user_id)

    def interaction_counts(self, events: EventFrame, now_ts: int) -> npt.NDArray[np.float64]:
        """Raw interaction counts of ``events`` in the window ending at ``now_ts``."""
        self._require_fitted()
        rows = self.events_.lookup(intern_event_ids(events.ids))
        counts = np.zeros(rows.shape[0])
        known = np.flatnonzero(rows >= 0)
        counts[known] = self._window_sums(rows[known], now_ts)[2]
        return counts
