"""A small generated event world and engines trained on it, shared by the engine tests.

3,000 events around the generator's cities (about half of them still upcoming at
:data:`REFERENCE`), 600 users with homes and 30,000 interactions. :data:`PICKY` is a warm
user with explicit preferences that exclude their favourite category. Nothing here is
random at test time: the world is a pure function of :data:`CONFIG`.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from scenescout.catalog import CatalogSnapshot
from scenescout.datasets import World, WorldConfig, generate_world
from scenescout.domain import UserPreferences
from scenescout.engine import PersonalizationEngine
from scenescout.recommenders import TrainingData

REFERENCE = datetime(2025, 6, 1, 12, tzinfo=UTC)
CONFIG = WorldConfig(
    seed=2024,
    n_events=3_000,
    n_users=600,
    n_interactions=30_000,
    reference_time=REFERENCE,
    history_days=30,
    horizon_days=60,
)
NEWCOMER = "newcomer"
"""A user the engine has never heard of: no interactions, no home."""


def make_world() -> World:
    return generate_world(CONFIG)


def homes(world: World) -> dict[str, tuple[float, float]]:
    return dict(
        zip(
            world.users.ids.tolist(),
            zip(world.users.home_lat.tolist(), world.users.home_lng.tolist(), strict=True),
            strict=True,
        )
    )


def users_by_activity(world: World) -> list[str]:
    """User ids, most interactions first (ties by id)."""
    counts = Counter(world.interactions.user_ids.tolist())
    return sorted(counts, key=lambda user: (-counts[user], user))


def category_of(world: World, event_id: str) -> str:
    row = int(np.flatnonzero(world.events.ids == event_id)[0])
    name = world.events.categories.name(int(world.events.category[row]))
    assert name is not None
    return name


def picky_user(world: World) -> tuple[str, UserPreferences]:
    """The tenth most active user, who excludes their favourite category and ``film``."""
    user = users_by_activity(world)[9]
    touched = world.interactions.event_ids[world.interactions.user_ids == user].tolist()
    favourite = Counter(category_of(world, e) for e in touched).most_common(1)[0][0]
    excluded = sorted({favourite, "film"})
    return user, UserPreferences(categories=["music"], excluded_categories=excluded)


def train_engine(world: World) -> PersonalizationEngine:
    """An engine trained on the whole world at :data:`REFERENCE`, with PICKY's preferences,
    its catalog warmed up as a server does.

    Components have no time budget, so no result depends on how fast the machine is; the
    tests of the budget set one.
    """
    data = TrainingData(world.interactions, world.events, world.reference_ts, homes(world))
    catalog = CatalogSnapshot.build(world.events, world.reference_ts)
    user, preferences = picky_user(world)
    engine = PersonalizationEngine.train(
        data, catalog, preferences={user: preferences}, component_budget_ms=math.inf
    )
    engine.hybrid.prepare_events(catalog.frame)
    return engine


@dataclass(frozen=True)
class Served:
    """A world and an engine trained on it (a short repr keeps Hypothesis reports readable)."""

    world: World = field(repr=False)
    engine: PersonalizationEngine = field(repr=False)
