"""Item-kNN: the peer baseline's scores, and real-time rows."""

from __future__ import annotations

import numpy as np
from tests.recommenders.recommender_world import CANDIDATES, World, interaction

from scenescout.evaluation.baselines import item_knn_scorers
from scenescout.recommenders import ItemKnnRecommender


def test_fitted_users_score_like_the_implicit_baseline(world: World) -> None:
    ours = ItemKnnRecommender(neighbours=50).fit(world.data)
    (baseline,) = item_knn_scorers(
        world.data.interactions, kinds=("bm25",), neighbours=(50,)
    ).values()
    for user in ("alice", "erin", "nina"):
        context = world.context(user, *CANDIDATES)
        scores = ours.score(context)
        expected = baseline(user, context, np.arange(len(CANDIDATES)))
        warm = np.isin(context.candidates.ids, ["music-warm", "sports-warm"])
        np.testing.assert_allclose(scores[warm], expected[warm], rtol=1e-5)
        assert (scores[~warm] == 0.0).all(), "events never co-visited score 0"


def test_a_new_visit_counts_at_once(world: World) -> None:
    knn = ItemKnnRecommender().fit(world.data)
    context = world.context("newcomer", "music-warm", "sports-warm")
    assert np.isnan(knn.score(context)).all()
    past_sports = world.data.interactions.event_ids[
        world.data.interactions.user_ids == "erin"
    ].tolist()
    knn.partial_update(interaction("newcomer", past_sports[0]))
    scores = knn.score(context)
    assert scores[1] > scores[0] >= 0.0
