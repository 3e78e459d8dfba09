"""Group commit: batches form only behind a write in progress, each caller gets its own
outcome, a failure stays with the request it belongs to, and the writes run on one writer
thread while the event loop goes on."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import pytest

from scenescout.api.group_commit import GroupCommit, Pending

WAIT_SECONDS = 10.0


class Gate:
    """A processor that records batches (and the thread each ran on) and holds the first
    until the test opens it."""

    def __init__(self, settle: Callable[[Pending[str, str]], None] | None = None) -> None:
        self.batches: list[list[str]] = []
        self.threads: list[threading.Thread] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.settle = settle or (lambda pending: pending.resolve(pending.request.upper()))

    def __call__(self, batch: Sequence[Pending[str, str]]) -> None:
        self.batches.append([pending.request for pending in batch])
        self.threads.append(threading.current_thread())
        if len(self.batches) == 1:
            self.entered.set()
            assert self.release.wait(WAIT_SECONDS)
        for pending in batch:
            self.settle(pending)


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, WAIT_SECONDS))


async def outcome(commits: GroupCommit[str, str], request: str) -> object:
    try:
        return await commits.submit(request)
    except Exception as error:
        return error


async def queue_behind_a_held_batch(
    commits: GroupCommit[str, str], gate: Gate, requests: Sequence[str]
) -> dict[str, object]:
    """Submit ``requests[0]`` (held in the processor), then the others, one at a time, so
    they queue in order; then let the first batch finish."""
    tasks = {requests[0]: asyncio.create_task(outcome(commits, requests[0]))}
    assert await asyncio.to_thread(gate.entered.wait, WAIT_SECONDS)
    for count, request in enumerate(requests[1:], start=1):
        tasks[request] = asyncio.create_task(outcome(commits, request))
        await asyncio.sleep(0)  # the task runs up to its wait: it is queued
        assert commits.waiting == count
    gate.release.set()
    return {request: await task for request, task in tasks.items()}


def test_a_lone_request_is_its_own_batch() -> None:
    gate = Gate()
    gate.release.set()
    commits = GroupCommit(gate)
    assert run(commits.submit("a")) == "A"
    assert gate.batches == [["a"]]


def test_requests_that_arrive_during_a_write_are_written_together_in_order() -> None:
    gate = Gate()
    commits = GroupCommit(gate)
    outcomes = run(queue_behind_a_held_batch(commits, gate, ["a", "b", "c", "d"]))
    assert gate.batches == [["a"], ["b", "c", "d"]]
    assert outcomes == {"a": "A", "b": "B", "c": "C", "d": "D"}
    assert commits.batches == 2


def test_batches_run_on_one_writer_thread_while_the_event_loop_goes_on() -> None:
    gate = Gate()
    commits = GroupCommit(gate)

    async def scenario() -> tuple[threading.Thread, bool, dict[str, object]]:
        loop_thread = threading.current_thread()
        first = asyncio.create_task(outcome(commits, "a"))
        assert await asyncio.to_thread(gate.entered.wait, WAIT_SECONDS)
        # The first batch is held in the processor, and this coroutine still runs.
        ran_meanwhile = not first.done()
        second = asyncio.create_task(outcome(commits, "b"))
        await asyncio.sleep(0)
        gate.release.set()
        return loop_thread, ran_meanwhile, {"a": await first, "b": await second}

    loop_thread, ran_meanwhile, outcomes = run(scenario())
    assert ran_meanwhile
    assert outcomes == {"a": "A", "b": "B"}
    assert len(set(gate.threads)) == 1
    assert gate.threads[0] != loop_thread


def test_a_batch_holds_at_most_max_batch_requests() -> None:
    gate = Gate()
    commits = GroupCommit(gate, max_batch=2)
    outcomes = run(queue_behind_a_held_batch(commits, gate, ["a", "b", "c", "d", "e"]))
    assert gate.batches == [["a"], ["b", "c"], ["d", "e"]]
    assert set(outcomes.values()) == {"A", "B", "C", "D", "E"}


def test_a_request_settled_with_an_error_fails_alone() -> None:
    def settle(pending: Pending[str, str]) -> None:
        if pending.request == "bad":
            pending.fail(ValueError("bad request"))
        else:
            pending.resolve(pending.request.upper())

    gate = Gate(settle)
    commits = GroupCommit(gate)
    outcomes = run(queue_behind_a_held_batch(commits, gate, ["a", "b", "bad", "c"]))
    assert {k: v for k, v in outcomes.items() if k != "bad"} == {"a": "A", "b": "B", "c": "C"}
    assert isinstance(outcomes["bad"], ValueError)


def test_a_processor_that_raises_fails_its_unsettled_requests_and_the_next_batch_runs() -> None:
    def settle(pending: Pending[str, str]) -> None:
        if pending.request == "c":
            raise RuntimeError("database gone")
        pending.resolve(pending.request.upper())

    gate = Gate(settle)
    commits = GroupCommit(gate)
    outcomes = run(queue_behind_a_held_batch(commits, gate, ["a", "b", "c", "d"]))
    assert gate.batches == [["a"], ["b", "c", "d"]]
    assert (outcomes["a"], outcomes["b"]) == ("A", "B")  # settled before it raised
    assert all(isinstance(outcomes[k], RuntimeError) for k in ("c", "d"))
    assert run(commits.submit("e")) == "E"


def test_a_request_the_processor_forgot_fails_rather_than_hangs() -> None:
    with pytest.raises(RuntimeError, match="unsettled"):
        run(GroupCommit(lambda batch: None).submit("c"))


def test_a_cancelled_caller_does_not_stop_the_write_of_its_batch() -> None:
    gate = Gate()
    commits = GroupCommit(gate)

    async def scenario() -> object:
        first = asyncio.create_task(outcome(commits, "a"))
        assert await asyncio.to_thread(gate.entered.wait, WAIT_SECONDS)
        second = asyncio.create_task(outcome(commits, "b"))
        third = asyncio.create_task(outcome(commits, "c"))
        await asyncio.sleep(0)
        second.cancel()  # e.g. its client hung up while it waited
        gate.release.set()
        assert await first == "A"
        with pytest.raises(asyncio.CancelledError):
            await second
        return await third

    assert run(scenario()) == "C"
    assert gate.batches == [["a"], ["b", "c"]]  # "b" was written all the same


def test_after_close_a_new_submit_starts_a_new_writer() -> None:
    gate = Gate()
    gate.release.set()
    commits = GroupCommit(gate)
    assert run(commits.submit("a")) == "A"
    commits.close()
    assert run(commits.submit("b")) == "B"
    assert gate.batches == [["a"], ["b"]]
    assert gate.threads[0] != gate.threads[1]
