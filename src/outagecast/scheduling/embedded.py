"""The in-process scheduler of ``outagecast up``: APScheduler running every job of ``jobs.JOBS``.

Each job runs in the scheduler's thread pool at its interval, never overlapping itself
(``max_instances=1``) and with missed runs collapsed into one (``coalesce=True``); the jobs
also lock themselves, so a manual ``outagecast ingest`` alongside is safe. A job's exception is
logged and the next run happens as planned. ``stop()`` asks running jobs to stop between
files and waits for them, so a shutdown never leaves work half-done that recovery would
have to finish (it could: that is only the fast path).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from outagecast.scheduling.jobs import JOBS, Job
from outagecast.settings import Settings

log = logging.getLogger(__name__)

FIRST_RUN_DELAY_SECONDS = 5.0  # let the process finish starting before the first runs


class EmbeddedScheduler:
    """Runs the scheduled jobs in background threads of this process."""

    def __init__(self, settings: Settings, jobs: tuple[Job, ...] = JOBS) -> None:
        self.settings = settings
        self.jobs = jobs
        self._stop = threading.Event()
        self._scheduler: Any = None
        # Jobs take turns. On the embedded SQLite database two jobs writing at once can hit
        # SQLite's lock-upgrade deadlock ("database is locked" at once, without the busy wait);
        # the jobs are short, and in production Airflow schedules them instead.
        self._one_at_a_time = threading.Lock()

    def _run(self, job: Job) -> None:
        try:
            with self._one_at_a_time:
                if self._stop.is_set():
                    return
                job.resolve()(self.settings, should_stop=self._stop.is_set)
        except Exception:  # logged here with the job's name; APScheduler would log it bare
            log.exception("scheduled job %s failed; it runs again at its next interval", job.name)

    def start(self) -> None:
        """Schedule every job; the first runs start a few seconds from now."""
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        scheduler = BackgroundScheduler(timezone=UTC)
        first = datetime.now(UTC) + timedelta(seconds=FIRST_RUN_DELAY_SECONDS)
        for job in self.jobs:
            scheduler.add_job(
                self._run,
                IntervalTrigger(seconds=job.interval(self.settings), timezone=UTC),
                args=[job],
                id=job.name,
                name=job.name,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
                next_run_time=first,
            )
        scheduler.start()
        self._scheduler = scheduler
        log.info(
            "scheduler started: %s",
            ", ".join(f"{job.name} every {job.interval(self.settings):g} s" for job in self.jobs),
        )

    def stop(self, wait: bool = True) -> None:
        """Stop scheduling; running jobs are asked to stop after their current file and awaited."""
        if self._scheduler is None:
            return
        self._stop.set()
        self._scheduler.shutdown(wait=wait)
        self._scheduler = None
        log.info("scheduler stopped")

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running


def start_embedded_scheduler(settings: Settings) -> EmbeddedScheduler | None:
    """Start the scheduler unless ``SCHEDULER_ENABLED`` is off (Airflow runs the jobs)."""
    if not settings.scheduler_enabled:
        log.info("SCHEDULER_ENABLED is off: no jobs run in this process")
        return None
    scheduler = EmbeddedScheduler(settings)
    scheduler.start()
    return scheduler
