"""Write-behind for L2: entries go to Redis from one background thread, in pipelined batches.

A cache fill is the last step of a cache miss. Written inline, each fill is a Redis round trip
on the request path: the caller waits for the reply (with an async route, its whole event loop
does), and every fill pays redis-py's per-command overhead alone. Queued here instead, the
caller returns as soon as L1 holds the entry, and the writer sends whatever queued meanwhile
in one pipeline. Submitting does not wake the writer: it sends every ``interval_seconds``
(sooner when a full batch waits, or a flush asks), so a busy server pays one thread wake-up
and one pipeline per interval rather than per miss. The cost is that another process may
find an entry in L2 up to one interval later; it computes the list itself meanwhile.

Ordering: :meth:`WriteBehind.flush` waits until every entry queued before the call is written
(or failed). The cache flushes before each invalidation, so an entry queued before an
invalidation cannot land in Redis after it and survive it.

A full queue (Redis slower than the traffic) drops new entries: they were cached in L1
already, and a dropped L2 fill only costs another process a miss.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Final, NamedTuple

logger = logging.getLogger(__name__)

DEFAULT_MAX_PENDING: Final = 10_000
"""Entries that may wait for Redis before new ones are dropped."""
MAX_BATCH: Final = 256
"""Entries per pipeline at most."""
DEFAULT_INTERVAL_SECONDS: Final = 0.05
"""How often the writer sends what queued (sooner for a full batch or a flush)."""


class PendingPut(NamedTuple):
    """One L2 entry waiting to be written."""

    key: str
    user_id: str
    payload: bytes
    event_ids: tuple[str, ...]


class WriteBehind:
    """One writer thread that sends queued entries to ``write`` in batches.

    Parameters
    ----------
    write
        Writes one batch (``RedisStore.put_many``); may raise, which ``on_error`` hears.
    on_error
        Called on the writer thread with the exception of a failed batch (whose entries
        are lost) and the batch's size.
    on_drop
        Called with the number of entries refused because the queue was full.
    max_pending
        Queue bound.
    interval_seconds
        How often the writer sends what queued; a full batch or :meth:`flush` sends at once.
    """

    def __init__(
        self,
        write: Callable[[Sequence[PendingPut]], None],
        *,
        on_error: Callable[[Exception, int], None],
        on_drop: Callable[[int], None],
        max_pending: int = DEFAULT_MAX_PENDING,
        interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
    ) -> None:
        self._write = write
        self._interval_s = interval_seconds
        self._flushes = 0
        self._on_error = on_error
        self._on_drop = on_drop
        self._max_pending = max_pending
        self._queue: collections.deque[PendingPut] = collections.deque()
        self._changed = threading.Condition()
        self._submitted = 0
        self._finished = 0
        self._stopping = False
        self._thread = threading.Thread(
            target=self._run, name="scenescout-cache-l2-writer", daemon=True
        )
        self._thread.start()

    def submit(self, put: PendingPut) -> bool:
        """Queue one entry without waiting; ``False`` (and ``on_drop``) when it is refused
        because the queue is full or the writer stopped."""
        with self._changed:
            accepted = not self._stopping and len(self._queue) < self._max_pending
            if accepted:
                self._queue.append(put)
                self._submitted += 1
                if len(self._queue) >= MAX_BATCH:
                    self._changed.notify_all()
        if not accepted:
            self._on_drop(1)
        return accepted

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every entry queued before this call is written or failed.

        Returns
        -------
        bool
            ``False`` if ``timeout`` seconds passed first.
        """
        with self._changed:
            target = self._submitted
            self._flushes += 1
            self._changed.notify_all()
            try:
                return self._changed.wait_for(lambda: self._finished >= target, timeout)
            finally:
                self._flushes -= 1

    @property
    def pending(self) -> int:
        """Entries queued or being written."""
        with self._changed:
            return self._submitted - self._finished

    def close(self, timeout: float | None = None) -> None:
        """Write what is queued, then stop the thread (new entries are refused)."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(
                    lambda: self._stopping or self._flushes > 0 or len(self._queue) >= MAX_BATCH,
                    self._interval_s,
                )
                if not self._queue:
                    if self._stopping:
                        return  # nothing left to write
                    if self._flushes:
                        # A flush woken by the batch just written has yet to see it: without
                        # this wait the predicate above would stay true and the loop spin.
                        self._changed.wait(self._interval_s)
                    continue
                count = min(len(self._queue), MAX_BATCH)
                batch = [self._queue.popleft() for _ in range(count)]
            try:
                self._write(batch)
            except Exception as error:  # the thread must outlive any failure
                try:
                    self._on_error(error, len(batch))
                except Exception:
                    logger.exception("the L2 write-behind error handler failed")
            finally:
                with self._changed:
                    self._finished += len(batch)
                    self._changed.notify_all()
