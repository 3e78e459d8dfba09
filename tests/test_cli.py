"""The command line, end to end on SQLite: exit codes, one-line errors, real effects."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scenescout.cli import app
from scenescout.config import AlgorithmsConfig
from scenescout.recommenders import HybridConfig
from scenescout.storage import Database, Store

runner = CliRunner()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def test_init_creates_the_schema(database_url: str) -> None:
    result = runner.invoke(app, ["init", "--database-url", database_url])
    assert result.exit_code == 0, result.output
    assert "Database ready" in result.output
    assert Store(Database.from_url(database_url)).events.count() == 0


def test_import_then_stats_then_refuse_reimport(tmp_path: Path, database_url: str) -> None:
    events = tmp_path / "places.txt"
    events.write_text("P1 1.30 103.80\r\nP2 1.35 103.85\r\n")
    checkins = tmp_path / "checkins.txt"
    checkins.write_text("U1 P1 3\r\nU1 P2 1\r\nU2 P2 2\r\n")
    args = ["import", "--database-url", database_url]
    result = runner.invoke(app, [*args, "--events", str(events), "--interactions", str(checkins)])
    assert result.exit_code == 0, result.output
    assert "2 new events" in result.output and "3 interactions" in result.output

    store = Store(Database.from_url(database_url))
    assert store.interactions.count() == 3
    assert store.users.count() == 2

    again = runner.invoke(app, [*args, "--interactions", str(checkins)])
    assert again.exit_code == 2
    assert "already imported" in again.output
    assert store.interactions.count() == 3

    stats = runner.invoke(app, ["stats", "--database-url", database_url])
    assert stats.exit_code == 0
    assert "interactions_by_type: click" in stats.output


def test_interactions_on_unknown_events_are_refused(tmp_path: Path, database_url: str) -> None:
    checkins = tmp_path / "checkins.csv"
    checkins.write_text("user_id,event_id\nU1,NOPE\n")
    result = runner.invoke(
        app, ["import", "--database-url", database_url, "--interactions", str(checkins)]
    )
    assert result.exit_code == 2
    assert "not in the database (e.g. NOPE)" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["stats", "--database-url", "mysql://localhost/x"], "unsupported database URL scheme"),
        (["import"], "nothing to import"),
        (["import", "--interactions", "missing.csv"], "no such file"),
        (["import", "--interactions", "x.csv", "--default-type", "like"], "is not one of view"),
        (["recommend", "--user-id", "u", "--lat", "1"], "give --lat and --lng together"),
        (["recommend", "--user-id", "u", "--radius-km", "5"], "--radius-km needs --lat"),
        (["recommend", "--user-id", "u", "--limit", "0"], "limit: Input should be greater"),
        (["recommend", "--user-id", "u", "--now", "soon"], "--now 'soon' is not ISO 8601"),
        (["recommend", "--user-id", "u"], "the database holds no events"),
        (["similar"], "give exactly one of --event-id or --text"),
        (["similar", "--event-id", "e", "--text", "jazz"], "give exactly one"),
        (["evaluate", "--train", "x.csv"], "give --train and --test together"),
        (["evaluate", "--preset", "wild"], "unknown preset 'wild'"),
        (["evaluate"], "the database holds no interactions"),
        (["evaluate", "--train", "x.csv", "--test", "x.csv", "--events", "e.csv"], "not in"),
    ],
)
def test_user_mistakes_are_one_line_errors(
    args: list[str],
    message: str,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCENESCOUT_DATABASE_URL", database_url)
    (tmp_path / "x.csv").write_text("user_id,event_id\nu,e\n")
    (tmp_path / "e.csv").write_text("event_id,lat,lng\nother,1,2\n")
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


REFERENCE_TIME = "2025-06-01T12:00:00Z"
SEED_COMPONENTS = set(HybridConfig.from_algorithms(AlgorithmsConfig()).blend_weights())
"""The recommenders the seed's config blends, each evaluated on its own."""


@pytest.fixture(scope="module")
def world_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny generated world in SQLite, shared by the recommend/similar/evaluate tests."""
    url = f"sqlite:///{tmp_path_factory.mktemp('cli-world') / 'world.db'}"
    result = runner.invoke(
        app,
        [
            "generate",
            "--database-url",
            url,
            "--events",
            "500",
            "--users",
            "80",
            "--interactions",
            "4000",
            "--reference-time",
            REFERENCE_TIME,
        ],
    )
    assert result.exit_code == 0, result.output
    return url


def upcoming_event_ids(url: str) -> list[str]:
    frame = Store(Database.from_url(url)).events.load_frame()
    reference = datetime.fromisoformat(REFERENCE_TIME).timestamp()
    return sorted(frame.ids[(frame.end_ts >= reference) & (frame.status == 0)].tolist())


def test_recommend_prints_recommendations_with_their_reasons(world_url: str) -> None:
    args = ["recommend", "--database-url", world_url, "--now", REFERENCE_TIME]
    result = runner.invoke(app, [*args, "--user-id", "usr-00", "--limit", "5"])
    assert result.exit_code == 0, result.output
    assert "Trained on the database" in result.stderr
    assert "Recommendations for usr-00" in result.stdout
    assert any(reason in result.stdout for reason in ("interest_alignment", "similar_users"))


def test_recommend_json_has_the_seeds_shape_and_honours_the_filters(world_url: str) -> None:
    store = Store(Database.from_url(world_url))
    result = runner.invoke(
        app,
        [
            "recommend",
            "--database-url",
            world_url,
            "--now",
            REFERENCE_TIME,
            "--user-id",
            "someone-new",
            "--lat",
            "40.7128",
            "--lng",
            "-74.0060",
            "--radius-km",
            "40",
            "--categories",
            "music,arts,nightlife,food_drink",
            "--max-price",
            "80",
            "--start",
            "2025-06-02",
            "--limit",
            "6",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["success"] is True
    data = payload["data"]
    assert {"recommendations", "cache_info", "performance"} <= set(data)
    assert data["fallback"] == "cold_start"
    assert 0 < len(data["recommendations"]) <= 6
    for item in data["recommendations"]:
        assert set(item) == {"event_id", "score", "confidence", "explanation"}
        assert set(item["explanation"]) == {"primary_reason", "contributing_factors"}
        event = store.events.get(item["event_id"])
        assert event is not None and event.category in {"music", "arts", "nightlife", "food_drink"}
        assert event.price_min <= 80
        assert event.end_time is not None and event.end_time >= datetime(2025, 6, 2, tzinfo=UTC)


def test_similar_lists_other_upcoming_events(world_url: str) -> None:
    query = upcoming_event_ids(world_url)[0]
    args = ["similar", "--database-url", world_url, "--now", REFERENCE_TIME, "--k", "5"]
    by_event = runner.invoke(app, [*args, "--event-id", query])
    assert by_event.exit_code == 0, by_event.output
    listed = [line.split()[1] for line in by_event.stdout.splitlines() if "evt-" in line[:12]]
    assert 0 < len(listed) <= 5
    assert query not in listed
    assert set(listed) <= set(upcoming_event_ids(world_url))

    by_text = runner.invoke(app, [*args, "--text", "live music concert"])
    assert by_text.exit_code == 0, by_text.output
    assert "Upcoming events like 'live music concert'" in by_text.stdout

    unknown = runner.invoke(app, [*args, "--event-id", "no-such-event"])
    assert unknown.exit_code == 2
    assert "'no-such-event' is not in the catalog of upcoming events" in unknown.output
    assert "Traceback" not in unknown.output


def test_evaluate_on_the_database_reports_every_algorithm(world_url: str, tmp_path: Path) -> None:
    out = tmp_path / "metrics.json"
    args = ["evaluate", "--database-url", world_url, "--k", "5", "--max-users", "40"]
    result = runner.invoke(app, [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    every_component = {*SEED_COMPONENTS, "matrix_factorization", "item_knn"}
    assert set(metrics) == {"hybrid", "engine", "popularity", "random", *every_component}
    for values in metrics.values():
        assert 0.0 <= values["ndcg@5"] <= 1.0
        assert values["users"] <= 40
    assert "ndcg@5" in result.stdout


@pytest.mark.parametrize("with_events", [True, False])
def test_evaluate_on_files(tmp_path: Path, with_events: bool) -> None:
    train = tmp_path / "train.csv"
    train.write_text(
        "user_id,event_id,timestamp,type\n"
        "u1,e1,2025-01-01T10:00:00Z,click\nu1,e2,2025-01-02T10:00:00Z,save\n"
        "u2,e2,2025-01-01T11:00:00Z,click\nu2,e3,2025-01-03T10:00:00Z,view\n"
        "u3,e1,2025-01-02T10:00:00Z,view\nu3,e3,2025-01-04T10:00:00Z,click\n"
    )
    test = tmp_path / "test.csv"
    test.write_text(
        "user_id,event_id,timestamp,type\n"
        "u1,e3,2025-01-05T10:00:00Z,click\nu2,e1,2025-01-05T11:00:00Z,click\n"
    )
    args = ["evaluate", "--train", str(train), "--test", str(test), "--k", "2"]
    if with_events:
        events = tmp_path / "events.csv"
        events.write_text(
            "event_id,lat,lng,category,title\n"
            "e1,1.30,103.80,music,Jazz night\ne2,1.31,103.81,music,Rock show\n"
            "e3,1.35,103.85,arts,Gallery opening\n"
        )
        args += ["--events", str(events)]
    out = tmp_path / "metrics.json"
    result = runner.invoke(app, [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert {"hybrid", "popularity", "random", *SEED_COMPONENTS} <= set(metrics)
    assert all(values["users"] == 2 for values in metrics.values())


def test_train_writes_a_bundle_that_loads_as_the_trained_engine(
    world_url: str, tmp_path: Path
) -> None:
    from scenescout.engine.bundle import load_bundle, newest_bundle

    models = tmp_path / "models"
    args = ["train", "--database-url", world_url, "--models-dir", str(models)]
    result = runner.invoke(app, [*args, "--now", REFERENCE_TIME])
    assert result.exit_code == 0, result.output
    path = newest_bundle(models)
    assert path is not None and path.name in result.output.replace("\n", "")
    engine, info = load_bundle(path)
    store = Store(Database.from_url(world_url))
    assert info.learned_through_id == store.interactions.max_id()
    assert info.trained_as_of == int(datetime.fromisoformat(REFERENCE_TIME).timestamp())
    reference = int(info.trained_as_of)
    held = engine.catalog.take(engine.catalog.candidates(now=reference)).ids.tolist()
    assert sorted(held) == upcoming_event_ids(world_url)


def test_train_refuses_an_empty_database(database_url: str, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["train", "--database-url", database_url, "--models-dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "holds no events" in result.output


def test_serve_refuses_to_start_without_credentials(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SCENESCOUT_API_KEYS", raising=False)
    monkeypatch.delenv("SCENESCOUT_JWT_SECRET", raising=False)
    result = runner.invoke(app, ["serve", "--database-url", database_url])
    assert result.exit_code == 2
    assert "SCENESCOUT_API_KEYS" in result.output


def test_demo_builds_the_world_trains_once_and_prints_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SCENESCOUT_API_KEYS", raising=False)
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    args = ["demo", "--database-url", url, "--models-dir", str(tmp_path / "models"), "--no-serve"]
    small = ["--events", "300", "--users", "40", "--interactions", "2000"]
    first = runner.invoke(app, [*args, *small])
    assert first.exit_code == 0, first.output
    assert "Building the demo event world" in first.output and "Trained in" in first.output
    key = (tmp_path / "data" / "demo-api-key").read_text().strip()
    assert f"API key: {key}" in first.output
    assert f"Bearer {key}" in first.output.replace("\n", "")

    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "Building" not in second.output and "Using model bundle" in second.output
    assert f"API key: {key}" in second.output
