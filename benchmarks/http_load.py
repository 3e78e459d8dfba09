"""HTTP load test of a running SceneScout server: cache misses, cache hits, interaction ingestion.

Three cases, each reported as p50 / p95 / p99 latency (ms) and throughput, next to its target:

* ``miss``: ``POST /api/personalization/recommendations`` that never repeat (sampled users, each
  at a location and radius jittered below the cache's rounding, never the same twice), so every
  request misses the cache;
* ``hit``: a small set of requests, warmed once on every connection (each keep-alive connection
  stays with one server worker, whose in-process cache it fills), then repeated; the hit ratio
  is read from the responses' ``cache_info``;
* ``ingest``: ``POST /api/personalization/profile`` with interactions (single bodies for
  ``--batch-size 1``, ``{"interactions": [...]}`` otherwise), each with a unique idempotency
  key. ``user_interactions`` is counted before and after: the run fails (exit code 1) unless
  rows stored == interactions acknowledged as created == interactions sent.

Users (with a home) and upcoming events are sampled from ``--database-url``. Each case runs
closed-loop with ``--concurrency`` connections, or open-loop at ``--rate`` requests/s, where
latency counts from each request's scheduled start, so a server that falls behind is not
hidden. The client is a minimal keep-alive HTTP/1.1 client on asyncio (``_http_client.py``), on
uvloop when it is installed: the generator shares the server's cores, so its own CPU use per
request is measured and shown. ``--watch-pid PID`` (repeatable) also reports the CPU time per
request of other processes and their children, read from ``/proc`` around each case: the
``scenescout serve`` process (its workers) and ``redis-server``, say.

Before the cases run, ``GET /health`` is timed on a kept-alive and on new connections: a gap
of about 40 ms means the server's sockets lack ``TCP_NODELAY`` (plain uvicorn ``--workers N``
today, Kludex/uvicorn#3149; ``scenescout serve`` sets it) and is reported as a warning.

Start the server with rate limiting off (it allows 50 requests/s per key by default), e.g. the
README's benchmark world on PostgreSQL with Redis and two workers:

    export SCENESCOUT_API_KEYS=bench-key SCENESCOUT_API__RATE_LIMIT_PER_SECOND=0
    DB=postgresql+psycopg://postgres@127.0.0.1/scenescout_bench
    .venv/bin/scenescout train --database-url $DB --models-dir data/bench-models
    .venv/bin/scenescout serve --database-url $DB --models-dir data/bench-models \
        --redis-url redis://127.0.0.1:6379/0 --workers 2 --log-level warning &

    .venv/bin/python benchmarks/http_load.py --database-url $DB --api-key bench-key \
        --json data/http-load.json
    .venv/bin/python benchmarks/http_load.py --cases miss,hit --duration 30 --rate 320 \
        --concurrency 32          # latency targets: open loop, a little above 300 req/s
    .venv/bin/python benchmarks/http_load.py --cases ingest --batch-size 1,50

In the open loop the throughput is what was served, so a run offered exactly the target
rate lands a hair under it; offer a little more to test ``>= 300 req/s``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import random
import resource
import secrets
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import sqlalchemy as sa
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from _http_client import Connection, HttpError, Origin
from scenescout.api import ApiSettings
from scenescout.storage import schema

RECOMMENDATIONS_PATH = "/api/personalization/recommendations"
PROFILE_PATH = "/api/personalization/profile"
CASES = ("miss", "hit", "ingest")
READY_PROBES = 8
"""Consecutive ready answers, each on a new connection, before the server counts as ready:
every worker trains at start-up and a connection reaches only one of them."""
JITTER_STEPS = 100
"""Miss requests move the location by up to this many 1e-4 degree steps (about 1.1 km)..."""
RADIUS_STEPS = 500
"""...and widen the radius by up to this many 0.01 km steps (cache keys keep 4 and 2 decimals)."""
INGESTED_TYPES = ("view", "click", "save", "share")
INGESTED_TYPE_WEIGHTS = (0.6, 0.25, 0.1, 0.05)
KEEPALIVE_PROBES = 9
KEEPALIVE_WARNING_MS = 20.0
EXIT_FAILED, EXIT_SETUP = 1, 2

console = Console()
if not console.is_terminal:
    console.width = max(console.width, 120)


class SetupError(Exception):
    """The run cannot start (server unreachable or not ready, bad key, empty world)."""


@dataclass(frozen=True)
class Target:
    """A figure a case must reach: ``value <= threshold``, or ``>=`` when ``at_least``."""

    metric: str
    threshold: float
    unit: str
    at_least: bool = False

    def met(self, value: float) -> bool:
        return value >= self.threshold if self.at_least else value <= self.threshold

    @property
    def label(self) -> str:
        return f"{self.metric} {'>=' if self.at_least else '<='} {self.threshold:,g} {self.unit}"


TARGETS: dict[str, tuple[Target, ...]] = {
    "miss": (
        Target("p50", 10, "ms"),
        Target("p99", 50, "ms"),
        Target("throughput", 300, "req/s", at_least=True),
    ),
    "hit": (Target("p50", 2, "ms"),),
    "ingest": (Target("interactions", 1_000, "/s", at_least=True),),
}


@dataclass(frozen=True)
class World:
    """Sampled users ``(id, home_lat, home_lng)`` and upcoming event ids."""

    users: list[tuple[str, float, float]]
    event_ids: list[str]


@dataclass
class LoadResult:
    """What one measured phase saw. Latencies are of 2xx responses only."""

    latencies_ns: list[int] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    error_samples: dict[int, str] = field(default_factory=dict)
    sent: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    watched_cpu_s: dict[str, float] = field(default_factory=dict)
    """CPU seconds of each ``--watch-pid`` process tree during the phase, by label."""

    @property
    def ok(self) -> int:
        return len(self.latencies_ns)

    @property
    def errors(self) -> int:
        return self.sent - self.ok


@dataclass
class CaseReport:
    """One row of the report; ``kind`` is one of :data:`CASES`."""

    name: str
    kind: str
    load: LoadResult
    hits: int = 0
    interactions_sent: int = 0
    interactions_created: int = 0
    duplicates: int = 0
    rows_before: int | None = None
    rows_after: int | None = None
    rows_with_run_keys: int | None = None

    def figures(self) -> dict[str, float]:
        """Latency percentiles (ms), throughput and, per case, hit ratio or interactions/s."""
        load = self.load
        figures = latency_summary_ms(load.latencies_ns)
        figures["throughput"] = load.ok / load.wall_s if load.wall_s else 0.0
        figures["client_cpu_us_per_request"] = 1e6 * load.cpu_s / load.sent if load.sent else 0.0
        figures["client_cpu_share"] = load.cpu_s / load.wall_s if load.wall_s else 0.0
        if self.kind != "ingest":
            figures["hit_ratio"] = self.hits / load.ok if load.ok else 0.0
        else:
            rate = self.interactions_created / load.wall_s if load.wall_s else 0.0
            figures["interactions"] = rate
        return figures

    @property
    def count_check_passed(self) -> bool:
        if self.rows_before is None or self.rows_after is None:
            return True
        stored = self.rows_after - self.rows_before
        return (
            stored == self.interactions_sent == self.interactions_created == self.rows_with_run_keys
        )


def latency_summary_ms(latencies_ns: Sequence[int]) -> dict[str, float]:
    """p50, p95, p99, mean and max in milliseconds (NaN for no latencies)."""
    if not latencies_ns:
        return dict.fromkeys(("p50", "p95", "p99", "mean", "max"), math.nan)
    ms = np.asarray(latencies_ns, dtype=np.float64) / 1e6
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return {
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
        "mean": float(ms.mean()),
        "max": float(ms.max()),
    }


def recommendation_body(
    user_id: str, lat: float, lng: float, radius_km: float, limit: int
) -> dict[str, Any]:
    """A recommendations request at ``(lat, lng)``."""
    return {
        "user_id": user_id,
        "context": {"location": {"lat": lat, "lng": lng, "radius_km": radius_km}},
        "limit": limit,
    }


def miss_bodies(
    users: Sequence[tuple[str, float, float]], radius_km: float, limit: int, seed: int
) -> Iterator[dict[str, Any]]:
    """Recommendation requests of which no two share a cache entry.

    Users take turns; each request moves the user's home by a random number of 1e-4 degree
    steps and widens the radius by 0.01 km steps (the precision the cache keys keep), and a
    combination already used is drawn again. With a random ``seed`` per run, a request
    repeating one of an earlier run (still cached for the TTL) is a chance of about one in
    ten million.
    """
    rng = random.Random(seed)
    used: set[tuple[int, int, int, int]] = set()
    for index in itertools.count():
        user = index % len(users)
        user_id, lat, lng = users[user]
        while True:
            key = (
                user,
                rng.randint(-JITTER_STEPS, JITTER_STEPS),
                rng.randint(-JITTER_STEPS, JITTER_STEPS),
                rng.randrange(RADIUS_STEPS),
            )
            if key not in used:
                break
        used.add(key)
        _, lat_steps, lng_steps, radius_steps = key
        yield recommendation_body(
            user_id,
            round(round(lat, 4) + lat_steps * 1e-4, 4),
            round(round(lng, 4) + lng_steps * 1e-4, 4),
            round(radius_km + radius_steps * 0.01, 2),
            limit,
        )


def interaction_bodies(
    world: World, batch_size: int, run_id: str, seed: int
) -> Iterator[dict[str, Any]]:
    """Interaction requests, ``batch_size`` interactions each with a key unique to the run."""
    rng = random.Random(seed)
    for request in itertools.count():
        users = rng.choices(world.users, k=batch_size)
        events = rng.choices(world.event_ids, k=batch_size)
        types = rng.choices(INGESTED_TYPES, INGESTED_TYPE_WEIGHTS, k=batch_size)
        batch = [
            {
                "user_id": user[0],
                "event_id": event_id,
                "interaction_type": kind,
                "idempotency_key": f"{run_id}-{request}-{item}",
            }
            for item, (user, event_id, kind) in enumerate(zip(users, events, types, strict=True))
        ]
        yield batch[0] if batch_size == 1 else {"interactions": batch}


def load_world(database_url: str, sample: int, seed: int) -> World:
    """Up to ``sample`` users with a home and ``sample`` upcoming events, drawn at random."""
    users_t, events_t = schema.users, schema.events
    now = datetime.now(UTC)
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(sa.text("SELECT setseed(:s)"), {"s": (seed % 1000) / 1000})
            users = connection.execute(
                sa.select(users_t.c.id, users_t.c.home_lat, users_t.c.home_lng)
                .where(users_t.c.home_lat.is_not(None), users_t.c.home_lng.is_not(None))
                .order_by(sa.func.random())
                .limit(sample)
            ).all()
            events = connection.execute(
                sa.select(events_t.c.id)
                .where(
                    sa.or_(events_t.c.end_time.is_(None), events_t.c.end_time >= now),
                    events_t.c.status == "scheduled",
                )
                .order_by(sa.func.random())
                .limit(sample)
            ).all()
    except sa.exc.SQLAlchemyError as error:
        raise SetupError(f"cannot read users and events from {database_url}: {error}") from None
    finally:
        engine.dispose()
    if not users or not events:
        raise SetupError(
            f"{database_url} has {len(users)} users with a home and {len(events)} upcoming "
            "events; the benchmark needs both (create a world with `scenescout generate`)"
        )
    return World(
        [(u.id, float(u.home_lat), float(u.home_lng)) for u in users], [e.id for e in events]
    )


def count_interactions(database_url: str, key_prefix: str | None = None) -> int:
    """Rows of ``user_interactions`` (only those whose idempotency key starts with the prefix)."""
    table = schema.user_interactions
    query = sa.select(sa.func.count()).select_from(table)
    if key_prefix is not None:
        query = query.where(table.c.idempotency_key.like(f"{key_prefix}%"))
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(query).scalar_one())
    finally:
        engine.dispose()


def _error_message(body: bytes) -> str:
    try:
        return str(orjson.loads(body)["error"]["message"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return body[:200].decode(errors="replace")


async def wait_until_ready(origin: Origin, timeout_s: float) -> None:
    """Poll ``GET /ready`` on new connections until :data:`READY_PROBES` answer in a row."""
    deadline = time.monotonic() + timeout_s
    streak, reason = 0, "no answer yet"
    with console.status(f"waiting for http://{origin.netloc}/ready") as status:
        while streak < READY_PROBES:
            connection = Connection(origin, {}, timeout_s=5.0)
            try:
                response = await connection.request("GET", "/ready")
            except (OSError, HttpError, TimeoutError) as error:
                response, reason = None, f"{type(error).__name__}: {error}"
            finally:
                connection.close()
            if response is not None and response.status == 200:
                streak += 1
                continue
            if response is not None:
                reason = f"HTTP {response.status}: {_error_message(response.body)}"
            streak = 0
            if time.monotonic() > deadline:
                raise SetupError(
                    f"http://{origin.netloc} was not ready within {timeout_s:g} s ({reason}); "
                    "is the server running on that port, with this --url?"
                )
            status.update(f"waiting for http://{origin.netloc}/ready: {reason}")
            await asyncio.sleep(0.5)


async def check_access(origin: Origin, headers: dict[str, str], user_id: str) -> None:
    """One authenticated read, so a wrong key or a rate limit ends the run with its cause."""
    connection = Connection(origin, headers)
    try:
        response = await connection.request("GET", f"{PROFILE_PATH}?user_id={user_id}")
    except (OSError, HttpError, TimeoutError) as error:
        raise SetupError(f"GET {PROFILE_PATH} failed: {type(error).__name__}: {error}") from None
    finally:
        connection.close()
    if response.status in (401, 403):
        raise SetupError(
            f"the server refused the API key (HTTP {response.status}: "
            f"{_error_message(response.body)}); pass one of its SCENESCOUT_API_KEYS as --api-key"
        )
    if response.status == 429:
        raise SetupError(RATE_LIMIT_HINT)
    if response.status != 200:
        raise SetupError(
            f"GET {PROFILE_PATH} answered HTTP {response.status}: {_error_message(response.body)}"
        )


async def keepalive_penalty_ms(origin: Origin) -> float:
    """Median latency of ``GET /health`` on one kept-alive connection minus on new ones.

    About 40 ms means the server's sockets lack ``TCP_NODELAY``, so each response on a
    kept-alive connection waits for the client's delayed ACK (uvicorn ``--workers N``,
    Kludex/uvicorn#3149).
    """
    reused = Connection(origin, {})
    reused_ns, fresh_ns = [], []
    try:
        await reused.request("GET", "/health")
        for _ in range(KEEPALIVE_PROBES):
            started = time.perf_counter_ns()
            await reused.request("GET", "/health")
            reused_ns.append(time.perf_counter_ns() - started)
            fresh = Connection(origin, {})
            started = time.perf_counter_ns()
            try:
                await fresh.request("GET", "/health")
            finally:
                fresh.close()
            fresh_ns.append(time.perf_counter_ns() - started)
    except (OSError, HttpError, TimeoutError) as error:
        raise SetupError(f"GET /health failed: {type(error).__name__}: {error}") from None
    finally:
        reused.close()
    return float(np.median(reused_ns) - np.median(fresh_ns)) / 1e6


RATE_LIMIT_HINT = (
    "the server rate-limited the benchmark (HTTP 429); start it with "
    "SCENESCOUT_API__RATE_LIMIT_PER_SECOND=0"
)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_stat(pid: int) -> tuple[str, int, float] | None:
    """``(name, parent pid, CPU seconds)`` of a process from ``/proc`` (Linux), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return name, int(fields[1]), (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def process_tree_cpu_s(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and its living descendants (e.g. a server and
    its worker processes); 0 when ``/proc`` cannot tell."""
    stats = {
        int(entry.name): stat
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and (stat := _proc_stat(int(entry.name))) is not None
    }
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, (_, ppid, _) in stats.items():
            if ppid == parent and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(stats[member][2] for member in tree if member in stats)


def watched_label(pid: int) -> str:
    stat = _proc_stat(pid)
    return f"{stat[0] if stat else '?'}[{pid}]"


async def drive(
    connections: Sequence[Connection],
    path: str,
    bodies: Iterator[bytes],
    on_success: Callable[[bytes], None],
    *,
    requests: int | None,
    duration_s: float | None,
    rate: float,
    description: str,
    watch: Sequence[int] = (),
) -> LoadResult:
    """Send ``bodies`` over ``connections`` until ``requests`` are sent or ``duration_s`` ends.

    Closed loop (each connection sends its next request when the last one is answered), or,
    with ``rate`` > 0, request ``i`` starts at ``i / rate`` seconds and its latency counts
    from then, even when every connection was still busy.
    """
    result = LoadResult()
    started_ns = time.perf_counter_ns()
    deadline_ns = None if duration_s is None else started_ns + int(duration_s * 1e9)
    interval_ns = int(1e9 / rate) if rate > 0 else 0

    def next_index() -> int | None:
        index = result.sent
        if requests is not None and index >= requests:
            return None
        if deadline_ns is not None and time.perf_counter_ns() >= deadline_ns:
            return None
        result.sent += 1
        return index

    async def worker(connection: Connection) -> None:
        while (index := next_index()) is not None:
            body = next(bodies)
            if interval_ns:
                scheduled_ns = started_ns + index * interval_ns
                delay_ns = scheduled_ns - time.perf_counter_ns()
                if delay_ns > 0:
                    await asyncio.sleep(delay_ns / 1e9)
                start_ns = scheduled_ns
            else:
                start_ns = time.perf_counter_ns()
            try:
                response = await connection.request("POST", path, body)
            except (OSError, HttpError, TimeoutError) as error:
                result.failures[type(error).__name__] += 1
                continue
            latency_ns = time.perf_counter_ns() - start_ns
            result.statuses[response.status] += 1
            if 200 <= response.status < 300:
                result.latencies_ns.append(latency_ns)
                on_success(response.body)
            elif response.status not in result.error_samples:
                result.error_samples[response.status] = _error_message(response.body)

    total = requests if requests is not None else duration_s
    with Progress(
        TextColumn(f"[bold]{description}[/]"),
        BarColumn(),
        TextColumn("{task.fields[done]:,} requests"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        refresh_per_second=2,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task(description, total=total, done=0)

        async def report() -> None:
            while True:
                elapsed_s = (time.perf_counter_ns() - started_ns) / 1e9
                completed = result.sent if requests is not None else elapsed_s
                progress.update(task, completed=completed, done=result.sent)
                await asyncio.sleep(0.5)

        reporter = asyncio.create_task(report())
        cpu_started = _cpu_seconds()
        watched_started = {pid: process_tree_cpu_s(pid) for pid in watch}
        await asyncio.gather(*(worker(connection) for connection in connections))
        result.cpu_s = _cpu_seconds() - cpu_started
        result.watched_cpu_s = {
            watched_label(pid): process_tree_cpu_s(pid) - started
            for pid, started in watched_started.items()
        }
        result.wall_s = (time.perf_counter_ns() - started_ns) / 1e9
        reporter.cancel()
    return result


@dataclass(frozen=True)
class Plan:
    """How much load per case, and where it goes."""

    origin: Origin
    headers: dict[str, str]
    concurrency: int
    requests: int | None
    interactions: int | None
    duration_s: float | None
    rate: float
    timeout_s: float
    watch_pids: tuple[int, ...] = ()

    def connections(self) -> list[Connection]:
        return [
            Connection(self.origin, self.headers, self.timeout_s) for _ in range(self.concurrency)
        ]


def _encoded(bodies: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    return map(orjson.dumps, bodies)


async def run_miss(plan: Plan, world: World, radius_km: float, limit: int, seed: int) -> CaseReport:
    report = CaseReport("miss", "miss", LoadResult())

    def on_success(body: bytes) -> None:
        report.hits += orjson.loads(body)["data"]["cache_info"]["hit"]

    connections = plan.connections()
    try:
        report.load = await drive(
            connections,
            RECOMMENDATIONS_PATH,
            _encoded(miss_bodies(world.users, radius_km, limit, seed)),
            on_success,
            requests=plan.requests,
            duration_s=plan.duration_s,
            rate=plan.rate,
            watch=plan.watch_pids,
            description="cache miss",
        )
    finally:
        for connection in connections:
            connection.close()
    return report


async def run_hit(
    plan: Plan, world: World, radius_km: float, limit: int, hit_set: int
) -> CaseReport:
    report = CaseReport("hit", "hit", LoadResult())
    requests = [
        orjson.dumps(recommendation_body(user_id, round(lat, 4), round(lng, 4), radius_km, limit))
        for user_id, lat, lng in world.users[:hit_set]
    ]
    connections = plan.connections()

    async def warm(connection: Connection, offset: int) -> None:
        for i in range(len(requests)):
            body = requests[(offset + i) % len(requests)]
            try:
                response = await connection.request("POST", RECOMMENDATIONS_PATH, body)
            except (OSError, HttpError, TimeoutError) as error:
                raise SetupError(f"warming the cache: {type(error).__name__}: {error}") from None
            if response.status != 200:
                raise SetupError(
                    f"warming the cache: HTTP {response.status}: {_error_message(response.body)}"
                )

    def on_success(body: bytes) -> None:
        report.hits += orjson.loads(body)["data"]["cache_info"]["hit"]

    def repeated() -> Iterator[bytes]:
        for index in itertools.count():
            yield requests[index % len(requests)]

    try:
        with console.status(
            f"warming the cache: {len(requests)} requests on each of {len(connections)} connections"
        ):
            await asyncio.gather(*(warm(c, k) for k, c in enumerate(connections)))
        report.load = await drive(
            connections,
            RECOMMENDATIONS_PATH,
            repeated(),
            on_success,
            requests=plan.requests,
            duration_s=plan.duration_s,
            rate=plan.rate,
            watch=plan.watch_pids,
            description="cache hit",
        )
    finally:
        for connection in connections:
            connection.close()
    return report


async def run_ingest(
    plan: Plan, world: World, database_url: str, batch_size: int, seed: int
) -> CaseReport:
    run_id = f"http-load-{secrets.token_hex(6)}-b{batch_size}"
    report = CaseReport(f"ingest (batch {batch_size})", "ingest", LoadResult())
    requests = None if plan.interactions is None else math.ceil(plan.interactions / batch_size)

    def on_success(body: bytes) -> None:
        data = orjson.loads(body)["data"]
        report.interactions_created += data["created"]
        report.duplicates += data["duplicates"]

    report.rows_before = await asyncio.to_thread(count_interactions, database_url)
    connections = plan.connections()
    try:
        report.load = await drive(
            connections,
            PROFILE_PATH,
            _encoded(interaction_bodies(world, batch_size, run_id, seed)),
            on_success,
            requests=requests,
            duration_s=plan.duration_s,
            rate=plan.rate,
            watch=plan.watch_pids,
            description=f"ingest, batch {batch_size}",
        )
    finally:
        for connection in connections:
            connection.close()
    report.interactions_sent = report.load.sent * batch_size
    report.rows_after = await asyncio.to_thread(count_interactions, database_url)
    report.rows_with_run_keys = await asyncio.to_thread(count_interactions, database_url, run_id)
    return report


def _fmt(value: float, digits: int = 2) -> str:
    return "-" if math.isnan(value) else f"{value:,.{digits}f}"


def print_report(reports: Sequence[CaseReport], loop_name: str, plan: Plan) -> None:
    mode = f"open loop at {plan.rate:g} req/s" if plan.rate > 0 else "closed loop"
    table = Table(
        title=f"HTTP load: http://{plan.origin.netloc}, {plan.concurrency} connections, {mode}",
        caption=f"latencies in ms; stored/s: interactions created per second; client CPU: "
        f"this process's share of one core and CPU time per request (event loop: {loop_name})",
    )
    for column in ("case", "requests", "errors", "p50", "p95", "p99", "req/s", "hit ratio"):
        table.add_column(column, justify="left" if column == "case" else "right")
    table.add_column("stored/s", justify="right")
    table.add_column("client CPU", justify="right")
    for report in reports:
        figures = report.figures()
        table.add_row(
            report.name,
            f"{report.load.sent:,}",
            f"{report.load.errors:,}",
            _fmt(figures["p50"]),
            _fmt(figures["p95"]),
            _fmt(figures["p99"]),
            _fmt(figures["throughput"], 0),
            f"{figures['hit_ratio']:.1%}" if "hit_ratio" in figures else "",
            _fmt(figures["interactions"], 0) if "interactions" in figures else "",
            f"{figures['client_cpu_share']:.0%}, {figures['client_cpu_us_per_request']:.0f} µs",
        )
    console.print(table)

    targets = Table(title="Targets")
    for column in ("case", "target", "measured", "result"):
        targets.add_column(column)
    for report in reports:
        figures = report.figures()
        for target in TARGETS[report.kind]:
            value = figures[target.metric]
            met = not math.isnan(value) and target.met(value)
            targets.add_row(
                report.name,
                target.label,
                f"{_fmt(value)} {target.unit}",
                "[green]pass[/]" if met else "[red]fail[/]",
            )
    console.print(targets)

    for report in reports:
        load = report.load
        for status, count in sorted(load.statuses.items()):
            if not 200 <= status < 300:
                console.print(
                    f"[red]{report.name}: {count:,} x HTTP {status}[/]: "
                    f"{load.error_samples.get(status, '')}"
                )
        for failure, count in load.failures.items():
            console.print(f"[red]{report.name}: {count:,} x {failure}[/] (no response)")
        if 429 in load.statuses:
            console.print(f"[red]{RATE_LIMIT_HINT}[/]")
        if load.watched_cpu_s and load.sent:
            console.print(
                f"{report.name}: CPU per request of watched processes: "
                + ", ".join(
                    f"{label} {1e3 * cpu_s / load.sent:.2f} ms"
                    for label, cpu_s in load.watched_cpu_s.items()
                )
            )
        if report.kind == "miss" and report.hits:
            console.print(f"[yellow]miss: {report.hits:,} requests hit the cache[/]")
        if report.rows_before is not None and report.rows_after is not None:
            verdict = "[green]pass[/]" if report.count_check_passed else "[red]FAIL[/]"
            console.print(
                f"{report.name} count check {verdict}: sent {report.interactions_sent:,}, "
                f"created {report.interactions_created:,} (duplicates {report.duplicates:,}), "
                f"user_interactions {report.rows_before:,} -> {report.rows_after:,} "
                f"(+{report.rows_after - report.rows_before:,}; "
                f"rows with this run's keys {report.rows_with_run_keys:,})"
            )


def report_json(
    reports: Sequence[CaseReport], plan: Plan, loop_name: str, keepalive_penalty_ms: float
) -> dict[str, Any]:
    cases = []
    for report in reports:
        figures = report.figures()
        case: dict[str, Any] = {
            "case": report.name,
            "requests": report.load.sent,
            "errors": report.load.errors,
            "statuses": {str(s): n for s, n in sorted(report.load.statuses.items())},
            "failures": dict(report.load.failures),
            "wall_s": report.load.wall_s,
            "watched_cpu_s": report.load.watched_cpu_s,
            **{
                f"{k}_ms" if k in ("p50", "p95", "p99", "mean", "max") else k: v
                for k, v in figures.items()
                if not math.isnan(v)
            },
            "targets": [
                {"target": t.label, "value": figures[t.metric], "met": t.met(figures[t.metric])}
                for t in TARGETS[report.kind]
            ],
        }
        if report.rows_before is not None:
            case["count_check"] = {
                "sent": report.interactions_sent,
                "created": report.interactions_created,
                "duplicates": report.duplicates,
                "rows_before": report.rows_before,
                "rows_after": report.rows_after,
                "rows_with_run_keys": report.rows_with_run_keys,
                "passed": report.count_check_passed,
            }
        cases.append(case)
    return {
        "url": f"http://{plan.origin.netloc}",
        "finished_at": datetime.now(UTC).isoformat(),
        "concurrency": plan.concurrency,
        "rate": plan.rate,
        "event_loop": loop_name,
        "keepalive_penalty_ms": keepalive_penalty_ms,
        "cases": cases,
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the server's origin")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("SCENESCOUT_DATABASE_URL", "sqlite:///data/demo.db"),
        help="the server's database: users and events are sampled, interactions counted "
        "(default: $SCENESCOUT_DATABASE_URL or sqlite:///data/demo.db)",
    )
    parser.add_argument(
        "--api-key", help="a service API key (default: the first of $SCENESCOUT_API_KEYS)"
    )
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated: miss,hit,ingest")
    amount = parser.add_mutually_exclusive_group()
    amount.add_argument("--requests", type=int, default=3_000, help="requests per case (miss, hit)")
    amount.add_argument("--duration", type=float, help="seconds per case instead of a count")
    parser.add_argument(
        "--interactions",
        type=int,
        default=20_000,
        help="interactions sent per batch size in the ingest case (unless --duration)",
    )
    parser.add_argument(
        "--batch-size",
        default="50",
        help="interactions per ingest request; a comma-separated list runs each (1 = single body)",
    )
    parser.add_argument("--concurrency", type=int, default=8, help="connections (in flight)")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="open loop: requests/s per case (0: closed loop)"
    )
    parser.add_argument("--hit-set", type=int, default=50, help="distinct requests in the hit case")
    parser.add_argument("--radius-km", type=float, default=25.0)
    parser.add_argument("--limit", type=int, default=20, help="recommendations per request")
    parser.add_argument("--sample", type=int, default=5_000, help="users and events sampled")
    parser.add_argument("--seed", type=int, help="sampling seed (default: random per run)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    parser.add_argument(
        "--ready-timeout", type=float, default=600.0, help="seconds to wait for GET /ready"
    )
    parser.add_argument(
        "--watch-pid",
        type=int,
        action="append",
        default=[],
        help="report the CPU time per request of this process and its children (Linux), "
        "e.g. the scenescout serve process and redis-server; repeatable",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    args.cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted(set(args.cases) - set(CASES))
    if unknown or not args.cases:
        parser.error(f"--cases takes a comma-separated subset of {','.join(CASES)}; got {unknown}")
    try:
        args.batch_sizes = [int(b) for b in args.batch_size.split(",")]
    except ValueError:
        parser.error(f"--batch-size takes integers, e.g. 1,50; got {args.batch_size!r}")
    if any(not 1 <= b <= 500 for b in args.batch_sizes):
        parser.error("--batch-size must be within 1..500 (the server's limit per request)")
    if not args.api_key:
        keys = ApiSettings().api_keys
        if not keys:
            parser.error("give --api-key or set SCENESCOUT_API_KEYS")
        args.api_key = keys[0]
    for pid in args.watch_pid:
        if _proc_stat(pid) is None:
            parser.error(f"--watch-pid {pid}: no such process (or no /proc on this system)")
    for name in ("concurrency", "requests", "interactions", "hit_set", "sample", "limit"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def _event_loop() -> str:
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


async def run(args: argparse.Namespace, plan: Plan) -> tuple[list[CaseReport], float]:
    """Every case asked for, and the server's keep-alive penalty (ms)."""
    seed = args.seed if args.seed is not None else secrets.randbits(32)
    world = load_world(args.database_url, args.sample, seed)
    console.print(
        f"sampled {len(world.users):,} users and {len(world.event_ids):,} upcoming events "
        f"from {args.database_url} (seed {seed})"
    )
    await wait_until_ready(plan.origin, args.ready_timeout)
    await check_access(plan.origin, plan.headers, world.users[0][0])
    penalty_ms = await keepalive_penalty_ms(plan.origin)
    if penalty_ms > KEEPALIVE_WARNING_MS:
        console.print(
            f"[yellow]warning: requests on a kept-alive connection take {penalty_ms:.0f} ms more "
            "than on a new one: the server's sockets lack TCP_NODELAY (uvicorn --workers N, "
            "Kludex/uvicorn#3149), and every latency below includes that delay[/]"
        )
    reports = []
    if "miss" in args.cases:
        reports.append(await run_miss(plan, world, args.radius_km, args.limit, seed))
    if "hit" in args.cases:
        hit_set = min(args.hit_set, len(world.users))
        reports.append(await run_hit(plan, world, args.radius_km, args.limit, hit_set))
    if "ingest" in args.cases:
        for batch_size in args.batch_sizes:
            reports.append(await run_ingest(plan, world, args.database_url, batch_size, seed))
    return reports, penalty_ms


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        origin = Origin.from_url(args.url)
    except ValueError as error:
        console.print(f"error: {error}")
        return EXIT_SETUP
    plan = Plan(
        origin=origin,
        headers={"Authorization": f"Bearer {args.api_key}"},
        concurrency=args.concurrency,
        requests=None if args.duration else args.requests,
        interactions=None if args.duration else args.interactions,
        duration_s=args.duration,
        rate=args.rate,
        timeout_s=args.timeout,
        watch_pids=tuple(args.watch_pid),
    )
    loop_name = _event_loop()
    try:
        reports, penalty_ms = asyncio.run(run(args, plan))
    except SetupError as error:
        console.print(f"error: {error}")
        return EXIT_SETUP
    print_report(reports, loop_name, plan)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(
            orjson.dumps(
                report_json(reports, plan, loop_name, penalty_ms), option=orjson.OPT_INDENT_2
            )
        )
        console.print(f"results written to {args.json}")
    failed = any(r.load.errors or not r.count_check_passed for r in reports)
    return EXIT_FAILED if failed else 0


if __name__ == "__main__":
    sys.exit(main())
