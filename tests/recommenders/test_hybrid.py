from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.recommenders.recommender_world import CANDIDATES, PLACE_A, World, make_world

from scenescout.recommenders import (
    COMPONENTS,
    HybridRecommender,
    get_preset,
    normalize_scores,
)

NAN = math.nan


@pytest.fixture(scope="module")
def hybrid() -> HybridRecommender:
    return HybridRecommender().fit(make_world().data)


def test_the_seed_config_blends_the_seed_components(hybrid: HybridRecommender) -> None:
    assert hybrid.config.blend_weights() == {
        "collaborative_filtering": 0.3,
        "content_based": 0.4,
        "location_based": 0.2,
        "trending": 0.1,
    }
    assert set(hybrid.components_) == set(hybrid.config.blend_weights())


def test_one_nan_component_does_not_poison_the_blend(hybrid: HybridRecommender) -> None:
    blend = hybrid.blend(
        {
            "collaborative_filtering": np.array([NAN, 0.2, 0.8]),
            "location_based": np.array([1.0, 0.0, 0.5]),
        }
    )
    # Candidate 0: only location scored it, so its weight is renormalized to 1.
    assert blend.scores[0] == 1.0
    np.testing.assert_allclose(blend.scores[1:], [0.0, (0.3 * 1.0 + 0.2 * 0.5) / 0.5])
    assert math.isnan(blend.contributions["collaborative_filtering"][0])


def test_a_candidate_nobody_can_score_stays_nan(hybrid: HybridRecommender) -> None:
    blend = hybrid.blend({"collaborative_filtering": np.array([NAN, 1.0])})
    assert math.isnan(blend.scores[0])
    assert blend.scores[1] == 0.5, "one scored candidate: min-max has nothing to stretch"


def test_score_components_takes_a_subset(hybrid: HybridRecommender, world: World) -> None:
    context = world.context("alice", *CANDIDATES, location=PLACE_A)
    scores = hybrid.score_components(context, ["trending", "location_based"])
    assert list(scores) == ["trending", "location_based"]
    np.testing.assert_array_equal(scores["trending"], hybrid.components_["trending"].score(context))
    partial = hybrid.blend(scores)
    assert np.isfinite(partial.scores).all()
    with pytest.raises(ValueError, match="matrix_factorization"):
        hybrid.score_components(context, ["matrix_factorization"])
    with pytest.raises(ValueError, match="no weight"):
        hybrid.blend({"matrix_factorization": np.zeros(4)})


def test_contributions_explain_the_score(hybrid: HybridRecommender, world: World) -> None:
    blend = hybrid.blend(
        hybrid.score_components(world.context("alice", *CANDIDATES, location=PLACE_A))
    )
    total = np.nansum(np.vstack(list(blend.contributions.values())), axis=0)
    np.testing.assert_allclose(total, blend.scores)
    top = CANDIDATES.index("music-warm")
    assert blend.contributions["collaborative_filtering"][top] > 0.0


def test_normalizations() -> None:
    scores = np.array([2.0, NAN, 4.0, 3.0, 3.0])
    np.testing.assert_allclose(
        normalize_scores(scores, "minmax"), [0.0, NAN, 1.0, 0.5, 0.5], equal_nan=True
    )
    np.testing.assert_allclose(
        normalize_scores(scores, "rank"), [0.0, NAN, 1.0, 0.5, 0.5], equal_nan=True
    )
    np.testing.assert_allclose(
        normalize_scores(np.array([-1.0, 0.4, 7.0]), "absolute"), [0.0, 0.4, 1.0]
    )
    assert normalize_scores(np.array([5.0, 5.0]), "minmax").tolist() == [0.5, 0.5]
    assert np.isnan(normalize_scores(np.array([NAN, NAN]), "rank")).all()


def test_a_preset_configures_the_hybrid() -> None:
    aggressive = HybridRecommender.from_personalization(get_preset("aggressive"))
    assert aggressive.config.blend_weights()["matrix_factorization"] == 0.3
    assert aggressive.config.collaborative_filtering.min_interactions == 3


component_scores = st.lists(
    st.one_of(st.just(NAN), st.floats(0.0, 1.0)), min_size=1, max_size=8
).flatmap(
    lambda first: st.lists(
        st.lists(
            st.one_of(st.just(NAN), st.floats(0.0, 1.0)), min_size=len(first), max_size=len(first)
        ),
        min_size=0,
        max_size=len(COMPONENTS) - 2,
    ).map(lambda rest: [first, *rest])
)


@given(component_scores, st.sampled_from(["minmax", "rank", "absolute"]))
def test_blend_invariants(columns: list[list[float]], normalization: str) -> None:
    hybrid = HybridRecommender(normalization=normalization)
    names = list(hybrid.config.blend_weights())[: len(columns)]
    scores = {name: np.array(values) for name, values in zip(names, columns, strict=False)}
    blend = hybrid.blend(scores)
    stacked = np.vstack(list(scores.values()))
    assert np.array_equal(np.isnan(blend.scores), np.isnan(stacked).all(axis=0))
    finite = blend.scores[~np.isnan(blend.scores)]
    assert np.all((finite >= -1e-12) & (finite <= 1.0 + 1e-12))
    total = np.nansum(np.vstack(list(blend.contributions.values())), axis=0)
    np.testing.assert_allclose(total[~np.isnan(blend.scores)], finite, atol=1e-12)
