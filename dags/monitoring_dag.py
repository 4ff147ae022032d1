"""
### OutageCast monitoring

Every hour: **monitor** compares the latest served predictions (the most recent
`MONITOR_WINDOW_ROWS`, or the last `MONITOR_WINDOW_HOURS`; `MONITOR_SOURCE` restricts the source)
with the champion's training baseline (KS / chi-squared tests and PSI per input and for the
predicted hours), computes the realised error of every model version whose incidents' actual
durations were ingested since, stores the run (`monitor_runs`, `drift_results`,
`realised_errors`) and alerts on drift or degraded error through the alert webhook.

All logic lives in `outagecast.monitoring.job` (the same code as `outagecast monitor` and the
embedded scheduler). A run with nothing to judge yet (no champion, too few predictions) succeeds
as `skipped`; a failed run (registry or database unavailable) fails the task.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import dag, task

from outagecast.scheduling.jobs import get_job

JOB = get_job("monitor")


@dag(
    dag_id="outagecast_monitor",
    doc_md=__doc__,
    **JOB.dag_options(retries=1, retry_delay=timedelta(minutes=5)),
)
def monitoring_dag() -> None:
    @task
    def monitor() -> dict[str, Any]:
        from outagecast.monitoring.job import run_monitor  # lazy: keeps parsing cheap
        from outagecast.settings import get_settings

        report = run_monitor(get_settings())
        if report.status == "failed":
            raise RuntimeError("; ".join(report.errors) or "monitor run failed")
        return report.as_dict()

    monitor()


monitoring_dag()
