"""Engine set-up per backend, and the health-check ping."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import text

from outagecast.db.migrate import upgrade_to_head
from outagecast.db.models import Prediction
from outagecast.db.session import make_engine, make_session_factory, ping, sqlite_file


def test_sqlite_engine_creates_folder_and_sets_pragmas(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "deeper" / "outagecast.db"
    engine = make_engine(f"sqlite:///{db}")
    try:
        assert db.parent.is_dir()
        with engine.connect() as connection:

            def pragma(name: str) -> object:
                return connection.exec_driver_sql(f"PRAGMA {name}").scalar()

            assert pragma("journal_mode") == "wal"
            assert pragma("busy_timeout") == 30_000
            assert pragma("foreign_keys") == 1
            assert pragma("synchronous") == 1  # NORMAL
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///var/x.db", Path("var/x.db")),
        ("sqlite:////abs/x.db", Path("/abs/x.db")),
        ("sqlite:///file:var/x.db?mode=ro&uri=true", Path("var/x.db")),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("postgresql+psycopg://u@h/db", None),
    ],
)
def test_sqlite_file_of_url(url: str, expected: Path | None) -> None:
    assert sqlite_file(url) == expected


def test_in_memory_sqlite_works() -> None:
    engine = make_engine("sqlite://")
    assert ping(engine)
    engine.dispose()


@pytest.mark.postgres
def test_postgres_engine_sets_timeouts_and_keeps_url_options(postgres_url: str) -> None:
    url = postgres_url + "?options=-csearch_path%3Dpg_catalog"
    engine = make_engine(url, statement_timeout_ms=1234)
    try:
        assert engine.pool._pre_ping  # type: ignore[attr-defined]
        with engine.connect() as connection:
            assert connection.execute(text("SHOW statement_timeout")).scalar_one() == "1234ms"
            assert connection.execute(text("SHOW TimeZone")).scalar_one() == "UTC"
            assert connection.execute(text("SHOW search_path")).scalar_one() == "pg_catalog"
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_statement_timeout_stops_long_queries(postgres_url: str) -> None:
    engine = make_engine(postgres_url, statement_timeout_ms=200)
    try:
        with engine.connect() as connection, pytest.raises(Exception, match="statement timeout"):
            connection.execute(text("SELECT pg_sleep(5)"))
    finally:
        engine.dispose()


def test_ping_true_when_database_answers(db_url: str) -> None:
    engine = make_engine(db_url)
    assert ping(engine) is True
    engine.dispose()


def test_ping_false_and_fast_when_server_unreachable() -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none", connect_timeout_s=2)
    started = time.perf_counter()
    assert ping(engine) is False
    assert time.perf_counter() - started < 10
    engine.dispose()


def test_ping_false_for_unopenable_sqlite_file(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()  # a folder cannot be opened as a database file
    engine = make_engine(f"sqlite:///{tmp_path / 'dir.db'}")
    assert ping(engine) is False
    engine.dispose()


def test_sessions_keep_objects_readable_after_commit(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    upgrade_to_head(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        prediction = Prediction(model_version="1", predicted_hours=1.0, is_anomaly=False)
        session.add(prediction)
        session.commit()
    # Detached after the session closed, yet loaded: API handlers return such objects.
    assert prediction.id is not None
    assert prediction.timestamp.tzinfo is not None
    engine.dispose()
