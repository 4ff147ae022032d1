"""Grafana provisioning: valid files, dashboards that exist, and queries that really run.

The SQL of every panel and alert rule is run on PostgreSQL, on a database prepared by the
db service's init script and migrated by OutageCast, as the read-only role Grafana uses.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from outagecast.db.migrate import upgrade_to_head
from outagecast.db.models import IngestionStat, Prediction
from tests.conftest import DEFAULT_TEST_POSTGRES_URL
from tests.deploy.conftest import DEPLOY, environment, load_yaml, strings, volume_entries

GRAFANA = DEPLOY / "grafana"
PROVISIONING = GRAFANA / "provisioning"
DASHBOARDS = GRAFANA / "dashboards"
INIT_SCRIPT = DEPLOY / "postgres" / "initdb" / "10-outagecast.sh"
BUILTIN_DATASOURCES = {"-- Grafana --", "__expr__"}


def provisioning_files(kind: str) -> list[Path]:
    return sorted((PROVISIONING / kind).glob("*.y*ml"))


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def datasource_uids() -> set[str]:
    return {ds["uid"] for path in provisioning_files("datasources") for ds in load_yaml(path)["datasources"]}


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in board.get("panels", []):
        found.append(panel)
        found.extend(panel.get("panels", []))  # collapsed rows
    return found


def alert_rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in provisioning_files("alerting")
        for group in load_yaml(path).get("groups", [])
        for rule in group["rules"]
    ]


def mount_source(services: dict[str, Any], container_path: str) -> Path:
    """The repository folder mounted in the grafana container at (or above) ``container_path``."""
    for source, target in volume_entries(services["grafana"]):
        if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
            return (DEPLOY / source / container_path[len(target) :].lstrip("/")).resolve()
    raise AssertionError(f"{container_path} is not mounted in the grafana service")


# --- the files -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["datasources", "dashboards", "alerting"])
def test_provisioning_files_are_valid_yaml(kind: str) -> None:
    files = provisioning_files(kind)
    assert files, f"nothing in provisioning/{kind}"
    for path in files:
        document = load_yaml(path)
        assert document["apiVersion"] == 1, path


def test_provisioning_is_mounted_where_grafana_reads_it(services: dict[str, Any]) -> None:
    assert mount_source(services, "/etc/grafana/provisioning") == PROVISIONING.resolve()


def test_provisioning_variables_are_set_in_the_grafana_service(services: dict[str, Any]) -> None:
    env = environment(services["grafana"])
    for kind in ("datasources", "dashboards", "alerting"):
        for path in provisioning_files(kind):
            for value in strings(load_yaml(path)):
                for name in re.findall(r"\$\{?([A-Za-z_]\w*)", value):
                    assert name in env, f"{path.name}: ${name} is not in the grafana service's environment"


def test_datasource_is_outagecast_postgresql_read_only() -> None:
    (path,) = provisioning_files("datasources")
    (datasource,) = load_yaml(path)["datasources"]
    assert datasource["type"] == "grafana-postgresql-datasource"
    assert datasource["uid"] == "outagecast-postgres"
    assert datasource["user"] == "${GRAFANA_DB_USER}", "the read-only role, not the database owner"
    assert datasource["jsonData"]["database"] == "${OUTAGECAST_DB_NAME}"
    assert datasource["secureJsonData"]["password"] == "${GRAFANA_DB_PASSWORD}"


def test_dashboard_providers_point_at_existing_dashboards(services: dict[str, Any]) -> None:
    providers = [p for path in provisioning_files("dashboards") for p in load_yaml(path)["providers"]]
    assert providers
    for provider in providers:
        folder = mount_source(services, provider["options"]["path"])
        assert folder == DASHBOARDS.resolve()
        assert list(folder.glob("*.json")), f"no dashboard in {folder}"
    home = environment(services["grafana"])["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert mount_source(services, home).is_file()


def test_dashboards_are_valid_json_with_unique_uids_and_titles() -> None:
    boards = [json.loads(path.read_text(encoding="utf-8")) for path in dashboard_files()]
    assert {"outagecast-data-quality", "outagecast-predictions"} <= {b["uid"] for b in boards}
    assert len({b["uid"] for b in boards}) == len(boards)
    assert len({b["title"] for b in boards}) == len(boards)


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda p: p.name)
def test_dashboard_panels_are_laid_out_and_use_the_provisioned_datasource(path: Path) -> None:
    board = json.loads(path.read_text(encoding="utf-8"))
    uids = datasource_uids() | BUILTIN_DATASOURCES
    ids = [panel["id"] for panel in panels(board)]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    for panel in panels(board):
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
        assert panel["datasource"]["uid"] in uids, panel["title"]
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] in uids, panel["title"]
            assert target["rawSql"].strip(), panel["title"]


def test_alert_rules_reference_existing_datasources() -> None:
    rules = alert_rules()
    assert rules
    assert len({rule["uid"] for rule in rules}) == len(rules)
    uids = datasource_uids() | BUILTIN_DATASOURCES
    for rule in rules:
        refs = {query["refId"] for query in rule["data"]}
        assert rule["condition"] in refs
        for query in rule["data"]:
            assert query["datasourceUid"] in uids
            assert "$" not in query["model"].get("rawSql", ""), "provisioning would expand it as a variable"


# --- the queries, on PostgreSQL ----------------------------------------------------------------

RANGE_FROM, RANGE_TO = "'2000-01-01T00:00:00Z'", "'2100-01-01T00:00:00Z'"


def expand(sql: str, variables: dict[str, str]) -> str:
    """Grafana's SQL macros and template variables, replaced the way the datasource does."""

    def sqlstring(match: re.Match[str]) -> str:
        return "'" + variables[match.group(1)].replace("'", "''") + "'"

    def macro(match: re.Match[str]) -> str:
        name, args = match.group(1), [arg.strip() for arg in match.group(2).split(",")]
        if name == "timeFilter":
            return f"{args[0]} BETWEEN {RANGE_FROM} AND {RANGE_TO}"
        if name in ("timeGroup", "timeGroupAlias"):
            bucket = f"to_timestamp(floor(extract(epoch from {args[0]}) / 3600) * 3600)"
            return bucket + (' AS "time"' if name == "timeGroupAlias" else "")
        raise AssertionError(f"unexpected macro $__{name}")

    sql = re.sub(r"\$\{(\w+):sqlstring\}", sqlstring, sql)
    sql = re.sub(r"\$__(\w+)\(([^()]*)\)", macro, sql)
    assert "$" not in sql, f"unexpanded: {sql}"
    return sql


def dashboard_queries() -> list[Any]:
    cases = []
    for path in dashboard_files():
        board = json.loads(path.read_text(encoding="utf-8"))
        names = [v["name"] for v in board.get("templating", {}).get("list", [])]
        for panel in panels(board):
            for target in panel.get("targets", []):
                for source in ("all", "webapp") if "source" in names else ("all",):
                    cases.append(
                        pytest.param(
                            target["rawSql"],
                            target["format"],
                            {"source": source},
                            id=f"{board['uid']}:{panel['title']}:{source}",
                        )
                    )
    return cases


@dataclass(frozen=True)
class DeployedDb:
    """OutageCast's database as the db service leaves it, migrated and with a few rows."""

    reader_url: URL
    reader_mlflow_url: URL


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _sample_rows(owner_url: URL) -> None:
    now = datetime.now(UTC)
    engine = create_engine(owner_url, poolclass=NullPool)
    with engine.begin() as connection:
        connection.execute(
            insert(IngestionStat.__table__),
            [
                {"timestamp": now - timedelta(hours=3), "filename": "batch_001.csv", "total_rows": 100,
                 "valid_rows": 100, "invalid_rows": 0, "criticality": "none", "error_types": {}},
                {"timestamp": now - timedelta(hours=2), "filename": "batch_002.csv", "total_rows": 100,
                 "valid_rows": 80, "invalid_rows": 20, "criticality": "medium",
                 "error_types": {"nulls": 12, "outliers": 8}, "data_docs_url": "/data-docs/x.html"},
                {"timestamp": now - timedelta(hours=1), "filename": "batch_003.csv", "total_rows": 50,
                 "valid_rows": 0, "invalid_rows": 50, "criticality": "high",
                 "error_types": {"missing_column": 50}},
            ],
        )  # fmt: skip
        base = {"cloud_provider": "AWS", "service": "Compute", "severity": "High", "start_time": now,
                "number_of_customers_affected": 1200, "ticket_count": 35, "backup_system_triggered": "Yes",
                "predicted_end_time": now + timedelta(hours=3)}  # fmt: skip
        connection.execute(
            insert(Prediction.__table__),
            [
                {**base, "timestamp": now - timedelta(hours=h), "model_version": version, "source": source,
                 "system_load_before_outage": load, "system_load_imputed": load == 50.0,
                 "predicted_hours": hours, "is_anomaly": hours > 5.0}
                for h, version, source, load, hours in [
                    (5, "v1", "webapp", 75.0, 2.5),
                    (4, "v1", "scheduled", 50.0, 6.0),
                    (2, "v2", "scheduled", 90.0, 3.1),
                    (1, "v2", "webapp", 50.0, 7.4),
                ]
            ],
        )  # fmt: skip
    engine.dispose()


def _skip_or_fail(message: str) -> None:
    if _in_ci():
        pytest.fail(message)  # CI must never pass by skipping the PostgreSQL tests
    pytest.skip(message)


@pytest.fixture(scope="module")
def deployed_db() -> Iterator[DeployedDb]:
    """Run deploy/postgres/initdb/10-outagecast.sh as the postgres image would, then migrate.

    It creates databases and a role of its own on the TEST_POSTGRES_URL server (the init
    script needs a fresh database), and drops them afterwards.
    """
    if shutil.which("psql") is None:
        _skip_or_fail("psql is needed to run the db service's init script")
    server = make_url(os.environ.get("TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES_URL))
    if server.drivername in ("postgresql", "postgres"):
        server = server.set(drivername="postgresql+psycopg")
    suffix = uuid.uuid4().hex[:10]
    app_db, mlflow_db, airflow_db = f"oc_deploy_{suffix}", f"oc_mlflow_{suffix}", f"oc_airflow_{suffix}"
    reader, reader_password = f"oc_reader_{suffix}", f"pw-{suffix}"
    admin = create_engine(
        server, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args={"connect_timeout": 5}
    )
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{app_db}"'))  # generated names, not input
    except SQLAlchemyError as exc:
        admin.dispose()
        _skip_or_fail(f"PostgreSQL at {server.render_as_string()} is not usable: {exc}")
    try:
        env = {
            **os.environ,
            "PGHOST": server.host or "127.0.0.1",
            "PGPORT": str(server.port or 5432),
            "POSTGRES_USER": server.username or "postgres",
            "POSTGRES_DB": app_db,
            "MLFLOW_DB": mlflow_db,
            "AIRFLOW_DB": airflow_db,
            "GRAFANA_DB_USER": reader,
            "GRAFANA_DB_PASSWORD": reader_password,
        }
        if server.password:
            env["PGPASSWORD"] = str(server.password)
        result = subprocess.run(
            ["bash", str(INIT_SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr
        owner_url = server.set(database=app_db)
        upgrade_to_head(owner_url.render_as_string(hide_password=False))
        _sample_rows(owner_url)
        reader_url = server.set(database=app_db, username=reader, password=reader_password)
        yield DeployedDb(reader_url=reader_url, reader_mlflow_url=reader_url.set(database=mlflow_db))
    finally:

        def drop(name: str) -> None:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

        # Concurrently: each DROP DATABASE waits for a checkpoint, and concurrent ones share it.
        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(drop, (app_db, mlflow_db, airflow_db)))
        with admin.connect() as connection:
            connection.execute(text(f'DROP ROLE IF EXISTS "{reader}"'))
        admin.dispose()


@pytest.mark.postgres
def test_grafana_role_reads_outagecast_tables_and_nothing_else(deployed_db: DeployedDb) -> None:
    engine = create_engine(deployed_db.reader_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM ingestion_stats")).scalar_one() == 3
            assert connection.execute(text("SELECT count(*) FROM predictions")).scalar_one() == 4
            with pytest.raises(DBAPIError, match="permission denied"):
                connection.execute(text("DELETE FROM predictions"))
    finally:
        engine.dispose()
    other = create_engine(deployed_db.reader_mlflow_url, poolclass=NullPool)
    with pytest.raises(DBAPIError, match="permission denied"), other.connect():
        pass
    other.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize(("sql", "fmt", "variables"), dashboard_queries())
def test_dashboard_query_runs_as_the_grafana_role(
    deployed_db: DeployedDb, sql: str, fmt: str, variables: dict[str, str]
) -> None:
    engine = create_engine(deployed_db.reader_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            result = connection.execute(text(expand(sql, variables).replace(":", r"\:")))
            columns, rows = list(result.keys()), result.fetchall()
    finally:
        engine.dispose()
    assert rows, "the sample rows show up"
    if fmt == "time_series":
        assert columns[0] == "time"


@pytest.mark.postgres
@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["uid"])
def test_alert_rule_query_runs_as_the_grafana_role(deployed_db: DeployedDb, rule: dict[str, Any]) -> None:
    engine = create_engine(deployed_db.reader_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            for query in rule["data"]:
                if query["datasourceUid"] != "__expr__":
                    sql = query["model"]["rawSql"].replace(":", r"\:")
                    value = connection.execute(text(sql)).scalar_one()
                    assert value >= 0
    finally:
        engine.dispose()
