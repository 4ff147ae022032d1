"""The one settings object: every configurable value, read from the environment and `.env`.

Nothing else in OutageCast reads ``os.environ``. Relative paths resolve against ``home_dir``
(``OUTAGECAST_HOME``, default: the working directory when the settings are read), so the
installed package behaves the same from any directory once that is set.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

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
    # Where the trained model lives until the registry takes over (relative to var_dir).
    model_file: Path = Path("model/model.joblib")
    dataset_file: Path = Path("cloud_outages_dataset.csv")
    dataset_rows: int = Field(50_000, ge=100)
    dataset_seed: int = 42
    log_level: str = "INFO"

    @field_validator("database_url")
    @classmethod
    def _use_psycopg3(cls, value: str) -> str:
        # Plain postgres URLs would pick psycopg2, which is not installed.
        for prefix in ("postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value

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
    def model_path(self) -> Path:
        return self.model_file if self.model_file.is_absolute() else self.var_path / self.model_file

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

    def folder(self, name: Literal["raw_data", "good_data", "bad_data", "archived_data"]) -> Path:
        """One of the data folders inside ``DATA_DIR``."""
        return self.data_path / name


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
