"""The relational schema (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Times are stored as timezone-aware timestamps (``timestamptz`` on PostgreSQL; UTC text on
SQLite, read back as aware UTC). PostgreSQL-only parts, added by the migration and absent
here: the PostGIS ``geography(Point, 4326)`` columns ``events.geog``, ``venues.geog`` and
``users.home_geog`` (generated from lat/lng, STORED) with GiST indexes, and the row-level
security policies on the user-owned tables listed in :data:`USER_OWNED_TABLES`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; use an aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = sa.JSON().with_variant(JSONB(), "postgresql")

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

venues = sa.Table(
    "venues",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("city", sa.Text),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("lng", sa.Float, nullable=False),
    sa.Column("capacity", sa.Integer),
    sa.Index(None, "lat", "lng"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("title", sa.Text, nullable=False, server_default=""),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("category", sa.Text),
    sa.Column("tags", JSONType, nullable=False),
    sa.Column("venue_id", sa.Text, sa.ForeignKey("venues.id", ondelete="SET NULL")),
    sa.Column("organizer", sa.Text),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("lng", sa.Float, nullable=False),
    sa.Column("start_time", UTCDateTime),
    sa.Column("end_time", UTCDateTime),
    sa.Column("price_min", sa.Float, nullable=False, server_default="0"),
    sa.Column("price_max", sa.Float, nullable=False, server_default="0"),
    sa.Column("currency", sa.Text, nullable=False, server_default="USD"),
    sa.Column("capacity", sa.Integer),
    sa.Column("status", sa.Text, nullable=False, server_default="scheduled"),
    sa.Column("published_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.CheckConstraint("lat >= -90 AND lat <= 90", name="lat_range"),
    sa.CheckConstraint("lng >= -180 AND lng <= 180", name="lng_range"),
    sa.CheckConstraint("price_min >= 0 AND price_max >= price_min", name="price_range"),
    sa.CheckConstraint("status IN ('scheduled', 'cancelled', 'sold_out')", name="status_known"),
    sa.Index(None, "lat", "lng"),
    sa.Index(None, "end_time"),
    sa.Index(None, "category"),
    sa.Index(None, "updated_at"),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("home_lat", sa.Float),
    sa.Column("home_lng", sa.Float),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

user_preferences = sa.Table(
    "user_preferences",
    metadata,
    sa.Column("user_id", sa.Text, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("preferences", JSONType, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

user_behavior = sa.Table(
    "user_behavior",
    metadata,
    sa.Column("user_id", sa.Text, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("profile", JSONType, nullable=False),
    sa.Column("interaction_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_interaction_at", UTCDateTime),
    sa.Column("preference_change_detected", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

IDEMPOTENCY_KEY_PRESENT = "idempotency_key IS NOT NULL"
"""The predicate of the idempotency index; ``ON CONFLICT`` must repeat it to infer the index."""

user_interactions = sa.Table(
    "user_interactions",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("user_id", sa.Text, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("event_id", sa.Text, sa.ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
    sa.Column("interaction_type", sa.Text, nullable=False),
    sa.Column("weight", sa.Float),
    sa.Column("occurred_at", UTCDateTime, nullable=False),
    sa.Column("metadata", JSONType),
    sa.Column("idempotency_key", sa.Text),
    sa.CheckConstraint(
        "interaction_type IN ('view', 'click', 'save', 'share', 'rsvp', 'purchase', "
        "'dismiss', 'hide')",
        name="type_known",
    ),
    # A partial unique index rather than a constraint: rows without a key (most of a bulk
    # import) cost nothing, and SQLite can drop and rebuild it around a bulk load.
    sa.Index(
        "uq_user_interactions_user_id_idempotency_key",
        "user_id",
        "idempotency_key",
        unique=True,
        sqlite_where=sa.text(IDEMPOTENCY_KEY_PRESENT),
        postgresql_where=sa.text(IDEMPOTENCY_KEY_PRESENT),
    ),
    sa.Index(None, "user_id", "occurred_at"),
    # Catch-up reads: a user's interactions after an id (scenescout.engine.sync).
    sa.Index(None, "user_id", "id"),
    sa.Index(None, "event_id"),
    sa.Index(None, "occurred_at"),
)

user_computed_interests = sa.Table(
    "user_computed_interests",
    metadata,
    sa.Column("user_id", sa.Text, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("interest_type", sa.Text, primary_key=True),
    sa.Column("interest_key", sa.Text, primary_key=True),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

user_similarities = sa.Table(
    "user_similarities",
    metadata,
    sa.Column("user_id", sa.Text, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "similar_user_id",
        sa.Text,
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("similarity", sa.Float, nullable=False),
    sa.Column("computed_at", UTCDateTime, nullable=False),
    # Deleting a user cascades through similar_user_id too; without an index that is a scan.
    sa.Index(None, "similar_user_id"),
)

event_features = sa.Table(
    "event_features",
    metadata,
    sa.Column(
        "event_id", sa.Text, sa.ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("features", JSONType, nullable=False),
    sa.Column("popularity", sa.Float, nullable=False, server_default="0"),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

recommendation_logs = sa.Table(
    "recommendation_logs",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("user_id", sa.Text, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("request", JSONType, nullable=False),
    sa.Column("variant", sa.Text),
    sa.Column("items", JSONType, nullable=False),
    sa.Column("scores", JSONType, nullable=False),
    sa.Column("timings", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index(None, "user_id", "created_at"),
)

ab_test_variants = sa.Table(
    "ab_test_variants",
    metadata,
    sa.Column("experiment", sa.Text, primary_key=True),
    sa.Column("variant", sa.Text, primary_key=True),
    sa.Column("traffic_percent", sa.Float, nullable=False),
    sa.Column("config", JSONType, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.CheckConstraint("traffic_percent >= 0 AND traffic_percent <= 100", name="traffic_range"),
)

# The generator's hidden truth about each user, kept for offline evaluation.
user_ground_truth = sa.Table(
    "user_ground_truth",
    metadata,
    sa.Column("user_id", sa.Text, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("taste", JSONType, nullable=False),
)

# Key/value facts about the data set: the generator's seed and config, import provenance.
dataset_metadata = sa.Table(
    "dataset_metadata",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", JSONType, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

USER_OWNED_TABLES: tuple[str, ...] = (
    "user_preferences",
    "user_behavior",
    "user_interactions",
    "user_computed_interests",
    "user_similarities",
    "recommendation_logs",
    "user_ground_truth",
)
