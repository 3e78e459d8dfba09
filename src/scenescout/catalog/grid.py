"""A row-major grid of latitude/longitude cells: the catalog's geo index.

Cell keys number the cells row by row (one row per latitude band, west to east), so every
latitude band of a bounding box is one contiguous key range, and a block of events sorted by key
answers a box query with one ``np.searchsorted`` slice per band. Filters then run on those
slices as views (contiguous memory) before anything is gathered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CellGrid:
    """Square cells of ``cell_deg`` degrees over the whole globe.

    Parameters
    ----------
    cell_deg
        Cell edge in degrees of latitude and longitude, in (0, 180].
    """

    cell_deg: float
    lat_cells: int = field(init=False)
    lng_cells: int = field(init=False)

    def __post_init__(self) -> None:
        if not 0.0 < self.cell_deg <= 180.0:
            raise ValueError(f"cell_deg must be in (0, 180], got {self.cell_deg}")
        object.__setattr__(self, "lat_cells", math.ceil(180.0 / self.cell_deg))
        object.__setattr__(self, "lng_cells", math.ceil(360.0 / self.cell_deg))

    def _cells(self, degrees: FloatArray, offset: float, count: int) -> IntArray:
        cells = np.floor((degrees + offset) / self.cell_deg)
        return np.clip(cells, 0, count - 1).astype(np.int64)

    def _cell(self, degrees: float, offset: float, count: int) -> int:
        # The same IEEE operations as _cells, so a point inside a box always falls in a cell
        # between the cells of the box corners (floor is monotone).
        return min(max(math.floor((degrees + offset) / self.cell_deg), 0), count - 1)

    def cell_keys(self, lat: FloatArray, lng: FloatArray) -> IntArray:
        """The cell key of each point: ``lat_cell * lng_cells + lng_cell``."""
        return self._cells(lat, 90.0, self.lat_cells) * self.lng_cells + self._cells(
            lng, 180.0, self.lng_cells
        )

    def sort_order(self, lat: FloatArray, lng: FloatArray) -> tuple[IntArray, IntArray]:
        """The stable order that sorts the points by cell key, and the sorted keys."""
        keys = self.cell_keys(lat, lng)
        order = np.argsort(keys, kind="stable").astype(np.int64)
        return order, keys[order]

    def spans_in_box(
        self, sorted_keys: IntArray, box: tuple[float, float, float, float]
    ) -> list[tuple[int, int]]:
        """Non-empty ``(start, stop)`` slices of ``sorted_keys`` covering every cell that
        overlaps the box, in ascending order: one per latitude band of the box.

        ``box`` is ``(min_lat, max_lat, min_lng, max_lng)`` as from
        :func:`scenescout.geo.bounding_box`; a longitude range of [-180, 180] makes the
        bands adjacent, so they are read as one slice.
        """
        min_lat, max_lat, min_lng, max_lng = box
        lat_lo = self._cell(min_lat, 90.0, self.lat_cells)
        lat_hi = self._cell(max_lat, 90.0, self.lat_cells)
        if min_lng <= -180.0 and max_lng >= 180.0:
            lows = [lat_lo * self.lng_cells]
            highs = [(lat_hi + 1) * self.lng_cells]
        else:
            lng_lo = self._cell(min_lng, 180.0, self.lng_cells)
            lng_hi = self._cell(max_lng, 180.0, self.lng_cells)
            bands = range(lat_lo * self.lng_cells, (lat_hi + 1) * self.lng_cells, self.lng_cells)
            lows = [band + lng_lo for band in bands]
            highs = [band + lng_hi + 1 for band in bands]
        starts = np.searchsorted(sorted_keys, lows, side="left").tolist()
        stops = np.searchsorted(sorted_keys, highs, side="left").tolist()
        return [(start, stop) for start, stop in zip(starts, stops, strict=True) if start < stop]
