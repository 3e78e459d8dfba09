"""User profiles: decayed affinities learned from interactions, change detection, similarity."""

from scenescout.profiles.builder import UserProfileBuilder
from scenescout.profiles.config import InteractionWeights, ProfileConfig
from scenescout.profiles.persistence import (
    behavior_row,
    computed_interest_rows,
    profile_from_json,
    profile_to_json,
    similarity_rows,
)
from scenescout.profiles.profile import (
    PRICE_BANDS,
    TIME_SLOTS_PER_DAY,
    UserProfile,
    price_band,
    time_of_week_key,
    time_slot,
)
from scenescout.profiles.similarity import Neighbours, similar_users

__all__ = [
    "PRICE_BANDS",
    "TIME_SLOTS_PER_DAY",
    "InteractionWeights",
    "Neighbours",
    "ProfileConfig",
    "UserProfile",
    "UserProfileBuilder",
    "behavior_row",
    "computed_interest_rows",
    "price_band",
    "profile_from_json",
    "profile_to_json",
    "similar_users",
    "similarity_rows",
    "time_of_week_key",
    "time_slot",
]
