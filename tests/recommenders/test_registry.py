from __future__ import annotations

import pytest

from scenescout.config import CollaborativeFilteringConfig
from scenescout.recommenders import (
    RECOMMENDERS,
    CollaborativeRecommender,
    CollaborativeRecommenderConfig,
    create,
)


def test_every_recommender_is_registered_under_its_name() -> None:
    assert sorted(RECOMMENDERS) == [
        "collaborative_filtering",
        "content_based",
        "hybrid",
        "item_knn",
        "location_based",
        "matrix_factorization",
        "trending",
    ]
    for name, cls in RECOMMENDERS.items():
        assert cls.name == name


def test_create_from_a_seed_section_keeps_the_extra_defaults() -> None:
    recommender = create(
        "collaborative_filtering", CollaborativeFilteringConfig(min_interactions=2)
    )
    assert isinstance(recommender, CollaborativeRecommender)
    assert recommender.config.min_interactions == 2
    assert (
        recommender.config.neighbors_per_user == CollaborativeRecommenderConfig().neighbors_per_user
    )


def test_create_with_a_mapping_and_overrides() -> None:
    recommender = create("trending", {"time_window_hours": 6.0}, min_interaction_count=1)
    assert recommender.get_config()["time_window_hours"] == 6.0
    assert recommender.get_config()["min_interaction_count"] == 1


def test_create_rejects_unknown_settings() -> None:
    with pytest.raises(ValueError, match="decay"):
        create("location_based", {"decay": "linear"})


def test_an_unknown_name_lists_the_valid_names() -> None:
    with pytest.raises(ValueError, match=r"collaborative_filtering.*trending"):
        create("popularity")
