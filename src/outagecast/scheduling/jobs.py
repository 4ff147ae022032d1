"""The one list of scheduled jobs, read by the embedded scheduler and by the Airflow DAGs.

A job is a plain function ``fn(settings, *, should_stop) -> result`` named by its import path
(resolved only when it runs, so reading this list imports nothing heavy), and how often it
runs: a settings field (``INGEST_INTERVAL_SECONDS``) whose default the DAGs use as their
schedule, since a DAG's schedule is fixed when its file is parsed. Adding a job is one line
in ``JOBS``; its DAG picks the entry by name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from outagecast.settings import Settings

JobFunction = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class Job:
    """A scheduled job: its name, its function and how often it runs."""

    name: str
    target: str  # "package.module:function"
    interval_setting: str  # Settings field holding the interval in seconds (its default: the DAG's)

    def interval(self, settings: Settings) -> float:
        """Seconds between runs in the embedded scheduler (from the settings)."""
        return float(getattr(settings, self.interval_setting))

    @property
    def schedule(self) -> timedelta:
        """The Airflow schedule: the interval setting's default."""
        return timedelta(seconds=float(Settings.model_fields[self.interval_setting].default))

    def dag_options(self, *, retries: int, retry_delay: timedelta) -> dict[str, Any]:
        """What every OutageCast DAG shares: the job's schedule, no catch-up, one run at a time.

        A missed run is not worth replaying (each run takes whatever is waiting), and overlapping
        runs would only contend for the same files and locks.
        """
        return {
            "schedule": self.schedule,
            "start_date": datetime(2025, 1, 1, tzinfo=UTC),
            "catchup": False,
            "max_active_runs": 1,
            "tags": ["outagecast"],
            "default_args": {"retries": retries, "retry_delay": retry_delay},
        }

    def resolve(self) -> JobFunction:
        """Import the job's function."""
        module, _, attribute = self.target.partition(":")
        return getattr(importlib.import_module(module), attribute)


JOBS: tuple[Job, ...] = (
    Job("ingest", "outagecast.pipelines.ingest:run_scheduled", "ingest_interval_seconds"),
    Job("predict_new", "outagecast.pipelines.predict_new:run_scheduled", "predict_interval_seconds"),
    Job("retrain", "outagecast.pipelines.retrain:run_scheduled", "retrain_interval_seconds"),
    Job("monitor", "outagecast.monitoring.job:run_scheduled", "monitor_interval_seconds"),
    Job("prune", "outagecast.pipelines.prune:run_scheduled", "prune_interval_seconds"),
)


def get_job(name: str) -> Job:
    """The job called ``name``."""
    for job in JOBS:
        if job.name == name:
            return job
    raise KeyError(f"no job named {name!r}; known: {[j.name for j in JOBS]}")
