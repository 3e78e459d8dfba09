"""Two serving processes over one database and one Redis: a write taken by one is seen by
the other's very next request (no stale cache, no stale model), and erasure reaches both.

Process B is a real ``scenescout serve --workers 2`` (two worker processes behind one
port); process A is an app in this process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from fastapi.testclient import TestClient
from tests.api.api_world import SERVICE_KEY, Headers, active_user, make_settings, new_event
from tests.cache.redis_server import free_port

from scenescout.api import create_app
from scenescout.cache.keys import user_entries_pattern
from scenescout.datasets import World
from scenescout.engine import PersonalizationEngine
from scenescout.storage import Store

pytestmark = [pytest.mark.redis, pytest.mark.integration]
START_TIMEOUT_SECONDS = 120.0
SERVICE: Headers = {"Authorization": f"Bearer {SERVICE_KEY}"}


READY_IN_A_ROW = 24
"""Consecutive ``/ready`` answers, each on a new connection, that count as every worker
ready: connections land on a worker by a hash of their port, so a worker still loading is
missed 24 times in a row with probability 2**-24."""


def _wait_until_ready(process: subprocess.Popen[bytes], url: str, port: int) -> None:
    """Poll ``/ready`` until both workers have trained (or the process died).

    Each worker listens on a socket of its own once it starts: until both do, every
    connection reaches the first, so answers only count once two sockets listen (on Linux,
    where ``/proc/net`` tells)."""
    give_up = time.monotonic() + START_TIMEOUT_SECONDS
    in_a_row = 0
    while time.monotonic() < give_up:
        if process.poll() is not None:
            raise RuntimeError(f"scenescout serve exited with {process.returncode}")
        if sys.platform.startswith("linux") and _listening_sockets(port) < 2:
            time.sleep(0.2)  # polling for start-up, not timing anything
            continue
        try:
            with httpx.Client(base_url=url, timeout=5.0) as client:  # a new connection
                ready = client.get("/ready").status_code == 200
        except httpx.TransportError:
            ready = False
        in_a_row = in_a_row + 1 if ready else 0
        if in_a_row == READY_IN_A_ROW:
            return
        if not ready:
            time.sleep(0.2)  # polling for start-up, not timing anything
    raise RuntimeError(f"scenescout serve was not ready within {START_TIMEOUT_SECONDS} s")


@pytest.fixture
def other_process(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[httpx.Client]:
    port = free_port()
    environment = {
        **os.environ,
        "SCENESCOUT_API_KEYS": SERVICE_KEY,
        "SCENESCOUT_API__RATE_LIMIT_PER_SECOND": "0",
    }
    process = subprocess.Popen(
        [
            sys.executable, "-m", "scenescout", "serve",
            "--database-url", database_url,
            "--redis-url", redis_url,
            "--models-dir", str(tmp_path / "no-bundles"),
            "--port", str(port),
            "--workers", "2",
            "--log-level", "warning",
        ],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(process, url, port)
        with httpx.Client(base_url=url, headers=SERVICE, timeout=30.0) as client:
            yield client
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=30)
        if process.returncode not in (0, -15):
            print(errors.decode(errors="replace"))


@pytest.fixture
def this_process(
    database_url: str, redis_url: str, engine: PersonalizationEngine, store: Store
) -> Iterator[TestClient]:
    settings = make_settings(database_url).model_copy(update={"redis_url": redis_url})
    with TestClient(create_app(settings, engine=engine, store=store)) as client:
        client.headers.update(SERVICE)
        yield client


def _listening_sockets(port: int) -> int:
    """How many TCP sockets listen on ``port`` on this machine (Linux ``/proc/net``)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                local, state = line.split()[1], line.split()[3]
                count += state == "0A" and int(local.rsplit(":", 1)[1], 16) == port
    return count


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/net")
def test_each_worker_listens_on_a_socket_of_its_own(other_process: httpx.Client) -> None:
    # uvicorn's own --workers share one socket, which the least busy worker drains.
    # /ready answered from one worker: the other may still be binding its socket.
    port = other_process.base_url.port or 0
    give_up = time.monotonic() + START_TIMEOUT_SECONDS
    while (listening := _listening_sockets(port)) < 2 and time.monotonic() < give_up:
        time.sleep(0.05)  # polling for start-up, not timing anything
    assert listening == 2


def _recommend(client: httpx.Client | TestClient, user: str) -> dict[str, Any]:
    response = client.post(
        "/api/personalization/recommendations", json={"user_id": user, "limit": 20}
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def _ids(data: dict[str, Any]) -> list[str]:
    return [item["event_id"] for item in data["recommendations"]]


def test_an_interaction_taken_by_one_process_is_seen_by_the_next_request_to_another(
    other_process: httpx.Client, this_process: TestClient, world: World
) -> None:
    user = active_user(world)
    before = _recommend(other_process, user)
    assert _recommend(other_process, user)["cache_info"]["hit"] is True  # cached in B
    dismissed = _ids(before)[0]

    stored = this_process.post(
        "/api/personalization/profile",
        json={
            "user_id": user,
            "event_id": dismissed,
            "interaction_type": "dismiss",
            "idempotency_key": "cross-process-1",
        },
    )
    assert stored.status_code == 200, stored.text

    after = _recommend(other_process, user)
    assert after["cache_info"]["hit"] is False
    assert dismissed not in _ids(after)
    profile = other_process.get("/api/personalization/profile", params={"user_id": user})
    assert (
        profile.json()["data"]["profile"]["interaction_count"]
        == (
            this_process.get("/api/personalization/profile", params={"user_id": user}).json()[
                "data"
            ]["profile"]["interaction_count"]
        )
    )


def test_an_event_cancelled_by_one_process_leaves_the_other_process_lists(
    other_process: httpx.Client, this_process: TestClient, world: World
) -> None:
    user = active_user(world)
    cancelled = _ids(_recommend(other_process, user))[0]
    response = this_process.post(f"/api/events/{cancelled}/cancel")
    assert response.status_code == 200, response.text
    assert cancelled not in _ids(_recommend(other_process, user))


def test_an_erasure_by_one_process_leaves_nothing_in_the_other(
    other_process: httpx.Client, this_process: TestClient, world: World
) -> None:
    user = active_user(world)
    _recommend(other_process, user)
    held = other_process.get(f"/api/users/{user}/erasure").json()["data"]
    assert held["erased"] is False and held["model_state"]

    assert this_process.delete(f"/api/users/{user}").status_code == 200
    status = other_process.get(f"/api/users/{user}/erasure").json()["data"]
    assert status == {**status, "erased": True, "model_state": []}


def _wait_until_redis_holds_a_list_of(redis_url: str, user_id: str) -> None:
    """Poll Redis until a cached list of ``user_id`` landed (or give up)."""
    with redis.Redis.from_url(redis_url) as client:
        give_up = time.monotonic() + START_TIMEOUT_SECONDS
        while next(client.scan_iter(match=user_entries_pattern(user_id)), None) is None:
            assert time.monotonic() < give_up, f"no list of {user_id!r} reached Redis"
            time.sleep(0.01)  # polling for the fill, not timing anything


def test_a_list_cached_by_one_process_is_served_from_redis_by_the_other(
    other_process: httpx.Client, this_process: TestClient, world: World, redis_url: str
) -> None:
    user = active_user(world)
    # An event added through this process (far from everyone): both processes must still
    # share what is cached after it.
    added = this_process.post("/api/events", json=new_event("far-away", -60.0, -120.0))
    assert added.status_code == 201, added.text
    first = _recommend(other_process, user)
    assert first["cache_info"]["hit"] is False
    _wait_until_redis_holds_a_list_of(redis_url, user)  # fills are written behind
    shared = _recommend(this_process, user)
    assert shared["cache_info"]["hit"] is True
    assert _ids(shared) == _ids(first)
