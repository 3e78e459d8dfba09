import json
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from scenescout.datasets import (
    CATEGORIES,
    CITIES,
    VENUE_KINDS,
    World,
    WorldConfig,
    generate_world,
    write_world,
)
from scenescout.domain import Event, EventStatus, InteractionType
from scenescout.frames import INTERACTION_CODES, STATUS_CODES, from_epoch_seconds
from scenescout.geo import haversine_km
from scenescout.storage.database import Database

REFERENCE = datetime(2026, 3, 1, 12, tzinfo=UTC)
CODE = {t: INTERACTION_CODES[t] for t in InteractionType}


def small_config(**overrides: object) -> WorldConfig:
    values: dict[str, object] = {
        "seed": 11,
        "n_events": 400,
        "n_users": 150,
        "n_interactions": 3_000,
        "reference_time": REFERENCE,
        "history_days": 60,
        "horizon_days": 30,
    }
    values.update(overrides)
    return WorldConfig.model_validate(values)


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(
        small_config(seed=5, n_events=3_000, n_users=1_200, n_interactions=40_000, history_days=120)
    )


def arrays_of(world: World) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name, part in [
        ("venues", world.venues),
        ("events", world.events),
        ("details", world.event_details),
        ("users", world.users),
        ("truth", world.ground_truth),
        ("log", world.interactions),
    ]:
        for field, value in vars(part).items():
            if isinstance(value, np.ndarray):
                out[f"{name}.{field}"] = value
    out["interaction_user"] = world.interaction_user
    out["interaction_event"] = world.interaction_event
    return out


def assert_same_world(a: World, b: World) -> None:
    left, right = arrays_of(a), arrays_of(b)
    assert left.keys() == right.keys()
    for name in left:
        assert np.array_equal(left[name], right[name], equal_nan=left[name].dtype.kind == "f"), name


def check_time_rules(world: World) -> None:
    """The rules every consumer relies on; see the generator's module docstring."""
    log, events, details = world.interactions, world.events, world.event_details
    event, user = world.interaction_event, world.interaction_user
    ts, kind = log.occurred_ts, log.type_code
    ref = world.reference_ts
    history_start = ref - world.config.history_days * 86_400
    assert np.all(np.diff(ts) >= 0), "interactions are sorted by time"
    assert np.all(ts <= ref) and np.all(ts >= history_start)
    assert np.all(ts >= events.published_ts[event]), "no interaction before publication"
    assert np.all(ts >= world.users.created_ts[user]), "no interaction before sign-up"
    commits = np.isin(kind, [CODE[InteractionType.PURCHASE], CODE[InteractionType.RSVP]])
    assert np.all(ts[commits] < events.start_ts[event[commits]]), "no purchase/rsvp from start"
    changed = details.status_changed_ts[event]
    sold_out = commits & (events.status[event] == STATUS_CODES[EventStatus.SOLD_OUT])
    assert np.all(ts[sold_out] < changed[sold_out]), "no purchase after selling out"
    cancelled = events.status[event] == STATUS_CODES[EventStatus.CANCELLED]
    assert np.all(ts[cancelled] < changed[cancelled]), "nothing after a cancellation"
    assert np.all(ts < events.end_ts[event]), "nothing after the event ended"
    assert np.array_equal(log.user_ids, world.users.ids[user])
    assert np.array_equal(log.event_ids, events.ids[event])

    once = ~np.isin(kind, [CODE[InteractionType.VIEW], CODE[InteractionType.CLICK]])
    keys = list(zip(user[once].tolist(), event[once].tolist(), kind[once].tolist(), strict=True))
    assert len(keys) == len(set(keys)), "saves, purchases, hides... happen once per event"
    hidden_at: dict[tuple[int, int], int] = {}
    for u, e, k, t in zip(user.tolist(), event.tolist(), kind.tolist(), ts.tolist(), strict=True):
        assert (u, e) not in hidden_at or t <= hidden_at[(u, e)], "nothing after a hide"
        if k == CODE[InteractionType.HIDE]:
            hidden_at[(u, e)] = t


def test_same_seed_same_world_different_seed_different_world() -> None:
    config = small_config()
    assert_same_world(generate_world(config), generate_world(config))
    other = generate_world(small_config(seed=12))
    assert not np.array_equal(other.events.start_ts, generate_world(config).events.start_ts)


def test_more_interactions_keep_the_same_events_and_users() -> None:
    few = generate_world(small_config(n_interactions=1_000))
    many = generate_world(small_config(n_interactions=4_000))
    assert np.array_equal(few.events.start_ts, many.events.start_ts)
    assert np.array_equal(few.events.title, many.events.title)
    assert np.array_equal(few.ground_truth.affinity, many.ground_truth.affinity)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n_events=st.integers(1, 600),
    n_users=st.integers(1, 200),
    n_interactions=st.integers(0, 3_000),
    history_days=st.integers(1, 90),
    horizon_days=st.integers(1, 60),
)
def test_time_rules_hold_for_any_world(
    seed: int,
    n_events: int,
    n_users: int,
    n_interactions: int,
    history_days: int,
    horizon_days: int,
) -> None:
    world = generate_world(
        small_config(
            seed=seed,
            n_events=n_events,
            n_users=n_users,
            n_interactions=n_interactions,
            history_days=history_days,
            horizon_days=horizon_days,
        )
    )
    assert len(world.events) == n_events and len(world.users) == n_users
    assert len(world.interactions) <= n_interactions
    check_time_rules(world)


def test_interaction_count_is_exact_and_rules_hold(world: World) -> None:
    assert len(world.interactions) == world.config.n_interactions
    check_time_rules(world)


def test_funnel_narrows_from_views_to_purchases(world: World) -> None:
    counts = np.bincount(world.interactions.type_code, minlength=len(CODE))
    views, clicks = counts[CODE[InteractionType.VIEW]], counts[CODE[InteractionType.CLICK]]
    saves, purchases = counts[CODE[InteractionType.SAVE]], counts[CODE[InteractionType.PURCHASE]]
    assert views > 2 * clicks > 0
    assert clicks > saves > purchases > 0
    for kind in InteractionType:
        assert counts[CODE[kind]] > 0, kind
    assert counts[CODE[InteractionType.DISMISS]] > counts[CODE[InteractionType.HIDE]]

    # Every click follows a view of the same event by the same user, every purchase a click.
    log, user, event = world.interactions, world.interaction_user, world.interaction_event
    first_seen: dict[tuple[int, int, int], int] = {}
    kinds, times = log.type_code.tolist(), log.occurred_ts.tolist()
    for u, e, k, t in zip(user.tolist(), event.tolist(), kinds, times, strict=True):
        first_seen.setdefault((u, e, k), t)
    for (u, e, k), t in first_seen.items():
        if k == CODE[InteractionType.CLICK]:
            assert first_seen[(u, e, CODE[InteractionType.VIEW])] <= t
        if k == CODE[InteractionType.PURCHASE]:
            assert first_seen[(u, e, CODE[InteractionType.CLICK])] <= t


def test_purchase_weight_is_a_ticket_count(world: World) -> None:
    log = world.interactions
    purchases = log.type_code == CODE[InteractionType.PURCHASE]
    assert set(np.unique(log.weight[purchases]).tolist()) <= {1.0, 2.0, 3.0, 4.0}
    assert np.isnan(log.weight[~purchases]).all()


def test_events_are_valid(world: World) -> None:
    events, details = world.events, world.event_details
    ref = world.reference_ts
    assert np.all(events.end_ts >= events.start_ts)
    assert np.all(events.start_ts >= ref - world.config.history_days * 86_400)
    assert np.all(events.start_ts <= ref + world.config.horizon_days * 86_400)
    assert np.any(events.start_ts > ref) and np.any(events.end_ts < ref)
    assert np.all(events.published_ts < events.start_ts) and np.all(events.published_ts <= ref)
    assert np.all(details.created_ts <= events.published_ts)
    assert np.all(details.updated_ts >= details.created_ts) and np.all(details.updated_ts <= ref)
    assert np.all(events.price_min >= 0) and np.all(events.price_max >= events.price_min)
    free = events.price_min == 0
    assert 0.1 < free.mean() < 0.5
    assert np.all(events.price_max[free] == 0)
    cancelled = (events.status == STATUS_CODES[EventStatus.CANCELLED]).mean()
    sold_out = (events.status == STATUS_CODES[EventStatus.SOLD_OUT]).mean()
    assert 0.01 < cancelled < 0.06 and 0.01 < sold_out < 0.15
    assert np.all(events.category >= 0) and np.all(events.venue >= 0)
    assert np.all(events.organizer >= 0)
    assert np.all((details.local_weekday >= 1) & (details.local_weekday <= 7))


def test_events_happen_near_their_city_at_local_hours(world: World) -> None:
    events, details = world.events, world.event_details
    centre_lat = np.array([c.lat for c in CITIES])[details.city]
    centre_lng = np.array([c.lng for c in CITIES])[details.city]
    assert haversine_km(events.lat, events.lng, centre_lat, centre_lng).max() < 50.0
    venue_city = world.venues.city[events.venue]
    assert np.array_equal(venue_city, details.city)
    home_lat = np.array([c.lat for c in CITIES])[world.users.city]
    home_lng = np.array([c.lng for c in CITIES])[world.users.city]
    users = world.users
    assert haversine_km(users.home_lat, users.home_lng, home_lat, home_lng).max() < 50.0
    # The stored local hour is the start hour in the city's own time zone.
    for row in range(0, len(events), 97):
        start = from_epoch_seconds(int(events.start_ts[row]))
        assert start is not None
        local = start.astimezone(ZoneInfo(CITIES[details.city[row]].timezone))
        assert local.hour == details.local_hour[row]
        assert local.isoweekday() == details.local_weekday[row]
    category = CATEGORIES[events.category[0]]
    assert category.hour_weights.get(int(details.local_hour[0]), 0.0) > 0


def test_frame_rows_are_valid_domain_events(world: World) -> None:
    events = world.events
    for row in range(0, len(events), 53):
        event = Event(
            id=events.ids[row],
            title=events.title[row],
            description=events.description[row],
            category=events.categories.name(int(events.category[row])),
            tags=list(events.tags[row]),
            venue_id=events.venues.name(int(events.venue[row])),
            organizer=events.organizers.name(int(events.organizer[row])),
            lat=float(events.lat[row]),
            lng=float(events.lng[row]),
            start_time=from_epoch_seconds(int(events.start_ts[row])),
            end_time=from_epoch_seconds(int(events.end_ts[row])),
            price_min=float(events.price_min[row]),
            price_max=float(events.price_max[row]),
        )
        assert event.title and event.description and event.tags
        category = CATEGORIES[int(events.category[row])]
        assert category.name == event.category
        assert any(tag in category.tags for tag in event.tags)


def test_clicks_follow_the_ground_truth_taste(world: World) -> None:
    clicks = world.interactions.type_code == CODE[InteractionType.CLICK]
    user, event = world.interaction_user[clicks], world.interaction_event[clicks]
    favourite = np.argmax(world.ground_truth.affinity, axis=1)[user]
    category = world.events.category[event]
    base_rate = np.bincount(world.events.category, minlength=len(CATEGORIES)) / len(world.events)
    share = float((category == favourite).mean())
    expected_without_taste = float(base_rate[favourite].mean())
    assert share > 3.0 * expected_without_taste
    # Users who click more have an activity weight that says so.
    per_user = np.bincount(world.interaction_user, minlength=len(world.users))
    active = world.ground_truth.activity > np.median(world.ground_truth.activity)
    assert per_user[active].mean() > 2.0 * per_user[~active].mean()


def test_drifting_tastes_show_in_later_clicks(world: World) -> None:
    truth = world.ground_truth
    clicks = world.interactions.type_code == CODE[InteractionType.CLICK]
    user, event = world.interaction_user[clicks], world.interaction_event[clicks]
    ts = world.interactions.occurred_ts[clicks]
    category = world.events.category[event]
    before, after = ts < truth.drift_start_ts[user], ts > truth.drift_end_ts[user]
    drifter = truth.drifts[user]
    target = np.argmax(truth.drift_affinity, axis=1)[user]
    assert (category == target)[drifter & after].mean() > 2 * (category == target)[
        drifter & before
    ].mean()
    moved = truth.affinity_at(user[:, None], np.arange(len(CATEGORIES)), ts[:, None])
    assert np.allclose(moved.sum(axis=1), 1.0, atol=1e-4)


def test_utility_is_the_sampling_score(world: World) -> None:
    # Viewed events score higher than random live-looking pairs of the same users.
    views = world.interactions.type_code == CODE[InteractionType.VIEW]
    user, ts = world.interaction_user[views], world.interactions.occurred_ts[views]
    viewed = world.utility(user, world.interaction_event[views], ts)
    rng = np.random.default_rng(0)
    random_events = rng.integers(0, len(world.events), user.shape[0])
    same_city = world.event_details.city[random_events] == world.users.city[user]
    random_utility = world.utility(user[same_city], random_events[same_city], ts[same_city])
    assert np.isfinite(viewed).all()
    assert viewed.mean() > random_utility.mean() + 1.0


def test_ground_truth_is_json(world: World) -> None:
    truth = world.ground_truth
    for user in range(0, len(world.users), 37):
        taste = json.loads(json.dumps(truth.taste(user)))
        affinities = taste["category_affinities"]
        assert list(affinities) == [c.name for c in CATEGORIES]
        assert sum(affinities.values()) == pytest.approx(1.0, abs=2e-3)
        loved = sorted(affinities.values(), reverse=True)
        assert loved[0] > 0.15 and sum(loved[:4]) > 0.7, "each user loves a few categories"
        assert 0.0 <= taste["price_sensitivity"] <= 1.0 and 0.0 <= taste["novelty"] <= 1.0
        assert taste["distance_tolerance_km"] > 0
        assert set(taste["preferred_weekdays"]) <= set(range(1, 8)) and taste["preferred_weekdays"]
        assert set(taste["preferred_hours"]) <= set(range(24)) and taste["preferred_hours"]
        assert (taste["drift"] is not None) == bool(truth.drifts[user])
    assert 0.1 < truth.drifts.mean() < 0.4


def test_world_data_has_real_cities_and_distinct_categories() -> None:
    assert len(CITIES) >= 12 and len({c.name for c in CITIES}) == len(CITIES)
    london = next(c for c in CITIES if c.name == "London")
    assert (london.lat, london.lng) == pytest.approx((51.5074, -0.1278), abs=0.01)
    for city in CITIES:
        ZoneInfo(city.timezone)
        assert city.size > 0 and city.spread_km > 0
        assert set(city.category_boost) <= {c.name for c in CATEGORIES}
    assert len(CATEGORIES) >= 12 and len({c.name for c in CATEGORIES}) == len(CATEGORIES)
    kinds = {k.name for k in VENUE_KINDS}
    for category in CATEGORIES:
        assert len(category.weekday_weights) == 7 and sum(category.weekday_weights) > 0
        assert set(category.hour_weights) <= set(range(24)) and category.hour_weights
        assert set(category.venue_kinds) <= kinds
        assert 0.0 <= category.free_share < 1.0
        slots = {"adj": "a", "noun": "n", "venue": "v", "city": "c"}
        for template in category.title_templates + category.description_phrases:
            template.format(**slots)
    for a, b in combinations(CATEGORIES, 2):
        assert not set(a.tags) & set(b.tags), (a.name, b.name)
        words_a, words_b = set(a.nouns) | set(a.adjectives), set(b.nouns) | set(b.adjectives)
        assert len(words_a & words_b) <= 3, (a.name, b.name, words_a & words_b)


def test_config_validates() -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        small_config(reference_time=datetime(2026, 3, 1))
    with pytest.raises(ValidationError):
        small_config(n_events=0)
    with pytest.raises(ValidationError):
        small_config(unknown=1)
    default = WorldConfig().reference_time
    assert default.tzinfo is not None and default.minute == default.second == 0
    shifted = small_config(reference_time=datetime(2026, 3, 1, 13, tzinfo=ZoneInfo("Europe/Paris")))
    assert shifted.reference_time == REFERENCE and shifted.reference_time.tzinfo == UTC


def test_progress_reports_every_stage() -> None:
    seen: dict[str, tuple[int, int]] = {}

    def progress(stage: str, done: int, total: int) -> None:
        assert 0 <= done <= total
        seen[stage] = (done, total)

    world = generate_world(small_config(), progress)
    assert seen["venues"] == (len(world.venues), len(world.venues))
    assert seen["events"] == (400, 400) and seen["users"] == (150, 150)
    assert seen["interactions"] == (3_000, 3_000)


@pytest.mark.integration
def test_write_world_round_trips_through_sqlite(tmp_path: Path) -> None:
    world = generate_world(small_config())
    db = Database.from_url(f"sqlite:///{tmp_path / 'world.db'}")
    db.migrate()
    reported: dict[str, int] = {}
    counts = write_world(db, world, lambda table, done, total: reported.__setitem__(table, done))
    expected = {
        "venues": len(world.venues),
        "events": 400,
        "users": 150,
        "user_ground_truth": 150,
        "user_interactions": 3_000,
        "dataset_metadata": 1,
    }
    assert counts == expected and reported == expected
    with db.transaction() as connection:
        for table, count in expected.items():
            assert connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() == count
        event = connection.execute(
            sa.text("SELECT title, tags, start_time FROM events WHERE id = :i"),
            {"i": world.events.ids[0]},
        ).one()
        taste = connection.execute(
            sa.text("SELECT taste FROM user_ground_truth WHERE user_id = :u"),
            {"u": world.users.ids[3]},
        ).scalar_one()
        metadata = connection.execute(
            sa.text("SELECT value FROM dataset_metadata WHERE key = 'world'")
        ).scalar_one()
        by_type: dict[str, int] = dict(
            connection.execute(
                sa.text("SELECT interaction_type, count(*) FROM user_interactions GROUP BY 1")
            ).all()
        )
        first_interaction = connection.execute(
            sa.text(
                "SELECT occurred_at, metadata, idempotency_key FROM user_interactions "
                "ORDER BY occurred_at, id LIMIT 1"
            )
        ).one()
    assert event.title == world.events.title[0]
    assert json.loads(event.tags) == list(world.events.tags[0])
    assert datetime.fromisoformat(event.start_time).replace(tzinfo=UTC) == from_epoch_seconds(
        int(world.events.start_ts[0])
    )
    assert json.loads(taste) == world.ground_truth.taste(3)
    stored = json.loads(metadata)
    assert WorldConfig.model_validate(stored["config"]) == world.config
    assert datetime.fromisoformat(stored["reference_time"]) == REFERENCE
    assert stored["counts"]["interactions"] == 3_000
    log_counts = np.bincount(world.interactions.type_code, minlength=len(CODE))
    assert by_type == {t.value: int(log_counts[CODE[t]]) for t in InteractionType}
    assert first_interaction.metadata is None and first_interaction.idempotency_key is None
    occurred = datetime.fromisoformat(first_interaction.occurred_at).replace(tzinfo=UTC)
    assert occurred == from_epoch_seconds(int(world.interactions.occurred_ts[0]))
    db.dispose()
