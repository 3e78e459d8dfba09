from __future__ import annotations

import numpy as np
from tests.recommenders.recommender_world import CANDIDATES, World, interaction

from scenescout.domain import InteractionType
from scenescout.recommenders import CollaborativeRecommender


def test_new_events_are_reached_through_their_content_neighbours(world: World) -> None:
    cf = CollaborativeRecommender().fit(world.data)
    music_cold, sports_cold = cf.score(world.context("alice", "music-cold", "sports-cold"))
    assert np.isfinite(music_cold)
    assert music_cold > np.nan_to_num(sports_cold)
    columns, weights = cf.neighbors_.get(world.frame("music-cold"))
    neighbours = cf.item_ids_[columns[0][columns[0] >= 0]]
    assert len(neighbours) > 0
    assert all(event_id.startswith("music-") for event_id in neighbours)
    assert np.all(weights[0][columns[0] >= 0] >= cf.config.content_similarity_threshold)


def test_trained_events_stand_for_themselves(world: World) -> None:
    cf = CollaborativeRecommender().fit(world.data)
    columns, weights = cf.neighbors_.get(world.frame("music-warm"))
    assert cf.item_ids_[columns[0][0]] == "music-warm"
    assert weights[0].tolist()[0] == 1.0
    assert (columns[0][1:] == -1).all()


def test_fewer_interactions_than_required_gives_nan(world: World) -> None:
    strict = CollaborativeRecommender().fit(world.data)
    assert np.isnan(strict.score(world.context("nina", *CANDIDATES))).all()
    lenient = CollaborativeRecommender(min_interactions=1).fit(world.data)
    assert not np.isnan(lenient.score(world.context("nina", *CANDIDATES))).all()


def test_similarity_threshold_bounds_the_neighbourhoods(world: World) -> None:
    cf = CollaborativeRecommender(similarity_threshold=0.5).fit(world.data)
    kept = cf.user_similarity_[cf.user_neighbors_ >= 0]
    assert kept.size > 0
    assert kept.min() >= 0.5
    assert cf.item_similarity_.data.min() >= 0.5


def test_partial_update_extends_the_history_at_once(world: World) -> None:
    cf = CollaborativeRecommender(min_interactions=2).fit(world.data)
    context = world.context("nina", "music-warm", "sports-warm")
    assert np.isnan(cf.score(context)).all()
    cf.partial_update(interaction("nina", "music-1"), world.frame("music-1"))
    music, sports = cf.score(context)
    assert music > np.nan_to_num(sports)


def test_a_new_user_on_a_new_event_is_scored_through_content(world: World) -> None:
    cf = CollaborativeRecommender(min_interactions=1).fit(world.data)
    context = world.context("oscar", "music-warm", "sports-warm")
    cf.partial_update(interaction("oscar", "music-cold"))
    assert np.isnan(cf.score(context)).all(), "a new event needs its frame the first time"
    cf.partial_update(interaction("oscar", "music-cold"), world.frame("music-cold"))
    music, sports = cf.score(context)
    assert music > np.nan_to_num(sports)


def test_negative_feedback_is_not_a_positive_signal(world: World) -> None:
    cf = CollaborativeRecommender(min_interactions=1).fit(world.data)
    context = world.context("nina", *CANDIDATES)
    before = cf.score(context)
    cf.partial_update(
        interaction("nina", "sports-0", InteractionType.HIDE), world.frame("sports-0")
    )
    np.testing.assert_array_equal(cf.score(context), before)
