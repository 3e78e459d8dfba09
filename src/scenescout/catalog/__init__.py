"""The in-memory catalog snapshot of upcoming events and its geo/time index."""

from scenescout.catalog.grid import CellGrid
from scenescout.catalog.snapshot import (
    DEFAULT_CELL_DEG,
    DEFAULT_MAX_DELTA_ROWS,
    CatalogSnapshot,
    CatalogView,
)

__all__ = [
    "DEFAULT_CELL_DEG",
    "DEFAULT_MAX_DELTA_ROWS",
    "CatalogSnapshot",
    "CatalogView",
    "CellGrid",
]
