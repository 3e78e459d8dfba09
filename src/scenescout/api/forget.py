"""Erasure of one user from the engine's memory: profile, exclusions and model state (GDPR).

The fitted recommenders keep per-user state under their learned attributes:

* collaborative filtering: the user's row of the interaction matrix (``matrix_``), of
  ``engagement_`` (which the user's neighbours read) and of ``user_neighbors_`` /
  ``user_similarity_``, the user's place in other users' neighbour lists, and the
  post-fit history ``recent_``;
* content: the TF-IDF text profile ``text_profiles_``;
* location: the places ``places_``;
* matrix factorization: ``user_rows_`` / ``user_factors_`` (and the ``implicit`` model's
  copy of the factors), the matrix row and ``recent_``;
* trending: nothing per user (counts per event only).

Aggregates that mix many users (item-item similarities, item factors, trending counts) keep
the user's past contribution until the next training, which reads the database the user
is gone from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

from scenescout.engine import PersonalizationEngine


class _UserState(Protocol):
    @property
    def attribute(self) -> str: ...

    def holds(self, component: Any, user_id: str) -> bool: ...

    def forget(self, component: Any, user_id: str) -> None: ...


@dataclass(frozen=True)
class _Keyed:
    """A learned ``dict`` keyed by user id."""

    attribute: str

    def holds(self, component: Any, user_id: str) -> bool:
        return user_id in getattr(component, self.attribute)

    def forget(self, component: Any, user_id: str) -> None:
        getattr(component, self.attribute).pop(user_id, None)


def _without_row(matrix: sp.csr_matrix, row: int) -> sp.csr_matrix:
    """A copy of ``matrix`` with row ``row`` empty (values and structure)."""
    copy = sp.csr_matrix(matrix, copy=True)
    start, stop = copy.indptr[row : row + 2]
    copy.data[start:stop] = 0
    copy.eliminate_zeros()
    return copy


def _erase_matrix_row(component: Any, user_id: str) -> int | None:
    """Empty the user's row of the component's fitted interaction matrix; its row or None."""
    matrix = component.matrix_
    row: int | None = matrix.user_rows.pop(user_id, None)
    if row is None:
        return None
    matrix.signed = _without_row(matrix.signed, row)
    matrix.positive = _without_row(matrix.positive, row)
    matrix.user_ids[row] = ""
    return row


@dataclass(frozen=True)
class _CollaborativeRows:
    """The user's fitted rows and neighbourhood links."""

    attribute: str = "matrix_"

    def holds(self, component: Any, user_id: str) -> bool:
        return user_id in component.matrix_.user_rows

    def forget(self, component: Any, user_id: str) -> None:
        row = _erase_matrix_row(component, user_id)
        if row is None:
            return
        component.engagement_ = _without_row(component.engagement_, row)
        neighbors = component.user_neighbors_.copy()
        similarity = component.user_similarity_.copy()
        linked = neighbors == row
        linked[row] = True
        neighbors[linked] = -1
        similarity[linked] = 0.0
        component.user_neighbors_, component.user_similarity_ = neighbors, similarity


@dataclass(frozen=True)
class _FactorRows:
    """The user's factor vector (fitted or learned since) and fitted matrix row."""

    attribute: str = "user_factors_"

    def holds(self, component: Any, user_id: str) -> bool:
        return user_id in component.user_rows_ or user_id in component.matrix_.user_rows

    def forget(self, component: Any, user_id: str) -> None:
        _erase_matrix_row(component, user_id)
        row = component.user_rows_.pop(user_id, None)
        if row is None:
            return
        component.user_factors_[row] = 0.0
        fitted = getattr(component.model_, "user_factors", None)
        if isinstance(fitted, np.ndarray) and row < fitted.shape[0]:
            fitted[row] = 0.0


# By recommender name (``Recommender.name``), so the API room need not import the
# recommenders (it talks to the engine only).
_USER_STATE: dict[str, tuple[_UserState, ...]] = {
    "collaborative_filtering": (_CollaborativeRows(), _Keyed("recent_")),
    "content_based": (_Keyed("text_profiles_"),),
    "location_based": (_Keyed("places_"),),
    "matrix_factorization": (_FactorRows(), _Keyed("recent_")),
    "trending": (),
}


def _states(engine: PersonalizationEngine) -> list[tuple[str, Any, _UserState | None]]:
    """Each component's per-user states; ``None`` for a component without erasure rules."""
    found: list[tuple[str, Any, _UserState | None]] = []
    for name, component in engine.hybrid.components_.items():
        rules = _USER_STATE.get(component.name)
        if rules is None:
            found.append((name, component, None))
        found.extend((name, component, rule) for rule in rules or ())
    return found


def remaining_user_state(engine: PersonalizationEngine, user_id: str) -> list[str]:
    """Where the engine's memory still holds ``user_id``.

    Returns
    -------
    list[str]
        ``"profile"``, ``"exclusions"`` and ``"<component>.<attribute>"`` entries that hold
        the user, plus ``"<component> (no erasure rule)"`` for a component this module does
        not know; empty when nothing is left.
    """
    remaining = [
        name
        for name, held in (
            ("profile", user_id in engine.profiles),
            ("exclusions", user_id in engine.exclusions),
        )
        if held
    ]
    for name, component, rule in _states(engine):
        if rule is None:
            remaining.append(f"{name} (no erasure rule)")
        elif rule.holds(component, user_id):
            remaining.append(f"{name}.{rule.attribute}")
    return remaining


def forget_user(engine: PersonalizationEngine, user_id: str) -> list[str]:
    """Remove ``user_id`` from the engine's memory: profile, exclusions and model state.

    Returns
    -------
    list[str]
        What held the user before (as :func:`remaining_user_state` names it).
    """
    held = remaining_user_state(engine, user_id)
    engine.profiles.pop(user_id, None)
    engine.exclusions.pop(user_id, None)
    for _, component, rule in _states(engine):
        if rule is not None:
            rule.forget(component, user_id)
    return held
