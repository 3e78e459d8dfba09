"""The command line, end to end on SQLite: exit codes, one-line errors, real effects."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from scenescout.cli import app
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
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
