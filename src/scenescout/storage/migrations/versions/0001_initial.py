"""Initial schema: every table of schema.py; on PostgreSQL also PostGIS and row-level security.

Revision ID: 0001
Revises:
Create Date: 2026-11-26

PostgreSQL only:

- ``CREATE EXTENSION IF NOT EXISTS postgis``;
- ``geog geography(Point, 4326)`` on events and venues and ``home_geog`` on users, generated
  (STORED) from the lat/lng columns, so inserts and COPY never fill them, with GiST indexes;
- the NOLOGIN role ``scenescout_user`` (cluster-wide: created only when missing, tolerant of
  a concurrent creation from another database) with DML on the user-owned tables, SELECT on
  events and venues, USAGE on their sequences;
- row-level security on every user-owned table: a row is visible and writable only when its
  ``user_id`` equals ``current_setting('scenescout.user_id', true)``. Table owners (the
  service's own connection) bypass it; ``Database.acting_for_user`` switches to the role.

Downgrade drops the tables (and with them their columns, indexes, grants and policies). It
keeps the PostGIS extension and the role: both may be used by other databases of the cluster.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

USER_ROLE = "scenescout_user"
USER_ID_SETTING = "scenescout.user_id"
# Frozen copy of schema.USER_OWNED_TABLES as of this revision (a later change is a new one).
USER_OWNED_TABLES = (
    "user_preferences",
    "user_behavior",
    "user_interactions",
    "user_computed_interests",
    "user_similarities",
    "recommendation_logs",
    "user_ground_truth",
)
SHARED_READ_TABLES = ("events", "venues")
SERIAL_COLUMNS = (("user_interactions", "id"), ("recommendation_logs", "id"))
# (table, generated column, longitude column, latitude column)
GEOGRAPHY_COLUMNS = (
    ("events", "geog", "lng", "lat"),
    ("venues", "geog", "lng", "lat"),
    ("users", "home_geog", "home_lng", "home_lat"),
)

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    _create_tables()
    if op.get_context().dialect.name == "postgresql":
        _add_geography()
        _add_role_and_row_level_security()


def downgrade() -> None:
    for table in (
        "user_interactions",
        "event_features",
        "user_similarities",
        "user_preferences",
        "user_ground_truth",
        "user_computed_interests",
        "user_behavior",
        "recommendation_logs",
        "events",
        "venues",
        "users",
        "dataset_metadata",
        "ab_test_variants",
    ):
        op.drop_table(table)


def _create_tables() -> None:
    op.create_table(
        "ab_test_variants",
        sa.Column("experiment", sa.Text(), nullable=False),
        sa.Column("variant", sa.Text(), nullable=False),
        sa.Column("traffic_percent", sa.Float(), nullable=False),
        sa.Column("config", JSON, nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "traffic_percent >= 0 AND traffic_percent <= 100",
            name=op.f("ck_ab_test_variants_traffic_range"),
        ),
        sa.PrimaryKeyConstraint("experiment", "variant", name=op.f("pk_ab_test_variants")),
    )
    op.create_table(
        "dataset_metadata",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", JSON, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_dataset_metadata")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("home_lat", sa.Float(), nullable=True),
        sa.Column("home_lng", sa.Float(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_table(
        "venues",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("city", sa.Text(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_venues")),
    )
    op.create_index(op.f("ix_venues_lat_lng"), "venues", ["lat", "lng"])
    op.create_table(
        "events",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), server_default="", nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("category", sa.Text(), nullable=True),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("venue_id", sa.Text(), nullable=True),
        sa.Column("organizer", sa.Text(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("start_time", TIMESTAMP, nullable=True),
        sa.Column("end_time", TIMESTAMP, nullable=True),
        sa.Column("price_min", sa.Float(), server_default="0", nullable=False),
        sa.Column("price_max", sa.Float(), server_default="0", nullable=False),
        sa.Column("currency", sa.Text(), server_default="USD", nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("status", sa.Text(), server_default="scheduled", nullable=False),
        sa.Column("published_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "status IN ('scheduled', 'cancelled', 'sold_out')", name=op.f("ck_events_status_known")
        ),
        sa.CheckConstraint("lat >= -90 AND lat <= 90", name=op.f("ck_events_lat_range")),
        sa.CheckConstraint("lng >= -180 AND lng <= 180", name=op.f("ck_events_lng_range")),
        sa.CheckConstraint(
            "price_min >= 0 AND price_max >= price_min", name=op.f("ck_events_price_range")
        ),
        sa.ForeignKeyConstraint(
            ["venue_id"], ["venues.id"], name=op.f("fk_events_venue_id_venues"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index(op.f("ix_events_category"), "events", ["category"])
    op.create_index(op.f("ix_events_end_time"), "events", ["end_time"])
    op.create_index(op.f("ix_events_lat_lng"), "events", ["lat", "lng"])
    op.create_table(
        "recommendation_logs",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("request", JSON, nullable=False),
        sa.Column("variant", sa.Text(), nullable=True),
        sa.Column("items", JSON, nullable=False),
        sa.Column("scores", JSON, nullable=False),
        sa.Column("timings", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        _user_fk("recommendation_logs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recommendation_logs")),
    )
    op.create_index(
        op.f("ix_recommendation_logs_user_id_created_at"),
        "recommendation_logs",
        ["user_id", "created_at"],
    )
    op.create_table(
        "user_behavior",
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("profile", JSON, nullable=False),
        sa.Column("interaction_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_interaction_at", TIMESTAMP, nullable=True),
        sa.Column(
            "preference_change_detected", sa.Boolean(), server_default=sa.false(), nullable=False
        ),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        _user_fk("user_behavior"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_behavior")),
    )
    op.create_table(
        "user_computed_interests",
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("interest_type", sa.Text(), nullable=False),
        sa.Column("interest_key", sa.Text(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        _user_fk("user_computed_interests"),
        sa.PrimaryKeyConstraint(
            "user_id", "interest_type", "interest_key", name=op.f("pk_user_computed_interests")
        ),
    )
    op.create_table(
        "user_ground_truth",
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("taste", JSON, nullable=False),
        _user_fk("user_ground_truth"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_ground_truth")),
    )
    op.create_table(
        "user_preferences",
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("preferences", JSON, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        _user_fk("user_preferences"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_preferences")),
    )
    op.create_table(
        "user_similarities",
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("similar_user_id", sa.Text(), nullable=False),
        sa.Column("similarity", sa.Float(), nullable=False),
        sa.Column("computed_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["similar_user_id"],
            ["users.id"],
            name=op.f("fk_user_similarities_similar_user_id_users"),
            ondelete="CASCADE",
        ),
        _user_fk("user_similarities"),
        sa.PrimaryKeyConstraint("user_id", "similar_user_id", name=op.f("pk_user_similarities")),
    )
    op.create_index(
        op.f("ix_user_similarities_similar_user_id"), "user_similarities", ["similar_user_id"]
    )
    op.create_table(
        "event_features",
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("features", JSON, nullable=False),
        sa.Column("popularity", sa.Float(), server_default="0", nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_event_features_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_event_features")),
    )
    op.create_table(
        "user_interactions",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("interaction_type", sa.Text(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=True),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.Column("metadata", JSON, nullable=True),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "interaction_type IN ('view', 'click', 'save', 'share', 'rsvp', 'purchase', "
            "'dismiss', 'hide')",
            name=op.f("ck_user_interactions_type_known"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_user_interactions_event_id_events"),
            ondelete="CASCADE",
        ),
        _user_fk("user_interactions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_interactions")),
    )
    op.create_index(
        op.f("uq_user_interactions_user_id_idempotency_key"),
        "user_interactions",
        ["user_id", "idempotency_key"],
        unique=True,
        sqlite_where=sa.text("idempotency_key IS NOT NULL"),
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.create_index(op.f("ix_user_interactions_event_id"), "user_interactions", ["event_id"])
    op.create_index(op.f("ix_user_interactions_occurred_at"), "user_interactions", ["occurred_at"])
    op.create_index(
        op.f("ix_user_interactions_user_id_occurred_at"),
        "user_interactions",
        ["user_id", "occurred_at"],
    )


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], ["users.id"], name=op.f(f"fk_{table}_user_id_users"), ondelete="CASCADE"
    )


def _add_geography() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    for table, column, lng, lat in GEOGRAPHY_COLUMNS:
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN {column} geography(Point, 4326) "
            f"GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint({lng}, {lat}), 4326)::geography) "
            "STORED"
        )
        op.execute(f"CREATE INDEX ix_{table}_{column} ON {table} USING gist ({column})")


def _add_role_and_row_level_security() -> None:
    # Roles are shared by every database of the cluster: several databases (e.g. parallel
    # test workers) may run this at once, so a lost race is not an error.
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{USER_ROLE}') THEN
                CREATE ROLE {USER_ROLE} NOLOGIN;
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END
        $$
        """
    )
    op.execute(
        f"DO $$ BEGIN EXECUTE format('GRANT USAGE ON SCHEMA %I TO {USER_ROLE}', "
        "current_schema()); END $$"
    )
    for table in SHARED_READ_TABLES:
        op.execute(f"GRANT SELECT ON {table} TO {USER_ROLE}")
    for table, column in SERIAL_COLUMNS:
        op.execute(
            f"DO $$ BEGIN EXECUTE format('GRANT USAGE ON SEQUENCE %s TO {USER_ROLE}', "
            f"pg_get_serial_sequence('{table}', '{column}')); END $$"
        )
    for table in USER_OWNED_TABLES:
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {USER_ROLE}")
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {table}_own_rows ON {table} "
            f"USING (user_id = current_setting('{USER_ID_SETTING}', true)) "
            f"WITH CHECK (user_id = current_setting('{USER_ID_SETTING}', true))"
        )
