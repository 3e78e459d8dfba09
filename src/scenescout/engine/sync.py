"""StoreFollower: keeps one process's engine up to date with what the database holds.

Every serving process holds its own engine. Writes go to the database first; each process
then learns them from there: at start-up everything stored after the engine was trained
(:meth:`StoreFollower.catch_up`), and while serving, per user and for the catalog, when a
change counter says another process stored something (:mod:`scenescout.cache.versions`).

Interactions are read by id: a user's interactions commit in id order (the store takes a
lock per user on PostgreSQL; SQLite has one writer), so "every id above the last one
learned" is complete for that user and nothing is learned twice.

Not thread-safe: callers serialize calls with the engine's other writes.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from scenescout.domain import User
from scenescout.engine.engine import PersonalizationEngine
from scenescout.storage import Store, StoredInteraction

EVENT_CLOCK_MARGIN = timedelta(seconds=5)
"""Event changes are re-read this far back, for writers whose clocks run a little behind."""


@dataclass
class CatchUp:
    """What one catch-up learned: interactions learned and events refreshed."""

    interactions: int = 0
    events: int = 0


class StoreFollower:
    """Learns, into ``engine``, what other processes stored in ``store``.

    Parameters
    ----------
    engine
        The engine to keep current; its ``learned_through_id`` says which interactions it
        has learned.
    store
        The database every process writes to.
    events_as_of
        When the engine's catalog was read: event changes from then on are applied by the
        first :meth:`catch_up_events`. Default: now.
    """

    def __init__(
        self,
        engine: PersonalizationEngine,
        store: Store,
        *,
        events_as_of: datetime | None = None,
    ) -> None:
        self.engine = engine
        self.store = store
        self._user_through: dict[str, int] = {}
        self._events_since = events_as_of if events_as_of is not None else datetime.now(UTC)

    def learned_through(self, user_id: str) -> int:
        """The highest interaction id of ``user_id`` this engine has learned up to."""
        return max(self.engine.learned_through_id, self._user_through.get(user_id, 0))

    def catch_up(self) -> CatchUp:
        """Learn every interaction stored after the engine's and apply every event change
        since ``events_as_of`` (at start-up, after loading a bundle)."""
        rows = self.store.interactions.after(self.engine.learned_through_id)
        learned = self._learn(rows)
        if rows:
            self.engine.learned_through_id = rows[-1].id
            self._user_through = {
                user: through
                for user, through in self._user_through.items()
                if through > self.engine.learned_through_id
            }
        return CatchUp(interactions=learned, events=self.catch_up_events())

    def catch_up_users(self, user_ids: Collection[str]) -> dict[str, int]:
        """Learn the interactions of ``user_ids`` stored since this engine last did.

        Returns
        -------
        dict[str, int]
            Per user with new interactions, the highest id now learned.
        """
        return self.learn_read(self.read_users(user_ids))

    def read_users(self, user_ids: Collection[str]) -> list[StoredInteraction]:
        """The first half of :meth:`catch_up_users`, which needs no lock: the interactions
        of ``user_ids`` stored since this engine last learned theirs (some may be learned
        by the time :meth:`learn_read` applies them; they are skipped then)."""
        if not user_ids:
            return []
        floor = min(self.learned_through(user) for user in user_ids)
        return self.store.interactions.after(floor, user_ids=user_ids)

    def learn_read(self, rows: Sequence[StoredInteraction]) -> dict[str, int]:
        """The second half of :meth:`catch_up_users`: learn what :meth:`read_users` read
        and not learned since; returns, per user read, the highest id now learned.

        A read is complete up to its own moment for each of its users (their interactions
        commit in id order), and learning skips ids already learned, so reads made in any
        order by several threads learn each interaction once and in id order per user.
        """
        self._learn(rows)
        return {row.interaction.user_id: row.id for row in rows}

    def catch_up_events(self) -> int:
        """Apply every event created, changed or cancelled since the last look; returns how
        many were (re)applied."""
        started = datetime.now(UTC)
        changed = self.store.events.changed_since(self._events_since - EVENT_CLOCK_MARGIN)
        if changed:
            self.engine.catalog.upsert(changed)
        self._events_since = max([started, *(event.updated_at for event in changed)])
        return len(changed)

    def reload_user(self, user_id: str) -> User | None:
        """Re-read a user's home and preferences into their profile; ``None`` (and their
        in-memory state forgotten) when the user no longer exists."""
        user = self.store.users.get(user_id)
        if user is None:
            self.forget(user_id)
            return None
        home = None if user.home is None else (user.home.lat, user.home.lng)
        self.engine.apply_preferences(user_id, user.preferences, home)
        return user

    def forget(self, user_id: str) -> None:
        """Drop what this follower knows of ``user_id``."""
        self._user_through.pop(user_id, None)

    def _learn(self, rows: Sequence[StoredInteraction]) -> int:
        fresh: list[StoredInteraction] = []
        through: dict[str, int] = {}
        for row in rows:
            user_id = row.interaction.user_id
            if row.id > max(self.learned_through(user_id), through.get(user_id, 0)):
                fresh.append(row)
                through[user_id] = row.id
        self.engine.learn_many([row.interaction for row in fresh], notify=False)
        self._user_through.update(through)
        return len(fresh)
