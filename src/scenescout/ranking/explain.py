"""Why an item was recommended, and how confident we are, from per-component contributions.

Component names are the keys of the algorithm config (``collaborative_filtering``,
``content_based``, ...). :data:`REASONS` is the one table from a component (or a novelty
injection) to the reason and factors shown to the user.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Reason:
    """What one component (or a novelty injection) says about an item."""

    reason: str
    factors: tuple[str, ...]


NOVELTY = "novelty"
"""Key of novelty injection in :data:`REASONS`; not a component name."""

REASONS: Mapping[str, Reason] = MappingProxyType(
    {
        "collaborative_filtering": Reason("similar_users", ("similar_users",)),
        "matrix_factorization": Reason("similar_users", ("taste_match",)),
        "item_knn": Reason("similar_users", ("similar_users",)),
        "content_based": Reason("interest_alignment", ("category_match", "content_similarity")),
        "location_based": Reason("near_you", ("location",)),
        "trending": Reason("trending", ("popularity",)),
        NOVELTY: Reason("new_for_you", ("novelty",)),
    }
)
"""Component name (or :data:`NOVELTY`) -> primary reason and contributing factors.

Its order breaks ties between equal contributions."""

COMPONENTS: tuple[str, ...] = tuple(name for name in REASONS if name != NOVELTY)
"""The component names :func:`explain` accepts."""


@dataclass(frozen=True)
class Explanation:
    """Why one item is in the list.

    ``components`` are all components that contributed, largest contribution first;
    ``contributing_factors`` summarize the ones that matter (see :func:`explain`).
    """

    primary_reason: str
    contributing_factors: tuple[str, ...]
    components: tuple[str, ...]


def explain(
    contributions: Mapping[str, npt.ArrayLike],
    novel: npt.ArrayLike | None = None,
    *,
    min_share: float = 0.1,
    fallback_reason: str | None = None,
) -> list[Explanation]:
    """Explain each selected item from its components' contributions to the final score.

    A component *contributed* to an item when its contribution is finite and > 0; NaN
    (could not score) and 0 (scored nothing, or zero weight) never name a component.

    - ``primary_reason``: ``new_for_you`` when the item was injected as novel; otherwise the
      reason of the component with the largest contribution (ties go to the earlier entry
      of :data:`REASONS`); otherwise ``fallback_reason``.
    - ``contributing_factors``: the factors of the components whose share of the item's total
      contribution is >= ``min_share``, plus always the largest one, largest first,
      deduplicated; ``novelty`` leads for injected items.
    - ``components``: every contributing component, largest first.

    Parameters
    ----------
    contributions : mapping of component name to array of float, shape (n,)
        Per selected item, each component's weighted, normalized contribution to the final
        score. Names must be in :data:`COMPONENTS`.
    novel : array of bool, shape (n,), optional
        True where the item fills a novelty slot (``Selection.injected``).
    min_share : float
        Minimum share of an item's total contribution for a component's factors to be
        listed, in [0, 1].
    fallback_reason : str, optional
        Primary reason for items no component contributed to, e.g. ``"popular_nearby"``
        when the engine's fallback chain produced them. Without it such an item is an error.

    Returns
    -------
    list of Explanation
        One per item, in input order.

    Raises
    ------
    ValueError
        On an unknown component name, arrays of different lengths, neither contributions nor
        ``novel`` (the item count is unknown), ``min_share`` outside [0, 1], or an item with
        no contributing component, not injected as novel and no ``fallback_reason``.
    """
    if not 0.0 <= min_share <= 1.0:
        raise ValueError(f"min_share must be in [0, 1], got {min_share}")
    names, positive = _positive_contributions(contributions)
    injected = _injected(novel, positive.shape[0] if names else None)
    positive = positive if names else np.zeros((injected.size, 0))
    total = positive.sum(axis=1, keepdims=True)
    share = np.divide(positive, total, out=np.zeros_like(positive), where=total > 0.0)
    order = np.argsort(-positive, axis=1, kind="stable")

    explanations = []
    # Python lists from here on: per-element access to numpy arrays is far slower.
    rows = zip(order.tolist(), positive.tolist(), share.tolist(), injected.tolist(), strict=True)
    for item, (item_order, item_positive, item_share, item_injected) in enumerate(rows):
        contributed = [k for k in item_order if item_positive[k] > 0.0]
        ranked = [names[k] for k in contributed]
        listed = ranked[:1] + [names[k] for k in contributed[1:] if item_share[k] >= min_share]
        leading = [NOVELTY] if item_injected else []
        if leading:
            primary = REASONS[NOVELTY].reason
        elif ranked:
            primary = REASONS[ranked[0]].reason
        elif fallback_reason is not None:
            primary = fallback_reason
        else:
            raise ValueError(
                f"item {item}: no component contributed and it was not injected as novel; "
                "pass fallback_reason when the fallback chain produced it"
            )
        factors = dict.fromkeys(f for name in leading + listed for f in REASONS[name].factors)
        explanations.append(Explanation(primary, tuple(factors), tuple(ranked)))
    return explanations


def confidence(
    component_scores: Mapping[str, npt.ArrayLike], profile_strength: float
) -> FloatArray:
    """Confidence per item in [0, 1]: strong profile, many components scoring, in agreement.

    With ``K`` components given, ``m`` of them able to score the item (finite score) and
    ``sd`` the population standard deviation of those ``m`` scores (clipped to [0, 1])::

        coverage   = m / K
        agreement  = 1 - 2 * sd          (scores in [0, 1] have sd <= 0.5; 1 when m == 1)
        confidence = (0.5 + 0.5 * profile_strength) * agreement * coverage

    so it is 0 when no component could score, never decreases as the profile grows, and a
    cold profile caps it at 0.5.

    Parameters
    ----------
    component_scores : mapping of component name to array of float, shape (n,)
        Each enabled component's *normalized, unweighted* score per item in [0, 1] (values
        outside are clipped), NaN where it could not score. Unlike :func:`explain`, weights
        are left out: they would make components look in disagreement when they are not.
    profile_strength : float
        ``UserProfile.strength`` in [0, 1] (clipped).

    Returns
    -------
    numpy.ndarray of float64, shape (n,)

    Raises
    ------
    ValueError
        On no components, arrays of different lengths, or a NaN ``profile_strength``.
    """
    if not component_scores:
        raise ValueError("confidence needs at least one component's scores")
    if np.isnan(profile_strength):
        raise ValueError("profile_strength is NaN")
    scores = _stack(component_scores)
    scored = np.isfinite(scores)
    n_scored = scored.sum(axis=1)
    divisor = np.maximum(n_scored, 1)
    clipped = np.where(scored, np.clip(scores, 0.0, 1.0), 0.0)
    mean = clipped.sum(axis=1) / divisor
    variance = np.where(scored, (clipped - mean[:, np.newaxis]) ** 2, 0.0).sum(axis=1) / divisor
    agreement = np.clip(1.0 - 2.0 * np.sqrt(variance), 0.0, 1.0)
    coverage = n_scored / scores.shape[1]
    strength = float(np.clip(profile_strength, 0.0, 1.0))
    return np.clip((0.5 + 0.5 * strength) * agreement * coverage, 0.0, 1.0)


def _stack(columns: Mapping[str, npt.ArrayLike]) -> FloatArray:
    arrays = [np.asarray(values, dtype=np.float64) for values in columns.values()]
    shapes = {array.shape for array in arrays}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        raise ValueError(f"expected one-dimensional arrays of one length, got shapes {shapes}")
    return np.column_stack(arrays)


def _positive_contributions(
    contributions: Mapping[str, npt.ArrayLike],
) -> tuple[list[str], FloatArray]:
    """Known component names in :data:`REASONS` order, and their contributions with
    everything not finite and > 0 set to 0 (shape (n, len(names)))."""
    unknown = sorted(set(contributions) - set(COMPONENTS))
    if unknown:
        raise ValueError(f"unknown components {unknown}; known: {list(COMPONENTS)}")
    names = [name for name in COMPONENTS if name in contributions]
    if not names:
        return names, np.zeros((0, 0))
    values = _stack({name: contributions[name] for name in names})
    return names, np.where(np.isfinite(values) & (values > 0.0), values, 0.0)


def _injected(novel: npt.ArrayLike | None, n_items: int | None) -> npt.NDArray[np.bool_]:
    if novel is None:
        if n_items is None:
            raise ValueError("pass contributions or novel: the number of items is unknown")
        return np.zeros(n_items, dtype=np.bool_)
    injected = np.asarray(novel, dtype=np.bool_)
    if injected.ndim != 1 or (n_items is not None and injected.size != n_items):
        raise ValueError(f"novel has shape {injected.shape}, contributions {n_items} items")
    return injected
