"""Re-ranking: result contract, hard caps, MMR, novelty injection, serendipity."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scenescout.config import DiversityConfig
from scenescout.ranking import Selection, rerank, select, serendipity
from scenescout.ranking.diversity import _min_max

LARGE_CAP = 1_000

scores_st = st.floats(allow_nan=True, allow_infinity=True, width=64)


@st.composite
def candidates(draw: st.DrawFn, max_n: int = 60) -> dict[str, Any]:
    n = draw(st.integers(0, max_n))
    return {
        "scores": np.array(draw(st.lists(scores_st, min_size=n, max_size=n)), dtype=np.float64),
        "category": np.array(draw(st.lists(st.integers(-1, 5), min_size=n, max_size=n))),
        "venue": np.array(draw(st.lists(st.integers(-1, 8), min_size=n, max_size=n))),
        "is_novel": np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool),
    }


diversity_configs = st.builds(
    DiversityConfig,
    enable_diversity=st.booleans(),
    diversity_lambda=st.floats(0.0, 1.0),
    max_same_category=st.integers(1, 4),
    max_same_venue=st.integers(1, 4),
)


def select_from(data: dict[str, Any], **kwargs: Any) -> Selection:
    return select(data["scores"], data["category"], data["venue"], **kwargs)


def assert_caps_hold(
    positions: npt.NDArray[np.intp],
    category: npt.NDArray[np.int64],
    venue: npt.NDArray[np.int64],
    diversity: DiversityConfig,
) -> None:
    per_category = Counter(int(c) for c in category[positions] if c != -1)
    per_venue = Counter(int(v) for v in venue[positions] if v != -1)
    assert max(per_category.values(), default=0) <= diversity.max_same_category
    assert max(per_venue.values(), default=0) <= diversity.max_same_venue


def greedy_by_score(
    scores: npt.NDArray[np.float64],
    category: npt.NDArray[np.int64],
    venue: npt.NDArray[np.int64],
    limit: int,
    diversity: DiversityConfig,
) -> list[int]:
    """Reference for diversity off: walk by score (ties by position), skip cap breakers."""
    order = sorted(np.flatnonzero(np.isfinite(scores)), key=lambda i: (-scores[i], i))
    per_category: Counter[int] = Counter()
    per_venue: Counter[int] = Counter()
    picked: list[int] = []
    for i in order:
        if len(picked) == limit:
            break
        c, v = int(category[i]), int(venue[i])
        if c != -1 and per_category[c] >= diversity.max_same_category:
            continue
        if v != -1 and per_venue[v] >= diversity.max_same_venue:
            continue
        per_category[c] += 1
        per_venue[v] += 1
        picked.append(int(i))
    return picked


@given(
    data=candidates(),
    limit=st.integers(0, 30),
    diversity=diversity_configs,
    novelty_factor=st.floats(0.0, 1.0),
    with_novelty=st.booleans(),
    pool_size=st.none() | st.integers(1, 80),
)
def test_result_is_unique_bounded_finite_and_within_caps(
    data: dict[str, Any],
    limit: int,
    diversity: DiversityConfig,
    novelty_factor: float,
    with_novelty: bool,
    pool_size: int | None,
) -> None:
    selection = select_from(
        data,
        limit=limit,
        diversity=diversity,
        novelty_factor=novelty_factor,
        is_novel=data["is_novel"] if with_novelty else None,
        pool_size=pool_size,
    )
    positions = selection.positions
    assert positions.dtype == np.intp
    assert len(positions) <= limit
    assert len(set(positions.tolist())) == len(positions)
    assert np.all((positions >= 0) & (positions < len(data["scores"])))
    assert np.all(np.isfinite(data["scores"][positions]))
    assert_caps_hold(positions, data["category"], data["venue"], diversity)
    assert selection.injected.shape == positions.shape
    if with_novelty:
        assert np.all(data["is_novel"][positions[selection.injected]])
    else:
        assert not selection.injected.any()


@given(data=candidates(), limit=st.integers(0, 30), diversity=diversity_configs)
def test_diversity_off_is_greedy_by_score_under_caps(
    data: dict[str, Any], limit: int, diversity: DiversityConfig
) -> None:
    off = diversity.model_copy(update={"enable_diversity": False})
    result = rerank(data["scores"], data["category"], data["venue"], limit=limit, diversity=off)
    expected = greedy_by_score(data["scores"], data["category"], data["venue"], limit, off)
    assert result.tolist() == expected


@given(
    data=candidates(),
    limit=st.integers(0, 30),
    enable_diversity=st.booleans(),
    pool_size=st.none() | st.integers(1, 80),
)
def test_lambda_one_with_large_caps_is_top_k_by_score(
    data: dict[str, Any], limit: int, enable_diversity: bool, pool_size: int | None
) -> None:
    diversity = DiversityConfig(
        enable_diversity=enable_diversity,
        diversity_lambda=1.0,
        max_same_category=LARGE_CAP,
        max_same_venue=LARGE_CAP,
    )
    scores = data["scores"]
    result = select_from(data, limit=limit, diversity=diversity, pool_size=pool_size).positions
    top_k = np.sort(scores[np.isfinite(scores)])[::-1][:limit]
    np.testing.assert_array_equal(scores[result], top_k)


def test_mmr_uses_the_documented_similarities() -> None:
    # relevance [1, .9, .8, 0]; after A: B sim .7 (category), C sim .3 (venue), D 0.
    # lambda .5: B .45-.35=.10, C .40-.15=.25, D 0 -> C; then B .10 beats D 0.
    scores = np.array([1.0, 0.9, 0.8, 0.0])
    category = np.array([0, 0, 1, 2])
    venue = np.array([0, 1, 0, 2])
    diversity = DiversityConfig(diversity_lambda=0.5, max_same_category=5, max_same_venue=5)
    assert rerank(scores, category, venue, limit=4, diversity=diversity).tolist() == [0, 2, 1, 3]


def test_same_category_and_venue_is_most_similar() -> None:
    # After A, B (same category and venue, sim 1) falls below C (same category only, sim .7)
    # although B scores higher.
    scores = np.array([1.0, 0.95, 0.9, 0.0])
    category = np.array([0, 0, 0, 1])
    venue = np.array([0, 0, 1, 2])
    diversity = DiversityConfig(diversity_lambda=0.5, max_same_category=5, max_same_venue=5)
    assert rerank(scores, category, venue, limit=2, diversity=diversity).tolist() == [0, 2]


def test_unknown_codes_are_never_similar_nor_capped() -> None:
    scores = np.array([0.2, 0.9, 0.5, 0.7])
    unknown = np.full(4, -1)
    diversity = DiversityConfig(diversity_lambda=0.1, max_same_category=1, max_same_venue=1)
    assert rerank(scores, unknown, unknown, limit=4, diversity=diversity).tolist() == [1, 3, 2, 0]


def test_fewer_than_limit_when_caps_exhaust_the_candidates() -> None:
    scores = np.linspace(1.0, 0.1, 10)
    category = np.array([0] * 8 + [1] * 2)
    venue = np.arange(10)
    diversity = DiversityConfig(max_same_category=3, max_same_venue=2)
    result = rerank(scores, category, venue, limit=10, diversity=diversity)
    assert sorted(result.tolist()) == [0, 1, 2, 8, 9]


def test_nan_scores_are_never_picked() -> None:
    scores = np.array([np.nan, 0.1, np.nan, 0.3])
    codes = np.arange(4)
    diversity = DiversityConfig()
    assert rerank(scores, codes, codes, limit=4, diversity=diversity).tolist() == [3, 1]
    assert rerank(np.full(3, np.nan), codes[:3], codes[:3], limit=3, diversity=diversity).size == 0


def test_small_lambda_covers_more_categories_than_lambda_one() -> None:
    # Ten strong items in category 0 (distinct venues), ten weaker ones in ten other categories.
    scores = np.concatenate([np.linspace(1.0, 0.91, 10), np.linspace(0.5, 0.41, 10)])
    category = np.concatenate([np.zeros(10, dtype=int), np.arange(1, 11)])
    venue = np.arange(20)

    def distinct_categories(diversity_lambda: float) -> int:
        diversity = DiversityConfig(
            diversity_lambda=diversity_lambda, max_same_category=10, max_same_venue=10
        )
        result = rerank(scores, category, venue, limit=6, diversity=diversity)
        return len(set(category[result].tolist()))

    assert distinct_categories(1.0) == 1
    assert distinct_categories(0.3) > distinct_categories(1.0)


def isolated_novel_count(data: dict[str, Any]) -> int:
    """Novel finite-score candidates sharing neither category nor venue with another novel
    one: nothing can cap them out of the novelty slots, which are filled first."""
    novel = data["is_novel"] & np.isfinite(data["scores"])
    categories = Counter(data["category"][novel].tolist())
    venues = Counter(data["venue"][novel].tolist())
    return sum(
        (c == -1 or categories[c] == 1) and (v == -1 or venues[v] == 1)
        for c, v in zip(data["category"][novel], data["venue"][novel], strict=True)
    )


@given(
    data=candidates(),
    limit=st.integers(0, 30),
    diversity=diversity_configs,
    novelty_factor=st.floats(0.0, 1.0),
)
def test_novelty_slots_are_filled_when_novel_items_fit(
    data: dict[str, Any], limit: int, diversity: DiversityConfig, novelty_factor: float
) -> None:
    reserved = math.floor(novelty_factor * limit + 0.5)
    selection = select_from(
        data,
        limit=limit,
        diversity=diversity,
        novelty_factor=novelty_factor,
        is_novel=data["is_novel"],
    )
    injected = int(selection.injected.sum())
    assert min(reserved, isolated_novel_count(data)) <= injected <= reserved
    assert data["is_novel"][selection.positions].sum() >= injected


@given(data=candidates(), limit=st.integers(0, 30), novelty_factor=st.floats(0.0, 1.0))
def test_with_large_caps_every_reserved_slot_takes_a_novel_item(
    data: dict[str, Any], limit: int, novelty_factor: float
) -> None:
    diversity = DiversityConfig(max_same_category=LARGE_CAP, max_same_venue=LARGE_CAP)
    available = int((data["is_novel"] & np.isfinite(data["scores"])).sum())
    selection = select_from(
        data,
        limit=limit,
        diversity=diversity,
        novelty_factor=novelty_factor,
        is_novel=data["is_novel"],
    )
    assert selection.injected.sum() == min(math.floor(novelty_factor * limit + 0.5), available)


@given(
    data=candidates(),
    limit=st.integers(1, 30),
    diversity=diversity_configs,
    novelty_factor=st.floats(0.0, 1.0),
)
def test_injected_items_sit_before_the_first_lower_scored_regular_item(
    data: dict[str, Any], limit: int, diversity: DiversityConfig, novelty_factor: float
) -> None:
    selection = select_from(
        data,
        limit=limit,
        diversity=diversity,
        novelty_factor=novelty_factor,
        is_novel=data["is_novel"],
    )
    ordered = data["scores"][selection.positions]
    for slot in np.flatnonzero(selection.injected):
        regular_before = ordered[:slot][~selection.injected[:slot]]
        regular_after = ordered[slot + 1 :][~selection.injected[slot + 1 :]]
        assert np.all(regular_before >= ordered[slot])
        if regular_after.size:
            assert regular_after[0] < ordered[slot]
    injected_scores = ordered[selection.injected]
    assert np.all(np.diff(injected_scores) <= 0)


def test_strong_novel_item_leads_and_weak_one_follows_better_items() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.95, 0.1])
    category = np.arange(6)
    venue = np.arange(6)
    is_novel = np.array([False, False, False, False, True, True])
    diversity = DiversityConfig(enable_diversity=False)
    selection = select(
        scores,
        category,
        venue,
        limit=4,
        diversity=diversity,
        novelty_factor=0.5,
        is_novel=is_novel,
    )
    assert selection.positions.tolist() == [4, 0, 1, 5]
    assert selection.injected.tolist() == [True, False, False, True]


def test_novel_items_outside_the_score_pool_can_still_be_injected() -> None:
    scores = np.linspace(1.0, 0.0, 300)
    codes = np.arange(300)
    is_novel = np.zeros(300, dtype=bool)
    is_novel[-1] = True
    selection = select(
        scores,
        codes,
        codes,
        limit=4,
        diversity=DiversityConfig(),
        novelty_factor=0.25,
        is_novel=is_novel,
        pool_size=10,
    )
    assert 299 in selection.positions.tolist()
    assert selection.positions[selection.injected].tolist() == [299]


def test_novelty_without_is_novel_injects_nothing() -> None:
    scores = np.array([0.3, 0.2, 0.1])
    codes = np.arange(3)
    selection = select(scores, codes, codes, limit=2, diversity=DiversityConfig(), novelty_factor=1)
    assert selection.positions.tolist() == [0, 1]
    assert not selection.injected.any()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": -1}, "limit"),
        ({"limit": 2, "novelty_factor": 1.5}, "novelty_factor"),
        ({"limit": 2, "pool_size": 0}, "pool_size"),
        ({"limit": 2, "is_novel": np.array([True])}, "is_novel"),
    ],
)
def test_invalid_arguments_are_rejected(kwargs: dict[str, Any], message: str) -> None:
    codes = np.arange(3)
    with pytest.raises(ValueError, match=message):
        rerank(np.ones(3), codes, codes, diversity=DiversityConfig(), **kwargs)


def test_mismatched_lengths_are_rejected() -> None:
    with pytest.raises(ValueError, match="venue"):
        rerank(np.ones(3), np.arange(3), np.arange(2), limit=1, diversity=DiversityConfig())


@settings(max_examples=50)
@given(
    relevance=st.lists(st.floats(-1.0, 2.0), min_size=1, max_size=20),
    unexpectedness=st.floats(-1.0, 2.0),
)
def test_serendipity_is_the_clipped_product_in_unit_interval(
    relevance: list[float], unexpectedness: float
) -> None:
    result = serendipity(relevance, unexpectedness)
    assert np.all((result >= 0.0) & (result <= 1.0))
    expected = np.clip(relevance, 0, 1) * min(max(unexpectedness, 0.0), 1.0)
    np.testing.assert_allclose(result, expected)


def test_serendipity_keeps_nan_for_unscored_items() -> None:
    result = serendipity(np.array([0.8, np.nan]), np.array([0.5, 0.5]))
    assert result[0] == pytest.approx(0.4)
    assert np.isnan(result[1])


def mmr_by_full_argmax(
    relevance: npt.NDArray[np.float64],
    category: npt.NDArray[np.int64],
    venue: npt.NDArray[np.int64],
    diversity: DiversityConfig,
    steps: int,
) -> list[int]:
    """Reference greedy MMR: every step recomputes every pool item's value and takes the
    first argmax (the pool order breaks ties), as the documented rule says."""
    weight = diversity.diversity_lambda if diversity.enable_diversity else 1.0
    taken: list[int] = []
    for _ in range(steps):
        values = []
        for i in range(len(relevance)):
            c, v = int(category[i]), int(venue[i])
            same_category = [t for t in taken if c != -1 and category[t] == c]
            same_venue = [t for t in taken if v != -1 and venue[t] == v]
            if (
                i in taken
                or len(same_category) >= diversity.max_same_category
                or len(same_venue) >= diversity.max_same_venue
            ):
                values.append(-math.inf)
                continue
            similarity = max(
                [0.0]
                + [(1.0 - weight) * 0.7 for _ in same_category]
                + [(1.0 - weight) * 0.3 for _ in same_venue]
                + [
                    (1.0 - weight) * 0.7 + (1.0 - weight) * 0.3
                    for t in same_category
                    if t in same_venue
                ]
            )
            values.append(weight * relevance[i] - similarity)
        best = int(np.argmax(values))
        if values[best] == -math.inf:
            break
        taken.append(best)
    return taken


@settings(max_examples=300, deadline=None)
@given(
    relevance=st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.5, 0.75, 1.0]), min_size=1, max_size=40),
    codes=st.data(),
    diversity=diversity_configs,
    limit=st.integers(1, 25),
)
def test_greedy_mmr_picks_exactly_what_a_full_argmax_per_step_picks(
    relevance: list[float], codes: st.DataObject, diversity: DiversityConfig, limit: int
) -> None:
    n = len(relevance)
    category = np.array(codes.draw(st.lists(st.integers(-1, 3), min_size=n, max_size=n)))
    venue = np.array(codes.draw(st.lists(st.integers(-1, 4), min_size=n, max_size=n)))
    # A pool is ordered by score, best first: relevance in that order, ties included.
    ordered = np.sort(np.array(relevance))[::-1]

    picked = select(ordered, category, venue, limit=limit, diversity=diversity, pool_size=n)

    expected = mmr_by_full_argmax(_min_max(ordered), category, venue, diversity, limit)
    assert picked.positions.tolist() == expected
