"""Signals and features shared by the recommenders: interaction confidence, the user-event
matrix, vectorized price bands, and one-hot content features of events."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from scenescout.domain import Interaction
from scenescout.frames import INTERACTION_CODES, INTERACTION_TYPES, EventFrame, InteractionLog
from scenescout.profiles.config import InteractionWeights
from scenescout.profiles.event_keys import SECONDS_PER_DAY
from scenescout.profiles.profile import PRICE_BANDS
from scenescout.recommenders._events import IntArray, KeyedRows, intern_event_ids

FloatArray = npt.NDArray[np.float64]

_CONFIDENCE_BY_CODE = np.array([InteractionWeights().of(t) for t in INTERACTION_TYPES])


def interaction_confidence(log: InteractionLog) -> FloatArray:
    """Signed confidence of each interaction: its type's weight times its own weight.

    Type weights are the profiles' default
    :class:`~scenescout.profiles.config.InteractionWeights` (view 1 ... purchase 8, dismiss
    and hide negative), so profiles and recommenders read interactions alike.
    """
    own = np.where(np.isnan(log.weight), 1.0, log.weight.astype(np.float64))
    return np.asarray(_CONFIDENCE_BY_CODE[log.type_code] * own, dtype=np.float64)


def single_confidence(interaction: Interaction) -> float:
    """:func:`interaction_confidence` of one interaction (without building a log: this is
    on the write path of every interaction)."""
    weight = interaction.weight
    own = 1.0 if weight is None or math.isnan(weight) else float(np.float32(weight))
    return float(_CONFIDENCE_BY_CODE[INTERACTION_CODES[interaction.interaction_type]] * own)


def decay_factor(age_seconds: FloatArray | float, half_life_days: float) -> FloatArray:
    """``0.5 ** (age / half_life)``; ages below zero (future) count as zero."""
    age_days = np.maximum(np.asarray(age_seconds, dtype=np.float64), 0.0) / SECONDS_PER_DAY
    return np.asarray(0.5 ** (age_days / half_life_days), dtype=np.float64)


@dataclass
class InteractionMatrix:
    """Users x events of one interaction log, one value per (user, event) pair.

    ``signed`` holds the summed positive confidence of a pair, or its summed negative
    confidence when the user ever dismissed or hid the event (negative feedback wins).
    ``positive`` keeps only the positive pairs. ``items`` maps interned event keys to
    columns; ``item_keys`` is the reverse. ``user_of``/``item_of`` give the row and column
    of each interaction of the log.
    """

    user_ids: list[str]
    user_rows: dict[str, int]
    items: KeyedRows
    item_keys: IntArray
    signed: sp.csr_matrix
    positive: sp.csr_matrix
    user_of: IntArray
    item_of: IntArray

    @classmethod
    def from_log(cls, log: InteractionLog) -> Self:
        users, user_index = np.unique(log.user_ids.astype(str), return_inverse=True)
        keys = intern_event_ids(log.event_ids)
        item_keys, item_index = np.unique(keys, return_inverse=True)
        items = KeyedRows()
        items.add(item_keys)
        confidence = interaction_confidence(log)
        n_users, n_items = users.shape[0], item_keys.shape[0]
        pair = user_index.astype(np.int64) * n_items + item_index
        pairs, pair_index = np.unique(pair, return_inverse=True)
        positive_sum = np.bincount(pair_index, weights=np.maximum(confidence, 0.0))
        negative_sum = np.bincount(pair_index, weights=np.minimum(confidence, 0.0))
        signed_values = np.where(negative_sum < 0.0, negative_sum, positive_sum)
        rows, cols = pairs // n_items, pairs % n_items
        shape = (n_users, n_items)
        signed = sp.csr_matrix((signed_values, (rows, cols)), shape=shape, dtype=np.float32)
        positive = signed.multiply(signed > 0).tocsr()
        positive.eliminate_zeros()
        return cls(
            user_ids=users.tolist(),
            user_rows={u: i for i, u in enumerate(users.tolist())},
            items=items,
            item_keys=item_keys,
            signed=signed,
            positive=positive.astype(np.float32),
            user_of=user_index.reshape(-1),
            item_of=item_index.reshape(-1),
        )

    def item_positions(self, events: EventFrame) -> IntArray:
        """Positions in ``events`` of the matrix's items, in column order.

        Raises
        ------
        ValueError
            When ``events`` does not describe every interacted event.
        """
        columns = self.items.lookup(intern_event_ids(events.ids))
        positions = np.full(len(self.items), -1, dtype=np.int64)
        positions[columns[columns >= 0]] = np.flatnonzero(columns >= 0)
        missing = int((positions < 0).sum())
        if missing:
            raise ValueError(f"training events do not describe {missing} interacted events")
        return positions


_PRICE_BAND_HIGHS = np.array([high for _, _, high in PRICE_BANDS[1:]])


def price_band_codes(prices: npt.ArrayLike) -> IntArray:
    """Vectorized :func:`~scenescout.profiles.profile.price_band`: index into PRICE_BANDS."""
    values = np.asarray(prices, dtype=np.float64)
    paid = np.minimum(np.searchsorted(_PRICE_BAND_HIGHS, values, side="left"), 3) + 1
    return np.where(values <= 0.0, 0, paid).astype(np.int64)


def vocabulary_lookup(
    codes: npt.NDArray[np.int32], names: list[str], known: dict[str, int]
) -> IntArray:
    """Map frame vocabulary ``codes`` to columns of ``known`` names (-1 = none or unknown)."""
    present, inverse = np.unique(codes, return_inverse=True)
    mapped = np.array(
        [known.get(names[c], -1) if c >= 0 else -1 for c in present.tolist()], dtype=np.int64
    )
    return mapped[inverse.reshape(-1)]


CONTENT_BLOCK_WEIGHTS: dict[str, float] = {
    "category": 0.3,
    "tags": 0.25,
    "venue": 0.2,
    "location": 0.15,
    "price": 0.1,
}
"""Share of each block in the cosine of two events' content vectors (sums to 1)."""

FINE_CELL_DEG = 0.05
COARSE_CELL_DEG = 0.25


def _cell_keys(lat: FloatArray, lng: FloatArray, cell_deg: float) -> IntArray:
    row = np.floor((lat + 90.0) / cell_deg).astype(np.int64)
    col = np.floor((lng + 180.0) / cell_deg).astype(np.int64)
    return row * 100_000 + col


class EventFeaturizer:
    """One-hot content vectors of events for similarity and regression.

    Blocks: category, tags (IDF-weighted), venue, location (a ~5 km and a ~25 km grid cell,
    half each) and price band. Each block is L2-normalized and scaled by the square root of
    its :data:`CONTENT_BLOCK_WEIGHTS` share, so the dot product of two events is the
    weighted mean of their per-block cosines, in [0, 1]. Values unseen in fit (a new venue)
    leave their block empty.
    """

    def fit(self, events: EventFrame) -> Self:
        self.categories_ = {name: i for i, name in enumerate(sorted(set(events.categories.names)))}
        self.venues_ = {name: i for i, name in enumerate(sorted(set(events.venues.names)))}
        tag_lists = events.tags.tolist()
        tags = sorted({tag for row in tag_lists for tag in row})
        self.tags_ = {tag: i for i, tag in enumerate(tags)}
        document_frequency = np.zeros(len(tags))
        for row in tag_lists:
            for tag in set(row):
                document_frequency[self.tags_[tag]] += 1
        self.tag_idf_ = np.log((1.0 + len(events)) / (1.0 + document_frequency)) + 1.0
        self.fine_cells_ = np.unique(_cell_keys(events.lat, events.lng, FINE_CELL_DEG))
        self.coarse_cells_ = np.unique(_cell_keys(events.lat, events.lng, COARSE_CELL_DEG))
        sizes = [
            len(self.categories_),
            len(self.tags_),
            len(self.venues_),
            self.fine_cells_.shape[0] + self.coarse_cells_.shape[0],
            len(PRICE_BANDS),
        ]
        self.offsets_ = np.concatenate([[0], np.cumsum(sizes)])
        return self

    def category_columns(self, events: EventFrame) -> IntArray:
        """The category block column of each event, -1 for none or one unseen in fit."""
        return vocabulary_lookup(events.category, events.categories.names, self.categories_)

    def transform(self, events: EventFrame) -> sp.csr_matrix:
        """Content vectors of ``events``, one CSR row each (float32)."""
        blocks = [
            self._one_hot(self.category_columns(events), 0),
            self._tags(events),
            self._one_hot(vocabulary_lookup(events.venue, events.venues.names, self.venues_), 2),
            self._location(events),
            self._one_hot(price_band_codes(events.price_min), 4),
        ]
        parts = [
            (normalize(block) if min(block.shape) else block) * np.sqrt(weight)
            for block, weight in zip(blocks, CONTENT_BLOCK_WEIGHTS.values(), strict=True)
        ]
        return sp.csr_matrix(sp.hstack(parts, format="csr", dtype=np.float32))

    def _one_hot(self, columns: IntArray, block: int) -> sp.csr_matrix:
        size = int(self.offsets_[block + 1] - self.offsets_[block])
        known = columns >= 0
        rows = np.flatnonzero(known)
        return sp.csr_matrix(
            (np.ones(rows.shape[0]), (rows, columns[known])), shape=(columns.shape[0], size)
        )

    def _tags(self, events: EventFrame) -> sp.csr_matrix:
        rows: list[int] = []
        cols: list[int] = []
        for row, tags in enumerate(events.tags.tolist()):
            for tag in set(tags):
                col = self.tags_.get(tag)
                if col is not None:
                    rows.append(row)
                    cols.append(col)
        columns = np.array(cols, dtype=np.int64)
        return sp.csr_matrix(
            (self.tag_idf_[columns], (np.array(rows, dtype=np.int64), columns)),
            shape=(len(events), len(self.tags_)),
        )

    def _location(self, events: EventFrame) -> sp.csr_matrix:
        n = len(events)
        fine = _cell_columns(self.fine_cells_, _cell_keys(events.lat, events.lng, FINE_CELL_DEG))
        coarse = _cell_columns(
            self.coarse_cells_, _cell_keys(events.lat, events.lng, COARSE_CELL_DEG)
        )
        coarse = np.where(coarse >= 0, coarse + self.fine_cells_.shape[0], -1)
        columns = np.concatenate([fine, coarse])
        known = columns >= 0
        rows = np.tile(np.arange(n), 2)[known]
        size = self.fine_cells_.shape[0] + self.coarse_cells_.shape[0]
        return sp.csr_matrix((np.ones(rows.shape[0]), (rows, columns[known])), shape=(n, size))


def _cell_columns(cells: IntArray, keys: IntArray) -> IntArray:
    if cells.shape[0] == 0:
        return np.full(keys.shape[0], -1, dtype=np.int64)
    position = np.minimum(np.searchsorted(cells, keys), cells.shape[0] - 1)
    return np.where(cells[position] == keys, position, -1)


def top_k_per_row(
    matrix: sp.csr_matrix, k: int, min_value: float, by_magnitude: bool = False
) -> tuple[IntArray, npt.NDArray[np.float32]]:
    """The ``k`` largest entries ``>= min_value`` of each row, as padded dense arrays.

    Returns ``(columns, values)``, both ``(n_rows, k)``, sorted by value within a row; the
    padding is column -1 with value 0. Ties keep the lower column first. With
    ``by_magnitude`` entries are ranked (and thresholded) by absolute value, keeping sign.
    """
    matrix = sp.csr_matrix(matrix)
    n_rows = matrix.shape[0]
    columns = np.full((n_rows, k), -1, dtype=np.int64)
    values = np.zeros((n_rows, k), dtype=np.float32)
    row_of = np.repeat(np.arange(n_rows), np.diff(matrix.indptr))
    rank_by = np.abs(matrix.data) if by_magnitude else matrix.data
    keep = rank_by >= min_value
    row_of, cols, data = row_of[keep], matrix.indices[keep], matrix.data[keep]
    order = np.lexsort((cols, -rank_by[keep], row_of))
    row_of, cols, data = row_of[order], cols[order], data[order]
    starts = np.searchsorted(row_of, np.arange(n_rows))
    rank = np.arange(row_of.shape[0]) - starts[row_of]
    top = rank < k
    columns[row_of[top], rank[top]] = cols[top]
    values[row_of[top], rank[top]] = data[top]
    return columns, values
