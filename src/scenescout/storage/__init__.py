"""Persistence: SQLite (embedded default) or PostgreSQL + PostGIS, chosen by URL.

>>> from scenescout.storage import Database, Store
>>> db = Database.from_url("sqlite://")
>>> db.migrate()
>>> Store(db).events.count()
0
"""

from scenescout.storage.database import USER_ID_SETTING, USER_ROLE, Database
from scenescout.storage.errors import StorageError
from scenescout.storage.repositories import (
    EventRepository,
    GroundTruthRepository,
    InteractionRepository,
    MetadataRepository,
    Store,
    StoredInteraction,
    StoredUsers,
    UserRepository,
    VenueRepository,
)

__all__ = [
    "USER_ID_SETTING",
    "USER_ROLE",
    "Database",
    "EventRepository",
    "GroundTruthRepository",
    "InteractionRepository",
    "MetadataRepository",
    "StorageError",
    "Store",
    "StoredInteraction",
    "StoredUsers",
    "UserRepository",
    "VenueRepository",
]
