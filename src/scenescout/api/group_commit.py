"""Group commit: requests that arrive while one is being written are written together.

Each interaction request must be durable before it is answered, and one request's write (a
transaction with its commit, then learning, invalidation and a change counter) costs about
the same for one interaction as for fifty. Under concurrent traffic, :class:`GroupCommit`
lets one caller at a time (the leader) process everything queued so far as one batch while
the others wait; the next waiting caller then leads the next batch. Nobody waits on a timer:
a lone request is processed at once, and batches grow only when requests queue up behind a
write in progress.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

RequestT = TypeVar("RequestT")
ResultT = TypeVar("ResultT")


@dataclass(eq=False)
class Pending(Generic[RequestT, ResultT]):
    """One caller's request in a batch; the batch's processor settles it (a result or an
    exception, which is raised to that caller alone)."""

    request: RequestT
    result: ResultT | None = None
    error: BaseException | None = None
    settled: bool = field(default=False, init=False)

    def resolve(self, result: ResultT) -> None:
        self.result, self.settled = result, True

    def fail(self, error: BaseException) -> None:
        self.error, self.settled = error, True


class GroupCommit(Generic[RequestT, ResultT]):
    """Runs ``process`` on batches of concurrent callers' requests, one batch at a time.

    Parameters
    ----------
    process
        Called with the pending requests of one batch, in arrival order; it must settle
        each (:meth:`Pending.resolve` or :meth:`Pending.fail`). If it raises, every request
        it left unsettled fails with that exception.
    max_batch
        Requests per batch at most; the rest wait for the next one.
    """

    def __init__(
        self,
        process: Callable[[Sequence[Pending[RequestT, ResultT]]], None],
        *,
        max_batch: int = 256,
    ) -> None:
        self._process = process
        self._max_batch = max_batch
        self._queue: list[Pending[RequestT, ResultT]] = []
        self._busy = False
        self._changed = threading.Condition()
        self.batches = 0
        """Batches processed so far (for tests and diagnostics)."""

    @property
    def waiting(self) -> int:
        """Requests queued for the next batch."""
        with self._changed:
            return len(self._queue)

    def submit(self, request: RequestT) -> ResultT:
        """Process ``request`` (alone, or with others queued meanwhile) and return its result.

        Raises
        ------
        BaseException
            Whatever the processor settled this request with.
        """
        pending: Pending[RequestT, ResultT] = Pending(request)
        with self._changed:
            self._queue.append(pending)
        while True:
            with self._changed:
                while self._busy and not pending.settled:
                    self._changed.wait()
                if pending.settled:
                    break
                self._busy = True
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
            try:
                self._run(batch)
            finally:
                with self._changed:
                    self._busy = False
                    self.batches += 1
                    self._changed.notify_all()
        if pending.error is not None:
            raise pending.error
        return pending.result  # type: ignore[return-value]

    def _run(self, batch: list[Pending[RequestT, ResultT]]) -> None:
        failure: BaseException
        try:
            self._process(batch)
            failure = RuntimeError("the batch processor left a request unsettled")
        except BaseException as error:  # each caller gets it; the leader is one of them
            failure = error
        for pending in batch:
            if not pending.settled:
                pending.fail(failure)
