"""The scheduled prediction DAG with ``dag.test()`` against a live API: predicts, then skips."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from outagecast.datasets.generate import write_dataset
from tests.api.conftest import sqlite_server, trained_home  # noqa: F401 - fixtures
from tests.dags.test_ingestion_dag import DAGS, RESULT_MARK, _run_airflow_python, airflow_env  # noqa: F401
from tests.utils.ingestion import query
from tests.utils.server import RunningServer

pytestmark = pytest.mark.slow


def test_prediction_dag_predicts_new_files_then_skips(
    airflow_env: dict[str, str],  # noqa: F811
    sqlite_server: RunningServer,  # noqa: F811
    trained_home: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    db_url = f"sqlite:///{trained_home}/api.db"  # the API's database holds the ledger too
    good = home / "data" / "good_data"
    good.mkdir(parents=True)
    name = f"dag_{tmp_path.name}.csv"
    shutil.copyfile(write_dataset(tmp_path / "src.csv", 300, 777, progress=False), good / name)
    sha = hashlib.sha256((good / name).read_bytes()).hexdigest()
    env = {
        **airflow_env,
        "OUTAGECAST_HOME": str(home),
        "DATABASE_URL": db_url,
        "DATA_DIR": "data",
        "API_URL": sqlite_server.url,
        "MAX_BATCH_ROWS": "200",
    }
    code = f"""
import json
from airflow.dag_processing.dagbag import DagBag
dag = DagBag(dag_folder={str(DAGS)!r}).get_dag("outagecast_predict")
states = []
for _ in range(2):  # the second run finds nothing new and is skipped
    run = dag.test()
    tis = {{ti.task_id: str(ti.state) for ti in run.get_task_instances()}}
    states.append({{"run": str(run.state), "tasks": tis}})
print({RESULT_MARK!r} + json.dumps(states))
"""
    first, second = _run_airflow_python(code, env)

    assert first == {
        "run": "success",
        "tasks": {"check_for_new_data": "success", "make_predictions": "success"},
    }
    assert second == {
        "run": "success",
        "tasks": {"check_for_new_data": "success", "make_predictions": "skipped"},
    }
    ledger = query(db_url, "SELECT state, rows, chunks_done FROM predicted_files WHERE filename = :n", n=name)
    assert ledger == [{"state": "done", "rows": 300, "chunks_done": 2}]
    keys = ", ".join(f"'{hashlib.sha256(f'{sha}:{i}'.encode()).hexdigest()}'" for i in range(2))
    stored = query(db_url, f"SELECT source FROM predictions WHERE request_id IN ({keys})")
    assert len(stored) == 300 and {r["source"] for r in stored} == {"scheduled"}
