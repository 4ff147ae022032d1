"""The retrain job: trains once enough new good rows arrived, promotes or alerts, archives once."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from outagecast.datasets.generate import write_dataset
from outagecast.db import repository
from outagecast.db.migrate import upgrade_to_head
from outagecast.db.session import make_engine, make_session_factory
from outagecast.pipelines import retrain
from outagecast.pipelines.retrain import retrain_once
from outagecast.settings import Settings
from tests.utils.ingestion import query, visible_files
from tests.utils.server import free_port


@dataclass
class FakeDecision:
    candidate_version: str
    promoted: bool
    reason: str


class FakeTrainer:
    """Stands in for train_and_register: records what it was given, decides as told."""

    def __init__(self, promoted: bool) -> None:
        self.promoted = promoted
        self.calls: list[int] = []

    def __call__(self, settings: Settings, *, data, trigger: str):
        assert trigger == "retrain"
        self.calls.append(len(data))
        reason = "better than the champion" if self.promoted else "RMSE worse than the champion by 0.3 h"
        return [], FakeDecision(f"outage_duration/{len(self.calls) + 1}", self.promoted, reason)


def _settings(home: Path, db_url: str, **extra) -> Settings:
    values = {
        "dataset_rows": 300,
        "api_url": f"http://127.0.0.1:{free_port()}",
        "api_timeout_seconds": 2,
        "min_new_rows_for_training": 500,
        **extra,
    }
    return Settings(outagecast_home=home, database_url=db_url, **values)


def _good(settings: Settings, name: str, rows: int, seed: int, *, predicted: bool = True) -> None:
    """A good-data file, marked done by the prediction ledger unless ``predicted`` is False."""
    folder = settings.folder("good_data")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(write_dataset(settings.var_path / name, rows, seed, progress=False), folder / name)
    if predicted:
        upgrade_to_head(settings.resolved_database_url)
        engine = make_engine(settings.resolved_database_url)
        try:
            with make_session_factory(engine)() as session, session.begin():
                repository.insert_predicted_file(
                    session, filename=name, content_sha256="x" * 64, state="done", rows=rows, chunks_done=1
                )
        finally:
            engine.dispose()


def test_below_the_threshold_nothing_trains(tmp_path: Path, db_url: str) -> None:
    settings = _settings(tmp_path, db_url)
    _good(settings, "a.csv", 300, 1)
    _good(settings, "b.csv", 300, 2, predicted=False)  # not predicted yet: not counted, not archived
    trainer = FakeTrainer(promoted=True)

    result = retrain_once(settings, trainer=trainer)

    assert (result.status, result.new_rows, result.new_files) == ("not_enough_data", 300, ["a.csv"])
    assert trainer.calls == []
    assert visible_files(settings.folder("good_data")) == ["a.csv", "b.csv"]


def test_promotion_reloads_the_api_and_archives_once(tmp_path: Path, db_url: str) -> None:
    settings = _settings(tmp_path, db_url)
    _good(settings, "a.csv", 300, 1)
    _good(settings, "b.csv", 250, 2)
    trainer, reloads = FakeTrainer(promoted=True), []

    result = retrain_once(settings, trainer=trainer, reload=lambda s: reloads.append(1) or "reloaded")

    assert result.status == "trained" and result.promoted and result.reload == "reloaded"
    assert trainer.calls == [300 + 300 + 250]  # base dataset + every new good row
    assert reloads == [1] and result.alert is None
    assert sorted(result.archived) == ["a.csv", "b.csv"]
    assert visible_files(settings.folder("good_data")) == []
    assert visible_files(settings.folder("archived_data")) == ["a.csv", "b.csv"]
    rows = query(db_url, "SELECT filename, state, model_version FROM training_inputs ORDER BY filename")
    assert rows == [
        {"filename": "a.csv", "state": "archived", "model_version": "outage_duration/2"},
        {"filename": "b.csv", "state": "archived", "model_version": "outage_duration/2"},
    ]

    # Idempotent: nothing new, nothing trained; a later batch trains on everything seen so far.
    assert retrain_once(settings, trainer=trainer).status == "not_enough_data"
    _good(settings, "c.csv", 500, 3)
    assert retrain_once(settings, trainer=trainer, reload=lambda s: "reloaded").status == "trained"
    assert trainer.calls == [850, 300 + 550 + 500]


def test_rejection_alerts_with_the_reason(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path, db_url)
    _good(settings, "a.csv", 600, 1)
    alerts: list[tuple] = []
    monkeypatch.setattr(
        "outagecast.alerts.send_alert",
        lambda s, kind, title, facts, **kw: alerts.append((kind, title, facts)),
    )

    result = retrain_once(settings, trainer=FakeTrainer(promoted=False), reload=pytest.fail)

    assert result.status == "trained" and result.promoted is False
    ((kind, title, facts),) = alerts
    assert kind == "retrain" and "not promoted" in title
    assert facts["reason"] == "RMSE worse than the champion by 0.3 h"
    assert visible_files(settings.folder("archived_data")) == ["a.csv"]


def test_a_crash_before_archiving_is_finished_by_the_next_run(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path, db_url)
    _good(settings, "a.csv", 600, 1)
    trainer = FakeTrainer(promoted=True)
    real_archive = retrain._archive
    calls = []

    def crash_on_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the archive after training: the process dies
            raise SystemExit("killed")
        return real_archive(*args, **kwargs)

    monkeypatch.setattr(retrain, "_archive", crash_on_second)
    with pytest.raises(SystemExit):
        retrain_once(settings, trainer=trainer, reload=lambda s: "reloaded")
    monkeypatch.setattr(retrain, "_archive", real_archive)
    assert query(db_url, "SELECT state FROM training_inputs") == [{"state": "consumed"}]

    result = retrain_once(settings, trainer=trainer)

    assert result.status == "not_enough_data" and result.archived == ["a.csv"]
    assert len(trainer.calls) == 1  # not trained again
    assert visible_files(settings.folder("archived_data")) == ["a.csv"]


@pytest.mark.slow
def test_a_real_retraining_registers_gates_and_promotes(tmp_path: Path, sqlite_url: str) -> None:
    settings = _settings(tmp_path, sqlite_url, dataset_rows=3000, reference_rows=500, bootstrap_resamples=200)
    _good(settings, "a.csv", 600, 1)

    result = retrain_once(settings)

    assert result.status == "trained", result.as_dict()
    # A fresh store promotes the first model on latency alone; either way the outcome is consistent.
    if result.promoted:
        assert result.reload.startswith("failed") and result.alert is None  # no API: best effort only
    else:
        assert result.reload is None and result.alert is not None and result.reason
    runs = query(sqlite_url, "SELECT model_version, decision, trigger FROM training_runs")
    decision = "promoted" if result.promoted else "rejected"
    assert runs == [{"model_version": result.model_version, "decision": decision, "trigger": "retrain"}]
    assert visible_files(settings.folder("archived_data")) == ["a.csv"]
