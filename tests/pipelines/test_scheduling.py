"""The job list and the embedded scheduler: jobs run at their interval, never overlap, stop cleanly."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from outagecast.pipelines.ingest import IngestRunResult
from outagecast.scheduling import embedded
from outagecast.scheduling.embedded import EmbeddedScheduler, start_embedded_scheduler
from outagecast.scheduling.jobs import JOBS, Job, get_job
from tests.utils.ingestion import drop, settings_for, visible_files

# Recorded by the fake jobs below, which the scheduler imports by path like real ones.
CALLS: list[tuple[str, float, float]] = []
ACTIVE = threading.Semaphore(1)
OVERLAPS: list[str] = []


def slow_job(settings: Any, *, should_stop: Any) -> None:
    if not ACTIVE.acquire(blocking=False):
        OVERLAPS.append("slow")
        return
    try:
        started = time.monotonic()
        while time.monotonic() - started < 0.5 and not should_stop():
            time.sleep(0.01)
        CALLS.append(("slow", started, time.monotonic()))
    finally:
        ACTIVE.release()


def failing_job(settings: Any, *, should_stop: Any) -> None:
    CALLS.append(("failing", time.monotonic(), time.monotonic()))
    raise RuntimeError("boom")


def test_the_job_list_resolves_and_schedules() -> None:
    job = get_job("ingest")
    assert job.resolve().__name__ == "run_scheduled"
    assert job.schedule.total_seconds() == 60
    assert len({j.name for j in JOBS}) == len(JOBS)
    with pytest.raises(KeyError):
        get_job("nope")


def test_jobs_never_overlap_failures_are_contained_and_stop_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded, "FIRST_RUN_DELAY_SECONDS", 0.0)
    CALLS.clear()
    OVERLAPS.clear()
    settings = settings_for(tmp_path, "sqlite://").model_copy(update={"ingest_interval_seconds": 0.1})
    jobs = (
        Job("slow", f"{__name__}:slow_job", "ingest_interval_seconds"),
        Job("failing", f"{__name__}:failing_job", "ingest_interval_seconds"),
    )
    scheduler = EmbeddedScheduler(settings, jobs)
    scheduler.start()
    time.sleep(1.3)
    scheduler.stop()

    assert not scheduler.running
    slow = [c for c in CALLS if c[0] == "slow"]
    assert 2 <= len(slow) <= 4  # 0.5 s runs every 0.1 s: one at a time, missed runs coalesced
    assert all(a[2] <= b[1] for a, b in zip(slow, slow[1:], strict=False))
    assert OVERLAPS == []
    assert len([c for c in CALLS if c[0] == "failing"]) >= 5  # an exception never stops the schedule
    count = len(CALLS)
    time.sleep(0.3)
    assert len(CALLS) == count  # nothing runs after stop()


def test_the_scheduler_ingests_and_can_be_disabled(
    tmp_path: Path, sqlite_url: str, clean_source: Path, monkeypatch: pytest.MonkeyPatch, gx_ready: None
) -> None:
    assert start_embedded_scheduler(settings_for(tmp_path, sqlite_url, scheduler_enabled=False)) is None
    monkeypatch.setattr(embedded, "FIRST_RUN_DELAY_SECONDS", 0.0)
    settings = settings_for(tmp_path, sqlite_url)
    drop(settings, clean_source)
    results: list[IngestRunResult] = []
    real = get_job("ingest").resolve()
    monkeypatch.setattr(
        "outagecast.pipelines.ingest.run_scheduled", lambda s, **kw: results.append(real(s, **kw))
    )

    scheduler = start_embedded_scheduler(settings)
    deadline = time.monotonic() + 60
    while not results and time.monotonic() < deadline:
        time.sleep(0.1)
    scheduler.stop()

    assert results and results[0].status == "ok"
    assert visible_files(settings.folder("good_data")) == [clean_source.name]
