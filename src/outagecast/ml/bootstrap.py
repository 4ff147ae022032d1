"""First-run work and the train → register → gate sequence every training path shares.

This is the one place that knows where the serving model comes from: the ``champion`` of the
MLflow registry (``ml.registry``). A cold start (no champion yet) generates the dataset if
needed, trains, registers, runs the gate (``ml.gate``: the first model is promoted when it
passes the latency check) and serves the result. Every gate decision is also recorded in the
``training_runs`` table (that is why this module, unlike the rest of ``ml``, writes to the
database).

The jobs call these functions as one-liners: ``outagecast train`` →
``train_and_register(settings, data=path)``; the retrain job →
``train_and_register(settings, data=frame, trigger="retrain")``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from outagecast.ml.gate import GateDecision
    from outagecast.ml.predict import Predictor
    from outagecast.ml.train import TrainingData, TrainResult
    from outagecast.settings import Settings

log = logging.getLogger(__name__)

COLD_START_LOCK = ".cold-start.lock"


def ensure_dataset(settings: Settings, *, progress: bool = False) -> Path:
    """The training dataset's path, generating it (seeded) when it is missing."""
    from outagecast.datasets.generate import write_dataset

    path = settings.dataset_path
    if not path.exists():
        log.info(
            "no dataset at %s: generating %d rows (seed %d)",
            path,
            settings.dataset_rows,
            settings.dataset_seed,
        )
        write_dataset(path, settings.dataset_rows, settings.dataset_seed, progress=progress)
    return path


def load_current_model(settings: Settings) -> Predictor | None:
    """The model to serve (the registry's champion), or None when there is none yet."""
    from outagecast.ml.registry import load_champion

    return load_champion(settings)


def train_and_register(
    settings: Settings,
    *,
    data: str | Path | pd.DataFrame | TrainingData | None = None,
    families: Sequence[str] = ("lgbm",),
    trigger: str = "cli",
) -> tuple[list[TrainResult], GateDecision]:
    """Train each family on one split; register the first, gate it, record the decision.

    Args:
        settings: paths, registry and gate settings.
        data: a CSV path, a frame of incident records, or ``load_training_frame``'s tuple;
            default: the dataset (generated when missing).
        families: model families to train; only the first is registered (the others are for
            comparison, e.g. ``train --compare``).
        trigger: why: "cli", "retrain", "cold_start" or "manual" (stored with the decision).

    Returns:
        The training results (the first with ``model_version`` = its registry version) and the
        gate's decision on it.
    """
    from outagecast.ml import gate, registry
    from outagecast.ml.train import load_training_frame, train_models

    source = data if data is not None else ensure_dataset(settings, progress=True)
    training = source if isinstance(source, tuple) else load_training_frame(source)
    features = training[0]
    results = train_models(training, families=list(families), seed=settings.dataset_seed)
    reference = gate.reference_set(settings)
    candidate_score = gate.score(results[0].model, reference, coverage=settings.interval_coverage)
    origin = str(source) if isinstance(source, str | Path) else "frame"
    registered = registry.register_model(
        settings,
        results[0],
        features=features,
        extra_metrics=candidate_score.metrics(),
        params={"data": origin[-500:], "trigger": trigger},
    )
    results[0] = registered.result
    decision = gate.run_gate(
        settings,
        candidate=registered.result.model,
        candidate_version=registered.label,
        candidate_score=candidate_score,
        reference=reference,
    )
    record_training_run(
        settings,
        model_version=registered.label,
        run_id=registered.run_id,
        family=registered.result.family,
        n_train=registered.result.n_train,
        metrics=registered.result.metrics,
        decision=decision,
        trigger=trigger,
    )
    return results, decision


def record_training_run(
    settings: Settings,
    *,
    model_version: str,
    trigger: str,
    decision: GateDecision | None = None,
    outcome: str | None = None,
    reason: str | None = None,
    run_id: str | None = None,
    family: str | None = None,
    n_train: int | None = None,
    metrics: Mapping[str, Any] | None = None,
    champion_version_before: str | None = None,
) -> int | None:
    """Store a decision in ``training_runs``; returns the row id (None when the database failed).

    Pass the gate's ``decision``, or ``outcome`` ("promoted"/"rejected") and ``reason`` for a
    manual one. A database failure is logged, not raised: the model is already registered and
    the decision is on its registry tags too.
    """
    from outagecast.db import repository
    from outagecast.db.migrate import upgrade_to_head
    from outagecast.db.session import make_engine, make_session_factory

    gate_figures: dict[str, Any] = {}
    if decision is not None:
        outcome, reason = decision.decision, decision.reason
        champion_version_before = decision.champion_version_before
        gate_figures = {
            "reference_rmse": decision.reference_rmse,
            "rmse_diff": decision.rmse_diff,
            "ci_low": decision.ci_low,
            "ci_high": decision.ci_high,
            "latency_ms_per_row": decision.latency_ms_per_row,
        }
    if outcome is None or reason is None:
        raise ValueError("pass the gate's decision, or an outcome and a reason")
    url = settings.resolved_database_url
    try:
        upgrade_to_head(url)  # a no-op at head; `outagecast train` may run before the API ever did
        engine = make_engine(url)
        try:
            with make_session_factory(engine)() as session, session.begin():
                return repository.insert_training_run(
                    session,
                    model_version=model_version,
                    run_id=run_id,
                    family=family,
                    n_train=n_train,
                    metrics=metrics,
                    champion_version_before=champion_version_before,
                    decision=outcome,
                    reason=reason,
                    trigger=trigger,
                    **gate_figures,
                )
        finally:
            engine.dispose()
    except Exception:
        log.exception("could not record the %s decision on %s in training_runs", outcome, model_version)
        return None


def promote_manually(settings: Settings, version: str | int, *, reason: str) -> tuple[str | None, str]:
    """Make ``version`` the champion whatever the gate said (``outagecast promote``); recorded as manual.

    Returns:
        ``(previous champion, new champion)`` version strings.

    Raises:
        ValueError: an empty reason or a malformed version.
        mlflow.exceptions.MlflowException: the version does not exist.
    """
    from outagecast.ml import registry

    if not reason.strip():
        raise ValueError("a manual promotion needs a reason")
    number = registry.parse_version(settings, version)
    mlflow_client = registry.client(settings)
    model_version = mlflow_client.get_model_version(settings.registered_model_name, str(number))
    before = registry.champion_version(settings)
    label = registry.set_champion(settings, number)
    registry.tag_version(
        settings, label, {registry.TAG_DECISION: "promoted", registry.TAG_REASON: f"manual: {reason}"[:5000]}
    )
    metrics: dict[str, Any] = {}
    if model_version.run_id:
        metrics = dict(mlflow_client.get_run(model_version.run_id).data.metrics)
    record_training_run(
        settings,
        model_version=label,
        trigger="manual",
        outcome="promoted",
        reason=reason,
        run_id=model_version.run_id,
        family=(model_version.tags or {}).get(registry.TAG_FAMILY),
        n_train=int(metrics["n_train"]) if "n_train" in metrics else None,
        metrics={k: v for k, v in metrics.items() if not k.startswith(registry.IMPORTANCE_PREFIX)},
        champion_version_before=before,
    )
    return before, label


@contextmanager
def _host_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` across processes of this host (none where flock is missing)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover, not POSIX
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_model(settings: Settings) -> Predictor:
    """The champion, training, registering and promoting a first model on a cold start.

    Processes of one host starting together (API workers, ``outagecast up``) take turns, so
    only the first trains; the others then find its champion.

    Raises:
        RuntimeError: the cold-start model was rejected by the gate (too slow to serve).
    """
    predictor = load_current_model(settings)
    if predictor is not None:
        return predictor
    with _host_lock(settings.var_path / COLD_START_LOCK):
        predictor = load_current_model(settings)
        if predictor is not None:
            return predictor
        log.info("no champion in the registry: training one (cold start)")
        results, decision = train_and_register(settings, trigger="cold_start")
        if not decision.promoted:
            raise RuntimeError(f"the cold-start model was not promoted: {decision.reason}")
        return results[0].model
