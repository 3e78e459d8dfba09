"""Fixtures of the recommender tests: the tiny world of ``recommender_world``."""

from __future__ import annotations

import pytest
from tests.recommenders.recommender_world import World, make_world


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()


@pytest.fixture(scope="module")
def flipped_world() -> World:
    return make_world(flipped=True)
