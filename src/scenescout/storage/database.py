"""One database, chosen by URL: SQLite (embedded default) or PostgreSQL with PostGIS.

:class:`Database` owns the SQLAlchemy engine, runs the Alembic migrations, bulk-loads rows
(``COPY`` on PostgreSQL, batched ``executemany`` on SQLite) and opens per-user transactions
that row-level security applies to (PostgreSQL only).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Literal, cast

import orjson
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection, Engine

from scenescout.config import DEFAULT_DATABASE_URL
from scenescout.geo import haversine_km_scalar
from scenescout.storage.bulk import bulk_load
from scenescout.storage.errors import StorageError
from scenescout.storage.migrations import alembic_config

USER_ROLE = "scenescout_user"
"""The NOLOGIN PostgreSQL role that row-level security policies confine to one user's rows."""

USER_ID_SETTING = "scenescout.user_id"
"""The PostgreSQL setting the policies compare ``user_id`` with."""

SUPPORTED_URLS = "sqlite:///path/to.db, postgresql://... or postgresql+psycopg://..."

Dialect = Literal["sqlite", "postgresql"]

_DRIVERS: dict[str, str] = {
    "sqlite": "sqlite",
    "sqlite+pysqlite": "sqlite",
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
}
_MIGRATION_LOCK_ID = 0x5CE7E5C0  # pg_advisory_xact_lock key serializing concurrent migrations


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS).decode()


class Database:
    """A SQLite or PostgreSQL database behind one SQLAlchemy engine.

    Parameters
    ----------
    engine
        An engine whose dialect is ``sqlite`` or ``postgresql`` (psycopg 3). Prefer
        :meth:`from_url`, which also configures SQLite connections.
    """

    def __init__(self, engine: Engine) -> None:
        if engine.dialect.name not in ("sqlite", "postgresql"):
            raise StorageError(
                f"unsupported database dialect {engine.dialect.name!r}; use {SUPPORTED_URLS}"
            )
        self.engine = engine
        # Same pool; a connection checked out through it runs each statement on its own.
        self._reader = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql"
            else engine
        )

    @classmethod
    def from_url(cls, url: str = DEFAULT_DATABASE_URL, **engine_options: Any) -> Database:
        """Connect to the database a URL names (no connection is opened yet).

        Parameters
        ----------
        url
            ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``, ``sqlite://``
            (in memory), ``postgresql://...`` or ``postgresql+psycopg://...`` (both use
            psycopg 3). The parent directory of a SQLite file is created when missing.
        **engine_options
            Passed to :func:`sqlalchemy.create_engine` (e.g. ``echo=True``).

        Raises
        ------
        StorageError
            When the URL cannot be parsed or its scheme is not supported.
        """
        try:
            parsed = sa.make_url(url)
        except sa.exc.ArgumentError as error:
            raise StorageError(
                f"cannot parse database URL {url!r}; use {SUPPORTED_URLS}"
            ) from error
        driver = _DRIVERS.get(parsed.drivername)
        if driver is None:
            raise StorageError(
                f"unsupported database URL scheme {parsed.drivername!r}; use {SUPPORTED_URLS}"
            )
        parsed = parsed.set(drivername=driver)
        # orjson for JSON columns: several times faster than the json module on every write
        # of a recommendation log, preferences or interaction metadata.
        engine_options = {
            "json_serializer": _json_text,
            "json_deserializer": orjson.loads,
            **engine_options,
        }
        if driver == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(parsed, **engine_options)
            _configure_sqlite(engine)
        else:
            engine = sa.create_engine(parsed, pool_pre_ping=True, **engine_options)
        return cls(engine)

    @property
    def dialect(self) -> Dialect:
        """``"sqlite"`` or ``"postgresql"``."""
        return cast(Dialect, self.engine.dialect.name)

    @property
    def url(self) -> str:
        """The engine's URL, password hidden."""
        return self.engine.url.render_as_string(hide_password=True)

    def migrate(self, revision: str = "head") -> None:
        """Upgrade the schema to ``revision`` (default: the newest). Idempotent.

        On PostgreSQL an advisory lock makes concurrent callers (several workers starting at
        once) run one after the other.
        """
        with self.engine.begin() as connection:
            if self.dialect == "postgresql":
                connection.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_ID}
                )
            command.upgrade(alembic_config(connection), revision)

    def downgrade(self, revision: str = "base") -> None:
        """Downgrade the schema to ``revision`` (default: drop every table)."""
        with self.engine.begin() as connection:
            command.downgrade(alembic_config(connection), revision)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def reading(self) -> AbstractContextManager[Connection]:
        """A connection for reads only.

        On PostgreSQL it runs outside a transaction (autocommit): each statement sees what
        was committed when it started, as it would in a READ COMMITTED transaction, without
        the ``BEGIN`` and ``ROLLBACK`` round trips of :meth:`sqlalchemy.engine.Engine.connect`.
        Statements that must see one snapshot together, or that write, need
        :meth:`transaction`. On SQLite, a plain connection.
        """
        return self._reader.connect()

    def transaction(self, *, immediate: bool = False) -> AbstractContextManager[Connection]:
        """A connection inside a transaction, committed on success, rolled back on error.

        ``immediate``: on SQLite, take the write lock at once (``BEGIN IMMEDIATE``), for a
        transaction that reads before it writes: a deferred one fails with "database is
        locked", without waiting, when its read lock cannot be upgraded because another
        process is writing. No effect on PostgreSQL.
        """
        if immediate and self.dialect == "sqlite":
            return self._immediate_transaction()
        return self.engine.begin()

    @contextmanager
    def _immediate_transaction(self) -> Iterator[Connection]:
        with self.engine.connect() as connection:
            connection.execution_options(**{_BEGIN_OPTION: "BEGIN IMMEDIATE"})
            with connection.begin():
                yield connection

    @contextmanager
    def acting_for_user(self, user_id: str) -> Iterator[Connection]:
        """A transaction on behalf of one user, confined to that user's rows.

        On PostgreSQL the transaction runs as :data:`USER_ROLE` (``SET LOCAL ROLE``) with
        :data:`USER_ID_SETTING` set to ``user_id``: row-level security then shows and
        accepts only rows of the user-owned tables whose ``user_id`` matches, and events and
        venues are read-only. Both settings end with the transaction. The connecting role
        must be a member of :data:`USER_ROLE` (superusers and table owners are).

        SQLite has no row-level security: this is a plain transaction and confinement is up
        to the queries.
        """
        with self.engine.begin() as connection:
            if self.dialect == "postgresql":
                connection.execute(sa.text(f"SET LOCAL ROLE {USER_ROLE}"))
                connection.execute(
                    sa.text("SELECT set_config(:name, :user_id, true)"),
                    {"name": USER_ID_SETTING, "user_id": user_id},
                )
            yield connection

    def bulk_insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        batch_size: int = 50_000,
        on_batch: Callable[[int], None] | None = None,
    ) -> int:
        """Load many rows into one table in one transaction, as fast as the backend allows.

        Parameters
        ----------
        table
            A table of :mod:`scenescout.storage.schema`.
        columns
            The columns each row fills, in order. Generated columns (``geog``) and
            auto-increment ids are left out and filled by the database.
        rows
            Plain Python values per row: ``str``, ``int``, ``float``, ``bool``, ``None``,
            timezone-aware ``datetime`` for time columns, and lists/dicts for JSON columns.
            Any iterable: rows are streamed in batches, never all held at once.
        batch_size
            Rows per ``executemany`` (SQLite) or per progress report (PostgreSQL).
        on_batch
            Called with the number of rows just written after each batch.

        Notes
        -----
        PostgreSQL streams binary ``COPY ... FROM STDIN``; SQLite runs ``executemany`` in
        batches. Both use a single transaction: all rows or none. Into an *empty* table,
        secondary indexes and unique/foreign-key constraints are dropped and rebuilt
        around the load in that transaction (see :mod:`scenescout.storage.bulk`).

        Returns
        -------
        int
            The number of rows inserted.

        Raises
        ------
        StorageError
            For an unknown table or column, a naive datetime, or a row the database rejects
            (e.g. a reference to a missing user); nothing is inserted then.
        """
        return bulk_load(
            self.engine, table, columns, rows, batch_size, on_batch or _ignore_progress
        )


_BEGIN_OPTION = "scenescout_sqlite_begin"
"""Execution option naming the statement that begins a SQLite transaction."""


def _configure_sqlite(engine: Engine) -> None:
    """Pragmas on every connection, a haversine SQL function, and real transactions.

    pysqlite's own transaction handling skips BEGIN before DDL and SAVEPOINT; the
    SQLAlchemy-documented fix is to switch it off and emit BEGIN ourselves.
    """

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()
        dbapi_connection.create_function("haversine_km", 4, haversine_km_scalar, deterministic=True)

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql(connection.get_execution_options().get(_BEGIN_OPTION, "BEGIN"))


def _ignore_progress(_count: int) -> None:
    return None
