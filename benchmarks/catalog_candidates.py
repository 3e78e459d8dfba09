"""Latency of CatalogSnapshot.candidates() on a realistic, city-clustered event catalog.

Events cluster around twelve real city centres (a dense core, a metro area and a wider region
each, plus a thin scatter elsewhere), start over the next six months, and carry categories,
prices and statuses. Each query asks for a radius around a point near a city centre, a 30-day
window, and random category and price filters, as an event-discovery app does.

    .venv/bin/python benchmarks/catalog_candidates.py --events 100000 1000000
    .venv/bin/python benchmarks/catalog_candidates.py --cell-deg 0.05 0.1 0.25 0.5
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from scenescout.catalog import DEFAULT_CELL_DEG, DEFAULT_MAX_DELTA_ROWS, CatalogSnapshot
from scenescout.domain import EventStatus
from scenescout.frames import NO_END_TS, NO_START_TS, STATUS_CODES, EventFrame, Vocabulary
from scenescout.geo import KM_PER_DEGREE_LAT

# (name, lat, lng, relative share of events)
CITIES = [
    ("New York", 40.7128, -74.0060, 1.0),
    ("London", 51.5074, -0.1278, 0.9),
    ("Tokyo", 35.6762, 139.6503, 0.9),
    ("Paris", 48.8566, 2.3522, 0.7),
    ("Los Angeles", 34.0522, -118.2437, 0.7),
    ("Berlin", 52.5200, 13.4050, 0.6),
    ("São Paulo", -23.5505, -46.6333, 0.6),
    ("Mumbai", 19.0760, 72.8777, 0.5),
    ("Toronto", 43.6532, -79.3832, 0.4),
    ("Sydney", -33.8688, 151.2093, 0.4),
    ("Singapore", 1.3521, 103.8198, 0.3),
    ("Cape Town", -33.9249, 18.4241, 0.2),
]
CATEGORIES = [
    "music", "nightlife", "arts", "theatre", "comedy", "sports",
    "food", "family", "tech", "wellness", "film", "community",
]  # fmt: skip
DAY_S = 86_400


def _offset(
    rng: np.random.Generator, lat: np.ndarray, lng: np.ndarray, sigma_km: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    north_km = rng.normal(0.0, sigma_km)
    east_km = rng.normal(0.0, sigma_km)
    new_lat = np.clip(lat + north_km / KM_PER_DEGREE_LAT, -89.9, 89.9)
    new_lng = lng + east_km / (KM_PER_DEGREE_LAT * np.cos(np.radians(new_lat)))
    return new_lat, (new_lng + 180.0) % 360.0 - 180.0


def synthetic_events(n: int, now_ts: int, rng: np.random.Generator) -> EventFrame:
    """``n`` events around :data:`CITIES`, as an :class:`EventFrame`."""
    shares = np.array([city[3] for city in CITIES])
    city = rng.choice(len(CITIES), size=n, p=shares / shares.sum())
    lat = np.array([c[1] for c in CITIES])[city]
    lng = np.array([c[2] for c in CITIES])[city]
    spread = rng.random(n)
    sigma_km = np.select([spread < 0.45, spread < 0.80], [3.0, 12.0], 40.0)
    lat, lng = _offset(rng, lat, lng, sigma_km)
    scattered = spread > 0.95
    lat[scattered] = rng.uniform(-55.0, 70.0, int(scattered.sum()))
    lng[scattered] = rng.uniform(-180.0, 180.0, int(scattered.sum()))

    start_ts = now_ts + rng.integers(-3 * DAY_S, 180 * DAY_S, n)
    kind = rng.random(n)
    duration_s = np.where(
        kind < 0.85, rng.integers(3_600, 5 * 3_600, n), rng.integers(DAY_S, 3 * DAY_S, n)
    )
    end_ts = start_ts + duration_s
    permanent = kind > 0.98
    start_ts[permanent], end_ts[permanent] = NO_START_TS, NO_END_TS

    free = rng.random(n) < 0.3
    price_min = np.where(free, 0.0, np.round(rng.lognormal(3.0, 0.7, n), 2))
    price_max = np.where(free, 0.0, np.round(price_min * rng.uniform(1.0, 3.0, n), 2))
    status_codes = np.array([STATUS_CODES[s] for s in EventStatus], dtype=np.int8)
    status = rng.choice(status_codes, size=n, p=[0.92, 0.03, 0.05])

    def objects(value: Any) -> np.ndarray:
        column = np.empty(n, dtype=object)
        column[:] = value
        return column

    tags = np.empty(n, dtype=object)
    tags[:] = [()] * n
    weights = 1.0 / np.arange(1, len(CATEGORIES) + 1)
    return EventFrame(
        ids=np.array([f"e{i}" for i in range(n)], dtype=object),
        lat=lat,
        lng=lng,
        start_ts=start_ts.astype(np.int64),
        end_ts=end_ts.astype(np.int64),
        published_ts=np.full(n, now_ts - 30 * DAY_S, dtype=np.int64),
        category=rng.choice(len(CATEGORIES), size=n, p=weights / weights.sum()).astype(np.int32),
        venue=np.full(n, -1, dtype=np.int32),
        organizer=np.full(n, -1, dtype=np.int32),
        price_min=price_min.astype(np.float32),
        price_max=price_max.astype(np.float32),
        status=status,
        title=objects(""),
        description=objects(""),
        tags=tags,
        categories=Vocabulary(CATEGORIES),
        venues=Vocabulary(),
        organizers=Vocabulary(),
    )


def random_queries(
    count: int, radius_km: float, now_ts: int, rng: np.random.Generator
) -> list[dict[str, Any]]:
    shares = np.array([city[3] for city in CITIES])
    cities = rng.choice(len(CITIES), size=count, p=shares / shares.sum())
    lat, lng = _offset(
        rng,
        np.array([CITIES[c][1] for c in cities]),
        np.array([CITIES[c][2] for c in cities]),
        np.full(count, 5.0),
    )
    queries = []
    for i in range(count):
        categories = None
        if rng.random() < 0.5:
            picked = rng.choice(len(CATEGORIES), size=int(rng.integers(1, 4)), replace=False)
            categories = [CATEGORIES[c] for c in picked]
        price_range: tuple[float | None, float | None] | None = None
        draw = rng.random()
        if draw < 1 / 3:
            price_range = (None, float(rng.choice([0.0, 20.0, 50.0, 100.0])))
        elif draw < 2 / 3:
            low = float(rng.choice([10.0, 25.0, 50.0]))
            price_range = (low, low * 3)
        queries.append(
            {
                "center": (float(lat[i]), float(lng[i])),
                "radius_km": radius_km,
                "time_range": (now_ts, now_ts + 30 * DAY_S),
                "categories": categories,
                "price_range": price_range,
                "now": now_ts,
            }
        )
    return queries


def pending_changes(snapshot: CatalogSnapshot, count: int, rng: np.random.Generator) -> None:
    """Move ``count`` held events a few km, leaving them in the delta block."""
    rows = rng.choice(len(snapshot.frame), size=count, replace=False)
    changed = snapshot.frame.take(rows)
    changed.lat, changed.lng = _offset(rng, changed.lat, changed.lng, np.full(count, 2.0))
    snapshot.upsert(changed)


def measure(
    snapshot: CatalogSnapshot, queries: Sequence[dict[str, Any]], warmup: int
) -> tuple[float, float, float]:
    """p50 and p99 latency in µs, and the mean number of candidates."""
    for query in queries[:warmup]:
        snapshot.candidates(**query)
    queries = queries[warmup:]
    latencies_ns = np.empty(len(queries), dtype=np.int64)
    found = np.empty(len(queries), dtype=np.int64)
    for i, query in enumerate(queries):
        started = time.perf_counter_ns()
        rows = snapshot.candidates(**query)
        latencies_ns[i] = time.perf_counter_ns() - started
        found[i] = len(rows)
    p50, p99 = np.percentile(latencies_ns, [50, 99]) / 1_000.0
    return float(p50), float(p99), float(found.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=5_000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--radius-km", type=float, default=25.0)
    parser.add_argument("--cell-deg", type=float, nargs="+", default=[DEFAULT_CELL_DEG])
    parser.add_argument(
        "--delta-rows",
        type=int,
        default=0,
        help=f"changed events left in the delta block (at most {DEFAULT_MAX_DELTA_ROWS})",
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if not 0 <= args.delta_rows <= DEFAULT_MAX_DELTA_ROWS:
        parser.error(f"--delta-rows must be in [0, {DEFAULT_MAX_DELTA_ROWS}]")

    now_ts = 1_780_000_000
    header = (
        f"{'events':>9} {'cell_deg':>8} {'delta':>5} {'build ms':>9} "
        f"{'p50 µs':>8} {'p99 µs':>8} {'mean candidates':>16}"
    )
    print(f"radius {args.radius_km:g} km, 30-day window, {args.queries} queries, seed {args.seed}")
    print(header)
    print("-" * len(header))
    for n_events in args.events:
        rng = np.random.default_rng(args.seed)
        frame = synthetic_events(n_events, now_ts, rng)
        queries = random_queries(args.queries + args.warmup, args.radius_km, now_ts, rng)
        for cell_deg in args.cell_deg:
            started = time.perf_counter()
            snapshot = CatalogSnapshot.build(frame, now_ts, cell_deg=cell_deg)
            build_ms = (time.perf_counter() - started) * 1_000.0
            if args.delta_rows:
                pending_changes(snapshot, args.delta_rows, np.random.default_rng(args.seed))
            p50, p99, mean_found = measure(snapshot, queries, args.warmup)
            print(
                f"{len(snapshot):>9} {cell_deg:>8g} {args.delta_rows:>5} {build_ms:>9.0f} "
                f"{p50:>8.0f} {p99:>8.0f} {mean_found:>16.0f}"
            )


if __name__ == "__main__":
    main()
