"""MLflow tracking and model registry: register trained models, find and load the champion.

Store
    ``Settings.resolved_mlflow_tracking_uri``: ``MLFLOW_TRACKING_URI`` (e.g. the MLflow server of
    the deployment), or by default a local SQLite store ``sqlite:///<var>/mlflow.db``: SQLite is
    MLflow 3's default backend (since 3.7; the ``./mlruns`` file store is legacy). With a local
    store, model artifacts go under ``<var>/mlartifacts`` (the experiment's artifact location);
    a tracking server decides that itself (``--artifacts-destination``). The URI is passed to
    every call; nothing is configured at import.

Versions
    A registered version is named ``"<REGISTERED_MODEL_NAME>/<number>"``, e.g.
    ``"outage_duration/3"`` (:func:`version_label`): the string the API serves, stores with each
    prediction and shows in ``/health``. The serving model is the version holding the alias
    ``champion`` (set by the promotion gate, ``ml.gate``, or ``outagecast promote``).

What one registered version holds
    An MLflow run (experiment ``outagecast``) with the training parameters, the held-out
    metrics, the reference-set metrics (``reference_rmse``, ``inference_ms_per_row`` ...),
    ``importance/<input>`` (mean absolute contribution in hours), the baseline artifacts
    (``baseline/baseline.json``, ``baseline/baseline_sample.parquet``; see ``ml.baseline``), and
    a logged model: the ``pyfunc`` flavour (``ml/pyfunc_model.py``, "models from code") with a
    signature and an input example, whose artifact ``predictor.joblib`` is the ``Predictor``
    itself. The API does not go through ``mlflow.pyfunc``: :func:`load_version` downloads that
    one file and unpickles it (intervals and contributions intact), which is faster.

MLflow is imported inside the functions (it takes seconds), after :func:`_configure_environment`
has turned its anonymous usage telemetry off (``MLFLOW_DISABLE_TELEMETRY``, MLflow >= 3.2;
``DO_NOT_TRACK=true`` works too; an explicit value in the environment wins), its download
progress bars, and shortened its HTTP retries.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from outagecast import schema

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

    from outagecast.ml.predict import Predictor
    from outagecast.ml.train import TrainResult
    from outagecast.settings import Settings

log = logging.getLogger(__name__)

EXPERIMENT_NAME: Final = "outagecast"
CHAMPION_ALIAS: Final = "champion"
MODEL_NAME_IN_RUN: Final = "model"
PREDICTOR_FILE: Final = "predictor.joblib"
# Where MLflow puts the ``artifacts={"predictor": ...}`` file inside a logged pyfunc model.
PREDICTOR_IN_MODEL: Final = f"artifacts/{PREDICTOR_FILE}"
BASELINE_DIR: Final = "baseline"
IMPORTANCE_PREFIX: Final = "importance/"
IMPORTANCE_ROWS: Final = 2_000
# Model-version tags written by the gate / a manual promotion: the latest decision on the version.
TAG_FAMILY: Final = "outagecast.family"
TAG_FINGERPRINT: Final = "outagecast.fingerprint"
TAG_DECISION: Final = "outagecast.decision"
TAG_REASON: Final = "outagecast.reason"
PYFUNC_CODE: Final = Path(__file__).with_name("pyfunc_model.py")
# Tracking URIs served by a tracking server, which chooses the artifact location itself.
_SERVER_SCHEMES: Final = ("http://", "https://", "databricks")
_NOT_FOUND: Final = ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND")
_RUNTIME_PACKAGES: Final = ("mlflow", "lightgbm", "scikit-learn", "pandas", "numpy", "scipy", "joblib")


@dataclass(frozen=True, slots=True)
class RegisteredVersion:
    """A model version just registered: its number and where it came from."""

    name: str
    number: int
    run_id: str
    model_id: str | None
    result: TrainResult  # the training result, its model_version set to :attr:`label`

    @property
    def label(self) -> str:
        return version_label(self.name, self.number)


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """One registered version as listed by :func:`list_versions`."""

    version: str  # "outage_duration/3"
    number: int
    run_id: str | None
    created_at: datetime
    aliases: list[str]
    is_champion: bool
    family: str | None
    metrics: dict[str, float]
    feature_importances: dict[str, float]
    decision: str | None  # latest decision on it: "promoted" / "rejected" (None: not gated)
    reason: str | None
    tags: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view (created_at as ISO 8601)."""
        return {
            "version": self.version,
            "number": self.number,
            "run_id": self.run_id,
            "created_at": self.created_at.isoformat(),
            "aliases": list(self.aliases),
            "is_champion": self.is_champion,
            "family": self.family,
            "metrics": dict(self.metrics),
            "feature_importances": dict(self.feature_importances),
            "decision": self.decision,
            "reason": self.reason,
        }


# ------------------------------------------------------------------ set-up
_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def _configure_environment() -> None:
    """MLflow's own settings, before it is imported; a value already in the environment wins.

    Telemetry off; no download progress bars; and a tracking server that does not answer fails
    a call within about a minute instead of MLflow's default ~4 minutes of retries (7, with
    2 s exponential back-off), which would stall the API's start-up and its refresh checks.
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")


def is_local_store(uri: str) -> bool:
    """Whether ``uri`` is a store this process writes itself (not a tracking server)."""
    return not uri.startswith(_SERVER_SCHEMES)


def client(settings: Settings) -> MlflowClient:
    """An ``MlflowClient`` for the settings' tracking store (also the model registry).

    The first call in a process costs seconds (importing MLflow; opening, and on a new store
    creating, its database); MLflow caches the store, so later clients are cheap.
    """
    _configure_environment()
    from mlflow import MlflowClient

    uri = settings.resolved_mlflow_tracking_uri
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _is_not_found(exc: Exception) -> bool:
    return getattr(exc, "error_code", None) in _NOT_FOUND


def version_label(name: str, number: int | str) -> str:
    """The served version string of registered version ``number``: ``"<name>/<number>"``."""
    return f"{name}/{int(number)}"


def parse_version(settings: Settings, version: str | int) -> int:
    """The version number in ``3``, ``"3"`` or ``"outage_duration/3"``.

    Raises:
        ValueError: not a version of ``settings.registered_model_name``.
    """
    text = str(version).strip()
    name = settings.registered_model_name
    match = re.fullmatch(rf"(?:{re.escape(name)}/)?v?(\d+)", text)
    if match is None or int(match.group(1)) < 1:
        raise ValueError(f"{version!r} is not a version of {name!r}: expected e.g. 3 or {name}/3")
    return int(match.group(1))


def _experiment_id(mlflow_client: MlflowClient, settings: Settings) -> str:
    """The ``outagecast`` experiment, created on first use (artifacts under var/ for a local store)."""
    from mlflow.exceptions import MlflowException

    experiment = mlflow_client.get_experiment_by_name(EXPERIMENT_NAME)
    if experiment is not None:
        return experiment.experiment_id
    location = None
    if is_local_store(settings.resolved_mlflow_tracking_uri):
        settings.mlflow_artifacts_path.mkdir(parents=True, exist_ok=True)
        location = settings.mlflow_artifacts_path.as_uri()
    try:
        return mlflow_client.create_experiment(EXPERIMENT_NAME, artifact_location=location)
    except MlflowException:  # created by another process in between
        experiment = mlflow_client.get_experiment_by_name(EXPERIMENT_NAME)
        if experiment is None:
            raise
        return experiment.experiment_id


# ------------------------------------------------------------------ registering
def _signature() -> Any:
    """Inputs: the eight request fields (the optional ones optional); outputs: hours and interval."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    def input_type(name: str) -> str:
        if name in schema.NUMERIC_FEATURES:
            return "long" if name in schema.INTEGER_COLUMNS else "double"
        return "string"  # categories, Yes/No and the start time as text

    inputs = Schema(
        [ColSpec(input_type(n), n, required=n not in schema.OPTIONAL_FEATURES) for n in schema.FEATURES]
    )
    outputs = Schema(
        [
            ColSpec("double", "predicted_hours"),
            ColSpec("double", "predicted_hours_low", required=False),
            ColSpec("double", "predicted_hours_high", required=False),
        ]
    )
    params = ParamSchema([ParamSpec("coverage", "double", 0.8)])
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def _pip_requirements() -> list[str]:
    """Pinned runtime libraries of the pyfunc flavour (``outagecast`` itself must be installed too)."""
    pins = []
    for package in _RUNTIME_PACKAGES:
        try:
            pins.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:  # pragma: no cover, all are dependencies
            pins.append(package)
    return pins


def _numeric_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The finite numbers of ``metrics`` (MLflow metrics are floats; None/NaN/text are left out)."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(float(value)):
            out[key] = float(value)
    return out


def feature_importances(predictor: Predictor, frame: pd.DataFrame) -> dict[str, float]:
    """Mean absolute contribution (hours) of each input over ``frame``; empty for non-LightGBM models."""
    import numpy as np

    try:
        _, contributions = predictor.contributions(frame)
    except NotImplementedError:
        return {}
    return {
        name: float(v) for name, v in zip(contributions.columns, np.abs(contributions).mean(), strict=True)
    }


def _input_example(features: pd.DataFrame) -> pd.DataFrame:
    example = features[list(schema.FEATURES)].head(3).copy()
    example[schema.TIME_FEATURE] = example[schema.TIME_FEATURE].astype(str)
    return example.reset_index(drop=True)


def register_model(
    settings: Settings,
    result: TrainResult,
    *,
    features: pd.DataFrame,
    extra_metrics: Mapping[str, float] | None = None,
    params: Mapping[str, Any] | None = None,
) -> RegisteredVersion:
    """Log a training run to MLflow and register its model as a new version (not promoted).

    Args:
        settings: tracking URI and registered model name.
        result: the trained model and its held-out metrics (``ml.train``).
        features: the training inputs, for the baseline statistics and the input example.
        extra_metrics: more metrics for the run, e.g. the reference-set figures of ``ml.gate``.
        params: more parameters for the run (e.g. the data source, a trigger).

    Returns:
        The new version; its ``result`` has ``model_version`` (and the predictor's ``version``)
        set to the registry's version string, the content fingerprint kept as ``fingerprint``.
    """
    import dataclasses

    from outagecast.ml import baseline

    mlflow_client = client(settings)
    import mlflow
    import mlflow.pyfunc

    uri = settings.resolved_mlflow_tracking_uri
    # The fluent API (start_run, log_model) reads the process-wide URIs: set here, never at import.
    exported = {var: os.environ.get(var) for var in _URI_VARIABLES}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    # MLflow also exports them to os.environ; undo that, or a later Settings() in this process
    # and every process it starts (an API server, a job) would silently use this store.
    for var, value in exported.items():
        if value is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = value
    experiment_id = _experiment_id(mlflow_client, settings)
    predictor = result.model
    fingerprint = str(result.metrics.get("model_version", result.model_version))
    predicted = predictor.predict(features)
    sample = features.sample(n=min(IMPORTANCE_ROWS, len(features)), random_state=settings.dataset_seed)
    importances = feature_importances(predictor, sample)
    run_params = {
        "family": result.family,
        "seed": settings.dataset_seed,
        "n_train": result.n_train,
        "n_test": result.n_test,
        "rows_dropped": result.rows_dropped,
        "fingerprint": fingerprint,
        **{f"regressor.{k}": v for k, v in result.params.items()},
        **dict(params or {}),
    }
    metrics = {
        **_numeric_metrics(result.metrics),
        **_numeric_metrics(dict(extra_metrics or {})),
        **{f"{IMPORTANCE_PREFIX}{k}": v for k, v in importances.items()},
    }
    name = settings.registered_model_name
    with tempfile.TemporaryDirectory(prefix="outagecast-register-") as tmp:
        folder = Path(tmp)
        predictor_path = predictor.save(folder / PREDICTOR_FILE)
        (folder / baseline.BASELINE_FILE).write_text(
            json.dumps(baseline.baseline_statistics(features, predicted)), encoding="utf-8"
        )
        baseline.baseline_sample(features, predicted, seed=settings.dataset_seed).to_parquet(
            folder / baseline.SAMPLE_FILE, index=False
        )
        # With a tracking server MLflow prints the run's URL on stdout, which belongs to the
        # CLI's machine-readable output (`train --json`): send it to stderr.
        with (
            contextlib.redirect_stdout(sys.stderr),
            mlflow.start_run(experiment_id=experiment_id, run_name=fingerprint) as run,
        ):
            run_id = run.info.run_id
            mlflow.log_params({k: str(v)[:6000] for k, v in run_params.items()})
            mlflow.log_metrics(metrics)
            mlflow.set_tags({TAG_FAMILY: result.family, TAG_FINGERPRINT: fingerprint})
            mlflow.log_artifact(str(folder / baseline.BASELINE_FILE), artifact_path=BASELINE_DIR)
            mlflow.log_artifact(str(folder / baseline.SAMPLE_FILE), artifact_path=BASELINE_DIR)
            info = mlflow.pyfunc.log_model(
                name=MODEL_NAME_IN_RUN,
                python_model=str(PYFUNC_CODE),
                artifacts={"predictor": str(predictor_path)},
                signature=_signature(),
                input_example=_input_example(features),
                # Explicit: otherwise MLflow infers them by loading the model in a subprocess.
                pip_requirements=_pip_requirements(),
            )
    _ensure_registered_model(mlflow_client, name)
    version = mlflow_client.create_model_version(
        name=name,
        source=info.model_uri,
        run_id=run_id,
        model_id=info.model_id,
        tags={TAG_FAMILY: result.family, TAG_FINGERPRINT: fingerprint},
    )
    number = int(version.version)
    label = version_label(name, number)
    predictor.version = label
    predictor.metrics = {**predictor.metrics, "model_version": label, "fingerprint": fingerprint}
    registered = dataclasses.replace(
        result,
        model_version=label,
        metrics={**result.metrics, "model_version": label, "fingerprint": fingerprint},
    )
    log.info(
        "registered %s (run %s, RMSE %.4f h, %d training rows)",
        label,
        run_id,
        float(result.metrics["rmse"]),
        result.n_train,
    )
    return RegisteredVersion(
        name=name, number=number, run_id=run_id, model_id=info.model_id, result=registered
    )


def _ensure_registered_model(mlflow_client: MlflowClient, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        mlflow_client.get_registered_model(name)
    except MlflowException as exc:
        if not _is_not_found(exc):
            raise
        try:
            mlflow_client.create_registered_model(
                name, description="OutageCast: predicted outage duration in hours."
            )
        except MlflowException as again:  # created by another process in between
            if getattr(again, "error_code", None) not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                raise


# ------------------------------------------------------------------ champion and loading
def champion_version(settings: Settings) -> str | None:
    """The champion's version string, or None when there is none (one cheap registry call)."""
    from mlflow.exceptions import MlflowException

    name = settings.registered_model_name
    try:
        version = client(settings).get_model_version_by_alias(name, CHAMPION_ALIAS)
    except MlflowException as exc:
        # No registered model yet, or no version holds the alias.
        if _is_not_found(exc) or getattr(exc, "error_code", None) == "INVALID_PARAMETER_VALUE":
            return None
        raise
    return version_label(name, version.version)


def set_champion(settings: Settings, version: str | int) -> str:
    """Give ``version`` the ``champion`` alias (moving it from the previous holder); returns its label."""
    number = parse_version(settings, version)
    name = settings.registered_model_name
    client(settings).set_registered_model_alias(name, CHAMPION_ALIAS, str(number))
    log.info("%s is now the champion", version_label(name, number))
    return version_label(name, number)


def tag_version(settings: Settings, version: str | int, tags: Mapping[str, str]) -> None:
    """Set tags on a registered version (e.g. the gate's decision and reason)."""
    number = parse_version(settings, version)
    mlflow_client = client(settings)
    for key, value in tags.items():
        mlflow_client.set_model_version_tag(settings.registered_model_name, str(number), key, value)


def load_version(settings: Settings, version: str | int) -> Predictor:
    """The ``Predictor`` of a registered version, its ``version`` set to the registry's string.

    Downloads only ``predictor.joblib`` from the logged model (no ``mlflow.pyfunc`` machinery).

    Raises:
        ValueError: ``version`` is not a version number of the registered model.
        mlflow.exceptions.MlflowException: the version does not exist or cannot be downloaded.
    """
    from outagecast.ml.predict import Predictor

    number = parse_version(settings, version)
    name = settings.registered_model_name
    # The concrete location, not a models:/ URI: MLflow resolves those with the process-wide
    # registry URI, whatever is passed (it would open ./mlflow.db).
    model_uri = client(settings).get_model_version_download_uri(name, str(number))
    import mlflow.artifacts

    with tempfile.TemporaryDirectory(prefix="outagecast-model-") as tmp:
        path = mlflow.artifacts.download_artifacts(
            artifact_uri=f"{model_uri.rstrip('/')}/{PREDICTOR_IN_MODEL}",
            dst_path=tmp,
            tracking_uri=settings.resolved_mlflow_tracking_uri,
        )
        predictor = Predictor.load(path)
    label = version_label(name, number)
    predictor.version = label
    predictor.metrics = {**predictor.metrics, "model_version": label}
    log.info("loaded model %s from the registry", label)
    return predictor


def load_champion(settings: Settings) -> Predictor | None:
    """The champion's ``Predictor``, or None when the registry has no champion yet."""
    version = champion_version(settings)
    return None if version is None else load_version(settings, version)


# ------------------------------------------------------------------ listing
def list_versions(settings: Settings, *, limit: int = 100) -> list[VersionInfo]:
    """Registered versions, newest first, with their run's metrics and the latest decision on each.

    Two registry queries for the versions and one search for their runs, whatever ``limit``.
    """
    from mlflow.exceptions import MlflowException

    mlflow_client = client(settings)
    name = settings.registered_model_name
    try:
        versions = list(
            mlflow_client.search_model_versions(
                f"name = '{name}'", max_results=limit, order_by=["version_number DESC"]
            )
        )
    except MlflowException as exc:
        if _is_not_found(exc):
            return []
        raise
    champion = champion_version(settings)
    runs = _runs_by_id(mlflow_client, [v.run_id for v in versions if v.run_id])
    out = []
    for v in versions:
        label = version_label(name, v.version)
        run = runs.get(v.run_id or "")
        all_metrics = dict(run.data.metrics) if run is not None else {}
        tags = dict(v.tags or {})
        aliases = list(v.aliases or [])
        if label == champion and CHAMPION_ALIAS not in aliases:  # search results may omit aliases
            aliases.append(CHAMPION_ALIAS)
        out.append(
            VersionInfo(
                version=label,
                number=int(v.version),
                run_id=v.run_id,
                created_at=datetime.fromtimestamp(v.creation_timestamp / 1000, tz=UTC),
                aliases=aliases,
                is_champion=label == champion,
                family=tags.get(TAG_FAMILY),
                metrics={
                    k: val
                    for k, val in all_metrics.items()
                    if not k.startswith(IMPORTANCE_PREFIX) and math.isfinite(val)
                },
                feature_importances={
                    k[len(IMPORTANCE_PREFIX) :]: val
                    for k, val in all_metrics.items()
                    if k.startswith(IMPORTANCE_PREFIX) and math.isfinite(val)
                },
                decision=tags.get(TAG_DECISION),
                reason=tags.get(TAG_REASON),
                tags=tags,
            )
        )
    return out


def _runs_by_id(mlflow_client: MlflowClient, run_ids: list[str]) -> dict[str, Any]:
    """The runs with these ids, found with one search in the OutageCast experiment (fallback: one by one)."""
    from mlflow.exceptions import MlflowException

    if not run_ids:
        return {}
    found: dict[str, Any] = {}
    experiment = mlflow_client.get_experiment_by_name(EXPERIMENT_NAME)
    if experiment is not None:
        quoted = ", ".join(f"'{r}'" for r in run_ids if re.fullmatch(r"[0-9a-f]+", r))
        for run in mlflow_client.search_runs(
            [experiment.experiment_id],
            filter_string=f"attributes.run_id IN ({quoted})",
            max_results=len(run_ids),
        ):
            found[run.info.run_id] = run
    for run_id in set(run_ids) - set(found):  # registered from elsewhere: rare
        try:
            found[run_id] = mlflow_client.get_run(run_id)
        except MlflowException:
            log.warning("run %s of a registered version is missing", run_id)
    return found


# ------------------------------------------------------------------ baselines (for monitoring)
def _run_id_of(settings: Settings, version: str | int) -> str:
    number = parse_version(settings, version)
    run_id = client(settings).get_model_version(settings.registered_model_name, str(number)).run_id
    if not run_id:
        raise LookupError(f"version {number} has no MLflow run, hence no baseline")
    return run_id


def load_baseline(settings: Settings, version: str | int) -> dict[str, Any]:
    """The training baseline statistics of a version (``baseline.json``, see ``ml.baseline``)."""
    from outagecast.ml.baseline import BASELINE_FILE

    run_id = _run_id_of(settings, version)
    with tempfile.TemporaryDirectory(prefix="outagecast-baseline-") as tmp:
        path = client(settings).download_artifacts(run_id, f"{BASELINE_DIR}/{BASELINE_FILE}", tmp)
        return json.loads(Path(path).read_text(encoding="utf-8"))


def load_baseline_sample(settings: Settings, version: str | int) -> pd.DataFrame:
    """The training sample of a version: the eight inputs and ``predicted_hours`` (up to 5,000 rows)."""
    import pandas as pd

    from outagecast.ml.baseline import SAMPLE_FILE

    run_id = _run_id_of(settings, version)
    with tempfile.TemporaryDirectory(prefix="outagecast-baseline-") as tmp:
        path = client(settings).download_artifacts(run_id, f"{BASELINE_DIR}/{SAMPLE_FILE}", tmp)
        return pd.read_parquet(path)
