"""
### OutageCast scheduled predictions

Every two minutes: **check_for_new_data** looks for good-data files the prediction ledger
(`predicted_files`) has not finished; when there are none the run stops there (short-circuit:
`make_predictions` is skipped). **make_predictions** sends their rows to `POST /predict` with
`source=scheduled`, in chunks of at most `MAX_BATCH_ROWS`, each with an `Idempotency-Key` derived
from the file's hash and the chunk number, so a retried task never predicts a row twice.

All logic lives in `outagecast.pipelines.predict_new` (the same code as `outagecast predict-new`
and the embedded scheduler). An unavailable API fails the task (Airflow retries it); the files
stay pending for the next run.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import dag, task

from outagecast.scheduling.jobs import get_job

JOB = get_job("predict_new")


@dag(
    dag_id="outagecast_predict",
    doc_md=__doc__,
    **JOB.dag_options(retries=2, retry_delay=timedelta(seconds=30)),
)
def prediction_dag() -> None:
    @task.short_circuit
    def check_for_new_data() -> bool:
        from outagecast.pipelines import predict_new  # lazy: keeps parsing cheap
        from outagecast.settings import get_settings

        return predict_new.has_new_data(get_settings())

    @task
    def make_predictions() -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowSkipException

        from outagecast.pipelines import predict_new
        from outagecast.settings import get_settings

        result = predict_new.predict_new_once(get_settings(), lock_timeout=60.0)
        if result.status in ("busy", "nothing_new"):
            raise AirflowSkipException(f"nothing to do ({result.status})")
        if result.status != "ok":
            raise RuntimeError("; ".join(result.errors) or result.status)
        return result.as_dict()

    check_for_new_data() >> make_predictions()


prediction_dag()
