"""CPU per recommendation request inside the service, without HTTP or a load generator.

The app (``create_app``, as ``scenescout serve`` builds it, with PostgreSQL and optionally
Redis) is called through ASGI in this process, one request at a time: cache-miss requests
(``http_load.py``'s miss bodies, no two sharing an entry), then one request repeated (L1
hits). It reports wall time and CPU time (all threads) per request, so a change to the
request path can be compared on this machine without the noise of sockets and of a load
generator sharing the cores. Run the variants to compare back to back: this VM's speed
drifts within minutes.

    .venv/bin/python benchmarks/app_in_process.py --database-url $DB \\
        --models-dir data/bench-models --redis-url redis://127.0.0.1:6379/0
    # the same with Python's default garbage-collector thresholds instead of the server's:
    .venv/bin/python benchmarks/app_in_process.py --database-url $DB \\
        --models-dir data/bench-models --redis-url redis://127.0.0.1:6379/0 --gc-threshold 700
    # the same requests with 6 ms of idleness before each, as a half-loaded server has them
    .venv/bin/python benchmarks/app_in_process.py --database-url $DB --idle-ms 6
    # where the time goes: cProfile of 1,000 misses
    .venv/bin/python benchmarks/app_in_process.py --database-url $DB --profile 1000

The database needs a world and ``--models-dir`` a bundle (see ``http_load.py``'s docstring).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import secrets
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from http_load import RECOMMENDATIONS_PATH, SetupError, load_world, miss_bodies
from scenescout.api import ApiSettings, create_app
from scenescout.api.context import SERVING_GC_THRESHOLDS

API_KEY = "in-process-bench"
READY_TIMEOUT_SECONDS = 600.0


class AsgiCaller:
    """Calls an ASGI app directly: one HTTP request in, status and body out."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def call(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"bench"),
                (b"authorization", f"Bearer {API_KEY}".encode()),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        delivered = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # no disconnect while the app answers
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


async def start(app: Any) -> asyncio.Queue[dict[str, Any]]:
    """Run the app's lifespan startup; the returned queue ends it."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started = asyncio.Event()
    failed: list[str] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()
        elif message["type"] == "lifespan.startup.failed":
            failed.append(message.get("message", ""))
            started.set()

    await inbox.put({"type": "lifespan.startup"})
    asyncio.get_running_loop().create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, send)
    )
    await started.wait()
    if failed:
        raise SetupError(f"the app failed to start: {failed[0]}")
    return inbox


async def wait_until_ready(caller: AsgiCaller) -> None:
    give_up = time.monotonic() + READY_TIMEOUT_SECONDS
    while True:
        status, body = await caller.call("GET", "/ready")
        if status == 200:
            return
        if time.monotonic() > give_up:
            raise SetupError(f"the engine was not ready in {READY_TIMEOUT_SECONDS:g} s: {body!r}")
        await asyncio.sleep(0.5)  # polling for start-up, not timing anything


async def measure(
    caller: AsgiCaller, bodies: Sequence[bytes], idle_s: float = 0.0
) -> dict[str, float]:
    """Per-request figures; with ``idle_s`` the process sleeps that long before each request
    (outside the timed part), as a server between requests does at moderate load."""
    wall_ms = np.empty(len(bodies))
    cpu_started = time.process_time()
    wall_started = time.perf_counter()
    for index, body in enumerate(bodies):
        if idle_s:
            time.sleep(idle_s)  # the load pattern, not a timing
        tick = time.perf_counter_ns()
        status, answer = await caller.call("POST", RECOMMENDATIONS_PATH, body)
        wall_ms[index] = (time.perf_counter_ns() - tick) / 1e6
        if status != 200:
            raise SetupError(f"HTTP {status}: {answer[:300]!r}")
    wall_s = time.perf_counter() - wall_started - idle_s * len(bodies)
    cpu_s = time.process_time() - cpu_started
    return {
        "p50": float(np.percentile(wall_ms, 50)),
        "p99": float(np.percentile(wall_ms, 99)),
        "wall": wall_s * 1e3 / len(bodies),
        "cpu": cpu_s * 1e3 / len(bodies),
    }


async def run(args: argparse.Namespace) -> None:
    os.environ["SCENESCOUT_API_KEYS"] = API_KEY
    settings = ApiSettings(
        database_url=args.database_url,
        models_dir=args.models_dir,
        redis_url=args.redis_url,
        api_keys=[API_KEY],
    )
    settings = settings.model_copy(
        update={"api": settings.api.model_copy(update={"rate_limit_per_second": 0.0})}
    )
    world = load_world(args.database_url, args.sample, args.seed)
    app = create_app(settings)
    caller = AsgiCaller(app)
    lifespan = await start(app)
    await wait_until_ready(caller)
    if args.gc_threshold is not None:
        gc.set_threshold(args.gc_threshold, *SERVING_GC_THRESHOLDS[1:])
    print(f"gc thresholds {gc.get_threshold()}; redis {args.redis_url or 'off (L1 only)'}")
    bodies = [
        orjson.dumps(body)
        for body, _ in zip(
            miss_bodies(world.users, args.radius_km, args.limit, seed=secrets.randbits(32)),
            range(args.warmup + args.requests),
            strict=False,
        )
    ]
    await measure(caller, bodies[: args.warmup])
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        await measure(caller, bodies[args.warmup : args.warmup + args.profile])
        profiler.disable()
        pstats.Stats(profiler).sort_stats(args.sort).print_stats(50)
        await lifespan.put({"type": "lifespan.shutdown"})
        return
    idle_s = args.idle_ms / 1e3
    misses = await measure(caller, bodies[args.warmup :], idle_s)
    hits = await measure(caller, [bodies[-1]] * args.requests, idle_s)
    for name, figures in (("miss", misses), ("hit", hits)):
        print(
            f"{name}: p50 {figures['p50']:.2f} ms  p99 {figures['p99']:.2f} ms  "
            f"mean wall {figures['wall']:.2f} ms  CPU {figures['cpu']:.2f} ms per request"
        )
    await lifespan.put({"type": "lifespan.shutdown"})


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--models-dir", default="data/bench-models")
    parser.add_argument("--redis-url", default=None, help="L2 and coherence; none: L1 only")
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--sample", type=int, default=5_000, help="users drawn from the world")
    parser.add_argument("--radius-km", type=float, default=25.0)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--gc-threshold",
        type=int,
        default=None,
        help="young-generation threshold instead of the server's "
        f"{SERVING_GC_THRESHOLDS[0]:,} (700 is Python's default)",
    )
    parser.add_argument(
        "--idle-ms",
        type=float,
        default=0.0,
        help="sleep this long before each measured request (a server's idle gaps)",
    )
    parser.add_argument("--profile", type=int, default=0, help="cProfile this many misses")
    parser.add_argument("--sort", default="cumulative", help="profile order (e.g. tottime)")
    args = parser.parse_args(argv)
    try:
        asyncio.run(run(args))
    except SetupError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
