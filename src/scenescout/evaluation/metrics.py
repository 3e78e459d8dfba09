"""Offline metrics: ranking accuracy at a cutoff ``k`` and list-level beyond-accuracy measures.

Per-user ranking metrics take one ranked list of recommended item ids (best first, possibly
shorter than ``k``) and the user's relevant items. Relevance is binary. They share these rules:

- only the first ``k`` recommended items count; a shorter list behaves as if padded with
  non-relevant items;
- an item repeated in the list is a hit at its first position only, so no metric exceeds 1;
- a user with no relevant items has no defined recall, nDCG or average precision: the per-user
  functions raise :class:`ValueError` for such a user, and :func:`evaluate_rankings` leaves
  such users out of every average.

:func:`evaluate_rankings` scores all users at once on a ``(users, k)`` hit matrix.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from itertools import chain, islice

import numpy as np
import numpy.typing as npt

ItemCategory = Mapping[str, Hashable] | Callable[[str], Hashable]
"""The category of an item: a mapping from item id, or a function of the item id."""

HitMatrix = npt.NDArray[np.bool_]
Scores = npt.NDArray[np.float64]


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


def _hit_matrix(
    recommended_lists: Sequence[Iterable[str]], relevant_sets: Sequence[set[str]], k: int
) -> HitMatrix:
    """``hits[u, i]`` is true when user ``u``'s item at rank ``i + 1`` is relevant and new."""
    hits = np.zeros((len(recommended_lists), k), dtype=np.bool_)
    for row, (recommended, relevant) in enumerate(
        zip(recommended_lists, relevant_sets, strict=True)
    ):
        seen: set[str] = set()
        for position, item in enumerate(islice(recommended, k)):
            hits[row, position] = item in relevant and item not in seen
            seen.add(item)
    return hits


def _user_hits(
    recommended: Sequence[str], relevant: Collection[str], k: int
) -> tuple[HitMatrix, npt.NDArray[np.int64]]:
    _check_k(k)
    relevant_set = set(relevant)
    if not relevant_set:
        raise ValueError(
            "relevant is empty: the metric is undefined for a user with no relevant items "
            "(evaluate_rankings leaves such users out)"
        )
    return _hit_matrix([recommended], [relevant_set], k), np.array([len(relevant_set)])


def _precision(hits: HitMatrix) -> Scores:
    return hits.sum(axis=1) / hits.shape[1]


def _recall(hits: HitMatrix, n_relevant: npt.NDArray[np.int64]) -> Scores:
    return hits.sum(axis=1) / n_relevant


def _ndcg(hits: HitMatrix, n_relevant: npt.NDArray[np.int64]) -> Scores:
    k = hits.shape[1]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal_dcg = np.cumsum(discounts)[np.minimum(n_relevant, k) - 1]
    return (hits @ discounts) / ideal_dcg


def _average_precision(hits: HitMatrix, n_relevant: npt.NDArray[np.int64]) -> Scores:
    k = hits.shape[1]
    precision_at_rank = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    return np.where(hits, precision_at_rank, 0.0).sum(axis=1) / np.minimum(n_relevant, k)


def _hit_rate(hits: HitMatrix) -> Scores:
    return (hits.sum(axis=1) > 0).astype(np.float64)


def precision_at_k(recommended: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Precision@k: the share of the ``k`` recommendation slots that hold a relevant item.

    ``hits / k``, where ``hits`` counts distinct relevant items among the first ``k``
    recommended. A list shorter than ``k`` is still divided by ``k``.

    Parameters
    ----------
    recommended
        Item ids, best first; may be shorter than ``k``.
    relevant
        The user's relevant item ids; must not be empty.
    k
        The cutoff, at least 1.

    Returns
    -------
    float
        A value in [0, 1].

    Raises
    ------
    ValueError
        When ``k < 1`` or ``relevant`` is empty.
    """
    hits, _ = _user_hits(recommended, relevant, k)
    return float(_precision(hits)[0])


def recall_at_k(recommended: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Recall@k: the share of the relevant items found among the first ``k`` recommended.

    ``hits / |relevant|``. It stays below 1 whenever ``|relevant| > k``.

    Parameters
    ----------
    recommended
        Item ids, best first; may be shorter than ``k``.
    relevant
        The user's relevant item ids; must not be empty.
    k
        The cutoff, at least 1.

    Returns
    -------
    float
        A value in [0, 1], non-decreasing in ``k``.

    Raises
    ------
    ValueError
        When ``k < 1`` or ``relevant`` is empty.
    """
    hits, n_relevant = _user_hits(recommended, relevant, k)
    return float(_recall(hits, n_relevant)[0])


def ndcg_at_k(recommended: Sequence[str], relevant: Collection[str], k: int) -> float:
    """nDCG@k with binary relevance and a log2 discount.

    ``DCG = sum(rel_i / log2(i + 1) for i in 1..k)``, where ``rel_i`` is 1 when the item at
    rank ``i`` is relevant (and not a repeat) and 0 otherwise. The ideal DCG places
    ``min(|relevant|, k)`` relevant items at the top ranks; nDCG is ``DCG / ideal DCG``.

    Parameters
    ----------
    recommended
        Item ids, best first; may be shorter than ``k``.
    relevant
        The user's relevant item ids; must not be empty.
    k
        The cutoff, at least 1.

    Returns
    -------
    float
        A value in [0, 1]; 1 exactly when the first ``min(|relevant|, k)`` ranks are all hits.

    Raises
    ------
    ValueError
        When ``k < 1`` or ``relevant`` is empty.
    """
    hits, n_relevant = _user_hits(recommended, relevant, k)
    return float(_ndcg(hits, n_relevant)[0])


def average_precision_at_k(recommended: Sequence[str], relevant: Collection[str], k: int) -> float:
    """AP@k, the per-user term of MAP@k.

    ``sum(precision@i for each rank i <= k holding a hit) / min(|relevant|, k)``.

    Parameters
    ----------
    recommended
        Item ids, best first; may be shorter than ``k``.
    relevant
        The user's relevant item ids; must not be empty.
    k
        The cutoff, at least 1.

    Returns
    -------
    float
        A value in [0, 1].

    Raises
    ------
    ValueError
        When ``k < 1`` or ``relevant`` is empty.
    """
    hits, n_relevant = _user_hits(recommended, relevant, k)
    return float(_average_precision(hits, n_relevant)[0])


def hit_rate_at_k(recommended: Sequence[str], relevant: Collection[str], k: int) -> float:
    """HitRate@k: 1 when at least one of the first ``k`` recommended items is relevant, else 0.

    Parameters
    ----------
    recommended
        Item ids, best first; may be shorter than ``k``.
    relevant
        The user's relevant item ids; must not be empty.
    k
        The cutoff, at least 1.

    Returns
    -------
    float
        0.0 or 1.0.

    Raises
    ------
    ValueError
        When ``k < 1`` or ``relevant`` is empty.
    """
    hits, _ = _user_hits(recommended, relevant, k)
    return float(_hit_rate(hits)[0])


def catalog_coverage(recommendation_lists: Iterable[Iterable[str]], catalog_size: int) -> float:
    """Catalog coverage: the share of the catalog that appears in at least one list.

    ``|distinct items over all lists| / catalog_size``. Lists are taken whole; truncate them
    to ``k`` first to measure coverage at a cutoff.

    Parameters
    ----------
    recommendation_lists
        One list of item ids per user.
    catalog_size
        The number of items that could have been recommended, at least 1.

    Returns
    -------
    float
        A value in [0, 1].

    Raises
    ------
    ValueError
        When ``catalog_size < 1`` or the lists hold more distinct items than ``catalog_size``.
    """
    if catalog_size < 1:
        raise ValueError(f"catalog_size must be at least 1, got {catalog_size}")
    distinct = len(set(chain.from_iterable(recommendation_lists)))
    if distinct > catalog_size:
        raise ValueError(
            f"the lists hold {distinct} distinct items, more than catalog_size={catalog_size}"
        )
    return distinct / catalog_size


def intra_list_diversity(recommended: Sequence[str], item_category: ItemCategory) -> float:
    """Intra-list diversity: the mean pairwise category dissimilarity within one list.

    Over all unordered pairs of positions ``i < j``, the dissimilarity is 1 when the two items
    have different categories and 0 when they share one; ``None`` is a category like any other.
    A list with fewer than two items has no pair and scores 0.

    Parameters
    ----------
    recommended
        Item ids of one list.
    item_category
        The category of each item: a mapping (every item must be a key) or a function.

    Returns
    -------
    float
        A value in [0, 1]: 0 when all items share a category, 1 when all differ.

    Raises
    ------
    KeyError
        When ``item_category`` is a mapping that lacks one of the items.
    """
    n = len(recommended)
    if n < 2:
        return 0.0
    category_of = item_category.__getitem__ if isinstance(item_category, Mapping) else item_category
    per_category = np.fromiter(
        Counter(category_of(item) for item in recommended).values(), dtype=np.int64
    )
    same_category_pairs = int((per_category * (per_category - 1) // 2).sum())
    return 1.0 - same_category_pairs / (n * (n - 1) // 2)


def novelty(
    recommended: Sequence[str], item_popularity: Mapping[str, float], n_users: int
) -> float:
    """Novelty: the mean self-information ``-log2(popularity)`` of the items in one list.

    ``popularity`` is the share of users who interacted with the item. Items missing from
    ``item_popularity``, and items below ``1 / n_users`` (such as 0), count as
    ``1 / n_users``, as if one user had interacted with them; this keeps the value finite,
    at most ``log2(n_users)``. An empty list scores 0.

    Parameters
    ----------
    recommended
        Item ids of one list.
    item_popularity
        Share of users who interacted with each item, in [0, 1].
    n_users
        The number of users the shares are taken over, at least 1.

    Returns
    -------
    float
        A value in [0, log2(n_users)]; higher means less popular items.

    Raises
    ------
    ValueError
        When ``n_users < 1`` or a popularity of a listed item lies outside [0, 1].
    """
    if n_users < 1:
        raise ValueError(f"n_users must be at least 1, got {n_users}")
    if not recommended:
        return 0.0
    least = 1.0 / n_users
    popularity = np.array([item_popularity.get(item, least) for item in recommended], dtype=float)
    outside = (popularity < 0.0) | (popularity > 1.0)
    if outside.any():
        item = recommended[int(np.argmax(outside))]
        raise ValueError(f"popularity of {item!r} must be in [0, 1], got {item_popularity[item]}")
    return float(np.mean(-np.log2(np.maximum(popularity, least))))


def evaluate_rankings(
    recommendations: Mapping[str, Sequence[str]],
    relevant: Mapping[str, Collection[str]],
    k: int,
    *,
    catalog_size: int,
    item_category: ItemCategory | None = None,
    item_popularity: Mapping[str, float] | None = None,
    n_users: int | None = None,
) -> dict[str, float]:
    """Average every metric over the users who have relevant items.

    The evaluated users are the keys of ``relevant`` with a non-empty collection; a user
    without recommendations counts with an empty list (all accuracy metrics 0), and users
    that only appear in ``recommendations`` are ignored. Every list is cut to its first ``k``
    items, and the list-level metrics (coverage, diversity, novelty) are taken over these
    top-``k`` lists of the evaluated users; short lists score 0 on diversity and empty lists
    0 on novelty, as documented on :func:`intra_list_diversity` and :func:`novelty`.

    Parameters
    ----------
    recommendations
        Ranked item ids per user, best first.
    relevant
        Relevant item ids per user (see :func:`scenescout.evaluation.relevant_items`).
    k
        The cutoff, at least 1.
    catalog_size
        Number of recommendable items, for :func:`catalog_coverage`.
    item_category
        When given, ``diversity`` is reported (:func:`intra_list_diversity`).
    item_popularity
        When given, ``novelty`` is reported (:func:`novelty`); needs ``n_users``.
    n_users
        The number of users ``item_popularity`` shares are taken over.

    Returns
    -------
    dict[str, float]
        ``precision@k``, ``recall@k``, ``ndcg@k``, ``map@k`` and ``hit_rate@k`` (with the
        number ``k`` in the key, e.g. ``ndcg@10``), averaged over users; ``coverage``;
        ``diversity`` and ``novelty`` when their inputs are given; ``users``, the number of
        users evaluated.

    Raises
    ------
    ValueError
        When ``k < 1``, no user has a relevant item, ``item_popularity`` comes without
        ``n_users``, or as raised by the list-level metrics.
    """
    _check_k(k)
    if item_popularity is not None and n_users is None:
        raise ValueError("item_popularity needs n_users, the number of users it is a share of")
    relevant_sets = {user: set(items) for user, items in relevant.items()}
    users = [user for user, items in relevant_sets.items() if items]
    if not users:
        raise ValueError("no user has a relevant item: there is nothing to evaluate")
    top_k = [list(islice(recommendations.get(user, ()), k)) for user in users]
    hits = _hit_matrix(top_k, [relevant_sets[user] for user in users], k)
    n_relevant = np.array([len(relevant_sets[user]) for user in users])
    scores = {
        f"precision@{k}": float(_precision(hits).mean()),
        f"recall@{k}": float(_recall(hits, n_relevant).mean()),
        f"ndcg@{k}": float(_ndcg(hits, n_relevant).mean()),
        f"map@{k}": float(_average_precision(hits, n_relevant).mean()),
        f"hit_rate@{k}": float(_hit_rate(hits).mean()),
        "coverage": catalog_coverage(top_k, catalog_size),
    }
    if item_category is not None:
        scores["diversity"] = float(
            np.mean([intra_list_diversity(items, item_category) for items in top_k])
        )
    if item_popularity is not None and n_users is not None:
        scores["novelty"] = float(
            np.mean([novelty(items, item_popularity, n_users) for items in top_k])
        )
    scores["users"] = float(len(users))
    return scores
