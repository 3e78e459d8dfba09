"""Recommendation logs, written off the request path by one background thread.

A request only puts a row on a bounded queue (dropping it, counted, when the queue is full).
The writer thread inserts rows in batches of up to ``batch_size``, at the latest
``flush_interval_seconds`` after the first row of a batch arrived; :meth:`flush` writes
everything queued so far and waits for it, and :meth:`close` flushes and stops the thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
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
        self._on_drop = on_drop
        self._queue: queue.Queue[RecommendationLogRow | _Flush] = queue.Queue(queue_size)
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
        try:
            self._queue.put_nowait(row)
        except queue.Full:
            self._on_drop(1)

    def flush(self) -> None:
        """Write every row queued before this call, and wait until it is written."""
        self._wait_for(_Flush())

    def close(self) -> None:
        """Flush and stop the writer thread."""
        if self._thread is not None and self._thread.is_alive():
            self._wait_for(_Flush(stop=True))
            self._thread.join()

    def _wait_for(self, marker: _Flush) -> None:
        self.start()
        self._queue.put(marker)
        marker.done.wait()

    def _run(self) -> None:
        pending: list[RecommendationLogRow] = []
        deadline = 0.0
        while True:
            timeout = max(0.0, deadline - time.monotonic()) if pending else None
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                self._write(pending)
                continue
            if isinstance(item, _Flush):
                self._write(pending)
                item.done.set()
                if item.stop:
                    return
                continue
            if not pending:
                deadline = time.monotonic() + self._interval_s
            pending.append(item)
            if len(pending) >= self._batch_size:
                self._write(pending)

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
