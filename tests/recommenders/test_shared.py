"""The helpers every recommender shares: interning, memos, features, the interaction matrix."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from tests.recommenders.recommender_world import World, interaction

from scenescout.domain import Interaction, InteractionType
from scenescout.frames import EventFrame, InteractionLog
from scenescout.profiles.profile import PRICE_BANDS, price_band
from scenescout.recommenders._events import EventMemo, KeyedRows, intern_event_ids
from scenescout.recommenders._features import (
    EventFeaturizer,
    InteractionMatrix,
    interaction_confidence,
    price_band_codes,
    single_confidence,
    top_k_per_row,
)


@given(st.lists(st.floats(-10.0, 1e6, allow_nan=False), min_size=1, max_size=50))
def test_price_band_codes_agree_with_price_band(prices: list[float]) -> None:
    names = [PRICE_BANDS[code][0] for code in price_band_codes(prices).tolist()]
    assert names == [price_band(price) for price in prices]


def test_interned_keys_are_stable_and_distinct() -> None:
    first = intern_event_ids(np.array(["shared-a", "shared-b", "shared-a"], dtype=object))
    again = intern_event_ids(np.array(["shared-b", "shared-a"], dtype=object))
    assert first[0] == first[2] != first[1]
    assert again.tolist() == [first[1], first[0]]


def test_keyed_rows_assign_rows_in_first_seen_order() -> None:
    rows = KeyedRows()
    assert rows.add(np.array([7, 3, 7])).tolist() == [0, 1, 0]
    assert rows.lookup(np.array([3, 5, 100])).tolist() == [1, -1, -1]
    assert len(rows) == 2


def test_event_memo_computes_each_event_once(world: World) -> None:
    computed: list[str] = []

    def compute(events: EventFrame) -> tuple[npt.NDArray[np.int64]]:
        computed.extend(events.ids.tolist())
        return (np.array([len(i) for i in events.ids.tolist()]),)

    memo = EventMemo(compute)
    (lengths,) = memo.get(world.frame("music-0", "sports-1", "music-0"))
    (again,) = memo.get(world.frame("sports-1", "music-2"))
    assert computed == ["music-0", "sports-1", "music-2"]
    assert lengths.tolist() == [7, 8, 7]
    assert again.tolist() == [8, 7]


def test_top_k_per_row_ranks_and_pads() -> None:
    matrix = sp.csr_matrix(np.array([[0.1, 0.9, 0.5, 0.0], [0.0, 0.0, 0.0, 0.2]]))
    columns, values = top_k_per_row(matrix, 2, 0.15)
    assert columns.tolist() == [[1, 2], [3, -1]]
    np.testing.assert_allclose(values, [[0.9, 0.5], [0.2, 0.0]], rtol=1e-6)
    _, signed = top_k_per_row(
        sp.csr_matrix(np.array([[0.3, -0.8, 0.1]])), 2, 0.0, by_magnitude=True
    )
    np.testing.assert_allclose(signed, [[-0.8, 0.3]], rtol=1e-6)


def test_content_vectors_have_unit_self_similarity(world: World) -> None:
    featurizer = EventFeaturizer().fit(world.events)
    vectors = featurizer.transform(world.events)
    similarity = (vectors @ vectors.T).toarray()
    np.testing.assert_allclose(np.diag(similarity), 1.0, rtol=1e-5)
    assert similarity.min() >= 0.0
    assert similarity.max() <= 1.0 + 1e-5


def test_negative_feedback_wins_over_positive_in_the_matrix() -> None:
    log = InteractionLog.from_interactions(
        [
            interaction("u", "e1", InteractionType.PURCHASE),
            interaction("u", "e1", InteractionType.DISMISS),
            interaction("u", "e2", InteractionType.VIEW),
            interaction("u", "e2", InteractionType.SAVE),
        ]
    )
    matrix = InteractionMatrix.from_log(log)
    signed = dict(zip(matrix.signed.indices.tolist(), matrix.signed.data.tolist(), strict=True))
    e1, e2 = matrix.items.lookup(intern_event_ids(np.array(["e1", "e2"], dtype=object)))
    assert signed[int(e1)] < 0.0
    assert signed[int(e2)] == 5.0
    assert matrix.positive.nnz == 1


@given(
    st.sampled_from(list(InteractionType)),
    st.one_of(st.none(), st.floats(min_value=0.0, max_value=1e6)),
)
def test_one_interaction_confidence_equals_the_logs(
    interaction_type: InteractionType, weight: float | None
) -> None:
    interaction = Interaction(
        user_id="u",
        event_id="e",
        interaction_type=interaction_type,
        weight=weight,
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    logged = interaction_confidence(InteractionLog.from_interactions([interaction]))
    assert single_confidence(interaction) == float(logged[0])
