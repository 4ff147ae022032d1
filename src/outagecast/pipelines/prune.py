"""Retention: delete what OutageCast no longer needs, on a schedule (``outagecast prune``).

Four settings say how long things stay; ``0`` keeps them forever:

``RETENTION_PREDICTIONS_DAYS`` (365) -- served predictions and the history that grows with them:
    ``predictions``, ``prediction_requests`` (idempotency keys), ``monitor_runs`` with their
    ``drift_results`` and ``realised_errors``, ``alert_log``, and ``incident_outcomes`` no kept
    prediction refers to.
``RETENTION_FILES_DAYS`` (30) -- files of ``archived_data/`` and ``bad_data/`` by modification
    time, and the ledger rows of ingestion claims that own no content (``duplicate``/``released``).
``RETENTION_DATA_DOCS_DAYS`` (30) -- validation pages and their stored results under the Data Docs
    site (``validations/`` and ``validation_results/``).
``RETENTION_MODEL_VERSIONS`` (5) -- registered model versions beyond the kept ones are deleted
    from the registry.

What is never deleted, and why:

- ``raw_data/`` and ``good_data/``: not processed / not consumed yet.
- ``archived_data/`` files a retraining consumed (``training_inputs.archived_name``): every later
  retraining reads them again (``pipelines/retrain.py``), so deleting them would silently shrink
  the training set. Only the other archived files (duplicates set aside by ingestion) age out.
- Ingestion ledger rows owning a content (``content_key`` set: ``done``, ``quarantined``,
  ``claimed``): the unique key is what makes a content count once. Deleting it would let the
  same file be ingested again as new data. Their ``ingestion_stats`` rows stay with them (the
  ledger refers to them by foreign key; one small row per file).
- ``predicted_files`` and ``training_inputs``: the exactly-once ledgers of scheduled predictions
  and retraining, keyed by file name; one small row per file.
- ``training_runs``: the promotion history (one row per trained version).
- A claim whose file is still in ``processing/`` (recovery finishes it by its ledger row).
- Model versions holding an alias (``champion``, or any other an operator set), the
  ``RETENTION_MODEL_VERSIONS`` newest others, and every version that served a prediction that is
  still kept (an audit of a stored prediction needs the model that made it). Rejected candidates
  never serve, so they are what ages out. Only the registry entry is deleted; the MLflow run
  (metrics, artifacts) stays.

Data Docs: the site index (``index.html``) is left as it is. Great Expectations rebuilds it from
the results store at the next validation, and pruned results are no longer in that store, so the
pruned pages drop out of it then; until that next ingestion, an index link to a pruned page
answers 404, as does the ``data_docs_url`` of an ``ingestion_stats`` row older than the retention.

Database deletes run in bounded batches (``BATCH_ROWS`` rows per transaction, chosen by a
subquery with ``LIMIT``), so neither SQLite's write lock nor PostgreSQL row locks are held for
long and the API keeps writing meanwhile. Children are deleted before their parents explicitly,
whether or not the backend enforces ``ON DELETE CASCADE``. One run at a time (``job_lock``); a dry
run takes no lock and only counts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from sqlalchemy.exc import SQLAlchemyError

from outagecast.pipelines.locking import job_lock
from outagecast.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement
    from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

log = logging.getLogger(__name__)

JOB_NAME: Final = "prune"
BATCH_ROWS: Final = 5_000  # rows per delete transaction: short locks, few round trips
DATA_DOCS_SUBDIRS: Final = ("validations", "validation_results")  # per-validation pages and results
PRUNED_FOLDERS: Final[tuple[Literal["archived_data", "bad_data"], ...]] = ("archived_data", "bad_data")
# Ledger states whose rows own no content key (dedupe lives on the owner row, which stays).
CONTENTLESS_LEDGER_STATES: Final = ("duplicate", "released")

StopCheck = Callable[[], bool]
# The integer counters of a PruneReport (data_docs_pages is a subset of data_docs_files).
COUNTED: Final = (
    "predictions",
    "prediction_requests",
    "monitor_runs",
    "drift_results",
    "realised_errors",
    "alert_log",
    "incident_outcomes",
    "ingested_files",
    "archived_files",
    "bad_files",
    "data_docs_pages",
    "data_docs_files",
)


@dataclass(slots=True)
class PruneReport:
    """What one prune run deleted (or, in a dry run, would delete), per kind."""

    status: Literal["ok", "busy", "error"] = "ok"
    dry_run: bool = False
    predictions: int = 0
    prediction_requests: int = 0
    monitor_runs: int = 0
    drift_results: int = 0
    realised_errors: int = 0
    alert_log: int = 0
    incident_outcomes: int = 0
    ingested_files: int = 0
    archived_files: int = 0
    bad_files: int = 0
    data_docs_pages: int = 0  # .html pages under validations/
    data_docs_files: int = 0  # every Data Docs file, pages and stored results
    model_versions: list[str] = field(default_factory=list)  # e.g. "outage_duration/3"
    stopped: bool = False  # should_stop asked to finish early
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return {"ok": 0, "error": 1, "busy": 75}[self.status]

    @property
    def counts(self) -> dict[str, int]:
        """Rows, files and model versions deleted (or that would be), per kind."""
        return {name: getattr(self, name) for name in COUNTED} | {"model_versions": len(self.model_versions)}

    @property
    def total(self) -> int:
        """Everything deleted: rows, files (pages counted once) and model versions."""
        return sum(v for k, v in self.counts.items() if k != "data_docs_pages")

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "seconds": round(self.seconds, 3)}

    def fail(self, part: str, exc: BaseException) -> None:
        self.status = "error"
        self.errors.append(f"{part}: {exc}")
        log.error("prune: %s failed: %s", part, exc)


def _cutoff(now: datetime, days: int) -> datetime | None:
    """The instant before which things go, or None when ``days`` is 0 (keep forever)."""
    return None if days <= 0 else now - timedelta(days=days)


# ---------------------------------------------------------------- database


def _count(session: Session, model: type[Any], condition: ColumnElement[bool]) -> int:
    from sqlalchemy import func, select

    return int(session.scalar(select(func.count()).select_from(model).where(condition)) or 0)


def _delete_batches(
    factory: sessionmaker[Session],
    key: InstrumentedAttribute[Any],
    condition: ColumnElement[bool],
    *,
    dry_run: bool,
    batch_rows: int,
    should_stop: StopCheck,
) -> int:
    """Delete the rows of ``key``'s table matching ``condition``, ``batch_rows`` per transaction.

    Each batch is ``DELETE ... WHERE key IN (SELECT key ... WHERE condition ORDER BY key LIMIT n)``:
    valid on SQLite and PostgreSQL, and it never locks more than one batch at a time.
    """
    from sqlalchemy import delete, select

    model = key.class_
    if dry_run:
        with factory() as session:
            return _count(session, model, condition)
    total = 0
    while not should_stop():
        chosen = select(key).where(condition).order_by(key).limit(batch_rows)
        with factory() as session, session.begin():
            result = session.execute(
                delete(model).where(key.in_(chosen)).execution_options(synchronize_session=False)
            )
        total += result.rowcount
        if result.rowcount < batch_rows:
            break
    return total


def _prune_monitor_runs(
    factory: sessionmaker[Session],
    cutoff: datetime,
    report: PruneReport,
    *,
    dry_run: bool,
    batch_rows: int,
    should_stop: StopCheck,
) -> None:
    """Monitor runs older than ``cutoff`` with their drift results and realised errors (children first)."""
    from sqlalchemy import delete, select

    from outagecast.db.models import DriftResult, MonitorRun, RealisedError

    old = MonitorRun.timestamp < cutoff
    if dry_run:
        old_ids = select(MonitorRun.id).where(old)
        with factory() as session:
            report.monitor_runs = _count(session, MonitorRun, old)
            report.drift_results = _count(session, DriftResult, DriftResult.run_id.in_(old_ids))
            report.realised_errors = _count(session, RealisedError, RealisedError.run_id.in_(old_ids))
        return
    while not should_stop():
        with factory() as session, session.begin():
            # One bounded id list serves the three deletes, so children and parents match exactly.
            ids = list(
                session.scalars(select(MonitorRun.id).where(old).order_by(MonitorRun.id).limit(batch_rows))
            )
            if not ids:
                break
            for child, counter in ((DriftResult, "drift_results"), (RealisedError, "realised_errors")):
                done = session.execute(
                    delete(child).where(child.run_id.in_(ids)).execution_options(synchronize_session=False)
                )
                setattr(report, counter, getattr(report, counter) + done.rowcount)
            done = session.execute(
                delete(MonitorRun).where(MonitorRun.id.in_(ids)).execution_options(synchronize_session=False)
            )
            report.monitor_runs += done.rowcount
        if len(ids) < batch_rows:
            break


def _claims_in_processing(settings: Settings) -> list[str]:
    """Claim ids of the files waiting in ``processing/`` (their ledger rows must stay)."""
    from outagecast.pipelines.ingest import CLAIM_SEPARATOR, PROCESSING_DIR

    folder = settings.data_path / PROCESSING_DIR
    if not folder.is_dir():
        return []
    return sorted(
        {p.name.partition(CLAIM_SEPARATOR)[0] for p in folder.iterdir() if CLAIM_SEPARATOR in p.name}
    )


def _prune_database(
    settings: Settings,
    factory: sessionmaker[Session],
    now: datetime,
    report: PruneReport,
    *,
    dry_run: bool,
    batch_rows: int,
    should_stop: StopCheck,
) -> None:
    """Rows older than their retention (see the module docstring for what stays)."""
    from sqlalchemy import exists, func, select

    from outagecast.db.models import AlertLog, IncidentOutcome, IngestedFile, Prediction, PredictionRequest

    batches = {"dry_run": dry_run, "batch_rows": batch_rows, "should_stop": should_stop}
    cutoff = _cutoff(now, settings.retention_predictions_days)
    if cutoff is not None:
        # Idempotency keys go before their predictions: a replayed key is never answered with
        # an empty list (a key is stored just before its predictions, same timestamp source).
        report.prediction_requests = _delete_batches(
            factory, PredictionRequest.key, PredictionRequest.created_at < cutoff, **batches
        )
        report.predictions = _delete_batches(factory, Prediction.id, Prediction.timestamp < cutoff, **batches)
        _prune_monitor_runs(factory, cutoff, report, **batches)
        report.alert_log = _delete_batches(factory, AlertLog.id, AlertLog.timestamp < cutoff, **batches)
        # Outcomes are only useful next to a kept prediction of the same incident (realised error).
        # "Kept" by timestamp, not presence: a dry run still sees the predictions that would go.
        unmatched = ~exists(
            select(Prediction.id).where(
                Prediction.incident_id == IncidentOutcome.incident_id, Prediction.timestamp >= cutoff
            )
        )
        report.incident_outcomes = _delete_batches(
            factory,
            IncidentOutcome.incident_id,
            (IncidentOutcome.observed_at < cutoff) & unmatched,
            **batches,
        )
    files_cutoff = _cutoff(now, settings.retention_files_days)
    if files_cutoff is not None:
        # Only rows that own no content key: the owner row of every content stays, so no file
        # can ever be ingested twice because of pruning.
        condition = (
            IngestedFile.state.in_(CONTENTLESS_LEDGER_STATES)
            & IngestedFile.content_key.is_(None)
            & IngestedFile.ingestion_stat_id.is_(None)
            & (func.coalesce(IngestedFile.finished_at, IngestedFile.claimed_at) < files_cutoff)
        )
        waiting = _claims_in_processing(settings)
        if waiting:
            condition = condition & IngestedFile.claim_id.not_in(waiting)
        report.ingested_files = _delete_batches(factory, IngestedFile.id, condition, **batches)


# ---------------------------------------------------------------- files


def _old_regular_files(folder: Path, cutoff: datetime) -> Iterable[Path]:
    """Regular files directly in ``folder`` last modified before ``cutoff``.

    ``lstat``: a symbolic link is never followed (it is not a regular file, so it is skipped,
    wherever it points); neither are sub-folders.
    """
    limit = cutoff.timestamp()
    with os.scandir(folder) as entries:
        for entry in entries:
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(info.st_mode) and info.st_mtime < limit:
                yield Path(entry.path)


def _unlink_all(paths: Iterable[Path], *, dry_run: bool) -> int:
    """Delete ``paths`` (dry run: none) and return how many were (or would be) deleted."""
    count = 0
    for path in paths:
        if not dry_run:
            try:
                path.unlink()  # removes the entry itself; unlink never follows a link
            except FileNotFoundError:  # gone meanwhile (requeued, or another prune): not ours to count
                continue
        count += 1
    return count


def _training_files(factory: sessionmaker[Session]) -> set[str]:
    """Names in ``archived_data/`` that retraining reads again on every run."""
    from sqlalchemy import select

    from outagecast.db.models import TrainingInput

    with factory() as session:
        return set(
            session.scalars(
                select(TrainingInput.archived_name).where(TrainingInput.archived_name.is_not(None))
            )
        )


def _prune_files(
    settings: Settings, factory: sessionmaker[Session], now: datetime, report: PruneReport, *, dry_run: bool
) -> None:
    """Old regular files of archived_data/ and bad_data/, except the ones retraining reads again."""
    cutoff = _cutoff(now, settings.retention_files_days)
    if cutoff is None:
        return
    keep = _training_files(factory)
    for name in PRUNED_FOLDERS:
        folder = settings.folder(name)
        if not folder.is_dir():
            continue
        old = [p for p in _old_regular_files(folder, cutoff) if name != "archived_data" or p.name not in keep]
        count = _unlink_all(old, dry_run=dry_run)
        if name == "archived_data":
            report.archived_files = count
        else:
            report.bad_files = count


def _prune_data_docs(settings: Settings, now: datetime, report: PruneReport, *, dry_run: bool) -> None:
    """Validation pages and stored results older than the retention; emptied old folders too.

    A folder is removed only when empty and itself not modified since the cutoff (read before
    anything is deleted), so a folder a validation is writing into right now stays.
    """
    cutoff = _cutoff(now, settings.retention_data_docs_days)
    if cutoff is None:
        return
    limit = cutoff.timestamp()
    for sub in DATA_DOCS_SUBDIRS:
        root = settings.data_docs_path / sub
        if not root.is_dir() or root.is_symlink():
            continue
        # os.walk does not descend into linked folders (followlinks=False), and lstat below
        # skips linked files: nothing outside the site is ever touched.
        walked = list(os.walk(root, topdown=False))
        folder_mtimes = {d: os.lstat(d).st_mtime for d, _, _ in walked}
        for directory, _, files in walked:
            for name in files:
                path = Path(directory) / name
                try:
                    info = path.lstat()
                except FileNotFoundError:
                    continue
                if not stat.S_ISREG(info.st_mode) or info.st_mtime >= limit:
                    continue
                if _unlink_all([path], dry_run=dry_run):
                    report.data_docs_files += 1
                    if sub == "validations" and name.endswith(".html"):
                        report.data_docs_pages += 1
            if dry_run or directory == str(root) or folder_mtimes[directory] >= limit:
                continue
            with contextlib.suppress(OSError):  # not empty: something new arrived in it
                os.rmdir(directory)


# ---------------------------------------------------------------- model versions


def _served_versions(factory: sessionmaker[Session], cutoff: datetime | None) -> set[str]:
    """Model versions of the predictions that are kept (after this run)."""
    from sqlalchemy import select

    from outagecast.db.models import Prediction

    stmt = select(Prediction.model_version).distinct()
    if cutoff is not None:  # in a dry run the old ones are still in the table
        stmt = stmt.where(Prediction.timestamp >= cutoff)
    with factory() as session:
        return set(session.scalars(stmt))


def _prune_model_versions(
    settings: Settings,
    factory: sessionmaker[Session],
    now: datetime,
    report: PruneReport,
    *,
    dry_run: bool,
    should_stop: StopCheck,
) -> None:
    """Delete registered versions without alias, not among the N newest others, serving no kept prediction."""
    from mlflow.exceptions import MlflowException

    from outagecast.ml import registry

    keep_newest = settings.retention_model_versions
    if keep_newest <= 0:
        return
    client = registry.client(settings)
    name = settings.registered_model_name
    try:
        aliases = client.get_registered_model(name).aliases or {}
    except MlflowException as exc:
        if getattr(exc, "error_code", None) in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
            return  # nothing registered yet
        raise
    aliased = {int(v) for v in aliases.values()}
    champion = registry.champion_version(settings)  # asked directly too: the alias must never go
    if champion is not None:
        aliased.add(registry.parse_version(settings, champion))
    numbers: list[int] = []
    token: str | None = None
    while True:  # every version, page by page (name is validated by Settings: safe to quote)
        page = client.search_model_versions(f"name = '{name}'", max_results=1_000, page_token=token)
        numbers += [int(v.version) for v in page]
        token = page.token
        if not token:
            break
    others = sorted((n for n in numbers if n not in aliased), reverse=True)
    if len(others) <= keep_newest:
        return
    served = _served_versions(factory, _cutoff(now, settings.retention_predictions_days))
    doomed = [n for n in others[keep_newest:] if registry.version_label(name, n) not in served]
    for number in sorted(doomed):
        if should_stop():
            report.stopped = True
            return
        label = registry.version_label(name, number)
        if not dry_run:
            client.delete_model_version(name, str(number))
        report.model_versions.append(label)


# ---------------------------------------------------------------- the job


def prune(
    settings: Settings,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    should_stop: StopCheck | None = None,
    lock_timeout: float = 0.0,
    batch_rows: int = BATCH_ROWS,
) -> PruneReport:
    """Delete (or with ``dry_run`` only count) everything older than its retention.

    Args:
        settings: the retention settings and where everything lives.
        dry_run: count what would go, delete nothing (no lock taken).
        now: the reference instant (default: the current time, UTC).
        should_stop: polled between batches and parts; True ends the run early (scheduler
            shutdown); what was already deleted stays deleted, the rest goes next run.
        lock_timeout: seconds to wait for a prune run in progress elsewhere.
        batch_rows: rows per delete transaction.

    Each part (database, files, Data Docs, model versions) runs even when another failed; the
    failures are in ``errors`` and make ``status`` ``"error"``.
    """
    from outagecast.db.migrate import upgrade_to_head
    from outagecast.db.session import make_engine, make_session_factory

    started = time.monotonic()
    now = now or datetime.now(UTC)
    stop: StopCheck = should_stop or (lambda: False)
    report = PruneReport(dry_run=dry_run)
    engine = None
    try:
        upgrade_to_head(settings.resolved_database_url)
        engine = make_engine(settings.resolved_database_url)
        factory = make_session_factory(engine)
        settings.data_path.mkdir(parents=True, exist_ok=True)
        if dry_run:
            _run_parts(settings, factory, now, report, dry_run=True, batch_rows=batch_rows, should_stop=stop)
        else:
            with job_lock(JOB_NAME, lock_dir=settings.data_path, engine=engine, timeout=lock_timeout) as held:
                if not held:
                    report.status = "busy"
                    return report
                _run_parts(
                    settings, factory, now, report, dry_run=False, batch_rows=batch_rows, should_stop=stop
                )
    except (OSError, SQLAlchemyError) as exc:
        report.fail("setup", exc)
    finally:
        if engine is not None:
            engine.dispose()
        report.seconds = time.monotonic() - started
    _log(report)
    return report


def _run_parts(
    settings: Settings,
    factory: sessionmaker[Session],
    now: datetime,
    report: PruneReport,
    *,
    dry_run: bool,
    batch_rows: int,
    should_stop: StopCheck,
) -> None:
    parts: list[tuple[str, Callable[[], None]]] = [
        (
            "database",
            lambda: _prune_database(
                settings,
                factory,
                now,
                report,
                dry_run=dry_run,
                batch_rows=batch_rows,
                should_stop=should_stop,
            ),
        ),
        ("files", lambda: _prune_files(settings, factory, now, report, dry_run=dry_run)),
        ("data docs", lambda: _prune_data_docs(settings, now, report, dry_run=dry_run)),
        (
            "model versions",
            lambda: _prune_model_versions(
                settings, factory, now, report, dry_run=dry_run, should_stop=should_stop
            ),
        ),
    ]
    for part, run in parts:
        if should_stop():
            report.stopped = True
            return
        try:
            run()
        except Exception as exc:  # one part failing (e.g. the MLflow server down) must not stop the others
            report.fail(part, exc)
    report.stopped = report.stopped or should_stop()


def _log(report: PruneReport) -> None:
    verb = "would delete" if report.dry_run else "deleted"
    counts = {k: v for k, v in report.counts.items() if v and k != "data_docs_pages"}
    if counts:
        log.info(
            "prune: %s %s%s",
            verb,
            ", ".join(f"{v} {k}" for k, v in counts.items()),
            f" (model versions: {', '.join(report.model_versions)})" if report.model_versions else "",
        )
    else:
        log.info("prune: nothing to delete")


def run_scheduled(settings: Settings, *, should_stop: StopCheck | None = None) -> PruneReport:
    """The scheduled job: one prune run, stopping early when the scheduler shuts down."""
    return prune(settings, should_stop=should_stop)


def dag_prune(settings: Settings) -> dict[str, Any]:
    """Task ``prune`` of dags/maintenance_dag.py: one run; a failed part fails the task (Airflow retries).

    Waits up to five minutes for a run in progress elsewhere (e.g. ``outagecast prune`` by hand).
    """
    report = prune(settings, lock_timeout=300.0)
    if report.status != "ok":
        raise RuntimeError(f"prune {report.status}: {'; '.join(report.errors) or 'lock held elsewhere'}")
    return report.as_dict()
