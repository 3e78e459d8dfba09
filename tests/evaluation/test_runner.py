"""The offline runner on a tiny world with a planted signal, and the peer baselines."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from scenescout.domain import Event, Interaction, InteractionType
from scenescout.evaluation.baselines import (
    ImplicitScorer,
    als_scorers,
    best_of_family,
    item_knn_scorers,
)
from scenescout.evaluation.runner import EvaluationSetup, run_evaluation
from scenescout.evaluation.splits import random_split, relevant_items
from scenescout.frames import EventFrame, InteractionLog
from scenescout.geo import KM_PER_DEGREE_LAT
from scenescout.recommenders import ScoringContext
from scenescout.recommenders._events import intern_event_ids

NOW = datetime(2025, 1, 1, tzinfo=UTC)
CENTRE = (1.35, 103.82)
NEIGHBOURHOODS = 5
PLACES_PER_NEIGHBOURHOOD = 12
USERS_PER_NEIGHBOURHOOD = 8
VISITS_PER_USER = 8


def _offset(north_km: float, east_km: float) -> tuple[float, float]:
    km_lng = KM_PER_DEGREE_LAT * math.cos(math.radians(CENTRE[0]))
    return CENTRE[0] + north_km / KM_PER_DEGREE_LAT, CENTRE[1] + east_km / km_lng


def _world(seed: int) -> tuple[InteractionLog, EventFrame]:
    """Neighbourhoods 8 km apart on a ring; every user visits places of their own only,
    all places equally popular overall, so proximity is the signal to find."""
    rng = np.random.default_rng(seed)
    events: list[Event] = []
    visits: list[Interaction] = []
    for hood in range(NEIGHBOURHOODS):
        angle = 2 * math.pi * hood / NEIGHBOURHOODS
        centre = (8 * math.cos(angle), 8 * math.sin(angle))
        names = [f"place-{hood}-{i}" for i in range(PLACES_PER_NEIGHBOURHOOD)]
        for name in names:
            lat, lng = _offset(*(np.array(centre) + rng.normal(0.0, 0.5, 2)))
            events.append(Event(id=name, lat=lat, lng=lng))
        for user in range(USERS_PER_NEIGHBOURHOOD):
            for place in rng.choice(names, VISITS_PER_USER, replace=False):
                visits.append(
                    Interaction(
                        user_id=f"user-{hood}-{user}",
                        event_id=str(place),
                        interaction_type=InteractionType.CLICK,
                        occurred_at=NOW,
                        weight=float(rng.integers(1, 4)),
                    )
                )
    return InteractionLog.from_interactions(visits), EventFrame.from_events(events)


@pytest.fixture(scope="module")
def world() -> tuple[InteractionLog, InteractionLog, EventFrame]:
    log, events = _world(seed=3)
    train, test = random_split(log, 0.25, seed=5)
    return train, test, events


@pytest.fixture(scope="module")
def results(world: tuple[InteractionLog, InteractionLog, EventFrame]) -> dict[str, dict]:
    train, test, events = world
    setup = EvaluationSetup(
        train=train,
        relevant=relevant_items(test),
        events=events,
        cut_ts=int(NOW.timestamp()) + 1,
        radius_km=50.0,
        exclude_train_items=True,
        max_users=None,
    )
    scorers = {
        **als_scorers(train, factors=(2,), regularization=(0.1,), alpha=(1.0,)),
        **item_knn_scorers(train, neighbours=(10,)),
    }
    return run_evaluation(setup, extra_scorers=scorers)


def test_location_finds_the_planted_neighbourhoods(results: dict[str, dict]) -> None:
    location, random = results["location_based"]["ndcg@10"], results["random"]["ndcg@10"]
    assert location > 2 * random
    assert location > results["popularity"]["ndcg@10"]


def test_every_algorithm_is_evaluated_on_every_user(results: dict[str, dict]) -> None:
    expected = {
        "hybrid",
        "engine",
        "popularity",
        "random",
        "location_based",
        "als(factors=2,regularization=0.1,alpha=1)",
        "item_knn_cosine(K=10)",
        "item_knn_bm25(K=10)",
    }
    assert expected <= set(results)
    users = {metrics["users"] for metrics in results.values()}
    assert users == {NEIGHBOURHOODS * USERS_PER_NEIGHBOURHOOD}


def test_every_metric_is_in_the_unit_interval(results: dict[str, dict]) -> None:
    for name, metrics in results.items():
        for key in ("ndcg@10", "precision@10", "recall@10", "map@10", "hit_rate@10", "coverage"):
            assert 0.0 <= metrics[key] <= 1.0, (name, key)


def test_best_of_family_picks_the_best_grid_point() -> None:
    results = {
        "als(factors=2)": {"ndcg@10": 0.1},
        "als(factors=4)": {"ndcg@10": 0.3},
        "item_knn_bm25(K=5)": {"ndcg@10": 0.9},
    }
    assert best_of_family(results, "als") == ("als(factors=4)", {"ndcg@10": 0.3})
    with pytest.raises(KeyError, match="item_knn_cosine"):
        best_of_family(results, "item_knn_cosine")


@pytest.fixture(scope="module")
def baselines(world: tuple[InteractionLog, InteractionLog, EventFrame]) -> dict:
    train = world[0]
    return {
        **als_scorers(train, factors=(2, 3), regularization=(0.1,), alpha=(1.0, 10.0)),
        **item_knn_scorers(train, neighbours=(5, 20)),
    }


def _context(user: str, events: EventFrame) -> ScoringContext:
    return ScoringContext(user_id=user, candidates=events, now_ts=int(NOW.timestamp()))


def test_baselines_score_every_candidate_with_a_finite_score(
    world: tuple[InteractionLog, InteractionLog, EventFrame], baselines: dict
) -> None:
    _, _, events = world
    known = [
        Event(id=event_id, lat=lat, lng=lng)
        for event_id, lat, lng in zip(events.ids.tolist(), events.lat, events.lng, strict=True)
    ]
    both = EventFrame.from_events([*known, Event(id="brand-new", lat=CENTRE[0], lng=CENTRE[1])])
    rows = np.arange(len(both))
    assert len(baselines) == 4 + 4
    for name, scorer in baselines.items():
        for user in ("user-0-0", "stranger"):
            scores = scorer(user, _context(user, both), rows)
            assert scores.shape == (len(both),), name
            assert np.isfinite(scores).all(), name
        scores = scorer("user-0-0", _context("user-0-0", both), rows)
        trained = scorer.matrix.items.lookup(intern_event_ids(both.ids)) >= 0
        assert scores[-1] < scores[trained].min(), name


def test_baseline_scores_are_what_implicit_recommend_ranks_by(
    world: tuple[InteractionLog, InteractionLog, EventFrame], baselines: dict
) -> None:
    _, _, events = world
    user = "user-2-3"
    for name, scorer in baselines.items():
        assert isinstance(scorer, ImplicitScorer)
        columns = scorer.matrix.items.lookup(intern_event_ids(events.ids))
        trained = events.take(np.flatnonzero(columns >= 0))
        columns = columns[columns >= 0]
        scores = scorer(user, _context(user, trained), np.arange(len(trained)))
        row = scorer.matrix.user_rows[user]
        ids, values = scorer.model.recommend(
            row,
            scorer.user_items[row],
            N=len(trained),
            filter_already_liked_items=False,
            items=columns,
        )
        theirs = dict(zip(ids.tolist(), np.asarray(values, dtype=np.float64).tolist(), strict=True))
        reached = np.array([theirs[c] > -np.finfo(np.float32).max for c in columns.tolist()])
        expected = np.array([theirs[c] for c in columns[reached].tolist()])
        np.testing.assert_allclose(scores[reached], expected, rtol=1e-4, atol=1e-6, err_msg=name)
        if not reached.all():
            assert scores[~reached].max() <= scores[reached].min(), name
