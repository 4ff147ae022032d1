"""
### OutageCast maintenance

Once a day: **prune** deletes what is past its retention (`RETENTION_*` settings, 0 keeps
forever): predictions and the monitoring and alert history older than
`RETENTION_PREDICTIONS_DAYS`, files of `archived_data/` and `bad_data/` older than
`RETENTION_FILES_DAYS` (never those retraining reads again), Data Docs pages older than
`RETENTION_DATA_DOCS_DAYS`, and the registered model versions beyond the champion, the
`RETENTION_MODEL_VERSIONS` newest others and those that served a kept prediction.

All logic lives in `outagecast.pipelines.prune` (the same code as `outagecast prune`); docs/deploy.md
("Retention") says what is always kept and why.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import dag, task

from outagecast.scheduling.jobs import get_job

JOB = get_job("prune")


@dag(
    dag_id="outagecast_maintenance",
    doc_md=__doc__,
    **JOB.dag_options(retries=1, retry_delay=timedelta(minutes=10)),
)
def maintenance_dag() -> None:
    @task
    def prune() -> dict[str, Any]:
        from outagecast.pipelines import prune as retention  # lazy: keeps parsing cheap
        from outagecast.settings import get_settings

        return retention.dag_prune(get_settings())

    prune()


maintenance_dag()
