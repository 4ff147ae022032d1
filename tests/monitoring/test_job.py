"""The monitor job end to end on SQLite and PostgreSQL: window, statistics, realised error, storage, alerts.

Predictions are stored the way ``POST /predict`` stores them (``api.service`` + ``copy_predictions``)
by the real champion of a real MLflow store; alerts go to a real HTTP receiver on loopback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from outagecast import schema
from outagecast.api.service import predict_frame, stored_columns
from outagecast.db import repository
from outagecast.db.migrate import upgrade_to_head
from outagecast.db.session import make_engine, make_session_factory
from outagecast.ml import registry
from outagecast.monitoring.job import run_monitor, run_scheduled
from outagecast.scheduling.jobs import get_job
from outagecast.settings import Settings
from tests.monitoring.conftest import (
    SEVERITY_TOWARDS_CRITICAL,
    Trained,
    sample_rows,
    weights_for,
    with_more_load,
)
from tests.registry.conftest import make_settings
from tests.utils.ingestion import query, webhook_receiver

INPUTS_AND_ID = [*schema.FEATURES, schema.ID_COLUMN]


def _settings(trained: Trained, db_url: str, **overrides: object) -> Settings:
    values = {"database_url": db_url, "alert_webhook_url": None, "alert_format": "json", **overrides}
    return trained.settings.model_copy(update=values)


def _store(
    trained: Trained,
    db_url: str,
    rows: pd.DataFrame,
    *,
    source: str = "scheduled",
    now: datetime | None = None,
) -> pd.DataFrame:
    """Predict ``rows`` as the API does and store them; returns what was stored."""
    predicted = predict_frame(
        rows[INPUTS_AND_ID], predictor=trained.predictor, settings=trained.settings, source=source, now=now
    )
    engine = make_engine(db_url)
    try:
        with make_session_factory(engine)() as session, session.begin():
            repository.copy_predictions(session, columns=stored_columns(predicted))
    finally:
        engine.dispose()
    return predicted


def _outcomes(db_url: str, rows: pd.DataFrame, factor: float = 1.0) -> pd.Series:
    """Record the actual durations of ``rows`` (times ``factor``); returns them by incident id."""
    actual = rows[schema.TARGET_SOURCE_COLUMN].astype(float) / 60.0 * factor
    engine = make_engine(db_url)
    try:
        with make_session_factory(engine)() as session, session.begin():
            repository.insert_incident_outcomes(
                session,
                rows=pd.DataFrame({"incident_id": rows[schema.ID_COLUMN], "actual_hours": actual}).to_dict(
                    orient="records"
                ),
            )
    finally:
        engine.dispose()
    return pd.Series(actual.to_numpy(), index=rows[schema.ID_COLUMN].to_numpy())


def _shifted(trained: Trained, rows: int, seed: int) -> pd.DataFrame:
    """Severity mix moved towards Critical and system load 15 points higher."""
    loaded = with_more_load(trained)
    rng = np.random.default_rng(seed)
    return sample_rows(loaded, rows, rng, weights_for(loaded, "severity", SEVERITY_TOWARDS_CRITICAL))


def test_a_calm_window_is_stored_with_every_statistic(trained: Trained, db_url: str) -> None:
    upgrade_to_head(db_url)
    window = sample_rows(trained.pool, 1000, np.random.default_rng(101))
    stored = _store(trained, db_url, window)
    actual = _outcomes(db_url, window.iloc[:300])
    with webhook_receiver() as receiver:
        report = run_monitor(_settings(trained, db_url, alert_webhook_url=receiver.url))

        assert receiver.requests == []  # nothing to say
    assert (report.status, report.drift_detected, report.window_rows) == ("ok", False, 1000), report.as_dict()
    assert report.model_version == trained.version
    assert set(report.features) == set(schema.FEATURES)
    (run,) = query(db_url, "SELECT id, status, window_rows, drift_detected, model_version FROM monitor_runs")
    assert run["id"] == report.run_id and run["status"] == "ok" and not run["drift_detected"]
    rows = query(db_url, "SELECT feature, kind, test, p_value, psi, drifted, rows FROM drift_results")
    assert {r["feature"] for r in rows} == {*schema.FEATURES, "predicted_hours"}
    assert all(r["rows"] == 1000 and r["p_value"] is not None and not r["drifted"] for r in rows)
    assert {r["feature"]: r["test"] for r in rows}["severity"] == "chi2"
    assert {r["feature"]: r["test"] for r in rows}["ticket_count"] == "ks"
    # Realised error, recomputed here from the stored predictions and the outcomes.
    (error,) = query(db_url, "SELECT * FROM realised_errors")
    matched = stored.set_index(schema.ID_COLUMN).loc[actual.index]
    diff = matched["predicted_hours"].to_numpy() - actual.to_numpy()
    inside = (actual.to_numpy() >= matched["predicted_hours_low"]) & (
        actual.to_numpy() <= matched["predicted_hours_high"]
    )
    assert error["model_version"] == trained.version and error["matched_rows"] == 300
    assert error["mae"] == pytest.approx(np.abs(diff).mean())
    assert error["bias"] == pytest.approx(diff.mean())
    assert error["rmse"] == pytest.approx(np.sqrt((diff**2).mean()))
    assert error["interval_coverage"] == pytest.approx(inside.mean())
    assert error["nominal_coverage"] == pytest.approx(trained.settings.interval_coverage)
    # No training_runs row in this database: the held-out MAE comes from the version's MLflow run.
    run_mae = registry.client(trained.settings).get_run(
        registry.client(trained.settings)
        .get_model_version(trained.settings.registered_model_name, trained.version.rsplit("/", 1)[1])
        .run_id
    )
    assert error["training_mae"] == pytest.approx(run_mae.data.metrics["mae"])
    assert not error["degraded"] and error["error_ratio"] < 1.5


def test_drift_and_degraded_error_raise_alerts(trained: Trained, db_url: str) -> None:
    upgrade_to_head(db_url)
    window = _shifted(trained, 1000, 202)
    _store(trained, db_url, window)
    _outcomes(db_url, window.iloc[:200], factor=4.0)  # reality is far worse than predicted
    engine = make_engine(db_url)
    with make_session_factory(engine)() as session, session.begin():  # the recorded held-out MAE wins
        repository.insert_training_run(
            session,
            model_version=trained.version,
            decision="promoted",
            reason="t",
            trigger="cli",
            metrics={"mae": 0.9},
        )
    engine.dispose()
    with webhook_receiver() as receiver:
        report = run_monitor(_settings(trained, db_url, alert_webhook_url=receiver.url))
        bodies = {r["json"]["kind"]: r["json"] for r in receiver.wait_for(2)}

    assert report.drift_detected and report.status == "ok"
    assert {"severity", "system_load_before_outage"} <= set(report.drifted_features)
    assert report.degraded_versions == [trained.version]
    assert set(report.alerts) == {"drift", "realised_error"}
    drift = bodies["drift"]
    assert "severity" in drift["title"] and "chi2" in drift["facts"]["severity"]
    assert "PSI" in drift["facts"]["system_load_before_outage"]
    assert trained.version in bodies["realised_error"]["facts"]
    (run,) = query(db_url, "SELECT drift_detected, drifted_features FROM monitor_runs")
    features = run["drifted_features"]
    features = json.loads(features) if isinstance(features, str) else features
    assert run["drift_detected"] and features == report.drifted_features
    (error,) = query(db_url, "SELECT training_mae, error_ratio, degraded, matched_rows FROM realised_errors")
    assert error["training_mae"] == 0.9 and error["degraded"] and error["matched_rows"] == 200
    assert error["error_ratio"] == pytest.approx(report.realised_error[0]["mae"] / 0.9)


def test_the_window_is_the_latest_traffic_of_the_chosen_source(trained: Trained, sqlite_url: str) -> None:
    upgrade_to_head(sqlite_url)
    now = datetime.now(UTC)
    _store(trained, sqlite_url, _shifted(trained, 1000, 303), source="webapp", now=now - timedelta(days=3))
    _store(trained, sqlite_url, sample_rows(trained.pool, 1000, np.random.default_rng(304)), now=now)

    latest = run_monitor(_settings(trained, sqlite_url))
    webapp = run_monitor(_settings(trained, sqlite_url, monitor_source="webapp"))
    last_day = run_monitor(_settings(trained, sqlite_url, monitor_window_hours=24))
    last_week = run_monitor(_settings(trained, sqlite_url, monitor_window_hours=24 * 7))

    assert (latest.window_rows, latest.drift_detected) == (1000, False)
    assert (webapp.window_rows, webapp.drift_detected, webapp.source) == (1000, True, "webapp")
    assert webapp.window_end is not None and webapp.window_end < now - timedelta(days=2)
    assert (last_day.window_rows, last_day.drift_detected) == (1000, False)
    assert (last_week.window_rows, last_week.drift_detected) == (2000, True)


def test_nothing_to_judge_is_a_skipped_run(trained: Trained, sqlite_url: str, tmp_path: Path) -> None:
    upgrade_to_head(sqlite_url)
    _store(trained, sqlite_url, sample_rows(trained.pool, 50, np.random.default_rng(5)))

    few = run_monitor(_settings(trained, sqlite_url))
    no_champion = run_monitor(make_settings(tmp_path / "empty", database_url=sqlite_url))

    assert (few.status, few.window_rows, few.drift_detected) == ("skipped", 50, False)
    assert "MONITOR_MIN_ROWS=100" in (few.message or "") and few.exit_code == 0
    assert no_champion.status == "skipped" and "no champion" in (no_champion.message or "")
    runs = query(sqlite_url, "SELECT status FROM monitor_runs ORDER BY id")
    assert runs == [{"status": "skipped"}] * 2
    assert query(sqlite_url, "SELECT COUNT(*) AS n FROM drift_results") == [{"n": 0}]


def test_a_failure_is_recorded_and_reported_never_raised(trained: Trained, sqlite_url: str) -> None:
    upgrade_to_head(sqlite_url)
    _store(trained, sqlite_url, sample_rows(trained.pool, 200, np.random.default_rng(6)))

    def broken(settings: Settings, version: str) -> tuple[dict, pd.DataFrame]:
        raise LookupError(f"version {version} has no baseline")

    report = run_monitor(_settings(trained, sqlite_url), baseline_loader=broken)

    assert (report.status, report.exit_code) == ("failed", 1)
    assert "has no baseline" in report.errors[0]
    assert query(sqlite_url, "SELECT status, message FROM monitor_runs") == [
        {"status": "failed", "message": report.message}
    ]


def test_the_scheduler_runs_the_monitor_hourly() -> None:
    job = get_job("monitor")
    assert job.resolve() is run_scheduled
    assert job.schedule == timedelta(hours=1) and job.interval(Settings(monitor_interval_seconds=60)) == 60


@pytest.mark.slow
def test_cli_json_is_one_object_alone_on_stdout(trained: Trained, tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path}/cli.db"
    upgrade_to_head(db_url)
    _store(trained, db_url, sample_rows(trained.pool, 300, np.random.default_rng(7)))
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("OUTAGECAST", "MLFLOW", "ALERT"))}
    env = {
        **keep,
        "OUTAGECAST_HOME": str(trained.settings.outagecast_home),
        "DATABASE_URL": db_url,
        "DATASET_ROWS": str(trained.settings.dataset_rows),
    }
    cli = Path(sys.executable).with_name("outagecast")
    done = subprocess.run(
        [str(cli), "monitor", "--once", "--json"], env=env, capture_output=True, text=True, timeout=300
    )

    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)  # the whole of stdout is one JSON object
    assert isinstance(report["drift_detected"], bool) and report["window_rows"] == 300
    assert report["model_version"] == trained.version and isinstance(report["run_id"], int)
    for name in (*schema.FEATURES, "predicted_hours"):
        result = report["prediction_drift"] if name == "predicted_hours" else report["features"][name]
        assert {"statistic", "p_value", "psi", "drifted"} <= result.keys(), name
    assert report["window_start"] <= report["window_end"]
    assert report["realised_error"] == []
