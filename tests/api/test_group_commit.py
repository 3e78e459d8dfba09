"""Group commit: batches form only behind a write in progress, each caller gets its own
outcome, and a failure stays with the request it belongs to."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import pytest

from scenescout.api.group_commit import GroupCommit, Pending

WAIT_SECONDS = 10.0


class Gate:
    """A processor that records batches and holds the first until the test opens it."""

    def __init__(self, settle: Callable[[Pending[str, str]], None] | None = None) -> None:
        self.batches: list[list[str]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.settle = settle or (lambda pending: pending.resolve(pending.request.upper()))

    def __call__(self, batch: Sequence[Pending[str, str]]) -> None:
        self.batches.append([pending.request for pending in batch])
        if len(self.batches) == 1:
            self.entered.set()
            assert self.release.wait(WAIT_SECONDS)
        for pending in batch:
            self.settle(pending)


def submit_in_thread(
    commits: GroupCommit[str, str], request: str, outcomes: dict[str, object]
) -> threading.Thread:
    def run() -> None:
        try:
            outcomes[request] = commits.submit(request)
        except Exception as error:
            outcomes[request] = error

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def queue_behind_a_held_batch(
    commits: GroupCommit[str, str], gate: Gate, requests: Sequence[str]
) -> tuple[list[threading.Thread], dict[str, object]]:
    """Submit ``requests[0]`` (held in the processor), then the others, one at a time, so
    they queue in order; then let the first batch finish."""
    outcomes: dict[str, object] = {}
    threads = [submit_in_thread(commits, requests[0], outcomes)]
    assert gate.entered.wait(WAIT_SECONDS)
    for count, request in enumerate(requests[1:], start=1):
        threads.append(submit_in_thread(commits, request, outcomes))
        while commits.waiting < count:  # until this one is queued
            threading.Event().wait(0.001)  # polling the queue, not timing anything
    gate.release.set()
    for thread in threads:
        thread.join(WAIT_SECONDS)
    return threads, outcomes


def test_a_lone_request_is_its_own_batch() -> None:
    gate = Gate()
    gate.release.set()
    commits = GroupCommit(gate)
    assert commits.submit("a") == "A"
    assert gate.batches == [["a"]]


def test_requests_that_arrive_during_a_write_are_written_together_in_order() -> None:
    gate = Gate()
    commits = GroupCommit(gate)
    _, outcomes = queue_behind_a_held_batch(commits, gate, ["a", "b", "c", "d"])
    assert gate.batches == [["a"], ["b", "c", "d"]]
    assert outcomes == {"a": "A", "b": "B", "c": "C", "d": "D"}
    assert commits.batches == 2


def test_a_batch_holds_at_most_max_batch_requests() -> None:
    gate = Gate()
    commits = GroupCommit(gate, max_batch=2)
    _, outcomes = queue_behind_a_held_batch(commits, gate, ["a", "b", "c", "d", "e"])
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
    _, outcomes = queue_behind_a_held_batch(commits, gate, ["a", "b", "bad", "c"])
    assert {k: v for k, v in outcomes.items() if k != "bad"} == {"a": "A", "b": "B", "c": "C"}
    assert isinstance(outcomes["bad"], ValueError)


def test_a_processor_that_raises_fails_its_unsettled_requests_and_the_next_batch_runs() -> None:
    def settle(pending: Pending[str, str]) -> None:
        if pending.request == "c":
            raise RuntimeError("database gone")
        pending.resolve(pending.request.upper())

    gate = Gate(settle)
    commits = GroupCommit(gate)
    _, outcomes = queue_behind_a_held_batch(commits, gate, ["a", "b", "c", "d"])
    assert gate.batches == [["a"], ["b", "c", "d"]]
    assert (outcomes["a"], outcomes["b"]) == ("A", "B")  # settled before it raised
    assert all(isinstance(outcomes[k], RuntimeError) for k in ("c", "d"))
    assert commits.submit("e") == "E"


def test_a_request_the_processor_forgot_fails_rather_than_hangs() -> None:
    with pytest.raises(RuntimeError, match="unsettled"):
        GroupCommit(lambda batch: None).submit("c")
