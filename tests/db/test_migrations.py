"""Alembic migrations: fresh upgrade, idempotence, concurrency, and schema == ORM metadata."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from outagecast.db.migrate import (
    MIGRATIONS_DIR,
    VERSION_TABLE,
    alembic_config,
    current_revision,
    head_revision,
    schema_differences,
    upgrade_to_head,
)
from outagecast.db.session import make_engine

TABLES = {"predictions", "ingestion_stats", VERSION_TABLE}


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_history_is_linear_with_one_head() -> None:
    script = ScriptDirectory.from_config(alembic_config(""))
    assert len(script.get_heads()) == 1
    assert script.get_current_head() == head_revision()
    # Each revision builds on the one before it: 0001 <- 0002 <- ... (numbered in order).
    chain = [rev.revision for rev in script.walk_revisions()][::-1]
    assert chain == [f"{i:04d}" for i in range(1, len(chain) + 1)]
    assert all(not isinstance(rev.down_revision, tuple) for rev in script.walk_revisions())


def test_shipped_alembic_ini_finds_the_same_migrations() -> None:
    script = ScriptDirectory.from_config(Config(str(MIGRATIONS_DIR / "alembic.ini")))
    assert script.get_current_head() == head_revision()


def test_upgrade_fresh_database_reaches_head(db_url: str) -> None:
    assert current_revision(db_url) is None
    upgrade_to_head(db_url)
    assert current_revision(db_url) == head_revision()
    assert _tables(db_url) >= TABLES


def test_upgrade_twice_is_a_noop(db_url: str) -> None:
    upgrade_to_head(db_url)
    upgrade_to_head(db_url)
    assert current_revision(db_url) == head_revision()
    assert schema_differences(db_url) == []


def test_migrated_schema_matches_orm_metadata(db_url: str) -> None:
    upgrade_to_head(db_url)
    assert schema_differences(db_url) == []


def test_schema_check_reports_drift(db_url: str) -> None:
    # Guards the test above against passing vacuously.
    upgrade_to_head(db_url)
    engine = make_engine(db_url)
    with engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_predictions_source_timestamp"))
    engine.dispose()
    diffs = schema_differences(db_url)
    assert [d[0] for d in diffs] == ["add_index"]


def test_unrelated_tables_are_left_alone(db_url: str) -> None:
    # Another tool (MLflow, Airflow) may share the database, with its own alembic_version.
    engine = make_engine(db_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
        connection.execute(text("INSERT INTO alembic_version VALUES ('abcdef123456')"))
    upgrade_to_head(db_url)
    with engine.connect() as connection:
        assert (
            connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "abcdef123456"
        )
    engine.dispose()
    assert current_revision(db_url) == head_revision()
    assert schema_differences(db_url) == []


def test_downgrade_to_base_and_up_again(db_url: str) -> None:
    upgrade_to_head(db_url)
    command.downgrade(alembic_config(db_url), "base")
    assert current_revision(db_url) is None
    assert not {"predictions", "ingestion_stats"} & _tables(db_url)
    upgrade_to_head(db_url)
    assert schema_differences(db_url) == []


def test_upgrade_works_from_any_working_directory(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    upgrade_to_head(sqlite_url)
    assert current_revision(sqlite_url) == head_revision()


def test_offline_mode_renders_sql(sqlite_url: str) -> None:
    config = alembic_config(sqlite_url)
    config.output_buffer = io.StringIO()
    command.upgrade(config, "head", sql=True)
    sql = config.output_buffer.getvalue()
    assert "CREATE TABLE predictions" in sql
    assert "CREATE TABLE ingestion_stats" in sql


def test_concurrent_upgrades_both_succeed(db_url: str) -> None:
    barrier = threading.Barrier(2)

    def migrate() -> None:
        barrier.wait()  # start together to really race
        upgrade_to_head(db_url)

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(migrate) for _ in range(2)]
        for future in futures:
            future.result(timeout=120)
    assert current_revision(db_url) == head_revision()
    assert schema_differences(db_url) == []
