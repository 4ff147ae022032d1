"""Fixtures shared by the whole test suite.

Databases
---------
Every database test should run on both backends: request ``db_url``.

- ``sqlite_url``: a fresh SQLite file under the test's ``tmp_path`` (function scope).
- ``postgres_url``: a PostgreSQL database created for this pytest session only
  (``oc_test_<random>``, dropped at the end), so parallel sessions never collide. The
  server comes from ``TEST_POSTGRES_URL`` (default: local ``test`` database). If it is
  unreachable the tests that need it are skipped, except under ``CI``, where they fail.
- ``db_url``: parametrised ``[sqlite]`` / ``[postgres]``; an empty database of its own for
  every test. On PostgreSQL that is a fresh schema inside the session database, selected by
  the URL itself (libpq ``options=-csearch_path=...``), so any engine made from the URL
  sees only this test's tables. Migrate it first, e.g.
  ``outagecast.db.migrate.upgrade_to_head(db_url)``.

Select one backend with ``-k sqlite`` / ``-k postgres``, or ``-m "not postgres"``.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

DEFAULT_TEST_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _url_str(url: URL) -> str:
    return url.render_as_string(hide_password=False)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a new, empty SQLite database file for this test."""
    return f"sqlite:///{tmp_path / 'outagecast.db'}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of an empty PostgreSQL database created for this pytest session and dropped after it."""
    server = make_url(os.environ.get("TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES_URL))
    if server.drivername in ("postgresql", "postgres"):  # plain URLs would pick psycopg2
        server = server.set(drivername="postgresql+psycopg")
    admin = create_engine(
        server, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args={"connect_timeout": 5}
    )
    name = f"oc_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            # A generated identifier, not input: safe to place in the statement.
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except SQLAlchemyError as exc:
        admin.dispose()
        message = f"PostgreSQL at {server.render_as_string()} is not usable: {exc}"
        if _in_ci():
            pytest.fail(message)  # CI must never pass by skipping the PostgreSQL tests
        pytest.skip(message)
    try:
        yield _url_str(server.set(database=name))
    finally:
        with admin.connect() as connection:
            # FORCE: engines a test forgot to dispose must not keep the database alive.
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def _postgres_schema_url(postgres_url: str) -> Iterator[str]:
    """URL of ``postgres_url`` whose search_path is a fresh schema for this test only."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _url_str(make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"}))
    finally:
        with admin.connect() as connection:
            # A connection the test left open would block the drop; the database is
            # dropped with FORCE at the end of the session anyway.
            connection.execute(text("SET lock_timeout = '5s'"))
            with contextlib.suppress(SQLAlchemyError):
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """An empty database for this test, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("_postgres_schema_url")
