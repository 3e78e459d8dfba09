"""Bulk loading: binary ``COPY`` on PostgreSQL, batched ``executemany`` on SQLite.

Both run in one transaction. When the target table is empty (the usual case: importing a
data set), its secondary indexes, unique and foreign-key constraints are dropped first and
rebuilt after the load, inside the same transaction: sorting once is far cheaper than
updating every index for every row, and one validation query replaces a lookup per row.
A load that violates a constraint still fails as a whole. While that transaction runs, the
table is locked against other sessions (PostgreSQL) or the database against other writers
(SQLite).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import orjson
import psycopg
import sqlalchemy as sa
from psycopg import sql
from psycopg.types.json import set_json_dumps
from sqlalchemy.engine import Connection, Engine

from scenescout.storage import schema
from scenescout.storage.errors import StorageError

Report = Callable[[int], None]
Encoder = Callable[[Any], Any]

_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_REBUILD_MEMORY = "256MB"  # maintenance_work_mem while PostgreSQL rebuilds the indexes
_SQLITE_CACHE_KIB = 262_144  # page cache during a SQLite load: index builds, reference check


def bulk_load(
    engine: Engine,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    batch_size: int,
    report: Report,
) -> int:
    """Insert ``rows`` into ``table``; see :meth:`Database.bulk_insert`."""
    if batch_size < 1:
        raise StorageError(f"batch_size must be positive, got {batch_size}")
    table_obj = schema.metadata.tables.get(table)
    if table_obj is None:
        raise StorageError(f"unknown table {table!r}")
    unknown = [name for name in columns if name not in table_obj.c]
    if unknown:
        raise StorageError(f"table {table!r} has no column(s) {', '.join(unknown)}")
    column_types = [table_obj.c[name].type for name in columns]
    try:
        if engine.dialect.name == "postgresql":
            return _copy(engine, table, columns, column_types, rows, batch_size, report)
        return _insert_many(engine, table, columns, column_types, rows, batch_size, report)
    except (psycopg.Error, sqlite3.Error, sa.exc.DBAPIError) as error:
        detail = error.orig if isinstance(error, sa.exc.DBAPIError) else error
        raise StorageError(f"bulk insert into {table!r} failed: {detail}") from error


def _copy(
    engine: Engine,
    table: str,
    columns: Sequence[str],
    column_types: Sequence[sa.types.TypeEngine[Any]],
    rows: Iterable[Sequence[Any]],
    batch_size: int,
    report: Report,
) -> int:
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    pg_types = [_postgres_type(column_type) for column_type in column_types]
    count = 0
    with engine.begin() as connection:
        with _postgres_deferred(connection, table):
            driver_connection = connection.connection.driver_connection
            assert driver_connection is not None
            with driver_connection.cursor() as cursor:
                set_json_dumps(_json_bytes, context=cursor)
                with cursor.copy(statement) as copy:
                    copy.set_types(pg_types)
                    write_row = copy.write_row
                    for batch in _batches(rows, batch_size):
                        for row in batch:
                            try:
                                write_row(row)
                            except TypeError as error:  # psycopg's binary dumpers check types
                                raise _bad_row(table, count + 1, row, error) from error
                            count += 1
                        report(len(batch))
        # Fresh planner statistics: autovacuum may be off or not yet round, and without
        # them PostgreSQL misjudges queries on the loaded rows (e.g. a per-user read of
        # 100 rows planned as 100,000, with parallel workers). Skipped with a warning for
        # a role that does not own the table.
        connection.exec_driver_sql(f"ANALYZE {_quote(table)}")
    return count


def _insert_many(
    engine: Engine,
    table: str,
    columns: Sequence[str],
    column_types: Sequence[sa.types.TypeEngine[Any]],
    rows: Iterable[Sequence[Any]],
    batch_size: int,
    report: Report,
) -> int:
    names = ", ".join(f'"{name}"' for name in columns)
    marks = ", ".join("?" for _ in columns)
    statement = f'INSERT INTO "{table}" ({names}) VALUES ({marks})'
    encoders = [(i, e) for i, t in enumerate(column_types) if (e := _sqlite_encoder(t))]
    count = 0
    with engine.connect() as connection:
        driver_connection = connection.connection.driver_connection
        assert driver_connection is not None
        with _sqlite_deferred(connection, driver_connection, table):
            cursor = driver_connection.cursor()
            try:
                for batch in _batches(rows, batch_size):
                    encoded = _encode_columns(batch, len(columns), encoders) if encoders else batch
                    cursor.executemany(statement, encoded)
                    count += len(batch)
                    report(len(batch))
            finally:
                cursor.close()
    return count


def _batches(rows: Iterable[Sequence[Any]], size: int) -> Iterator[list[Sequence[Any]]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


@contextmanager
def _postgres_deferred(connection: Connection, table: str) -> Iterator[None]:
    # Dropping indexes needs ownership: a service role that only has INSERT loads row by row.
    owner = connection.scalar(
        sa.text(
            "SELECT pg_has_role(relowner, 'USAGE') FROM pg_class "
            "WHERE oid = CAST(:table AS regclass)"
        ),
        {"table": table},
    )
    if not owner or not _is_empty(connection, table):
        yield
        return
    constraints = connection.execute(
        sa.text(
            "SELECT c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
            "WHERE c.conrelid = CAST(:table AS regclass) AND (c.contype = 'f' OR "
            "(c.contype = 'u' AND NOT EXISTS (SELECT FROM pg_constraint r "
            "WHERE r.contype = 'f' AND r.conindid = c.conindid)))"
        ),
        {"table": table},
    ).all()
    indexes = connection.execute(
        sa.text(
            "SELECT CAST(i.indexrelid AS regclass)::text, pg_get_indexdef(i.indexrelid) "
            "FROM pg_index i WHERE i.indrelid = CAST(:table AS regclass) "
            "AND NOT i.indisprimary "
            "AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
        ),
        {"table": table},
    ).all()
    quoted = _quote(table)
    for name, _ in constraints:
        connection.exec_driver_sql(f"ALTER TABLE {quoted} DROP CONSTRAINT {_quote(name)}")
    for name, _ in indexes:
        connection.exec_driver_sql(f"DROP INDEX {name}")
    yield
    connection.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{_REBUILD_MEMORY}'")
    for _, definition in indexes:
        connection.exec_driver_sql(definition)
    for name, definition in constraints:
        connection.exec_driver_sql(
            f"ALTER TABLE {quoted} ADD CONSTRAINT {_quote(name)} {definition}"
        )


@contextmanager
def _sqlite_deferred(connection: Connection, driver_connection: Any, table: str) -> Iterator[None]:
    # PRAGMA foreign_keys is a no-op inside a transaction: switch it before BEGIN.
    empty = _is_empty(connection, table)
    connection.commit()
    (cache_size,) = driver_connection.execute("PRAGMA cache_size").fetchone()
    driver_connection.execute(f"PRAGMA cache_size = -{_SQLITE_CACHE_KIB}")
    if empty:
        driver_connection.execute("PRAGMA foreign_keys = OFF")
    try:
        with connection.begin():
            indexes = (
                driver_connection.execute(
                    "SELECT name, sql FROM sqlite_master "
                    "WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
                    (table,),
                ).fetchall()
                if empty
                else []
            )
            for name, _ in indexes:
                driver_connection.execute(f"DROP INDEX {_quote(name)}")
            yield
            for _, definition in indexes:
                driver_connection.execute(definition)
            if empty:
                _sqlite_check_references(driver_connection, table)
    finally:
        driver_connection.execute(f"PRAGMA cache_size = {int(cache_size)}")
        if empty:
            driver_connection.execute("PRAGMA foreign_keys = ON")


def _sqlite_check_references(driver_connection: Any, table: str) -> None:
    problem = driver_connection.execute(f"PRAGMA foreign_key_check({_quote(table)})").fetchone()
    if problem is None:
        return
    _, rowid, parent, fk_id = problem
    column = next(
        row[3]
        for row in driver_connection.execute(f"PRAGMA foreign_key_list({_quote(table)})")
        if row[0] == fk_id
    )
    (value,) = driver_connection.execute(
        f"SELECT {_quote(column)} FROM {_quote(table)} WHERE rowid = ?", (rowid,)
    ).fetchone()
    raise StorageError(
        f"bulk insert into {table!r} failed: {column} {value!r} has no row in {parent!r}"
    )


def _is_empty(connection: Connection, table: str) -> bool:
    return connection.exec_driver_sql(f"SELECT 1 FROM {_quote(table)} LIMIT 1").first() is None


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _postgres_type(column_type: sa.types.TypeEngine[Any]) -> str:
    checks: tuple[tuple[type[sa.types.TypeEngine[Any]], str], ...] = (
        (schema.UTCDateTime, "timestamptz"),
        (sa.JSON, "jsonb"),
        (sa.Boolean, "bool"),
        (sa.BigInteger, "int8"),
        (sa.Integer, "int4"),
        (sa.Float, "float8"),
        (sa.String, "text"),
    )
    for kind, name in checks:
        if isinstance(column_type, kind):
            return name
    raise StorageError(f"no COPY type known for column type {column_type!r}")


def _sqlite_encoder(column_type: sa.types.TypeEngine[Any]) -> Encoder | None:
    if isinstance(column_type, schema.UTCDateTime):
        return _sqlite_timestamp
    if isinstance(column_type, sa.JSON):
        return _json_text
    return None


def _encode_columns(
    batch: list[Sequence[Any]], width: int, encoders: list[tuple[int, Encoder]]
) -> Iterator[tuple[Any, ...]]:
    """Encode a batch column by column (one ``map`` per encoded column, not a call per row)."""
    try:
        columns: list[Iterable[Any]] = list(zip(*batch, strict=True))
    except ValueError as error:
        raise StorageError(f"rows must all have {width} values: {error}") from error
    if len(columns) != width:
        raise StorageError(f"rows must have {width} values, got {len(columns)}")
    for index, encoder in encoders:
        columns[index] = map(encoder, columns[index])
    return zip(*columns, strict=True)


def _bad_row(table: str, number: int, row: Sequence[Any], error: TypeError) -> StorageError:
    naive = next((v for v in row if isinstance(v, datetime) and v.tzinfo is None), None)
    reason = _naive(naive) if naive is not None else error
    return StorageError(f"bulk insert into {table!r} failed at row {number}: {reason}")


def _naive(value: datetime) -> StorageError:
    return StorageError(f"naive datetime {value.isoformat()} given; use an aware datetime")


def _sqlite_timestamp(value: datetime | None) -> str | None:
    # The exact text SQLAlchemy's SQLite DateTime writes (always 6 fraction digits), so
    # rows from both paths compare and read back alike.
    if value is None:
        return None
    if value.tzinfo is None:
        raise _naive(value)
    return value.astimezone(UTC).isoformat(" ", "microseconds")[:26]


def _json_bytes(value: Any) -> bytes:
    return orjson.dumps(value, option=_JSON_OPTIONS)


def _json_text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, option=_JSON_OPTIONS).decode()
