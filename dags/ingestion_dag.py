"""
### OutageCast ingestion

Every minute: **read** claims the new files of `raw_data/` (after finishing what crashed runs
left), **validate** checks each once with the Great Expectations suite, then for each file
**save_statistics** (one `ingestion_stats` row), **send_alerts** (medium/high criticality) and
**split_and_save** (good rows to `good_data/`, bad rows with their broken rules to `bad_data/`).
The claimed file is deleted when the last of the three is done.

All logic lives in `outagecast.pipelines.ingest` (the same code as `outagecast ingest` and the
embedded scheduler); tasks pass claim ids and small summaries, never the data. Configuration
comes from the environment (`OUTAGECAST_HOME`, `DATABASE_URL`, `DATA_DIR`, ...).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import dag, task

from outagecast.scheduling.jobs import get_job

JOB = get_job("ingest")


@dag(
    dag_id="outagecast_ingest",
    doc_md=__doc__,
    **JOB.dag_options(retries=2, retry_delay=timedelta(seconds=20)),
)
def ingestion_dag() -> None:
    @task
    def read() -> list[dict[str, str]]:
        from outagecast.pipelines import ingest  # lazy: keeps parsing cheap
        from outagecast.settings import get_settings

        return ingest.dag_read(get_settings())

    @task
    def validate(claim: dict[str, str]) -> dict[str, Any]:
        from outagecast.pipelines import ingest
        from outagecast.settings import get_settings

        return ingest.dag_validate(get_settings(), claim)

    @task
    def save_statistics(summary: dict[str, Any]) -> int | None:
        from outagecast.pipelines import ingest
        from outagecast.settings import get_settings

        return ingest.dag_save_statistics(get_settings(), summary)

    @task
    def send_alerts(summary: dict[str, Any]) -> str | None:
        from outagecast.pipelines import ingest
        from outagecast.settings import get_settings

        return ingest.dag_send_alerts(get_settings(), summary)

    @task
    def split_and_save(summary: dict[str, Any]) -> dict[str, str | None]:
        from outagecast.pipelines import ingest
        from outagecast.settings import get_settings

        return ingest.dag_split_and_save(get_settings(), summary)

    summaries = validate.expand(claim=read())
    save_statistics.expand(summary=summaries)
    send_alerts.expand(summary=summaries)
    split_and_save.expand(summary=summaries)


ingestion_dag()
