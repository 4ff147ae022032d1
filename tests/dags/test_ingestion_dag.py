"""The Airflow DAGs: every file in dags/ imports cleanly, and the ingestion DAG runs with ``dag.test()``.

Airflow runs in subprocesses with its own home and SQLite metadata database (migrated once per
session), so neither its configuration nor its logging leaks into the pytest process. The DAG
finds the OutageCast settings in the environment, as it does in production.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from outagecast.datasets.corrupt import corrupt_file
from tests.utils.ingestion import drop, query, settings_for, visible_files

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
RESULT_MARK = "TEST-RESULT "


def _run_airflow_python(code: str, env: dict[str, str], timeout: float = 600) -> dict:
    """Run ``code`` in a fresh interpreter; it prints its result after ``RESULT_MARK``."""
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    assert done.returncode == 0 and lines, (
        f"exit {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    )
    return json.loads(lines[-1].removeprefix(RESULT_MARK))


@pytest.fixture(scope="session")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment of an Airflow with a migrated SQLite metadata database and dags/ as its DAG folder."""
    home = tmp_path_factory.mktemp("airflow")
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "OUTAGECAST"))}
    keep = {k: v for k, v in keep.items() if k not in ("DATABASE_URL", "DATA_DIR", "VAR_DIR")}
    env = {
        **keep,
        "PYTHONPATH": str(ROOT),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "GX_ANALYTICS_ENABLED": "False",
    }
    migrate = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
    return env


def test_every_dag_file_imports_without_errors(airflow_env: dict[str, str]) -> None:
    code = f"""
import json
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder={str(DAGS)!r})
dags = {{
    dag_id: {{
        "file": dag.fileloc,
        "tasks": sorted(dag.task_ids),
        "max_active_runs": dag.max_active_runs,
        "catchup": dag.catchup,
        "schedule": str(dag.schedule),
    }}
    for dag_id, dag in bag.dags.items()
}}
errors = {{k: str(v) for k, v in bag.import_errors.items()}}
print({RESULT_MARK!r} + json.dumps({{"errors": errors, "dags": dags}}))
"""
    result = _run_airflow_python(code, airflow_env)

    assert result["errors"] == {}
    files = {Path(d["file"]).name for d in result["dags"].values()}
    assert files == {p.name for p in DAGS.glob("*.py")}  # every DAG file defines a DAG
    ingest = result["dags"]["outagecast_ingest"]
    assert ingest["tasks"] == ["read", "save_statistics", "send_alerts", "split_and_save", "validate"]
    assert (ingest["max_active_runs"], ingest["catchup"]) == (1, False)
    assert ingest["schedule"] == "0:01:00"  # every minute (the INGEST_INTERVAL_SECONDS default)


def test_ingestion_dag_runs_end_to_end(
    airflow_env: dict[str, str], tmp_path: Path, clean_source: Path, other_sources: list[Path]
) -> None:
    home = tmp_path / "home"
    db_url = f"sqlite:///{home}/outagecast.db"
    settings = settings_for(home, db_url)
    mixed = corrupt_file(other_sources[0], tmp_path / "made" / "mixed.csv", 0.2, seed=8).output_path
    (tmp_path / "made" / "broken.csv").write_text("a;b\n1;2\n")
    for path in (clean_source, mixed, tmp_path / "made" / "broken.csv"):
        drop(settings, path)
    drop(settings, clean_source, "clean_again.csv")
    env = {
        **airflow_env,
        "OUTAGECAST_HOME": str(home),
        "DATABASE_URL": db_url,
        "DATA_DIR": "data",
        "INGEST_SETTLE_SECONDS": "0",
    }
    code = f"""
import json
from airflow.dag_processing.dagbag import DagBag
dag = DagBag(dag_folder={str(DAGS)!r}).get_dag("outagecast_ingest")
runs = [dag.test(), dag.test()]  # the second finds nothing new
print({RESULT_MARK!r} + json.dumps([str(run.state) for run in runs]))
"""
    states = _run_airflow_python(code, env)

    assert states == ["success", "success"]
    assert visible_files(settings.folder("raw_data")) == []
    assert visible_files(settings.data_path / "processing") == []
    ledger = Counter(r["state"] for r in query(db_url, "SELECT state FROM ingested_files"))
    assert ledger == {"done": 2, "quarantined": 1, "duplicate": 1}
    stats = {r["filename"]: r for r in query(db_url, "SELECT * FROM ingestion_stats")}
    assert set(stats) == {"clean.csv", "mixed.csv", "broken.csv"}
    assert stats["clean.csv"]["invalid_rows"] == 0 and stats["broken.csv"]["criticality"] == "high"
    assert visible_files(settings.folder("good_data")) == sorted(
        n for n, r in stats.items() if r["valid_rows"]
    )
    assert visible_files(settings.folder("bad_data")) == ["broken.csv", "broken.csv.reason.txt", "mixed.csv"]
    assert visible_files(settings.folder("archived_data")) == ["clean_again.csv"]
    assert (settings.folder("good_data") / "clean.csv").read_bytes() == clean_source.read_bytes()
