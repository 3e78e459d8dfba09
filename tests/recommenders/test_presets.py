from __future__ import annotations

import pytest

from scenescout.config import PersonalizationConfig
from scenescout.recommenders import DEFAULT_CONFIG, PRESETS, get_preset


def test_the_default_config_is_the_seeds() -> None:
    assert PersonalizationConfig() == DEFAULT_CONFIG
    algorithms = DEFAULT_CONFIG.algorithms
    cf = algorithms.collaborative_filtering
    assert (cf.enabled, cf.weight, cf.min_interactions, cf.similarity_threshold) == (
        True,
        0.3,
        5,
        0.2,
    )
    content = algorithms.content_based
    assert (content.enabled, content.weight) == (True, 0.4)
    assert content.feature_weights.model_dump() == {
        "category": 0.4,
        "price": 0.3,
        "time": 0.2,
        "location": 0.1,
    }
    location = algorithms.location_based
    assert (location.enabled, location.weight, location.max_distance_km) == (True, 0.2, 50.0)
    assert location.decay_function == "exponential"
    trending = algorithms.trending
    assert (trending.enabled, trending.weight) == (True, 0.1)
    assert (trending.time_window_hours, trending.min_interaction_count) == (24.0, 3)
    assert not algorithms.matrix_factorization.enabled
    diversity = DEFAULT_CONFIG.diversity
    assert (diversity.enable_diversity, diversity.diversity_lambda) == (True, 0.5)
    assert (diversity.max_same_category, diversity.max_same_venue) == (3, 2)
    cache = DEFAULT_CONFIG.cache
    assert (cache.enabled, cache.ttl_seconds, cache.max_entries) == (True, 1800, 10_000)
    assert cache.invalidation_strategy == "hybrid"


def weights(name: str) -> dict[str, float]:
    algorithms = get_preset(name).algorithms
    return {
        key: section.weight
        for key, section in algorithms
        if section.enabled and section.weight > 0.0
    }


def test_conservative_leans_on_explicit_preferences() -> None:
    default, conservative = weights("default"), weights("conservative")
    assert conservative["content_based"] > default["content_based"]
    assert conservative["collaborative_filtering"] < default["collaborative_filtering"]
    assert max(conservative, key=conservative.__getitem__) == "content_based"
    cf = get_preset("conservative").algorithms.collaborative_filtering
    assert cf.min_interactions > DEFAULT_CONFIG.algorithms.collaborative_filtering.min_interactions


def test_aggressive_leans_on_machine_learning() -> None:
    default, aggressive = weights("default"), weights("aggressive")
    assert aggressive["collaborative_filtering"] > default["collaborative_filtering"]
    assert "matrix_factorization" not in default
    assert aggressive["matrix_factorization"] > 0.0
    learned = aggressive["collaborative_filtering"] + aggressive["matrix_factorization"]
    assert learned > 0.5


def test_discovery_leans_on_trending_and_location_and_spreads_results() -> None:
    default, discovery = weights("default"), weights("discovery")
    assert discovery["trending"] > default["trending"]
    assert discovery["location_based"] > default["location_based"]
    assert discovery["collaborative_filtering"] < default["collaborative_filtering"]
    assert sorted(discovery, key=discovery.__getitem__)[-2:] == ["location_based", "trending"]
    diversity = get_preset("discovery").diversity
    assert diversity.max_same_category < DEFAULT_CONFIG.diversity.max_same_category
    assert diversity.max_same_venue < DEFAULT_CONFIG.diversity.max_same_venue


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_weighs_to_one(name: str) -> None:
    assert sum(weights(name).values()) == pytest.approx(1.0)


def test_get_preset_returns_a_copy() -> None:
    preset = get_preset("default")
    preset.algorithms.trending.weight = 0.9
    assert get_preset("default").algorithms.trending.weight == 0.1
    assert DEFAULT_CONFIG.algorithms.trending.weight == 0.1


def test_an_unknown_preset_lists_the_valid_names() -> None:
    with pytest.raises(ValueError, match=r"aggressive.*conservative.*default.*discovery"):
        get_preset("bold")
