"""VersionBoard on a real Redis: counters that only move on, and erasures kept per database."""

from __future__ import annotations

import queue
import uuid
from collections.abc import Iterator

import pytest
import redis
from tests.cache.redis_server import free_port

from scenescout.cache.versions import VersionBoard, Versions

pytestmark = pytest.mark.redis
WAIT_SECONDS = 10.0


@pytest.fixture
def boards(redis_url: str) -> Iterator[list[VersionBoard]]:
    opened: list[VersionBoard] = []
    yield opened
    for board in opened:
        board.close()


def test_counters_start_at_zero_and_only_move_on(
    redis_url: str, boards: list[VersionBoard]
) -> None:
    board = VersionBoard(redis_url)
    boards.append(board)
    assert board.read("u1") == Versions(0, 0, 0)
    board.interactions_stored({"u1": 7, "u2": 3})
    board.interactions_stored({"u1": 5})  # a late writer never moves the mark back
    board.profile_changed("u1")
    board.catalog_changed()
    board.catalog_changed()
    assert board.read("u1") == Versions(catalog=2, interactions_through=7, profile=1)
    assert board.read("u2") == Versions(catalog=2, interactions_through=3, profile=0)


def test_interaction_marks_reach_a_redis_that_forgot_the_script(
    redis_url: str, boards: list[VersionBoard]
) -> None:
    board = VersionBoard(redis_url)
    boards.append(board)
    board.interactions_stored({"u1": 4})
    redis.Redis.from_url(redis_url).script_flush()  # as after a Redis restart
    board.interactions_stored({"u1": 9, "u2": 2})
    assert board.read("u1") == Versions(0, 9, 0)
    assert board.read("u2") == Versions(0, 2, 0)


def _wait_for(heard: queue.Queue[str], user_id: str) -> list[str]:
    """Everything heard up to and including ``user_id`` (other tests may publish too)."""
    got: list[str] = []
    while user_id not in got:
        got.append(heard.get(timeout=WAIT_SECONDS))
    return got


def test_an_erasure_reaches_the_boards_of_its_database_only(
    redis_url: str, boards: list[VersionBoard]
) -> None:
    gone, marker = f"gone-{uuid.uuid4().hex}", f"marker-{uuid.uuid4().hex}"
    heard: dict[str, queue.Queue[str]] = {"same": queue.Queue(), "other": queue.Queue()}
    base, database = redis_url.rsplit("/", 1)
    other_url = f"{base}/{(int(database) + 1) % 16}"
    same = VersionBoard(redis_url, on_erasure=heard["same"].put)
    other = VersionBoard(other_url, on_erasure=heard["other"].put)
    eraser, other_eraser = VersionBoard(redis_url), VersionBoard(other_url)
    boards.extend([same, other, eraser, other_eraser])
    assert same.wait_for_subscription(WAIT_SECONDS) and other.wait_for_subscription(WAIT_SECONDS)
    eraser.user_erased(gone)
    assert gone in _wait_for(heard["same"], gone)
    assert eraser.read(gone) == Versions(0, 0, 1)
    # A message after it on the other database's channel shows the erasure never got there.
    other_eraser.user_erased(marker)
    assert gone not in _wait_for(heard["other"], marker)
    with redis.Redis.from_url(other_url) as raw:
        raw.delete(f"ss:v:u:{marker}:p")


def test_an_unreachable_redis_reads_as_none_and_writes_nothing(
    boards: list[VersionBoard],
) -> None:
    board = VersionBoard(f"redis://127.0.0.1:{free_port()}/0")
    boards.append(board)
    assert board.read("u1") is None
    board.interactions_stored({"u1": 1})
    board.catalog_changed()
    board.user_erased("u1")
