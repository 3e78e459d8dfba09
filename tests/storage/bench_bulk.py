"""Bulk-load throughput: events, users and interactions into an empty database.

Run (it DROPS every SceneScout table at the URL first)::

    python tests/storage/bench_bulk.py sqlite:///data/bench.db --interactions 1000000
    python tests/storage/bench_bulk.py postgresql://postgres@127.0.0.1/bench \\
        --events 1000000 --users 1000000 --interactions 10000000

Rows are generated lazily, as plain Python values, so the figures include building the
tuples (as a real import would) but never hold a table in memory.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from scenescout.storage import Database, Store

CHUNK = 100_000
START = datetime(2026, 1, 1, tzinfo=UTC)
CATEGORIES = ["music", "art", "sports", "food", "tech", "theatre", "comedy", "family"]
TYPES = ["view", "view", "view", "click", "click", "save", "rsvp", "dismiss"]


def event_rows(n: int, rng: np.random.Generator) -> Iterator[tuple[Any, ...]]:
    for first in range(0, n, CHUNK):
        size = min(CHUNK, n - first)
        lat = rng.uniform(40.5, 41.0, size).tolist()
        lng = rng.uniform(-74.2, -73.7, size).tolist()
        hours = rng.integers(0, 24 * 180, size).tolist()
        prices = rng.uniform(0, 80, size).round(2).tolist()
        for i in range(size):
            start = START + timedelta(hours=hours[i])
            yield (
                f"e{first + i:07d}",
                f"Event {first + i}",
                "A night of live music and good company.",
                CATEGORIES[(first + i) % len(CATEGORIES)],
                ["live", CATEGORIES[i % len(CATEGORIES)]],
                lat[i],
                lng[i],
                start,
                start + timedelta(hours=3),
                prices[i],
                prices[i] + 10.0,
                START,
                START,
            )


def user_rows(n: int, rng: np.random.Generator) -> Iterator[tuple[Any, ...]]:
    for first in range(0, n, CHUNK):
        size = min(CHUNK, n - first)
        lat = rng.uniform(40.5, 41.0, size).tolist()
        lng = rng.uniform(-74.2, -73.7, size).tolist()
        for i in range(size):
            yield (f"u{first + i:07d}", lat[i], lng[i], START)


def interaction_rows(
    n: int, n_users: int, n_events: int, rng: np.random.Generator
) -> Iterator[tuple[Any, ...]]:
    for first in range(0, n, CHUNK):
        size = min(CHUNK, n - first)
        users = rng.integers(0, n_users, size).tolist()
        events = rng.integers(0, n_events, size).tolist()
        seconds = rng.integers(0, 180 * 86_400, size).tolist()
        kinds = rng.integers(0, len(TYPES), size).tolist()
        for i in range(size):
            yield (
                f"u{users[i]:07d}",
                f"e{events[i]:07d}",
                TYPES[kinds[i]],
                None,
                START + timedelta(seconds=seconds[i]),
            )


def timed(label: str, load: Any) -> None:
    """Wall time (what a user waits) and this process's CPU time (what Python costs)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    result = load()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    count = result if isinstance(result, int) else len(result)
    print(
        f"{label:<28} {count:>12,} rows {elapsed:8.1f} s wall {count / elapsed:>10,.0f} rows/s"
        f" {cpu:8.1f} s client CPU",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    args = parser.parse_args()

    db = Database.from_url(args.url)
    db.downgrade()
    db.migrate()
    rng = np.random.default_rng(7)
    event_columns = [
        "id", "title", "description", "category", "tags", "lat", "lng", "start_time",
        "end_time", "price_min", "price_max", "created_at", "updated_at",
    ]  # fmt: skip
    started = time.perf_counter()
    timed(
        "events",
        lambda: db.bulk_insert("events", event_columns, event_rows(args.events, rng)),
    )
    timed(
        "users",
        lambda: db.bulk_insert(
            "users", ["id", "home_lat", "home_lng", "created_at"], user_rows(args.users, rng)
        ),
    )
    timed(
        "interactions",
        lambda: db.bulk_insert(
            "user_interactions",
            ["user_id", "event_id", "interaction_type", "weight", "occurred_at"],
            interaction_rows(args.interactions, args.users, args.events, rng),
        ),
    )
    print(f"{'total load':<28} {time.perf_counter() - started:24.1f} s wall", flush=True)
    store = Store(db)
    timed("load_frame (all events)", store.events.load_frame)
    timed("load_log (all interactions)", store.interactions.load_log)
    db.dispose()


if __name__ == "__main__":
    main()
