"""Retraining: once enough new good rows arrived, train on everything, gate, promote or alert.

New rows: the good-data files (``good_data/*.csv``) no retraining consumed yet (ledger
``training_inputs``) whose rows the scheduled prediction job already finished (``predicted_files``
``done`` or ``failed``), so archiving a file never takes it away from the predictions. When they
hold at least ``MIN_NEW_ROWS_FOR_TRAINING`` rows, one run:

1. trains on the base dataset + the good data consumed before (now in ``archived_data/``) + the
   new files, via ``train_and_register(trigger="retrain")`` (registers, gates, records the decision);
2. records the new files as ``consumed`` (one transaction) with the version trained on them;
3. promoted: ``POST /reload-model`` on the API (best effort: the API also polls the registry);
   rejected: an alert (kind ``retrain``) with the gate's reason;
4. moves the consumed files to ``archived_data/`` and marks them ``archived``.

Crash-safe and idempotent: every run first archives what a crashed run left ``consumed``; a crash
before step 2 trains again next run (a second registered version, gated like any other), never
consumes a file twice. One run at a time (``job_lock``). Nothing heavy is imported on load.
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
    import pandas as pd
    from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

JOB_NAME: Final = "retrain"
ALERT_KIND: Final = "retrain"

Trainer = Callable[..., tuple[list[Any], Any]]  # train_and_register's signature


@dataclass(slots=True)
class RetrainResult:
    """What one retrain run did."""

    status: Literal["trained", "not_enough_data", "error", "busy"] = "not_enough_data"
    new_rows: int = 0
    new_files: list[str] = field(default_factory=list)
    training_rows: int = 0
    model_version: str | None = None
    promoted: bool | None = None
    reason: str | None = None
    reload: str | None = None  # "reloaded", "failed: ...", or None when not promoted
    alert: str | None = None  # alert status when rejected
    archived: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return {"trained": 0, "not_enough_data": 0, "error": 1, "busy": 75}[self.status]

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "seconds": round(self.seconds, 3)}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _count_rows(path: Path) -> int:
    import pandas as pd

    return len(pd.read_csv(path, usecols=[0]))


def new_files(settings: Settings, session_factory: sessionmaker[Session]) -> list[Path]:
    """Good-data files not consumed by a retraining whose predictions are finished."""
    from outagecast.db import repository

    folder = settings.folder("good_data")
    if not folder.is_dir():
        return []
    with session_factory() as session:
        consumed = {row.filename for row in repository.training_inputs(session)}
        predicted = repository.predicted_filenames(session, states=("done", "failed"))
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file()
        and p.suffix == ".csv"
        and not p.name.startswith(".")
        and p.name not in consumed
        and p.name in predicted
    )


def _archive(settings: Settings, session_factory: sessionmaker[Session], result: RetrainResult) -> None:
    """Move every ``consumed`` file to archived_data/ and mark it ``archived`` (idempotent)."""
    from outagecast.db import repository
    from outagecast.pipelines.ingest import _move_no_clobber

    archived = settings.folder("archived_data")
    archived.mkdir(parents=True, exist_ok=True)
    with session_factory() as session:
        pending = [(r.id, r.filename) for r in repository.training_inputs(session, states=("consumed",))]
    for input_id, name in pending:
        source = settings.folder("good_data") / name
        target = _move_no_clobber(source, archived, name).name if source.exists() else None
        with session_factory() as session, session.begin():
            repository.mark_training_input_archived(session, input_id=input_id, archived_name=target)
        result.archived.append(name)


def _training_frame(
    settings: Settings, session_factory: sessionmaker[Session], files: list[Path]
) -> pd.DataFrame:
    """The base dataset, the good data consumed before (archived) and the new files, as one frame."""
    import pandas as pd

    from outagecast.db import repository
    from outagecast.ml.bootstrap import ensure_dataset

    with session_factory() as session:
        earlier = [
            settings.folder("archived_data") / r.archived_name
            for r in repository.training_inputs(session, states=("archived",))
            if r.archived_name
        ]
    parts = [pd.read_csv(ensure_dataset(settings))]
    parts += [pd.read_csv(p) for p in [*earlier, *files] if p.exists()]
    return pd.concat(parts, ignore_index=True)


def _reload_api(settings: Settings) -> str:
    from outagecast.clients.api import ApiClient, ApiProblem

    try:
        with ApiClient.from_settings(settings) as client:
            answer = client.reload_model()
        return f"reloaded: serving {answer.get('version')}"
    except ApiProblem as exc:
        log.warning("retrain: POST /reload-model failed (the API's periodic check picks it up): %s", exc)
        return f"failed: {exc}"


def retrain_once(
    settings: Settings,
    *,
    trainer: Trainer | None = None,
    lock_timeout: float = 0.0,
    reload: Callable[[Settings], str] = _reload_api,
) -> RetrainResult:
    """One retrain check (see the module docstring); ``trainer`` replaces ``train_and_register``."""
    from outagecast.db import repository
    from outagecast.db.migrate import upgrade_to_head
    from outagecast.db.session import make_engine, make_session_factory

    started = time.monotonic()
    result = RetrainResult()
    engine = None
    try:
        upgrade_to_head(settings.resolved_database_url)
        engine = make_engine(settings.resolved_database_url)
        factory = make_session_factory(engine)
        settings.data_path.mkdir(parents=True, exist_ok=True)
        with job_lock(JOB_NAME, lock_dir=settings.data_path, engine=engine, timeout=lock_timeout) as held:
            if not held:
                result.status = "busy"
                return result
            _archive(settings, factory, result)  # what a crashed run trained on but did not archive
            files = new_files(settings, factory)
            counts = {p.name: _count_rows(p) for p in files}
            result.new_files, result.new_rows = list(counts), sum(counts.values())
            if result.new_rows < settings.min_new_rows_for_training:
                log.debug(
                    "retrain: %d new good rows, %d needed",
                    result.new_rows,
                    settings.min_new_rows_for_training,
                )
                return result
            log.info("retrain: %d new good rows in %d file(s); training", result.new_rows, len(files))
            frame = _training_frame(settings, factory, files)
            result.training_rows = len(frame)
            if trainer is None:
                from outagecast.ml.bootstrap import train_and_register as trainer
            results, decision = trainer(settings, data=frame, trigger="retrain")
            result.model_version = decision.candidate_version
            result.promoted, result.reason = bool(decision.promoted), decision.reason
            with factory() as session, session.begin():
                repository.insert_training_inputs(
                    session,
                    rows=[
                        {
                            "filename": p.name,
                            "content_sha256": _sha256(p),
                            "rows": counts[p.name],
                            "model_version": result.model_version,
                        }
                        for p in files
                    ],
                )
            result.status = "trained"
            if result.promoted:
                log.info("retrain: %s promoted: %s", result.model_version, result.reason)
                result.reload = reload(settings)
            else:
                from outagecast import alerts

                log.warning("retrain: %s rejected: %s", result.model_version, result.reason)
                sent = alerts.send_alert(
                    settings,
                    ALERT_KIND,
                    f"Retrained model {result.model_version} was not promoted",
                    {
                        "version": result.model_version,
                        "reason": result.reason,
                        "new rows": result.new_rows,
                        "training rows": result.training_rows,
                    },
                    text=result.reason or "",
                    session_factory=factory,
                )
                result.alert = getattr(sent, "status", str(sent))
            _archive(settings, factory, result)
    except (OSError, SQLAlchemyError) as exc:
        result.status = "error"
        result.errors.append(str(exc))
        log.error("retrain: %s", exc)
    finally:
        if engine is not None:
            engine.dispose()
        result.seconds = time.monotonic() - started
    return result


def run_scheduled(settings: Settings, *, should_stop: Callable[[], bool] | None = None) -> RetrainResult:
    """The scheduled job: one check, logged when it trained or failed."""
    result = retrain_once(settings)
    if result.status in ("trained", "error"):
        log.info("retrain run: %s", result.as_dict())
    return result


# ---------------------------------------------------------------- Airflow steps (dags/training_dag.py)


def dag_load_data(settings: Settings) -> dict[str, Any] | None:
    """Task ``load_data``: archive what a crashed run left, then the new files when there are enough.

    Writes the training frame to ``var/retrain/`` and returns its path and the files (XCom), or
    None when fewer than ``MIN_NEW_ROWS_FOR_TRAINING`` new rows arrived (the run short-circuits).
    """
    with migrated_session_factory(settings.resolved_database_url) as factory:
        _archive(settings, factory, RetrainResult())
        files = new_files(settings, factory)
        counts = {p.name: _count_rows(p) for p in files}
        if sum(counts.values()) < settings.min_new_rows_for_training:
            log.info(
                "retrain: %d new good rows, %d needed",
                sum(counts.values()),
                settings.min_new_rows_for_training,
            )
            return None
        frame = _training_frame(settings, factory, files)
    folder = settings.var_path / "retrain"
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256("\n".join(f"{n}:{c}" for n, c in counts.items()).encode()).hexdigest()[:16]
    path = folder / f"training-{digest}.csv"
    frame.to_csv(path, index=False)
    return {"files": counts, "frame": str(path), "training_rows": len(frame)}


def dag_train(settings: Settings, loaded: dict[str, Any]) -> dict[str, Any]:
    """Task ``train``: train the chosen family on the frame and register it as a new version."""
    from outagecast.ml import gate, registry
    from outagecast.ml.train import load_training_frame, train_models

    training = load_training_frame(Path(loaded["frame"]))
    results = train_models(training, families=["lgbm"], seed=settings.dataset_seed)
    score = gate.score(results[0].model, gate.reference_set(settings), coverage=settings.interval_coverage)
    registered = registry.register_model(
        settings,
        results[0],
        features=training[0],
        extra_metrics=score.metrics(),
        params={"data": "retrain", "trigger": "retrain"},
    )
    return {
        "version": registered.label,
        "run_id": registered.run_id,
        "family": registered.result.family,
        "n_train": registered.result.n_train,
        "metrics": _jsonable(registered.result.metrics),
    }


def _jsonable(metrics: dict[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(metrics, default=str))


def dag_save_training_stats(settings: Settings, loaded: dict[str, Any], trained: dict[str, Any]) -> int:
    """Task ``save_training_stats``: the files become ``consumed`` by the version (once each)."""
    from outagecast.db import repository

    folder = settings.folder("good_data")
    with (
        migrated_session_factory(settings.resolved_database_url) as factory,
        factory() as session,
        session.begin(),
    ):
        known = {r.filename for r in repository.training_inputs(session)}
        rows = [
            {
                "filename": name,
                "content_sha256": _sha256(folder / name),
                "rows": count,
                "model_version": trained["version"],
            }
            for name, count in loaded["files"].items()
            if name not in known and (folder / name).exists()
        ]
        repository.insert_training_inputs(session, rows=rows)
    Path(loaded["frame"]).unlink(missing_ok=True)
    return len(rows)


def dag_evaluate(settings: Settings, trained: dict[str, Any]) -> dict[str, Any]:
    """Task ``evaluate``: the promotion gate on the registered version; the decision is recorded."""
    from outagecast.ml import gate, registry
    from outagecast.ml.bootstrap import record_training_run

    candidate = registry.load_version(settings, trained["version"])
    decision = gate.run_gate(settings, candidate=candidate, candidate_version=trained["version"])
    record_training_run(
        settings,
        model_version=trained["version"],
        run_id=trained["run_id"],
        family=trained["family"],
        n_train=trained["n_train"],
        metrics=trained["metrics"],
        decision=decision,
        trigger="retrain",
    )
    return _jsonable(decision.as_dict())


def dag_promote(settings: Settings, decision: dict[str, Any]) -> dict[str, Any]:
    """Task ``promote``: ask the API to serve the new champion (best effort), archive the files."""
    outcome = RetrainResult(status="trained", model_version=decision["candidate_version"], promoted=True)
    outcome.reload = _reload_api(settings)
    with migrated_session_factory(settings.resolved_database_url) as factory:
        _archive(settings, factory, outcome)
    return outcome.as_dict()


def dag_alert(settings: Settings, decision: dict[str, Any]) -> dict[str, Any]:
    """Task ``alert``: the rejected version and the gate's reason, as an alert; archive the files."""
    from outagecast import alerts

    outcome = RetrainResult(status="trained", model_version=decision["candidate_version"], promoted=False)
    outcome.reason = decision["reason"]
    with migrated_session_factory(settings.resolved_database_url) as factory:
        sent = alerts.send_alert(
            settings,
            ALERT_KIND,
            f"Retrained model {outcome.model_version} was not promoted",
            {"version": outcome.model_version, "reason": outcome.reason},
            text=outcome.reason or "",
            session_factory=factory,
        )
        outcome.alert = getattr(sent, "status", str(sent))
        _archive(settings, factory, outcome)
    return outcome.as_dict()
