"""Every recommender by name, and one way to build any of them from a config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from scenescout.recommenders.base import Recommender
from scenescout.recommenders.hybrid import COMPONENTS, HybridRecommender

RECOMMENDERS: dict[str, type[Recommender]] = {
    **COMPONENTS,
    HybridRecommender.name: HybridRecommender,
}
"""Recommender classes by their ``name``."""


def recommender_class(name: str) -> type[Recommender]:
    """The class registered as ``name``; ``ValueError`` listing the valid names otherwise."""
    cls = RECOMMENDERS.get(name)
    if cls is None:
        raise ValueError(f"unknown recommender {name!r}; valid names are {sorted(RECOMMENDERS)}")
    return cls


def create(
    name: str, config: BaseModel | Mapping[str, Any] | None = None, **overrides: Any
) -> Recommender:
    """A new, unfitted recommender ``name``.

    Parameters
    ----------
    name
        A key of :data:`RECOMMENDERS`, e.g. ``"collaborative_filtering"``.
    config
        Its config: the recommender's own config class, a section of
        :class:`~scenescout.config.AlgorithmsConfig` (extra settings keep their defaults),
        or a plain mapping; ``None`` for the defaults.
    **overrides
        Single settings replacing those of ``config``.
    """
    cls = recommender_class(name)
    if config is None:
        return cls(**overrides)
    values = config.model_dump() if isinstance(config, BaseModel) else dict(config)
    return cls(cls.config_class.model_validate(values), **overrides)
