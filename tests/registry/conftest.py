"""A real local MLflow store (SQLite backend) in a temporary home, shared by the registry tests.

The registry is shared state: tests read the champion before acting and put it back when
they move it, so they do not depend on their order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from outagecast.ml.bootstrap import ensure_dataset, train_and_register
from outagecast.ml.gate import GateDecision
from outagecast.ml.train import TrainResult
from outagecast.settings import Settings

DATASET_ROWS = 4_000  # small: each training takes well under a second
REFERENCE_ROWS = 5_000


def make_settings(home: Path, **overrides: Any) -> Settings:
    """Settings for ``home``, isolated from the environment (no tracking server, own database)."""
    values: dict[str, Any] = {
        "outagecast_home": home,
        "dataset_rows": DATASET_ROWS,
        "reference_rows": REFERENCE_ROWS,
        "database_url": f"sqlite:///{home}/outagecast.db",
        "mlflow_tracking_uri": None,
        "api_key": None,
    }
    return Settings(**(values | overrides))


@pytest.fixture(scope="session")
def registry_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(tmp_path_factory.mktemp("registry-home"))


@pytest.fixture(scope="session")
def first_model(registry_settings: Settings) -> tuple[list[TrainResult], GateDecision]:
    """The first registered version of the store (promoted: there is no champion to beat)."""
    return train_and_register(registry_settings, trigger="cli")


@pytest.fixture(scope="session")
def dataset(registry_settings: Settings) -> pd.DataFrame:
    """The generated training dataset of the store's home, as read from CSV."""
    return pd.read_csv(ensure_dataset(registry_settings), keep_default_na=False, na_values=[""])
