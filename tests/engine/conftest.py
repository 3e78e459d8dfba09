"""Fixtures of the engine tests: one generated world per session, one engine per module."""

from __future__ import annotations

import pytest
from tests.engine.engine_world import Served, make_world, train_engine

from scenescout.datasets import World
from scenescout.engine import PersonalizationEngine


@pytest.fixture(scope="session")
def world() -> World:
    return make_world()


@pytest.fixture(scope="module")
def engine(world: World) -> PersonalizationEngine:
    return train_engine(world)


@pytest.fixture(scope="module")
def served(world: World, engine: PersonalizationEngine) -> Served:
    return Served(world, engine)
