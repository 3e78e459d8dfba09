"""The ``scenescout`` command line: a composition root, like the HTTP API.

User mistakes (bad files, bad URLs, invalid values) end with a one-line error and exit code
2, never a traceback.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from scenescout.config import DEFAULT_DATABASE_URL, Settings
from scenescout.datasets.loaders import DataFileError

app = typer.Typer(
    name="scenescout",
    help="SceneScout Personalization: real-time, explainable event recommendations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
error_console = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")


class CliError(Exception):
    """A user mistake the CLI reports as a one-line error."""


def user_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn the errors a user can fix into a one-line message and exit code 2."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from scenescout.storage.database import StorageError

        try:
            return command(*args, **kwargs)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}"
                for e in error.errors()
            )
            error_console.print(f"[bold red]error:[/] invalid value: {problems}")
        except (CliError, DataFileError, StorageError, FileNotFoundError) as error:
            error_console.print(f"[bold red]error:[/] {error}")
        raise typer.Exit(code=2)

    return wrapper


DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help=f"Database URL (sqlite:///path.db or postgresql+psycopg://...). "
        f"Default: $SCENESCOUT_DATABASE_URL or {DEFAULT_DATABASE_URL}.",
        show_default=False,
    ),
]


def _settings(database_url: str | None) -> Settings:
    settings = Settings()
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    return settings


def _open_store(database_url: str | None, *, migrate: bool = True) -> Any:
    from scenescout.storage.database import Database
    from scenescout.storage.repositories import Store

    db = Database.from_url(_settings(database_url).database_url)
    if migrate:
        db.migrate()
    return Store(db)


@contextmanager
def _progress() -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress display fed by ``callback(stage, done, total)`` calls."""
    tasks: dict[str, TaskID] = {}
    with Progress(
        TextColumn("[bold]{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:

        def callback(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=max(total, 1))
            progress.update(tasks[stage], completed=done, total=max(total, 1))

        yield callback


@app.command()
@user_errors
def init(database_url: DatabaseUrl = None) -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    store = _open_store(database_url)
    console.print(f"[green]Database ready[/] at {store.db.engine.url.render_as_string()}")


@app.command()
@user_errors
def generate(
    database_url: DatabaseUrl = None,
    events: Annotated[int, typer.Option(min=1, help="Number of events.")] = 100_000,
    users: Annotated[int, typer.Option(min=1, help="Number of users.")] = 50_000,
    interactions: Annotated[int, typer.Option(min=1, help="Number of interactions.")] = 1_000_000,
    seed: Annotated[
        int, typer.Option(help="Random seed: the same seed gives the same world.")
    ] = 42,
    reference_time: Annotated[
        str | None,
        typer.Option(help="The world's 'now' (ISO 8601). Default: the current hour (UTC)."),
    ] = None,
) -> None:
    """Generate a synthetic event world with a hidden ground truth and load it."""
    from scenescout.datasets.generator import WorldConfig, generate_world, write_world
    from scenescout.datasets.loaders import parse_timestamp

    options: dict[str, Any] = {
        "seed": seed,
        "n_events": events,
        "n_users": users,
        "n_interactions": interactions,
    }
    if reference_time:
        try:
            options["reference_time"] = parse_timestamp(reference_time)
        except ValueError:
            raise CliError(f"--reference-time {reference_time!r} is not ISO 8601") from None
    config = WorldConfig(**options)
    store = _open_store(database_url)
    existing = store.events.count()
    if existing:
        raise CliError(
            f"the database already holds {existing:,} events; generate into an empty database "
            "(e.g. --database-url sqlite:///data/other.db)"
        )
    started = time.perf_counter()
    with _progress() as progress:
        world = generate_world(config, progress=progress)
        counts = write_world(store.db, world, progress=progress)
    elapsed = time.perf_counter() - started
    summary = ", ".join(f"{count:,} {table}" for table, count in counts.items())
    console.print(f"[green]Generated[/] {summary} in {elapsed:.1f} s (seed {seed}).")


@app.command("import")
@user_errors
def import_(
    database_url: DatabaseUrl = None,
    interactions: Annotated[
        Path | None,
        typer.Option(help="Interaction file: user_id, event_id[, weight, timestamp, type]."),
    ] = None,
    events: Annotated[
        Path | None,
        typer.Option(help="Event file: event_id, lat, lng[, category, title, start, end]."),
    ] = None,
    delimiter: Annotated[
        str | None, typer.Option(help="Field delimiter; detected when omitted ('tab' for TSV).")
    ] = None,
    default_type: Annotated[
        str, typer.Option(help="Interaction type for rows that give none.")
    ] = "click",
) -> None:
    """Import real interaction and event files (CSV, TSV or whitespace-separated)."""
    from scenescout.datasets.loaders import file_digest, read_events, read_interactions
    from scenescout.domain import InteractionType
    from scenescout.storage.importer import import_dataset

    if interactions is None and events is None:
        raise CliError("nothing to import: give --interactions FILE and/or --events FILE")
    try:
        kind = InteractionType(default_type)
    except ValueError:
        valid = ", ".join(t.value for t in InteractionType)
        raise CliError(f"--default-type {default_type!r} is not one of {valid}") from None
    separator = "\t" if delimiter == "tab" else delimiter
    event_records = read_events(events, delimiter=separator) if events else []
    log = (
        read_interactions(interactions, delimiter=separator, default_type=kind)
        if interactions
        else None
    )
    store = _open_store(database_url)
    with _progress() as progress:
        summary = import_dataset(
            store.db,
            events=event_records,
            interactions=log,
            source=str(interactions or events),
            digest=file_digest(interactions) if interactions else "",
            progress=progress,
        )
    console.print(f"[green]Imported[/] {summary}")


@app.command()
@user_errors
def stats(database_url: DatabaseUrl = None) -> None:
    """Show what the database holds: counts, upcoming events, interactions by type."""
    store = _open_store(database_url)
    _print_stats(store.stats(datetime.now(UTC)))


def _print_stats(figures: dict[str, Any]) -> None:
    table = Table(title="SceneScout data", show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    for key, value in figures.items():
        if isinstance(value, dict):
            for inner_key, inner_value in value.items():
                table.add_row(f"{key}: {inner_key}", f"{inner_value:,}")
        else:
            table.add_row(str(key), f"{value:,}")
    console.print(table)


@app.command()
@user_errors
def demo(
    database_url: DatabaseUrl = None,
    events: Annotated[int, typer.Option(min=1)] = 20_000,
    users: Annotated[int, typer.Option(min=1)] = 10_000,
    interactions: Annotated[int, typer.Option(min=1)] = 200_000,
) -> None:
    """Build the demo world when missing, then show stats and a sample candidate query."""
    from scenescout.catalog import CatalogSnapshot
    from scenescout.datasets.generator import WorldConfig, generate_world, write_world
    from scenescout.domain import GeoPoint

    store = _open_store(database_url)
    if store.events.count() == 0:
        console.print("[bold]Building the demo event world[/] (first run only)...")
        config = WorldConfig(seed=42, n_events=events, n_users=users, n_interactions=interactions)
        with _progress() as progress:
            world = generate_world(config, progress=progress)
            write_world(store.db, world, progress=progress)
    now = datetime.now(UTC)
    _print_stats(store.stats(now))

    started = time.perf_counter()
    snapshot = CatalogSnapshot.build(store.events.load_frame(ending_after=now), now)
    console.print(
        f"Catalog snapshot: {len(snapshot):,} upcoming events loaded in "
        f"{time.perf_counter() - started:.2f} s"
    )
    frame = snapshot.frame
    if len(frame) == 0:
        console.print("[yellow]No upcoming events in the demo world.[/]")
        return
    center = GeoPoint(lat=float(frame.lat[0]), lng=float(frame.lng[0]))
    timings = []
    for _ in range(200):
        tick = time.perf_counter_ns()
        found = snapshot.candidates(center, 25.0, None, None, None, now=now)
        timings.append(time.perf_counter_ns() - tick)
    timings.sort()
    console.print(
        f"Sample query: {len(found):,} upcoming events within 25 km of "
        f"({center.lat:.3f}, {center.lng:.3f}); median {timings[len(timings) // 2] / 1000:.0f} µs"
    )
    table = Table(title="Nearest upcoming events")
    for column in ("event", "title", "category", "starts", "km"):
        table.add_column(column)
    distances = snapshot.distances_km(found, center)
    for position in distances.argsort()[:10]:
        row = int(found[position])
        table.add_row(
            str(frame.ids[row]),
            str(frame.title[row])[:48],
            str(frame.categories.name(int(frame.category[row]))),
            datetime.fromtimestamp(int(frame.start_ts[row]), tz=UTC).strftime("%Y-%m-%d %H:%M"),
            f"{distances[position]:.1f}",
        )
    console.print(table)
