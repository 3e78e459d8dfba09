"""What each endpoint does, away from HTTP: routes call one method each.

Every method takes the calling :class:`~scenescout.api.auth.Principal` and enforces what it
may do: user tokens act on their own user only; events and user creation need a service key.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from scenescout.api.auth import Principal
from scenescout.api.context import ServiceContext
from scenescout.api.errors import ApiError, not_found
from scenescout.api.forget import forget_user, remaining_user_state
from scenescout.api.group_commit import GroupCommit, Pending
from scenescout.api.reclog import RecommendationLogRow
from scenescout.api.repository import (
    existing_ids,
    owned_rows,
    row_counts,
    stored_preferences,
    user_row,
)
from scenescout.api.schemas import (
    ErasureData,
    ErasureStatus,
    EventBatch,
    EventBulkData,
    InteractionBatch,
    InteractionOutcome,
    InteractionsData,
    PreferencesUpdate,
    ProfileData,
    ProfileView,
    ReadyData,
    RecommendationData,
    SimilarEventsData,
    SimilarEventsQuery,
    SimilarEventView,
    UserExport,
)
from scenescout.domain import Event, EventStatus, Interaction, User, UserPreferences, utc_now
from scenescout.domain.recommendation import (
    Performance,
    RecommendationRequest,
    RecommendationResult,
)
from scenescout.engine import COLD_START, PersonalizationEngine
from scenescout.profiles import UserProfile, profile_to_json
from scenescout.storage import StorageError, schema

_CREATE_USER_HINT = "; create it with POST /api/users"


def _home(row: dict[str, Any]) -> tuple[float, float] | None:
    lat, lng = row["home_lat"], row["home_lng"]
    return None if lat is None or lng is None else (float(lat), float(lng))


class _Service:
    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    def _user_row(self, user_id: str) -> dict[str, Any]:
        with self.context.store.db.engine.connect() as connection:
            row = user_row(connection, user_id)
        if row is None:
            raise not_found("user", user_id, _CREATE_USER_HINT)
        return row


class RecommendationService(_Service):
    """Recommendations (cache, engine, metrics, log) and content-similar events."""

    def recommend(self, principal: Principal, request: RecommendationRequest) -> RecommendationData:
        """The seed's recommendations for ``request.user_id``.

        A cache hit is served as it was stored, with the entry's ``cache_info`` (hit, TTL
        left) and the time of this lookup as ``performance``. Every answer is queued for
        ``recommendation_logs``.
        """
        principal.require_user(request.user_id)
        context = self.context
        started = time.perf_counter()
        engine = context.engines.get()
        digest = context.digest_for(request.user_id)
        cached = context.cache.get(request.user_id, request, digest)
        hit = cached is not None
        if cached is not None:
            stored = RecommendationResult.model_validate(cached.value)
            result = stored.model_copy(
                update={
                    "cache_info": cached.cache_info(),
                    "performance": Performance(
                        total_time_ms=(time.perf_counter() - started) * 1e3,
                        db_time_ms=0.0,
                        ml_time_ms=0.0,
                    ),
                }
            )
        else:
            result = engine.get_recommendations(request)
            context.cache.set(
                request.user_id,
                request,
                digest,
                result.model_dump_json().encode(),
                [item.event_id for item in result.recommendations],
            )
        outcome = "hit" if hit else "miss"
        context.metrics.cache_lookups.labels(outcome).inc()
        context.metrics.recommendation_seconds.labels(outcome).observe(
            time.perf_counter() - started
        )
        context.logs.submit(_log_row(request, result))
        return RecommendationData(
            recommendations=result.recommendations,
            cache_info=result.cache_info,
            performance=result.performance,
        )

    def similar_events(self, query: SimilarEventsQuery) -> SimilarEventsData:
        """Upcoming events most similar in content to an event or to free text."""
        engine = self.context.engines.get()
        try:
            found = engine.similar_events(query.event_id, query.text, k=query.limit)
        except KeyError:
            raise not_found(
                "event", str(query.event_id), " among upcoming events (ended or unknown)"
            ) from None
        except ValueError as error:
            raise ApiError(503, "unavailable", f"similar events are unavailable: {error}") from None
        return SimilarEventsData(
            similar_events=[
                SimilarEventView(event_id=item.event_id, similarity=item.similarity)
                for item in found
            ]
        )


def _log_row(request: RecommendationRequest, result: RecommendationResult) -> RecommendationLogRow:
    # The engine serves cold users with the discovery preset unless the request names one.
    variant = request.preset or ("discovery" if result.fallback == COLD_START else "default")
    return RecommendationLogRow(
        user_id=request.user_id,
        request=request.model_dump(mode="json"),
        variant=variant,
        items=[item.event_id for item in result.recommendations],
        scores=[item.score for item in result.recommendations],
        timings=result.performance.model_dump(),
        created_at=utc_now(),
    )


class ProfileService(_Service):
    """Explicit preferences, learned profiles and the interaction write path."""

    def __init__(self, context: ServiceContext) -> None:
        super().__init__(context)
        self._commits: GroupCommit[list[Interaction], list[tuple[int, bool]]] = GroupCommit(
            self._record_batch
        )

    def get(self, principal: Principal, user_id: str) -> ProfileData:
        """A user's stored preferences and the engine's learned profile."""
        principal.require_user(user_id)
        engine = self.context.engines.get()
        self._user_row(user_id)
        with self.context.reading_for(principal, user_id) as connection:
            preferences = stored_preferences(connection, user_id)
        self.context.coherence.sync(user_id)  # learn what is stored and not learned yet
        profile = engine.profiles.get(user_id) or UserProfile(user_id=user_id)
        return ProfileData(
            user_id=user_id, preferences=preferences, profile=ProfileView.from_profile(profile)
        )

    def set_preferences(self, principal: Principal, update: PreferencesUpdate) -> ProfileData:
        """Store explicit preferences, then blend them into the in-memory profile at once."""
        principal.require_user(update.user_id)
        context = self.context
        engine = context.engines.get()
        row = self._user_row(update.user_id)
        context.store.users.set_preferences(update.user_id, update.preferences)
        with context.write_lock:
            profile = engine.apply_preferences(update.user_id, update.preferences, _home(row))
        context.coherence.profile_changed(update.user_id)
        context.cache.invalidate_user(update.user_id)
        return ProfileData(
            user_id=update.user_id,
            preferences=update.preferences,
            profile=ProfileView.from_profile(profile),
        )

    async def record(
        self, principal: Principal, body: Interaction | InteractionBatch
    ) -> InteractionsData:
        """Store all interactions in one transaction; they are learned in order.

        A request that refers to an unknown user or event stores nothing (404 or 422).
        The interactions are durable before the response; a repeated idempotency key (even
        within the request) is a ``duplicate`` and is not learned twice. The users' cached
        lists are invalidated. Learning happens just after the answer, on a learner thread;
        every process, this one included, learns a user's acknowledged interactions before
        it next reads that user's state (:meth:`~scenescout.api.context.Coherence.sync`).

        Concurrent requests are written together (:mod:`scenescout.api.group_commit`): one
        transaction, one counter update and one invalidation for the batch, on the
        service's writer thread, each request still answered with its own outcome (or its
        own error). Call on the event loop.
        """
        interactions = body.interactions if isinstance(body, InteractionBatch) else [body]
        for user_id in dict.fromkeys(i.user_id for i in interactions):
            principal.require_user(user_id)
        self.context.engines.get()  # 503 before queueing while the engine loads
        stored = await self._commits.submit(list(interactions))
        results = [
            InteractionOutcome(
                index=index,
                interaction_id=interaction_id,
                idempotency_key=interaction.idempotency_key,
                status="created" if created else "duplicate",
            )
            for index, (interaction, (interaction_id, created)) in enumerate(
                zip(interactions, stored, strict=True)
            )
        ]
        created = sum(result.status == "created" for result in results)
        return InteractionsData(results=results, created=created, duplicates=len(results) - created)

    def close(self) -> None:
        """Finish the interaction batch being written and stop the writer thread."""
        self._commits.close()

    def _record_batch(
        self, batch: Sequence[Pending[list[Interaction], list[tuple[int, bool]]]]
    ) -> None:
        """Store, announce and invalidate for several requests at once (see
        :meth:`record`); a request whose write fails fails alone."""
        try:
            # Usually every user and event exists: store the batch in one transaction and
            # let the foreign keys object (nothing is stored then), rather than ask first.
            stored = self.context.store.interactions.add_many(
                [i for pending in batch for i in pending.request]
            )
        except Exception:
            # An unknown reference, or a failed write: check first, then store what is
            # valid, request by request if the batch fails again.
            self._record_checked(batch)
            return
        self._finish(batch, _split(stored, batch))

    def _record_checked(
        self, batch: Sequence[Pending[list[Interaction], list[tuple[int, bool]]]]
    ) -> None:
        """:meth:`_record_batch` when the batch's write failed: requests that refer to an
        unknown user or event fail with a 404 or 422, the others are stored."""
        context = self.context
        engine = context.engines.get()
        missing = self._missing_references(engine, [i for p in batch for i in p.request])
        accepted = []
        for pending in batch:
            try:
                self._raise_if_missing(pending.request, *missing)
            except ApiError as error:
                pending.fail(error)
            else:
                accepted.append(pending)
        if not accepted:
            return
        outcomes: list[list[tuple[int, bool]] | BaseException]
        try:
            stored = context.store.interactions.add_many([i for p in accepted for i in p.request])
        except Exception:
            if len(accepted) == 1:
                raise
            outcomes = [self._store_alone(pending.request) for pending in accepted]
        else:
            outcomes = list(_split(stored, accepted))
        self._finish(accepted, outcomes)

    def _finish(
        self,
        accepted: Sequence[Pending[list[Interaction], list[tuple[int, bool]]]],
        outcomes: Sequence[list[tuple[int, bool]] | BaseException],
    ) -> None:
        """Tell every process about the stored interactions (they learn them before they
        next answer for their users), invalidate the users' cached lists, then settle every
        request with its outcome."""
        context = self.context
        through: dict[str, int] = {}
        for pending, outcome in zip(accepted, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                continue
            for interaction, (interaction_id, _) in zip(pending.request, outcome, strict=True):
                user_id = interaction.user_id
                through[user_id] = max(through.get(user_id, 0), interaction_id)
        if through:
            context.coherence.interactions_stored(through)
            context.cache.invalidate_users(list(through))
        for pending, outcome in zip(accepted, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                pending.fail(outcome)
            else:
                pending.resolve(outcome)

    def _store_alone(self, interactions: list[Interaction]) -> list[tuple[int, bool]] | Exception:
        try:
            return self.context.store.interactions.add_many(interactions)
        except Exception as error:
            return error

    def _missing_references(
        self, engine: PersonalizationEngine, interactions: Sequence[Interaction]
    ) -> tuple[set[str], set[str]]:
        """The users and the events of ``interactions`` that are not stored."""
        user_ids = {i.user_id for i in interactions}
        # Events still in the catalog exist; only the others (e.g. past ones) are looked up.
        event_ids = {
            i.event_id for i in interactions if engine.catalog.index_of(i.event_id) is None
        }
        with self.context.store.db.engine.connect() as connection:
            missing_users = user_ids - existing_ids(connection, schema.users, user_ids)
            missing_events = event_ids - existing_ids(connection, schema.events, event_ids)
        return missing_users, missing_events

    @staticmethod
    def _raise_if_missing(
        interactions: Sequence[Interaction], users: set[str], events: set[str]
    ) -> None:
        missing_users = sorted({i.user_id for i in interactions} & users)
        missing_events = sorted({i.event_id for i in interactions} & events)
        if missing_users:
            raise ApiError(
                404,
                "not_found",
                f"user {missing_users[0]!r} does not exist{_CREATE_USER_HINT}",
                {"missing_users": missing_users},
            )
        if missing_events:
            raise ApiError(
                422,
                "unknown_reference",
                f"event {missing_events[0]!r} does not exist; interactions must refer to "
                "stored events (create them with POST /api/events)",
                {"missing_events": missing_events},
            )


def _split(
    stored: list[tuple[int, bool]],
    batch: Sequence[Pending[list[Interaction], list[tuple[int, bool]]]],
) -> list[list[tuple[int, bool]]]:
    """The outcomes of one write of a batch, split back into its requests."""
    outcomes, start = [], 0
    for pending in batch:
        outcomes.append(stored[start : start + len(pending.request)])
        start += len(pending.request)
    return outcomes


class EventService(_Service):
    """Event ingestion: store first, then the catalog snapshot, then the cache.

    Cached lists that hold a changed or cancelled event are invalidated; a new or changed
    event also moves the cache digest on, so no list cached before it is served again.
    """

    def create(self, principal: Principal, event: Event) -> Event:
        """Store a new event and add it to the catalog.

        Raises
        ------
        ApiError
            409 when an event with this id exists.
        """
        principal.require_service("creating events")
        if self.context.store.events.get(event.id) is not None:
            raise ApiError(
                409,
                "conflict",
                f"event {event.id!r} already exists; change it with PUT /api/events/{event.id}",
            )
        return self._write([event])[0]

    def update(self, principal: Principal, event_id: str, event: Event) -> Event:
        """Replace a stored event (its ``created_at`` is kept)."""
        principal.require_service("changing events")
        if event.id != event_id:
            raise ApiError(
                400,
                "id_mismatch",
                f"the body's id {event.id!r} differs from the path's {event_id!r}; "
                "an event's id cannot change",
            )
        if self.context.store.events.get(event_id) is None:
            raise not_found("event", event_id, "; create it with POST /api/events")
        return self._write([event])[0]

    def cancel(self, principal: Principal, event_id: str) -> Event:
        """Mark an event cancelled: it is never recommended again."""
        principal.require_service("cancelling events")
        context = self.context
        if not context.store.events.set_status(event_id, EventStatus.CANCELLED):
            raise not_found("event", event_id)
        context.engines.get().catalog.cancel(event_id)
        context.coherence.catalog_changed()
        context.cache.invalidate_event(event_id)
        return self._stored(event_id)

    def bulk(self, principal: Principal, batch: EventBatch) -> EventBulkData:
        """Create or replace many events at once."""
        principal.require_service("importing events")
        ids = [event.id for event in batch.events]
        with self.context.store.db.engine.connect() as connection:
            existing = existing_ids(connection, schema.events, ids)
        self._write(batch.events)
        return EventBulkData(
            created=[i for i in ids if i not in existing],
            updated=[i for i in ids if i in existing],
        )

    def _write(self, events: Sequence[Event]) -> list[Event]:
        context = self.context
        engine = context.engines.get()
        now = utc_now()
        stamped = [event.model_copy(update={"updated_at": now}) for event in events]
        try:
            context.store.events.upsert(stamped)
        except StorageError as error:
            raise ApiError(
                422, "unknown_reference", f"{error}; create the venue first or leave venue_id out"
            ) from None
        engine.catalog.upsert(stamped)
        context.engines.catalog_changed()
        context.coherence.catalog_changed()
        for event in stamped:
            context.cache.invalidate_event(event.id)
        return [self._stored(event.id) for event in stamped]

    def _stored(self, event_id: str) -> Event:
        event = self.context.store.events.get(event_id)
        if event is None:
            raise not_found("event", event_id)
        return event


class UserService(_Service):
    """Users, and their GDPR rights: access (export) and erasure."""

    def create(self, principal: Principal, user: User) -> User:
        """Store a new user; their home and preferences reach the engine at once."""
        principal.require_service("creating users")
        context = self.context
        engine = context.engines.get()
        with context.store.db.engine.connect() as connection:
            if user_row(connection, user.id) is not None:
                raise ApiError(409, "conflict", f"user {user.id!r} already exists")
        context.store.users.upsert([user])
        home = None if user.home is None else (user.home.lat, user.home.lng)
        with context.write_lock:
            engine.apply_preferences(user.id, user.preferences, home)
        context.coherence.profile_changed(user.id)
        return user

    def get(self, principal: Principal, user_id: str) -> User:
        """A stored user with their preferences."""
        principal.require_user(user_id)
        row = self._user_row(user_id)
        with self.context.reading_for(principal, user_id) as connection:
            preferences = stored_preferences(connection, user_id)
        return User.model_validate({**row, "preferences": preferences})

    def export(self, principal: Principal, user_id: str) -> UserExport:
        """Everything stored about a user: their row, every user-owned row, the profile."""
        principal.require_user(user_id)
        context = self.context
        engine = context.engines.get()
        row = self._user_row(user_id)
        context.logs.flush()
        with context.reading_for(principal, user_id) as connection:
            records = owned_rows(connection, user_id)
        interactions = records.pop("user_interactions")
        stored = records["user_preferences"]
        preferences = UserPreferences.model_validate(stored[0]["preferences"] if stored else {})
        context.coherence.sync(user_id)  # learn what is stored and not learned yet
        profile = engine.profiles.get(user_id)
        return UserExport(
            user=User.model_validate({**row, "preferences": preferences}),
            preferences=preferences,
            interactions=interactions,
            profile=None if profile is None else profile_to_json(profile),
            records=records,
        )

    def delete(self, principal: Principal, user_id: str) -> ErasureData:
        """Erase a user: every table, every cache entry, the profile, exclusions and model
        state. Queued recommendation logs are written first, so they are erased too.

        Raises
        ------
        ApiError
            404 when neither the database nor the engine knew the user.
        """
        principal.require_user(user_id)
        context = self.context
        engine = context.engines.get()
        context.logs.flush()
        with context.write_lock:
            deleted = context.store.users.delete(user_id)
            held = forget_user(engine, user_id)
        context.coherence.user_erased(user_id)
        context.cache.invalidate_user(user_id)
        if not deleted and not held:
            raise not_found("user", user_id)
        return ErasureData(
            user_id=user_id,
            deleted_from_database=deleted,
            model_state=held,
            cache_invalidated=True,
        )

    def erasure_status(self, principal: Principal, user_id: str) -> ErasureStatus:
        """What is left of a user: rows per user table, places in the engine's memory."""
        principal.require_service("checking erasure")
        engine = self.context.engines.get()
        self.context.coherence.sync(user_id)  # learn of an erasure another process made
        with self.context.store.db.engine.connect() as connection:
            counts = row_counts(connection, user_id)
        state = remaining_user_state(engine, user_id)
        return ErasureStatus(
            user_id=user_id,
            erased=not any(counts.values()) and not state,
            database_rows=counts,
            model_state=state,
        )


class HealthService(_Service):
    """Readiness: the database answers and the catalog is loaded."""

    def ready(self) -> ReadyData:
        """Raises ``ApiError`` 503 (with what is missing) unless ready."""
        try:
            with self.context.store.db.engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
            database = True
        except sa.exc.SQLAlchemyError:
            database = False
        engines = self.context.engines
        if not (database and engines.loaded):
            raise ApiError(
                503,
                "not_ready",
                "not ready: "
                + ", ".join(
                    what
                    for what, ok in (
                        ("the database is unreachable", database),
                        (
                            "the catalog is still loading"
                            if engines.failure is None
                            else f"the model failed to load ({engines.failure}); see the "
                            "server log and restart the service",
                            engines.loaded,
                        ),
                    )
                    if not ok
                ),
                {"database": database, "catalog_loaded": engines.loaded},
            )
        return ReadyData(database=True, catalog_events=len(engines.get().catalog))


class Services:
    """Every service of one app, built on one :class:`ServiceContext`."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context
        self.recommendations = RecommendationService(context)
        self.profiles = ProfileService(context)
        self.events = EventService(context)
        self.users = UserService(context)
        self.health = HealthService(context)
