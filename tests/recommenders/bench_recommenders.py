"""Fit time and per-request score() latency of every recommender at production scale.

A synthetic world of 100k events in 20 cities, 50k users and 1M interactions (users favour
two or three categories in their home city, popularity is long-tailed). Each request scores
2,000 events of the user's city, a third of them published after training (never seen in
fit), as a fresh candidate frame in geo order (as the catalog hands them out). Latency is
reported as wall and CPU time: on a shared machine the CPU time is the steadier figure.
Not a test: run it by hand.

    .venv/bin/python tests/recommenders/bench_recommenders.py --users 50000 --interactions 1000000
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from scenescout.domain import GeoPoint
from scenescout.frames import EventFrame, InteractionLog, Vocabulary
from scenescout.profiles.profile import UserProfile
from scenescout.recommenders import RECOMMENDERS, Recommender, ScoringContext, TrainingData

N_CITIES = 20
N_CATEGORIES = 15
WORDS_PER_CATEGORY = 40


def make_events(n_events: int, rng: np.random.Generator) -> tuple[EventFrame, np.ndarray]:
    city = np.sort(rng.integers(N_CITIES, size=n_events))
    city_lat = rng.uniform(-40, 60, N_CITIES)
    city_lng = rng.uniform(-120, 140, N_CITIES)
    category = rng.integers(N_CATEGORIES, size=n_events).astype(np.int32)
    words = [[f"w{c}x{i}" for i in range(WORDS_PER_CATEGORY)] for c in range(N_CATEGORIES)]
    common = [f"common{i}" for i in range(200)]
    titles = np.empty(n_events, dtype=object)
    descriptions = np.empty(n_events, dtype=object)
    tags = np.empty(n_events, dtype=object)
    for i in range(n_events):
        own = words[category[i]]
        picks = rng.integers(WORDS_PER_CATEGORY, size=12)
        titles[i] = " ".join(own[p] for p in picks[:3])
        descriptions[i] = " ".join([own[p] for p in picks[3:]] + rng.choice(common, 15).tolist())
        tags[i] = tuple(f"tag{category[i]}-{t}" for t in rng.integers(12, size=3))
    now = 1_750_000_000
    start = now + rng.integers(-60, 60, size=n_events) * 86_400
    venues = Vocabulary(f"venue{i}" for i in range(5_000))
    frame = EventFrame(
        ids=np.array([f"event-{i}" for i in range(n_events)], dtype=object),
        lat=city_lat[city] + rng.normal(0, 0.1, n_events),
        lng=city_lng[city] + rng.normal(0, 0.1, n_events),
        start_ts=start.astype(np.int64),
        end_ts=(start + 3 * 3600).astype(np.int64),
        published_ts=(start - 30 * 86_400).astype(np.int64),
        category=category,
        venue=(city * 250 + rng.integers(250, size=n_events)).astype(np.int32),
        organizer=np.full(n_events, -1, dtype=np.int32),
        price_min=rng.choice([0.0, 15.0, 40.0, 120.0], n_events).astype(np.float32),
        price_max=np.full(n_events, 200.0, dtype=np.float32),
        status=np.zeros(n_events, dtype=np.int8),
        title=titles,
        description=descriptions,
        tags=tags,
        categories=Vocabulary(f"category{c}" for c in range(N_CATEGORIES)),
        venues=venues,
        organizers=Vocabulary(),
    )
    return frame, city


def make_log(
    events: EventFrame,
    city: np.ndarray,
    trained: np.ndarray,
    n_users: int,
    n_interactions: int,
    rng: np.random.Generator,
) -> tuple[InteractionLog, np.ndarray]:
    user_city = rng.integers(N_CITIES, size=n_users)
    tastes = rng.integers(N_CATEGORIES, size=(n_users, 3))
    pools = {
        (c, k): trained[(city[trained] == c) & (events.category[trained] == k)]
        for c in range(N_CITIES)
        for k in range(N_CATEGORIES)
    }
    users = rng.integers(n_users, size=n_interactions)
    taste = tastes[users, rng.integers(3, size=n_interactions)]
    rows = np.empty(n_interactions, dtype=np.int64)
    for (c, k), pool in pools.items():
        chosen = np.flatnonzero((user_city[users] == c) & (taste == k))
        popularity = rng.lognormal(0.0, 1.2, size=pool.shape[0])
        rows[chosen] = rng.choice(pool, size=chosen.shape[0], p=popularity / popularity.sum())
    now = 1_750_000_000
    log = InteractionLog(
        user_ids=np.array([f"user-{u}" for u in users], dtype=object),
        event_ids=events.ids[rows],
        type_code=rng.choice(
            8, n_interactions, p=[0.5, 0.2, 0.1, 0.05, 0.05, 0.05, 0.03, 0.02]
        ).astype(np.int8),
        occurred_ts=(now - rng.integers(0, 60 * 86_400, size=n_interactions)).astype(np.int64),
        weight=np.full(n_interactions, np.nan, dtype=np.float32),
    )
    return log, user_city


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--candidates", type=int, default=2_000)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    rng = np.random.default_rng(20261126)
    events, city = make_events(args.events, rng)
    published_later = rng.random(args.events) < 1 / 3
    known = np.flatnonzero(~published_later)
    log, user_city = make_log(events, city, known, args.users, args.interactions, rng)
    now = 1_750_000_000
    data = TrainingData(log, events.take(known), now)
    print(f"{args.events} events, {args.users} users, {len(log)} interactions")

    users = rng.integers(args.users, size=args.requests)
    requests = []
    for u in users:
        in_city = np.flatnonzero(city == user_city[u])
        rows = rng.choice(in_city, size=min(args.candidates, in_city.shape[0]), replace=False)
        requests.append((f"user-{u}", np.sort(rows)))

    def context(user: str, rows: np.ndarray) -> ScoringContext:
        frame = events.take(rows)
        where = GeoPoint(lat=float(frame.lat[0]), lng=float(frame.lng[0]))
        profile = UserProfile(
            user_id=user,
            categories={name: float(rng.uniform(-1, 5)) for name in events.categories.names},
            price_bands={"budget": 3.0, "mid": 1.0},
            time_of_week={"5:2": 4.0, "6:2": 3.0, "6:1": 1.0},
            typical_distance_km=8.0,
            interaction_count=20,
            strength=0.6,
        )
        return ScoringContext(user, frame, now, location=where, profile=profile)

    with_factorization: dict[str, Any] = {"matrix_factorization": {"enabled": True, "weight": 0.2}}
    runs: list[tuple[str, type[Recommender], dict[str, Any]]] = [
        (name, cls, {}) for name, cls in RECOMMENDERS.items()
    ]
    runs.append(("hybrid + factorization", RECOMMENDERS["hybrid"], with_factorization))
    for name, cls, overrides in runs:
        recommender = cls(**overrides)
        started = time.perf_counter()
        recommender.fit(data)
        fit_s = time.perf_counter() - started
        started = time.perf_counter()
        recommender.score(context(*requests[0]))
        first_ms = (time.perf_counter() - started) * 1e3
        started = time.perf_counter()
        recommender.prepare_events(events)
        prepare_s = time.perf_counter() - started
        wall, cpu = [], []
        for user, rows in requests:
            request = context(user, rows)
            started, started_cpu = time.perf_counter(), time.process_time()
            recommender.score(request)
            cpu.append((time.process_time() - started_cpu) * 1e3)
            wall.append((time.perf_counter() - started) * 1e3)
        wall_p50, wall_p95 = np.percentile(wall, [50, 95])
        cpu_p50, cpu_p95 = np.percentile(cpu, [50, 95])
        print(
            f"{name:24s} fit {fit_s:6.1f} s  first score {first_ms:7.1f} ms  "
            f"prepare_events(all) {prepare_s:5.1f} s  score wall p50 {wall_p50:5.2f} "
            f"p95 {wall_p95:5.2f} ms, cpu p50 {cpu_p50:5.2f} p95 {cpu_p95:5.2f} ms"
        )


if __name__ == "__main__":
    main()
