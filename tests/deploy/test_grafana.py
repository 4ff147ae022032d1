"""Grafana provisioning: valid files, dashboards that exist, and queries that really run.

The SQL of every panel and alert rule is run on PostgreSQL, on a database prepared by the
db service's init script, migrated by OutageCast and loaded with generated predictions,
ingestion stats, monitor runs, drift results and realised errors, as the read-only role
Grafana uses. The monitoring alert rules are also evaluated: they fire on the generated
verdicts and resolve once a newer, clean monitor run is stored.
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
from outagecast.db.models import IngestionStat, MonitorRun, Prediction, RealisedError
from tests.conftest import DEFAULT_TEST_POSTGRES_URL
from tests.deploy.conftest import DEPLOY, environment, load_yaml, strings, volume_entries
from tests.utils.monitoring_seed import Seeded, seed_monitoring

GRAFANA = DEPLOY / "grafana"
PROVISIONING = GRAFANA / "provisioning"
DASHBOARDS = GRAFANA / "dashboards"
INIT_SCRIPT = DEPLOY / "postgres" / "initdb" / "10-outagecast.sh"
BUILTIN_DATASOURCES = {"-- Grafana --", "__expr__"}
POSTGRES_UID, PROMETHEUS_UID = "outagecast-postgres", "outagecast-prometheus"
DASHBOARD_UIDS = {"outagecast-data-quality", "outagecast-drift-predictions"}
MONITORING_RULES = ("outagecast-drift-flagged", "outagecast-realised-error-degraded")


def provisioning_files(kind: str) -> list[Path]:
    return sorted((PROVISIONING / kind).glob("*.y*ml"))


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def datasources() -> dict[str, dict[str, Any]]:
    return {
        ds["uid"]: ds for path in provisioning_files("datasources") for ds in load_yaml(path)["datasources"]
    }


def datasource_uids() -> set[str]:
    return set(datasources())


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
    assert set(datasources()) == {POSTGRES_UID, PROMETHEUS_UID}
    datasource = datasources()[POSTGRES_UID]
    assert datasource["type"] == "grafana-postgresql-datasource"
    assert datasource["isDefault"] is True
    assert datasource["user"] == "${GRAFANA_DB_USER}", "the read-only role, not the database owner"
    assert datasource["jsonData"]["database"] == "${OUTAGECAST_DB_NAME}"
    assert datasource["secureJsonData"]["password"] == "${GRAFANA_DB_PASSWORD}"


def test_prometheus_datasource_points_at_the_prometheus_service(services: dict[str, Any]) -> None:
    datasource = datasources()[PROMETHEUS_UID]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "${PROMETHEUS_URL}"
    assert environment(services["grafana"])["PROMETHEUS_URL"] == "http://prometheus:9090"
    assert "9090" in services["prometheus"]["ports"][0].rsplit(":", 1)[1]


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
    assert {b["uid"] for b in boards} == DASHBOARD_UIDS
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
            if target["datasource"]["uid"] == PROMETHEUS_UID:
                assert target["expr"].strip(), panel["title"]
            else:
                assert target["rawSql"].strip(), panel["title"]


def test_prometheus_panels_read_the_metrics_of_the_scraped_api_job() -> None:
    """PromQL cannot run here without a Prometheus; at least the names must be the real ones."""
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    # The API's metric names (api/metrics.py, prometheus-fastapi-instrumentator's defaults).
    known = {"http_requests_total", "http_request_duration_seconds_bucket"}
    exprs = [
        t["expr"]
        for path in dashboard_files()
        for p in panels(json.loads(path.read_text(encoding="utf-8")))
        for t in p.get("targets", [])
        if t["datasource"]["uid"] == PROMETHEUS_UID
    ]
    assert exprs, "the API's request panels"
    for expr in exprs:
        selectors = re.findall(r"(\w+)\{([^}]*)\}", expr)
        assert selectors, expr
        for metric, matchers in selectors:
            assert metric in known, metric
            assert dict(re.findall(r'(\w+)=~?"([^"]*)"', matchers))["job"] in jobs, expr


def test_drift_and_predictions_dashboard_covers_the_monitoring_tables() -> None:
    board = json.loads((DASHBOARDS / "drift-predictions.json").read_text(encoding="utf-8"))
    sql = " ".join(t.get("rawSql", "") for p in panels(board) for t in p.get("targets", []))
    for table in ("predictions", "monitor_runs", "drift_results", "realised_errors"):
        assert re.search(rf"\b{table}\b", sql), table
    for column in ("psi", "p_value", "drifted", "mae", "bias", "interval_coverage"):
        assert re.search(rf"\b{column}\b", sql), column
    assert any(p["type"] == "histogram" for p in panels(board)), "the predictions' distribution"


def test_alert_rules_cover_the_monitoring_conditions() -> None:
    uids = {rule["uid"] for rule in alert_rules()}
    assert {"outagecast-high-criticality-ingestion", *MONITORING_RULES, "outagecast-api-error-rate"} <= uids


def test_api_error_rate_rule_reads_the_request_metric_of_the_api_job() -> None:
    """The metric and labels the API exposes (api/metrics.py), the job prometheus.yml scrapes."""
    (rule,) = [r for r in alert_rules() if r["uid"] == "outagecast-api-error-rate"]
    (query,) = [q for q in rule["data"] if q["datasourceUid"] != "__expr__"]
    assert query["datasourceUid"] == PROMETHEUS_UID
    expr = query["model"]["expr"]
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    for selector in re.findall(r"http_requests_total\{([^}]*)\}", expr):
        labels = dict(re.findall(r'(\w+)=~?"([^"]*)"', selector))
        assert labels["job"] in jobs
    errors = re.search(r'status=~"([^"]+)"', expr)
    assert errors, "a selector on the 5xx statuses"
    pattern = re.compile(errors.group(1))
    # Prometheus anchors regex matchers; ungrouped (500, 503) and grouped (5xx) statuses both match.
    assert all(pattern.fullmatch(s) for s in ("500", "503", "5xx"))
    assert not any(pattern.fullmatch(s) for s in ("200", "404", "429", "4xx"))
    assert rule["for"] != "0s", "a burst of errors must last before it pages"


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
                if target["datasource"]["uid"] != POSTGRES_UID:
                    continue  # PromQL: test_prometheus_panels_read_the_metrics_of_the_scraped_api_job
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
    owner_url: URL
    seeded: Seeded


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
        # Monitoring data as the monitor job leaves it: two ok runs (the newer one flags drift
        # and a degraded version) and a skipped one, over generated predictions and stats.
        seeded = seed_monitoring(
            owner_url.render_as_string(hide_password=False), model_version="outage_duration/2"
        )
        reader_url = server.set(database=app_db, username=reader, password=reader_password)
        yield DeployedDb(
            reader_url=reader_url,
            reader_mlflow_url=reader_url.set(database=mlflow_db),
            owner_url=owner_url,
            seeded=seeded,
        )
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
            stats, predictions = len(deployed_db.seeded.stats), len(deployed_db.seeded.predictions)
            assert connection.execute(text("SELECT count(*) FROM ingestion_stats")).scalar_one() == 3 + stats
            assert (
                connection.execute(text("SELECT count(*) FROM predictions")).scalar_one() == 4 + predictions
            )
            assert connection.execute(text("SELECT count(*) FROM drift_results")).scalar_one() > 0
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
@pytest.mark.parametrize(
    "rule",
    [r for r in alert_rules() if r["data"][0]["datasourceUid"] == POSTGRES_UID],
    ids=lambda rule: rule["uid"],
)
def test_alert_rule_query_runs_as_the_grafana_role(deployed_db: DeployedDb, rule: dict[str, Any]) -> None:
    engine = create_engine(deployed_db.reader_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            for query in rule["data"]:
                if query["datasourceUid"] == POSTGRES_UID:
                    sql = query["model"]["rawSql"].replace(":", r"\:")
                    value = connection.execute(text(sql)).scalar_one()
                    assert value >= 0
    finally:
        engine.dispose()


def _rule_value(url: URL, uid: str) -> float:
    (rule,) = [r for r in alert_rules() if r["uid"] == uid]
    (query,) = [q for q in rule["data"] if q["datasourceUid"] == POSTGRES_UID]
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return connection.execute(text(query["model"]["rawSql"])).scalar_one()
    finally:
        engine.dispose()


def _threshold(uid: str) -> float:
    (rule,) = [r for r in alert_rules() if r["uid"] == uid]
    (condition,) = [q for q in rule["data"] if q["refId"] == rule["condition"]]
    (evaluator,) = [c["evaluator"] for c in condition["model"]["conditions"]]
    assert evaluator["type"] == "gt"
    return evaluator["params"][0]


@pytest.mark.postgres
def test_monitoring_alerts_fire_on_the_newest_verdict_and_resolve_after_a_clean_run(
    deployed_db: DeployedDb,
) -> None:
    # The generated newest ok run flags ticket_count and a degraded version: both rules fire.
    for uid in MONITORING_RULES:
        assert _rule_value(deployed_db.reader_url, uid) > _threshold(uid), uid
    # A later clean run (no drift, realised error back to normal) resolves both.
    later = max(r["timestamp"] for r in deployed_db.seeded.runs) + timedelta(minutes=10)
    engine = create_engine(deployed_db.owner_url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            run_id = connection.execute(
                insert(MonitorRun.__table__).returning(MonitorRun.__table__.c.id),
                {"timestamp": later, "status": "ok", "model_version": "outage_duration/2", "window_rows": 500,
                 "drift_detected": False, "prediction_drift": False, "drifted_features": []},
            ).scalar_one()  # fmt: skip
            connection.execute(
                insert(RealisedError.__table__),
                {"run_id": run_id, "model_version": "outage_duration/2", "matched_rows": 50, "mae": 0.8,
                 "bias": 0.0, "training_mae": 0.8, "error_ratio": 1.0, "degraded": False},
            )  # fmt: skip
        for uid in MONITORING_RULES:
            assert _rule_value(deployed_db.reader_url, uid) <= _threshold(uid), uid
    finally:
        with engine.begin() as connection:  # other tests of this module see the generated state
            connection.execute(text('DELETE FROM monitor_runs WHERE "timestamp" = :t'), {"t": later})
        engine.dispose()
