"""Engines and sessions for SQLite (embedded) and PostgreSQL (production).

Nothing here runs at import: entry points call :func:`make_engine` with the URL from the
settings (``Settings.resolved_database_url``) and keep the engine for the process.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_CONNECT_TIMEOUT_S = 5
PG_STATEMENT_TIMEOUT_MS = 30_000


def is_sqlite(url: str | URL) -> bool:
    """Whether ``url`` points at a SQLite database."""
    return make_url(url).get_backend_name() == "sqlite"


def is_postgres(url: str | URL) -> bool:
    """Whether ``url`` points at a PostgreSQL database."""
    return make_url(url).get_backend_name() == "postgresql"


def sqlite_file(url: str | URL) -> Path | None:
    """The file of a file-backed SQLite URL; None for in-memory or non-SQLite URLs."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite":
        return None
    db = u.database or ""
    if not db or db == ":memory:" or u.query.get("mode") == "memory":
        return None
    if db.startswith("file:"):  # SQLite URI form (uri=true): strip scheme and its own query
        db = db[len("file:") :].split("?", 1)[0]
    return Path(db)


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (web app, monitoring) run while a job writes; busy_timeout makes a
    # writer wait for the lock instead of failing at once with "database is locked".
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS:d}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # NORMAL is durable across application crashes in WAL mode and much faster than FULL.
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def make_engine(
    url: str | URL,
    *,
    statement_timeout_ms: int = PG_STATEMENT_TIMEOUT_MS,
    connect_timeout_s: int = PG_CONNECT_TIMEOUT_S,
    **engine_kwargs: Any,
) -> Engine:
    """An engine tuned for the backend of ``url``.

    Args:
        url: SQLAlchemy URL (``sqlite:///...`` or ``postgresql+psycopg://...``).
        statement_timeout_ms: PostgreSQL ``statement_timeout`` (0 disables it).
        connect_timeout_s: PostgreSQL connect timeout, so an unreachable server fails fast.
        **engine_kwargs: passed on to ``create_engine`` (e.g. ``poolclass``, ``echo``).

    Returns:
        The engine. SQLite connections use WAL, a busy timeout, foreign keys and
        ``synchronous=NORMAL``, and the folder of a file database is created.
    """
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        path = sqlite_file(u)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(u, **engine_kwargs)
        event.listen(engine, "connect", _set_sqlite_pragmas)
        return engine
    if backend == "postgresql":
        connect_args: dict[str, Any] = dict(engine_kwargs.pop("connect_args", {}))
        if "connect_timeout" not in u.query:
            connect_args.setdefault("connect_timeout", connect_timeout_s)
        # Keep any libpq options from the URL (e.g. a search_path) and add ours: a hung
        # query then fails instead of holding a worker, and timestamps come back in UTC.
        options = [str(u.query["options"])] if "options" in u.query else []
        options += [f"-c statement_timeout={statement_timeout_ms:d}", "-c TimeZone=UTC"]
        connect_args["options"] = " ".join(options)
        engine_kwargs.setdefault("pool_pre_ping", True)
        return create_engine(u, connect_args=connect_args, **engine_kwargs)
    return create_engine(u, **engine_kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine``; objects stay readable after commit (API responses)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def migrated_session_factory(url: str) -> Iterator[sessionmaker[Session]]:
    """Migrate ``url`` to head, then sessions on a fresh engine, disposed on exit.

    For one job step (a DAG task, a check) that runs in a process of its own.
    """
    from outagecast.db.migrate import upgrade_to_head  # Alembic loads only when a job needs it

    upgrade_to_head(url)
    engine = make_engine(url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def ping(engine: Engine) -> bool:
    """Whether the database answers ``SELECT 1``; never raises (for health checks)."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not healthy", whatever its type
        logger.warning("database ping failed: %s", exc)
        return False
    return True
