"""Group commit: requests that arrive while one batch is being written are written together.

Each interaction request must be durable before it is answered, and one request's write (a
transaction with its commit, then invalidation and a change counter) costs about the same
for one interaction as for fifty. :class:`GroupCommit` runs the writes on one writer
thread, one batch at a time: a request that arrives while a batch is being written queues,
and the next batch takes everything queued. Nobody waits on a timer: a lone request is
written at once, and batches grow only when requests queue up behind a write in progress.

Callers are coroutines on the event loop. A caller costs a queue append and a future, not a
thread: the loop hands a whole batch to the writer thread and wakes once when it is done,
so a burst of requests causes one thread handoff per batch, not one (or several) per
request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
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
    """Runs ``process`` on batches of concurrent callers' requests, one batch at a time, on
    a writer thread of its own.

    Parameters
    ----------
    process
        Called on the writer thread with the pending requests of one batch, in arrival
        order; it must settle each (:meth:`Pending.resolve` or :meth:`Pending.fail`). If it
        raises, every request it left unsettled fails with that exception.
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
        self._queue: list[tuple[Pending[RequestT, ResultT], asyncio.Future[ResultT]]] = []
        self._writer: ThreadPoolExecutor | None = None
        self._drainer: asyncio.Task[None] | None = None
        self.batches = 0
        """Batches processed so far (for tests and diagnostics)."""

    @property
    def waiting(self) -> int:
        """Requests queued for the next batch."""
        return len(self._queue)

    async def submit(self, request: RequestT) -> ResultT:
        """Process ``request`` (alone, or with others queued meanwhile) and return its result.

        Call on the event loop that all of this instance's callers share. A caller that is
        cancelled while its batch is being written does not stop the write.

        Raises
        ------
        BaseException
            Whatever the processor settled this request with.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ResultT] = loop.create_future()
        self._queue.append((Pending(request), future))
        if self._drainer is None or self._drainer.get_loop() is not loop:
            # (a drainer of another loop is one that loop left behind when it stopped)
            self._drainer = loop.create_task(self._drain())
        return await future

    def close(self) -> None:
        """Wait for the batch being written, then stop the writer thread (a later
        :meth:`submit` starts another)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.shutdown(wait=True)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scenescout-commit")
        writer = self._writer
        batch: list[tuple[Pending[RequestT, ResultT], asyncio.Future[ResultT]]] = []
        try:
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                await loop.run_in_executor(writer, self._run, [p for p, _ in batch])
                self.batches += 1
                for pending, future in batch:
                    if pending.error is not None:
                        _settle(future, error=pending.error)
                    else:
                        _settle(future, result=pending.result)
                batch = []
        except BaseException as error:  # e.g. the loop shutting down: nobody may hang
            for _, future in [*batch, *self._queue]:
                _settle(future, error=error)
            self._queue.clear()
            raise
        finally:
            if self._drainer is asyncio.current_task():
                self._drainer = None

    def _run(self, batch: list[Pending[RequestT, ResultT]]) -> None:
        failure: BaseException
        try:
            self._process(batch)
            failure = RuntimeError("the batch processor left a request unsettled")
        except BaseException as error:  # each caller of the batch gets it
            failure = error
        for pending in batch:
            if not pending.settled:
                pending.fail(failure)


def _settle(
    future: asyncio.Future[ResultT],
    *,
    result: ResultT | None = None,
    error: BaseException | None = None,
) -> None:
    """Settle a caller's future unless it is done (the caller was cancelled) or its loop
    is closed (nobody waits on it any more)."""
    if future.done():
        return
    try:
        if isinstance(error, asyncio.CancelledError):
            future.cancel()
        elif error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]
    except RuntimeError:  # "Event loop is closed"
        pass
