"""The one small protocol every recommender implements, and the data it works on.

A recommender is fitted on :class:`TrainingData` and batch-scores the candidate events of a
:class:`ScoringContext`: one float per candidate, higher is better, ``NaN`` meaning "cannot
score this one" (the hybrid then renormalizes over the components that could).

Conventions (scikit-learn, RecTools): constructors only store a typed pydantic config;
public :meth:`Recommender.fit` validates and records fitted state, subclasses implement
``_fit``; learned attributes end in ``_``; ``get_config``/``from_config`` round-trip.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from scenescout.domain import GeoPoint, Interaction
from scenescout.frames import EventFrame, InteractionLog
from scenescout.geo import haversine_km
from scenescout.profiles.profile import UserProfile

ScoreArray = npt.NDArray[np.float64]


class NotFittedError(RuntimeError):
    """Raised when a recommender is used before :meth:`Recommender.fit`."""


class RecommenderConfig(BaseModel):
    """Base of every recommender's typed config."""

    model_config = ConfigDict(extra="forbid")


def attributes_holding(user_id: str, holders: Mapping[str, Container[str]]) -> list[str]:
    """The names, in order, of the ``holders`` (attribute name -> user ids it keys) that hold
    ``user_id``: the usual body of :meth:`Recommender.holds_user`."""
    return [name for name, holder in holders.items() if user_id in holder]


@dataclass
class TrainingData:
    """What recommenders learn from.

    ``events`` holds every event the interactions refer to (past and upcoming), so content
    features are available; ``now_ts`` is the training reference time (epoch seconds).
    ``user_homes`` maps user id to a (lat, lng) home when known.
    """

    interactions: InteractionLog
    events: EventFrame
    now_ts: int
    user_homes: dict[str, tuple[float, float]] = field(default_factory=dict)


@dataclass
class ScoringContext:
    """One request's view for scoring: who, where, when, and the candidate events.

    ``location`` is the request location, or the user's home when none was given, or
    ``None``. ``profile`` is the user's current profile (``None`` or cold for new users).
    """

    user_id: str
    candidates: EventFrame
    now_ts: int
    location: GeoPoint | None = None
    profile: UserProfile | None = None

    @cached_property
    def distance_km(self) -> ScoreArray | None:
        """Great-circle km from ``location`` to each candidate, computed once per context
        for every component that needs it (read-only); ``None`` without a location."""
        if self.location is None:
            return None
        candidates = self.candidates
        distance = haversine_km(
            self.location.lat, self.location.lng, candidates.lat, candidates.lng
        )
        distance.flags.writeable = False
        return distance


class Recommender(ABC):
    """Base class: fit on training data, batch-score candidates, round-trip config."""

    name: ClassVar[str]
    config_class: ClassVar[type[RecommenderConfig]]

    def __init__(self, config: RecommenderConfig | None = None, **overrides: Any) -> None:
        base = config if config is not None else self.config_class()
        self.config = self.config_class.model_validate({**base.model_dump(), **overrides})
        self.is_fitted_ = False

    def fit(self, data: TrainingData) -> Self:
        """Learn from ``data`` (a refit replaces all learned state) and return ``self``."""
        if len(data.interactions) and len(data.events) == 0:
            raise ValueError("training data has interactions but no events to describe them")
        self._fit(data)
        self.is_fitted_ = True
        return self

    def score(self, context: ScoringContext) -> ScoreArray:
        """One score per candidate (``NaN`` = cannot score), as a float64 array."""
        self._require_fitted()
        scores = np.asarray(self._score(context), dtype=np.float64)
        if scores.shape != (len(context.candidates),):
            raise AssertionError(
                f"{self.name} returned {scores.shape} scores "
                f"for {len(context.candidates)} candidates"
            )
        return scores

    def prepare_events(self, events: EventFrame) -> None:
        """Precompute per-event state (content vectors, neighbours) for events to be scored.

        An optional warm-up, e.g. when a new catalog snapshot loads, so that requests only
        gather precomputed rows; scoring computes whatever is missing on first use anyway.
        """
        self._require_fitted()
        self._prepare_events(events)

    def _prepare_events(self, events: EventFrame) -> None:
        """Subclasses with per-event caches fill them here; the default has none."""
        return None

    def _require_fitted(self) -> None:
        if not self.is_fitted_:
            raise NotFittedError(f"{self.name} recommender is not fitted; call fit() first")

    def partial_update(self, interaction: Interaction, event: EventFrame | None = None) -> None:
        """Learn from one new interaction in real time; the default learns nothing.

        ``event`` is a one-row frame describing the interacted event when it is known.
        """
        return None

    def partial_update_many(
        self, interactions: Sequence[Interaction], events: Sequence[EventFrame | None]
    ) -> None:
        """Learn from several new interactions, in order: the same state as
        :meth:`partial_update` on each in turn (which the default does); a recommender may
        learn them at once.

        ``events[i]`` is ``interactions[i]``'s one-row event frame, or ``None``.
        """
        for interaction, event in zip(interactions, events, strict=True):
            self.partial_update(interaction, event)

    @abstractmethod
    def holds_user(self, user_id: str) -> list[str]:
        """Names of the learned attributes that still hold per-user state of ``user_id``.

        Empty when nothing does (always for a recommender without per-user state).
        Aggregates that mix many users (similarities, item factors, counts) are not
        per-user state: they keep a forgotten user's past contribution until the next fit.
        """

    @abstractmethod
    def forget_user(self, user_id: str) -> list[str]:
        """Erase all per-user state of ``user_id`` (GDPR delete).

        Afterwards the user scores like one never seen, until they interact again.

        Returns
        -------
        list[str]
            What held the user before, as :meth:`holds_user` named it.
        """

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, **self.config.model_dump(mode="json")}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Self:
        values = {k: v for k, v in config.items() if k != "name"}
        return cls(cls.config_class.model_validate(values))

    @abstractmethod
    def _fit(self, data: TrainingData) -> None: ...

    @abstractmethod
    def _score(self, context: ScoringContext) -> npt.ArrayLike: ...
