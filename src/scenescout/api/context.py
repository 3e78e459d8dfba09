"""What every request of one app shares: store, engine, cache, auth, limits, metrics, logs."""

from __future__ import annotations

import gc
import logging
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy.engine import Connection
from threadpoolctl import threadpool_limits

from scenescout.api.auth import Authenticator, Principal
from scenescout.api.errors import ApiError
from scenescout.api.forget import forget_user
from scenescout.api.observability import Metrics
from scenescout.api.ratelimit import RateLimiter
from scenescout.api.reclog import RecommendationLogWriter
from scenescout.api.settings import ApiSettings
from scenescout.cache import CacheBackend
from scenescout.cache.versions import VersionBoard
from scenescout.engine import PersonalizationEngine
from scenescout.engine.bundle import config_digest
from scenescout.engine.sync import StoreFollower
from scenescout.storage import Store

logger = logging.getLogger(__name__)

SERVING_GC_THRESHOLDS = (20_000, 20, 20)
"""``gc.set_threshold`` of a process serving a loaded engine. A request allocates thousands of
container objects that live until it answers; with Python's default (700, 10, 10) young
collections run several times per request and walk objects still in use; rarer ones walk
them less often. ``benchmarks/app_in_process.py --gc-threshold 700`` compares; on this VM
the difference stayed within its noise (README)."""

SERVING_BLAS_THREADS = 1
"""BLAS threads of a process serving a loaded engine. Serving scales with worker processes,
one per core; a BLAS call that woke threads of its own (the matrix-factorization solves of
interaction learning) had them spin on the cores the other workers need: on this VM an
interaction's learning cost four to eight times the instructions it costs on one thread
(a callgrind count, README)."""


class EngineSlot:
    """The engine, given at start or loaded in the background; 503 until it is there,
    and the digest that cached recommendation lists are stamped with.

    Parameters
    ----------
    engine
        A ready engine, or ``None`` to :meth:`load` one.
    """

    def __init__(self, engine: PersonalizationEngine | None = None) -> None:
        self._engine = engine
        self._failure: str | None = None
        self._config_digest = "" if engine is None else config_digest(engine)
        self._catalog_generation = 0

    @property
    def digest(self) -> str:
        """The cache digest: the engine's config, and how often events were added or
        changed here (a cached list cannot know of an event that arrived after it)."""
        return f"{self._config_digest}.{self._catalog_generation}"

    @property
    def config_digest(self) -> str:
        """A hash of the engine's config alone."""
        return self._config_digest

    def catalog_changed(self) -> None:
        """Events were added or changed: lists cached before may miss them."""
        self._catalog_generation += 1

    @property
    def loaded(self) -> bool:
        """Whether requests can be answered."""
        return self._engine is not None

    @property
    def failure(self) -> str | None:
        """Why loading the engine failed, or ``None``."""
        return self._failure

    def get(self) -> PersonalizationEngine:
        """The engine.

        Raises
        ------
        ApiError
            503 while it is loading, or when loading failed.
        """
        if self._engine is None:
            if self._failure is not None:
                raise ApiError(
                    503,
                    "not_ready",
                    f"the recommendation model failed to load ({self._failure}); see the "
                    "server log and restart the service",
                )
            raise ApiError(
                503, "not_ready", "the recommendation model is still loading; retry shortly"
            )
        return self._engine

    def load(self, build: Callable[[], PersonalizationEngine]) -> None:
        """Build the engine (load a bundle, or train from the database) and publish it."""
        try:
            engine = build()
        except Exception as error:
            self._failure = type(error).__name__
            logger.error(
                "loading the engine failed: %s: %s\n%s",
                self._failure,
                error,
                "".join(traceback.format_tb(error.__traceback__)),
            )
            return
        self._config_digest = config_digest(engine)
        # The engine is hundreds of thousands of long-lived objects: every full collection
        # of the cyclic garbage collector would walk them all (172 ms at 50k users, see
        # benchmarks/engine_latency.py), a stall every request in flight waits out. Frozen,
        # the collector leaves them alone; what is made later is collected as usual.
        gc.collect()
        gc.freeze()
        gc.set_threshold(*SERVING_GC_THRESHOLDS)
        threadpool_limits(limits=SERVING_BLAS_THREADS, user_api="blas")
        self._engine = engine


class Coherence:
    """What keeps this process's engine and L1 cache in step with its own writes and with
    the other processes.

    Interactions are learned after they are acknowledged, not before: a request stores
    them, tells every process (:meth:`interactions_stored`) and is answered; a learner
    thread then learns them. Every read of a user's state calls :meth:`sync` first, which
    learns what is stored and not learned yet for that user, so nobody is ever answered
    from a state that misses an acknowledged interaction.

    With a :class:`~scenescout.cache.versions.VersionBoard` (Redis configured), each
    request reads the catalog's and its user's change counters, and learns what another
    process stored before answering (see :mod:`scenescout.engine.sync`); the counters are
    part of the cache digest. Without one, the process only knows its own writes.

    Parameters
    ----------
    board
        The shared counters, or ``None``.
    write_lock
        The lock that serializes the engine's writes.
    """

    def __init__(self, board: VersionBoard | None, write_lock: threading.Lock) -> None:
        self.board = board
        self.follower: StoreFollower | None = None
        self._write_lock = write_lock
        self._seen_catalog: int | None = None
        self._seen_profile: dict[str, int] = {}
        # Per user, the highest interaction id this process stored and may not have learned.
        self._stored: dict[str, int] = {}
        self._stored_lock = threading.Lock()
        self._learner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scenescout-learn")
        self._learning: Future[None] | None = None

    def follow(self, follower: StoreFollower) -> None:
        """Start following the database with ``follower`` (once the engine is loaded)."""
        self.follower = follower

    def sync(self, user_id: str) -> str:
        """Catch up with the writes, this process's or others', that concern
        ``user_id``'s request.

        Returns
        -------
        str
            The part of the cache digest the shared counters give ("" without them).
        """
        board, follower = self.board, self.follower
        if follower is None:
            return ""
        # Without the shared counters (no Redis, or Redis down) only this process's own
        # writes are known: its stored interactions, nothing of events or profiles.
        versions = None if board is None else board.read(user_id)
        stored = self._stored.get(user_id, 0)
        if versions is not None:
            stored = max(stored, versions.interactions_through)
        stale_interactions = stored > follower.learned_through(user_id)
        stale_events = versions is not None and versions.catalog != self._seen_catalog
        stale_profile = versions is not None and versions.profile != self._seen_profile.get(
            user_id, 0
        )
        if stale_events or stale_interactions or stale_profile:
            # The user's new interactions are read before taking the lock (see learn_read).
            rows = follower.read_users([user_id]) if stale_interactions else []
            with self._write_lock:
                if versions is not None and stale_events:  # first: rows may name new events
                    follower.catch_up_events()
                    self._seen_catalog = versions.catalog
                if rows:
                    follower.learn_read(rows)
                if versions is not None and stale_profile:
                    if follower.reload_user(user_id) is None:
                        forget_user(follower.engine, user_id)
                    self._seen_profile[user_id] = versions.profile
        if versions is None:
            return "" if board is None else "local"
        return versions.digest

    def interactions_stored(self, through: Mapping[str, int]) -> None:
        """This process just stored interactions, up to ``through[user]`` per user: tell the
        other processes, and have them learned here soon (before any read of those users'
        state, see :meth:`sync`). Call before acknowledging them."""
        if self.follower is None or not through:
            return
        with self._stored_lock:
            for user_id, interaction_id in through.items():
                if interaction_id > self._stored.get(user_id, 0):
                    self._stored[user_id] = interaction_id
            if self._learning is None:
                self._learning = self._learner.submit(self._learn_stored)
        if self.board is not None:
            self.board.interactions_stored(dict(through))

    def learned(self, timeout: float | None = None) -> bool:
        """Wait until every interaction this process stored so far is learned.

        Returns
        -------
        bool
            ``False`` when ``timeout`` seconds passed first.
        """
        with self._stored_lock:
            learning = self._learning
        if learning is None:
            return True
        try:
            learning.result(timeout)
        except FutureTimeout:
            return False
        return self.learned(timeout)

    def close(self) -> None:
        """Learn what is stored and not learned yet, then stop the learner thread."""
        self._learner.shutdown(wait=True)

    def _learn_stored(self) -> None:
        """On the learner thread: learn every user's stored interactions not learned yet,
        in batches (the requests stored meanwhile are learned together in the next)."""
        follower = self.follower
        assert follower is not None
        while True:
            with self._stored_lock:
                pending = {
                    user_id: through
                    for user_id, through in self._stored.items()
                    if through > follower.learned_through(user_id)
                }
                if not pending:
                    self._stored.clear()
                    self._learning = None
                    return
            try:
                # Read under the lock: an erasure cannot come between the read and the
                # learning and leave the erased user's state behind.
                with self._write_lock:
                    follower.learn_read(follower.read_users(list(pending)))
            except Exception:
                # The rows are durable and stay pending: the users' next reads (sync) learn
                # them, and so does this thread when the next interaction wakes it.
                logger.exception("learning %d users' new interactions failed", len(pending))
                with self._stored_lock:
                    self._learning = None
                return
            with self._stored_lock:
                for user_id, through in pending.items():
                    if self._stored.get(user_id) == through:
                        del self._stored[user_id]

    def profile_changed(self, user_id: str) -> None:
        """This process changed a user's preferences, home or existence."""
        if self.board is not None:
            self.board.profile_changed(user_id)

    def user_erased(self, user_id: str) -> None:
        """This process erased a user: every process drops them."""
        if self.follower is not None:
            self.follower.forget(user_id)
        self._seen_profile.pop(user_id, None)
        with self._stored_lock:
            self._stored.pop(user_id, None)
        if self.board is not None:
            self.board.user_erased(user_id)

    def catalog_changed(self) -> None:
        """This process created, changed or cancelled events."""
        if self.board is not None:
            self.board.catalog_changed()


@dataclass
class ServiceContext:
    """The shared state of one app; services read everything from here.

    Attributes
    ----------
    write_lock
        Serializes changes to the engine's in-memory state (learning from interactions,
        preferences, erasure): the engine does not lock its own writes.
    """

    settings: ApiSettings
    store: Store
    engines: EngineSlot
    cache: CacheBackend
    authenticator: Authenticator
    limiter: RateLimiter
    metrics: Metrics
    logs: RecommendationLogWriter
    write_lock: threading.Lock = field(default_factory=threading.Lock)
    coherence: Coherence = field(init=False)

    def __post_init__(self) -> None:
        self.coherence = Coherence(None, self.write_lock)

    def digest_for(self, user_id: str) -> str:
        """The cache digest of ``user_id``'s requests, after catching up with every write
        of other processes that concerns them."""
        shared = self.coherence.sync(user_id)
        if shared and shared != "local":
            # The shared catalog counter moves on every event change in any process, this
            # one included: the local change count would only keep workers from sharing L2.
            return f"{self.engines.config_digest}.{shared}"
        return f"{self.engines.digest}.{shared}" if shared else self.engines.digest

    @contextmanager
    def reading_for(self, principal: Principal, user_id: str) -> Iterator[Connection]:
        """A connection to read ``user_id``'s own rows: under row-level security (PostgreSQL)
        when a user token acts, the service's own otherwise."""
        if principal.user_id is not None:
            with self.store.db.acting_for_user(user_id) as connection:
                yield connection
        else:
            with self.store.db.engine.connect() as connection:
                yield connection
