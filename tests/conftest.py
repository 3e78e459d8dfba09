"""Shared fixtures: real PostgreSQL/PostGIS and Redis servers, seeded randomness.

Tests marked ``postgres`` or ``redis`` talk to real servers. Outside CI they skip with the
reason when no server is reachable; under ``CI=true`` a missing server fails the test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pytest

POSTGRES_ADMIN_URL = os.environ.get(
    "SCENESCOUT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_SERVER_URL = os.environ.get("SCENESCOUT_TEST_REDIS_URL", "redis://127.0.0.1:6379")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(what: str, error: Exception) -> None:
    message = f"{what} is not reachable ({type(error).__name__}: {error})"
    if IN_CI:
        pytest.fail(f"{message}; under CI=true this is a failure, not a skip", pytrace=False)
    pytest.skip(f"{message}; start it or set CI=true to make this a failure")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261126)


@pytest.fixture(scope="session")
def postgres_server_url(worker_id: str) -> Iterator[str]:
    """URL of a fresh database with PostGIS, one per xdist worker, dropped at the end."""
    import sqlalchemy as sa

    name = f"scenescout_test_{worker_id}".replace("-", "_")
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as error:
        admin.dispose()
        _unavailable(f"PostgreSQL at {POSTGRES_ADMIN_URL}", error)
    url = sa.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
    except Exception as error:
        _unavailable("PostGIS (package postgresql-15-postgis-3)", error)
    finally:
        engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def redis_url(worker_id: str) -> Iterator[str]:
    """URL of a real Redis database of this xdist worker's own, flushed before and after."""
    import redis

    worker = int(worker_id.removeprefix("gw")) if worker_id.startswith("gw") else 0
    url = f"{REDIS_SERVER_URL.rstrip('/')}/{15 - worker % 15}"
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except Exception as error:
        _unavailable(f"Redis at {url}", error)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()
