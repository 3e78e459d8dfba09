"""CatalogSnapshot on small catalogs with a known right answer."""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from scenescout.catalog import CatalogSnapshot, CellGrid
from scenescout.domain import Event, EventStatus, GeoPoint
from scenescout.frames import EventFrame, Vocabulary
from scenescout.geo import haversine_km_scalar

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
LONDON = (51.5074, -0.1278)
# Points north of central London: one degree of latitude is ~111.2 km.
KM_NORTH = {km: (LONDON[0] + km / 111.195, LONDON[1]) for km in (1, 10, 30)}


def make_event(
    event_id: str,
    place: tuple[float, float] = LONDON,
    *,
    starts_in_hours: float = 24.0,
    hours: float = 3.0,
    permanent: bool = False,
    **fields: Any,
) -> Event:
    start = NOW + timedelta(hours=starts_in_hours)
    return Event(
        id=event_id,
        lat=place[0],
        lng=place[1],
        start_time=None if permanent else start,
        end_time=None if permanent else start + timedelta(hours=hours),
        **{"category": "music", **fields},
    )


def build(events: list[Event], **options: Any) -> CatalogSnapshot:
    return CatalogSnapshot.build(EventFrame.from_events(events), NOW, **options)


def found(snapshot: CatalogSnapshot, *args: Any, **query: Any) -> set[str]:
    rows = snapshot.candidates(*args, **{"now": NOW, **query})
    assert rows.dtype == np.int64
    assert list(rows) == sorted(set(rows.tolist())), "rows must be unique and ascending"
    return set(snapshot.event_ids(rows))


def assert_sorted_by_cell(snapshot: CatalogSnapshot) -> None:
    frame = snapshot.frame
    keys = CellGrid(snapshot.cell_deg).cell_keys(frame.lat, frame.lng)
    assert np.all(np.diff(keys) >= 0)


def test_build_keeps_upcoming_events_of_every_status_sorted_by_cell() -> None:
    events = [
        make_event("ended", starts_in_hours=-5, hours=2),
        make_event("ongoing", KM_NORTH[30], starts_in_hours=-1, hours=2),
        make_event("paris", (48.8566, 2.3522)),
        make_event("permanent", (-33.87, 151.21), permanent=True),
        make_event("cancelled", KM_NORTH[1], status=EventStatus.CANCELLED),
        make_event("sold-out", KM_NORTH[10], status=EventStatus.SOLD_OUT),
    ]
    snapshot = build(events)
    assert len(snapshot) == len(snapshot.frame) == 5
    assert snapshot.index_of("ended") is None
    assert snapshot.version == 0
    assert_sorted_by_cell(snapshot)
    assert found(snapshot) == {"ongoing", "paris", "permanent"}
    assert found(snapshot, include_sold_out=True) == {"ongoing", "paris", "permanent", "sold-out"}


def test_build_rejects_duplicate_ids_and_bad_cells() -> None:
    with pytest.raises(ValueError, match="'a' occurs more than once"):
        build([make_event("a"), make_event("b"), make_event("a")])
    with pytest.raises(ValueError, match="cell_deg"):
        build([], cell_deg=0.0)


def test_radius_query_has_the_known_answer_and_distances() -> None:
    events = [make_event(f"{km}km", place) for km, place in KM_NORTH.items()]
    snapshot = build([*events, make_event("paris", (48.8566, 2.3522))])
    assert found(snapshot, LONDON, 20.0) == {"1km", "10km"}
    assert found(snapshot, GeoPoint(lat=LONDON[0], lng=LONDON[1]), 400.0) == {
        "1km",
        "10km",
        "30km",
        "paris",
    }
    assert found(snapshot, LONDON, 0.5) == set()
    rows = snapshot.candidates(LONDON, 50.0, now=NOW)
    expected = [haversine_km_scalar(*LONDON, *snapshot.take([row]).lat, *snapshot.take([row]).lng)
                for row in rows]  # fmt: skip
    assert np.allclose(snapshot.distances_km(rows, LONDON), expected)
    assert np.allclose(sorted(snapshot.distances_km(rows, LONDON)), [1, 10, 30], atol=0.01)


def test_radius_query_across_the_antimeridian() -> None:
    fiji = (-16.5, 179.95)
    snapshot = build(
        [
            make_event("east", (-16.5, -179.95)),  # ~10.7 km away, across the date line
            make_event("west", (-16.5, 179.0)),  # ~101 km away
        ]
    )
    assert found(snapshot, fiji, 20.0) == {"east"}
    assert found(snapshot, (-16.5, -179.99), 20.0) == {"east"}
    assert found(snapshot, fiji, 150.0) == {"east", "west"}


def test_radius_query_near_the_poles() -> None:
    snapshot = build(
        [
            make_event("over-the-pole", (89.95, 180.0)),  # ~11 km from (89.95, 0) via the pole
            make_event("far", (89.0, 90.0)),  # ~111 km from the pole
            make_event("south", (-89.99, 45.0)),
        ]
    )
    assert found(snapshot, (89.95, 0.0), 15.0) == {"over-the-pole"}
    assert found(snapshot, (90.0, 0.0), 120.0) == {"over-the-pole", "far"}
    assert found(snapshot, (-90.0, -123.0), 2.0) == {"south"}


def test_geo_arguments_are_validated() -> None:
    snapshot = build([make_event("a")])
    assert found(snapshot, LONDON, None) == {"a"}  # a center alone bounds nothing
    with pytest.raises(ValueError, match="needs a center"):
        snapshot.candidates(None, 10.0)
    with pytest.raises(ValueError, match="radius_km must be >= 0"):
        snapshot.candidates(LONDON, -1.0)
    with pytest.raises(ValueError, match="not a latitude/longitude pair"):
        snapshot.candidates((91.0, 0.0), 10.0)


def test_time_range_keeps_overlapping_events_inclusively() -> None:
    snapshot = build(
        [
            make_event("tomorrow", starts_in_hours=24, hours=2),
            make_event("next-week", starts_in_hours=24 * 7, hours=2),
            make_event("park", permanent=True),
        ]
    )
    tomorrow = NOW + timedelta(hours=24)
    assert found(snapshot, time_range=(tomorrow, tomorrow + timedelta(days=1))) == {
        "tomorrow",
        "park",
    }
    # Both ends are inclusive: ending exactly at the range start, starting exactly at its end.
    ends_then = tomorrow + timedelta(hours=2)
    assert "tomorrow" in found(snapshot, time_range=(ends_then, ends_then + timedelta(days=30)))
    assert "tomorrow" in found(snapshot, time_range=(NOW, tomorrow))
    assert found(snapshot, time_range=(NOW, tomorrow - timedelta(seconds=1))) == {"park"}
    epoch = int(tomorrow.timestamp())
    assert found(snapshot, time_range=(epoch, epoch + 86_400)) == {"tomorrow", "park"}
    with pytest.raises(ValueError, match="before it starts"):
        snapshot.candidates(time_range=(tomorrow, NOW))
    with pytest.raises(ValueError, match="timezone-aware"):
        snapshot.candidates(time_range=(datetime(2026, 6, 1), datetime(2026, 6, 2)))


def test_events_that_ended_before_now_are_excluded() -> None:
    snapshot = build([make_event("soon", starts_in_hours=1, hours=2)])
    assert found(snapshot, now=NOW + timedelta(hours=3)) == {"soon"}  # ends exactly then
    assert found(snapshot, now=NOW + timedelta(hours=3, seconds=1)) == set()
    # The default is the current time.
    real_now = datetime.now(UTC)
    recent = [
        Event(id="over", lat=0, lng=0, start_time=real_now - timedelta(hours=3),
              end_time=real_now - timedelta(hours=1)),
        Event(id="upcoming", lat=0, lng=0, start_time=real_now + timedelta(hours=1),
              end_time=real_now + timedelta(hours=2)),
    ]  # fmt: skip
    snapshot = CatalogSnapshot.build(EventFrame.from_events(recent), real_now - timedelta(days=1))
    assert set(snapshot.event_ids(snapshot.candidates())) == {"upcoming"}


def test_sold_out_needs_the_flag_and_cancelled_never_shows() -> None:
    snapshot = build(
        [
            make_event("open"),
            make_event("sold-out", status=EventStatus.SOLD_OUT),
            make_event("cancelled", status=EventStatus.CANCELLED),
        ]
    )
    assert found(snapshot, LONDON, 5.0) == {"open"}
    assert found(snapshot, LONDON, 5.0, include_sold_out=True) == {"open", "sold-out"}


def test_category_filter() -> None:
    snapshot = build(
        [
            make_event("gig", category="music"),
            make_event("show", category="art"),
            make_event("untagged", category=None),
        ]
    )
    assert found(snapshot) == {"gig", "show", "untagged"}
    assert found(snapshot, categories=["music"]) == {"gig"}
    assert found(snapshot, categories=["art", "music", "opera"]) == {"gig", "show"}
    assert found(snapshot, categories=["opera"]) == set()
    assert found(snapshot, categories=[]) == set()


def test_price_range_intersects_inclusively() -> None:
    snapshot = build(
        [
            make_event("free"),
            make_event("cheap", price_min=10.0, price_max=20.0),
            make_event("dear", price_min=50.0, price_max=80.0),
        ]
    )
    assert found(snapshot, price_range=(None, 0.0)) == {"free"}
    assert found(snapshot, price_range=(15.0, None)) == {"cheap", "dear"}
    assert found(snapshot, price_range=(20.0, 50.0)) == {"cheap", "dear"}
    assert found(snapshot, price_range=(25.0, 40.0)) == set()
    assert found(snapshot, price_range=(None, None)) == {"free", "cheap", "dear"}
    with pytest.raises(ValueError, match="below min"):
        snapshot.candidates(price_range=(30.0, 10.0))


def test_exclude_ids_leaves_them_out() -> None:
    snapshot = build([make_event("a"), make_event("b"), make_event("c")])
    assert found(snapshot, exclude_ids={"a", "c", "unknown"}) == {"b"}
    assert found(snapshot, exclude_ids=[]) == {"a", "b", "c"}


def test_empty_snapshot() -> None:
    snapshot = CatalogSnapshot.build(EventFrame.empty(), NOW)
    rows = snapshot.candidates(LONDON, 25.0, categories=["music"], now=NOW)
    assert rows.dtype == np.int64 and rows.size == 0
    assert snapshot.candidates(now=NOW).size == 0
    assert len(snapshot) == len(snapshot.frame) == 0
    assert snapshot.index_of("a") is None
    assert snapshot.event_ids([]) == []
    assert len(snapshot.take([])) == 0
    assert snapshot.distances_km([], LONDON).size == 0
    assert not snapshot.remove("a")
    snapshot.upsert(make_event("a"))
    snapshot.compact()
    assert found(snapshot, LONDON, 1.0) == {"a"}


def test_index_of_event_ids_and_take_agree_with_the_frame() -> None:
    snapshot = build([make_event(f"e{i}", KM_NORTH[km]) for i, km in enumerate((1, 10, 30))])
    snapshot.upsert(make_event("new", KM_NORTH[10]))
    frame = snapshot.frame
    for event_id in ("e0", "e1", "e2", "new"):
        row = snapshot.index_of(event_id)
        assert row is not None and frame.ids[row] == event_id
    rows = np.array([snapshot.index_of("new"), snapshot.index_of("e0")])
    assert snapshot.event_ids(rows) == ["new", "e0"]
    taken = snapshot.take(rows)
    assert list(taken.ids) == ["new", "e0"]
    assert taken.categories is frame.categories
    assert np.array_equal(taken.lat, frame.lat[rows])


def test_upserts_add_and_move_events() -> None:
    snapshot = build([make_event("moving", KM_NORTH[1]), make_event("staying", KM_NORTH[1])])
    snapshot.upsert(make_event("added", KM_NORTH[10]))
    assert found(snapshot, LONDON, 15.0) == {"moving", "staying", "added"}

    snapshot.upsert(make_event("moving", (48.8566, 2.3522)))
    assert found(snapshot, LONDON, 15.0) == {"staying", "added"}
    assert found(snapshot, (48.8566, 2.3522), 1.0) == {"moving"}

    snapshot.upsert(make_event("staying", KM_NORTH[1], starts_in_hours=24 * 40))
    next_week = (NOW, NOW + timedelta(days=7))
    assert found(snapshot, LONDON, 15.0, next_week) == {"added"}
    assert len(snapshot) == 3


def test_cancel_set_status_and_remove() -> None:
    snapshot = build([make_event("a"), make_event("b"), make_event("c")])
    snapshot.upsert(make_event("d"))
    version = snapshot.version
    assert snapshot.cancel("a") and snapshot.cancel("d")
    assert snapshot.set_status("b", EventStatus.SOLD_OUT)
    assert found(snapshot) == {"c"}
    assert found(snapshot, include_sold_out=True) == {"b", "c"}
    assert snapshot.set_status("b", "scheduled")
    assert snapshot.remove("c")
    assert found(snapshot) == {"b"}
    assert snapshot.index_of("c") is None and len(snapshot) == 3
    assert snapshot.version == version + 5

    version = snapshot.version
    assert not snapshot.remove("c")
    assert not snapshot.cancel("unknown")
    assert snapshot.set_status("b", EventStatus.SCHEDULED)  # unchanged: not a change
    assert snapshot.version == version
    with pytest.raises(ValueError, match="postponed"):
        snapshot.set_status("b", "postponed")


def test_upsert_batches_frames_and_foreign_vocabularies() -> None:
    snapshot = build([make_event("a", category="music")])
    snapshot.upsert([make_event("b", category="art"), make_event("b", category="food")])
    assert found(snapshot, categories=["food"]) == {"b"}
    assert found(snapshot, categories=["art"]) == set()

    # Rows coded with another frame's vocabulary are recoded into the snapshot's.
    other = EventFrame.from_events(
        [make_event("c", category="opera"), make_event("d", category="music")],
        categories=Vocabulary(["opera", "music"]),
    )
    snapshot.upsert(other)
    assert found(snapshot, categories=["music"]) == {"a", "d"}
    assert found(snapshot, categories=["opera"]) == {"c"}
    assert snapshot.frame.categories.names[:3] == ["music", "art", "food"]


def test_upserting_an_event_that_ended_before_the_build_removes_it() -> None:
    snapshot = build([make_event("a")])
    snapshot.upsert(make_event("a", starts_in_hours=-10, hours=1))
    assert snapshot.index_of("a") is None and len(snapshot) == 0


def test_compaction_is_automatic_and_changes_no_answer() -> None:
    places = [KM_NORTH[1], KM_NORTH[10], KM_NORTH[30], (48.8566, 2.3522)]
    snapshot = build([make_event(f"e{i}", place) for i, place in enumerate(places)],
                     max_delta_rows=3)  # fmt: skip
    snapshot.upsert(make_event("e0", KM_NORTH[30]))
    snapshot.upsert(make_event("new", KM_NORTH[1]))
    assert len(snapshot.frame) == 6  # one replaced row, two delta rows
    answers = [found(snapshot, LONDON, km) for km in (5.0, 20.0, 50.0, 500.0)]

    snapshot.remove("e3")  # the fourth pending row: compacts
    assert len(snapshot.frame) == len(snapshot) == 4
    assert_sorted_by_cell(snapshot)
    answers[-1].discard("e3")
    assert [found(snapshot, LONDON, km) for km in (5.0, 20.0, 50.0, 500.0)] == answers

    version = snapshot.version
    snapshot.compact()
    assert snapshot.version > version
    assert [found(snapshot, LONDON, km) for km in (5.0, 20.0, 50.0, 500.0)] == answers


def test_compact_with_now_drops_events_that_ended() -> None:
    snapshot = build([make_event("early", starts_in_hours=1, hours=1), make_event("late")])
    snapshot.compact(now=NOW + timedelta(hours=5))
    assert snapshot.index_of("early") is None and len(snapshot) == 1
    snapshot.upsert(make_event("early", starts_in_hours=1, hours=1))  # still over: ignored
    assert snapshot.index_of("early") is None


def test_a_pinned_view_keeps_its_rows_while_the_snapshot_changes() -> None:
    snapshot = build([make_event("a", KM_NORTH[1]), make_event("b", KM_NORTH[10])])
    view = snapshot.view()
    rows = view.candidates(LONDON, 5.0, now=NOW)
    snapshot.upsert(make_event("a", (48.8566, 2.3522)))
    snapshot.remove("b")
    snapshot.compact()
    assert view.event_ids(rows) == ["a"]
    assert math.isclose(view.distances_km(rows, LONDON)[0], 1.0, abs_tol=0.01)
    assert set(view.event_ids(view.candidates(LONDON, 15.0, now=NOW))) == {"a", "b"}
    assert found(snapshot, LONDON, 15.0) == set()
    assert len(view) == 2 and len(snapshot) == 1
    assert view.version < snapshot.version


def test_readers_see_whole_states_while_a_writer_changes_the_snapshot() -> None:
    near, far = KM_NORTH[1], (48.8566, 2.3522)
    snapshot = build([make_event(f"e{i}", near) for i in range(50)], max_delta_rows=8)
    failures: list[BaseException] = []

    def write() -> None:
        try:
            for round_ in range(200):
                event_id = f"e{round_ % 50}"
                snapshot.upsert(make_event(event_id, far if round_ % 2 else near))
                if round_ % 7 == 0:
                    snapshot.remove(f"e{(round_ + 3) % 50}")
        except BaseException as error:  # reported by the main thread
            failures.append(error)

    writer = threading.Thread(target=write)
    writer.start()
    reading = True
    while reading:
        reading = writer.is_alive()
        view = snapshot.view()
        rows = view.candidates(LONDON, 5.0, now=NOW)
        assert np.all(view.distances_km(rows, LONDON) <= 5.0)
        assert len(set(view.event_ids(rows))) == len(rows)
    writer.join()
    assert not failures
    places = {f"e{i}": near for i in range(50)}
    for round_ in range(200):
        places[f"e{round_ % 50}"] = far if round_ % 2 else near
        if round_ % 7 == 0:
            places.pop(f"e{(round_ + 3) % 50}", None)
    assert found(snapshot, LONDON, 5.0) == {i for i, place in places.items() if place == near}
