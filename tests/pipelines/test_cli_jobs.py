"""The job commands: ``ingest``, ``requeue``, ``predict-new`` and ``retrain`` with ``--once``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from outagecast.datasets import write_csv_atomic
from outagecast.datasets.generate import generate_incidents
from outagecast.settings import get_settings


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable]:
    """Invoke ``outagecast`` in-process on a fresh home with its own SQLite database."""
    from outagecast.cli import app

    for name in ("MLFLOW_TRACKING_URI", "API_KEY", "ALERT_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OUTAGECAST_HOME", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    monkeypatch.setenv("INGEST_SETTLE_SECONDS", "0")
    monkeypatch.setenv("API_URL", "http://127.0.0.1:9")  # nothing listens: no job may need it here
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, list(args))
    get_settings.cache_clear()


def test_ingest_once_json_reports_every_file(cli: Callable, tmp_path: Path, gx_ready: None) -> None:
    raw = tmp_path / "data" / "raw_data"
    raw.mkdir(parents=True)
    write_csv_atomic(generate_incidents(50, seed=3), raw / "clean.csv")
    (raw / "empty.csv").write_bytes(b"")
    result = cli("ingest", "--once", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # stdout holds the JSON alone
    assert report["status"] == "ok"
    assert sorted(f["filename"] for f in report["files"]) == ["clean.csv", "empty.csv"]
    assert not list(raw.glob("*.csv"))
    # Without --json: one line per file; an empty inbox says so on stderr.
    again = cli("ingest", "--once")
    assert again.exit_code == 0 and "nothing to ingest" in again.stderr


def test_requeue_of_an_unknown_file_is_a_clear_error(cli: Callable) -> None:
    result = cli("requeue", "no-such-file.csv")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and "Traceback" not in result.output


def test_predict_new_and_retrain_with_nothing_new(cli: Callable) -> None:
    predicted = cli("predict-new", "--once", "--json")
    assert predicted.exit_code == 0, predicted.output
    assert json.loads(predicted.stdout)["status"] == "nothing_new"
    retrained = cli("retrain", "--once", "--json")
    assert retrained.exit_code == 0, retrained.output
    assert json.loads(retrained.stdout)["status"] == "not_enough_data"
