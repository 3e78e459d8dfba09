"""The repository contract: every test runs on SQLite and on PostgreSQL (``db`` fixture)."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest
import sqlalchemy as sa
from tests.storage.factories import (
    BERLIN_SUMMER,
    T0,
    make_event,
    make_interaction,
    make_user,
    make_venue,
)

from scenescout.domain import EventStatus, InteractionType, UserPreferences
from scenescout.frames import NO_END_TS, NO_START_TS, EventFrame, InteractionLog
from scenescout.geo import haversine_km_scalar
from scenescout.storage import Database, StorageError, Store, schema

# PostGIS's sphere radius differs from ours in the 7th digit: points this close to the
# circle may legitimately land on either side.
BOUNDARY_KM = 1e-6


def test_migrate_is_idempotent(db: Database, store: Store) -> None:
    store.users.upsert([make_user("u1")])
    db.migrate()
    db.migrate()
    assert store.users.count() == 1


class TestEvents:
    def test_round_trip_keeps_every_field_and_the_instant(self, store: Store) -> None:
        store.venues.upsert([make_venue("v1")])
        local_start = T0.astimezone(BERLIN_SUMMER)
        event = make_event(
            "e1",
            venue_id="v1",
            organizer="Org",
            description="Long text",
            start_time=local_start,
            end_time=local_start + timedelta(hours=2, microseconds=5),
            published_at=T0 - timedelta(days=3),
            capacity=300,
            currency="EUR",
            status=EventStatus.SOLD_OUT,
        )
        store.events.upsert([event])
        got = store.events.get("e1")
        assert got == event
        assert got is not None and got.start_time is not None
        assert got.start_time.utcoffset() == timedelta(0)  # stored and returned as UTC
        assert got.start_time == local_start

    def test_permanent_place_round_trip(self, store: Store) -> None:
        place = make_event("p1", start_time=None, end_time=None, tags=[])
        store.events.upsert([place])
        assert store.events.get("p1") == place

    def test_get_unknown_is_none(self, store: Store) -> None:
        assert store.events.get("nope") is None

    def test_upsert_replaces_but_keeps_created_at(self, store: Store) -> None:
        first = make_event("e1", title="Old")
        store.events.upsert([first])
        store.events.upsert([make_event("e1", title="New", created_at=T0)])
        got = store.events.get("e1")
        assert got is not None
        assert got.title == "New"
        assert got.created_at == first.created_at
        assert store.events.count() == 1

    def test_set_status(self, store: Store) -> None:
        store.events.upsert([make_event("e1")])
        assert store.events.set_status("e1", EventStatus.CANCELLED) is True
        got = store.events.get("e1")
        assert got is not None and got.status is EventStatus.CANCELLED
        assert store.events.set_status("nope", EventStatus.CANCELLED) is False

    def test_changed_since_lists_new_changed_and_cancelled_events(self, store: Store) -> None:
        store.events.upsert([make_event("old", updated_at=T0), make_event("e2", updated_at=T0)])
        later = T0 + timedelta(hours=1)
        assert store.events.changed_since(later) == []
        store.events.upsert([make_event("new", updated_at=later + timedelta(minutes=1))])
        store.events.upsert([make_event("e2", title="Moved", updated_at=later)])
        changed = store.events.changed_since(later)
        assert [event.id for event in changed] == ["e2", "new"]  # oldest change first
        assert changed[0].title == "Moved"
        store.events.set_status("old", EventStatus.CANCELLED)  # stamped with the clock
        assert "old" in {event.id for event in store.events.changed_since(later)}

    def test_unknown_venue_is_a_storage_error(self, store: Store) -> None:
        with pytest.raises(StorageError, match="venue 'nowhere' does not exist"):
            store.events.upsert([make_event("e1", venue_id="nowhere")])
        assert store.events.count() == 0

    @pytest.mark.parametrize(
        ("centre", "spread_deg"), [((52.52, 13.405), 1.5), ((-33.9, 179.8), 1.0)]
    )
    def test_within_radius_equals_brute_force_haversine(
        self,
        store: Store,
        rng: np.random.Generator,
        centre: tuple[float, float],
        spread_deg: float,
    ) -> None:
        lat0, lng0 = centre
        lats = lat0 + rng.uniform(-spread_deg, spread_deg, 400)
        lngs = (lng0 + rng.uniform(-spread_deg, spread_deg, 400) + 180.0) % 360.0 - 180.0
        events = [
            make_event(f"e{i:03d}", lat=float(a), lng=float(b))
            for i, (a, b) in enumerate(zip(lats, lngs, strict=True))
        ]
        store.events.upsert(events)
        for radius_km in (0.0, 5.0, 40.0, 90.0):
            found = store.events.within_radius(lat0, lng0, radius_km)
            distances = {e.id: haversine_km_scalar(lat0, lng0, e.lat, e.lng) for e in events}
            expected = {i for i, d in distances.items() if d <= radius_km}
            got = {event.id for event, _ in found}
            unsure = {i for i, d in distances.items() if abs(d - radius_km) < BOUNDARY_KM}
            assert got - unsure == expected - unsure
            returned = [distance for _, distance in found]
            assert returned == sorted(returned)
            for event, distance in found:
                assert distance == pytest.approx(distances[event.id], abs=1e-6)

    def test_within_radius_time_filters_and_limit(self, store: Store) -> None:
        store.events.upsert(
            [
                make_event("early", lat=52.52, lng=13.40, start_time=T0, end_time=T0),
                make_event(
                    "late",
                    lat=52.53,
                    lng=13.40,
                    start_time=T0 + timedelta(days=2),
                    end_time=T0 + timedelta(days=2),
                ),
                make_event("place", lat=52.54, lng=13.40, start_time=None, end_time=None),
                make_event("far", lat=48.85, lng=2.35),
            ]
        )

        def ids(**filters: object) -> list[str]:
            found = store.events.within_radius(52.52, 13.40, 10.0, **filters)  # type: ignore[arg-type]
            return [event.id for event, _ in found]

        assert ids() == ["early", "late", "place"]
        assert ids(starts_after=T0 + timedelta(days=1)) == ["late"]
        assert ids(starts_before=T0 + timedelta(days=1)) == ["early", "place"]
        assert ids(limit=2) == ["early", "late"]
        with pytest.raises(ValueError, match="radius_km"):
            store.events.within_radius(0.0, 0.0, -1.0)

    def test_count_and_count_upcoming(self, store: Store) -> None:
        hour = timedelta(hours=1)
        store.events.upsert(
            [
                make_event("past", start_time=T0 - 48 * hour, end_time=T0 - 24 * hour),
                make_event("ongoing", start_time=T0 - hour, end_time=T0 + hour),
                make_event("cancelled", status=EventStatus.CANCELLED),
                make_event("place", start_time=None, end_time=None),
                make_event("soon"),
            ]
        )
        assert store.events.count() == 5
        assert store.events.count_upcoming(T0) == 3  # ongoing, place, soon

    def test_load_frame_equals_frame_from_events(self, store: Store) -> None:
        store.venues.upsert([make_venue("v1"), make_venue("v2")])
        events = [
            make_event("e3", category="art", venue_id="v2", tags=["a"]),
            make_event("e1", category=None, venue_id="v1", organizer="O", tags=[]),
            make_event(
                "e2",
                category="music",
                venue_id="v1",
                published_at=T0 - timedelta(days=9),
                status=EventStatus.CANCELLED,
                price_min=0.0,
                price_max=0.0,
            ),
            make_event("p0", start_time=None, end_time=None, tags=["x", "y"]),
            make_event("old", start_time=T0 - timedelta(days=9), end_time=T0 - timedelta(days=8)),
        ]
        store.events.upsert(events)
        frame = store.events.load_frame()
        expected = EventFrame.from_events(sorted(events, key=lambda e: e.id))
        assert_frames_equal(frame, expected)

        upcoming = store.events.load_frame(ending_after=T0)
        assert list(upcoming.ids) == ["e1", "e2", "e3", "p0"]
        assert upcoming.start_ts[list(upcoming.ids).index("p0")] == NO_START_TS
        assert upcoming.end_ts[list(upcoming.ids).index("p0")] == NO_END_TS

    def test_load_frame_of_empty_table(self, store: Store) -> None:
        frame = store.events.load_frame()
        assert len(frame) == 0
        assert frame.lat.dtype == np.float64 and frame.category.dtype == np.int32


def assert_frames_equal(got: EventFrame, expected: EventFrame) -> None:
    for name in expected.array_fields():
        actual, wanted = getattr(got, name), getattr(expected, name)
        assert actual.dtype == wanted.dtype, name
        assert actual.tolist() == wanted.tolist(), name
    assert got.categories.names == expected.categories.names
    assert got.venues.names == expected.venues.names
    assert got.organizers.names == expected.organizers.names


class TestVenues:
    def test_round_trip_and_replace(self, store: Store) -> None:
        venue = make_venue("v1", capacity=500)
        store.venues.upsert([venue])
        assert store.venues.get("v1") == venue
        store.venues.upsert([make_venue("v1", name="Renamed")])
        got = store.venues.get("v1")
        assert got is not None and got.name == "Renamed"
        assert store.venues.get("nope") is None


class TestUsers:
    def test_round_trip_with_preferences(self, store: Store) -> None:
        preferences = UserPreferences(
            categories=["music"], price_max=40.0, max_distance_km=12.5, preferred_days=[5, 6]
        )
        user = make_user("u1", preferences=preferences)
        store.users.upsert([user, make_user("u2", home_lat=None, home_lng=None)])
        assert store.users.get("u1") == user
        assert store.users.get("u2") == make_user("u2", home_lat=None, home_lng=None)
        assert store.users.get("nope") is None
        assert store.users.count() == 2

    def test_set_preferences(self, store: Store) -> None:
        store.users.upsert([make_user("u1")])
        store.users.set_preferences("u1", UserPreferences(excluded_categories=["sports"]))
        got = store.users.get("u1")
        assert got is not None and got.preferences.excluded_categories == ["sports"]
        with pytest.raises(StorageError, match="user 'ghost' does not exist"):
            store.users.set_preferences("ghost", UserPreferences())

    def test_user_without_preference_row_gets_defaults(self, db: Database, store: Store) -> None:
        db.bulk_insert("users", ["id", "created_at"], [("bulk", T0)])
        got = store.users.get("bulk")
        assert got is not None and got.preferences == UserPreferences()

    def test_homes_and_preferences_in_one_read(self, store: Store) -> None:
        store.users.upsert(
            [
                make_user("home", home_lat=52.5, home_lng=13.4),
                make_user(
                    "picky",
                    home_lat=None,
                    home_lng=None,
                    preferences=UserPreferences(categories=["music"]),
                ),
                make_user("plain", home_lat=None, home_lng=None),
            ]
        )
        users = store.users.homes_and_preferences()
        assert users.homes == {"home": (52.5, 13.4)}
        assert set(users.preferences) == {"picky"}
        assert users.preferences["picky"].categories == ["music"]

    def test_delete_removes_every_user_owned_row(self, db: Database, store: Store) -> None:
        store.users.upsert([make_user("gone"), make_user("kept")])
        store.events.upsert([make_event("e1")])
        for user_id in ("gone", "kept"):
            store.interactions.add(make_interaction(user_id, "e1"))
            store.ground_truth.set(user_id, {"music": 1.0})
            db.bulk_insert(
                "user_behavior", ["user_id", "profile", "updated_at"], [(user_id, {}, T0)]
            )
            db.bulk_insert(
                "user_computed_interests",
                ["user_id", "interest_type", "interest_key", "score", "updated_at"],
                [(user_id, "category", "music", 0.5, T0)],
            )
            db.bulk_insert(
                "recommendation_logs",
                ["user_id", "request", "items", "scores", "timings", "created_at"],
                [(user_id, {}, ["e1"], [0.9], {"total_ms": 3.0}, T0)],
            )
        db.bulk_insert(
            "user_similarities",
            ["user_id", "similar_user_id", "similarity", "computed_at"],
            [("gone", "kept", 0.4, T0), ("kept", "gone", 0.4, T0)],
        )
        assert store.users.delete("gone") is True
        assert store.users.get("gone") is None
        with db.engine.connect() as connection:
            for name in (*schema.USER_OWNED_TABLES, "users"):
                table = schema.metadata.tables[name]
                column = table.c.id if name == "users" else table.c.user_id
                rows = connection.scalars(sa.select(column)).all()
                assert "gone" not in rows, name
                if name != "user_similarities":
                    assert "kept" in rows, name
            similar = connection.scalars(sa.select(schema.user_similarities.c.similar_user_id))
            assert "gone" not in list(similar)
        assert store.users.delete("gone") is False


class TestInteractions:
    @pytest.fixture(autouse=True)
    def _people_and_events(self, store: Store) -> None:
        store.users.upsert([make_user("u1"), make_user("u2")])
        store.events.upsert([make_event("e1"), make_event("e2")])

    def test_add_returns_new_ids(self, store: Store) -> None:
        first = store.interactions.add(make_interaction("u1", "e1"))
        second = store.interactions.add(make_interaction("u1", "e1"))
        assert first[1] is True and second[1] is True
        assert second[0] > first[0]
        assert store.interactions.count() == 2

    def test_repeated_idempotency_key_returns_the_first(self, store: Store) -> None:
        original = make_interaction("u1", "e1", idempotency_key="k1")
        first_id, created = store.interactions.add(original)
        assert created is True
        retry = make_interaction("u1", "e2", idempotency_key="k1", interaction_type="save")
        assert store.interactions.add(retry) == (first_id, False)
        assert store.interactions.list_for_user("u1") == [original]
        # The key is per user: another user may use the same one.
        assert store.interactions.add(make_interaction("u2", "e1", idempotency_key="k1"))[1]

    def test_add_many_in_one_go(self, store: Store) -> None:
        results = store.interactions.add_many(
            [
                make_interaction("u1", "e1", idempotency_key="a"),
                make_interaction("u1", "e2", idempotency_key="a"),
                make_interaction("u2", "e2"),
            ]
        )
        assert [created for _, created in results] == [True, False, True]
        assert results[1][0] == results[0][0]
        assert store.interactions.count() == 2

    @pytest.mark.parametrize(
        ("user_id", "event_id", "message"),
        [
            ("ghost", "e1", "user 'ghost' does not exist"),
            ("u1", "gone", "event 'gone' does not exist"),
        ],
    )
    def test_unknown_reference_is_a_storage_error(
        self, store: Store, user_id: str, event_id: str, message: str
    ) -> None:
        with pytest.raises(StorageError, match=message):
            store.interactions.add_many(
                [make_interaction("u1", "e1"), make_interaction(user_id, event_id)]
            )
        assert store.interactions.count() == 0  # the whole batch was rolled back

    def test_a_mixed_batch_gets_ids_in_its_own_order(self, store: Store) -> None:
        store.interactions.add(make_interaction("u2", "e1", idempotency_key="old"))
        batch = [
            make_interaction(
                f"u{1 + i % 2}",
                f"e{1 + i % 2}",
                occurred_at=T0 + timedelta(seconds=i),
                idempotency_key=None if i % 3 else f"k{i % 9}",
            )
            for i in range(30)
        ]
        batch.insert(7, make_interaction("u2", "e2", idempotency_key="old"))
        results = store.interactions.add_many(batch)
        created = [(i, new_id) for i, (new_id, fresh) in enumerate(results) if fresh]
        assert [new_id for _, new_id in created] == sorted(new_id for _, new_id in created)
        seen = {("u2", "old")}
        fresh = []
        for i, item in enumerate(batch):
            key = (item.user_id, item.idempotency_key)
            if item.idempotency_key is None or key not in seen:
                fresh.append(i)
                seen.add(key)
        assert [i for i, _ in created] == fresh and len(fresh) == 26
        stored = store.interactions.after(min(new_id for _, new_id in created) - 1)
        assert [row.interaction for row in stored] == [batch[i] for i, _ in created]

    def test_after_reads_what_was_stored_above_an_id_in_id_order(self, store: Store) -> None:
        assert store.interactions.max_id() == 0
        assert store.interactions.after(0) == []
        stored = [
            make_interaction("u1", "e1"),
            make_interaction("u2", "e2", interaction_type="save"),
            make_interaction("u1", "e2", idempotency_key="k"),
        ]
        ids = [interaction_id for interaction_id, _ in store.interactions.add_many(stored)]
        assert store.interactions.max_id() == max(ids)
        everything = store.interactions.after(0)
        assert [row.id for row in everything] == sorted(ids)
        assert [row.interaction for row in everything] == stored
        assert [row.interaction for row in store.interactions.after(ids[0])] == stored[1:]
        mine = store.interactions.after(0, user_ids=["u1"])
        assert [row.interaction for row in mine] == [stored[0], stored[2]]
        assert store.interactions.after(max(ids)) == []

    def test_list_for_user_newest_first(self, store: Store) -> None:
        made = [
            make_interaction(
                "u1",
                "e1",
                occurred_at=T0 + timedelta(minutes=m),
                weight=float(m),
                metadata={"source": "app", "position": m},
            )
            for m in (5, 1, 9)
        ]
        store.interactions.add_many([*made, make_interaction("u2", "e2")])
        listed = store.interactions.list_for_user("u1")
        assert listed == sorted(made, key=lambda i: i.occurred_at, reverse=True)
        assert store.interactions.list_for_user("u1", limit=1) == listed[:1]
        assert store.interactions.list_for_user("nobody") == []

    def test_count_by_type_lists_every_type(self, store: Store) -> None:
        store.interactions.add_many(
            [
                make_interaction("u1", "e1", interaction_type="click"),
                make_interaction("u1", "e2", interaction_type="click"),
                make_interaction("u2", "e1", interaction_type="hide"),
            ]
        )
        counts = store.interactions.count_by_type()
        assert set(counts) == {t.value for t in InteractionType}
        assert counts["click"] == 2 and counts["hide"] == 1 and counts["view"] == 0

    def test_load_log_equals_log_from_interactions(self, store: Store) -> None:
        made = [
            make_interaction(
                f"u{1 + i % 2}",
                f"e{1 + i % 3 // 2}",
                interaction_type=list(InteractionType)[i % 8],
                occurred_at=T0 + timedelta(seconds=37 * ((i * 7) % 11), microseconds=250),
                weight=None if i % 3 else 0.5 * i,
            )
            for i in range(30)
        ]
        store.interactions.add_many(made)
        in_time_order = sorted(made, key=lambda i: i.occurred_at)  # stable: ties keep id order
        assert_logs_equal(
            store.interactions.load_log(), InteractionLog.from_interactions(in_time_order)
        )
        since, until = T0 + timedelta(seconds=37 * 3), T0 + timedelta(seconds=37 * 8)
        window = [i for i in in_time_order if since <= i.occurred_at < until]
        assert_logs_equal(
            store.interactions.load_log(since=since, until=until),
            InteractionLog.from_interactions(window),
        )
        assert len(store.interactions.load_log(since=T0 + timedelta(days=1))) == 0


def assert_logs_equal(got: InteractionLog, expected: InteractionLog) -> None:
    assert got.user_ids.tolist() == expected.user_ids.tolist()
    assert got.event_ids.tolist() == expected.event_ids.tolist()
    np.testing.assert_array_equal(got.type_code, expected.type_code)
    np.testing.assert_array_equal(got.occurred_ts, expected.occurred_ts)
    np.testing.assert_array_equal(got.weight, expected.weight)  # NaN == NaN here
    for name in ("type_code", "occurred_ts", "weight"):
        assert getattr(got, name).dtype == getattr(expected, name).dtype


class TestGroundTruthAndMetadata:
    def test_ground_truth(self, store: Store) -> None:
        store.users.upsert([make_user("u1")])
        assert store.ground_truth.get("u1") is None
        store.ground_truth.set("u1", {"categories": {"music": 0.8}, "price_sensitivity": 0.2})
        assert store.ground_truth.get("u1") == {
            "categories": {"music": 0.8},
            "price_sensitivity": 0.2,
        }
        with pytest.raises(StorageError, match="user 'ghost' does not exist"):
            store.ground_truth.set("ghost", {})

    def test_metadata(self, store: Store) -> None:
        assert store.metadata.get("world") is None
        store.metadata.set("world", {"seed": 7, "cities": ["Berlin"]})
        store.metadata.set("world", {"seed": 8})
        assert store.metadata.get("world") == {"seed": 8}
        store.metadata.set("version", "1.0")
        assert store.metadata.get("version") == "1.0"


def test_stats(store: Store) -> None:
    store.users.upsert([make_user("u1")])
    store.venues.upsert([make_venue("v1")])
    store.events.upsert(
        [
            make_event("e1", venue_id="v1"),
            make_event("e2", status=EventStatus.CANCELLED),
            make_event("e3", start_time=T0 - timedelta(days=3), end_time=T0 - timedelta(days=2)),
        ]
    )
    store.interactions.add_many(
        [make_interaction("u1", "e1"), make_interaction("u1", "e2", interaction_type="rsvp")]
    )
    stats = store.stats(T0)
    assert set(stats["tables"]) == set(schema.metadata.tables)
    assert stats["tables"]["events"] == 3
    assert stats["tables"]["users"] == 1
    assert stats["tables"]["user_preferences"] == 1
    assert stats["tables"]["user_interactions"] == 2
    assert stats["tables"]["user_behavior"] == 0
    assert stats["upcoming_events"] == 1
    assert stats["interactions_by_type"]["rsvp"] == 1
    assert stats["interactions_by_type"]["view"] == 1
    assert sum(stats["interactions_by_type"].values()) == 2


def test_acting_for_user_is_a_transaction(db: Database, store: Store) -> None:
    store.users.upsert([make_user("u1")])
    with pytest.raises(RuntimeError), db.acting_for_user("u1") as connection:
        connection.execute(sa.delete(schema.user_preferences))
        raise RuntimeError("roll back")
    assert store.users.get("u1") is not None
    with db.acting_for_user("u1") as connection:
        count = connection.scalar(sa.select(sa.func.count()).select_from(schema.user_preferences))
    assert count == 1


def test_weights_and_nan(store: Store) -> None:
    store.users.upsert([make_user("u1")])
    store.events.upsert([make_event("e1")])
    store.interactions.add(make_interaction("u1", "e1", weight=2.5))
    store.interactions.add(make_interaction("u1", "e1", occurred_at=T0 + timedelta(seconds=1)))
    log = store.interactions.load_log()
    assert log.weight[0] == 2.5 and math.isnan(log.weight[1])


def test_a_sqlite_batch_that_meets_a_concurrent_key_falls_back_row_by_row(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On PostgreSQL the batch's user row locks rule out a concurrent key.
    store = Store(sqlite_db)
    store.users.upsert([make_user("u1"), make_user("u2")])
    store.events.upsert([make_event("e1"), make_event("e2")])
    repository = store.interactions
    batch = [
        make_interaction("u1", "e1", idempotency_key="raced"),
        make_interaction("u2", "e2"),
    ]
    real = type(repository)._add_batch

    def racing(self: object, connection: sa.Connection, rows: list) -> list:  # type: ignore[type-arg]
        real(self, connection, rows)  # its inserts must be rolled back with the savepoint
        raise sa.exc.IntegrityError("INSERT", {}, Exception("duplicate key"))

    monkeypatch.setattr(type(repository), "_add_batch", racing)
    results = repository.add_many(batch)
    assert [created for _, created in results] == [True, True]
    assert repository.count() == 2
    assert [row.id for row in repository.after(0)] == sorted(i for i, _ in results)
