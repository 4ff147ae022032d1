"""Scheduled predictions: every good-data file sent to ``POST /predict`` once, as ``scheduled``.

Which files: the regular, non-hidden ``*.csv`` files of ``good_data/`` whose row in the ledger
(``predicted_files``) is not ``done`` or ``failed`` -- never file modification times.

Exactly once. A file is sent in chunks of at most ``MAX_BATCH_ROWS`` rows, each with the
``Idempotency-Key`` ``<sha256 of the file>:<chunk number>``. The ledger records every chunk the
API confirmed (``chunks_done``) and the file becomes ``done`` only after the last one. A crash
between a confirmation and its ledger update re-sends that chunk on the next run, which the API
answers from what it stored, inserting nothing: nothing is predicted twice, nothing skipped.

API down (unreachable, timeout, 5xx): each chunk is retried ``PREDICT_MAX_ATTEMPTS`` times with
doubling back-off from ``PREDICT_RETRY_BACKOFF_SECONDS``; then the run stops with one clear log
line and the file stays ``pending`` for the next run. A 4xx answer (the API refused the rows)
marks the file ``failed`` with the API's message; it is not retried.

One run at a time (``job_lock``). Nothing heavy is imported when this module loads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from sqlalchemy.exc import SQLAlchemyError

from outagecast.db.session import migrated_session_factory
from outagecast.pipelines.locking import job_lock
from outagecast.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from outagecast.clients.api import ApiClient

log = logging.getLogger(__name__)

JOB_NAME: Final = "predict_new"
SOURCE: Final = "scheduled"
_HASH_CHUNK: Final = 1 << 22


@dataclass(slots=True)
class FileResult:
    """What one run did with one good-data file."""

    filename: str
    state: Literal["done", "pending", "failed"]
    rows: int = 0
    chunks_total: int = 0
    chunks_done: int = 0
    chunks_sent: int = 0  # chunks this run got confirmed
    error: str | None = None

    def line(self) -> str:
        if self.state == "done":
            return f"{self.filename}: {self.rows} rows predicted ({self.chunks_total} chunk(s))"
        what = "left pending" if self.state == "pending" else "failed"
        return f"{self.filename}: {what} after {self.chunks_done}/{self.chunks_total} chunk(s): {self.error}"


@dataclass(slots=True)
class PredictNewResult:
    """What one scheduled prediction run did."""

    status: Literal["ok", "nothing_new", "api_unavailable", "error", "busy"] = "ok"
    files: list[FileResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows_predicted(self) -> int:
        return sum(f.rows for f in self.files if f.state == "done")

    @property
    def exit_code(self) -> int:
        """0: done or nothing new; 1: API unavailable or error (files pending); 75: another run busy."""
        return {"ok": 0, "nothing_new": 0, "api_unavailable": 1, "error": 1, "busy": 75}[self.status]

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "rows_predicted": self.rows_predicted,
            "errors": list(self.errors),
            "files": [dataclasses.asdict(f) for f in self.files],
        }


class _ApiDown(RuntimeError):
    """The API stayed unavailable through every attempt."""

    result: FileResult | None = None  # how far the file got


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def candidate_files(settings: Settings) -> list[Path]:
    """The good-data files, oldest name first (hidden temp files of atomic writers left out)."""
    folder = settings.folder("good_data")
    if not folder.is_dir():
        return []
    return sorted(
        (p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix == ".csv"),
        key=lambda p: p.name,
    )


def pending_files(settings: Settings, session_factory: sessionmaker[Session]) -> list[Path]:
    """Good-data files not yet predicted (no ledger row, or a ``pending`` one)."""
    from outagecast.db import repository

    with session_factory() as session:
        finished = repository.predicted_filenames(session, states=("done", "failed"))
    return [p for p in candidate_files(settings) if p.name not in finished]


def has_new_data(settings: Settings) -> bool:
    """Whether a run would send anything (the DAG's check; migrates the database first)."""
    with migrated_session_factory(settings.resolved_database_url) as factory:
        return bool(pending_files(settings, factory))


def _read_rows(path: Path) -> list[dict[str, Any]]:
    """The eight model inputs and the ``incident_id`` of every row of a good-data (dataset-format) file.

    The incident id is sent so that the prediction can later be matched with the incident's actual
    duration (realised error, ``outagecast.monitoring``); a row without one is sent without it.
    """
    import pandas as pd

    from outagecast import schema

    wanted = [*schema.FEATURES, schema.ID_COLUMN]
    frame = pd.read_csv(
        path,
        usecols=lambda name: name in wanted,
        dtype={"start_time": str, schema.ID_COLUMN: str},
    )
    return frame[[c for c in wanted if c in frame.columns]].to_dict(orient="records")


def _send_chunk(
    client: ApiClient,
    rows: list[dict[str, Any]],
    key: str,
    settings: Settings,
    sleep: Callable,
    should_stop: Callable[[], bool] | None = None,
) -> None:
    """POST one chunk with its idempotency key until the API confirms it (bounded retries).

    Raises:
        _ApiDown: unreachable, timing out or answering 5xx through every attempt.
        ApiError: the API refused the rows (4xx).
    """
    from outagecast.clients.api import ApiError, ApiUnavailable, _error_from, _jsonable

    body = {"features": [_jsonable(r) for r in rows], "source": SOURCE}
    last = ""
    for attempt in range(1, settings.predict_max_attempts + 1):
        retry_after = 0.0
        try:
            response = client._send("POST", "/predict", json=body, headers={"Idempotency-Key": key})
            if response.status_code == 200:
                answered = response.json().get("predictions", [])
                if len(answered) != len(rows):
                    raise ApiError(200, f"answered {len(answered)} rows for {len(rows)}")
                return
            if response.status_code == 429:  # rate limited (RATE_LIMIT_PER_MINUTE): wait as told
                retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
            raise _error_from(response)
        except ApiUnavailable as exc:
            last = exc.message
        except ApiError as exc:
            if exc.status < 500 and exc.status != 429:
                raise
            last = exc.message
        if attempt < settings.predict_max_attempts:
            delay = max(settings.predict_retry_backoff_seconds * 2 ** (attempt - 1), retry_after)
            log.warning(
                "scheduled predictions: API unavailable (attempt %d/%d, retry in %.1f s): %s",
                attempt,
                settings.predict_max_attempts,
                delay,
                last,
            )
            if not _pause(delay, sleep, should_stop):
                raise _ApiDown(f"{last} (stopped while waiting to retry)")
    raise _ApiDown(last)


def _retry_after_seconds(header: str | None) -> float:
    """Seconds a ``Retry-After`` header asks for (delta-seconds form; capped at 5 minutes)."""
    try:
        return min(max(float(header or 0), 0.0), 300.0)
    except ValueError:
        return 0.0


def _pause(delay: float, sleep: Callable, should_stop: Callable[[], bool] | None) -> bool:
    """Sleep ``delay`` s in short steps; False as soon as ``should_stop()`` says to stop."""
    if should_stop is None:
        sleep(delay)
        return True
    end = time.monotonic() + delay
    while True:
        if should_stop is not None and should_stop():
            return False
        left = end - time.monotonic()
        if left <= 0:
            return True
        sleep(min(left, 0.25))


def _predict_file(
    path: Path,
    *,
    settings: Settings,
    session_factory: sessionmaker[Session],
    client: ApiClient,
    sleep: Callable,
    should_stop: Callable[[], bool] | None,
) -> FileResult:
    from outagecast.clients.api import ApiError
    from outagecast.db import repository
    from outagecast.db.models import utcnow

    sha = _sha256(path)
    rows = _read_rows(path)
    size = max(1, settings.max_batch_rows)
    chunks_total = max(1, -(-len(rows) // size)) if rows else 0
    with session_factory() as session, session.begin():
        entry = repository.get_predicted_file(session, filename=path.name)
        if entry is None:
            entry = repository.insert_predicted_file(
                session,
                filename=path.name,
                content_sha256=sha,
                state="pending",
                rows=len(rows),
                chunks_total=chunks_total,
                chunks_done=0,
            )
        elif entry.content_sha256 != sha:  # replaced under the same name: start it over
            repository.update_predicted_file(
                session,
                ledger_id=entry.id,
                content_sha256=sha,
                rows=len(rows),
                chunks_total=chunks_total,
                chunks_done=0,
            )
            entry.chunks_done = 0
        ledger_id, done = entry.id, entry.chunks_done
    result = FileResult(path.name, "pending", rows=len(rows), chunks_total=chunks_total, chunks_done=done)
    for chunk_no in range(done, chunks_total):
        if should_stop is not None and should_stop():
            result.error = "stopped (shutdown); resumed by the next run"
            return result
        try:
            _send_chunk(
                client,
                rows[chunk_no * size : (chunk_no + 1) * size],
                f"{sha}:{chunk_no}",
                settings,
                sleep,
                should_stop,
            )
        except _ApiDown as exc:
            result.error = str(exc)
            exc.result = result
            raise
        except ApiError as exc:
            result.state, result.error = "failed", exc.message
            with session_factory() as session, session.begin():
                repository.update_predicted_file(
                    session, ledger_id=ledger_id, state="failed", last_error=exc.message
                )
            log.error("scheduled predictions: %s refused by the API, not retried: %s", path.name, exc.message)
            return result
        with session_factory() as session, session.begin():
            repository.update_predicted_file(session, ledger_id=ledger_id, chunks_done=chunk_no + 1)
        result.chunks_done = chunk_no + 1
        result.chunks_sent += 1
    with session_factory() as session, session.begin():
        repository.update_predicted_file(
            session, ledger_id=ledger_id, state="done", finished_at=utcnow(), last_error=None
        )
    result.state = "done"
    return result


def predict_new_once(
    settings: Settings,
    *,
    client: ApiClient | None = None,
    should_stop: Callable[[], bool] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    lock_timeout: float = 0.0,
) -> PredictNewResult:
    """Send every good-data file not yet predicted to the API (see the module docstring)."""
    from outagecast.clients.api import ApiClient

    started = time.monotonic()
    result = PredictNewResult()
    own_client = client is None
    api = client or ApiClient.from_settings(settings)
    try:
        with migrated_session_factory(settings.resolved_database_url) as factory:
            engine = factory.kw.get("bind")
            settings.data_path.mkdir(parents=True, exist_ok=True)
            with job_lock(JOB_NAME, lock_dir=settings.data_path, engine=engine, timeout=lock_timeout) as held:
                if not held:
                    result.status = "busy"
                    log.info("another scheduled prediction run is in progress; nothing done")
                    return result
                files = pending_files(settings, factory)
                if not files:
                    result.status = "nothing_new"
                    return result
                for path in files:
                    try:
                        outcome = _predict_file(
                            path,
                            settings=settings,
                            session_factory=factory,
                            client=api,
                            sleep=sleep,
                            should_stop=should_stop,
                        )
                    except _ApiDown as exc:
                        waiting = len(files) - len(result.files)
                        message = (
                            f"API at {settings.api_url} unavailable after {settings.predict_max_attempts} "
                            f"attempt(s) ({exc}); {waiting} file(s) left pending for the next run"
                        )
                        log.error("scheduled predictions: %s", message)
                        result.files.append(exc.result or FileResult(path.name, "pending", error=str(exc)))
                        result.status = "api_unavailable"
                        result.errors.append(message)
                        return result
                    result.files.append(outcome)
                    if outcome.state == "pending":  # asked to stop
                        break
    except OSError as exc:
        result.status = "error"
        result.errors.append(f"data folder unusable: {exc}")
        log.error("scheduled predictions: data folder unusable: %s", exc)
    except SQLAlchemyError as exc:
        result.status = "error"
        result.errors.append(f"database unavailable: {exc}")
        log.error("scheduled predictions: database unavailable: %s", exc)
    finally:
        if own_client:
            api.close()
        result.seconds = time.monotonic() - started
    return result


def run_scheduled(settings: Settings, *, should_stop: Callable[[], bool] | None = None) -> PredictNewResult:
    """The scheduled job (embedded scheduler, Airflow): one run, logged when it did something."""
    result = predict_new_once(settings, should_stop=should_stop)
    if result.status not in ("nothing_new", "busy"):
        log.info(
            "scheduled predictions: %s, %d file(s), %d row(s) in %.1f s",
            result.status,
            len(result.files),
            result.rows_predicted,
            result.seconds,
        )
    return result
