"""A synthetic event world with a known right answer.

:func:`generate_world` draws venues around real city centres, events with category-specific
words, prices and times, users with a hidden taste (the ground truth), and interactions sampled
from that taste over time. :func:`write_world` streams it into the database. Every later piece
trains, evaluates and benchmarks on this data, so the rules of time hold strictly:

* no interaction before the event's ``published_at`` or after the world's ``reference_time``;
* no purchase or RSVP at or after the event's start (nor after it sold out or was cancelled);
* nothing on a cancelled event after its cancellation, nothing by a user on an event after
  they hid it.

All randomness comes from :class:`numpy.random.Generator` streams spawned from
``WorldConfig.seed``: the same config gives the same arrays, and the events and users of a
world do not change when only ``n_interactions`` does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, field_validator

from scenescout.datasets.world_data import (
    CATEGORIES,
    CITIES,
    DESCRIPTION_CLOSINGS,
    GENERIC_TAGS,
    ORGANIZER_WORDS,
    VENUE_KINDS,
    VENUE_WORDS,
    City,
)
from scenescout.domain import EventStatus, InteractionType, utc_now
from scenescout.domain.models import AwareDatetime
from scenescout.frames import (
    INTERACTION_CODES,
    INTERACTION_TYPES,
    STATUS_CODES,
    EventFrame,
    InteractionLog,
    Vocabulary,
)
from scenescout.geo import KM_PER_DEGREE_LAT, haversine_km

ProgressCallback = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: called as a stage advances, e.g. to draw a progress bar."""

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

DAY_S = 86_400
HOUR_S = 3_600
EVENTS_PER_VENUE = 25
EVENTS_PER_ORGANIZER = 30
MIN_VENUES_PER_CITY = 3
MAX_DISTANCE_FROM_CENTRE_KM = 45.0

# Knobs of the ground-truth utility; written to ``dataset_metadata`` with the config.
UTILITY_WEIGHTS: dict[str, float] = {
    "category_log_affinity": 1.6,
    "category_affinity_floor": 0.02,
    "price_per_log_usd": 2.0 / math.log1p(100.0),
    "distance_per_tolerance": 1.0,
    "preferred_weekday": 0.7,
    "preferred_hour": 0.5,
    "popularity": 0.6,
    "freshness": 1.0,
    "freshness_days": 5.0,
    "urgency": 0.6,
    "urgency_days": 7.0,
}

# Session shape: how many candidate events a session is exposed to, how many it views.
CANDIDATES_PER_SESSION = 64
MAX_VIEWS_PER_SESSION = 10
SESSION_SPAN_S = HOUR_S
SESSIONS_PER_CHUNK = 20_000

# Funnel: p = sigmoid(bias + slope * (utility - pivot)), negative slopes for dismissal. The pivot
# is the median utility of the first chunk's views, so the rates hold whatever the world's size
# (a bigger catalogue offers better matches and would otherwise inflate every rate).
FUNNEL: dict[str, tuple[float, float]] = {
    "click": (-1.3, 0.8),
    "dismiss": (-3.2, -0.6),
    "save": (-2.6, 0.5),
    "share": (-4.0, 0.5),
    "purchase": (-3.4, 0.6),
    "rsvp": (-2.4, 0.6),
}
HIDE_GIVEN_DISMISS = 0.2

_CODE = {t: np.int8(INTERACTION_CODES[t]) for t in InteractionType}
_ONCE_ONLY = np.zeros(len(INTERACTION_TYPES), dtype=bool)
for _kind in ("save", "share", "rsvp", "purchase", "dismiss", "hide"):
    _ONCE_ONLY[INTERACTION_CODES[InteractionType(_kind)]] = True
_STATUS_NAMES = {code: status.value for status, code in STATUS_CODES.items()}

# Relative weights of the local hour and ISO weekday (Monday first) at which people browse.
_SESSION_HOUR_WEIGHTS = np.array(
    [0.3, 0.15, 0.1, 0.05, 0.05, 0.1, 0.3, 0.6, 0.8, 0.8, 0.8, 0.9,
     1.0, 0.9, 0.8, 0.8, 0.9, 1.0, 1.2, 1.4, 1.5, 1.4, 1.1, 0.6]
)  # fmt: skip
_SESSION_WEEKDAY_WEIGHTS = np.array([0.9, 0.9, 0.95, 1.0, 1.1, 1.15, 1.05])


def _floor_to_hour(value: datetime) -> datetime:
    return value.replace(minute=0, second=0, microsecond=0)


class WorldConfig(BaseModel):
    """What world to generate; the same config always gives the same world.

    Attributes
    ----------
    seed
        Root of every random stream.
    n_events, n_users, n_interactions
        Sizes of the world. The interaction count is met exactly unless the world is too small
        to produce that many (e.g. a handful of events).
    reference_time
        The world's "now": no interaction happens after it. Defaults to the current UTC time
        floored to the hour, so pass it explicitly for a reproducible world.
    history_days
        How far back events start and interactions happen.
    horizon_days
        How far ahead events start (only those already published at ``reference_time``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(default=42, ge=0)
    n_events: int = Field(default=10_000, ge=1)
    n_users: int = Field(default=5_000, ge=1)
    n_interactions: int = Field(default=200_000, ge=0)
    reference_time: AwareDatetime = Field(default_factory=lambda: _floor_to_hour(utc_now()))
    history_days: int = Field(default=120, ge=1, le=3_650)
    horizon_days: int = Field(default=60, ge=1, le=730)

    @field_validator("reference_time")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


@dataclass
class VenueTable:
    """Venues as parallel arrays; ``city`` and ``kind`` are codes into
    :data:`~scenescout.datasets.world_data.CITIES` and ``VENUE_KINDS``."""

    ids: npt.NDArray[np.object_]
    names: npt.NDArray[np.object_]
    city: npt.NDArray[np.int16]
    kind: npt.NDArray[np.int8]
    lat: FloatArray
    lng: FloatArray
    capacity: npt.NDArray[np.int32]

    def __len__(self) -> int:
        return int(self.ids.shape[0])


@dataclass
class EventDetails:
    """What an :class:`EventFrame` does not hold, row-aligned with it.

    ``local_weekday`` (ISO, 1 = Monday) and ``local_hour`` are the start in the city's own time
    zone. ``popularity`` is the latent log-popularity (ground truth, never shown to models).
    ``status_changed_ts`` is when a cancelled event was cancelled or a sold-out one sold out
    (equal to ``updated_ts`` for those, ``-1`` for scheduled events).
    """

    city: npt.NDArray[np.int16]
    capacity: npt.NDArray[np.int32]
    created_ts: IntArray
    updated_ts: IntArray
    status_changed_ts: IntArray
    local_weekday: npt.NDArray[np.int8]
    local_hour: npt.NDArray[np.int8]
    popularity: npt.NDArray[np.float32]


@dataclass
class UserTable:
    """Users as parallel arrays; ``city`` is a code into ``CITIES``."""

    ids: npt.NDArray[np.object_]
    city: npt.NDArray[np.int16]
    home_lat: FloatArray
    home_lng: FloatArray
    created_ts: IntArray

    def __len__(self) -> int:
        return int(self.ids.shape[0])


@dataclass
class GroundTruth:
    """Each user's hidden taste, row-aligned with :class:`UserTable`.

    Attributes
    ----------
    category_names
        Column names of the affinity matrices.
    affinity
        ``(n_users, n_categories)`` category affinities at the start, rows sum to 1.
    drift_affinity
        Where the affinities move to; equal to ``affinity`` for users without drift.
    drift_start_ts, drift_end_ts
        The affinities move linearly from ``affinity`` to ``drift_affinity`` between these
        times (both far in the future for users without drift).
    drifts
        Whether the user's taste drifts.
    price_sensitivity
        In [0, 1]; how much a higher price lowers the utility.
    distance_tolerance_km
        Distance at which the distance penalty reaches one utility unit.
    preferred_weekdays
        ``(n_users, 7)`` mask, Monday first.
    preferred_hours
        ``(n_users, 24)`` mask of local start hours.
    novelty
        In [0, 1]; high values ignore popularity and favour freshly published events.
    activity
        Relative activity (mean about 1, heavy-tailed): the share of sessions a user has.
    """

    category_names: tuple[str, ...]
    affinity: npt.NDArray[np.float32]
    drift_affinity: npt.NDArray[np.float32]
    drift_start_ts: IntArray
    drift_end_ts: IntArray
    drifts: npt.NDArray[np.bool_]
    price_sensitivity: npt.NDArray[np.float32]
    distance_tolerance_km: npt.NDArray[np.float32]
    preferred_weekdays: npt.NDArray[np.bool_]
    preferred_hours: npt.NDArray[np.bool_]
    novelty: npt.NDArray[np.float32]
    activity: npt.NDArray[np.float32]

    def drift_fraction(self, users: npt.ArrayLike, at_ts: npt.ArrayLike) -> FloatArray:
        """How far each user's taste has moved toward its drift target, in [0, 1]."""
        index = np.asarray(users)
        start = self.drift_start_ts[index]
        span = np.maximum(self.drift_end_ts[index] - start, 1)
        return np.clip((np.asarray(at_ts) - start) / span, 0.0, 1.0)

    def affinity_at(
        self, users: npt.ArrayLike, categories: npt.ArrayLike, at_ts: npt.ArrayLike
    ) -> FloatArray:
        """Affinity of ``users`` for ``categories`` (codes) at ``at_ts``; arrays broadcast.

        For whole vectors pass ``users[:, None]``, ``np.arange(n_categories)`` and
        ``at_ts[:, None]``.
        """
        user = np.asarray(users)
        flat = user * self.affinity.shape[1] + np.asarray(categories)
        start = self.affinity.ravel()[flat].astype(np.float64)
        moved = self.drift_fraction(user, at_ts)
        return np.asarray(start + moved * (self.drift_affinity.ravel()[flat] - start))

    def taste(self, user: int) -> dict[str, Any]:
        """The JSON-able ground truth of one user (row index), as stored in the database."""
        return self.tastes(slice(user, user + 1))[0]

    def tastes(self, rows: slice) -> list[dict[str, Any]]:
        """The JSON-able ground truth of a slice of users (see :meth:`taste`).

        Each is ``{"category_affinities": {category: weight}, "drift": None or
        {"category_affinities", "starts_at", "ends_at"}, "price_sensitivity",
        "distance_tolerance_km", "preferred_weekdays" (ISO), "preferred_hours" (local),
        "novelty", "activity"}``; weights are rounded to 4 decimals.
        """
        names = self.category_names

        def rounded(values: npt.NDArray[Any], decimals: int = 4) -> list[Any]:
            return np.round(values[rows].astype(np.float64), decimals).tolist()

        def on(mask: npt.NDArray[np.bool_], first: int) -> list[list[int]]:
            return [
                [i + first for i, is_on in enumerate(row) if is_on] for row in mask[rows].tolist()
            ]

        columns = zip(
            rounded(self.affinity),
            rounded(self.drift_affinity),
            self.drifts[rows].tolist(),
            self.drift_start_ts[rows].tolist(),
            self.drift_end_ts[rows].tolist(),
            rounded(self.price_sensitivity),
            rounded(self.distance_tolerance_km, 2),
            on(self.preferred_weekdays, 1),
            on(self.preferred_hours, 0),
            rounded(self.novelty),
            rounded(self.activity),
            strict=True,
        )
        return [
            {
                "category_affinities": dict(zip(names, affinity, strict=True)),
                "drift": {
                    "category_affinities": dict(zip(names, target, strict=True)),
                    "starts_at": _iso(start),
                    "ends_at": _iso(end),
                }
                if drifts
                else None,
                "price_sensitivity": price,
                "distance_tolerance_km": tolerance,
                "preferred_weekdays": weekdays,
                "preferred_hours": hours,
                "novelty": novelty,
                "activity": activity,
            }
            for (
                affinity, target, drifts, start, end, price, tolerance, weekdays, hours, novelty,
                activity,
            ) in columns
        ]  # fmt: skip


@dataclass
class World:
    """A generated world: venues, events, users, their hidden taste and their interactions.

    ``interactions`` is sorted by time; ``interaction_user`` and ``interaction_event`` give the
    row of each interaction's user and event in ``users`` and ``events``. ``funnel_pivot`` is
    the utility at which the funnel's base rates apply (see :data:`FUNNEL`).
    """

    config: WorldConfig
    cities: tuple[City, ...]
    venues: VenueTable
    events: EventFrame
    event_details: EventDetails
    users: UserTable
    ground_truth: GroundTruth
    interactions: InteractionLog
    interaction_user: npt.NDArray[np.int32]
    interaction_event: npt.NDArray[np.int32]
    funnel_pivot: float

    @property
    def reference_ts(self) -> int:
        """The world's "now" in epoch seconds."""
        return int(self.config.reference_time.timestamp())

    def utility(
        self, users: npt.ArrayLike, events: npt.ArrayLike, at_ts: npt.ArrayLike
    ) -> FloatArray:
        """The ground-truth utility of events for users at a time (arrays broadcast).

        This is the score interactions were sampled from (before the Gumbel noise): the oracle
        an evaluation can compare a recommender's ranking against.

        Parameters
        ----------
        users
            Row indices into ``users``.
        events
            Row indices into ``events``.
        at_ts
            Epoch seconds at which the user is choosing.
        """
        return _utility(
            self.ground_truth,
            self.users,
            self.events,
            self.event_details,
            np.asarray(users),
            np.asarray(events),
            np.asarray(at_ts),
        )


def generate_world(config: WorldConfig, progress: ProgressCallback | None = None) -> World:
    """Generate a world from its config, deterministically.

    Parameters
    ----------
    config
        Sizes, seed and time frame.
    progress
        Optional ``progress(stage, done, total)`` callback; stages are ``"venues"``,
        ``"events"``, ``"users"`` and ``"interactions"``.

    Returns
    -------
    World
        Venues, events, users, ground truth and time-sorted interactions.
    """
    report = progress or _no_progress
    venue_rng, event_rng, user_rng, interaction_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(4)
    )
    calendar = _Calendar(config)
    venues, venue_effect = _generate_venues(venue_rng, config.n_events)
    report("venues", len(venues), len(venues))
    events, details = _generate_events(event_rng, config, calendar, venues, venue_effect, report)
    users = _generate_users(user_rng, config)
    truth = _generate_ground_truth(user_rng, config, users)
    report("users", len(users), len(users))
    log, user_rows, event_rows, pivot = _generate_interactions(
        interaction_rng, config, calendar, events, details, users, truth, report
    )
    return World(
        config=config,
        cities=CITIES,
        venues=venues,
        events=events,
        event_details=details,
        users=users,
        ground_truth=truth,
        interactions=log,
        interaction_user=user_rows,
        interaction_event=event_rows,
        funnel_pivot=pivot,
    )


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


# --------------------------------------------------------------------------- sampling helpers


def _sample_rows(rng: np.random.Generator, weights: FloatArray, rows: IntArray) -> IntArray:
    """For each entry of ``rows``, draw a column of ``weights[row]`` with those weights."""
    cumulative = np.cumsum(weights, axis=1)
    cumulative /= cumulative[:, -1:]
    n_rows, n_cols = weights.shape
    flat = (cumulative + np.arange(n_rows)[:, None]).ravel()
    draws = rows + rng.random(len(rows))
    picked = np.searchsorted(flat, draws, side="right") - rows * n_cols
    return np.minimum(picked, n_cols - 1)


def _pick_in_groups(
    rng: np.random.Generator, item_keys: IntArray, item_weights: FloatArray, query_keys: IntArray
) -> IntArray:
    """For each query key, draw an item with that key, by weight; -1 where there is none."""
    order = np.argsort(item_keys, kind="stable")
    sorted_keys = item_keys[order]
    cumulative = np.cumsum(item_weights[order])
    left = np.searchsorted(sorted_keys, query_keys, side="left")
    right = np.searchsorted(sorted_keys, query_keys, side="right")
    position = _weighted_positions(cumulative, left, right, rng.random(len(query_keys)))
    return np.where(right > left, order[position], -1)


def _weighted_positions(
    cumulative: FloatArray, left: IntArray, right: IntArray, uniform: FloatArray
) -> IntArray:
    """Positions in ``[left, right)`` drawn by weight, given the running sum of the weights.

    ``uniform`` holds draws in [0, 1) and broadcasts against ``left``/``right``; an empty range
    gives a valid but meaningless position, which the caller masks out.
    """
    base = np.where(left > 0, cumulative[np.maximum(left - 1, 0)], 0.0)
    top = cumulative[np.maximum(right - 1, 0)]
    position = np.searchsorted(cumulative, base + uniform * (top - base), side="right")
    return np.clip(position, left, np.maximum(right - 1, left)).clip(0, cumulative.size - 1)


def _pick_with_fallback(
    rng: np.random.Generator,
    item_weights: FloatArray,
    keyings: Sequence[tuple[IntArray, IntArray]],
) -> IntArray:
    """Pick by the first ``(item_keys, query_keys)`` keying that has a match, then the next."""
    picked = np.full(keyings[0][1].shape[0], -1, dtype=np.int64)
    for item_keys, query_keys in keyings:
        choice = _pick_in_groups(rng, item_keys, item_weights, query_keys)
        picked = np.where(picked < 0, choice, picked)
    return picked


def _allocate(rng: np.random.Generator, total: int, weights: FloatArray, minimum: int) -> IntArray:
    """Split ``total`` over groups by weight, giving each group at least ``minimum``."""
    floor = np.full(weights.shape[0], minimum, dtype=np.int64)
    rest = max(total - int(floor.sum()), 0)
    return floor + rng.multinomial(rest, weights / weights.sum())


def _points_around(
    rng: np.random.Generator, city: IntArray, spread_scale: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Points scattered around the centres of ``CITIES[city]``, mirrored back off the coast.

    ``spread_scale`` multiplies each city's ``spread_km`` (e.g. > 1 for a suburb); nothing lands
    farther than :data:`MAX_DISTANCE_FROM_CENTRE_KM` from the centre.
    """
    n = len(city)
    spread = np.array([c.spread_km for c in CITIES])[city] * spread_scale
    north_km = rng.normal(0.0, 1.0, n) * spread
    east_km = rng.normal(0.0, 1.0, n) * spread
    for code, place in enumerate(CITIES):
        rows = city == code
        for bearing_deg, coast_km in place.coasts:
            towards = np.radians(bearing_deg)
            unit_north, unit_east = math.cos(towards), math.sin(towards)
            along = north_km[rows] * unit_north + east_km[rows] * unit_east
            past = np.maximum(along - coast_km, 0.0)
            north_km[rows] -= 2.0 * past * unit_north
            east_km[rows] -= 2.0 * past * unit_east
    shrink = np.minimum(
        1.0, MAX_DISTANCE_FROM_CENTRE_KM / np.maximum(np.hypot(north_km, east_km), 1e-9)
    )
    north_km *= shrink
    east_km *= shrink
    centre_lat = np.array([c.lat for c in CITIES])[city]
    centre_lng = np.array([c.lng for c in CITIES])[city]
    lat = centre_lat + north_km / KM_PER_DEGREE_LAT
    lng = centre_lng + east_km / (KM_PER_DEGREE_LAT * np.cos(np.radians(centre_lat)))
    return lat, lng


def _padded_ids(prefix: str, n: int) -> npt.NDArray[np.object_]:
    width = max(len(str(max(n - 1, 0))), 1)
    ids = np.empty(n, dtype=object)
    ids[:] = [f"{prefix}{i:0{width}d}" for i in range(n)]
    return ids


def _city_sizes() -> FloatArray:
    return np.array([c.size for c in CITIES], dtype=np.float64)


def _category_mix() -> FloatArray:
    """``(n_cities, n_categories)`` relative frequency of each category in each city."""
    return np.array(
        [
            [cat.share * city.category_boost.get(cat.name, 1.0) for cat in CATEGORIES]
            for city in CITIES
        ]
    )


def _row_ranks(keys: FloatArray) -> IntArray:
    """Rank of each entry within its row, 0 for the largest key."""
    return np.argsort(np.argsort(-keys, axis=1), axis=1)


# --------------------------------------------------------------------------- calendar


class _Calendar:
    """Days around the reference time and each city's UTC offset on each of them."""

    def __init__(self, config: WorldConfig) -> None:
        self.reference_ts = int(config.reference_time.timestamp())
        self.history_start_ts = self.reference_ts - config.history_days * DAY_S
        self.horizon_end_ts = self.reference_ts + config.horizon_days * DAY_S
        first = config.reference_time.date() - timedelta(days=config.history_days + 1)
        last = config.reference_time.date() + timedelta(days=config.horizon_days + 1)
        self.n_days = (last - first).days + 1
        days = [first + timedelta(days=i) for i in range(self.n_days)]
        self.first_day_ts = int(
            datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp()
        )
        self.day_ts = self.first_day_ts + DAY_S * np.arange(self.n_days, dtype=np.int64)
        self.iso_weekday = np.array([d.isoweekday() for d in days], dtype=np.int8)
        self.utc_offset_s = np.array(
            [[_utc_offset_s(city.timezone, d) for d in days] for city in CITIES], dtype=np.int64
        )

    def day_of(self, ts: IntArray) -> IntArray:
        """Calendar day index of UTC times (clipped to the calendar)."""
        return np.clip((ts - self.first_day_ts) // DAY_S, 0, self.n_days - 1)

    def local_hour_and_weekday(self, city: IntArray, ts: IntArray) -> tuple[IntArray, IntArray]:
        """Local hour (0-23) and ISO weekday of UTC times in the given cities."""
        local = ts + self.utc_offset_s[city, self.day_of(ts)]
        local_day = self.day_of(local)
        hour = (local - self.day_ts[local_day]) // HOUR_S
        return hour, self.iso_weekday[local_day].astype(np.int64)


def _utc_offset_s(timezone: str, day: date) -> int:
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=ZoneInfo(timezone))
    offset = noon.utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


# --------------------------------------------------------------------------- venues


def _generate_venues(rng: np.random.Generator, n_events: int) -> tuple[VenueTable, FloatArray]:
    sizes = _city_sizes()
    n_total = max(n_events // EVENTS_PER_VENUE, MIN_VENUES_PER_CITY * len(CITIES))
    city = np.repeat(np.arange(len(CITIES)), _allocate(rng, n_total, sizes, MIN_VENUES_PER_CITY))
    n = len(city)
    kind_weights = np.zeros(len(VENUE_KINDS))
    kind_index = {k.name: i for i, k in enumerate(VENUE_KINDS)}
    for category in CATEGORIES:
        total = sum(category.venue_kinds.values())
        for name, weight in category.venue_kinds.items():
            kind_weights[kind_index[name]] += category.share * weight / total
    kind = rng.choice(len(VENUE_KINDS), size=n, p=kind_weights / kind_weights.sum())
    suburb = rng.random(n) < 0.15
    lat, lng = _points_around(rng, city, np.where(suburb, 3.0, 1.0))
    capacity_median = np.array([k.capacity_median for k in VENUE_KINDS])[kind]
    capacity_sd = np.array([k.capacity_log_sd for k in VENUE_KINDS])[kind]
    capacity = np.maximum(np.round(capacity_median * np.exp(rng.normal(0, 1, n) * capacity_sd)), 10)
    template = rng.integers(0, 1 << 30, n)
    word = rng.integers(0, len(VENUE_WORDS), n)
    names = np.empty(n, dtype=object)
    names[:] = [
        VENUE_KINDS[k]
        .name_templates[t % len(VENUE_KINDS[k].name_templates)]
        .format(word=VENUE_WORDS[w])
        for k, t, w in zip(kind.tolist(), template.tolist(), word.tolist(), strict=True)
    ]
    table = VenueTable(
        ids=_padded_ids("ven-", n),
        names=names,
        city=city.astype(np.int16),
        kind=kind.astype(np.int8),
        lat=lat,
        lng=lng,
        capacity=capacity.astype(np.int32),
    )
    return table, rng.normal(0.0, 0.5, n)


# --------------------------------------------------------------------------- events


def _generate_events(
    rng: np.random.Generator,
    config: WorldConfig,
    calendar: _Calendar,
    venues: VenueTable,
    venue_effect: FloatArray,
    report: ProgressCallback,
) -> tuple[EventFrame, EventDetails]:
    n = config.n_events
    n_categories = len(CATEGORIES)
    sizes = _city_sizes()
    city = rng.choice(len(CITIES), size=n, p=sizes / sizes.sum())
    category = _sample_rows(rng, _category_mix(), city)

    organizer_city, organizer_category, organizer_names, organizer_effect = _generate_organizers(
        rng, n
    )
    organizer = _pick_with_fallback(
        rng,
        np.exp(1.5 * organizer_effect),
        [
            (organizer_city * n_categories + organizer_category, city * n_categories + category),
            (organizer_city, city),
        ],
    )
    kind_of_category = np.array(
        [[cat.venue_kinds.get(kind.name, 0.0) for kind in VENUE_KINDS] for cat in CATEGORIES]
    )
    wanted_kind = _sample_rows(rng, kind_of_category, category)
    venue_city = venues.city.astype(np.int64)
    venue_key = venue_city * len(VENUE_KINDS) + venues.kind
    venue = _pick_with_fallback(
        rng,
        np.exp(venue_effect),
        [(venue_key, city * len(VENUE_KINDS) + wanted_kind), (venue_city, city)],
    )
    popularity = (
        organizer_effect[organizer] + 0.5 * venue_effect[venue] + rng.normal(0.0, 0.7, n)
    ).astype(np.float32)

    start_ts, published_ts, local_weekday, local_hour = _event_times(rng, calendar, city, category)
    end_ts = start_ts + _durations_s(rng, category)
    report("events", n // 3, n)

    free, price_min, price_max = _prices(rng, city, category)
    status, status_changed_ts = _statuses(rng, calendar, popularity, start_ts, published_ts)
    created_ts = published_ts - rng.integers(10 * 60, 3 * DAY_S, n)
    edit_until = np.minimum(start_ts, calendar.reference_ts)
    edited_ts = published_ts + (rng.random(n) ** 3 * np.maximum(edit_until - published_ts, 0))
    updated_ts = np.where(status_changed_ts >= 0, status_changed_ts, edited_ts.astype(np.int64))
    jitter_lat, jitter_lng = rng.normal(0.0, 0.00015, (2, n))
    capacity = np.maximum(np.round(venues.capacity[venue] * rng.uniform(0.6, 1.0, n)), 1).astype(
        np.int32
    )

    titles, descriptions = _event_texts(rng, city, category, venues.names[venue])
    tags = _event_tags(rng, category, free, local_weekday)
    report("events", 2 * n // 3, n)

    categories = Vocabulary(c.name for c in CATEGORIES)
    frame = EventFrame(
        ids=_padded_ids("evt-", n),
        lat=venues.lat[venue] + jitter_lat,
        lng=venues.lng[venue] + jitter_lng,
        start_ts=start_ts,
        end_ts=end_ts,
        published_ts=published_ts,
        category=category.astype(np.int32),
        venue=venue.astype(np.int32),
        organizer=organizer.astype(np.int32),
        price_min=price_min.astype(np.float32),
        price_max=price_max.astype(np.float32),
        status=status,
        title=titles,
        description=descriptions,
        tags=tags,
        categories=categories,
        venues=Vocabulary(venues.ids.tolist()),
        organizers=Vocabulary(organizer_names),
    )
    details = EventDetails(
        city=city.astype(np.int16),
        capacity=capacity,
        created_ts=created_ts,
        updated_ts=updated_ts,
        status_changed_ts=status_changed_ts,
        local_weekday=local_weekday.astype(np.int8),
        local_hour=local_hour.astype(np.int8),
        popularity=popularity,
    )
    report("events", n, n)
    return frame, details


def _generate_organizers(
    rng: np.random.Generator, n_events: int
) -> tuple[IntArray, IntArray, list[str], FloatArray]:
    """Organizers with a home city, a main category, a unique name and a latent quality."""
    n_cities = len(CITIES)
    n = max(n_events // EVENTS_PER_ORGANIZER, n_cities)
    city = np.repeat(np.arange(n_cities), _allocate(rng, n, _city_sizes(), 1))
    shares = np.array([c.share for c in CATEGORIES])
    category = rng.choice(len(CATEGORIES), size=n, p=shares / shares.sum())
    word = rng.integers(0, len(ORGANIZER_WORDS), n)
    suffix = rng.integers(0, 1 << 30, n)
    names: list[str] = []
    seen: set[str] = set()
    for c, k, w, s in zip(
        city.tolist(), category.tolist(), word.tolist(), suffix.tolist(), strict=True
    ):
        suffixes = CATEGORIES[k].organizer_suffixes
        name = f"{ORGANIZER_WORDS[w]} {suffixes[s % len(suffixes)]}"
        if name in seen:
            name = f"{name} {CITIES[c].name}"
        base, copy = name, 2
        while name in seen:
            name, copy = f"{base} {copy}", copy + 1
        seen.add(name)
        names.append(name)
    return city, category, names, rng.normal(0.0, 0.6, n)


def _event_times(
    rng: np.random.Generator,
    calendar: _Calendar,
    city: IntArray,
    category: IntArray,
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Start and publication times; start in the window and published by the reference time.

    Draws (day, hour, minute, lead time) jointly and redraws the events that break a rule, so
    the far future holds only the events announced early enough: like a real catalogue.
    """
    n = len(city)
    day_weights = np.array(
        [np.asarray(c.weekday_weights)[calendar.iso_weekday - 1] for c in CATEGORIES]
    )
    hour_weights = np.array(
        [[c.hour_weights.get(h, 0.0) for h in range(24)] for c in CATEGORIES], dtype=np.float64
    )
    minute_choices = np.array([0, 0, 0, 0, 15, 30, 30, 45])
    start_ts = np.zeros(n, dtype=np.int64)
    published_ts = np.zeros(n, dtype=np.int64)
    day = np.zeros(n, dtype=np.int64)
    hour = np.zeros(n, dtype=np.int64)
    todo = np.arange(n)
    while todo.size:
        k = category[todo]
        d = _sample_rows(rng, day_weights, k)
        h = _sample_rows(rng, hour_weights, k)
        minute = minute_choices[rng.integers(0, minute_choices.size, todo.size)]
        start = calendar.day_ts[d] + h * HOUR_S + minute * 60 - calendar.utc_offset_s[city[todo], d]
        lead_days = np.exp(rng.normal(math.log(21.0), 0.75, todo.size))
        published = start - np.clip(lead_days * DAY_S, 6 * HOUR_S, 180 * DAY_S).astype(np.int64)
        start_ts[todo], published_ts[todo], day[todo], hour[todo] = start, published, d, h
        bad = (
            (start < calendar.history_start_ts)
            | (start > calendar.horizon_end_ts)
            | (published > calendar.reference_ts)
        )
        todo = todo[bad]
    return start_ts, published_ts, calendar.iso_weekday[day].astype(np.int64), hour


def _durations_s(rng: np.random.Generator, category: IntArray) -> IntArray:
    n = len(category)
    median_h = np.array([c.duration_median_hours for c in CATEGORIES])[category]
    sd = np.array([c.duration_log_sd for c in CATEGORIES])[category]
    hours = np.clip(median_h * np.exp(rng.normal(0.0, 1.0, n) * sd), 0.5, 14.0)
    seconds = np.round(hours * 4.0) * 900.0
    long_share = np.array([c.long_run_share for c in CATEGORIES])[category]
    low, high = np.array([c.long_run_days for c in CATEGORIES]).T
    long_days = np.floor(rng.uniform(low[category], high[category] + 1.0))
    long_run = rng.random(n) < long_share
    return np.where(long_run, long_days * DAY_S + seconds, seconds).astype(np.int64)


def _round_price(price: FloatArray) -> FloatArray:
    return np.where(price < 10.0, np.maximum(np.round(price * 2.0) / 2.0, 1.0), np.round(price))


def _prices(
    rng: np.random.Generator, city: IntArray, category: IntArray
) -> tuple[npt.NDArray[np.bool_], FloatArray, FloatArray]:
    n = len(city)
    free = rng.random(n) < np.array([c.free_share for c in CATEGORIES])[category]
    mu = np.array([c.price_log_mean for c in CATEGORIES])[category]
    sd = np.array([c.price_log_sd for c in CATEGORIES])[category]
    level = np.array([c.price_level for c in CITIES])[city]
    price_min = _round_price(np.exp(rng.normal(mu, sd)) * level)
    tiered = rng.random(n) < np.array([c.price_range_share for c in CATEGORIES])[category]
    price_max = np.where(tiered, _round_price(price_min * rng.uniform(1.3, 3.0, n)), price_min)
    return free, np.where(free, 0.0, price_min), np.where(free, 0.0, price_max)


def _statuses(
    rng: np.random.Generator,
    calendar: _Calendar,
    popularity: npt.NDArray[np.float32],
    start_ts: IntArray,
    published_ts: IntArray,
) -> tuple[npt.NDArray[np.int8], IntArray]:
    """About 3% cancelled; popular events sell out. Returns status codes and change times."""
    n = len(start_ts)
    cancelled = rng.random(n) < 0.03
    sold_out_p = 0.01 + 0.25 / (1.0 + np.exp(-2.0 * (popularity - 1.5)))
    sold_out = ~cancelled & (rng.random(n) < sold_out_p)
    window = np.maximum(np.minimum(start_ts, calendar.reference_ts) - published_ts, 0)
    fraction = np.where(cancelled, rng.random(n), rng.beta(4.0, 2.0, n))
    changed = published_ts + (fraction * window).astype(np.int64)
    status = np.full(n, STATUS_CODES[EventStatus.SCHEDULED], dtype=np.int8)
    status[cancelled] = STATUS_CODES[EventStatus.CANCELLED]
    status[sold_out] = STATUS_CODES[EventStatus.SOLD_OUT]
    return status, np.where(cancelled | sold_out, changed, -1)


def _event_texts(
    rng: np.random.Generator,
    city: IntArray,
    category: IntArray,
    venue_names: npt.NDArray[np.object_],
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.object_]]:
    """Titles, and descriptions of two category sentences, the place and a closing line."""
    n = len(category)
    big = 1 << 30
    template, adjective, noun, closing = rng.integers(0, big, (4, n))
    phrase_keys = rng.random((n, max(len(c.description_phrases) for c in CATEGORIES)))
    n_phrases = np.array([len(c.description_phrases) for c in CATEGORIES])[category]
    phrase_keys[np.arange(phrase_keys.shape[1])[None, :] >= n_phrases[:, None]] = 2.0
    phrases = np.argsort(phrase_keys, axis=1)[:, :2]
    titles = np.empty(n, dtype=object)
    descriptions = np.empty(n, dtype=object)
    city_names = [c.name for c in CITIES]
    title_list: list[str] = []
    description_list: list[str] = []
    for k, c, v, t, a, w, p, q in zip(
        category.tolist(),
        city.tolist(),
        venue_names.tolist(),
        template.tolist(),
        adjective.tolist(),
        noun.tolist(),
        phrases.tolist(),
        closing.tolist(),
        strict=True,
    ):
        cat = CATEGORIES[k]
        slots = {
            "adj": cat.adjectives[a % len(cat.adjectives)],
            "noun": cat.nouns[w % len(cat.nouns)],
            "venue": v,
            "city": city_names[c],
        }
        title_list.append(cat.title_templates[t % len(cat.title_templates)].format(**slots))
        description_list.append(
            f"{cat.description_phrases[p[0]].format(**slots)} "
            f"{cat.description_phrases[p[1]].format(**slots)} "
            f"At {v}, {city_names[c]}. {DESCRIPTION_CLOSINGS[q % len(DESCRIPTION_CLOSINGS)]}"
        )
    titles[:] = title_list
    descriptions[:] = description_list
    return titles, descriptions


def _event_tags(
    rng: np.random.Generator,
    category: IntArray,
    free: npt.NDArray[np.bool_],
    local_weekday: IntArray,
) -> npt.NDArray[np.object_]:
    """Two to four of the category's tags, sometimes a generic or another category's tag."""
    n = len(category)
    n_categories = len(CATEGORIES)
    width = max(len(c.tags) for c in CATEGORIES)
    own_keys = rng.random((n, width))
    n_tags = np.array([len(c.tags) for c in CATEGORIES])[category]
    own_keys[np.arange(width)[None, :] >= n_tags[:, None]] = 2.0
    own = np.argsort(own_keys, axis=1)[:, :4].tolist()
    n_own = rng.integers(2, 5, n).tolist()
    generic = np.where(rng.random(n) < 0.3, rng.integers(0, len(GENERIC_TAGS), n), -1).tolist()
    other = (category + rng.integers(1, n_categories, n)) % n_categories
    borrowed = np.where(rng.random(n) < 0.12, other, -1).tolist()
    borrowed_tag = rng.integers(0, 1 << 30, n).tolist()
    weekend = (local_weekday >= 6).tolist()
    tags = np.empty(n, dtype=object)
    tags[:] = [
        tuple(
            dict.fromkeys(
                [CATEGORIES[k].tags[i] for i in own_tags[:count]]
                + ([GENERIC_TAGS[g]] if g >= 0 else [])
                + ([CATEGORIES[b].tags[bt % len(CATEGORIES[b].tags)]] if b >= 0 else [])
                + (["free"] if is_free else [])
                + (["weekend"] if is_weekend else [])
            )
        )
        for k, own_tags, count, g, b, bt, is_free, is_weekend in zip(
            category.tolist(),
            own,
            n_own,
            generic,
            borrowed,
            borrowed_tag,
            free.tolist(),
            weekend,
            strict=True,
        )
    ]
    return tags


# --------------------------------------------------------------------------- users


def _generate_users(rng: np.random.Generator, config: WorldConfig) -> UserTable:
    n = config.n_users
    sizes = _city_sizes()
    city = rng.choice(len(CITIES), size=n, p=sizes / sizes.sum())
    lat, lng = _points_around(rng, city, np.where(rng.random(n) < 0.25, 2.5, 1.3))
    reference_ts = int(config.reference_time.timestamp())
    history_start_ts = reference_ts - config.history_days * DAY_S
    joined_during = rng.random(n) < 0.2
    created = np.where(
        joined_during,
        rng.integers(history_start_ts, reference_ts - HOUR_S, n),
        history_start_ts - rng.integers(DAY_S, 730 * DAY_S, n),
    )
    return UserTable(
        ids=_padded_ids("usr-", n),
        city=city.astype(np.int16),
        home_lat=lat,
        home_lng=lng,
        created_ts=created.astype(np.int64),
    )


def _category_affinities(rng: np.random.Generator, appeal: FloatArray) -> npt.NDArray[np.float32]:
    """Sparse tastes: each user loves one to four categories and has a faint background."""
    n, k = appeal.shape
    n_loved = rng.choice([1, 2, 3, 4], size=n, p=[0.15, 0.45, 0.3, 0.1])
    keys = np.log(appeal) + rng.gumbel(size=(n, k))
    loved = _row_ranks(keys) < n_loved[:, None]
    loved_mass = rng.gamma(1.5, 1.0, (n, k)) * loved
    loved_mass /= loved_mass.sum(axis=1, keepdims=True)
    background = rng.gamma(0.5, 1.0, (n, k)) + 1e-6
    background /= background.sum(axis=1, keepdims=True)
    love = rng.uniform(0.75, 0.92, (n, 1))
    return (love * loved_mass + (1.0 - love) * background).astype(np.float32)


def _generate_ground_truth(
    rng: np.random.Generator, config: WorldConfig, users: UserTable
) -> GroundTruth:
    n = len(users)
    city = users.city.astype(np.int64)
    appeal = _category_mix()[city]
    affinity = _category_affinities(rng, appeal)
    drifts = rng.random(n) < 0.25
    # A drifting taste moves away from its favourite category, toward other loves.
    favourite = np.argmax(affinity, axis=1)[:, None] == np.arange(affinity.shape[1])
    drift_target = _category_affinities(rng, np.where(favourite, 0.02, 1.0) * appeal)
    drift_affinity = np.where(drifts[:, None], drift_target, affinity)
    reference_ts = int(config.reference_time.timestamp())
    history_s = config.history_days * DAY_S
    drift_start = reference_ts - history_s + (rng.uniform(0.1, 0.6, n) * history_s).astype(np.int64)
    drift_end = drift_start + (rng.uniform(0.15, 0.4, n) * history_s).astype(np.int64)
    never = np.iinfo(np.int64).max // 4
    spread = np.array([c.spread_km for c in CITIES])[city]
    tolerance = np.clip(np.exp(rng.normal(math.log(5.0), 0.6, n)) * spread / 5.0, 0.5, 60.0)

    # Weekday rhythm: Friday to Sunday, Monday to Friday, five random days, two or three.
    rhythm = rng.choice(4, size=n, p=[0.3, 0.3, 0.2, 0.2])[:, None]
    n_random_days = np.where(rhythm == 2, 5, rng.integers(2, 4, (n, 1)))
    random_days = _row_ranks(rng.random((n, 7))) < n_random_days
    friday_to_sunday, monday_to_friday = np.arange(7) >= 4, np.arange(7) <= 4
    weekdays = np.select(
        [rhythm == 0, rhythm == 1], [friday_to_sunday, monday_to_friday], random_days
    )

    # One or two hour windows: morning, daytime, evening, late night.
    hour_windows = (range(7, 12), range(10, 17), range(17, 23), (20, 21, 22, 23, 0, 1))
    windows = np.array([[h in window for h in range(24)] for window in hour_windows])
    first_window = rng.choice(4, size=n, p=[0.15, 0.2, 0.5, 0.15])
    second_window = np.where(rng.random(n) < 0.3, rng.integers(0, 4, n), first_window)
    hours = windows[first_window] | windows[second_window]

    activity = np.exp(rng.normal(0.0, 1.1, n))
    return GroundTruth(
        category_names=tuple(c.name for c in CATEGORIES),
        affinity=affinity,
        drift_affinity=drift_affinity.astype(np.float32),
        drift_start_ts=np.where(drifts, drift_start, never),
        drift_end_ts=np.where(drifts, drift_end, never),
        drifts=drifts,
        price_sensitivity=rng.beta(2.0, 2.5, n).astype(np.float32),
        distance_tolerance_km=tolerance.astype(np.float32),
        preferred_weekdays=weekdays,
        preferred_hours=hours,
        novelty=rng.beta(2.0, 5.0, n).astype(np.float32),
        activity=(activity / activity.mean()).astype(np.float32),
    )


# --------------------------------------------------------------------------- utility


def _utility(
    truth: GroundTruth,
    users: UserTable,
    events: EventFrame,
    details: EventDetails,
    user: IntArray,
    event: IntArray,
    at_ts: IntArray,
) -> FloatArray:
    """Ground-truth utility of ``event`` for ``user`` at ``at_ts`` (arrays broadcast)."""
    w = UTILITY_WEIGHTS
    affinity = truth.affinity_at(user, events.category[event], at_ts)
    score = w["category_log_affinity"] * np.log(affinity + w["category_affinity_floor"])
    score -= (
        w["price_per_log_usd"] * truth.price_sensitivity[user] * np.log1p(events.price_min[event])
    )
    distance_km = haversine_km(
        users.home_lat[user], users.home_lng[user], events.lat[event], events.lng[event]
    )
    score -= w["distance_per_tolerance"] * distance_km / truth.distance_tolerance_km[user]
    score += (
        w["preferred_weekday"]
        * truth.preferred_weekdays.ravel()[user * 7 + details.local_weekday[event] - 1]
    )
    score += (
        w["preferred_hour"] * truth.preferred_hours.ravel()[user * 24 + details.local_hour[event]]
    )
    novelty = truth.novelty[user]
    score += w["popularity"] * (1.0 - novelty) * details.popularity[event]
    age_days = np.maximum(at_ts - events.published_ts[event], 0) / DAY_S
    score += w["freshness"] * novelty * np.exp(-age_days / w["freshness_days"])
    days_to_start = np.maximum(events.start_ts[event] - at_ts, 0) / DAY_S
    score += w["urgency"] * np.exp(-days_to_start / w["urgency_days"])
    return np.asarray(score, dtype=np.float64)


# --------------------------------------------------------------------------- interactions


@dataclass
class _Availability:
    """Which events are live in which city on which day, for sampling session candidates.

    Bucket ``city * n_days + day`` (days counted from the start of the history) holds the
    events live at some time of that day; ``open_buckets`` lists the non-empty ones, sorted.

    Candidates are exposed in proportion to ``exp(popularity)`` (trending lists, marketing):
    ``bucket_exposure`` is the running sum of that weight over ``bucket_events``.
    """

    visible_until_ts: IntArray
    purchase_until_ts: IntArray
    bucket_events: npt.NDArray[np.int32]
    bucket_exposure: FloatArray
    bucket_start: IntArray
    bucket_length: IntArray
    open_buckets: IntArray
    n_days: int


def _day(calendar: _Calendar, ts: IntArray | int) -> IntArray:
    """Days since the start of the history (negative before it)."""
    return (np.asarray(ts, dtype=np.int64) - calendar.history_start_ts) // DAY_S


def _availability(calendar: _Calendar, events: EventFrame, details: EventDetails) -> _Availability:
    cancelled = events.status == STATUS_CODES[EventStatus.CANCELLED]
    changed = details.status_changed_ts >= 0
    visible_until = np.where(cancelled, details.status_changed_ts, events.end_ts)
    purchase_until = np.where(
        changed, np.minimum(details.status_changed_ts, events.start_ts), events.start_ts
    )
    n_days = int(_day(calendar, calendar.reference_ts)) + 1
    first = np.maximum(_day(calendar, events.published_ts), 0)
    last = np.minimum(_day(calendar, visible_until - 1), n_days - 1)
    count = np.maximum(last - first + 1, 0)
    live = np.flatnonzero(count)
    count = count[live]
    event = np.repeat(live.astype(np.int32), count)
    offsets = np.arange(event.shape[0]) - np.repeat(np.cumsum(count) - count, count)
    day = np.repeat(first[live], count) + offsets
    key = details.city[event].astype(np.int64) * n_days + day
    order = np.argsort(key, kind="stable")
    n_buckets = len(CITIES) * n_days
    bounds = np.searchsorted(key[order], np.arange(n_buckets + 1))
    bucket_length = np.diff(bounds)
    return _Availability(
        visible_until_ts=visible_until,
        purchase_until_ts=purchase_until,
        bucket_events=event[order],
        bucket_exposure=np.cumsum(np.exp(details.popularity[event[order]].astype(np.float64))),
        bucket_start=bounds[:-1],
        bucket_length=bucket_length,
        open_buckets=np.flatnonzero(bucket_length),
        n_days=int(n_days),
    )


@dataclass
class _Rows:
    """Interaction rows in generation order (session, then funnel stage)."""

    user: npt.NDArray[np.int32]
    event: npt.NDArray[np.int32]
    type_code: npt.NDArray[np.int8]
    ts: IntArray
    weight: npt.NDArray[np.float32]
    session: IntArray
    stage: npt.NDArray[np.int8]

    @classmethod
    def concat(cls, parts: Sequence[_Rows]) -> _Rows:
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))

    def take(self, index: npt.ArrayLike) -> _Rows:
        rows = np.asarray(index)
        return _Rows(*(getattr(self, f.name)[rows] for f in fields(self)))

    def __len__(self) -> int:
        return int(self.user.shape[0])


def _sigmoid(x: FloatArray) -> FloatArray:
    return 1.0 / (1.0 + np.exp(-x))


def _funnel_p(stage: str, utility: FloatArray, pivot: float) -> FloatArray:
    bias, slope = FUNNEL[stage]
    return _sigmoid(bias + slope * (utility - pivot))


def _generate_interactions(
    rng: np.random.Generator,
    config: WorldConfig,
    calendar: _Calendar,
    events: EventFrame,
    details: EventDetails,
    users: UserTable,
    truth: GroundTruth,
    report: ProgressCallback,
) -> tuple[InteractionLog, npt.NDArray[np.int32], npt.NDArray[np.int32], float]:
    """Interactions sorted by time, their user and event rows, and the funnel pivot.

    Sessions are drawn chunk by chunk until there are enough rows; the consistency rules then
    drop some (repeated once-only actions, rows after a hide) and the loop tops up. The first
    ``n_interactions`` rows in (session, funnel stage) order are kept, so the cut can shorten
    the last session but never keeps a click without its view.
    """
    target = config.n_interactions
    available = _availability(calendar, events, details)
    # Only users whose city ever has live events browse.
    city_has_events = np.zeros(len(CITIES), dtype=bool)
    city_has_events[available.open_buckets // available.n_days] = True
    activity_cumulative = np.cumsum(truth.activity * city_has_events[users.city], dtype=np.float64)
    parts: list[_Rows] = []
    kept = _empty_rows()
    raw_total, next_session, rows_per_session, loss, barren_sessions = 0, 0, 4.0, 0.0, 0
    pivot: float | None = None
    exhausted = activity_cumulative[-1] <= 0.0
    while len(kept) < target and not exhausted:
        raw_before = raw_total
        goal = raw_total + (target - len(kept)) / max(1.0 - loss, 0.02) * 1.02 + 16
        while raw_total < goal:
            n_sessions = int(
                min(max((goal - raw_total) / rows_per_session, 256), SESSIONS_PER_CHUNK)
            )
            views = _sample_views(
                rng, calendar, events, details, users, truth, available, activity_cumulative,
                n_sessions, next_session,
            )  # fmt: skip
            next_session += n_sessions
            # A chunk's worth of sessions without a single view: this world cannot produce more.
            barren_sessions = 0 if len(views) else barren_sessions + n_sessions
            exhausted = barren_sessions >= SESSIONS_PER_CHUNK
            if exhausted:
                break
            if pivot is None and len(views):
                pivot = float(np.median(views.utility))
            chunk = _funnel(rng, events, available, views, pivot or 0.0)
            parts.append(chunk)
            raw_total += len(chunk)
            rows_per_session = max(raw_total / next_session, 0.05)
            report("interactions", min(int(raw_total * (1.0 - loss)), target), target)
        everything = _Rows.concat(parts) if parts else _empty_rows()
        before, kept = len(kept), everything.take(_consistent(everything, len(events)))
        loss = 1.0 - len(kept) / max(len(everything), 1)
        # Saturated: almost no new row survives, e.g. the users hid every event they can reach.
        exhausted = exhausted or len(kept) - before < 0.01 * (raw_total - raw_before)
    order = np.lexsort((kept.stage, kept.session))[:target]
    final = kept.take(order)
    final = final.take(np.argsort(final.ts, kind="stable"))
    report("interactions", len(final), target)
    log = InteractionLog(
        user_ids=users.ids[final.user],
        event_ids=events.ids[final.event],
        type_code=final.type_code,
        occurred_ts=final.ts,
        weight=final.weight,
    )
    return log, final.user, final.event, pivot or 0.0


def _empty_rows() -> _Rows:
    return _Rows(
        user=np.zeros(0, np.int32),
        event=np.zeros(0, np.int32),
        type_code=np.zeros(0, np.int8),
        ts=np.zeros(0, np.int64),
        weight=np.zeros(0, np.float32),
        session=np.zeros(0, np.int64),
        stage=np.zeros(0, np.int8),
    )


def _consistent(rows: _Rows, n_events: int) -> IntArray:
    """Rows to keep: the first of each once-only action per (user, event), none after a hide."""
    pair = rows.user.astype(np.int64) * n_events + rows.event
    key = pair * len(INTERACTION_TYPES) + rows.type_code
    order = np.lexsort((rows.ts, key))
    sorted_key = key[order]
    first_of_key = np.r_[True, sorted_key[1:] != sorted_key[:-1]]
    type_code = rows.type_code[order]
    duplicate = ~first_of_key & _ONCE_ONLY[type_code]
    sorted_pair = pair[order]
    group = np.cumsum(np.r_[True, sorted_pair[1:] != sorted_pair[:-1]]) - 1
    hidden = first_of_key & (type_code == _CODE[InteractionType.HIDE])
    hide_ts = np.full(int(group[-1]) + 1 if group.size else 0, np.iinfo(np.int64).max)
    hide_ts[group[hidden]] = rows.ts[order][hidden]
    after_hide = rows.ts[order] > hide_ts[group]
    keep = np.ones(len(rows), dtype=bool)
    keep[order[duplicate | after_hide]] = False
    return np.flatnonzero(keep)


def _sample_views(
    rng: np.random.Generator,
    calendar: _Calendar,
    events: EventFrame,
    details: EventDetails,
    users: UserTable,
    truth: GroundTruth,
    available: _Availability,
    activity_cumulative: FloatArray,
    n_sessions: int,
    first_session: int,
) -> _Views:
    """One chunk of browsing sessions: who browses when, and which events they view."""
    user = np.searchsorted(
        activity_cumulative, rng.random(n_sessions) * activity_cumulative[-1], side="right"
    ).clip(0, len(users) - 1)
    city = users.city[user].astype(np.int64)
    # A day on which the user's city has live events, after sign-up, then a time on it.
    lo = np.maximum(calendar.history_start_ts, users.created_ts[user])
    hi = calendar.reference_ts - SESSION_SPAN_S
    first = np.searchsorted(available.open_buckets, city * available.n_days + _day(calendar, lo))
    last = np.searchsorted(
        available.open_buckets, city * available.n_days + _day(calendar, hi), side="right"
    )
    pick = first + (rng.random(n_sessions) * np.maximum(last - first, 0)).astype(np.int64)
    day = (
        available.open_buckets[np.minimum(pick, available.open_buckets.size - 1)] % available.n_days
    )
    day_start = calendar.history_start_ts + day * DAY_S
    t_lo, t_hi = np.maximum(lo, day_start), np.minimum(hi, day_start + DAY_S)
    t = t_lo + (rng.random(n_sessions) * np.maximum(t_hi - t_lo, 0)).astype(np.int64)
    local_hour, local_weekday = calendar.local_hour_and_weekday(city, t)
    rhythm = _SESSION_HOUR_WEIGHTS[local_hour] * _SESSION_WEEKDAY_WEIGHTS[local_weekday - 1]
    accepted = rng.random(n_sessions) * rhythm.max() * 1.0001 < rhythm
    active = (last > first) & (t_hi > t_lo) & accepted
    session = first_session + np.flatnonzero(active)
    user, t, city = user[active], t[active], city[active]
    s = len(user)

    bucket = city * available.n_days + _day(calendar, t)
    length = available.bucket_length[bucket]
    left = available.bucket_start[bucket][:, None]
    position = _weighted_positions(
        available.bucket_exposure,
        left,
        left + length[:, None],
        rng.random((s, CANDIDATES_PER_SESSION)),
    )
    candidate = np.sort(available.bucket_events[position], axis=1).astype(np.int64)
    valid = (
        (length[:, None] > 0)
        & (events.published_ts[candidate] <= t[:, None])
        & (available.visible_until_ts[candidate] > t[:, None] + SESSION_SPAN_S)
    )
    valid[:, 1:] &= candidate[:, 1:] != candidate[:, :-1]
    utility = _utility(truth, users, events, details, user[:, None], candidate, t[:, None])
    noisy = np.where(valid, utility + rng.gumbel(size=utility.shape), -np.inf)
    top = np.argsort(-noisy, axis=1)[:, :MAX_VIEWS_PER_SESSION]
    n_views = np.minimum(1 + rng.poisson(3.0, s), MAX_VIEWS_PER_SESSION)
    chosen = (np.arange(top.shape[1])[None, :] < n_views[:, None]) & np.isfinite(
        np.take_along_axis(noisy, top, axis=1)
    )
    gaps = rng.uniform(10.0, 90.0, top.shape).cumsum(axis=1).astype(np.int64)
    row, col = np.nonzero(chosen)
    return _Views(
        user=user[row],
        event=np.take_along_axis(candidate, top, axis=1)[row, col],
        ts=t[row] + gaps[row, col],
        utility=np.take_along_axis(utility, top, axis=1)[row, col],
        session=session[row],
    )


@dataclass
class _Views:
    user: IntArray
    event: IntArray
    ts: IntArray
    utility: FloatArray
    session: IntArray

    def __len__(self) -> int:
        return int(self.user.shape[0])


def _funnel(
    rng: np.random.Generator,
    events: EventFrame,
    available: _Availability,
    views: _Views,
    pivot: float,
) -> _Rows:
    """Views, then clicks, saves, shares, RSVPs and purchases, or dismissals and hides."""
    user, event, view_ts, utility, session = (
        views.user, views.event, views.ts, views.utility, views.session
    )  # fmt: skip
    n = len(user)
    draws = rng.random((7, n))
    clicked = draws[0] < _funnel_p("click", utility, pivot)
    dismissed = ~clicked & (draws[1] < _funnel_p("dismiss", utility, pivot))
    hidden = dismissed & (draws[2] < HIDE_GIVEN_DISMISS)
    saved = clicked & (draws[3] < _funnel_p("save", utility, pivot))
    shared = clicked & (draws[4] < _funnel_p("share", utility, pivot))
    free = events.price_min[event] <= 0.0
    click_ts = view_ts + rng.integers(2, 30, n)
    dismiss_ts = view_ts + rng.integers(1, 15, n)
    hide_ts = dismiss_ts + rng.integers(1, 10, n)
    save_ts = click_ts + rng.integers(5, 120, n)
    share_ts = click_ts + rng.integers(30, 300, n)
    commit_ts = click_ts + rng.integers(30, 900, n)
    can_commit = commit_ts < available.purchase_until_ts[event]
    purchased = clicked & ~free & can_commit & (draws[5] < _funnel_p("purchase", utility, pivot))
    rsvped = clicked & free & can_commit & (draws[6] < _funnel_p("rsvp", utility, pivot))
    tickets = rng.choice([1.0, 2.0, 3.0, 4.0], size=n, p=[0.45, 0.4, 0.1, 0.05])

    steps: list[tuple[InteractionType, npt.NDArray[np.bool_], IntArray, int]] = [
        (InteractionType.VIEW, np.ones(n, dtype=bool), view_ts, 0),
        (InteractionType.CLICK, clicked, click_ts, 1),
        (InteractionType.DISMISS, dismissed, dismiss_ts, 1),
        (InteractionType.SAVE, saved, save_ts, 2),
        (InteractionType.HIDE, hidden, hide_ts, 2),
        (InteractionType.SHARE, shared, share_ts, 3),
        (InteractionType.RSVP, rsvped, commit_ts, 3),
        (InteractionType.PURCHASE, purchased, commit_ts, 3),
    ]
    parts = []
    for kind, mask, ts, stage in steps:
        weight = np.where(kind is InteractionType.PURCHASE, tickets[mask], np.nan)
        parts.append(
            _Rows(
                user=user[mask].astype(np.int32),
                event=event[mask].astype(np.int32),
                type_code=np.full(int(mask.sum()), _CODE[kind], dtype=np.int8),
                ts=ts[mask],
                weight=weight.astype(np.float32),
                session=session[mask],
                stage=np.full(int(mask.sum()), stage, dtype=np.int8),
            )
        )
    return _Rows.concat(parts)


# --------------------------------------------------------------------------- writing


class BulkWriter(Protocol):
    """What :func:`write_world` needs from a database (``storage.Database`` provides it)."""

    def bulk_insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        batch_size: int = ...,
        on_batch: Callable[[int], None] | None = ...,
    ) -> int: ...


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_WRITE_CHUNK = 50_000


def _iso(ts: int) -> str:
    return (_EPOCH + timedelta(seconds=ts)).isoformat()


def _datetimes(ts: IntArray) -> list[datetime]:
    return [_EPOCH + timedelta(seconds=s) for s in ts.tolist()]


def _chunked_rows(
    n: int, columns: Callable[[slice], Sequence[Sequence[Any]]]
) -> Iterator[tuple[Any, ...]]:
    """Rows built one chunk of columns at a time, so a big table never sits in memory."""
    for start in range(0, n, _WRITE_CHUNK):
        yield from zip(*columns(slice(start, min(start + _WRITE_CHUNK, n))), strict=True)


def _venue_rows(world: World) -> Iterator[tuple[Any, ...]]:
    v = world.venues
    city_names = [c.name for c in world.cities]

    def columns(part: slice) -> list[list[Any]]:
        return [
            v.ids[part].tolist(),
            v.names[part].tolist(),
            [city_names[c] for c in v.city[part].tolist()],
            v.lat[part].tolist(),
            v.lng[part].tolist(),
            v.capacity[part].tolist(),
        ]

    return _chunked_rows(len(v), columns)


def _event_rows(world: World) -> Iterator[tuple[Any, ...]]:
    e, d = world.events, world.event_details

    def columns(part: slice) -> list[list[Any]]:
        n = len(e.ids[part])
        return [
            e.ids[part].tolist(),
            e.title[part].tolist(),
            e.description[part].tolist(),
            [e.categories.names[c] for c in e.category[part].tolist()],
            [list(t) for t in e.tags[part].tolist()],
            [e.venues.names[v] for v in e.venue[part].tolist()],
            [e.organizers.names[o] for o in e.organizer[part].tolist()],
            e.lat[part].tolist(),
            e.lng[part].tolist(),
            _datetimes(e.start_ts[part]),
            _datetimes(e.end_ts[part]),
            e.price_min[part].tolist(),
            e.price_max[part].tolist(),
            ["USD"] * n,
            d.capacity[part].tolist(),
            [_STATUS_NAMES[s] for s in e.status[part].tolist()],
            _datetimes(e.published_ts[part]),
            _datetimes(d.created_ts[part]),
            _datetimes(d.updated_ts[part]),
        ]

    return _chunked_rows(len(e), columns)


def _user_rows(world: World) -> Iterator[tuple[Any, ...]]:
    u = world.users

    def columns(part: slice) -> list[list[Any]]:
        return [
            u.ids[part].tolist(),
            u.home_lat[part].tolist(),
            u.home_lng[part].tolist(),
            _datetimes(u.created_ts[part]),
        ]

    return _chunked_rows(len(u), columns)


def _ground_truth_rows(world: World) -> Iterator[tuple[Any, ...]]:
    def columns(part: slice) -> list[list[Any]]:
        return [world.users.ids[part].tolist(), world.ground_truth.tastes(part)]

    return _chunked_rows(len(world.users), columns)


def _interaction_rows(world: World) -> Iterator[tuple[Any, ...]]:
    log = world.interactions
    type_names = [t.value for t in INTERACTION_TYPES]

    def columns(part: slice) -> list[list[Any]]:
        weights = log.weight[part]
        return [
            log.user_ids[part].tolist(),
            log.event_ids[part].tolist(),
            [type_names[c] for c in log.type_code[part].tolist()],
            [None if math.isnan(w) else w for w in weights.tolist()],
            _datetimes(log.occurred_ts[part]),
        ]

    return _chunked_rows(len(log), columns)


def world_metadata(world: World) -> dict[str, Any]:
    """The JSON-able description of a world stored under ``dataset_metadata['world']``."""
    return {
        "generator": "scenescout.datasets.generator",
        "config": world.config.model_dump(mode="json"),
        "reference_time": world.config.reference_time.isoformat(),
        "counts": {
            "venues": len(world.venues),
            "events": len(world.events),
            "users": len(world.users),
            "interactions": len(world.interactions),
        },
        "cities": [c.name for c in world.cities],
        "categories": list(world.ground_truth.category_names),
        "currency": "USD",
        "utility_weights": UTILITY_WEIGHTS,
        "funnel": {
            "pivot": world.funnel_pivot,
            "bias_and_slope": {stage: list(pair) for stage, pair in FUNNEL.items()},
            "hide_given_dismiss": HIDE_GIVEN_DISMISS,
        },
    }


def write_world(
    db: BulkWriter, world: World, progress: ProgressCallback | None = None
) -> dict[str, int]:
    """Bulk-insert a world into a migrated database, parents before children.

    Parameters
    ----------
    db
        A database with ``bulk_insert`` (e.g. ``scenescout.storage.Database``), already migrated.
    world
        What :func:`generate_world` returned.
    progress
        Optional ``progress(table, rows_done, rows_total)`` callback.

    Returns
    -------
    dict[str, int]
        Rows written per table.
    """
    report = progress or _no_progress
    n_users = len(world.users)
    tables: list[tuple[str, tuple[str, ...], Iterable[Sequence[Any]], int]] = [
        ("venues", ("id", "name", "city", "lat", "lng", "capacity"), _venue_rows(world),
         len(world.venues)),
        ("events", ("id", "title", "description", "category", "tags", "venue_id", "organizer",
                    "lat", "lng", "start_time", "end_time", "price_min", "price_max", "currency",
                    "capacity", "status", "published_at", "created_at", "updated_at"),
         _event_rows(world), len(world.events)),
        ("users", ("id", "home_lat", "home_lng", "created_at"), _user_rows(world), n_users),
        ("user_ground_truth", ("user_id", "taste"), _ground_truth_rows(world), n_users),
        ("user_interactions", ("user_id", "event_id", "interaction_type", "weight",
                               "occurred_at"), _interaction_rows(world), len(world.interactions)),
        ("dataset_metadata", ("key", "value", "updated_at"),
         [("world", world_metadata(world), utc_now())], 1),
    ]  # fmt: skip
    written: dict[str, int] = {}
    for table, columns, rows, total in tables:
        report(table, 0, total)
        counter = _RowCounter(report, table, total)
        written[table] = db.bulk_insert(table, columns, rows, on_batch=counter)
        report(table, written[table], total)
    return written


class _RowCounter:
    """Turns ``on_batch(rows_in_batch)`` into ``progress(table, rows_done, rows_total)``."""

    def __init__(self, report: ProgressCallback, table: str, total: int) -> None:
        self.report, self.table, self.total, self.done = report, table, total, 0

    def __call__(self, batch: int) -> None:
        self.done += batch
        self.report(self.table, min(self.done, self.total), self.total)
