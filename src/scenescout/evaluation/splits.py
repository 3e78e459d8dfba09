"""Train/test splits of an :class:`~scenescout.frames.InteractionLog`, and relevance labels.

Every split returns new logs whose rows keep their original relative order; the input log is
never changed. Times are integer seconds since the Unix epoch (UTC), as in
:mod:`scenescout.frames`; a cut may also be given as a timezone-aware datetime.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from scenescout.domain import InteractionType
from scenescout.frames import (
    INTERACTION_CODES,
    INTERACTION_TYPES,
    EventFrame,
    InteractionLog,
    Vocabulary,
)
from scenescout.geo import haversine_km

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class UpcomingSplit:
    """A temporal split that only tests on events a recommender could still show at the cut.

    Attributes
    ----------
    train
        Interactions strictly before ``cut_ts``.
    test
        Interactions at or after ``cut_ts`` with an event in ``candidate_event_ids``.
    candidate_event_ids
        Events that were published and not yet ended at ``cut_ts``.
    cut_ts
        The cut, also the query time of the evaluation, in epoch seconds.
    """

    train: InteractionLog
    test: InteractionLog
    candidate_event_ids: frozenset[str]
    cut_ts: int


def _check_test_fraction(test_fraction: float) -> None:
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {test_fraction}")


def _codes(ids: npt.NDArray[np.object_]) -> npt.NDArray[np.int64]:
    """Small integer codes of ids, in order of first appearance."""
    vocabulary = Vocabulary()
    return np.fromiter(map(vocabulary.code, ids.tolist()), dtype=np.int64, count=len(ids))


def _pairs(log: InteractionLog) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """The distinct (user, event) pairs of ``log``, sorted by user.

    Returns ``(pair_user, pair_event, first_row_of_pair, pair_of_row)``: user and event codes
    of each pair, the log row a pair first occurs at, and each row's pair.
    """
    user_codes = _codes(log.user_ids)
    event_codes = _codes(log.event_ids)
    n_event_codes = int(event_codes.max(initial=-1)) + 1
    _, first_row_of_pair, pair_of_row = np.unique(
        user_codes * n_event_codes + event_codes, return_index=True, return_inverse=True
    )
    return (
        user_codes[first_row_of_pair],
        event_codes[first_row_of_pair],
        first_row_of_pair,
        (pair_of_row),
    )


def _hold_out(
    log: InteractionLog,
    test_fraction: float,
    min_user_events: int,
    pair_user: IntArray,
    pair_of_row: IntArray,
    order_key: FloatArray,
) -> tuple[InteractionLog, InteractionLog]:
    """Send each user's pairs with the smallest ``order_key`` to test, with all their rows.

    A user with ``n >= min_user_events`` distinct events gets ``round(test_fraction * n)``
    of them in test (halves round up), but at least one and at most ``n - 1``.
    """
    _check_test_fraction(test_fraction)
    if min_user_events < 2:
        raise ValueError(f"min_user_events must be at least 2, got {min_user_events}")
    events_per_user = np.bincount(pair_user)
    order = np.lexsort((order_key, pair_user))
    first_pair_of_user = np.cumsum(events_per_user) - events_per_user
    rank = np.empty(len(pair_user), dtype=np.int64)
    rank[order] = np.arange(len(pair_user)) - first_pair_of_user[pair_user[order]]
    test_per_user = np.clip(np.floor(test_fraction * events_per_user + 0.5), 1, events_per_user - 1)
    test_pair = (events_per_user[pair_user] >= min_user_events) & (rank < test_per_user[pair_user])
    in_test = test_pair[pair_of_row]
    return log.take(~in_test), log.take(in_test)


def random_split(
    log: InteractionLog,
    test_fraction: float = 0.2,
    *,
    seed: int,
    min_user_events: int = 2,
) -> tuple[InteractionLog, InteractionLog]:
    """Send a random share of each user's events, with all their interactions, to test.

    The unit is a (user, event) pair, so that a view in train and a purchase of the same event
    in test cannot leak the answer. A user with ``n >= min_user_events`` distinct events gets
    ``round(test_fraction * n)`` of them in test (halves round up), but at least one and at
    most ``n - 1``; a user with fewer distinct events stays entirely in train.

    Parameters
    ----------
    log
        The interactions to split.
    test_fraction
        Target share of each user's distinct events in test, strictly between 0 and 1.
    seed
        Seed of the random choice: the same log (same row order) and seed give the same split.
    min_user_events
        Fewest distinct events a user needs to be split, at least 2.

    Returns
    -------
    tuple[InteractionLog, InteractionLog]
        ``(train, test)``; together they hold every row of ``log`` exactly once.

    Raises
    ------
    ValueError
        When ``test_fraction`` is not in (0, 1) or ``min_user_events < 2``.
    """
    _check_test_fraction(test_fraction)
    pair_user, _, _, pair_of_row = _pairs(log)
    order_key = np.random.default_rng(seed).random(len(pair_user))
    return _hold_out(log, test_fraction, min_user_events, pair_user, pair_of_row, order_key)


def drift_split(
    log: InteractionLog,
    events: EventFrame,
    test_fraction: float = 0.3,
    *,
    seed: int,
    popularity_exponent: float = 0.15,
    distance_exponent: float = 0.2,
    distance_offset_km: float = 0.05,
    min_user_events: int = 2,
) -> tuple[InteractionLog, InteractionLog]:
    """Like :func:`random_split`, but the held-out places lean popular and away from home.

    For data without times whose test part was held out by time per user (the places a
    user went to later), such as Foursquare Singapore's ``test.txt``: later places are more
    popular and farther from the user's other places than a random share is. Each user's
    held-out events are drawn without replacement with probability proportional to::

        max(p, 0.5) ** popularity_exponent * (d + distance_offset_km) ** distance_exponent

        p  the number of other users with the event in ``log``
        d  the distance (km) from the event to the user's nearest other event

    Zero exponents give a uniform draw, as :func:`random_split` makes. The defaults
    reproduce, on ``train.txt``, the two shifts measured between that set's ``test.txt`` and
    a random hold-out of the same size: held-out places 1.2 times as popular (median) and
    1.44 times as far from the user's nearest other place (median).

    Parameters
    ----------
    log
        The interactions to split.
    events
        Positions of every event of ``log``.
    test_fraction, seed, min_user_events
        As for :func:`random_split`.
    popularity_exponent, distance_exponent, distance_offset_km
        The lean of the draw (see above).

    Returns
    -------
    tuple[InteractionLog, InteractionLog]
        ``(train, test)``; together they hold every row of ``log`` exactly once.

    Raises
    ------
    ValueError
        As :func:`random_split` raises, or when ``events`` lacks an event of ``log``.
    """
    _check_test_fraction(test_fraction)
    pair_user, pair_event, first_row_of_pair, pair_of_row = _pairs(log)
    position = {event_id: row for row, event_id in enumerate(events.ids.tolist())}
    event_ids = log.event_ids[first_row_of_pair].tolist()
    missing = sorted({e for e in event_ids if e not in position})
    if missing:
        raise ValueError(f"no position for {len(missing)} event(s) of the log, e.g. {missing[0]!r}")
    rows = np.fromiter((position[e] for e in event_ids), dtype=np.int64, count=len(event_ids))
    lat, lng = events.lat[rows], events.lng[rows]
    other_users = np.bincount(pair_event)[pair_event] - 1.0
    weight = np.maximum(other_users, 0.5) ** popularity_exponent
    boundaries = np.flatnonzero(np.diff(pair_user)) + 1
    for start, stop in zip(np.r_[0, boundaries], np.r_[boundaries, len(pair_user)], strict=True):
        if stop - start < 2:
            continue
        distance = haversine_km(
            lat[start:stop, None],
            lng[start:stop, None],
            lat[None, start:stop],
            lng[None, start:stop],
        )
        np.fill_diagonal(distance, np.inf)
        weight[start:stop] *= (distance.min(axis=1) + distance_offset_km) ** distance_exponent
    # Exponential races: the smallest Exp(1) / w first draws without replacement, prob. ~ w.
    order_key = np.random.default_rng(seed).exponential(size=len(pair_user)) / weight
    return _hold_out(log, test_fraction, min_user_events, pair_user, pair_of_row, order_key)


def _epoch_seconds(cut: int | datetime) -> int:
    if isinstance(cut, datetime):
        if cut.tzinfo is None or cut.tzinfo.utcoffset(cut) is None:
            raise ValueError(f"cut_ts must be timezone-aware, got naive {cut.isoformat()}")
        return int(cut.timestamp())
    return int(cut)


def temporal_cut(log: InteractionLog, test_fraction: float = 0.2) -> int:
    """The cut time that leaves about ``test_fraction`` of the interactions at or after it.

    With ``n`` interactions sorted by time, the cut is the timestamp of the
    ``ceil(test_fraction * n)``-th latest one. At least that many interactions fall at or
    after the cut; more when several share the cut timestamp.

    Parameters
    ----------
    log
        The interactions, not empty.
    test_fraction
        Target share of interactions at or after the cut, strictly between 0 and 1.

    Returns
    -------
    int
        The cut in epoch seconds.

    Raises
    ------
    ValueError
        When ``log`` is empty or ``test_fraction`` is not in (0, 1).
    """
    _check_test_fraction(test_fraction)
    n = len(log)
    if n == 0:
        raise ValueError("cannot choose a cut time for an empty log")
    position = n - math.ceil(test_fraction * n)
    return int(np.partition(log.occurred_ts, position)[position])


def _resolve_cut(log: InteractionLog, cut_ts: int | datetime | None, test_fraction: float) -> int:
    return temporal_cut(log, test_fraction) if cut_ts is None else _epoch_seconds(cut_ts)


def temporal_split(
    log: InteractionLog,
    cut_ts: int | datetime | None = None,
    *,
    test_fraction: float = 0.2,
) -> tuple[InteractionLog, InteractionLog]:
    """Split all users at one global cut time: train strictly before it, test at or after.

    Parameters
    ----------
    log
        The interactions to split.
    cut_ts
        The cut, in epoch seconds or as a timezone-aware datetime. When ``None``, it is
        :func:`temporal_cut` of ``log`` and ``test_fraction``.
    test_fraction
        Used only to choose the cut when ``cut_ts`` is ``None``.

    Returns
    -------
    tuple[InteractionLog, InteractionLog]
        ``(train, test)``; together they hold every row of ``log`` exactly once.

    Raises
    ------
    ValueError
        When ``cut_ts`` is a naive datetime, or as :func:`temporal_cut` raises.
    """
    cut = _resolve_cut(log, cut_ts, test_fraction)
    after_cut = log.occurred_ts >= cut
    return log.take(~after_cut), log.take(after_cut)


def upcoming_only_split(
    log: InteractionLog,
    events: EventFrame,
    cut_ts: int | datetime | None = None,
    *,
    test_fraction: float = 0.2,
) -> UpcomingSplit:
    """A temporal split whose test only keeps interactions a recommender could have earned.

    The cut is the query time of the evaluation: recommendations are asked for at ``cut_ts``,
    when only events published at or before it and ending at or after it can be shown (events
    in progress count; permanent places always do). Test interactions with any other event
    (one that had ended before the cut, or was not yet published) are dropped from test; they
    are in neither log. Event status is not considered: an :class:`EventFrame` holds the
    current status, not the one at the cut.

    Parameters
    ----------
    log
        The interactions to split.
    events
        The events the interactions refer to, with their publication and end times.
    cut_ts
        The cut and query time, in epoch seconds or as a timezone-aware datetime. When
        ``None``, it is :func:`temporal_cut` of the whole ``log``, so the filtered test set
        holds less than ``test_fraction`` of it.
    test_fraction
        Used only to choose the cut when ``cut_ts`` is ``None``.

    Returns
    -------
    UpcomingSplit
        Train and test logs, the candidate event ids and the cut.

    Raises
    ------
    ValueError
        As :func:`temporal_split` raises.
    """
    cut = _resolve_cut(log, cut_ts, test_fraction)
    upcoming = (events.end_ts >= cut) & (events.published_ts <= cut)
    candidate_ids = events.ids[upcoming]
    train, test = temporal_split(log, cut)
    return UpcomingSplit(
        train=train,
        test=test.take(np.isin(test.event_ids, candidate_ids)),
        candidate_event_ids=frozenset(candidate_ids.tolist()),
        cut_ts=cut,
    )


def relevant_items(
    test_log: InteractionLog, *, min_type: InteractionType = InteractionType.VIEW
) -> dict[str, set[str]]:
    """The events each user found relevant in a test log.

    An event is relevant to a user when the user has at least one interaction with it whose
    type is positive (not ``dismiss`` or ``hide``) and at least ``min_type`` on the engagement
    ladder ``view < click < save < share < rsvp < purchase`` (the order of
    :class:`~scenescout.domain.InteractionType`). By default every positive interaction counts.
    Negative feedback never makes an event relevant, and does not cancel a positive one.

    Parameters
    ----------
    test_log
        The held-out interactions.
    min_type
        The weakest positive interaction type that counts as relevance.

    Returns
    -------
    dict[str, set[str]]
        Relevant event ids per user; users with no relevant event are absent.

    Raises
    ------
    ValueError
        When ``min_type`` is a negative type.
    """
    if min_type.is_negative:
        raise ValueError(f"min_type must be a positive interaction type, got {min_type.value!r}")
    relevant_codes = [
        INTERACTION_CODES[kind]
        for kind in INTERACTION_TYPES
        if not kind.is_negative and INTERACTION_CODES[kind] >= INTERACTION_CODES[min_type]
    ]
    counts = np.isin(test_log.type_code, relevant_codes)
    relevant: dict[str, set[str]] = {}
    for user, event in zip(
        test_log.user_ids[counts].tolist(), test_log.event_ids[counts].tolist(), strict=True
    ):
        relevant.setdefault(user, set()).add(event)
    return relevant
