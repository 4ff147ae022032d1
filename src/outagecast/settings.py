"""The one settings object: every configurable value, read from the environment and `.env`.

Nothing else in OutageCast reads ``os.environ``. Relative paths resolve against ``home_dir``
(``OUTAGECAST_HOME``, default: the working directory when the settings are read), so the
installed package behaves the same from any directory once that is set.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """OutageCast configuration (environment variable names are the field names, upper case)."""

    # env_ignore_empty: compose passes unset optional variables as "", which means unset.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    outagecast_home: Path = Field(default_factory=Path.cwd, description="Base for relative paths.")
    database_url: str = "sqlite:///var/outagecast.db"
    data_dir: Path = Path("data")
    var_dir: Path = Path("var")
    mlflow_tracking_uri: str | None = None
    api_url: str = "http://127.0.0.1:8000"
    api_timeout_seconds: float = Field(30.0, gt=0)
    anomaly_threshold_hours: float = Field(5.0, gt=0)
    alert_webhook_url: str | None = None
    api_key: SecretStr | None = None
    start_time_policy: Literal["now", "random_future"] = "now"
    max_batch_rows: int = Field(10_000, ge=1, le=1_000_000)
    # Nominal coverage of the prediction intervals returned with every prediction.
    interval_coverage: float = Field(0.8, ge=0.5, le=0.995)
    # Model registry (MLflow): the registered model, the fixed reference set every promotion
    # decision is judged on, and the gate's bounds (docs: ml/gate.py).
    registered_model_name: str = Field("outage_duration", min_length=1, pattern=r"^[\w.-]+$")
    reference_rows: int = Field(20_000, ge=100)
    reference_seed: int = Field(20250101, ge=0)
    max_inference_ms_per_row: float = Field(5.0, gt=0)
    # Hours the candidate's RMSE may exceed the champion's (upper 95 % bound of the difference).
    promotion_rmse_tolerance: float = Field(0.01, ge=0)
    bootstrap_resamples: int = Field(1_000, ge=100, le=100_000)
    # How often the API asks the registry whether the champion changed (0: never).
    model_refresh_seconds: float = Field(60.0, ge=0)
    min_new_rows_for_training: int = Field(500, ge=1)
    dataset_file: Path = Path("cloud_outages_dataset.csv")
    dataset_rows: int = Field(50_000, ge=100)
    dataset_seed: int = 42
    log_level: str = "INFO"
    data_docs_dir: Path = Path("data_docs")  # GX Data Docs site (relative to var_dir)
    # Alerts (outagecast.alerts): payload format for ALERT_WEBHOOK_URL, at most one alert per kind
    # per throttle interval (the rest are summarised in the next one), bounded retries.
    alert_format: Literal["teams", "slack", "json"] = "teams"
    alert_throttle_seconds: float = Field(300.0, ge=0)
    alert_timeout_seconds: float = Field(5.0, gt=0, le=120)
    alert_max_attempts: int = Field(3, ge=1, le=10)
    alert_retry_backoff_seconds: float = Field(0.5, ge=0, le=60)
    # Base of links in alerts (Data Docs pages); default API_URL, which may be an internal name.
    public_api_url: str | None = None
    # Ingestion (outagecast.pipelines.ingest).
    ingest_interval_seconds: float = Field(60.0, gt=0)
    # Files modified more recently than this are left for the next run: a copy still in progress
    # (``cp``, ``docker compose cp``) must not be claimed half-written.
    ingest_settle_seconds: float = Field(2.0, ge=0)
    # How long an Airflow task's claim on a file is respected before another run may finish it.
    ingest_lease_seconds: float = Field(900.0, gt=0)
    # Files one Airflow DAG run claims (the embedded scheduler and the CLI take every file).
    ingest_dag_max_files: int = Field(16, ge=1, le=1000)
    # Run the scheduled jobs inside `outagecast up` (off when Airflow runs them).
    scheduler_enabled: bool = True
    # Scheduled predictions (outagecast.pipelines.predict_new): how often, and how hard to retry
    # an unavailable API within one run (attempts per chunk, back-off doubling from the base).
    predict_interval_seconds: float = Field(120.0, gt=0)
    predict_max_attempts: int = Field(4, ge=1, le=20)
    predict_retry_backoff_seconds: float = Field(2.0, ge=0, le=300)
    # How often the retrain job checks for MIN_NEW_ROWS_FOR_TRAINING new good rows.
    retrain_interval_seconds: float = Field(300.0, gt=0)
    # Monitoring (outagecast.monitoring): how often the monitor runs, which window of served
    # predictions it judges (the most recent MONITOR_WINDOW_ROWS, or those of the last
    # MONITOR_WINDOW_HOURS when set; MONITOR_SOURCE limits it to one source), the smallest window
    # worth judging, the drift thresholds and when realised error counts as degraded.
    monitor_interval_seconds: float = Field(3600.0, gt=0)
    monitor_window_rows: int = Field(1_000, ge=10, le=1_000_000)
    monitor_window_hours: float | None = Field(None, gt=0)
    monitor_source: Literal["webapp", "scheduled"] | None = None
    monitor_min_rows: int = Field(100, ge=10)
    # A feature drifted when p < DRIFT_P_VALUE (per test; <= 9 tests a run, so <= 0.9 % false
    # alarms) and PSI > DRIFT_PSI_THRESHOLD (an effect-size floor for large windows; 0.05 still
    # catches a doubled share of a mid-sized provider at 1,000 rows). See monitoring/drift.py.
    drift_p_value: float = Field(0.001, gt=0, lt=1)
    drift_psi_threshold: float = Field(0.05, gt=0)
    realised_error_max_ratio: float = Field(1.5, gt=1)
    realised_error_min_rows: int = Field(30, ge=1)
    # Retention (outagecast prune; 0 keeps forever): predictions and monitoring history, files in
    # archived_data/ and bad_data/, Data Docs pages, and how many non-champion model versions stay.
    retention_predictions_days: int = Field(365, ge=0)
    retention_files_days: int = Field(30, ge=0)
    retention_data_docs_days: int = Field(30, ge=0)
    retention_model_versions: int = Field(5, ge=0)
    prune_interval_seconds: float = Field(86_400.0, gt=0)
    # Security (docs/security.md). API_KEY guards every write and admin endpoint; reads too
    # when READS_REQUIRE_API_KEY. RATE_LIMIT_PER_MINUTE (0: off) caps write requests per client.
    reads_require_api_key: bool = False
    rate_limit_per_minute: int = Field(0, ge=0)
    # Largest request body the API accepts (a 10,000-row batch is about 3 MB of JSON).
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    cors_allow_origins: list[str] = Field(default_factory=list)  # empty: no cross-origin access
    webapp_password: SecretStr | None = None
    webapp_max_upload_mb: int = Field(50, ge=1, le=2_000)

    @field_validator("database_url")
    @classmethod
    def _use_psycopg3(cls, value: str) -> str:
        # Plain postgres URLs would pick psycopg2, which is not installed.
        for prefix in ("postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # Settings get printed and logged; secrets kept as plain strings (URLs that other code
        # passes on as they are) are masked there, like the SecretStr fields.
        for name, value in super().__repr_args__():
            if name in _SECRET_URL_FIELDS and isinstance(value, str):
                value = redact_url(value, keep_path=name != "alert_webhook_url")
            yield name, value

    def resolve(self, path: Path) -> Path:
        """An absolute path: ``path`` itself, or under ``outagecast_home`` when relative."""
        return path if path.is_absolute() else (self.outagecast_home / path)

    @property
    def data_path(self) -> Path:
        return self.resolve(self.data_dir)

    @property
    def var_path(self) -> Path:
        return self.resolve(self.var_dir)

    @property
    def data_docs_path(self) -> Path:
        return self.data_docs_dir if self.data_docs_dir.is_absolute() else self.var_path / self.data_docs_dir

    @property
    def dataset_path(self) -> Path:
        return self.dataset_file if self.dataset_file.is_absolute() else self.data_path / self.dataset_file

    @property
    def resolved_database_url(self) -> str:
        """The database URL with a relative SQLite path made absolute under ``outagecast_home``."""
        prefix = "sqlite:///"
        if self.database_url.startswith(prefix):
            raw = self.database_url[len(prefix) :]
            if raw and raw != ":memory:" and not raw.startswith("/"):
                return prefix + str(self.resolve(Path(raw)))
        return self.database_url

    @property
    def resolved_mlflow_tracking_uri(self) -> str:
        """The MLflow tracking URI: ``MLFLOW_TRACKING_URI``, or the local SQLite store under ``var/``.

        MLflow 3 uses a SQLite database by default (the ``./mlruns`` file store is legacy); a
        relative SQLite path is made absolute under ``outagecast_home``, as for the database.
        """
        uri = self.mlflow_tracking_uri or f"sqlite:///{self.var_path / 'mlflow.db'}"
        prefix = "sqlite:///"
        if uri.startswith(prefix):
            raw = uri[len(prefix) :]
            if raw and not raw.startswith("/"):
                return prefix + str(self.resolve(Path(raw)))
        return uri

    @property
    def mlflow_artifacts_path(self) -> Path:
        """Where a local (non-server) MLflow store keeps model artifacts."""
        return self.var_path / "mlartifacts"

    @property
    def reference_path(self) -> Path:
        """The cached reference set the promotion gate compares models on."""
        return self.var_path / "reference" / f"reference-{self.reference_rows}-{self.reference_seed}.parquet"

    def folder(self, name: Literal["raw_data", "good_data", "bad_data", "archived_data"]) -> Path:
        """One of the data folders inside ``DATA_DIR``."""
        return self.data_path / name


# URL settings that may carry credentials: a password in the netloc, or (webhooks) a token in the path.
_SECRET_URL_FIELDS = frozenset({"database_url", "mlflow_tracking_uri", "alert_webhook_url"})


def redact_url(url: str, *, keep_path: bool = True) -> str:
    """``url`` with its password masked (and its path, query and fragment unless ``keep_path``).

    Webhook URLs (Teams, Slack) are secrets as a whole: whoever has the path can post.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    if keep_path:
        return urlunsplit(parts._replace(netloc=netloc))
    return urlunsplit((parts.scheme, netloc, "/***" if parts.path not in ("", "/") else "", "", ""))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
