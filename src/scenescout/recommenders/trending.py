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

Scoring reads per-event sums kept for the current bucket (``weighted_`` and ``counts_``
times the bucket's slot weights, computed once per bucket and then updated with every
interaction counted), so a request gathers three numbers per candidate, not two rings.

Scores are in [0, 1) and depend only on the event, never on the other candidates. An event
with fewer than ``min_interaction_count`` interactions in the current window, or unknown,
scores 0, not ``NaN``: "not trending" is an answer, so trending never abstains.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, NamedTuple

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


class _BucketSums(NamedTuple):
    """Per event row, ``weighted_ @ weights`` and ``counts_ @ current`` for one bucket."""

    bucket: int
    weights: npt.NDArray[np.float64]  # per slot: recency, current, previous
    current: npt.NDArray[np.float64]  # per slot: 1 in the current window
    sums: npt.NDArray[np.float64]  # per row: popularity, current and previous sums
    counts: npt.NDArray[np.float64]  # per row: raw count in the current window


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

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_sums", None)
        state.pop("_sums_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    @property
    def _lock(self) -> threading.Lock:
        lock: threading.Lock | None = self.__dict__.get("_sums_lock")
        if lock is None:
            lock = self.__dict__.setdefault("_sums_lock", threading.Lock())
        return lock

    def _fit(self, data: TrainingData) -> None:
        self._sums: _BucketSums | None = None
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
        with self._lock:
            for bucket in np.unique(log.occurred_ts // self.bucket_seconds).tolist():
                slot = bucket % n_slots
                if self.slot_bucket_[slot] < bucket:
                    # The slot held an older bucket: it now starts counting this one, and
                    # the per-bucket sums no longer hold.
                    self.weighted_[:, slot] = 0.0
                    self.counts_[:, slot] = 0.0
                    self.slot_bucket_[slot] = bucket
                    self._sums = None
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
        n_rows = len(self.events_) + new_events
        self.weighted_ = grow_rows(self.weighted_, n_rows)
        self.counts_ = grow_rows(self.counts_, n_rows)
        sums = getattr(self, "_sums", None)
        if sums is not None and sums.sums.shape[0] < n_rows:
            sums = self._sums = sums._replace(
                sums=grow_rows(sums.sums, n_rows), counts=grow_rows(sums.counts, n_rows)
            )
        rows = self.events_.add(keys)
        slots, confidence = slots[keep], confidence[keep]
        np.add.at(self.weighted_, (rows, slots), confidence)
        np.add.at(self.counts_, (rows, slots), 1.0)
        if sums is not None:
            # The same interactions through the bucket's slot weights (the sums are linear).
            np.add.at(sums.sums, rows, confidence[:, None] * sums.weights[slots])
            np.add.at(sums.counts, rows, sums.current[slots])

    def _slot_weights(self, now_ts: int) -> tuple[ScoreArray, ScoreArray]:
        """Per ring slot at ``now_ts``: the (recency, current, previous) weights, and 1 for
        the current window's slots."""
        per_window = self.config.buckets_per_window
        age = now_ts // self.bucket_seconds - self.slot_bucket_
        current = (age >= 0) & (age < per_window)
        previous = (age >= per_window) & (age < 2 * per_window)
        recency = np.where(current, 1.0 - (age + 0.5) / per_window, 0.0)
        return np.stack([recency, current, previous], axis=1), current.astype(np.float64)

    def _bucket_sums(self, now_ts: int) -> _BucketSums:
        """The per-row sums of ``now_ts``'s bucket: kept from an earlier call (and updated
        by every interaction since), or computed over every row now."""
        bucket = now_ts // self.bucket_seconds
        sums = getattr(self, "_sums", None)
        if sums is not None and sums.bucket == bucket:
            return sums
        with self._lock:
            weights, current = self._slot_weights(now_ts)
            weighted = self.weighted_ @ weights.astype(np.float32)
            counted = self.counts_ @ current.astype(np.float32)
            sums = _BucketSums(
                bucket,
                weights,
                current,
                weighted.astype(np.float64),
                counted.astype(np.float64),
            )
            self._sums = sums
        return sums

    def _window_sums(
        self, rows: IntArray, now_ts: int
    ) -> tuple[ScoreArray, ScoreArray, ScoreArray]:
        """Recency-weighted popularity, growth in [-1, 1] and the current window's raw
        interaction count, per row."""
        sums = self._bucket_sums(now_ts)
        picked = sums.sums[rows]
        total = picked[:, 1] + picked[:, 2]
        growth = np.divide(
            picked[:, 1] - picked[:, 2], total, out=np.zeros_like(total), where=total > 0
        )
        return picked[:, 0], growth, sums.counts[rows]

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
