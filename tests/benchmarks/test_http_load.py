"""Pure helpers of the HTTP load benchmark and its HTTP/1.1 client."""

from __future__ import annotations

import asyncio
import itertools
import math
import subprocess
import sys
import time

import orjson
import pytest

from _http_client import Connection, HttpError, Origin, Response, parse_head
from http_load import (
    Target,
    World,
    interaction_bodies,
    latency_summary_ms,
    miss_bodies,
    process_tree_cpu_s,
)
from scenescout.api.schemas import InteractionBatch
from scenescout.cache.keys import normalized_request
from scenescout.domain import Interaction
from scenescout.domain.recommendation import RecommendationRequest

USERS = [("usr-1", 40.7128, -74.006), ("usr-2", 51.50735, -0.12776)]


def test_latency_summary_in_milliseconds() -> None:
    summary = latency_summary_ms([ms * 1_000_000 for ms in range(1, 101)])
    assert summary["p50"] == pytest.approx(50.5)
    assert summary["p99"] == pytest.approx(99.01)
    assert summary["max"] == 100.0
    assert all(math.isnan(v) for v in latency_summary_ms([]).values())


def test_miss_requests_never_share_a_cache_entry() -> None:
    bodies = list(itertools.islice(miss_bodies(USERS, 25.0, 20, seed=7), 5_000))
    keys = set()
    for body in bodies:
        request = RecommendationRequest.model_validate(body)
        keys.add((request.user_id, orjson.dumps(normalized_request(request))))
    assert len(keys) == len(bodies)
    assert {b["user_id"] for b in bodies} == {"usr-1", "usr-2"}
    location = bodies[0]["context"]["location"]
    assert abs(location["lat"] - 40.7128) <= 0.01 and 25.0 <= location["radius_km"] < 30.0


def test_interaction_bodies_are_valid_with_unique_keys() -> None:
    world = World(users=USERS, event_ids=["evt-1", "evt-2"])
    single = next(interaction_bodies(world, 1, "run", seed=1))
    assert Interaction.model_validate(single).idempotency_key == "run-0-0"
    batches = list(itertools.islice(interaction_bodies(world, 3, "run", seed=1), 50))
    keys = [
        i.idempotency_key for b in batches for i in InteractionBatch.model_validate(b).interactions
    ]
    assert len(keys) == len(set(keys)) == 150


def test_targets() -> None:
    assert Target("p50", 10, "ms").met(9.9) and not Target("p50", 10, "ms").met(10.1)
    at_least = Target("throughput", 300, "req/s", at_least=True)
    assert at_least.met(300) and not at_least.met(299)
    assert at_least.label == "throughput >= 300 req/s"


def test_parse_head() -> None:
    head = b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\nx: y\r\n\r\n"
    assert parse_head(head) == (200, 12, False, False)
    head = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    assert parse_head(head) == (404, None, True, True)
    assert parse_head(b"HTTP/1.0 200 OK\r\n\r\n")[3] is True
    assert parse_head(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n")[3] is False
    with pytest.raises(HttpError):
        parse_head(b"SSH-2.0-OpenSSH\r\n\r\n")


def test_origin_from_url() -> None:
    assert Origin.from_url("http://127.0.0.1:8765") == Origin("127.0.0.1", 8765)
    for bad in ("https://example.org", "127.0.0.1:8000", "http://host/api"):
        with pytest.raises(ValueError):
            Origin.from_url(bad)


async def _serve(connections: list[int]) -> asyncio.Server:
    """Answers by path: /chunked chunked, /close then closes, else ``Content-Length``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            path = head.split(b" ")[1]
            length = next(
                (
                    int(line[15:])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            body = await reader.readexactly(length)
            if path == b"/chunked":
                writer.write(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\n\r\n"
                )
            elif path == b"/close":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
                break
            else:
                writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: %d\r\n\r\n" % len(body))
                writer.write(body)
            await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def test_connection_keeps_alive_and_reconnects() -> None:
    async def scenario() -> None:
        connections: list[int] = []
        server = await _serve(connections)
        port = server.sockets[0].getsockname()[1]
        client = Connection(Origin("127.0.0.1", port), {"Authorization": "Bearer k"}, 5.0)
        try:
            assert await client.request("POST", "/echo", b'{"a":1}') == Response(201, b'{"a":1}')
            assert (await client.request("GET", "/chunked")).body == b"abcdefg"
            assert len(connections) == 1
            assert (await client.request("GET", "/close")).body == b"ok"
            assert (await client.request("POST", "/echo", b"x")).body == b"x"
            assert len(connections) == 2
        finally:
            client.close()
            server.close()
            await server.wait_closed()

    asyncio.run(scenario())


SPIN_THEN_WAIT = (
    "import sys, time\n"
    "end = time.process_time() + 0.3\n"
    "while time.process_time() < end: pass\n"
    "sys.stdin.read()"
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_cpu_of_a_process_tree_counts_its_children() -> None:
    """A parent that only waits for a child that spins: the tree's CPU includes the child's."""
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import subprocess, sys; subprocess.run([sys.executable, '-c', {SPIN_THEN_WAIT!r}])",
        ],
        stdin=subprocess.PIPE,
    )
    try:
        give_up = time.monotonic() + 30
        while process_tree_cpu_s(parent.pid) < 0.3:  # until the child has spun its 0.3 s
            assert parent.poll() is None and time.monotonic() < give_up
            time.sleep(0.05)  # polling the child, not timing anything
    finally:
        parent.communicate(b"", timeout=30)  # EOF: the child stops waiting, both exit
    assert process_tree_cpu_s(parent.pid) == 0.0  # gone: nothing left to count
