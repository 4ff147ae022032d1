"""
### OutageCast retraining

Every five minutes: **load_data** counts the good rows no retraining consumed yet (files the
scheduled predictions finished); below `MIN_NEW_ROWS_FOR_TRAINING` the run stops there
(short-circuit). Otherwise it writes the training set (base dataset + all good data) to `var/`,
**train** trains the chosen family and registers a new version of `outage_duration`,
**save_training_stats** records the files as consumed by that version, **evaluate** runs the
promotion gate on the fixed reference set and stores the decision (`training_runs`), and the
branch either **promote**s (asks the API to reload its champion, archives the consumed files) or
**alert**s with the gate's reason (and archives them).

All logic lives in `outagecast.pipelines.retrain` (the same code as `outagecast retrain`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import dag, task

from outagecast.scheduling.jobs import get_job

JOB = get_job("retrain")


@dag(
    dag_id="outagecast_retrain",
    doc_md=__doc__,
    **JOB.dag_options(retries=1, retry_delay=timedelta(minutes=1)),
)
def training_dag() -> None:
    @task.short_circuit
    def load_data() -> dict[str, Any] | None:
        from outagecast.pipelines import retrain  # lazy: keeps parsing cheap
        from outagecast.settings import get_settings

        return retrain.dag_load_data(get_settings())

    @task
    def train(loaded: dict[str, Any]) -> dict[str, Any]:
        from outagecast.pipelines import retrain
        from outagecast.settings import get_settings

        return retrain.dag_train(get_settings(), loaded)

    @task
    def save_training_stats(loaded: dict[str, Any], trained: dict[str, Any]) -> int:
        from outagecast.pipelines import retrain
        from outagecast.settings import get_settings

        return retrain.dag_save_training_stats(get_settings(), loaded, trained)

    @task
    def evaluate(trained: dict[str, Any]) -> dict[str, Any]:
        from outagecast.pipelines import retrain
        from outagecast.settings import get_settings

        return retrain.dag_evaluate(get_settings(), trained)

    @task.branch
    def decide(decision: dict[str, Any]) -> str:
        return "promote" if decision["promoted"] else "alert"

    @task
    def promote(decision: dict[str, Any]) -> dict[str, Any]:
        from outagecast.pipelines import retrain
        from outagecast.settings import get_settings

        return retrain.dag_promote(get_settings(), decision)

    @task
    def alert(decision: dict[str, Any]) -> dict[str, Any]:
        from outagecast.pipelines import retrain
        from outagecast.settings import get_settings

        return retrain.dag_alert(get_settings(), decision)

    loaded = load_data()
    trained = train(loaded)
    saved = save_training_stats(loaded, trained)
    decision = evaluate(trained)
    saved >> decision
    decide(decision) >> [promote(decision), alert(decision)]


training_dag()
