"""What the engine trains on, read from a database: events, interactions, homes, preferences.

:meth:`PersonalizationEngine.from_store <scenescout.engine.PersonalizationEngine.from_store>`
composes these reads with training.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from scenescout.domain import UserPreferences
from scenescout.recommenders.base import TrainingData
from scenescout.storage import Store


@dataclass
class StoredTrainingData:
    """Everything :meth:`PersonalizationEngine.train` needs, read from one database."""

    data: TrainingData
    preferences: dict[str, UserPreferences]
    through_id: int
    """The highest interaction id read: every interaction learned has an id at most this."""


def load_training_data(store: Store, now_ts: int) -> StoredTrainingData:
    """All events, the interactions before ``now_ts``, homes and preferences.

    Parameters
    ----------
    store
        A migrated database's repositories.
    now_ts
        The training time in epoch seconds; later interactions are left out, and so are
        those stored after this read began (above ``through_id``).
    """
    through_id = store.interactions.max_id()
    events = store.events.load_frame()
    log = store.interactions.load_log(
        until=datetime.fromtimestamp(now_ts, tz=UTC), through_id=through_id
    )
    users = store.users.homes_and_preferences()
    data = TrainingData(interactions=log, events=events, now_ts=now_ts, user_homes=users.homes)
    return StoredTrainingData(data=data, preferences=users.preferences, through_id=through_id)
