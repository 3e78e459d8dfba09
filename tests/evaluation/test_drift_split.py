"""``drift_split``: random_split's bookkeeping, with a lean towards popular, far places."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.evaluation.test_splits import EVENTS, fractions, logs, make_log, pairs, row_numbers

from scenescout.domain import Event, InteractionType
from scenescout.evaluation import drift_split, random_split
from scenescout.frames import EventFrame, InteractionLog

VIEW = InteractionType.VIEW
T0 = 1_750_000_000


def places(*positions: tuple[str, float, float]) -> EventFrame:
    return EventFrame.from_events([Event(id=i, lat=lat, lng=lng) for i, lat, lng in positions])


SCATTERED = places(*((e, 0.01 * k, 0.02 * (k % 3)) for k, e in enumerate(EVENTS)))


@given(logs, fractions, st.integers(0, 2**32), st.floats(0.0, 2.0), st.floats(0.0, 2.0))
def test_drift_split_keeps_random_splits_bookkeeping(
    log: InteractionLog,
    test_fraction: float,
    seed: int,
    popularity_exponent: float,
    distance_exponent: float,
) -> None:
    train, test = drift_split(
        log,
        SCATTERED,
        test_fraction,
        seed=seed,
        popularity_exponent=popularity_exponent,
        distance_exponent=distance_exponent,
    )
    reference_train, reference_test = random_split(log, test_fraction, seed=seed)
    assert sorted(row_numbers(train) + row_numbers(test)) == list(range(len(log)))
    assert not pairs(train) & pairs(test), "a user-event pair is on both sides"
    for user in set(log.user_ids.tolist()):
        assert len(pairs(test.take(test.user_ids == user))) == len(
            pairs(reference_test.take(reference_test.user_ids == user))
        ), "as many held-out events per user as random_split holds out"
    assert len(pairs(train)) == len(pairs(reference_train))


def lone_user_log(*events: str, others: dict[str, int] | None = None) -> InteractionLog:
    """User ``u`` with ``events``; ``others[e]`` more users with event ``e``."""
    rows = [("u", event, VIEW, T0) for event in events]
    for event, n in (others or {}).items():
        rows += [(f"other{k}", event, VIEW, T0) for k in range(n)]
    return make_log(rows)


def held_out_share(log: InteractionLog, events: EventFrame, event: str, **lean: float) -> float:
    """How often ``event`` is u's held-out event over 200 seeds (one of four held out)."""
    hits = 0
    for seed in range(200):
        _, test = drift_split(log, events, 0.25, seed=seed, **lean)
        hits += test.event_ids[test.user_ids == "u"].tolist() == [event]
    return hits / 200


def test_the_far_place_is_held_out_when_distance_leans() -> None:
    events = places(("a", 0.0, 0.0), ("b", 0.0, 0.001), ("c", 0.001, 0.0), ("far", 0.3, 0.3))
    log = lone_user_log("a", "b", "c", "far")
    assert held_out_share(log, events, "far", popularity_exponent=0.0, distance_exponent=3.0) > 0.9
    uniform = held_out_share(log, events, "far", popularity_exponent=0.0, distance_exponent=0.0)
    assert 0.1 < uniform < 0.4


def test_the_popular_place_is_held_out_when_popularity_leans() -> None:
    events = places(("a", 0.0, 0.0), ("b", 0.0, 0.01), ("c", 0.01, 0.0), ("hot", 0.01, 0.01))
    log = lone_user_log("a", "b", "c", "hot", others={"hot": 50})
    assert held_out_share(log, events, "hot", popularity_exponent=2.0, distance_exponent=0.0) > 0.9


def test_same_seed_same_split() -> None:
    log = lone_user_log(*EVENTS, others={"e1": 3, "e2": 1})
    first = drift_split(log, SCATTERED, seed=3)
    second = drift_split(log, SCATTERED, seed=3)
    assert [row_numbers(part) for part in first] == [row_numbers(part) for part in second]


def test_an_event_without_a_position_is_an_error() -> None:
    with pytest.raises(ValueError, match="no position for 1 event"):
        drift_split(lone_user_log("a", "nowhere"), places(("a", 0.0, 0.0)), seed=0)


def test_the_fraction_is_checked() -> None:
    with pytest.raises(ValueError, match="test_fraction"):
        drift_split(lone_user_log("a", "b"), SCATTERED, 1.0, seed=0)


def test_uniform_lean_draws_each_place_alike() -> None:
    log = lone_user_log("e0", "e1", "e2", "e3")
    shares = [
        held_out_share(log, SCATTERED, e, popularity_exponent=0.0, distance_exponent=0.0)
        for e in ("e0", "e1", "e2", "e3")
    ]
    np.testing.assert_allclose(shares, 0.25, atol=0.1)
