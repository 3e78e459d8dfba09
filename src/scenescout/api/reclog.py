"""Recommendation logs, written off the request path by one background thread.

A request only puts a row on a bounded queue (dropping it, counted, when the queue is full).
The writer thread inserts rows in batches of up to ``batch_size``, at the latest
``flush_interval_seconds`` after the first row of a batch arrived; :meth:`flush` writes
everything queued so far and waits for it, and :meth:`close` flushes and stops the thread.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from scenescout.api.repository import RecommendationLogRow, insert_recommendation_logs
from scenescout.storage import Database

logger = logging.getLogger(__name__)


@dataclass
class _Flush:
    """A marker: write what is pending, then set ``done``; ``stop`` ends the thread."""

    stop: bool = False
    done: threading.Event = field(default_factory=threading.Event)


class RecommendationLogWriter:
    """Batches :class:`~scenescout.api.repository.RecommendationLogRow` into the database.

    Parameters
    ----------
    db
        Where ``recommendation_logs`` lives.
    flush_interval_seconds
        Longest time a row waits before its batch is written.
    batch_size
        Rows per insert at most.
    queue_size
        Rows that may wait; beyond it :meth:`submit` drops rows.
    on_drop
        Called with the number of rows dropped (queue full or a failed write).
    """

    def __init__(
        self,
        db: Database,
        *,
        flush_interval_seconds: float,
        batch_size: int,
        queue_size: int,
        on_drop: Callable[[int], None],
    ) -> None:
        self._db = db
        self._interval_s = flush_interval_seconds
        self._batch_size = batch_size
        self._queue_size = queue_size
        self._on_drop = on_drop
        # Rows wait in a deque the writer drains every interval, or sooner when a batch is
        # full: submitting does not wake the writer thread for every row.
        self._rows: collections.deque[RecommendationLogRow] = collections.deque()
        self._markers: queue.SimpleQueue[_Flush] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="scenescout-recommendation-logs", daemon=True
                )
                self._thread.start()

    def submit(self, row: RecommendationLogRow) -> None:
        """Queue one row without waiting; drop it when the queue is full."""
        if len(self._rows) >= self._queue_size:
            self._on_drop(1)
            return
        self._rows.append(row)
        if len(self._rows) >= self._batch_size:
            self._wake.set()

    def flush(self) -> None:
        """Write every row queued before this call, and wait until it is written."""
        self._wait_for(_Flush())

    def close(self) -> None:
        """Flush (starting the thread if rows wait for it) and stop the writer thread."""
        running = self._thread is not None and self._thread.is_alive()
        if running or self._rows:
            self._wait_for(_Flush(stop=True))
            assert self._thread is not None
            self._thread.join()

    def _wait_for(self, marker: _Flush) -> None:
        self.start()
        self._markers.put(marker)
        self._wake.set()
        marker.done.wait()

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval_s)
            self._wake.clear()
            self._drain()
            while True:
                try:
                    marker = self._markers.get_nowait()
                except queue.Empty:
                    break
                # Rows submitted before the marker was queued are in the deque now.
                self._drain()
                marker.done.set()
                if marker.stop:
                    return

    def _drain(self) -> None:
        """Write every queued row, ``batch_size`` per insert."""
        while self._rows:
            batch: list[RecommendationLogRow] = []
            while self._rows and len(batch) < self._batch_size:
                batch.append(self._rows.popleft())
            self._write(batch)

    def _write(self, pending: list[RecommendationLogRow]) -> None:
        rows: Sequence[RecommendationLogRow] = list(pending)
        pending.clear()
        if not rows:
            return
        try:
            with self._db.transaction() as connection:
                insert_recommendation_logs(connection, rows)
        except Exception as error:
            # Logging must never take the service down: count the loss and carry on.
            logger.warning(
                "dropped %d recommendation log rows: %s", len(rows), type(error).__name__
            )
            self._on_drop(len(rows))
