"""Alembic environment: runs on the connection handed over by :func:`alembic_config`."""

from __future__ import annotations

from typing import Any

from alembic import context

from scenescout.storage.database import Database
from scenescout.storage.migrations import include_object
from scenescout.storage.schema import metadata


def run_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        database = Database.from_url(context.config.get_main_option("sqlalchemy.url", ""))
        with database.engine.begin() as owned:
            _run_on(owned)
        database.dispose()
    else:
        _run_on(connection)


def _run_on(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
