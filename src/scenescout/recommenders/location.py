"""Location-based recommender: near where the user is, and near where the user goes.

Two geographic signals, in the spirit of geo-aware POI recommendation (USG, GeoMF,
RankGeoFM: people return to the parts of town they already visit):

**Distance decay** from the request location (or home). With ``d`` the great-circle
distance to the event, ``D = max_distance_km`` and a scale ``s``::

    exponential  exp(-d / s)
    linear       max(0, 1 - d / (3 s))
    gaussian     exp(-d**2 / (2 s**2))

and 0 beyond ``D``. By default ``s = D / 3``, so an event at the edge scores ``exp(-3)``
(0.05) under exponential decay, ``exp(-4.5)`` (0.01) under gaussian decay, and 0 under
linear decay. With ``adapt_to_profile`` and a profile that knows the user's
``typical_distance_km`` ``t``, the scale follows the user: ``s = clip(t, D / 10, D / 3)``, so
a user who usually stays within 3 km sees distance matter more than one who travels.

**Place density**: a kernel density over the places the user engaged with. ``fit`` keeps,
per user, the events with positive feedback, each weighted by its summed interaction
confidence ``w_i`` (view 1 ... purchase 8, times the interaction's own weight, e.g. a
check-in count); only the ``max_places`` heaviest are kept. With ``K`` the
``place_kernel`` (one of the decays above with scale ``b = place_bandwidth_km`` and no
cut-off) and ``d_i`` the distance from place ``i`` to the event::

    density = (sum_i w_i K(d_i) / sum_i w_i) ** g     (in [0, 1])

with ``g = density_exponent``. ``g < 1`` tempers the density: being near any of the user's
places counts, not only being near most of them, which is what the hybrid's linear blend
needs to trade proximity against popularity and taste.

``partial_update`` adds a positive interaction's place at once (its weight accumulates when
the event is already a place of the user). Distances to the places are taken on a local
flat-earth projection centred on the user's places (longitudes scaled by the cosine of
their mean latitude); within a city its error is far below the bandwidth, and far places
weigh next to nothing in the kernel. This keeps scoring vectorized and cheap: one
``candidates x places`` array per request (about 0.6 ms for 2,000 candidates and 20
places on one core).

**Score**, with ``a = history_share``::

    (1 - a) * decay + a * density    when both a location and places are known
    decay                            when the user has no place yet (a new user)
    density                          when there is no location
    NaN                              when there is neither

and 0 for every event beyond ``D`` from the request location. Scores are in [0, 1] and
depend only on the event, never on the other candidates; ``history_share = 0`` is pure
distance decay, as before the place density existed.

Defaults (the ``location_based`` section of :mod:`scenescout.config`): the kernel
(exponential, ``place_bandwidth_km`` 0.1, ``density_exponent`` 0.25) was chosen on a
validation split carved from the training part of the Foursquare Singapore check-ins
(``benchmarks/evaluate_foursquare.py --tune``), where the score was flat within noise for
bandwidths 0.05-0.2 km and exponents 0.15-0.25. ``history_share`` defaults to 0.5, a
middle ground for a service whose request location is live (that data has none, and
its ``places`` preset uses 1, with ``density_exponent`` 0.15). ``max_places`` 50 bounds
the work per request to ``candidates x 50`` distances; on that data keeping more changed
nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Self

import numpy as np

from scenescout.config import LocationBasedConfig
from scenescout.domain import Interaction
from scenescout.frames import EventFrame
from scenescout.geo import KM_PER_DEGREE_LAT
from scenescout.recommenders._events import IntArray, KeyedRows, intern_event_ids
from scenescout.recommenders._features import InteractionMatrix, single_confidence
from scenescout.recommenders.base import (
    Recommender,
    RecommenderConfig,
    ScoreArray,
    ScoringContext,
    TrainingData,
)

DecayFunction = Literal["exponential", "linear", "gaussian"]


class LocationRecommenderConfig(LocationBasedConfig, RecommenderConfig):
    """The ``location_based`` section plus whether the decay scale adapts to the user.

    From the section: ``history_share`` is the share of the place density in the score,
    ``place_bandwidth_km`` and ``place_kernel`` its kernel, ``density_exponent`` its
    tempering, ``max_places`` how many of the user's heaviest places it keeps (see the
    module docstring).
    """

    adapt_to_profile: bool = True


def _kernel_in_place(
    distance_km: ScoreArray, decay_function: DecayFunction, scale_km: float
) -> ScoreArray:
    """The decay of ``distance_km`` (float64, overwritten: scoring allocates nothing more)."""
    if decay_function == "exponential":
        distance_km *= -1.0 / scale_km
        return np.exp(distance_km, out=distance_km)
    if decay_function == "linear":
        distance_km *= -1.0 / (3.0 * scale_km)
        distance_km += 1.0
        return np.maximum(distance_km, 0.0, out=distance_km)
    distance_km *= distance_km
    distance_km *= -1.0 / (2.0 * scale_km**2)
    return np.exp(distance_km, out=distance_km)


def distance_decay(
    distance_km: ScoreArray, max_distance_km: float, decay_function: DecayFunction, scale_km: float
) -> ScoreArray:
    """Scores in [0, 1] for distances, by the formulas of this module's docstring."""
    d = np.array(distance_km, dtype=np.float64)
    beyond = d > max_distance_km
    scores = _kernel_in_place(d, decay_function, scale_km)
    scores[beyond] = 0.0
    return scores


def _wrap_degrees(degrees: ScoreArray) -> ScoreArray:
    """Longitude differences folded into [-180, 180)."""
    return np.asarray((degrees + 180.0) % 360.0 - 180.0, dtype=np.float64)


@dataclass(frozen=True)
class UserPlaces:
    """The places of one user: event keys, positions and positive confidence weights.

    Immutable: an update builds a new value, so a concurrent ``score`` sees the old or the
    new places, never a mix. ``x_km``/``y_km`` are the places on the local projection
    centred at (``centre_lat``, ``centre_lng``); ``share`` their normalized weights.
    """

    keys: IntArray
    lat: ScoreArray
    lng: ScoreArray
    weight: ScoreArray
    centre_lat: float
    centre_lng: float
    km_per_degree_lng: float
    x_km: ScoreArray
    y_km: ScoreArray
    share: ScoreArray

    @classmethod
    def build(
        cls,
        keys: IntArray,
        lat: ScoreArray,
        lng: ScoreArray,
        weight: ScoreArray,
        max_places: int,
    ) -> Self:
        """The places, keeping the ``max_places`` heaviest (ties: the earlier first)."""
        if keys.shape[0] > max_places:
            keep = np.sort(np.argsort(-weight, kind="stable")[:max_places])
            keys, lat, lng, weight = keys[keep], lat[keep], lng[keep], weight[keep]
        share = weight / weight.sum()
        centre_lat = float(share @ lat)
        centre_lng = float(lng[0] + share @ _wrap_degrees(lng - lng[0]))
        km_per_degree_lng = KM_PER_DEGREE_LAT * math.cos(math.radians(centre_lat))
        return cls(
            keys=keys,
            lat=lat,
            lng=lng,
            weight=weight,
            centre_lat=centre_lat,
            centre_lng=centre_lng,
            km_per_degree_lng=km_per_degree_lng,
            x_km=_wrap_degrees(lng - centre_lng) * km_per_degree_lng,
            y_km=(lat - centre_lat) * KM_PER_DEGREE_LAT,
            share=share,
        )

    def add(self, key: int, lat: float, lng: float, weight: float, max_places: int) -> UserPlaces:
        """These places with ``weight`` more at event ``key`` (a new place if it is new)."""
        found = np.flatnonzero(self.keys == key)
        if found.size:
            weights = self.weight.copy()
            weights[found[0]] += weight
            return self.build(self.keys, self.lat, self.lng, weights, max_places)
        return self.build(
            np.append(self.keys, key),
            np.append(self.lat, lat),
            np.append(self.lng, lng),
            np.append(self.weight, weight),
            max_places,
        )

    def density(
        self,
        lat: ScoreArray,
        lng: ScoreArray,
        kernel: DecayFunction,
        bandwidth_km: float,
        exponent: float = 1.0,
    ) -> ScoreArray:
        """``(sum_i share_i K(d_i)) ** exponent`` at every (lat, lng), in [0, 1]."""
        x = _wrap_degrees(lng - self.centre_lng) * self.km_per_degree_lng
        y = (lat - self.centre_lat) * KM_PER_DEGREE_LAT
        # In place throughout: fresh candidates x places temporaries cost more than the math.
        distance = np.subtract.outer(x, self.x_km)
        distance *= distance
        north = np.subtract.outer(y, self.y_km)
        north *= north
        distance += north
        np.sqrt(distance, out=distance)
        density = np.asarray(_kernel_in_place(distance, kernel, bandwidth_km) @ self.share)
        return density if exponent == 1.0 else np.power(density, exponent, out=density)


class LocationRecommender(Recommender):
    """Distance decay from ``context.location`` and a kernel density over the user's places.

    Attributes
    ----------
    places_ : dict[str, UserPlaces]
        Per user, the places with positive feedback (fitted, then updated in real time).
    event_rows_ : KeyedRows
        Rows of ``event_lat_``/``event_lng_`` by interned event key: the positions of the
        training events, so ``partial_update`` can place an interaction without its event.
    """

    name = "location_based"
    config_class = LocationRecommenderConfig
    config: LocationRecommenderConfig

    def _fit(self, data: TrainingData) -> None:
        self.event_rows_ = KeyedRows()
        rows = self.event_rows_.add(intern_event_ids(data.events.ids))
        self.event_lat_ = np.zeros(len(self.event_rows_))
        self.event_lng_ = np.zeros(len(self.event_rows_))
        self.event_lat_[rows] = data.events.lat
        self.event_lng_[rows] = data.events.lng
        matrix = InteractionMatrix.from_log(data.interactions)
        event_rows = self.event_rows_.lookup(matrix.item_keys)
        if (event_rows < 0).any():
            raise ValueError("training events do not describe every interacted event")
        lat, lng = self.event_lat_[event_rows], self.event_lng_[event_rows]
        positive = matrix.positive
        self.places_: dict[str, UserPlaces] = {}
        for user_id, row in matrix.user_rows.items():
            start, stop = positive.indptr[row : row + 2]
            if stop == start:
                continue
            columns = positive.indices[start:stop]
            self.places_[user_id] = UserPlaces.build(
                matrix.item_keys[columns],
                lat[columns],
                lng[columns],
                positive.data[start:stop].astype(np.float64),
                self.config.max_places,
            )

    def partial_update(self, interaction: Interaction, event: EventFrame | None = None) -> None:
        """Add a positive interaction's place to the user's places (negatives change nothing).

        The place is ``event``'s position, or the training event's when ``event`` is not
        given; an interaction with an event known neither way is skipped.
        """
        self._require_fitted()
        confidence = single_confidence(interaction)
        if confidence <= 0.0:
            return
        key = int(intern_event_ids(np.array([interaction.event_id], dtype=object))[0])
        if event is not None and len(event):
            lat, lng = float(event.lat[0]), float(event.lng[0])
        else:
            row = int(self.event_rows_.lookup(np.array([key], dtype=np.int64))[0])
            if row < 0:
                return
            lat, lng = float(self.event_lat_[row]), float(self.event_lng_[row])
        places = self.places_.get(interaction.user_id)
        max_places = self.config.max_places
        self.places_[interaction.user_id] = (
            UserPlaces.build(
                np.array([key], dtype=np.int64),
                np.array([lat]),
                np.array([lng]),
                np.array([confidence]),
                max_places,
            )
            if places is None
            else places.add(key, lat, lng, confidence, max_places)
        )

    def scale_km(self, context: ScoringContext) -> float:
        """The decay scale ``s`` used for this request (see the module docstring)."""
        max_km = self.config.max_distance_km
        typical = context.profile.typical_distance_km if context.profile is not None else None
        if not self.config.adapt_to_profile or typical is None or not typical > 0.0:
            return max_km / 3.0
        return float(np.clip(typical, max_km / 10.0, max_km / 3.0))

    def place_density(self, context: ScoringContext) -> ScoreArray | None:
        """The density of the user's places at each candidate; ``None`` without places."""
        self._require_fitted()
        places = self.places_.get(context.user_id)
        if places is None:
            return None
        candidates = context.candidates
        config = self.config
        return places.density(
            candidates.lat,
            candidates.lng,
            config.place_kernel,
            config.place_bandwidth_km,
            config.density_exponent,
        )

    def _score(self, context: ScoringContext) -> ScoreArray:
        candidates = context.candidates
        density = self.place_density(context)
        distance = context.distance_km
        if distance is None:
            return density if density is not None else np.full(len(candidates), np.nan)
        max_km = self.config.max_distance_km
        decay = distance_decay(distance, max_km, self.config.decay_function, self.scale_km(context))
        if density is None:
            return decay
        share = self.config.history_share
        return np.where(distance <= max_km, (1.0 - share) * decay + share * density, 0.0)

    def holds_user(self, user_id: str) -> list[str]:
        """``places_`` when the user has learned places."""
        self._require_fitted()
        return ["places_"] if user_id in self.places_ else []

    def forget_user(self, user_id: str) -> list[str]:
        """Drop the user's places."""
        held = self.holds_user(user_id)
        self.places_.pop(user_id, None)
        return held
