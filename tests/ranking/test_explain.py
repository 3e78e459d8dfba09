"""Explanations name only contributing components; confidence stays in [0, 1]."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scenescout.ranking import COMPONENTS, NOVELTY, REASONS, confidence, explain

contribution_values = st.one_of(st.just(np.nan), st.just(0.0), st.floats(1e-6, 1.0))


@st.composite
def contribution_sets(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(0, 15))
    names = draw(st.lists(st.sampled_from(COMPONENTS), min_size=1, unique=True))
    return {
        "contributions": {
            name: np.array(draw(st.lists(contribution_values, min_size=n, max_size=n)))
            for name in names
        },
        "novel": np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool),
    }


@given(data=contribution_sets(), min_share=st.floats(0.0, 1.0))
def test_explanations_name_only_contributing_components(
    data: dict[str, Any], min_share: float
) -> None:
    contributions = data["contributions"]
    explanations = explain(
        contributions, data["novel"], min_share=min_share, fallback_reason="popular_nearby"
    )
    assert len(explanations) == len(data["novel"])
    for item, explanation in enumerate(explanations):
        values = {name: float(array[item]) for name, array in contributions.items()}
        contributed = {name for name, value in values.items() if value > 0}
        assert set(explanation.components) == contributed
        assert [values[name] for name in explanation.components] == sorted(
            (values[name] for name in explanation.components), reverse=True
        )
        allowed = {f for name in contributed for f in REASONS[name].factors}
        if data["novel"][item]:
            assert explanation.primary_reason == REASONS[NOVELTY].reason
            assert explanation.contributing_factors[0] == "novelty"
            allowed |= {"novelty"}
        elif contributed:
            # ties go to the earlier component of the table; max keeps the first maximum
            in_table_order = [name for name in COMPONENTS if name in contributed]
            largest = max(in_table_order, key=lambda name: values[name])
            assert explanation.primary_reason == REASONS[largest].reason
            assert set(REASONS[largest].factors) <= set(explanation.contributing_factors)
        else:
            assert explanation.primary_reason == "popular_nearby"
        assert set(explanation.contributing_factors) <= allowed
        assert len(set(explanation.contributing_factors)) == len(explanation.contributing_factors)


def test_seed_example_reads_as_in_the_seed_response() -> None:
    [explanation] = explain(
        {
            "content_based": np.array([0.5]),
            "location_based": np.array([0.2]),
            "trending": np.array([0.1]),
            "collaborative_filtering": np.array([np.nan]),
            "matrix_factorization": np.array([0.0]),
        },
        None,
    )
    assert explanation.primary_reason == "interest_alignment"
    assert explanation.contributing_factors == (
        "category_match",
        "content_similarity",
        "location",
        "popularity",
    )
    assert explanation.components == ("content_based", "location_based", "trending")


def test_small_shares_stay_out_of_the_factors_but_in_the_components() -> None:
    [explanation] = explain(
        {"location_based": np.array([0.9]), "trending": np.array([0.05])}, None, min_share=0.1
    )
    assert explanation.primary_reason == "near_you"
    assert explanation.contributing_factors == ("location",)
    assert explanation.components == ("location_based", "trending")


def test_largest_component_is_listed_even_below_min_share() -> None:
    contributions = {name: np.array([0.1]) for name in COMPONENTS}
    [explanation] = explain(contributions, None, min_share=0.5)
    assert explanation.primary_reason == "similar_users"
    assert explanation.contributing_factors == ("similar_users",)
    assert explanation.components == COMPONENTS


def test_collaborative_and_factorization_share_a_reason_not_a_factor() -> None:
    [explanation] = explain(
        {"matrix_factorization": np.array([0.4]), "collaborative_filtering": np.array([0.3])},
        None,
    )
    assert explanation.primary_reason == "similar_users"
    assert explanation.contributing_factors == ("taste_match", "similar_users")


def test_injected_item_leads_with_novelty() -> None:
    [explanation] = explain({"trending": np.array([0.3])}, np.array([True]))
    assert explanation.primary_reason == "new_for_you"
    assert explanation.contributing_factors == ("novelty", "popularity")


def test_no_contribution_needs_an_explicit_fallback_reason() -> None:
    contributions = {"trending": np.array([np.nan]), "content_based": np.array([0.0])}
    with pytest.raises(ValueError, match="fallback_reason"):
        explain(contributions, None)
    [explanation] = explain(contributions, None, fallback_reason="popular_nearby")
    assert explanation.primary_reason == "popular_nearby"
    assert explanation.contributing_factors == ()
    assert explanation.components == ()


def test_novel_alone_gives_the_item_count() -> None:
    explanations = explain({}, np.array([True, True]))
    assert [e.primary_reason for e in explanations] == ["new_for_you", "new_for_you"]


@pytest.mark.parametrize(
    ("contributions", "novel", "message"),
    [
        ({"hybrid": np.array([0.1])}, None, "unknown components"),
        ({NOVELTY: np.array([0.1])}, None, "unknown components"),
        ({"trending": np.array([0.1, 0.2]), "content_based": np.array([0.1])}, None, "shapes"),
        ({"trending": np.array([0.1])}, np.array([True, False]), "novel"),
        ({}, None, "number of items"),
    ],
)
def test_invalid_explain_arguments_are_rejected(
    contributions: dict[str, Any], novel: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        explain(contributions, novel)


score_values = st.one_of(st.just(np.nan), st.floats(-0.5, 1.5))


@st.composite
def component_score_sets(draw: st.DrawFn) -> dict[str, np.ndarray]:
    n = draw(st.integers(0, 15))
    names = draw(st.lists(st.sampled_from(COMPONENTS), min_size=1, unique=True))
    return {name: np.array(draw(st.lists(score_values, min_size=n, max_size=n))) for name in names}


@given(
    scores=component_score_sets(),
    strengths=st.tuples(st.floats(-0.5, 1.5), st.floats(-0.5, 1.5)).map(sorted),
)
def test_confidence_is_in_unit_interval_and_monotone_in_profile_strength(
    scores: dict[str, np.ndarray], strengths: list[float]
) -> None:
    weaker = confidence(scores, strengths[0])
    stronger = confidence(scores, strengths[1])
    for result in (weaker, stronger):
        assert np.all((result >= 0.0) & (result <= 1.0))
    assert np.all(weaker <= stronger)


def test_confidence_follows_the_documented_formula() -> None:
    scores = {
        "content_based": np.array([0.8, 1.0, np.nan, 0.6]),
        "trending": np.array([0.8, 0.0, np.nan, np.nan]),
    }
    result = confidence(scores, profile_strength=1.0)
    # full agreement and coverage; maximal disagreement; nothing scored; half coverage
    np.testing.assert_allclose(result, [1.0, 0.0, 0.0, 0.5])
    np.testing.assert_allclose(confidence(scores, profile_strength=0.0), [0.5, 0.0, 0.0, 0.25])


def test_confidence_grows_with_agreement() -> None:
    agree = {"content_based": np.array([0.6]), "trending": np.array([0.5])}
    disagree = {"content_based": np.array([0.9]), "trending": np.array([0.2])}
    assert confidence(agree, 0.5)[0] > confidence(disagree, 0.5)[0]


def test_confidence_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least one"):
        confidence({}, 0.5)
    with pytest.raises(ValueError, match="NaN"):
        confidence({"trending": np.array([0.5])}, float("nan"))
