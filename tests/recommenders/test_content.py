from __future__ import annotations

import numpy as np
from tests.recommenders.recommender_world import CANDIDATES, PLACE_A, World, interaction

from scenescout.domain import InteractionType
from scenescout.profiles.profile import UserProfile
from scenescout.recommenders import ContentRecommender


def row_of(world: World, event_id: str) -> int:
    return int(np.flatnonzero(world.events.ids == event_id)[0])


def music_profile(excluded_categories: tuple[str, ...] = ()) -> UserProfile:
    """A music lover who likes mid prices, Friday evenings and staying within 5 km."""
    return UserProfile(
        user_id="zed",
        categories={"music": 6.0},
        price_bands={"mid": 4.0},
        time_of_week={"5:2": 3.0},
        typical_distance_km=5.0,
        interaction_count=8,
        excluded_categories=excluded_categories,
    )


def test_similar_events_of_an_event_share_its_topic(world: World) -> None:
    content = ContentRecommender().fit(world.data)
    query = row_of(world, "music-cold")
    rows, similarity = content.similar_events(query, world.events, k=3)
    assert len(rows) == 3
    assert query not in rows
    assert all(world.events.ids[r].startswith("music-") for r in rows)
    assert np.all(np.diff(similarity) <= 0.0)
    assert similarity.max() <= 1.0 + 1e-6


def test_similar_events_of_free_text(world: World) -> None:
    content = ContentRecommender().fit(world.data)
    rows, similarity = content.similar_events("football match at the stadium", world.events, k=2)
    assert len(rows) == 2
    assert all(world.events.ids[r].startswith("sports-") for r in rows)
    assert similarity.min() > 0.0
    nothing, _ = content.similar_events("zzz qqq", world.events, k=5)
    assert len(nothing) == 0


def test_profile_features_rank_without_a_text_profile(world: World) -> None:
    content = ContentRecommender().fit(world.data)
    context = world.context("zed", *CANDIDATES, location=PLACE_A, profile=music_profile())
    scores = content.score(context)
    assert np.isfinite(scores).all()
    assert CANDIDATES[int(np.argmax(scores))] == "music-warm", "music, mid price, near"


def test_a_cold_profile_without_text_cannot_be_scored(world: World) -> None:
    content = ContentRecommender().fit(world.data)
    cold = UserProfile(user_id="zed")
    assert np.isnan(content.score(world.context("zed", *CANDIDATES, profile=cold))).all()


def test_untouched_categories_get_a_small_predicted_affinity(world: World) -> None:
    content = ContentRecommender().fit(world.data)
    music, sports, unknown = content.category_affinity(
        music_profile(), ["music", "sports", "gardening"]
    )
    assert music == 1.0
    assert 0.0 < sports <= content.config.interest_prediction_weight
    assert unknown == 0.0
    assert content.category_similarity_[0, 1] > 0.0, "fans glance at the other category"


def test_a_category_of_the_latest_days_counts_as_much_as_its_recent_share(
    world: World,
) -> None:
    content = ContentRecommender().fit(world.data)
    profile = music_profile()
    profile.categories["sports"] = 1.5
    profile.recent_categories = {"music": 0.5, "sports": 2.0}
    music, sports = content.category_affinity(profile, ["music", "sports"])
    assert music == 1.0
    assert sports == 1.0, "just saved twice: as strong as the long-time favourite"


def test_excluded_categories_score_zero(world: World) -> None:
    content = ContentRecommender().fit(world.data)
    profile = music_profile(excluded_categories=("sports",))
    assert content.category_affinity(profile, ["sports"]).tolist() == [0.0]


def test_feature_weights_decide_the_match(world: World) -> None:
    def only(feature: str) -> ContentRecommender:
        weights = dict.fromkeys(("category", "price", "time", "location"), 0.0) | {feature: 1.0}
        return ContentRecommender(text_weight=0.0, feature_weights=weights).fit(world.data)

    context = world.context(
        "zed", "music-cold", "sports-warm", location=PLACE_A, profile=music_profile()
    )
    music, sports = only("location").score(context)
    assert sports > music, "sports-warm is at A, music-cold 23 km away"
    music, sports = only("category").score(context)
    assert music > sports


def test_partial_update_moves_the_text_profile(world: World) -> None:
    content = ContentRecommender().fit(world.data)
    context = world.context("alice", "sports-cold")
    before = content.score(context)[0]
    for event_id in ("sports-1", "sports-3"):
        content.partial_update(
            interaction("alice", event_id, InteractionType.PURCHASE), world.frame(event_id)
        )
    assert content.score(context)[0] > before


def test_partial_update_creates_a_text_profile_for_a_new_user(world: World) -> None:
    content = ContentRecommender().fit(world.data)
    context = world.context("oscar", "music-warm", "sports-warm")
    assert np.isnan(content.score(context)).all()
    content.partial_update(interaction("oscar", "music-cold"), world.frame("music-cold"))
    music, sports = content.score(context)
    assert music > sports
