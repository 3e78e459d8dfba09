"""Timing of UserProfileBuilder.build_all and similar_users on a synthetic world.

Run: ``.venv/bin/python tests/profiles/bench_profiles.py [n_interactions] [n_users]``
(defaults 1,000,000 and 50,000). Not collected by pytest: it measures, it asserts nothing.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from scenescout.frames import NO_END_TS, EventFrame, InteractionLog, Vocabulary
from scenescout.profiles import UserProfileBuilder

DAY = 86_400
NOW_TS = 1_767_225_600  # 2026-01-01T00:00:00Z


def synthetic_world(
    n_interactions: int, n_users: int, n_events: int = 20_000, seed: int = 7
) -> tuple[InteractionLog, EventFrame, dict[str, tuple[float, float]]]:
    """Users with a few favourite categories (a tenth switch half-way), heavy-tailed activity."""
    rng = np.random.default_rng(seed)
    n_categories, n_tags = 30, 300
    categories = Vocabulary(f"cat{i}" for i in range(n_categories))
    venues = Vocabulary(f"venue{i}" for i in range(2_000))
    organizers = Vocabulary(f"org{i}" for i in range(1_000))
    event_category = rng.integers(0, n_categories, n_events)
    tags = np.empty(n_events, dtype=object)
    tags[:] = [
        tuple(f"tag{t}" for t in rng.choice(n_tags // n_categories, 3, replace=False) + c * 10)
        for c in event_category
    ]
    start = NOW_TS - rng.integers(0, 365 * DAY, n_events)
    events = EventFrame(
        ids=np.array([f"e{i}" for i in range(n_events)], dtype=object),
        lat=40.7 + rng.normal(0, 0.1, n_events),
        lng=-74.0 + rng.normal(0, 0.1, n_events),
        start_ts=start.astype(np.int64),
        end_ts=np.full(n_events, NO_END_TS, dtype=np.int64),
        published_ts=(start - 30 * DAY).astype(np.int64),
        category=event_category.astype(np.int32),
        venue=rng.integers(0, len(venues), n_events).astype(np.int32),
        organizer=rng.integers(0, len(organizers), n_events).astype(np.int32),
        price_min=rng.choice([0.0, 15.0, 40.0, 120.0, 300.0], n_events).astype(np.float32),
        price_max=np.full(n_events, 400.0, dtype=np.float32),
        status=np.zeros(n_events, dtype=np.int8),
        title=np.array([""] * n_events, dtype=object),
        description=np.array([""] * n_events, dtype=object),
        tags=tags,
        categories=categories,
        venues=venues,
        organizers=organizers,
    )
    by_category = [np.flatnonzero(event_category == c) for c in range(n_categories)]
    activity = rng.lognormal(0.0, 1.2, n_users)
    owner = rng.choice(n_users, n_interactions, p=activity / activity.sum())
    occurred = NOW_TS - rng.integers(0, 365 * DAY, n_interactions)
    favourites = rng.integers(0, n_categories, (n_users, 3))
    later = rng.integers(0, n_categories, (n_users, 3))
    switches = rng.random(n_users) < 0.1
    use_later = switches[owner] & (occurred > NOW_TS - 180 * DAY)
    pick = rng.integers(0, 3, n_interactions)
    taste = np.where(use_later, later[owner, pick], favourites[owner, pick])
    exploring = rng.random(n_interactions) < 0.2
    taste[exploring] = rng.integers(0, n_categories, int(exploring.sum()))
    event_index = np.array([rng.choice(by_category[c]) for c in taste.tolist()])
    log = InteractionLog(
        user_ids=np.array([f"u{u}" for u in owner.tolist()], dtype=object),
        event_ids=events.ids[event_index],
        type_code=rng.choice(
            8, n_interactions, p=[0.5, 0.2, 0.1, 0.03, 0.05, 0.02, 0.07, 0.03]
        ).astype(np.int8),
        occurred_ts=occurred.astype(np.int64),
        weight=np.full(n_interactions, np.nan, dtype=np.float32),
    )
    homes = {
        f"u{u}": (40.7 + rng.normal(0, 0.1), -74.0 + rng.normal(0, 0.1)) for u in range(n_users)
    }
    return log, events, homes


def main() -> None:
    n_interactions = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    n_users = int(sys.argv[2]) if len(sys.argv) > 2 else 50_000
    log, events, homes = synthetic_world(n_interactions, n_users)
    builder = UserProfileBuilder()
    wall, cpu = time.perf_counter(), time.process_time()
    profiles = builder.build_all(log, events, NOW_TS, homes=homes)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    flagged = sum(p.preference_change_detected for p in profiles.values())
    longest = max(p.interaction_count for p in profiles.values())
    print(
        f"build_all: {len(log):,} interactions, {len(profiles):,} users "
        f"(longest history {longest:,}, {flagged:,} flagged): {wall:.2f} s wall, {cpu:.2f} s CPU"
    )
    wall, cpu = time.perf_counter(), time.process_time()
    neighbours = builder.similar_users(profiles)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"similar_users: {len(neighbours):,} users, k=20: {wall:.2f} s wall, {cpu:.2f} s CPU")


if __name__ == "__main__":
    main()
