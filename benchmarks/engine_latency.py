"""Latency of PersonalizationEngine.get_recommendations at 100k upcoming events, 50k users.

The engine is trained in process on a generated world (no database, no cache), the catalog's
per-event state is warmed as a server does at load (``hybrid.prepare_events``), then random
users ask for 20 recommendations within 25 km of their home. Reports percentiles of the
whole call, the mean time of its two stages, and how many candidates match the filters and
how many of them are scored.

    .venv/bin/python benchmarks/engine_latency.py
    .venv/bin/python benchmarks/engine_latency.py --max-scored 0  # score every candidate
    .venv/bin/python benchmarks/engine_latency.py --profile 300   # cProfile of 300 requests

It also times one full garbage collection with the engine loaded (the stall a serving
process avoids by freezing the engine's objects, see ``api.context.EngineSlot``). Requests
run with BLAS on one thread, as in a serving process.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import time
from datetime import UTC, datetime

import numpy as np
from threadpoolctl import threadpool_limits

from scenescout.api.context import SERVING_BLAS_THREADS
from scenescout.catalog import CatalogSnapshot
from scenescout.datasets import WorldConfig, generate_world
from scenescout.domain.recommendation import (
    LocationContext,
    RecommendationRequest,
    RequestContext,
)
from scenescout.engine import DEFAULT_MAX_SCORED_CANDIDATES, PersonalizationEngine
from scenescout.recommenders import TrainingData

REFERENCE_TIME = datetime(2025, 6, 1, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=125_000, help="events generated")
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--history-days", type=int, default=7)
    parser.add_argument("--horizon-days", type=int, default=120)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--radius-km", type=float, default=25.0)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--max-scored",
        type=int,
        default=DEFAULT_MAX_SCORED_CANDIDATES,
        help="the engine's cap on candidates scored per request; 0 for none",
    )
    parser.add_argument("--profile", type=int, default=0, help="cProfile this many requests")
    args = parser.parse_args()

    started = time.perf_counter()
    world = generate_world(
        WorldConfig(
            seed=args.seed,
            n_events=args.events,
            n_users=args.users,
            n_interactions=args.interactions,
            history_days=args.history_days,
            horizon_days=args.horizon_days,
            reference_time=REFERENCE_TIME,
        )
    )
    now_ts = world.reference_ts
    print(f"generated in {time.perf_counter() - started:.1f} s", flush=True)
    homes = dict(
        zip(
            world.users.ids.tolist(),
            zip(world.users.home_lat.tolist(), world.users.home_lng.tolist(), strict=True),
            strict=True,
        )
    )
    data = TrainingData(world.interactions, world.events, now_ts, homes)
    started = time.perf_counter()
    catalog = CatalogSnapshot.build(world.events, now_ts)
    engine = PersonalizationEngine.train(
        data, catalog, max_scored_candidates=args.max_scored or None
    )
    print(f"trained in {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    engine.hybrid.prepare_events(catalog.frame)
    print(f"prepared {len(catalog):,} catalog events in {time.perf_counter() - started:.1f} s")
    gc.collect()  # the garbage of training first, then one full collection as a server has it
    started = time.perf_counter()
    gc.collect()
    print(
        f"a full garbage collection with the engine loaded: "
        f"{(time.perf_counter() - started) * 1e3:.0f} ms ({len(gc.get_objects()):,} objects; "
        "a server freezes them out of collections, as this run does next)"
    )
    gc.freeze()
    # As a serving process does (api.context.EngineSlot.load): BLAS on one thread, so the
    # few small solves and products of scoring do not wake a second thread per call.
    threadpool_limits(limits=SERVING_BLAS_THREADS, user_api="blas")

    rng = np.random.default_rng(args.seed)
    users = world.users.ids[rng.integers(0, len(world.users), args.warmup + args.requests)]

    def request(user_id: str) -> RecommendationRequest:
        home = homes[user_id]
        location = LocationContext(lat=home[0], lng=home[1], radius_km=args.radius_km)
        return RecommendationRequest(
            user_id=user_id, context=RequestContext(location=location), limit=args.limit
        )

    requests = [request(str(u)) for u in users]
    for warm in requests[: args.warmup]:
        engine.get_recommendations(warm, now_ts=now_ts)
    measured = requests[args.warmup :]
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for r in measured[: args.profile]:
            engine.get_recommendations(r, now_ts=now_ts)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        return

    latencies_ms = np.empty(len(measured))
    stages_ms = np.empty((len(measured), 2))
    returned = np.empty(len(measured))
    for i, r in enumerate(measured):
        tick = time.perf_counter_ns()
        result = engine.get_recommendations(r, now_ts=now_ts)
        latencies_ms[i] = (time.perf_counter_ns() - tick) / 1e6
        returned[i] = len(result.recommendations)
        stages_ms[i] = result.performance.db_time_ms, result.performance.ml_time_ms
    # Counted apart from the timed calls: how many candidates pass the filters, and how
    # many of them are scored under the engine's cap.
    sample = measured[:300]
    scored = [len(engine.rank(r, now_ts=now_ts).candidates) for r in sample]
    cap = engine.max_scored_candidates
    engine.max_scored_candidates = None
    matching = [len(engine.rank(r, now_ts=now_ts).candidates) for r in sample]
    engine.max_scored_candidates = cap
    p50, p95, p99 = np.percentile(latencies_ms, [50, 95, 99])
    print(
        f"{len(catalog):,} upcoming events, {len(world.users):,} users, "
        f"{len(world.interactions):,} interactions; {len(measured):,} requests "
        f"(radius {args.radius_km:g} km, limit {args.limit})"
    )
    print(
        f"latency ms: p50 {p50:.2f}  p95 {p95:.2f}  p99 {p99:.2f}  "
        f"mean {latencies_ms.mean():.2f}  max {latencies_ms.max():.2f}"
    )
    print(
        f"stages, mean ms: candidates {stages_ms[:, 0].mean():.2f}  "
        f"scoring to explanations {stages_ms[:, 1].mean():.2f}"
    )
    print(
        f"candidates per request (first 300): matching the filters mean {np.mean(matching):,.0f} "
        f"(max {max(matching):,}), scored mean {np.mean(scored):,.0f} (cap {cap}); "
        f"items returned mean {returned.mean():.1f}"
    )


if __name__ == "__main__":
    main()
