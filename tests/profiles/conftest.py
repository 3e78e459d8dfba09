from __future__ import annotations

import pytest
from tests.profiles.profile_world import small_world

from scenescout.frames import EventFrame
from scenescout.profiles import UserProfileBuilder


@pytest.fixture
def world() -> EventFrame:
    return small_world()


@pytest.fixture
def builder() -> UserProfileBuilder:
    return UserProfileBuilder()
