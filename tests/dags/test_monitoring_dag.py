"""The monitoring DAG with ``dag.test()``: one run judges the stored window against the champion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from outagecast.api.service import predict_frame, stored_columns
from outagecast.db import repository
from outagecast.db.migrate import upgrade_to_head
from outagecast.db.session import make_engine, make_session_factory
from tests.dags.test_ingestion_dag import DAGS, RESULT_MARK, _run_airflow_python, airflow_env  # noqa: F401
from tests.monitoring.conftest import Trained, sample_rows, trained  # noqa: F401 - fixtures
from tests.utils.ingestion import query

pytestmark = pytest.mark.slow


def test_monitoring_dag_stores_a_run(
    airflow_env: dict[str, str],  # noqa: F811
    trained: Trained,  # noqa: F811
    tmp_path: Path,
) -> None:
    db_url = f"sqlite:///{tmp_path}/outagecast.db"
    upgrade_to_head(db_url)
    rows = sample_rows(trained.pool, 500, np.random.default_rng(9))
    predicted = predict_frame(
        rows, predictor=trained.predictor, settings=trained.settings, source="scheduled"
    )
    engine = make_engine(db_url)
    with make_session_factory(engine)() as session, session.begin():
        repository.copy_predictions(session, columns=stored_columns(predicted))
    engine.dispose()
    env = {
        **airflow_env,
        "OUTAGECAST_HOME": str(trained.settings.outagecast_home),
        "DATABASE_URL": db_url,
        "DATASET_ROWS": str(trained.settings.dataset_rows),
    }
    code = f"""
import json
from airflow.dag_processing.dagbag import DagBag
dag = DagBag(dag_folder={str(DAGS)!r}).get_dag("outagecast_monitor")
run = dag.test()
tasks = {{ti.task_id: str(ti.state) for ti in run.get_task_instances()}}
print({RESULT_MARK!r} + json.dumps({{"run": str(run.state), "tasks": tasks, "schedule": str(dag.schedule)}}))
"""
    result = _run_airflow_python(code, env)

    assert result["run"] == "success", result
    assert result["tasks"] == {"monitor": "success"}
    assert result["schedule"] == "1:00:00"  # hourly: the MONITOR_INTERVAL_SECONDS default
    (run,) = query(db_url, "SELECT status, window_rows, model_version FROM monitor_runs")
    assert run == {"status": "ok", "window_rows": 500, "model_version": trained.version}
    assert query(db_url, "SELECT COUNT(*) AS n FROM drift_results") == [{"n": 9}]
