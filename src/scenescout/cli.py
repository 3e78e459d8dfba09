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
from rich import box
from rich.console import Console
from rich.markup import escape
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


Now = Annotated[
    str | None,
    typer.Option(
        help="The time to recommend at (ISO 8601), e.g. a generated world's reference time. "
        "Default: the current time.",
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


def _instant(option: str, text: str) -> datetime:
    """An option's ISO 8601 time (naive means UTC) or epoch seconds."""
    from scenescout.datasets.loaders import parse_timestamp

    try:
        return parse_timestamp(text)
    except (ValueError, OverflowError, OSError):
        raise CliError(f"{option} {text!r} is not ISO 8601") from None


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
    history_days: Annotated[
        int, typer.Option(min=1, max=3_650, help="Days of past events and interactions.")
    ] = 120,
    horizon_days: Annotated[
        int, typer.Option(min=1, max=730, help="Days ahead that upcoming events start within.")
    ] = 60,
) -> None:
    """Generate a synthetic event world with a hidden ground truth and load it.

    A shorter history and a longer horizon leave more events upcoming (e.g. 125,000 events
    with --history-days 7 --horizon-days 120 leave about 100,000 upcoming).
    """
    from scenescout.datasets.generator import WorldConfig, generate_world, write_world

    options: dict[str, Any] = {
        "seed": seed,
        "n_events": events,
        "n_users": users,
        "n_interactions": interactions,
        "history_days": history_days,
        "horizon_days": horizon_days,
    }
    if reference_time:
        options["reference_time"] = _instant("--reference-time", reference_time)
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


ModelsDir = Annotated[
    Path | None,
    typer.Option(
        "--models-dir",
        help="Directory of model bundles. Default: $SCENESCOUT_MODELS_DIR or data/models.",
        show_default=False,
    ),
]
DEMO_KEY_FILE = Path("data/demo-api-key")


@app.command()
@user_errors
def demo(
    database_url: DatabaseUrl = None,
    models_dir: ModelsDir = None,
    events: Annotated[int, typer.Option(min=1)] = 20_000,
    users: Annotated[int, typer.Option(min=1)] = 10_000,
    interactions: Annotated[int, typer.Option(min=1)] = 200_000,
    host: Annotated[str, typer.Option(help="Interface to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    serve_: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the API when set up.")
    ] = True,
) -> None:
    """Build the demo world when missing, train a model bundle when there is none, show
    the world, then serve the API at http://HOST:PORT with its docs."""
    from scenescout.datasets.generator import WorldConfig, generate_world, write_world
    from scenescout.engine.bundle import BundleError, newest_bundle, read_info

    store = _open_store(database_url)
    if store.events.count() == 0:
        console.print("[bold]Building the demo event world[/] (first run only)...")
        config = WorldConfig(seed=42, n_events=events, n_users=users, n_interactions=interactions)
        with _progress() as progress:
            world = generate_world(config, progress=progress)
            write_world(store.db, world, progress=progress)
    now = datetime.now(UTC)
    _print_stats(store.stats(now))
    models = _models_dir(models_dir)
    bundle = newest_bundle(models)
    if bundle is not None:
        try:
            read_info(bundle)
        except BundleError as error:
            console.print(f"[yellow]{error}[/]")
            bundle = None
    if bundle is None:
        bundle = _train_bundle(store, models, now)
    else:
        console.print(f"Using model bundle {bundle} ([dim]`scenescout train` makes a new one[/])")
    key = _demo_key()
    url = f"http://{host}:{port}"
    console.print(
        f"\n[bold]API key:[/] {key}\n"
        f"Try:  curl -s -X POST {url}/api/personalization/recommendations "
        f"-H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' "
        f'-d \'{{"user_id": "{_some_user(store)}", "limit": 5}}\'\n'
        f"Docs: {url}/docs",
        soft_wrap=True,
    )
    if serve_:
        _serve(
            store.db.engine.url.render_as_string(hide_password=False),
            None,
            models,
            host,
            port,
            1,
            "info",
            api_keys=key,
        )


def _models_dir(models_dir: Path | None) -> Path:
    return models_dir if models_dir is not None else Path(Settings().models_dir)


def _demo_key() -> str:
    """The demo's service key: $SCENESCOUT_API_KEYS' first, else one kept in data/."""
    import os
    import secrets

    configured = [k.strip() for k in os.environ.get("SCENESCOUT_API_KEYS", "").split(",")]
    if configured and configured[0]:
        return configured[0]
    if not DEMO_KEY_FILE.exists():
        DEMO_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
        DEMO_KEY_FILE.write_text(f"demo-{secrets.token_urlsafe(24)}\n")
    return DEMO_KEY_FILE.read_text().strip()


def _some_user(store: Any) -> str:
    """The id of a user with interactions, for the example request."""
    import sqlalchemy as sa

    from scenescout.storage import schema

    table = schema.user_interactions
    with store.db.engine.connect() as connection:
        found = connection.scalar(sa.select(table.c.user_id).order_by(table.c.id).limit(1))
    return str(found) if found is not None else "user-1"


def _train_bundle(store: Any, models: Path, now: datetime) -> Path:
    """Train on the database as of ``now`` and write a bundle to ``models``."""
    from scenescout.engine import PersonalizationEngine
    from scenescout.engine.bundle import save_bundle

    started = time.perf_counter()
    with error_console.status("Training on the database..."):
        engine = PersonalizationEngine.from_store(store, now=now)
        path, info = save_bundle(engine, models, trained_as_of=int(now.timestamp()))
    console.print(
        f"Trained in {time.perf_counter() - started:.1f} s: {info.events:,} upcoming events, "
        f"{info.profiles:,} user profiles, interactions through id {info.learned_through_id:,}; "
        f"bundle [bold]{path}[/]"
    )
    return path


@app.command()
@user_errors
def train(
    database_url: DatabaseUrl = None,
    models_dir: ModelsDir = None,
    now: Now = None,
) -> None:
    """Train every recommender on the database and write a model bundle that serving
    processes load at start-up."""
    store = _open_store(database_url)
    if store.events.count() == 0:
        raise CliError("the database holds no events; run `scenescout generate` or `import`")
    when = _instant("--now", now) if now else datetime.now(UTC)
    _train_bundle(store, _models_dir(models_dir), when)


@app.command()
@user_errors
def serve(
    database_url: DatabaseUrl = None,
    redis_url: Annotated[
        str | None,
        typer.Option(
            help="Redis for the shared cache and for keeping workers coherent "
            "(redis://host:6379/0). Default: $SCENESCOUT_REDIS_URL; none: L1 only.",
            show_default=False,
        ),
    ] = None,
    models_dir: ModelsDir = None,
    host: Annotated[str, typer.Option(help="Interface to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes.")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the HTTP API with uvicorn. Each worker loads the newest model bundle (or
    trains on the database when there is none) and learns what was stored since.

    Service keys come from $SCENESCOUT_API_KEYS (comma-separated), user-token signing from
    $SCENESCOUT_JWT_SECRET. Several workers need Redis to see each other's writes.
    """
    import os

    if not os.environ.get("SCENESCOUT_API_KEYS") and not os.environ.get("SCENESCOUT_JWT_SECRET"):
        raise CliError(
            "no credentials configured: set SCENESCOUT_API_KEYS (service keys, comma-separated) "
            "and/or SCENESCOUT_JWT_SECRET (user tokens); every request would be refused"
        )
    redis = redis_url if redis_url is not None else Settings().redis_url
    if workers > 1 and redis is None:
        error_console.print(
            "[yellow]warning:[/] several workers without Redis: each one only sees the "
            "interactions and event changes it took itself; give --redis-url"
        )
    store = _open_store(database_url)
    _serve(
        store.db.engine.url.render_as_string(hide_password=False),
        redis,
        _models_dir(models_dir),
        host,
        port,
        workers,
        log_level,
    )


def _serve(
    database_url: str,
    redis_url: str | None,
    models: Path,
    host: str,
    port: int,
    workers: int,
    log_level: str,
    *,
    api_keys: str | None = None,
) -> None:
    """Run uvicorn on the app factory; workers read their settings from the environment."""
    import os

    import uvicorn

    os.environ["SCENESCOUT_DATABASE_URL"] = database_url
    os.environ["SCENESCOUT_MODELS_DIR"] = str(models)
    if redis_url is not None:
        os.environ["SCENESCOUT_REDIS_URL"] = redis_url
    if api_keys is not None:
        os.environ["SCENESCOUT_API_KEYS"] = api_keys
    console.print(
        f"Serving on http://{host}:{port} with {workers} worker(s); docs at "
        f"http://{host}:{port}/docs (Ctrl+C stops)"
    )
    from scenescout.api.serving import NO_DELAY_PROTOCOL, run_workers

    run_workers(
        uvicorn.Config(
            "scenescout.api:app_from_environment",
            factory=True,
            http=NO_DELAY_PROTOCOL,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=False,
        )
    )


def _trained_engine(database_url: str | None, now: datetime) -> Any:
    """An engine trained on the database as of ``now``, with a status line on stderr."""
    from scenescout.engine import PersonalizationEngine

    store = _open_store(database_url)
    if store.events.count() == 0:
        raise CliError("the database holds no events; run `scenescout generate` or `import`")
    started = time.perf_counter()
    with error_console.status("Training on the database..."):
        engine = PersonalizationEngine.from_store(store, now=now)
    error_console.print(
        f"Trained on the database in {time.perf_counter() - started:.1f} s: "
        f"{len(engine.catalog):,} upcoming events, {len(engine.profiles):,} user profiles."
    )
    return engine


def _describe(engine: Any, event_id: str) -> tuple[str, str, str, float, float, str]:
    """Title, category, start (UTC), lat, lng and price range of a catalog event."""
    from scenescout.frames import from_epoch_seconds

    row = engine.catalog.index_of(event_id)
    event = engine.catalog.take([row])
    start = from_epoch_seconds(int(event.start_ts[0]))
    low, high = float(event.price_min[0]), float(event.price_max[0])
    price = "free" if high == 0 else f"{low:g}" if low == high else f"{low:g}-{high:g}"
    return (
        str(event.title[0]),
        str(event.categories.name(int(event.category[0])) or ""),
        "" if start is None else start.strftime("%b %d %H:%M"),
        float(event.lat[0]),
        float(event.lng[0]),
        price,
    )


def _table(title: str, columns: list[str], rows: list[list[str]], right: set[str]) -> Table:
    """A borderless table whose last column takes (and wraps in) the width left over."""
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    for position, column in enumerate(columns):
        if position == len(columns) - 1:
            table.add_column(column, overflow="fold", min_width=12)
        else:
            width = max([len(column), *(len(row[position]) for row in rows)])
            table.add_column(
                column,
                justify="right" if column in right else "left",
                no_wrap=True,
                min_width=width,
            )
    for row in rows:
        table.add_row(*row)
    return table


@app.command()
@user_errors
def recommend(
    user_id: Annotated[str, typer.Option(help="Who to recommend for.")],
    database_url: DatabaseUrl = None,
    lat: Annotated[float | None, typer.Option(help="Latitude of the search centre.")] = None,
    lng: Annotated[float | None, typer.Option(help="Longitude of the search centre.")] = None,
    radius_km: Annotated[
        float | None,
        typer.Option(
            help="Search radius around --lat/--lng in km. Default: 25.", show_default=False
        ),
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="Events from this time or date (ISO 8601).")
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="Events until this time or date (a date: the whole day).")
    ] = None,
    categories: Annotated[
        str | None, typer.Option(help="Only these categories, comma-separated.")
    ] = None,
    min_price: Annotated[float | None, typer.Option(help="Lowest price.")] = None,
    max_price: Annotated[float | None, typer.Option(help="Highest price.")] = None,
    limit: Annotated[int, typer.Option(help="How many recommendations.")] = 20,
    preset: Annotated[
        str | None,
        typer.Option(
            help="default, conservative, aggressive or discovery. Default: default, "
            "or discovery for a user the engine knows nothing about.",
            show_default=False,
        ),
    ] = None,
    now: Now = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the seed's JSON response instead of a table.")
    ] = False,
) -> None:
    """Recommend events to a user, with the reasons why (trains on the database first)."""
    import json

    from scenescout.domain.recommendation import RecommendationRequest

    if (lat is None) != (lng is None):
        raise CliError("give --lat and --lng together")
    if radius_km is not None and lat is None:
        raise CliError("--radius-km needs --lat and --lng")
    context: dict[str, Any] = {}
    if lat is not None:
        location = {"lat": lat, "lng": lng}
        context["location"] = (
            location if radius_km is None else {**location, "radius_km": radius_km}
        )
    if start is not None or end is not None:
        context["time_range"] = {"start": start, "end": end}
    filters: dict[str, Any] = {}
    if categories is not None:
        filters["categories"] = [c.strip() for c in categories.split(",") if c.strip()]
    if min_price is not None or max_price is not None:
        filters["price_range"] = {"min": min_price, "max": max_price}
    request = RecommendationRequest.model_validate(
        {
            "user_id": user_id,
            "context": context,
            "filters": filters,
            "limit": limit,
            **({"preset": preset} if preset else {}),
        }
    )
    moment = _instant("--now", now) if now else datetime.now(UTC)
    engine = _trained_engine(database_url, moment)
    result = engine.get_recommendations(request, now_ts=int(moment.timestamp()))
    if as_json:
        payload = {"success": True, "data": result.model_dump(mode="json")}
        typer.echo(json.dumps(payload, indent=2))
        return

    from scenescout.geo import haversine_km_scalar

    origin = request.context.location
    profile = engine.profiles.get(user_id)
    where = (
        (origin.lat, origin.lng)
        if origin is not None
        else profile.home
        if profile is not None
        else None
    )
    notes = [f"fallback: {result.fallback}"] if result.fallback else []
    notes += [f"skipped {name}: {why}" for name, why in result.skipped_components.items()]
    title = f"Recommendations for {user_id}" + (f" ({'; '.join(notes)})" if notes else "")
    rows = []
    for rank, item in enumerate(result.recommendations, start=1):
        name, category, starts, event_lat, event_lng, _ = _describe(engine, item.event_id)
        distance = (
            f"{haversine_km_scalar(where[0], where[1], event_lat, event_lng):.1f}" if where else ""
        )
        why = item.explanation
        reason = why.primary_reason
        if why.contributing_factors:
            reason += f" ({', '.join(why.contributing_factors)})"
        rows.append(
            [
                str(rank),
                item.event_id,
                category,
                starts,
                distance,
                f"{item.score:.3f}",
                f"{escape(name)}\n[dim]{reason}[/dim]",
            ]
        )
    columns = ["#", "event", "category", "starts (UTC)", "km", "score", "title / why"]
    table = _table(title, columns, rows, right={"#", "km", "score"})
    console.print(table)
    timings = result.performance
    console.print(
        f"{len(result.recommendations)} recommendations in {timings.total_time_ms:.1f} ms "
        f"(candidates {timings.db_time_ms:.1f} ms, scoring {timings.ml_time_ms:.1f} ms)."
    )


@app.command()
@user_errors
def similar(
    database_url: DatabaseUrl = None,
    event_id: Annotated[str | None, typer.Option(help="Events like this one.")] = None,
    text: Annotated[str | None, typer.Option(help="Events matching this text.")] = None,
    k: Annotated[int, typer.Option(min=1, help="How many events.")] = 10,
    now: Now = None,
) -> None:
    """Upcoming events most similar in content to an event or to free text."""
    if (event_id is None) == (text is None):
        raise CliError("give exactly one of --event-id or --text")
    moment = _instant("--now", now) if now else datetime.now(UTC)
    engine = _trained_engine(database_url, moment)
    try:
        found = engine.similar_events(event_id, text, k, now_ts=int(moment.timestamp()))
    except KeyError as error:
        raise CliError(str(error.args[0])) from None
    rows = []
    for rank, item in enumerate(found, start=1):
        name, category, starts, _, _, price = _describe(engine, item.event_id)
        rows.append(
            [
                str(rank),
                item.event_id,
                category,
                starts,
                price,
                f"{item.similarity:.3f}",
                escape(name),
            ]
        )
    columns = ["#", "event", "category", "starts (UTC)", "price", "similarity", "title"]
    table = _table(
        f"Upcoming events like {event_id or repr(text)}", columns, rows, right={"#", "similarity"}
    )
    console.print(table)
    if not found:
        console.print("[yellow]No upcoming event shares a word with the query.[/]")


def _events_of_files(path: Path | None, train: Any, test: Any) -> Any:
    """The events of an evaluation from a file, or the ids seen, all at one point."""
    from scenescout.datasets.loaders import read_events
    from scenescout.domain import Event
    from scenescout.frames import EventFrame

    seen = sorted(set(train.event_ids.tolist()) | set(test.event_ids.tolist()))
    if path is None:
        return EventFrame.from_events([Event(id=event_id, lat=0.0, lng=0.0) for event_id in seen])
    records = read_events(path)
    described = {record.event_id for record in records}
    missing = [event_id for event_id in seen if event_id not in described]
    if missing:
        raise CliError(f"{len(missing):,} interacted events are not in {path} (e.g. {missing[0]})")
    return EventFrame.from_events([record.to_event() for record in records])


@app.command()
@user_errors
def evaluate(
    database_url: DatabaseUrl = None,
    train: Annotated[
        Path | None, typer.Option(help="Training interactions: user_id,event_id[,timestamp,...]")
    ] = None,
    test: Annotated[Path | None, typer.Option(help="Held-out interactions, same columns.")] = None,
    events: Annotated[
        Path | None,
        typer.Option(
            help="Events: event_id,lat,lng[,category,title,times]. Default: the ids "
            "seen, without locations."
        ),
    ] = None,
    k: Annotated[int, typer.Option(min=1, help="Length of the ranked lists.")] = 10,
    preset: Annotated[str, typer.Option(help="The personalization config.")] = "default",
    max_users: Annotated[int, typer.Option(min=1, help="Users evaluated at most.")] = 2_000,
    radius_km: Annotated[
        float, typer.Option(min=0.0, help="Candidates within this distance of a user.")
    ] = 50.0,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the metrics here as JSON.")
    ] = None,
) -> None:
    """Offline accuracy of the recommenders, the hybrid, the engine and baselines.

    Each recommender the preset blends is ranked on its own and as the hybrid, next to the
    whole engine and popularity and random baselines. With --train and --test, on those
    files (the cut is the first test time). Without, on the database: a temporal split
    whose test keeps only the events still upcoming at the cut, candidates around each
    user's home.
    """
    import json

    from scenescout.datasets.loaders import read_interactions
    from scenescout.evaluation.runner import EvaluationSetup, run_evaluation
    from scenescout.evaluation.splits import relevant_items, upcoming_only_split
    from scenescout.recommenders.presets import get_preset

    try:
        config = get_preset(preset)
    except ValueError as error:
        raise CliError(str(error)) from None
    if (train is None) != (test is None):
        raise CliError("give --train and --test together")
    if events is not None and train is None:
        raise CliError("--events needs --train and --test")
    if train is not None and test is not None:
        loaded_at = datetime.now(UTC)
        train_log = read_interactions(train, default_time=loaded_at)
        test_log = read_interactions(test, default_time=loaded_at)
        setup = EvaluationSetup(
            train=train_log,
            relevant=relevant_items(test_log),
            events=_events_of_files(events, train_log, test_log),
            cut_ts=int(test_log.occurred_ts.min()),
            radius_km=radius_km,
            k=k,
            max_users=max_users,
        )
        source = f"{train} / {test}"
    else:
        store = _open_store(database_url)
        log = store.interactions.load_log()
        if len(log) == 0:
            raise CliError(
                "the database holds no interactions; run `scenescout generate` or `import`, "
                "or give --train and --test"
            )
        frame = store.events.load_frame()
        split = upcoming_only_split(log, frame)
        setup = EvaluationSetup(
            train=split.train,
            relevant=relevant_items(split.test),
            events=frame,
            cut_ts=split.cut_ts,
            radius_km=radius_km,
            k=k,
            user_homes=store.users.homes_and_preferences().homes,
            max_users=max_users,
        )
        source = f"the database (cut {datetime.fromtimestamp(split.cut_ts, UTC):%Y-%m-%d %H:%M})"
    started = time.perf_counter()
    console.print(f"Evaluating on {source}: training, then ranking for each user...")
    try:
        with _progress() as progress:
            results = run_evaluation(setup, config, progress=progress)
    except ValueError as error:
        raise CliError(str(error)) from None
    elapsed = time.perf_counter() - started
    metrics = [f"ndcg@{k}", f"precision@{k}", f"recall@{k}", f"map@{k}", "coverage"]
    table = Table(title=f"Top-{k} accuracy, preset {preset} ({elapsed:.0f} s)")
    table.add_column("algorithm")
    for metric in [*metrics, "users"]:
        table.add_column(metric, justify="right")
    for name, values in sorted(results.items(), key=lambda item: -item[1][metrics[0]]):
        table.add_row(name, *(f"{values[m]:.4f}" for m in metrics), f"{values['users']:.0f}")
    console.print(table)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(results, indent=2, sort_keys=True))
        console.print(f"Metrics written to {json_path}")
