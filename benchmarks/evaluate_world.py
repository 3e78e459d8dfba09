"""Offline accuracy on a generated event world: every recommender, the hybrid, baselines.

Protocol: temporal, upcoming-only split (one global cut; at the cut only events still
upcoming can be recommended and count as relevant), candidates within 50 km of each user's
home, top-10. Prints a table and writes the metrics as JSON.

    .venv/bin/python benchmarks/evaluate_world.py --events 100000 --users 50000 \
        --interactions 1000000 --seed 42 --preset aggressive --json data/eval-world.json
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from scenescout.datasets.generator import WorldConfig, generate_world
from scenescout.evaluation.runner import EvaluationSetup, run_evaluation
from scenescout.evaluation.splits import relevant_items, upcoming_only_split
from scenescout.recommenders.presets import get_preset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--max-users", type=int, default=2_000)
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    console = Console()

    started = time.perf_counter()
    world = generate_world(
        WorldConfig(
            seed=args.seed,
            n_events=args.events,
            n_users=args.users,
            n_interactions=args.interactions,
            reference_time=datetime(2026, 6, 1, tzinfo=UTC),
        )
    )
    split = upcoming_only_split(world.interactions, world.events, test_fraction=args.test_fraction)
    homes = {
        user: (float(lat), float(lng))
        for user, lat, lng in zip(
            world.users.ids.tolist(), world.users.home_lat, world.users.home_lng, strict=True
        )
    }
    setup = EvaluationSetup(
        train=split.train,
        relevant=relevant_items(split.test),
        events=world.events,
        cut_ts=split.cut_ts,
        user_homes=homes,
        max_users=args.max_users,
        seed=args.seed,
    )
    console.print(
        f"world {args.events:,} events / {args.users:,} users / {len(world.interactions):,} "
        f"interactions; train {len(split.train):,}, test {len(split.test):,}, "
        f"{len(split.candidate_event_ids):,} events upcoming at the cut; preset {args.preset}"
    )
    results = run_evaluation(setup, get_preset(args.preset))
    elapsed = time.perf_counter() - started

    table = Table(title=f"Generated world, top-10 ({elapsed:.0f} s)")
    for column in ("algorithm", "ndcg@10", "precision@10", "recall@10", "map@10", "coverage"):
        table.add_column(column, justify="right" if column != "algorithm" else "left")
    for name, metrics in sorted(results.items(), key=lambda item: -item[1]["ndcg@10"]):
        table.add_row(
            name,
            *(f"{metrics[key]:.4f}" for key in ("ndcg@10", "precision@10", "recall@10", "map@10")),
            f"{metrics['coverage']:.3f}",
        )
    console.print(table)
    hybrid = results["hybrid"]["ndcg@10"]
    singles = {
        name: m["ndcg@10"]
        for name, m in results.items()
        if name not in ("hybrid", "engine", "popularity", "random")
    }
    console.print(
        f"hybrid / popularity = {hybrid / results['popularity']['ndcg@10']:.2f}; "
        f"best single recommender {max(singles, key=singles.__getitem__)} "
        f"{max(singles.values()):.4f} vs hybrid {hybrid:.4f}"
    )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
