"""What the engine trains on, read from a database: events, interactions, homes, preferences.

:meth:`PersonalizationEngine.from_store <scenescout.engine.PersonalizationEngine.from_store>`
composes these reads with training; the CLI's ``evaluate`` reuses :func:`load_users`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from scenescout.domain import UserPreferences
from scenescout.recommenders.base import TrainingData
from scenescout.storage import Store, schema


@dataclass
class StoredUsers:
    """Homes and explicit preferences of the users a database holds.

    ``preferences`` only lists users whose preferences say something (categories or
    excluded categories).
    """

    homes: dict[str, tuple[float, float]]
    preferences: dict[str, UserPreferences]


@dataclass
class StoredTrainingData:
    """Everything :meth:`PersonalizationEngine.train` needs, read from one database."""

    data: TrainingData
    preferences: dict[str, UserPreferences]


def load_users(store: Store) -> StoredUsers:
    """Every user's home and meaningful explicit preferences, in one query."""
    users, preferences = schema.users, schema.user_preferences
    statement = sa.select(
        users.c.id, users.c.home_lat, users.c.home_lng, preferences.c.preferences
    ).select_from(users.outerjoin(preferences, preferences.c.user_id == users.c.id))
    homes: dict[str, tuple[float, float]] = {}
    wanted: dict[str, UserPreferences] = {}
    with store.db.engine.connect() as connection:
        for user_id, lat, lng, stored in connection.execute(statement):
            if lat is not None and lng is not None:
                homes[user_id] = (float(lat), float(lng))
            if stored:
                parsed = UserPreferences.model_validate(stored)
                if parsed.categories or parsed.excluded_categories:
                    wanted[user_id] = parsed
    return StoredUsers(homes=homes, preferences=wanted)


def load_training_data(store: Store, now_ts: int) -> StoredTrainingData:
    """All events, the interactions before ``now_ts``, homes and preferences.

    Parameters
    ----------
    store
        A migrated database's repositories.
    now_ts
        The training time in epoch seconds; later interactions are left out.
    """
    events = store.events.load_frame()
    log = store.interactions.load_log(until=datetime.fromtimestamp(now_ts, tz=UTC))
    users = load_users(store)
    data = TrainingData(interactions=log, events=events, now_ts=now_ts, user_homes=users.homes)
    return StoredTrainingData(data=data, preferences=users.preferences)
