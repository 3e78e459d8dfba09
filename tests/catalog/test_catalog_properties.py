"""Property tests: CatalogSnapshot agrees with a brute-force scan written here from scratch.

The brute force measures distance through 3-D unit vectors (chord length), not the haversine
formula the catalog uses, and filters plain Python events one by one. Events whose distance is
within a micrometre of the radius may fall either way (the two formulas round differently).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scenescout.catalog import CatalogSnapshot
from scenescout.domain import Event, EventStatus
from scenescout.frames import EventFrame

EARTH_RADIUS_KM = 6371.0088
BOUNDARY_KM = 1e-6
T0 = 1_780_000_000
STEP = 86_400  # times on a coarse grid, so boundaries (start == end of range) are common
CATEGORIES = ["music", "art", "food"]
QUERY_CATEGORIES = [*CATEGORIES, "not-a-category"]
PRICES = [0.0, 5.0, 10.5, 20.0, 50.0]

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def unit_vector(lat: float, lng: float) -> tuple[float, float, float]:
    phi, lam = math.radians(lat), math.radians(lng)
    return (math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi))


def great_circle_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    chord = math.dist(unit_vector(lat1, lng1), unit_vector(lat2, lng2))
    return 2.0 * EARTH_RADIUS_KM * math.asin(min(1.0, chord / 2.0))


def destination(lat: float, lng: float, bearing: float, distance_km: float) -> tuple[float, float]:
    delta = distance_km / EARTH_RADIUS_KM
    phi1, lam1 = math.radians(lat), math.radians(lng)
    phi2 = math.asin(
        max(-1.0, min(1.0, math.sin(phi1) * math.cos(delta)
                      + math.cos(phi1) * math.sin(delta) * math.cos(bearing)))
    )  # fmt: skip
    lam2 = lam1 + math.atan2(
        math.sin(bearing) * math.sin(delta) * math.cos(phi1),
        math.cos(delta) - math.sin(phi1) * math.sin(phi2),
    )
    return math.degrees(phi2), (math.degrees(lam2) + 540.0) % 360.0 - 180.0


def epoch(event_time: datetime | None, default: float) -> float:
    return default if event_time is None else event_time.timestamp()


@dataclass(frozen=True)
class Query:
    center: tuple[float, float] | None
    radius_km: float | None
    time_range: tuple[int, int] | None
    categories: list[str] | None
    price_range: tuple[float | None, float | None] | None
    now: int
    include_sold_out: bool
    exclude_ids: frozenset[str]

    def run(self, snapshot: CatalogSnapshot) -> set[str]:
        rows = snapshot.candidates(
            self.center,
            self.radius_km,
            self.time_range,
            self.categories,
            self.price_range,
            now=self.now,
            include_sold_out=self.include_sold_out,
            exclude_ids=self.exclude_ids,
        )
        assert rows.dtype == np.int64
        assert np.all(np.diff(rows) > 0), "rows must be unique and ascending"
        ids = snapshot.event_ids(rows)
        return set(ids)

    def brute_force(self, events: list[Event], built_at: int) -> tuple[set[str], set[str]]:
        """Ids that must be returned, and ids that may be (those on the radius boundary)."""
        must, may = set(), set()
        for event in events:
            end = epoch(event.end_time, math.inf)
            start = epoch(event.start_time, -math.inf)
            if end < built_at or end < self.now or event.id in self.exclude_ids:
                continue
            if event.status is EventStatus.CANCELLED:
                continue
            if event.status is EventStatus.SOLD_OUT and not self.include_sold_out:
                continue
            if self.time_range is not None and not (
                start <= self.time_range[1] and end >= self.time_range[0]
            ):
                continue
            if self.categories is not None and event.category not in self.categories:
                continue
            if self.price_range is not None:
                low, high = self.price_range
                if low is not None and event.price_max < low:
                    continue
                if high is not None and event.price_min > high:
                    continue
            if self.center is not None and self.radius_km is not None:
                distance = great_circle_km(*self.center, event.lat, event.lng)
                if distance > self.radius_km + BOUNDARY_KM:
                    continue
                if distance >= self.radius_km - BOUNDARY_KM:
                    may.add(event.id)
                    continue
            must.add(event.id)
        return must, must | may


latitudes = st.one_of(st.floats(-90.0, 90.0), st.floats(80.0, 90.0), st.floats(-90.0, -80.0))
longitudes = st.one_of(st.floats(-180.0, 180.0), st.floats(170.0, 180.0), st.floats(-180.0, -170.0))
cell_degs = st.sampled_from([0.1, 0.7, 5.0, 45.0, 180.0])


@st.composite
def places(draw: st.DrawFn, center: tuple[float, float], radius_km: float) -> tuple[float, float]:
    """Mostly near the center (inside and just outside the radius), sometimes anywhere."""
    if draw(st.integers(0, 2)) == 0:
        return draw(latitudes), draw(longitudes)
    bearing = draw(st.floats(0.0, 2.0 * math.pi))
    distance_km = radius_km * draw(st.floats(0.0, 2.0))
    return destination(*center, bearing, distance_km)


@st.composite
def events_near(
    draw: st.DrawFn, center: tuple[float, float], radius_km: float, event_id: str
) -> Event:
    lat, lng = draw(places(center, radius_km))
    start_time = end_time = None
    if draw(st.integers(0, 9)):
        start = T0 + STEP * draw(st.integers(-10, 60))
        end = start + STEP * draw(st.integers(0, 10))
        start_time = datetime.fromtimestamp(start, UTC)
        end_time = datetime.fromtimestamp(end, UTC)
    price_min = draw(st.sampled_from(PRICES))
    return Event(
        id=event_id,
        lat=lat,
        lng=lng,
        start_time=start_time,
        end_time=end_time,
        category=draw(st.sampled_from([*CATEGORIES, None])),
        price_min=price_min,
        price_max=price_min + draw(st.sampled_from([0.0, 4.5, 30.0])),
        status=draw(st.sampled_from(list(EventStatus))),
    )


@st.composite
def queries(
    draw: st.DrawFn,
    center: tuple[float, float],
    radius_km: float,
    ids: list[str],
    events: list[Event],
) -> Query:
    """A query whose times often coincide with event starts and ends, to probe boundaries;
    each optional filter is left out often enough that the others get exercised."""
    starts = sorted({int(e.start_time.timestamp()) for e in events if e.start_time is not None})
    ends = sorted({int(e.end_time.timestamp()) for e in events if e.end_time is not None})

    def moment(boundaries: list[int]) -> int:
        if boundaries and draw(st.booleans()):
            return draw(st.sampled_from(boundaries))
        return T0 + STEP * draw(st.integers(-5, 40))

    time_range = None
    if draw(st.integers(0, 2)):
        start, end = moment(ends), moment(starts)
        time_range = (start, end) if start <= end else (end, start)
    price_range = None
    if draw(st.integers(0, 2)) == 0:
        low = draw(st.one_of(st.none(), st.sampled_from(PRICES)))
        high = draw(st.one_of(st.none(), st.sampled_from(PRICES)))
        if low is not None and high is not None and high < low:
            low, high = high, low
        price_range = (low, high)
    categories = None
    if draw(st.integers(0, 2)) == 0:
        categories = draw(st.lists(st.sampled_from(QUERY_CATEGORIES)))
    geo = draw(st.integers(0, 9)) > 0
    return Query(
        center=center if geo else None,
        radius_km=radius_km if geo else None,
        time_range=time_range,
        categories=categories,
        price_range=price_range,
        now=moment(ends),
        include_sold_out=draw(st.booleans()),
        exclude_ids=frozenset(draw(st.lists(st.sampled_from(ids), max_size=3)))
        if ids
        else frozenset(),
    )


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[Event], Query]:
    center = (draw(latitudes), draw(longitudes))
    radius_km = draw(st.floats(0.1, 2000.0))
    count = draw(st.integers(0, 40))
    events = [draw(events_near(center, radius_km, f"e{i}")) for i in range(count)]
    return events, draw(queries(center, radius_km, [e.id for e in events], events))


def assert_matches(snapshot: CatalogSnapshot, events: list[Event], query: Query) -> None:
    must, may = query.brute_force(events, T0)
    found = query.run(snapshot)
    assert must <= found, f"missing {sorted(must - found)}"
    assert found <= may, f"unexpected {sorted(found - may)}"


@SETTINGS
@given(worlds(), cell_degs)
def test_candidates_equal_brute_force(world: tuple[list[Event], Query], cell_deg: float) -> None:
    events, query = world
    snapshot = CatalogSnapshot.build(EventFrame.from_events(events), T0, cell_deg=cell_deg)
    assert_matches(snapshot, events, query)


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Event], list[tuple[str, object]], Query]:
    """Initial events, then a list of changes: upserts of new or changed events, cancels,
    status changes and removals (some of the never-held id ``missing``)."""
    center = (draw(latitudes), draw(longitudes))
    radius_km = draw(st.floats(0.1, 2000.0))
    pool = [f"e{i}" for i in range(draw(st.integers(1, 25)))]
    initial = [
        draw(events_near(center, radius_km, event_id)) for event_id in pool if draw(st.booleans())
    ]
    changes: list[tuple[str, object]] = []
    for _ in range(draw(st.integers(0, 30))):
        kind = draw(st.sampled_from(["upsert", "upsert", "cancel", "status", "remove"]))
        event_id = draw(st.sampled_from([*pool, "missing"]))
        if kind == "upsert":
            batch = [draw(events_near(center, radius_km, draw(st.sampled_from(pool))))]
            if draw(st.booleans()):
                batch.append(draw(events_near(center, radius_km, draw(st.sampled_from(pool)))))
            changes.append(("upsert", batch))
        elif kind == "status":
            changes.append(("status", (event_id, draw(st.sampled_from(list(EventStatus))))))
        else:
            changes.append((kind, event_id))
    return initial, changes, draw(queries(center, radius_km, pool, initial))


@SETTINGS
@given(histories(), cell_degs, st.sampled_from([0, 1, 3, 1000]), st.booleans())
def test_incremental_changes_equal_a_rebuild(
    history: tuple[list[Event], list[tuple[str, object]], Query],
    cell_deg: float,
    max_delta_rows: int,
    as_frames: bool,
) -> None:
    initial, changes, query = history
    snapshot = CatalogSnapshot.build(
        EventFrame.from_events(initial), T0, cell_deg=cell_deg, max_delta_rows=max_delta_rows
    )
    model = {event.id: event for event in initial if epoch(event.end_time, math.inf) >= T0}
    for kind, payload in changes:
        version = snapshot.version
        if kind == "upsert":
            assert isinstance(payload, list)
            snapshot.upsert(EventFrame.from_events(payload) if as_frames else payload)
            for event in payload:
                model[event.id] = event
                if epoch(event.end_time, math.inf) < T0:
                    del model[event.id]  # ended before the build: an upsert removes it
            changed = True
        elif kind == "remove":
            assert isinstance(payload, str)
            changed = payload in model
            assert snapshot.remove(payload) == changed
            model.pop(payload, None)
        else:
            event_id, status = payload if kind == "status" else (payload, EventStatus.CANCELLED)
            assert isinstance(event_id, str) and isinstance(status, EventStatus)
            held = event_id in model
            changed = held and model[event_id].status is not status
            if kind == "status":
                assert snapshot.set_status(event_id, status) == held
            else:
                assert snapshot.cancel(event_id) == held
            if held:
                model[event_id] = model[event_id].model_copy(update={"status": status})
        assert (snapshot.version > version) == changed

    events = list(model.values())
    rebuilt = CatalogSnapshot.build(EventFrame.from_events(events), T0, cell_deg=cell_deg)
    assert len(snapshot) == len(rebuilt) == len(events)
    for event in events:
        row = snapshot.index_of(event.id)
        assert row is not None
        held = snapshot.take([row])
        assert held.ids[0] == event.id
        assert (held.lat[0], held.lng[0]) == (event.lat, event.lng)
        rebuilt_row = rebuilt.take([rebuilt.index_of(event.id)])
        assert (held.end_ts[0], held.status[0]) == (rebuilt_row.end_ts[0], rebuilt_row.status[0])
    assert snapshot.index_of("missing") is None
    assert query.run(snapshot) == query.run(rebuilt)
    assert_matches(snapshot, events, query)
    snapshot.compact()
    assert len(snapshot.frame) == len(events)
    assert query.run(snapshot) == query.run(rebuilt)
