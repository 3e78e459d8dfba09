"""Re-ranking of one request's scored candidates: MMR diversity, hard caps, novelty injection.

Everything works on the candidate arrays (scores, category codes, venue codes) with vectorized
steps; the only Python loop runs once per *selected* item, so the cost is
``O(n + limit * pool_size)`` for ``n`` candidates.

Similarity of two events (the redundancy term of MMR):

==========================  ==========
same category and venue     1.0
same category only          0.7
same venue only             0.3
otherwise                   0.0
==========================  ==========

A code of -1 (unknown category or venue) is never similar to anything, itself included, and
is exempt from the caps.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from scenescout.config import DiversityConfig

UNKNOWN_CODE = -1
"""Category or venue code meaning "unknown": never similar, never capped."""

SAME_CATEGORY_SIMILARITY = 0.7
SAME_VENUE_SIMILARITY = 0.3
MIN_POOL_SIZE = 200
POOL_SIZE_PER_SLOT = 25

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]


class Selection(NamedTuple):
    """What :func:`select` picked: positions into the candidate arrays, in final order, and
    whether each one fills a reserved novelty slot (explained as ``new_for_you``)."""

    positions: IntArray
    injected: BoolArray


def rerank(
    scores: npt.ArrayLike,
    category: npt.ArrayLike,
    venue: npt.ArrayLike,
    *,
    limit: int,
    diversity: DiversityConfig,
    novelty_factor: float = 0.0,
    is_novel: npt.ArrayLike | None = None,
    pool_size: int | None = None,
) -> IntArray:
    """Choose and order at most ``limit`` candidates: MMR diversity under hard caps.

    The positions of :func:`select`; see there for the parameters and the rules.

    Returns
    -------
    numpy.ndarray of intp
        Unique positions into the input arrays, in final order, at most ``limit``.
    """
    return select(
        scores,
        category,
        venue,
        limit=limit,
        diversity=diversity,
        novelty_factor=novelty_factor,
        is_novel=is_novel,
        pool_size=pool_size,
    ).positions


def select(
    scores: npt.ArrayLike,
    category: npt.ArrayLike,
    venue: npt.ArrayLike,
    *,
    limit: int,
    diversity: DiversityConfig,
    novelty_factor: float = 0.0,
    is_novel: npt.ArrayLike | None = None,
    pool_size: int | None = None,
) -> Selection:
    """Choose and order at most ``limit`` candidates, and say which fill novelty slots.

    1. **Pool.** Candidates with a NaN or infinite score are never picked. The best
       ``pool_size`` of the rest by score form the pool (``argpartition``); when novelty
       slots are reserved, the best ``pool_size`` novel candidates join it too. Ties in the
       pool are ordered by position, so every later tie goes to the higher score, then to the
       lower position.
    2. **Greedy selection.** Each step picks the argmax over the pool of
       ``lambda * relevance - (1 - lambda) * max_similarity_to_selected`` (MMR), relevance
       being the scores min-max normalized over the pool (all 1 when they are equal). With
       ``enable_diversity`` off, ``lambda`` is 1: plain order by score.
    3. **Hard caps**, with diversity on or off: at most ``max_same_category`` items per
       category and ``max_same_venue`` per venue (code -1 exempt). A candidate that would
       break a cap is skipped, so fewer than ``limit`` items come back when the pool runs
       out of candidates that fit.
    4. **Novelty injection.** ``round(novelty_factor * limit)`` slots (half up) are reserved
       for novel candidates (a category or venue new to this user). They are filled first,
       by MMR among the novel candidates only, so they take their cap slots before anything
       else; slots left unfilled for want of novel candidates go back to the regular
       selection, which then fills the rest by MMR over all remaining candidates (novel ones
       included) and keeps MMR order. Each injected item is placed just before the first
       regular item whose score is strictly lower than its own (injected items in score
       order), so a strong novel item is not buried at the end and a weak one is not
       promoted above better-scored items.

    Parameters
    ----------
    scores : array of float, shape (n,)
        Final (blended or learned) score per candidate, higher is better; NaN = cannot score.
    category, venue : array of int, shape (n,)
        Category and venue codes per candidate, -1 when unknown.
    limit : int
        Maximum number of items to return (>= 0).
    diversity : DiversityConfig
        ``enable_diversity``, ``diversity_lambda``, ``max_same_category``, ``max_same_venue``.
    novelty_factor : float
        Share of ``limit`` reserved for novel candidates, in [0, 1].
    is_novel : array of bool, shape (n,), optional
        True for candidates new to this user. Without it nothing is injected.
    pool_size : int, optional
        How many of the best candidates MMR looks at; default
        ``max(200, 25 * limit)``, never fewer than ``limit``.

    Returns
    -------
    Selection
        ``positions``: unique positions into the input arrays, in final order, at most
        ``limit``; ``injected``: True where the item fills a reserved novelty slot.

    Raises
    ------
    ValueError
        On arrays of different lengths, a negative ``limit`` or ``pool_size`` below 1, or a
        ``novelty_factor`` outside [0, 1].
    """
    score_arr = np.asarray(scores, dtype=np.float64)
    category_arr = np.asarray(category, dtype=np.int64)
    venue_arr = np.asarray(venue, dtype=np.int64)
    novel_arr = None if is_novel is None else np.asarray(is_novel, dtype=np.bool_)
    _check_inputs(score_arr, category_arr, venue_arr, novel_arr, limit, novelty_factor, pool_size)

    reserved = 0 if novel_arr is None else min(limit, math.floor(novelty_factor * limit + 0.5))
    size = max(limit, pool_size if pool_size is not None else _default_pool_size(limit))
    pool = _pool(score_arr, novel_arr if reserved else None, size)
    if limit == 0 or pool.size == 0:
        return Selection(np.empty(0, dtype=np.intp), np.empty(0, dtype=np.bool_))

    greedy = _GreedySelection(
        _min_max(score_arr[pool]), category_arr[pool], venue_arr[pool], diversity
    )
    injected = greedy.run(reserved, allowed=None if novel_arr is None else novel_arr[pool])
    regular = greedy.run(limit - injected.size)
    return _place_injected(pool[regular], pool[injected], score_arr)


def serendipity(relevance: npt.ArrayLike, unexpectedness: npt.ArrayLike) -> FloatArray:
    """Serendipity = relevance x unexpectedness, in [0, 1].

    Parameters
    ----------
    relevance : array of float
        Relevance in [0, 1] (e.g. the normalized final score); values outside are clipped.
    unexpectedness : array of float
        Unexpectedness in [0, 1]; the engine passes ``1 - normalized profile affinity to the
        item's category``. Values outside are clipped. Broadcasts against ``relevance``.

    Returns
    -------
    numpy.ndarray of float64
        The element-wise product; NaN where either input is NaN (cannot score).
    """
    relevance_arr = np.clip(np.asarray(relevance, dtype=np.float64), 0.0, 1.0)
    unexpectedness_arr = np.clip(np.asarray(unexpectedness, dtype=np.float64), 0.0, 1.0)
    return np.asarray(relevance_arr * unexpectedness_arr, dtype=np.float64)


def _check_inputs(
    scores: FloatArray,
    category: npt.NDArray[np.int64],
    venue: npt.NDArray[np.int64],
    novel: BoolArray | None,
    limit: int,
    novelty_factor: float,
    pool_size: int | None,
) -> None:
    if scores.ndim != 1:
        raise ValueError(f"scores must be one-dimensional, got shape {scores.shape}")
    named: dict[str, npt.NDArray[np.generic]] = {"category": category, "venue": venue}
    if novel is not None:
        named["is_novel"] = novel
    for name, array in named.items():
        if array.shape != scores.shape:
            raise ValueError(f"{name} has shape {array.shape}, scores {scores.shape}")
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    if pool_size is not None and pool_size < 1:
        raise ValueError(f"pool_size must be >= 1, got {pool_size}")
    if not 0.0 <= novelty_factor <= 1.0:
        raise ValueError(f"novelty_factor must be in [0, 1], got {novelty_factor}")


def _default_pool_size(limit: int) -> int:
    return max(MIN_POOL_SIZE, POOL_SIZE_PER_SLOT * limit)


def _pool(scores: FloatArray, novel: BoolArray | None, size: int) -> IntArray:
    """Positions of the best ``size`` finite scores (plus the best ``size`` novel ones when
    ``novel`` is given), ordered by score descending, then position ascending."""
    finite = np.isfinite(scores)
    pool = _best(np.flatnonzero(finite), scores, size)
    if novel is not None:
        in_pool = np.zeros(scores.shape, dtype=np.bool_)
        in_pool[pool] = True
        in_pool[_best(np.flatnonzero(finite & novel), scores, size)] = True
        pool = np.flatnonzero(in_pool)
    return pool[np.lexsort((pool, -scores[pool]))]


def _best(positions: IntArray, scores: FloatArray, size: int) -> IntArray:
    if positions.size <= size:
        return positions
    return positions[np.argpartition(-scores[positions], size - 1)[:size]]


def _min_max(values: FloatArray) -> FloatArray:
    # Halving first keeps hi - lo finite for any finite scores.
    lo, hi = values.min() * 0.5, values.max() * 0.5
    span = hi - lo
    if not span > 0.0:
        return np.ones_like(values)
    return np.clip((values * 0.5 - lo) / span, 0.0, 1.0)


class _GreedySelection:
    """Greedy MMR over a pool under hard caps, state kept incrementally between steps.

    ``penalty`` holds ``(1 - lambda) * max_similarity_to_selected`` per pool item, or +inf
    once the item is taken or would break a cap, so each step is one vectorized argmax.
    """

    def __init__(
        self,
        relevance: FloatArray,
        category: npt.NDArray[np.int64],
        venue: npt.NDArray[np.int64],
        diversity: DiversityConfig,
    ) -> None:
        weight = diversity.diversity_lambda if diversity.enable_diversity else 1.0
        self._gain = weight * relevance
        self._category_redundancy = (1.0 - weight) * SAME_CATEGORY_SIMILARITY
        self._venue_redundancy = (1.0 - weight) * SAME_VENUE_SIMILARITY
        self._penalty = np.zeros_like(relevance)
        self._category = category
        self._venue = venue
        self._max_same_category = diversity.max_same_category
        self._max_same_venue = diversity.max_same_venue
        self._category_counts: dict[int, int] = {}
        self._venue_counts: dict[int, int] = {}

    def run(self, steps: int, allowed: BoolArray | None = None) -> IntArray:
        """Pick up to ``steps`` more pool items (only ``allowed`` ones when given)."""
        barrier = None if allowed is None else np.where(allowed, 0.0, np.inf)
        picked: list[int] = []
        for _ in range(steps):
            value = self._gain - self._penalty
            if barrier is not None:
                value -= barrier
            best = int(np.argmax(value))
            if value[best] == -np.inf:
                break
            self._take(best)
            picked.append(best)
        return np.asarray(picked, dtype=np.intp)

    def _take(self, item: int) -> None:
        category = int(self._category[item])
        venue = int(self._venue[item])
        known_category = category != UNKNOWN_CODE
        known_venue = venue != UNKNOWN_CODE
        if self._category_redundancy > 0.0 and (known_category or known_venue):
            redundancy: FloatArray | float = 0.0
            if known_category:
                redundancy = (self._category == category) * self._category_redundancy
            if known_venue:
                redundancy = redundancy + (self._venue == venue) * self._venue_redundancy
            np.maximum(self._penalty, redundancy, out=self._penalty)
        self._penalty[item] = np.inf
        if known_category:
            self._count(category, self._category, self._category_counts, self._max_same_category)
        if known_venue:
            self._count(venue, self._venue, self._venue_counts, self._max_same_venue)

    def _count(
        self, code: int, codes: npt.NDArray[np.int64], counts: dict[int, int], cap: int
    ) -> None:
        counts[code] = counts.get(code, 0) + 1
        if counts[code] >= cap:
            self._penalty[codes == code] = np.inf


def _place_injected(regular: IntArray, injected: IntArray, scores: FloatArray) -> Selection:
    """Merge injected items into the regular order: each goes just before the first regular
    item with a strictly lower score, injected items in descending score order."""
    if injected.size == 0:
        return Selection(regular, np.zeros(regular.size, dtype=np.bool_))
    injected = injected[np.argsort(-scores[injected], kind="stable")]
    # A last always-true column sends an item with no lower-scored regular item to the end.
    lower = np.ones((injected.size, regular.size + 1), dtype=np.bool_)
    np.less(scores[regular], scores[injected][:, np.newaxis], out=lower[:, :-1])
    slots = lower.argmax(axis=1)
    positions = np.insert(regular, slots, injected)
    flags = np.insert(np.zeros(regular.size, dtype=np.bool_), slots, True)
    return Selection(positions.astype(np.intp, copy=False), flags)
