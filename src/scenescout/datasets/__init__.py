"""Synthetic event worlds with a known ground truth, and loaders for interaction files."""

from scenescout.datasets.generator import (
    BulkWriter,
    EventDetails,
    GroundTruth,
    ProgressCallback,
    UserTable,
    VenueTable,
    World,
    WorldConfig,
    generate_world,
    world_metadata,
    write_world,
)
from scenescout.datasets.world_data import CATEGORIES, CITIES, VENUE_KINDS, Category, City

__all__ = [
    "CATEGORIES",
    "CITIES",
    "VENUE_KINDS",
    "BulkWriter",
    "Category",
    "City",
    "EventDetails",
    "GroundTruth",
    "ProgressCallback",
    "UserTable",
    "VenueTable",
    "World",
    "WorldConfig",
    "generate_world",
    "world_metadata",
    "write_world",
]
