"""Offline runs: every recommender on its own, the hybrid, the whole engine and baselines.

Protocol, identical for every algorithm: for each evaluated user the candidates are the
catalog's events at the query time (the split's cut) within ``radius_km`` of the user's
location (home, or the centre of their training interactions when no home is known),
minus the events the protocol excludes. Each algorithm scores those candidates; its top
``k`` by score (ties broken by a seeded random order, never by position) are compared with
the user's held-out relevant events. ``engine`` is the full read path: blend, diversity,
caps and novelty, as served. Extra scorers (peer baselines, see
:mod:`scenescout.evaluation.baselines`) see exactly the same candidates, in the same
:class:`~scenescout.recommenders.base.ScoringContext` object per user.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from scenescout.catalog import CatalogSnapshot
from scenescout.config import PersonalizationConfig
from scenescout.domain import GeoPoint
from scenescout.domain.recommendation import LocationContext, RecommendationRequest, RequestContext
from scenescout.engine import PersonalizationEngine
from scenescout.evaluation.metrics import evaluate_rankings
from scenescout.frames import EventFrame, InteractionLog
from scenescout.recommenders.base import ScoringContext, TrainingData

Scorer = Callable[[str, ScoringContext, npt.NDArray[np.int64]], npt.NDArray[np.float64]]
"""An extra algorithm for the comparison: (user, context, catalog rows) -> scores.

One score per candidate of ``context`` (non-finite: not recommended). Every scorer of a user
is handed the same ``context`` object, so scorers may share work computed once per context.
"""


@dataclass
class EvaluationSetup:
    """One offline experiment: what to train on, what to predict, and how to ask."""

    train: InteractionLog
    relevant: Mapping[str, set[str]]
    events: EventFrame
    cut_ts: int
    radius_km: float = 50.0
    k: int = 10
    user_homes: dict[str, tuple[float, float]] = field(default_factory=dict)
    exclude_train_items: bool = False
    max_users: int | None = 2_000
    seed: int = 7


def _centroids(log: InteractionLog, events: EventFrame) -> dict[str, tuple[float, float]]:
    """The mean location of each user's interactions (a home for users without one)."""
    rows = {event_id: i for i, event_id in enumerate(events.ids.tolist())}
    index = np.array([rows.get(e, -1) for e in log.event_ids.tolist()], dtype=np.int64)
    known = index >= 0
    users, owner = np.unique(log.user_ids[known].astype(str), return_inverse=True)
    counts = np.bincount(owner, minlength=len(users)).astype(np.float64)
    lat = np.bincount(owner, weights=events.lat[index[known]], minlength=len(users)) / counts
    lng = np.bincount(owner, weights=events.lng[index[known]], minlength=len(users)) / counts
    return {u: (float(a), float(b)) for u, a, b in zip(users.tolist(), lat, lng, strict=True)}


def popularity_scorer(train: InteractionLog) -> Scorer:
    """Baseline: how many training interactions each event has (all time)."""
    events, counts = np.unique(train.event_ids.astype(str), return_counts=True)
    table = dict(zip(events.tolist(), counts.astype(np.float64).tolist(), strict=True))

    def score(user: str, context: ScoringContext, rows: npt.NDArray[np.int64]) -> Any:
        return np.fromiter((table.get(e, 0.0) for e in context.candidates.ids), float)

    return score


def random_scorer(seed: int) -> Scorer:
    """Baseline: a random order."""
    rng = np.random.default_rng(seed)

    def score(user: str, context: ScoringContext, rows: npt.NDArray[np.int64]) -> Any:
        return rng.random(len(context.candidates))

    return score


def _top_k(scores: npt.NDArray[np.float64], k: int, tiebreak: npt.NDArray[np.float64]) -> Any:
    """Positions of the ``k`` best finite scores, ties in ``tiebreak`` order."""
    positions = np.flatnonzero(np.isfinite(scores))
    if positions.shape[0] > k:
        # Only scores at or above the k-th best can make the list (ties included).
        kth = -np.partition(-scores[positions], k - 1)[k - 1]
        positions = positions[scores[positions] >= kth]
    order = np.lexsort((tiebreak[positions], -scores[positions]))
    return positions[order[:k]]


def run_evaluation(
    setup: EvaluationSetup,
    config: PersonalizationConfig | None = None,
    *,
    extra_scorers: Mapping[str, Scorer] | None = None,
    include_engine: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, dict[str, float]]:
    """Train on ``setup.train``, rank for every evaluated user, and return metrics.

    Parameters
    ----------
    setup
        The data and the protocol.
    config
        The personalization config of ``hybrid`` and ``engine`` (the seed's by default).
    extra_scorers
        More algorithms to compare, by name; each gets every user's candidates.
    include_engine
        Whether to run the full read path (``engine``) too.
    progress
        Called with (stage, done, total) every 50 users.

    Returns
    -------
    dict
        Algorithm name (``hybrid``, the name of each component the engine fitted, whether
        or not ``config`` blends it, ``engine``, ``popularity``, ``random`` and the extra
        scorers) to metrics keyed like ``ndcg@10``.
    """
    config = config if config is not None else PersonalizationConfig()
    homes = {**_centroids(setup.train, setup.events), **setup.user_homes}
    data = TrainingData(
        interactions=setup.train, events=setup.events, now_ts=setup.cut_ts, user_homes=homes
    )
    catalog = CatalogSnapshot.build(setup.events, setup.cut_ts)
    engine = PersonalizationEngine.train(data, catalog, config)
    train_items: dict[str, set[str]] = {}
    if setup.exclude_train_items:
        for user, event in zip(
            setup.train.user_ids.tolist(), setup.train.event_ids.tolist(), strict=True
        ):
            train_items.setdefault(user, set()).add(event)
        engine.exclusions = train_items

    scorers: dict[str, Scorer] = {
        "popularity": popularity_scorer(setup.train),
        "random": random_scorer(setup.seed),
        **(extra_scorers or {}),
    }
    blender = engine.hybrid_for(config)
    # Every fitted component is reported, also those this config does not blend.
    components = list(engine.hybrid.components_)
    users = sorted(u for u, items in setup.relevant.items() if items and u in homes)
    if setup.max_users is not None and len(users) > setup.max_users:
        rng = np.random.default_rng(setup.seed)
        users = sorted(rng.choice(users, size=setup.max_users, replace=False).tolist())

    rankings: dict[str, dict[str, list[str]]] = {
        name: {}
        for name in [
            "hybrid",
            *components,
            *scorers,
            *(["engine"] if include_engine else []),
        ]
    }
    tiebreak_rng = np.random.default_rng(setup.seed + 1)
    for done, user in enumerate(users, start=1):
        home = GeoPoint(lat=homes[user][0], lng=homes[user][1])
        rows = catalog.candidates(
            home,
            setup.radius_km,
            None,
            None,
            None,
            now=setup.cut_ts,
            exclude_ids=engine.exclusions.get(user),
        )
        candidates = catalog.take(rows)
        context = ScoringContext(
            user_id=user,
            candidates=candidates,
            now_ts=setup.cut_ts,
            location=home,
            profile=engine.profiles.get(user),
        )
        tiebreak = tiebreak_rng.random(len(rows))
        ids = candidates.ids
        raw = {name: engine.hybrid.components_[name].score(context) for name in components}
        blended = blender.blend({name: raw[name] for name in blender.components_})
        all_scores = {"hybrid": blended.scores, **raw}
        for name, scorer in scorers.items():
            all_scores[name] = np.asarray(scorer(user, context, rows), dtype=np.float64)
        for name, scores in all_scores.items():
            rankings[name][user] = ids[_top_k(scores, setup.k, tiebreak)].tolist()
        if include_engine:
            request = RecommendationRequest(
                user_id=user,
                context=RequestContext(
                    location=LocationContext(lat=home.lat, lng=home.lng, radius_km=setup.radius_km)
                ),
                limit=setup.k,
            )
            result = engine.get_recommendations(request, now_ts=setup.cut_ts)
            rankings["engine"][user] = [r.event_id for r in result.recommendations]
        if progress is not None and (done % 50 == 0 or done == len(users)):
            progress("evaluating users", done, len(users))

    category = {
        str(i): c
        for i, c in zip(setup.events.ids.tolist(), setup.events.category.tolist(), strict=True)
    }
    pairs = np.unique(
        np.char.add(
            np.char.add(setup.train.event_ids.astype(str), "\x1f"), setup.train.user_ids.astype(str)
        )
    )
    event_users, counts = np.unique(np.char.partition(pairs, "\x1f")[:, 0], return_counts=True)
    n_users = max(len(np.unique(setup.train.user_ids.astype(str))), 1)
    popularity = dict(
        zip(event_users.tolist(), (counts / n_users).clip(0, 1).tolist(), strict=True)
    )
    relevant = {u: setup.relevant[u] for u in users}
    return {
        name: evaluate_rankings(
            lists,
            relevant,
            setup.k,
            catalog_size=len(catalog),
            item_category=lambda e: category.get(e, -1),
            item_popularity=popularity,
            n_users=n_users,
        )
        for name, lists in rankings.items()
    }
