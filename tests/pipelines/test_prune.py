"""Retention (``outagecast prune``): old rows, files, Data Docs and model versions go; the rest stays."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert
from typer.testing import CliRunner

from outagecast.db.migrate import upgrade_to_head
from outagecast.db.models import (
    AlertLog,
    DriftResult,
    IncidentOutcome,
    IngestedFile,
    MonitorRun,
    Prediction,
    PredictionRequest,
    RealisedError,
    TrainingInput,
)
from outagecast.db.session import make_engine, make_session_factory
from outagecast.pipelines.locking import job_lock
from outagecast.pipelines.prune import JOB_NAME, PruneReport, prune
from outagecast.scheduling.jobs import get_job
from outagecast.settings import Settings, get_settings
from tests.utils.ingestion import query, visible_files

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=400)  # past the 365-day default
RECENT = NOW - timedelta(days=10)


def _settings(home: Path, db_url: str, **overrides: Any) -> Settings:
    """Settings on ``home``; model versions are kept (no registry) unless a test asks otherwise."""
    values: dict[str, Any] = {
        "outagecast_home": home,
        "database_url": db_url,
        "mlflow_tracking_uri": None,
        "retention_model_versions": 0,
    }
    return Settings(**(values | overrides))


def _insert(db_url: str, rows: dict[type, list[dict[str, Any]]]) -> None:
    upgrade_to_head(db_url)
    engine = make_engine(db_url)
    try:
        with make_session_factory(engine)() as session, session.begin():
            for model, values in rows.items():
                if values:
                    session.execute(insert(model), values)
    finally:
        engine.dispose()


def _prediction(when: datetime, version: str = "outage_duration/1", incident: str | None = None) -> dict:
    return {
        "timestamp": when,
        "model_version": version,
        "source": "webapp",
        "predicted_hours": 2.5,
        "is_anomaly": False,
        "incident_id": incident,
    }


def _counts(db_url: str) -> dict[str, int]:
    tables = (
        "predictions",
        "prediction_requests",
        "monitor_runs",
        "drift_results",
        "realised_errors",
        "alert_log",
        "incident_outcomes",
        "ingested_files",
        "training_inputs",
    )
    return {t: query(db_url, f"SELECT count(*) AS n FROM {t}")[0]["n"] for t in tables}


def _ledger(claim: str, state: str, when: datetime, *, content_key: str | None = None) -> dict:
    return {
        "claim_id": claim,
        "filename": f"{claim}.csv",
        "content_sha256": (claim * 64)[:64],
        "content_key": content_key,
        "size_bytes": 10,
        "state": state,
        "claimed_at": when,
        "finished_at": when,
    }


@pytest.fixture
def history(tmp_path: Path, db_url: str) -> Settings:
    """A database with old and recent rows of every pruned table (counts in the test below)."""
    settings = _settings(tmp_path, db_url)
    runs = [
        {"id": i, "timestamp": OLD if i <= 3 else RECENT, "status": "ok", "window_rows": 100}
        for i in range(1, 6)
    ]
    _insert(
        db_url,
        {
            # 11 old predictions (several batches of 3 below), 4 recent; incidents for the outcomes.
            Prediction: [_prediction(OLD - timedelta(minutes=i), incident=f"old-{i}") for i in range(11)]
            + [_prediction(RECENT, incident="kept") for _ in range(4)],
            PredictionRequest: [
                {"key": f"{i:064x}", "created_at": OLD if i < 5 else RECENT, "row_count": 1} for i in range(7)
            ],
            MonitorRun: runs,
            DriftResult: [
                {
                    "run_id": r["id"],
                    "feature": f,
                    "kind": "numeric",
                    "test": "ks",
                    "drifted": False,
                    "rows": 50,
                }
                for r in runs
                for f in ("ticket_count", "predicted_hours")
            ],
            RealisedError: [
                {"run_id": r["id"], "model_version": "outage_duration/1", "matched_rows": 5} for r in runs
            ],
            AlertLog: [
                {"timestamp": OLD if i < 2 else RECENT, "kind": "ingestion", "title": "t", "status": "logged"}
                for i in range(3)
            ],
            IncidentOutcome: [
                {
                    "incident_id": "old-0",
                    "actual_hours": 1.0,
                    "observed_at": OLD,
                },  # its prediction goes: goes
                {"incident_id": "orphan", "actual_hours": 1.0, "observed_at": OLD},  # no prediction: goes
                {"incident_id": "kept", "actual_hours": 1.0, "observed_at": OLD},  # a kept prediction: stays
                {"incident_id": "new", "actual_hours": 1.0, "observed_at": RECENT},  # recent: stays
            ],
            IngestedFile: [
                _ledger("a", "done", OLD, content_key="a" * 64),  # owns its content (dedupe): stays
                _ledger("b", "quarantined", OLD, content_key="b" * 64),  # owns its content: stays
                _ledger("c", "duplicate", OLD),  # goes
                _ledger("d", "released", OLD),  # goes
                _ledger("e", "duplicate", RECENT),  # recent: stays
                _ledger("f", "released", OLD),  # its file is still in processing/: stays
            ],
            TrainingInput: [
                {
                    "filename": "t.csv",
                    "content_sha256": "t" * 64,
                    "rows": 5,
                    "state": "archived",
                    "consumed_at": OLD,
                }
            ],
        },
    )
    processing = settings.data_path / "processing"
    processing.mkdir(parents=True)
    (processing / "f__f.csv").write_text("x\n")
    return settings


def test_old_rows_go_recent_rows_stay_dry_run_first(history: Settings, db_url: str) -> None:
    before = _counts(db_url)
    expected = {
        "predictions": 11,
        "prediction_requests": 5,
        "monitor_runs": 3,
        "drift_results": 6,
        "realised_errors": 3,
        "alert_log": 2,
        "incident_outcomes": 2,
        "ingested_files": 2,
    }
    now = NOW

    dry = prune(history, dry_run=True, now=now, batch_rows=3)

    assert dry.status == "ok" and dry.dry_run, dry.errors
    assert {k: v for k, v in dry.counts.items() if k in expected} == expected
    assert _counts(db_url) == before  # a dry run deletes nothing

    report = prune(history, now=now, batch_rows=3)

    assert report.status == "ok", report.errors
    assert {k: v for k, v in report.counts.items() if k in expected} == expected
    after = _counts(db_url)
    assert after == {k: before[k] - expected.get(k, 0) for k in before}
    assert {
        r["n"] for r in query(db_url, "SELECT count(*) AS n FROM predictions WHERE incident_id = 'kept'")
    } == {4}
    assert [r["id"] for r in query(db_url, "SELECT id FROM monitor_runs ORDER BY id")] == [4, 5]
    assert {r["run_id"] for r in query(db_url, "SELECT run_id FROM drift_results")} == {4, 5}
    assert {r["run_id"] for r in query(db_url, "SELECT run_id FROM realised_errors")} == {4, 5}
    assert sorted(r["incident_id"] for r in query(db_url, "SELECT incident_id FROM incident_outcomes")) == [
        "kept",
        "new",
    ]
    assert sorted(r["claim_id"] for r in query(db_url, "SELECT claim_id FROM ingested_files")) == [
        "a",
        "b",
        "e",
        "f",
    ]
    # Nothing left to do: a second run deletes nothing.
    assert prune(history, now=now, batch_rows=3).total == 0


def test_zero_keeps_forever(history: Settings, db_url: str) -> None:
    forever = history.model_copy(update={"retention_predictions_days": 0, "retention_files_days": 0})
    before = _counts(db_url)

    report = prune(forever, now=NOW)

    assert report.status == "ok" and report.total == 0
    assert _counts(db_url) == before


def test_a_failing_part_does_not_stop_the_others(
    history: Settings, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from outagecast.pipelines import prune as module

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(module, "_prune_files", broken)

    report = prune(history, now=NOW)

    assert (report.status, report.exit_code, report.errors) == ("error", 1, ["files: disk on fire"])
    assert report.predictions == 11  # the database part ran before, Data Docs after
    assert _counts(db_url)["predictions"] == 4


def test_a_stop_request_ends_the_run_before_deleting(history: Settings, db_url: str) -> None:
    before = _counts(db_url)
    report = prune(history, now=NOW, should_stop=lambda: True)
    assert report.stopped and report.total == 0
    assert _counts(db_url) == before


def _age(path: Path, days: float) -> Path:
    """Set ``path``'s modification time ``days`` ago (the link itself for a symbolic link)."""
    when = (datetime.now(UTC) - timedelta(days=days)).timestamp()
    os.utime(path, (when, when), follow_symlinks=False)
    return path


def _file(path: Path, days: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("incident_id\n1\n")
    return _age(path, days)


def test_old_files_go_from_archived_and_bad_data_only(tmp_path: Path, sqlite_url: str) -> None:
    settings = _settings(tmp_path, sqlite_url, retention_predictions_days=0)
    data = settings.data_path
    outside = _file(tmp_path / "elsewhere" / "precious.csv", 90)
    old = [
        _file(data / "archived_data" / "dup.csv", 40),
        _file(data / "bad_data" / "bad.csv", 40),
        _file(data / "bad_data" / "bad.csv.reason.txt", 31),
    ]
    kept = [
        _file(data / "archived_data" / "fresh.csv", 5),
        _file(data / "archived_data" / "trained.csv", 40),  # retraining reads it again: stays
        _file(data / "bad_data" / "fresh.csv", 29),
        _file(data / "bad_data" / "nested" / "old.csv", 40),  # not directly in the folder
        _file(data / "raw_data" / "waiting.csv", 400),  # not processed yet
        _file(data / "good_data" / "unread.csv", 400),  # not consumed yet
    ]
    link = data / "bad_data" / "link.csv"
    link.symlink_to(outside)
    _age(link, 90)
    folder_link = data / "archived_data" / "linked_folder"
    folder_link.symlink_to(outside.parent, target_is_directory=True)
    _insert(
        sqlite_url,
        {
            TrainingInput: [
                {
                    "filename": "trained.csv",
                    "content_sha256": "t" * 64,
                    "rows": 1,
                    "state": "archived",
                    "archived_name": "trained.csv",
                }
            ]
        },
    )

    dry = prune(settings, dry_run=True)
    assert (dry.archived_files, dry.bad_files) == (1, 2)
    assert all(p.exists() for p in old)

    report = prune(settings)

    assert report.status == "ok", report.errors
    assert (report.archived_files, report.bad_files) == (1, 2)
    assert not any(p.exists() for p in old)
    assert all(p.exists() for p in kept)
    assert link.is_symlink() and outside.read_text() == "incident_id\n1\n"  # link skipped, target intact
    assert folder_link.is_symlink() and visible_files(outside.parent) == ["precious.csv"]
    assert visible_files(data / "bad_data") == ["fresh.csv", "link.csv"]


def test_old_data_docs_pages_and_results_go_index_stays(tmp_path: Path, sqlite_url: str) -> None:
    settings = _settings(tmp_path, sqlite_url, retention_predictions_days=0, retention_files_days=0)
    site = settings.data_docs_path
    suite = "outagecast_incidents"
    old_run = Path(suite) / "batch_001.csv" / "20251001T101500.000000Z"
    new_run = Path(suite) / "batch_002.csv" / "20261201T101500.000000Z"
    old = [
        _file(site / "validations" / old_run / "abc.html", 40),
        _file(site / "validation_results" / old_run / "abc.json", 40),
    ]
    kept = [
        _file(site / "validations" / new_run / "def.html", 2),
        _file(site / "validation_results" / new_run / "def.json", 2),
        _file(site / "index.html", 60),  # the site index: rebuilt by the next validation
        _file(site / "static" / "styles" / "x.css", 60),
        _file(site / "expectations" / f"{suite}.html", 60),
    ]
    # A validation is about to write into this new, still empty folder: it must stay.
    being_written = site / "validations" / suite / "batch_003.csv" / "20261204T101500.000000Z"
    being_written.mkdir(parents=True)
    outside = _file(tmp_path / "elsewhere" / "page.html", 90)
    (site / "validations" / suite / "linked").symlink_to(outside.parent, target_is_directory=True)
    (site / "validations" / suite / "page_link.html").symlink_to(outside)
    for folder in (old_run, old_run.parent):  # the old run's folders were last written 40 days ago
        for sub in ("validations", "validation_results"):
            _age(site / sub / folder, 40)

    dry = prune(settings, dry_run=True)
    assert (dry.data_docs_pages, dry.data_docs_files) == (1, 2)
    assert all(p.exists() for p in old)

    report = prune(settings)

    assert report.status == "ok", report.errors
    assert (report.data_docs_pages, report.data_docs_files) == (1, 2)
    assert not any(p.exists() for p in old)
    assert all(p.exists() for p in kept)
    for sub in ("validations", "validation_results"):
        assert not (site / sub / old_run.parent).exists()  # emptied old folders removed
        assert (site / sub / suite).is_dir()  # written to recently (the new run): kept
    assert outside.exists() and (site / "validations" / suite / "page_link.html").is_symlink()
    assert being_written.is_dir()


def test_one_run_at_a_time(tmp_path: Path, sqlite_url: str) -> None:
    settings = _settings(tmp_path, sqlite_url)
    settings.data_path.mkdir(parents=True)
    with job_lock(JOB_NAME, lock_dir=settings.data_path) as held:
        assert held
        report = prune(settings)
    assert (report.status, report.exit_code) == ("busy", 75)


def test_the_job_is_scheduled_daily() -> None:
    job = get_job("prune")
    assert job.resolve().__name__ == "run_scheduled"
    assert job.schedule == timedelta(days=1)


# ---------------------------------------------------------------- model versions (real MLflow store)


def _register(settings: Settings, count: int) -> list[str]:
    """``count`` versions of the registered model in the settings' local MLflow store.

    Each points at the same tiny artifact folder: pruning works on the registry entries only, so
    no model needs training here.
    """
    from outagecast.ml import registry

    client = registry.client(settings)
    name = settings.registered_model_name
    client.create_registered_model(name)
    source = settings.var_path / "artifact"
    source.mkdir(parents=True, exist_ok=True)
    (source / "MLmodel").write_text("flavors: {}\n")
    return [
        registry.version_label(name, client.create_model_version(name, source.as_uri()).version)
        for _ in range(count)
    ]


@pytest.fixture(scope="module")
def registry_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prune-registry")


def test_model_versions_keep_champion_newest_and_served(registry_home: Path) -> None:
    from outagecast.ml import registry

    db_url = f"sqlite:///{registry_home}/outagecast.db"
    settings = _settings(registry_home, db_url, retention_model_versions=3)
    labels = _register(settings, 9)  # outage_duration/1 ... /9
    registry.set_champion(settings, labels[1])  # /2
    _insert(
        db_url,
        {
            Prediction: [
                _prediction(RECENT, version=labels[3]),  # /4 served a kept prediction: stays
                _prediction(OLD, version=labels[0]),  # /1 only served a pruned one: goes
            ]
        },
    )
    doomed = [labels[i] for i in (0, 2, 4, 5)]  # /1, /3, /5, /6

    dry = prune(settings, dry_run=True, now=NOW)
    assert dry.status == "ok", dry.errors
    assert dry.model_versions == doomed
    assert [v.version for v in registry.list_versions(settings)] == labels[::-1]  # nothing deleted

    report = prune(settings, now=NOW)

    assert report.status == "ok", report.errors
    assert report.model_versions == doomed and report.predictions == 1
    remaining = {v.version: v.is_champion for v in registry.list_versions(settings)}
    assert remaining == {labels[i]: i == 1 for i in (8, 7, 6, 3, 1)}
    assert registry.champion_version(settings) == labels[1]
    assert prune(settings, now=NOW).model_versions == []  # the rest all have a reason to stay


# ---------------------------------------------------------------- the command


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from outagecast.cli import app

    for name in ("MLFLOW_TRACKING_URI", "API_KEY", "ALERT_WEBHOOK_URL", "DATA_DIR", "VAR_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OUTAGECAST_HOME", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    monkeypatch.setenv("RETENTION_MODEL_VERSIONS", "0")
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, list(args))
    get_settings.cache_clear()


def test_prune_command_dry_run_json_then_once(cli: Any, tmp_path: Path) -> None:
    old = _file(tmp_path / "data" / "bad_data" / "old.csv", 45)

    dry = cli("prune", "--dry-run", "--json")  # a dry run is one pass even without --once

    assert dry.exit_code == 0, dry.output
    report = json.loads(dry.stdout)  # stdout holds the JSON alone
    assert (report["dry_run"], report["bad_files"], report["status"]) == (True, 1, "ok")
    assert old.exists()

    done = cli("prune", "--once")
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == "deleted: 1 bad_files"
    assert not old.exists()


def test_report_shape() -> None:
    report = PruneReport(predictions=2, data_docs_pages=1, data_docs_files=2, model_versions=["m/1"])
    assert report.total == 5 and report.as_dict()["model_versions"] == ["m/1"]
