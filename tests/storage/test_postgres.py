"""PostgreSQL-only: row-level security, PostGIS columns and the radius query plan."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from tests.storage.factories import make_event, make_interaction, make_user, make_venue

from scenescout.storage import USER_ROLE, Database, StorageError, Store, schema

pytestmark = pytest.mark.postgres


@pytest.fixture
def populated(postgres_db: Database) -> Store:
    store = Store(postgres_db)
    store.users.upsert([make_user("alice"), make_user("bob")])
    store.events.upsert([make_event(f"e{i}", lat=52.5 + i / 100, lng=13.4) for i in range(4)])
    store.interactions.add_many(
        [make_interaction("alice", f"e{i}") for i in range(3)]
        + [make_interaction("bob", f"e{i}") for i in range(2)]
    )
    return store


@pytest.fixture
def probe_db(postgres_db: Database, worker_id: str) -> Iterator[Database]:
    """A connection as a LOGIN role that is neither superuser nor owner, member of the role."""
    role = f"scenescout_rls_probe_{worker_id}".replace("-", "_")
    with postgres_db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS")
        conn.exec_driver_sql(f"GRANT {USER_ROLE} TO {role}")
    url = postgres_db.engine.url.set(username=role, password=None)
    probe = Database.from_url(url.render_as_string(hide_password=False))
    yield probe
    probe.dispose()
    with postgres_db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")


def _user_ids(connection: sa.Connection) -> list[str]:
    return list(connection.scalars(sa.select(schema.user_interactions.c.user_id)))


def test_row_level_security_confines_a_plain_login_role(
    populated: Store, probe_db: Database
) -> None:
    with probe_db.engine.connect() as connection:
        who = connection.execute(
            sa.text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        ).one()
        owner = connection.scalar(
            sa.text("SELECT tableowner FROM pg_tables WHERE tablename = 'user_interactions'")
        )
        user = connection.scalar(sa.text("SELECT current_user"))
        assert tuple(who) == (False, False) and owner != user
        # A member of the role, but with no user id set: no rows at all.
        assert _user_ids(connection) == []

    with probe_db.acting_for_user("alice") as connection:
        assert _user_ids(connection) == ["alice"] * 3
        bobs = sa.select(schema.user_interactions).where(
            schema.user_interactions.c.user_id == "bob"
        )
        assert connection.execute(bobs).all() == []
        assert connection.scalar(sa.select(sa.func.count()).select_from(schema.events)) == 4
    with probe_db.acting_for_user("bob") as connection:
        assert _user_ids(connection) == ["bob"] * 2

    # Writing another user's row is refused, writing one's own is allowed.
    row: dict[str, Any] = {
        "event_id": "e3",
        "interaction_type": "view",
        "occurred_at": sa.func.now(),
    }
    refused = pytest.raises(sa.exc.ProgrammingError, match="row-level security")
    with refused, probe_db.acting_for_user("alice") as connection:
        connection.execute(sa.insert(schema.user_interactions).values(user_id="bob", **row))
    with probe_db.acting_for_user("alice") as connection:
        connection.execute(sa.insert(schema.user_interactions).values(user_id="alice", **row))
        # Events are read-only for the role.
        denied = pytest.raises(sa.exc.ProgrammingError, match="permission denied")
        with denied, connection.begin_nested():
            connection.execute(sa.update(schema.events).values(title="defaced"))
    assert populated.interactions.count() == 6


def test_row_level_security_is_on_for_every_user_owned_table(postgres_db: Database) -> None:
    with postgres_db.engine.connect() as connection:
        flags = dict(
            connection.execute(
                sa.text(
                    "SELECT relname, relrowsecurity FROM pg_class "
                    "WHERE relname = ANY(:names) AND relkind = 'r'"
                ),
                {"names": list(schema.USER_OWNED_TABLES)},
            ).all()
        )
        policies = set(connection.scalars(sa.text("SELECT tablename FROM pg_policies")))
    assert flags == dict.fromkeys(schema.USER_OWNED_TABLES, True)
    assert policies == set(schema.USER_OWNED_TABLES)


def test_geog_columns_are_generated_and_gist_indexed(postgres_db: Database) -> None:
    postgres_db.bulk_insert("venues", ["id", "name", "lat", "lng"], [("v1", "Hall", 52.5, 13.4)])
    Store(postgres_db).venues.upsert([make_venue("v2")])
    with postgres_db.engine.connect() as connection:
        points = connection.execute(
            sa.text("SELECT id, ST_AsText(geog) FROM venues ORDER BY id")
        ).all()
        indexes = dict(
            connection.execute(
                sa.text(
                    "SELECT tablename, indexdef FROM pg_indexes "
                    "WHERE indexname IN ('ix_events_geog', 'ix_venues_geog', 'ix_users_home_geog')"
                )
            ).all()
        )
    assert points == [("v1", "POINT(13.4 52.5)"), ("v2", "POINT(13.4 52.5)")]
    assert set(indexes) == {"events", "venues", "users"}
    assert all("USING gist" in definition for definition in indexes.values())


def test_radius_query_is_st_dwithin_on_the_gist_index(postgres_db: Database) -> None:
    store = Store(postgres_db)
    store.events.upsert([make_event(f"e{i}", lat=50 + i / 10, lng=10.0) for i in range(50)])
    captured: list[tuple[str, Any]] = []

    def capture(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
    ) -> None:
        if "distance_km" in statement:
            captured.append((statement, parameters))

    sa.event.listen(postgres_db.engine, "before_cursor_execute", capture)
    try:
        found = store.events.within_radius(50.0, 10.0, 25.0)
    finally:
        sa.event.remove(postgres_db.engine, "before_cursor_execute", capture)
    assert [event.id for event, _ in found] == ["e0", "e1", "e2"]
    ((statement, parameters),) = captured
    assert "ST_DWithin(events.geog" in statement
    with postgres_db.transaction() as connection:
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = "\n".join(
            row[0] for row in connection.exec_driver_sql("EXPLAIN " + statement, parameters)
        )
    assert "ix_events_geog" in plan


def test_bulk_insert_by_a_non_owner_loads_row_by_row_under_row_level_security(
    populated: Store, probe_db: Database
) -> None:
    # Not the owner: the empty-table fast path (dropping indexes) is skipped, and COPY is
    # subject to the policies like any insert: without a user id no row may be written.
    with pytest.raises(StorageError, match="row-level security"):
        probe_db.bulk_insert("user_ground_truth", ["user_id", "taste"], [("alice", {})])
    assert populated.ground_truth.get("alice") is None


def test_a_bulk_load_leaves_the_planner_statistics_of_what_it_loaded(
    postgres_db: Database,
) -> None:
    # This machine's PostgreSQL runs without autovacuum: without an ANALYZE after the load
    # reltuples stays as it was (-1 or the count of an earlier test's rows).
    loaded = 137
    postgres_db.bulk_insert(
        "users", ["id", "created_at"], [(f"u{i}", make_user("x").created_at) for i in range(loaded)]
    )
    with postgres_db.engine.connect() as connection:
        estimated = connection.scalar(
            sa.text("SELECT reltuples FROM pg_class WHERE oid = CAST('users' AS regclass)")
        )
        distinct = connection.scalar(
            sa.text(
                "SELECT n_distinct FROM pg_stats WHERE tablename = 'users' AND attname = 'id' "
                "AND schemaname = current_schema()"
            )
        )
    assert estimated == loaded
    assert distinct == -1  # every id distinct, as a fraction of the rows
