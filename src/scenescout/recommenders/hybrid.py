"""Hybrid recommender: the seed's weighted ensemble of the other recommenders.

Each enabled component with a positive weight (the ``algorithms`` section of the
personalization config) is fitted and scores the candidates. Blending, per candidate:

1. every component's scores are normalized, ``NaN`` staying ``NaN``:

   * ``minmax`` (default): ``(s - min) / (max - min)`` over the candidates it could score;
     0.5 for all of them when they are all equal (one candidate, or no signal);
   * ``rank``: the candidate's rank percentile ``(rank - 1) / (n - 1)`` among them (ties
     share their mean rank), 0.5 when ``n == 1``;
   * ``absolute``: the component's own scale clipped to [0, 1] (all components but
     matrix factorization and item-kNN already score in [0, 1]). Unlike the other two,
     scores then do not depend on which other events are candidates.

2. the weights are renormalized over the components that could score the candidate, so one
   component's ``NaN`` does not poison the blend: ``score = sum_k w_k n_k / sum_k w_k``
   over the components ``k`` with a score. ``NaN`` only when no component could score it.

``contributions`` (``w_k n_k / sum w``, summing to the score) tell the engine which
components made a recommendation. Failures are the engine's business: it may score a
subset of components (``score_components(context, names)``), within its time budget, and
``blend`` whatever it got.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, Self

import numpy as np
from pydantic import Field
from scipy.stats import rankdata

from scenescout.config import AlgorithmsConfig, PersonalizationConfig
from scenescout.domain import Interaction
from scenescout.frames import EventFrame
from scenescout.recommenders.base import (
    Recommender,
    RecommenderConfig,
    ScoreArray,
    ScoringContext,
    TrainingData,
)
from scenescout.recommenders.collaborative import (
    CollaborativeRecommender,
    CollaborativeRecommenderConfig,
)
from scenescout.recommenders.content import ContentRecommender, ContentRecommenderConfig
from scenescout.recommenders.factorization import (
    FactorizationRecommender,
    FactorizationRecommenderConfig,
)
from scenescout.recommenders.item_knn import ItemKnnRecommender, ItemKnnRecommenderConfig
from scenescout.recommenders.location import LocationRecommender, LocationRecommenderConfig
from scenescout.recommenders.trending import TrendingRecommender, TrendingRecommenderConfig

Normalization = Literal["minmax", "rank", "absolute"]

COMPONENTS: dict[str, type[Recommender]] = {
    cls.name: cls
    for cls in (
        CollaborativeRecommender,
        ContentRecommender,
        LocationRecommender,
        TrendingRecommender,
        FactorizationRecommender,
        ItemKnnRecommender,
    )
}
"""The recommenders a hybrid blends, by name (the ``algorithms`` section's keys)."""


class _Weighted(Protocol):
    enabled: bool
    weight: float


class HybridConfig(RecommenderConfig):
    """One config per component (the seed's sections, extended) and the normalization."""

    collaborative_filtering: CollaborativeRecommenderConfig = Field(
        default_factory=CollaborativeRecommenderConfig
    )
    content_based: ContentRecommenderConfig = Field(default_factory=ContentRecommenderConfig)
    location_based: LocationRecommenderConfig = Field(default_factory=LocationRecommenderConfig)
    trending: TrendingRecommenderConfig = Field(default_factory=TrendingRecommenderConfig)
    matrix_factorization: FactorizationRecommenderConfig = Field(
        default_factory=FactorizationRecommenderConfig
    )
    item_knn: ItemKnnRecommenderConfig = Field(default_factory=ItemKnnRecommenderConfig)
    normalization: Normalization = "minmax"

    @classmethod
    def from_algorithms(
        cls, algorithms: AlgorithmsConfig, normalization: Normalization = "minmax"
    ) -> Self:
        """The hybrid config of an ``algorithms`` section; component extras keep defaults."""
        sections = {name: getattr(algorithms, name).model_dump() for name in COMPONENTS}
        return cls.model_validate({**sections, "normalization": normalization})

    def component(self, name: str) -> RecommenderConfig:
        """The config of component ``name``."""
        config: RecommenderConfig = getattr(self, name)
        return config

    def blend_weights(self) -> dict[str, float]:
        """Weights of the components to blend: enabled, with a positive weight."""
        weights: dict[str, float] = {}
        for name in COMPONENTS:
            section: _Weighted = getattr(self, name)
            if section.enabled and section.weight > 0.0:
                weights[name] = float(section.weight)
        return weights


def normalize_scores(scores: ScoreArray, method: Normalization) -> ScoreArray:
    """One component's scores normalized over the candidates (see the module docstring)."""
    values = np.asarray(scores, dtype=np.float64)
    result = np.full(values.shape, np.nan)
    scored = ~np.isnan(values)
    present = values[scored]
    if present.size == 0:
        return result
    if method == "absolute":
        result[scored] = np.clip(present, 0.0, 1.0)
    elif method == "rank":
        ranks = rankdata(present, method="average")
        result[scored] = (ranks - 1.0) / (present.size - 1) if present.size > 1 else 0.5
    else:
        low, high = present.min(), present.max()
        result[scored] = (present - low) / (high - low) if high > low else 0.5
    return result


@dataclass
class Blend:
    """The blended scores and how each component made them.

    ``normalized[k]`` is component ``k``'s normalized score and ``contributions[k]`` its
    share of the blended score (``NaN`` where ``k`` could not score the candidate);
    contributions sum to ``scores``.
    """

    scores: ScoreArray
    normalized: dict[str, ScoreArray]
    contributions: dict[str, ScoreArray]


class HybridRecommender(Recommender):
    """Weighted ensemble of the enabled recommenders with per-candidate renormalization.

    Attributes
    ----------
    components_ : dict
        The fitted components by name: the enabled ones with a positive weight.
    """

    name = "hybrid"
    config_class = HybridConfig
    config: HybridConfig

    @classmethod
    def from_personalization(cls, config: PersonalizationConfig) -> Self:
        """A hybrid configured by a :class:`~scenescout.config.PersonalizationConfig`."""
        return cls(HybridConfig.from_algorithms(config.algorithms))

    def _fit(self, data: TrainingData) -> None:
        self.components_: dict[str, Recommender] = {
            name: COMPONENTS[name](self.config.component(name)).fit(data)
            for name in self.config.blend_weights()
        }

    def _prepare_events(self, events: EventFrame) -> None:
        for component in self.components_.values():
            component.prepare_events(events)

    def partial_update(self, interaction: Interaction, event: EventFrame | None = None) -> None:
        """Pass the interaction to every component."""
        self._require_fitted()
        for component in self.components_.values():
            component.partial_update(interaction, event)

    def partial_update_many(
        self, interactions: Sequence[Interaction], events: Sequence[EventFrame | None]
    ) -> None:
        """Pass the interactions to every component at once."""
        self._require_fitted()
        for component in self.components_.values():
            component.partial_update_many(interactions, events)

    def holds_user(self, user_id: str) -> list[str]:
        """``"<component>.<attribute>"`` for each component attribute holding the user."""
        self._require_fitted()
        return [
            f"{name}.{attribute}"
            for name, component in self.components_.items()
            for attribute in component.holds_user(user_id)
        ]

    def forget_user(self, user_id: str) -> list[str]:
        """Every component forgets the user; what held them, as :meth:`holds_user` says."""
        self._require_fitted()
        return [
            f"{name}.{attribute}"
            for name, component in self.components_.items()
            for attribute in component.forget_user(user_id)
        ]

    def score_components(
        self, context: ScoringContext, names: Iterable[str] | None = None
    ) -> dict[str, ScoreArray]:
        """Raw scores of the given components (all fitted ones by default).

        Raises
        ------
        ValueError
            When a name is not one of ``components_``.
        """
        self._require_fitted()
        chosen = list(self.components_) if names is None else list(names)
        unknown = [name for name in chosen if name not in self.components_]
        if unknown:
            raise ValueError(
                f"unknown or disabled components {unknown}; this hybrid uses "
                f"{sorted(self.components_)}"
            )
        return {name: self.components_[name].score(context) for name in chosen}

    def blend(self, component_scores: Mapping[str, ScoreArray]) -> Blend:
        """Blend raw component scores into one score per candidate.

        Parameters
        ----------
        component_scores
            Raw scores by component name, any non-empty subset of the weighted components
            (e.g. those that answered within the engine's time budget).

        Returns
        -------
        Blend
            Blended scores, per-component normalized scores and contributions.

        Raises
        ------
        ValueError
            When no scores are given, or a component has no weight in the config.
        """
        weights = self.config.blend_weights()
        unknown = [name for name in component_scores if name not in weights]
        if unknown:
            raise ValueError(f"no weight for components {unknown}; weights are {weights}")
        normalized = {
            name: normalize_scores(scores, self.config.normalization)
            for name, scores in component_scores.items()
        }
        if not normalized:
            raise ValueError("nothing to blend: no component scores were given")
        stacked = np.vstack(list(normalized.values()))
        weight = np.array([weights[name] for name in normalized])[:, None]
        available_weight = np.where(np.isnan(stacked), 0.0, weight).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            shares = weight * stacked / available_weight
        scores = np.where(available_weight > 0.0, np.nansum(shares, axis=0), np.nan)
        contributions = dict(zip(normalized, shares, strict=True))
        return Blend(scores=scores, normalized=normalized, contributions=contributions)

    def _score(self, context: ScoringContext) -> ScoreArray:
        if not self.components_:
            return np.full(len(context.candidates), np.nan)
        return self.blend(self.score_components(context)).scores
