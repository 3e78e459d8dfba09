import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scenescout.domain import Event, InteractionType
from scenescout.evaluation import (
    random_split,
    relevant_items,
    temporal_cut,
    temporal_split,
    upcoming_only_split,
)
from scenescout.frames import INTERACTION_CODES, INTERACTION_TYPES, EventFrame, InteractionLog

T0 = 1_750_000_000
USERS = [f"u{i}" for i in range(5)]
EVENTS = [f"e{i}" for i in range(8)]


def make_log(rows: list[tuple[str, str, InteractionType, int]]) -> InteractionLog:
    """A log whose ``weight`` is the row number, so every row can be traced through a split."""
    return InteractionLog(
        user_ids=np.array([user for user, _, _, _ in rows], dtype=object),
        event_ids=np.array([event for _, event, _, _ in rows], dtype=object),
        type_code=np.array([INTERACTION_CODES[kind] for _, _, kind, _ in rows], dtype=np.int8),
        occurred_ts=np.array([ts for _, _, _, ts in rows], dtype=np.int64),
        weight=np.arange(len(rows), dtype=np.float32),
    )


def row_numbers(log: InteractionLog) -> list[int]:
    return log.weight.astype(int).tolist()


def pairs(log: InteractionLog) -> set[tuple[str, str]]:
    return set(zip(log.user_ids.tolist(), log.event_ids.tolist(), strict=True))


def at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


rows = st.tuples(
    st.sampled_from(USERS),
    st.sampled_from(EVENTS),
    st.sampled_from(INTERACTION_TYPES),
    st.integers(T0, T0 + 60),
)
logs = st.lists(rows, max_size=60).map(make_log)
fractions = st.floats(0.05, 0.95)


@st.composite
def event_frames(draw: st.DrawFn) -> tuple[list[Event], EventFrame]:
    """Events e0..e7, each maybe published, maybe a permanent place (no end)."""
    events = []
    for event_id in EVENTS:
        published = draw(st.none() | st.integers(T0 - 10, T0 + 60))
        end = draw(st.none() | st.integers(T0 - 10, T0 + 70))
        events.append(
            Event(
                id=event_id,
                lat=0.0,
                lng=0.0,
                start_time=None if end is None else at(end) - timedelta(hours=2),
                end_time=None if end is None else at(end),
                published_at=None if published is None else at(published),
            )
        )
    return events, EventFrame.from_events(events)


# random_split


@given(logs, fractions, st.integers(0, 2**32), st.integers(2, 5))
def test_random_split_keeps_every_row_once_and_in_order(
    log: InteractionLog, test_fraction: float, seed: int, min_user_events: int
) -> None:
    train, test = random_split(log, test_fraction, seed=seed, min_user_events=min_user_events)
    train_rows, test_rows = row_numbers(train), row_numbers(test)
    assert sorted(train_rows + test_rows) == list(range(len(log)))
    assert train_rows == sorted(train_rows)
    assert test_rows == sorted(test_rows)


@given(logs, fractions, st.integers(0, 2**32), st.integers(2, 5))
def test_random_split_sends_a_share_of_each_users_events_to_test(
    log: InteractionLog, test_fraction: float, seed: int, min_user_events: int
) -> None:
    train, test = random_split(log, test_fraction, seed=seed, min_user_events=min_user_events)
    assert not pairs(train) & pairs(test), "a user-event pair is on both sides"
    for user in set(log.user_ids.tolist()):
        n_events = len(set(log.event_ids[log.user_ids == user].tolist()))
        n_test = len(set(test.event_ids[test.user_ids == user].tolist()))
        if n_events < min_user_events:
            assert n_test == 0
        else:
            assert n_test == min(max(int(test_fraction * n_events + 0.5), 1), n_events - 1)


def test_random_split_is_deterministic_by_seed() -> None:
    log = make_log([("u0", f"e{i}", InteractionType.CLICK, T0 + i) for i in range(100)])
    first = row_numbers(random_split(log, 0.3, seed=7)[1])
    assert row_numbers(random_split(log, 0.3, seed=7)[1]) == first
    assert row_numbers(random_split(log, 0.3, seed=8)[1]) != first
    assert len(first) == 30


def test_random_split_rejects_bad_arguments() -> None:
    log = make_log([("u0", "e0", InteractionType.CLICK, T0)])
    with pytest.raises(ValueError, match="test_fraction"):
        random_split(log, 1.0, seed=0)
    with pytest.raises(ValueError, match="min_user_events must be at least 2"):
        random_split(log, 0.2, seed=0, min_user_events=1)


# temporal_split


@given(logs, st.integers(T0 - 5, T0 + 65))
def test_temporal_split_cuts_at_the_given_time(log: InteractionLog, cut: int) -> None:
    train, test = temporal_split(log, cut)
    assert sorted(row_numbers(train) + row_numbers(test)) == list(range(len(log)))
    assert (train.occurred_ts < cut).all()
    assert (test.occurred_ts >= cut).all()


@given(st.lists(rows, min_size=1, max_size=60).map(make_log), fractions)
def test_temporal_split_without_cut_leaves_at_least_the_fraction_after_it(
    log: InteractionLog, test_fraction: float
) -> None:
    cut = temporal_cut(log, test_fraction)
    train, test = temporal_split(log, test_fraction=test_fraction)
    assert len(test) >= math.ceil(test_fraction * len(log))
    assert train.occurred_ts.max(initial=cut - 1) < cut == test.occurred_ts.min()


@given(st.lists(st.integers(T0, T0 + 1000), min_size=1, max_size=50, unique=True), fractions)
def test_temporal_cut_with_distinct_times_leaves_exactly_the_rounded_up_share(
    times: list[int], test_fraction: float
) -> None:
    log = make_log([("u0", "e0", InteractionType.VIEW, ts) for ts in times])
    _, test = temporal_split(log, test_fraction=test_fraction)
    assert len(test) == math.ceil(test_fraction * len(times))


def test_temporal_cut_of_ten_interactions() -> None:
    log = make_log(
        [("u0", "e0", InteractionType.VIEW, T0 + i) for i in (5, 0, 9, 3, 8, 1, 7, 2, 6, 4)]
    )
    assert temporal_cut(log, 0.2) == T0 + 8
    train, test = temporal_split(log, test_fraction=0.2)
    assert sorted(test.occurred_ts.tolist()) == [T0 + 8, T0 + 9]
    assert len(train) == 8


def test_temporal_split_accepts_an_aware_datetime_and_rejects_a_naive_one() -> None:
    log = make_log([("u0", "e0", InteractionType.VIEW, T0 + i) for i in range(10)])
    train, test = temporal_split(log, at(T0 + 4))
    assert row_numbers(train) == [0, 1, 2, 3]
    assert row_numbers(test) == [4, 5, 6, 7, 8, 9]
    with pytest.raises(ValueError, match="timezone-aware"):
        temporal_split(log, datetime(2025, 6, 1))


def test_temporal_cut_needs_interactions() -> None:
    with pytest.raises(ValueError, match="empty log"):
        temporal_split(make_log([]))


# upcoming_only_split


def test_upcoming_only_split_keeps_test_interactions_on_showable_events() -> None:
    cut = T0 + 100
    events = EventFrame.from_events(
        [
            Event(id="ended", lat=0, lng=0, start_time=at(cut - 50), end_time=at(cut - 1)),
            Event(id="running", lat=0, lng=0, start_time=at(cut - 10), end_time=at(cut + 10)),
            Event(id="ends_at_cut", lat=0, lng=0, start_time=at(cut - 10), end_time=at(cut)),
            Event(id="place", lat=0, lng=0),
            Event(
                id="unpublished",
                lat=0,
                lng=0,
                start_time=at(cut + 50),
                end_time=at(cut + 60),
                published_at=at(cut + 1),
            ),
        ]
    )
    log = make_log(
        [
            ("u0", "ended", InteractionType.CLICK, cut - 20),
            ("u0", "ended", InteractionType.CLICK, cut + 5),
            ("u0", "running", InteractionType.SAVE, cut + 5),
            ("u1", "ends_at_cut", InteractionType.RSVP, cut),
            ("u1", "place", InteractionType.VIEW, cut + 1),
            ("u1", "unpublished", InteractionType.CLICK, cut + 2),
        ]
    )
    split = upcoming_only_split(log, events, at(cut))
    assert split.cut_ts == cut
    assert split.candidate_event_ids == {"running", "ends_at_cut", "place"}
    assert row_numbers(split.train) == [0]
    assert row_numbers(split.test) == [2, 3, 4]


@given(logs, event_frames(), st.integers(T0 - 5, T0 + 65))
def test_upcoming_only_split_is_the_temporal_split_restricted_to_upcoming_events(
    log: InteractionLog, frame: tuple[list[Event], EventFrame], cut: int
) -> None:
    events, event_frame = frame
    split = upcoming_only_split(log, event_frame, cut)
    expected_candidates = {
        event.id
        for event in events
        if (event.end_time is None or event.end_time >= at(cut))
        and (event.published_at is None or event.published_at <= at(cut))
    }
    assert split.candidate_event_ids == expected_candidates
    train, test = temporal_split(log, cut)
    assert row_numbers(split.train) == row_numbers(train)
    assert row_numbers(split.test) == [
        row
        for row, event in zip(row_numbers(test), test.event_ids.tolist(), strict=True)
        if event in expected_candidates
    ]


# relevant_items


def test_relevant_items_counts_positive_interactions_from_min_type_up() -> None:
    log = make_log(
        [
            ("u1", "a", InteractionType.VIEW, T0),
            ("u1", "b", InteractionType.CLICK, T0),
            ("u1", "c", InteractionType.DISMISS, T0),
            ("u1", "b", InteractionType.HIDE, T0),
            ("u2", "d", InteractionType.HIDE, T0),
            ("u3", "e", InteractionType.PURCHASE, T0),
            ("u3", "f", InteractionType.SHARE, T0),
        ]
    )
    assert relevant_items(log) == {"u1": {"a", "b"}, "u3": {"e", "f"}}
    assert relevant_items(log, min_type=InteractionType.CLICK) == {"u1": {"b"}, "u3": {"e", "f"}}
    assert relevant_items(log, min_type=InteractionType.PURCHASE) == {"u3": {"e"}}


def test_relevant_items_rejects_a_negative_min_type() -> None:
    with pytest.raises(ValueError, match="positive interaction type"):
        relevant_items(make_log([]), min_type=InteractionType.DISMISS)


@given(logs)
def test_relevant_items_never_contains_only_negative_feedback(log: InteractionLog) -> None:
    positive = {
        (user, event)
        for user, event, code in zip(
            log.user_ids.tolist(), log.event_ids.tolist(), log.type_code.tolist(), strict=True
        )
        if not INTERACTION_TYPES[code].is_negative
    }
    relevant = relevant_items(log)
    assert {(user, event) for user, events in relevant.items() for event in events} == positive
