from __future__ import annotations

import pickle
from dataclasses import replace

import numpy as np
from tests.recommenders.recommender_world import CANDIDATES, World, interaction

from scenescout.domain import InteractionType
from scenescout.frames import InteractionLog
from scenescout.recommenders import TrainingData, TrendingRecommender


def test_partial_update_counts_in_real_time(world: World) -> None:
    trending = TrendingRecommender().fit(world.data)
    frame = world.frame("music-cold")
    context = world.context("zed", "music-cold")
    assert trending.interaction_counts(frame, world.now_ts).tolist() == [0.0]
    for count in (1, 2):
        trending.partial_update(interaction(f"fan{count}", "music-cold"))
        assert trending.interaction_counts(frame, world.now_ts).tolist() == [count]
        assert trending.score(context).tolist() == [0.0], "below min_interaction_count: 0"
    trending.partial_update(interaction("fan3", "music-cold"))
    assert trending.score(context)[0] > 0.0


def test_negative_feedback_is_not_popularity(world: World) -> None:
    trending = TrendingRecommender().fit(world.data)
    frame = world.frame("sports-warm")
    before = trending.interaction_counts(frame, world.now_ts)
    trending.partial_update(interaction("zed", "sports-warm", InteractionType.HIDE))
    np.testing.assert_array_equal(trending.interaction_counts(frame, world.now_ts), before)


def test_scores_are_in_the_unit_interval_and_never_nan(world: World) -> None:
    trending = TrendingRecommender().fit(world.data)
    scores = trending.score(world.context("zed", *CANDIDATES))
    assert np.all((scores >= 0.0) & (scores < 1.0))


def test_the_window_slides_with_time(world: World) -> None:
    trending = TrendingRecommender().fit(world.data)
    context = world.context("zed", *CANDIDATES)
    assert trending.score(context).max() > 0.0
    later = replace(context, now_ts=world.now_ts + 3 * 86_400)
    assert trending.score(later).max() == 0.0


def test_interactions_older_than_two_windows_are_ignored(world: World) -> None:
    trending = TrendingRecommender().fit(world.data)
    frame = world.frame("music-cold")
    trending.partial_update(interaction("zed", "music-cold", hours_ago=72.0))
    assert trending.interaction_counts(frame, world.now_ts).tolist() == [0.0]


def test_a_rising_event_beats_a_steady_one_with_the_same_recent_activity(world: World) -> None:
    interactions = []
    for fan in range(4):
        for event_id in ("music-cold", "sports-cold"):
            interactions.append(interaction(f"fan{fan}", event_id, hours_ago=2.0 + fan))
        interactions.append(interaction(f"fan{fan}", "sports-cold", hours_ago=30.0 + fan))
    data = TrainingData(InteractionLog.from_interactions(interactions), world.events, world.now_ts)
    trending = TrendingRecommender().fit(data)
    rising, steady = trending.score(world.context("zed", "music-cold", "sports-cold"))
    assert rising > steady > 0.0
    flat = TrendingRecommender(velocity_weight=0.0).fit(data)
    rising, steady = flat.score(world.context("zed", "music-cold", "sports-cold"))
    assert rising == steady


def test_counting_keeps_the_bucket_sums_as_a_fresh_computation_has_them(world: World) -> None:
    # One recommender per scoring time, so each keeps its bucket's sums throughout.
    contexts = [
        replace(world.context("zed", *CANDIDATES), now_ts=world.now_ts + s) for s in (0, 5_400)
    ]
    recommenders = [TrendingRecommender().fit(world.data) for _ in contexts]
    for trending, context in zip(recommenders, contexts, strict=True):
        trending.score(context)
    rng = np.random.default_rng(7)
    for step in range(40):
        # Interactions of this bucket, of older ones, new events, and one of a later bucket
        # that takes over the ring slot of an earlier one (48 hours before it).
        event_id = CANDIDATES[step % len(CANDIDATES)] if step % 5 else f"new-{step}"
        hours_ago = {29: 46.5, 30: -1.5}.get(step, float(rng.uniform(0.0, 40.0)))
        for trending, context in zip(recommenders, contexts, strict=True):
            trending.partial_update(interaction(f"fan{step}", event_id, hours_ago=hours_ago))
            kept = trending.score(context)
            fresh = pickle.loads(pickle.dumps(trending))  # unpickled: no sums kept
            np.testing.assert_allclose(kept, fresh.score(context), rtol=1e-5, atol=1e-9)
