"""L2 write-behind: the writer thread's batching, flush, bounds and failures, and its order
against invalidations in a real Redis."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import pytest
import redis
from tests.cache.conftest import DIGEST, CacheFactory, make_request, value_for

from scenescout.cache import entry_key
from scenescout.cache.write_behind import MAX_BATCH, PendingPut, WriteBehind

WAIT_SECONDS = 10.0


def pending(n: int) -> list[PendingPut]:
    return [PendingPut(f"k{i}", f"u{i}", b"{}", (f"e{i}",)) for i in range(n)]


class GatedWriter:
    """A ``write`` that records batches and holds each until the test opens the gate."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.fail_with: Exception | None = None

    def __call__(self, batch: Sequence[PendingPut]) -> None:
        self.entered.set()
        assert self.gate.wait(WAIT_SECONDS)
        if self.fail_with is not None:
            raise self.fail_with
        self.batches.append([put.key for put in batch])


@pytest.fixture
def gated() -> Iterator[tuple[WriteBehind, GatedWriter, list[tuple[str, int]], list[int]]]:
    write = GatedWriter()
    errors: list[tuple[str, int]] = []
    drops: list[int] = []
    writer = WriteBehind(
        write,
        on_error=lambda error, count: errors.append((str(error), count)),
        on_drop=drops.append,
        max_pending=3,
    )
    yield writer, write, errors, drops
    write.gate.set()
    writer.close(timeout=WAIT_SECONDS)


def test_entries_queued_while_a_batch_is_written_go_together_in_order(gated) -> None:  # type: ignore[no-untyped-def]
    writer, write, _, _ = gated
    first, *rest = pending(3)
    assert writer.submit(first)
    assert write.entered.wait(WAIT_SECONDS)  # the writer holds [k0]
    for put in rest:
        assert writer.submit(put)
    assert writer.pending == 3
    assert not writer.flush(timeout=0.01)
    write.gate.set()
    assert writer.flush(timeout=WAIT_SECONDS)
    assert write.batches == [["k0"], ["k1", "k2"]]
    assert writer.pending == 0


def test_a_full_queue_refuses_and_counts_new_entries(gated) -> None:  # type: ignore[no-untyped-def]
    writer, write, _, drops = gated
    puts = pending(5)
    assert writer.submit(puts[0])
    assert write.entered.wait(WAIT_SECONDS)
    assert [writer.submit(put) for put in puts[1:]] == [True, True, True, False]
    assert drops == [1]
    write.gate.set()
    assert writer.flush(timeout=WAIT_SECONDS)
    assert [key for batch in write.batches for key in batch] == ["k0", "k1", "k2", "k3"]


def test_a_failed_batch_is_reported_and_the_writer_goes_on(gated) -> None:  # type: ignore[no-untyped-def]
    writer, write, errors, _ = gated
    write.fail_with = redis.ConnectionError("gone")
    assert writer.submit(pending(1)[0])
    write.gate.set()
    assert writer.flush(timeout=WAIT_SECONDS)
    assert errors == [("gone", 1)]
    write.fail_with = None
    assert writer.submit(pending(2)[1])
    assert writer.flush(timeout=WAIT_SECONDS)
    assert write.batches == [["k1"]]


def test_close_writes_what_is_queued_then_refuses(gated) -> None:  # type: ignore[no-untyped-def]
    writer, write, _, drops = gated
    first, second, late = pending(3)
    writer.submit(first)
    assert write.entered.wait(WAIT_SECONDS)
    writer.submit(second)
    closing = threading.Thread(target=writer.close, args=(WAIT_SECONDS,))
    closing.start()
    write.gate.set()
    closing.join(WAIT_SECONDS)
    assert write.batches == [["k0"], ["k1"]]
    assert not writer.submit(late)
    assert drops == [1]


class Recorder:
    """A ``write`` that records batches and tells when one arrives."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.written = threading.Event()

    def __call__(self, batch: Sequence[PendingPut]) -> None:
        self.batches.append([put.key for put in batch])
        self.written.set()


def slow_writer(write: Recorder) -> WriteBehind:
    """A writer whose interval never comes within a test: only a flush or a full batch
    makes it send."""
    return WriteBehind(
        write, on_error=lambda error, count: None, on_drop=lambda n: None, interval_seconds=3600
    )


def test_a_flush_sends_what_queued_without_waiting_for_the_interval() -> None:
    write = Recorder()
    writer = slow_writer(write)
    try:
        for put in pending(3):
            assert writer.submit(put)
        assert writer.flush(timeout=WAIT_SECONDS)
        assert write.batches == [["k0", "k1", "k2"]]  # one pipeline for all three
    finally:
        writer.close(timeout=WAIT_SECONDS)


def test_a_full_batch_is_sent_without_waiting_for_the_interval() -> None:
    write = Recorder()
    writer = slow_writer(write)
    try:
        for put in pending(MAX_BATCH):
            assert writer.submit(put)
        assert write.written.wait(WAIT_SECONDS)
        assert [len(batch) for batch in write.batches] == [MAX_BATCH]
    finally:
        writer.close(timeout=WAIT_SECONDS)


@pytest.mark.redis
def test_set_returns_before_l2_holds_the_entry_and_an_invalidation_waits_for_it(
    make_l2_cache: CacheFactory, redis_url: str
) -> None:
    """An invalidation right after a fill removes the fill from L2, even while it was still
    queued: the invalidation waits for the queued write first."""
    cache = make_l2_cache(invalidation_strategy="tag")
    store = cache._store
    assert store is not None
    gate, entered = threading.Event(), threading.Event()
    real_put_many = store.put_many

    def held_put_many(entries: Sequence[PendingPut]) -> None:
        entered.set()
        assert gate.wait(WAIT_SECONDS)
        real_put_many(entries)

    store.put_many = held_put_many  # type: ignore[method-assign]
    request = make_request("u1")
    key = entry_key("u1", request, DIGEST)
    cache.set("u1", request, DIGEST, value_for("u1", "e1"), ["e1"])
    assert entered.wait(WAIT_SECONDS)
    with redis.Redis.from_url(redis_url) as raw:
        assert raw.exists(key) == 0  # queued, not written: set() did not wait for Redis
        removed: list[int] = []
        invalidating = threading.Thread(target=lambda: removed.append(cache.invalidate_user("u1")))
        invalidating.start()
        invalidating.join(0.05)
        assert invalidating.is_alive()  # it waits for the queued write
        gate.set()
        invalidating.join(WAIT_SECONDS)
        assert removed == [1]
        assert raw.exists(key) == 0
    assert cache.get("u1", request, DIGEST) is None
