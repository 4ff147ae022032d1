"""The retraining DAG with ``dag.test()``: trains, gates, promotes (first model) and archives, then skips."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from outagecast.datasets.generate import write_dataset
from outagecast.db import repository
from outagecast.db.migrate import upgrade_to_head
from outagecast.db.session import make_engine, make_session_factory
from tests.dags.test_ingestion_dag import DAGS, RESULT_MARK, _run_airflow_python, airflow_env  # noqa: F401
from tests.utils.ingestion import query, visible_files
from tests.utils.server import free_port

pytestmark = pytest.mark.slow


def test_training_dag_promotes_and_archives_then_skips(
    airflow_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    db_url = f"sqlite:///{home}/outagecast.db"
    good = home / "data" / "good_data"
    good.mkdir(parents=True)
    shutil.copyfile(write_dataset(tmp_path / "src.csv", 600, 99, progress=False), good / "a.csv")
    upgrade_to_head(db_url)
    engine = make_engine(db_url)
    with make_session_factory(engine)() as session, session.begin():  # the predictions are done
        repository.insert_predicted_file(
            session, filename="a.csv", content_sha256="x" * 64, state="done", rows=600, chunks_done=1
        )
    engine.dispose()
    env = {
        **airflow_env,
        "OUTAGECAST_HOME": str(home),
        "DATABASE_URL": db_url,
        "DATA_DIR": "data",
        "API_URL": f"http://127.0.0.1:{free_port()}",  # no API: the reload is best effort
        "API_TIMEOUT_SECONDS": "2",
        "DATASET_ROWS": "3000",
        "REFERENCE_ROWS": "500",
        "BOOTSTRAP_RESAMPLES": "200",
    }
    code = f"""
import json
from airflow.dag_processing.dagbag import DagBag
dag = DagBag(dag_folder={str(DAGS)!r}).get_dag("outagecast_retrain")
states = []
for _ in range(2):  # the second run finds no new rows and short-circuits
    run = dag.test()
    tasks = {{ti.task_id: str(ti.state) for ti in run.get_task_instances()}}
    states.append({{"run": str(run.state), "tasks": tasks}})
print({RESULT_MARK!r} + json.dumps(states))
"""
    first, second = _run_airflow_python(code, env)

    assert first["run"] == "success", first
    assert first["tasks"] == {
        "load_data": "success",
        "train": "success",
        "save_training_stats": "success",
        "evaluate": "success",
        "decide": "success",
        "promote": "success",
        "alert": "skipped",
    }
    assert second["tasks"]["load_data"] == "success"
    assert {t: s for t, s in second["tasks"].items() if t != "load_data"} == dict.fromkeys(
        ["train", "save_training_stats", "evaluate", "decide", "promote", "alert"], "skipped"
    )
    runs = query(db_url, "SELECT decision, trigger FROM training_runs")
    assert runs == [{"decision": "promoted", "trigger": "retrain"}]
    assert query(db_url, "SELECT filename, state FROM training_inputs") == [
        {"filename": "a.csv", "state": "archived"}
    ]
    assert visible_files(good) == [] and visible_files(home / "data" / "archived_data") == ["a.csv"]
