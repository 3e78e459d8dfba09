"""Erasure of one user from the engine's memory: profile, exclusions and model state (GDPR).

The engine-level parts (profiles, exclusions) are erased here; each fitted recommender
knows its own per-user state and erases it (:meth:`~scenescout.recommenders.Recommender.
forget_user`, :meth:`~scenescout.recommenders.Recommender.holds_user`).

Aggregates that mix many users (item-item similarities, item factors, trending counts) keep
the user's past contribution until the next training, which reads the database the user
is gone from.
"""

from __future__ import annotations

from typing import Any

from scenescout.engine import PersonalizationEngine


def _engine_memory(engine: PersonalizationEngine) -> dict[str, dict[str, Any]]:
    """The engine's own per-user maps, by the name :func:`remaining_user_state` gives."""
    return {"profile": engine.profiles, "exclusions": engine.exclusions}


def remaining_user_state(engine: PersonalizationEngine, user_id: str) -> list[str]:
    """Where the engine's memory still holds ``user_id``.

    Returns
    -------
    list[str]
        ``"profile"``, ``"exclusions"`` and ``"<component>.<attribute>"`` entries that hold
        the user; empty when nothing is left.
    """
    remaining = [name for name, memory in _engine_memory(engine).items() if user_id in memory]
    return remaining + engine.hybrid.holds_user(user_id)


def forget_user(engine: PersonalizationEngine, user_id: str) -> list[str]:
    """Remove ``user_id`` from the engine's memory: profile, exclusions and model state.

    Returns
    -------
    list[str]
        What held the user before (as :func:`remaining_user_state` names it).
    """
    held = [
        name
        for name, memory in _engine_memory(engine).items()
        if memory.pop(user_id, None) is not None
    ]
    return held + engine.hybrid.forget_user(user_id)
