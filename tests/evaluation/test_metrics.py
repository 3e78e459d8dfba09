import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scenescout.evaluation import (
    average_precision_at_k,
    catalog_coverage,
    evaluate_rankings,
    hit_rate_at_k,
    intra_list_diversity,
    ndcg_at_k,
    novelty,
    precision_at_k,
    recall_at_k,
)

RANKING_METRICS = {
    "precision": precision_at_k,
    "recall": recall_at_k,
    "ndcg": ndcg_at_k,
    "map": average_precision_at_k,
    "hit_rate": hit_rate_at_k,
}

items = st.sampled_from("abcdefghijkl")
recommended_lists = st.lists(items, max_size=15)
relevant_sets = st.sets(items, min_size=1)
cutoffs = st.integers(1, 15)


def reference_ndcg(recommended: list[str], relevant: set[str], k: int) -> float:
    """nDCG@k written straight from its definition, one rank at a time."""
    dcg, seen = 0.0, set()
    for rank, item in enumerate(recommended[:k], start=1):
        if item in relevant and item not in seen:
            dcg += 1.0 / math.log2(rank + 1)
        seen.add(item)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(relevant), k) + 1))
    return dcg / ideal


def reference_average_precision(recommended: list[str], relevant: set[str], k: int) -> float:
    hits, total, seen = 0, 0.0, set()
    for rank, item in enumerate(recommended[:k], start=1):
        if item in relevant and item not in seen:
            hits += 1
            total += hits / rank
        seen.add(item)
    return total / min(len(relevant), k)


# Hand-computed examples.


def test_precision_divides_by_k_even_for_a_short_list() -> None:
    assert precision_at_k(["a", "b", "c", "d"], {"a", "c", "x"}, 3) == pytest.approx(2 / 3)
    assert precision_at_k(["a", "b", "c", "d"], {"a", "c", "x"}, 5) == pytest.approx(2 / 5)


def test_recall_divides_by_the_number_of_relevant_items() -> None:
    assert recall_at_k(["a", "b", "c", "d"], {"a", "c", "x"}, 3) == pytest.approx(2 / 3)
    assert recall_at_k(["a", "b", "c", "d"], {"a", "c", "x"}, 1) == pytest.approx(1 / 3)


def test_ndcg_of_hits_at_ranks_one_and_three() -> None:
    expected = (1 + 1 / 2) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(["a", "b", "c"], {"a", "c"}, 3) == pytest.approx(expected)


def test_ndcg_ideal_is_capped_at_k() -> None:
    # Four relevant items but k = 2: the ideal DCG has two terms, so one hit at rank 2 gives
    # (1/log2(3)) / (1 + 1/log2(3)).
    expected = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(["x", "a"], {"a", "b", "c", "d"}, 2) == pytest.approx(expected)


def test_average_precision_sums_precision_at_hit_ranks() -> None:
    assert average_precision_at_k(["a", "b", "c"], {"a", "c"}, 3) == pytest.approx(
        (1 / 1 + 2 / 3) / 2
    )


def test_average_precision_divides_by_min_of_relevant_and_k() -> None:
    assert average_precision_at_k(["a", "b"], {"a", "c", "x", "y"}, 2) == pytest.approx(1 / 2)


def test_hit_rate_looks_only_at_the_first_k() -> None:
    assert hit_rate_at_k(["b", "d"], {"a"}, 2) == 0.0
    assert hit_rate_at_k(["b", "a"], {"a"}, 2) == 1.0
    assert hit_rate_at_k(["b", "a"], {"a"}, 1) == 0.0


def test_a_repeated_item_is_a_hit_once() -> None:
    assert precision_at_k(["a", "a", "b"], {"a"}, 3) == pytest.approx(1 / 3)
    assert recall_at_k(["a", "a", "b"], {"a"}, 3) == 1.0
    assert ndcg_at_k(["a", "a", "b"], {"a"}, 3) == 1.0
    assert average_precision_at_k(["a", "a", "b"], {"a", "b"}, 3) == pytest.approx((1 + 2 / 3) / 2)


@pytest.mark.parametrize("metric", RANKING_METRICS.values(), ids=RANKING_METRICS.keys())
def test_ranking_metrics_reject_bad_input(metric) -> None:
    with pytest.raises(ValueError, match="k must be at least 1"):
        metric(["a"], {"a"}, 0)
    with pytest.raises(ValueError, match="relevant is empty"):
        metric(["a"], set(), 3)


def test_catalog_coverage_counts_distinct_items() -> None:
    assert catalog_coverage([["a", "b"], ["b", "c"], []], 10) == pytest.approx(0.3)


def test_catalog_coverage_rejects_bad_catalog_sizes() -> None:
    with pytest.raises(ValueError, match="catalog_size must be at least 1"):
        catalog_coverage([["a"]], 0)
    with pytest.raises(ValueError, match="3 distinct items"):
        catalog_coverage([["a", "b"], ["c"]], 2)


def test_intra_list_diversity_is_the_share_of_mixed_category_pairs() -> None:
    categories = {"a": "music", "b": "music", "c": "art"}
    # Pairs (a, b) same, (a, c) and (b, c) different.
    assert intra_list_diversity(["a", "b", "c"], categories) == pytest.approx(2 / 3)
    assert intra_list_diversity(["a", "b", "c"], lambda item: item) == 1.0
    assert intra_list_diversity(["a", "b"], categories) == 0.0


def test_intra_list_diversity_of_short_lists_is_zero() -> None:
    assert intra_list_diversity(["a"], {"a": "music"}) == 0.0
    assert intra_list_diversity([], {}) == 0.0


def test_intra_list_diversity_needs_every_category() -> None:
    with pytest.raises(KeyError):
        intra_list_diversity(["a", "zzz"], {"a": "music"})


def test_novelty_is_mean_self_information() -> None:
    popularity = {"a": 0.5, "b": 0.25, "z": 0.0}
    # a: 1 bit, b: 2 bits, unknown c and zero-popularity z: as 1/8 of users, 3 bits each.
    assert novelty(["a", "b", "c"], popularity, 8) == pytest.approx((1 + 2 + 3) / 3)
    assert novelty(["z"], popularity, 8) == pytest.approx(3.0)
    assert novelty([], popularity, 8) == 0.0


def test_novelty_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="n_users must be at least 1"):
        novelty(["a"], {"a": 0.5}, 0)
    with pytest.raises(ValueError, match=r"popularity of 'b' must be in \[0, 1\]"):
        novelty(["a", "b"], {"a": 0.5, "b": 1.5}, 10)


def test_evaluate_rankings_averages_over_users_with_relevant_items() -> None:
    recommendations = {
        "u1": ["a", "b", "c", "q"],  # q lies beyond k and counts nowhere
        "u2": ["d", "e", "f"],
        "u3": ["a"],  # no relevant items: left out
        "u4": ["z", "y"],  # not in relevant: left out
    }
    relevant = {"u1": {"a", "c"}, "u2": {"x"}, "u3": set(), "u5": {"a"}}  # u5: no list
    scores = evaluate_rankings(recommendations, relevant, 3, catalog_size=20)
    ndcg_u1 = (1 + 1 / 2) / (1 + 1 / math.log2(3))
    assert scores == pytest.approx(
        {
            "precision@3": (2 / 3) / 3,
            "recall@3": 1 / 3,
            "ndcg@3": ndcg_u1 / 3,
            "map@3": ((1 + 2 / 3) / 2) / 3,
            "hit_rate@3": 1 / 3,
            "coverage": 6 / 20,
            "users": 3.0,
        }
    )


def test_evaluate_rankings_adds_diversity_and_novelty_when_asked() -> None:
    recommendations = {"u1": ["a", "b", "c"], "u2": ["a"]}
    relevant = {"u1": {"a"}, "u2": {"b"}}
    scores = evaluate_rankings(
        recommendations,
        relevant,
        2,
        catalog_size=3,
        item_category={"a": "music", "b": "art", "c": "art"},
        item_popularity={"a": 0.5, "b": 0.25},
        n_users=4,
    )
    assert set(scores) == {
        "precision@2",
        "recall@2",
        "ndcg@2",
        "map@2",
        "hit_rate@2",
        "coverage",
        "diversity",
        "novelty",
        "users",
    }
    # Top-2 lists: [a, b] (diverse pair) and [a] (too short: 0).
    assert scores["diversity"] == pytest.approx((1.0 + 0.0) / 2)
    assert scores["novelty"] == pytest.approx(((1 + 2) / 2 + 1) / 2)
    assert scores["coverage"] == pytest.approx(2 / 3)


def test_evaluate_rankings_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="k must be at least 1"):
        evaluate_rankings({"u": ["a"]}, {"u": {"a"}}, 0, catalog_size=1)
    with pytest.raises(ValueError, match="no user has a relevant item"):
        evaluate_rankings({"u": ["a"]}, {"u": set()}, 1, catalog_size=1)
    with pytest.raises(ValueError, match="needs n_users"):
        evaluate_rankings({"u": ["a"]}, {"u": {"a"}}, 1, catalog_size=1, item_popularity={})


# Properties.


@given(recommended_lists, relevant_sets, cutoffs)
def test_ranking_metrics_lie_in_the_unit_interval(
    recommended: list[str], relevant: set[str], k: int
) -> None:
    for metric in RANKING_METRICS.values():
        assert 0.0 <= metric(recommended, relevant, k) <= 1.0


@given(recommended_lists, relevant_sets, cutoffs)
def test_ndcg_and_average_precision_match_their_definitions(
    recommended: list[str], relevant: set[str], k: int
) -> None:
    assert ndcg_at_k(recommended, relevant, k) == pytest.approx(
        reference_ndcg(recommended, relevant, k)
    )
    assert average_precision_at_k(recommended, relevant, k) == pytest.approx(
        reference_average_precision(recommended, relevant, k)
    )


@given(st.data(), cutoffs)
def test_a_perfect_ranking_scores_one(data: st.DataObject, k: int) -> None:
    relevant = data.draw(st.sets(st.integers(0, 50).map(lambda i: f"e{i}"), min_size=k))
    recommended = data.draw(st.permutations(sorted(relevant)))
    for name in ("precision", "ndcg", "map", "hit_rate"):
        assert RANKING_METRICS[name](recommended, relevant, k) == pytest.approx(1.0), name


@given(st.data(), relevant_sets, cutoffs, recommended_lists)
def test_items_beyond_k_do_not_matter(
    data: st.DataObject, relevant: set[str], k: int, tail: list[str]
) -> None:
    top_k = data.draw(st.lists(items, min_size=k, max_size=k))
    for metric in RANKING_METRICS.values():
        assert metric(top_k + tail, relevant, k) == metric(top_k, relevant, k)


@given(recommended_lists, relevant_sets, cutoffs)
def test_recall_never_drops_as_k_grows(recommended: list[str], relevant: set[str], k: int) -> None:
    assert recall_at_k(recommended, relevant, k) <= recall_at_k(recommended, relevant, k + 1)


@given(
    st.lists(recommended_lists, max_size=6),
    st.lists(relevant_sets, min_size=1, max_size=6),
    cutoffs,
)
def test_evaluate_rankings_averages_the_per_user_metrics(
    lists: list[list[str]], relevant: list[set[str]], k: int
) -> None:
    recommendations = {f"u{i}": items for i, items in enumerate(lists)}
    relevant_by_user = {f"u{i}": items for i, items in enumerate(relevant)}
    scores = evaluate_rankings(recommendations, relevant_by_user, k, catalog_size=12)
    for name, metric in RANKING_METRICS.items():
        per_user = [
            metric(recommendations.get(user, []), items, k)
            for user, items in relevant_by_user.items()
        ]
        assert scores[f"{name}@{k}"] == pytest.approx(sum(per_user) / len(per_user)), name
    assert scores["users"] == len(relevant_by_user)


@given(recommended_lists, st.dictionaries(items, st.sampled_from(["music", "art", None])))
def test_diversity_lies_in_the_unit_interval(
    recommended: list[str], categories: dict[str, str | None]
) -> None:
    assert 0.0 <= intra_list_diversity(recommended, lambda item: categories.get(item)) <= 1.0


@given(
    recommended_lists,
    st.dictionaries(items, st.floats(0.0, 1.0)),
    st.integers(1, 10_000),
)
def test_novelty_is_between_zero_and_log2_of_users(
    recommended: list[str], popularity: dict[str, float], n_users: int
) -> None:
    assert 0.0 <= novelty(recommended, popularity, n_users) <= math.log2(n_users) + 1e-12


@given(st.lists(recommended_lists, max_size=5))
def test_coverage_lies_in_the_unit_interval(lists: list[list[str]]) -> None:
    assert 0.0 <= catalog_coverage(lists, 12) <= 1.0
