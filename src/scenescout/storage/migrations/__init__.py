"""Alembic migrations, run from code: no ``alembic.ini`` is needed.

:func:`alembic_config` builds the configuration that points Alembic at this package, so
``Database.migrate()`` works the same from a source checkout and from an installed wheel.
New revisions are authored the same way, e.g.::

    from alembic import command
    command.revision(alembic_config(url="sqlite:///dev.db"), "add x", autogenerate=True)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.config import Config
from sqlalchemy.engine import Connection

SCRIPT_LOCATION = Path(__file__).resolve().parent


# Database objects the migrations create outside schema.py (PostGIS columns and its own
# tables); autogenerate must not propose dropping them.
POSTGIS_TABLES = frozenset({"spatial_ref_sys", "geometry_columns", "geography_columns"})
GEOGRAPHY_COLUMNS = frozenset({"geog", "home_geog"})


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic's autogenerate filter: skip what PostGIS and the PostgreSQL-only DDL add."""
    if type_ == "table" and name in POSTGIS_TABLES:
        return False
    if type_ == "column" and name in GEOGRAPHY_COLUMNS:
        return False
    return not (type_ == "index" and reflected and name is not None and name.endswith("_geog"))


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic configuration for this package's migrations.

    Parameters
    ----------
    connection
        An open connection the migrations run on (inside its transaction). ``env.py``
        prefers it over ``url``.
    url
        A database URL, used when no connection is given (e.g. offline SQL generation).
    """
    config = Config()
    # ConfigParser interpolates '%'; a path may contain one.
    config.set_main_option("script_location", str(SCRIPT_LOCATION).replace("%", "%%"))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config
