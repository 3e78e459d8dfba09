"""Location-based recommender: the nearer an event, the higher its score.

With ``d`` the great-circle distance from the request location (or home) to the event,
``D = max_distance_km`` and a scale ``s``::

    exponential  exp(-d / s)
    linear       max(0, 1 - d / (3 s))
    gaussian     exp(-d**2 / (2 s**2))

and 0 beyond ``D``. By default ``s = D / 3``, so an event at the edge scores ``exp(-3)``
(0.05) under exponential decay, ``exp(-4.5)`` (0.01) under gaussian decay, and 0 under
linear decay. With ``adapt_to_profile`` and a profile that knows the user's
``typical_distance_km`` ``t``, the scale follows the user: ``s = clip(t, D / 10, D / 3)``, so
a user who usually stays within 3 km sees distance matter more than one who travels.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from scenescout.config import LocationBasedConfig
from scenescout.geo import haversine_km
from scenescout.recommenders.base import (
    Recommender,
    RecommenderConfig,
    ScoreArray,
    ScoringContext,
    TrainingData,
)

DecayFunction = Literal["exponential", "linear", "gaussian"]


class LocationRecommenderConfig(LocationBasedConfig, RecommenderConfig):
    """The seed's ``location_based`` section plus whether the scale adapts to the user."""

    adapt_to_profile: bool = True


def distance_decay(
    distance_km: ScoreArray, max_distance_km: float, decay_function: DecayFunction, scale_km: float
) -> ScoreArray:
    """Scores in [0, 1] for distances, by the formulas of this module's docstring."""
    d = np.asarray(distance_km, dtype=np.float64)
    if decay_function == "exponential":
        scores = np.exp(-d / scale_km)
    elif decay_function == "linear":
        scores = np.maximum(0.0, 1.0 - d / (3.0 * scale_km))
    else:
        scores = np.exp(-(d**2) / (2.0 * scale_km**2))
    return np.where(d <= max_distance_km, scores, 0.0)


class LocationRecommender(Recommender):
    """Distance decay from ``context.location``; ``NaN`` for every candidate without one.

    Nothing is learned from data: ``fit`` only marks the recommender ready.
    """

    name = "location_based"
    config_class = LocationRecommenderConfig
    config: LocationRecommenderConfig

    def _fit(self, data: TrainingData) -> None:
        return None

    def scale_km(self, context: ScoringContext) -> float:
        """The decay scale ``s`` used for this request (see the module docstring)."""
        max_km = self.config.max_distance_km
        typical = context.profile.typical_distance_km if context.profile is not None else None
        if not self.config.adapt_to_profile or typical is None or not typical > 0.0:
            return max_km / 3.0
        return float(np.clip(typical, max_km / 10.0, max_km / 3.0))

    def _score(self, context: ScoringContext) -> ScoreArray:
        candidates = context.candidates
        if context.location is None:
            return np.full(len(candidates), np.nan)
        distance = haversine_km(
            context.location.lat, context.location.lng, candidates.lat, candidates.lng
        )
        return distance_decay(
            distance,
            self.config.max_distance_km,
            self.config.decay_function,
            self.scale_km(context),
        )
