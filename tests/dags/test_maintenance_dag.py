"""The maintenance DAG with ``dag.test()``: one ``prune`` task deletes what is past its retention."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from outagecast.db.migrate import upgrade_to_head
from outagecast.db.models import Prediction
from outagecast.db.session import make_engine, make_session_factory
from tests.dags.test_ingestion_dag import DAGS, RESULT_MARK, _run_airflow_python, airflow_env  # noqa: F401
from tests.utils.ingestion import query, visible_files

pytestmark = pytest.mark.slow


def test_maintenance_dag_prunes_old_rows_and_files(
    airflow_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    db_url = f"sqlite:///{home}/outagecast.db"
    upgrade_to_head(db_url)
    now = datetime.now(UTC)
    engine = make_engine(db_url)
    with make_session_factory(engine)() as session, session.begin():
        session.execute(
            insert(Prediction),
            [
                {
                    "timestamp": now - timedelta(days=age),
                    "model_version": "outage_duration/1",
                    "predicted_hours": 1.0,
                    "is_anomaly": False,
                }
                for age in (500, 400, 3)
            ],
        )
    engine.dispose()
    bad = home / "data" / "bad_data"
    bad.mkdir(parents=True)
    for name, age in (("old.csv", 40), ("new.csv", 1)):
        (bad / name).write_text("incident_id\n1\n")
        when = (now - timedelta(days=age)).timestamp()
        os.utime(bad / name, (when, when))
    env = {
        **airflow_env,
        "OUTAGECAST_HOME": str(home),
        "DATABASE_URL": db_url,
        "DATA_DIR": "data",
    }
    code = f"""
import json
from airflow.dag_processing.dagbag import DagBag
dag = DagBag(dag_folder={str(DAGS)!r}).get_dag("outagecast_maintenance")
run = dag.test()
tasks = {{ti.task_id: str(ti.state) for ti in run.get_task_instances()}}
print({RESULT_MARK!r} + json.dumps({{"run": str(run.state), "tasks": tasks, "schedule": str(dag.schedule)}}))
"""
    result = _run_airflow_python(code, env)

    assert result["run"] == "success", result
    assert result["tasks"] == {"prune": "success"}
    assert result["schedule"] == "1 day, 0:00:00"  # daily: PRUNE_INTERVAL_SECONDS' default
    assert query(db_url, "SELECT count(*) AS n FROM predictions") == [{"n": 1}]
    assert visible_files(bad) == ["new.csv"]
